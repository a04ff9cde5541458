// `samtrack render INPUT MASKS --output overlay.mp4` (issue 26): an overlay video from masks a
// track run wrote. Drawn from masks.jsonl it is the very video `track --overlay` made (the decoded
// frames' MD5s are equal); from palette PNGs or per-object PNGs it has every frame at the video's
// size; masks of another video's size are refused, leaving no file; a path without masks is named.

import Foundation
import XCTest
import TestSupport

final class RenderTests: XCTestCase {
    private var bedroom: String { Fixtures.sharedMedia("bedroom.mp4") }

    /// The decoded frames' MD5s (ffmpeg's framemd5 muxer, comment lines dropped).
    private func frameMD5s(_ path: String) throws -> [String] {
        let ffmpeg = try requiredTool("ffmpeg")
        let result = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", path, "-f", "framemd5", "-"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.summary)
        return result.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
    }

    func testRenderFromEveryLayout() throws {
        let dir = try TemporaryDirectory("render")
        let frames = 6
        let tracked = try Samtrack.run(["track", bedroom, "--model", Samtrack.microModel, "--box", "1:100,100,400,400",
                                        "--point", "2:700,300", "--max-frames", "\(frames)", "--format", "rle,palette",
                                        "--output", dir.file("out"), "--overlay", dir.file("track.mp4"), "--progress", "none"], timeout: 300)
        XCTAssertEqual(tracked.status, 0, tracked.summary)
        let png = try Samtrack.run(["track", bedroom, "--model", Samtrack.microModel, "--box", "1:100,100,400,400",
                                    "--point", "2:700,300", "--max-frames", "\(frames)", "--format", "png",
                                    "--output", dir.file("png"), "--progress", "none"], timeout: 300)
        XCTAssertEqual(png.status, 0, png.summary)

        // From masks.jsonl (the file, or the directory holding it): the same frames as track --overlay.
        let expected = try frameMD5s(dir.file("track.mp4"))
        XCTAssertEqual(expected.count, frames)
        for masks in [dir.file("out/masks.jsonl"), dir.file("out")] {
            let result = try Samtrack.run(["render", bedroom, masks, "--output", dir.file("jsonl.mp4"), "--max-frames", "\(frames)"],
                                          timeout: 300)
            XCTAssertEqual(result.status, 0, result.summary)
            XCTAssertTrue(result.stderr.contains("rendered \(frames) frames (960x540), \(frames) with masks"), result.stderr)
            XCTAssertEqual(try frameMD5s(dir.file("jsonl.mp4")), expected, "render of \(masks) differs from track --overlay")
        }

        // Palette PNGs only, and per-object PNGs: every frame of the video, the masks on the first six.
        try FileManager.default.removeItem(atPath: dir.file("out/masks.jsonl"))
        for (name, masks) in [("palette", dir.file("out")), ("png", dir.file("png"))] {
            let result = try Samtrack.run(["render", bedroom, masks, "--output", dir.file("\(name).mp4")], timeout: 300)
            XCTAssertEqual(result.status, 0, result.summary)
            XCTAssertTrue(result.stderr.contains("rendered 200 frames (960x540), \(frames) with masks"), "\(name): \(result.stderr)")
            let video = try ProbedVideo.probe(dir.file("\(name).mp4"), countFrames: true)
            XCTAssertEqual(video.width, 960)
            XCTAssertEqual(video.height, 540)
            XCTAssertEqual(video.frames, 200, "\(name): every frame of bedroom.mp4")
        }
    }

    func testRenderErrors() throws {
        let dir = try TemporaryDirectory("render-errors")
        let tracked = try Samtrack.run(["track", bedroom, "--model", Samtrack.microModel, "--box", "1:100,100,400,400",
                                        "--max-frames", "2", "--output", dir.file("out"), "--progress", "none"], timeout: 300)
        XCTAssertEqual(tracked.status, 0, tracked.summary)
        // bedroom's 960x540 masks over cups.mp4 (1280x720).
        var result = try Samtrack.run(["render", Fixtures.sharedMedia("cups.mp4"), dir.file("out"), "--output", dir.file("x.mp4")],
                                      timeout: 300)
        XCTAssertEqual(result.status, 65, result.summary)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        for fragment in ["960x540", "1280x720", "another video"] { XCTAssertTrue(result.stderr.contains(fragment), result.stderr) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["out"], "a failed render left a file")

        try FileManager.default.createDirectory(atPath: dir.file("empty"), withIntermediateDirectories: true)
        result = try Samtrack.run(["render", bedroom, dir.file("empty"), "--output", dir.file("x.mp4")], timeout: 300)
        XCTAssertEqual(result.status, 66, result.summary)
        XCTAssertTrue(result.stderr.contains("holds no masks"), result.stderr)

        try Data("{\"frame\": 0, \"objects\": [}\n".utf8).write(to: URL(fileURLWithPath: dir.file("broken.jsonl")))
        result = try Samtrack.run(["render", bedroom, dir.file("broken.jsonl"), "--output", dir.file("x.mp4")], timeout: 300)
        XCTAssertEqual(result.status, 65, result.summary)
        XCTAssertTrue(result.stderr.contains("broken.jsonl") && result.stderr.contains("line 1"), result.stderr)
    }
}
