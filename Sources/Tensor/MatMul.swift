// MatMul: matrix products on OpenBLAS (cblas_sgemm, split over the workers): plain, batched and the Linear layer.
//
// Layouts are PyTorch's: a Linear weight is [out, in] and computes x @ W^T + b.

import COpenBLAS

/// C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C, row-major, on OpenBLAS. A product of
/// at least `parallelProductThreshold` multiply-adds is split into one block of rows of C per
/// worker (or of columns, when C has few rows), each a single-threaded `cblas_sgemm` call run by
/// `Parallel.forEach`; the blocks are aligned (`ProductSplitAlignment`) so the result is
/// bit-identical to one call. One block per worker: at 512 px four smaller blocks per worker made the
/// encoder ~10% slower (three times the share of time in OpenBLAS's operand packing).
public func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        // BLAS leaves C untouched when k == 0 only if beta == 1; make beta's meaning explicit.
        for row in 0..<m { for col in 0..<n { c[row * ldc + col] *= beta } }
        return
    }
    func block(rows: Range<Int>, columns: Range<Int>) {
        // Row r of op(A) starts at a + r * lda (A is [m, k]) or at a + r (A is [k, m]); column j
        // of op(B) at b + j (B is [k, n]) or b + j * ldb (B is [n, k]).
        let blockA = transposeA ? a + rows.lowerBound : a + rows.lowerBound * lda
        let blockB = transposeB ? b + columns.lowerBound * ldb : b + columns.lowerBound
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(rows.count), Int32(columns.count), Int32(k), alpha, blockA, Int32(lda), blockB, Int32(ldb),
                    beta, c + rows.lowerBound * ldc + columns.lowerBound, Int32(ldc))
    }
    forEachProductBlock(m: m, n: n, k: k) { rows, columns in block(rows: rows, columns: columns) }
}

/// Calls `body` on the blocks of C [m, n] that `sgemm` gives one worker each: one block of rows (or
/// of columns, when C has few rows) per worker for a product of at least `parallelProductThreshold`
/// multiply-adds, cut at `ProductSplitAlignment` (so each block's product is bit-identical to the
/// same rows or columns of one OpenBLAS call); the whole of C on the calling thread otherwise.
/// Callers fuse per-block work (bias, activation) into the same job while the block is in cache.
func forEachProductBlock(m: Int, n: Int, k: Int, _ body: (_ rows: Range<Int>, _ columns: Range<Int>) -> Void) {
    let threads = Parallel.threadCount
    if threads > 1, m * n * k >= parallelProductThreshold {
        // Blocks start at multiples of OpenBLAS's register-tile sizes, so OpenBLAS tiles them as it
        // tiles the whole product: same kernels on the same elements, the same bits.
        let alignment = ProductSplitAlignment.current
        func boundaries(_ extent: Int, _ align: Int) -> [Int] {
            let units = (extent + align - 1) / align
            let parts = min(threads, units)
            return (0...parts).map { min(extent, units * $0 / parts * align) }
        }
        if m >= 2 * alignment.rows {
            let rows = boundaries(m, alignment.rows)
            Parallel.forEach(rows.count - 1) { range in
                for part in range { body(rows[part]..<rows[part + 1], 0..<n) }
            }
            return
        }
        if let columnAlignment = alignment.columns, n >= 2 * columnAlignment {
            let columns = boundaries(n, columnAlignment)
            Parallel.forEach(columns.count - 1) { range in
                for part in range { body(0..<m, columns[part]..<columns[part + 1]) }
            }
            return
        }
    }
    body(0..<m, 0..<n)
}

/// Where `sgemm` may cut a product so that every block is bit-identical to the same rows (columns)
/// of one OpenBLAS call (checked by `WorkerPoolTests` and, per kernel set, by cutting products of
/// the model's shapes with OpenBLAS alone): OpenBLAS's AVX-512 and AVX kernel sets (SkylakeX,
/// Cooperlake, Sandybridge) give the same bits for blocks starting at multiples of 64 rows or 64
/// columns; its Haswell kernels (also used on AMD Zen without AVX-512, and what
/// `OPENBLAS_CORETYPE=Haswell` forces) at multiples of 24 rows, and for no column cut.
struct ProductSplitAlignment: Sendable {
    let rows: Int
    /// nil: products are not cut by columns.
    let columns: Int?

