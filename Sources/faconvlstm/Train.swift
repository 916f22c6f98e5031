import ArgumentParser
import Distributed
import Foundation
import Training

/// `faconvlstm train`: data-parallel training of one run.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the model on a NetCDF dataset, data-parallel over MPI.",
        discussion: """
            Run it under mpirun for several ranks (each rank trains on its own
            tiles and windows; gradients are averaged with MPI all-reduce), or
            alone as one rank:

              mpirun -np 8 faconvlstm train --config run.toml
              faconvlstm train --config run.toml --set train.steps=50

            The run directory (run_dir) receives config.resolved.toml,
            metrics.jsonl and checkpoints/. With --resume auto (the default) a
            killed run continues from its newest valid checkpoint.

            Exit codes: 0 finished; 1 failure at run time; 2 bad config or
            input; 3 watchdog timeout; 75 stopped early on SIGTERM/SIGUSR1/
            SIGUSR2 or --exit-after-minutes with a checkpoint saved (requeue).
            """)

    @Option(help: "The run config (TOML). See configs/template.toml for every field.")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config field, e.g. --set train.global_batch=16 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("auto: continue from the newest valid checkpoint of the run directory, or start fresh; never: start fresh; or a checkpoint file.", valueName: "auto|never|PATH"))
    var resume: String = "auto"

    @Option(name: .customLong("init-from"), help: ArgumentHelp("Start a new run from this checkpoint's parameters (step 0, fresh optimizer).", valueName: "PATH"))
    var initFrom: String?

    @Flag(name: .customLong("sync-allreduce"), help: "One all-reduce after backward instead of buckets overlapped with backward (for comparison).")
    var syncAllReduce = false

    @Option(name: .customLong("exit-after-minutes"), help: "Save a checkpoint and exit with 75 after this many minutes (before a wall-time limit).")
    var exitAfterMinutes: Double?

    @Option(help: "OpenBLAS threads per rank (overrides train.threads).")
    var threads: Int?

    @Option(name: .customLong("stop-after-steps"), help: .hidden)
    var stopAfterSteps: Int?

    @Option(name: .customLong("inject-nan"), help: .hidden)
    var injectNaN: String?

    @Option(name: .customLong("inject-sleep"), help: .hidden)
    var injectSleep: String?

    func validate() throws {
        if let m = exitAfterMinutes, !(m > 0) { throw ValidationError("--exit-after-minutes must be positive, got \(m)") }
        if let t = threads, t < 0 { throw ValidationError("--threads must be 0 or positive, got \(t)") }
        if injectNaN.map(Train.numbers) ?? [0, 0] == nil || injectSleep.map(Train.numbers) ?? [0, 0, 0] == nil {
            throw ValidationError("--inject-nan RANK:ITER / --inject-sleep RANK:ITER:SECONDS")
        }
    }

    static func numbers(_ s: String) -> [Double]? {
        let parts = s.split(separator: ":").map { Double($0) }
        return parts.contains(where: { $0 == nil }) ? nil : parts.compactMap { $0 }
    }

    func run() throws {
        // First: a stop signal from now on only sets a flag (checked every step).
        StopSignal.install()
        let comm: Communicator
        do { comm = try Communicator.world() } catch {
            writeToStandardError("faconvlstm: error: \(error)\n")
            throw ExitCode(1)
        }
        RankLogging.bootstrap(communicator: comm)
        var options = TrainOptions()
        switch resume {
        case "auto": options.resume = .auto
        case "never": options.resume = .never
        default: options.resume = .path(resume)
        }
        options.initFrom = initFrom
        options.exitAfterMinutes = exitAfterMinutes
        options.stopAfterSteps = stopAfterSteps
        if let n = injectNaN.flatMap(Train.numbers), n.count == 2 { options.injectNaN = (Int(n[0]), Int(n[1])) }
        if let n = injectSleep.flatMap(Train.numbers), n.count == 3 { options.injectSleep = (Int(n[0]), Int(n[1]), n[2]) }

        var overrides = self.overrides
        if syncAllReduce { overrides.append("train.sync_allreduce=true") }
        if let t = threads { overrides.append("train.threads=\(t)") }
        let failure: Error? = {
            do {
                let config = try Trainer.loadConfig(path: self.config, overrides: overrides, communicator: comm)
                let trainer = try Trainer(config: config, communicator: comm, options: options)
                try trainer.run()
                return nil
            } catch {
                return error
            }
        }()
        if let e = failure { RunTermination.exit(e, communicator: comm) }
        RunTermination.finish(communicator: comm)
    }
}
