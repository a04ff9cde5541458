// What `samtrack track` takes in (issue 26, items 4-6):
// - a DAVIS palette PNG (or a grey id map) given to --mask without an id prompts every object it
//   holds (pixel value = id, as the official vos_inference.py reads it); with an id it is refused
//   (it used to become one object, the union of all ids); a binary mask with an id still works;
// - --prompts FILE in the daemon's JSON prompt schema, errors naming the entry;
// - --input-option KEY=VALUE reaches the demuxer (raw RGB video on stdin), an unknown option is an
//   error; an MP4 whose index is at its end on stdin fails naming the fix, leaving no masks.jsonl;
// - --progress plain prints one line every few seconds, none prints nothing.

import Export
import Foundation
import Media
import XCTest
import TestSupport

final class TrackInputTests: XCTestCase {
    private var bedroom: String { Fixtures.sharedMedia("bedroom.mp4") }
    private let width = 960, height = 540

    /// An index image [H, W] with rectangles of the given values (x, y, w, h).
    private func idMap(_ rects: [(value: UInt8, x: Int, y: Int, w: Int, h: Int)]) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height)
        for r in rects { for y in r.y..<(r.y + r.h) { for x in r.x..<(r.x + r.w) { pixels[y * width + x] = r.value } } }
        return pixels
    }

    private let rects: [(value: UInt8, x: Int, y: Int, w: Int, h: Int)] = [(1, 100, 100, 200, 200), (2, 500, 200, 200, 200), (5, 750, 50, 150, 100)]

    private func track(_ arguments: [String], output: String, file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        try Samtrack.run(["track", bedroom, "--model", Samtrack.microModel, "--max-frames", "2", "--progress", "none",
                          "--output", output] + arguments, timeout: 300, file: file, line: line)
    }

    func testPaletteMaskPromptsEveryObject() throws {
        let dir = try TemporaryDirectory("palette-mask")
        try PNGWriter().writeIndexed(idMap(rects), width: width, height: height, palette: DAVISPalette.bytes, to: dir.file("00000.png"))
        try PNGWriter().writeGray(idMap([(1, 10, 10, 50, 50), (2, 300, 300, 50, 50)]), width: width, height: height, to: dir.file("grey.png"))
        var colour = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<1000 { colour[3 * i] = 200 }
        for i in 5000..<6000 { colour[3 * i + 1] = 200 }
        try PNGWriter().writeRGB(RGBImage(width: width, height: height, pixels: colour), to: dir.file("colour.png"))

        var result = try track(["--mask", dir.file("00000.png")], output: dir.file("palette"))
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(try readMasksJSONL(dir.file("palette/masks.jsonl")).map { objectIDs($0).sorted() }, [[1, 2, 5], [1, 2, 5]])

        // A grey id map works the same way; with other prompts for other objects.
        result = try track(["--mask", dir.file("grey.png"), "--box", "7:600,100,900,500"], output: dir.file("grey"))
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(try readMasksJSONL(dir.file("grey/masks.jsonl")).map { objectIDs($0).sorted() }, [[1, 2, 7], [1, 2, 7]])

        // With an id, an id map is refused, naming the ids and the form without an id.
        result = try track(["--mask", "1:" + dir.file("00000.png")], output: dir.file("refused"))
        XCTAssertEqual(result.status, 65, result.summary)
        for fragment in ["palette", "3 object ids (1, 2, 5)", "without an id"] { XCTAssertTrue(result.stderr.contains(fragment), result.stderr) }
        result = try track(["--mask", "3:" + dir.file("grey.png")], output: dir.file("refused"))
        XCTAssertEqual(result.status, 65, result.summary)
        XCTAssertTrue(result.stderr.contains("grey image holding 2 object ids"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("refused")))

        // A colour picture holds no ids; with an id it is one object (any non-black pixel).
        result = try track(["--mask", dir.file("colour.png")], output: dir.file("colour"))
        XCTAssertEqual(result.status, 65, result.summary)
        XCTAssertTrue(result.stderr.contains("colour image"), result.stderr)
        result = try track(["--mask", "4:" + dir.file("colour.png")], output: dir.file("colour"))
        XCTAssertEqual(result.status, 0, result.summary)

        // The same object twice on one frame is refused, naming both sources.
        result = try track(["--mask", dir.file("00000.png"), "--point", "2:600,300"], output: dir.file("twice"))
        XCTAssertEqual(result.status, 64, result.summary)
        XCTAssertTrue(result.stderr.contains("object 2 has two prompts on frame 0"), result.stderr)
    }

    func testPromptsFile() throws {
        let dir = try TemporaryDirectory("prompts-file")
        var mask = BinaryMask(width: width, height: height)
        for y in 300..<400 { for x in 600..<800 { mask[x, y] = true } }
        let rle = COCORLE(encoding: mask)
        let json = """
            {"prompts": [
              {"object": 1, "box": [100, 100, 400, 400]},
              {"object": 2, "frame": 0, "points": [[700, 300], [720, 310, 0]]},
              {"object": 3, "mask": {"size": [\(height), \(width)], "counts": "\(rle.compressed.replacingOccurrences(of: "\\", with: "\\\\"))"}}
            ]}
            """
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir.file("prompts.json")))
        var result = try track(["--prompts", dir.file("prompts.json")], output: dir.file("out"))
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(try readMasksJSONL(dir.file("out/masks.jsonl")).map { objectIDs($0).sorted() }, [[1, 2, 3], [1, 2, 3]])
        let recorded = try XCTUnwrap(try manifestJSON(dir.file("out"))["prompts"] as? [[String: Any]])
        XCTAssertEqual((recorded[1]["points"] as? [Any])?.map(jsonNumbers), [[700, 300, 1], [720, 310, 0]])
        XCTAssertEqual((recorded[2]["mask"] as? [String: Any])?["counts"] as? String, rle.compressed)

        // Single prompt object form, together with a command-line prompt for another object.
        try Data(#"{"object": 4, "points": [[480, 270]]}"#.utf8).write(to: URL(fileURLWithPath: dir.file("one.json")))
        result = try track(["--prompts", dir.file("one.json"), "--box", "1:100,100,400,400"], output: dir.file("one"))
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(try readMasksJSONL(dir.file("one/masks.jsonl")).map { objectIDs($0).sorted() }, [[1, 4], [1, 4]])

        let bad: [(String, [String])] = [
            (#"{"prompts": [{"objekt": 1, "box": [1, 2, 3, 4]}]}"#, ["prompts[0]", "unknown key 'objekt'"]),
            (#"{"prompts": [{"object": 1, "box": [1, 2, 3]}]}"#, ["prompts[0] (object 1)", "box must be"]),
            (#"{"prompts": [{"object": 1, "points": [[1, 2, 7]]}]}"#, ["label must be 1"]),
            (#"{"prompts": [{"object": 1, "box": [1, 2, 3, 4]}, {"object": 1, "points": [[5, 5]]}]}"#, ["object 1", "two prompts"]),
            (#"{"prompts": []}"#, ["empty"]),
            (#"{"prompts": [{"object": 1, "box": "#, ["not valid json"]),
        ]
        for (text, fragments) in bad {
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir.file("bad.json")))
            result = try track(["--prompts", dir.file("bad.json")], output: dir.file("bad"))
            XCTAssertEqual(result.status, 65, "\(text):\n\(result.summary)")
            XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
            for fragment in fragments + ["bad.json"] {
                XCTAssertTrue(result.stderr.lowercased().contains(fragment.lowercased()), "\(text): \(result.stderr)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("bad")))
        }
        result = try track(["--prompts", dir.file("missing.json")], output: dir.file("bad"))
        XCTAssertEqual(result.status, 66, result.summary)
        // A file prompt and a command-line prompt for the same object and frame.
        result = try track(["--prompts", dir.file("one.json"), "--point", "4:10,10"], output: dir.file("bad"))
        XCTAssertEqual(result.status, 64, result.summary)
        XCTAssertTrue(result.stderr.contains("object 4 has two prompts on frame 0"), result.stderr)
    }

    func testRawVideoOnStandardInputWithDemuxerOptions() throws {
        let ffmpeg = try requiredTool("ffmpeg")
        let dir = try TemporaryDirectory("rawvideo")
        let made = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=s=64x48:r=10", "-frames:v", "5",
                                                  "-f", "rawvideo", "-pix_fmt", "rgb24", dir.file("clip.rgb")], timeout: 60)
        XCTAssertEqual(made.status, 0, made.summary)
        func run(_ options: [String], output: String) throws -> ProcessResult {
            let child = try ChildProcess(try Samtrack.path(), ["track", "-", "--model", Samtrack.microModel, "--box", "1:5,5,40,30",
                                                                "--input-format", "rawvideo", "--output", output] + options,
                                         standardInput: dir.file("clip.rgb"))
            guard child.wait(timeout: 120) else {
                child.terminate()
                XCTFail("samtrack track - did not finish within 120 s\n\(child.result.summary)")
                return child.result
            }
            return child.result
        }
        var result = try run(["--input-option", "video_size=64x48", "--input-option", "pixel_format=rgb24"], output: dir.file("out"))
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.contains("tracked 5 frames (64x48)"), result.stderr)
        XCTAssertEqual(try readMasksJSONL(dir.file("out/masks.jsonl")).count, 5)
        let source = try XCTUnwrap(try manifestJSON(dir.file("out"))["source"] as? [String: Any])
        XCTAssertEqual(source["input_options"] as? [String: String], ["video_size": "64x48", "pixel_format": "rgb24"])
        XCTAssertEqual(source["input_format"] as? String, "rawvideo")

        // An option FFmpeg does not know is named; nothing is written.
        result = try run(["--input-option", "video_size=64x48", "--input-option", "pixfmt=rgb24"], output: dir.file("bad"))
        XCTAssertEqual(result.status, 65, result.summary)
        XCTAssertTrue(result.stderr.contains("unknown input option(s) 'pixfmt'"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("bad")))
    }

    /// bedroom.mp4 has its index (moov) after its samples: on a pipe the samples are gone by the
    /// time the index is read. It used to fail with "Invalid data" after creating an empty masks.jsonl.
    func testMP4WithItsIndexAtTheEndOnStandardInput() throws {
        let dir = try TemporaryDirectory("moov-at-end")
        let child = try ChildProcess(try Samtrack.path(), ["track", "-", "--model", Samtrack.microModel, "--box", "1:10,10,100,100",
                                                            "--output", dir.file("out")], standardInput: bedroom)
        guard child.wait(timeout: 120) else {
            child.terminate()
            return XCTFail("samtrack track - did not finish within 120 s\n\(child.result.summary)")
        }
        let result = child.result
        XCTAssertEqual(result.status, 66, result.summary)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        for fragment in ["moov", "cannot be read from a pipe", "give the file's path", "-movflags +faststart", "-f mpegts"] {
            XCTAssertTrue(result.stderr.contains(fragment), "missing '\(fragment)': \(result.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("out")), "a failed run left \(tree(dir.file("out")))")

        // The same file made fast-start streams from stdin.
        let ffmpeg = try requiredTool("ffmpeg")
        let made = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", bedroom, "-c", "copy", "-movflags", "+faststart",
                                                  dir.file("fast.mp4")], timeout: 60)
        XCTAssertEqual(made.status, 0, made.summary)
        let fast = try ChildProcess(try Samtrack.path(), ["track", "-", "--model", Samtrack.microModel, "--box", "1:10,10,100,100",
                                                           "--max-frames", "3", "--output", dir.file("fast")], standardInput: dir.file("fast.mp4"))
        XCTAssertTrue(fast.wait(timeout: 120))
        XCTAssertEqual(fast.result.status, 0, fast.result.summary)
    }

    private func tree(_ path: String) -> [String] {
        ((FileManager.default.enumerator(atPath: path)?.allObjects as? [String]) ?? []).sorted()
    }

    /// stderr is a file here (not a terminal): the default is plain lines, never redrawn.
    func testPlainProgressWhenNotATerminal() throws {
        let dir = try TemporaryDirectory("progress")
        let result = try Samtrack.run(["track", Fixtures.sharedMedia("cups.mp4"), "--model", Samtrack.microModel,
                                       "--box", "1:400,200,700,500", "--max-frames", "25", "--output", dir.file("out")], timeout: 300)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertFalse(result.stderr.contains("\r"), "a redrawn line in a log: \(result.stderr.debugDescription)")
        let lines = result.stderrLines
        let progress = lines.filter { $0.hasPrefix("frame ") }
        XCTAssertGreaterThanOrEqual(progress.count, 1, result.stderr)
        // One line for the first frame, then at most one per 5 s.
        XCTAssertLessThanOrEqual(progress.count, 1 + Int(result.seconds / 5) + 1, result.stderr)
        let pattern = try NSRegularExpression(pattern: #"^frame \d+/25 \(\d+%\), \d+\.\d frames/s, ETA \d+:\d\d$"#)
        for line in progress {
            XCTAssertNotNil(pattern.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)), "progress line: \(line)")
        }
        XCTAssertTrue(lines.last?.hasPrefix("tracked 25 frames (1280x720)") == true, result.stderr)

        for quiet in [["--progress", "none"], ["--quiet"]] {
            let silent = try Samtrack.run(["track", bedroom, "--model", Samtrack.microModel, "--box", "1:100,100,400,400",
                                           "--max-frames", "2", "--output", dir.file("quiet-\(quiet[0])")] + quiet, timeout: 300)
            XCTAssertEqual(silent.status, 0, silent.summary)
            XCTAssertEqual(silent.stderr, "", "\(quiet) must print nothing")
        }
        let bar = try Samtrack.run(["track", bedroom, "--model", Samtrack.microModel, "--box", "1:100,100,400,400",
                                    "--max-frames", "2", "--output", dir.file("bar"), "--progress", "bar"], timeout: 300)
        XCTAssertEqual(bar.status, 0, bar.summary)
        XCTAssertTrue(bar.stderr.contains("\r[") && bar.stderr.contains("/2"), bar.stderr.debugDescription)
    }
}
