// LSTM gate math, fused (MODEL.md cell steps 4-5 and the ConvLSTM2D update):
//   i = sigma(G_i + bi + pi C_{t-1})     f = sigma(G_f + bf + pf C_{t-1})
//   g = tanh(G_g + bg)                   C_t = f C_{t-1} + i g
//   o = sigma(G_o + bo + po C_t)         H_t = o tanh(C_t)
// with per-channel biases b and peepholes p (the ConvLSTM has no peepholes: nil).
//
// Shapes (rows of length n, a row stride `ld` >= n): G, gates [4Ch, ld] (i, f, g, o);
// C_{t-1}, C_t, H_t, dH, dC [Ch, ld]; Mt [r, ld]; wg [4Ch, r]; b [4Ch]; p [Ch].
//
// The FAConvLSTM caches tanh(C_t) from the forward (`tanhC`), so its backward
// reads it instead of recomputing it: an exponential and a division per element
// traded for Ch x N floats a step. With `recompute_gates` its four gate
// activations go the other way: the backward recomputes them from Mt, chunk by
// chunk (`fusedGatesRecompute`), the [4Ch, r] x [r, N] product and the gate math
// again, instead of holding a [4Ch, N] cache per step (less memory, more time).
//
// Float runs SIMD16 (AVX-512) code over 16 columns at a time; everything else
// (Double, column tails) runs the scalar reference, the same formulas in the
// same order. The FAConvLSTM's forward (and recompute) also computes G = Wg Mt
// itself, one channel's four rows over a column chunk at a time into an L1-sized
// scratch, so the [4Ch, n] gate pre-activations never go to memory.

import COpenBLAS

typealias F16 = SIMD16<Float>

// MARK: - SIMD16 transcendental functions (lane by lane the same operations as fastExpFloat)

/// fastExpFloat on 16 lanes: bit-identical to the scalar version lane by lane for
/// every input but NaN (which gives exp(-87.3) here, NaN there).
@inline(__always)
public func fastExp16(_ x0: SIMD16<Float>) -> SIMD16<Float> {
    // vmaxps / vminps (`clamped` and `replacing(with:where:)` compile to per-lane
    // branches or split vectors; on x86-64 a C function that is always inlined,
    // see COpenBLAS/shim.h). They map a NaN to a bound (IEEE maxNum), where the
    // scalar min(max()) keeps it: the callers restore NaN propagation (gateMath16),
    // so a NaN still makes a NaN loss.
    #if arch(x86_64)
    let x = faconv_clamp16(x0, F16(repeating: -87.3), F16(repeating: 88.7))
    #else
    let x = pointwiseMin(pointwiseMax(x0, F16(repeating: -87.3)), F16(repeating: 88.7))
    #endif
    let shifted = F16(repeating: 12_583_039).addingProduct(x, F16(repeating: 1.442_695_04))
    let n = shifted - 12_583_039
    var r = x.addingProduct(n, F16(repeating: -0.693_359_375))
    r = r.addingProduct(n, F16(repeating: 2.121_944_4e-4))
    var p = F16(repeating: 1.987_569_1e-4)
    p = F16(repeating: 1.398_199_9e-3).addingProduct(p, r)
    p = F16(repeating: 8.333_452e-3).addingProduct(p, r)
    p = F16(repeating: 4.166_579_6e-2).addingProduct(p, r)
    p = F16(repeating: 0.166_666_65).addingProduct(p, r)
    p = F16(repeating: 0.5).addingProduct(p, r)
    p = (r + 1).addingProduct(p, r * r)
    return p * unsafeBitCast(unsafeBitCast(shifted, to: SIMD16<Int32>.self) &<< 23, to: F16.self)
}

@inline(__always) public func sigmoid16(_ x: SIMD16<Float>) -> SIMD16<Float> { 1 / (1 + fastExp16(-x)) }
@inline(__always) public func tanh16(_ x: SIMD16<Float>) -> SIMD16<Float> { 1 - 2 / (fastExp16(2 * x) + 1) }

