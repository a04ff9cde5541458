// Decoding ahead: files deliver every frame in order even to a slow consumer; live sources let
// the newest frame win, count what they drop and never block the decoder; stop() is prompt.

import XCTest
import Foundation
import Tensor
import TestSupport
@testable import Media

final class FrameReaderTests: XCTestCase {
    /// Frames decoded ahead by default: 4, but no more than ~24 MiB of model inputs (2 at 1024 px,
    /// where each is 12 MiB); an explicit capacity wins.
    func testDefaultCapacityFollowsTheInputSize() {
        XCTAssertEqual(FrameReaderOptions(imageSize: 1024).capacity, 2)
        XCTAssertEqual(FrameReaderOptions(imageSize: 512).capacity, 4)
        XCTAssertEqual(FrameReaderOptions(imageSize: 256).capacity, 4)
        XCTAssertEqual(FrameReaderOptions(imageSize: 4096).capacity, 2)
        XCTAssertEqual(FrameReaderOptions().capacity, 4)
        XCTAssertEqual(FrameReaderOptions(imageSize: 1024, capacity: 6).capacity, 6)
    }

    func testFileDeliversEveryFrameInOrder() throws {
        let path = Fixtures.sharedMedia("bedroom.mp4")
        let reader = try FrameReader(input: path, options: FrameReaderOptions(imageSize: 64, capacity: 2))
        XCTAssertFalse(reader.isLive)
        var indices: [Int] = []
        var first: Tensor?
        while let frame = try reader.next() {
            if indices.count < 10 { Thread.sleep(forTimeInterval: 0.005) }  // a slow consumer at first
            if first == nil { first = frame.image }
            XCTAssertEqual(frame.image?.shape, [1, 3, 64, 64])
            XCTAssertNil(frame.rgb)
            XCTAssertEqual(frame.width, 960)
            indices.append(frame.index)
        }
        XCTAssertEqual(indices, Array(0..<200))
        XCTAssertEqual(reader.droppedFrames, 0)
        XCTAssertEqual(reader.framesDelivered, 200)

        // The reader's tensor is the preprocessor's, bit for bit.
        let source = try VideoSource(path)
        let direct = try FramePreprocessor(imageSize: 64).modelInput(try XCTUnwrap(try source.nextFrame()))
        XCTAssertEqual(try XCTUnwrap(first).scalars, direct.scalars)
    }

    /// Model inputs come from a reuse pool: a tensor the consumer still holds is never refilled,
    /// and tensors released early are refilled with the right frame.
    func testPooledModelInputsAreNeverOverwrittenWhileHeld() throws {
        let path = Fixtures.sharedMedia("bedroom.mp4")
        let expected: [[Float]] = try {
            let source = try VideoSource(path)
            let preprocessor = FramePreprocessor(imageSize: 32)
            return try (0..<40).map { _ in try preprocessor.modelInput(try XCTUnwrap(try source.nextFrame())).scalars }
        }()
        let reader = try FrameReader(input: path, options: FrameReaderOptions(imageSize: 32, capacity: 2, maxFrames: 40))
        var held: [Int: Tensor] = [:]
        var index = 0
        while let frame = try reader.next() {
            let image = try XCTUnwrap(frame.image)
            XCTAssertEqual(image.scalars, expected[index], "frame \(index) as delivered")
            if index % 3 == 0 { held[index] = image }  // keep every third frame, release the rest
            index += 1
        }
        XCTAssertEqual(index, 40)
        for (i, image) in held { XCTAssertEqual(image.scalars, expected[i], "held frame \(i) after the run") }
    }

    func testMaxFramesAndSourceRGB() throws {
        let reader = try FrameReader(input: Fixtures.sharedMedia("bedroom.mp4"),
                                     options: FrameReaderOptions(sourceRGB: true, maxFrames: 3))
        var count = 0
        while let frame = try reader.next() {
            XCTAssertNil(frame.image)
            XCTAssertEqual(frame.rgb?.width, 960)
            XCTAssertEqual(frame.rgb?.height, 540)
            count += 1
        }
        XCTAssertEqual(count, 3)
        XCTAssertNil(try reader.next())
    }

