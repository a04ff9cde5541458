// Looking before tracking (issue 26, item 2) and frame numbers (items 3 and 4), end to end:
// - `samtrack frame INPUT N` writes the decoded frame's RGB at the source size, byte for byte what
//   the ffmpeg CLI decodes (file, numbered image sequence, stdin), and names the frames an input
//   has when N is not one of them;
// - `samtrack segment` gives exactly the mask `samtrack track` writes on the prompted frame for
//   the same prompt (frame 0 through the streaming tracker, a later frame through the predictor
//   path, a numbered sequence), candidates under --multimask, a preview with --overlay;
// - a numbered image sequence (00017.jpg...) is numbered by its files in masks.jsonl, the PNG
//   names, @FRAME and render; a prompt on a number no file has, past the end, or beyond
//   --max-frames (files and streams) fails before any work.

import Foundation
import Media
import XCTest
import TestSupport

final class FrameAndSegmentTests: XCTestCase {
    private var cups: String { Fixtures.sharedMedia("cups.mp4") }
    private var model: String { Samtrack.microModel }

    /// Frames 17...21 of bedroom.mp4 at 320x180 as dir/frames/00017.jpg ... 00021.jpg.
    private func numberedSequence(_ dir: TemporaryDirectory) throws -> String {
        let ffmpeg = try requiredTool("ffmpeg")
        try FileManager.default.createDirectory(atPath: dir.file("frames"), withIntermediateDirectories: true)
        let made = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", Fixtures.sharedMedia("bedroom.mp4"), "-frames:v", "5",
                                                  "-vf", "scale=320:180", "-start_number", "17", dir.file("frames/%05d.jpg")], timeout: 60)
        XCTAssertEqual(made.status, 0, made.summary)
        return dir.file("frames")
    }

    /// RGB24 bytes of frame `n` of `input` as the ffmpeg CLI decodes it (no scaling).
    private func ffmpegFrame(_ input: String, _ n: Int, into dir: TemporaryDirectory) throws -> [UInt8] {
        let raw = dir.file("reference-\(n).rgb")
        let result = try ChildProcess.run(try requiredTool("ffmpeg"), ["-nostdin", "-v", "error", "-y", "-i", input, "-vf", "select=eq(n\\,\(n))",
                                                                       "-frames:v", "1", "-pix_fmt", "rgb24", "-f", "rawvideo", raw], timeout: 60)
        XCTAssertEqual(result.status, 0, result.summary)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: raw)))
    }

    private func rgb(_ png: String) throws -> [UInt8] {
        guard case let .rgb(pixels) = try StillImage.load(png).pixels else { XCTFail("\(png) is not RGB"); return [] }
        return pixels
    }

    private func grey(_ png: String) throws -> [UInt8] {
        guard case let .grey(pixels) = try StillImage.load(png).pixels else { XCTFail("\(png) is not grey"); return [] }
        return pixels
    }

    // MARK: frame

    func testFrameWritesTheDecodedPixels() throws {
        let dir = try TemporaryDirectory("frame")
        let written = try Samtrack.run(["frame", cups, "7", "--output", dir.file("f7.png")])
        XCTAssertEqual(written.status, 0, written.summary)
        XCTAssertTrue(written.stdout.contains("frame 7 (1280x720)"), written.stdout)
        let pixels = try rgb(dir.file("f7.png"))
        XCTAssertEqual(pixels.count, 1280 * 720 * 3)
        XCTAssertEqual(pixels, try ffmpegFrame(cups, 7, into: dir), "frame 7 differs from ffmpeg's")
        XCTAssertNotEqual(pixels, try ffmpegFrame(cups, 8, into: dir), "frames 7 and 8 should differ")

        // A numbered sequence: N is the file number.
        let frames = try numberedSequence(dir)
        let numbered = try Samtrack.run(["frame", frames, "19", "--output", dir.file("s19.png")])
        XCTAssertEqual(numbered.status, 0, numbered.summary)
        XCTAssertEqual(try rgb(dir.file("s19.png")), try ffmpegFrame(frames + "/00019.jpg", 0, into: dir))

        // Standard input is read forward to the frame.
        let ffmpeg = try requiredTool("ffmpeg")
        let ts = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", cups, "-frames:v", "8", "-an", "-c:v", "mpeg2video",
                                               "-q:v", "2", "-f", "mpegts", dir.file("cups.ts")], timeout: 60)
        XCTAssertEqual(ts.status, 0, ts.summary)
        let child = try ChildProcess(try Samtrack.path(), ["frame", "-", "5", "--output", dir.file("stdin5.png")],
                                     standardInput: dir.file("cups.ts"))
        XCTAssertTrue(child.wait(timeout: 120))
        XCTAssertEqual(child.result.status, 0, child.result.summary)
        XCTAssertEqual(try rgb(dir.file("stdin5.png")), try ffmpegFrame(dir.file("cups.ts"), 5, into: dir))
    }

    func testFrameErrors() throws {
        let dir = try TemporaryDirectory("frame-errors")
        let past = try Samtrack.run(["frame", cups, "300", "--output", dir.file("f.png")])
        XCTAssertEqual(past.status, 65, past.summary)
        XCTAssertTrue(past.stderr.contains("300 frames: 0...299"), past.stderr)
        let frames = try numberedSequence(dir)
        let missing = try Samtrack.run(["frame", frames, "3", "--output", dir.file("f.png")])
        XCTAssertEqual(missing.status, 65, missing.summary)
        XCTAssertTrue(missing.stderr.contains("no frame is numbered 3") && missing.stderr.contains("17...21"), missing.stderr)
        let jpeg = try Samtrack.run(["frame", cups, "1", "--output", dir.file("f.jpg")])
        XCTAssertEqual(jpeg.status, 64, jpeg.summary)
        XCTAssertTrue(jpeg.stderr.contains(".png"), jpeg.stderr)
        let negative = try Samtrack.run(["frame", cups, "-1", "--output", dir.file("f.png")])
        XCTAssertEqual(negative.status, 64, negative.summary)
        let absent = try Samtrack.run(["frame", "/nonexistent/clip.mp4", "1", "--output", dir.file("f.png")])
        XCTAssertEqual(absent.status, 66, absent.summary)
        XCTAssertTrue(absent.stderr.contains("/nonexistent/clip.mp4"), absent.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("f.png")))
    }

    // MARK: segment = track's prompt-frame mask

    /// Runs segment and track with one prompt; returns (segment mask, track mask) as grey bytes.
    private func segmentAndTrack(_ input: String, frame: Int?, segmentPrompt: [String], trackPrompt: [String], trackFrame: Int,
                                 extra: [String] = [], in dir: TemporaryDirectory, name: String,
                                 file: StaticString = #filePath, line: UInt = #line) throws -> (segment: [UInt8], track: [UInt8], stdout: String) {
        let segmented = try Samtrack.run(["segment", input, "--model", model, "--output", dir.file("\(name).png"),
                                          "--overlay", dir.file("\(name)-preview.png")] + (frame.map { ["--frame", "\($0)"] } ?? [])
                                         + segmentPrompt + extra, timeout: 300, file: file, line: line)
        XCTAssertEqual(segmented.status, 0, segmented.summary, file: file, line: line)
        let tracked = try Samtrack.run(["track", input, "--model", model, "--format", "png", "--output", dir.file("\(name)-track"),
                                        "--max-frames", "\(trackFrame + 1)", "--quiet"] + trackPrompt, timeout: 300, file: file, line: line)
        XCTAssertEqual(tracked.status, 0, tracked.summary, file: file, line: line)
        let trackPNG = dir.file(String(format: "\(name)-track/1/%05d.png", frame ?? trackFrame))
        return (try grey(dir.file("\(name).png")), try grey(trackPNG), segmented.stdout)
    }

    func testSegmentEqualsTheTrackersMaskOnFrameZero() throws {
        // Prompts on frame 0 only: track runs the streaming tracker.
        let dir = try TemporaryDirectory("segment-0")
        let (segment, track, stdout) = try segmentAndTrack(cups, frame: nil, segmentPrompt: ["--box", "500,150,900,600"],
                                                           trackPrompt: ["--box", "1:500,150,900,600"], trackFrame: 0, in: dir, name: "box")
        XCTAssertEqual(segment.count, 1280 * 720)
        let area = segment.filter { $0 != 0 }.count
        XCTAssertTrue(area > 0 && area < segment.count, "a trivial mask (\(area) px) proves nothing")
        XCTAssertEqual(segment, track, "segment and track differ on frame 0")
        XCTAssertTrue(stdout.contains("frame 0: ") && stdout.contains("area \(area) px"), stdout)
        // The preview is the frame's size with the mask and the box drawn: not the plain frame.
        let preview = try rgb(dir.file("box-preview.png"))
        XCTAssertEqual(preview.count, 1280 * 720 * 3)
        XCTAssertNotEqual(preview, try ffmpegFrame(cups, 0, into: dir))
    }

    func testSegmentEqualsTheTrackersMaskOnALaterFrameWithCandidates() throws {
        // A click on frame 10: track takes the predictor path; one click gives three candidates.
        let dir = try TemporaryDirectory("segment-10")
        let (segment, track, stdout) = try segmentAndTrack(cups, frame: 10, segmentPrompt: ["--point", "700,380"],
                                                           trackPrompt: ["--point", "1@10:700,380", "--direction", "forward"],
                                                           trackFrame: 10, extra: ["--multimask"], in: dir, name: "click")
        let area = segment.filter { $0 != 0 }.count
        XCTAssertTrue(area > 0 && area < segment.count, "a trivial mask (\(area) px) proves nothing")
        XCTAssertEqual(segment, track, "segment and track differ on frame 10")
        XCTAssertTrue(stdout.contains("frame 10: "), stdout)
        let candidates = stdout.split(separator: "\n").filter { $0.hasPrefix("candidate ") }
        XCTAssertEqual(candidates.count, 3, stdout)
        XCTAssertEqual(candidates.filter { $0.hasSuffix("(chosen)") }.count, 1, stdout)
        // Four panels side by side: the result and the three candidates.
        let size = try pngSize(dir.file("click-preview.png"))
        XCTAssertEqual(size?.width, 4 * 1280)
        XCTAssertEqual(size?.height, 720)
    }

    func testSegmentEqualsTheTrackersMaskOnANumberedSequence() throws {
        let dir = try TemporaryDirectory("segment-seq")
        let frames = try numberedSequence(dir)
        let (segment, track, stdout) = try segmentAndTrack(frames, frame: 18, segmentPrompt: ["--box", "80,40,240,160"],
                                                           trackPrompt: ["--box", "1@18:80,40,240,160"], trackFrame: 1,
                                                           in: dir, name: "seq")
        XCTAssertEqual(segment.count, 320 * 180)
        XCTAssertEqual(segment, track, "segment and track differ on frame 18")
        XCTAssertTrue(stdout.contains("frame 18: "), stdout)
    }

    func testSegmentErrors() throws {
        let dir = try TemporaryDirectory("segment-errors")
        let past = try Samtrack.run(["segment", cups, "--model", model, "--frame", "300", "--point", "5,5", "--output", dir.file("m.png")])
        XCTAssertEqual(past.status, 65, past.summary)
        XCTAssertTrue(past.stderr.contains("frame 300"), past.stderr)
        let noOutput = try Samtrack.run(["segment", cups, "--model", model, "--point", "5,5"])
        XCTAssertEqual(noOutput.status, 64, noOutput.summary)
        XCTAssertTrue(noOutput.stderr.contains("--overlay"), noOutput.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("m.png")))
    }

    // MARK: frame numbers from file names

    func testNumberedSequenceKeepsItsFileNumbers() throws {
        let dir = try TemporaryDirectory("numbers")
        let frames = try numberedSequence(dir)
        for (name, prompt) in [("first", ["--point", "1@17:160,90"]), ("later", ["--point", "1@17:160,90", "--box", "2@19:10,10,100,100"])] {
            let result = try Samtrack.run(["track", frames, "--model", model, "--format", "rle,palette", "--output", dir.file(name),
                                           "--quiet"] + prompt, timeout: 300)
            XCTAssertEqual(result.status, 0, result.summary)
            let records = try readMasksJSONL(dir.file("\(name)/masks.jsonl"))
            XCTAssertEqual(records.compactMap { $0["frame"] as? Int }, [17, 18, 19, 20, 21], name)
            // Times as the sequential reader gives them: position / 25 frames per second (image2's default).
            let times = records.compactMap { ($0["pts"] as? NSNumber)?.doubleValue }
            XCTAssertEqual(times.count, 5, "pts missing: \(records.map { $0["pts"] ?? "none" })")
            for (k, time) in times.enumerated() { XCTAssertEqual(time, Double(k) / 25, accuracy: 1e-9, name) }
            let pngs = try FileManager.default.contentsOfDirectory(atPath: dir.file(name)).filter { $0.hasSuffix(".png") }.sorted()
            XCTAssertEqual(pngs, ["00017.png", "00018.png", "00019.png", "00020.png", "00021.png"], name)
            if name == "later" { XCTAssertEqual(objectIDs(records[2]), [1, 2], "object 2 is prompted on frame 19") }
        }
        // render draws masks.jsonl's frame 17 on the sequence's first file (every frame has masks).
        let render = try Samtrack.run(["render", frames, dir.file("first"), "--output", dir.file("overlay.mp4")])
        XCTAssertEqual(render.status, 0, render.summary)
        XCTAssertTrue(render.stderr.contains("rendered 5 frames") && render.stderr.contains("5 with masks"), render.stderr)
    }

    func testPromptsThatAreNeverReachedFailBeforeAnyWork() throws {
        let dir = try TemporaryDirectory("unreached")
        let frames = try numberedSequence(dir)
        func expect(_ arguments: [String], status: Int32 = 65, mentions: [String], standardInput: String? = nil,
                    file: StaticString = #filePath, line: UInt = #line) throws {
            let out = dir.file("out-\(UUID().uuidString)")
            let child = try ChildProcess(try Samtrack.path(), ["track"] + arguments + ["--model", model, "--output", out, "--quiet"],
                                         standardInput: standardInput)
            XCTAssertTrue(child.wait(timeout: 120), file: file, line: line)
            let result = child.result
            XCTAssertEqual(result.status, status, result.summary, file: file, line: line)
            for fragment in mentions { XCTAssertTrue(result.stderr.contains(fragment), "\(fragment): \(result.stderr)", file: file, line: line) }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/masks.jsonl"), "work was done", file: file, line: line)
        }
        // A number no file has; frame 0 of a sequence starting at 17.
        try expect([frames, "--point", "1@17:160,90", "--point", "2@25:10,10"], mentions: ["no frame is numbered 25", "17...21"])
        try expect([frames, "--point", "1:160,90"], mentions: ["no frame is numbered 0", "17...21"])
        // Past the end of a file, and beyond --max-frames (file and stream).
        try expect([cups, "--box", "1:100,100,400,400", "--point", "2@300:10,10"], mentions: ["frame 300", "past the end"])
        try expect([cups, "--box", "1:100,100,400,400", "--point", "2@5:10,10", "--max-frames", "3"], mentions: ["frame 5", "past the end"])
        try expect([frames, "--point", "1@17:160,90", "--point", "2@20:10,10", "--max-frames", "2"], mentions: ["no frame is numbered 20", "17...18"])
        let ffmpeg = try requiredTool("ffmpeg")
        let ts = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", cups, "-frames:v", "8", "-an", "-vf", "scale=320:180",
                                               "-f", "mpegts", dir.file("cups.ts")], timeout: 60)
        XCTAssertEqual(ts.status, 0, ts.summary)
        try expect(["-", "--box", "1:10,10,200,150", "--point", "2@5:10,10", "--max-frames", "3"], mentions: ["frame 5", "past the end"],
                   standardInput: dir.file("cups.ts"))
    }

    func testStreamEndingBeforeAPromptedFrameFails() throws {
        // A stream's length is unknown before it ends: the run tracks what comes, then fails naming the prompt.
        let dir = try TemporaryDirectory("stream-end")
        let ffmpeg = try requiredTool("ffmpeg")
        let ts = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", cups, "-frames:v", "6", "-an", "-vf", "scale=320:180",
                                               "-f", "mpegts", dir.file("cups.ts")], timeout: 60)
        XCTAssertEqual(ts.status, 0, ts.summary)
        let child = try ChildProcess(try Samtrack.path(), ["track", "-", "--model", model, "--box", "1:10,10,200,150",
                                                           "--point", "2@40:10,10", "--output", dir.file("out"), "--quiet"],
                                     standardInput: dir.file("cups.ts"))
        XCTAssertTrue(child.wait(timeout: 120))
        XCTAssertEqual(child.result.status, 65, child.result.summary)
        XCTAssertTrue(child.result.stderr.contains("object 2 on frame 40") && child.result.stderr.contains("past the end"), child.result.stderr)
    }
}
