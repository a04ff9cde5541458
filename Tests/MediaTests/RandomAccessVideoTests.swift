// Random access must give frame n exactly as the sequential decoder gives it (every sample of
// every plane, compared by digest; tolerance: none), for any access order, on real and generated
// inputs: B-frames, open GOPs, MPEG-TS (no index), MP4 edit lists, image sequences; and it must
// seek rather than decode from the start.

import XCTest
import Tensor
import TestSupport
@testable import Media

final class RandomAccessVideoTests: XCTestCase {
    /// Visits `order` and compares each frame with the sequential reference.
    private func assertFrames(_ video: RandomAccessVideo, _ order: [Int], equal reference: [Int], _ label: String,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        for n in order {
            let frame = try video.frame(n)
            XCTAssertEqual(frame.index, n, file: file, line: line)
            XCTAssertEqual(planesDigest(frame), reference[n], "\(label): frame \(n) differs from the sequential decode",
                           file: file, line: line)
        }
    }

    /// Random order, backward steps from the end, the last and the first frame.
    private func accessOrder(count: Int, samples: Int, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(state: seed)
        var order = (0..<samples).map { _ in Int.random(in: 0..<count, using: &generator) }
        order += [count - 1, count - 2, count - 3, count - 1, 0]
        order += stride(from: min(count - 1, 30), through: max(0, min(count - 1, 30) - 14), by: -1)
        return order
    }

    /// Compares frames visited in `accessOrder` with the sequential decode. `gop`: the longest
    /// distance between keyframes, to bound the frames decoded per access (the GOP plus frames
    /// held by B-frame reordering and frame threads); `restarts`: whether the demuxer may have
    /// to go back to the start (it must not for files with an index or timestamps to seek by).
    private func assertRandomAccessMatchesSequential(_ input: String, samples: Int = 40, cacheBytes: Int = 0,
                                                     options: InputOptions = InputOptions(), gop: Int? = nil,
                                                     restarts: Bool = false,
                                                     file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try sequentialDigests(input, options: options)
        let video = try RandomAccessVideo(input, options: options, cacheBytes: cacheBytes)
        XCTAssertEqual(video.frameCount, reference.count, "\(input): index count vs frames decoded", file: file, line: line)
        XCTAssertEqual(video.info.frameCount, reference.count, file: file, line: line)
        let order = accessOrder(count: reference.count, samples: samples, seed: 7)
        try assertFrames(video, order, equal: reference, input, file: file, line: line)
        let stats = video.statistics
        if !restarts { XCTAssertEqual(stats.restarts, 0, "\(input): seeks went back to the start", file: file, line: line) }
        if let gop {
            XCTAssertLessThanOrEqual(stats.framesDecoded, order.count * (gop + 8),
                                     "\(input): \(stats.framesDecoded) frames decoded for \(order.count) accesses",
                                     file: file, line: line)
        }
    }

    // MARK: - Exactness on each kind of input

    func testBedroomRandomOrderMatchesSequential() throws {
        // One keyframe only (frame 0): every access decodes from it; the cache keeps it bearable.
        try assertRandomAccessMatchesSequential(Fixtures.sharedMedia("bedroom.mp4"), samples: 12, cacheBytes: 64 << 20)
    }

    func testCupsRandomOrderMatchesSequential() throws {
        // BT.709, 1280x720, keyframes at 0 and 250.
        try assertRandomAccessMatchesSequential(Fixtures.sharedMedia("cups.mp4"), samples: 8, cacheBytes: 96 << 20)
    }

    func testBFramesGOPClipMatchesSequentialWithoutCache() throws {
        let clips = try SeekClips.get()
        try assertRandomAccessMatchesSequential(clips.gop, samples: 60, gop: 12)
        try assertRandomAccessMatchesSequential(clips.gop, samples: 60, options: InputOptions(decoderThreads: 1), gop: 12)
    }

    func testTransportStreamMatchesSequential() throws {
        try assertRandomAccessMatchesSequential(try SeekClips.get().transportStream, samples: 60, gop: 12)
    }

    func testOpenGOPMatchesSequential() throws {
        try assertRandomAccessMatchesSequential(try SeekClips.get().openGOP, samples: 60, gop: 12)
    }

    /// Frames 9-11 of the open-GOP clip are decoded after keyframe 12 but shown before it and
    /// reference the previous GOP: they are reached from keyframe 0 in one go, not by a failed
    /// start at 12 first.
    func testOpenGOPLeadingFramesStartFromThePreviousKeyframe() throws {
        let clips = try SeekClips.get()
        let video = try RandomAccessVideo(clips.openGOP, options: InputOptions(decoderThreads: 1), cacheBytes: 0)
        let index = try XCTUnwrap(video.index)
        let keyOf12 = try XCTUnwrap(index.keyframe(for: 12))
        XCTAssertEqual(index.frames[12], keyOf12, "frame 12 is a keyframe")
        XCTAssertGreaterThan(index.frames[10], keyOf12, "frame 10 is decoded after keyframe 12")
        XCTAssertEqual(index.keyframe(for: 10), 0)
        let reference = try sequentialDigests(clips.openGOP)
        XCTAssertEqual(planesDigest(try video.frame(10)), reference[10])
        XCTAssertEqual(video.statistics.seeks, 1)
    }

