import ClimateData
import Distributed
import Foundation
import Kernels
import Model
import Training

/// What every analysis command (embed, predict, evaluate, attention) is
/// given: a checkpoint, the run config whose `[data]` says which files and
/// tiles, and the time range to cover.
public struct AnalysisOptions: Sendable {
    /// A checkpoint file, or a run directory (its newest committed checkpoint).
    public var checkpoint: String
    /// The run config (TOML); nil: the config embedded in the checkpoint.
    public var config: String?
    /// `--set key=value` overrides applied to the config.
    public var overrides: [String] = []
    /// `--time-range A B`: dates or 0-based frame indices, both included; nil: every frame.
    public var timeRange: (String, String)?
    /// OpenBLAS threads per rank (nil: `train.threads` of the config).
    public var threads: Int?

    public init(checkpoint: String, config: String? = nil) {
        self.checkpoint = checkpoint
        self.config = config
    }
}

/// A trained model and the data it runs on, set up identically on every
/// rank: the checkpoint (read by rank 0, broadcast), the config, the dataset
/// (opened by every rank), the frames of the time range and the tiling.
/// Everything a user can get wrong is found here, before any work, as a
/// `RunError` with exit code 2 raised on every rank.
public final class AnalysisSession {
    public let comm: Communicator
    /// The checkpoint file actually read.
    public let checkpointPath: String
    public let state: TrainingState
    /// The model as trained (from the checkpoint's `/params` attributes).
    public var model: ModelConfig { state.model }
    public let config: RunConfig
    /// The config file given, or "checkpoint" for the embedded one.
    public let configSource: String
    public let data: ClimateDataset
    /// The frames of the time range, `[a, b)`.
    public let frames: Range<Int>
    public let tiling: Tiling
    /// Frames per window (T), from `data.window`.
    public var window: Int { config.data.window }
    /// Normalization of the checkpoint (never recomputed).
    public var normalization: Normalization { state.normalization }

    /// Collective: every rank must call it.
    public init(options: AnalysisOptions, communicator comm: Communicator) throws {
        self.comm = comm
        let path = try AnalysisSession.agreed(comm) { try AnalysisSession.resolveCheckpointPath(options.checkpoint) }
        checkpointPath = path
        let read: TrainingState? = try AnalysisSession.agreed(comm) {
            guard comm.isRoot else { return nil }
            do { return try CheckpointFile.read(path) } catch let e as CheckpointError {
                throw RunError("--checkpoint: \(e)", exitCode: .badInput)
            }
        }
        state = CheckpointBroadcast.share(read, communicator: comm)

        // The config: the file given (rank 0 reads it, all parse it), or the checkpoint's own.
        var config: RunConfig
        if let file = options.config {
            config = try Trainer.loadConfig(path: file, overrides: options.overrides, communicator: comm)
            configSource = file
        } else {
            let text = state.config
            config = try AnalysisSession.agreed(comm) {
                do { return try RunConfig(text: text, source: "\(path) (embedded config)", overrides: options.overrides) } catch {
                    throw RunError("\(path): its embedded config cannot be used (\(error)); give --config", exitCode: .badInput)
                }
            }
            configSource = "checkpoint"
        }
        if let t = options.threads { config.train.threads = t }
        if config.train.threads > 0 { BLASThreads.set(config.train.threads) }

        let c = config
        let dataset = try AnalysisSession.agreed(comm) { try ClimateDataset.open(c.data) }
        data = dataset
        let st = state
        try AnalysisSession.agreed(comm) { try AnalysisSession.checkCompatible(st, path: path, data: dataset) }
        tiling = try AnalysisSession.agreed(comm) { try Tiling(config: c.data, grid: dataset.grid) }
        frames = try AnalysisSession.agreed(comm) {
            try AnalysisSession.selectFrames(options.timeRange, data: dataset, window: c.data.window)
        }
        self.config = config
    }

    /// A network for this model, sized for `samples` samples of one window of one tile, holding the checkpoint's parameters.
    public func makeNetwork(samples: Int) -> Network<Float> {
        let net = Network<Float>(config: model, maxSamples: samples, steps: window, height: tiling.height, width: tiling.width)
        state.parameters.withUnsafeBufferPointer { net.params.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
        return net
    }

    /// Closes the dataset's files.
    public func close() { data.close() }

    /// Text that identifies the inputs, for the output files' attributes.
    public var provenance: [(String, String)] {
        [("checkpoint", checkpointPath), ("checkpoint_step", String(state.step)), ("config_source", configSource),
         ("config", config.resolvedTOML), ("objective", model.objective.rawValue)]
    }

    /// "1996-01-05 00:00" or "frame 12".
    public func label(_ frame: Int) -> String { data.time.label(frame) }

    // MARK: checks

    /// A checkpoint file, or a run directory's newest committed checkpoint.
    static func resolveCheckpointPath(_ given: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: given, isDirectory: &isDir) else {
            throw RunError("--checkpoint \(given): no such file", exitCode: .badInput)
        }
        guard isDir.boolValue else { return given }
        guard let newest = CheckpointStore(runDirectory: given).committed().last else {
            throw RunError("--checkpoint \(given): a directory without committed checkpoints (checkpoints/ckpt-*.nc)", exitCode: .badInput)
        }
        return newest.path
    }

