// Tests `depthwiseConv2dChannelsLast` (Sources/Tensor/Convolution.swift), the memory encoder's
// 7x7 depthwise convolution on channels-last tokens, against `conv2d` with groups == channels on
// the same map permuted to channels-first: the same sum in the same order, so the same bits
// unless the compiler fuses a multiply-add in one and not the other (then within 1e-6). Padding
// wider than the kernel leaves output pixels with no tap inside the map: the bias alone.

import XCTest
import Tensor
import TestSupport

final class DepthwiseConvolutionTests: XCTestCase {
    func testMatchesGroupedConv2dOnTheChannelsFirstMap() {
        var random = SeededGenerator(seed: 43)
        // The memory encoder's shape (128 channels, 16 x 16, 7 x 7, padding 3), channel counts off
        // the 16-lane vectors, a kernel larger than the map, no padding, and no bias.
        for (batch, h, w, c, k, padding, hasBias) in [(1, 16, 16, 128, 7, 3, true), (2, 5, 9, 21, 3, 1, true),
                                                      (1, 3, 4, 17, 7, 3, true), (1, 6, 6, 32, 3, 0, false),
                                                      (1, 2, 3, 16, 3, 4, true)] {  // padding wider than the kernel
            let x = random.normal([batch, h, w, c])
            let weight = random.normal([c, 1, k, k], scale: 0.2)
            let bias = hasBias ? random.normal([c]) : nil
            let out = x.depthwiseConv2dChannelsLast(weight: weight, bias: bias, padding: padding)
            let reference = x.permuted([0, 3, 1, 2])
                .conv2d(weight: weight, bias: bias, options: Conv2dOptions(padding: padding, groups: c))
                .permuted([0, 2, 3, 1])
            XCTAssertEqual(out.shape, reference.shape, "\(h)x\(w)x\(c) k \(k)")
            var worst: Float = 0
            for (a, b) in zip(out.scalars, reference.scalars) { worst = max(worst, abs(a - b)) }
            XCTAssertLessThan(worst, 1e-6, "\(h)x\(w)x\(c) k \(k) padding \(padding)")
        }
    }
}
