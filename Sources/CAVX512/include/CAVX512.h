#ifndef SAMTRACK_CAVX512_H
#define SAMTRACK_CAVX512_H
// bfloat16 matrix products with fp32 accumulation on AVX-512 BF16 (vdpbf16ps).
//
// Storage: a bfloat16 is the upper half of an IEEE float32, kept here as uint16_t; conversions
// round to nearest even (as PyTorch's autocast does).
//
// Packed right-hand operand B (k x n) for st_bf16_gemm: element (kk, j) is at
//   b[(kk / 2) * ldp * 2 + j * 2 + kk % 2],
// i.e. rows of k-pairs, each pair row holding ldp >= n column pairs (ldp a multiple of 16; the
// padding, and the odd row when k is odd, are zeros). st_bf16_pack_b writes this layout.

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs the kernels (AVX-512 F/BW/VL and AVX-512 BF16), 0 otherwise.
int st_bf16_supported(void);

/// Pair-row width of a packed operand with n columns: n rounded up to a multiple of 16.
long st_bf16_packed_width(long n);

/// Number of uint16_t a packed k x n operand occupies.
long st_bf16_packed_count(long k, long n);

/// dst[r * ld_dst + c] = bf16(src[r * ld_src + c]) for rows x cols; when cols is odd,
/// dst[r * ld_dst + cols] = 0 as well (the zero pair half st_bf16_gemm expects; ld_dst > cols then).
void st_bf16_convert_rows(const float *src, long ld_src, long rows, long cols, uint16_t *dst, long ld_dst);

/// Packs B (k x n, element (kk, j) at src[kk * row_stride + j * col_stride]) into the layout above
/// with ldp = st_bf16_packed_width(n). Packs pair rows [pair_begin, pair_end) only (for splitting
/// the work); pass 0 and (k + 1) / 2 for all of it.
void st_bf16_pack_b(const float *src, long row_stride, long col_stride, long k, long n,
                    long pair_begin, long pair_end, uint16_t *dst);

/// C (m x n, row stride ldc) = alpha * A B + beta * C, with A bf16 (m x k, row stride lda; when k
/// is odd each row holds a zero at column k) and B packed (pair-row width ldp). beta == 0 does not
/// read C. Single-threaded; callers split rows across threads.
void st_bf16_gemm(long m, long n, long k, float alpha, const uint16_t *a, long lda,
                  const uint16_t *b, long ldp, float beta, float *c, long ldc);

/// st_bf16_gemm plus a bias row: C = alpha * A B + beta * C + bias[j] (bias may be NULL).
void st_bf16_gemm_bias(long m, long n, long k, float alpha, const uint16_t *a, long lda,
                       const uint16_t *b, long ldp, float beta, const float *bias, float *c, long ldc);

/// 1 when this CPU runs the AVX-512 F kernels below (st_softmax_tile and the twins), 0 otherwise.
int st_avx512_supported(void);

/// One key tile of attention's online softmax (see Sources/Tensor/Attention.swift), for `rows`
/// rows of `keys` scores (row stride `keys`): with m the running row maximum (-inf when `first`)
/// and m' = max(m, row maximum of the tile), replaces the scores by P = exp(s - m'), adds their sum
/// to sums[r] (after scaling it, and output row r of `dv` values, by exp(m - m') when m' > m;
/// `first` sets sums[r] instead), and stores m' in maxima[r]. A row whose maximum is -inf uses 0.
/// When `probabilities` is not NULL, P is also written there in bf16 (row stride `stride`, a zero
/// after the last key when `keys` is odd) for the P V product, and the scores are left as they were.
void st_softmax_tile(float *scores, long rows, long keys, int first, float *maxima, float *sums,
                     float *out, long dv, uint16_t *probabilities, long stride);

/// Bit-exact AVX-512 twins of Sources/Tensor's fp32 loops (swift_twins.c).
/// st_exp_row_twin: values[0..<count] = exp(values - reference) as VectorMath.vectorExp, and
/// lane_sums[l] = the sum, in order, of lane l's results over the full groups of 16 (the sum
/// vector of Softmax.exponentiateRow; the caller adds the tail's values to it one by one).
void st_exp_row_twin(float *values, long count, float reference, float *lane_sums);
/// st_row_max_twin: lanes[l] = the largest of lane l's values over the full groups of 16 (-inf
/// when there are none), as Softmax.rowMaximum's vector loop; the caller reduces the lanes and the tail.
void st_row_max_twin(const float *values, long count, float *lanes);

#ifdef __cplusplus
}
#endif
#endif
