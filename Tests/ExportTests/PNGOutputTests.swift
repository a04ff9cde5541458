// PNG outputs: the DAVIS palette entries, the overlap rule of palette images, the PLTE chunk
// libavcodec writes, and both layouts decoded back through FFmpeg (Media's VideoSource; palette
// colours map back to ids one to one). Pillow's view of the same files: InteropTests.

import XCTest
import FileIO
import Media
@testable import Export

final class PNGOutputTests: XCTestCase {
    func testDAVISPaletteEntries() {
        let expected: [(Int, [UInt8])] = [
            (0, [0, 0, 0]), (1, [128, 0, 0]), (2, [0, 128, 0]), (3, [128, 128, 0]), (4, [0, 0, 128]),
            (5, [128, 0, 128]), (6, [0, 128, 128]), (7, [128, 128, 128]), (8, [64, 0, 0]), (9, [192, 0, 0]),
            (10, [64, 128, 0]), (255, [224, 224, 192]),
        ]
        for (index, rgb) in expected {
            let color = DAVISPalette.color(index: index)
            XCTAssertEqual([color.red, color.green, color.blue], rgb, "entry \(index)")
            XCTAssertEqual(Array(DAVISPalette.bytes[(3 * index)..<(3 * index + 3)]), rgb, "bytes of entry \(index)")
        }
        XCTAssertEqual(DAVISPalette.bytes.count, 768)
        XCTAssertEqual(Set(DAVISPalette.colors).count, 256, "all entries distinct")
        XCTAssertEqual(DAVISPalette.color(objectID: 256), DAVISPalette.color(index: 1))
    }

    func testOverlapRule() throws {
        let width = 4, height = 1
        let a = ObjectMask(id: 1, score: 5, mask: BinaryMask(width: width, height: height, pixels: [1, 1, 0, 0]))
        let b = ObjectMask(id: 2, score: 1, mask: BinaryMask(width: width, height: height, pixels: [0, 1, 1, 0]))
        let c = ObjectMask(id: 3, score: 1, mask: BinaryMask(width: width, height: height, pixels: [0, 0, 1, 1]))
        // Highest score wins pixel 1; equal scores: the later object (c) wins pixel 2.
        XCTAssertEqual(try PalettePNGEncoder.indexImage(width: width, height: height, objects: [a, b, c]), [1, 1, 3, 3])
        XCTAssertEqual(try PalettePNGEncoder.indexImage(width: width, height: height, objects: [c, b, a]), [1, 1, 2, 3])
        let nan = ObjectMask(id: 4, score: .nan, mask: BinaryMask(width: width, height: height, pixels: [1, 1, 1, 1]))
        XCTAssertEqual(try PalettePNGEncoder.indexImage(width: width, height: height, objects: [a, nan]), [1, 1, 4, 4])
        XCTAssertEqual(ObjectMask.paintingOrder([a, b, c]), [1, 2, 0])
        XCTAssertThrowsError(try PalettePNGEncoder.indexImage(width: width, height: height,
                                                              objects: [ObjectMask(id: 256, score: 0, mask: a.mask)]))
        XCTAssertThrowsError(try PalettePNGEncoder.indexImage(width: 5, height: 1, objects: [a]))
    }

    /// The PLTE chunk of a PNG file (RGB triples), from its chunk list.
    private func paletteChunk(_ png: [UInt8]) -> [UInt8]? {
        var offset = 8
        while offset + 8 <= png.count {
            let length = png[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: png[offset + 4..<offset + 8], as: UTF8.self)
            if type == "PLTE" { return Array(png[offset + 8..<offset + 8 + length]) }
            offset += 12 + length
        }
        return nil
    }

    /// The RGB24 pixels of an image file, decoded by FFmpeg.
    private func decodeRGB(_ path: String) throws -> RGBImage {
        let source = try VideoSource(path)
        let frame = try XCTUnwrap(try source.nextFrame())
        return try FramePreprocessor(imageSize: 16).sourceRGB(frame)
    }

    func testPaletteAndGreyFilesDecodeBack() throws {
        let dir = try TemporaryDirectory("png")
        let width = 37, height = 53
        let objects = (1...3).map { id in
            ObjectMask(id: id, score: Float(id % 2), mask: SyntheticMasks.blobs(width: width, height: height, blobs: 2, seed: UInt64(id)))
        }
        let palette = try PalettePNGWriter(directory: dir.file("palette"))
        try palette.write(frame: 3, width: width, height: height, objects: objects)
        let grey = try MaskPNGWriter(directory: dir.file("png"))
        try grey.write(frame: 3, objects: objects)

        XCTAssertEqual(try dir.contents("palette"), ["00003.png"])
        XCTAssertEqual(try dir.contents("png"), ["1", "2", "3"])
        for id in 1...3 { XCTAssertEqual(try dir.contents("png/\(id)"), ["00003.png"]) }

        let png = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("palette/00003.png"))))
        XCTAssertEqual(png[24..<26], [8, 3], "bit depth 8, colour type 3 (palette)")
        let plte = try XCTUnwrap(paletteChunk(png))
        XCTAssertEqual(Array(plte.prefix(768)), Array(DAVISPalette.bytes.prefix(plte.count)))
        XCTAssertGreaterThanOrEqual(plte.count, 3 * 4, "entries 0...3 present")

        let expectedIDs = try PalettePNGEncoder.indexImage(width: width, height: height, objects: objects)
        let decoded = try decodeRGB(dir.file("palette/00003.png"))
        XCTAssertEqual(decoded.width, width)
        let colourToIndex = Dictionary(uniqueKeysWithValues: DAVISPalette.colors.enumerated().map { ($0.element, UInt8($0.offset)) })
        let ids = (0..<(width * height)).map { i -> UInt8 in
            let p = decoded.pixels
            return colourToIndex[RGBColor(red: p[3 * i], green: p[3 * i + 1], blue: p[3 * i + 2])] ?? 99
        }
        XCTAssertEqual(ids, expectedIDs)

        for object in objects {
            let image = try decodeRGB(dir.file("png/\(object.id)/00003.png"))
            let values = stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] }
            XCTAssertEqual(values, object.mask.pixels.map { $0 * 255 }, "object \(object.id)")
        }
    }

    func testWriterErrors() throws {
        let dir = try TemporaryDirectory("png-errors")
        XCTAssertThrowsError(try PalettePNGWriter(directory: dir.file("missing"), createDirectory: false)) { error in
            XCTAssertEqual(error as? FileError, .directoryNotFound(path: dir.file("missing")))
        }
        let grey = try MaskPNGWriter(directory: dir.path)
        XCTAssertThrowsError(try grey.write(frame: 0, objects: [ObjectMask(id: 0, score: 0, mask: BinaryMask(width: 2, height: 2))]))
        XCTAssertThrowsError(try grey.write(frame: 0, objects: [ObjectMask(id: 1, score: 0, mask: BinaryMask(width: 0, height: 0))]))
    }
}
