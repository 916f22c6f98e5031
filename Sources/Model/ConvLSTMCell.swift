import Kernels

// The ConvLSTM2D baseline cell (MODEL.md, Keras ConvLSTM2D semantics: tanh,
// sigmoid recurrent activation, "same" padding, no peepholes), forward and
// backward through time side by side.
//
//   G   = Conv_k(X_t; Wx) + Conv_k(H_{t-1}; Wh) + b      (full k x k convs)
//   C_t = sigma(f) C_{t-1} + sigma(i) tanh(g);   H_t = sigma(o) tanh(C_t)
//
// Shapes (N = B*P): X_t [Cin, N]; H_t, C_t [Ch, N]; G [4Ch, N] (i, f, g, o);
// the two convolutions are one over the stacked input (X_t, H_{t-1}) with
// Wcat = [Wx | Wh] (at t = 0 only the X part, H_0 = 0), done one of two ways:
//
// conv_algorithm = im2col (the default, any k): K = (Cin + Ch) k k,
// G = Wcat [4Ch, K] col [K, N]; backward dWcat += dG col^T and dcol = Wcat^T dG,
// col2im; dWcat goes to Wx, Wh once after step 0.
// conv_algorithm = winograd (k = 3): F(2x2, 3x3) (Kernels/Winograd.swift), 16
// multiplies per 2x2 outputs and channel pair instead of 36. U = G Wcat G^T
// [16, 4Ch, Cin + Ch] once per window (step 0), per block V = B^T (X_t, H_{t-1}) B
// [16, Cin + Ch, tiles], 16 GEMMs M[xi] = U[xi] V[xi], G = A^T M A. Backward:
// dM = A dG A^T, dU[xi] += dM[xi] V[xi]^T, dV[xi] = U[xi]^T dM[xi],
// (dX_t, dH_{t-1}) += B dV B^T; dU goes to Wx, Wh (G^T dU G) once after step 0.
//
// Both are done per block of image rows of one sample (about 512 columns for
// im2col, `convLSTMBlockRows`; about 256 tiles = 1024 columns for Winograd,
// `convLSTMTileRows`): the transforms or im2col, the GEMMs, the gates and the
// adjoint scatter of a block run while its buffers are still in cache,
// instead of streaming a [K, B H W] matrix (9.4 MB at K 576, N 4096) through
// memory several times per step. Padding is per sample, so a block is self-contained
// except that the backward scatter adds into neighbouring rows (of dInput, zeroed first,
// and of dHPrev, which already holds step t-1's gradient from above).
// Cached per step t (per sample 6 Ch P floats): the gate activations
// (sigma i, sigma f, tanh g, sigma o), C_t, H_t. V (or the im2col matrix) is rebuilt
// in backward from X_t and H_{t-1} (both held anyway).

/// Image rows per column block of the ConvLSTM cell: ~512 columns, whole rows,
/// at most one sample (the im2col scratch is [K, rows * W]; Cost.swift mirrors it).
func convLSTMBlockRows(height: Int, width: Int) -> Int {
    max(1, min(height, 512 / max(1, width)))
}

/// Tile rows (of 2 image rows) per Winograd block: ~256 tiles, at most one sample.
func convLSTMTileRows(height: Int, width: Int) -> Int {
    let tiles = winogradTiles(height: height, width: width)
    return max(1, min(tiles.rows, 256 / tiles.cols))
}

/// Whether layer l of L keeps a copy of dH in backward: a middle layer's dInput
/// and dH share one buffer (Network), which the scatter into dInput overwrites.
func convLSTMCopiesDH(layer l: Int, of layers: Int) -> Bool { l > 0 && l < layers - 1 }

/// Whether the cell runs its convolutions as Winograd F(2x2, 3x3) or im2col
/// (`conv_algorithm`; validation allows Winograd with k = 3 only).
func convLSTMUsesWinograd(_ c: ModelConfig) -> Bool { c.convAlgorithm == .winograd && c.kernel == 3 }

