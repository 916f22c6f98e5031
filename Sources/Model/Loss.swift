import Kernels

// MODEL.md "Objective and loss":
//   loss = sum w_y m (Xhat - Y)^2 / sum w_y m
// over every sample of the global batch. The network returns this batch's
// numerator (Kernels/SquaredError.swift, in Double, with d numerator / d Xhat
// cached); the trainer all-reduces numerators and denominators
// (`Batch.lossDenominator`) and passes scale = 1 / denominator to backward.

extension ModelConfig.Objective {
    /// Number of target steps of a window of `steps` frames: T (reconstruct), T-1 (forecast).
    public func targetSteps(_ steps: Int) -> Int { self == .forecast ? max(steps - 1, 0) : steps }
    /// Step t (0-based) predicts frame t + offset.
    public var targetOffset: Int { self == .forecast ? 1 : 0 }
}

/// The loss from global sums, 0 when nothing is valid (no division by zero).
public func lossValue(numerator: Double, denominator: Double) -> Double {
    denominator > 0 ? numerator / denominator : 0
}

/// The backward scale 1 / denominator, 0 when the denominator is 0 (gradients are then 0).
public func lossScale<T: KernelScalar>(denominator: Double) -> T {
    denominator > 0 ? T(1 / denominator) : 0
}
