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
    // any x86-64); adding 127 too leaves n + 127, the exponent field of 2^n, in
    // the low mantissa bits (1 .. 255 over the clamped range).
    let shifted = (12_583_039 as Float).addingProduct(x, 1.442_695_04)
    let n = shifted - 12_583_039
    var r = x.addingProduct(n, -0.693_359_375)
    r = r.addingProduct(n, 2.121_944_4e-4)
    var p: Float = 1.987_569_1e-4
    p = (1.398_199_9e-3 as Float).addingProduct(p, r)
    p = (8.333_452e-3 as Float).addingProduct(p, r)
    p = (4.166_579_6e-2 as Float).addingProduct(p, r)
    p = (0.166_666_65 as Float).addingProduct(p, r)
    p = (0.5 as Float).addingProduct(p, r)
    p = (r + 1).addingProduct(p, r * r)
    // 2^n: those bits shifted into the exponent field (the rest shifts out)
    return p * Float(bitPattern: shifted.bitPattern << 23)
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
    var i = 0
    if T.self == Float.self {
        // Float by 16 lanes, two accumulators (the SIMD8<T> path does not vectorize well)
        let xf = cast(x)
        var a0 = F16(), a1 = F16()
        while i + 32 <= n { a0 += load16(xf + i); a1 += load16(xf + i + 16); i += 32 }
        if i + 16 <= n { a0 += load16(xf + i); i += 16 }
        var s = laneSum(a0 + a1)
        while i < n { s += xf[i]; i += 1 }
        return unsafeBitCast(s, to: T.self)
    }
    var acc = SIMD8<T>()
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
    var i = 0
    if T.self == Float.self {
        let xf = cast(x), yf = cast(y)
        var a0 = F16(), a1 = F16()
        while i + 32 <= n {
            a0 = a0.addingProduct(load16(xf + i), load16(yf + i)); a1 = a1.addingProduct(load16(xf + i + 16), load16(yf + i + 16))
            i += 32
        }
        if i + 16 <= n { a0 = a0.addingProduct(load16(xf + i), load16(yf + i)); i += 16 }
        var s = laneSum(a0 + a1)
        while i < n { s += xf[i] * yf[i]; i += 1 }
        return unsafeBitCast(s, to: T.self)
    }
    var acc = SIMD8<T>()
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
    if T.self == Float.self, n >= 16 {
        softmaxForwardFloat(cast(x), rows: rows, n: n)
        return
    }
    for r in 0 ..< rows {
        let p = x + r * n
        let m = maxOf(p, n)
        // exp loop without a reduction, so it vectorizes; then the sum with SIMD accumulators
        for i in 0 ..< n { p[i] = expScalar(p[i] - m) }
        let inv = 1 / sumOf(p, n)
        for i in 0 ..< n { p[i] *= inv }
    }
}

/// softmaxForward on Float rows of n >= 16: the three passes (max, exp and sum,
/// scale) by 16 lanes with fastExp16 (lane by lane expScalar: 0 below -87.3, so
/// a masked -inf score gives 0), a scalar tail past the last 16.
private func softmaxForwardFloat(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
    let n16 = n & ~15
    for r in 0 ..< rows {
        let p = x + r * n
        let m = maxOf(p, n)
        var vsum = F16()
        let vm = F16(repeating: m), low = F16(repeating: -87.3)
        var i = 0
        while i < n16 {
            let d = load16(p + i) - vm
            // fastExp16 clamps: d - d keeps a NaN a NaN, then below -87.3 (a masked -inf) 0
            let e = (fastExp16(d) + (d - d)).replacing(with: 0, where: d .< low)
            store16(e, p + i); vsum += e
            i += 16
        }
        var sum = laneSum(vsum)
        while i < n { p[i] = expScalar(p[i] - m); sum += p[i]; i += 1 }
        let inv = 1 / sum, vinv = F16(repeating: inv)
        i = 0
        while i < n16 { store16(load16(p + i) * vinv, p + i); i += 16 }
        while i < n { p[i] *= inv; i += 1 }
    }
}

// Lane-wise max of Float vectors through integer keys: the standard library's
// pointwiseMax (and compare-and-replace) on two variable Float vectors compiles
// to a loop over lanes here, the Int32 version to one vpmaxsd. The key flips
// the magnitude bits of negative numbers, so keys order as the floats do
// (-inf < ... < -0 < +0 < ... < +inf < NaN: a NaN lane wins and propagates).
@inline(__always) func orderKey(_ v: SIMD16<Float>) -> SIMD16<Int32> {
    let i = unsafeBitCast(v, to: SIMD16<Int32>.self)
    return i ^ ((i &>> 31) & 0x7fff_ffff)
}
@inline(__always) func fromOrderKey(_ k: Int32) -> Float {
    Float(bitPattern: UInt32(bitPattern: k ^ ((k &>> 31) & 0x7fff_ffff)))
}

