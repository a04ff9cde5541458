// Outputs without surprises (issue 26, item 4):
// - a non-empty output directory is refused (exit 73, nothing touched) unless --overwrite, which
//   removes only samtrack's own earlier outputs (stale palette PNGs, object folders, logits of a
//   longer run are gone) and refuses, touching nothing, a directory that also holds other files;
// - several --format at once write every layout, and the three agree pixel for pixel (RLE decoded
//   with Export's COCORLE, PNGs with Media's StillImage);
// - run.json records the source, the model with its SHA-256 (checked against sha256sum), the
//   prompts, the outputs, the version, the frames and why the run ended.

import Export
import Foundation
import Media
import XCTest
import TestSupport

final class OutputDirectoryAndManifestTests: XCTestCase {
    private var bedroom: String { Fixtures.sharedMedia("bedroom.mp4") }
    private let prompts = ["--box", "1:100,100,400,400", "--point", "2:700,300"]

    private func track(_ extra: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        try Samtrack.run(["track", bedroom, "--model", Samtrack.microModel] + prompts + ["--progress", "none"] + extra,
                         timeout: 300, file: file, line: line)
    }

    /// Every entry under `path`, as relative paths, sorted.
    private func tree(_ path: String) -> [String] {
        ((FileManager.default.enumerator(atPath: path)?.allObjects as? [String]) ?? []).sorted()
    }

    func testNonEmptyOutputDirectoryIsRefusedUnlessOverwrite() throws {
        let dir = try TemporaryDirectory("overwrite")
        let out = dir.file("out")
        var result = try track(["--max-frames", "4", "--format", "palette,png,rle", "--output", out, "--save-logits", out])
        XCTAssertEqual(result.status, 0, result.summary)
        let first = tree(out)
        XCTAssertTrue(first.contains("00003.png") && first.contains("1/00003.png") && first.contains("00003_2.npy"), "\(first)")

        // Again into the same directory: refused, nothing changed.
        result = try track(["--max-frames", "2", "--output", out])
        XCTAssertEqual(result.status, 73, result.summary)
        XCTAssertEqual(result.stderrLines.count, 1, result.stderr)
        for fragment in ["not empty", out, "--overwrite"] { XCTAssertTrue(result.stderr.contains(fragment), result.stderr) }
        XCTAssertEqual(tree(out), first)

        // --overwrite: only this run's outputs remain (no stale frames 2-3, no PNGs or logits).
        result = try track(["--max-frames", "2", "--output", out, "--overwrite", "--overlay", dir.file("out/overlay.mp4")])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(tree(out), ["masks.jsonl", "overlay.mp4", "run.json"])
        XCTAssertEqual(try readMasksJSONL(dir.file("out/masks.jsonl")).count, 2)

        // The overlay inside the directory is this run's own file, replaced again with --overwrite.
        result = try track(["--max-frames", "2", "--output", out, "--overwrite", "--overlay", dir.file("out/overlay.mp4")])
        XCTAssertEqual(result.status, 0, result.summary)

        // A file samtrack did not write: --overwrite refuses and removes nothing.
        try Data("mine".utf8).write(to: URL(fileURLWithPath: dir.file("out/notes.txt")))
        let before = tree(out)
        result = try track(["--max-frames", "2", "--output", out, "--overwrite"])
        XCTAssertEqual(result.status, 73, result.summary)
        for fragment in ["notes.txt", "overlay.mp4", "not removed"] { XCTAssertTrue(result.stderr.contains(fragment), result.stderr) }
        XCTAssertEqual(tree(out), before)
    }

