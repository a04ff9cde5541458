// BFloat16: the bf16 compute mode (`Precision`), weights packed for bf16 products and the
// threaded bf16 GEMM, on the AVX-512 BF16 kernels of CAVX512.
//
// The mode is a scope, like PyTorch's autocast: inside `Precision.$current.withValue(.bfloat16)`,
// `Tensor.linear(weight:bias:packed:)` and `scaledDotProductAttention` round their operands to
// bfloat16 (round to nearest even) and accumulate in fp32; everything else (norms, softmax,
// activations, convolutions) stays fp32. Outside the scope, or on a CPU without AVX-512 BF16,
// nothing changes.

import CAVX512
import Foundation

/// Arithmetic of the matrix products inside a scope.
public enum Precision: String, Sendable, Codable, CaseIterable {
    /// IEEE single precision throughout (OpenBLAS sgemm): the parity mode.
    case float32 = "fp32"
    /// Products on bfloat16 operands with fp32 accumulation (AVX-512 BF16 only).
    case bfloat16 = "bf16"

    /// The precision of the products started on this thread (or task); `.float32` by default.
    @TaskLocal public static var current: Precision = .float32

    /// True when this CPU has the AVX-512 BF16 instructions the bf16 products need.
    public static let bfloat16Supported: Bool = st_bf16_supported() != 0

    /// True when products in this scope run in bf16.
    @inlinable public static var usesBFloat16: Bool { current == .bfloat16 && bfloat16Supported }
}

/// A matrix B (k x n) rounded to bfloat16 and packed in the pair rows `st_bf16_gemm` reads:
/// element (kk, j) at `pairs[(kk / 2) * width * 2 + j * 2 + kk % 2]`, `width` = n rounded up to 16.
public final class BF16PackedMatrix: @unchecked Sendable {  // immutable once packed in init
    public let k: Int, n: Int
    /// Pair-row width (n rounded up to a multiple of 16).
    public let width: Int
    public let pairs: UnsafeMutablePointer<UInt16>

    /// Packs B given by strides: element (kk, j) at `source[kk * rowStride + j * columnStride]`.
    /// A Linear weight [out, in] as W^T is `rowStride: 1, columnStride: in`.
    public init(source: UnsafePointer<Float>, k: Int, n: Int, rowStride: Int, columnStride: Int) {
        self.k = k
        self.n = n
        width = st_bf16_packed_width(n)
        let count = st_bf16_packed_count(k, n)
        pairs = .allocate(capacity: max(count, 1))
        let pairRows = (k + 1) / 2
        let pairs = self.pairs
        Parallel.forEach(pairRows, grain: max(1, 16384 / max(width, 1))) { range in
            st_bf16_pack_b(source, rowStride, columnStride, k, n, range.lowerBound, range.upperBound, pairs)
        }
    }

    deinit { pairs.deallocate() }
}

/// A Linear weight's packings, each made on first use and kept: bf16 pair rows in a bf16 scope
/// (about half the fp32 weight's size), fp32 panels for `PackedF32Kernel` (the weight's size).
/// Safe to share between threads.
public final class PackedWeightCache: @unchecked Sendable {  // each packing is made once behind `lock`
    private let lock = NSLock()
    private var bf16Packing: BF16PackedMatrix?
    private var f32Packing: F32PackedMatrix?

    public init() {}

    /// The packing of `weight` [out, in] read as W^T (k = in, n = out).
    public func packed(for weight: Tensor) -> BF16PackedMatrix {
        packing(\.bf16Packing, of: weight) { BF16PackedMatrix(source: $0, k: $1, n: $2, rowStride: 1, columnStride: $1) }
    }

    /// The fp32 panels of `weight` [out, in] read as W^T (k = in, n = out).
    public func packedF32(for weight: Tensor) -> F32PackedMatrix {
        packing(\.f32Packing, of: weight) { F32PackedMatrix(source: $0, k: $1, n: $2, rowStride: 1, columnStride: $1) }
    }

    /// The packing kept in `slot`, made from `weight` [out, in] by `make(pointer, in, out)` on first use.
    private func packing<Packing>(_ slot: ReferenceWritableKeyPath<PackedWeightCache, Packing?>, of weight: Tensor,
                                  _ make: (UnsafePointer<Float>, _ inFeatures: Int, _ outFeatures: Int) -> Packing) -> Packing {
        lock.lock()
        defer { lock.unlock() }
        if let made = self[keyPath: slot] { return made }
        precondition(weight.rank == 2, "PackedWeightCache: weight \(weight.shape)")
        let (out, inFeatures) = (weight.shape[0], weight.shape[1])
        let made = weight.withUnsafePointer { make($0, inFeatures, out) }
        self[keyPath: slot] = made
        return made
    }
}

/// Rows of A handled as one unit by the threaded bf16 products: a multiple of the micro-kernel's 6.
let bf16RowBlock = 192

/// C [m, n] (row stride ldc) = alpha * bf16(A) B + beta * C (+ bias [n] on every row) with A fp32
/// [m, k] (row stride lda), converted to bf16 block by block, and B packed. Rows are split over
/// `Parallel.threadCount` workers. `activation` (needs ldc == n) is applied to each block of rows
/// as soon as it is done, while it is still in cache (the same values as applying it afterwards).
public func bf16Gemm(m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                     b: BF16PackedMatrix, beta: Float = 0, bias: UnsafePointer<Float>? = nil,
                     c: UnsafeMutablePointer<Float>, ldc: Int, activation: Activation = .identity) {
    precondition(b.k == k && b.n == n, "bf16Gemm: packed operand \(b.k) x \(b.n) for k \(k), n \(n)")
    precondition(activation == .identity || ldc == n, "bf16Gemm: an activation needs contiguous rows")
    guard m > 0, n > 0 else { return }
    let evenK = (k + 1) / 2 * 2
    let blocks = (m + bf16RowBlock - 1) / bf16RowBlock
    let work = 2 * m * n * k
    let grain = work >= 1 << 22 ? 1 : blocks
    let activationInC = activation.runsInC  // decided here: workers do not see task-local values
    Parallel.forEach(blocks, grain: grain) { range in
        let scratch = UnsafeMutablePointer<UInt16>.allocate(capacity: bf16RowBlock * evenK)
        defer { scratch.deallocate() }
        for block in range {
            let row = block * bf16RowBlock
            let rows = min(bf16RowBlock, m - row)
            st_bf16_convert_rows(a + row * lda, lda, rows, k, scratch, evenK)
            st_bf16_gemm_bias(rows, n, k, alpha, scratch, evenK, b.pairs, b.width, beta, bias, c + row * ldc, ldc)
            if activation != .identity {
                activation.apply(c + row * ldc, c + row * ldc, rows * n, inC: activationInC)
            }
        }
    }
}
