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
                    var acc: T = 0
                    for y in y0 ..< y1 {
                        let go = g + y * width + x0, s = src + (y + dy) * width + dx + x0
                        acc += dotOf(go, s, x1 - x0)
                        if let dsrc {
                            let ds = dsrc + (y + dy) * width + dx
                            let gr = g + y * width
                            for x in x0 ..< x1 { ds[x] += wv * gr[x] }
                        }
                    }
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
