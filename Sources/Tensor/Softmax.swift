// Softmax over the last axis (max-subtracted, vectorised exp).

import CAVX512

extension Tensor {
    /// Softmax over the last axis.
    public func softmax() -> Tensor {
        var out = self
        out.softmaxInPlace()
        return out
    }

    /// Softmax over the last axis, in place.
    public mutating func softmaxInPlace() {
        let d = shape.last ?? 1
        let rows = count / max(d, 1)
        withUnsafeMutablePointer { p in
            Parallel.forEach(rows, grain: max(1, 8192 / max(d, 1))) { range in
                for row in range { softmaxRow(p + row * d, d) }
            }
        }
    }
}

/// Softmax of `d` contiguous values in place.
@inlinable @inline(__always)
public func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ d: Int) {
    scaleRow(p, d, by: 1 / exponentiateRow(p, d))
}

/// Multiplies `count` contiguous values by `factor` in place.
@inlinable @inline(__always)
func scaleRow(_ p: UnsafeMutablePointer<Float>, _ count: Int, by factor: Float) {
    var i = 0
    while i + vectorWidth <= count {
        let x = UnsafeRawPointer(p + i).loadUnaligned(as: FloatVector.self) * factor
        UnsafeMutableRawPointer(p + i).storeBytes(of: x, as: FloatVector.self)
        i += vectorWidth
    }
    while i < count { p[i] *= factor; i += 1 }
}

/// Replaces `d` values by exp(x - max) and returns their sum (softmax without the final division,
/// for callers that can divide a smaller result instead, such as attention's P V product).
@inlinable @inline(__always)
public func exponentiateRow(_ p: UnsafeMutablePointer<Float>, _ d: Int) -> Float {
    var maximum = rowMaximum(p, d)
    if maximum == -.infinity { maximum = 0 }
    return exponentiateRow(p, d, subtracting: maximum)
}

/// Largest of `d` contiguous values (-inf when `d` is 0).
@inlinable @inline(__always)
public func rowMaximum(_ p: UnsafePointer<Float>, _ d: Int) -> Float {
    rowMaximum(p, d, inC: RowLoopTwins.available)
}

/// `rowMaximum(_:_:)` with the vector loop in C (`inC`: `RowLoopTwins.rowMax`) or in Swift.
@inlinable @inline(__always)
public func rowMaximum(_ p: UnsafePointer<Float>, _ d: Int, inC: Bool) -> Float {
    var maxVector = FloatVector(repeating: -.infinity)
    var i = 0
    if inC {
        withUnsafeMutableBytes(of: &maxVector) { RowLoopTwins.rowMax(p, d, lanes: $0.baseAddress!.assumingMemoryBound(to: Float.self)) }
        i = d - d % vectorWidth
    }
    while i + vectorWidth <= d {
        maxVector = lanewiseMax(maxVector, UnsafeRawPointer(p + i).loadUnaligned(as: FloatVector.self))
        i += vectorWidth
    }
    var maximum = horizontalMax(maxVector)
    while i < d { maximum = Swift.max(maximum, p[i]); i += 1 }
    return maximum
}

/// Replaces `d` values x by exp(x - reference) and returns their sum. The online softmax of the
/// flash attention kernel passes its running row maximum as `reference`.
@inlinable @inline(__always)
public func exponentiateRow(_ p: UnsafeMutablePointer<Float>, _ d: Int, subtracting reference: Float) -> Float {
    exponentiateRow(p, d, subtracting: reference, inC: RowLoopTwins.available)
}

/// `exponentiateRow(_:_:subtracting:)` with the full vectors in C on AVX-512 (`inC`, the same
/// results bit for bit: `RowLoopTwins.expRow`) or in Swift.
@inlinable @inline(__always)
public func exponentiateRow(_ p: UnsafeMutablePointer<Float>, _ d: Int, subtracting reference: Float,
                            inC: Bool) -> Float {
    var sumVector = FloatVector(repeating: 0)
    var i = 0
    if inC {
        withUnsafeMutableBytes(of: &sumVector) {
            RowLoopTwins.expRow(p, d, reference: reference, laneSums: $0.baseAddress!.assumingMemoryBound(to: Float.self))
        }
        var sum = sumVector.sum()
        for j in (d - d % vectorWidth)..<d { sum += p[j] }
        return sum
    }
    while i + vectorWidth <= d {
        let e = vectorExp(UnsafeRawPointer(p + i).loadUnaligned(as: FloatVector.self) - reference)
        UnsafeMutableRawPointer(p + i).storeBytes(of: e, as: FloatVector.self)
        sumVector += e
        i += vectorWidth
    }
    var sum = sumVector.sum()
    if i < d {
        var tail = FloatVector(repeating: -.infinity)
        for j in 0..<(d - i) { tail[j] = p[i + j] }
        let e = vectorExp(tail - reference)
        for j in 0..<(d - i) { p[i + j] = e[j]; sum += e[j] }
    }
    return sum
}
