// Directories and globs of images as inputs (issue 26, item 5): natural order, frame numbers from
// the names, the frames equal to decoding each file (and to image2 with `start_number`), and the
// errors naming the directory or the file at fault.

import XCTest
import TestSupport
@testable import Media

final class ImageSequenceTests: XCTestCase {
    func testNaturalOrder() {
        let names = ["frame10.jpg", "frame2.jpg", "frame1.jpg", "frame02.jpg", "a.jpg", "frame1b.jpg", "Frame3.jpg",
                     "frame100.jpg", "frame9.jpg"]
        XCTAssertEqual(names.sorted(by: ImageSequence.naturalOrder),
                       ["Frame3.jpg", "a.jpg", "frame1.jpg", "frame1b.jpg", "frame2.jpg", "frame02.jpg", "frame9.jpg",
                        "frame10.jpg", "frame100.jpg"])
        XCTAssertEqual(["d/00010.png", "d/00009.png", "d/00100.png"].sorted(by: ImageSequence.naturalOrder),
                       ["d/00009.png", "d/00010.png", "d/00100.png"])
        XCTAssertFalse(ImageSequence.naturalOrder("x1", "x1"))
    }

    func testNumbersFromFileNames() {
        XCTAssertEqual(ImageSequence.number(inFileName: "/data/v1/00017.jpg"), 17)
        XCTAssertEqual(ImageSequence.number(inFileName: "cam2_frame_0042.png"), 42)
        XCTAssertEqual(ImageSequence.number(inFileName: "frame7b.png"), 7)
        XCTAssertNil(ImageSequence.number(inFileName: "/x9/cover.jpg"))
        XCTAssertNil(ImageSequence.number(inFileName: "99999999999999999999999.jpg"))
    }

    func testDirectoryResolvesInNaturalOrderWithNumbers() throws {
        let images = try ImageClips.get()
        let jpegs = try XCTUnwrap(try ImageSequence.resolve(images.jpegDirectory))
        XCTAssertEqual(jpegs.images.map { ($0.path as NSString).lastPathComponent }, (1...12).map { "frame\($0).jpg" })
        XCTAssertEqual(jpegs.images.map(\.number), (1...12).map { $0 })
        XCTAssertEqual(jpegs.width, 80)
        XCTAssertEqual(jpegs.height, 48)
        let pngs = try XCTUnwrap(try ImageSequence.resolve(images.pngDirectory + "/"))
        XCTAssertEqual(pngs.images.map(\.number), (17..<40).map { $0 })
        // Files, image2 patterns, URLs and stdin are not sequences.
        XCTAssertNil(try ImageSequence.resolve(Fixtures.sharedMedia("bedroom.mp4")))
        XCTAssertNil(try ImageSequence.resolve("\(images.pngDirectory)/%05d.png"))
        XCTAssertNil(try ImageSequence.resolve("udp://127.0.0.1:1234"))
        XCTAssertNil(try ImageSequence.resolve("-"))
        // A forced demuxer reads the input as it is (a lavfi graph with a label is no glob).
        XCTAssertNil(try MediaInput.imageSequence(images.jpegDirectory, options: InputOptions(format: "image2")))
        let graph = try MediaInput.open("testsrc2=size=32x24:rate=5:duration=0.4[out0]", options: InputOptions(format: "lavfi"))
        XCTAssertEqual(graph.info.formatName, "lavfi")
    }

    /// Hidden files, other extensions and sub-directories are left out; upper-case extensions count.
    func testDirectoryFiltersFiles() throws {
        let dir = try TemporaryDirectory("filter")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=32x32", "-frames:v", "3", dir.file("%d.PNG")])
        try Data("notes".utf8).write(to: URL(fileURLWithPath: dir.file("notes.txt")))
        try Data("junk".utf8).write(to: URL(fileURLWithPath: dir.file("._1.PNG")))
        try FileManager.default.createDirectory(atPath: dir.file("sub.png"), withIntermediateDirectories: true)
        let sequence = try XCTUnwrap(try ImageSequence.resolve(dir.path))
        XCTAssertEqual(sequence.images.map { ($0.path as NSString).lastPathComponent }, ["1.PNG", "2.PNG", "3.PNG"])
    }

