import Distributed
import Foundation
import Logging
import Model

// Rank-aware logging and the one way the CLI ends a run on an error.
//
// Output rules: routine lines (trace ... notice) come from rank 0 only, so N
// ranks do not print N copies; warnings and errors come from any rank,
// prefixed `[rank N]` when the job has more than one rank.

/// A swift-log handler for one rank of the job.
public struct RankLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public let rank: Int
    public let size: Int
    private let sink: @Sendable (String) -> Void

    /// `sink` receives whole lines, newline included (stderr by default).
    public init(rank: Int, size: Int, level: Logger.Level = .info,
                sink: @escaping @Sendable (String) -> Void = writeToStandardError) {
        self.rank = rank
        self.size = size
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Whether a rank prints a message of this level at all.
    public static func prints(_ level: Logger.Level, rank: Int) -> Bool {
        level >= .warning || rank == 0
    }

    public func log(event: LogEvent) {
        guard RankLogHandler.prints(event.level, rank: rank) else { return }
        sink(format(level: event.level, message: event.message.description, metadata: event.metadata))
    }

    public func format(level: Logger.Level, message: String, metadata extra: Logger.Metadata?) -> String {
        var all = metadata
        if let extra { all.merge(extra) { _, new in new } }
        let suffix = all.isEmpty ? "" : " " + all.keys.sorted().map { "\($0)=\(all[$0]!)" }.joined(separator: " ")
        let where_ = size > 1 ? "[rank \(rank)] " : ""
        switch level {
        case .trace, .debug: return "debug: \(message)\(suffix)\n"
        case .info, .notice: return "\(message)\(suffix)\n"
        case .warning: return "faconvlstm: warning: \(where_)\(message)\(suffix)\n"
        case .error, .critical: return "faconvlstm: error: \(where_)\(message)\(suffix)\n"
        }
    }
}

public enum RankLogging {
    /// Installs `RankLogHandler` for every logger of the process. Once per
    /// process (swift-log's rule), after the communicator exists.
    public static func bootstrap(communicator: Communicator, level: Logger.Level = .info) {
        let rank = communicator.rank, size = communicator.size
        LoggingSystem.bootstrap { _ in RankLogHandler(rank: rank, size: size, level: level) }
    }
}

/// The process exit codes (docs/design.md).
public enum RunExitCode: Int32, Sendable, CaseIterable {
    /// Finished.
    case finished = 0
    /// Failure at run time: I/O, divergence, too many skipped steps.
    case failure = 1
    /// Bad config or input, found before work starts.
    case badInput = 2
    /// Watchdog timeout (MPI_Abort).
    case watchdog = 3
    /// Stopped early on a signal or `--exit-after-minutes`, checkpoint saved: requeue.
    case stopped = 75
}

/// Which ranks know about an error, which decides how the job ends.
public enum ErrorScope: Sendable, Equatable {
    /// Every rank raises it at the same point, because the decision behind it
    /// was all-reduced or broadcast (a config rank 0 read and broadcast,
    /// divergence, a stop request). The job ends cleanly: barrier, finalize, exit.
    case allRanks
    /// Only this rank knows (a local I/O error, an unreadable file on one
    /// node, any unclassified error). The others may be waiting in a collective
    /// for this rank, so with more than one rank this becomes `MPI_Abort`.
    case thisRank
}

/// An error that ends a run with a given exit code.
public struct RunError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let exitCode: RunExitCode
    public let scope: ErrorScope

    public init(_ message: String, exitCode: RunExitCode = .failure, scope: ErrorScope = .thisRank) {
        self.message = message
        self.exitCode = exitCode
        self.scope = scope
    }

    /// The agreed early stop (exit 75) after the checkpoint of `step` is saved.
    public static func stopped(_ reason: StopReason, afterStep step: Int) -> RunError {
        RunError("stopped after step \(step): \(reason); checkpoint saved, exiting with code 75 (requeue to resume)",
                 exitCode: .stopped, scope: .allRanks)
    }

    public var description: String { message }
}

