// BinaryMask: thresholding logits (strictly > 0, NaN is background), accepted shapes, upsampling
// low-res logits, area and the COCO bounding box.

import XCTest
import Tensor
@testable import Export
import TestSupport

final class BinaryMaskTests: XCTestCase {
    func testThresholdIsStrictlyPositive() throws {
        let logits = Tensor(shape: [2, 3], values: [-1, 0, 0.001, .nan, -.infinity, .infinity])
        let mask = try BinaryMask(logits: logits)
        XCTAssertEqual(mask.pixels, [0, 0, 1, 0, 0, 1])
        XCTAssertEqual(mask.area, 2)
        XCTAssertEqual(mask.boundingBox, BoundingBox(x: 2, y: 0, width: 1, height: 2))
        XCTAssertEqual(try BinaryMask(logits: logits, threshold: -2).pixels, [1, 1, 1, 0, 0, 1])
    }

    func testAcceptedShapes() throws {
        let values: [Float] = [1, -1, -1, 1]
        for shape in [[2, 2], [1, 2, 2], [1, 1, 2, 2]] {
            XCTAssertEqual(try BinaryMask(logits: Tensor(shape: shape, values: values)).pixels, [1, 0, 0, 1], "\(shape)")
        }
        XCTAssertThrowsError(try BinaryMask(logits: Tensor(shape: [2, 1, 2], values: values)))
        XCTAssertThrowsError(try BinaryMask(logits: Tensor(shape: [4], values: values)))
    }

    func testUpsampledLogitsMatchInterpolateThenThreshold() throws {
        var rng = SeededGenerator(seed: 7)
        let low = Tensor(shape: [1, 1, 16, 16], values: (0..<256).map { _ in Float.random(in: -1...1, using: &rng) })
        let mask = try BinaryMask(logits: low, upsampledToHeight: 37, width: 53)
        XCTAssertEqual(mask.width, 53)
        XCTAssertEqual(mask.height, 37)
        // The oracle: Tensor's interpolate (torch semantics, tested in TensorTests) then > 0.
        let reference = low.interpolate(height: 37, width: 53, mode: .bilinear(antialias: false)).scalars
        XCTAssertEqual(mask.pixels, reference.map { $0 > 0 ? 1 : 0 })
        // Same size: no resampling.
        XCTAssertEqual(try BinaryMask(logits: low, upsampledToHeight: 16, width: 16), try BinaryMask(logits: low))
    }

    func testBoundingBoxAndArea() {
        var mask = BinaryMask(width: 37, height: 53)
        XCTAssertTrue(mask.isEmpty)
        XCTAssertEqual(mask.boundingBox, .empty)
        XCTAssertEqual(mask.boundingBox.array, [0, 0, 0, 0])
        mask[5, 7] = true
        XCTAssertEqual(mask.boundingBox, BoundingBox(x: 5, y: 7, width: 1, height: 1))
        mask[36, 52] = true
        mask[0, 20] = true
        XCTAssertEqual(mask.boundingBox, BoundingBox(x: 0, y: 7, width: 37, height: 46))
        XCTAssertEqual(mask.area, 3)
        XCTAssertFalse(mask.isEmpty)
        for seed in 0..<20 as Range<UInt64> {
            let blobs = SyntheticMasks.blobs(width: 61, height: 29, blobs: 2, seed: seed)
            XCTAssertEqual(blobs.boundingBox, naiveBoundingBox(blobs))
            XCTAssertEqual(blobs.area, blobs.pixels.reduce(0) { $0 + Int($1) })
        }
    }

    func testPixelsAreNormalisedToZeroOrOne() {
        XCTAssertEqual(BinaryMask(width: 3, height: 1, pixels: [0, 7, 255]).pixels, [0, 1, 1])
    }
}
