// Decoding: frame counts, sizes, timestamps and stream facts for files, image sequences, pipes
// and lavfi graphs.

import XCTest
import Foundation
import TestSupport
@testable import Media

final class VideoSourceTests: XCTestCase {
    func testBedroomDecodesAllFramesWithMonotonicTimestamps() throws {
        let path = Fixtures.sharedMedia("bedroom.mp4")
        let source = try VideoSource(path)
        let info = source.info
        XCTAssertEqual(info.width, 960)
        XCTAssertEqual(info.height, 540)
        XCTAssertEqual(info.codecName, "h264")
        XCTAssertEqual(info.pixelFormat, "yuv420p")
        XCTAssertEqual(info.frameRate, Rational(30, 1))
        XCTAssertEqual(info.frameCount, 200)
        XCTAssertEqual(try XCTUnwrap(info.duration), 200.0 / 30.0, accuracy: 0.05)
        XCTAssertFalse(info.isLive)
        XCTAssertTrue(info.formatName.contains("mp4"))

        var count = 0
        var previous = -Double.infinity
        while let frame = try source.nextFrame() {
            XCTAssertEqual(frame.index, count)
            XCTAssertEqual(frame.width, 960)
            XCTAssertEqual(frame.height, 540)
            let pts = try XCTUnwrap(frame.pts, "frame \(count) has no timestamp")
            XCTAssertGreaterThan(pts, previous, "pts not increasing at frame \(count)")
            previous = pts
            count += 1
        }
        XCTAssertEqual(count, 200)
        XCTAssertEqual(previous, 199.0 / 30.0, accuracy: 1e-3)
        XCTAssertEqual(source.decodeErrors, 0)
        // After the end, the source keeps answering nil.
        XCTAssertNil(try source.nextFrame())
    }

    func testImageSequenceInput() throws {
        let dir = try TemporaryDirectory("sequence")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5", "-frames:v", "7",
                        dir.file("%05d.png")])
        let source = try VideoSource(dir.file("%05d.png"))
        XCTAssertEqual(source.info.formatName, "image2")
        XCTAssertEqual(source.info.codecName, "png")
        XCTAssertFalse(source.info.isLive)
        var frames: [DecodedFrame] = []
        while let frame = try source.nextFrame() { frames.append(frame) }
        XCTAssertEqual(frames.count, 7)
        XCTAssertEqual(frames.map(\.index), Array(0..<7))
        XCTAssertTrue(frames.allSatisfy { $0.width == 64 && $0.height == 48 })
        // image2 numbers frames at its default 25 fps.
        XCTAssertEqual(try XCTUnwrap(frames.last?.pts), 6.0 / 25.0, accuracy: 1e-6)
    }

    func testSingleImageInput() throws {
        let source = try VideoSource(Fixtures.sharedMedia("truck.jpg"))
        let frame = try XCTUnwrap(try source.nextFrame())
        XCTAssertGreaterThan(frame.width, 0)
        XCTAssertNil(try source.nextFrame())
    }

    func testLavfiGraphWithForcedFormatAndOptions() throws {
        let source = try VideoSource("testsrc2=size=80x60:rate=10:duration=1",
                                     options: InputOptions(format: "lavfi"))
        XCTAssertEqual(source.info.width, 80)
        XCTAssertFalse(source.info.isLive, "lavfi graphs are synthetic, not live devices")
        var count = 0
        while try source.nextFrame() != nil { count += 1 }
        XCTAssertEqual(count, 10)
    }

    func testUnknownInputOptionIsRejected() throws {
        XCTAssertThrowsError(try VideoSource(Fixtures.sharedMedia("bedroom.mp4"),
                                             options: InputOptions(options: ["no_such_option": "1"]))) { error in
            guard case let MediaError.invalidArgument(message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("no_such_option"), message)
        }
    }

    /// A pipe (as `-` / `pipe:0` would be): the stream arrives through a file descriptor.
    func testPipeInput() throws {
        let dir = try TemporaryDirectory("pipe")
        let clip = dir.file("clip.ts")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10:duration=1",
                        "-c:v", "mpeg2video", "-f", "mpegts", clip])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: clip))
        let pipe = Pipe()
        let writer = pipe.fileHandleForWriting
        DispatchQueue.global().async {
            writer.write(bytes)
            try? writer.close()
        }
        let fd = pipe.fileHandleForReading.fileDescriptor
        let source = try VideoSource("pipe:\(fd)")
        XCTAssertFalse(source.info.isLive)
        var count = 0
        while try source.nextFrame() != nil { count += 1 }
        XCTAssertEqual(count, 10)
    }

    func testStdinDashMapsToPipeZero() {
        // Opening "-" would read the test runner's own stdin, so only the mapping is checked.
        XCTAssertEqual(VideoSource.ffmpegURL(for: "-"), "pipe:0")
        XCTAssertEqual(VideoSource.ffmpegURL(for: "clip.mp4"), "clip.mp4")
    }
}

extension VideoSourceTests {
    /// Frames whose size changes mid-stream (an image sequence of mixed sizes): the scalers
    /// reconfigure themselves and every model input keeps its S x S shape.
    func testFrameSizeChangesMidStream() throws {
        let dir = try TemporaryDirectory("mixed")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", dir.file("00001.png")])
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=50x70", "-frames:v", "1", dir.file("00002.png")])
        let source = try VideoSource(dir.file("%05d.png"))
        let preprocessor = FramePreprocessor(imageSize: 32)
        var sizes: [[Int]] = []
        while let frame = try source.nextFrame() {
            XCTAssertEqual(try preprocessor.modelInput(frame).shape, [1, 3, 32, 32])
            let rgb = try preprocessor.sourceRGB(frame)
            sizes.append([rgb.width, rgb.height])
        }
        XCTAssertEqual(sizes, [[64, 48], [50, 70]])
    }
}
