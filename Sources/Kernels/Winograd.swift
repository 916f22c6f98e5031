// Winograd F(2x2, 3x3) for the ConvLSTM cell's 3x3 "same" convolutions
// (Lavin & Gray 2015): every 2x2 block of outputs (a "tile") is
//
//   Y = A^T [ U (.) V ] A,   U = G g G^T (3x3 filter -> 4x4),  V = B^T d B (4x4 input patch)
//
// with d the 4x4 input patch whose top-left is (2 ty - 1, 2 tx - 1) (zero outside
// the image) and (.) the elementwise product, summed over input channels. Per
// tile and channel pair that is 16 multiplies instead of 36: the sum over
// channels of U (.) V is 16 GEMMs, one per transform position xi = 4 alpha + beta,
// M[xi] [Cout, tiles] = U[xi] [Cout, Cin] V[xi] [Cin, tiles].
// In one dimension (F(2, 3), cross-correlation y_j = sum_a g_a d_{j+a}):
//
//   B^T d: (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
//   G g:   (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)
//   A^T m: (m0 + m1 + m2, m1 - m2 - m3)
//
// The 2-D transforms apply the 1-D ones along rows, then along columns.
// Backward (the adjoints, same algebra transposed), with dY the output gradient:
//
//   dM = A dY A^T;  dU[xi] += dM[xi] V[xi]^T;  dV[xi] = U[xi]^T dM[xi]
//   dd = B dV B^T (added into the overlapping input patches);  dg = G^T dU G
//
// All exact in exact arithmetic (the factors 1/2 are exact in binary), so the
// Float64 gradient checks hold to rounding; in Float32 the outputs differ from a
// direct convolution by a few ulp of the sums.
//
// Layouts: images [C, samples, H, W] (channel stride samples H W); transform
// buffers [16, rows, tiles] with `planeStride` elements between the xi planes
// and `tiles` = (ty1 - ty0) * tileCols columns per row, tile (ty, tx) at column
// (ty - ty0) * tileCols + tx. Tiles cover ceil(H/2) x ceil(W/2); outputs past
// an odd edge are not stored, inputs past the edge are the zero padding.

/// Tile rows and columns of a height x width image.
public func winogradTiles(height: Int, width: Int) -> (rows: Int, cols: Int) {
    ((height + 1) / 2, (width + 1) / 2)
}

/// Elements between the 16 planes of a [16, rows, tiles] transform buffer: at
/// least rows * tiles, and 16 elements past a multiple of 1024, so that the 16
/// planes the transforms read or write side by side start on 16 different cache
/// lines of a 4 KB page (at a multiple of 4 KB they share L1 sets: the output
/// adjoint at [128, 256] planes ran 8.5 ms instead of 0.98).
public func winogradPlaneStride(rows: Int, tiles: Int) -> Int {
    (rows * tiles + 1023) / 1024 * 1024 + 16
}

/// V = B^T d B for tile rows ty0 ..< ty1 of sample `sample`, every channel:
/// v[xi * planeStride + c * tiles + tile].
public func winogradInputTransform<T: KernelScalar>(
    _ v: UnsafeMutablePointer<T>, planeStride: Int, _ inp: UnsafePointer<T>,
    channels: Int, samples: Int, sample s: Int, height: Int, width: Int, tileRows ty0: Int, _ ty1: Int
) {
    let tw = (width + 1) / 2, tiles = (ty1 - ty0) * tw, wp = 2 * tw + 2, p = height * width
    withUnsafeTemporaryAllocation(of: T.self, capacity: 4 * wp) { buf in
        let r = buf.baseAddress!   // 4 padded rows, element x + 1 is image column x
        for c in 0 ..< channels {
            let src = inp + (c * samples + s) * p
            for ty in ty0 ..< ty1 {
                // the patch rows 2ty-1 ... 2ty+2, zero outside the image
                for a in 0 ..< 4 {
                    let y = 2 * ty - 1 + a, row = r + a * wp
                    row.update(repeating: 0, count: wp)
                    if y >= 0 && y < height { (row + 1).update(from: src + y * width, count: width) }
                }
                // along y, in place: (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
                let r0 = r, r1 = r + wp, r2 = r + 2 * wp, r3 = r + 3 * wp
                for x in 0 ..< wp {
                    let d0 = r0[x], d1 = r1[x], d2 = r2[x], d3 = r3[x]
                    r0[x] = d0 - d2; r1[x] = d1 + d2; r2[x] = d2 - d1; r3[x] = d1 - d3
                }
                // along x, per tile, into the 16 planes (8 tiles at a time: 16 + 2 padded columns)
                let out = v + c * tiles + (ty - ty0) * tw, ps = planeStride
                for a in 0 ..< 4 {
                    let row = r + a * wp, o = out + 4 * a * ps
                    var tx = 0
                    while tx + 8 <= tw {
                        let lo = load16(row + 2 * tx), hi = load16(row + 2 * tx + 2)
                        let x0 = lo.evenHalf, x1 = lo.oddHalf, x2 = hi.evenHalf, x3 = hi.oddHalf
                        store8(x0 - x2, o + tx); store8(x1 + x2, o + ps + tx)
                        store8(x2 - x1, o + 2 * ps + tx); store8(x1 - x3, o + 3 * ps + tx)
                        tx += 8
                    }
                    for tx in tx ..< tw {
                        let x0 = row[2 * tx], x1 = row[2 * tx + 1], x2 = row[2 * tx + 2], x3 = row[2 * tx + 3]
                        o[tx] = x0 - x2
                        o[ps + tx] = x1 + x2
                        o[2 * ps + tx] = x2 - x1
                        o[3 * ps + tx] = x1 - x3
                    }
                }
            }
        }
    }
}