// Unaligned vector loads and stores (Float and Double alike).
@inline(__always) func load16<T: KernelScalar>(_ p: UnsafePointer<T>) -> SIMD16<T> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<T>.self) }
@inline(__always) func store16<T: KernelScalar>(_ v: SIMD16<T>, _ p: UnsafeMutablePointer<T>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<T>.self) }
@inline(__always) func load8<T: KernelScalar>(_ p: UnsafePointer<T>) -> SIMD8<T> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<T>.self) }
@inline(__always) func store8<T: KernelScalar>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<T>.self) }

/// Columns per chunk of the fused forward: Mt [r, 256] (16 KB at r = 16) stays
/// in L1 while every channel's four gate rows are computed from it.
public let fusedGateChunk = 256

// MARK: - forward

/// The peephole LSTM update on `count` columns of rows with stride `ld`.
/// `gates` holds G (without bias) on entry and (i, f, tanh g, o) on exit.
/// pi, pf, po nil: no peepholes (ConvLSTM).
public func lstmGatesForward<T: KernelScalar>(
    gates: UnsafeMutablePointer<T>, c cT: UnsafeMutablePointer<T>, h hT: UnsafeMutablePointer<T>, cPrev: UnsafePointer<T>,
    bias: UnsafePointer<T>, pi: UnsafePointer<T>?, pf: UnsafePointer<T>?, po: UnsafePointer<T>?,
    channels ch: Int, count: Int, ld: Int
) {
    if T.self == Float.self {
        lstmGatesForwardFloat(gates: cast(gates), c: cast(cT), h: cast(hT), cPrev: cast(cPrev), bias: cast(bias),
                              pi: pi.map(cast), pf: pf.map(cast), po: po.map(cast), channels: ch, count: count, ld: ld)
        return
    }
    lstmGatesForwardReference(gates: gates, c: cT, h: hT, cPrev: cPrev, bias: bias, pi: pi, pf: pf, po: po,
                              channels: ch, from: 0, to: count, ld: ld)
}

/// Scalar reference of lstmGatesForward on columns from ..< to. `gates` has
/// row stride `ldGates` (nil: ld); C_t, H_t and tanh(C_t) are written where given
/// (the FAConvLSTM backward's recompute of the gates wants none of them).
public func lstmGatesForwardReference<T: KernelScalar>(
    gates: UnsafeMutablePointer<T>, c cT: UnsafeMutablePointer<T>?, h hT: UnsafeMutablePointer<T>?, cPrev: UnsafePointer<T>,
    bias: UnsafePointer<T>, pi: UnsafePointer<T>?, pf: UnsafePointer<T>?, po: UnsafePointer<T>?,
    channels ch: Int, from j0: Int, to j1: Int, ld: Int, ldGates: Int? = nil, tanhC: UnsafeMutablePointer<T>? = nil
) {
    let lg = ldGates ?? ld
    for c in 0 ..< ch {
        let gi = gates + c * lg, gf = gates + (ch + c) * lg, gg = gates + (2 * ch + c) * lg, go = gates + (3 * ch + c) * lg
        let cp = cPrev + c * ld
        let pic = pi?[c] ?? 0, pfc = pf?[c] ?? 0, poc = po?[c] ?? 0
        let bi = bias[c], bf = bias[ch + c], bgg = bias[2 * ch + c], bo = bias[3 * ch + c]
        for j in j0 ..< j1 {
            let iv = sigmoidScalar(gi[j] + bi + pic * cp[j])
            let fv = sigmoidScalar(gf[j] + bf + pfc * cp[j])
            let gv = tanhScalar(gg[j] + bgg)
            let cv = fv * cp[j] + iv * gv
            let ov = sigmoidScalar(go[j] + bo + poc * cv)
            gi[j] = iv; gf[j] = fv; gg[j] = gv; go[j] = ov
            cT?[c * ld + j] = cv
            let tc = tanhScalar(cv)
            hT?[c * ld + j] = ov * tc
            tanhC?[c * ld + j] = tc
        }
    }
}

