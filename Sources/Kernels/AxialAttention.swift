// Axial spatial attention (MODEL.md cell step 6): a row softmax and a column
// softmax, each over its own axis, their outputs summed:
//   row: A[b,y,x,x'] = softmax_x'( q[:,b,y,x] . k[:,b,y,x'] / sqrt(dk) );  R[:,b,y,x]  = sum_x' A v[:,b,y,x']
//   col: B[b,x,y,y'] = softmax_y'( q[:,b,y,x] . k[:,b,y',x] / sqrt(dk) );  Cc[:,b,y,x] = sum_y' B v[:,b,y',x]
//   out = R + Cc
//
// Shapes: q, k [dk, B, H, W]; v, out [Cv, B, H, W]; N = B*H*W.
//   rowProbs [B, H, W, W] (A), colProbs [B, W, H, H] (B).
// The column pass runs the row kernel on copies with H and W swapped, so every
// GEMM operand has unit stride. The products of one line are small ([L, L] by
// dk or Cv): they go through gemmWide's register kernel, not a BLAS call each
// (thousands per step, where OpenBLAS's per-call work dominated). Products with
// a transposed [L, L] operand transpose it into an [L, L] scratch first.

/// Attention along the last axis of [C, B, R, L] (one softmax per (b, r, x)).
/// probs [B*R, L, L]; out[Cv, N] (+)= attention output. `at` scratch [L, L].
public func lineAttentionForward<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, probs: UnsafeMutablePointer<T>, at: UnsafeMutablePointer<T>,
    q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>,
    dk: Int, cv: Int, samples: Int, rows: Int, length len: Int, accumulate: Bool
) {
    let n = samples * rows * len
    let scale = 1 / T(dk).squareRoot()
    for br in 0 ..< samples * rows {
        let off = br * len, s = probs + br * len * len
        // s[x, x'] = sum_c q[c, x] k[c, x'] / sqrt(dk)
        gemmWide(transA: true, m: len, n: len, k: dk, alpha: scale, a: q + off, lda: n,
                 b: k + off, ldb: n, beta: 0, c: s, ldc: len)
        softmaxForward(s, rows: len, n: len)
        // out[c, x] = sum_x' v[c, x'] A[x, x'] = (V A^T)[c, x]
        transposeSquare(at, s, len)
        gemmWide(transA: false, m: cv, n: len, k: len, alpha: 1, a: v + off, lda: n,
                 b: at, ldb: len, beta: accumulate ? 1 : 0, c: out + off, ldc: n)
    }
}

/// dq, dk, dv += gradients of lineAttentionForward given dOut. `dA`, `dSt` scratch [L, L].
public func lineAttentionBackward<T: KernelScalar>(
    dq: UnsafeMutablePointer<T>, dk dK: UnsafeMutablePointer<T>, dv: UnsafeMutablePointer<T>,
    dA: UnsafeMutablePointer<T>, dSt: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, probs: UnsafePointer<T>,
    q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>,
    dk: Int, cv: Int, samples: Int, rows: Int, length len: Int
) {
    let n = samples * rows * len
    let scale = 1 / T(dk).squareRoot()
    for br in 0 ..< samples * rows {
        let off = br * len, a = probs + br * len * len
        // dA[x, x'] = sum_c dOut[c, x] v[c, x']
        gemmWide(transA: true, m: len, n: len, k: cv, alpha: 1, a: dOut + off, lda: n,
                 b: v + off, ldb: n, beta: 0, c: dA, ldc: len)
        // dv[c, x'] += sum_x dOut[c, x] A[x, x']
        gemmWide(transA: false, m: cv, n: len, k: len, alpha: 1, a: dOut + off, lda: n,
                 b: a, ldb: len, beta: 1, c: dv + off, ldc: n)
        softmaxBackward(dA, dA, a, rows: len, n: len)  // dA becomes dS
        // dq[c, x] += sum_x' k[c, x'] dS[x, x'] / sqrt(dk) = (K dS^T)[c, x] / sqrt(dk)
        transposeSquare(dSt, dA, len)
        gemmWide(transA: false, m: dk, n: len, k: len, alpha: scale, a: k + off, lda: n,
                 b: dSt, ldb: len, beta: 1, c: dq + off, ldc: n)
        // dk[c, x'] += sum_x q[c, x] dS[x, x'] / sqrt(dk)
        gemmWide(transA: false, m: dk, n: len, k: len, alpha: scale, a: q + off, lda: n,
                 b: dA, ldb: len, beta: 1, c: dK + off, ldc: n)
    }
}

/// out[j, i] = x[i, j] for one [L, L] matrix.
@inline(__always)
func transposeSquare<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, _ len: Int) {
    transposeMatrix(out, ldOut: len, x, ldX: len, rows: len, columns: len)
}

/// Scratch elements axialAttentionForward needs.
public func axialAttentionForwardScratch(dk: Int, cv: Int, n: Int, height: Int, width: Int) -> Int {
    (2 * dk + 2 * cv) * n + max(height, width) * max(height, width)
}
/// Scratch elements axialAttentionBackward needs.
public func axialAttentionBackwardScratch(dk: Int, cv: Int, n: Int, height: Int, width: Int) -> Int {
    (4 * dk + 3 * cv) * n + 2 * max(height, width) * max(height, width)
}

