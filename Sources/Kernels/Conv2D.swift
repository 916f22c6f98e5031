// Full k x k convolution with zero "same" padding (the ConvLSTM2D baseline),
// cross-correlation as in MODEL.md:
//   out[o,b,y,x] = sum_{i,a,e} w[o,i,a,e] in[i,b, y+a-h, x+e-h],  h = (k-1)/2
// done as im2col + one GEMM over the whole frame.
//
// Shapes: in [Cin, B, H, W] (N = B*H*W columns), w [Cout, Cin, k, k] = [Cout, Cin*k*k],
// col [Cin*k*k, N] (row (i,a,e) holds in[i] shifted by (a-h, e-h)), out [Cout, N].

/// col[(i*k + a)*k + e, b, y, x] = in[i, b, y+a-h, x+e-h] (0 outside).
public func im2col<T: KernelScalar>(
    _ col: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>,
    channels: Int, samples: Int, height: Int, width: Int, kernel k: Int
) {
    let h = (k - 1) / 2, p = height * width, n = samples * p
    for i in 0 ..< channels {
        for a in 0 ..< k {
            let dy = a - h
            for e in 0 ..< k {
                let dx = e - h
                let row = col + ((i * k + a) * k + e) * n
                let x0 = max(0, -dx), x1 = min(width, width - dx)
                for b in 0 ..< samples {
                    let src = inp + (i * samples + b) * p, dst = row + b * p
                    for y in 0 ..< height {
                        let o = dst + y * width
                        let yy = y + dy
                        if yy < 0 || yy >= height || x0 >= x1 {
                            for x in 0 ..< width { o[x] = 0 }
                            continue
                        }
                        let s = src + yy * width + dx
                        for x in 0 ..< x0 { o[x] = 0 }
                        for x in x0 ..< x1 { o[x] = s[x] }
                        for x in x1 ..< width { o[x] = 0 }
                    }
                }
            }
        }
    }
}

/// The adjoint of im2col: dIn[i, b, y+a-h, x+e-h] += dcol[(i,a,e), b, y, x].
public func col2imAdd<T: KernelScalar>(
    _ dIn: UnsafeMutablePointer<T>, _ dcol: UnsafePointer<T>,
    channels: Int, samples: Int, height: Int, width: Int, kernel k: Int
) {
    let h = (k - 1) / 2, p = height * width, n = samples * p
    for i in 0 ..< channels {
        for a in 0 ..< k {
            let dy = a - h
            let y0 = max(0, -dy), y1 = min(height, height - dy)
            for e in 0 ..< k {
                let dx = e - h
                let row = dcol + ((i * k + a) * k + e) * n
                let x0 = max(0, -dx), x1 = min(width, width - dx)
                if x0 >= x1 { continue }
                for b in 0 ..< samples {
                    let dst = dIn + (i * samples + b) * p, src = row + b * p
                    for y in y0 ..< max(y0, y1) {
                        let g = src + y * width, d = dst + (y + dy) * width + dx
                        for x in x0 ..< x1 { d[x] += g[x] }
                    }
                }
            }
        }
    }
}

/// im2col of one block of image rows: rows y0 ..< y1 of sample `sample` out of
/// `samples` (in [Cin, samples, H, W]) into col [Cin*k*k, (y1 - y0) * W].
/// Lets a caller work in column blocks that stay in cache (the ConvLSTM cell);
/// the padding is per sample, so a block never reads another sample.
public func im2colBlock<T: KernelScalar>(
    _ col: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>,
    channels: Int, samples: Int, sample s: Int, height: Int, width: Int, rows y0: Int, _ y1: Int, kernel k: Int
) {
    let h = (k - 1) / 2, p = height * width, n = (y1 - y0) * width
    for i in 0 ..< channels {
        let src = inp + (i * samples + s) * p
        for a in 0 ..< k {
            let dy = a - h
            // block rows whose source row y + dy is inside the image; the rest are zero
            let ya = min(y1, max(y0, -dy)), yb = max(ya, min(y1, height - dy))
            for e in 0 ..< k {
                let dx = e - h
                let row = col + ((i * k + a) * k + e) * n
                row.update(repeating: 0, count: (ya - y0) * width)
                (row + (yb - y0) * width).update(repeating: 0, count: (y1 - yb) * width)
                if yb == ya { continue }
                if abs(dx) >= width {
                    (row + (ya - y0) * width).update(repeating: 0, count: (yb - ya) * width)
                    continue
                }
                // rows ya ..< yb are one contiguous copy of the source shifted by dx (one
                // memcpy instead of a short loop per image row); the |dx| elements per row
                // that wrapped in from the neighbouring row are the padding, zeroed after.
                let d = row + (ya - y0) * width, sp = src + (ya + dy) * width, total = (yb - ya) * width
                if dx >= 0 {
                    d.update(from: sp + dx, count: total - dx)
                    for y in 0 ..< yb - ya { for x in width - dx ..< width { d[y * width + x] = 0 } }
                } else {
                    (d - dx).update(from: sp, count: total + dx)
                    for y in 0 ..< yb - ya { for x in 0 ..< -dx { d[y * width + x] = 0 } }
                }
            }
        }
    }
}