/// The adjoint of `winogradInputTransform`: dIn += B dV B^T over every tile's
/// patch (patches overlap by two rows and columns; padding entries are dropped).
public func winogradInputTransformAdjointAdd<T: KernelScalar>(
    _ dIn: UnsafeMutablePointer<T>, _ dv: UnsafePointer<T>, planeStride: Int,
    channels: Int, samples: Int, sample s: Int, height: Int, width: Int, tileRows ty0: Int, _ ty1: Int
) {
    let tw = (width + 1) / 2, tiles = (ty1 - ty0) * tw, wp = 2 * tw + 2, p = height * width
    withUnsafeTemporaryAllocation(of: T.self, capacity: 4 * wp) { buf in
        let r = buf.baseAddress!
        for c in 0 ..< channels {
            let dst = dIn + (c * samples + s) * p
            for ty in ty0 ..< ty1 {
                // along x: a tile's (dv0, dv1 - dv2 + dv3, -dv0 + dv1 + dv2, -dv3) goes to its
                // columns 2tx-1 ... 2tx+2, so padded entry 2tx gets tile tx's first and tile
                // tx-1's third, entry 2tx+1 tile tx's second and tile tx-1's fourth
                let g = dv + c * tiles + (ty - ty0) * tw, ps = planeStride
                for a in 0 ..< 4 {
                    let row = r + a * wp, q = g + 4 * a * ps
                    @inline(__always) func first(_ tx: Int) -> (T, T) {
                        (q[tx], q[ps + tx] - q[2 * ps + tx] + q[3 * ps + tx])
                    }
                    @inline(__always) func last(_ tx: Int) -> (T, T) {
                        (q[ps + tx] + q[2 * ps + tx] - q[tx], -q[3 * ps + tx])
                    }
                    (row[0], row[1]) = first(0)
                    var tx = 1
                    while tx + 8 <= tw {
                        let v0 = load8(q + tx), v1 = load8(q + ps + tx), v2 = load8(q + 2 * ps + tx), v3 = load8(q + 3 * ps + tx)
                        let u0 = load8(q + tx - 1), u1 = load8(q + ps + tx - 1), u2 = load8(q + 2 * ps + tx - 1)
                        let u3 = load8(q + 3 * ps + tx - 1)
                        store16(interleave(v0 + (u1 + u2 - u0), v1 - v2 + v3 - u3), row + 2 * tx)
                        tx += 8
                    }
                    for tx in tx ..< tw {
                        let (e0, e1) = first(tx), (p2, p3) = last(tx - 1)
                        row[2 * tx] = e0 + p2; row[2 * tx + 1] = e1 + p3
                    }
                    (row[2 * tw], row[2 * tw + 1]) = last(tw - 1)
                }
                // along y, the same, into rows 2ty-1 ... 2ty+2 where inside the image
                let r0 = r + 1, r1 = r + wp + 1, r2 = r + 2 * wp + 1, r3 = r + 3 * wp + 1
                let y = 2 * ty - 1
                if y >= 0 { addRow(dst + y * width, count: width) { r0[$0] } }
                addRow(dst + (y + 1) * width, count: width) { r1[$0] - r2[$0] + r3[$0] }
                if y + 2 < height { addRow(dst + (y + 2) * width, count: width) { r1[$0] + r2[$0] - r0[$0] } }
                if y + 3 < height { addRow(dst + (y + 3) * width, count: width) { -r3[$0] } }
            }
        }
    }
}

