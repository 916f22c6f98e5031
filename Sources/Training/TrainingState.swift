import ClimateData
import Foundation
import Model

/// The program version written into checkpoints (`software_version`) and shown by `--version`.
public let faconvlstmVersion = "0.1.0"

/// Everything a checkpoint holds (CHECKPOINT.md v1): where training is, the
/// model, its parameters and optimizer moments, and the data normalization.
/// Nothing in it belongs to one rank; rank 0 writes it and any number of
/// ranks resume from it.
public struct TrainingState: Equatable, Sendable {
    /// Optimizer updates applied (a step skipped for NaN/Inf does not count).
    public var step: Int
    /// Current epoch, 0-based.
    public var epoch: Int
    /// Global count of training samples consumed: the one data position.
    public var samplesSeen: Int
    /// Run seed, 0 ... 2^63-1 (stored as int64).
    public var seed: UInt64
    /// Ranks when saved; information only (a run resumes on any number of ranks).
    public var worldSize: Int
    /// The resolved run configuration as TOML text (`config.resolved.toml`).
    public var config: String
    /// The model hyperparameters; stored resolved (bottleneck and season period written out).
    public var model: ModelConfig
    /// All parameters, flat, in `ParameterLayout(config: model)` order.
    public var parameters: [Float]
    /// AdamW first and second moments in the same flat layout; nil for plain SGD.
    public var moments: AdamMoments?
    /// Per-channel mean and standard deviation. Only `channels`, `mean` and
    /// `std` are stored; the point counts read back as 0.
    public var normalization: Normalization
    /// Version of the program that wrote the file.
    public var softwareVersion: String
    /// UTC time of writing, "YYYY-MM-DDTHH:MM:SSZ".
    public var created: String

    public init(step: Int, epoch: Int, samplesSeen: Int, seed: UInt64, worldSize: Int, config: String,
                model: ModelConfig, parameters: [Float], moments: AdamMoments?, normalization: Normalization,
                softwareVersion: String = "faconvlstm \(faconvlstmVersion)", created: String = TrainingState.utcNow()) {
        self.step = step
        self.epoch = epoch
        self.samplesSeen = samplesSeen
        self.seed = seed
        self.worldSize = worldSize
        self.config = config
        self.model = model
        self.parameters = parameters
        self.moments = moments
        self.normalization = normalization
        self.softwareVersion = softwareVersion
        self.created = created
    }

    /// The flat layout of `parameters` and the moments.
    public var layout: ParameterLayout { ParameterLayout(config: model) }

    /// The current UTC time as "YYYY-MM-DDTHH:MM:SSZ".
    public static func utcNow() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    /// Why this state cannot be written as a checkpoint (wrong lengths, NaN,
    /// out-of-range counters), or nil. A writer refuses such a state, so a
    /// save can never commit a file that resume would reject.
    public func problem() -> String? {
        if step < 0 { return "step \(step) is negative" }
        if epoch < 0 { return "epoch \(epoch) is negative" }
        if samplesSeen < 0 { return "samples_seen \(samplesSeen) is negative" }
        if seed > UInt64(Int64.max) { return "seed \(seed) is beyond 2^63-1" }
        if worldSize < 1 || worldSize > Int(Int32.max) { return "world_size \(worldSize) is not 1 ... 2^31-1" }
        do { try model.validate() } catch { return "model: \(error)" }
        let n = layout.totalCount
        if parameters.count != n { return "\(parameters.count) parameters, the model has \(n)" }
        if let bad = TrainingState.firstNonFinite(parameters, layout) { return "parameter \(bad) is not finite" }
        if let m = moments {
            if m.first.count != n || m.second.count != n {
                return "AdamW moments have \(m.first.count) and \(m.second.count) values, the model has \(n)"
            }
            if let bad = TrainingState.firstNonFinite(m.first, layout) { return "AdamW first moment \(bad) is not finite" }
            if let bad = TrainingState.firstNonFinite(m.second, layout) { return "AdamW second moment \(bad) is not finite" }
        }
        let norm = normalization
        if norm.channels.count != model.channels || norm.mean.count != model.channels || norm.std.count != model.channels {
            return "normalization has \(norm.channels.count) channel names, \(norm.mean.count) means and \(norm.std.count) stds, the model has \(model.channels) channels"
        }
        if let c = norm.channels.first(where: { $0.isEmpty || $0.contains(",") }) {
            return "normalization channel name '\(c)' is empty or contains a comma (the attribute is comma-separated)"
        }
        if let i = norm.mean.indices.first(where: { i in !norm.mean[i].isFinite || !(norm.std[i] > 0) || !norm.std[i].isFinite }) {
            return "normalization of channel '\(norm.channels[i])' is not usable (mean \(norm.mean[i]), std \(norm.std[i]))"
        }
        return nil
    }

    /// "name[index]" of the first NaN or infinity, or nil.
    static func firstNonFinite(_ values: [Float], _ layout: ParameterLayout) -> String? {
        guard let i = values.firstIndex(where: { !$0.isFinite }) else { return nil }
        guard let e = layout.entries.first(where: { $0.range.contains(i) }) else { return "[\(i)]" }
        return "\(e.name)[\(i - e.offset)] = \(values[i])"
    }
}

/// AdamW first (`m`) and second (`v`) moments, float32, flat in parameter layout order.
public struct AdamMoments: Equatable, Sendable {
    public var first: [Float]
    public var second: [Float]
    public init(first: [Float], second: [Float]) {
        self.first = first
        self.second = second
    }
}
