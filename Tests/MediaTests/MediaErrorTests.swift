// Bad inputs: each gives the right MediaError, whose message names the input; none crashes.

import XCTest
import Foundation
import TestSupport
@testable import Media

final class MediaErrorTests: XCTestCase {
    /// Opens `input` expecting an error; returns it after checking its message names the input.
    private func openError(_ input: String, _ options: InputOptions = InputOptions(),
                           file: StaticString = #filePath, line: UInt = #line) -> MediaError? {
        do {
            let source = try VideoSource(input, options: options)
            // Some damage only shows while decoding.
            while try source.nextFrame() != nil {}
            XCTFail("'\(input)' opened and decoded without error", file: file, line: line)
            return nil
        } catch let error as MediaError {
            XCTAssertTrue(error.description.contains(input), "message does not name the input: \(error)",
                          file: file, line: line)
            return error
        } catch {
            XCTFail("not a MediaError: \(error)", file: file, line: line)
            return nil
        }
    }

    func testMissingFile() {
        let error = openError("/nonexistent/dir/clip.mp4")
        guard case let .fileNotFound(_, reason) = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(reason.contains("No such file"), reason)
    }

    func testRandomBytesAreNotMedia() throws {
        let dir = try TemporaryDirectory("random")
        let path = dir.file("random.mp4")
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<65_536).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = openError(path)
        guard case .notMediaFile = error else { return XCTFail("\(String(describing: error))") }
    }

    func testEmptyFileIsNotMedia() throws {
        let dir = try TemporaryDirectory("empty")
        let path = dir.file("empty.mp4")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let error = openError(path)
        guard case .notMediaFile = error else { return XCTFail("\(String(describing: error))") }
    }

    /// An MP4 cut before its index (moov at the end, as muxers write by default).
    func testTruncatedMP4IsNotMedia() throws {
        let dir = try TemporaryDirectory("truncated")
        let whole = dir.file("whole.mp4")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=128x96:rate=10:duration=2",
                        "-c:v", "mpeg4", whole])
        let data = try Data(contentsOf: URL(fileURLWithPath: whole))
        let path = dir.file("cut.mp4")
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let error = openError(path)
        guard case .notMediaFile = error else { return XCTFail("\(String(describing: error))") }
    }

    /// A stream cut in the middle (no index needed): the frames before the cut decode, then the
    /// input ends; no crash, no error beyond skipped damage.
    func testTruncatedTransportStreamDecodesWhatIsThere() throws {
        let dir = try TemporaryDirectory("truncated-ts")
        let whole = dir.file("whole.ts")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=128x96:rate=10:duration=2",
                        "-c:v", "mpeg2video", "-f", "mpegts", whole])
        let data = try Data(contentsOf: URL(fileURLWithPath: whole))
        let path = dir.file("cut.ts")
        try data.prefix(data.count / 2 + 77).write(to: URL(fileURLWithPath: path))
        let source = try VideoSource(path)
        var count = 0
        while try source.nextFrame() != nil { count += 1 }
        XCTAssertGreaterThan(count, 3)
        XCTAssertLessThan(count, 20)
    }

    func testAudioOnlyFileHasNoVideoStream() throws {
        let dir = try TemporaryDirectory("audio")
        let path = dir.file("tone.m4a")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", path])
        let error = openError(path)
        XCTAssertEqual(error, .noVideoStream(input: path))
    }

    func testMissingDevice() {
        let error = openError("/dev/video9")
        guard case .deviceUnavailable = error else { return XCTFail("\(String(describing: error))") }
    }

    func testMissingDeviceWithForcedV4L2() {
        let error = openError("/dev/video9", InputOptions(format: "v4l2"))
        guard case .deviceUnavailable = error else { return XCTFail("\(String(describing: error))") }
    }

    func testUnknownFormatName() {
        XCTAssertThrowsError(try VideoSource("x", options: InputOptions(format: "no-such-format"))) { error in
            guard case let MediaError.invalidArgument(message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("no-such-format"))
        }
    }

    func testRefusedNetworkConnection() {
        // Nothing listens on this loopback port: the connection is refused at once.
        let error = openError("tcp://127.0.0.1:9")
        guard case .cannotOpen = error else { return XCTFail("\(String(describing: error))") }
    }

    /// Opening a listening socket nobody connects to blocks; the interrupt signal ends it.
    func testInterruptSignalAbortsABlockingOpen() throws {
        let signal = InterruptSignal()
        let port = Int.random(in: 20_000..<40_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { signal.interrupt() }
        let start = Date()
        let error = openError("tcp://127.0.0.1:\(port)?listen=1",
                              InputOptions(format: "mpegts", interrupt: signal))
        XCTAssertEqual(error, .interrupted(input: "tcp://127.0.0.1:\(port)?listen=1"))
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testOpenTimeout() throws {
        let port = Int.random(in: 20_000..<40_000)
        let start = Date()
        let error = openError("tcp://127.0.0.1:\(port)?listen=1", InputOptions(format: "mpegts", openTimeout: 0.3))
        guard case let .cannotOpen(_, reason) = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(reason.contains("timed out"), reason)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testMessagesCarryFFmpegText() {
        let error = MediaError.fileNotFound(input: "a.mp4", reason: ffmpegErrorString(AVErrorCode.posix(ENOENT)))
        XCTAssertEqual(error.description, "cannot open 'a.mp4': No such file or directory (check the path)")
    }
}
