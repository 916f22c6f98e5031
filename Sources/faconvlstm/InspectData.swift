import ArgumentParser
import ClimateData
import Foundation
import NetCDF
import Training

/// `faconvlstm inspect-data`: what the `[data]` section finds, before training.
struct InspectData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect-data",
        abstract: "Summarize the dataset of a run config: files, channels, grid, time, statistics, samples.")

    @Option(help: "Run config (TOML) with a [data] section.") var config: String
    @Option(help: "Ranks to plan the schedule for.") var ranks = 1
    @Option(help: "Global batch (default: train.global_batch, else 16).") var globalBatch: Int?
    @Option(help: "Micro-batch (default: train.micro_batch, else the per-rank batch).") var microBatch: Int?
    @Option(name: .customLong("set"), help: "Override a config value, e.g. --set data.window=4.") var overrides: [String] = []

    func run() throws {
        try reportingErrors {
            let rc = try DataRunConfig(path: config, overrides: overrides)
            let data = try ClimateDataset.open(rc.data)
            defer { data.close() }
            let train = try SampleSpace.training(data)
            let valid = try SampleSpace.validation(data)
            let norm = try Normalization.compute(data)
            let g = globalBatch ?? rc.globalBatch ?? 16
            let schedule = try EpochSchedule(sampleCount: train.count, globalBatch: g,
                                             microBatch: microBatch ?? rc.microBatch ?? max(1, g / max(1, ranks)), ranks: ranks, seed: rc.seed)
            print(DataSummary.text(data: data, train: train, valid: valid, norm: norm, schedule: schedule), terminator: "")
        }
    }
}

enum DataSummary {
    static func text(data: ClimateDataset, train: SampleSpace, valid: SampleSpace, norm: Normalization, schedule: EpochSchedule) -> String {
        var out = ""
        func line(_ s: String) { out += s + "\n" }
        func g(_ v: Double) -> String { String(format: "%.6g", v) }
        line("files: \(data.files.count)")
        for f in data.files { line("  \(f)") }
        line("channels: \(data.channels.count)")
        for (i, c) in data.channels.enumerated() {
            line("  \(i) \(c.name)  variable \(c.variable)\(c.level.map { " level \(g($0))" } ?? "")  units \"\(c.units)\"")
        }
        let grid = data.grid
        line("grid: \(grid.height) x \(grid.width) (\(grid.rowDimension) x \(grid.columnDimension))")
        if let lat = grid.latitudes {
            line("  latitude: \(g(lat.first!)) .. \(g(lat.last!)), \(grid.latitudeOrder), weights cos(lat)/mean in [\(g(grid.latitudeWeights.min()!)), \(g(grid.latitudeWeights.max()!))]")
        } else {
            line("  latitude: none found (latitude weights 1)")
        }
        if let lon = grid.longitudes {
            line("  longitude: \(g(lon.first!)) .. \(g(lon.last!)), \(grid.isGlobal ? "global (tiles wrap across the date line)" : "regional")")
        } else {
            line("  longitude: none found (regional)")
        }
        let t = data.time
        line("time steps: \(t.frameCount)")
        if let cal = t.calendar {
            line("  span: \(t.label(0)) .. \(t.label(t.frameCount - 1)), calendar \(cal.rawValue), units \"\(t.units ?? "")\"")
        } else {
            line("  span: no time units: tau = frame index")
        }
        line("  season period P: \(String(format: "%.10g", t.seasonPeriod)) days")
        func frames(_ r: [Range<Int>]) -> String {
            r.isEmpty ? "none" : r.map { "\($0.lowerBound)..\($0.upperBound - 1) (\(t.label($0.lowerBound)) .. \(t.label($0.upperBound - 1)))" }.joined(separator: ", ")
        }
        line("training frames: \(data.trainingFrames.reduce(0) { $0 + $1.count }): \(frames(data.trainingFrames))")
        line("validation frames: \(data.validationFrames.reduce(0) { $0 + $1.count }): \(frames(data.validationFrames))")
        let tl = train.tiling
        line("tiles: \(tl.count) per frame (\(tl.rowOrigins.count) x \(tl.columnOrigins.count)), tile \(tl.height) x \(tl.width), halo \(tl.halo), interior \(tl.interiorHeight) x \(tl.interiorWidth), stride \(tl.strideY) x \(tl.strideX)")
        line("windows: \(train.window) frames, stride \(data.config.windowStride): \(train.windowStarts.count) training, \(valid.windowStarts.count) validation")
        line("training samples: \(train.count)")
        line("validation samples: \(valid.count)")
        line("normalization (training frames, valid points):")
        line("  channel mean std missing_fraction")
        for c in 0 ..< norm.channels.count {
            line("  \(norm.channels[c]) \(String(format: "%.10g", norm.mean[c])) \(String(format: "%.10g", norm.std[c])) \(String(format: "%.6f", norm.missingFraction[c]))")
        }
        line("schedule: ranks \(schedule.ranks), global batch \(schedule.globalBatch), micro batch \(schedule.microBatch), seed \(schedule.seed)")
        line("steps per epoch: \(schedule.stepsPerEpoch)")
        line("samples per rank per step: \(schedule.samplesPerRankPerStep)")
        line("samples per rank per epoch: \(schedule.stepsPerEpoch * schedule.samplesPerRankPerStep)")
        line("dropped per epoch: \(train.count - schedule.samplesPerEpoch)")
        return out
    }
}
