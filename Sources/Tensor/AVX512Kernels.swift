// AVX512Kernels: whether the C kernels of CAVX512 that need AVX-512 F are used. The Swift kernels
// are built for AVX2 (Package.swift), so on a CPU with AVX-512 the hottest loops run in C on
// 512-bit registers instead: bit-exact twins of exact GELU and of the softmax row loops (fp32 and
// bf16 alike: the results do not change, only the time) and, in a bf16 scope, attention's softmax
// tile writing bf16 probabilities. Decide on the calling thread: worker threads do not see the
// task-local `Precision`.

import CAVX512
import Foundation

/// Run-time choice of the AVX-512 F kernels.
public enum AVX512Kernels {
    /// True when the CPU has AVX-512 F/BW/VL/DQ and `SAMTRACK_AVX512` is not `0` (set it to 0 to
    /// compare with the AVX2 Swift kernels).
    public static let enabled: Bool = {
        if ProcessInfo.processInfo.environment["SAMTRACK_AVX512"] == "0" { return false }
        return st_avx512_supported() != 0
    }()
}