@inline(__always) func cast<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self) }
@inline(__always) func cast<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }

/// One channel's update on 16 columns; g* are the pre-activations with bias.
/// For finite inputs every output is bit-identical to the scalar reference.
/// Non-finite inputs: `nan` is 0 where all inputs of a lane are finite and NaN
/// where one is NaN or infinite, and is added to every output, so a NaN (or an
/// overflow) anywhere in a lane makes all its outputs NaN and the loss NaN
/// (fastExp16 alone would clamp a NaN into a finite value; the scalar code
/// saturates infinities instead: both end in a skipped step).
@inline(__always)
func gateMath16(_ gi: F16, _ gf: F16, _ gg: F16, _ go: F16, _ cp: F16, _ pic: Float, _ pfc: Float, _ poc: Float)
    -> (i: F16, f: F16, g: F16, o: F16, c: F16, h: F16, tanhC: F16) {
    let a = gateActivations16(gi, gf, gg, go, cp, pic, pfc, poc)
    let tc = tanh16(a.c)
    return (a.i + a.nan, a.f + a.nan, a.g + a.nan, a.o + a.nan, a.c + a.nan, a.o * tc + a.nan, tc + a.nan)
}

/// gateMath16 up to o, before the NaN term (`nan`, 0 or NaN per lane) is added:
/// what the backward's recompute of the gates needs (no tanh C_t).
@inline(__always)
func gateActivations16(_ gi: F16, _ gf: F16, _ gg: F16, _ go: F16, _ cp: F16, _ pic: Float, _ pfc: Float, _ poc: Float)
    -> (i: F16, f: F16, g: F16, o: F16, c: F16, nan: F16) {
    let nan = (gi + gf + gg + go + cp) * 0
    let iv = sigmoid16(gi + pic * cp)
    let fv = sigmoid16(gf + pfc * cp)
    let gv = tanh16(gg)
    let cv = fv * cp + iv * gv
    let ov = sigmoid16(go + poc * cv)
    return (iv, fv, gv, ov, cv, nan)
}

private func lstmGatesForwardFloat(
    gates: UnsafeMutablePointer<Float>, c cT: UnsafeMutablePointer<Float>, h hT: UnsafeMutablePointer<Float>,
    cPrev: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    pi: UnsafePointer<Float>?, pf: UnsafePointer<Float>?, po: UnsafePointer<Float>?, channels ch: Int, count: Int, ld: Int
) {
    let n16 = count & ~15
    for c in 0 ..< ch {
        let gi = gates + c * ld, gf = gates + (ch + c) * ld, gg = gates + (2 * ch + c) * ld, go = gates + (3 * ch + c) * ld
        let cp = cPrev + c * ld, ct = cT + c * ld, ht = hT + c * ld
        let pic = pi?[c] ?? 0, pfc = pf?[c] ?? 0, poc = po?[c] ?? 0
        let bi = bias[c], bf = bias[ch + c], bgg = bias[2 * ch + c], bo = bias[3 * ch + c]
        var j = 0
        while j < n16 {
            let r = gateMath16(load16(gi + j) + bi, load16(gf + j) + bf, load16(gg + j) + bgg, load16(go + j) + bo,
                               load16(cp + j), pic, pfc, poc)
            store16(r.i, gi + j); store16(r.f, gf + j); store16(r.g, gg + j); store16(r.o, go + j)
            store16(r.c, ct + j); store16(r.h, ht + j)
            j += 16
        }
    }
    if n16 < count {
        lstmGatesForwardReference(gates: gates, c: cT, h: hT, cPrev: cPrev, bias: bias, pi: pi, pf: pf, po: po,
                                  channels: ch, from: n16, to: count, ld: ld)
    }
}

