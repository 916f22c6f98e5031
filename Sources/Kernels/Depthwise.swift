// Depthwise k x k convolution with dilation d and zero "same" padding of
// d (k-1)/2 (MODEL.md cell step 2), cross-correlation:
//   out[c,b,y,x] += sum_{a,e} w[c,a,e] in[c,b, y + d(a-h), x + d(e-h)],  h = (k-1)/2
//
// Shapes: in, out [C, B, H, W]; w [C, k, k].
// The fast version walks the k*k taps and, per tap, adds a shifted row of the
// input to a row of the output: a contiguous axpy the compiler vectorizes.

/// Rows/columns of the output that a tap with offset `off` touches inside [0, n).
@inline(__always)
private func validRange(_ off: Int, _ n: Int) -> (Int, Int) {
    (max(0, -off), min(n, n - off))
}

/// out[c,b] += DW(in[c,b]; w[c], d)   (accumulates: several dilations sum into one M)
public func depthwiseForward<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>, _ w: UnsafePointer<T>,
    channels: Int, samples: Int, height: Int, width: Int, kernel k: Int, dilation d: Int
) {
    let h = (k - 1) / 2, p = height * width
    for c in 0 ..< channels {
        for b in 0 ..< samples {
            let src = inp + (c * samples + b) * p, dst = out + (c * samples + b) * p
            for a in 0 ..< k {
                let dy = d * (a - h)
                let (y0, y1) = validRange(dy, height)
                for e in 0 ..< k {
                    let dx = d * (e - h)
                    let (x0, x1) = validRange(dx, width)
                    if x0 >= x1 { continue }
                    let wv = w[(c * k + a) * k + e]
                    for y in y0 ..< max(y0, y1) {
                        let o = dst + y * width, s = src + (y + dy) * width + dx
                        for x in x0 ..< x1 { o[x] += wv * s[x] }
                    }
                }
            }
        }
    }
}

/// dIn[c,b] += DW^T(dOut) (the tap rows added back at the shifted place);
/// dW[c,a,e] += sum_{b,y,x} dOut[c,b,y,x] in[c,b, y+dy, x+dx].
/// `dIn` nil skips the input gradient.
public func depthwiseBackward<T: KernelScalar>(
    dIn: UnsafeMutablePointer<T>?, dW: UnsafeMutablePointer<T>,
    dOut: UnsafePointer<T>, inp: UnsafePointer<T>, w: UnsafePointer<T>,
    channels: Int, samples: Int, height: Int, width: Int, kernel k: Int, dilation d: Int
) {
    let h = (k - 1) / 2, p = height * width
    for c in 0 ..< channels {
        for b in 0 ..< samples {
            let src = inp + (c * samples + b) * p, g = dOut + (c * samples + b) * p
            let dsrc = dIn.map { $0 + (c * samples + b) * p }
            for a in 0 ..< k {
                let dy = d * (a - h)
                let (y0, y1) = validRange(dy, height)
                for e in 0 ..< k {
                    let dx = d * (e - h)
                    let (x0, x1) = validRange(dx, width)
                    if x0 >= x1 || y0 >= y1 { continue }
                    let wi = (c * k + a) * k + e
                    let wv = w[wi]
                    // dW: one SIMD accumulator over the whole tap (a per-row dot
                    // with a horizontal sum each row costs more than the products)
                    let len = x1 - x0
                    var accv = SIMD8<T>()
                    var acc: T = 0
                    let st = MemoryLayout<T>.stride
                    for y in y0 ..< y1 {
                        let go = UnsafeRawPointer(g + y * width + x0), s = UnsafeRawPointer(src + (y + dy) * width + dx + x0)
                        var x = 0
                        while x + 8 <= len {
                            accv += go.loadUnaligned(fromByteOffset: x * st, as: SIMD8<T>.self)
                                * s.loadUnaligned(fromByteOffset: x * st, as: SIMD8<T>.self)
                            x += 8
                        }
                        let gt = g + y * width + x0, sp = src + (y + dy) * width + dx + x0
                        while x < len { acc += gt[x] * sp[x]; x += 1 }
                        if let dsrc {
                            let ds = dsrc + (y + dy) * width + dx
                            let gr = g + y * width
                            for x in x0 ..< x1 { ds[x] += wv * gr[x] }
                        }
                    }
                    acc += laneSum(accv)
                    dW[wi] += acc
                }
            }
        }
    }
}