    func testSeveralFormatsAgree() throws {
        let dir = try TemporaryDirectory("formats")
        let frames = 3
        let result = try track(["--max-frames", "\(frames)", "--format", "rle", "--format", "png,palette", "--format", "rle",
                                "--output", dir.file("out")])
        XCTAssertEqual(result.status, 0, result.summary)
        let records = try readMasksJSONL(dir.file("out/masks.jsonl"))
        XCTAssertEqual(records.count, frames)
        for record in records {
            let frame = try XCTUnwrap(record["frame"] as? Int)
            let palette = try StillImage.load(dir.file("out/\(OutputLayout.framePNGName(frame))"))
            guard case let .indexed(ids) = palette.pixels else { return XCTFail("not a palette PNG") }
            var masks: [Int: BinaryMask] = [:]
            for object in try XCTUnwrap(record["objects"] as? [[String: Any]]) {
                let id = try XCTUnwrap(object["id"] as? Int)
                let rle = try XCTUnwrap(object["rle"] as? [String: Any])
                let size = try XCTUnwrap(rle["size"] as? [Int])
                let mask = try COCORLE(height: size[0], width: size[1], compressed: try XCTUnwrap(rle["counts"] as? String)).decoded()
                let grey = try StillImage.load(dir.file("out/\(id)/\(OutputLayout.framePNGName(frame))"))
                guard case let .grey(levels) = grey.pixels else { return XCTFail("not a grey PNG") }
                XCTAssertEqual(levels.map { $0 != 0 }, mask.pixels.map { $0 != 0 }, "frame \(frame) object \(id): png != rle")
                masks[id] = mask
            }
            XCTAssertEqual(masks.keys.sorted(), [1, 2])
            // The palette shows each object wherever it is the only one.
            for (i, id) in ids.enumerated() {
                let owners = masks.filter { $0.value.pixels[i] != 0 }.map(\.key)
                if owners.count <= 1 { XCTAssertEqual(Int(id), owners.first ?? 0, "frame \(frame) pixel \(i)") }
            }
        }
        let manifest = try manifestJSON(dir.file("out"))
        XCTAssertEqual((manifest["outputs"] as? [String: Any])?["formats"] as? [String], ["rle", "png", "palette"])
    }

    func testManifestRecordsTheRun() throws {
        let dir = try TemporaryDirectory("manifest")
        let result = try track(["--max-frames", "3", "--output", dir.file("out"), "--fill-holes", "4"])
        XCTAssertEqual(result.status, 0, result.summary)
        let manifest = try manifestJSON(dir.file("out"))
        let version = try Samtrack.run(["--version"], timeout: 60).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(manifest["samtrack_version"] as? String, version)
        XCTAssertEqual(manifest["end_reason"] as? String, "max_frames")
        XCTAssertEqual(manifest["frames_tracked"] as? Int, 3)
        XCTAssertEqual((manifest["command"] as? [String])?.dropFirst().first, "track")
        let source = try XCTUnwrap(manifest["source"] as? [String: Any])
        XCTAssertEqual(source["input"] as? String, bedroom)
        XCTAssertEqual(source["width"] as? Int, 960)
        XCTAssertEqual(source["height"] as? Int, 540)
        let model = try XCTUnwrap(manifest["model"] as? [String: Any])
        XCTAssertEqual(model["path"] as? String, Samtrack.microModel)
        let sha256sum = try ChildProcess.run(try requiredTool("sha256sum"), [Samtrack.microModel], timeout: 60)
        XCTAssertEqual(model["sha256"] as? String, sha256sum.stdout.split(separator: " ").first.map(String.init))
        XCTAssertEqual(model["bytes"] as? Int,
                       (try FileManager.default.attributesOfItem(atPath: Samtrack.microModel)[.size] as? NSNumber)?.intValue)
        let recorded = try XCTUnwrap(manifest["prompts"] as? [[String: Any]])
        XCTAssertEqual(recorded.count, 2)
        XCTAssertEqual(recorded[0]["object"] as? Int, 1)
        XCTAssertEqual(jsonNumbers(recorded[0]["box"]), [100, 100, 400, 400])
        XCTAssertEqual((recorded[1]["points"] as? [Any])?.map(jsonNumbers), [[700, 300, 1]])
        XCTAssertEqual((manifest["options"] as? [String: String])?["fill_holes"], "4")
        XCTAssertEqual((manifest["options"] as? [String: String])?["max_frames"], "3")
        let timings = try XCTUnwrap(manifest["timings"] as? [String: Any])
        XCTAssertGreaterThan(jsonNumbers([timings["total_seconds"] as Any])?.first ?? 0, 0)
        XCTAssertNotNil(manifest["started_at"] as? String)
        XCTAssertNotNil(manifest["finished_at"] as? String)
    }
}

/// DIR/run.json, parsed.
func manifestJSON(_ directory: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent("run.json"))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], file: file, line: line)
}

/// A JSON array of numbers as Doubles (JSONSerialization gives integers for "100").
func jsonNumbers(_ value: Any?) -> [Double]? {
    guard let array = value as? [Any] else { return nil }
    let numbers = array.compactMap { item -> Double? in
        if let number = item as? NSNumber { return number.doubleValue }
        if let int = item as? Int { return Double(int) }
        return item as? Double
    }
    return numbers.count == array.count ? numbers : nil
}
