import Kernels

/// One recurrent layer (either cell) with its caches for backward through time.
///
/// Shapes: N = B * H * W columns of the current batch (B <= maxSamples);
/// input X_t [Cin, N]; output H_t [Ch, N].
/// - output(step:): H_t (attended where attention ran) [Ch, N].
/// - forward(step:input:samples:): runs step t on X_t, caching what backward needs.
/// - beginBackward(samples:): resets the recurrent gradients before step T-1.
/// - backward(step:dH:dHPrev:dInput:input:samples:), t = T-1 down to 0: `dH` is the whole
///   d loss / d H_t, from above and from step t+1 (consumed, may be overwritten);
///   `dHPrev` holds d loss / d H_{t-1} from above and the layer adds its recurrent part
///   (through H_{t-1}'s own weights) into it (nil at t = 0), so no separate recurrent
///   buffer is summed in a pass of its own; writes d loss / d X_t into `dInput`
///   (=, may alias `dH`, never `dHPrev`; nil: not wanted, the data's gradient);
///   accumulates parameter gradients.
///
/// Dispatched by a switch rather than through an
/// existential: calls stay direct, so the generic cell code is specialized
/// for Float (a protocol witness or class vtable call would run the
/// unspecialized generic body, measured ~20x slower).
enum AnyLayer<T: KernelScalar> {
    case fa(FAConvLSTMCell<T>)
    case conv(ConvLSTMCell<T>)

    @inline(__always) func output(step t: Int) -> UnsafeMutablePointer<T> {
        switch self {
        case .fa(let c): c.output(step: t)
        case .conv(let c): c.output(step: t)
        }
    }
    @inline(__always) func forward(step t: Int, input: UnsafePointer<T>, samples: Int) {
        switch self {
        case .fa(let c): c.forward(step: t, input: input, samples: samples)
        case .conv(let c): c.forward(step: t, input: input, samples: samples)
        }
    }
    @inline(__always) func beginBackward(samples: Int) {
        switch self {
        case .fa(let c): c.beginBackward(samples: samples)
        case .conv(let c): c.beginBackward(samples: samples)
        }
    }
    @inline(__always) func backward(step t: Int, dH: UnsafeMutablePointer<T>, dHPrev: UnsafeMutablePointer<T>?,
                                    dInput: UnsafeMutablePointer<T>?, input: UnsafePointer<T>, samples: Int) {
        switch self {
        case .fa(let c): c.backward(step: t, dH: dH, dHPrev: dHPrev, dInput: dInput, input: input, samples: samples)
        case .conv(let c): c.backward(step: t, dH: dH, dHPrev: dHPrev, dInput: dInput, input: input, samples: samples)
        }
    }
}
