import Kernels
import RealModule

// Synthetic inputs for tests, `bench` and `debug-state`: every value a pure
// function of a seed (CounterRNG), drawn in Double and rounded.

extension ParameterLayout {
    /// Adds random offsets in (-amplitude, amplitude) to the parameters the spec
    /// starts at constants (attn.gamma, head.film.*, peepholes, biases), so that
    /// gradient checks and cross-checks exercise every path.
    public func randomizeZeroInitialized<T: KernelScalar>(_ params: UnsafeMutableBufferPointer<T>, seed: UInt64, amplitude: Double = 0.5) {
        for e in entries {
            if case .glorot = e.initRule { continue }
            var rng = CounterRNG(seed: seed, streamName: "nonzero:" + e.name)
            for i in e.range { params[i] = T(Double(params[i]) + rng.uniform(-amplitude, amplitude)) }
        }
    }
}

extension Batch where T: KernelScalar {
    /// Random inputs N(0, 1); the mask has about `maskedFraction` zeros;
    /// latitude weights vary over rows and samples in [0.3, 1.3]; days of year
    /// spread over the year.
    public static func random(samples: Int, steps: Int, channels: Int, height: Int, width: Int,
                              seed: UInt64, maskedFraction: Double = 0.2) -> Batch<T> {
        var b = Batch<T>(samples: samples, steps: steps, channels: channels, height: height, width: width)
        var rng = CounterRNG(seed: seed, streamName: "batch.inputs")
        for i in b.inputs.indices { b.inputs[i] = T(rng.normal()) }
        var mrng = CounterRNG(seed: seed, streamName: "batch.mask")
        for i in b.mask.indices { b.mask[i] = mrng.nextUnitDouble() < maskedFraction ? 0 : 1 }
        var lrng = CounterRNG(seed: seed, streamName: "batch.lat")
        for i in b.latitudeWeights.indices { b.latitudeWeights[i] = T(lrng.uniform(0.3, 1.3)) }
        var drng = CounterRNG(seed: seed, streamName: "batch.days")
        for s in 0 ..< samples {
            let start = drng.uniform(0, 365)
            for t in 0 ..< steps { b.dayOfYear[s * steps + t] = (start + 37.3 * Double(t)).truncatingRemainder(dividingBy: 365.2425) }
        }
        for s in 0 ..< samples { b.sampleIDs[s] = s }
        return b
    }

    /// A smooth pattern per variable that moves by one grid point per step
    /// (different direction per sample), all valid, uniform weights: a sequence
    /// a recurrent model can learn to reconstruct and forecast.
    public static func movingPattern(samples: Int, steps: Int, channels: Int, height: Int, width: Int, seed: UInt64) -> Batch<T> {
        var b = Batch<T>(samples: samples, steps: steps, channels: channels, height: height, width: width)
        var rng = CounterRNG(seed: seed, streamName: "batch.moving")
        for s in 0 ..< samples {
            let vy = Double(rng.nextInt(below: 3) - 1), vx = rng.nextInt(below: 2) == 0 ? 1.0 : -1.0
            let phase = rng.uniform(0, 2 * .pi)
            for t in 0 ..< steps {
                for v in 0 ..< channels {
                    for y in 0 ..< height {
                        for x in 0 ..< width {
                            let yy = Double(y) - vy * Double(t), xx = Double(x) - vx * Double(t)
                            let a = 2 * Double.pi * (xx / Double(width) + 0.5 * yy / Double(height)) + phase + Double(v)
                            b.inputs[b.index(t: t, v: v, b: s, y: y, x: x)] = T(Double.sin(a))
                        }
                    }
                }
                b.dayOfYear[s * steps + t] = Double(t)
            }
            b.sampleIDs[s] = s
        }
        for i in b.mask.indices { b.mask[i] = 1 }
        return b
    }
}
