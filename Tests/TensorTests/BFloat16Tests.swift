// Tests the bf16 compute mode (Sources/Tensor/BFloat16.swift, Sources/CAVX512): the kernels
// against Double-precision products of the same operands rounded to bfloat16 here (round to
// nearest even, written independently of the C code), the packed layout against its definition,
// and the bf16 scope of `linear` and `scaledDotProductAttention` against fp32 (close, yet not
// the fp32 result: the scope really changes the arithmetic). Skipped on CPUs without AVX-512 BF16.

import XCTest
import CAVX512
import Tensor
import TestSupport

final class BFloat16Tests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(Precision.bfloat16Supported, "this CPU has no AVX-512 BF16")
    }

    /// bfloat16 rounding (nearest even) as a Float.
    static func rounded(_ x: Float) -> Float {
        let bits = x.bitPattern
        let up = bits &+ 0x7fff &+ ((bits >> 16) & 1)
        return Float(bitPattern: up & 0xffff_0000)
    }

    static func roundedTensor(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, values: t.scalars.map(rounded)) }

    func testGemmMatchesRoundedOperandsInDouble() {
        var rng = SeededGenerator(seed: 21)
        // m off the 6-row micro-tile, n off the 16 / 64 columns, k odd and across depth blocks.
        for (m, n, k) in [(1, 1, 1), (7, 17, 3), (13, 100, 255), (100, 70, 300), (200, 300, 513), (6, 64, 256)] {
            for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, -0.5)] {
                let a = rng.normal([m, k]), b = rng.normal([k, n]), c0 = rng.normal([m, n])
                // The bias row is used with beta -0.5 (st_bf16_gemm_bias), not otherwise.
                let bias = rng.normal([n]), withBias = beta == -0.5
                let expected = NaiveKernels.matmul(Self.roundedTensor(a), Self.roundedTensor(b)).scaled(by: alpha)
                    + (beta == 0 ? Tensor(zeros: [m, n]) : c0.scaled(by: beta))
                    + (withBias ? Tensor.concatenate(Array(repeating: bias.reshaped([1, n]), count: m), axis: 0)
                                : Tensor(zeros: [m, n]))
                let evenK = k + k % 2
                var aBits = [UInt16](repeating: 0xffff, count: m * evenK)  // NaN filler: the pad must be written
                a.withUnsafePointer { st_bf16_convert_rows($0, k, m, k, &aBits, evenK) }
                let packed = b.withUnsafePointer { BF16PackedMatrix(source: $0, k: k, n: n, rowStride: n, columnStride: 1) }
                var c = c0
                c.withUnsafeMutablePointer { pc in
                    if withBias {
                        bias.withUnsafePointer {
                            st_bf16_gemm_bias(m, n, k, alpha, aBits, evenK, packed.pairs, packed.width, beta, $0, pc, n)
                        }
                    } else {
                        st_bf16_gemm(m, n, k, alpha, aBits, evenK, packed.pairs, packed.width, beta, pc, n)
                    }
                }
                assertTensorsClose(c, expected, relativeL2: 1e-6, "m \(m) n \(n) k \(k) alpha \(alpha) beta \(beta)")
            }
        }
    }

    func testPackedLayoutFromEveryStrideOrder() {
        var rng = SeededGenerator(seed: 22)
        for (k, n) in [(1, 1), (5, 3), (64, 40), (257, 33)] {
            let b = rng.normal([k, n])
            let bT = b.permuted([1, 0])  // [n, k]: pairs contiguous (row stride 1)
            let width = (n + 15) / 16 * 16
            var expected = [UInt16](repeating: 0, count: (k + 1) / 2 * width * 2)
            for kk in 0..<k { for j in 0..<n {
                expected[(kk / 2) * width * 2 + j * 2 + kk % 2] = UInt16(Self.rounded(b[kk, j]).bitPattern >> 16)
            } }
            let fromRows = b.withUnsafePointer { BF16PackedMatrix(source: $0, k: k, n: n, rowStride: n, columnStride: 1) }
            let fromColumns = bT.withUnsafePointer { BF16PackedMatrix(source: $0, k: k, n: n, rowStride: 1, columnStride: k) }
            // Neither stride is 1: b interleaved with zeros, [k, n, 2].
            let wide = Tensor.concatenate([b.reshaped([k, n, 1]), Tensor(zeros: [k, n, 1])], axis: 2)
            let strided = wide.withUnsafePointer { BF16PackedMatrix(source: $0, k: k, n: n, rowStride: 2 * n, columnStride: 2) }
            for (name, packed) in [("row-major", fromRows), ("column-major", fromColumns), ("strided", strided)] {
                XCTAssertEqual(packed.width, width)
                XCTAssertEqual(Array(UnsafeBufferPointer(start: packed.pairs, count: expected.count)), expected, "\(name) k \(k) n \(n)")
            }
        }
    }

    func testLinearInBF16Scope() {
        var rng = SeededGenerator(seed: 23)
        let x = rng.normal([3, 37, 96]), w = rng.normal([200, 96]), bias = rng.normal([200])
        let cache = PackedWeightCache()
        let fp32 = x.linear(weight: w, bias: bias, packed: cache)
        let bf16 = Precision.$current.withValue(.bfloat16) { x.linear(weight: w, bias: bias, packed: cache) }
        let emulated = Self.roundedTensor(x).linear(weight: Self.roundedTensor(w), bias: bias)
        assertTensorsClose(bf16, emulated, relativeL2: 1e-6, "bf16 linear vs fp32 on rounded operands")
        XCTAssertGreaterThan(relativeL2Error(bf16, fp32), 1e-4, "the bf16 scope left the product in fp32")
        XCTAssertLessThan(relativeL2Error(bf16, fp32), 1e-2)
    }

    /// A linear layer with its activation fused (applied per block of rows inside the bf16 product)
    /// gives exactly the values of the product followed by the activation, in both precisions,
    /// over several row blocks (both threads take some) and an output width off the vector size.
    func testLinearWithFusedActivationEqualsTheTwoSteps() {
        var rng = SeededGenerator(seed: 24)
        let x = rng.normal([1000, 96]), w = rng.normal([203, 96]), bias = rng.normal([203])
        let cache = PackedWeightCache()
        for precision in [Precision.float32, .bfloat16] {
            Precision.$current.withValue(precision) {
                for activation in [Activation.gelu, .relu] {
                    let fused = x.linear(weight: w, bias: bias, packed: cache, activation: activation)
                    var twoSteps = x.linear(weight: w, bias: bias, packed: cache)
                    twoSteps.apply(activation)
                    XCTAssertEqual(fused.shape, [1000, 203])
                    XCTAssertEqual(zip(fused.scalars, twoSteps.scalars).filter { $0.bitPattern != $1.bitPattern }.count, 0,
                                   "\(precision) \(activation): fused differs from the two steps")
                }
            }
        }
    }

    func testAttentionInBF16ScopeOverTilings() {
        var rng = SeededGenerator(seed: 24)
        let tilings = [AttentionTiling(queryRows: 1, keys: 1), AttentionTiling(queryRows: 5, keys: 7),
                       AttentionTiling(queryRows: 64, keys: 1000), .default]
        // Odd key counts (a last tile with an odd number of keys), D odd, Dv off 16.
        for (b, n, lq, lk, d, dv) in [(2, 3, 37, 101, 24, 40), (1, 1, 65, 333, 15, 8), (1, 2, 300, 600, 64, 64)] {
            let q = rng.normal([b, n, lq, d]), k = rng.normal([b, n, lk, d]), v = rng.normal([b, n, lk, dv])
            let scale = 1 / Float(d).squareRoot()
            let exact = NaiveKernels.attention(q: q, k: k, v: v, scale: scale)
            let onRounded = NaiveKernels.attention(q: Self.roundedTensor(q), k: Self.roundedTensor(k),
                                                   v: Self.roundedTensor(v), scale: scale)
            for tiling in tilings {
                let out = Precision.$current.withValue(.bfloat16) {
                    scaledDotProductAttention(query: q, key: k, value: v, tiling: tiling)
                }
                let context = "Lq \(lq) Lk \(lk) D \(d) Dv \(dv) tiles \(tiling)"
                // Only the probabilities' rounding (2^-9 relative) separates it from the rounded operands.
                assertTensorsClose(out, onRounded, relativeL2: 4e-3, context)
                XCTAssertGreaterThan(relativeL2Error(out, exact), 1e-4, "the bf16 scope left attention in fp32: \(context)")
                XCTAssertLessThan(relativeL2Error(out, exact), 2e-2, context)
            }
        }
    }

    func testScopeEndsWithTheClosure() {
        XCTAssertEqual(Precision.current, .float32)
        Precision.$current.withValue(.bfloat16) { XCTAssertTrue(Precision.usesBFloat16) }
        XCTAssertFalse(Precision.usesBFloat16)
    }
}
