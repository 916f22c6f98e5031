/// What the model consumes for one micro-batch: `B` samples, each a window of
/// `T` frames of a tile of `H x W` points with `V` channels.
///
/// Layout is channel-major with the batch inside, `[T, V, B, H, W]`, so a 1x1
/// convolution over every sample and position of a frame is one GEMM.
public struct Batch<T: BinaryFloatingPoint & Sendable>: Sendable {
    public let samples: Int   // B
    public let steps: Int     // T
    public let channels: Int  // V
    public let height: Int    // H
    public let width: Int     // W

    /// `[T, V, B, H, W]` normalized inputs; missing values are 0.
    public var inputs: [T]
    /// `[T, V, B, H, W]` 1 where the frame's value is valid and inside the
    /// tile's interior, 0 where missing or in the halo. The model takes the
    /// target frames from it: all frames for `reconstruct`, frames 2..T for `forecast`.
    public var mask: [T]
    /// `[B, H]` latitude weight w_y of each sample's rows (1 without latitudes).
    public var latitudeWeights: [T]
    /// `[B, T]` day of year tau of each frame (MODEL.md head, step 2).
    public var dayOfYear: [Double]
    /// `[B]` global sample index of each sample, for logs and audits.
    public var sampleIDs: [Int]

    public init(samples: Int, steps: Int, channels: Int, height: Int, width: Int) {
        self.samples = samples
        self.steps = steps
        self.channels = channels
        self.height = height
        self.width = width
        let n = steps * channels * samples * height * width
        inputs = [T](repeating: 0, count: n)
        mask = [T](repeating: 0, count: n)
        latitudeWeights = [T](repeating: 1, count: samples * height)
        dayOfYear = [Double](repeating: 0, count: samples * steps)
        sampleIDs = [Int](repeating: -1, count: samples)
    }

    /// Flat index of (t, v, b, y, x) in `inputs` and `mask`.
    @inline(__always)
    public func index(t: Int, v: Int, b: Int, y: Int, x: Int) -> Int {
        (((t * channels + v) * samples + b) * height + y) * width + x
    }

    /// The frames whose values are targets: frame t for reconstruct,
    /// frames 1..T-1 (0-based) for forecast.
    public func targetFrames(_ objective: ModelConfig.Objective) -> Range<Int> {
        objective == .forecast ? 1 ..< steps : 0 ..< steps
    }

    /// This micro-batch's share of the loss denominator, sum of w_y m over
    /// target frames, variables, samples and positions (in Double). The
    /// trainer all-reduces it before backward.
    public func lossDenominator(_ objective: ModelConfig.Objective) -> Double {
        var total = 0.0
        for t in targetFrames(objective) {
            for v in 0 ..< channels {
                for b in 0 ..< samples {
                    let base = index(t: t, v: v, b: b, y: 0, x: 0)
                    for y in 0 ..< height {
                        let w = Double(latitudeWeights[b * height + y])
                        var rowSum = 0.0
                        for x in 0 ..< width { rowSum += Double(mask[base + y * width + x]) }
                        total += w * rowSum
                    }
                }
            }
        }
        return total
    }

    /// Overwrites this batch with samples `range` of `source` (same T, V, H, W;
    /// `samples == range.count`): a sub-batch, without allocating.
    public mutating func copySamples(_ range: Range<Int>, of source: Batch<T>) {
        precondition(samples == range.count && steps == source.steps && channels == source.channels
                     && height == source.height && width == source.width, "sub-batch shape mismatch")
        let plane = height * width, block = samples * plane
        inputs.withUnsafeMutableBufferPointer { dst in
            mask.withUnsafeMutableBufferPointer { dstMask in
                source.inputs.withUnsafeBufferPointer { src in
                    source.mask.withUnsafeBufferPointer { srcMask in
                        for tv in 0 ..< steps * channels {   // [T, V] planes of [B, H, W]
                            let from = (tv * source.samples + range.lowerBound) * plane, to = tv * block
                            (dst.baseAddress! + to).update(from: src.baseAddress! + from, count: block)
                            (dstMask.baseAddress! + to).update(from: srcMask.baseAddress! + from, count: block)
                        }
                    }
                }
            }
        }
        for i in 0 ..< samples * height { latitudeWeights[i] = source.latitudeWeights[range.lowerBound * height + i] }
        for i in 0 ..< samples * steps { dayOfYear[i] = source.dayOfYear[range.lowerBound * steps + i] }
        for i in 0 ..< samples { sampleIDs[i] = source.sampleIDs[range.lowerBound + i] }
    }
}