/// The adjoint of `im2colBlock`: dIn[i, s, y+a-h, x+e-h] += dcol[(i,a,e), y - y0, x]
/// for y in y0 ..< y1 (dcol [Cin*k*k, (y1 - y0) * W]). Clobbers dcol: the entries
/// that fall in the padding are set to zero.
public func col2imAddBlock<T: KernelScalar>(
    _ dIn: UnsafeMutablePointer<T>, _ dcol: UnsafeMutablePointer<T>,
    channels: Int, samples: Int, sample s: Int, height: Int, width: Int, rows y0: Int, _ y1: Int, kernel k: Int
) {
    let h = (k - 1) / 2, p = height * width, n = (y1 - y0) * width
    for i in 0 ..< channels {
        let dst = dIn + (i * samples + s) * p
        for a in 0 ..< k {
            let dy = a - h
            let ya = max(y0, -dy), yb = min(y1, height - dy)
            if ya >= yb { continue }
            for e in 0 ..< k {
                let dx = e - h
                if abs(dx) >= width { continue }
                // Rows ya ..< yb as one long add of the span shifted by (dy, dx) (vectorizes,
                // unlike 32-wide rows): the |dx| entries per row whose target wraps into
                // the neighbouring row are padding, zeroed first so they add nothing.
                let g = dcol + ((i * k + a) * k + e) * n + (ya - y0) * width, rows = yb - ya
                let xs = dx > 0 ? width - dx : 0
                for y in 0 ..< rows { for x in xs ..< xs + abs(dx) { g[y * width + x] = 0 } }
                // target of g[j] is d[j], d = dst + (ya + dy) * width + dx; skip the ends outside the image
                let d = dst + (ya + dy) * width + dx
                let j0 = max(0, -dx), j1 = rows * width - max(0, dx)
                addInPlace(d + j0, g + j0, count: j1 - j0)
            }
        }
    }
}

/// d[j] += g[j], j < count (non-overlapping; a separate function so the loop vectorizes).
@inline(never) func addInPlace<T: KernelScalar>(_ d: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>, count: Int) {
    for j in 0 ..< count { d[j] += g[j] }
}

/// out[Cout, N] (+)= w * im2col(in). `col` is scratch [Cin*k*k, N].
public func conv2dForward<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>, _ w: UnsafePointer<T>,
    col: UnsafeMutablePointer<T>,
    cout: Int, cin: Int, samples: Int, height: Int, width: Int, kernel k: Int, accumulate: Bool = false
) {
    let n = samples * height * width, kk = cin * k * k
    im2col(col, inp, channels: cin, samples: samples, height: height, width: width, kernel: k)
    T.gemm(transA: false, transB: false, m: cout, n: n, k: kk, alpha: 1, a: w, lda: kk,
           b: col, ldb: n, beta: accumulate ? 1 : 0, c: out, ldc: n)
}

/// dW += alpha dOut col^T;  dIn += col2im(w^T dOut). `col` is scratch [Cin*k*k, N]
/// (refilled from `inp`), `dcol` scratch of the same size; `dIn` nil skips it.
public func conv2dBackward<T: KernelScalar>(
    dIn: UnsafeMutablePointer<T>?, dW: UnsafeMutablePointer<T>,
    dOut: UnsafePointer<T>, inp: UnsafePointer<T>, w: UnsafePointer<T>,
    col: UnsafeMutablePointer<T>, dcol: UnsafeMutablePointer<T>,
    cout: Int, cin: Int, samples: Int, height: Int, width: Int, kernel k: Int, alpha: T = 1
) {
    let n = samples * height * width, kk = cin * k * k
    im2col(col, inp, channels: cin, samples: samples, height: height, width: width, kernel: k)
    T.gemm(transA: false, transB: true, m: cout, n: kk, k: n, alpha: alpha, a: dOut, lda: n,
           b: col, ldb: n, beta: 1, c: dW, ldc: kk)
    if let dIn {
        T.gemm(transA: true, transB: false, m: kk, n: n, k: cout, alpha: alpha, a: w, lda: kk,
               b: dOut, ldb: n, beta: 0, c: dcol, ldc: n)
        col2imAdd(dIn, dcol, channels: cin, samples: samples, height: height, width: width, kernel: k)
    }
}

/// Naive reference from the formula (tests only). Writes out (=).
public func conv2dForwardNaive<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>, _ w: UnsafePointer<T>,
    cout: Int, cin: Int, samples: Int, height: Int, width: Int, kernel k: Int
) {
    let h = (k - 1) / 2
    for o in 0 ..< cout {
        for b in 0 ..< samples {
            for y in 0 ..< height {
                for x in 0 ..< width {
                    var s: T = 0
                    for i in 0 ..< cin {
                        for a in 0 ..< k {
                            for e in 0 ..< k {
                                let yy = y + a - h, xx = x + e - h
                                if yy < 0 || yy >= height || xx < 0 || xx >= width { continue }
                                s += w[((o * cin + i) * k + a) * k + e] * inp[((i * samples + b) * height + yy) * width + xx]
                            }
                        }
                    }
                    out[((o * samples + b) * height + y) * width + x] = s
                }
            }
        }
    }
}
