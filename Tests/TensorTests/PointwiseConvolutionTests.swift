// Tests `pointwiseConv2dChannelsLast` (Sources/Tensor/Convolution.swift), the FPN neck's lateral
// 1x1 convolution on Hiera's channels-last outputs, against a double-precision sum per output
// written here, and against `conv2d` on the same map permuted to channels-first.

import XCTest
import Tensor
import TestSupport

final class PointwiseConvolutionTests: XCTestCase {
    func testMatchesADoubleSumAndConv2dOnTheChannelsFirstMap() {
        var random = SeededGenerator(seed: 41)
        // Small (one OpenBLAS call) and large (split over the workers: >= 2^20 multiply-adds).
        for (batch, h, w, cin, cout) in [(2, 3, 5, 7, 4), (1, 32, 32, 96, 256)] {
            let x = random.normal([batch, h, w, cin])
            let weight = random.normal([cout, cin, 1, 1], scale: 0.1)
            let bias = random.normal([cout])
            let out = x.pointwiseConv2dChannelsLast(weight: weight, bias: bias)
            XCTAssertEqual(out.shape, [batch, cout, h, w])
            var worst: Double = 0
            for b in 0..<batch { for o in 0..<cout { for y in 0..<h { for xx in 0..<w {
                var sum = Double(bias[o])
                for c in 0..<cin { sum += Double(weight[o, c, 0, 0]) * Double(x[b, y, xx, c]) }
                worst = max(worst, abs(Double(out[b, o, y, xx]) - sum))
            } } } }
            XCTAssertLessThan(worst, 1e-4, "\(batch)x\(h)x\(w)x\(cin) -> \(cout)")
            let reference = x.permuted([0, 3, 1, 2]).conv2d(weight: weight, bias: bias)
            XCTAssertEqual(out.shape, reference.shape)
            var difference: Float = 0
            for (a, b) in zip(out.scalars, reference.scalars) { difference = max(difference, abs(a - b)) }
            XCTAssertLessThan(difference, 1e-4)
        }
    }

    func testWithoutBias() {
        var random = SeededGenerator(seed: 42)
        let x = random.normal([1, 4, 6, 8])
        let weight = random.normal([3, 8, 1, 1])
        let out = x.pointwiseConv2dChannelsLast(weight: weight, bias: nil)
        let reference = x.permuted([0, 3, 1, 2]).conv2d(weight: weight, bias: nil)
        for (a, b) in zip(out.scalars, reference.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }
}
