// bfloat16 products with fp32 accumulation (AVX-512 BF16). See include/CAVX512.h for layouts.
//
// st_bf16_gemm is a blocked GEMM in the usual shape: the depth is cut into blocks of
// kDepthPairs k-pairs and the rows into blocks of kBlockRows, so that one 64-column micro-panel of
// B (kDepthPairs x 64 pairs = 32 KiB) stays in L1 while every 6-row sliver of the row block (from
// L2) passes over it. The micro-kernel keeps a 6 x 64 tile of C in 24 zmm accumulators; per k-pair
// it loads four B vectors and broadcasts one A pair per row into vdpbf16ps, which adds
// a[2i] * b[2i] + a[2i+1] * b[2i+1] into each fp32 lane.

#include "CAVX512.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define ST_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx512dq,fma")))
#define ST_INLINE static inline __attribute__((always_inline))

enum { kMicroRows = 6, kMicroVectors = 4, kDepthPairs = 128, kBlockRows = 96, kTransposePairs = 256 };

int st_bf16_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}
#else
int st_bf16_supported(void) { return 0; }
#endif

long st_bf16_packed_width(long n) { return (n + 15) / 16 * 16; }

long st_bf16_packed_count(long k, long n) { return (k + 1) / 2 * st_bf16_packed_width(n) * 2; }

/// Round to nearest even; NaN stays a (quiet) NaN.
static inline uint16_t bf16_from_float(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

static inline uint32_t bf16_pair(float low, float high) {
    return (uint32_t)bf16_from_float(low) | ((uint32_t)bf16_from_float(high) << 16);
}

#if defined(__x86_64__)

ST_AVX512BF16 static void convert_row(const float *src, long count, uint16_t *dst) {
    long i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512bh pair = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)pair);
    }
    for (; i < count; i += 16) {
        long left = count - i;
        __mmask16 mask = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        __m256bh half = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, src + i));
        _mm256_mask_storeu_epi16((void *)(dst + i), mask, (__m256i)half);
    }
}

void st_bf16_convert_rows(const float *src, long ld_src, long rows, long cols, uint16_t *dst, long ld_dst) {
    for (long r = 0; r < rows; r++) {
        convert_row(src + r * ld_src, cols, dst + r * ld_dst);
        if (cols & 1) dst[r * ld_dst + cols] = 0;
    }
}

/// Pairs contiguous in the source (row_stride 1, e.g. a Linear weight [out, in] read as W^T, or
/// attention keys [L, D] read as K^T): each column is converted as a row of pairs into a 16-column
/// scratch, then transposed into the pair rows.
ST_AVX512BF16 static void pack_pairs_contiguous(const float *src, long col_stride, long k, long n, long ldp,
                                                long pair_begin, long pair_end, uint16_t *dst) {
    uint32_t scratch[16][kTransposePairs];
    uint16_t row[2 * kTransposePairs];
    uint32_t *out = (uint32_t *)dst;
    for (long p0 = pair_begin; p0 < pair_end; p0 += kTransposePairs) {
        long pairs = pair_end - p0 < kTransposePairs ? pair_end - p0 : kTransposePairs;
        long first = 2 * p0;
        long values = k - first < 2 * pairs ? k - first : 2 * pairs;  // odd k: the last pair's high half is 0
        for (long j0 = 0; j0 < ldp; j0 += 16) {
            long columns = n - j0 < 16 ? (n - j0 > 0 ? n - j0 : 0) : 16;
            for (long jj = 0; jj < columns; jj++) {
                convert_row(src + (j0 + jj) * col_stride + first, values, row);
                if (values & 1) row[values] = 0;
                memcpy(scratch[jj], row, (size_t)pairs * 4);
            }
            for (long jj = columns; jj < 16; jj++) memset(scratch[jj], 0, (size_t)pairs * 4);
            for (long p = 0; p < pairs; p++) {
                uint32_t *line = out + (p0 + p) * ldp + j0;
                for (long jj = 0; jj < 16; jj++) line[jj] = scratch[jj][p];
            }
        }
    }
}

