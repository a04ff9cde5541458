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

// Both functions below work on `n` (<= ST_LOCKSTEP) 8-lane vectors in lockstep, one step for all
// of them before the next: each vector is a chain of ~35 dependent operations (~125 cycles for
// GELU), and the out-of-order window holds little more than one vector's, so one vector at a time
// leaves the FMA units mostly idle. Four chains side by side: the erfc-and-exp GELU ~1.5 -> ~1.0
// ns a value on Zen 3 (more chains spill registers). Each vector gets exactly the Swift loop's operations; only
// the order in which independent vectors' operations are issued changes.
#define ST_LOCKSTEP 4
#define EACH for (int j = 0; j < n; j++)

/// VectorMath.vectorExp, operation by operation, on x[0..<n].
ST_AVX2_ONLY ST_INLINE void exp_twin(__m256 *x, int n) {
    const __m256 low = _mm256_set1_ps(-87.33f), high = _mm256_set1_ps(88.37f);
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 clamped[ST_LOCKSTEP], shifted[ST_LOCKSTEP], k[ST_LOCKSTEP], r[ST_LOCKSTEP], p[ST_LOCKSTEP];
    // lanewiseMax(x, low) then lanewiseMin(_, high): compare and blend (a NaN stays NaN).
    EACH clamped[j] = _mm256_blendv_ps(x[j], low, _mm256_cmp_ps(low, x[j], _CMP_GT_OQ));
    EACH clamped[j] = _mm256_blendv_ps(clamped[j], high, _mm256_cmp_ps(high, clamped[j], _CMP_LT_OQ));
    EACH shifted[j] = _mm256_add_ps(_mm256_mul_ps(clamped[j], _mm256_set1_ps(1.4426950408889634f)), magic);
    EACH k[j] = _mm256_sub_ps(shifted[j], magic);
    EACH r[j] = _mm256_sub_ps(clamped[j], _mm256_mul_ps(k[j], _mm256_set1_ps(0.693359375f)));
    EACH r[j] = _mm256_sub_ps(r[j], _mm256_mul_ps(k[j], _mm256_set1_ps(-2.1219444e-4f)));
    // The Swift constants: 1/5040 divided in Float, the others divided in Double, then rounded.
    static const float coefficients[7] = {(float)(1.0 / 720.0), (float)(1.0 / 120.0), (float)(1.0 / 24.0),
                                          (float)(1.0 / 6.0), 0.5f, 1.0f, 1.0f};
    EACH p[j] = _mm256_set1_ps(1.0f / 5040.0f);
    for (int c = 0; c < 7; c++) { EACH p[j] = _mm256_add_ps(_mm256_mul_ps(p[j], r[j]), _mm256_set1_ps(coefficients[c])); }
    EACH {
        // 2^n from the integer in shifted's low mantissa bits.
        const __m256i integer = _mm256_sub_epi32(_mm256_castps_si256(shifted[j]), _mm256_set1_epi32(0x4B400000));
        const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(integer, _mm256_set1_epi32(127)), 23));
        __m256 result = _mm256_mul_ps(p[j], scale);
        result = _mm256_blendv_ps(result, _mm256_setzero_ps(), _mm256_cmp_ps(x[j], low, _CMP_LT_OQ));
        x[j] = _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x[j], _mm256_set1_ps(88.72f), _CMP_GT_OQ));
    }
}