/// Ends the process for an error (or an agreed stop), the same way for every
/// command: prints `faconvlstm: error: <description>` once, then
/// - `.allRanks` errors: rank 0 prints; every rank waits at a barrier (so no
///   rank exits before the others are done, e.g. with the checkpoint: mpirun
///   kills the rest of the job when the first rank exits non-zero), finalizes
///   MPI and exits with the code;
/// - `.thisRank` errors with more than one rank: this rank prints with its
///   `[rank N]` prefix and calls `MPI_Abort` with the code (mpirun ends every rank);
/// - one rank: prints, finalizes, exits.
public enum RunTermination {
    /// Exit code and scope of any error: `RunError` says so; divergence is
    /// agreed (all ranks throw it together); config errors are exit 2;
    /// anything else is a local failure (1).
    public static func classify(_ error: Error) -> (code: RunExitCode, scope: ErrorScope) {
        switch error {
        case let e as RunError: (e.exitCode, e.scope)
        case is ParameterDivergence: (.failure, .allRanks)
        case is ConfigError, is ConfigFileError: (.badInput, .thisRank)
        default: (.failure, .thisRank)
        }
    }

    /// The line printed for `error` on `rank` of `size` ranks.
    public static func message(for error: Error, rank: Int, size: Int) -> String {
        let (code, scope) = classify(error)
        let where_ = size > 1 && scope == .thisRank ? "[rank \(rank)] " : ""
        let text = String(describing: error)
        return code == .stopped ? "faconvlstm: \(text)\n" : "faconvlstm: error: \(where_)\(text)\n"
    }

    /// With a `watchdog`, the closing barrier is a watched "shutdown" phase: a
    /// misclassified error (a rank that never arrives) still ends the job.
    public static func exit(_ error: Error, communicator comm: Communicator, watchdog: Watchdog? = nil) -> Never {
        let (code, scope) = classify(error)
        if comm.size > 1 && scope == .thisRank {
            writeToStandardError(message(for: error, rank: comm.rank, size: comm.size))
            comm.abort(code: code.rawValue)
        }
        if comm.isRoot || comm.size == 1 { writeToStandardError(message(for: error, rank: comm.rank, size: comm.size)) }
        watchdog?.begin(operation: "shutdown")
        comm.barrier()
        watchdog?.stop()
        comm.finalize()
        Foundation.exit(code.rawValue)
    }

    /// Collective. Runs `body` on every rank, then agrees on the outcome: if it
    /// threw on any rank, every rank throws the error of the lowest failing
    /// rank as an `.allRanks` error (its text prefixed `[rank N]`), so the job
    /// ends cleanly instead of by `MPI_Abort`. For phases whose failure is
    /// local but whose end every rank reaches anyway (rank 0 saving a
    /// checkpoint, each rank reading its shard of a batch). Costs one small
    /// all-reduce, two broadcasts on failure.
    public static func agreeing<T>(_ comm: Communicator, _ body: () throws -> T) throws -> T {
        let outcome = Result { try body() }
        guard comm.size > 1 else { return try outcome.get() }
        var failure: Error?
        if case .failure(let e) = outcome { failure = e }
        let first = comm.allReduce(Int32(failure == nil ? Int32.max : Int32(comm.rank)), op: .min)
        if first == Int32.max { return try outcome.get() }
        let root = Int(first)
        let text = comm.broadcast(string: failure.map { "[rank \(comm.rank)] \(String(describing: $0))" } ?? "", root: root)
        let code: Int32 = comm.broadcast(failure.map { classify($0).code.rawValue } ?? 0, root: root)
        throw RunError(text, exitCode: RunExitCode(rawValue: code) ?? .failure, scope: .allRanks)
    }

    /// Normal end: every rank finalizes and exits 0.
    public static func finish(communicator comm: Communicator) -> Never {
        comm.finalize()
        Foundation.exit(0)
    }
}