/// Columns contiguous in the source (col_stride 1, e.g. attention values [L, Dv] as B = V): two
/// source rows are converted and interleaved 16 columns at a time.
ST_AVX512BF16 static void pack_rows_contiguous(const float *src, long row_stride, long k, long n, long ldp,
                                               long pair_begin, long pair_end, uint16_t *dst) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (long p = pair_begin; p < pair_end; p++) {
        const float *low = src + 2 * p * row_stride;
        const float *high = 2 * p + 1 < k ? low + row_stride : NULL;
        uint16_t *line = dst + p * ldp * 2;
        for (long j = 0; j < ldp; j += 16) {
            long left = n - j;
            __mmask16 mask = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1u) : 0;
            __m512 lo = _mm512_maskz_loadu_ps(mask, low + j);
            __m512 hi = high ? _mm512_maskz_loadu_ps(mask, high + j) : _mm512_setzero_ps();
            __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
            _mm512_storeu_si512((void *)(line + 2 * j), _mm512_permutexvar_epi16(interleave, both));
        }
    }
}

void st_bf16_pack_b(const float *src, long row_stride, long col_stride, long k, long n,
                    long pair_begin, long pair_end, uint16_t *dst) {
    long ldp = st_bf16_packed_width(n);
    if (row_stride == 1) {
        pack_pairs_contiguous(src, col_stride, k, n, ldp, pair_begin, pair_end, dst);
    } else if (col_stride == 1) {
        pack_rows_contiguous(src, row_stride, k, n, ldp, pair_begin, pair_end, dst);
    } else {
        uint32_t *out = (uint32_t *)dst;
        for (long p = pair_begin; p < pair_end; p++) {
            for (long j = 0; j < ldp; j++) {
                float low = j < n ? src[2 * p * row_stride + j * col_stride] : 0;
                float high = j < n && 2 * p + 1 < k ? src[(2 * p + 1) * row_stride + j * col_stride] : 0;
                out[p * ldp + j] = bf16_pair(low, high);
            }
        }
    }
}

/// One MR x (16 * NV) tile of C over `pairs` k-pairs. `last` masks the columns of the last vector.
ST_AVX512BF16 ST_INLINE void micro_kernel(const int MR, const int NV, long pairs, const uint16_t *a, long lda,
                                           const uint16_t *b, long ldp, float *c, long ldc, float alpha,
                                           float beta, const float *bias, __mmask16 last) {
    __m512 acc[kMicroRows][kMicroVectors];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    const uint16_t *bp = b;
    for (long p = 0; p < pairs; p++, bp += 2 * ldp) {
        __m512bh bv[kMicroVectors];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) bv[v] = (__m512bh)_mm512_loadu_si512((const void *)(bp + 32 * v));
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            int32_t word;
            memcpy(&word, a + i * lda + 2 * p, sizeof word);
            __m512bh av = (__m512bh)_mm512_set1_epi32(word);
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, bv[v]);
        }
    }
    const __m512 scale = _mm512_set1_ps(alpha), keep = _mm512_set1_ps(beta);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) {
            float *out = c + i * ldc + 16 * v;
            __mmask16 mask = v == NV - 1 ? last : (__mmask16)0xffff;
            __m512 value = _mm512_mul_ps(acc[i][v], scale);
            if (beta != 0) value = _mm512_fmadd_ps(keep, _mm512_maskz_loadu_ps(mask, out), value);
            if (bias) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, bias + 16 * v));
            _mm512_mask_storeu_ps(out, mask, value);
        }
    }
}

#define ST_TILE_CASE(MR, NV) \
    case (MR) * 8 + (NV): micro_kernel(MR, NV, pairs, a, lda, b, ldp, c, ldc, alpha, beta, bias, last); break;

ST_AVX512BF16 static void tile(int mr, int nv, long pairs, const uint16_t *a, long lda, const uint16_t *b, long ldp,
                               float *c, long ldc, float alpha, float beta, const float *bias, __mmask16 last) {
    switch (mr * 8 + nv) {
        ST_TILE_CASE(1, 1) ST_TILE_CASE(1, 2) ST_TILE_CASE(1, 3) ST_TILE_CASE(1, 4)
        ST_TILE_CASE(2, 1) ST_TILE_CASE(2, 2) ST_TILE_CASE(2, 3) ST_TILE_CASE(2, 4)
        ST_TILE_CASE(3, 1) ST_TILE_CASE(3, 2) ST_TILE_CASE(3, 3) ST_TILE_CASE(3, 4)
        ST_TILE_CASE(4, 1) ST_TILE_CASE(4, 2) ST_TILE_CASE(4, 3) ST_TILE_CASE(4, 4)
        ST_TILE_CASE(5, 1) ST_TILE_CASE(5, 2) ST_TILE_CASE(5, 3) ST_TILE_CASE(5, 4)
        ST_TILE_CASE(6, 1) ST_TILE_CASE(6, 2) ST_TILE_CASE(6, 3) ST_TILE_CASE(6, 4)
        default: break;
    }
}

