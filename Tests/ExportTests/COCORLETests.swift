// COCO RLE: hand-computed examples (checked once against pycocotools 2.0, quoted below), the fast
// encoder against the naive column-major walk on random masks, decode round trips, bounding boxes
// and areas, and rejection of malformed strings. Exact: RLE has no tolerance.

import XCTest
import Tensor
@testable import Export

final class COCORLETests: XCTestCase {
    private func mask(_ rows: [[UInt8]]) -> BinaryMask {
        BinaryMask(width: rows.first?.count ?? 0, height: rows.count, pixels: rows.flatMap { $0 })
    }

    func testHandComputedMasks() throws {
        // [[0,1],[1,1]]: columns (0,1), (1,1) -> runs 1 zero, 3 ones.
        var rle = COCORLE(encoding: mask([[0, 1], [1, 1]]))
        XCTAssertEqual(rle.counts, [1, 3])
        XCTAssertEqual(rle.compressed, "13")
        // pycocotools.mask.encode(np.asfortranarray([[0,1,1],[1,0,1]])) == b'1210'; the 4th count
        // (2) is written as 2 - 2 = 0 (delta trick), toBbox [0, 0, 3, 2], area 4.
        rle = COCORLE(encoding: mask([[0, 1, 1], [1, 0, 1]]))
        XCTAssertEqual(rle.counts, [1, 2, 1, 2])
        XCTAssertEqual(rle.compressed, "1210")
        XCTAssertEqual(rle.boundingBox, BoundingBox(x: 0, y: 0, width: 3, height: 2))
        XCTAssertEqual(rle.area, 4)
        // 4x5 with a 2x3 block at rows 1-2, columns 1-3: b'5220003', toBbox [1, 1, 3, 2].
        var block = BinaryMask(width: 5, height: 4)
        for y in 1...2 { for x in 1...3 { block[x, y] = true } }
        rle = COCORLE(encoding: block)
        XCTAssertEqual(rle.counts, [5, 2, 2, 2, 2, 2, 5])
        XCTAssertEqual(rle.compressed, "5220003")
        XCTAssertEqual(rle.boundingBox, BoundingBox(x: 1, y: 1, width: 3, height: 2))
        XCTAssertEqual(block.boundingBox, BoundingBox(x: 1, y: 1, width: 3, height: 2))
    }

    func testEdgeCases() throws {
        // Empty 3x4: one run of 12 zeros -> '<' (12 + 48).
        let empty = COCORLE(encoding: BinaryMask(width: 4, height: 3))
        XCTAssertEqual(empty.counts, [12])
        XCTAssertEqual(empty.compressed, "<")
        XCTAssertEqual(empty.boundingBox, .empty)
        XCTAssertEqual(empty.area, 0)
        // Full 10x10: a zero-length background run first -> b'0T3' (100 = 0b11_00100: 4|0x20, 3).
        let full = COCORLE(encoding: BinaryMask(width: 10, height: 10, pixels: [UInt8](repeating: 1, count: 100)))
        XCTAssertEqual(full.counts, [0, 100])
        XCTAssertEqual(full.compressed, "0T3")
        XCTAssertEqual(full.boundingBox, BoundingBox(x: 0, y: 0, width: 10, height: 10))
        // 1x1.
        XCTAssertEqual(COCORLE(encoding: mask([[1]])).compressed, "01")
        XCTAssertEqual(COCORLE(encoding: mask([[0]])).compressed, "1")
        XCTAssertEqual(COCORLE(encoding: mask([[1]])).boundingBox, BoundingBox(x: 0, y: 0, width: 1, height: 1))
        // 0x0 gives counts [0], as rleEncode does.
        let none = COCORLE(encoding: BinaryMask(width: 0, height: 0))
        XCTAssertEqual(none.counts, [0])
        XCTAssertEqual(none.decoded(), BinaryMask(width: 0, height: 0))
    }

    func testStringEncodingOfCounts() throws {
        // pycocotools.mask.frPyObjects({'size': [3, 5], 'counts': [5, 2, 3, 1, 4]}, 3, 5) -> b'523O1':
        // i = 3 writes 1 - 2 = -1 as 'O' (31 + 48: sign bit set, no continuation).
        XCTAssertEqual(COCORLE.encodeCounts([5, 2, 3, 1, 4]), "523O1")
        // frPyObjects({'size': [1000, 2000], 'counts': [1000000, 5, 999995]}) -> b'Pb`n05ka`n0'.
        XCTAssertEqual(COCORLE.encodeCounts([1_000_000, 5, 999_995]), "Pb`n05ka`n0")
        XCTAssertEqual(try COCORLE.decodeCounts("Pb`n05ka`n0"), [1_000_000, 5, 999_995])
        XCTAssertEqual(try COCORLE.decodeCounts("523O1"), [5, 2, 3, 1, 4])
        XCTAssertEqual(try COCORLE.decodeCounts(""), [])
    }

