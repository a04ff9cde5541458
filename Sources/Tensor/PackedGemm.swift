// PackedGemm: fp32 Linear products on CAVX2's kernel, with the weight packed once per layer.
//
// A small model's products (256 px: 4096 x 48 x 144, 256 x 128 x 128, ...) are too small for
// OpenBLAS to amortise what it does on every call: pack both operands, zero C, set up its
// threads. Here the weight W^T is packed into 16-column panels the first time its layer runs and
// kept (`PackedWeightCache`); the activations are read where they lie; the bias is added and the
// activation applied while each block of rows is in cache. Each element is one sum over the input
// features in order (in blocks of 256), so the result does not depend on the number of threads.

import CAVX2
import Foundation

/// Run-time choice of the packed fp32 kernel for Linear layers.
public enum PackedF32Kernel {
    /// True when this CPU has what the kernel needs (AVX2 and FMA).
    public static let supported: Bool = st_f32_gemm_supported() != 0

    /// True when the packed kernel replaces OpenBLAS in fp32 Linear layers (and in attention of
    /// 256 keys or more, `F32AttentionOperands.packs`): the CPU has AVX2 and
    /// FMA and OpenBLAS itself runs its AVX2 kernels there (core Haswell or Zen; on an AVX-512
    /// core OpenBLAS's 512-bit kernels stay). `SAMTRACK_PACKED_GEMM=0` turns it off, `=1` on
    /// wherever the CPU has AVX2 and FMA (to compare the two on one machine).
    public static let enabled: Bool = {
        guard supported else { return false }
        switch ProcessInfo.processInfo.environment["SAMTRACK_PACKED_GEMM"] {
        case "0": return false
        case "1": return true
        default: return ["haswell", "zen"].contains(Parallel.openBLASCoreName.lowercased())
        }
    }()
}

extension PackedF32Kernel {
    /// Weights of at most this many floats (1 MiB) are packed (a copy the size of the weight, kept
    /// beside it): the layers of the default model's first three stages, its memory attention and
    /// decoder, and the first two stages of SAM 2.1 tiny. Larger weights stay on OpenBLAS: at 2^20
    /// the packed copies raised tiny's resident memory at 1024 px from 580 to 651 MiB (its target
    /// is 600), and large weights go with products where OpenBLAS's per-call packing is a small share.
    public static let largestPackedWeight = 1 << 18

    /// Products of at most this many rows are packed whatever their weight's size: OpenBLAS packs
    /// the whole weight on every call, as much work as a product of so few rows (the default
    /// model's Hiera stage 4, 64 rows x 384 -> 1536, 2.4 MB of weight: 0.94 -> 0.86 ms on one Zen 3
    /// thread, `bench kernels --small-linear`). SAM 2.1 tiny at 1024 px has no product this small.
    public static let fewestRowsOnOpenBLAS = 257

    /// Whether a Linear layer with this weight, applied to this many rows, runs on the packed kernel here.
    public static func runs(weightCount: Int, rows: Int) -> Bool {
        enabled && (weightCount <= largestPackedWeight || rows < fewestRowsOnOpenBLAS)
    }
}

/// A matrix B (k x n) packed in the 16-column panels `st_f32_gemm_bias` reads: element (kk, j) at
/// `values[(j / 16) * k * 16 + kk * 16 + j % 16]`, the columns past n zero.
public final class F32PackedMatrix: @unchecked Sendable {  // immutable once packed in init
    public let k: Int, n: Int
    /// Number of 16-column panels.
    public let panels: Int
    let values: UnsafeMutablePointer<Float>

    /// Packs B given by strides: element (kk, j) at `source[kk * rowStride + j * columnStride]`.
    /// A Linear weight [out, in] as W^T is `rowStride: 1, columnStride: in`.
    public init(source: UnsafePointer<Float>, k: Int, n: Int, rowStride: Int, columnStride: Int) {
        self.k = k
        self.n = n
        panels = st_f32_panel_count(n)
        let count = max(st_f32_packed_count(k, n), 1)
        values = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        let values = self.values, panels = self.panels
        Parallel.forEach(panels) { range in
            st_f32_pack_b(source, rowStride, columnStride, k, n, range.lowerBound, range.upperBound, values)
        }
    }

    deinit { values.deallocate() }
}

/// C [m, n] (row stride ldc) = A [m, k] (row stride lda) B (+ bias [n] on every row), then
/// `activation` (needs ldc == n), on the current context's threads: blocks of rows, or of column
/// panels when C has few rows. Only products of at least `parallelProductThreshold` multiply-adds
/// are split. Each element is computed the same way whatever the split.
public func packedF32Gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: F32PackedMatrix,
                          bias: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>, ldc: Int,
                          activation: Activation = .identity) {
    precondition(b.k == k && b.n == n, "packedF32Gemm: packed operand \(b.k) x \(b.n) for k \(k), n \(n)")
    precondition(activation == .identity || ldc == n, "packedF32Gemm: an activation needs contiguous rows")
    guard m > 0, n > 0 else { return }
    let inC = activation.runsInC  // decided here: workers do not see task-local values
    let values = UnsafePointer(b.values)
    func rows(_ range: Range<Int>) {
        st_f32_gemm_bias(range.count, n, k, a + range.lowerBound * lda, lda, values, 0, b.panels, bias,
                         c + range.lowerBound * ldc, ldc)
        if activation != .identity {
            let start = c + range.lowerBound * ldc
            activation.apply(start, start, range.count * n, inC: inC)
        }
    }
    let rowUnit = 6  // the kernel's tile height
    let rowUnits = (m + rowUnit - 1) / rowUnit
    guard Parallel.threadCount > 1, m * n * k >= parallelProductThreshold else { return rows(0..<m) }
    if rowUnits >= 2 * Parallel.threadCount || b.panels < 2 {
        Parallel.forEach(rowUnits) { units in
            rows(units.lowerBound * rowUnit..<min(m, units.upperBound * rowUnit))
        }
    } else {
        Parallel.forEach(b.panels) { panels in
            st_f32_gemm_bias(m, n, k, a, lda, values, panels.lowerBound, panels.upperBound, bias, c, ldc)
            guard activation != .identity else { return }
            let first = panels.lowerBound * 16, width = min(n, panels.upperBound * 16) - first
            for row in 0..<m { activation.apply(c + row * ldc + first, c + row * ldc + first, width, inC: inC) }
        }
    }
}

extension Tensor {
    /// The Linear layer (`linear`) on the packed kernel, whether or not `PackedF32Kernel` chooses it
    /// here: self [..., in] x weight [out, in]^T + bias [out] -> [..., out], then `activation` per
    /// block of rows, with the weight packed once in `packed`. `linear` comes here where the kernel
    /// runs; benchmarks call it directly to compare it with OpenBLAS.
    public func linearOnPackedKernel(weight: Tensor, bias: Tensor?, packed: PackedWeightCache,
                                     activation: Activation = .identity) -> Tensor {
        precondition(PackedF32Kernel.supported, "linearOnPackedKernel: this CPU has no AVX2 and FMA")
        let rows = checkedLinearRows(weight: weight, bias: bias)
        let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
        let b = packed.packedF32(for: weight)
        var out = Tensor(uninitialized: Array(shape.dropLast()) + [outFeatures])
        out.withUnsafeMutablePointer { c in
            withUnsafePointer { a in
                withOptionalPointer(bias) { pb in
                    packedF32Gemm(m: rows, n: outFeatures, k: inFeatures, a: a, lda: inFeatures,
                                  b: b, bias: pb, c: c, ldc: outFeatures, activation: activation)
                }
            }
        }
        return out
    }
}