final class ConvLSTMCell<T: KernelScalar> {
    let geo: Geometry
    let cin, ch, k: Int

    let wx, wh, bias: UnsafeMutablePointer<T>     // [4Ch, Cin, k, k], [4Ch, Ch, k, k], [4Ch]
    let dwx, dwh, dbias: UnsafeMutablePointer<T>

    let cGates, cC, cH: UnsafeMutablePointer<T>   // [T, 4Ch|Ch|Ch, Nmax]
    let zeros: UnsafeMutablePointer<T>            // [Ch, Nmax]
    let winograd: Bool
    let blockRows: Int                            // image rows per block (even for Winograd)
    // conv_algorithm = im2col
    let kx, kcat: Int                             // Cin k k, (Cin + Ch) k k
    let col: UnsafeMutablePointer<T>              // [K, blockRows W] im2col of a block of (X_t, H_{t-1}); dcol in backward
    let wcat, dwcat: UnsafeMutablePointer<T>      // [4Ch, K]
    // conv_algorithm = winograd (k = 3)
    let tileCols: Int                             // tiles per tile row
    let tv: UnsafeMutablePointer<T>               // [16, Cin + Ch, tiles] V of a block (planes padded); dV in backward
    let tm: UnsafeMutablePointer<T>               // [16, 4Ch, tiles] M of a block (planes padded); dM in backward
    let tu, dtu: UnsafeMutablePointer<T>          // [16, 4Ch, Cin + Ch] U = G Wcat G^T and its gradient
    let dC: UnsafeMutablePointer<T>               // [Ch, Nmax]
    let dG: UnsafeMutablePointer<T>               // [4Ch, Nmax]
    // [Ch, Nmax] in a middle layer (0 < l < L-1), else empty: there dInput is dH's own
    // buffer, and the scatter into dInput would overwrite dH of blocks not yet read.
    let dHCopy: UnsafeMutablePointer<T>
    let copiesDH: Bool

    init(layer l: Int, config c: ModelConfig, geometry: Geometry, views v: ParameterViews<T>, arena: Arena<T>) {
        geo = geometry
        cin = l == 0 ? c.channels : c.hidden
        ch = c.hidden; k = c.kernel
        wx = v.p("conv.wx"); wh = v.p("conv.wh"); bias = v.p("conv.b")
        dwx = v.g("conv.wx"); dwh = v.g("conv.wh"); dbias = v.g("conv.b")
        let n = geometry.maxColumns, steps = geometry.steps
        cGates = arena.make(steps * 4 * ch * n, .cache)
        cC = arena.make(steps * ch * n, .cache)
        cH = arena.make(steps * ch * n, .cache)
        zeros = arena.make(ch * n, .scratch)
        winograd = convLSTMUsesWinograd(c)
        let im2colSize = winograd ? 0 : 1, winogradSize = winograd ? 1 : 0   // only the chosen way's buffers
        kx = cin * k * k
        kcat = (cin + ch) * k * k
        blockRows = winograd ? 2 * convLSTMTileRows(height: geometry.height, width: geometry.width)
                             : convLSTMBlockRows(height: geometry.height, width: geometry.width)
        col = arena.make(im2colSize * kcat * blockRows * geometry.width, .scratch)
        wcat = arena.make(im2colSize * 4 * ch * kcat, .scratch)
        dwcat = arena.make(im2colSize * 4 * ch * kcat, .scratch)
        tileCols = winogradTiles(height: geometry.height, width: geometry.width).cols
        let tiles = blockRows / 2 * tileCols
        tv = arena.make(winogradSize * 16 * winogradPlaneStride(rows: cin + ch, tiles: tiles), .scratch)
        tm = arena.make(winogradSize * 16 * winogradPlaneStride(rows: 4 * ch, tiles: tiles), .scratch)
        tu = arena.make(winogradSize * 16 * 4 * ch * (cin + ch), .scratch)
        dtu = arena.make(winogradSize * 16 * 4 * ch * (cin + ch), .scratch)
        dC = arena.make(ch * n, .scratch)
        dG = arena.make(4 * ch * n, .scratch)
        copiesDH = convLSTMCopiesDH(layer: l, of: c.layers)
        dHCopy = arena.make(copiesDH ? ch * n : 0, .scratch)
    }