/// FAConvLSTM steps 4-5 fused: G = Wg Mt (+ bias) computed per channel and column
/// chunk into a [4, 256] scratch in L1, then the peephole update; writes C_t, H_t,
/// tanh(C_t) to `tanhC` where given and (i, f, tanh g, o) to `gates` where given
/// (rows of `n` columns). With recompute_gates the FAConvLSTM passes no
/// `gates`, and its backward recomputes them (`fusedGatesRecompute`).
/// mt [r, ldMt] (ldMt nil: n): a row
/// stride that is not a multiple of 4 KB keeps a chunk of Mt's rows in
/// different L1 sets (at n 4096 its 16 rows would share the same ones).
public func fusedGatesForward<T: KernelScalar>(
    gates: UnsafeMutablePointer<T>?, c cT: UnsafeMutablePointer<T>, h hT: UnsafeMutablePointer<T>, cPrev: UnsafePointer<T>,
    mt: UnsafePointer<T>, wg: UnsafePointer<T>, bias: UnsafePointer<T>,
    pi: UnsafePointer<T>, pf: UnsafePointer<T>, po: UnsafePointer<T>, channels ch: Int, rank r: Int, n: Int, ldMt: Int? = nil,
    tanhC: UnsafeMutablePointer<T>? = nil
) {
    let ldm = ldMt ?? n
    if T.self == Float.self {
        fusedGatesFloat(gates: gates.map(cast), ldGates: n, c: cast(cT), h: cast(hT), tanhC: tanhC.map(cast), cPrev: cast(cPrev),
                        ld: n, mt: cast(mt), ldMt: ldm, wg: cast(wg), bias: cast(bias), pi: cast(pi), pf: cast(pf), po: cast(po),
                        channels: ch, rank: r, count: n)
        return
    }
    fusedGatesForwardReference(gates: gates, c: cT, h: hT, cPrev: cPrev, mt: mt, wg: wg, bias: bias, pi: pi, pf: pf, po: po,
                               channels: ch, rank: r, n: n, ldMt: ldm, tanhC: tanhC)
}

/// The gate activations (i, f, tanh g, o) of `count` columns, as
/// fusedGatesForward computes them, into `gates` [4Ch, ldGates]: the FAConvLSTM
/// backward's recompute, one column chunk at a time, instead of a [4Ch, N]
/// cache per step written by the forward and read back by the backward.
/// cPrev [Ch, ld] and mt [r, ldMt] point at the chunk's first column. In Float
/// the result is the forward's bit for bit when that column is a multiple of
/// `fusedGateChunk` (the same products over the same column blocks, the same
/// gate math); in Double the chunk's GEMM may round differently.
public func fusedGatesRecompute<T: KernelScalar>(
    gates: UnsafeMutablePointer<T>, ldGates: Int, cPrev: UnsafePointer<T>, ld: Int, mt: UnsafePointer<T>, ldMt: Int,
    wg: UnsafePointer<T>, bias: UnsafePointer<T>, pi: UnsafePointer<T>, pf: UnsafePointer<T>, po: UnsafePointer<T>,
    channels ch: Int, rank r: Int, count: Int
) {
    if T.self == Float.self {
        fusedGatesFloat(gates: cast(gates), ldGates: ldGates, c: nil, h: nil, tanhC: nil, cPrev: cast(cPrev), ld: ld,
                        mt: cast(mt), ldMt: ldMt, wg: cast(wg), bias: cast(bias), pi: cast(pi), pf: cast(pf), po: cast(po),
                        channels: ch, rank: r, count: count)
        return
    }
    T.gemm(transA: false, transB: false, m: 4 * ch, n: count, k: r, alpha: 1, a: wg, lda: r, b: mt, ldb: ldMt, beta: 0,
           c: gates, ldc: ldGates)
    lstmGatesForwardReference(gates: gates, c: nil, h: nil, cPrev: cPrev, bias: bias, pi: pi, pf: pf, po: po,
                              channels: ch, from: 0, to: count, ld: ld, ldGates: ldGates)
}

