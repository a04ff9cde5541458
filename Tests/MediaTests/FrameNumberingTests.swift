// FrameNumbering: index <-> number for positional sources and numbered image lists (with gaps),
// the --max-frames prefix and the description errors show.

import XCTest
@testable import Media

final class FrameNumberingTests: XCTestCase {
    func testPositional() {
        let numbering = FrameNumbering.positional
        XCTAssertTrue(numbering.isPositional)
        XCTAssertEqual(numbering.number(ofIndex: 41), 41)
        XCTAssertEqual(numbering.index(ofNumber: 41), 41)
        XCTAssertNil(numbering.index(ofNumber: -1))
        XCTAssertNil(numbering.numbersDescription)
        XCTAssertTrue(FrameNumbering(fileNumbers: []).isPositional)
    }

    func testFileNumbersWithGaps() {
        let numbering = FrameNumbering(fileNumbers: [17, 18, 19, 25, 26, 40])
        XCTAssertFalse(numbering.isPositional)
        XCTAssertEqual((0..<6).map(numbering.number(ofIndex:)), [17, 18, 19, 25, 26, 40])
        XCTAssertEqual([17, 19, 25, 40].map(numbering.index(ofNumber:)), [0, 2, 3, 5])
        for missing in [0, 16, 20, 24, 27, 39, 41] { XCTAssertNil(numbering.index(ofNumber: missing), "\(missing)") }
        XCTAssertEqual(numbering.numbersDescription, "17...19, 25...26, 40")
        XCTAssertEqual(numbering.prefix(4).numbersDescription, "17...19, 25")
        XCTAssertNil(numbering.prefix(4).index(ofNumber: 26))
        XCTAssertEqual(numbering.prefix(100), numbering)
        XCTAssertEqual(FrameNumbering(fileNumbers: [1, 3, 5, 7, 9, 11]).numbersDescription, "1, 3, 5, 7, ...")
    }

    func testFromAnImageSequence() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("numbering-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let png = try PNGWriter().encodeGray([UInt8](repeating: 9, count: 16), width: 4, height: 4)
        for name in ["00017.png", "00018.png", "00020.png"] {
            try Data(png).write(to: dir.appendingPathComponent(name))
        }
        let numbered = try XCTUnwrap(ImageSequence.resolve(dir.path))
        XCTAssertEqual(FrameNumbering(sequence: numbered).fileNumbers, [17, 18, 20])
        // Names that do not number every image: by position.
        try Data(png).write(to: dir.appendingPathComponent("cover.png"))
        XCTAssertTrue(FrameNumbering(sequence: try XCTUnwrap(ImageSequence.resolve(dir.path))).isPositional)
        XCTAssertTrue(FrameNumbering(sequence: nil).isPositional)
    }
}
