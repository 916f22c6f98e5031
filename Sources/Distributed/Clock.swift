import Foundation

/// Seconds on the monotonic clock (never jumps with NTP or the wall clock).
/// Only differences are meaningful.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// The time limit of `--exit-after-minutes`, on the monotonic clock.
/// Ranks start it at slightly different moments, so `expired` is a local
/// opinion: the trainer all-reduces it (`StepReduction.stop`) before acting.
public struct Deadline: Sendable, Equatable {
    /// Monotonic time at which it expires; nil: never.
    public let expiresAt: Double?

    public init(minutes: Double?, from start: Double = monotonicSeconds()) {
        expiresAt = minutes.map { start + $0 * 60 }
    }

    public static let none = Deadline(minutes: nil)

    public var expired: Bool { expiresAt.map { monotonicSeconds() >= $0 } ?? false }

    /// Seconds left (negative once expired); nil without a limit.
    public var remaining: Double? { expiresAt.map { $0 - monotonicSeconds() } }
}