    func testGlobPattern() throws {
        let images = try ImageClips.get()
        let sequence = try XCTUnwrap(try ImageSequence.resolve("\(images.jpegDirectory)/frame1*.jpg"))
        XCTAssertEqual(sequence.images.map(\.number), [1, 10, 11, 12])
        XCTAssertThrowsError(try ImageSequence.resolve("\(images.jpegDirectory)/nothing*.jpg")) { error in
            guard case let MediaError.fileNotFound(_, reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("no file matches"), reason)
        }
    }

    /// Numbers that do not increase along the natural order (two cameras) are dropped.
    func testNumbersDroppedWhenTheyDoNotIncrease() throws {
        let dir = try TemporaryDirectory("cameras")
        for name in ["a_2.png", "a_5.png", "b_1.png", "b_3.png"] {
            try CLI.ffmpeg(["-f", "lavfi", "-i", "color=red:size=16x16", "-frames:v", "1", dir.file(name)])
        }
        let sequence = try XCTUnwrap(try ImageSequence.resolve(dir.path))
        XCTAssertEqual(sequence.images.count, 4)
        XCTAssertTrue(sequence.images.allSatisfy { $0.number == nil })
    }

    func testEmptyDirectoryError() throws {
        let dir = try TemporaryDirectory("empty")
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir.file("readme.txt")))
        XCTAssertThrowsError(try FrameReader(input: dir.path)) { error in
            guard case let MediaError.fileNotFound(input, reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(input, dir.path)
            XCTAssertTrue(reason.contains("no JPEG or PNG"), reason)
        }
    }

    func testMixedSizesNameTheFirstOddFile() throws {
        let dir = try TemporaryDirectory("mixed")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "4", dir.file("%03d.jpg")])
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=48x64", "-frames:v", "1", "-update", "1", dir.file("005.jpg")])
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=32x32", "-frames:v", "1", "-update", "1", dir.file("010.png")])
        XCTAssertThrowsError(try ImageSequence.resolve(dir.path)) { error in
            guard case let MediaError.invalidArgument(message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("005.jpg' is 48x64"), message)
            XCTAssertTrue(message.contains("001.jpg' is 64x48"), message)
            XCTAssertFalse(message.contains("010.png"), message)
        }
    }

    /// A file that is not an image is named in the error.
    func testUnreadableFileIsNamed() throws {
        let dir = try TemporaryDirectory("broken")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "3", dir.file("%03d.jpg")])
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: dir.file("002.jpg")))
        XCTAssertThrowsError(try ImageSequence.resolve(dir.path)) { error in
            guard case let MediaError.notMediaFile(input, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(input, dir.file("002.jpg"))
        }
        // A PNG whose header is sound but whose data is cut: the reader names it when it gets there.
        let pngs = try TemporaryDirectory("broken-png")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "3", pngs.file("%03d.png")])
        let good = try Data(contentsOf: URL(fileURLWithPath: pngs.file("002.png")))
        try good.prefix(100).write(to: URL(fileURLWithPath: pngs.file("002.png")))
        let reader = try FrameReader(input: pngs.path)
        var delivered = 0
        XCTAssertThrowsError(try { while try reader.next() != nil { delivered += 1 } }()) { error in
            XCTAssertTrue("\(error)".contains("002.png"), "\(error)")
        }
        XCTAssertEqual(delivered, 1)
    }

    // MARK: - Reading

    /// The reader's frames are each file decoded on its own, carry the file numbers, and equal
    /// what the image2 demuxer gives for the same files with `start_number`.
    func testReaderFramesCarryNumbersAndEqualImage2() throws {
        let images = try ImageClips.get()
        let reader = try FrameReader(input: images.pngDirectory, options: FrameReaderOptions(imageSize: 32, sourceRGB: true))
        XCTAssertEqual(reader.info.formatName, ImageListSource.formatName)
        XCTAssertEqual(reader.info.frameCount, 23)
        var frames: [VideoFrame] = []
        while let frame = try reader.next() { frames.append(frame) }
        XCTAssertEqual(reader.endReason, .endOfStream)
        XCTAssertEqual(frames.map(\.index), Array(0..<23))
        XCTAssertEqual(frames.map(\.number), (17..<40).map { $0 })
        XCTAssertEqual(try XCTUnwrap(frames[5].pts), 5.0 / 25.0, accuracy: 1e-9)

        let image2 = try FrameReader(input: "\(images.pngDirectory)/%05d.png",
                                     inputOptions: InputOptions(options: ["start_number": "17"]),
                                     options: FrameReaderOptions(imageSize: 32, sourceRGB: true))
        var index = 0
        while let frame = try image2.next() {
            XCTAssertNil(frame.number)
            XCTAssertEqual(frame.rgb, frames[index].rgb, "frame \(index)")
            XCTAssertEqual(frame.image?.scalars, frames[index].image?.scalars, "frame \(index)")
            index += 1
        }
        XCTAssertEqual(index, 23)
        XCTAssertEqual(try sequentialDigests(images.jpegDirectory).count, 12)
    }

    func testFramerateOption() throws {
        let images = try ImageClips.get()
        let source = try MediaInput.open(images.jpegDirectory, options: InputOptions(options: ["framerate": "30000/1001"]))
        XCTAssertEqual(source.info.frameRate, Rational(30000, 1001))
        _ = try source.nextFrame()
        let second = try XCTUnwrap(try source.nextFrame())
        XCTAssertEqual(try XCTUnwrap(second.pts), 1001.0 / 30000.0, accuracy: 1e-12)
        XCTAssertThrowsError(try MediaInput.open(images.jpegDirectory, options: InputOptions(options: ["framerate": "fast"])))
    }

    /// `interrupt()` ends reading with `.interrupted`, without touching a caller's shared signal.
    func testInterrupt() throws {
        let images = try ImageClips.get()
        let shared = InterruptSignal()
        let source = try MediaInput.open(images.jpegDirectory, options: InputOptions(interrupt: shared))
        XCTAssertNotNil(try source.nextFrame())
        source.interrupt()
        XCTAssertThrowsError(try source.nextFrame()) { error in
            XCTAssertEqual(error as? MediaError, .interrupted(input: images.jpegDirectory))
        }
        XCTAssertFalse(shared.isInterrupted)
    }

    // MARK: - Confinement

    func testConfinedSequences() throws {
        let images = try ImageClips.get()
        let inside = try TemporaryDirectory("inside")
        let confined = InputConfinement(allowedDirectories: [inside.path])
        XCTAssertThrowsError(try ImageSequence.resolve(images.pngDirectory, confinement: confined)) { error in
            guard case MediaError.outsideAllowedDirectories = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ImageSequence.resolve("\(images.pngDirectory)/*.png", confinement: confined)) { error in
            guard case MediaError.outsideAllowedDirectories = error else { return XCTFail("\(error)") }
        }
        // A frame inside that links outside.
        let frames = inside.file("frames")
        try FileManager.default.createDirectory(atPath: frames, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(images.pngDirectory)/00017.png", toPath: "\(frames)/00001.png")
        try FileManager.default.createSymbolicLink(atPath: "\(frames)/00002.png", withDestinationPath: "\(images.pngDirectory)/00018.png")
        XCTAssertThrowsError(try ImageSequence.resolve(frames, confinement: confined)) { error in
            guard case let MediaError.outsideAllowedDirectories(_, url) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(url.hasSuffix("00002.png"), url)
        }
        try FileManager.default.removeItem(atPath: "\(frames)/00002.png")
        XCTAssertEqual(try ImageSequence.resolve(frames, confinement: confined)?.images.count, 1)
    }
}
