import Kernels

// The decoder with feature-wise modulation (MODEL.md head step 4), forward
// and backward side by side:
//   s_t = Ws z_t,  sh_t = Wb z_t                      (Ws = head.film.scale, Wb = head.film.shift, [Ch, de])
//   F_t = H_t * (1 + s_t) + sh_t                       ([Ch] vectors broadcast over positions)
//   Xhat_t = Wd F_t + bd                               (1x1 conv, Wd = decoder.w [V, Ch])
// It runs on the target steps only: step t = 0..<Ttarget predicts frame t
// (reconstruct) or t + 1 (forecast).
//
// Shapes (dense in the current B): z [T, B, de]; s, sh, ds, dsh [T, Ch, B];
// H_t, F [Ch, B*P]; prediction, dPred [Ttarget, V, B, H, W].

final class Decoder<T: KernelScalar> {
    let geo: Geometry
    let ch, de, vars: Int

    let ws, wsh, wd, bd: UnsafeMutablePointer<T>        // [Ch, de] x2, [V, Ch], [V]
    let dws, dwsh, dwd, dbd: UnsafeMutablePointer<T>

    let s, sh: UnsafeMutablePointer<T>                  // [T, Ch, B]
    /// Xhat of every target step [Ttarget, V, B, H, W].
    let prediction: UnsafeMutablePointer<T>
    /// d numerator / d Xhat = 2 w m (Xhat - Y), unscaled [Ttarget, V, B, H, W].
    let dPred: UnsafeMutablePointer<T>
    let f: UnsafeMutablePointer<T>                      // [Ch, Nmax] scratch (F, then dF)
    let dF: UnsafeMutablePointer<T>                     // [Ch, Nmax]
    let ds, dsh: UnsafeMutablePointer<T>                // [T, Ch, B]

    init(config c: ModelConfig, geometry: Geometry, views v: ParameterViews<T>, arena: Arena<T>) {
        geo = geometry
        ch = c.hidden; de = c.embedDim; vars = c.channels
        ws = v.p("head.film.scale"); wsh = v.p("head.film.shift"); wd = v.p("decoder.w"); bd = v.p("decoder.b")
        dws = v.g("head.film.scale"); dwsh = v.g("head.film.shift"); dwd = v.g("decoder.w"); dbd = v.g("decoder.b")
        let steps = geometry.steps, bmax = geometry.maxSamples, n = geometry.maxColumns
        s = arena.make(steps * ch * bmax, .cache)
        sh = arena.make(steps * ch * bmax, .cache)
        prediction = arena.make(steps * vars * n, .cache)
        dPred = arena.make(steps * vars * n, .cache)
        f = arena.make(ch * n, .scratch)
        dF = arena.make(ch * n, .scratch)
        ds = arena.make(steps * ch * bmax, .scratch)
        dsh = arena.make(steps * ch * bmax, .scratch)
    }

    /// Runs the decoder on target steps 0..<targets and returns the loss
    /// numerator (Double). `target(t)`, `mask(t)` are frame t's [V, B, H, W] values;
    /// `offset` is 0 (reconstruct) or 1 (forecast); latWeights [B, H].
    func forward(z: UnsafePointer<T>, top: (Int) -> UnsafeMutablePointer<T>, targets: Int, offset: Int,
                 frames: UnsafePointer<T>, mask: UnsafePointer<T>, latWeights: UnsafePointer<T>, samples b: Int) -> Double {
        let p = geo.positions, n = b * p
        var numerator = 0.0
        for t in 0 ..< targets {
            let st = s + t * ch * b, sht = sh + t * ch * b, zt = z + t * b * de
            // s_t [Ch, B] = Ws z_t^T,  sh_t = Wb z_t^T
            T.gemm(transA: false, transB: true, m: ch, n: b, k: de, alpha: 1, a: ws, lda: de, b: zt, ldb: de, beta: 0, c: st, ldc: b)
            T.gemm(transA: false, transB: true, m: ch, n: b, k: de, alpha: 1, a: wsh, lda: de, b: zt, ldb: de, beta: 0, c: sht, ldc: b)
            filmForward(f, top(t), scale: st, shift: sht, channels: ch, samples: b, positions: p)
            let xhat = prediction + t * vars * n
            conv1x1Forward(xhat, f, wd, bd, cout: vars, cin: ch, n: n)
            let frame = (t + offset) * vars * n
            numerator += squaredErrorForward(dXhat: dPred + t * vars * n, xhat: xhat, target: frames + frame, mask: mask + frame,
                                             latWeights: latWeights, channels: vars, samples: b, height: geo.height, width: geo.width)
        }
        return numerator
    }

