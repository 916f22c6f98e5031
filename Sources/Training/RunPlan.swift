import ClimateData
import Distributed
import Foundation
import Logging
import Model

/// What a run is, settled before any data value is read: the config checked
/// for `ranks` and resolved against the dataset's metadata (every file,
/// variable, grid and time range), the training and validation samples, and
/// the epoch schedule.
///
/// `Trainer.init` builds it on every rank, each step agreed so that a failure
/// on any rank ends the job cleanly; `train --dry-run` builds it the same way
/// in one process without MPI (`Communicator.serial`), so it finds the same
/// errors, in the same order, with the same words.
public struct RunPlan {
    public let config: RunConfig
    public let ranks: Int
    public let dataset: ClimateDataset
    public let training: SampleSpace
    /// nil without a validation range (or when no window fits in it).
    public let validation: SampleSpace?
    public let schedule: EpochSchedule

    public init(config initial: RunConfig, ranks: Int, communicator comm: Communicator) throws {
        var config = initial
        try Trainer.agreed(comm, exitCode: .badInput) { try config.validate(ranks: ranks) }
        // Every rank opens the files itself; a rank that cannot (a missing
        // mount on one node) fails the whole job cleanly.
        let dataset = try Trainer.agreed(comm, exitCode: .badInput) { try ClimateDataset.open(config.data) }
        do {
            try Trainer.agreed(comm, exitCode: .badInput) { try config.resolve(with: dataset) }
            let training = try Trainer.agreed(comm, exitCode: .badInput) { try SampleSpace.training(dataset) }
            validation = (try? SampleSpace.validation(dataset)).flatMap { $0.count > 0 ? $0 : nil }
            let c = config
            schedule = try Trainer.agreed(comm, exitCode: .badInput) {
                try EpochSchedule(sampleCount: training.count, globalBatch: c.train.globalBatch,
                                  microBatch: c.train.microBatch, ranks: ranks, seed: c.seed)
            }
            self.training = training
        } catch {
            dataset.close()
            throw error
        }
        self.config = config
        self.ranks = ranks
        self.dataset = dataset
    }

    /// This rank's samples per step, G / R.
    public var rankShare: Int { config.train.globalBatch / ranks }
    /// Micro-batches per step on each rank: ceil(G / R / micro_batch).
    public var microBatchesPerStep: Int { (rankShare + config.train.microBatch - 1) / config.train.microBatch }
    /// True when the run validates (a validation range with samples, and `validate_every` > 0).
    public var validates: Bool { validation != nil && config.train.validateEvery > 0 }

    /// The checkpoint a start of this run resumes from (`--resume`), or nil for
    /// a fresh start, and the `--init-from` parameters; with the checks the
    /// trainer makes on them. Rank 0 reads, every rank receives (collective).
    /// `log` receives "resuming from ..." and warnings about skipped files.
    public func startState(options: TrainOptions, communicator comm: Communicator,
                           log: Logger) throws -> (resumed: TrainingState?, initFrom: [Float]?) {
        let store = CheckpointStore(runDirectory: config.runDirectory, policy: config.checkpoint)
        let resumed = try Trainer.findResumeState(config: config, comm: comm, options: options, store: store, log: log)
        let initFrom = try Trainer.loadInitFrom(config: config, comm: comm, options: options, resuming: resumed != nil)
        if let r = resumed {
            guard r.normalization.channels == dataset.channelNames else {
                throw RunError("checkpoint normalization is for channels \(r.normalization.channels.joined(separator: ",")), the data has \(dataset.channelNames.joined(separator: ","))",
                               exitCode: .badInput, scope: .allRanks)
            }
            if r.samplesSeen % config.train.globalBatch != 0 {
                throw RunError("the checkpoint's samples_seen \(r.samplesSeen) is not a multiple of train.global_batch = \(config.train.globalBatch): keep the global batch of the run when resuming",
                               exitCode: .badInput, scope: .allRanks)
            }
        }
        return (resumed, initFrom)
    }

    /// Why rank 0 could not make the run directory and write
    /// `config.resolved.toml` in it, without changing anything; nil when it can.
    /// The trainer reports the same failure in the same words when it happens.
    public static func runDirectoryProblem(_ dir: String) -> String? {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            guard isDir.boolValue else { return RunPlan.cannotCreate(dir, ENOTDIR) }
            return access(dir, W_OK | X_OK) == 0 ? nil : RunPlan.cannotWrite(dir, errno)
        }
        // The nearest existing ancestor must let us create the rest.
        var parent = (dir as NSString).deletingLastPathComponent
        if parent.isEmpty { parent = "." }
        while !FileManager.default.fileExists(atPath: parent, isDirectory: &isDir) {
            let up = (parent as NSString).deletingLastPathComponent
            if up.isEmpty || up == parent { parent = up.isEmpty ? "." : up; break }
            parent = up
        }
        if FileManager.default.fileExists(atPath: parent, isDirectory: &isDir), !isDir.boolValue {
            return RunPlan.cannotCreate(dir, ENOTDIR)
        }
        return access(parent, W_OK | X_OK) == 0 ? nil : RunPlan.cannotCreate(dir, errno)
    }

    /// `mkdir -p`: nil on success, else the errno of the failing mkdir(2).
    static func makeDirectories(_ dir: String) -> Int32? {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) { return isDir.boolValue ? nil : ENOTDIR }
        let parent = (dir as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != dir, let e = makeDirectories(parent) { return e }
        if mkdir(dir, 0o777) != 0 && errno != EEXIST { return errno }
        return nil
    }

    static func cannotCreate(_ dir: String, _ code: Int32) -> String {
        "run directory \(dir): cannot create: \(String(cString: strerror(code)))"
    }

    static func cannotWrite(_ dir: String, _ code: Int32) -> String {
        "run directory \(dir): cannot write config.resolved.toml: \(String(cString: strerror(code)))"
    }
}
