/// `[optimizer]`: which update rule, its hyperparameters, gradient clipping.
public struct OptimizerConfig: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable { case adamw, sgd }
    /// `name`: "adamw" (MODEL.md defaults) or "sgd" (p <- p - lr g).
    public var kind: Kind = .adamw
    /// `lr`: peak learning rate, reached at the end of warm-up.
    public var learningRate: Double = 1e-3
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    /// `weight_decay`: decoupled, times lr, on weights (rank >= 2) only.
    public var weightDecay: Double = 0
    /// `clip_norm`: global gradient-norm clipping threshold; 0 disables.
    public var clipNorm: Double = 1.0
    public init() {}

    public init(section s: ConfigSection) throws {
        self.init()
        if let v = try s.choice("name", as: Kind.self) { kind = v }
        if let v = try s.double("lr") { learningRate = v }
        if let v = try s.double("beta1") { beta1 = v }
        if let v = try s.double("beta2") { beta2 = v }
        if let v = try s.double("eps") { eps = v }
        if let v = try s.double("weight_decay") { weightDecay = v }
        if let v = try s.double("clip_norm") { clipNorm = v }
        try s.finish()
        if !(learningRate > 0 && learningRate.isFinite) { throw s.invalid("lr", "must be a positive number, got \(learningRate)") }
        if !(beta1 >= 0 && beta1 < 1) { throw s.invalid("beta1", "must be in [0, 1), got \(beta1)") }
        if !(beta2 >= 0 && beta2 < 1) { throw s.invalid("beta2", "must be in [0, 1), got \(beta2)") }
        if !(eps > 0) { throw s.invalid("eps", "must be positive, got \(eps)") }
        if !(weightDecay >= 0) { throw s.invalid("weight_decay", "must be 0 or positive, got \(weightDecay)") }
        if !(clipNorm >= 0) { throw s.invalid("clip_norm", "must be 0 (off) or positive, got \(clipNorm)") }
    }

    public func write(to w: inout TOMLWriter) {
        w.section("optimizer")
        w.set("name", kind.rawValue)
        w.set("lr", learningRate)
        w.set("beta1", beta1)
        w.set("beta2", beta2)
        w.set("eps", eps)
        w.set("weight_decay", weightDecay)
        w.set("clip_norm", clipNorm)
    }
}

/// `[schedule]`: learning rate as a pure function of the optimizer step:
/// linear warm-up to `lr` over `warmup_steps` (lr/warmup at step 0), then
/// cosine decay to `min_lr` at `train.steps`.
public struct ScheduleConfig: Equatable, Sendable {
    public var warmupSteps: Int = 0
    public var minLearningRate: Double = 0
    public init() {}

    public init(section s: ConfigSection) throws {
        self.init()
        if let v = try s.int("warmup_steps") { warmupSteps = v }
        if let v = try s.double("min_lr") { minLearningRate = v }
        try s.finish()
        if warmupSteps < 0 { throw s.invalid("warmup_steps", "must be 0 or positive, got \(warmupSteps)") }
        if !(minLearningRate >= 0) { throw s.invalid("min_lr", "must be 0 or positive, got \(minLearningRate)") }
    }

    public func write(to w: inout TOMLWriter) {
        w.section("schedule")
        w.set("warmup_steps", warmupSteps)
        w.set("min_lr", minLearningRate)
    }
}

