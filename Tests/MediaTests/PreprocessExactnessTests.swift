// The model input must equal, byte for byte, what the ffmpeg CLI's bicubic scale filter makes:
//   ffmpeg -i IN -vf scale=S:S:flags=bicubic -pix_fmt rgb24 -f rawvideo -
// (DESIGN §2). Tolerance: none — every byte of every compared frame must match.

import XCTest
import Tensor
import TestSupport
@testable import Media

final class PreprocessExactnessTests: XCTestCase {
    /// RGB24 frames of `input` at size x size from the ffmpeg CLI (first `frames` frames).
    private func cliFrames(_ input: String, size: Int, frames: Int) throws -> [[UInt8]] {
        let data = try CLI.ffmpeg(["-i", input, "-frames:v", "\(frames)",
                                   "-vf", "scale=\(size):\(size):flags=bicubic",
                                   "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], timeout: 120)
        let frameBytes = size * size * 3
        XCTAssertEqual(data.count, frameBytes * frames, "ffmpeg produced \(data.count) bytes")
        let bytes = [UInt8](data)
        return (0..<min(frames, bytes.count / frameBytes)).map {
            Array(bytes[($0 * frameBytes)..<(($0 + 1) * frameBytes)])
        }
    }

    /// RGB24 frames at source resolution from the CLI (`-pix_fmt rgb24`, no scale filter).
    private func cliSourceFrames(_ input: String, width: Int, height: Int, frames: Int) throws -> [[UInt8]] {
        let data = try CLI.ffmpeg(["-i", input, "-frames:v", "\(frames)",
                                   "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], timeout: 120)
        let frameBytes = width * height * 3
        let bytes = [UInt8](data)
        return (0..<min(frames, bytes.count / frameBytes)).map {
            Array(bytes[($0 * frameBytes)..<(($0 + 1) * frameBytes)])
        }
    }

    /// Decodes `frames` frames of `input` and compares them at size S with the CLI's bytes.
    private func assertMatchesCLI(_ input: String, size: Int, frames: Int, threads: Int = 1,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try cliFrames(input, size: size, frames: frames)
        let source = try VideoSource(input)
        let preprocessor = FramePreprocessor(imageSize: size, threads: threads, inputName: input)
        for n in 0..<expected.count {
            let frame = try XCTUnwrap(try source.nextFrame(), file: file, line: line)
            let ours = try preprocessor.resizedRGB(frame)
            XCTAssertEqual(ours.width, size, file: file, line: line)
            let difference = byteDifference(ours.pixels, expected[n])
            XCTAssertEqual(difference.count, 0,
                           "\(input) S=\(size) frame \(n): \(difference.count) bytes differ, max \(difference.maximum)",
                           file: file, line: line)
        }
    }

    func testBedroomMatchesCLIAt256() throws {
        try assertMatchesCLI(Fixtures.sharedMedia("bedroom.mp4"), size: 256, frames: 4)
    }

    func testBedroomMatchesCLIAt1024() throws {
        try assertMatchesCLI(Fixtures.sharedMedia("bedroom.mp4"), size: 1024, frames: 3)
    }

    /// cups.mp4 is tagged BT.709: the scaler must use the frame's own matrix, as vf_scale does.
    func testBT709ClipMatchesCLIAt1024() throws {
        try assertMatchesCLI(Fixtures.sharedMedia("cups.mp4"), size: 1024, frames: 2)
    }

    /// Slice threads split the output rows; the bytes must not change.
    func testThreadedScalerMatchesCLI() throws {
        try assertMatchesCLI(Fixtures.sharedMedia("bedroom.mp4"), size: 256, frames: 2, threads: 2)
        try assertMatchesCLI(Fixtures.sharedMedia("cups.mp4"), size: 333, frames: 2, threads: 3)
    }

    /// Odd sizes and other inputs: yuv420p tagged full range + BT.709, full-range yuvj420p
    /// (MJPEG), yuv444p, and rgb24 PNG frames.
    func testOtherPixelFormatsMatchCLI() throws {
        let dir = try TemporaryDirectory("formats")
        let fullRange = dir.file("full.mkv")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=0.3",
                        "-c:v", "ffv1", "-pix_fmt", "yuv420p", "-color_range", "pc", "-colorspace", "bt709",
                        fullRange])
        try assertMatchesCLI(fullRange, size: 99, frames: 3)
        let mjpeg = dir.file("clip.avi")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=322x182:rate=10:duration=0.3",
                        "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", mjpeg])
        try assertMatchesCLI(mjpeg, size: 100, frames: 3)
        let yuv444 = dir.file("clip444.mkv")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=0.3",
                        "-c:v", "ffv1", "-pix_fmt", "yuv444p", yuv444])
        try assertMatchesCLI(yuv444, size: 77, frames: 3)
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=90x70:rate=10:duration=0.3",
                        "-pix_fmt", "rgb24", dir.file("f%03d.png")])
        try assertMatchesCLI(dir.file("f%03d.png"), size: 64, frames: 3)
    }

    func testSourceResolutionRGBMatchesCLI() throws {
        let input = Fixtures.sharedMedia("bedroom.mp4")
        let expected = try cliSourceFrames(input, width: 960, height: 540, frames: 2)
        let source = try VideoSource(input)
        let preprocessor = FramePreprocessor(imageSize: 64, inputName: input)
        for n in 0..<expected.count {
            let frame = try XCTUnwrap(try source.nextFrame())
            let rgb = try preprocessor.sourceRGB(frame)
            XCTAssertEqual(rgb.width, 960)
            XCTAssertEqual(rgb.height, 540)
            let difference = byteDifference(rgb.pixels, expected[n])
            XCTAssertEqual(difference.count, 0, "frame \(n): \(difference.count) bytes differ, max \(difference.maximum)")
        }
    }

    /// The tensor is the CLI bytes, /255 in float64 stored as float32, minus mean, over std
    /// (the official loader's float arithmetic), channels first. Exact equality is expected.
    func testModelInputIsNormalisedCLIBytes() throws {
        let input = Fixtures.sharedMedia("bedroom.mp4")
        let size = 256
        let expected = try cliFrames(input, size: size, frames: 1)[0]
        let source = try VideoSource(input)
        let preprocessor = FramePreprocessor(imageSize: size, inputName: input)
        let tensor = try preprocessor.modelInput(try XCTUnwrap(try source.nextFrame()))
        XCTAssertEqual(tensor.shape, [1, 3, size, size])
        let mean: [Float] = [0.485, 0.456, 0.406].map { Float($0 as Double) }
        let std: [Float] = [0.229, 0.224, 0.225].map { Float($0 as Double) }
        var mismatches = 0
        tensor.withUnsafeBufferPointer { values in
            for c in 0..<3 {
                for y in 0..<size {
                    for x in 0..<size {
                        let byte = expected[(y * size + x) * 3 + c]
                        let reference = (Float(Double(byte) / 255.0) - mean[c]) / std[c]
                        if values[(c * size + y) * size + x] != reference { mismatches += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// Float(u) / 255 in float32 equals the official float64 division rounded to float32 for
    /// every byte, so either formulation gives the same tensor (documents the lookup table).
    func testLookupTableValues() {
        for u in 0..<256 {
            let viaDouble = Float(Double(u) / 255.0)
            XCTAssertEqual(viaDouble, Float(u) / 255, "u = \(u)")
            XCTAssertEqual(FramePreprocessor.lookup[u], (viaDouble - Float(0.485 as Double)) / Float(0.229 as Double))
        }
    }
}
