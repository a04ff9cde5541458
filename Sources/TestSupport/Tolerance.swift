// Tolerance: tensor comparisons that fail loudly, checking NaN/Inf first, shapes next, values last.

import XCTest
import Tensor

/// Relative L2 error ||a - b|| / max(||b||, tiny): the parity measure of DESIGN §8.
public func relativeL2Error(_ actual: Tensor, _ expected: Tensor) -> Double {
    precondition(actual.count == expected.count)
    var diff = 0.0, norm = 0.0
    actual.withUnsafeBufferPointer { a in
        expected.withUnsafeBufferPointer { e in
            for i in 0..<a.count {
                let d = Double(a[i]) - Double(e[i])
                diff += d * d
                norm += Double(e[i]) * Double(e[i])
            }
        }
    }
    return (diff.squareRoot()) / max(norm.squareRoot(), 1e-30)
}

/// Largest absolute element-wise difference.
public func maxAbsDifference(_ actual: Tensor, _ expected: Tensor) -> Float {
    precondition(actual.count == expected.count)
    var worst: Float = 0
    actual.withUnsafeBufferPointer { a in
        expected.withUnsafeBufferPointer { e in
            for i in 0..<a.count { worst = max(worst, abs(a[i] - e[i])) }
        }
    }
    return worst
}

/// Asserts `actual` matches `expected`: both finite, same shape, relative L2 error <= `relativeL2`
/// (and, when given, every element within `absolute`). Failures name `name` and the figures.
public func assertTensorsClose(
    _ actual: Tensor, _ expected: Tensor, relativeL2: Double, absolute: Float? = nil,
    _ name: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    let label = name.isEmpty ? "" : "\(name): "
    let nonFinite = actual.withUnsafeBufferPointer { $0.firstIndex { !$0.isFinite } }
    if let index = nonFinite {
        XCTFail("\(label)non-finite value at flat index \(index)", file: file, line: line)
        return
    }
    guard actual.shape == expected.shape else {
        XCTFail("\(label)shape \(actual.shape) != expected \(expected.shape)", file: file, line: line)
        return
    }
    let error = relativeL2Error(actual, expected)
    if !(error <= relativeL2) {
        XCTFail("\(label)relative L2 error \(error) > \(relativeL2) (max abs diff \(maxAbsDifference(actual, expected)))",
                file: file, line: line)
    }
    if let absolute {
        let worst = maxAbsDifference(actual, expected)
        if !(worst <= absolute) {
            XCTFail("\(label)max abs diff \(worst) > \(absolute)", file: file, line: line)
        }
    }
}