    static let current: ProductSplitAlignment = {
        switch Parallel.openBLASCoreName.lowercased() {
        case "haswell", "zen": ProductSplitAlignment(rows: 24, columns: nil)
        default: ProductSplitAlignment(rows: 64, columns: 64)
        }
    }()
}

/// Products with at least this many multiply-adds are split over the workers (`sgemm`).
public let parallelProductThreshold = 1 << 20

/// Products of this many multiply-adds or fewer run one per worker thread in batched products;
/// larger ones run one at a time, each split over the workers by `sgemm`.
@usableFromInline let smallProductThreshold = 1 << 21

extension Tensor {
    /// Matrix product over the last two axes: self [..., M, K] x other [K, N] -> [..., M, N].
    /// With `transposeOther`, other is [N, K].
    public func matmul(_ other: Tensor, transposeOther: Bool = false) -> Tensor {
        precondition(rank >= 2 && other.rank == 2, "matmul: \(shape) x \(other.shape)")
        let k = shape[rank - 1]
        let n = transposeOther ? other.shape[0] : other.shape[1]
        let otherK = transposeOther ? other.shape[1] : other.shape[0]
        precondition(k == otherK, "matmul: inner extents differ in \(shape) x \(other.shape)")
        let m = count / max(k, 1)
        var out = Tensor(uninitialized: Array(shape.dropLast()) + [n])
        withUnsafePointer { a in
            other.withUnsafePointer { b in
                out.withUnsafeMutablePointer { c in
                    sgemm(transposeA: false, transposeB: transposeOther, m: m, n: n, k: k,
                          a: a, lda: k, b: b, ldb: transposeOther ? k : n, c: c, ldc: n)
                }
            }
        }
        return out
    }