    @inline(__always) private func slot(_ base: UnsafeMutablePointer<T>, _ t: Int, _ rows: Int) -> UnsafeMutablePointer<T> {
        base + t * rows * geo.maxColumns
    }

    func output(step t: Int) -> UnsafeMutablePointer<T> { slot(cH, t, ch) }

    /// im2col of block (sample s, image rows y0 ..< y1) of X_t (rows 0 ..< kx) and, for t > 0,
    /// H_{t-1} (rows kx ..< kcat) into col [K, (y1 - y0) W]; returns the rows filled.
    private func fillColumns(step t: Int, input x: UnsafePointer<T>, samples b: Int, sample s: Int, rows y0: Int, _ y1: Int) -> Int {
        let h = geo.height, w = geo.width
        im2colBlock(col, x, channels: cin, samples: b, sample: s, height: h, width: w, rows: y0, y1, kernel: k)
        guard t > 0 else { return kx }
        im2colBlock(col + kx * (y1 - y0) * w, slot(cH, t - 1, ch), channels: ch, samples: b, sample: s,
                    height: h, width: w, rows: y0, y1, kernel: k)
        return kcat
    }

    /// Block (image rows y0 ..< y1) as Winograd tiles: its tile rows, tile count, and the
    /// plane strides of V (tv) and M (tm) for that many tiles.
    private func tileBlock(rows y0: Int, _ y1: Int) -> (ty0: Int, ty1: Int, tiles: Int, vPlane: Int, mPlane: Int) {
        let ty0 = y0 / 2, ty1 = (y1 + 1) / 2, tiles = (ty1 - ty0) * tileCols
        return (ty0, ty1, tiles, winogradPlaneStride(rows: cin + ch, tiles: tiles), winogradPlaneStride(rows: 4 * ch, tiles: tiles))
    }

    /// V = B^T (X_t, H_{t-1}) B of block (sample s, image rows y0 ..< y1) into tv
    /// [16, Cin + Ch, tiles] (the H rows only for t > 0); returns the rows filled.
    private func fillTransforms(step t: Int, input x: UnsafePointer<T>, samples b: Int, sample s: Int, rows y0: Int, _ y1: Int) -> Int {
        let h = geo.height, w = geo.width, tb = tileBlock(rows: y0, y1)
        winogradInputTransform(tv, planeStride: tb.vPlane, x, channels: cin, samples: b, sample: s, height: h, width: w,
                               tileRows: tb.ty0, tb.ty1)
        guard t > 0 else { return cin }
        winogradInputTransform(tv + cin * tb.tiles, planeStride: tb.vPlane, slot(cH, t - 1, ch), channels: ch,
                               samples: b, sample: s, height: h, width: w, tileRows: tb.ty0, tb.ty1)
        return cin + ch
    }

    /// Calls body(sample, y0, y1, first column, columns) for every column block.
    @inline(__always) private func forEachBlock(samples b: Int, _ body: (Int, Int, Int, Int, Int) -> Void) {
        let h = geo.height, w = geo.width
        for s in 0 ..< b {
            var y0 = 0
            while y0 < h {
                let y1 = min(h, y0 + blockRows)
                body(s, y0, y1, s * geo.positions + y0 * w, (y1 - y0) * w)
                y0 = y1
            }
        }
    }

