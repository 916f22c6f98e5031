import ClimateData
import Distributed
import Foundation
import Logging
import Model
import Training

/// `faconvlstm train --dry-run`: everything the trainer checks before it
/// reads a data value, in one process without MPI, then what the run will
/// be: model, samples, steps, memory per rank, checkpoint size.
///
/// The checks are the trainer's own code (`Trainer.loadConfig`, `RunPlan`,
/// `RunPlan.startState` on `Communicator.serial`), so a dry run fails exactly
/// where and how the real run would. Nothing is written except a probe
/// checkpoint in a temporary directory (removed at once), whose size and
/// HDF5 memory are measured.
struct TrainDryRun {
    let configPath: String
    let overrides: [String]
    let ranks: Int
    let options: TrainOptions

    /// Prints the report on stdout and returns; a problem becomes the usual
    /// one-line error on stderr and the exit code the real run would give.
    func run() -> Int32 {
        LoggingSystem.bootstrap { _ in RankLogHandler(rank: 0, size: 1) }
        do {
            print(try report(), terminator: "")
            return 0
        } catch {
            writeToStandardError(RunTermination.message(for: error, rank: 0, size: 1))
            return RunTermination.classify(error).code.rawValue
        }
    }

    func report() throws -> String {
        let comm = Communicator.serial
        let config = try Trainer.loadConfig(path: configPath, overrides: overrides, communicator: comm)
        let plan = try RunPlan(config: config, ranks: ranks, communicator: comm)
        defer { plan.dataset.close() }
        let c = plan.config
        if let problem = RunPlan.runDirectoryProblem(c.runDirectory) { throw RunError(problem) }
        let start = try startInfo(plan)
        // The runtime is measured now, as the trainer stands before it builds the network.
        let runtime = ProcessMemory.current().resident
        let probe = CheckpointProbe.write(plan: plan)

        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        let data = plan.dataset, t = data.time
        line("dry run of \(configPath)\(overrides.isEmpty ? "" : " with --set " + overrides.joined(separator: " --set ")): MPI not initialized, nothing written")
        line("data: \(data.files.count) file(s) opened, \(data.channels.count) channel(s) \(data.channelNames.joined(separator: ", ")), grid \(data.grid.height) x \(data.grid.width)\(data.grid.isGlobal ? " (global)" : ""), \(t.frameCount) frames \(t.label(0)) .. \(t.label(t.frameCount - 1))")
        func frames(_ r: [Range<Int>]) -> String {
            r.isEmpty ? "none" : "\(r.reduce(0) { $0 + $1.count }) (" + r.map { "\(t.label($0.lowerBound)) .. \(t.label($0.upperBound - 1))" }.joined(separator: ", ") + ")"
        }
        line("  training frames \(frames(data.trainingFrames)); validation frames \(frames(data.validationFrames))")

        let m = c.model
        let tiling = plan.training.tiling
        let T = c.data.window, H = tiling.height, W = tiling.width
        let parameters = ParameterLayout(config: m).totalCount
        let flops = FLOPCount(config: m, steps: T, height: H, width: W)
        line("model: \(m.cell.rawValue), \(m.layers) layers, hidden \(m.hidden), \(m.objective.rawValue), \(m.channels) channels: \(group(parameters)) parameters")
        line("  FLOPs per sample (window \(T), tile \(H) x \(W)): forward \(flopText(flops.forward)), training step \(flopText(flops.training))")
        let valid = plan.validation?.count ?? 0
        line("samples per epoch: training \(group(plan.training.count)) (\(plan.training.windowStarts.count) windows x \(tiling.count) tiles), validation \(group(valid))\(valid > 0 && c.train.validateEvery == 0 ? " (train.validate_every = 0: not used)" : "")")
        let s = plan.schedule
        line("ranks: \(ranks); global batch \(c.train.globalBatch) = \(plan.rankShare) samples per rank per step in \(plan.microBatchesPerStep) micro-batch(es) of at most \(c.train.microBatch)")
        line(String(format: "  steps per epoch %@ (%@ samples per rank per epoch, %d dropped); the run: %@ steps = %.2f epochs",
                    group(s.stepsPerEpoch), group(s.stepsPerEpoch * plan.rankShare), plan.training.count - s.samplesPerEpoch,
                    group(c.train.steps), Double(c.train.steps) / Double(s.stepsPerEpoch)))
        line("run directory: \(c.runDirectory): \(start)")
        let p = c.checkpoint
        var when: [String] = []
        if p.everySteps > 0 { when.append("every \(p.everySteps) steps") }
        if p.everyMinutes > 0 { when.append(String(format: "every %g minutes", p.everyMinutes)) }
        let how = probe.problem.map { "estimated; a probe checkpoint could not be written to the temporary directory: \($0)" }
            ?? "measured: this model's checkpoint written to a temporary file"
        line("checkpoint file: \(mebibytes(probe.fileBytes)) (\(group(probe.fileBytes)) bytes, \(how)); saved \(when.isEmpty ? "at the end" : when.joined(separator: " and ") + " and at the end"), \(p.keepLast) kept\(p.keepEvery > 0 ? " + every \(p.keepEvery) steps" : " (\(mebibytes(p.keepLast * probe.fileBytes)) on disk)")")

        let chunk = try data.chunkCacheBytes(frames: data.trainingFrames + (plan.validates ? data.validationFrames : []))
        let estimate = RunMemoryEstimate(plan: plan, chunkCache: chunk,
                                         measured: .init(runtime: runtime, checkpointWriter: probe.writerBytes))
        line("memory per rank (peak resident set, VmHWM):")
        for item in estimate.items {
            line("  " + item.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                 + mebibytes(item.bytes).leftPadded(12) + "  " + item.detail + (item.rankZeroOnly ? " [rank 0]" : ""))
        }
        if estimate.setup > estimate.items.reduce(0, { $0 + $1.bytes }) {
            line("  setup phase peak is higher: \(mebibytes(estimate.setup)) (\(estimate.setupDetail))")
        }
        line("  " + "total, rank 0".padding(toLength: 22, withPad: " ", startingAt: 0) + mebibytes(estimate.rankZero).leftPadded(12))
        if ranks > 1 {
            line("  " + "total, rank\(ranks == 2 ? " 1" : "s 1-\(ranks - 1)")".padding(toLength: 22, withPad: " ", startingAt: 0) + mebibytes(estimate.otherRanks).leftPadded(12))
        }
        line("dry run: ok")
        return out
    }