/// The largest lane of a vector of order keys, as a Float.
@inline(__always) func laneMax(keys k: SIMD16<Int32>) -> Float {
    let a = pointwiseMax(k.lowHalf, k.highHalf), b = pointwiseMax(a.lowHalf, a.highHalf)
    let c = pointwiseMax(b.lowHalf, b.highHalf)
    return fromOrderKey(max(c[0], c[1]))
}

/// max x[0..<n] (n >= 1), with SIMD accumulators.
@inline(__always)
public func maxOf<T: KernelScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T {
    var i = 0
    var m = -T.infinity
    if T.self == Float.self, n >= 16 {
        // (the SIMD8 path below compiles to a call per vector and a loop over lanes)
        let xf = cast(x)
        var acc = orderKey(load16(xf))
        i = 16
        while i + 16 <= n { acc = pointwiseMax(acc, orderKey(load16(xf + i))); i += 16 }
        m = unsafeBitCast(laneMax(keys: acc), to: T.self)
    } else if n >= 8 {
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
    if T.self == Float.self, n >= 16 {
        // the scaling loop by 16 lanes (dx may alias dy: the compiler's version checks at run time)
        let dxf = cast(dx), dyf = cast(dy), yf = cast(y), n16 = n & ~15
        for r in 0 ..< rows {
            let o = r * n
            let s = dotOf(yf + o, dyf + o, n), vs = F16(repeating: s)
            var i = 0
            while i < n16 { store16(load16(yf + o + i) * (load16(dyf + o + i) - vs), dxf + o + i); i += 16 }
            while i < n { dxf[o + i] = yf[o + i] * (dyf[o + i] - s); i += 1 }
        }
        return
    }
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
    for pl in 0 ..< planes {
        transposeMatrix(out + pl * p, ldOut: height, x + pl * p, ldX: width, rows: height, columns: width, accumulate: accumulate)
    }
}

/// out[j, i] (+)= x[i, j] for x [rows, columns] (row strides ldX, ldOut).
/// Float: square blocks in registers (rounds of even/odd lane interleaving, one
/// two-source shuffle per row each), 16 x 16 with 32 vector registers, 8 x 8
/// with 16 (a 16 x 16 block there spills: measured 2.6x slower on AVX2), the
/// edges element by element; others by 8 x 8 tiles (both the reads and the
/// writes stay within a few cache lines).
public func transposeMatrix<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, ldOut: Int, _ x: UnsafePointer<T>, ldX: Int,
                                             rows: Int, columns: Int, accumulate: Bool = false,
                                             blocking: RegisterBlocking = nativeBlocking) {
    var rb = 0, cb = 0
    if T.self == Float.self {
        let o = cast(out), xf = cast(x)
        switch blocking {
        case .zmm32:
            rb = rows & ~15; cb = columns & ~15
            for i0 in Swift.stride(from: 0, to: rb, by: 16) {
                for j0 in Swift.stride(from: 0, to: cb, by: 16) {
                    transpose16x16(o + j0 * ldOut + i0, ldOut, xf + i0 * ldX + j0, ldX, accumulate)
                }
            }
        case .ymm16:
            rb = rows & ~7; cb = columns & ~7
            for i0 in Swift.stride(from: 0, to: rb, by: 8) {
                for j0 in Swift.stride(from: 0, to: cb, by: 8) {
                    transpose8x8(o + j0 * ldOut + i0, ldOut, xf + i0 * ldX + j0, ldX, accumulate)
                }
            }
        }
    }
    // what the register blocks left: the columns past cb of rows < rb, then rows past rb
    transposeTiles(out, ldOut: ldOut, x, ldX: ldX, rows: 0 ..< rb, columns: cb ..< columns, accumulate: accumulate)
    transposeTiles(out, ldOut: ldOut, x, ldX: ldX, rows: rb ..< rows, columns: 0 ..< columns, accumulate: accumulate)
}

