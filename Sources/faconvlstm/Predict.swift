import Analysis
import ArgumentParser
import Foundation
import Training

/// `faconvlstm predict`: reconstructed or forecast fields on the full grid.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the model's reconstructions or one-step forecasts, de-normalized, on the full grid.",
        discussion: """
            Reconstruct models give every frame of the time range; forecast models
            give frames 2 ... N, frame t predicted from the frames up to t-1. Tiles
            are stitched from their interiors (each point from the tile whose
            interior center is nearest); values are in the variables' own units, with
            their names, and missing where the data is missing. Dimensions and
            coordinates are named as in the input files, so xarray can difference
            the two (docs/outputs.md).

              faconvlstm predict --checkpoint runs/storm --config configs/storm.toml --output pred.nc
            """)

    @OptionGroup var inputs: ModelRunOptions

    @Option(help: "The NetCDF file to write.") var output: String
    @Flag(help: "Replace the output file if it exists.") var overwrite = false

    func run() throws {
        runOnEveryRank { comm in
            let session = try AnalysisSession(options: inputs.analysisOptions, communicator: comm)
            defer { session.close() }
            let target = OutputTarget(path: output, overwrite: overwrite)
            try AnalysisSession.agreed(comm) { if comm.isRoot { try target.check() } }
            let run = try PredictionRun(session: session)
            try run.write(to: target)
            let frames = run.plan.outputFrames
            print0(comm, "predict: wrote \(output): \(session.model.objective.rawValue) of \(session.data.config.variables.joined(separator: ", ")), \(frames.count) time steps (\(session.label(frames.lowerBound)) to \(session.label(frames.upperBound - 1))) on the \(run.height) x \(run.width) grid, checkpoint step \(session.state.step), \(comm.size) rank(s)")
        }
    }
}
