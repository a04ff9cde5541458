// fp32 products with a packed right-hand operand on AVX2 + FMA. See include/CAVX2.h for the layout.
//
// st_f32_gemm_bias is blocked as usual for a small-K GEMM: rows in blocks of kBlockRows (A's
// block, kBlockRows x kDepth, stays in L2), depth in blocks of kDepth, and for each 16-column
// panel (kDepth x 16 floats = 16 KiB, in L1) every 6-row sliver of the row block passes over it.
// The micro-kernel keeps a 6 x 16 tile of C in 12 ymm accumulators; per k it loads the panel's
// two vectors and broadcasts one element of each of the six rows of A into two fused
// multiply-adds. A is read where it lies (no packing): its six rows are six sequential streams.

#include "CAVX2.h"
#include <math.h>
#include <string.h>

long st_f32_panel_count(long n) { return (n + 15) / 16; }

long st_f32_packed_count(long k, long n) { return k * 16 * st_f32_panel_count(n); }

/// One panel packed element by element: any strides, any sizes (st_f32_pack_b's fast paths take
/// whole row-read panels and, on AVX2, column-read ones).
static void pack_b_elements(const float *src, long row_stride, long col_stride, long k, long n, long panel,
                            float *dst) {
    float *out = dst + panel * k * 16;
    for (long kk = 0; kk < k; kk++) {
        for (long j = 0; j < 16; j++) {
            long col = panel * 16 + j;
            out[kk * 16 + j] = col < n ? src[kk * row_stride + col * col_stride] : 0.0f;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

/// Transposes the 8 x 8 block r[0..<8] in place (row i becomes column i).
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

static int has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}

/// dst[j * dst_stride + i] = src[i * src_stride + j]: whole 8 x 8 blocks by register transposes,
/// the edges element by element.
__attribute__((target("avx2"))) static void transpose_avx2(const float *src, long rows, long cols, long src_stride,
                                                           float *dst, long dst_stride) {
    long i = 0;
    for (; i + 8 <= rows; i += 8) {
        long j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 r[8];
            for (int a = 0; a < 8; a++) r[a] = _mm256_loadu_ps(src + (i + a) * src_stride + j);
            transpose8(r);
            for (int a = 0; a < 8; a++) _mm256_storeu_ps(dst + (j + a) * dst_stride + i, r[a]);
        }
        for (; j < cols; j++)
            for (int a = 0; a < 8; a++) dst[j * dst_stride + i + a] = src[(i + a) * src_stride + j];
    }
    for (; i < rows; i++)
        for (long j = 0; j < cols; j++) dst[j * dst_stride + i] = src[i * src_stride + j];
}

/// One panel of B read column by column (row_stride 1: column j is src[j * col_stride ...], as K
/// for K^T or a Linear weight for W^T): the panel's columns transposed into its rows, the columns
/// past n zero.
__attribute__((target("avx2"))) static void pack_b_transposed(const float *src, long col_stride, long k, long n,
                                                              long panel, float *dst) {
    float *out = dst + panel * k * 16;
    const long cols = n - panel * 16 < 16 ? n - panel * 16 : 16;
    transpose_avx2(src + panel * 16 * col_stride, cols, k, col_stride, out, 16);
    for (long kk = 0; cols < 16 && kk < k; kk++)
        for (long j = cols; j < 16; j++) out[kk * 16 + j] = 0.0f;
}
#endif

void st_f32_transpose(const float *src, long rows, long cols, long src_stride, float *dst, long dst_stride) {
#if defined(__x86_64__)
    if (has_avx2()) {
        transpose_avx2(src, rows, cols, src_stride, dst, dst_stride);
        return;
    }
#endif
    for (long i = 0; i < rows; i++)
        for (long j = 0; j < cols; j++) dst[j * dst_stride + i] = src[i * src_stride + j];
}

void st_f32_pack_b(const float *src, long row_stride, long col_stride, long k, long n, long panel_begin,
                   long panel_end, float *dst) {
    for (long p = panel_begin; p < panel_end; p++) {
        if (col_stride == 1 && p * 16 + 16 <= n) {  // rows of 16 contiguous floats: copies
            float *out = dst + p * k * 16;
            for (long kk = 0; kk < k; kk++) memcpy(out + kk * 16, src + kk * row_stride + p * 16, 16 * sizeof(float));
            continue;
        }
#if defined(__x86_64__)
        if (row_stride == 1 && has_avx2()) {
            pack_b_transposed(src, col_stride, k, n, p, dst);
            continue;
        }
#endif
        pack_b_elements(src, row_stride, col_stride, k, n, p, dst);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#define ST_AVX2 __attribute__((target("avx2,fma")))

enum { kRows = 6, kDepth = 256, kBlockRows = 96 };

int st_f32_gemm_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/// One 6 x 16 tile: C rows [0, rows) and columns [0, cols) of the tile (rows <= 6, cols <= 16)
/// get the product of kc columns of A (row stride lda) with kc rows of a panel, started from C
/// itself when `accumulate`, from zero otherwise, with bias[0, cols) added at the end when bias
/// is not NULL. Rows past `rows` repeat the last row of A and are not stored.
ST_AVX2 static void tile_6x16(long kc, const float *a, long lda, long rows, const float *b, float *c, long ldc,
                              long cols, int accumulate, const float *bias) {
    const float *a0 = a;
    const float *a1 = a + (rows > 1 ? 1 : rows - 1) * lda;
    const float *a2 = a + (rows > 2 ? 2 : rows - 1) * lda;
    const float *a3 = a + (rows > 3 ? 3 : rows - 1) * lda;
    const float *a4 = a + (rows > 4 ? 4 : rows - 1) * lda;
    const float *a5 = a + (rows > 5 ? 5 : rows - 1) * lda;
    const int full = cols == 16;
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cols), lanes);
    const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cols - 8), lanes);

    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
           c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
           c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
           c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    if (accumulate) {
#define ST_LOAD_ROW(i)                                                                            \
    if (i < rows) {                                                                               \
        const float *row = c + i * ldc;                                                           \
        c##i##0 = full ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, mask0);                   \
        c##i##1 = full ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, mask1);           \
    }
        ST_LOAD_ROW(0) ST_LOAD_ROW(1) ST_LOAD_ROW(2) ST_LOAD_ROW(3) ST_LOAD_ROW(4) ST_LOAD_ROW(5)
#undef ST_LOAD_ROW
    }
    for (long kk = 0; kk < kc; kk++) {
        const __m256 b0 = _mm256_loadu_ps(b + kk * 16);
        const __m256 b1 = _mm256_loadu_ps(b + kk * 16 + 8);
        __m256 x;
#define ST_FMA_ROW(i)                                                                             \
    x = _mm256_broadcast_ss(a##i + kk);                                                           \
    c##i##0 = _mm256_fmadd_ps(x, b0, c##i##0);                                                    \
    c##i##1 = _mm256_fmadd_ps(x, b1, c##i##1);
        ST_FMA_ROW(0) ST_FMA_ROW(1) ST_FMA_ROW(2) ST_FMA_ROW(3) ST_FMA_ROW(4) ST_FMA_ROW(5)
#undef ST_FMA_ROW
    }
    if (bias) {
        const __m256 bias0 = full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, mask0);
        const __m256 bias1 = full ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, mask1);
        c00 = _mm256_add_ps(c00, bias0); c01 = _mm256_add_ps(c01, bias1);
        c10 = _mm256_add_ps(c10, bias0); c11 = _mm256_add_ps(c11, bias1);
        c20 = _mm256_add_ps(c20, bias0); c21 = _mm256_add_ps(c21, bias1);
        c30 = _mm256_add_ps(c30, bias0); c31 = _mm256_add_ps(c31, bias1);
        c40 = _mm256_add_ps(c40, bias0); c41 = _mm256_add_ps(c41, bias1);
        c50 = _mm256_add_ps(c50, bias0); c51 = _mm256_add_ps(c51, bias1);
    }