    /// The checkpoint's channels (their names, in order) must be the data's.
    static func checkCompatible(_ state: TrainingState, path: String, data: ClimateDataset) throws {
        let want = state.normalization.channels, have = data.channelNames
        if want != have {
            throw RunError("--checkpoint \(path): the model was trained on channels [\(want.joined(separator: ", "))], the data gives [\(have.joined(separator: ", "))] (data.variables / data.levels)",
                           exitCode: .badInput)
        }
    }

    /// The frames of `--time-range` (every frame without one); an error when
    /// the range lies outside the data or holds fewer frames than a window.
    static func selectFrames(_ range: (String, String)?, data: ClimateDataset, window: Int) throws -> Range<Int> {
        let n = data.frameCount
        var frames = 0 ..< n
        if let (a, b) = range {
            let selection: DataConfig.TimeSelection
            if let i = Int(a), let j = Int(b) {
                guard i >= 0, j >= i else {
                    throw RunError("--time-range: frame indices [\(a), \(b)] must satisfy 0 <= first <= last", exitCode: .badInput)
                }
                guard j < n else {
                    throw RunError("--time-range: frames [\(i), \(j)] are outside the data's frames 0 ... \(n - 1) (\(data.time.label(0)) to \(data.time.label(n - 1)))",
                                   exitCode: .badInput)
                }
                selection = .indices(i, j)
            } else {
                selection = .dates(a, b)
            }
            do { frames = try data.time.frames(selection, field: "time_range") } catch let e as DataError {
                let message = e.message.hasPrefix("data.time_range: ") ? String(e.message.dropFirst("data.time_range: ".count)) : e.message
                throw RunError("--time-range: \(message)", exitCode: .badInput)
            }
        }
        if frames.count < window {
            throw RunError("--time-range: \(frames.count) frame(s) (\(data.time.label(frames.lowerBound)) to \(data.time.label(frames.upperBound - 1))) is shorter than one window of \(window) frames (data.window)",
                           exitCode: .badInput)
        }
        return frames
    }

    /// Runs `body` on every rank; a failure anywhere becomes the same error on
    /// every rank (exit code 2 for config and data errors, unless it says otherwise).
    public static func agreed<T>(_ comm: Communicator, _ body: () throws -> T) throws -> T {
        try Trainer.agreed(comm, exitCode: .failure, body)
    }
}

/// Sends rank 0's checkpoint state to every rank (parameters, model,
/// normalization, counters, config text).
enum CheckpointBroadcast {
    static func share(_ state: TrainingState?, communicator comm: Communicator) -> TrainingState {
        guard comm.size > 1 else { return state! }
        let m = state?.model ?? ModelConfig()
        let cells = ModelConfig.Cell.allCases, objectives = ModelConfig.Objective.allCases
        let ints: [Int64] = [
            Int64(cells.firstIndex(of: m.cell)!), Int64(objectives.firstIndex(of: m.objective)!), Int64(m.channels),
            Int64(m.layers), Int64(m.hidden), Int64(m.kernel), Int64(m.resolvedBottleneck), Int64(m.seReduction),
            Int64(m.attnStride), Int64(m.attnDk), Int64(m.embedDim),
            Int64(state?.step ?? 0), Int64(state?.epoch ?? 0), Int64(state?.samplesSeen ?? 0),
            Int64(bitPattern: state?.seed ?? 0), Int64(state?.worldSize ?? 1),
        ]
        let i = comm.broadcast(array: ints, root: 0)
        var model = ModelConfig()
        model.cell = cells[Int(i[0])]
        model.objective = objectives[Int(i[1])]
        model.channels = Int(i[2])
        model.layers = Int(i[3])
        model.hidden = Int(i[4])
        model.kernel = Int(i[5])
        model.bottleneck = Int(i[6])
        model.seReduction = Int(i[7])
        model.attnStride = Int(i[8])
        model.attnDk = Int(i[9])
        model.embedDim = Int(i[10])
        model.dilations = comm.broadcast(array: m.dilations.map(Int64.init), root: 0).map(Int.init)
        model.seasonPeriodDays = comm.broadcast(m.resolvedSeasonPeriod, root: 0)
        let parameters = comm.broadcast(array: state?.parameters ?? [], root: 0)
        let names = comm.broadcast(string: state?.normalization.channels.joined(separator: ",") ?? "", root: 0)
        let mean = comm.broadcast(array: state?.normalization.mean ?? [], root: 0)
        let std = comm.broadcast(array: state?.normalization.std ?? [], root: 0)
        let config = comm.broadcast(string: state?.config ?? "", root: 0)
        let software = comm.broadcast(string: state?.softwareVersion ?? "", root: 0)
        let created = comm.broadcast(string: state?.created ?? "", root: 0)
        return TrainingState(step: Int(i[11]), epoch: Int(i[12]), samplesSeen: Int(i[13]), seed: UInt64(bitPattern: i[14]),
                             worldSize: Int(i[15]), config: config, model: model, parameters: parameters, moments: nil,
                             normalization: Normalization(channels: names.split(separator: ",", omittingEmptySubsequences: false).map(String.init),
                                                          mean: mean, std: std),
                             softwareVersion: software, created: created)
    }
}
