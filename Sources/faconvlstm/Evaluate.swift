import Analysis
import ArgumentParser
import Foundation
import Training

/// `faconvlstm evaluate`: scores of exactly what `predict` writes.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Latitude-weighted RMSE and bias per variable, with persistence and climatology baselines.",
        discussion: """
            Scores exactly the values `predict` writes for the same checkpoint, config
            and time range, in physical units: rmse = sqrt(sum w d^2 / sum w), bias =
            sum w d / sum w, d = prediction - truth, w = cos(latitude), over every
            valid point. Persistence predicts the previous frame; climatology the
            per-point mean over the config's training frames. See docs/outputs.md.

              faconvlstm evaluate --checkpoint runs/storm --config configs/storm.toml --time-range 1996-01-18 1996-01-20 --json scores.json --maps maps.nc
            """)

    @OptionGroup var inputs: ModelRunOptions

    @Option(help: "Also write the scores as JSON to this file.") var json: String?
    @Option(help: "Also write per-grid-point RMSE and bias maps (NetCDF) to this file.") var maps: String?
    @Flag(help: "Replace output files that exist.") var overwrite = false

    func run() throws {
        runOnEveryRank { comm in
            let session = try AnalysisSession(options: inputs.analysisOptions, communicator: comm)
            defer { session.close() }
            let jsonTarget = json.map { OutputTarget(path: $0, overwrite: overwrite, option: "--json") }
            let mapsTarget = maps.map { OutputTarget(path: $0, overwrite: overwrite, option: "--maps") }
            try AnalysisSession.agreed(comm) {
                if comm.isRoot {
                    try jsonTarget?.check()
                    try mapsTarget?.check()
                }
            }
            let run = try PredictionRun(session: session)
            let scores = try FieldScores.compute(run, maps: mapsTarget != nil)
            let names = session.data.channelNames, units = session.data.channels.map(\.units)
            let frames = run.plan.outputFrames
            let header: [(String, String)] = [
                ("checkpoint", session.checkpointPath), ("checkpoint_step", String(session.state.step)),
                ("objective", session.model.objective.rawValue), ("config", session.configSource),
                ("first_time", session.label(frames.lowerBound)), ("last_time", session.label(frames.upperBound - 1)),
                ("first_frame", String(frames.lowerBound)), ("last_frame", String(frames.upperBound - 1)),
                ("time_steps", String(frames.count)), ("window", String(run.plan.window)),
            ]
            try AnalysisSession.agreed(comm) {
                guard comm.isRoot else { return }
                try jsonTarget?.write(text: scores.json(names: names, units: units, header: header))
                if let m = mapsTarget { try scores.writeMaps(to: m, session: session, names: names, units: units) }
            }
            print0(comm, "evaluate: \(session.model.objective.rawValue), checkpoint step \(session.state.step), \(frames.count) time steps (\(session.label(frames.lowerBound)) to \(session.label(frames.upperBound - 1))), latitude-weighted, physical units")
            print0(comm, scores.table(names: names, units: units))
        }
    }
}
