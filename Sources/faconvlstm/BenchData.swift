import ArgumentParser
import ClimateData
import Foundation
import Training

/// Hidden: read throughput of the sampler and batch reader (scripts/bench_data.sh).
struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-data", abstract: "Measure batch reading throughput (for scripts/bench_data.sh).", shouldDisplay: false)

    @Option(help: "Run config (TOML) with a [data] section.") var config: String
    @Option(help: "Micro-batches to read.") var batches = 50
    @Option(help: "Samples per micro-batch.") var microBatch = 8
    @Option(help: "Simulated compute per batch, in milliseconds (prefetch overlaps reading with it).") var computeMs = 0.0
    @Option(help: "on or off.") var prefetch = "on"
    @Option(name: .customLong("set"), help: "Override a config value.") var overrides: [String] = []

    func run() throws {
        try reportingErrors {
            let rc = try DataRunConfig(path: config, overrides: overrides)
            let data = try ClimateDataset.open(rc.data)
            let space = try SampleSpace.training(data)
            // Statistics of the first frames only: the benchmark is about reading.
            let norm = Normalization(channels: data.channelNames, mean: [Double](repeating: 0, count: data.channels.count),
                                     std: [Double](repeating: 1, count: data.channels.count))
            let reader = try BatchReader(dataset: data, normalization: norm, space: space)
            let schedule = try EpochSchedule(sampleCount: space.count, globalBatch: microBatch, microBatch: microBatch, ranks: 1, seed: rc.seed)
            let steps = schedule.stepsPerEpoch
            let stream = BatchStream(reader: reader, count: batches, prefetch: prefetch == "on") { k in schedule.globalSamples(step: k % steps) }
            let t0 = Date()
            var samples = 0
            while let b = try stream.next() {
                samples += b.samples
                if computeMs > 0 { Thread.sleep(forTimeInterval: computeMs / 1000) }
            }
            let secs = Date().timeIntervalSince(t0)
            stream.stop()
            data.close()
            let mb = Double(samples * reader.bytesPerSample) / 1e6
            print(String(format: "bench-data: prefetch %@ samples %d in %.3f s: %.1f samples/s, %.1f MB/s of float32 inputs, frames %d, VmHWM %@",
                         prefetch, samples, secs, Double(samples) / secs, mb / secs, data.frameCount,
                         mebibytes(ProcessMemory.current().peak)))
        }
    }
}
