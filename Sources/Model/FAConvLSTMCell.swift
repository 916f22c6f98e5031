import Kernels

// The FAConvLSTM cell (MODEL.md "The FAConvLSTM cell"), forward and backward
// through time side by side.
//
// Shapes (N = B*P columns, P = H*W, one frame [C, B, H, W]):
//   X_t [Cin, N]   H_t, C_t [Ch, N]   U, M, Mt [r, N]   G [4Ch, N] (i, f, g, o)
//   sq, ex [r, B]  z1 [q, B]   Q, K [dk, N]   Vv, Y = R + Cc [Ch, N]
//
// Cached per step t for backward (per sample: (2r + 7Ch) P + 2r + q floats):
//   U, M, the gate activations (i, f, tanh g, o), C_t, tanh C_t, H_t (after attention), sq, z1, ex.
// Cached per attended step (t mod s == 0; per sample (2dk + 3Ch) P + H W (W + H)):
//   H_t before attention, Q, K, Vv, Y, the row and column softmax probabilities.
// Mt = ex * M is recomputed. With recompute_gates the gates are not cached
// ((2r + 3Ch) P + 2r + q per step): the backward recomputes them from Mt and
// C_{t-1}, bit for bit as the forward had them, one column chunk at a time
// (Kernels/Gates.swift), for a second gate product and gate math per step.

/// Columns per chunk of the gate backward and its two products: dG [4Ch, 512]
/// (256 KB at Ch 32) stays in L2 between the elementwise pass and the GEMMs.
public let gateChunk = 512

/// Row stride of the Mt scratch [r, N]: N plus one cache line. At N a multiple
/// of 1024 (4 KB rows) the r rows of a column chunk would all map to the same
/// L1 sets, more of them than the cache has ways, and the fused gate forward and
/// dWg, which reuse such a chunk, would reload it from L2 (measured: dWg 343 vs
/// 230 us per layer-step with contiguous operands).
func mtStride(columns n: Int) -> Int { n + 16 }

final class FAConvLSTMCell<T: KernelScalar> {
    let geo: Geometry
    let cin, ch, r, q, k, dk, stride: Int
    let dilations: [Int]

    // Parameters [shape] and their gradients (same names with d).
    let wx, wh, bu: UnsafeMutablePointer<T>          // [r, Cin], [r, Ch], [r]
    let dws: [UnsafeMutablePointer<T>]               // mix.dw<j> [r, k, k]
    let bm: UnsafeMutablePointer<T>                  // mix.b [r]
    let w1, b1, w2, b2: UnsafeMutablePointer<T>      // se: [q, r], [q], [r, q], [r]
    let wg, bg: UnsafeMutablePointer<T>              // gates [4Ch, r], [4Ch]
    let pi, pf, po: UnsafeMutablePointer<T>          // peepholes [Ch]
    let wq, wk, wv, wo, gamma: UnsafeMutablePointer<T>  // attn [dk, Ch] x2, [Ch, Ch] x2, [1]
    let dwx, dwh, dbu: UnsafeMutablePointer<T>
    let ddws: [UnsafeMutablePointer<T>]
    let dbm, dw1, db1, dw2, db2, dwg, dbg, dpi, dpf, dpo: UnsafeMutablePointer<T>
    let dwq, dwk, dwv, dwo, dgamma: UnsafeMutablePointer<T>

    // Caches, one slot per step t (slot stride = channels * Nmax or channels * Bmax).
    let cU, cM, cC, cH: UnsafeMutablePointer<T>           // [T, r|r|Ch|Ch, Nmax]
    let cGates: UnsafeMutablePointer<T>?                  // [T, 4Ch, Nmax] (i, f, tanh g, o); nil with recompute_gates
    let cTanhC: UnsafeMutablePointer<T>                   // [T, Ch, Nmax] tanh C_t: the gate backward's, not recomputed
    let cSq, cZ1, cEx: UnsafeMutablePointer<T>            // [T, r|q|r, Bmax]
    // Attention caches, one slot per attended step.
    let cHpre, cQ, cK, cV, cY: UnsafeMutablePointer<T>    // [A, Ch|dk|dk|Ch|Ch, Nmax]
    let cRowP, cColP: UnsafeMutablePointer<T>             // [A, Bmax, H, W, W], [A, Bmax, W, H, H]

