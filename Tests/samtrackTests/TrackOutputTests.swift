// `samtrack track` on real videos with the micro model writes every output, and real clients read
// them: one run per mask format (rle + --save-logits + --overlay, png, palette) with the same
// prompts, then
// - Tools/interop/check_track_outputs.py decodes masks.jsonl with pycocotools.mask.decode, the
//   PNGs and palette PNGs with Pillow and the .npy files with NumPy, and checks that they agree:
//   RLE masks == PNG masks == palette ids, area / bbox == pycocotools', and (upsampled logits > 0)
//   == the masks except where the upsampled logit is within 1e-4 of 0 (see the script);
// - ffprobe decodes the overlay: as many frames as were tracked, the source's size and frame rate.
// The runs must agree with each other, which also checks that tracking is deterministic.

import Foundation
import XCTest
import TestSupport

final class TrackOutputTests: XCTestCase {
    struct Clip: Sendable {
        let name: String
        let width: Int, height: Int
        let frames: Int
        /// Prompt options, with MASK standing for a mask PNG made for the clip.
        let prompts: [String]
        /// The mask PNG's rectangle.
        let maskRect: (x: Int, y: Int, w: Int, h: Int)
        /// Object ids listed on each frame (prompts after frame 0 run the official predictor's
        /// semantics: every object is tracked on every frame, before its first prompt too).
        let objectsOnFrame: @Sendable (Int) -> [Int]
    }

    static let cups = Clip(
        name: "cups.mp4", width: 1280, height: 720, frames: 12,
        prompts: ["--box", "1:400,200,700,500", "--point", "2:900,400", "--point", "2:950,420,0",
                  "--point", "4@2:300,600", "--mask", "3@4:MASK"],
        maskRect: (600, 300, 200, 150),
        objectsOnFrame: { _ in [1, 2, 3, 4] })

    static let bedroom = Clip(
        name: "bedroom.mp4", width: 960, height: 540, frames: 10,
        prompts: ["--box", "1:100,100,400,400", "--mask", "2:MASK", "--point", "3@3:480,270"],
        maskRect: (500, 200, 300, 250),
        objectsOnFrame: { _ in [1, 2, 3] })

    func testCupsAllOutputs() throws { try checkAllOutputs(Self.cups) }

    func testBedroomAllOutputs() throws { try checkAllOutputs(Self.bedroom) }

