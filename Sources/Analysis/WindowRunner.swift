import ClimateData
import Distributed
import Model
import Training

/// Runs the network over the windows of a `WindowPlan` on every tile, each
/// rank a share.
///
/// Work items are (window, tile) pairs in canonical order (window major,
/// tile minor: the sample ids of a `SampleSpace` of all windows of the range).
/// They are cut into micro-batches of `batchSize` consecutive items *before*
/// they are shared out, and each rank takes a contiguous run of whole
/// micro-batches; so every sample is computed in the same micro-batch
/// whatever the number of ranks, and 1 or N ranks give bit-identical outputs.
final class WindowRunner {
    let session: AnalysisSession
    let plan: WindowPlan
    let space: SampleSpace
    let reader: BatchReader
    let net: Network<Float>
    let batchSize: Int

    var tiles: Int { space.tiling.count }

    init(session: AnalysisSession, plan: WindowPlan) throws {
        self.session = session
        self.plan = plan
        space = SampleSpace(frames: [plan.frames], window: plan.window, stride: 1, tiling: session.tiling)
        precondition(space.windowStarts.count == plan.windowCount)
        reader = try BatchReader(dataset: session.data, normalization: session.normalization, space: space)
        batchSize = max(1, session.config.train.microBatch)
        net = session.makeNetwork(samples: batchSize)
    }

    /// Consecutive windows per chunk, so a chunk's output stays under `bytes`
    /// given `bytesPerFrame` of output per output frame (at least one window).
    func chunks(bytesPerFrame: Int, bytes: Int = 64 << 20) -> [Range<Int>] {
        let per = max(1, bytes / max(1, bytesPerFrame))
        return stride(from: 0, to: plan.windowCount, by: per).map { $0 ..< min(plan.windowCount, $0 + per) }
    }

    /// The output frames of a run of windows (contiguous).
    func outputFrames(ofWindows windows: Range<Int>) -> Range<Int> {
        plan.outputFrames(ofWindow: windows.lowerBound).lowerBound ..< plan.outputFrames(ofWindow: windows.upperBound - 1).upperBound
    }

    /// Runs this rank's micro-batches of the items of `windows` x all tiles; after
    /// each forward calls `consume(batch, b, sample)` for every sample b of it
    /// (the network's outputs are `net.prediction` and `net.embeddings`).
    func run(windows: Range<Int>, consume: (Batch<Float>, Int, Sample) throws -> Void) throws {
        let first = windows.lowerBound * tiles, count = windows.count * tiles
        let batches = (count + batchSize - 1) / batchSize
        let comm = session.comm
        let mine = comm.rank * batches / comm.size ..< (comm.rank + 1) * batches / comm.size
        for m in mine {
            let ids = Array(first + m * batchSize ..< first + min(count, (m + 1) * batchSize))
            let batch = try reader.read(ids)
            net.forward(batch)
            for (b, id) in ids.enumerated() { try consume(batch, b, space.sample(id)) }
        }
    }
}