    func testEditListMatchesSequential() throws {
        let clips = try SeekClips.get()
        let index = try XCTUnwrap(try RandomAccessVideo(clips.editList).index)
        XCTAssertFalse(index.discarded.isEmpty, "the clip should start with discarded packets")
        try assertRandomAccessMatchesSequential(clips.editList, samples: 50, gop: 12)
    }

    func testImage2PatternMatchesSequential() throws {
        let images = try ImageClips.get()
        let pattern = "\(images.pngDirectory)/%05d.png"
        let options = InputOptions(options: ["start_number": "17"])
        try assertRandomAccessMatchesSequential(pattern, samples: 30, options: options, gop: 1)
    }

    func testImageDirectoryMatchesSequential() throws {
        let images = try ImageClips.get()
        try assertRandomAccessMatchesSequential(images.jpegDirectory, samples: 20)
        let video = try RandomAccessVideo(images.pngDirectory)
        XCTAssertNil(video.index)
        XCTAssertEqual(video.images?.images.count, 23)
        XCTAssertEqual(try video.frame(5).number, 22)
        let source = try MediaInput.open(images.pngDirectory)
        for _ in 0..<5 { _ = try source.nextFrame() }
        XCTAssertEqual(try video.frame(5).pts, try XCTUnwrap(try source.nextFrame()).pts)
        XCTAssertEqual(try video.frame(0).number, 17)
    }

    func testSingleImage() throws {
        // image2 cannot seek back on a single file: the input is reopened.
        let video = try RandomAccessVideo(Fixtures.sharedMedia("truck.jpg"), cacheBytes: 0)
        XCTAssertEqual(video.frameCount, 1)
        let reference = try sequentialDigests(Fixtures.sharedMedia("truck.jpg"))
        XCTAssertEqual(planesDigest(try video.frame(0)), reference[0])
        XCTAssertEqual(planesDigest(try video.frame(0)), reference[0])
        XCTAssertEqual(video.statistics.framesDecoded, 2)
    }

    // MARK: - Cost

    /// Frame 50 of a 12-frame-GOP clip decodes from keyframe 48, not from 0; the next frames
    /// continue without a seek; a backward step re-seeks.
    func testSeeksToTheKeyframeInsteadOfDecodingFromTheStart() throws {
        let clips = try SeekClips.get()
        let video = try RandomAccessVideo(clips.gop, options: InputOptions(decoderThreads: 1), cacheBytes: 0)
        _ = try video.frame(50)
        var stats = video.statistics
        XCTAssertEqual(stats.seeks, 1)
        // Keyframe 48 in presentation order; with 3 B-frames the decoder may hold a few frames.
        XCTAssertLessThanOrEqual(stats.framesDecoded, 3, "frame 50 decoded \(stats.framesDecoded) frames")
        for n in 51..<60 { _ = try video.frame(n) }
        stats = video.statistics
        XCTAssertEqual(stats.seeks, 1, "sequential access must not seek")
        XCTAssertEqual(stats.framesDecoded, 12)
        _ = try video.frame(13)
        stats = video.statistics
        XCTAssertEqual(stats.seeks, 2)
        XCTAssertLessThanOrEqual(stats.framesDecoded, 12 + 2)
        // A later frame of the same GOP continues too.
        _ = try video.frame(20)
        XCTAssertEqual(video.statistics.seeks, 2)
    }

    /// Stepping backwards through a GOP with a cache decodes the GOP once.
    func testBackwardStepsUseTheFramesDecodedOnTheWay() throws {
        let clips = try SeekClips.get()
        let video = try RandomAccessVideo(clips.gop, options: InputOptions(decoderThreads: 1))
        for n in stride(from: 59, through: 48, by: -1) { _ = try video.frame(n) }
        let stats = video.statistics
        XCTAssertEqual(stats.seeks, 1)
        XCTAssertEqual(stats.framesDecoded, 12)
        XCTAssertEqual(stats.cacheHits, 11)
    }

    func testCacheStaysWithinItsBytes() throws {
        let clips = try SeekClips.get()
        let frameBytes = try RandomAccessVideo(clips.gop).frame(0).byteCount
        let capacity = frameBytes * 5 + frameBytes / 2
        let video = try RandomAccessVideo(clips.gop, cacheBytes: capacity)
        for n in [59, 3, 40, 41, 42, 43, 44, 45, 46, 10] {
            _ = try video.frame(n)
            XCTAssertLessThanOrEqual(video.cachedBytes, capacity)
        }
        XCTAssertGreaterThanOrEqual(video.cachedBytes, frameBytes * 5)
        video.close()
        XCTAssertEqual(video.cachedBytes, 0)
        // After close the input reopens on demand.
        let reference = try sequentialDigests(clips.gop)
        XCTAssertEqual(planesDigest(try video.frame(33)), reference[33])
    }

