// Attention over short key sequences on AVX2 + FMA, one (pair, row range) per call: Hiera's
// windows (16 or 64 keys), its global block at 256 px (256), the mask decoder's attentions. Through
// the general flash path such a window costs two OpenBLAS calls (each packing both operands) and a
// Swift softmax pass for a few thousand multiply-adds.
//
// Per call: K is transposed into 16-key panels (K^T, d x 16 each; st_f32_pack_b's 8 x 8 register
// transposes) in the caller's scratch, V is read in place (or packed into 16-column panels when dv is not a multiple
// of 16); then for each block of up to six query rows
//   S = alpha * Q K^T             (6 x 16 micro-tiles; the keys past lk set to -inf),
//   P = exp(S - row max)          (st_avx2_exp_row_twin: the softmax rows' exp and lane sums),
//   O = P V * (1 / row sum)       (the same micro-tile over the value columns).
// Each element is one sum over its depth in order, so a row's result does not depend on how the
// rows are split between calls or threads.

#include "CAVX2.h"
#include <math.h>

/// Keys padded to whole 16-key panels.
static long padded_keys(long lk) { return (lk + 15) / 16 * 16; }

long st_f32_short_attention_scratch(long lk, long d, long dv) {
    const long keys = padded_keys(lk);
    return keys * d + lk * 16 * st_f32_panel_count(dv) + 6 * keys;
}

long st_f32_window_attention_scratch(long queries, long keys, long d) {
    return 2 * queries * d + 2 * keys * d + st_f32_short_attention_scratch(keys, d, d);
}

#if defined(__x86_64__)
#include <immintrin.h>
#define ST_AVX2 __attribute__((target("avx2,fma")))

/// out[i, 0..<cols] = row_scale[i] * sum_kk a[i * lda + kk] * b[kk * ldb + 0..<16] for rows i < R
/// (R a constant after inlining, so the 2 R accumulators stay in registers).
ST_AVX2 static inline __attribute__((always_inline)) void tile(const int R, long kc, const float *a, long lda,
                                                                const float *b, long ldb, float *out, long ldo,
                                                                long cols, const float *row_scale) {
    __m256 c0[6], c1[6];
    for (int i = 0; i < R; i++) { c0[i] = _mm256_setzero_ps(); c1[i] = _mm256_setzero_ps(); }
    for (long kk = 0; kk < kc; kk++) {
        const __m256 b0 = _mm256_loadu_ps(b + kk * ldb), b1 = _mm256_loadu_ps(b + kk * ldb + 8);
        for (int i = 0; i < R; i++) {
            const __m256 x = _mm256_broadcast_ss(a + i * lda + kk);
            c0[i] = _mm256_fmadd_ps(x, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(x, b1, c1[i]);
        }
    }
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cols), lanes);
    const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cols - 8), lanes);
    for (int i = 0; i < R; i++) {
        const __m256 s = _mm256_set1_ps(row_scale[i]);
        float *row = out + i * ldo;
        if (cols == 16) {
            _mm256_storeu_ps(row, _mm256_mul_ps(c0[i], s));
            _mm256_storeu_ps(row + 8, _mm256_mul_ps(c1[i], s));
        } else {
            _mm256_maskstore_ps(row, mask0, _mm256_mul_ps(c0[i], s));
            _mm256_maskstore_ps(row + 8, mask1, _mm256_mul_ps(c1[i], s));
        }
    }
}

ST_AVX2 static void tile_rows(int rows, long kc, const float *a, long lda, const float *b, long ldb, float *out,
                              long ldo, long cols, const float *row_scale) {
    switch (rows) {
    case 6: tile(6, kc, a, lda, b, ldb, out, ldo, cols, row_scale); break;
    case 5: tile(5, kc, a, lda, b, ldb, out, ldo, cols, row_scale); break;
    case 4: tile(4, kc, a, lda, b, ldb, out, ldo, cols, row_scale); break;
    case 3: tile(3, kc, a, lda, b, ldb, out, ldo, cols, row_scale); break;
    case 2: tile(2, kc, a, lda, b, ldb, out, ldo, cols, row_scale); break;
    default: tile(1, kc, a, lda, b, ldb, out, ldo, cols, row_scale); break;
    }
}

