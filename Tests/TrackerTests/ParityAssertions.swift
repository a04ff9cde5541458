// ParityAssertions: comparisons the tracker and predictor parity tests share — binary masks that
// agree except where the reference logit is within 1e-3 of 0, and bfloat16-stored memories.

import XCTest
import Tensor

/// Both sides are bfloat16-rounded memories. Our float value differs from the official one by
/// float error (~1e-5 of the tensor's scale, mostly from the deep image encoder); when that
/// straddles a bfloat16 rounding boundary the stored values land one bfloat16 step apart.
/// So: every element is equal, one bfloat16 step apart, or within 1e-4 of the tensor's RMS
/// (values near zero), and at most 3% of the elements differ at all.
func assertBFloat16Close(_ actual: Tensor, _ expected: Tensor, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, label, file: file, line: line)
    let rms = (expected.scalars.reduce(0) { $0 + Double($1) * Double($1) } / Double(max(expected.count, 1))).squareRoot()
    var differing = 0, worse = 0
    actual.withUnsafeBufferPointer { a in
        expected.withUnsafeBufferPointer { e in
            for i in 0..<a.count where a[i] != e[i] {
                differing += 1
                let step = Float(bitPattern: (e[i].bitPattern & 0x7F80_0000)) / 128  // bfloat16 spacing at e[i]
                let difference = abs(a[i] - e[i])
                if !(difference <= step * 1.0001 || Double(difference) <= 1e-4 * rms) { worse += 1 }
            }
        }
    }
    XCTAssertEqual(worse, 0, "\(label): \(worse) elements differ by more than one bfloat16 step", file: file, line: line)
    XCTAssertLessThanOrEqual(differing, max(1, actual.count * 3 / 100), "\(label): \(differing) of \(actual.count) elements differ", file: file, line: line)
}

/// Masks (logits > 0) agree wherever the reference logit is at least 1e-3 away from 0 (DESIGN §8).
func assertMasksAgree(_ actual: Tensor, _ expected: Tensor, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    var differing = 0
    actual.withUnsafeBufferPointer { a in
        expected.withUnsafeBufferPointer { e in
            for i in 0..<a.count where (a[i] > 0) != (e[i] > 0) && abs(e[i]) >= 1e-3 { differing += 1 }
        }
    }
    XCTAssertEqual(differing, 0, "\(label): \(differing) mask pixels differ", file: file, line: line)
}
