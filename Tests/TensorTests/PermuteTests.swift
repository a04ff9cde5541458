// Tests `Tensor.permuted` (Sources/Tensor/ShapeOps.swift) against a naive twin that computes each
// output element's source index from its multi-index: the orders that are batched matrix
// transposes (CAVX2's blocked transpose: whole 8 x 8 tiles, ragged edges, more than one 64-row
// work item) and orders that are not (the general path).
//
// Tolerance: none. A permute only copies.

import XCTest
import Tensor
import TestSupport

final class PermuteTests: XCTestCase {
    /// out[i_0, ..., i_n-1] = x[j] with j's axis order[a] index = i_a, element by element.
    static func naivePermute(_ x: Tensor, _ order: [Int]) -> [Float] {
        let shape = x.shape, outShape = order.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) { inStrides[axis] = inStrides[axis + 1] * shape[axis + 1] }
        let source = x.scalars
        return (0..<x.count).map { flat in
            var rest = flat, offset = 0
            for a in stride(from: outShape.count - 1, through: 0, by: -1) {
                offset += (rest % outShape[a]) * inStrides[order[a]]
                rest /= outShape[a]
            }
            return source[offset]
        }
    }

    func testPermutesMatchTheNaiveTwin() {
        var rng = SeededGenerator(seed: 41)
        let cases: [([Int], [Int])] = [
            ([1, 48, 64, 64], [0, 2, 3, 1]),   // the patch embedding's channels-first -> channels-last
            ([2, 13, 9, 11], [0, 2, 3, 1]),    // ragged 8 x 8 edges, two batches
            ([1, 70, 67, 3], [0, 3, 1, 2]),    // channels-last -> channels-first, rows past one 64-row item
            ([64, 256], [1, 0]),               // a memory's [C, HW] -> [HW, C]
            ([3, 5, 7], [2, 0, 1]),
            ([2, 17, 24], [0, 2, 1]),
            ([2, 3, 4, 5], [0, 2, 1, 3]),      // not a transpose of two groups: the general path
            ([2, 3, 4, 5], [3, 1, 0, 2]),
            ([1, 1, 8, 8], [0, 1, 3, 2]),
        ]
        for (shape, order) in cases {
            let x = rng.normal(shape)
            let out = x.permuted(order)
            XCTAssertEqual(out.shape, order.map { shape[$0] }, "\(shape) by \(order)")
            XCTAssertEqual(out.scalars, PermuteTests.naivePermute(x, order), "\(shape) by \(order)")
        }
    }
}