    func forward(step t: Int, input x: UnsafePointer<T>, samples b: Int) {
        let n = b * geo.positions, h = geo.height, w = geo.width
        let gates = slot(cGates, t, 4 * ch), cT = slot(cC, t, ch), hT = slot(cH, t, ch)
        let cPrev: UnsafePointer<T> = t > 0 ? UnsafePointer(slot(cC, t - 1, ch)) : UnsafePointer(zeros)
        let kc = cin + ch
        if t == 0 {
            if winograd {
                winogradWeightTransform(tu, planeStride: 4 * ch * kc, ldu: kc, wx, outChannels: 4 * ch, inChannels: cin)
                winogradWeightTransform(tu + cin, planeStride: 4 * ch * kc, ldu: kc, wh, outChannels: 4 * ch, inChannels: ch)
            } else {
                for o in 0 ..< 4 * ch {
                    (wcat + o * kcat).update(from: wx + o * kx, count: kx)
                    (wcat + o * kcat + kx).update(from: wh + o * (kcat - kx), count: kcat - kx)
                }
            }
        }
        // per block: G = Wx * X_t + Wh * H_{t-1} over the stacked input, then the gates
        forEachBlock(samples: b) { s, y0, y1, j, m in
            if winograd {
                let (ty0, ty1, tiles, vPlane, mPlane) = tileBlock(rows: y0, y1)
                let rows = fillTransforms(step: t, input: x, samples: b, sample: s, rows: y0, y1)
                for xi in 0 ..< 16 {   // M[xi] = U[xi] V[xi]
                    T.gemm(transA: false, transB: false, m: 4 * ch, n: tiles, k: rows, alpha: 1, a: tu + xi * 4 * ch * kc, lda: kc,
                           b: tv + xi * vPlane, ldb: tiles, beta: 0, c: tm + xi * mPlane, ldc: tiles)
                }
                winogradOutputTransform(gates, tm, planeStride: mPlane, channels: 4 * ch, samples: b, sample: s,
                                        height: h, width: w, tileRows: ty0, ty1)
            } else {
                let rows = fillColumns(step: t, input: x, samples: b, sample: s, rows: y0, y1)
                T.gemm(transA: false, transB: false, m: 4 * ch, n: m, k: rows, alpha: 1, a: wcat, lda: kcat,
                       b: col, ldb: m, beta: 0, c: gates + j, ldc: n)
            }
            lstmGatesForward(gates: gates + j, c: cT + j, h: hT + j, cPrev: cPrev + j, bias: bias, pi: nil, pf: nil, po: nil,
                             channels: ch, count: m, ld: n)
        }
    }

    func beginBackward(samples b: Int) {
        let n = b * geo.positions
        dC.initialize(repeating: 0, count: ch * n)
        if winograd { dtu.initialize(repeating: 0, count: 16 * 4 * ch * (cin + ch)) } else { dwcat.initialize(repeating: 0, count: 4 * ch * kcat) }
    }