    // Scratch, reused every step.
    let zeros: UnsafeMutablePointer<T>      // [Ch, Nmax] H_0 = C_0 = 0
    let mt: UnsafeMutablePointer<T>         // [r, ldm] ex * M (row stride ldm = mtStride(Nmax))
    let ldm: Int
    let a1: UnsafeMutablePointer<T>         // [q, Bmax] relu(z1)
    let attnScratch: UnsafeMutablePointer<T>
    let dC: UnsafeMutablePointer<T>         // [Ch, Nmax] recurrent gradient of C
    let dG: UnsafeMutablePointer<T>         // [4Ch, len] of the current column chunk (len <= gateChunk), contiguous
                                            // (with recompute_gates first the chunk's gates, then in place their gradient)
    let dMt, dU: UnsafeMutablePointer<T>    // [r, Nmax]
    let dEx, dZ1, dSq: UnsafeMutablePointer<T>  // [r|q|r, Bmax]
    let zWo: UnsafeMutablePointer<T>        // [Ch, Nmax]
    let dQ, dK, dV: UnsafeMutablePointer<T> // [dk|dk|Ch, Nmax]
    let pad: Int                            // max_j D_j (k-1)/2
    let uPad, dmPad: UnsafeMutablePointer<T> // [r, Bmax, H + 2 pad, W + 2 pad] zero-padded U, dM

    init(layer l: Int, config c: ModelConfig, geometry: Geometry, views v: ParameterViews<T>, arena: Arena<T>) {
        geo = geometry
        cin = l == 0 ? c.channels : c.hidden
        ch = c.hidden; r = c.resolvedBottleneck; q = c.squeezeChannels; k = c.kernel
        dk = c.attnDk; stride = c.attnStride; dilations = c.dilations
        wx = v.p("bottleneck.wx"); wh = v.p("bottleneck.wh"); bu = v.p("bottleneck.b")
        dws = dilations.indices.map { v.p("mix.dw\($0)") }
        bm = v.p("mix.b")
        w1 = v.p("se.w1"); b1 = v.p("se.b1"); w2 = v.p("se.w2"); b2 = v.p("se.b2")
        wg = v.p("gates.w"); bg = v.p("gates.b")
        pi = v.p("peephole.i"); pf = v.p("peephole.f"); po = v.p("peephole.o")
        wq = v.p("attn.wq"); wk = v.p("attn.wk"); wv = v.p("attn.wv"); wo = v.p("attn.wo"); gamma = v.p("attn.gamma")
        dwx = v.g("bottleneck.wx"); dwh = v.g("bottleneck.wh"); dbu = v.g("bottleneck.b")
        ddws = dilations.indices.map { v.g("mix.dw\($0)") }
        dbm = v.g("mix.b")
        dw1 = v.g("se.w1"); db1 = v.g("se.b1"); dw2 = v.g("se.w2"); db2 = v.g("se.b2")
        dwg = v.g("gates.w"); dbg = v.g("gates.b")
        dpi = v.g("peephole.i"); dpf = v.g("peephole.f"); dpo = v.g("peephole.o")
        dwq = v.g("attn.wq"); dwk = v.g("attn.wk"); dwv = v.g("attn.wv"); dwo = v.g("attn.wo"); dgamma = v.g("attn.gamma")

        let n = geometry.maxColumns, bmax = geometry.maxSamples, steps = geometry.steps
        let h = geometry.height, w = geometry.width
        cU = arena.make(steps * r * n, .cache)
        cM = arena.make(steps * r * n, .cache)
        cGates = c.recomputeGates ? nil : arena.make(steps * 4 * ch * n, .cache)
        cC = arena.make(steps * ch * n, .cache)
        cH = arena.make(steps * ch * n, .cache)
        cTanhC = arena.make(steps * ch * n, .cache)
        cSq = arena.make(steps * r * bmax, .cache)
        cZ1 = arena.make(steps * q * bmax, .cache)
        cEx = arena.make(steps * r * bmax, .cache)
        let attended = FAConvLSTMCell.attendedSteps(steps: steps, stride: c.attnStride)
        cHpre = arena.make(attended * ch * n, .cache)
        cQ = arena.make(attended * dk * n, .cache)
        cK = arena.make(attended * dk * n, .cache)
        cV = arena.make(attended * ch * n, .cache)
        cY = arena.make(attended * ch * n, .cache)
        cRowP = arena.make(attended * bmax * h * w * w, .cache)
        cColP = arena.make(attended * bmax * w * h * h, .cache)

        zeros = arena.make(ch * n, .scratch)
        ldm = mtStride(columns: n)
        mt = arena.make(r * ldm, .scratch)
        a1 = arena.make(q * bmax, .scratch)
        let needAttn = attended > 0
        attnScratch = arena.make(needAttn ? max(axialAttentionForwardScratch(dk: dk, cv: ch, n: n, height: h, width: w),
                                                axialAttentionBackwardScratch(dk: dk, cv: ch, n: n, height: h, width: w)) : 0, .scratch)
        dC = arena.make(ch * n, .scratch)
        dG = arena.make(4 * ch * min(gateChunk, n), .scratch)
        dMt = arena.make(r * n, .scratch)
        dU = arena.make(r * n, .scratch)
        dEx = arena.make(r * bmax, .scratch)
        dZ1 = arena.make(q * bmax, .scratch)
        dSq = arena.make(r * bmax, .scratch)
        zWo = arena.make(needAttn ? ch * n : 0, .scratch)
        dQ = arena.make(needAttn ? dk * n : 0, .scratch)
        dK = arena.make(needAttn ? dk * n : 0, .scratch)
        dV = arena.make(needAttn ? ch * n : 0, .scratch)
        pad = mixPadding(kernel: k, dilations: dilations)
        uPad = arena.make(r * bmax * (h + 2 * pad) * (w + 2 * pad), .scratch)
        dmPad = arena.make(r * bmax * (h + 2 * pad) * (w + 2 * pad), .scratch)
        // mixForward reads all mix.dw<j> as one [|D|, r, k, k] tensor
        for j in dws.indices { precondition(dws[j] == dws[0] + j * r * k * k && ddws[j] == ddws[0] + j * r * k * k) }
        // the backward's recompute starts its chunks where the forward's start (bit-identical gates)
        precondition(gateChunk % fusedGateChunk == 0)
    }

