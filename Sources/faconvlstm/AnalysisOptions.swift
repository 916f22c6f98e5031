import Analysis
import ArgumentParser
import Distributed
import Foundation
import Training

/// Options shared by the commands that run a trained model over data
/// (embed, predict, evaluate, attention).
struct ModelRunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A checkpoint file, or a run directory (its newest checkpoint).", valueName: "PATH"))
    var checkpoint: String

    @Option(help: ArgumentHelp("Run config (TOML) whose [data] names the files, variables, tiles and window (default: the config stored in the checkpoint).", valueName: "FILE"))
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config field, e.g. --set data.window=8 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(name: .customLong("time-range"), parsing: .upToNextOption,
            help: ArgumentHelp("First and last time step, both included: dates (\"1996-01-10\", \"1996-01-12 18:00\") or 0-based frame indices (default: every frame).", valueName: "A B"))
    var timeRange: [String] = []

    @Option(help: "OpenBLAS threads per rank (default: train.threads of the config).")
    var threads: Int?

    func validate() throws {
        if !timeRange.isEmpty && timeRange.count != 2 {
            throw ValidationError("--time-range takes two values (first and last), got \(timeRange.count)")
        }
        if let t = threads, t < 0 { throw ValidationError("--threads must be 0 or positive, got \(t)") }
    }

    var analysisOptions: AnalysisOptions {
        var o = AnalysisOptions(checkpoint: checkpoint, config: config)
        o.overrides = overrides
        o.timeRange = timeRange.count == 2 ? (timeRange[0], timeRange[1]) : nil
        o.threads = threads
        return o
    }
}

/// Runs a command body on every rank of the MPI job (one rank without
/// mpirun) and ends the process the way `train` does: errors print one line
/// and exit with their code (2 bad input, 1 failure), agreed across ranks.
func runOnEveryRank(_ body: (Communicator) throws -> Void) -> Never {
    let comm: Communicator
    do { comm = try Communicator.world() } catch {
        writeToStandardError("faconvlstm: error: \(error)\n")
        Foundation.exit(1)
    }
    RankLogging.bootstrap(communicator: comm)
    do { try body(comm) } catch { RunTermination.exit(error, communicator: comm) }
    RunTermination.finish(communicator: comm)
}

/// Prints on rank 0 only.
func print0(_ comm: Communicator, _ text: String) {
    if comm.isRoot { print(text) }
}
