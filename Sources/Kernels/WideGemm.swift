// Products with few output rows and a short inner dimension over long rows
// (1x1 convolutions over a frame, dMt = Wg^T dG, dH_{t-1} = Wh^T dU):
//
//   C [m, n] = alpha op(A) [m, k]  B [k, n] + beta C     (row-major, B not transposed)
//
// with m, k <= a few dozen and n = B H W (thousands). OpenBLAS packs B and A
// for every call and its small-matrix kernels run at a fraction of peak at
// these shapes (measured 18-30 GFLOP/s for m 16-32, k 16-128, n 512-4096
// where the large-GEMM rate is ~130). Here a block of C lives in registers
// while k runs: per k, a few loads of B (one [k, width] panel stays in L1 for
// all row groups), 4 broadcasts of A, and an FMA per accumulator; no packing.
// The block is sized to the vector registers (`RegisterBlocking`). Columns
// past the blocks run as 4 x 16 blocks and a zero-padded 16-column tail.
// Float only; Double and shapes outside the wide-row case go to T.gemm.

/// C = alpha op(A) B + beta C, op(A) = transA ? A^T : A, B [k, n] row stride ldb.
/// beta 0 does not read C (BLAS convention). `blocking`: tests run both.
public func gemmWide<T: KernelScalar>(
    transA: Bool, m: Int, n: Int, k: Int, alpha: T, a: UnsafePointer<T>, lda: Int,
    b: UnsafePointer<T>, ldb: Int, beta: T, c: UnsafeMutablePointer<T>, ldc: Int, blocking: RegisterBlocking = nativeBlocking
) {
    // Wide rows, few of them, short products: the shapes the register kernel wins
    // (beyond, OpenBLAS's packed kernels are faster and their packing amortized).
    // Narrow C down to 16 columns too: there OpenBLAS's per-call overhead dominates.
    if T.self == Float.self, n >= 16, m <= 64, k <= 256, m > 0, k > 0 {
        gemmWideFloat(transA: transA, m: m, n: n, k: k, alpha: unsafeBitCast(alpha, to: Float.self), a: cast(a), lda: lda,
                      b: cast(b), ldb: ldb, beta: unsafeBitCast(beta, to: Float.self), c: cast(c), ldc: ldc, blocking: blocking)
        return
    }
    T.gemm(transA: transA, transB: false, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
           b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

@inline(__always) private func finish(_ acc: F16, _ p: UnsafeMutablePointer<Float>, _ alpha: F16, _ beta: Float) {
    store16(beta == 0 ? acc * alpha : (acc * alpha).addingProduct(load16(p), F16(repeating: beta)), p)
}
@inline(__always) private func finish(_ acc: F8, _ p: UnsafeMutablePointer<Float>, _ alpha: F8, _ beta: Float) {
    store8(beta == 0 ? acc * alpha : (acc * alpha).addingProduct(load8(p), F8(repeating: beta)), p)
}

typealias F8 = SIMD8<Float>

private func gemmWideFloat(
    transA: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, blocking: RegisterBlocking
) {
    // op(A)[i, kk] = a[i * rs + kk * cs]
    let rs = transA ? 1 : lda, cs = transA ? lda : 1
    var j: Int
    switch blocking {
    case .zmm32: j = wideBlocks64(m: m, n: n, k: k, alpha: alpha, a: a, rs: rs, cs: cs, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    case .ymm16: j = wideBlocks24(m: m, n: n, k: k, alpha: alpha, a: a, rs: rs, cs: cs, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    // the columns past the blocks by 16, 4 rows at a time, then row by row
    let va = F16(repeating: alpha), m4 = m & ~3
    while j + 16 <= n {
        var i = 0
        while i < m4 {
            let (c0, c1, c2, c3) = rows4x16(a + i * rs, rs: rs, cs: cs, k: k, b + j, ldb: ldb)
            let p0 = c + i * ldc + j
            finish(c0, p0, va, beta); finish(c1, p0 + ldc, va, beta); finish(c2, p0 + 2 * ldc, va, beta); finish(c3, p0 + 3 * ldc, va, beta)
            i += 4
        }
        while i < m {
            finish(row1x16(a + i * rs, cs: cs, k: k, b + j, ldb: ldb), c + i * ldc + j, va, beta)
            i += 1
        }
        j += 16
    }
    if j < n { gemmWideColumnTail(from: j, m: m, n: n, k: k, alpha: alpha, a: a, rs: rs, cs: cs, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) }
}

/// More than one row group re-reads each [k, width] panel of B. Where B's rows are a
/// multiple of 4 KB apart (N a multiple of 1024: the default B H W is 4096) all k
/// rows of a panel share the same L1 sets, more than the cache has ways, and each
/// row group reloads the panel from L2: copy it into contiguous rows first
/// (measured, [16|32, 4096] x k 32 / [32, 4096] x k 16: 15-26% faster).
@inline(__always) private func withPanels(
    width: Int, m: Int, k: Int, b: UnsafePointer<Float>, ldb: Int, columns: Int,
    _ body: (_ j: Int, _ panel: UnsafePointer<Float>, _ ldPanel: Int) -> Void
) {
    let pack = m > 4 && columns > 0 && ldb % 1024 == 0
    withUnsafeTemporaryAllocation(of: Float.self, capacity: pack ? k * width : 1) { buffer in
        var j = 0
        while j < columns {
            if pack {
                let panel = buffer.baseAddress!
                for kk in 0 ..< k {
                    let src = b + kk * ldb + j, dst = panel + kk * width
                    var x = 0
                    while x < width { store8(load8(src + x), dst + x); x += 8 }
                }
                body(j, UnsafePointer(panel), width)
            } else {
                body(j, b + j, ldb)
            }
            j += width
        }
    }
}

/// AVX-512 blocks: 4 x 64 (16 accumulators of 16 lanes) over the 64-column panels,
/// then 4 x 32 where 32 columns remain. Returns the first column not done.
private func wideBlocks64(
    m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, rs: Int, cs: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) -> Int {
    let va = F16(repeating: alpha)
    let n64 = n & ~63, m4 = m & ~3
    withPanels(width: 64, m: m, k: k, b: b, ldb: ldb, columns: n64) { j, bj, ldbj in
        var i = 0
        while i < m4 {
            let a0 = a + i * rs, a1 = a0 + rs, a2 = a1 + rs, a3 = a2 + rs
            var c00 = F16(), c01 = F16(), c02 = F16(), c03 = F16()
            var c10 = F16(), c11 = F16(), c12 = F16(), c13 = F16()
            var c20 = F16(), c21 = F16(), c22 = F16(), c23 = F16()
            var c30 = F16(), c31 = F16(), c32 = F16(), c33 = F16()
            for kk in 0 ..< k {
                let bp = bj + kk * ldbj
                let b0 = load16(bp), b1 = load16(bp + 16), b2 = load16(bp + 32), b3 = load16(bp + 48)
                let o = kk * cs
                let x0 = F16(repeating: a0[o]), x1 = F16(repeating: a1[o])
                let x2 = F16(repeating: a2[o]), x3 = F16(repeating: a3[o])
                c00 = c00.addingProduct(x0, b0); c01 = c01.addingProduct(x0, b1)
                c02 = c02.addingProduct(x0, b2); c03 = c03.addingProduct(x0, b3)
                c10 = c10.addingProduct(x1, b0); c11 = c11.addingProduct(x1, b1)
                c12 = c12.addingProduct(x1, b2); c13 = c13.addingProduct(x1, b3)
                c20 = c20.addingProduct(x2, b0); c21 = c21.addingProduct(x2, b1)
                c22 = c22.addingProduct(x2, b2); c23 = c23.addingProduct(x2, b3)
                c30 = c30.addingProduct(x3, b0); c31 = c31.addingProduct(x3, b1)
                c32 = c32.addingProduct(x3, b2); c33 = c33.addingProduct(x3, b3)
            }
            let p0 = c + i * ldc + j, p1 = p0 + ldc, p2 = p1 + ldc, p3 = p2 + ldc
            finish(c00, p0, va, beta); finish(c01, p0 + 16, va, beta); finish(c02, p0 + 32, va, beta); finish(c03, p0 + 48, va, beta)
            finish(c10, p1, va, beta); finish(c11, p1 + 16, va, beta); finish(c12, p1 + 32, va, beta); finish(c13, p1 + 48, va, beta)
            finish(c20, p2, va, beta); finish(c21, p2 + 16, va, beta); finish(c22, p2 + 32, va, beta); finish(c23, p2 + 48, va, beta)
            finish(c30, p3, va, beta); finish(c31, p3 + 16, va, beta); finish(c32, p3 + 32, va, beta); finish(c33, p3 + 48, va, beta)
            i += 4
        }
        // row tail: one row, 64 columns
        while i < m {
            let ai = a + i * rs
            var c0 = F16(), c1 = F16(), c2 = F16(), c3 = F16()
            for kk in 0 ..< k {
                let bp = bj + kk * ldbj, x = F16(repeating: ai[kk * cs])
                c0 = c0.addingProduct(x, load16(bp)); c1 = c1.addingProduct(x, load16(bp + 16))
                c2 = c2.addingProduct(x, load16(bp + 32)); c3 = c3.addingProduct(x, load16(bp + 48))
            }
            let p = c + i * ldc + j
            finish(c0, p, va, beta); finish(c1, p + 16, va, beta); finish(c2, p + 32, va, beta); finish(c3, p + 48, va, beta)
            i += 1
        }
    }
    // 32 remaining columns (all of a narrow C, e.g. attention over one image
    // row): 4 rows at a time, so 8 FMA chains run side by side
    guard n64 + 32 <= n else { return n64 }
    let j = n64
    var i = 0
    while i < m4 {
        let a0 = a + i * rs, a1 = a0 + rs, a2 = a1 + rs, a3 = a2 + rs
        var c00 = F16(), c01 = F16(), c10 = F16(), c11 = F16()
        var c20 = F16(), c21 = F16(), c30 = F16(), c31 = F16()
        for kk in 0 ..< k {
            let bp = b + kk * ldb + j
            let b0 = load16(bp), b1 = load16(bp + 16)
            let o = kk * cs
            let x0 = F16(repeating: a0[o]), x1 = F16(repeating: a1[o])
            let x2 = F16(repeating: a2[o]), x3 = F16(repeating: a3[o])
            c00 = c00.addingProduct(x0, b0); c01 = c01.addingProduct(x0, b1)
            c10 = c10.addingProduct(x1, b0); c11 = c11.addingProduct(x1, b1)
            c20 = c20.addingProduct(x2, b0); c21 = c21.addingProduct(x2, b1)
            c30 = c30.addingProduct(x3, b0); c31 = c31.addingProduct(x3, b1)
        }
        let p0 = c + i * ldc + j, p1 = p0 + ldc, p2 = p1 + ldc, p3 = p2 + ldc
        finish(c00, p0, va, beta); finish(c01, p0 + 16, va, beta)
        finish(c10, p1, va, beta); finish(c11, p1 + 16, va, beta)
        finish(c20, p2, va, beta); finish(c21, p2 + 16, va, beta)
        finish(c30, p3, va, beta); finish(c31, p3 + 16, va, beta)
        i += 4
    }
    while i < m {
        finish(row1x16(a + i * rs, cs: cs, k: k, b + j, ldb: ldb), c + i * ldc + j, va, beta)
        finish(row1x16(a + i * rs, cs: cs, k: k, b + j + 16, ldb: ldb), c + i * ldc + j + 16, va, beta)
        i += 1
    }
    return j + 32
}

/// AVX2 blocks: 4 x 24 (12 accumulators of 8 lanes, with 3 loads of B and a
/// broadcast: all 16 registers) over 24-column panels. Returns the first column not done.
private func wideBlocks24(
    m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, rs: Int, cs: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) -> Int {
    // A narrow C (attention over one image row, 32-36 columns) runs as 4 x 16
    // blocks instead: one 24-column block would leave a padded tail behind.
    guard n > 64 else { return 0 }
    let va = F8(repeating: alpha)
    let n24 = n - n % 24, m4 = m & ~3
    withPanels(width: 24, m: m, k: k, b: b, ldb: ldb, columns: n24) { j, bj, ldbj in
        var i = 0
        while i < m4 {
            let a0 = a + i * rs, a1 = a0 + rs, a2 = a1 + rs, a3 = a2 + rs
            var c00 = F8(), c01 = F8(), c02 = F8(), c10 = F8(), c11 = F8(), c12 = F8()
            var c20 = F8(), c21 = F8(), c22 = F8(), c30 = F8(), c31 = F8(), c32 = F8()
            for kk in 0 ..< k {
                let bp = bj + kk * ldbj
                let b0 = load8(bp), b1 = load8(bp + 8), b2 = load8(bp + 16)
                let o = kk * cs
                var x = F8(repeating: a0[o])
                c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1); c02 = c02.addingProduct(x, b2)
                x = F8(repeating: a1[o])
                c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1); c12 = c12.addingProduct(x, b2)
                x = F8(repeating: a2[o])
                c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1); c22 = c22.addingProduct(x, b2)
                x = F8(repeating: a3[o])
                c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1); c32 = c32.addingProduct(x, b2)
            }
            let p0 = c + i * ldc + j, p1 = p0 + ldc, p2 = p1 + ldc, p3 = p2 + ldc
            finish(c00, p0, va, beta); finish(c01, p0 + 8, va, beta); finish(c02, p0 + 16, va, beta)
            finish(c10, p1, va, beta); finish(c11, p1 + 8, va, beta); finish(c12, p1 + 16, va, beta)
            finish(c20, p2, va, beta); finish(c21, p2 + 8, va, beta); finish(c22, p2 + 16, va, beta)
            finish(c30, p3, va, beta); finish(c31, p3 + 8, va, beta); finish(c32, p3 + 16, va, beta)
            i += 4
        }
        // row tail: one row, 24 columns
        while i < m {
            let ai = a + i * rs
            var c0 = F8(), c1 = F8(), c2 = F8()
            for kk in 0 ..< k {
                let bp = bj + kk * ldbj, x = F8(repeating: ai[kk * cs])
                c0 = c0.addingProduct(x, load8(bp)); c1 = c1.addingProduct(x, load8(bp + 8)); c2 = c2.addingProduct(x, load8(bp + 16))
            }
            let p = c + i * ldc + j
            finish(c0, p, va, beta); finish(c1, p + 8, va, beta); finish(c2, p + 16, va, beta)
            i += 1
        }
    }
    return n24
}

/// The last n - j0 < 16 columns of C: that slice of B is copied into a zero-padded
/// [k, 16] panel so they run 16 lanes wide too, 4 rows at a time (one column at a
/// time they cost more than all the other columns of a [32, 36] product together).
private func gemmWideColumnTail(
    from j0: Int, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, rs: Int, cs: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let width = n - j0, m4 = m & ~3
    withUnsafeTemporaryAllocation(of: Float.self, capacity: k * 16 + 16) { buffer in
        let panel = buffer.baseAddress!, out = panel + k * 16
        for kk in 0 ..< k {
            let src = b + kk * ldb + j0, dst = panel + kk * 16
            for x in 0 ..< width { dst[x] = src[x] }
            for x in width ..< 16 { dst[x] = 0 }
        }
        // only the first `width` lanes of a result go to C
        func finishTail(_ acc: F16, _ p: UnsafeMutablePointer<Float>) {
            store16(acc * alpha, out)
            for x in 0 ..< width { p[x] = beta == 0 ? out[x] : out[x] + beta * p[x] }
        }
        var i = 0
        while i < m4 {
            let (c0, c1, c2, c3) = rows4x16(a + i * rs, rs: rs, cs: cs, k: k, panel, ldb: 16)
            let p0 = c + i * ldc + j0
            finishTail(c0, p0); finishTail(c1, p0 + ldc); finishTail(c2, p0 + 2 * ldc); finishTail(c3, p0 + 3 * ldc)
            i += 4
        }
        while i < m {
            finishTail(row1x16(a + i * rs, cs: cs, k: k, panel, ldb: 16), c + i * ldc + j0)
            i += 1
        }
    }
}

/// Four rows of op(A) (from a0, row step rs, column step cs) times a [k, 16]
/// slice of B (row stride ldb): the four 16-lane rows of the C block.
@inline(__always) private func rows4x16(
    _ a0: UnsafePointer<Float>, rs: Int, cs: Int, k: Int, _ b: UnsafePointer<Float>, ldb: Int
) -> (F16, F16, F16, F16) {
    let a1 = a0 + rs, a2 = a1 + rs, a3 = a2 + rs
    var c0 = F16(), c1 = F16(), c2 = F16(), c3 = F16()
    for kk in 0 ..< k {
        let b0 = load16(b + kk * ldb), o = kk * cs
        c0 = c0.addingProduct(F16(repeating: a0[o]), b0); c1 = c1.addingProduct(F16(repeating: a1[o]), b0)
        c2 = c2.addingProduct(F16(repeating: a2[o]), b0); c3 = c3.addingProduct(F16(repeating: a3[o]), b0)
    }
    return (c0, c1, c2, c3)
}

/// One row of op(A) (from ai, column step cs) times a [k, 16] slice of B.
@inline(__always) private func row1x16(_ ai: UnsafePointer<Float>, cs: Int, k: Int, _ b: UnsafePointer<Float>, ldb: Int) -> F16 {
    var acc = F16()
    for kk in 0 ..< k { acc = acc.addingProduct(F16(repeating: ai[kk * cs]), load16(b + kk * ldb)) }
    return acc
}

// Weight gradients of the same layers reduce over the long dimension instead:
//
//   C [m, n] = alpha A [m, k] B [n, k]^T + beta C     (row-major, k = columns)
//
// with m, n small and k = B H W (or a 512-column chunk). OpenBLAS packs both
// long operands for every call. Here a block of C is kept as vector partial
// sums over k, summed across lanes at the end: 4 x 4 sums of 16 lanes on
// AVX-512 (per 16 columns: 8 loads, 16 FMAs), 2 x 4 sums of 8 lanes on AVX2
// (per 8 columns: 6 loads, 8 FMAs).

/// C = alpha A B^T + beta C for A [m, k], B [n, k] (rows contiguous along k).
public func gemmLongK<T: KernelScalar>(
    m: Int, n: Int, k: Int, alpha: T, a: UnsafePointer<T>, lda: Int,
    b: UnsafePointer<T>, ldb: Int, beta: T, c: UnsafeMutablePointer<T>, ldc: Int, blocking: RegisterBlocking = nativeBlocking
) {
    if T.self == Float.self, k >= 64, m <= 256, n <= 64, m > 0, n > 0 {
        let alpha = unsafeBitCast(alpha, to: Float.self), beta = unsafeBitCast(beta, to: Float.self)
        let blockRows: Int
        switch blocking {
        case .zmm32:
            longKBlocks4x4(m: m, n: n, k: k, alpha: alpha, a: cast(a), lda: lda, b: cast(b), ldb: ldb, beta: beta, c: cast(c), ldc: ldc)
            blockRows = m & ~3
        case .ymm16:
            longKBlocks2x4(m: m, n: n, k: k, alpha: alpha, a: cast(a), lda: lda, b: cast(b), ldb: ldb, beta: beta, c: cast(c), ldc: ldc)
            blockRows = m & ~1
        }
        longKRest(blockRows: blockRows, m: m, n: n, k: k, alpha: alpha, a: cast(a), lda: lda, b: cast(b), ldb: ldb,
                  beta: beta, c: cast(c), ldc: ldc)
        return
    }
    T.gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
           b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

@inline(__always) private func finish(_ acc: F16, tail: Float, _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) {
    let s = laneSum(acc) + tail
    p.pointee = beta == 0 ? alpha * s : alpha * s + beta * p.pointee
}
@inline(__always) private func finish(_ acc: F8, tail: Float, _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) {
    let s = laneSum(acc) + tail
    p.pointee = beta == 0 ? alpha * s : alpha * s + beta * p.pointee
}

typealias Rows4 = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>)

/// C[i, j ..< j + 4] of a block row: the four vector sums of row x against rows
/// ys of B, plus the k tail (a scalar dot product each).
@inline(__always) private func finishRow(_ s: (F16, F16, F16, F16), _ x: UnsafePointer<Float>, _ ys: Rows4, tail: Range<Int>,
                                         _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) {
    finish(s.0, tail: dotTail(x, ys.0, tail), p, alpha, beta); finish(s.1, tail: dotTail(x, ys.1, tail), p + 1, alpha, beta)
    finish(s.2, tail: dotTail(x, ys.2, tail), p + 2, alpha, beta); finish(s.3, tail: dotTail(x, ys.3, tail), p + 3, alpha, beta)
}
@inline(__always) private func finishRow(_ s: (F8, F8, F8, F8), _ x: UnsafePointer<Float>, _ ys: Rows4, tail: Range<Int>,
                                         _ p: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) {
    finish(s.0, tail: dotTail(x, ys.0, tail), p, alpha, beta); finish(s.1, tail: dotTail(x, ys.1, tail), p + 1, alpha, beta)
    finish(s.2, tail: dotTail(x, ys.2, tail), p + 2, alpha, beta); finish(s.3, tail: dotTail(x, ys.3, tail), p + 3, alpha, beta)
}

/// sum_kk x[kk] y[kk] for kk in the range (the k tail after the vector blocks)
@inline(__always) private func dotTail(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ ks: Range<Int>) -> Float {
    var s: Float = 0
    for kk in ks { s += x[kk] * y[kk] }
    return s
}

/// AVX-512: 4 x 4 blocks of C (rows < m & ~3, columns < n & ~3) as 16 sums of 16 lanes.
private func longKBlocks4x4(
    m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let k16 = k & ~15, m4 = m & ~3, n4 = n & ~3
    var i = 0
    while i < m4 {
        let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
        var j = 0
        while j < n4 {
            let b0 = b + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb
            var c00 = F16(), c01 = F16(), c02 = F16(), c03 = F16()
            var c10 = F16(), c11 = F16(), c12 = F16(), c13 = F16()
            var c20 = F16(), c21 = F16(), c22 = F16(), c23 = F16()
            var c30 = F16(), c31 = F16(), c32 = F16(), c33 = F16()
            var kk = 0
            while kk < k16 {
                let x0 = load16(a0 + kk), x1 = load16(a1 + kk), x2 = load16(a2 + kk), x3 = load16(a3 + kk)
                let y0 = load16(b0 + kk), y1 = load16(b1 + kk), y2 = load16(b2 + kk), y3 = load16(b3 + kk)
                c00 = c00.addingProduct(x0, y0); c01 = c01.addingProduct(x0, y1)
                c02 = c02.addingProduct(x0, y2); c03 = c03.addingProduct(x0, y3)
                c10 = c10.addingProduct(x1, y0); c11 = c11.addingProduct(x1, y1)
                c12 = c12.addingProduct(x1, y2); c13 = c13.addingProduct(x1, y3)
                c20 = c20.addingProduct(x2, y0); c21 = c21.addingProduct(x2, y1)
                c22 = c22.addingProduct(x2, y2); c23 = c23.addingProduct(x2, y3)
                c30 = c30.addingProduct(x3, y0); c31 = c31.addingProduct(x3, y1)
                c32 = c32.addingProduct(x3, y2); c33 = c33.addingProduct(x3, y3)
                kk += 16
            }
            let p0 = c + i * ldc + j, bs = (b0, b1, b2, b3)
            finishRow((c00, c01, c02, c03), a0, bs, tail: k16 ..< k, p0, alpha, beta)
            finishRow((c10, c11, c12, c13), a1, bs, tail: k16 ..< k, p0 + ldc, alpha, beta)
            finishRow((c20, c21, c22, c23), a2, bs, tail: k16 ..< k, p0 + 2 * ldc, alpha, beta)
            finishRow((c30, c31, c32, c33), a3, bs, tail: k16 ..< k, p0 + 3 * ldc, alpha, beta)
            j += 4
        }
        i += 4
    }
}

/// AVX2: 2 x 4 blocks of C (rows < m & ~1, columns < n & ~3) as 8 sums of 8 lanes.
private func longKBlocks2x4(
    m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let k8 = k & ~7, m2 = m & ~1, n4 = n & ~3
    var i = 0
    while i < m2 {
        let a0 = a + i * lda, a1 = a0 + lda
        var j = 0
        while j < n4 {
            let b0 = b + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb
            var c00 = F8(), c01 = F8(), c02 = F8(), c03 = F8(), c10 = F8(), c11 = F8(), c12 = F8(), c13 = F8()
            var kk = 0
            while kk < k8 {
                let x0 = load8(a0 + kk), x1 = load8(a1 + kk)
                var y = load8(b0 + kk); c00 = c00.addingProduct(x0, y); c10 = c10.addingProduct(x1, y)
                y = load8(b1 + kk); c01 = c01.addingProduct(x0, y); c11 = c11.addingProduct(x1, y)
                y = load8(b2 + kk); c02 = c02.addingProduct(x0, y); c12 = c12.addingProduct(x1, y)
                y = load8(b3 + kk); c03 = c03.addingProduct(x0, y); c13 = c13.addingProduct(x1, y)
                kk += 8
            }
            let p0 = c + i * ldc + j, bs = (b0, b1, b2, b3)
            finishRow((c00, c01, c02, c03), a0, bs, tail: k8 ..< k, p0, alpha, beta)
            finishRow((c10, c11, c12, c13), a1, bs, tail: k8 ..< k, p0 + ldc, alpha, beta)
            j += 4
        }
        i += 2
    }
}

/// The rest of C (rows past the blocks' rows or columns past n & ~3): one dot product each.
private func longKRest(
    blockRows: Int, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let k16 = k & ~15, n4 = n & ~3
    for i in 0 ..< m {
        for j in (i < blockRows ? n4 : 0) ..< n {
            let x = a + i * lda, y = b + j * ldb
            var acc = F16(), kk = 0
            while kk < k16 { acc = acc.addingProduct(load16(x + kk), load16(y + kk)); kk += 16 }
            finish(acc, tail: dotTail(x, y, k16 ..< k), c + i * ldc + j, alpha, beta)
        }
    }
}