    /// Number of steps t = 1..T with t mod s == 0.
    static func attendedSteps(steps: Int, stride: Int) -> Int { stride > 0 ? steps / stride : 0 }

    /// The attention slot of 0-based step t, or nil where no attention runs.
    func attentionSlot(step t: Int) -> Int? {
        guard stride > 0, (t + 1) % stride == 0 else { return nil }
        return (t + 1) / stride - 1
    }

    @inline(__always) private func slot(_ base: UnsafeMutablePointer<T>, _ t: Int, _ rows: Int) -> UnsafeMutablePointer<T> {
        base + t * rows * geo.maxColumns
    }
    @inline(__always) private func vecSlot(_ base: UnsafeMutablePointer<T>, _ t: Int, _ rows: Int) -> UnsafeMutablePointer<T> {
        base + t * rows * geo.maxSamples
    }

    func output(step t: Int) -> UnsafeMutablePointer<T> { slot(cH, t, ch) }

    /// Row softmax [B, H, W, W] and column softmax [B, W, H, H] of an attended step.
    func attentionProbabilities(step t: Int, samples: Int) -> (row: UnsafeBufferPointer<T>, column: UnsafeBufferPointer<T>)? {
        guard let a = attentionSlot(step: t) else { return nil }
        let h = geo.height, w = geo.width, bmax = geo.maxSamples
        return (UnsafeBufferPointer(start: cRowP + a * bmax * h * w * w, count: samples * h * w * w),
                UnsafeBufferPointer(start: cColP + a * bmax * w * h * h, count: samples * w * h * h))
    }

    // MARK: forward

