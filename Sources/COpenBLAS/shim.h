// OpenBLAS's CBLAS interface, plus its thread-count controls.
#ifndef FACONVLSTM_COPENBLAS_SHIM_H
#define FACONVLSTM_COPENBLAS_SHIM_H
#include <cblas.h>

// The clamp of the 16-lane exponential (Kernels/Gates.swift, fastExp16) as
// vmaxps / vminps. The standard library's pointwiseMax / pointwiseMin compile
// to the same two instructions where the compiler inlines them, but in a large
// loop body it stops doing so and calls them through memory (2.5x slower gate
// kernel, docs/performance.md); a static inline C function is always inlined.
#if defined(__AVX512F__)
#include <immintrin.h>
typedef float faconv_float16 __attribute__((ext_vector_type(16)));
static inline faconv_float16 faconv_clamp16(faconv_float16 x, faconv_float16 lo, faconv_float16 hi) {
    return (faconv_float16)_mm512_min_ps(_mm512_max_ps((__m512)x, (__m512)lo), (__m512)hi);
}
#endif
#endif