    /// Where the run would start, by the trainer's own resume logic.
    func startInfo(_ plan: RunPlan) throws -> String {
        let lines = LineBox()
        let log = Logger(label: "faconvlstm") { _ in RankLogHandler(rank: 0, size: 1, sink: { lines.append($0) }) }
        let (resumed, initFrom) = try plan.startState(options: options, communicator: .serial, log: log)
        var text: String
        if let r = resumed {
            text = "resumes at step \(r.step) of \(plan.config.train.steps) (\(group(r.samplesSeen)) samples seen)"
        } else if FileManager.default.fileExists(atPath: plan.config.runDirectory) {
            text = "exists; starts fresh"
        } else {
            text = "will be created; starts fresh"
        }
        if initFrom != nil { text += " from --init-from \(options.initFrom ?? "")" }
        for l in lines.all { text += "\n  " + l.trimmingCharacters(in: .newlines) }
        return text
    }
}

/// Writes a checkpoint of the run's model (zero parameters; size does not
/// depend on the values: no compression) to a temporary directory, measures
/// its size and what HDF5 keeps in this process afterwards, removes it.
enum CheckpointProbe {
    struct Result {
        let fileBytes: Int
        let writerBytes: Int
        /// Why nothing could be measured (then the sizes are CheckpointFile.estimatedSize and 0).
        let problem: String?
    }

    static func write(plan: RunPlan) -> Result {
        let c = plan.config
        let n = ParameterLayout(config: c.model).totalCount
        let channels = plan.dataset.channelNames
        func state() -> TrainingState {
            TrainingState(
                step: 0, epoch: 0, samplesSeen: 0, seed: c.seed, worldSize: plan.ranks, config: c.resolvedTOML, model: c.model,
                parameters: [Float](repeating: 0, count: n),
                moments: c.optimizer.kind == .adamw ? AdamMoments(first: [Float](repeating: 0, count: n), second: [Float](repeating: 0, count: n)) : nil,
                normalization: Normalization(channels: channels, mean: [Double](repeating: 0, count: channels.count),
                                             std: [Double](repeating: 1, count: channels.count)))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faconvlstm-dry-run-\(getpid())-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ckpt.nc"
        let before = ProcessMemory.current().resident
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try CheckpointFile.write(state(), to: path)
        } catch {
            return Result(fileBytes: CheckpointFile.estimatedSize(of: state()), writerBytes: 0, problem: "\(error)")
        }
        // The state's arrays are gone; what is left is HDF5's.
        let after = ProcessMemory.current().resident
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        return Result(fileBytes: size, writerBytes: max(0, after - before), problem: nil)
    }
}

/// Lines collected from a logger (any thread).
final class LineBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// 3.524e7 -> "35.24 MFLOP".
func flopText(_ x: Double) -> String {
    for (scale, unit) in [(1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")] where x >= scale {
        return String(format: "%.4g %@", x / scale, unit)
    }
    return String(format: "%.4g FLOP", x)
}

/// 14942 -> "14,942".
func group(_ n: Int) -> String {
    let s = String(abs(n))
    var out = ""
    for (i, ch) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