/// `[train]`: how long, how big a step, and how the ranks keep each other honest.
public struct TrainConfig: Equatable, Sendable {
    /// `steps`: optimizer updates of the whole run (skipped steps do not count).
    public var steps: Int = 100
    /// `global_batch`: samples per optimizer step, summed over all ranks.
    public var globalBatch: Int = 8
    /// `micro_batch`: at most this many samples per forward/backward on a rank.
    public var microBatch: Int = 4
    /// `threads` per rank: the micro-batch's samples are split across
    /// min(threads, micro_batch) threads, each with threads / that many OpenBLAS
    /// threads (ThreadedNetwork). 0: one thread, OpenBLAS's own thread count.
    public var threads: Int = 1
    /// `bucket_mb`: gradient all-reduce bucket size in MiB.
    public var bucketMegabytes: Double = 4
    /// `sync_allreduce`: one blocking all-reduce after backward instead of overlapped buckets.
    public var syncAllReduce: Bool = false
    /// `log_every`: steps between metrics lines.
    public var logEvery: Int = 10
    /// `validate_every`: steps between validations on the held-out range; 0 disables.
    public var validateEvery: Int = 0
    /// `check_params_every`: steps between cross-rank parameter checksums; 0 disables.
    public var checkParamsEvery: Int = 100
    /// `max_consecutive_skips`: stop with an error after this many non-finite steps in a row.
    public var maxConsecutiveSkips: Int = 10
    /// `watchdog_seconds`: abort the job when one phase takes longer; 0 disables.
    public var watchdogSeconds: Double = 900
    /// `sample_log`: write every step's global sample ids to <run>/samples.log (audits).
    public var sampleLog: Bool = false
    public init() {}

    public init(section s: ConfigSection) throws {
        self.init()
        if let v = try s.int("steps") { steps = v }
        if let v = try s.int("global_batch") { globalBatch = v }
        if let v = try s.int("micro_batch") { microBatch = v }
        if let v = try s.int("threads") { threads = v }
        if let v = try s.double("bucket_mb") { bucketMegabytes = v }
        if let v = try s.bool("sync_allreduce") { syncAllReduce = v }
        if let v = try s.int("log_every") { logEvery = v }
        if let v = try s.int("validate_every") { validateEvery = v }
        if let v = try s.int("check_params_every") { checkParamsEvery = v }
        if let v = try s.int("max_consecutive_skips") { maxConsecutiveSkips = v }
        if let v = try s.double("watchdog_seconds") { watchdogSeconds = v }
        if let v = try s.bool("sample_log") { sampleLog = v }
        try s.finish()
        if steps < 1 { throw s.invalid("steps", "must be at least 1, got \(steps)") }
        if globalBatch < 1 { throw s.invalid("global_batch", "must be at least 1, got \(globalBatch)") }
        if microBatch < 1 { throw s.invalid("micro_batch", "must be at least 1, got \(microBatch)") }
        if threads < 0 { throw s.invalid("threads", "must be 0 (OpenBLAS default) or positive, got \(threads)") }
        if !(bucketMegabytes > 0) { throw s.invalid("bucket_mb", "must be positive, got \(bucketMegabytes)") }
        if logEvery < 1 { throw s.invalid("log_every", "must be at least 1, got \(logEvery)") }
        if validateEvery < 0 { throw s.invalid("validate_every", "must be 0 (off) or positive, got \(validateEvery)") }
        if checkParamsEvery < 0 { throw s.invalid("check_params_every", "must be 0 (off) or positive, got \(checkParamsEvery)") }
        if maxConsecutiveSkips < 1 { throw s.invalid("max_consecutive_skips", "must be at least 1, got \(maxConsecutiveSkips)") }
        if !(watchdogSeconds >= 0) { throw s.invalid("watchdog_seconds", "must be 0 (off) or positive, got \(watchdogSeconds)") }
    }

    public func write(to w: inout TOMLWriter) {
        w.section("train")
        w.set("steps", steps)
        w.set("global_batch", globalBatch)
        w.set("micro_batch", microBatch)
        w.set("threads", threads)
        w.set("bucket_mb", bucketMegabytes)
        w.set("sync_allreduce", syncAllReduce)
        w.set("log_every", logEvery)
        w.set("validate_every", validateEvery)
        w.set("check_params_every", checkParamsEvery)
        w.set("max_consecutive_skips", maxConsecutiveSkips)
        w.set("watchdog_seconds", watchdogSeconds)
        w.set("sample_log", sampleLog)
    }
}