/// d[x] += value(x), x < count.
@inline(__always) private func addRow<T: KernelScalar>(_ d: UnsafeMutablePointer<T>, count: Int, _ value: (Int) -> T) {
    for x in 0 ..< count { d[x] += value(x) }
}

/// (a0, b0, a1, b1, ...)
@inline(__always) private func interleave<T: KernelScalar>(_ a: SIMD8<T>, _ b: SIMD8<T>) -> SIMD16<T> {
    var v = SIMD16<T>()
    v.evenHalf = a; v.oddHalf = b
    return v
}
/// Y = A^T M A for tile rows ty0 ..< ty1 of sample `sample`: writes (not adds)
/// out's rows 2ty0 ..< min(H, 2ty1) of every channel.
public func winogradOutputTransform<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, _ m: UnsafePointer<T>, planeStride: Int,
    channels: Int, samples: Int, sample s: Int, height: Int, width: Int, tileRows ty0: Int, _ ty1: Int
) {
    let tw = (width + 1) / 2, tiles = (ty1 - ty0) * tw, p = height * width, ps = planeStride
    let pairs = width / 2   // tiles whose two output columns are both inside
    for c in 0 ..< channels {
        let dst = out + (c * samples + s) * p
        for ty in ty0 ..< ty1 {
            let q = m + c * tiles + (ty - ty0) * tw
            let y0 = dst + 2 * ty * width
            let y1: UnsafeMutablePointer<T>? = 2 * ty + 1 < height ? y0 + width : nil
            @inline(__always) func tile(_ tx: Int) -> (T, T, T, T) {
                // along x per row alpha: (m0 + m1 + m2, m1 - m2 - m3); then along y
                @inline(__always) func alongX(_ a: Int) -> (T, T) {
                    let r = q + 4 * a * ps + tx
                    let m0 = r[0], m1 = r[ps], m2 = r[2 * ps], m3 = r[3 * ps]
                    return (m0 + m1 + m2, m1 - m2 - m3)
                }
                let (s00, s01) = alongX(0), (s10, s11) = alongX(1), (s20, s21) = alongX(2), (s30, s31) = alongX(3)
                return (s00 + s10 + s20, s01 + s11 + s21, s10 - s20 - s30, s11 - s21 - s31)
            }
            var tx = 0
            while tx + 8 <= pairs {   // 8 tiles at a time, the same sums on vectors
                @inline(__always) func alongX(_ a: Int) -> (SIMD8<T>, SIMD8<T>) {
                    let r = q + 4 * a * ps + tx
                    let m0 = load8(r), m1 = load8(r + ps), m2 = load8(r + 2 * ps), m3 = load8(r + 3 * ps)
                    return (m0 + m1 + m2, m1 - m2 - m3)
                }
                let (s00, s01) = alongX(0), (s10, s11) = alongX(1), (s20, s21) = alongX(2), (s30, s31) = alongX(3)
                store16(interleave(s00 + s10 + s20, s01 + s11 + s21), y0 + 2 * tx)
                if let y1 { store16(interleave(s10 - s20 - s30, s11 - s21 - s31), y1 + 2 * tx) }
                tx += 8
            }
            for tx in tx ..< pairs {
                let (a, b, c, d) = tile(tx)
                y0[2 * tx] = a; y0[2 * tx + 1] = b
                if let y1 { y1[2 * tx] = c; y1[2 * tx + 1] = d }
            }
            if pairs < tw {   // odd width: the last tile's first column only
                let (a, _, c, _) = tile(pairs)
                y0[2 * pairs] = a
                if let y1 { y1[2 * pairs] = c }
            }
        }
    }
}

