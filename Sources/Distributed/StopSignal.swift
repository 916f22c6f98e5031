import CSignals
import Foundation

/// Stop requests by signal (SIGTERM, SIGUSR1, SIGUSR2). The handler (C, in
/// CSignals) only records the signal number; the trainer reads `received`
/// once per step, combines it with its `Deadline`, and all-reduces the result
/// (`StepReduction.stop`) so every rank stops after the same step.
///
/// mpirun (Open MPI 4.1) forwards SIGUSR1/SIGUSR2 to every rank at once, but
/// answers SIGTERM by killing the job: SIGTERM to the ranks after
/// `odls_base_sigkill_timeout` seconds (default 1), SIGKILL after as much again.
/// See docs/cluster.md.
public enum StopSignal {
    /// Installs the handlers. Call after `Communicator.world()` (MPI_Init), so
    /// ours are the handlers in place.
    public static func install() {
        // sigaction fails only for invalid signal numbers: a programmer error.
        precondition(csignals_install() == 0, "sigaction failed for the stop signals")
    }

    /// True once a stop signal arrived (since install or reset).
    public static var requested: Bool { csignals_received() != 0 }

    /// The signal number received last, or nil.
    public static var received: Int32? {
        let s = csignals_received()
        return s == 0 ? nil : Int32(s)
    }

    public static func reset() { csignals_reset() }

    /// This rank's stop opinion: a signal wins over the deadline.
    public static func localReason(deadline: Deadline) -> StopReason {
        if let s = received { return .signal(s) }
        return deadline.expired ? .deadline : .none
    }
}

/// Why a run stops early (exit code 75: a checkpoint is saved, requeue).
public enum StopReason: Equatable, Sendable, CustomStringConvertible {
    case none
    /// `--exit-after-minutes` elapsed.
    case deadline
    /// The run was told to stop at a given step (`--stop-after-steps`, for tests).
    case requested
    /// A stop signal arrived on at least one rank.
    case signal(Int32)

    public var isStop: Bool { self != .none }

    /// Ordered so that MAX over ranks keeps the most specific reason.
    var code: Double {
        switch self {
        case .none: 0
        case .deadline: 1
        case .requested: 2
        case .signal(let s): 1000 + Double(s)
        }
    }

    init(code: Double) {
        if code >= 1000 { self = .signal(Int32(code - 1000)) } else if code >= 2 { self = .requested } else if code >= 1 { self = .deadline } else { self = .none }
    }

    public var description: String {
        switch self {
        case .none: "no stop requested"
        case .deadline: "time limit (--exit-after-minutes) reached"
        case .requested: "stop requested at this step (--stop-after-steps)"
        case .signal(let s): "\(signalName(s)) received"
        }
    }
}

/// "SIGTERM" for 15, etc.; the number otherwise.
public func signalName(_ s: Int32) -> String {
    switch s {
    case SIGTERM: "SIGTERM"
    case SIGUSR1: "SIGUSR1"
    case SIGUSR2: "SIGUSR2"
    case SIGINT: "SIGINT"
    case SIGKILL: "SIGKILL"
    default: "signal \(s)"
    }
}
