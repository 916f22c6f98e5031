// 1x1 convolution over a whole frame as ONE GEMM (MODEL.md "1x1 conv").
//
// Shapes: Cin, Cout channels; N = B * H * W columns (every sample and position
// of a frame in the [C, B, H, W] layout).
//   in  [Cin, N]     w [Cout, Cin]     bias [Cout]     out [Cout, N]

/// out[Cout, N] = w[Cout, Cin] in[Cin, N] + bias  (beta = accumulate ? 1 : 0; bias optional)
public func conv1x1Forward<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>, _ w: UnsafePointer<T>, _ bias: UnsafePointer<T>?,
    cout: Int, cin: Int, n: Int, accumulate: Bool = false
) {
    gemmWide(transA: false, m: cout, n: n, k: cin, alpha: 1, a: w, lda: cin,
             b: inp, ldb: n, beta: accumulate ? 1 : 0, c: out, ldc: n)
    if let bias { addRowBias(out, bias, rows: cout, n: n) }
}

/// dIn[Cin, N] += w^T dOut;  dW[Cout, Cin] += alpha dOut in^T;  dBias[Cout] += alpha rowsum(dOut).
/// `dIn` nil skips the input gradient (first layer's input needs it only for checks).
public func conv1x1Backward<T: KernelScalar>(
    dIn: UnsafeMutablePointer<T>?, dW: UnsafeMutablePointer<T>, dBias: UnsafeMutablePointer<T>?,
    dOut: UnsafePointer<T>, inp: UnsafePointer<T>, w: UnsafePointer<T>,
    cout: Int, cin: Int, n: Int, alpha: T = 1, accumulateInput: Bool = true
) {
    gemmLongK(m: cout, n: cin, k: n, alpha: alpha, a: dOut, lda: n, b: inp, ldb: n, beta: 1, c: dW, ldc: cin)
    if let dBias { rowSums(dBias, dOut, rows: cout, n: n, alpha: alpha) }
    if let dIn {
        gemmWide(transA: true, m: cin, n: n, k: cout, alpha: alpha, a: w, lda: cin,
                 b: dOut, ldb: n, beta: accumulateInput ? 1 : 0, c: dIn, ldc: n)
    }
}

/// Naive reference of conv1x1Forward (tests only).
public func conv1x1ForwardNaive<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, _ inp: UnsafePointer<T>, _ w: UnsafePointer<T>, _ bias: UnsafePointer<T>?,
    cout: Int, cin: Int, n: Int
) {
    for o in 0 ..< cout {
        for j in 0 ..< n {
            var s: T = bias?[o] ?? 0
            for i in 0 ..< cin { s += w[o * cin + i] * inp[i * n + j] }
            out[o * n + j] = s
        }
    }
}
