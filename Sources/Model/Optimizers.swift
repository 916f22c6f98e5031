import Kernels
import RealModule

// Optimizers on the flat parameter / gradient buffers (MODEL.md "Optimizer"),
// gradient clipping by global norm, and the learning-rate schedule.

/// AdamW: p <- p - lr (mhat / (sqrt(vhat) + eps) + wd p), decay only on
/// parameters of rank >= 2 (`ParameterEntry.decays`). Moments are Float32 in
/// the flat layout; the bias correction uses `updates`, the number of updates
/// applied so far (a step skipped for NaN/Inf does not call `step`).
public final class AdamW {
    public let beta1: Double
    public let beta2: Double
    public let eps: Double
    public let weightDecay: Double
    /// First and second moments [layout.totalCount], checkpointed under the parameter names.
    public let m: UnsafeMutableBufferPointer<Float>
    public let v: UnsafeMutableBufferPointer<Float>
    /// Updates applied so far (checkpointed; restore it on resume).
    public var updates: Int = 0
    /// Flat ranges that get weight decay.
    let decayRanges: [Range<Int>]
    let plainRanges: [Range<Int>]

    public init(layout: ParameterLayout, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        m = .allocate(capacity: layout.totalCount)
        m.initialize(repeating: 0)
        v = .allocate(capacity: layout.totalCount)
        v.initialize(repeating: 0)
        decayRanges = layout.entries.filter(\.decays).map(\.range)
        plainRanges = layout.entries.filter { !$0.decays }.map(\.range)
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// One update of every parameter with learning rate `lr`.
    public func step<T: KernelScalar>(params: UnsafeMutableBufferPointer<T>, grads: UnsafeMutableBufferPointer<T>, lr: Double) {
        precondition(params.count == m.count && grads.count == m.count)
        updates += 1
        let t = Double(updates)
        let c1 = 1 - Double.pow(beta1, t), c2 = 1 - Double.pow(beta2, t)
        // mhat / (sqrt(vhat) + eps) = (m / c1) / (sqrt(v / c2) + eps); arithmetic in Double,
        // moments stored as Float32 (the spec's checkpoint format), parameters in T.
        let inv1 = 1 / c1, inv2 = 1 / c2
        let p = params.baseAddress!, g = grads.baseAddress!, mp = m.baseAddress!, vp = v.baseAddress!
        func update(_ r: Range<Int>, decay: Double) {
            for i in r {
                let gi = Double(g[i])
                let mi = Double(Float(beta1 * Double(mp[i]) + (1 - beta1) * gi))
                let vi = Double(Float(beta2 * Double(vp[i]) + (1 - beta2) * gi * gi))
                mp[i] = Float(mi)
                vp[i] = Float(vi)
                let pi = Double(p[i])
                p[i] = T(pi - lr * ((mi * inv1) / ((vi * inv2).squareRoot() + eps) + decay * pi))
            }
        }
        for r in decayRanges { update(r, decay: weightDecay) }
        for r in plainRanges { update(r, decay: 0) }
    }
}

/// Plain SGD: p <- p - lr g, nothing else.
public struct SGD {
    public init() {}
    public func step<T: KernelScalar>(params: UnsafeMutableBufferPointer<T>, grads: UnsafeMutableBufferPointer<T>, lr: Double) {
        precondition(params.count == grads.count)
        let a = T(lr)
        for i in params.indices { params[i] -= a * grads[i] }
    }
}

/// The global L2 norm of the gradients, accumulated in Double.
public func gradientNorm<T: KernelScalar>(_ grads: UnsafeMutableBufferPointer<T>) -> Double {
    var s = 0.0
    for g in grads { let d = Double(g); s += d * d }
    return s.squareRoot()
}

/// Scales the gradients so their global norm is at most `maxNorm` (no change
/// when already below, or when the norm is not finite: the trainer skips
/// such a step). Returns the norm before clipping.
@discardableResult
public func clipGradients<T: KernelScalar>(_ grads: UnsafeMutableBufferPointer<T>, maxNorm: Double) -> Double {
    let norm = gradientNorm(grads)
    if norm.isFinite, maxNorm > 0, norm > maxNorm {
        let s = T(maxNorm / norm)
        for i in grads.indices { grads[i] *= s }
    }
    return norm
}

/// Learning rate as a pure function of the optimizer step (0-based): linear
/// warm-up from peak/warmup to peak over `warmupSteps`, then cosine decay
/// from peak to `floor` at `totalSteps`, then `floor`.
public struct LearningRateSchedule: Equatable, Sendable {
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var floor: Double

    public init(peak: Double, warmupSteps: Int = 0, totalSteps: Int, floor: Double = 0) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.floor = floor
    }

    public func rate(step s: Int) -> Double {
        if s < warmupSteps { return peak * Double(s + 1) / Double(warmupSteps) }
        let span = totalSteps - warmupSteps
        if span <= 0 || s >= totalSteps { return floor }
        let progress = Double(s - warmupSteps) / Double(span)
        return floor + (peak - floor) * 0.5 * (1 + Double.cos(Double.pi * progress))
    }
}
