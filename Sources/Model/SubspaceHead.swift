import Kernels
import RealModule

// The subspace head (MODEL.md "Subspace head and decoder", steps 1-3), forward
// and backward side by side:
//   1. e_t = We mean_yx(H_t) + be
//   2. Z_t = e_t + PE(tau_t),  PE[2j] = sin(2 pi (j+1) tau / P), PE[2j+1] = cos(...)
//      (PE in Double, then rounded to the model's precision)
//   3. z_t = Z_t + sum_t' softmax_t'((Wq Z_t).(Wk Z_t') / sqrt(de)) Wv Z_t'   (causal for forecast)
//
// Shapes (dense in the current batch size B): H_t [Ch, B, H, W]; hbar [T, Ch, B];
// Z, z, q, k, v, dz, dZ [T, B, de]; probs [B, T, T].

final class SubspaceHead<T: KernelScalar> {
    let geo: Geometry
    let ch, de: Int
    let causal: Bool
    let period: Double

    let we, be, wq, wk, wv: UnsafeMutablePointer<T>      // [de, Ch], [de], [de, de] x3
    let dwe, dbe, dwq, dwk, dwv: UnsafeMutablePointer<T>

    let hbar: UnsafeMutablePointer<T>                   // [T, Ch, B]
    let zIn, q, k, v, z: UnsafeMutablePointer<T>         // [T, B, de]  (Z, projections, output z)
    let probs: UnsafeMutablePointer<T>                  // [B, T, T]
    /// d loss / d z, filled by the decoder's backward [T, B, de].
    let dz: UnsafeMutablePointer<T>
    let dZ: UnsafeMutablePointer<T>                     // [T, B, de]
    let dhbar: UnsafeMutablePointer<T>                  // [T, Ch, B]
    let scratch: UnsafeMutablePointer<T>

    init(config c: ModelConfig, geometry: Geometry, views pv: ParameterViews<T>, arena: Arena<T>) {
        geo = geometry
        ch = c.hidden; de = c.embedDim
        causal = c.objective == .forecast
        period = c.resolvedSeasonPeriod
        we = pv.p("head.embed.w"); be = pv.p("head.embed.b")
        wq = pv.p("head.tattn.wq"); wk = pv.p("head.tattn.wk"); wv = pv.p("head.tattn.wv")
        dwe = pv.g("head.embed.w"); dbe = pv.g("head.embed.b")
        dwq = pv.g("head.tattn.wq"); dwk = pv.g("head.tattn.wk"); dwv = pv.g("head.tattn.wv")
        let steps = geometry.steps, bmax = geometry.maxSamples
        hbar = arena.make(steps * ch * bmax, .cache)
        zIn = arena.make(steps * bmax * de, .cache)
        q = arena.make(steps * bmax * de, .cache)
        k = arena.make(steps * bmax * de, .cache)
        v = arena.make(steps * bmax * de, .cache)
        z = arena.make(steps * bmax * de, .cache)
        probs = arena.make(bmax * steps * steps, .cache)
        dz = arena.make(steps * bmax * de, .scratch)
        dZ = arena.make(steps * bmax * de, .scratch)
        dhbar = arena.make(steps * ch * bmax, .scratch)
        scratch = arena.make(temporalAttentionBackwardScratch(steps: steps, samples: bmax, de: de), .scratch)
    }

    /// Runs steps 1-3 over the window. `top(t)` is the top layer's H_t;
    /// `dayOfYear` is tau as [B, T].
    func forward(top: (Int) -> UnsafeMutablePointer<T>, dayOfYear: UnsafePointer<Double>, samples b: Int, steps: Int) {
        let p = geo.positions
        for t in 0 ..< steps {
            let hb = hbar + t * ch * b, zt = zIn + t * b * de
            // 1. hbar_t = mean_yx H_t [Ch, B];  e_t [B, de] = hbar_t^T We^T + be
            spatialMeanForward(hb, top(t), channels: ch, samples: b, positions: p)
            T.gemm(transA: true, transB: true, m: b, n: de, k: ch, alpha: 1, a: hb, lda: b, b: we, ldb: ch, beta: 0, c: zt, ldc: de)
            // 2. Z_t = e_t + PE(tau_t)
            for s in 0 ..< b {
                let tau = dayOfYear[s * steps + t], row = zt + s * de
                for j in 0 ..< de / 2 {
                    let angle = 2 * Double.pi * Double(j + 1) * tau / period
                    row[2 * j] += be[2 * j] + T(Double.sin(angle))
                    row[2 * j + 1] += be[2 * j + 1] + T(Double.cos(angle))
                }
            }
        }
        // 3. temporal self-attention, residual
        temporalAttentionForward(z, probs: probs, q: q, k: k, v: v, z: zIn, wq: wq, wk: wk, wv: wv,
                                 steps: steps, samples: b, de: de, causal: causal)
    }

    /// Backward of steps 3 and 1 given `dz` (from the decoder): parameter
    /// gradients, and dhbar for `inputGradient`.
    func backward(samples b: Int, steps: Int) {
        dZ.initialize(repeating: 0, count: steps * b * de)
        temporalAttentionBackward(dZ: dZ, dWq: dwq, dWk: dwk, dWv: dwv, dOut: dz, probs: probs, q: q, k: k, v: v,
                                  z: zIn, wq: wq, wk: wk, wv: wv, steps: steps, samples: b, de: de, scratch: scratch)
        // PE is constant: d e_t = dZ_t.  dbe += sum over (t, b);  dWe += dZ_t^T hbar_t^T;  dhbar_t = We^T dZ_t^T
        for row in 0 ..< steps * b {
            let d = dZ + row * de
            for i in 0 ..< de { dbe[i] += d[i] }
        }
        for t in 0 ..< steps {
            let hb = hbar + t * ch * b, dzt = dZ + t * b * de
            T.gemm(transA: true, transB: true, m: de, n: ch, k: b, alpha: 1, a: dzt, lda: de, b: hb, ldb: b, beta: 1, c: dwe, ldc: ch)
            T.gemm(transA: true, transB: true, m: ch, n: b, k: de, alpha: 1, a: we, lda: ch, b: dzt, ldb: de,
                   beta: 0, c: dhbar + t * ch * b, ldc: b)
        }
    }

    /// dH_t += d loss / d H_t through the spatial mean (backward of step 1).
    func inputGradient(step t: Int, into dH: UnsafeMutablePointer<T>, samples b: Int) {
        spatialMeanBackward(dH, dhbar + t * ch * b, channels: ch, samples: b, positions: geo.positions)
    }
}
