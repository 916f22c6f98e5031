import Analysis
import ArgumentParser
import Foundation
import Training

/// `faconvlstm embed`: the per-time-step embeddings z_t of a trained model.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the per-time-step embeddings z_t of a trained model to a CF NetCDF file.",
        discussion: """
            Runs the model over every window of the time range (each rank of an
            mpirun job a share; rank 0 writes) and writes z_t for every time step
            (and every tile when several tiles cover the grid). z_t is taken from
            step T-1 of its window for forecast models (causal) and step T/2 for
            reconstruct models; see docs/outputs.md.

              faconvlstm embed --checkpoint runs/storm --config configs/storm.toml --output emb.nc
              mpirun -np 4 faconvlstm embed --checkpoint ckpt.nc --output emb.nc --time-range 1996-01-05 1996-01-15
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
            let emb = try Embeddings.compute(session)
            try AnalysisSession.agreed(comm) { if comm.isRoot { try emb.write(to: target, session: session) } }
            print0(comm, "embed: wrote \(output): \(emb.frameCount) time steps (\(session.label(emb.plan.outputFrames.lowerBound)) to \(session.label(emb.plan.outputFrames.upperBound - 1))) x \(emb.tilesY * emb.tilesX) tile(s) x \(emb.dim) components, window \(emb.plan.window), step \(emb.plan.position), checkpoint step \(session.state.step), \(comm.size) rank(s)")
        }
    }
}
