// Frame images for HTTP: PNG is lossless (the decoded bytes equal the ffmpeg CLI's RGB24 of the
// same frame, at source size and scaled), JPEG has the requested size and is close to the
// source; the files are read back with the ffmpeg CLI.

import XCTest
import TestSupport
@testable import Media

final class FrameImageEncoderTests: XCTestCase {
    /// The RGB24 bytes and size of an encoded image, decoded by the ffmpeg CLI.
    private func decodeWithCLI(_ bytes: [UInt8], suffix: String) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        let dir = try TemporaryDirectory("decode")
        let path = dir.file("image.\(suffix)")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let size = try CLI.ffprobe(["-select_streams", "v", "-show_entries", "stream=width,height", "-of", "csv=p=0", path])
        let parts = size.split(separator: ",").compactMap { Int($0) }
        XCTAssertEqual(parts.count, 2, size)
        let rgb = [UInt8](try CLI.ffmpeg(["-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
        return (parts[0], parts[1], rgb)
    }

    /// Frame `n` of `input` as RGB24 from the CLI, optionally through `scale=W:H:flags=bicubic`.
    private func cliFrame(_ input: String, _ n: Int, scale: (Int, Int)? = nil) throws -> [UInt8] {
        var filter = "select=eq(n\\,\(n))"
        if let scale { filter += ",scale=\(scale.0):\(scale.1):flags=bicubic" }
        return [UInt8](try CLI.ffmpeg(["-i", input, "-vf", filter, "-frames:v", "1", "-pix_fmt", "rgb24",
                                       "-f", "rawvideo", "-"], timeout: 120))
    }

    func testScaledSizeKeepsTheAspectRatio() {
        XCTAssertTrue(FrameImageEncoder.scaledSize(width: 960, height: 540, toWidth: 320) == (320, 180))
        XCTAssertTrue(FrameImageEncoder.scaledSize(width: 1280, height: 720, toWidth: 333) == (333, 187))
        XCTAssertTrue(FrameImageEncoder.scaledSize(width: 960, height: 540, toWidth: nil) == (960, 540))
        XCTAssertTrue(FrameImageEncoder.scaledSize(width: 4000, height: 10, toWidth: 100) == (100, 1))
        XCTAssertEqual(FrameImageFormat.quantiser(forQuality: 100), 2)
        XCTAssertEqual(FrameImageFormat.quantiser(forQuality: 1), 31)
        XCTAssertEqual(FrameImageFormat.quantiser(forQuality: 500), 2)
    }

    /// Tolerance: none. PNG holds the RGB24 conversion of the frame, which equals the CLI's.
    func testPNGAtSourceSizeIsExact() throws {
        let input = Fixtures.sharedMedia("bedroom.mp4")
        let video = try RandomAccessVideo(input)
        let png = try video.encodedImage(37, format: .png)
        let decoded = try decodeWithCLI(png, suffix: "png")
        XCTAssertEqual(decoded.width, 960)
        XCTAssertEqual(decoded.height, 540)
        let expected = try cliFrame(input, 37)
        XCTAssertEqual(byteDifference(decoded.rgb, expected).count, 0)
        XCTAssertEqual(decoded.rgb, try video.sourceRGB(37).pixels)
    }

    /// Tolerance: none; the scaler is set up as the CLI's scale filter (BT.709 clip, odd width).
    func testScaledPNGEqualsTheCLIsScaleFilter() throws {
        let input = Fixtures.sharedMedia("cups.mp4")
        let video = try RandomAccessVideo(input)
        let png = try video.encodedImage(3, format: .png, width: 333)
        let decoded = try decodeWithCLI(png, suffix: "png")
        XCTAssertEqual(decoded.width, 333)
        XCTAssertEqual(decoded.height, 187)
        let expected = try cliFrame(input, 3, scale: (333, 187))
        XCTAssertEqual(byteDifference(decoded.rgb, expected).count, 0)
    }

    /// JPEG is lossy: the decoded picture must be close to the CLI's scaled frame (mean absolute
    /// difference below 3 of 255 at quality 90; a wrong frame, size or colour matrix gives tens),
    /// and a lower quality must give a smaller file.
    func testJPEGHasTheSizeAndIsCloseToTheFrame() throws {
        let input = Fixtures.sharedMedia("bedroom.mp4")
        let video = try RandomAccessVideo(input)
        let jpeg = try video.encodedImage(120, format: .jpeg(quality: 90), width: 320)
        XCTAssertEqual(Array(jpeg.prefix(3)), [0xFF, 0xD8, 0xFF])
        let decoded = try decodeWithCLI(jpeg, suffix: "jpg")
        XCTAssertEqual(decoded.width, 320)
        XCTAssertEqual(decoded.height, 180)
        let expected = try cliFrame(input, 120, scale: (320, 180))
        XCTAssertEqual(decoded.rgb.count, expected.count)
        let total = zip(decoded.rgb, expected).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
        let mean = Double(total) / Double(expected.count)
        XCTAssertLessThan(mean, 3, "mean absolute difference \(mean)")
        let otherFrame = try cliFrame(input, 20, scale: (320, 180))
        let otherMean = Double(zip(decoded.rgb, otherFrame).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }) / Double(expected.count)
        XCTAssertGreaterThan(otherMean, mean * 2, "frame 120 should differ from frame 20")

        let small = try video.encodedImage(120, format: .jpeg(quality: 10), width: 320)
        XCTAssertLessThan(small.count, jpeg.count)
        let full = try video.encodedImage(120, format: .jpeg())
        XCTAssertEqual(try decodeWithCLI(full, suffix: "jpg").width, 960)
    }

    func testRGBImageRoundTripsThroughPNG() throws {
        var pixels = [UInt8](repeating: 0, count: 7 * 5 * 3)
        for i in pixels.indices { pixels[i] = UInt8((i * 37) % 256) }
        let image = RGBImage(width: 7, height: 5, pixels: pixels)
        let encoder = FrameImageEncoder()
        let decoded = try decodeWithCLI(try encoder.encode(image, format: .png), suffix: "png")
        XCTAssertEqual(decoded.width, 7)
        XCTAssertEqual(decoded.rgb, pixels)
        let jpeg = try decodeWithCLI(try encoder.encode(image, format: .jpeg(), width: 14), suffix: "jpg")
        XCTAssertEqual(jpeg.width, 14)
        XCTAssertEqual(jpeg.height, 10)
    }

    func testWidthOutOfRange() throws {
        let frame = try RandomAccessVideo(Fixtures.sharedMedia("truck.jpg")).frame(0)
        for width in [0, -3, 20_000] {
            XCTAssertThrowsError(try FrameImageEncoder().encode(frame, format: .png, width: width)) { error in
                guard case MediaError.invalidArgument = error else { return XCTFail("\(error)") }
            }
        }
    }
}
