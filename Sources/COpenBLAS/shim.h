// OpenBLAS's CBLAS interface, plus its thread-count controls.
#ifndef FACONVLSTM_COPENBLAS_SHIM_H
#define FACONVLSTM_COPENBLAS_SHIM_H
#include <cblas.h>

// The clamp of the 16-lane exponential (Kernels/Gates.swift, fastExp16) as
// maxps / minps. The standard library's pointwiseMax / pointwiseMin compile to
// the same instructions where the compiler inlines them, but in a large loop
// body it stops doing so and calls them through memory (a 2.5-10x slower gate
// kernel, docs/performance.md); a static inline C function is always inlined.
// max(x, lo) returns lo where x is NaN, as pointwiseMax does.
#if defined(__x86_64__)
#include <immintrin.h>
typedef float faconv_float16 __attribute__((ext_vector_type(16)));
typedef float faconv_float8 __attribute__((ext_vector_type(8)));
typedef float faconv_float4 __attribute__((ext_vector_type(4)));
#if defined(__AVX512F__)
static inline faconv_float16 faconv_clamp16(faconv_float16 x, faconv_float16 lo, faconv_float16 hi) {
    return (faconv_float16)_mm512_min_ps(_mm512_max_ps((__m512)x, (__m512)lo), (__m512)hi);
}
#elif defined(__AVX__)
static inline faconv_float8 faconv_clamp8(faconv_float8 x, faconv_float8 lo, faconv_float8 hi) {
    return (faconv_float8)_mm256_min_ps(_mm256_max_ps((__m256)x, (__m256)lo), (__m256)hi);
}
static inline faconv_float16 faconv_clamp16(faconv_float16 x, faconv_float16 lo, faconv_float16 hi) {
    faconv_float8 a = faconv_clamp8(x.lo, lo.lo, hi.lo), b = faconv_clamp8(x.hi, lo.hi, hi.hi);
    return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
#else
static inline faconv_float4 faconv_clamp4(faconv_float4 x, faconv_float4 lo, faconv_float4 hi) {
    return (faconv_float4)_mm_min_ps(_mm_max_ps((__m128)x, (__m128)lo), (__m128)hi);
}
static inline faconv_float16 faconv_clamp16(faconv_float16 x, faconv_float16 lo, faconv_float16 hi) {
    faconv_float4 a = faconv_clamp4(x.s0123, lo.s0123, hi.s0123), b = faconv_clamp4(x.s4567, lo.s4567, hi.s4567);
    faconv_float4 c = faconv_clamp4(x.s89ab, lo.s89ab, hi.s89ab), d = faconv_clamp4(x.scdef, lo.scdef, hi.scdef);
    faconv_float8 ab = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7);
    faconv_float8 cd = __builtin_shufflevector(c, d, 0, 1, 2, 3, 4, 5, 6, 7);
    return __builtin_shufflevector(ab, cd, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
#endif
#endif
#endif