/// Naive reference, straight from the formula (tests only). Writes out (=).
public func depthwiseForwardNaive<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>, _ w: UnsafePointer<T>,
    channels: Int, samples: Int, height: Int, width: Int, kernel k: Int, dilation d: Int
) {
    let h = (k - 1) / 2
    for c in 0 ..< channels {
        for b in 0 ..< samples {
            for y in 0 ..< height {
                for x in 0 ..< width {
                    var s: T = 0
                    for a in 0 ..< k {
                        for e in 0 ..< k {
                            let yy = y + d * (a - h), xx = x + d * (e - h)
                            if yy < 0 || yy >= height || xx < 0 || xx >= width { continue }
                            s += w[(c * k + a) * k + e] * inp[((c * samples + b) * height + yy) * width + xx]
                        }
                    }
                    out[((c * samples + b) * height + y) * width + x] = s
                }
            }
        }
    }
}

// MARK: - fast multi-dilation mixing (MODEL.md cell step 2 for all dilations at once)
//
//   M[c,b,y,x] = bias[c] + sum_j sum_{a,e} w_j[c,a,e] U[c,b, y + D_j(a-h), x + D_j(e-h)]
//
// Shapes: U, M [C, B, H, W]; w [|D|, C, k, k] (the mix.dw<j> tensors, consecutive in
// the flat layout); bias [C]; padded copies [C, B, H + 2 pad, W + 2 pad] with
// pad = max_j D_j (k-1)/2 and zeros around. With the zero border every tap is a
// plain shifted load, so each 8-wide chunk of an output row sums all |D| k^2 taps in
// a register and is stored once.

/// pad = max_j D_j (k - 1) / 2
public func mixPadding(kernel k: Int, dilations: [Int]) -> Int { (dilations.max() ?? 1) * (k - 1) / 2 }

/// padded[c, b] = x[c, b] with `pad` zeros on every side.
public func padPlanes<T: KernelScalar>(_ padded: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, planes: Int, height: Int, width: Int, pad: Int) {
    let wp = width + 2 * pad, hp = height + 2 * pad
    for pl in 0 ..< planes {
        let dst = padded + pl * hp * wp, src = x + pl * height * width
        dst.initialize(repeating: 0, count: pad * wp)
        for y in 0 ..< height {
            let row = dst + (y + pad) * wp
            for i in 0 ..< pad { row[i] = 0; row[pad + width + i] = 0 }
            (row + pad).update(from: src + y * width, count: width)
        }
        (dst + (pad + height) * wp).initialize(repeating: 0, count: pad * wp)
    }
}

/// out[pl] = x[pl] * scale[pl] + shift[pl] / positions (each product and sum rounded
/// as written) and padded[pl] = out[pl] with `pad` zeros on every side, in one
/// pass: the SE backward's dM = ex * dMt + dSq / P and its zero-padded copy, the
/// same bits as scaleBySample, spatialMeanBackward and padPlanes one after the other.
/// out may alias x.
public func scaleShiftPadPlanes<T: KernelScalar>(out: UnsafeMutablePointer<T>, padded: UnsafeMutablePointer<T>,
                                                 _ x: UnsafePointer<T>, scale: UnsafePointer<T>, shift: UnsafePointer<T>,
                                                 planes: Int, height: Int, width: Int, pad: Int) {
    let wp = width + 2 * pad, hp = height + 2 * pad, inv = 1 / T(height * width)
    for pl in 0 ..< planes {
        let dst = padded + pl * hp * wp, src = x + pl * height * width, o = out + pl * height * width
        let s = scale[pl], g = shift[pl] * inv
        dst.initialize(repeating: 0, count: pad * wp)
        for y in 0 ..< height {
            let row = dst + (y + pad) * wp + pad, sr = src + y * width, orow = o + y * width
            for i in 0 ..< pad { row[i - pad] = 0; row[width + i] = 0 }
            for i in 0 ..< width {
                let v = sr[i] * s + g
                orow[i] = v; row[i] = v
            }
        }
        (dst + (pad + height) * wp).initialize(repeating: 0, count: pad * wp)
    }
}

/// out[c,b,y,x] = bias[c] + sum_j sum_{a,e} w_j[c,a,e] padded[c,b, y + pad + s D_j(a-h), x + pad + s D_j(e-h)],
/// s = +1 (forward), or s = -1 with the same weights (the input gradient of the forward).
public func mixForward<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, padded: UnsafePointer<T>, w: UnsafePointer<T>, bias: UnsafePointer<T>?,
    dilations: [Int], channels: Int, samples: Int, height: Int, width: Int, kernel k: Int, pad: Int, flip: Bool = false
) {
    let h = (k - 1) / 2, wp = width + 2 * pad, hp = height + 2 * pad, kk = k * k
    let sign = flip ? -1 : 1
    let taps = dilations.count * kk
    // Per tap: its offset in the padded plane and (per channel) its weight, on the stack.
    withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { offs in
        withUnsafeTemporaryAllocation(of: T.self, capacity: taps) { wt in
            var t = 0
            for d in dilations {
                for a in 0 ..< k { for e in 0 ..< k { offs[t] = sign * d * ((a - h) * wp + (e - h)); t += 1 } }
            }
            for c in 0 ..< channels {
                for j in 0 ..< dilations.count { for i in 0 ..< kk { wt[j * kk + i] = w[(j * channels + c) * kk + i] } }
                let b0: T = bias?[c] ?? 0
                for b in 0 ..< samples {
                    let src = padded + (c * samples + b) * hp * wp + pad * wp + pad
                    let dst = out + (c * samples + b) * height * width
                    for y in 0 ..< height {
                        mixRow(dst + y * width, src + y * wp, offs.baseAddress!, wt.baseAddress!, taps, width, b0)
                    }
                }
            }
        }
    }
}