    private func checkAllOutputs(_ clip: Clip) throws {
        let input = Fixtures.sharedMedia(clip.name)
        let dir = try TemporaryDirectory("outputs-\(clip.name)")
        try makeMaskPNG(dir.file("mask.png"), width: clip.width, height: clip.height, rect: clip.maskRect)
        let common = [input, "--model", Samtrack.microModel, "--max-frames", "\(clip.frames)", "--quiet"]
            + clip.prompts.map { $0.replacingOccurrences(of: "MASK", with: dir.file("mask.png")) }
        let runs: [(String, [String])] = [
            ("rle", ["--output", dir.file("rle"), "--save-logits", dir.file("logits"), "--overlay", dir.file("overlay.mp4")]),
            ("png", ["--format", "png", "--output", dir.file("png")]),
            ("palette", ["--format", "palette", "--output", dir.file("palette")]),
        ]
        for (format, extra) in runs {
            let result = try Samtrack.run(["track"] + common + extra, timeout: 300)
            XCTAssertEqual(result.status, 0, "\(clip.name) --format \(format):\n\(result.summary)")
            XCTAssertEqual(result.stderr, "", "--quiet must print nothing on success")
            XCTAssertEqual(result.stdout, "")
        }

        // masks.jsonl: one line per tracked frame, in order, with the prompted objects.
        let records = try readMasksJSONL(dir.file("rle/masks.jsonl"))
        XCTAssertEqual(records.map { $0["frame"] as? Int }, (0..<clip.frames).map { $0 })
        for record in records {
            guard let frame = record["frame"] as? Int else { continue }
            XCTAssertEqual(objectIDs(record).sorted(), clip.objectsOnFrame(frame), "objects on frame \(frame)")
        }
        let pts = records.compactMap { $0["pts"] as? Double }
        XCTAssertEqual(pts.count, clip.frames)
        XCTAssertEqual(pts, pts.sorted(), "pts must increase")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("rle/masks.jsonl.partial")))

        // The real clients.
        try runInteropCheck(dir, clip: clip)

        // The overlay: every tracked frame, the source's size and frame rate.
        let source = try ProbedVideo.probe(input)
        let overlay = try ProbedVideo.probe(dir.file("overlay.mp4"), countFrames: true)
        XCTAssertEqual(overlay.frames, clip.frames, "overlay frames (ffprobe -count_frames)")
        XCTAssertEqual(overlay.width, source.width)
        XCTAssertEqual(overlay.height, source.height)
        XCTAssertEqual(overlay.frameRate, source.frameRate, "overlay frame rate")
        XCTAssertTrue(["h264", "mpeg4"].contains(overlay.codec), "overlay codec \(overlay.codec)")
    }

    private func runInteropCheck(_ dir: TemporaryDirectory, clip: Clip, expectFailure: Bool = false) throws {
        guard let python = executableOnPath("python3") else {
            throw XCTSkip("python3 is not installed: the pycocotools / Pillow / NumPy interop check cannot run")
        }
        let script = Fixtures.repositoryRoot.appendingPathComponent("Tools/interop/check_track_outputs.py").path
        // The first run may create .venv-interop (pip install from PyPI), hence the long limit.
        let result = try ChildProcess.run(python, [script, dir.path, "--frames", "\(clip.frames)",
                                                   "--width", "\(clip.width)", "--height", "\(clip.height)"], timeout: 1200)
        if expectFailure {
            XCTAssertEqual(result.status, 1, "the checker must fail on mismatched files:\n\(result.summary)")
        } else {
            XCTAssertEqual(result.status, 0, "check_track_outputs.py:\n\(result.summary)")
            XCTAssertTrue(result.stdout.contains("checks passed"), result.stdout)
            print(result.stdout.split(separator: "\n").last.map(String.init) ?? "")
        }
    }

    /// The cross-check must fail when the files disagree: one object's logits swapped with
    /// another's, and one mask line dropped.
    func testInteropCheckDetectsDisagreement() throws {
        let clip = Clip(name: "bedroom.mp4", width: 960, height: 540, frames: 3,
                        prompts: ["--box", "1:100,100,400,400", "--box", "2:500,200,900,500"], maskRect: (0, 0, 1, 1),
                        objectsOnFrame: { _ in [1, 2] })
        let dir = try TemporaryDirectory("interop-mismatch")
        let common = ["track", Fixtures.sharedMedia(clip.name), "--model", Samtrack.microModel, "--max-frames", "3", "--quiet"]
            + clip.prompts
        for extra in [["--output", dir.file("rle"), "--save-logits", dir.file("logits")], ["--format", "png", "--output", dir.file("png")]] {
            let result = try Samtrack.run(common + extra)
            XCTAssertEqual(result.status, 0, result.summary)
        }
        try runInteropCheck(dir, clip: clip)
        let fm = FileManager.default
        try fm.moveItem(atPath: dir.file("logits/00001_1.npy"), toPath: dir.file("saved.npy"))
        try fm.copyItem(atPath: dir.file("logits/00001_2.npy"), toPath: dir.file("logits/00001_1.npy"))
        try runInteropCheck(dir, clip: clip, expectFailure: true)
        try fm.removeItem(atPath: dir.file("logits/00001_1.npy"))
        try fm.moveItem(atPath: dir.file("saved.npy"), toPath: dir.file("logits/00001_1.npy"))
        let jsonl = dir.file("rle/masks.jsonl")
        let lines = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n")
        try (lines.dropLast().joined(separator: "\n") + "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        try runInteropCheck(dir, clip: clip, expectFailure: true)
    }

    /// Without --quiet the summary names the frames tracked and the size; an image sequence is an input too.
    func testImageSequenceInputAndSummary() throws {
        let ffmpeg = try requiredTool("ffmpeg")
        let dir = try TemporaryDirectory("sequence")
        try FileManager.default.createDirectory(atPath: dir.file("frames"), withIntermediateDirectories: true)
        let made = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", Fixtures.sharedMedia("bedroom.mp4"),
                                                  "-frames:v", "5", "-vf", "scale=320:180", dir.file("frames/%05d.jpg")], timeout: 60)
        XCTAssertEqual(made.status, 0, made.summary)
        let result = try Samtrack.run(["track", dir.file("frames/%05d.jpg"), "--model", Samtrack.microModel,
                                       "--point", "1:160,90", "--output", dir.file("out")])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.contains("tracked 5 frames (320x180)"), result.stderr)
        XCTAssertEqual(try readMasksJSONL(dir.file("out/masks.jsonl")).count, 5)
    }
}