void st_bf16_gemm(long m, long n, long k, float alpha, const uint16_t *a, long lda,
                  const uint16_t *b, long ldp, float beta, float *c, long ldc) {
    st_bf16_gemm_bias(m, n, k, alpha, a, lda, b, ldp, beta, NULL, c, ldc);
}

void st_bf16_gemm_bias(long m, long n, long k, float alpha, const uint16_t *a, long lda,
                       const uint16_t *b, long ldp, float beta, const float *bias, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    long totalPairs = (k + 1) / 2;
    if (totalPairs == 0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++)
                c[i * ldc + j] = (beta == 0 ? 0 : beta * c[i * ldc + j]) + (bias ? bias[j] : 0);
        return;
    }
    for (long p0 = 0; p0 < totalPairs; p0 += kDepthPairs) {
        long pairs = totalPairs - p0 < kDepthPairs ? totalPairs - p0 : kDepthPairs;
        float blockBeta = p0 == 0 ? beta : 1.0f;
        const float *blockBias = p0 == 0 ? bias : NULL;
        const uint16_t *bBlock = b + p0 * ldp * 2;
        for (long i0 = 0; i0 < m; i0 += kBlockRows) {
            long rows = m - i0 < kBlockRows ? m - i0 : kBlockRows;
            for (long j0 = 0; j0 < n; j0 += 16 * kMicroVectors) {
                long columns = n - j0 < 16 * kMicroVectors ? n - j0 : 16 * kMicroVectors;
                int nv = (int)((columns + 15) / 16);
                long lastColumns = columns - 16 * (nv - 1);
                __mmask16 last = lastColumns >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << lastColumns) - 1u);
                for (long i = i0; i < i0 + rows; i += kMicroRows) {
                    int mr = (int)(i0 + rows - i < kMicroRows ? i0 + rows - i : kMicroRows);
                    tile(mr, nv, pairs, a + i * lda + 2 * p0, lda, bBlock + 2 * j0, ldp, c + i * ldc + j0, ldc,
                         alpha, blockBeta, blockBias ? blockBias + j0 : NULL, last);
                }
            }
        }
    }
}

#else  // not x86-64: the kernels are never called (st_bf16_supported() is 0); scalar versions keep the
       // library complete.

void st_bf16_convert_rows(const float *src, long ld_src, long rows, long cols, uint16_t *dst, long ld_dst) {
    for (long r = 0; r < rows; r++) {
        for (long j = 0; j < cols; j++) dst[r * ld_dst + j] = bf16_from_float(src[r * ld_src + j]);
        if (cols & 1) dst[r * ld_dst + cols] = 0;
    }
}

void st_bf16_pack_b(const float *src, long row_stride, long col_stride, long k, long n,
                    long pair_begin, long pair_end, uint16_t *dst) {
    long ldp = st_bf16_packed_width(n);
    uint32_t *out = (uint32_t *)dst;
    for (long p = pair_begin; p < pair_end; p++)
        for (long j = 0; j < ldp; j++) {
            float low = j < n ? src[2 * p * row_stride + j * col_stride] : 0;
            float high = j < n && 2 * p + 1 < k ? src[(2 * p + 1) * row_stride + j * col_stride] : 0;
            out[p * ldp + j] = bf16_pair(low, high);
        }
}

static float float_from_bf16(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void st_bf16_gemm(long m, long n, long k, float alpha, const uint16_t *a, long lda,
                  const uint16_t *b, long ldp, float beta, float *c, long ldc) {
    st_bf16_gemm_bias(m, n, k, alpha, a, lda, b, ldp, beta, NULL, c, ldc);
}

void st_bf16_gemm_bias(long m, long n, long k, float alpha, const uint16_t *a, long lda,
                       const uint16_t *b, long ldp, float beta, const float *bias, float *c, long ldc) {
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            float sum = 0;
            for (long kk = 0; kk < k; kk++)
                sum += float_from_bf16(a[i * lda + kk]) * float_from_bf16(b[(kk / 2) * ldp * 2 + j * 2 + kk % 2]);
            c[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j]) + (bias ? bias[j] : 0);
        }
}
#endif
