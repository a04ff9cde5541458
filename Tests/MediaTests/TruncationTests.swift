// Truncated files (issue 23, finding 11): a cut-off MP4 used to end like a complete one (the
// run exited 0 with 0-47 of 48 frames). The source and the reader now say how the input ended:
// `.endOfStream` for the whole file, `.decodeErrors` when a frame is undecodable,
// `.truncated(expected:got:packets:)` for a copy of
// bedroom.mp4 cut with `head -c` at several lengths. bedroom.mp4 keeps its index at the end, so
// a cut copy of it has no index at all and fails to open; the cuts are therefore made of a
// `-movflags +faststart` remux (same packets, index first), as streamed and web files are.

import Foundation
import XCTest
import TestSupport
@testable import Media

final class TruncationTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory("truncation")
    }

    override func tearDown() { directory = nil }

    /// `head -c length source > name`.
    private func cut(_ source: String, _ length: Int, _ name: String) throws -> String {
        let path = directory.file(name)
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        try data.prefix(length).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func decodeAll(_ source: VideoSource) throws -> Int {
        var count = 0
        while try source.nextFrame() != nil { count += 1 }
        return count
    }

    func testCompleteAndTruncatedMP4s() throws {
        let bedroom = Fixtures.sharedMedia("bedroom.mp4")
        let faststart = directory.file("faststart.mp4")
        try CLI.ffmpeg(["-i", bedroom, "-c", "copy", "-movflags", "+faststart", faststart])

        let whole = try VideoSource(faststart)
        XCTAssertEqual(whole.info.frameCount, 200)
        XCTAssertNil(whole.endReason)
        XCTAssertEqual(try decodeAll(whole), 200)
        XCTAssertEqual(whole.endReason, .endOfStream)
        XCTAssertEqual(whole.packetsRead, 200)

        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: faststart)[.size] as? Int)
        for fraction in [0.2, 0.5, 0.9, 0.999] {
            let length = Int(Double(size) * fraction)
            let path = try cut(faststart, length, "cut-\(length).mp4")
            let source = try VideoSource(path)
            let frames = try decodeAll(source)
            XCTAssertLessThan(frames, 200, "cut at \(length)")
            guard case let .truncated(expected, got, packets)? = source.endReason else {
                XCTFail("cut at \(length) of \(size): end reason \(String(describing: source.endReason)), \(frames) frames")
                continue
            }
            XCTAssertEqual(expected, 200)
            XCTAssertEqual(got, frames)
            // A cut inside the last sample still delivers that (partial) packet.
            XCTAssertLessThanOrEqual(packets, 200)
            XCTAssertTrue("\(source.endReason!)".contains("truncated"))
        }
        // The reader reports the same, after the frames it could deliver.
        let path = try cut(faststart, size / 2, "half.mp4")
        let reader = try FrameReader(input: path, options: FrameReaderOptions())
        var delivered = 0
        while try reader.next() != nil { delivered += 1 }
        guard case let .truncated(expected, got, _)? = reader.endReason else {
            return XCTFail("reader end reason \(String(describing: reader.endReason))")
        }
        XCTAssertEqual(expected, 200)
        XCTAssertEqual(got, delivered)

        let complete = try FrameReader(input: faststart, options: FrameReaderOptions())
        while try complete.next() != nil {}
        XCTAssertEqual(complete.endReason, .endOfStream)
    }

    func testStoppedReaderAndFrameLimitSayStopped() throws {
        let reader = try FrameReader(input: Fixtures.sharedMedia("bedroom.mp4"), options: FrameReaderOptions(maxFrames: 3))
        while try reader.next() != nil {}
        XCTAssertEqual(reader.endReason, .stopped)
    }

    func testUndecodableFramesAreReported() throws {
        // A 12-frame MJPEG clip whose 6th frame is overwritten with zeros: the demuxer delivers all
        // 12 packets, the decoder rejects one.
        let clip = directory.file("mjpeg.mov")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "12", "-c:v", "mjpeg", "-f", "mov", clip])
        let json = try CLI.ffprobe(["-select_streams", "v:0", "-show_entries", "packet=pos,size", "-of", "json", clip])
        let packets = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["packets"] as? [[String: Any]])
        let position = try XCTUnwrap(Int(packets[5]["pos"] as? String ?? "")), size = try XCTUnwrap(Int(packets[5]["size"] as? String ?? ""))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: clip))
        bytes.replaceSubrange(position..<(position + size), with: Data(count: size))
        let damaged = directory.file("damaged.mov")
        try bytes.write(to: URL(fileURLWithPath: damaged))

        let intact = try VideoSource(clip)
        XCTAssertEqual(try decodeAll(intact), 12)
        XCTAssertEqual(intact.endReason, .endOfStream)
        let source = try VideoSource(damaged)
        XCTAssertEqual(try decodeAll(source), 11)
        XCTAssertEqual(source.packetsRead, 12)
        guard case let .decodeErrors(count, last)? = source.endReason else {
            return XCTFail("end reason \(String(describing: source.endReason))")
        }
        XCTAssertEqual(count, 1)
        XCTAssertFalse(last.isEmpty)
    }

    func testCutWithoutItsIndexFailsToOpen() throws {
        // bedroom.mp4 as stored: the moov box is at the end, so any cut loses it.
        let bedroom = Fixtures.sharedMedia("bedroom.mp4")
        let path = try cut(bedroom, 1_000_000, "no-index.mp4")
        XCTAssertThrowsError(try VideoSource(path)) { error in
            guard case .notMediaFile? = error as? MediaError else { return XCTFail("\(error)") }
        }
    }
}