private func transposeTiles<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, ldOut: Int, _ x: UnsafePointer<T>, ldX: Int,
                                             rows: Range<Int>, columns: Range<Int>, accumulate: Bool) {
    let block = 8
    for i0 in Swift.stride(from: rows.lowerBound, to: rows.upperBound, by: block) {
        let i1 = min(i0 + block, rows.upperBound)
        for j0 in Swift.stride(from: columns.lowerBound, to: columns.upperBound, by: block) {
            let j1 = min(j0 + block, columns.upperBound)
            if accumulate {
                for j in j0 ..< j1 { for i in i0 ..< i1 { out[j * ldOut + i] += x[i * ldX + j] } }
            } else {
                for j in j0 ..< j1 { for i in i0 ..< i1 { out[j * ldOut + i] = x[i * ldX + j] } }
            }
        }
    }
}

/// One 16 x 16 block. Row r, lane l is element (r, l); taking the even lanes of
/// rows 2k, 2k+1 into row k and their odd lanes into row 8 + k rotates the 8-bit
/// index (r, l) right by one bit; four rounds swap its halves: the transpose.
@inline(__always)
private func transpose16x16(_ out: UnsafeMutablePointer<Float>, _ ldOut: Int, _ x: UnsafePointer<Float>, _ ldX: Int, _ accumulate: Bool) {
    var v = (load16(x), load16(x + ldX), load16(x + 2 * ldX), load16(x + 3 * ldX),
             load16(x + 4 * ldX), load16(x + 5 * ldX), load16(x + 6 * ldX), load16(x + 7 * ldX),
             load16(x + 8 * ldX), load16(x + 9 * ldX), load16(x + 10 * ldX), load16(x + 11 * ldX),
             load16(x + 12 * ldX), load16(x + 13 * ldX), load16(x + 14 * ldX), load16(x + 15 * ldX))
    @inline(__always) func pair(_ a: F16, _ b: F16) -> (F16, F16) {
        let ab = SIMD32(lowHalf: a, highHalf: b)
        return (ab.evenHalf, ab.oddHalf)
    }
    for _ in 0 ..< 4 {
        let (e0, o0) = pair(v.0, v.1), (e1, o1) = pair(v.2, v.3), (e2, o2) = pair(v.4, v.5), (e3, o3) = pair(v.6, v.7)
        let (e4, o4) = pair(v.8, v.9), (e5, o5) = pair(v.10, v.11), (e6, o6) = pair(v.12, v.13), (e7, o7) = pair(v.14, v.15)
        v = (e0, e1, e2, e3, e4, e5, e6, e7, o0, o1, o2, o3, o4, o5, o6, o7)
    }
    @inline(__always) func put(_ r: F16, _ p: UnsafeMutablePointer<Float>) { store16(accumulate ? load16(p) + r : r, p) }
    put(v.0, out); put(v.1, out + ldOut); put(v.2, out + 2 * ldOut); put(v.3, out + 3 * ldOut)
    put(v.4, out + 4 * ldOut); put(v.5, out + 5 * ldOut); put(v.6, out + 6 * ldOut); put(v.7, out + 7 * ldOut)
    put(v.8, out + 8 * ldOut); put(v.9, out + 9 * ldOut); put(v.10, out + 10 * ldOut); put(v.11, out + 11 * ldOut)
    put(v.12, out + 12 * ldOut); put(v.13, out + 13 * ldOut); put(v.14, out + 14 * ldOut); put(v.15, out + 15 * ldOut)
}

/// One 8 x 8 block, the same way: three rounds rotate the 6-bit index.
@inline(__always)
private func transpose8x8(_ out: UnsafeMutablePointer<Float>, _ ldOut: Int, _ x: UnsafePointer<Float>, _ ldX: Int, _ accumulate: Bool) {
    var v = (load8(x), load8(x + ldX), load8(x + 2 * ldX), load8(x + 3 * ldX),
             load8(x + 4 * ldX), load8(x + 5 * ldX), load8(x + 6 * ldX), load8(x + 7 * ldX))
    @inline(__always) func pair(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        let ab = SIMD16(lowHalf: a, highHalf: b)
        return (ab.evenHalf, ab.oddHalf)
    }
    for _ in 0 ..< 3 {
        let (e0, o0) = pair(v.0, v.1), (e1, o1) = pair(v.2, v.3), (e2, o2) = pair(v.4, v.5), (e3, o3) = pair(v.6, v.7)
        v = (e0, e1, e2, e3, o0, o1, o2, o3)
    }
    @inline(__always) func put(_ r: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) { store8(accumulate ? load8(p) + r : r, p) }
    put(v.0, out); put(v.1, out + ldOut); put(v.2, out + 2 * ldOut); put(v.3, out + 3 * ldOut)
    put(v.4, out + 4 * ldOut); put(v.5, out + 5 * ldOut); put(v.6, out + 6 * ldOut); put(v.7, out + 7 * ldOut)
}