    func forward(step t: Int, input x: UnsafePointer<T>, samples b: Int) {
        let p = geo.positions, n = b * p
        let hPrev: UnsafePointer<T> = t > 0 ? UnsafePointer(slot(cH, t - 1, ch)) : UnsafePointer(zeros)
        let cPrev: UnsafePointer<T> = t > 0 ? UnsafePointer(slot(cC, t - 1, ch)) : UnsafePointer(zeros)
        let u = slot(cU, t, r), m = slot(cM, t, r)
        let cT = slot(cC, t, ch), hT = slot(cH, t, ch), tanhC = slot(cTanhC, t, ch)
        let sq = vecSlot(cSq, t, r), z1 = vecSlot(cZ1, t, q), ex = vecSlot(cEx, t, r)

        // 1. U = Wx X_t + Wh H_{t-1} + bu
        conv1x1Forward(u, x, wx, bu, cout: r, cin: cin, n: n)
        if t > 0 { conv1x1Forward(u, hPrev, wh, nil, cout: r, cin: ch, n: n, accumulate: true) }

        // 2. M = bm + sum_j DW(U; w_j, D_j), all dilations in one pass over a zero-padded U
        padPlanes(uPad, u, planes: r * b, height: geo.height, width: geo.width, pad: pad)
        mixForward(m, padded: uPad, w: dws[0], bias: bm, dilations: dilations, channels: r, samples: b,
                   height: geo.height, width: geo.width, kernel: k, pad: pad)

        // 3. sq = mean_yx M;  ex = sigma(W2 relu(W1 sq + b1) + b2);  Mt = ex * M
        spatialMeanForward(sq, m, channels: r, samples: b, positions: p)
        T.gemm(transA: false, transB: false, m: q, n: b, k: r, alpha: 1, a: w1, lda: r, b: sq, ldb: b, beta: 0, c: z1, ldc: b)
        addRowBias(z1, b1, rows: q, n: b)
        reluForward(a1, z1, q * b)
        T.gemm(transA: false, transB: false, m: r, n: b, k: q, alpha: 1, a: w2, lda: q, b: a1, ldb: b, beta: 0, c: ex, ldc: b)
        addRowBias(ex, b2, rows: r, n: b)
        sigmoidForward(ex, ex, r * b)
        scaleBySample(mt, m, ex, rows: r, samples: b, positions: p, ldOut: ldm)

        // 4. G = Wg Mt + bg and 5. the peephole LSTM update, fused: G is computed
        //    in registers block by block (Kernels/Gates.swift) and never stored;
        //    the gates are, unless the backward recomputes them.
        fusedGatesForward(gates: cGates.map { slot($0, t, 4 * ch) }, c: cT, h: hT, cPrev: cPrev, mt: mt, wg: wg, bias: bg,
                          pi: pi, pf: pf, po: po, channels: ch, rank: r, n: n, ldMt: ldm, tanhC: tanhC)

        // 6. axial attention at t mod s == 0: H_t <- H_t + gamma Wo (R + Cc)
        if let a = attentionSlot(step: t) {
            let qa = slot(cQ, a, dk), ka = slot(cK, a, dk), va = slot(cV, a, ch), ya = slot(cY, a, ch)
            let h = geo.height, w = geo.width, bmax = geo.maxSamples
            slot(cHpre, a, ch).update(from: hT, count: ch * n)   // for the attention's backward
            conv1x1Forward(qa, hT, wq, nil, cout: dk, cin: ch, n: n)
            conv1x1Forward(ka, hT, wk, nil, cout: dk, cin: ch, n: n)
            conv1x1Forward(va, hT, wv, nil, cout: ch, cin: ch, n: n)
            axialAttentionForward(ya, rowProbs: cRowP + a * bmax * h * w * w, colProbs: cColP + a * bmax * w * h * h,
                                  q: qa, k: ka, v: va, dk: dk, cv: ch, samples: b, height: h, width: w, scratch: attnScratch)
            gemmWide(transA: false, m: ch, n: n, k: ch, alpha: gamma[0], a: wo, lda: ch,
                     b: ya, ldb: n, beta: 1, c: hT, ldc: n)
        }
    }

    // MARK: backward

    func beginBackward(samples b: Int) {
        let n = b * geo.positions
        dC.initialize(repeating: 0, count: ch * n)
    }

