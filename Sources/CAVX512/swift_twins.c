// Bit-exact AVX-512 twins of the fp32 loops in Sources/Tensor/VectorMath.swift and Softmax.swift:
// exp(x - reference) over a row (with per-lane sums) and a row's maximum (exact GELU has one twin,
// CAVX2's, with fused multiply-adds, which AVX-512 CPUs run too). Every operation is the one the
// Swift code performs, in the same order, with the same rounding: separate multiplies and adds (no
// fused multiply-add; contraction is off in this file), compare-and-blend clamps, the same
// constants. The Swift code is built for AVX2 and runs a 16-lane vector as two 8-lane halves; here
// one 512-bit register holds it, so the same results come about twice as fast. Tensor calls these
// whenever st_avx512_supported() says the CPU has AVX-512, in fp32 as well as in bf16: the results
// do not change, only the time.

#include "CAVX512.h"
#include <math.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>
#define ST_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

/// VectorMath.vectorExp, operation by operation.
ST_AVX512 static inline __m512 exp_twin(__m512 x) {
    const __m512 low = _mm512_set1_ps(-87.33f), high = _mm512_set1_ps(88.37f);
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    // lanewiseMax(x, low) then lanewiseMin(_, high): compare and blend (a NaN stays NaN).
    __m512 clamped = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(low, x, _CMP_GT_OQ), low);
    clamped = _mm512_mask_mov_ps(clamped, _mm512_cmp_ps_mask(high, clamped, _CMP_LT_OQ), high);
    const __m512 shifted = _mm512_add_ps(_mm512_mul_ps(clamped, _mm512_set1_ps(1.4426950408889634f)), magic);
    const __m512 n = _mm512_sub_ps(shifted, magic);
    __m512 r = _mm512_sub_ps(clamped, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(-2.1219444e-4f)));
    // The Swift constants: 1/5040 divided in Float, the others divided in Double, then rounded.
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps((float)(1.0 / 720.0)));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps((float)(1.0 / 120.0)));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps((float)(1.0 / 24.0)));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps((float)(1.0 / 6.0)));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.5f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
    // 2^n from the integer in shifted's low mantissa bits.
    const __m512i integer = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(integer, _mm512_set1_epi32(127)), 23));
    __m512 result = _mm512_mul_ps(p, scale);
    result = _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, low, _CMP_LT_OQ), _mm512_setzero_ps());
    return _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.72f), _CMP_GT_OQ),
                              _mm512_set1_ps(INFINITY));
}

ST_AVX512 void st_exp_row_twin(float *values, long count, float reference, float *lane_sums) {
    const __m512 shift = _mm512_set1_ps(reference);
    __m512 sum = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 e = exp_twin(_mm512_sub_ps(_mm512_loadu_ps(values + i), shift));
        _mm512_storeu_ps(values + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    _mm512_storeu_ps(lane_sums, sum);
    if (i < count) {
        // The tail as the Swift loop does it: lanes past the end hold -inf (their exp, 0, is
        // not stored); the caller adds the stored values to the sum one by one.
        const __mmask16 mask = (__mmask16)((1u << (count - i)) - 1u);
        const __m512 tail = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mask, values + i);
        _mm512_mask_storeu_ps(values + i, mask, exp_twin(_mm512_sub_ps(tail, shift)));
    }
}

ST_AVX512 void st_row_max_twin(const float *values, long count, float *lanes) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (long i = 0; i + 16 <= count; i += 16) {
        const __m512 x = _mm512_loadu_ps(values + i);
        m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(x, m, _CMP_GT_OQ), x);  // lanewiseMax(m, x)
    }
    _mm512_storeu_ps(lanes, m);
}

#else  // not x86-64: never called (st_avx512_supported() is 0).

void st_exp_row_twin(float *values, long count, float reference, float *lane_sums) {
    (void)values; (void)count; (void)reference; (void)lane_sums;
}
void st_row_max_twin(const float *values, long count, float *lanes) { (void)values; (void)count; (void)lanes; }
#endif
