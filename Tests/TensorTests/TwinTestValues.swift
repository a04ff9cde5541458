// TwinTestValues: what the tests of the C twins of Tensor's row loops share (AVX512KernelTests,
// AVX2TwinTests): inputs that reach every branch of the exp and erf approximations, and a
// bit-for-bit comparison.

import XCTest
import TestSupport

/// A grid over -10...10, signed zeros, tiny and huge values, exp's clamps, infinities, then
/// `randomCount` values drawn from -120...120 with `seed`.
func twinTestValues(seed: UInt64, randomCount: Int) -> [Float] {
    var values: [Float] = (0..<20001).map { Float($0 - 10000) / 1000 }
    values += [0, -0.0, 1e-30, -1e-30, 1e-45, 50, -50, 1e6, -1e6, .infinity, -.infinity,
               -87.33, -87.34, -87.32, 88.37, 88.38, 88.72, 88.73, -100, 100]
    var rng = SeededGenerator(seed: seed)
    values += (0..<randomCount).map { _ in Float.random(in: -120...120, using: &rng) }
    return values
}

/// Fails unless `a` and `b` hold the same bits (any NaN equals any NaN).
func assertBitIdentical(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, what, file: file, line: line)
    let differing = zip(a, b).filter { !($0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN)) }
    XCTAssertEqual(differing.count, 0, "\(what): values differing, e.g. \(differing.prefix(3))", file: file, line: line)
}
