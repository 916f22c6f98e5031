// Elementwise activations, reductions and spatial means, each forward next to
// its backward (llm.c style: outputs first, backward accumulates with +=).
//
// Shapes: n = element count; a frame is [C, B, P] with P = H * W positions.
//
// Float runs vectorizable polynomial exp (the loops then compile to AVX code);
// Double uses libm so finite-difference gradient checks see exact functions.

import RealModule

// MARK: - exp, sigmoid, tanh

/// exp(x) for Float without a libm call, so loops over it vectorize.
/// Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6
/// polynomial; relative error ~2 ulp over the clamped range.
@inline(__always)
public func fastExpFloat(_ x0: Float) -> Float {
    let x = min(max(x0, -87.3), 88.7)
    // n = round(x / ln 2) by the 1.5 * 2^23 trick (no rint call: vectorizes on
    // any x86-64), its integer value read from the low mantissa bits.
    let shifted = (12_582_912 as Float).addingProduct(x, 1.442_695_04)
    let n = shifted - 12_582_912
    let ni = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
    var r = x.addingProduct(n, -0.693_359_375)
    r = r.addingProduct(n, 2.121_944_4e-4)
    var p: Float = 1.987_569_1e-4
    p = (1.398_199_9e-3 as Float).addingProduct(p, r)
    p = (8.333_452e-3 as Float).addingProduct(p, r)
    p = (4.166_579_6e-2 as Float).addingProduct(p, r)
    p = (0.166_666_65 as Float).addingProduct(p, r)
    p = (0.5 as Float).addingProduct(p, r)
    p = (r + 1).addingProduct(p, r * r)
    // 2^n by building the exponent bits; n in [-126, 128].
    let bits = UInt32(bitPattern: (ni &+ 127) << 23)
    return p * Float(bitPattern: bits)
}

@inline(__always) func isFloat<T>(_: T.Type) -> Bool { T.self == Float.self }

/// Logistic sigmoid of one value in T's precision.
@inline(__always)
public func sigmoidScalar<T: KernelScalar>(_ x: T) -> T {
    if T.self == Float.self {
        let f = unsafeBitCast(x, to: Float.self)
        return unsafeBitCast(1 / (1 + fastExpFloat(-f)), to: T.self)
    }
    return 1 / (1 + T.exp(-x))
}

/// tanh of one value: 1 - 2 / (exp(2x) + 1), exact at both tails (no inf/inf).
@inline(__always)
public func tanhScalar<T: KernelScalar>(_ x: T) -> T {
    if T.self == Float.self {
        let f = unsafeBitCast(x, to: Float.self)
        return unsafeBitCast(1 - 2 / (fastExpFloat(2 * f) + 1), to: T.self)
    }
    return T.tanh(x)
}

/// out[i] = sigma(x[i])  (in-place allowed)
public func sigmoidForward<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, _ n: Int) {
    for i in 0 ..< n { out[i] = sigmoidScalar(x[i]) }
}
/// dx[i] += dout[i] * y[i] (1 - y[i]), with y = sigma(x) cached from forward.
public func sigmoidBackward<T: KernelScalar>(_ dx: UnsafeMutablePointer<T>, _ dout: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int) {
    for i in 0 ..< n { dx[i] += dout[i] * y[i] * (1 - y[i]) }
}

/// out[i] = tanh(x[i])
public func tanhForward<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, _ n: Int) {
    for i in 0 ..< n { out[i] = tanhScalar(x[i]) }
}
/// dx[i] += dout[i] (1 - y[i]^2), y = tanh(x) cached from forward.
public func tanhBackward<T: KernelScalar>(_ dx: UnsafeMutablePointer<T>, _ dout: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int) {
    for i in 0 ..< n { dx[i] += dout[i] * (1 - y[i] * y[i]) }
}

/// out[i] = max(x[i], 0)
public func reluForward<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, _ n: Int) {
    for i in 0 ..< n { out[i] = max(x[i], 0) }
}
/// dx[i] += dout[i] where x[i] > 0 (subgradient 0 at 0).
public func reluBackward<T: KernelScalar>(_ dx: UnsafeMutablePointer<T>, _ dout: UnsafePointer<T>, _ x: UnsafePointer<T>, _ n: Int) {
    for i in 0 ..< n where x[i] > 0 { dx[i] += dout[i] }
}

// MARK: - reductions (SIMD accumulators: a plain float sum loop does not vectorize)

// Lane reductions as a tree of half-vector operations, inlined. The standard
// library's SIMD `sum()` is a generic call that the
// compiler left out of line here (perf: a call per reduction, lane by lane),
// which cost more than the loops around them at the short rows of attention.

/// The sum of the 8 lanes, (0+4, 1+5, 2+6, 3+7) then pairs.
@inline(__always)
public func laneSum<T: KernelScalar>(_ v: SIMD8<T>) -> T {
    let a = v.lowHalf + v.highHalf, b = a.lowHalf + a.highHalf
    return b[0] + b[1]
}

/// The sum of the 16 lanes.
@inline(__always)
public func laneSum(_ v: SIMD16<Float>) -> Float { laneSum(v.lowHalf + v.highHalf) }

/// sum x[0..<n]
@inline(__always)
public func sumOf<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T {
    var acc = SIMD8<T>()
    var i = 0
    let raw = UnsafeRawPointer(x)
    while i + 8 <= n {
        acc += raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: SIMD8<T>.self)
        i += 8
    }
    var s = laneSum(acc)
    while i < n { s += x[i]; i += 1 }
    return s
}