ST_AVX2 void st_f32_short_attention(long lk, long d, long dv, float alpha, const float *q, const float *k,
                                    const float *v, float *out, long rows, float *scratch) {
    const long keys = padded_keys(lk), key_panels = keys / 16, value_panels = st_f32_panel_count(dv);
    float *packed_keys = scratch;                      // key_panels x (d x 16)
    float *packed_values = packed_keys + keys * d;  // value_panels x (lk x 16), when dv is not a multiple of 16
    float *scores = packed_values + lk * 16 * value_panels;  // 6 x keys
    st_f32_pack_b(k, 1, d, d, lk, 0, key_panels, packed_keys);  // K^T: element (c, j) = k[j * d + c]
    // V is read in place (16 columns a panel, row stride dv) when its rows are whole panels.
    const int values_in_place = dv % 16 == 0;
    if (!values_in_place) st_f32_pack_b(v, dv, 1, lk, dv, 0, value_panels, packed_values);
    float alphas[6], inverse_sums[6];
    for (int i = 0; i < 6; i++) alphas[i] = alpha;
    for (long r0 = 0; r0 < rows; r0 += 6) {
        const int block = rows - r0 < 6 ? (int)(rows - r0) : 6;
        for (long p = 0; p < key_panels; p++)
            tile_rows(block, d, q + r0 * d, d, packed_keys + p * d * 16, 16, scores + p * 16, keys, 16, alphas);
        for (int i = 0; i < block; i++) {
            float *s = scores + i * keys;
            for (long j = lk; j < keys; j++) s[j] = -INFINITY;
            float lanes[16];
            st_avx2_row_max_twin(s, keys, lanes);  // keys is whole 16-float vectors
            float maximum = lanes[0];
            for (int l = 1; l < 16; l++) maximum = lanes[l] > maximum ? lanes[l] : maximum;
            // A row of -inf scores keeps reference 0 (exp gives 0, not NaN), as the flash path does.
            st_avx2_exp_row_twin(s, keys, maximum == -INFINITY ? 0.0f : maximum, lanes);
            float sum = 0.0f;
            for (int l = 0; l < 16; l++) sum += lanes[l];
            inverse_sums[i] = 1.0f / sum;
        }
        // O = P V over the lk real keys (the padded keys' probabilities are zero).
        for (long p = 0; p < value_panels; p++) {
            const long cols = dv - p * 16 < 16 ? dv - p * 16 : 16;
            if (values_in_place)
                tile_rows(block, lk, scores, keys, v + p * 16, dv, out + r0 * dv + p * 16, dv, cols, inverse_sums);
            else
                tile_rows(block, lk, scores, keys, packed_values + p * lk * 16, 16, out + r0 * dv + p * 16, dv, cols,
                          inverse_sums);
        }
    }
}

/// dst[0..<d] = the maximum of the `cells` rows src + offsets[c] (NaN propagating: a NaN wins, the
/// first one met), as windowPartition's pooling.
ST_AVX2 static void pool_row(float *dst, const float *src, const long *offsets, long cells, long d) {
    long j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 best = _mm256_set1_ps(-INFINITY);
        for (long c = 0; c < cells; c++) {
            const __m256 v = _mm256_loadu_ps(src + offsets[c] + j);
            const __m256 wins = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                                             _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q),
                                                           _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
            best = _mm256_blendv_ps(best, v, wins);
        }
        _mm256_storeu_ps(dst + j, best);
    }
    for (; j < d; j++) {
        float best = -INFINITY;
        for (long c = 0; c < cells; c++) {
            const float v = src[offsets[c] + j];
            if (v > best || (isnan(v) && !isnan(best))) best = v;
        }
        dst[j] = best;
    }
}

/// dst[0..<d] = src[0..<d], inline (a libc call per token's row cost more than the copy).
ST_AVX2 static inline __attribute__((always_inline)) void copy_row(float *dst, const float *src, long d) {
    long j = 0;
    for (; j + 8 <= d; j += 8) _mm256_storeu_ps(dst + j, _mm256_loadu_ps(src + j));
    for (; j < d; j++) dst[j] = src[j];
}

ST_AVX2 void st_f32_window_attention(long queries, long keys, long d, float alpha, const float *q,
                                     const long *q_offsets, long q_cells, const float *k, const float *v,
                                     const long *offsets, float *out, const long *out_offsets, float *scratch) {
    float *gq = scratch, *gk = gq + queries * d, *gv = gk + keys * d, *go = gv + keys * d;
    for (long i = 0; i < queries; i++) {
        if (q_cells == 1) copy_row(gq + i * d, q + q_offsets[i], d);
        else pool_row(gq + i * d, q, q_offsets + i * q_cells, q_cells, d);
    }
    for (long i = 0; i < keys; i++) {
        copy_row(gk + i * d, k + offsets[i], d);
        copy_row(gv + i * d, v + offsets[i], d);
    }
    st_f32_short_attention(keys, d, d, alpha, gq, gk, gv, go, queries, go + queries * d);
    for (long i = 0; i < queries; i++) copy_row(out + out_offsets[i], go + i * d, d);
}

#else  // not x86-64: never called (st_f32_gemm_supported() is 0).
void st_f32_window_attention(long queries, long keys, long d, float alpha, const float *q,
                             const long *q_offsets, long q_cells, const float *k, const float *v,
                             const long *offsets, float *out, const long *out_offsets, float *scratch) {
    (void)queries; (void)keys; (void)d; (void)alpha; (void)q; (void)q_offsets; (void)q_cells; (void)k; (void)v;
    (void)offsets; (void)out; (void)out_offsets; (void)scratch;
}
void st_f32_short_attention(long lk, long d, long dv, float alpha, const float *q, const float *k,
                            const float *v, float *out, long rows, float *scratch) {
    (void)lk; (void)d; (void)dv; (void)alpha; (void)q; (void)k; (void)v; (void)out; (void)rows; (void)scratch;
}
#endif
