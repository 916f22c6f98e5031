// Masked, latitude-weighted squared error (MODEL.md "Objective and loss"):
//   numerator = sum_{v,b,y,x} w[b,y] m[v,b,y,x] (xhat - target)^2
// accumulated in Double. The denominator sum w m is the trainer's (global).
//
// Shapes: xhat, target, mask, dXhat [V, B, H, W]; latWeights [B, H].

/// Backward is the cached dXhat times the step's scale (1 / global denominator),
/// applied as the alpha of the decoder's backward GEMMs.
///
/// Returns the numerator of one frame; writes dXhat = d numerator / d xhat
/// = 2 w m (xhat - target) (written, not accumulated), cached for backward.
public func squaredErrorForward<T: KernelScalar>(
    dXhat: UnsafeMutablePointer<T>, xhat: UnsafePointer<T>, target: UnsafePointer<T>, mask: UnsafePointer<T>,
    latWeights: UnsafePointer<T>, channels: Int, samples: Int, height: Int, width: Int
) -> Double {
    var total = 0.0
    for v in 0 ..< channels {
        for b in 0 ..< samples {
            for y in 0 ..< height {
                let w = latWeights[b * height + y]
                let o = ((v * samples + b) * height + y) * width
                var row = 0.0
                for x in 0 ..< width {
                    let wm = w * mask[o + x]
                    let e = xhat[o + x] - target[o + x]
                    let ed = Double(e)
                    row += Double(wm) * ed * ed
                    dXhat[o + x] = 2 * wm * e
                }
                total += row
            }
        }
    }
    return total
}
