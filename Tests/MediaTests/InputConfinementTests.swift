// Confined inputs (issue 23, finding 5): a file under an allowed directory must not make FFmpeg
// read anything outside it. Real files made by the ffmpeg CLI in a temporary directory with
// `root/` (allowed) and `outside/`: an HLS playlist named .mp4, a concat list, `concat:` and
// `subfile:` URLs, symlinks out of the root, and an image sequence whose frame is such a symlink
// are refused with a MediaError naming what was refused; an ordinary MP4 and an image sequence
// still open. The unconfined controls show that FFmpeg would otherwise read the outside files.

import Foundation
import XCTest
@testable import Media

final class InputConfinementTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var root: String { directory.file("root") }
    private var outside: String { directory.file("outside") }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory("confinement")
        try FileManager.default.createDirectory(atPath: directory.file("root/frames"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.file("outside"), withIntermediateDirectories: true)
        let source = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "10", "-pix_fmt", "yuv420p"]
        try CLI.ffmpeg(source + ["-c:v", "mpeg4", "\(root)/clip.mp4"])
        try CLI.ffmpeg(source + ["-c:v", "mpeg4", "\(outside)/secret.mp4"])
        try CLI.ffmpeg(source + ["-c:v", "mpeg4", "-f", "mpegts", "\(outside)/segment.ts"])
        try CLI.ffmpeg(source + ["-frames:v", "3", "\(root)/frames/%05d.png"])
    }

    override func tearDown() { directory = nil }

    private var confined: InputOptions { InputOptions(confinement: InputConfinement(allowedDirectories: [root])) }

    private func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    private func frameCount(_ source: VideoSource) throws -> Int {
        var count = 0
        while try source.nextFrame() != nil { count += 1 }
        return count
    }

    private func expectError(_ input: String, _ options: InputOptions, _ expected: MediaError,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try frameCount(VideoSource(input, options: options)), file: file, line: line) { error in
            XCTAssertEqual(error as? MediaError, expected, file: file, line: line)
            XCTAssertTrue("\(error)".contains(input), "\(error)", file: file, line: line)
        }
    }

    func testOrdinaryFilesAndImageSequencesStillOpen() throws {
        XCTAssertEqual(try frameCount(VideoSource("\(root)/clip.mp4", options: confined)), 10)
        XCTAssertEqual(try frameCount(VideoSource("\(root)/frames/%05d.png", options: confined)), 3)
        // A relative path, and a root given through a symlink, resolve the same way.
        let link = directory.file("root-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: root)
        let viaLink = InputOptions(confinement: InputConfinement(allowedDirectories: [link]))
        XCTAssertEqual(try frameCount(VideoSource("\(root)/clip.mp4", options: viaLink)), 10)
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(directory.path)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        XCTAssertEqual(try frameCount(VideoSource("root/clip.mp4", options: confined)), 10)
        // A missing file is still "not found", not a confinement error.
        XCTAssertThrowsError(try VideoSource("\(root)/missing.mp4", options: confined)) { error in
            guard case .fileNotFound? = error as? MediaError else { return XCTFail("\(error)") }
        }
    }

    func testInputOutsideTheRootIsRefused() {
        expectError("\(outside)/secret.mp4", confined, .outsideAllowedDirectories(input: "\(outside)/secret.mp4", url: "\(outside)/secret.mp4"))
        // `..` and a symlink inside the root that points out are resolved before the check.
        expectError("\(root)/../outside/secret.mp4", confined,
                    .outsideAllowedDirectories(input: "\(root)/../outside/secret.mp4", url: "\(root)/../outside/secret.mp4"))
    }

    func testSymlinkOutOfTheRootIsRefused() throws {
        try FileManager.default.createSymbolicLink(atPath: "\(root)/link.mp4", withDestinationPath: "\(outside)/secret.mp4")
        XCTAssertEqual(try frameCount(VideoSource("\(root)/link.mp4")), 10, "control: unconfined, the link is followed")
        expectError("\(root)/link.mp4", confined, .outsideAllowedDirectories(input: "\(root)/link.mp4", url: "\(root)/link.mp4"))
        // An image sequence with one frame that is a link out of the root.
        try FileManager.default.removeItem(atPath: "\(root)/frames/00002.png")
        try CLI.ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", "\(outside)/frame.png"])
        try FileManager.default.createSymbolicLink(atPath: "\(root)/frames/00002.png", withDestinationPath: "\(outside)/frame.png")
        XCTAssertEqual(try frameCount(VideoSource("\(root)/frames/%05d.png")), 3, "control: unconfined, the linked frame is read")
        expectError("\(root)/frames/%05d.png", confined,
                    .outsideAllowedDirectories(input: "\(root)/frames/%05d.png", url: "\(root)/frames/00002.png"))
    }

    func testHLSPlaylistNamedMP4IsRefused() throws {
        let playlist = "\(root)/playlist.mp4"
        try write("""
            #EXTM3U
            #EXT-X-VERSION:3
            #EXT-X-TARGETDURATION:2
            #EXT-X-MEDIA-SEQUENCE:0
            #EXTINF:1.0,
            \(outside)/segment.ts
            #EXT-X-ENDLIST

            """, to: playlist)
        XCTAssertEqual(try frameCount(VideoSource(playlist)), 10, "control: unconfined, FFmpeg reads the outside segment")
        expectError(playlist, confined, .formatNotAllowed(input: playlist, format: "hls"))
        // With HLS allowed explicitly, the segment outside the root is refused by the path check.
        let withHLS = InputOptions(confinement: InputConfinement(allowedDirectories: [root], allowedFormats: ["hls", "mpegts"]))
        expectError(playlist, withHLS, .outsideAllowedDirectories(input: playlist, url: "\(outside)/segment.ts"))
        // ... and a segment inside the root plays.
        try FileManager.default.copyItem(atPath: "\(outside)/segment.ts", toPath: "\(root)/segment.ts")
        try write("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nsegment.ts\n#EXT-X-ENDLIST\n", to: "\(root)/inside.m3u8")
        XCTAssertEqual(try frameCount(VideoSource("\(root)/inside.m3u8", options: withHLS)), 10)
    }

    func testConcatListIsRefused() throws {
        let list = "\(root)/list.mp4"
        try write("ffconcat version 1.0\nfile secret.mp4\n", to: list)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/secret.mp4", withDestinationPath: "\(outside)/secret.mp4")
        XCTAssertEqual(try frameCount(VideoSource(list)), 10, "control: unconfined, the list's file is read through the link")
        expectError(list, confined, .formatNotAllowed(input: list, format: "concat"))
        // Listing concat does not help: it opens files with FFmpeg's own io_open, so it is never allowed.
        let listed = InputOptions(confinement: InputConfinement(allowedDirectories: [root], allowedFormats: ["concat", "mov,mp4,m4a,3gp,3g2,mj2"]))
        expectError(list, listed, .formatNotAllowed(input: list, format: "concat"))
        let forced = InputOptions(format: "concat", confinement: InputConfinement(allowedDirectories: [root]))
        expectError(list, forced, .formatNotAllowed(input: list, format: "concat"))
    }

    func testConcatAndSubfileURLsAreRefused() throws {
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: "\(outside)/secret.mp4")[.size] as? Int)
        let concat = "concat:\(root)/clip.mp4|\(outside)/secret.mp4"
        let subfile = "subfile,,start,0,end,\(size),,:\(outside)/secret.mp4"
        let inside = "subfile,,start,0,end,\(size),,:\(root)/clip.mp4"
        XCTAssertGreaterThan(try frameCount(VideoSource(subfile)), 0, "control: unconfined, subfile reads the outside file")
        expectError(concat, confined, .outsideAllowedDirectories(input: concat, url: concat))
        expectError(subfile, confined, .outsideAllowedDirectories(input: subfile, url: subfile))
        expectError(inside, confined, .outsideAllowedDirectories(input: inside, url: inside))
        // Other protocols and standard input are no local files either.
        expectError("file:\(outside)/secret.mp4", confined,
                    .outsideAllowedDirectories(input: "file:\(outside)/secret.mp4", url: "file:\(outside)/secret.mp4"))
        expectError("http://127.0.0.1:9/x.mp4", confined, .outsideAllowedDirectories(input: "http://127.0.0.1:9/x.mp4", url: "http://127.0.0.1:9/x.mp4"))
        XCTAssertEqual(try frameCount(VideoSource("file:\(root)/clip.mp4", options: confined)), 10)
    }

    func testDefaultFormatsLeaveOutWhatOpensOtherInputs() {
        let formats = Set(InputConfinement.defaultFormats())
        for name in ["hls", "dash", "concat", "imf", "lavfi", "video4linux2,v4l2", "sdp", "rtsp"] {
            XCTAssertFalse(formats.contains(name), name)
        }
        for name in ["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "image2", "mpegts", "png_pipe", "avi"] {
            XCTAssertTrue(formats.contains(name), name)
        }
    }
}