    /// Parameter gradients of the decoder and FiLM for all target steps, and
    /// dz (=, [T, B, de], zero at non-target steps) for the head. `scale` = 1 / denominator.
    func backward(scale: T, dz: UnsafeMutablePointer<T>, z: UnsafePointer<T>, top: (Int) -> UnsafeMutablePointer<T>,
                  targets: Int, steps: Int, samples b: Int) {
        let p = geo.positions, n = b * p
        dz.initialize(repeating: 0, count: steps * b * de)
        ds.initialize(repeating: 0, count: targets * ch * b)
        dsh.initialize(repeating: 0, count: targets * ch * b)
        for t in 0 ..< targets {
            let st = s + t * ch * b, sht = sh + t * ch * b, dst = ds + t * ch * b, dsht = dsh + t * ch * b
            let hT = top(t)
            filmForward(f, hT, scale: st, shift: sht, channels: ch, samples: b, positions: p)
            // Xhat = Wd F + bd:  dWd += scale dPred F^T,  dbd += scale rowsum,  dF = scale Wd^T dPred
            conv1x1Backward(dIn: dF, dW: dwd, dBias: dbd, dOut: dPred + t * vars * n, inp: f, w: wd,
                            cout: vars, cin: ch, n: n, alpha: scale, accumulateInput: false)
            filmBackward(dH: nil, dScale: dst, dShift: dsht, dOut: dF, h: hT, scale: st, channels: ch, samples: b, positions: p)
            // s_t = Ws z_t^T:  dWs += ds_t z_t,  dz_t += ds_t^T Ws  (and the same for the shift)
            let zt = z + t * b * de, dzt = dz + t * b * de
            T.gemm(transA: false, transB: false, m: ch, n: de, k: b, alpha: 1, a: dst, lda: b, b: zt, ldb: de, beta: 1, c: dws, ldc: de)
            T.gemm(transA: false, transB: false, m: ch, n: de, k: b, alpha: 1, a: dsht, lda: b, b: zt, ldb: de, beta: 1, c: dwsh, ldc: de)
            T.gemm(transA: true, transB: false, m: b, n: de, k: ch, alpha: 1, a: dst, lda: b, b: ws, ldb: de, beta: 1, c: dzt, ldc: de)
            T.gemm(transA: true, transB: false, m: b, n: de, k: ch, alpha: 1, a: dsht, lda: b, b: wsh, ldb: de, beta: 1, c: dzt, ldc: de)
        }
    }

    /// dH_t = d loss / d H_t through F_t = H_t (1 + s_t) + sh_t (written, =; 0 outside
    /// target steps): the first contribution to the top layer's dH_t.
    func inputGradient(step t: Int, targets: Int, scale: T, into dH: UnsafeMutablePointer<T>, samples b: Int) {
        let n = b * geo.positions
        guard t < targets else {
            dH.initialize(repeating: 0, count: ch * n)
            return
        }
        // dF = scale Wd^T dPred_t, recomputed (cheaper than keeping [T, Ch, N])
        gemmWide(transA: true, m: ch, n: n, k: vars, alpha: scale, a: wd, lda: ch,
                 b: dPred + t * vars * n, ldb: n, beta: 0, c: dF, ldc: n)
        let st = s + t * ch * b, p = geo.positions
        for cb in 0 ..< ch * b {
            let g = 1 + st[cb], d = dH + cb * p, src = dF + cb * p
            for i in 0 ..< p { d[i] = src[i] * g }
        }
    }
}