    func backward(step t: Int, dH: UnsafeMutablePointer<T>, dHPrev: UnsafeMutablePointer<T>?,
                  dInput: UnsafeMutablePointer<T>?, input x: UnsafePointer<T>, samples b: Int) {
        let p = geo.positions, n = b * p
        let cPrev: UnsafePointer<T> = t > 0 ? UnsafePointer(slot(cC, t - 1, ch)) : UnsafePointer(zeros)
        let u = slot(cU, t, r), m = slot(cM, t, r), cT = slot(cC, t, ch)
        let tanhC = slot(cTanhC, t, ch)
        let sq = vecSlot(cSq, t, r), z1 = vecSlot(cZ1, t, q), ex = vecSlot(cEx, t, r)

        // 6. attention: H_out = Hpre + gamma Wo Y,  Y = axial(Wq Hpre, Wk Hpre, Wv Hpre)
        if let a = attentionSlot(step: t) {
            let qa = slot(cQ, a, dk), ka = slot(cK, a, dk), va = slot(cV, a, ch), ya = slot(cY, a, ch)
            let h = geo.height, w = geo.width, bmax = geo.maxSamples
            let g = gamma[0], hPre = slot(cHpre, a, ch)
            // zWo = Wo^T dH;  dgamma += <zWo, Y>;  dWo += gamma dH Y^T;  dY = gamma zWo
            gemmWide(transA: true, m: ch, n: n, k: ch, alpha: 1, a: wo, lda: ch, b: dH, ldb: n, beta: 0, c: zWo, ldc: n)
            dgamma[0] += dotOf(zWo, ya, ch * n)
            gemmLongK(m: ch, n: ch, k: n, alpha: g, a: dH, lda: n, b: ya, ldb: n, beta: 1, c: dwo, ldc: ch)
            for i in 0 ..< ch * n { zWo[i] *= g }
            dQ.initialize(repeating: 0, count: dk * n)
            dK.initialize(repeating: 0, count: dk * n)
            dV.initialize(repeating: 0, count: ch * n)
            axialAttentionBackward(dq: dQ, dk: dK, dv: dV, dOut: zWo,
                                   rowProbs: cRowP + a * bmax * h * w * w, colProbs: cColP + a * bmax * w * h * h,
                                   q: qa, k: ka, v: va, dk: dk, cv: ch, samples: b, height: h, width: w, scratch: attnScratch)
            // residual: dHpre = dH + Wq^T dQ + Wk^T dK + Wv^T dV (accumulated into dH)
            conv1x1Backward(dIn: dH, dW: dwq, dBias: nil, dOut: dQ, inp: hPre, w: wq, cout: dk, cin: ch, n: n)
            conv1x1Backward(dIn: dH, dW: dwk, dBias: nil, dOut: dK, inp: hPre, w: wk, cout: dk, cin: ch, n: n)
            conv1x1Backward(dIn: dH, dW: dwv, dBias: nil, dOut: dV, inp: hPre, w: wv, cout: ch, cin: ch, n: n)
        }

        // 5. peephole LSTM update (dC from t+1 becomes dC_{t-1}; dbg summed on the way), and
        // 4. G = Wg Mt + bg (Mt recomputed from ex and M), fused by column chunks
        //    so dG is still in cache for the two products; dG of a chunk is
        //    written contiguous ([4Ch, len]) for the same reason as Mt's stride.
        //    With recompute_gates the chunk's gates are recomputed from Mt into
        //    dG's buffer (the Mt chunk stays in cache for dWg) and dG overwrites them.
        scaleBySample(mt, m, ex, rows: r, samples: b, positions: p, ldOut: ldm)
        for j0 in Swift.stride(from: 0, to: n, by: gateChunk) {
            let len = min(gateChunk, n - j0)
            let gates: UnsafePointer<T>, ldGates: Int
            if let cGates {
                gates = UnsafePointer(slot(cGates, t, 4 * ch) + j0); ldGates = n
            } else {
                fusedGatesRecompute(gates: dG, ldGates: len, cPrev: cPrev + j0, ld: n, mt: mt + j0, ldMt: ldm, wg: wg, bias: bg,
                                    pi: pi, pf: pf, po: po, channels: ch, rank: r, count: len)
                gates = UnsafePointer(dG); ldGates = len
            }
            lstmGatesBackward(dG: dG, dC: dC + j0, dH: dH + j0, gates: gates, c: cT + j0, cPrev: cPrev + j0,
                              pi: pi, pf: pf, po: po, dpi: dpi, dpf: dpf, dpo: dpo, dBias: dbg, channels: ch, count: len,
                              ld: n, ldG: len, ldGates: ldGates, tanhC: tanhC + j0)
            // dWg += dG Mt^T;  dMt = Wg^T dG
            gemmLongK(m: 4 * ch, n: r, k: len, alpha: 1, a: dG, lda: len, b: mt + j0, ldb: ldm, beta: 1, c: dwg, ldc: r)
            gemmWide(transA: true, m: r, n: len, k: 4 * ch, alpha: 1, a: wg, lda: r,
                     b: dG, ldb: len, beta: 0, c: dMt + j0, ldc: n)
        }

        // 3. SE: Mt = ex * M, ex = sigma(a2), a2 = W2 relu(z1) + b2, z1 = W1 sq + b1, sq = mean M
        for cb in 0 ..< r * b { dEx[cb] = dotOf(dMt + cb * p, m + cb * p, p) }   // dEx [r, B]
        for i in 0 ..< r * b { dEx[i] *= ex[i] * (1 - ex[i]) }                   // now d a2
        reluForward(a1, z1, q * b)
        T.gemm(transA: false, transB: true, m: r, n: q, k: b, alpha: 1, a: dEx, lda: b, b: a1, ldb: b, beta: 1, c: dw2, ldc: q)
        rowSums(db2, dEx, rows: r, n: b)
        T.gemm(transA: true, transB: false, m: q, n: b, k: r, alpha: 1, a: w2, lda: q, b: dEx, ldb: b, beta: 0, c: dZ1, ldc: b)
        for i in 0 ..< q * b where z1[i] <= 0 { dZ1[i] = 0 }
        T.gemm(transA: false, transB: true, m: q, n: r, k: b, alpha: 1, a: dZ1, lda: b, b: sq, ldb: b, beta: 1, c: dw1, ldc: r)
        rowSums(db1, dZ1, rows: q, n: b)
        T.gemm(transA: true, transB: false, m: r, n: b, k: q, alpha: 1, a: w1, lda: r, b: dZ1, ldb: b, beta: 0, c: dSq, ldc: b)
        // dM = ex * dMt + dSq / P (over dMt) and its zero-padded copy for dU, in one pass
        let dM = dMt
        scaleShiftPadPlanes(out: dM, padded: dmPad, dMt, scale: ex, shift: dSq, planes: r * b,
                            height: geo.height, width: geo.width, pad: pad)

        // 2. M = bm + sum_j DW(U; w_j, D_j):  dw_j, dbm from dM and padded U;  dU = DW^T(dM) (=)
        padPlanes(uPad, u, planes: r * b, height: geo.height, width: geo.width, pad: pad)
        mixWeightGradient(dW: ddws[0], dBias: dbm, dOut: dM, padded: uPad, dilations: dilations, channels: r, samples: b,
                          height: geo.height, width: geo.width, kernel: k, pad: pad)
        mixForward(dU, padded: dmPad, w: dws[0], bias: nil, dilations: dilations, channels: r, samples: b,
                   height: geo.height, width: geo.width, kernel: k, pad: pad, flip: true)

        // 1. U = Wx X_t + Wh H_{t-1} + bu
        conv1x1Backward(dIn: dInput, dW: dwx, dBias: dbu, dOut: dU, inp: x, w: wx, cout: r, cin: cin, n: n, accumulateInput: false)
        //    (dH_{t-1} += Wh^T dU: step t-1's dH from above is already in dHPrev)
        if t > 0 {
            conv1x1Backward(dIn: dHPrev, dW: dwh, dBias: nil, dOut: dU, inp: slot(cH, t - 1, ch), w: wh, cout: r, cin: ch, n: n)
        }
    }
}

/// out[c, b, p] = x[c, b, p] * s[c, b]  (in-place allowed). x [rows, B, P], s [rows, B];
/// out rows (of B P columns) at stride ldOut (nil: B P).
func scaleBySample<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, _ s: UnsafePointer<T>,
                                    rows: Int, samples: Int, positions: Int, ldOut: Int? = nil) {
    let ld = ldOut ?? samples * positions
    for c in 0 ..< rows {
        for b in 0 ..< samples {
            let g = s[c * samples + b], o = out + c * ld + b * positions, xi = x + (c * samples + b) * positions
            for i in 0 ..< positions { o[i] = xi[i] * g }
        }
    }
}