/// The adjoint of `winogradOutputTransform`: dM = A dY A^T per tile (dY zero
/// past the image edge), written to dm[xi * planeStride + c * tiles + tile].
public func winogradOutputTransformAdjoint<T: KernelScalar>(
    _ dm: UnsafeMutablePointer<T>, planeStride: Int, _ dOut: UnsafePointer<T>,
    channels: Int, samples: Int, sample s: Int, height: Int, width: Int, tileRows ty0: Int, _ ty1: Int
) {
    let tw = (width + 1) / 2, tiles = (ty1 - ty0) * tw, p = height * width, ps = planeStride
    for c in 0 ..< channels {
        let src = dOut + (c * samples + s) * p
        for ty in ty0 ..< ty1 {
            let o = dm + c * tiles + (ty - ty0) * tw
            let y0 = src + 2 * ty * width, hasY1 = 2 * ty + 1 < height
            var tx = 0
            while tx + 8 <= width / 2 {   // 8 tiles at a time, the same sums on vectors
                let top = load16(y0 + 2 * tx), bottom = hasY1 ? load16(y0 + width + 2 * tx) : SIMD16<T>()
                let a = top.evenHalf, b = top.oddHalf, c = bottom.evenHalf, d = bottom.oddHalf
                @inline(__always) func alongY(_ beta: Int, _ e0: SIMD8<T>, _ e1: SIMD8<T>) {
                    let w = o + beta * ps + tx
                    store8(e0, w)
                    store8(e0 + e1, w + 4 * ps)
                    store8(e0 - e1, w + 8 * ps)
                    store8(-e1, w + 12 * ps)
                }
                alongY(0, a, c)
                alongY(1, a + b, c + d)
                alongY(2, a - b, c - d)
                alongY(3, -b, -d)
                tx += 8
            }
            for tx in tx ..< tw {
                let x1in = 2 * tx + 1 < width
                let a = y0[2 * tx], b = x1in ? y0[2 * tx + 1] : 0
                let c = hasY1 ? y0[width + 2 * tx] : 0, d = hasY1 && x1in ? y0[width + 2 * tx + 1] : 0
                // along x per output row: (y0, y0 + y1, y0 - y1, -y1); then along y alike
                @inline(__always) func alongY(_ beta: Int, _ e0: T, _ e1: T) {
                    let w = o + beta * ps + tx
                    w[0] = e0
                    w[4 * ps] = e0 + e1
                    w[8 * ps] = e0 - e1
                    w[12 * ps] = -e1
                }
                alongY(0, a, c)
                alongY(1, a + b, c + d)
                alongY(2, a - b, c - d)
                alongY(3, -b, -d)
            }
        }
    }
}

/// U = G g G^T for filters w [outChannels, inChannels, 3, 3]:
/// u[xi * planeStride + o * ldu + i].
public func winogradWeightTransform<T: KernelScalar>(
    _ u: UnsafeMutablePointer<T>, planeStride: Int, ldu: Int, _ w: UnsafePointer<T>, outChannels: Int, inChannels: Int
) {
    let half: T = 0.5
    for o in 0 ..< outChannels {
        for i in 0 ..< inChannels {
            let g = w + (o * inChannels + i) * 9, dst = u + o * ldu + i
            // G along the filter's rows for each column (gRow), then along its columns
            for alpha in 0 ..< 4 {
                @inline(__always) func gRow(_ b: Int) -> T {
                    let g0 = g[b], g1 = g[3 + b], g2 = g[6 + b]
                    switch alpha {
                    case 0: return g0
                    case 1: return half * (g0 + g1 + g2)
                    case 2: return half * (g0 - g1 + g2)
                    default: return g2
                    }
                }
                let c0 = gRow(0), c1 = gRow(1), c2 = gRow(2)
                let row = dst + 4 * alpha * planeStride
                row[0] = c0
                row[planeStride] = half * (c0 + c1 + c2)
                row[2 * planeStride] = half * (c0 - c1 + c2)
                row[3 * planeStride] = c2
            }
        }
    }
}

/// The adjoint of `winogradWeightTransform`: dw += G^T dU G.
public func winogradWeightTransformAdjointAdd<T: KernelScalar>(
    _ dw: UnsafeMutablePointer<T>, _ du: UnsafePointer<T>, planeStride: Int, ldu: Int, outChannels: Int, inChannels: Int
) {
    let half: T = 0.5
    for o in 0 ..< outChannels {
        for i in 0 ..< inChannels {
            let src = du + o * ldu + i, g = dw + (o * inChannels + i) * 9
            // G^T along beta for each alpha: (u0 + (u1 + u2)/2, (u1 - u2)/2, (u1 + u2)/2 + u3)
            @inline(__always) func alongBeta(_ alpha: Int) -> (T, T, T) {
                let r = src + 4 * alpha * planeStride
                let u0 = r[0], u1 = r[planeStride], u2 = r[2 * planeStride], u3 = r[3 * planeStride]
                return (u0 + half * (u1 + u2), half * (u1 - u2), half * (u1 + u2) + u3)
            }
            let e0 = alongBeta(0), e1 = alongBeta(1), e2 = alongBeta(2), e3 = alongBeta(3)
            // then along alpha, into the filter's rows
            g[0] += e0.0 + half * (e1.0 + e2.0); g[1] += e0.1 + half * (e1.1 + e2.1); g[2] += e0.2 + half * (e1.2 + e2.2)
            g[3] += half * (e1.0 - e2.0);        g[4] += half * (e1.1 - e2.1);        g[5] += half * (e1.2 - e2.2)
            g[6] += half * (e1.0 + e2.0) + e3.0; g[7] += half * (e1.1 + e2.1) + e3.1; g[8] += half * (e1.2 + e2.2) + e3.2
        }
    }
}
