import ClimateData
import Foundation

/// What the data commands read from a run config: the `[data]` section and
/// the few other keys they report on (seed, batch sizes, run directory).
public struct DataRunConfig {
    public let data: DataConfig
    public let seed: UInt64
    public let globalBatch: Int?
    public let microBatch: Int?
    public let runDirectory: String?

    /// Loads `path`, applies `--set` overrides, reads `[data]` strictly
    /// (unknown fields are errors) and peeks at `seed`, `run_dir`,
    /// `train.global_batch`, `train.micro_batch`.
    public init(path: String, overrides: [String]) throws {
        var doc = try ConfigDocument(contentsOf: path)
        for o in overrides { try doc.applyOverride(o) }
        let data = try doc.section("data")
        guard data.present else { throw ConfigFileError("\(path): no [data] section") }
        self.data = try DataConfig(section: data)
        let root = try doc.section("")
        let seed = try root.int("seed") ?? 0
        guard seed >= 0 else { throw root.invalid("seed", "must be 0 .. 2^63-1, got \(seed)") }
        self.seed = UInt64(seed)
        runDirectory = try root.string("run_dir")
        let train = try doc.section("train")
        globalBatch = try train.int("global_batch")
        microBatch = try train.int("micro_batch")
    }
}