/// One output row: out[x] = b0 + sum_t wt[t] src[x + offs[t]], 32 then 8 then 1 columns
/// at a time (4 accumulators share each weight broadcast).
@inline(__always)
private func mixRow<T: KernelScalar>(_ out: UnsafeMutablePointer<T>, _ src: UnsafePointer<T>, _ offs: UnsafePointer<Int>,
                                     _ wt: UnsafePointer<T>, _ taps: Int, _ width: Int, _ b0: T) {
    let st = MemoryLayout<T>.stride
    var x = 0
    while x + 32 <= width {
        var a0 = SIMD8<T>(repeating: b0), a1 = a0, a2 = a0, a3 = a0
        for t in 0 ..< taps {
            let wv = SIMD8<T>(repeating: wt[t])
            let p = UnsafeRawPointer(src + x + offs[t])
            a0 += wv * p.loadUnaligned(as: SIMD8<T>.self)
            a1 += wv * p.loadUnaligned(fromByteOffset: 8 * st, as: SIMD8<T>.self)
            a2 += wv * p.loadUnaligned(fromByteOffset: 16 * st, as: SIMD8<T>.self)
            a3 += wv * p.loadUnaligned(fromByteOffset: 24 * st, as: SIMD8<T>.self)
        }
        let o = UnsafeMutableRawPointer(out + x)
        o.storeBytes(of: a0, as: SIMD8<T>.self)
        o.storeBytes(of: a1, toByteOffset: 8 * st, as: SIMD8<T>.self)
        o.storeBytes(of: a2, toByteOffset: 16 * st, as: SIMD8<T>.self)
        o.storeBytes(of: a3, toByteOffset: 24 * st, as: SIMD8<T>.self)
        x += 32
    }
    while x + 8 <= width {
        var a0 = SIMD8<T>(repeating: b0)
        for t in 0 ..< taps {
            a0 += SIMD8<T>(repeating: wt[t]) * UnsafeRawPointer(src + x + offs[t]).loadUnaligned(as: SIMD8<T>.self)
        }
        UnsafeMutableRawPointer(out + x).storeBytes(of: a0, as: SIMD8<T>.self)
        x += 8
    }
    while x < width {
        var a = b0
        for t in 0 ..< taps { a += wt[t] * src[x + offs[t]] }
        out[x] = a
        x += 1
    }
}

/// dW_j[c,a,e] += sum_{b,y,x} dOut[c,b,y,x] padded[c,b, y + pad + D_j(a-h), x + pad + D_j(e-h)];
/// dBias[c] += sum dOut[c]. (The input gradient is `mixForward(flip: true)` on padded dOut.)
public func mixWeightGradient<T: KernelScalar>(
    dW: UnsafeMutablePointer<T>, dBias: UnsafeMutablePointer<T>?, dOut: UnsafePointer<T>, padded: UnsafePointer<T>,
    dilations: [Int], channels: Int, samples: Int, height: Int, width: Int, kernel k: Int, pad: Int
) {
    if T.self == Float.self, k == 3 {
        mixWeightGradient3x3(dW: cast(dW), dBias: dBias.map(cast), dOut: cast(dOut), padded: cast(padded), dilations: dilations,
                             channels: channels, samples: samples, height: height, width: width, pad: pad)
        return
    }
    let h = (k - 1) / 2, wp = width + 2 * pad, hp = height + 2 * pad, kk = k * k, p = height * width
    let taps = dilations.count * kk
    withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { offs in
        var t = 0
        for d in dilations {
            for a in 0 ..< k { for e in 0 ..< k { offs[t] = d * ((a - h) * wp + (e - h)); t += 1 } }
        }
        for c in 0 ..< channels {
            for b in 0 ..< samples {
                let src = padded + (c * samples + b) * hp * wp + pad * wp + pad, g = dOut + (c * samples + b) * p
                if let dBias { dBias[c] += sumOf(g, p) }
                for t in 0 ..< taps {
                    let j = t / kk
                    dW[(j * channels + c) * kk + t % kk] += mixTapDot(g, src + offs[t], height, width, wp)
                }
            }
        }
    }
}

