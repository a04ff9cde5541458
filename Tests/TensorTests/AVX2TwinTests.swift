// AVX2TwinTests: CAVX2's twins of the fp32 row loops (exact GELU, a row's maximum, exp over a row
// with its lane sums) give the Swift loops' results bit for bit. Called directly, so they are
// checked on AVX-512 machines too, where `RowLoopTwins` picks CAVX512's instead.

import XCTest
import CAVX2
@testable import Tensor
import TestSupport

final class AVX2TwinTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(st_avx2_supported() != 0, "this CPU has no AVX2")
    }

    func testGELUTwinMatchesTheSwiftLoopBitForBit() {
        let values = twinTestValues(seed: 6, randomCount: 5003)
        let vectors = values.count / vectorWidth
        var swift = [Float](repeating: .nan, count: values.count)
        Activation.gelu.apply(values, &swift, values.count, inC: false)
        var twin = [Float](repeating: .nan, count: vectors * vectorWidth)
        st_avx2_gelu_twin(values, &twin, vectors)
        assertBitIdentical(Array(swift.prefix(twin.count)), twin, "GELU over \(vectors) vectors")
        var inPlace = Array(values.prefix(twin.count))
        inPlace.withUnsafeMutableBufferPointer { st_avx2_gelu_twin($0.baseAddress!, $0.baseAddress!, vectors) }
        assertBitIdentical(twin, inPlace, "GELU in place")
    }

    /// The rational erf keeps GELU within 8e-7 of x/2 (1 + erf(x / sqrt 2)) in Double (absolute;
    /// relative above 1), and a NaN stays NaN (its clamps compare and replace).
    func testGELUIsCloseToTheExactForm() {
        let values = twinTestValues(seed: 7, randomCount: 5003) + [.nan, -.nan]
        var out = [Float](repeating: 0, count: values.count)
        Activation.gelu.apply(values, &out, values.count, inC: false)
        var (worst, worstX) = (0.0, Float(0))
        for (x, y) in zip(values, out) where x.isFinite {
            let expected = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            let error = abs(Double(y) - expected) / max(1, abs(expected))
            if error > worst { (worst, worstX) = (error, x) }
        }
        XCTAssertLessThan(worst, 8e-7, "GELU error (absolute, relative above 1), worst at \(worstX)")
        XCTAssertTrue(out.suffix(2).allSatisfy(\.isNaN), "GELU(NaN): \(out.suffix(2))")
    }

    func testRowTwinsMatchTheSwiftLoopsBitForBit() {
        let values = twinTestValues(seed: 6, randomCount: 5003).filter { !$0.isNaN }
        for (length, reference) in [(values.count, Float(0)), (1000, 3.5), (17, -2), (16, 0), (15, 1), (8, 0), (9, 2),
                                    (33, 90), (255, -90), (0, 0)] {
            let row = Array(values.suffix(length))
            // The maximum: the twin's lanes reduced as rowMaximum reduces its vector, then the tail.
            var lanes = FloatVector(repeating: 0)
            withUnsafeMutableBytes(of: &lanes) { st_avx2_row_max_twin(row, length, $0.baseAddress!.assumingMemoryBound(to: Float.self)) }
            var twinMaximum = horizontalMax(lanes)
            for j in (length - length % vectorWidth)..<length { twinMaximum = Swift.max(twinMaximum, row[j]) }
            XCTAssertEqual(twinMaximum.bitPattern, rowMaximum(row, length, inC: false).bitPattern, "maximum of \(length)")
            // exp over the row and its sum, summed as exponentiateRow sums the twin's lanes.
            var swift = row, twin = row
            let swiftSum = swift.withUnsafeMutableBufferPointer { exponentiateRow($0.baseAddress!, length, subtracting: reference, inC: false) }
            var sums = FloatVector(repeating: 0)
            twin.withUnsafeMutableBufferPointer { p in
                withUnsafeMutableBytes(of: &sums) { st_avx2_exp_row_twin(p.baseAddress!, length, reference, $0.baseAddress!.assumingMemoryBound(to: Float.self)) }
            }
            var twinSum = sums.sum()
            for j in (length - length % vectorWidth)..<length { twinSum += twin[j] }
            assertBitIdentical(swift, twin, "exp row of \(length), reference \(reference)")
            XCTAssertEqual(swiftSum.bitPattern, twinSum.bitPattern, "sum of the row of \(length)")
        }
    }

    /// Here (an AVX2 machine without AVX-512) the Tensor loops use these twins.
    func testTensorLoopsUseTheTwinsWhereTheCPUHasNoAVX512() throws {
        try XCTSkipIf(AVX512Kernels.enabled, "AVX-512 here: CAVX512's twins run")
        XCTAssertEqual(RowLoopTwins.current, .avx2)
        XCTAssertTrue(Activation.gelu.runsInC)
    }
}
