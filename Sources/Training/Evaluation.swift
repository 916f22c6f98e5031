import ClimateData
import Foundation
import Model

/// Per-grid-point climatology: the mean of each channel at each grid point
/// over the training frames, in normalized units `[V, Hgrid, Wgrid]` (NaN
/// where a point is never valid). The "climatology" baseline predicts it.
public struct Climatology: Sendable {
    public let channels: Int
    public let height: Int
    public let width: Int
    /// `[V, Hgrid, Wgrid]`, normalized units.
    public let mean: [Double]

    /// Every rank sums a share of the training frames (frame f goes to rank
    /// f mod R); sums and counts are all-reduced in Double.
    public static func compute(_ data: ClimateDataset, normalization: Normalization, rank: Int, ranks: Int,
                               allReduceSum: (inout [Double]) -> Void) throws -> Climatology {
        let v = data.channels.count, h = data.grid.height, w = data.grid.width, plane = h * w
        var sums = [Double](repeating: 0, count: 2 * v * plane)  // sums, then counts
        var frame = [Double](repeating: 0, count: plane)
        let frames = data.trainingFrames.flatMap { Array($0) }
        for (k, f) in frames.enumerated() where k % ranks == rank {
            for c in 0 ..< v {
                try frame.withUnsafeMutableBufferPointer {
                    try data.read(channel: c, frames: f ..< f + 1, rows: 0 ..< h, columns: 0 ..< w, into: $0.baseAddress!)
                }
                let mu = normalization.mean[c], inv = 1 / normalization.std[c]
                for i in 0 ..< plane where !frame[i].isNaN {
                    sums[c * plane + i] += (frame[i] - mu) * inv
                    sums[(v + c) * plane + i] += 1
                }
            }
        }
        allReduceSum(&sums)
        var mean = [Double](repeating: .nan, count: v * plane)
        for i in 0 ..< v * plane where sums[v * plane + i] > 0 { mean[i] = sums[i] / sums[v * plane + i] }
        return Climatology(channels: v, height: h, width: w, mean: mean)
    }
}

/// Latitude-weighted, masked error sums per channel for the model and the
/// two baselines, in physical units; all-reduced as one `[Double]`.
///
/// The model and climatology are scored on every target point (mask 1);
/// persistence (the previous frame predicts the next) on target points that
/// have a previous frame in the window.
public struct ErrorTotals: Sendable, Equatable {
    public let channels: Int
    /// Layout: 7 blocks of V values (see the accessors).
    public var values: [Double]

    public init(channels: Int) {
        self.channels = channels
        values = [Double](repeating: 0, count: 7 * channels)
    }

    private func block(_ k: Int, _ v: Int) -> Double { values[k * channels + v] }
    /// Sum of w m over model/climatology targets.
    public func weight(_ v: Int) -> Double { block(0, v) }
    public func rmse(_ v: Int) -> Double { weight(v) > 0 ? (block(1, v) / weight(v)).squareRoot() : .nan }
    public func bias(_ v: Int) -> Double { weight(v) > 0 ? block(2, v) / weight(v) : .nan }
    public func climatologyRMSE(_ v: Int) -> Double { weight(v) > 0 ? (block(3, v) / weight(v)).squareRoot() : .nan }
    public func persistenceRMSE(_ v: Int) -> Double { block(4, v) > 0 ? (block(5, v) / block(4, v)).squareRoot() : .nan }
    public func persistenceBias(_ v: Int) -> Double { block(4, v) > 0 ? block(6, v) / block(4, v) : .nan }

    /// Adds one target point of channel `v` with latitude weight `w`; errors
    /// are prediction minus truth in physical units: the model's, the
    /// climatology's (nil: not scored), persistence's (nil: no previous value).
    @inline(__always)
    public mutating func add(channel v: Int, weight w: Double, error d: Double, climatologyError dc: Double?, persistenceError dp: Double?) {
        let V = channels
        values[0 * V + v] += w
        values[1 * V + v] += w * d * d
        values[2 * V + v] += w * d
        if let dc { values[3 * V + v] += w * dc * dc }
        if let dp {
            values[4 * V + v] += w
            values[5 * V + v] += w * dp * dp
            values[6 * V + v] += w * dp
        }
    }

    /// Adds one micro-batch: `prediction` is the network's Xhat of every
    /// target step `[Ttarget, V, B, H, W]` (normalized). `space` maps each
    /// sample to its grid rows and columns (for the climatology).
    public mutating func add(batch: Batch<Float>, prediction: UnsafeBufferPointer<Float>, objective: ModelConfig.Objective,
                             normalization: Normalization, climatology: Climatology?, space: SampleSpace) {
        let V = batch.channels, B = batch.samples, H = batch.height, W = batch.width
        let offset = objective == .forecast ? 1 : 0
        let targets = batch.steps - offset
        let tiling = space.tiling
        for b in 0 ..< B {
            let s = space.sample(batch.sampleIDs[b])
            for t in 0 ..< targets {
                let frame = t + offset
                for v in 0 ..< V {
                    let sd = normalization.std[v]
                    for y in 0 ..< H {
                        let w = Double(batch.latitudeWeights[b * H + y])
                        if w == 0 { continue }
                        let gy = s.top + y
                        for x in 0 ..< W {
                            let i = batch.index(t: frame, v: v, b: b, y: y, x: x)
                            if batch.mask[i] == 0 { continue }
                            let truth = Double(batch.inputs[i])
                            let pred = Double(prediction[((t * V + v) * B + b) * H * W + y * W + x])
                            var dc: Double? = nil
                            if let c = climatology, gy >= 0, gy < c.height, let gx = tiling.sourceColumn(s.left, x) {
                                let m = c.mean[(v * c.height + gy) * c.width + gx]
                                dc = ((m.isNaN ? 0 : m) - truth) * sd
                            }
                            let dp = frame >= 1
                                ? (Double(batch.inputs[batch.index(t: frame - 1, v: v, b: b, y: y, x: x)]) - truth) * sd : nil
                            add(channel: v, weight: w, error: (pred - truth) * sd, climatologyError: dc, persistenceError: dp)
                        }
                    }
                }
            }
        }
    }
}
