// Bit-exact AVX2 twins of the fp32 loops in Sources/Tensor/VectorMath.swift and Softmax.swift:
// exact GELU, a row's maximum and exp(x - reference) over a row with per-lane sums. Every
// operation is the one the Swift code performs, in the same order, with the same rounding
// (separate multiplies and adds where Swift writes them: contraction is off in this file; FMA
// intrinsics where Swift writes addingProduct, as vectorGelu does; compare-and-blend clamps; the
// same constants). The Swift code's 16-lane vector is two 8-lane halves here, lanes 0-7 and
// 8-15, as the Swift compiler splits it, but held in ymm registers throughout: the Swift build
// moves parts of vectorExp through xmm registers and packs its masks lane group by lane group.
// CAVX512/swift_twins.c holds the same functions for AVX-512.

#include "CAVX2.h"
#include <math.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>
#define ST_AVX2_ONLY __attribute__((target("avx2")))
#define ST_AVX2_FMA __attribute__((target("avx2,fma")))
#define ST_INLINE static inline __attribute__((always_inline))

int st_avx2_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/// VectorMath.vectorExp, operation by operation.
ST_AVX2_ONLY ST_INLINE __m256 exp_twin(__m256 x) {
    const __m256 low = _mm256_set1_ps(-87.33f), high = _mm256_set1_ps(88.37f);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    // lanewiseMax(x, low) then lanewiseMin(_, high): compare and blend (a NaN stays NaN).
    __m256 clamped = _mm256_blendv_ps(x, low, _mm256_cmp_ps(low, x, _CMP_GT_OQ));
    clamped = _mm256_blendv_ps(clamped, high, _mm256_cmp_ps(high, clamped, _CMP_LT_OQ));
    const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(clamped, _mm256_set1_ps(1.4426950408889634f)), magic);
    const __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_sub_ps(clamped, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.1219444e-4f)));
    // The Swift constants: 1/5040 divided in Float, the others divided in Double, then rounded.
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps((float)(1.0 / 720.0)));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps((float)(1.0 / 120.0)));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps((float)(1.0 / 24.0)));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps((float)(1.0 / 6.0)));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(0.5f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    // 2^n from the integer in shifted's low mantissa bits.
    const __m256i integer = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(integer, _mm256_set1_epi32(127)), 23));
    __m256 result = _mm256_mul_ps(p, scale);
    result = _mm256_blendv_ps(result, _mm256_setzero_ps(), _mm256_cmp_ps(x, low, _CMP_LT_OQ));
    return _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(88.72f), _CMP_GT_OQ));
}

/// VectorMath.vectorGelu, operation by operation (fused where it fuses).
ST_AVX2_FMA ST_INLINE __m256 gelu_twin(__m256 v) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000));
    const __m256 z = _mm256_mul_ps(v, _mm256_set1_ps(0.7071067811865476f));
    const __m256 a = _mm256_andnot_ps(sign, z);
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), a, one));
    __m256 p = _mm256_set1_ps(0.17087277f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
    // exp(p - a^2), clamped below as lanewiseMax does (compare and blend: a NaN stays NaN).
    const __m256 low = _mm256_set1_ps(-87.33f);
    __m256 x = _mm256_fnmadd_ps(a, a, p);
    x = _mm256_blendv_ps(x, low, _mm256_cmp_ps(low, x, _CMP_GT_OQ));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.4426950408889634f), magic);
    const __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.1219444e-4f), r);
    __m256 e = _mm256_set1_ps(1.0f / 5040.0f);
    e = _mm256_fmadd_ps(e, r, _mm256_set1_ps((float)(1.0 / 720.0)));
    e = _mm256_fmadd_ps(e, r, _mm256_set1_ps((float)(1.0 / 120.0)));
    e = _mm256_fmadd_ps(e, r, _mm256_set1_ps((float)(1.0 / 24.0)));
    e = _mm256_fmadd_ps(e, r, _mm256_set1_ps((float)(1.0 / 6.0)));
    e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(0.5f));
    e = _mm256_fmadd_ps(e, r, one);
    e = _mm256_fmadd_ps(e, r, one);
    const __m256i integer = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(integer, _mm256_set1_epi32(127)), 23));
    const __m256 erfc = _mm256_mul_ps(t, _mm256_mul_ps(e, scale));
    const __m256 onePlusErf = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), erfc,
                                               _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), onePlusErf);
}

ST_AVX2_FMA void st_avx2_gelu_twin(const float *src, float *dst, long vectors) {
    for (long i = 0; i < 2 * vectors; i++) _mm256_storeu_ps(dst + i * 8, gelu_twin(_mm256_loadu_ps(src + i * 8)));
}

ST_AVX2_ONLY void st_avx2_row_max_twin(const float *values, long count, float *lanes) {
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    for (long i = 0; i + 16 <= count; i += 16) {
        const __m256 x0 = _mm256_loadu_ps(values + i), x1 = _mm256_loadu_ps(values + i + 8);
        m0 = _mm256_blendv_ps(m0, x0, _mm256_cmp_ps(x0, m0, _CMP_GT_OQ));  // lanewiseMax(m, x)
        m1 = _mm256_blendv_ps(m1, x1, _mm256_cmp_ps(x1, m1, _CMP_GT_OQ));
    }
    _mm256_storeu_ps(lanes, m0);
    _mm256_storeu_ps(lanes + 8, m1);
}

ST_AVX2_ONLY void st_avx2_exp_row_twin(float *values, long count, float reference, float *lane_sums) {
    const __m256 shift = _mm256_set1_ps(reference);
    __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        const __m256 e0 = exp_twin(_mm256_sub_ps(_mm256_loadu_ps(values + i), shift));
        const __m256 e1 = exp_twin(_mm256_sub_ps(_mm256_loadu_ps(values + i + 8), shift));
        _mm256_storeu_ps(values + i, e0);
        _mm256_storeu_ps(values + i + 8, e1);
        sum0 = _mm256_add_ps(sum0, e0);
        sum1 = _mm256_add_ps(sum1, e1);
    }
    _mm256_storeu_ps(lane_sums, sum0);
    _mm256_storeu_ps(lane_sums + 8, sum1);
    // The tail (fewer than 16 values) as the Swift loop does it: exp of each value, stored; the
    // caller adds the stored values to the sum one by one.
    for (; i < count; i += 8) {
        const long left = count - i < 8 ? count - i : 8;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 tail = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(values + i, mask),
                                             _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(values + i, mask, exp_twin(_mm256_sub_ps(tail, shift)));
    }
}

#else  // not x86-64: never called (st_avx2_supported() is 0).
int st_avx2_supported(void) { return 0; }
void st_avx2_exp_row_twin(float *values, long count, float reference, float *lane_sums) {
    (void)values; (void)count; (void)reference; (void)lane_sums;
}
void st_avx2_gelu_twin(const float *src, float *dst, long vectors) { (void)src; (void)dst; (void)vectors; }
void st_avx2_row_max_twin(const float *values, long count, float *lanes) { (void)values; (void)count; (void)lanes; }
#endif
