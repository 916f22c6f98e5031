import ClimateData
import Model

/// The whole run config of `faconvlstm train`: top-level `seed` and `run_dir`,
/// and the sections `[model]`, `[data]`, `[optimizer]`, `[schedule]`,
/// `[train]`, `[checkpoint]`. Unknown sections and fields are errors.
public struct RunConfig: Equatable, Sendable {
    /// `seed`: all randomness is a pure function of (seed, epoch, global sample index).
    public var seed: UInt64 = 0
    /// `run_dir`: where checkpoints, metrics and the resolved config go (shared storage).
    public var runDirectory: String = "runs/default"
    public var model = ModelConfig()
    public var data = DataConfig()
    public var optimizer = OptimizerConfig()
    public var schedule = ScheduleConfig()
    public var train = TrainConfig()
    public var checkpoint = CheckpointPolicy()

    public static let sections = ["model", "data", "optimizer", "schedule", "train", "checkpoint"]

    public init() {}

    /// Reads every section strictly. Model fields that the data decides
    /// (`channels`, `season_period_days`) are settled later by `resolve(with:)`.
    public init(document doc: ConfigDocument) throws {
        self.init()
        if let unknown = doc.sectionNames.first(where: { !RunConfig.sections.contains($0) }) {
            throw ConfigFileError("\(doc.source): unknown section [\(unknown)] (known: \(RunConfig.sections.map { "[\($0)]" }.joined(separator: ", ")))")
        }
        let root = try doc.section("")
        if let s = try root.int("seed") {
            guard s >= 0 else { throw root.invalid("seed", "must be 0 .. 2^63-1, got \(s)") }
            seed = UInt64(s)
        }
        if let d = try root.string("run_dir") {
            guard !d.isEmpty else { throw root.invalid("run_dir", "must not be empty") }
            runDirectory = d
        }
        try root.finish()
        let dataSection = try doc.section("data")
        guard dataSection.present else {
            throw ConfigFileError("\(doc.source): no [data] section: say which files and variables to train on (see docs/data.md)")
        }
        data = try DataConfig(section: dataSection)
        model = try ModelConfig(section: doc.section("model"))
        explicitChannels = (try? doc.section("model"))?.has("channels") ?? false
        optimizer = try OptimizerConfig(section: doc.section("optimizer"))
        schedule = try ScheduleConfig(section: doc.section("schedule"))
        train = try TrainConfig(section: doc.section("train"))
        checkpoint = try CheckpointPolicy(section: doc.section("checkpoint"))
    }

    /// Loads a TOML file and applies `--set key=value` overrides.
    public init(path: String, overrides: [String] = []) throws {
        var doc = try ConfigDocument(contentsOf: path)
        for o in overrides { try doc.applyOverride(o) }
        try self.init(document: doc)
    }

    /// Same, from text (rank 0 reads the file and broadcasts its text).
    public init(text: String, source: String, overrides: [String] = []) throws {
        var doc = try ConfigDocument(tomlText: text, source: source)
        for o in overrides { try doc.applyOverride(o) }
        try self.init(document: doc)
    }

    /// True when `[model] channels` was given (then it must match the data).
    public private(set) var explicitChannels = false

    /// Settles the model fields the dataset decides: channels (V) and the
    /// seasonal period P of its calendar, unless configured.
    public mutating func resolve(with dataset: ClimateDataset) throws {
        let v = dataset.channels.count
        if explicitChannels && model.channels != v {
            throw ConfigFileError("model.channels = \(model.channels), but [data] gives \(v) channels (\(dataset.channelNames.joined(separator: ", ")))")
        }
        model.channels = v
        if model.seasonPeriodDays == nil { model.seasonPeriodDays = dataset.time.seasonPeriod }
        explicitChannels = true
    }

    /// Cross-section rules that need the number of ranks.
    public func validate(ranks: Int) throws {
        if train.globalBatch % ranks != 0 {
            throw ConfigFileError("train.global_batch = \(train.globalBatch) is not divisible by the \(ranks) ranks: use a multiple of \(ranks)")
        }
        if optimizer.kind == .adamw, schedule.minLearningRate > optimizer.learningRate {
            throw ConfigFileError("schedule.min_lr = \(schedule.minLearningRate) is above optimizer.lr = \(optimizer.learningRate)")
        }
        if schedule.warmupSteps > train.steps {
            throw ConfigFileError("schedule.warmup_steps = \(schedule.warmupSteps) is longer than train.steps = \(train.steps)")
        }
    }

    /// The resolved config, every default written out: `<run>/config.resolved.toml`
    /// and the `config` attribute of checkpoints.
    public var resolvedTOML: String {
        var w = TOMLWriter()
        w.comment("faconvlstm resolved run config: every field, defaults filled in")
        w.set("seed", Int(seed))
        w.set("run_dir", runDirectory)
        model.write(to: &w)
        data.write(to: &w)
        optimizer.write(to: &w)
        schedule.write(to: &w)
        train.write(to: &w)
        checkpoint.write(to: &w)
        return w.text
    }

    /// The learning rate schedule of this run (a pure function of the step).
    public var learningRateSchedule: LearningRateSchedule {
        LearningRateSchedule(peak: optimizer.learningRate, warmupSteps: schedule.warmupSteps,
                             totalSteps: train.steps, floor: schedule.minLearningRate)
    }
}