/// Reference of fusedGatesForward: one GEMM, then the scalar update (gates nil:
/// into a temporary).
public func fusedGatesForwardReference<T: KernelScalar>(
    gates: UnsafeMutablePointer<T>?, c cT: UnsafeMutablePointer<T>, h hT: UnsafeMutablePointer<T>, cPrev: UnsafePointer<T>,
    mt: UnsafePointer<T>, wg: UnsafePointer<T>, bias: UnsafePointer<T>,
    pi: UnsafePointer<T>, pf: UnsafePointer<T>, po: UnsafePointer<T>, channels ch: Int, rank r: Int, n: Int, ldMt: Int? = nil,
    tanhC: UnsafeMutablePointer<T>? = nil
) {
    let g = gates ?? UnsafeMutablePointer<T>.allocate(capacity: 4 * ch * n)
    defer { if gates == nil { g.deallocate() } }
    T.gemm(transA: false, transB: false, m: 4 * ch, n: n, k: r, alpha: 1, a: wg, lda: r, b: mt, ldb: ldMt ?? n, beta: 0, c: g, ldc: n)
    lstmGatesForwardReference(gates: g, c: cT, h: hT, cPrev: cPrev, bias: bias, pi: pi, pf: pf, po: po,
                              channels: ch, from: 0, to: n, ld: n, tanhC: tanhC)
}

