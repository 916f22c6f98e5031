import COpenBLAS
import RealModule

/// The element type of every kernel: `Float` for training, `Double` for
/// finite-difference gradient checks. Each conformance routes matrix
/// products to the matching BLAS routine (sgemm / dgemm).
public protocol KernelScalar: Real, BinaryFloatingPoint, SIMDScalar, Sendable {
    /// Row-major `C = alpha * op(A) * op(B) + beta * C`, `op(A) [m, k]`, `op(B) [k, n]`, `C [m, n]`.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Row-major `y = alpha * op(A) x + beta * y`, `A [m, n]`.
    static func gemv(
        transA: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        x: UnsafePointer<Self>, incx: Int, beta: Self, y: UnsafeMutablePointer<Self>, incy: Int)
    /// `y += alpha * x`
    static func axpy(n: Int, alpha: Self, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)
    static func dot(n: Int, x: UnsafePointer<Self>, y: UnsafePointer<Self>) -> Self
}

@inline(__always)
private func blasTrans(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: KernelScalar {
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, blasTrans(transA), blasTrans(transB), blasint(m), blasint(n), blasint(k),
                    alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
    @inline(__always)
    public static func gemv(
        transA: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, incx: Int, beta: Float, y: UnsafeMutablePointer<Float>, incy: Int
    ) {
        cblas_sgemv(CblasRowMajor, blasTrans(transA), blasint(m), blasint(n), alpha, a, blasint(lda),
                    x, blasint(incx), beta, y, blasint(incy))
    }
    @inline(__always)
    public static func axpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(blasint(n), alpha, x, 1, y, 1)
    }
    @inline(__always)
    public static func dot(n: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        cblas_sdot(blasint(n), x, 1, y, 1)
    }
}

extension Double: KernelScalar {
    @inline(__always)
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(CblasRowMajor, blasTrans(transA), blasTrans(transB), blasint(m), blasint(n), blasint(k),
                    alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
    @inline(__always)
    public static func gemv(
        transA: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        x: UnsafePointer<Double>, incx: Int, beta: Double, y: UnsafeMutablePointer<Double>, incy: Int
    ) {
        cblas_dgemv(CblasRowMajor, blasTrans(transA), blasint(m), blasint(n), alpha, a, blasint(lda),
                    x, blasint(incx), beta, y, blasint(incy))
    }
    @inline(__always)
    public static func axpy(n: Int, alpha: Double, x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        cblas_daxpy(blasint(n), alpha, x, 1, y, 1)
    }
    @inline(__always)
    public static func dot(n: Int, x: UnsafePointer<Double>, y: UnsafePointer<Double>) -> Double {
        cblas_ddot(blasint(n), x, 1, y, 1)
    }
}

/// OpenBLAS worker threads of this process (one rank).
public enum BLASThreads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var current: Int { Int(openblas_get_num_threads()) }
}

/// The register blocks of the hand-written kernels (gemmWide, gemmLongK,
/// transposeMatrix), fitted to the register file the build targets: blocks
/// made for 32 vector registers spill on a 16-register machine (measured on an
/// AVX2 Zen: gemmWide 17 GFLOP/s with the AVX-512 blocks, 29-37 with the AVX2
/// ones; a 16 x 16 transpose 2.6x slower than 8 x 8). Tests run both.
public enum RegisterBlocking: Sendable, CaseIterable {
    /// 32 x 512-bit registers (AVX-512): gemmWide 4 x 64 (16 x 16 lanes), gemmLongK 4 x 4 sums of 16 lanes, 16 x 16 transposes.
    case zmm32
    /// 16 x 256-bit registers (AVX2, and the fallback): gemmWide 4 x 24 (12 x 8 lanes), gemmLongK 2 x 4 sums of 8 lanes, 8 x 8 transposes.
    case ymm16
}

/// The blocking of this build: Package.swift defines FACONVLSTM_AVX512 where it targets AVX-512.
#if FACONVLSTM_AVX512
public let nativeBlocking = RegisterBlocking.zmm32
#else
public let nativeBlocking = RegisterBlocking.ymm16
#endif
