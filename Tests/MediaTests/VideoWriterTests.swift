// Video encoding: the MP4 is readable by ffprobe with the right frame count, size and rate, and
// decodes back to (lossily) the same pictures.

import XCTest
import Foundation
@testable import Media

final class VideoWriterTests: XCTestCase {
    /// A moving gradient: frame k of size width x height.
    private func picture(_ k: Int, width: Int, height: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8((x * 4 + k * 8) % 256)
                pixels[i + 1] = UInt8((y * 4) % 256)
                pixels[i + 2] = 128
            }
        }
        return pixels
    }

    func testWritesReadableMP4() throws {
        let dir = try TemporaryDirectory("video")
        let path = dir.file("overlay.mp4")
        let writer = try VideoWriter(path: path, width: 64, height: 48, frameRate: 10)
        for k in 0..<15 { try writer.append(rgb: picture(k, width: 64, height: 48)) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "renamed only on finish")
        try writer.finish()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["overlay.mp4"])

        let probe = try CLI.ffprobe(["-count_frames", "-select_streams", "v:0", "-show_entries",
                                     "stream=codec_name,width,height,r_frame_rate,nb_read_frames",
                                     "-of", "default=nw=1", path])
        XCTAssertTrue(probe.contains("nb_read_frames=15"), probe)
        XCTAssertTrue(probe.contains("width=64"), probe)
        XCTAssertTrue(probe.contains("height=48"), probe)
        XCTAssertTrue(probe.contains("r_frame_rate=10/1"), probe)
        XCTAssertTrue(probe.contains("codec_name=\(writer.codecName == "libx264" ? "h264" : "mpeg4")"), probe)

        // Decoded pixels are close to the originals (lossy codec, BT.601 round trip).
        let source = try VideoSource(path)
        XCTAssertEqual(source.info.frameCount, 15)
        let frame = try XCTUnwrap(try source.nextFrame())
        let rgb = try FramePreprocessor(imageSize: 8).sourceRGB(frame)
        let original = picture(0, width: 64, height: 48)
        let meanError = zip(rgb.pixels, original).map { abs(Int($0) - Int($1)) }.reduce(0, +) / original.count
        XCTAssertLessThan(meanError, 6)
    }

    func testOddSizeAndNTSCRate() throws {
        let dir = try TemporaryDirectory("video-odd")
        let path = dir.file("odd.mp4")
        let writer = try VideoWriter(path: path, width: 65, height: 49, frameRate: 30000.0 / 1001.0)
        for k in 0..<5 { try writer.append(rgb: picture(k, width: 65, height: 49)) }
        try writer.finish()
        let probe = try CLI.ffprobe(["-count_frames", "-select_streams", "v:0", "-show_entries",
                                     "stream=width,height,r_frame_rate,nb_read_frames", "-of", "default=nw=1", path])
        XCTAssertTrue(probe.contains("nb_read_frames=5"), probe)
        XCTAssertTrue(probe.contains("width=64"), probe)
        XCTAssertTrue(probe.contains("height=48"), probe)
        XCTAssertTrue(probe.contains("r_frame_rate=30000/1001"), probe)
    }

    func testMPEG4Fallback() throws {
        let dir = try TemporaryDirectory("video-mpeg4")
        let path = dir.file("clip.mp4")
        let writer = try VideoWriter(path: path, width: 32, height: 32, frameRate: 25, codec: "mpeg4")
        XCTAssertEqual(writer.codecName, "mpeg4")
        for k in 0..<3 { try writer.append(rgb: picture(k, width: 32, height: 32)) }
        try writer.finish()
        XCTAssertEqual(try CLI.ffprobe(["-count_frames", "-show_entries", "stream=nb_read_frames",
                                        "-of", "csv=p=0", path]), "3")
    }

    func testAbandonedWriterLeavesNothing() throws {
        let dir = try TemporaryDirectory("video-abandoned")
        do {
            let writer = try VideoWriter(path: dir.file("x.mp4"), width: 32, height: 32, frameRate: 25)
            try writer.append(rgb: picture(0, width: 32, height: 32))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testBadArguments() throws {
        let dir = try TemporaryDirectory("video-bad")
        XCTAssertThrowsError(try VideoWriter(path: dir.file("a.mp4"), width: 0, height: 10, frameRate: 25))
        XCTAssertThrowsError(try VideoWriter(path: dir.file("a.mp4"), width: 10, height: 10, frameRate: 0))
        XCTAssertThrowsError(try VideoWriter(path: dir.file("a.mp4"), width: 10, height: 10, frameRate: 25,
                                             codec: "no-such-codec")) { error in
            guard case MediaError.encoderNotFound = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try VideoWriter(path: "/nonexistent/dir/a.mp4", width: 10, height: 10, frameRate: 25))
        let writer = try VideoWriter(path: dir.file("b.mp4"), width: 10, height: 10, frameRate: 25)
        XCTAssertThrowsError(try writer.append(rgb: [1, 2, 3]))
    }
}
