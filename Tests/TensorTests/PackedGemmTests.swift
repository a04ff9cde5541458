// PackedGemmTests: the packed fp32 kernel (CAVX2, `packedF32Gemm`, the fp32 `linear` with a
// `PackedWeightCache`) against sums in Double, on the shapes its edges live at (partial tiles of
// rows and columns, depth blocks of 256, k = 0), and the same bits whatever the thread split.

import CAVX2
import XCTest
@testable import Tensor
import TestSupport

final class PackedGemmTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(st_f32_gemm_supported() != 0, "this CPU has no AVX2 + FMA: the packed kernel is not used here")
    }

    /// x [m, k] W^T + bias in Double, and the bound each element's fp32 sum must stay within:
    /// a few ulps of the sum of |terms| per term (k terms rounded in fp32).
    private func reference(_ x: Tensor, _ w: Tensor, _ bias: Tensor?) -> (values: [Double], bounds: [Double]) {
        let (m, k, n) = (x.shape[0], x.shape[1], w.shape[0])
        var values = [Double](repeating: 0, count: m * n), bounds = values
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for kk in 0..<k {
                    let term = Double(x.scalars[i * k + kk]) * Double(w.scalars[j * k + kk])
                    sum += term
                    magnitude += abs(term)
                }
                if let bias { sum += Double(bias.scalars[j]); magnitude += abs(Double(bias.scalars[j])) }
                values[i * n + j] = sum
                bounds[i * n + j] = Double(k + 2) * Double(Float.ulpOfOne) * magnitude + 1e-30
            }
        }
        return (values, bounds)
    }

    /// x W^T (+ bias) on the packed kernel, with the weight packed afresh.
    private func packedProduct(_ x: Tensor, _ w: Tensor, _ bias: Tensor?) -> Tensor {
        x.linearOnPackedKernel(weight: w, bias: bias, packed: PackedWeightCache())
    }

    func testProductsMatchDoubleSumsAtEveryEdge() {
        var rng = SeededGenerator(seed: 31)
        var checked = 0
        for (m, n, k) in [(1, 1, 1), (5, 15, 7), (6, 16, 16), (7, 17, 48), (13, 33, 255), (97, 16, 256), (100, 130, 257),
                          (12, 3, 600), (200, 48, 96), (3, 20, 0)] {
            let x = rng.normal([m, k]), w = rng.normal([n, k]), bias = rng.normal([n])
            for withBias in [false, true] {
                let b: Tensor? = withBias ? bias : nil
                let result = ComputeContext(threads: 1).run { packedProduct(x, w, b) }
                let (values, bounds) = reference(x, w, b)
                var worst = 0.0
                for index in values.indices {
                    worst = max(worst, abs(Double(result.scalars[index]) - values[index]) / bounds[index])
                }
                XCTAssertLessThanOrEqual(worst, 1, "m \(m) n \(n) k \(k) bias \(withBias): error / bound")
                checked += values.count
            }
        }
        XCTAssertGreaterThan(checked, 10_000)
    }

    func testTheSplitDoesNotChangeABit() {
        var rng = SeededGenerator(seed: 32)
        // Row splits (many rows), panel splits (few rows, many columns), one block (small product).
        for (m, n, k) in [(4096, 144, 48), (9, 1000, 300), (40, 64, 1003), (7, 5, 3)] {
            let x = rng.normal([m, k]), w = rng.normal([n, k]), bias = rng.normal([n])
            let one = ComputeContext(threads: 1).run { packedProduct(x, w, bias) }
            for threads in [2, 3] {
                let split = ComputeContext(threads: threads).run { packedProduct(x, w, bias) }
                let differing = zip(one.scalars, split.scalars).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(differing, 0, "m \(m) n \(n) k \(k) on \(threads) threads: elements differing")
            }
        }
    }

    func testLinearWithACacheIsTheKernelThenTheActivation() throws {
        try XCTSkipUnless(PackedF32Kernel.enabled, "the packed kernel is off here (OpenBLAS core \(Parallel.openBLASCoreName))")
        var rng = SeededGenerator(seed: 33)
        let x = rng.normal([3, 50, 96]), w = rng.normal([203, 96]), bias = rng.normal([203])
        let flat = x.reshaped([150, 96])
        for activation in [Activation.identity, .gelu, .relu] {
            ComputeContext(threads: 2).run {
                let layer = x.linear(weight: w, bias: bias, packed: PackedWeightCache(), activation: activation)
                XCTAssertEqual(layer.shape, [3, 50, 203])
                let expected = packedProduct(flat, w, bias).applying(activation)
                let differing = zip(layer.scalars, expected.scalars).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(differing, 0, "\(activation): elements differing")
            }
        }
    }

    func testPackingKeepsEveryElementAndZeroPadsThePanel() {
        var rng = SeededGenerator(seed: 34)
        let (k, n) = (5, 21)
        let w = rng.normal([n, k])
        let packed = PackedWeightCache().packedF32(for: w)
        XCTAssertEqual(packed.panels, 2)
        for panel in 0..<2 {
            for kk in 0..<k {
                for lane in 0..<16 {
                    let j = panel * 16 + lane
                    let stored = packed.values[panel * k * 16 + kk * 16 + lane]
                    XCTAssertEqual(stored, j < n ? w.scalars[j * k + kk] : 0, "panel \(panel) k \(kk) lane \(lane)")
                }
            }
        }
    }
    /// st_f32_pack_b on both layouts it has fast paths for, against the layout's definition:
    /// B read column by column (row stride 1: K for K^T, a Linear weight for W^T; 8 x 8 transposes
    /// for whole blocks of 8 rows) and row by row (column stride 1: V; whole panels copied), at
    /// depths and widths on and off the blocks, the panel's columns past n zero.
    func testPackingFastPathsKeepTheLayout() {
        var rng = SeededGenerator(seed: 35)
        for (k, n) in [(5, 21), (8, 16), (48, 64), (21, 40), (16, 7), (64, 48), (13, 33)] {
            let source = rng.normal([n * k]).scalars  // n x k (column by column) or k x n (row by row)
            for byColumns in [true, false] {
                let (rowStride, columnStride) = byColumns ? (1, k) : (n, 1)
                let panels = st_f32_panel_count(n)
                var packed = [Float](repeating: .nan, count: st_f32_packed_count(k, n))
                st_f32_pack_b(source, rowStride, columnStride, k, n, 0, panels, &packed)
                for panel in 0..<panels {
                    for kk in 0..<k {
                        for lane in 0..<16 {
                            let j = panel * 16 + lane
                            let expected = j < n ? source[kk * rowStride + j * columnStride] : 0
                            XCTAssertEqual(packed[panel * k * 16 + kk * 16 + lane], expected,
                                           "k \(k) n \(n) \(byColumns ? "by columns" : "by rows") panel \(panel) k \(kk) lane \(lane)")
                        }
                    }
                }
            }
        }
    }
}
