import Model

/// When checkpoints are saved and which are kept (`[checkpoint]` of the run
/// config). Every decision is a pure function of its arguments, so all ranks
/// compute the same answer from the same (step, elapsed) values; the trainer
/// broadcasts rank 0's elapsed time, since clocks differ across nodes.
public struct CheckpointPolicy: Equatable, Sendable {
    /// `every_steps`: save when the step count is a multiple of this; 0 = never by steps.
    public var everySteps: Int = 1000
    /// `every_minutes`: save when this much wall time passed since the last save
    /// (or the start of the job); 0 = never by time.
    public var everyMinutes: Double = 30
    /// `keep_last`: how many of the newest checkpoints retention keeps (at least 1).
    public var keepLast: Int = 3
    /// `keep_every`: also keep, forever, every checkpoint whose step is a multiple of this; 0 = none.
    public var keepEvery: Int = 0
    /// `stop_on_failure`: a failed save stops training (exit 1) instead of
    /// warning and trying again at the next due save.
    public var stopOnFailure: Bool = false
    /// `min_free_mb`: free space (MiB) that must remain on the checkpoint file
    /// system beyond the estimated size of the file, or the save is refused
    /// before writing.
    public var minFreeMB: Int = 256

    public init() {}

    /// Why a save is due now.
    public enum Reason: String, Equatable, Sendable {
        /// `step` is a multiple of `every_steps`.
        case steps
        /// `every_minutes` passed since the last save.
        case time
    }

    /// Whether a save is due after optimizer step `step`, given the seconds
    /// since the last save (or the job start). Pure: every rank computes the
    /// same answer from the same (broadcast) arguments. Step 0 is never due.
    public func saveDue(step: Int, secondsSinceLastSave: Double) -> Reason? {
        guard step > 0 else { return nil }
        if everySteps > 0, step % everySteps == 0 { return .steps }
        if everyMinutes > 0, secondsSinceLastSave >= everyMinutes * 60 { return .time }
        return nil
    }

    /// The steps retention keeps out of the committed `steps`: the newest
    /// `keepLast`, every multiple of `keepEvery`, the newest one always, and
    /// any in `protected` (the file `latest` names).
    public func retainedSteps(_ steps: [Int], protected: Set<Int> = []) -> Set<Int> {
        let sorted = Set(steps).sorted()
        var keep = Set(sorted.suffix(max(1, keepLast)))
        if keepEvery > 0 { keep.formUnion(sorted.filter { $0 % keepEvery == 0 }) }
        keep.formUnion(protected.intersection(sorted))
        return keep
    }

    /// Throws a `ConfigError` naming the first invalid field.
    public func validate() throws {
        func bad(_ key: String, _ why: String) -> ConfigError { ConfigError("checkpoint.\(key): \(why)") }
        if everySteps < 0 { throw bad("every_steps", "must be 0 (off) or positive, got \(everySteps)") }
        if !(everyMinutes >= 0 && everyMinutes.isFinite) { throw bad("every_minutes", "must be 0 (off) or a positive number, got \(everyMinutes)") }
        if keepLast < 1 { throw bad("keep_last", "must be at least 1 (the newest checkpoint is always kept), got \(keepLast)") }
        if keepEvery < 0 { throw bad("keep_every", "must be 0 (off) or positive, got \(keepEvery)") }
        if minFreeMB < 0 { throw bad("min_free_mb", "must be 0 or positive, got \(minFreeMB)") }
    }
}