    // MARK: - Model inputs and pictures

    /// The tensor and the RGB picture of frame n are those `FrameReader` hands out for frame n.
    func testModelInputAndRGBEqualTheReaders() throws {
        let clips = try SeekClips.get()
        for input in [clips.gop, Fixtures.sharedMedia("cups.mp4")] {
            let reader = try FrameReader(input: input, options: FrameReaderOptions(imageSize: 64, sourceRGB: true, maxFrames: 40))
            var sequential: [VideoFrame] = []
            while let frame = try reader.next() { sequential.append(frame) }
            let video = try RandomAccessVideo(input)
            for n in [37, 2, 13, 12, 39, 0] {
                let tensor = try video.modelInput(n, imageSize: 64)
                let expected = try XCTUnwrap(sequential[n].image)
                XCTAssertEqual(tensor.shape, [1, 3, 64, 64])
                XCTAssertEqual(tensor.scalars, expected.scalars, "\(input) frame \(n): model input differs")
                XCTAssertEqual(try video.sourceRGB(n), sequential[n].rgb, "\(input) frame \(n): RGB differs")
            }
        }
    }

    // MARK: - Index

    func testIndexRoundTripsAndIsReused() throws {
        let clips = try SeekClips.get()
        let video = try RandomAccessVideo(clips.transportStream)
        let index = try XCTUnwrap(video.index)
        XCTAssertEqual(index.frameCount, 60)
        XCTAssertEqual(index.keyframes.count, 5)
        XCTAssertFalse(index.sequentialOnly)
        let data = try JSONEncoder().encode(index)
        let decoded = try JSONDecoder().decode(FrameIndex.self, from: data)
        XCTAssertEqual(decoded, index)
        XCTAssertTrue(decoded.matches(fileAt: clips.transportStream))

        // A matching cached index is used as is (no demux pass): a shortened copy shows it.
        let shortened = try JSONDecoder().decode(FrameIndex.self, from: try Self.truncatedFrames(data, to: 10))
        let reused = try RandomAccessVideo(clips.transportStream, index: shortened)
        XCTAssertEqual(reused.frameCount, 10)
        XCTAssertEqual(reused.index, shortened)

        // A file changed since: the index is rebuilt.
        let copy = clips.dir.file("changed.ts")
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: clips.transportStream, toPath: copy)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: copy)
        XCTAssertFalse(shortened.matches(fileAt: copy))
        let rebuilt = try RandomAccessVideo(copy, index: shortened)
        XCTAssertEqual(rebuilt.frameCount, 60)
    }

    /// The JSON of an index with only its first `count` frames kept.
    private static func truncatedFrames(_ data: Data, to count: Int) throws -> Data {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let frames = try XCTUnwrap(object["frames"] as? [Int])
        object["frames"] = Array(frames.prefix(count))
        return try JSONSerialization.data(withJSONObject: object)
    }

    // MARK: - Errors

    func testFrameOutOfRange() throws {
        let video = try RandomAccessVideo(try SeekClips.get().gop)
        for n in [-1, 60] {
            XCTAssertThrowsError(try video.frame(n)) { error in
                guard case let MediaError.invalidArgument(message) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains("\(n)"), message)
            }
        }
    }

    func testPipeIsRefused() throws {
        let pipe = Pipe()
        let data = try Data(contentsOf: URL(fileURLWithPath: try SeekClips.get().transportStream))
        DispatchQueue.global().async {
            try? pipe.fileHandleForWriting.write(contentsOf: data)
            try? pipe.fileHandleForWriting.close()
        }
        XCTAssertThrowsError(try RandomAccessVideo("pipe:\(pipe.fileHandleForReading.fileDescriptor)")) { error in
            guard case let MediaError.invalidArgument(message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("give a file"), message)
        }
    }

    func testConfinementApplies() throws {
        let clips = try SeekClips.get()
        let images = try ImageClips.get()
        let elsewhere = try TemporaryDirectory("elsewhere")
        let confined = InputOptions(confinement: InputConfinement(allowedDirectories: [elsewhere.path]))
        XCTAssertThrowsError(try RandomAccessVideo(clips.gop, options: confined)) { error in
            guard case MediaError.outsideAllowedDirectories = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try RandomAccessVideo(images.jpegDirectory, options: confined)) { error in
            guard case MediaError.outsideAllowedDirectories = error else { return XCTFail("\(error)") }
        }
        let allowed = InputOptions(confinement: InputConfinement(allowedDirectories: [clips.dir.path]))
        XCTAssertEqual(try RandomAccessVideo(clips.gop, options: allowed).frame(30).index, 30)
    }
}