    func testFastEncoderMatchesNaiveWalk() throws {
        // Sizes around the 32-column blocks and the 8-byte word scan, odd sizes, tall and wide.
        let sizes = [(1, 1), (1, 17), (17, 1), (37, 53), (53, 37), (31, 9), (33, 64), (64, 33), (100, 7), (200, 150)]
        var seed: UInt64 = 1
        for (width, height) in sizes {
            for kind in 0..<3 {
                seed += 1
                let mask: BinaryMask
                switch kind {
                case 0: mask = SyntheticMasks.blobs(width: width, height: height, blobs: 3, seed: seed)
                case 1: mask = SyntheticMasks.noise(width: width, height: height, density: 0.5, seed: seed)
                default: mask = SyntheticMasks.noise(width: width, height: height, density: 0.97, seed: seed)
                }
                let rle = COCORLE(encoding: mask)
                let label = "\(width)x\(height) kind \(kind)"
                XCTAssertEqual(rle.counts, naiveRunLengths(mask), label)
                XCTAssertEqual(rle.decoded(), mask, label)
                XCTAssertEqual(try COCORLE.decodeCounts(rle.compressed), rle.counts, label)
                XCTAssertEqual(try COCORLE(height: height, width: width, compressed: rle.compressed), rle, label)
                XCTAssertEqual(rle.area, mask.area, label)
                XCTAssertEqual(rle.boundingBox, naiveBoundingBox(mask), label)
                XCTAssertEqual(mask.boundingBox, naiveBoundingBox(mask), label)
            }
        }
    }

    func testFullHDMaskRoundTrip() throws {
        let mask = SyntheticMasks.blobs(width: 1920, height: 1080, blobs: 6, seed: 42)
        let rle = COCORLE(encoding: mask)
        XCTAssertEqual(rle.counts, naiveRunLengths(mask))
        XCTAssertEqual(try COCORLE(height: 1080, width: 1920, compressed: rle.compressed).decoded(), mask)
        XCTAssertEqual(rle.boundingBox, naiveBoundingBox(mask))
    }

    func testMalformedStringsAreRejected() {
        XCTAssertThrowsError(try COCORLE.decodeCounts("1 2")) { error in
            XCTAssertTrue("\(error)".contains("outside '0'...'o'"), "\(error)")
        }
        // 'P' = 32 + 48: a continuation bit with nothing after it.
        XCTAssertThrowsError(try COCORLE.decodeCounts("P")) { error in
            XCTAssertTrue("\(error)".contains("ends inside a value"), "\(error)")
        }
        // 'O' as the first count decodes to -1.
        XCTAssertThrowsError(try COCORLE.decodeCounts("O"))
        // Counts that do not cover H * W.
        XCTAssertThrowsError(try COCORLE(height: 2, width: 2, compressed: "12")) { error in
            XCTAssertEqual(error as? ExportError, .invalidRLE("counts add up to 3 pixels, size [2, 2] has 4"))
        }
    }

    func testCodableForm() throws {
        let rle = COCORLE(encoding: mask([[0, 1, 1], [1, 0, 1]]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        XCTAssertEqual(String(decoding: try encoder.encode(rle), as: UTF8.self), #"{"counts":"1210","size":[2,3]}"#)
        XCTAssertEqual(try JSONDecoder().decode(COCORLE.self, from: Data(#"{"size": [2, 3], "counts": "1210"}"#.utf8)), rle)
        // Uncompressed RLE (a list of counts) is accepted too.
        XCTAssertEqual(try JSONDecoder().decode(COCORLE.self, from: Data(#"{"size": [2, 3], "counts": [1, 2, 1, 2]}"#.utf8)), rle)
        XCTAssertThrowsError(try JSONDecoder().decode(COCORLE.self, from: Data(#"{"size": [2, 3], "counts": "12"}"#.utf8)))
    }

    func testBackslashInCountsIsEscapedInJSON() throws {
        // '\' is 92 = 44 + 48, the character of a group 12 with the continuation bit (0x20): the
        // count 44 = 0b1_01100 is written as 12 | 0x20, then 1 -> "\\1".
        let counts: [UInt32] = [44, 4]
        let string = COCORLE.encodeCounts(counts)
        XCTAssertTrue(string.contains("\\"), string)
        let rle = try COCORLE(height: 48, width: 1, counts: counts)
        let line = FrameRecord(frame: 0, pts: 0, objects: [MaskRecord(id: 1, score: 1, rle: rle)]).jsonLine
        let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        let objects = parsed?["objects"] as? [[String: Any]]
        let counted = (objects?.first?["rle"] as? [String: Any])?["counts"] as? String
        XCTAssertEqual(counted, string)
        XCTAssertEqual(try FrameRecord(jsonLine: line).objects.first?.rle, rle)
    }
}
