// Tests `fillColumns` (Sources/Tensor/Convolution.swift), conv2d's im2col: each row of columns
// (one channel and tap) copies the in-range span of its input row and zeros the padded ends.
// Checked element by element against the definition, over strides, paddings wider than the
// kernel and maps narrower than it.

import XCTest
@testable import Tensor

final class ImageToColumnsTests: XCTestCase {
    func testEveryElementIsTheInputPixelOrZero() {
        for (h, w, k, stride, padding) in [(9, 11, 3, 1, 1), (9, 11, 3, 2, 1), (16, 16, 3, 2, 1), (7, 5, 7, 4, 3),
                                           (3, 2, 5, 1, 4), (2, 3, 3, 3, 0), (5, 9, 1, 2, 0), (6, 6, 4, 2, 2)] {
            let channels = 2
            let options = Conv2dOptions(stride: stride, padding: padding)
            let ho = (h + 2 * padding - k) / stride + 1, wo = (w + 2 * padding - k) / stride + 1
            let input = (0..<(channels * h * w)).map { Float($0 + 1) }
            var columns = [Float](repeating: .nan, count: channels * k * k * ho * wo)
            input.withUnsafeBufferPointer { source in
                columns.withUnsafeMutableBufferPointer { cols in
                    fillColumns(cols.baseAddress!, input: source.baseAddress!, channels: channels, h: h, w: w,
                                kh: k, kw: k, ho: ho, wo: wo, options: options)
                }
            }
            for c in 0..<channels { for ky in 0..<k { for kx in 0..<k { for oy in 0..<ho { for ox in 0..<wo {
                let (iy, ix) = (oy * stride - padding + ky, ox * stride - padding + kx)
                let expected: Float = (0..<h).contains(iy) && (0..<w).contains(ix) ? input[(c * h + iy) * w + ix] : 0
                let row = (c * k + ky) * k + kx
                XCTAssertEqual(columns[(row * ho + oy) * wo + ox], expected,
                               "\(h)x\(w) k \(k) stride \(stride) padding \(padding): c \(c) tap \(ky),\(kx) out \(oy),\(ox)")
            } } } } }
        }
    }
}
