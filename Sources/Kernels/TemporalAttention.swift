// One-head temporal self-attention over the window, residual (MODEL.md head step 3):
//   q = Wq Z_t, k = Wk Z_t, v = Wv Z_t
//   S[t,t'] = q_t . k_t' / sqrt(de)   (causal: t' <= t only)
//   A = softmax_t'(S);   z_t = Z_t + sum_t' A[t,t'] v_t'
//
// Shapes: Z, z, q, k, v [T, B, de] (row (t, b)); wq, wk, wv [de, de]; probs [B, T, T].

/// Fills q, k, v and probs (cached for backward) and writes out = z.
public func temporalAttentionForward<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, probs: UnsafeMutablePointer<T>,
    q: UnsafeMutablePointer<T>, k: UnsafeMutablePointer<T>, v: UnsafeMutablePointer<T>,
    z: UnsafePointer<T>, wq: UnsafePointer<T>, wk: UnsafePointer<T>, wv: UnsafePointer<T>,
    steps: Int, samples: Int, de: Int, causal: Bool
) {
    let rows = steps * samples, ld = samples * de
    // p = Z w^T for p in q, k, v
    T.gemm(transA: false, transB: true, m: rows, n: de, k: de, alpha: 1, a: z, lda: de, b: wq, ldb: de, beta: 0, c: q, ldc: de)
    T.gemm(transA: false, transB: true, m: rows, n: de, k: de, alpha: 1, a: z, lda: de, b: wk, ldb: de, beta: 0, c: k, ldc: de)
    T.gemm(transA: false, transB: true, m: rows, n: de, k: de, alpha: 1, a: z, lda: de, b: wv, ldb: de, beta: 0, c: v, ldc: de)
    out.update(from: z, count: rows * de)
    let scale = 1 / T(de).squareRoot()
    for b in 0 ..< samples {
        let s = probs + b * steps * steps
        T.gemm(transA: false, transB: true, m: steps, n: steps, k: de, alpha: scale, a: q + b * de, lda: ld,
               b: k + b * de, ldb: ld, beta: 0, c: s, ldc: steps)
        if causal {
            for t in 0 ..< steps { for t2 in t + 1 ..< max(t + 1, steps) { s[t * steps + t2] = -T.infinity } }
        }
        softmaxForward(s, rows: steps, n: steps)
        T.gemm(transA: false, transB: false, m: steps, n: de, k: steps, alpha: 1, a: s, lda: steps,
               b: v + b * de, ldb: ld, beta: 1, c: out + b * de, ldc: ld)
    }
}

/// Scratch elements temporalAttentionBackward needs.
public func temporalAttentionBackwardScratch(steps: Int, samples: Int, de: Int) -> Int {
    3 * steps * samples * de + steps * steps
}

/// dZ += dz/dZ . dOut;  dWq, dWk, dWv += their gradients.
public func temporalAttentionBackward<T: KernelScalar>(
    dZ: UnsafeMutablePointer<T>, dWq: UnsafeMutablePointer<T>, dWk: UnsafeMutablePointer<T>, dWv: UnsafeMutablePointer<T>,
    dOut: UnsafePointer<T>, probs: UnsafePointer<T>,
    q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>,
    z: UnsafePointer<T>, wq: UnsafePointer<T>, wk: UnsafePointer<T>, wv: UnsafePointer<T>,
    steps: Int, samples: Int, de: Int, scratch: UnsafeMutablePointer<T>
) {
    let rows = steps * samples, ld = samples * de
    let dq = scratch, dk = dq + rows * de, dv = dk + rows * de, dA = dv + rows * de
    dq.initialize(repeating: 0, count: 3 * rows * de)
    for i in 0 ..< rows * de { dZ[i] += dOut[i] }  // residual
    let scale = 1 / T(de).squareRoot()
    for b in 0 ..< samples {
        let a = probs + b * steps * steps, o = b * de
        // dA[t, t'] = dOut_t . v_t'
        T.gemm(transA: false, transB: true, m: steps, n: steps, k: de, alpha: 1, a: dOut + o, lda: ld,
               b: v + o, ldb: ld, beta: 0, c: dA, ldc: steps)
        // dv_t' += sum_t A[t, t'] dOut_t
        T.gemm(transA: true, transB: false, m: steps, n: de, k: steps, alpha: 1, a: a, lda: steps,
               b: dOut + o, ldb: ld, beta: 1, c: dv + o, ldc: ld)
        softmaxBackward(dA, dA, a, rows: steps, n: steps)  // masked entries have A = 0, so dS = 0
        T.gemm(transA: false, transB: false, m: steps, n: de, k: steps, alpha: scale, a: dA, lda: steps,
               b: k + o, ldb: ld, beta: 1, c: dq + o, ldc: ld)
        T.gemm(transA: true, transB: false, m: steps, n: de, k: steps, alpha: scale, a: dA, lda: steps,
               b: q + o, ldb: ld, beta: 1, c: dk + o, ldc: ld)
    }
    // p = Z w^T:  dW += dp^T Z,  dZ += dp w   (p in q, k, v)
    func projectionBackward(_ dp: UnsafePointer<T>, _ dW: UnsafeMutablePointer<T>, _ w: UnsafePointer<T>) {
        T.gemm(transA: true, transB: false, m: de, n: de, k: rows, alpha: 1, a: dp, lda: de,
               b: z, ldb: de, beta: 1, c: dW, ldc: de)
        T.gemm(transA: false, transB: false, m: rows, n: de, k: de, alpha: 1, a: dp, lda: de,
               b: w, ldb: de, beta: 1, c: dZ, ldc: de)
    }
    projectionBackward(dq, dWq, wq)
    projectionBackward(dk, dWk, wk)
    projectionBackward(dv, dWv, wv)
}