/// The Float kernel of fusedGatesForward and fusedGatesRecompute on `count`
/// columns: gates [4Ch, ldGates]; C_t, H_t, tanh C_t, C_{t-1} [Ch, ld]; each
/// output written where given.
private func fusedGatesFloat(
    gates: UnsafeMutablePointer<Float>?, ldGates: Int, c cT: UnsafeMutablePointer<Float>?, h hT: UnsafeMutablePointer<Float>?,
    tanhC: UnsafeMutablePointer<Float>?, cPrev: UnsafePointer<Float>, ld: Int, mt: UnsafePointer<Float>, ldMt: Int,
    wg: UnsafePointer<Float>, bias: UnsafePointer<Float>, pi: UnsafePointer<Float>, pf: UnsafePointer<Float>, po: UnsafePointer<Float>,
    channels ch: Int, rank r: Int, count: Int
) {
    let n16 = count & ~15
    // G for one channel's four gates over a chunk of columns, [4, fusedGateChunk]:
    // 4 KB that stays in L1 between the product and the gate math.
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * fusedGateChunk) { scratch in
        let g4 = scratch.baseAddress!
        for j0 in stride(from: 0, to: n16, by: fusedGateChunk) {
            let j1 = min(j0 + fusedGateChunk, n16)
            for c in 0 ..< ch {
                // rows c, Ch + c, 2Ch + c, 3Ch + c of Wg (a row step of Ch r) times Mt[:, j0 ..< j1],
                // the sum over k in the same order either way (bit-identical G)
                if nativeBlocking == .zmm32 {
                    // AVX-512: gemmWide's 4 x 64 register blocks (16 accumulators of the 32 registers)
                    gemmWide(transA: false, m: 4, n: j1 - j0, k: r, alpha: 1, a: wg + c * r, lda: ch * r, b: mt + j0, ldb: ldMt,
                             beta: 0, c: g4, ldc: fusedGateChunk)
                } else {
                    // AVX2 (16 registers): 16 columns at a time, one FMA chain per gate
                    let wi = wg + c * r, wf = wg + (ch + c) * r, wgg = wg + (2 * ch + c) * r, wo = wg + (3 * ch + c) * r
                    var j = j0
                    while j < j1 {
                        var ai = F16(), af = F16(), ag = F16(), ao = F16()
                        for k in 0 ..< r {
                            let m = load16(mt + k * ldMt + j)
                            ai = ai.addingProduct(F16(repeating: wi[k]), m); af = af.addingProduct(F16(repeating: wf[k]), m)
                            ag = ag.addingProduct(F16(repeating: wgg[k]), m); ao = ao.addingProduct(F16(repeating: wo[k]), m)
                        }
                        let q = g4 + (j - j0)
                        store16(ai, q); store16(af, q + fusedGateChunk); store16(ag, q + 2 * fusedGateChunk); store16(ao, q + 3 * fusedGateChunk)
                        j += 16
                    }
                }
                let cp = cPrev + c * ld, row = c * ld
                let pic = pi[c], pfc = pf[c], poc = po[c]
                let bi = F16(repeating: bias[c]), bf = F16(repeating: bias[ch + c])
                let bgg = F16(repeating: bias[2 * ch + c]), bo = F16(repeating: bias[3 * ch + c])
                var j = j0
                if let gates, cT == nil {
                    // the backward's recompute: the four gates only (no tanh C_t)
                    let gi = gates + c * ldGates, gf = gates + (ch + c) * ldGates
                    let gg = gates + (2 * ch + c) * ldGates, go = gates + (3 * ch + c) * ldGates
                    while j < j1 {
                        let q = g4 + (j - j0)
                        let v = gateActivations16(load16(q) + bi, load16(q + fusedGateChunk) + bf, load16(q + 2 * fusedGateChunk) + bgg,
                                                  load16(q + 3 * fusedGateChunk) + bo, load16(cp + j), pic, pfc, poc)
                        store16(v.i + v.nan, gi + j); store16(v.f + v.nan, gf + j)
                        store16(v.g + v.nan, gg + j); store16(v.o + v.nan, go + j)
                        j += 16
                    }
                    continue
                }
                while j < j1 {
                    let q = g4 + (j - j0)
                    let v = gateMath16(load16(q) + bi, load16(q + fusedGateChunk) + bf, load16(q + 2 * fusedGateChunk) + bgg,
                                       load16(q + 3 * fusedGateChunk) + bo, load16(cp + j), pic, pfc, poc)
                    if let gates {
                        store16(v.i, gates + c * ldGates + j); store16(v.f, gates + (ch + c) * ldGates + j)
                        store16(v.g, gates + (2 * ch + c) * ldGates + j); store16(v.o, gates + (3 * ch + c) * ldGates + j)
                    }
                    if let cT { store16(v.c, cT + row + j) }
                    if let hT { store16(v.h, hT + row + j) }
                    if let tanhC { store16(v.tanhC, tanhC + row + j) }
                    j += 16
                }
            }
        }
    }
    if n16 < count {
        // column tail (< 16 columns): G by dot products into a [4Ch, 16] scratch, then the scalar update
        let tail = count - n16
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * ch * 16) { scratch in
            let gt = scratch.baseAddress!
            for row in 0 ..< 4 * ch {
                for j in 0 ..< tail {
                    var s: Float = 0
                    for k in 0 ..< r { s += wg[row * r + k] * mt[k * ldMt + n16 + j] }
                    gt[row * 16 + j] = s
                }
            }
            lstmGatesForwardReference(gates: gt, c: cT.map { $0 + n16 }, h: hT.map { $0 + n16 }, cPrev: cPrev + n16, bias: bias,
                                      pi: pi, pf: pf, po: po, channels: ch, from: 0, to: tail, ld: ld, ldGates: 16,
                                      tanhC: tanhC.map { $0 + n16 })
            if let gates {
                for row in 0 ..< 4 * ch { (gates + row * ldGates + n16).update(from: gt + row * 16, count: tail) }
            }
        }
    }
}

// MARK: - backward

