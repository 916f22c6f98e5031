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
              faconvlstm train --config run.toml --dry-run --ranks 8

            --dry-run checks on a login node, in seconds, what the run would
            check before training (config, every file, variable, grid and time
            range, the run directory and the checkpoint it would resume from),
            reading metadata only and without MPI, and prints the model
            (parameters, FLOPs per sample), samples and steps per epoch, the
            share of each of N ranks, the memory per rank by what holds it
            (docs/cluster.md) and the checkpoint file size.

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

    @Option(help: "Threads per rank, the micro-batch's samples split across them (overrides train.threads).")
    var threads: Int?

    @Flag(name: .customLong("dry-run"), help: ArgumentHelp(
        "Check the config and the data without training: no MPI, no data values read, nothing written. Prints the model, samples and steps per epoch, the memory per rank and the checkpoint size; exit 0 if all is well, else the error the run would stop with (exit 2 for bad config or data)."))
    var dryRun = false

    @Option(help: ArgumentHelp("With --dry-run: plan for this many ranks (default: the job's size when started by mpirun, else 1).", valueName: "N"))
    var ranks: Int?

    @Option(name: .customLong("stop-after-steps"), help: .hidden)
    var stopAfterSteps: Int?

    @Option(name: .customLong("inject-nan"), help: .hidden)
    var injectNaN: String?

    @Option(name: .customLong("inject-sleep"), help: .hidden)
    var injectSleep: String?

    func validate() throws {
        if let m = exitAfterMinutes, !(m > 0) { throw ValidationError("--exit-after-minutes must be positive, got \(m)") }
        if let t = threads, t < 0 { throw ValidationError("--threads must be 0 or positive, got \(t)") }
        if let r = ranks {
            guard dryRun else { throw ValidationError("--ranks goes with --dry-run (a real run has the ranks mpirun starts)") }
            if r < 1 { throw ValidationError("--ranks must be at least 1, got \(r)") }
        }
        if injectNaN.map(Train.numbers) ?? [0, 0] == nil || injectSleep.map(Train.numbers) ?? [0, 0, 0] == nil {
            throw ValidationError("--inject-nan RANK:ITER / --inject-sleep RANK:ITER:SECONDS")
        }
    }

    static func numbers(_ s: String) -> [Double]? {
        let parts = s.split(separator: ":").map { Double($0) }
        return parts.contains(where: { $0 == nil }) ? nil : parts.compactMap { $0 }
    }

    func run() throws {
        if dryRun {
            // Under mpirun every rank would print the same report: rank 0 speaks for the job.
            let env = ProcessInfo.processInfo.environment
            let jobSize = (env["OMPI_COMM_WORLD_SIZE"] ?? env["PMI_SIZE"]).flatMap { Int($0) }
            let jobRank = (env["OMPI_COMM_WORLD_RANK"] ?? env["PMI_RANK"]).flatMap { Int($0) } ?? 0
            if jobRank != 0 { return }
            let code = TrainDryRun(configPath: config, overrides: settings(), ranks: ranks ?? jobSize ?? 1, options: trainOptions()).run()
            if code != 0 { throw ExitCode(code) }
            return
        }
        // First: a stop signal from now on only sets a flag (checked every step).
        StopSignal.install()
        let comm: Communicator
        do { comm = try Communicator.world() } catch {
            writeToStandardError("faconvlstm: error: \(error)\n")
            throw ExitCode(1)
        }
        RankLogging.bootstrap(communicator: comm)
        let options = trainOptions()
        let overrides = settings()
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

    func trainOptions() -> TrainOptions {
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
        return options
    }

    /// The --set overrides, plus the options that are config fields.
    func settings() -> [String] {
        var overrides = self.overrides
        if syncAllReduce { overrides.append("train.sync_allreduce=true") }
        if let t = threads { overrides.append("train.threads=\(t)") }
        return overrides
    }
}