    /// Linear layer: self [..., in] x weight [out, in]^T + bias [out] -> [..., out], then
    /// `activation`, applied block by block while the output is in cache (the same values as
    /// applying it afterwards). With `packed` given, the product uses the weight's packing from
    /// that cache: bfloat16 operands in a bf16 scope (`Precision`), else fp32 on the packed kernel
    /// where it runs (`PackedF32Kernel`); otherwise fp32 on OpenBLAS.
    public func linear(weight: Tensor, bias: Tensor?, packed: PackedWeightCache? = nil,
                       activation: Activation = .identity) -> Tensor {
        if let packed, !Precision.usesBFloat16,
           PackedF32Kernel.runs(weightCount: weight.count, rows: shape.dropLast().reduce(1, *)) {
            return linearOnPackedKernel(weight: weight, bias: bias, packed: packed, activation: activation)
        }
        let rows = checkedLinearRows(weight: weight, bias: bias)
        let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
        var out = Tensor(uninitialized: Array(shape.dropLast()) + [outFeatures])
        if let packed, Precision.usesBFloat16 {
            // bf16: the bias is added by the kernel (no pass that fills the output with it first).
            let b = packed.packed(for: weight)
            out.withUnsafeMutablePointer { c in
                withUnsafePointer { a in
                    if let bias {
                        bias.withUnsafePointer { pb in
                            bf16Gemm(m: rows, n: outFeatures, k: inFeatures, a: a, lda: inFeatures, b: b, bias: pb,
                                     c: c, ldc: outFeatures, activation: activation)
                        }
                    } else {
                        bf16Gemm(m: rows, n: outFeatures, k: inFeatures, a: a, lda: inFeatures, b: b, c: c,
                                 ldc: outFeatures, activation: activation)
                    }
                }
            }
            return out
        }
        // fp32 on OpenBLAS: one job whose blocks are `sgemm`'s; each block fills its rows of C with the bias, runs
        // its product with beta 1 (the same calls, so the same bits, as a bias pass then `sgemm`)
        // and applies the activation while the block is in cache.
        guard rows > 0, outFeatures > 0 else { return out }
        let inC = activation.runsInC  // read on this thread: workers do not see task-locals
        out.withUnsafeMutablePointer { c in
            withUnsafePointer { a in
                weight.withUnsafePointer { w in
                    withOptionalPointer(bias) { pb in
                        forEachProductBlock(m: rows, n: outFeatures, k: inFeatures) { rowRange, columns in
                            if let pb {
                                for row in rowRange {
                                    (c + row * outFeatures + columns.lowerBound).update(from: pb + columns.lowerBound,
                                                                                        count: columns.count)
                                }
                            }
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rowRange.count), Int32(columns.count),
                                        Int32(inFeatures), 1, a + rowRange.lowerBound * inFeatures, Int32(max(1, inFeatures)),
                                        w + columns.lowerBound * inFeatures, Int32(max(1, inFeatures)), pb == nil ? 0 : 1,
                                        c + rowRange.lowerBound * outFeatures + columns.lowerBound, Int32(outFeatures))
                            guard activation != .identity else { return }
                            if columns.count == outFeatures {
                                let start = c + rowRange.lowerBound * outFeatures
                                activation.apply(start, start, rowRange.count * outFeatures, inC: inC)
                            } else {
                                for row in rowRange {
                                    let start = c + row * outFeatures + columns.lowerBound
                                    activation.apply(start, start, columns.count, inC: inC)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

extension Tensor {
    /// The number of rows (input vectors) of self [..., in] for a Linear layer with `weight`
    /// [out, in] and `bias` [out]; traps unless the shapes fit. Counted from the shape, so an input
    /// with no features (in = 0) still has its rows (each gets the bias).
    func checkedLinearRows(weight: Tensor, bias: Tensor?) -> Int {
        precondition(weight.rank == 2 && shape.last == weight.shape[1],
                     "linear: input \(shape) with weight \(weight.shape)")
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "linear: bias \(bias.shape) for \(weight.shape[0]) outputs")
        }
        return shape.dropLast().reduce(1, *)
    }
}

/// `body` with the tensor's pointer, or with nil when there is no tensor.
@inline(__always)
func withOptionalPointer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafePointer { body($0) }
}

/// Batched matrix product: a [B, M, K] (or [B, K, M] with transposeA) times b [B, K, N]
/// (or [B, N, K] with transposeB) -> [B, M, N], scaled by alpha. Leading axes beyond one are
/// flattened into B.
public func batchedMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                          alpha: Float = 1) -> Tensor {
    precondition(a.rank >= 3 && a.rank == b.rank && Array(a.shape.dropLast(2)) == Array(b.shape.dropLast(2)),
                 "batchedMatmul: \(a.shape) x \(b.shape)")
    let batchShape = Array(a.shape.dropLast(2))
    let batch = batchShape.reduce(1, *)
    let (m, k) = transposeA ? (a.shape[a.rank - 1], a.shape[a.rank - 2]) : (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (kb, n) = transposeB ? (b.shape[b.rank - 1], b.shape[b.rank - 2]) : (b.shape[b.rank - 2], b.shape[b.rank - 1])
    precondition(k == kb, "batchedMatmul: inner extents differ in \(a.shape) x \(b.shape)")
    var out = Tensor(uninitialized: batchShape + [m, n])
    a.withUnsafePointer { pa in
        b.withUnsafePointer { pb in
            out.withUnsafeMutablePointer { pc in
                let one = { (i: Int) in
                    sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                          a: pa + i * m * k, lda: transposeA ? m : k,
                          b: pb + i * k * n, ldb: transposeB ? k : n,
                          c: pc + i * m * n, ldc: n)
                }
                if m * n * k <= smallProductThreshold && batch > 1 {
                    Parallel.forEach(batch) { range in for i in range { one(i) } }
                } else {
                    for i in 0..<batch { one(i) }
                }
            }
        }
    }
    return out
}
