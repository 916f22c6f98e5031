import ArgumentParser
import ClimateData
import Foundation
import Model
import Training


/// `faconvlstm checkpoint-loop` (hidden): saves synthetic training states
/// through `CheckpointStore`, for the kill and crash tests of the commit
/// protocol. `--crash-at PHASE` sends SIGKILL to itself at that point of save
/// number `--crash-on-save`, so a test can stop a save at any step.
struct CheckpointLoop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint-loop",
        abstract: "Save synthetic checkpoints in a loop (tests of the commit protocol).",
        shouldDisplay: false)

    enum Phase: String, ExpressibleByArgument, CaseIterable {
        /// The file image is built in memory; nothing on disk yet.
        case encoded
        /// The first 256 KiB of the .tmp file are written.
        case writing
        /// The .tmp file is complete and fsynced, not renamed.
        case synced
        case committed
        case latestTmp = "latest-tmp"
        case latest
        case removed
    }

    @Option(help: "Checkpoints directory.") var dir: String
    @Option(help: "Number of saves (0: until killed).") var saves = 1
    @Option(help: "Step of the first save.") var firstStep = 1
    @Option(help: "Steps between saves.") var stepInterval = 1
    @Option(help: "Cell of the synthetic model.") var cell: ModelConfig.Cell = .faconvlstm
    @Option(help: "Input channels.") var channels = 3
    @Option(help: "Hidden channels.") var hidden = 8
    @Option(help: "Layers.") var layers = 2
    @Flag(help: "No AdamW moments (plain SGD).") var sgd = false
    @Option(help: "Retention: newest checkpoints kept.") var keepLast = 2
    @Option(help: "Retention: keep multiples of this step forever (0: none).") var keepEvery = 0
    @Option(help: "Free space margin in MiB.") var minFreeMb = 0
    @Option(help: "SIGKILL this process at this point of a save.") var crashAt: Phase?
    @Option(help: "Which save (1-based) --crash-at applies to.") var crashOnSave = 1
    @Option(help: "Seed of the synthetic parameters.") var seed: UInt64 = 7

    func run() throws {
        var model = ModelConfig()
        model.cell = cell
        model.channels = channels
        model.hidden = hidden
        model.layers = layers
        model.bottleneck = model.resolvedBottleneck
        model.seasonPeriodDays = model.resolvedSeasonPeriod
        var policy = CheckpointPolicy()
        policy.keepLast = keepLast
        policy.keepEvery = keepEvery
        policy.minFreeMB = minFreeMb
        var w = TOMLWriter()
        w.set("seed", Int(seed))
        model.write(to: &w)
        policy.write(to: &w)
        let layout = ParameterLayout(config: model)
        var base = [Float](repeating: 0, count: layout.totalCount)
        base.withUnsafeMutableBufferPointer { layout.initialize($0, seed: seed) }
        let norm = Normalization(channels: (0 ..< channels).map { "v\($0)" },
                                 mean: (0 ..< channels).map { Double($0) * 10 + 0.5 }, std: (0 ..< channels).map { Double($0) + 1.25 })

        var index = 0
        while saves == 0 || index < saves {
            index += 1
            var store = CheckpointStore(directory: dir, policy: policy)
            if let phase = crashAt, index == crashOnSave {
                store.onPhase = { p in
                    switch (phase, p) {
                    case (.encoded, .encoded), (.writing, .wroteTemporary), (.synced, .syncedTemporary), (.committed, .committed),
                         (.latestTmp, .wroteLatestTemporary), (.latest, .updatedLatest), (.removed, .removed):
                        kill(getpid(), SIGKILL)
                    default: break
                    }
                }
            }
            let step = firstStep + (index - 1) * stepInterval
            let shift = Float(step) * 1e-3
            let params = base.map { $0 + shift }
            let state = TrainingState(step: step, epoch: step / 10, samplesSeen: step * 16, seed: seed, worldSize: 1,
                                      config: w.text, model: model, parameters: params,
                                      moments: sgd ? nil : AdamMoments(first: params.map { $0 * 0.1 }, second: params.map { $0 * $0 }),
                                      normalization: norm)
            let outcome = store.save(state)
            var report = "step \(step): \(outcome.message)\n"
            if case .saved(let s) = outcome { for warning in s.warnings { report += "warning: \(warning)\n" } }
            FileHandle.standardOutput.write(Data(report.utf8))  // unbuffered: a killed process has printed every finished save
            if !outcome.succeeded { throw ExitCode(1) }
        }
    }
}