#define ST_STORE_ROW(i)                                                                           \
    if (i < rows) {                                                                               \
        float *row = c + i * ldc;                                                                 \
        if (full) {                                                                               \
            _mm256_storeu_ps(row, c##i##0);                                                       \
            _mm256_storeu_ps(row + 8, c##i##1);                                                   \
        } else {                                                                                  \
            _mm256_maskstore_ps(row, mask0, c##i##0);                                             \
            _mm256_maskstore_ps(row + 8, mask1, c##i##1);                                         \
        }                                                                                         \
    }
    ST_STORE_ROW(0) ST_STORE_ROW(1) ST_STORE_ROW(2) ST_STORE_ROW(3) ST_STORE_ROW(4) ST_STORE_ROW(5)
#undef ST_STORE_ROW
}

ST_AVX2 void st_f32_gemm_bias(long m, long n, long k, const float *a, long lda, const float *b, long panel_begin,
                              long panel_end, const float *bias, float *c, long ldc) {
    long last_panel = st_f32_panel_count(n);
    if (panel_end > last_panel) panel_end = last_panel;
    if (m <= 0 || panel_end <= panel_begin) return;
    if (k == 0) {  // an empty sum: the bias, or zero
        for (long i = 0; i < m; i++)
            for (long j = panel_begin * 16; j < n && j < panel_end * 16; j++) c[i * ldc + j] = bias ? bias[j] : 0.0f;
        return;
    }
    for (long r0 = 0; r0 < m; r0 += kBlockRows) {
        long block_rows = m - r0 < kBlockRows ? m - r0 : kBlockRows;
        for (long d0 = 0; d0 < k; d0 += kDepth) {
            long kc = k - d0 < kDepth ? k - d0 : kDepth;
            int accumulate = d0 > 0, last = d0 + kc == k;
            for (long p = panel_begin; p < panel_end; p++) {
                long col = p * 16;
                long cols = n - col < 16 ? n - col : 16;
                const float *panel = b + p * k * 16 + d0 * 16;
                const float *panel_bias = last && bias ? bias + col : 0;
                for (long r = r0; r < r0 + block_rows; r += kRows) {
                    long rows = r0 + block_rows - r < kRows ? r0 + block_rows - r : kRows;
                    tile_6x16(kc, a + r * lda + d0, lda, rows, panel, c + r * ldc + col, ldc, cols, accumulate,
                              panel_bias);
                }
            }
        }
    }
}

#else
int st_f32_gemm_supported(void) { return 0; }

/// Other architectures: the same fused multiply-adds in the same order, one element at a time (Tensor does not
/// call it there, since st_f32_gemm_supported() is 0; it keeps the function's contract anyway).
void st_f32_gemm_bias(long m, long n, long k, const float *a, long lda, const float *b, long panel_begin,
                      long panel_end, const float *bias, float *c, long ldc) {
    for (long i = 0; i < m; i++) {
        for (long j = panel_begin * 16; j < n && j < panel_end * 16; j++) {
            const float *panel = b + (j / 16) * k * 16 + j % 16;
            float sum = 0.0f;
            for (long d0 = 0; d0 < k; d0 += 256) {
                float part = d0 == 0 ? 0.0f : sum;
                for (long kk = d0; kk < k && kk < d0 + 256; kk++) part = fmaf(a[i * lda + kk], panel[kk * 16], part);
                sum = part;
            }
            c[i * ldc + j] = bias ? sum + bias[j] : sum;
        }
    }
}
#endif