    func backward(step t: Int, dH: UnsafeMutablePointer<T>, dHPrev: UnsafeMutablePointer<T>?,
                  dInput: UnsafeMutablePointer<T>?, input x: UnsafePointer<T>, samples b: Int) {
        let n = b * geo.positions, h = geo.height, w = geo.width
        var dH = dH
        if let dInput, dInput == dH {
            precondition(copiesDH, "dInput aliases dH outside a middle layer")
            dHCopy.update(from: dH, count: ch * n)
            dH = dHCopy
        }
        let gates = slot(cGates, t, 4 * ch), cT = slot(cC, t, ch)
        let cPrev: UnsafePointer<T> = t > 0 ? UnsafePointer(slot(cC, t - 1, ch)) : UnsafePointer(zeros)
        let kc = cin + ch
        // this step's scatter adds d H_{t-1} (through Wh) into dHPrev, across blocks
        dInput?.initialize(repeating: 0, count: cin * n)
        forEachBlock(samples: b) { s, y0, y1, j, m in
            lstmGatesBackward(dG: dG + j, dC: dC + j, dH: dH + j, gates: gates + j, c: cT + j, cPrev: cPrev + j,
                              pi: nil, pf: nil, po: nil, dpi: nil, dpf: nil, dpo: nil, dBias: dbias, channels: ch, count: m, ld: n)
            if winograd {
                // dM = A dG A^T; dU[xi] += dM[xi] V[xi]^T; dV[xi] = U[xi]^T dM[xi] (rows r0 ..< rows, into tv)
                let (ty0, ty1, tiles, vPlane, mPlane) = tileBlock(rows: y0, y1)
                winogradOutputTransformAdjoint(tm, planeStride: mPlane, dG, channels: 4 * ch, samples: b, sample: s,
                                               height: h, width: w, tileRows: ty0, ty1)
                let rows = fillTransforms(step: t, input: x, samples: b, sample: s, rows: y0, y1)
                // without dInput only the H_{t-1} rows of dV are needed (none at t = 0)
                let r0 = dInput == nil ? cin : 0
                for xi in 0 ..< 16 {
                    let dMxi = tm + xi * mPlane, vxi = tv + xi * vPlane
                    T.gemm(transA: false, transB: true, m: 4 * ch, n: rows, k: tiles, alpha: 1, a: dMxi, lda: tiles,
                           b: vxi, ldb: tiles, beta: 1, c: dtu + xi * 4 * ch * kc, ldc: kc)
                    if rows > r0 {
                        T.gemm(transA: true, transB: false, m: rows - r0, n: tiles, k: 4 * ch, alpha: 1, a: tu + xi * 4 * ch * kc + r0,
                               lda: kc, b: dMxi, ldb: tiles, beta: 0, c: vxi + r0 * tiles, ldc: tiles)
                    }
                }
                if let dInput {
                    winogradInputTransformAdjointAdd(dInput, tv, planeStride: vPlane, channels: cin, samples: b, sample: s,
                                                     height: h, width: w, tileRows: ty0, ty1)
                }
                if t > 0, let dHPrev {
                    winogradInputTransformAdjointAdd(dHPrev, tv + cin * tiles, planeStride: vPlane, channels: ch, samples: b,
                                                     sample: s, height: h, width: w, tileRows: ty0, ty1)
                }
            } else {
                // dWcat += dG col^T;  dcol = Wcat^T dG (rows r0 ..< rows, into col, no longer needed)
                let rows = fillColumns(step: t, input: x, samples: b, sample: s, rows: y0, y1)
                let r0 = dInput == nil ? kx : 0
                T.gemm(transA: false, transB: true, m: 4 * ch, n: rows, k: m, alpha: 1, a: dG + j, lda: n,
                       b: col, ldb: m, beta: 1, c: dwcat, ldc: kcat)
                if rows > r0 {
                    T.gemm(transA: true, transB: false, m: rows - r0, n: m, k: 4 * ch, alpha: 1, a: wcat + r0, lda: kcat,
                           b: dG + j, ldb: n, beta: 0, c: col + r0 * m, ldc: m)
                }
                if let dInput {
                    col2imAddBlock(dInput, col, channels: cin, samples: b, sample: s, height: h, width: w, rows: y0, y1, kernel: k)
                }
                if t > 0, let dHPrev {
                    col2imAddBlock(dHPrev, col + kx * m, channels: ch, samples: b, sample: s, height: h, width: w,
                                   rows: y0, y1, kernel: k)
                }
            }
        }
        if t == 0 {
            // the window's last backward step: the accumulated weight gradient goes to Wx, Wh
            if winograd {
                winogradWeightTransformAdjointAdd(dwx, dtu, planeStride: 4 * ch * kc, ldu: kc, outChannels: 4 * ch, inChannels: cin)
                winogradWeightTransformAdjointAdd(dwh, dtu + cin, planeStride: 4 * ch * kc, ldu: kc, outChannels: 4 * ch, inChannels: ch)
            } else {
                for o in 0 ..< 4 * ch {
                    let src = dwcat + o * kcat, gx = dwx + o * kx, gh = dwh + o * (kcat - kx)
                    for i in 0 ..< kx { gx[i] += src[i] }
                    for i in 0 ..< kcat - kx { gh[i] += src[kx + i] }
                }
            }
        }
    }
}