/// sum x[i] y[i], i < n
@inline(__always)
public func dotOf<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int) -> T {
    var acc = SIMD8<T>()
    var i = 0
    let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
    let st = MemoryLayout<T>.stride
    while i + 8 <= n {
        acc += rx.loadUnaligned(fromByteOffset: i * st, as: SIMD8<T>.self)
            * ry.loadUnaligned(fromByteOffset: i * st, as: SIMD8<T>.self)
        i += 8
    }
    var s = laneSum(acc)
    while i < n { s += x[i] * y[i]; i += 1 }
    return s
}

/// Row sums of a [rows, n] matrix: out[r] (+)= alpha * sum_i x[r, i].
public func rowSums<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, rows: Int, n: Int, alpha: T = 1, accumulate: Bool = true) {
    for r in 0 ..< rows {
        let s = alpha * sumOf(x + r * n, n)
        out[r] = accumulate ? out[r] + s : s
    }
}

/// Adds bias[c] to every element of row c of a [C, n] matrix.
public func addRowBias<T: KernelScalar>(_ x: UnsafeMutablePointer<T>, _ bias: UnsafePointer<T>, rows: Int, n: Int) {
    for r in 0 ..< rows {
        let b = bias[r], p = x + r * n
        for i in 0 ..< n { p[i] += b }
    }
}

// MARK: - spatial mean per (channel, sample)

/// out[c, b] = mean_p x[c, b, p]          x [C, B, P], out [C, B]
public func spatialMeanForward<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, channels: Int, samples: Int, positions: Int) {
    let inv = 1 / T(positions)
    for cb in 0 ..< channels * samples { out[cb] = sumOf(x + cb * positions, positions) * inv }
}
/// dx[c, b, p] += dout[c, b] / P
public func spatialMeanBackward<T: KernelScalar>(_ dx: UnsafeMutablePointer<T>, _ dout: UnsafePointer<T>, channels: Int, samples: Int, positions: Int) {
    let inv = 1 / T(positions)
    for cb in 0 ..< channels * samples {
        let g = dout[cb] * inv, p = dx + cb * positions
        for i in 0 ..< positions { p[i] += g }
    }
}

// MARK: - softmax over rows

/// In place: each row of x [rows, n] becomes softmax(row). Entries at -infinity
/// (masked) become 0. Every row must have at least one finite entry.
public func softmaxForward<T: KernelScalar>(_ x: UnsafeMutablePointer<T>, rows: Int, n: Int) {
    for r in 0 ..< rows {
        let p = x + r * n
        let m = maxOf(p, n)
        // exp loop without a reduction, so it vectorizes; then the sum with SIMD accumulators
        for i in 0 ..< n { p[i] = expScalar(p[i] - m) }
        let inv = 1 / sumOf(p, n)
        for i in 0 ..< n { p[i] *= inv }
    }
}

/// max x[0..<n] (n >= 1), with SIMD accumulators.
@inline(__always)
public func maxOf<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T {
    var i = 0
    var m = -T.infinity
    if n >= 8 {
        let raw = UnsafeRawPointer(x)
        var acc = raw.loadUnaligned(as: SIMD8<T>.self)
        i = 8
        while i + 8 <= n {
            acc = pointwiseMax(acc, raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: SIMD8<T>.self))
            i += 8
        }
        m = acc.max()
    }
    while i < n { m = max(m, x[i]); i += 1 }
    return m
}

/// dx[r, i] = y[r, i] (dy[r, i] - sum_j y[r, j] dy[r, j])   (written, not accumulated;
/// dx may alias dy).
public func softmaxBackward<T: KernelScalar>(_ dx: UnsafeMutablePointer<T>, _ dy: UnsafePointer<T>, _ y: UnsafePointer<T>, rows: Int, n: Int) {
    for r in 0 ..< rows {
        let o = r * n
        let s = dotOf(y + o, dy + o, n)
        for i in 0 ..< n { dx[o + i] = y[o + i] * (dy[o + i] - s) }
    }
}

@inline(__always)
public func expScalar<T: KernelScalar>(_ x: T) -> T {
    if T.self == Float.self {
        // fastExpFloat clamps; below its range (e.g. a masked -inf score) the result is exactly 0.
        let f = unsafeBitCast(x, to: Float.self)
        let e = fastExpFloat(f)
        return unsafeBitCast(f < -87.3 ? 0 : e, to: T.self)
    }
    return T.exp(x)
}

// MARK: - layout helpers

/// out[c, b, j, i] = x[c, b, i, j]: swaps the two spatial axes of a [C*B, H, W] stack
/// (column attention needs unit stride along columns for BLAS).
public func transposePlanes<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, planes: Int, height: Int, width: Int, accumulate: Bool = false) {
    let p = height * width
    let block = 8  // 8 x 8 tiles: both the reads and the writes stay within a few cache lines
    for pl in 0 ..< planes {
        let src = x + pl * p, dst = out + pl * p
        for i0 in Swift.stride(from: 0, to: height, by: block) {
            let i1 = min(i0 + block, height)
            for j0 in Swift.stride(from: 0, to: width, by: block) {
                let j1 = min(j0 + block, width)
                if accumulate {
                    for j in j0 ..< j1 { for i in i0 ..< i1 { dst[j * height + i] += src[i * width + j] } }
                } else {
                    for j in j0 ..< j1 { for i in i0 ..< i1 { dst[j * height + i] = src[i * width + j] } }
                }
            }
        }
    }
}
