// AVX-512 version of attention's online-softmax tile for the bf16 scope: the exp approximation of
// Sources/Tensor/VectorMath.swift with fused multiply-adds on 512-bit registers, writing the
// probabilities in bf16 for the P V product. (In fp32 the Swift tile runs, its exp in C through
// the bit-exact twin in swift_twins.c.) Tensor calls it only when st_avx512_supported() says the
// CPU has AVX-512.

#include "CAVX512.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define ST_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define ST_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx512dq,fma")))

int st_avx512_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

/// Cody-Waite reduction by ln 2: n = round(x / ln 2) and r = x - n ln 2 (|r| <= ln2 / 2), with
/// ln 2 split in two parts so that n ln 2 is exact to fp32 rounding.
ST_AVX512 static inline __m512 reduce_by_ln2(__m512 x, __m512 *n) {
    *n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_fnmadd_ps(*n, _mm512_set1_ps(0.693359375f), x);
    return _mm512_fnmadd_ps(*n, _mm512_set1_ps(-2.1219444e-4f), r);
}

/// e^x as VectorMath.vectorExp: Cody-Waite reduction by ln 2, Taylor polynomial of degree 7,
/// 0 below -87.33 and +inf above 88.72.
ST_AVX512 static inline __m512 exp512(__m512 x) {
    const __m512 clamped = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33f)), _mm512_set1_ps(88.37f));
    __m512 n;
    const __m512 r = reduce_by_ln2(clamped, &n);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512 result = _mm512_scalef_ps(p, n);
    result = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33f), _CMP_NLT_UQ), result);
    return _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.72f), _CMP_GT_OQ),
                              _mm512_set1_ps(INFINITY));
}

/// e^x for x <= 0 (attention's s - max), cheaper than exp512 for probabilities that are rounded to
/// bfloat16 anyway: Taylor degree 5 (relative error < 2.5e-6, against bf16's 3.9e-3 rounding step),
/// no upper clamp (x <= 0), 0 below -87.33 as exp512.
ST_AVX512 static inline __m512 exp512_nonpositive(__m512 x) {
    const __m512 low = _mm512_set1_ps(-87.33f);
    __m512 n;
    const __m512 r = reduce_by_ln2(_mm512_max_ps(x, low), &n);
    __m512 p = _mm512_set1_ps(1.0f / 120.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, low, _CMP_NLT_UQ), _mm512_scalef_ps(p, n));
}

static inline __mmask16 tail_mask(long left) {
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

ST_AVX512 static float row_maximum(const float *s, long keys) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    long j = 0;
    for (; j + 16 <= keys; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(s + j));
    if (j < keys) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(keys - j), s + j));
    return _mm512_reduce_max_ps(m);
}

/// exp(s - reference) over a row, written back in fp32; returns the sum.
ST_AVX512 static float exponentiate_row(float *s, long keys, float reference) {
    const __m512 shift = _mm512_set1_ps(reference);
    __m512 sum = _mm512_setzero_ps();
    for (long j = 0; j < keys; j += 16) {
        __mmask16 mask = tail_mask(keys - j);
        __m512 e = _mm512_maskz_mov_ps(mask, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + j), shift)));
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(s + j, mask, e);
    }
    return _mm512_reduce_add_ps(sum);
}

/// exp(s - reference) over a row, written as bf16 into `probabilities` (s untouched; a zero after
/// the last value when `keys` is odd); returns the sum of the fp32 values. Kept apart from the fp32
/// version so that CPUs with AVX-512 but no BF16 never reach a BF16 instruction.
ST_AVX512BF16 __attribute__((noinline)) static float exponentiate_row_bf16(const float *s, long keys, float reference,
                                                                        uint16_t *probabilities) {
    const __m512 shift = _mm512_set1_ps(reference);
    __m512 sum = _mm512_setzero_ps();
    for (long j = 0; j < keys; j += 16) {
        __mmask16 mask = tail_mask(keys - j);
        __m512 e = _mm512_maskz_mov_ps(mask, exp512_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, s + j), shift)));
        sum = _mm512_add_ps(sum, e);
        _mm256_mask_storeu_epi16((void *)(probabilities + j), mask, (__m256i)_mm512_cvtneps_pbh(e));
    }
    if (keys & 1) probabilities[keys] = 0;
    return _mm512_reduce_add_ps(sum);
}

ST_AVX512 static void scale_row(float *o, long count, float factor) {
    const __m512 f = _mm512_set1_ps(factor);
    for (long j = 0; j < count; j += 16) {
        __mmask16 mask = tail_mask(count - j);
        _mm512_mask_storeu_ps(o + j, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, o + j), f));
    }
}

ST_AVX512 void st_softmax_tile(float *scores, long rows, long keys, int first, float *maxima, float *sums,
                               float *out, long dv, uint16_t *probabilities, long stride) {
    for (long r = 0; r < rows; r++) {
        float *s = scores + r * keys;
        float previous = first ? -INFINITY : maxima[r];
        float tile = row_maximum(s, keys);
        float maximum = tile > previous ? tile : previous;
        float reference = maximum == -INFINITY ? 0 : maximum;
        float blockSum = probabilities ? exponentiate_row_bf16(s, keys, reference, probabilities + r * stride)
                                       : exponentiate_row(s, keys, reference);
        if (first) {
            sums[r] = blockSum;
        } else if (previous < maximum) {
            // As VectorMath's exp of a single value: the same polynomial through a vector lane.
            float factor = _mm512_cvtss_f32(exp512(_mm512_set1_ps(previous - reference)));
            sums[r] = sums[r] * factor + blockSum;
            scale_row(out + r * dv, dv, factor);
        } else {
            sums[r] += blockSum;
        }
        maxima[r] = maximum;
    }
}

#else  // not x86-64: never called (st_avx512_supported() is 0).

int st_avx512_supported(void) { return 0; }
void st_softmax_tile(float *scores, long rows, long keys, int first, float *maxima, float *sums,
                     float *out, long dv, uint16_t *probabilities, long stride) {
    (void)scores; (void)rows; (void)keys; (void)first; (void)maxima; (void)sums;
    (void)out; (void)dv; (void)probabilities; (void)stride;
}
#endif
