// Tests the AVX-512 F kernels of CAVX512 (used instead of the AVX2 Swift loops when the CPU has
// AVX-512): exact GELU against erf in Double, and attention's online-softmax tile against the
// Swift tile (`FlashAttentionProblem.onlineSoftmax`) over several key tiles whose maxima rise and
// fall, with odd widths. Skipped on CPUs without AVX-512 (there the Swift loops run, and the
// attention and activation tests cover them).

import XCTest
import CAVX512
@testable import Tensor
import TestSupport

final class AVX512KernelTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(st_avx512_supported() != 0, "this CPU has no AVX-512")
    }

    func testGELUMatchesErfInDouble() {
        var values: [Float] = (0..<20001).map { Float($0 - 10000) / 1000 }  // -10 ... 10
        values += [0, -0.0, 1e-30, -1e-30, 50, -50, 1e6, -1e6]
        var out = [Float](repeating: .nan, count: values.count)
        st_gelu(values, &out, values.count)
        var worst = 0.0
        for (x, y) in zip(values, out) {
            let expected = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            worst = max(worst, abs(Double(y) - expected) / max(1, abs(expected)))
        }
        XCTAssertLessThan(worst, 1e-6, "GELU error (absolute, relative above 1)")
        // Tails shorter than a vector: the count is honoured (nothing written past it).
        var short = [Float](repeating: 7, count: 20)
        st_gelu([1, -1, 2], &short, 3)
        XCTAssertEqual(short[3], 7)
        XCTAssertEqual(short[0], 0.841_344_7, accuracy: 1e-6)
    }

    /// In a bf16 scope every chunk of a threaded GELU runs the C kernel, including the chunks on
    /// the pool's worker threads, which do not see the task-local precision (they once fell back
    /// to the Swift loop, so one tensor mixed two GELUs).
    func testGELUInBF16ScopeUsesTheCKernelOnEveryThread() throws {
        try XCTSkipUnless(Precision.bfloat16Supported, "this CPU has no AVX-512 BF16")
        try XCTSkipUnless(AVX512Kernels.enabled, "SAMTRACK_AVX512=0")
        var rng = SeededGenerator(seed: 5)
        let count = 16 * elementwiseGrain + 13  // many chunks: both threads take several
        let values = (0..<count).map { _ in Float.random(in: -6...6, using: &rng) }
        var expected = [Float](repeating: 0, count: count)
        st_gelu(values, &expected, count)
        let input = Tensor(shape: [count], values: values)
        let scoped = Precision.$current.withValue(.bfloat16) { input.applying(.gelu) }
        var inPlace = input
        Precision.$current.withValue(.bfloat16) { inPlace.apply(.gelu) }
        func differing(_ t: Tensor) -> Int { zip(t.scalars, expected).filter { $0 != $1 }.count }
        XCTAssertEqual(differing(scoped), 0, "elements not from the C kernel")
        XCTAssertEqual(differing(inPlace), 0, "elements not from the C kernel (in place)")
        // Outside the scope the Swift loop runs (it differs from the C kernel in the last bits).
        XCTAssertGreaterThan(differing(input.applying(.gelu)), 0)
    }

    func testSoftmaxTileMatchesTheSwiftTile() {
        var rng = SeededGenerator(seed: 31)
        for (rows, keys, dv) in [(1, 1, 1), (5, 17, 3), (8, 255, 64), (3, 33, 20)] {
            // Four tiles: scores shifted up, then down, then far up (maxima grow and fall).
            let shifts: [Float] = [0, 30, -40, 200]
            let problem = FlashAttentionProblem(
                q: UnsafePointer(bitPattern: 8)!, k: UnsafePointer(bitPattern: 8)!, v: UnsafePointer(bitPattern: 8)!,
                out: UnsafeMutablePointer(bitPattern: 8)!, lq: rows, lk: keys, d: 1, dv: dv, alpha: 1,
                blockRows: rows, blockKeys: keys, queryBlocks: 1, bf16: nil)
            var state: [(maxima: [Float], sums: [Float], out: [Float], p: [Float])] = []
            for useC in [false, true] {
                var maxima = [Float](repeating: 0, count: rows), sums = [Float](repeating: 0, count: rows)
                var out = rng.normal([rows, dv]).scalars
                var rngTiles = SeededGenerator(seed: 32)
                var lastP: [Float] = []
                for (t, shift) in shifts.enumerated() {
                    var scores = rngTiles.normal([rows, keys]).scalars.map { $0 * 5 + shift }
                    if useC {
                        st_softmax_tile(&scores, rows, keys, t == 0 ? 1 : 0, &maxima, &sums, &out, dv, nil, 0)
                    } else {
                        problem.onlineSoftmax(scores: &scores, rows: rows, keys: keys, first: t == 0,
                                              maxima: &maxima, sums: &sums, out: &out)
                    }
                    lastP = scores
                }
                state.append((maxima, sums, out, lastP))
            }
            let context = "rows \(rows) keys \(keys) dv \(dv)"
            XCTAssertEqual(state[0].maxima, state[1].maxima, context)
            for (a, b) in zip(state[0].sums, state[1].sums) { XCTAssertEqual(a, b, accuracy: 1e-6 * max(1, abs(a)), context) }
            for (a, b) in zip(state[0].out, state[1].out) { XCTAssertEqual(a, b, accuracy: 1e-6 * max(1, abs(a)), context) }
            for (a, b) in zip(state[0].p, state[1].p) { XCTAssertEqual(a, b, accuracy: 1e-6 * max(1, abs(a)), context) }
        }
    }
}