/// mixWeightGradient for Float and k = 3: per dilation, the nine taps' dot
/// products in one pass over the rows (nine 16-lane accumulators, each dOut
/// vector loaded once for all nine), instead of one pass per tap.
private func mixWeightGradient3x3(
    dW: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>, padded: UnsafePointer<Float>,
    dilations: [Int], channels: Int, samples: Int, height: Int, width: Int, pad: Int
) {
    let wp = width + 2 * pad, hp = height + 2 * pad, p = height * width, w16 = width & ~15
    for c in 0 ..< channels {
        for b in 0 ..< samples {
            let src = padded + (c * samples + b) * hp * wp + pad * wp + pad, g = dOut + (c * samples + b) * p
            if let dBias { dBias[c] += sumOf(g, p) }
            for (j, d) in dilations.enumerated() {
                // tap (a, e) reads src at d ((a - 1) wp + (e - 1)) from the output position
                let up = -d * wp, dn = d * wp
                var a0 = F16(), a1 = F16(), a2 = F16(), a3 = F16(), a4 = F16(), a5 = F16(), a6 = F16(), a7 = F16(), a8 = F16()
                var t0: Float = 0, t1: Float = 0, t2: Float = 0, t3: Float = 0, t4: Float = 0
                var t5: Float = 0, t6: Float = 0, t7: Float = 0, t8: Float = 0
                for y in 0 ..< height {
                    let gr = g + y * width, sr = src + y * wp
                    var x = 0
                    while x < w16 {
                        let gv = load16(gr + x), s = sr + x
                        a0 = a0.addingProduct(gv, load16(s + up - d)); a1 = a1.addingProduct(gv, load16(s + up))
                        a2 = a2.addingProduct(gv, load16(s + up + d)); a3 = a3.addingProduct(gv, load16(s - d))
                        a4 = a4.addingProduct(gv, load16(s)); a5 = a5.addingProduct(gv, load16(s + d))
                        a6 = a6.addingProduct(gv, load16(s + dn - d)); a7 = a7.addingProduct(gv, load16(s + dn))
                        a8 = a8.addingProduct(gv, load16(s + dn + d))
                        x += 16
                    }
                    while x < width {
                        let gv = gr[x], s = sr + x
                        t0 += gv * s[up - d]; t1 += gv * s[up]; t2 += gv * s[up + d]
                        t3 += gv * s[-d]; t4 += gv * s[0]; t5 += gv * s[d]
                        t6 += gv * s[dn - d]; t7 += gv * s[dn]; t8 += gv * s[dn + d]
                        x += 1
                    }
                }
                let o = dW + (j * channels + c) * 9
                o[0] += laneSum(a0) + t0; o[1] += laneSum(a1) + t1; o[2] += laneSum(a2) + t2
                o[3] += laneSum(a3) + t3; o[4] += laneSum(a4) + t4; o[5] += laneSum(a5) + t5
                o[6] += laneSum(a6) + t6; o[7] += laneSum(a7) + t7; o[8] += laneSum(a8) + t8
            }
        }
    }
}

/// sum_{y,x} g[y, x] s[y wp + x] over an H x W plane (g dense, s with row stride wp).
@inline(__always)
private func mixTapDot<T: KernelScalar>(_ g: UnsafePointer<T>, _ s: UnsafePointer<T>, _ height: Int, _ width: Int, _ wp: Int) -> T {
    let st = MemoryLayout<T>.stride
    var a0 = SIMD8<T>(), a1 = a0, a2 = a0, a3 = a0
    var tail: T = 0
    for y in 0 ..< height {
        let gr = g + y * width, sr = s + y * wp
        var x = 0
        while x + 32 <= width {
            let gp = UnsafeRawPointer(gr + x), sp = UnsafeRawPointer(sr + x)
            a0 += gp.loadUnaligned(as: SIMD8<T>.self) * sp.loadUnaligned(as: SIMD8<T>.self)
            a1 += gp.loadUnaligned(fromByteOffset: 8 * st, as: SIMD8<T>.self) * sp.loadUnaligned(fromByteOffset: 8 * st, as: SIMD8<T>.self)
            a2 += gp.loadUnaligned(fromByteOffset: 16 * st, as: SIMD8<T>.self) * sp.loadUnaligned(fromByteOffset: 16 * st, as: SIMD8<T>.self)
            a3 += gp.loadUnaligned(fromByteOffset: 24 * st, as: SIMD8<T>.self) * sp.loadUnaligned(fromByteOffset: 24 * st, as: SIMD8<T>.self)
            x += 32
        }
        while x + 8 <= width {
            a0 += UnsafeRawPointer(gr + x).loadUnaligned(as: SIMD8<T>.self) * UnsafeRawPointer(sr + x).loadUnaligned(as: SIMD8<T>.self)
            x += 8
        }
        while x < width { tail += gr[x] * sr[x]; x += 1 }
    }
    return laneSum((a0 + a1) + (a2 + a3)) + tail
}