/// out[Cv, N] = R + Cc (written).
public func axialAttentionForward<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, rowProbs: UnsafeMutablePointer<T>, colProbs: UnsafeMutablePointer<T>,
    q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>,
    dk: Int, cv: Int, samples: Int, height: Int, width: Int, scratch: UnsafeMutablePointer<T>
) {
    let n = samples * height * width
    let qt = scratch, kt = qt + dk * n, vt = kt + dk * n, yt = vt + cv * n  // [C, B, W, H]
    let at = yt + cv * n                                                    // [L, L]
    lineAttentionForward(out, probs: rowProbs, at: at, q: q, k: k, v: v, dk: dk, cv: cv,
                         samples: samples, rows: height, length: width, accumulate: false)
    transposePlanes(qt, q, planes: dk * samples, height: height, width: width)
    transposePlanes(kt, k, planes: dk * samples, height: height, width: width)
    transposePlanes(vt, v, planes: cv * samples, height: height, width: width)
    lineAttentionForward(yt, probs: colProbs, at: at, q: qt, k: kt, v: vt, dk: dk, cv: cv,
                         samples: samples, rows: width, length: height, accumulate: false)
    transposePlanes(out, yt, planes: cv * samples, height: width, width: height, accumulate: true)
}

/// dq, dk, dv += gradients of axialAttentionForward given dOut [Cv, N].
public func axialAttentionBackward<T: KernelScalar>(
    dq: UnsafeMutablePointer<T>, dk dK: UnsafeMutablePointer<T>, dv: UnsafeMutablePointer<T>,
    dOut: UnsafePointer<T>, rowProbs: UnsafePointer<T>, colProbs: UnsafePointer<T>,
    q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>,
    dk: Int, cv: Int, samples: Int, height: Int, width: Int, scratch: UnsafeMutablePointer<T>
) {
    let n = samples * height * width
    let qt = scratch, kt = qt + dk * n, vt = kt + dk * n, dyt = vt + cv * n
    let dqt = dyt + cv * n, dkt = dqt + dk * n, dvt = dkt + dk * n, dA = dvt + cv * n
    let dSt = dA + max(height, width) * max(height, width)
    lineAttentionBackward(dq: dq, dk: dK, dv: dv, dA: dA, dSt: dSt, dOut: dOut, probs: rowProbs, q: q, k: k, v: v,
                          dk: dk, cv: cv, samples: samples, rows: height, length: width)
    transposePlanes(qt, q, planes: dk * samples, height: height, width: width)
    transposePlanes(kt, k, planes: dk * samples, height: height, width: width)
    transposePlanes(vt, v, planes: cv * samples, height: height, width: width)
    transposePlanes(dyt, dOut, planes: cv * samples, height: height, width: width)
    dqt.initialize(repeating: 0, count: (2 * dk + cv) * n)
    lineAttentionBackward(dq: dqt, dk: dkt, dv: dvt, dA: dA, dSt: dSt, dOut: dyt, probs: colProbs, q: qt, k: kt, v: vt,
                          dk: dk, cv: cv, samples: samples, rows: width, length: height)
    transposePlanes(dq, dqt, planes: dk * samples, height: width, width: height, accumulate: true)
    transposePlanes(dK, dkt, planes: dk * samples, height: width, width: height, accumulate: true)
    transposePlanes(dv, dvt, planes: cv * samples, height: width, width: height, accumulate: true)
}

/// Naive reference straight from the formulas (tests only). Writes out (=).
public func axialAttentionForwardNaive<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>,
    dk: Int, cv: Int, samples: Int, height: Int, width: Int
) {
    let n = samples * height * width
    let scale = 1 / T(dk).squareRoot()
    func at(_ b: Int, _ y: Int, _ x: Int) -> Int { (b * height + y) * width + x }
    var row = [T](repeating: 0, count: width), col = [T](repeating: 0, count: height)
    for b in 0 ..< samples {
        for y in 0 ..< height {
            for x in 0 ..< width {
                for x2 in 0 ..< width {
                    var s: T = 0
                    for c in 0 ..< dk { s += q[c * n + at(b, y, x)] * k[c * n + at(b, y, x2)] }
                    row[x2] = s * scale
                }
                for y2 in 0 ..< height {
                    var s: T = 0
                    for c in 0 ..< dk { s += q[c * n + at(b, y, x)] * k[c * n + at(b, y2, x)] }
                    col[y2] = s * scale
                }
                let mr = row.max()!, mc = col.max()!
                let er = row.map { T.exp($0 - mr) }, ec = col.map { T.exp($0 - mc) }
                let sr = er.reduce(0, +), sc = ec.reduce(0, +)
                for c in 0 ..< cv {
                    var acc: T = 0
                    for x2 in 0 ..< width { acc += er[x2] / sr * v[c * n + at(b, y, x2)] }
                    for y2 in 0 ..< height { acc += ec[y2] / sc * v[c * n + at(b, y2, x)] }
                    out[c * n + at(b, y, x)] = acc
                }
            }
        }
    }
}
