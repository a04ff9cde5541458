#ifndef SAMTRACK_CAVX2_H
#define SAMTRACK_CAVX2_H
// fp32 matrix products on AVX2 + FMA with the right-hand operand packed once: the Linear layers
// of a small model, whose weights never change and whose products are too small for a general
// GEMM to amortise its per-call operand packing.
//
// Packed right-hand operand B (k x n) for st_f32_gemm_bias: panels of 16 columns, each panel
// k rows of 16 floats; element (kk, j) is at
//   b[(j / 16) * k * 16 + kk * 16 + j % 16],
// the columns from n up to the packed width (n rounded up to 16) being zeros. A is not packed:
// the kernel broadcasts its elements straight from the caller's rows.

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs the kernels (AVX2 and FMA), 0 otherwise (and on other architectures).
int st_f32_gemm_supported(void);

/// Number of 16-column panels of an operand with n columns.
long st_f32_panel_count(long n);

/// Number of floats a packed k x n operand occupies (k * 16 * st_f32_panel_count(n)).
long st_f32_packed_count(long k, long n);

/// Writes panels [panel_begin, panel_end) of B into dst (the whole packed buffer), B's element
/// (kk, j) being src[kk * row_stride + j * col_stride]. A Linear weight [out, in] read as W^T is
/// row_stride 1, col_stride in. Whole panels of a B read row by row (col_stride 1) are copied 16
/// floats at a time, and a B read column by column (row_stride 1) goes through 8 x 8 register
/// transposes on AVX2 CPUs: the attention kernels pack K and V this way on every call.
void st_f32_pack_b(const float *src, long row_stride, long col_stride, long k, long n, long panel_begin,
                   long panel_end, float *dst);

/// C[i, j] = sum_kk A[i, kk] * B[kk, j] (+ bias[j] when bias is not NULL) for rows 0..<m and the
/// columns of panels [panel_begin, panel_end) (clipped to n), on the calling thread. A is m x k
/// with row stride lda, B packed as above, C has row stride ldc. Each element's sum runs over kk
/// in order, in blocks of 256 (so a result does not depend on how rows or panels are split between
/// calls), and the bias is added last.
void st_f32_gemm_bias(long m, long n, long k, const float *a, long lda, const float *b, long panel_begin,
                      long panel_end, const float *bias, float *c, long ldc);

/// dst[j * dst_stride + i] = src[i * src_stride + j] for i < rows, j < cols (a matrix transposed;
/// 8 x 8 blocks in registers on AVX2 CPUs, element by element elsewhere). Tensor's permutes that
/// swap two groups of axes ([B, C, H, W] <-> [B, H, W, C]) are such transposes.
void st_f32_transpose(const float *src, long rows, long cols, long src_stride, float *dst, long dst_stride);

/// Floats of scratch st_f32_short_attention needs for lk keys of depth d and values of width dv.
long st_f32_short_attention_scratch(long lk, long d, long dv);

/// out[i] = softmax(alpha * q[i] k^T) v for query rows i < rows, on the calling thread: q is rows x d,
/// k is lk x d, v is lk x dv, out is rows x dv (all row-major, rows contiguous). K and V are packed
/// into `scratch` (st_f32_short_attention_scratch floats) on each call, so calls for row ranges of
/// one pair repeat the packing. Each score and output element is one sum over its depth in order,
/// so the result for a row does not depend on the rows it was called with. For short key
/// sequences (the whole row of scores is held: Tensor calls it for at most 256 keys).
void st_f32_short_attention(long lk, long d, long dv, float alpha, const float *q, const float *k,
                            const float *v, float *out, long rows, float *scratch);

/// Floats of scratch st_f32_window_attention needs for a window of `queries` queries and `keys`
/// keys of depth d.
long st_f32_window_attention_scratch(long queries, long keys, long d);

/// One window's self-attention for one head, read from and written to token maps in place (a qkv
/// projection's map: q, k and v a channel offset apart). Query i is the maximum (NaN propagating,
/// as Tensor's windowPartition pools) of the `q_cells` rows of d floats at q + q_offsets[i *
/// q_cells + c] (one cell: no pooling); key and value j are the d floats at k + offsets[j] and
/// v + offsets[j]; output row i goes to out + out_offsets[i]. The rows are gathered into `scratch`,
/// attended as st_f32_short_attention does (the bits partitioned copies would give) and scattered.
void st_f32_window_attention(long queries, long keys, long d, float alpha, const float *q,
                             const long *q_offsets, long q_cells, const float *k, const float *v,
                             const long *offsets, float *out, const long *out_offsets, float *scratch);

// Bit-exact twins of Tensor's fp32 loops (swift_twins.c), each on two 8-lane halves of the Swift
// code's 16-lane vector, the same operations in the same order; the AVX-512 twins in CAVX512 have
// the same contracts.

/// 1 when this CPU runs the twins (AVX2 and FMA), 0 otherwise.
int st_avx2_supported(void);

/// dst = GELU(src) (exact erf form, as VectorMath.vectorGelu) over `vectors` 16-float vectors
/// (dst may equal src). The one GELU twin: AVX-512 CPUs run it too.
void st_avx2_gelu_twin(const float *src, float *dst, long vectors);

/// lanes[0..<16] = per-lane maxima over the full 16-float vectors of values[0..<count] (-inf lanes
/// when there are none), as Softmax.rowMaximum's vector loop; the caller reduces the lanes and the tail.
void st_avx2_row_max_twin(const float *values, long count, float *lanes);

/// values[0..<count] = exp(values - reference) as VectorMath.vectorExp, and lane_sums[0..<16] = the
/// per-lane sums over the full 16-float vectors (as the sum vector of Softmax.exponentiateRow; the
/// caller adds the tail's values to it one by one).
void st_avx2_exp_row_twin(float *values, long count, float reference, float *lane_sums);

#ifdef __cplusplus
}
#endif

#endif