/// Backward of the update on `count` columns (row stride ld). In: dH = d/dH_t,
/// dC = d/dC_t from step t+1, the cached gates (i, f, tanh g, o), C_t, C_{t-1},
/// and tanh(C_t) where cached (`tanhC`, row stride ld; nil: recomputed).
/// `gates` has row stride ldGates (nil: ld) and may be dG itself (each column's
/// four gates are read before its four dG are written).
/// Out: dG [4Ch] (=, d/d pre-activation; row stride ldG, nil: ld), dC = d/dC_{t-1} (overwritten);
/// dBias [4Ch] += the row sums of dG (the gate bias gradient, while dG is in registers);
/// dpi, dpf, dpo += peephole gradients (nil: no peepholes; pi, pf, po then nil too).
public func lstmGatesBackward<T: KernelScalar>(
    dG: UnsafeMutablePointer<T>, dC: UnsafeMutablePointer<T>, dH: UnsafePointer<T>,
    gates: UnsafePointer<T>, c cT: UnsafePointer<T>, cPrev: UnsafePointer<T>,
    pi: UnsafePointer<T>?, pf: UnsafePointer<T>?, po: UnsafePointer<T>?,
    dpi: UnsafeMutablePointer<T>?, dpf: UnsafeMutablePointer<T>?, dpo: UnsafeMutablePointer<T>?,
    dBias: UnsafeMutablePointer<T>, channels ch: Int, count: Int, ld: Int, ldG: Int? = nil, ldGates: Int? = nil,
    tanhC: UnsafePointer<T>? = nil
) {
    if T.self == Float.self {
        lstmGatesBackwardFloat(dG: cast(dG), dC: cast(dC), dH: cast(dH), gates: cast(gates), c: cast(cT), cPrev: cast(cPrev),
                               pi: pi.map(cast), pf: pf.map(cast), po: po.map(cast),
                               dpi: dpi.map(cast), dpf: dpf.map(cast), dpo: dpo.map(cast), dBias: cast(dBias), channels: ch, count: count,
                               ld: ld, ldG: ldG ?? ld, ldGates: ldGates ?? ld, tanhC: tanhC.map(cast))
        return
    }
    lstmGatesBackwardReference(dG: dG, dC: dC, dH: dH, gates: gates, c: cT, cPrev: cPrev, pi: pi, pf: pf, po: po,
                               dpi: dpi, dpf: dpf, dpo: dpo, dBias: dBias, channels: ch, from: 0, to: count, ld: ld, ldG: ldG,
                               ldGates: ldGates, tanhC: tanhC)
}

/// Scalar reference of lstmGatesBackward on columns from ..< to.
public func lstmGatesBackwardReference<T: KernelScalar>(
    dG: UnsafeMutablePointer<T>, dC: UnsafeMutablePointer<T>, dH: UnsafePointer<T>,
    gates: UnsafePointer<T>, c cT: UnsafePointer<T>, cPrev: UnsafePointer<T>,
    pi: UnsafePointer<T>?, pf: UnsafePointer<T>?, po: UnsafePointer<T>?,
    dpi: UnsafeMutablePointer<T>?, dpf: UnsafeMutablePointer<T>?, dpo: UnsafeMutablePointer<T>?,
    dBias: UnsafeMutablePointer<T>, channels ch: Int, from j0: Int, to j1: Int, ld: Int, ldG: Int? = nil,
    ldGates: Int? = nil, tanhC: UnsafePointer<T>? = nil
) {
    let lg = ldG ?? ld, la = ldGates ?? ld
    for c in 0 ..< ch {
        let iv = gates + c * la, fv = gates + (ch + c) * la, gv = gates + (2 * ch + c) * la, ov = gates + (3 * ch + c) * la
        let dgi = dG + c * lg, dgf = dG + (ch + c) * lg, dgg = dG + (2 * ch + c) * lg, dgo = dG + (3 * ch + c) * lg
        let cp = cPrev + c * ld, ct = cT + c * ld, dh = dH + c * ld, dc = dC + c * ld
        let pic = pi?[c] ?? 0, pfc = pf?[c] ?? 0, poc = po?[c] ?? 0
        for j in j0 ..< j1 {
            let i = iv[j], f = fv[j], g = gv[j], o = ov[j]
            let tc = tanhC?[c * ld + j] ?? tanhScalar(ct[j])
            let dGo = dh[j] * tc * o * (1 - o)
            let dct = dc[j] + dh[j] * o * (1 - tc * tc) + dGo * poc
            let dGi = dct * g * i * (1 - i)
            let dGg = dct * i * (1 - g * g)
            let dGf = dct * cp[j] * f * (1 - f)
            dgi[j] = dGi; dgf[j] = dGf; dgg[j] = dGg; dgo[j] = dGo
            dc[j] = dct * f + dGi * pic + dGf * pfc
        }
        if let dpi, let dpf, let dpo {
            dpi[c] += dotOf(dgi + j0, cp + j0, j1 - j0)
            dpf[c] += dotOf(dgf + j0, cp + j0, j1 - j0)
            dpo[c] += dotOf(dgo + j0, ct + j0, j1 - j0)
        }
        dBias[c] += sumOf(dgi + j0, j1 - j0); dBias[ch + c] += sumOf(dgf + j0, j1 - j0)
        dBias[2 * ch + c] += sumOf(dgg + j0, j1 - j0); dBias[3 * ch + c] += sumOf(dgo + j0, j1 - j0)
    }
}

