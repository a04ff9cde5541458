// AVX512Kernels: whether the C kernels of CAVX512 that need AVX-512 F (attention's softmax tile,
// exact GELU) are used. The Swift kernels are built for AVX2 (Package.swift), so on a CPU with
// AVX-512 these two hot loops run in C on 512-bit registers instead, with the same formulas.
//
// Only in a bf16 scope (`Precision`): in fp32 they were ~7% faster per frame, but the full-size
// video parity (Tools/parity.sh video) then measured logits rel L2 up to 1.06e-4 on one frame
// (limit 1e-4; 2.4e-5 with the Swift loops) although each kernel is as accurate as its Swift twin
// (exp 7e-8 relative, GELU 4.5e-7 absolute, both the same as Swift's); until that is understood
// the parity mode keeps the Swift loops.

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
