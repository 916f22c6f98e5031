import Kernels

/// One recurrent layer with its caches for backward through time.
///
/// Shapes: N = B * H * W columns of the current batch (B <= maxSamples);
/// input X_t [Cin, N]; output H_t [Ch, N].
protocol RecurrentLayer<Scalar>: AnyObject {
    associatedtype Scalar: KernelScalar
    /// H_t (the layer's output at 0-based step t; attended where attention ran) [Ch, N].
    func output(step t: Int) -> UnsafeMutablePointer<Scalar>
    /// Runs step t on input X_t, caching what backward needs.
    func forward(step t: Int, input: UnsafePointer<Scalar>, samples: Int)
    /// Resets the recurrent gradients before step T-1 of backward.
    func beginBackward(samples: Int)
    /// Backward of step t (called for t = T-1 down to 0): `dH` is d loss / d H_t
    /// from above (consumed; may be overwritten); writes d loss / d X_t into
    /// `dInput` (=, which may alias `dH`); accumulates parameter gradients.
    func backward(step t: Int, dH: UnsafeMutablePointer<Scalar>, dInput: UnsafeMutablePointer<Scalar>,
                  input: UnsafePointer<Scalar>, samples: Int)
}
