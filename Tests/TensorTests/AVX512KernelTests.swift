// Tests the AVX-512 F kernels of CAVX512 (used instead of the AVX2 Swift loops when the CPU has
// AVX-512): the fp32 twins of GELU and of a row's exp give the Swift loops' results bit for bit,
// and the bf16 scope's online-softmax tile follows the Swift tile (`FlashAttentionProblem.onlineSoftmax`) over several key tiles whose maxima rise and
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

    /// The C GELU gives the Swift loop's results bit for bit (so fp32 parity cannot depend on which
    /// one ran), for every count (tails go to Swift) and in place.
    func testGELUTwinMatchesTheSwiftLoopBitForBit() {
        let values = twinTestValues(seed: 5, randomCount: 5000)
        for count in [values.count, 16, 17, 15, 1, 0] {
            let source = Array(values.prefix(count))
            var swift = [Float](repeating: .nan, count: count), twin = [Float](repeating: .nan, count: count)
            Activation.gelu.apply(source, &swift, count, inC: false)
            Activation.gelu.apply(source, &twin, count, inC: true)
            assertBitIdentical(swift, twin, "GELU, \(count) values")
            var inPlace = source
            inPlace.withUnsafeMutableBufferPointer { Activation.gelu.apply($0.baseAddress!, $0.baseAddress!, count, inC: true) }
            assertBitIdentical(swift, inPlace, "GELU in place, \(count) values")
        }
        // And it is accurate: against erf in Double.
        var out = [Float](repeating: .nan, count: values.count)
        Activation.gelu.apply(values, &out, values.count, inC: true)
        var worst = 0.0
        for (x, y) in zip(values, out) where x.isFinite && abs(x) < 1e5 {
            let expected = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            worst = max(worst, abs(Double(y) - expected) / max(1, abs(expected)))
        }
        XCTAssertLessThan(worst, 1e-6, "GELU error (absolute, relative above 1)")
    }

    /// A row's maximum and exp(x - reference) over it in C: the same maximum, values and sum, bit
    /// for bit, as the Swift loops, for row lengths around the vector width and references that push values into
    /// exp's clamps.
    func testRowTwinsMatchTheSwiftLoopsBitForBit() {
        let values = twinTestValues(seed: 5, randomCount: 5000).filter { !$0.isNaN }
        for (length, reference) in [(values.count, Float(0)), (1000, 3.5), (17, -2), (16, 0), (15, 1), (33, 90), (255, -90)] {
            let row = Array(values.suffix(length))
            var swift = row, twin = row
            let swiftSum = swift.withUnsafeMutableBufferPointer { exponentiateRow($0.baseAddress!, length, subtracting: reference, inC: false) }
            let twinSum = twin.withUnsafeMutableBufferPointer { exponentiateRow($0.baseAddress!, length, subtracting: reference, inC: true) }
            XCTAssertEqual(rowMaximum(row, length, inC: true).bitPattern, rowMaximum(row, length, inC: false).bitPattern,
                           "maximum of the row of \(length)")
            assertBitIdentical(swift, twin, "exp row of \(length), reference \(reference)")
            XCTAssertEqual(swiftSum.bitPattern, twinSum.bitPattern, "sum of the row of \(length): \(swiftSum) vs \(twinSum)")
        }
    }

    /// A threaded GELU over many chunks (both threads take several) gives the single-threaded Swift
    /// loop's results in fp32 and in a bf16 scope alike (once, the worker threads, which do not see
    /// the task-local precision, ran a different GELU from the calling thread's).
    func testThreadedGELUIsTheSameOnEveryThreadAndInEveryScope() {
        var rng = SeededGenerator(seed: 6)
        let count = 16 * elementwiseGrain + 13
        let values = (0..<count).map { _ in Float.random(in: -6...6, using: &rng) }
        var expected = [Float](repeating: 0, count: count)
        Activation.gelu.apply(values, &expected, count, inC: false)
        let input = Tensor(shape: [count], values: values)
        var inPlace = input
        Precision.$current.withValue(.bfloat16) { inPlace.apply(.gelu) }
        assertBitIdentical(input.applying(.gelu).scalars, expected, "threaded GELU (fp32)")
        assertBitIdentical(Precision.$current.withValue(.bfloat16) { input.applying(.gelu) }.scalars, expected,
                           "threaded GELU (bf16 scope)")
        assertBitIdentical(inPlace.scalars, expected, "threaded GELU in place (bf16 scope)")
    }

    /// The bf16 scope's tile: probabilities written in bf16 are the Swift tile's exp values to
    /// bf16 rounding (relative 2^-9, plus the cheaper exp's < 2.5e-6), the sums to 1e-5, and the
    /// fp32 scores are left as they were.
    func testSoftmaxTileBF16ProbabilitiesFollowTheSwiftTile() throws {
        try XCTSkipUnless(Precision.bfloat16Supported, "this CPU has no AVX-512 BF16")
        var rng = SeededGenerator(seed: 33)
        for (rows, keys) in [(3, 255), (2, 17), (1, 1), (4, 64)] {
            let problem = FlashAttentionProblem(
                q: UnsafePointer(bitPattern: 8)!, k: UnsafePointer(bitPattern: 8)!, v: UnsafePointer(bitPattern: 8)!,
                out: UnsafeMutablePointer(bitPattern: 8)!, lq: rows, lk: keys, d: 1, dv: 1, alpha: 1,
                blockRows: rows, blockKeys: keys, queryBlocks: 1, bf16: nil)
            let scores = rng.normal([rows, keys]).scalars.map { $0 * 8 }
            var swiftScores = scores, cScores = scores
            var maxima = [Float](repeating: 0, count: rows), sums = [Float](repeating: 0, count: rows)
            var cMaxima = maxima, cSums = sums, out = [Float](repeating: 0, count: rows), cOut = out
            problem.onlineSoftmax(scores: &swiftScores, rows: rows, keys: keys, first: true, maxima: &maxima, sums: &sums, out: &out)
            let stride = keys + keys % 2
            var probabilities = [UInt16](repeating: 0xFFFF, count: rows * stride)
            st_softmax_tile(&cScores, rows, keys, 1, &cMaxima, &cSums, &cOut, 1, &probabilities, stride)
            XCTAssertEqual(cScores, scores, "scores untouched")
            XCTAssertEqual(cMaxima, maxima)
            for r in 0..<rows {
                XCTAssertEqual(cSums[r], sums[r], accuracy: 1e-5 * sums[r], "sum of row \(r)")
                for k in 0..<keys {
                    let p = Float(bitPattern: UInt32(probabilities[r * stride + k]) << 16), e = swiftScores[r * keys + k]
                    XCTAssertEqual(p, e, accuracy: e / 256 + 1e-30, "row \(r) key \(k) of \(keys)")
                }
                if keys % 2 == 1 { XCTAssertEqual(probabilities[r * stride + keys], 0, "the pair's zero half") }
            }
        }
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