private func lstmGatesBackwardFloat(
    dG: UnsafeMutablePointer<Float>, dC: UnsafeMutablePointer<Float>, dH: UnsafePointer<Float>,
    gates: UnsafePointer<Float>, c cT: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
    pi: UnsafePointer<Float>?, pf: UnsafePointer<Float>?, po: UnsafePointer<Float>?,
    dpi: UnsafeMutablePointer<Float>?, dpf: UnsafeMutablePointer<Float>?, dpo: UnsafeMutablePointer<Float>?,
    dBias: UnsafeMutablePointer<Float>, channels ch: Int, count: Int, ld: Int, ldG: Int, ldGates: Int, tanhC: UnsafePointer<Float>?
) {
    let n16 = count & ~15
    for c in 0 ..< ch {
        let iv = gates + c * ldGates, fv = gates + (ch + c) * ldGates, gv = gates + (2 * ch + c) * ldGates, ov = gates + (3 * ch + c) * ldGates
        let dgi = dG + c * ldG, dgf = dG + (ch + c) * ldG, dgg = dG + (2 * ch + c) * ldG, dgo = dG + (3 * ch + c) * ldG
        let cp = cPrev + c * ld, ct = cT + c * ld, dh = dH + c * ld, dc = dC + c * ld
        let pic = pi?[c] ?? 0, pfc = pf?[c] ?? 0, poc = po?[c] ?? 0
        var si = F16(), sf = F16(), so = F16()
        var bi = F16(), bf = F16(), bg = F16(), bo = F16()
        var j = 0
        while j < n16 {
            let i = load16(iv + j), f = load16(fv + j), g = load16(gv + j), o = load16(ov + j)
            let cpv = load16(cp + j), ctv = load16(ct + j), dhv = load16(dh + j)
            let tc = tanhC.map { load16($0 + c * ld + j) } ?? tanh16(ctv)
            let dGo = dhv * tc * o * (1 - o)
            let dct = load16(dc + j) + dhv * o * (1 - tc * tc) + dGo * poc
            let dGi = dct * g * i * (1 - i)
            let dGg = dct * i * (1 - g * g)
            let dGf = dct * cpv * f * (1 - f)
            store16(dGi, dgi + j); store16(dGf, dgf + j); store16(dGg, dgg + j); store16(dGo, dgo + j)
            store16(dct * f + dGi * pic + dGf * pfc, dc + j)
            si = si.addingProduct(dGi, cpv); sf = sf.addingProduct(dGf, cpv); so = so.addingProduct(dGo, ctv)
            bi += dGi; bf += dGf; bg += dGg; bo += dGo
            j += 16
        }
        if let dpi, let dpf, let dpo {
            dpi[c] += laneSum(si); dpf[c] += laneSum(sf); dpo[c] += laneSum(so)
        }
        dBias[c] += laneSum(bi); dBias[ch + c] += laneSum(bf); dBias[2 * ch + c] += laneSum(bg); dBias[3 * ch + c] += laneSum(bo)
    }
    if n16 < count {
        lstmGatesBackwardReference(dG: dG, dC: dC, dH: dH, gates: gates, c: cT, cPrev: cPrev, pi: pi, pf: pf, po: po,
                                   dpi: dpi, dpf: dpf, dpo: dpo, dBias: dBias, channels: ch, from: n16, to: count, ld: ld, ldG: ldG,
                                   ldGates: ldGates, tanhC: tanhC)
    }
}
