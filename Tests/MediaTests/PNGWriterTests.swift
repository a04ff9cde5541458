// PNG encoding: grey, RGB and palette images round-trip through FFmpeg's png decoder with the
// same pixels and palette; files are written atomically.

import XCTest
import FileIO
import Foundation
import CFFmpeg
@testable import Media

final class PNGWriterTests: XCTestCase {
    /// The chunks of a PNG file: (type, data). Fails on a bad signature.
    private func chunks(_ png: [UInt8]) throws -> [(String, [UInt8])] {
        XCTAssertEqual(Array(png.prefix(8)), [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature")
        var result: [(String, [UInt8])] = []
        var offset = 8
        while offset + 8 <= png.count {
            let length = png[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: png[offset + 4..<offset + 8], as: UTF8.self)
            result.append((type, Array(png[offset + 8..<offset + 8 + length])))
            offset += 12 + length
        }
        return result
    }

    /// Decodes a PNG file with VideoSource and returns its only frame.
    private func decode(_ path: String) throws -> DecodedFrame {
        let source = try VideoSource(path)
        return try XCTUnwrap(try source.nextFrame())
    }

    /// Rows of plane `plane` of a decoded frame, packed.
    private func plane(_ frame: DecodedFrame, _ plane: Int, rowBytes: Int) -> [UInt8] {
        let f = frame.frame.pointee
        let data = plane == 0 ? f.data.0! : f.data.1!
        let linesize = Int(plane == 0 ? f.linesize.0 : f.linesize.1)
        var out: [UInt8] = []
        for y in 0..<frame.height {
            out.append(contentsOf: UnsafeBufferPointer(start: data + y * linesize, count: rowBytes))
        }
        return out
    }

    func testGreyRoundTrip() throws {
        let dir = try TemporaryDirectory("png-grey")
        let width = 37, height = 21
        let pixels = (0..<width * height).map { UInt8(($0 * 7) % 256) }
        let path = dir.file("mask.png")
        let writer = PNGWriter()
        try writer.writeGray(pixels, width: width, height: height, to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try XCTUnwrap(try chunks(bytes).first { $0.0 == "IHDR" }?.1)
        XCTAssertEqual(Array(header[8..<10]), [8, 0], "bit depth 8, colour type 0 (grey)")
        let frame = try decode(path)
        XCTAssertEqual(frame.pixelFormat, "gray")
        XCTAssertEqual(frame.width, width)
        XCTAssertEqual(plane(frame, 0, rowBytes: width), pixels)
        // The file is complete and alone: no temporary left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["mask.png"])
    }

    func testBinaryMaskAndEncoderReuse() throws {
        let writer = PNGWriter(compressionLevel: 1)
        let width = 64, height = 48
        for k in 0..<3 {
            let mask = (0..<width * height).map { ($0 / width + k) % 5 == 0 ? UInt8(255) : 0 }
            let png = try writer.encodeGray(mask, width: width, height: height)
            let dir = try TemporaryDirectory("png-mask")
            try PNGWriter.writeAtomically(png, to: dir.file("m.png"))
            XCTAssertEqual(plane(try decode(dir.file("m.png")), 0, rowBytes: width), mask)
        }
    }

    func testPaletteRoundTrip() throws {
        let dir = try TemporaryDirectory("png-palette")
        let width = 19, height = 11
        let indices = (0..<width * height).map { UInt8($0 % 4) }
        let palette: [UInt8] = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]
        let path = dir.file("palette.png")
        try PNGWriter().writeIndexed(indices, width: width, height: height, palette: palette, to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let parsed = try chunks(bytes)
        let header = try XCTUnwrap(parsed.first { $0.0 == "IHDR" }?.1)
        XCTAssertEqual(Array(header[8..<10]), [8, 3], "bit depth 8, colour type 3 (palette)")
        let plte = try XCTUnwrap(parsed.first { $0.0 == "PLTE" }?.1)
        XCTAssertEqual(Array(plte.prefix(palette.count)), palette)
        XCTAssertNil(parsed.first { $0.0 == "tRNS" }, "all entries are opaque")

        let frame = try decode(path)
        XCTAssertEqual(frame.pixelFormat, "pal8")
        XCTAssertEqual(plane(frame, 0, rowBytes: width), indices)
        let entries = UnsafeRawPointer(frame.frame.pointee.data.1!).bindMemory(to: UInt32.self, capacity: 256)
        for i in 0..<4 {
            let expected = 0xFF00_0000 | UInt32(palette[3 * i]) << 16 | UInt32(palette[3 * i + 1]) << 8 | UInt32(palette[3 * i + 2])
            XCTAssertEqual(entries[i], expected, "palette entry \(i)")
        }
        XCTAssertEqual(try CLI.ffprobe(["-show_entries", "stream=pix_fmt", "-of", "csv=p=0", path]), "pal8")
    }

    func testRGBRoundTrip() throws {
        let dir = try TemporaryDirectory("png-rgb")
        let image = RGBImage(width: 5, height: 3, pixels: (0..<45).map { UInt8($0 * 5) })
        try PNGWriter().writeRGB(image, to: dir.file("rgb.png"))
        let frame = try decode(dir.file("rgb.png"))
        XCTAssertEqual(frame.pixelFormat, "rgb24")
        XCTAssertEqual(plane(frame, 0, rowBytes: 15), image.pixels)
        // And through the preprocessor's source-resolution path.
        XCTAssertEqual(try FramePreprocessor(imageSize: 8).sourceRGB(frame), image)
    }

    func testBadArguments() {
        let writer = PNGWriter()
        XCTAssertThrowsError(try writer.encodeGray([1, 2, 3], width: 2, height: 2))
        XCTAssertThrowsError(try writer.encodeGray([], width: 0, height: 0))
        XCTAssertThrowsError(try writer.encodeIndexed([0], width: 1, height: 1, palette: [1, 2]))
        XCTAssertThrowsError(try writer.writeGray([0], width: 1, height: 1, to: "/nonexistent/dir/x.png")) { error in
            XCTAssertEqual(error as? FileError, .directoryNotFound(path: "/nonexistent/dir"), "\(error)")
        }
    }
}
