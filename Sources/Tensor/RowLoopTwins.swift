// RowLoopTwins: the C twins of the hottest fp32 loops (exact GELU, a row's maximum, exp over a
// row with its sums), chosen once per process: CAVX512's on an AVX-512 CPU (`AVX512Kernels`),
// else CAVX2's on an AVX2 CPU, else none (the Swift loops run). Every twin gives the Swift loop's
// results bit for bit (the same operations in the same order), so the choice changes only the time:
// the Swift build runs its 16-lane vectors partly through 128-bit registers.

import CAVX2
import CAVX512
import Foundation

/// Which C twins of the fp32 row loops run in this process.
public enum RowLoopTwins: Sendable {
    case avx512, avx2

    /// The twins used here, or nil for the Swift loops. `SAMTRACK_AVX512=0` rules out the AVX-512
    /// ones (`AVX512Kernels`), `SAMTRACK_AVX2_TWINS=0` the AVX2 ones.
    public static let current: RowLoopTwins? = {
        if AVX512Kernels.enabled { return .avx512 }
        if ProcessInfo.processInfo.environment["SAMTRACK_AVX2_TWINS"] == "0" { return nil }
        return st_avx2_supported() != 0 ? .avx2 : nil
    }()

    /// True when a C twin replaces the Swift loops here.
    public static var available: Bool { current != nil }

    /// GELU over `vectors` 16-float vectors (`Activation.gelu`'s Swift loop, bit for bit).
    @usableFromInline static func gelu(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
                                       vectors: Int) {
        switch current {
        case .avx512, .avx2: st_avx2_gelu_twin(source, destination, vectors)  // one twin: AVX-512 CPUs have AVX2 and FMA
        case nil: preconditionFailure("RowLoopTwins.gelu without a twin on this CPU")
        }
    }

    /// Per-lane maxima of the full vectors of a row into `lanes` (16 floats).
    @usableFromInline static func rowMax(_ values: UnsafePointer<Float>, _ count: Int, lanes: UnsafeMutablePointer<Float>) {
        switch current {
        case .avx512: st_row_max_twin(values, count, lanes)
        case .avx2: st_avx2_row_max_twin(values, count, lanes)
        case nil: preconditionFailure("RowLoopTwins.rowMax without a twin on this CPU")
        }
    }

    /// exp(x - reference) over a row, the full vectors' per-lane sums into `laneSums` (16 floats).
    @usableFromInline static func expRow(_ values: UnsafeMutablePointer<Float>, _ count: Int, reference: Float,
                                         laneSums: UnsafeMutablePointer<Float>) {
        switch current {
        case .avx512: st_exp_row_twin(values, count, reference, laneSums)
        case .avx2: st_avx2_exp_row_twin(values, count, reference, laneSums)
        case nil: preconditionFailure("RowLoopTwins.expRow without a twin on this CPU")
        }
    }
}