/// VectorMath.vectorGelu, operation by operation (fused where it fuses), on src[0..<8n] into dst.
ST_AVX2_FMA ST_INLINE void gelu_twin(const float *src, float *dst, int n) {
    static const float numerator[7] = {-1.366435054e-8f, 4.780045401e-6f, 3.826751490e-4f, 3.839541692e-3f,
                                       5.433239415e-2f, 1.847120076e-1f, 1.128379226f};
    static const float denominator[6] = {6.400459097e-5f, 1.309558633e-3f, 1.545348205e-2f, 1.138266176e-1f,
                                         4.970302880e-1f, 1.0f};
    const __m256 low = _mm256_set1_ps(-4.0f), high = _mm256_set1_ps(4.0f);
    const __m256 minusOne = _mm256_set1_ps(-1.0f), one = _mm256_set1_ps(1.0f);
    __m256 v[ST_LOCKSTEP], z[ST_LOCKSTEP], s[ST_LOCKSTEP], p[ST_LOCKSTEP], q[ST_LOCKSTEP];
    EACH v[j] = _mm256_loadu_ps(src + 8 * j);
    EACH z[j] = _mm256_mul_ps(v[j], _mm256_set1_ps(0.7071067811865476f));
    // Clamps as Swift's replacing(with:where:) does (compare and blend: a NaN stays NaN).
    EACH z[j] = _mm256_blendv_ps(z[j], low, _mm256_cmp_ps(z[j], low, _CMP_LT_OQ));
    EACH z[j] = _mm256_blendv_ps(z[j], high, _mm256_cmp_ps(z[j], high, _CMP_GT_OQ));
    EACH s[j] = _mm256_mul_ps(z[j], z[j]);
    EACH p[j] = _mm256_set1_ps(numerator[0]);
    EACH q[j] = _mm256_set1_ps(denominator[0]);
    for (int c = 1; c < 7; c++) { EACH p[j] = _mm256_fmadd_ps(p[j], s[j], _mm256_set1_ps(numerator[c])); }
    for (int c = 1; c < 6; c++) { EACH q[j] = _mm256_fmadd_ps(q[j], s[j], _mm256_set1_ps(denominator[c])); }
    EACH {
        __m256 erf = _mm256_div_ps(_mm256_mul_ps(z[j], p[j]), q[j]);
        erf = _mm256_blendv_ps(erf, one, _mm256_or_ps(_mm256_cmp_ps(erf, one, _CMP_GT_OQ), _mm256_cmp_ps(z[j], high, _CMP_EQ_OQ)));
        erf = _mm256_blendv_ps(erf, minusOne,
                               _mm256_or_ps(_mm256_cmp_ps(erf, minusOne, _CMP_LT_OQ), _mm256_cmp_ps(z[j], low, _CMP_EQ_OQ)));
        const __m256 half = _mm256_mul_ps(_mm256_set1_ps(0.5f), v[j]);
        _mm256_storeu_ps(dst + 8 * j, _mm256_fmadd_ps(half, erf, half));
    }
}

ST_AVX2_FMA void st_avx2_gelu_twin(const float *src, float *dst, long vectors) {
    long i = 0;
    for (; i + ST_LOCKSTEP <= 2 * vectors; i += ST_LOCKSTEP) gelu_twin(src + i * 8, dst + i * 8, ST_LOCKSTEP);
    for (; i < 2 * vectors; i++) gelu_twin(src + i * 8, dst + i * 8, 1);
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
    // Two 16-float vectors (four 8-lane halves) at a time; their sums in the Swift loop's order.
    for (; i + 32 <= count; i += 32) {
        __m256 e[4];
        for (int j = 0; j < 4; j++) e[j] = _mm256_sub_ps(_mm256_loadu_ps(values + i + 8 * j), shift);
        exp_twin(e, 4);
        for (int j = 0; j < 4; j++) _mm256_storeu_ps(values + i + 8 * j, e[j]);
        sum0 = _mm256_add_ps(sum0, e[0]);
        sum1 = _mm256_add_ps(sum1, e[1]);
        sum0 = _mm256_add_ps(sum0, e[2]);
        sum1 = _mm256_add_ps(sum1, e[3]);
    }
    for (; i + 16 <= count; i += 16) {
        __m256 e[2] = {_mm256_sub_ps(_mm256_loadu_ps(values + i), shift), _mm256_sub_ps(_mm256_loadu_ps(values + i + 8), shift)};
        exp_twin(e, 2);
        _mm256_storeu_ps(values + i, e[0]);
        _mm256_storeu_ps(values + i + 8, e[1]);
        sum0 = _mm256_add_ps(sum0, e[0]);
        sum1 = _mm256_add_ps(sum1, e[1]);
    }
    _mm256_storeu_ps(lane_sums, sum0);
    _mm256_storeu_ps(lane_sums + 8, sum1);
    // The tail (fewer than 16 values) as the Swift loop does it: exp of each value, stored; the
    // caller adds the stored values to the sum one by one.
    for (; i < count; i += 8) {
        const long left = count - i < 8 ? count - i : 8;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 tail = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(values + i, mask),
                                       _mm256_castsi256_ps(mask));
        tail = _mm256_sub_ps(tail, shift);
        exp_twin(&tail, 1);
        _mm256_maskstore_ps(values + i, mask, tail);
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