    /// A forced-live lavfi source produces frames far faster than this consumer takes them.
    func testLiveModeDropsOldFramesAndNeverBlocks() throws {
        let total = 300
        let reader = try FrameReader(
            input: "testsrc2=size=160x120:rate=100:duration=\(total / 100)",
            inputOptions: InputOptions(format: "lavfi", live: true),
            options: FrameReaderOptions(imageSize: 32, capacity: 4))
        XCTAssertTrue(reader.isLive)
        let start = Date()
        var indices: [Int] = []
        while let frame = try reader.next() {
            XCTAssertEqual(frame.image?.shape, [1, 3, 32, 32])
            indices.append(frame.index)
            Thread.sleep(forTimeInterval: 0.05)  // tracking is slow
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertGreaterThan(reader.droppedFrames, 0)
        // Every decoded frame was either delivered or counted as dropped.
        XCTAssertEqual(indices.count + reader.droppedFrames, total)
        XCTAssertEqual(indices, indices.sorted())
        XCTAssertEqual(Set(indices).count, indices.count)
        // The decoder never waited for the consumer: it finished long before 300 slow steps.
        XCTAssertLessThan(indices.count, total / 4)
        // The newest frame wins: the last delivered frame is the last one decoded.
        XCTAssertEqual(indices.last, total - 1)
    }

    /// An endless source in file mode blocks its decoder on the full queue; stop() ends it.
    func testStopEndsABlockedProducer() throws {
        let reader = try FrameReader(input: "testsrc2=size=64x48:rate=25",
                                     inputOptions: InputOptions(format: "lavfi"),
                                     options: FrameReaderOptions(imageSize: 16, capacity: 2))
        XCTAssertNotNil(try reader.next())
        Thread.sleep(forTimeInterval: 0.1)
        let start = Date()
        reader.stop()
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssertNil(try reader.next())
        reader.stop()  // idempotent
    }

    /// Releasing a reader without stop() ends its thread too (no leak, no hang).
    func testDroppingTheReaderStopsIt() throws {
        weak var weakReader: FrameReader?
        do {
            let reader = try FrameReader(input: "testsrc2=size=64x48:rate=25",
                                         inputOptions: InputOptions(format: "lavfi"),
                                         options: FrameReaderOptions(capacity: 1))
            weakReader = reader
            _ = try reader.next()
        }
        XCTAssertNil(weakReader)
    }

    /// UDP on loopback: automatically live; once the sender is done the read blocks forever (UDP
    /// has no end), and stop() must still return promptly through the interrupt callback.
    func testUDPStreamIsLiveAndStopInterruptsABlockedRead() throws {
        _ = try CLI.require("ffmpeg")
        let dir = try TemporaryDirectory("udp")
        let clip = dir.file("clip.ts")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=2",
                        "-c:v", "mpeg2video", "-g", "5", "-f", "mpegts", clip])
        let port = Int.random(in: 20_000..<40_000)
        let url = "udp://127.0.0.1:\(port)"

        // The receiver binds at once but blocks in probing until data arrives, so open it on
        // another thread and start the sender meanwhile.
        final class Box: @unchecked Sendable { var reader: FrameReader?; var error: Error? }
        let box = Box()
        let opened = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            do {
                box.reader = try FrameReader(input: url, inputOptions: InputOptions(format: "mpegts", openTimeout: 15),
                                             options: FrameReaderOptions(imageSize: 16))
            } catch {
                box.error = error
            }
            opened.signal()
        }
        Thread.sleep(forTimeInterval: 0.5)
        try CLI.ffmpeg(["-re", "-i", clip, "-c", "copy", "-f", "mpegts", "\(url)?pkt_size=1316"], timeout: 30)
        XCTAssertEqual(opened.wait(timeout: .now() + 20), .success)
        if let error = box.error { throw error }
        let reader = try XCTUnwrap(box.reader)
        XCTAssertTrue(reader.isLive, "udp:// is live automatically")
        XCTAssertNotNil(try reader.next())

        // The sender has finished: the decoder thread now waits in a UDP read.
        Thread.sleep(forTimeInterval: 0.3)
        let start = Date()
        reader.stop()
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }
}
