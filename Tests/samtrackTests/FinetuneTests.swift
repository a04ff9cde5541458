// `samtrack finetune` end to end on the micro model: a tiny DAVIS folder generated here (textured
// squares moving over stripes, palette annotations), a few steps at a high learning rate; the loss
// falls, the written .pt loads in `samtrack info` and `samtrack track`, `--resume` continues to the
// same weights as an uninterrupted run, and bad data is an error naming the file. When the
// reference virtualenv exists, the official code loads the .pt strictly
// (Tools/reference/check_finetuned_checkpoint.py); CI has no torch, so that part is skipped there.

import Export
import Foundation
import Media
import XCTest
import TestSupport

final class FinetuneTests: XCTestCase {
    static let size = 64

    /// DIR/JPEGImages/seqNN/0000t.png and DIR/Annotations/seqNN/0000t.png: one object, a bright
    /// dotted square that moves 3 px a frame over a striped background.
    static func makeDAVIS(_ root: String, sequences: Int, frames: Int) throws {
        let png = PNGWriter(), n = size
        for s in 0..<sequences {
            let images = "\(root)/JPEGImages/seq\(s)", annotations = "\(root)/Annotations/seq\(s)"
            try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: annotations, withIntermediateDirectories: true)
            for t in 0..<frames {
                let (x0, y0, side) = (8 + 3 * t + 4 * s, 14 + 2 * s, 22 + 2 * (s % 3))
                var rgb = [UInt8](repeating: 0, count: n * n * 3), ids = [UInt8](repeating: 0, count: n * n)
                for y in 0..<n {
                    for x in 0..<n {
                        let i = y * n + x
                        let inside = x >= x0 && x < x0 + side && y >= y0 && y < y0 + side
                        let stripe = UInt8(((x + y + s) / 5 % 2) * 50 + 40)
                        let value: (UInt8, UInt8, UInt8) = inside ? ((x * 7 + y * 3) % 9 == 0 ? (150, 150, 60) : (230, 210, 90))
                                                                  : (stripe, stripe / 2 + 30, 120)
                        (rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) = value
                        if inside { ids[i] = 1 }
                    }
                }
                let name = String(format: "%05d.png", t)
                try png.writeRGB(RGBImage(width: n, height: n, pixels: rgb), to: "\(images)/\(name)")
                try png.writeIndexed(ids, width: n, height: n, palette: DAVISPalette.bytes, to: "\(annotations)/\(name)")
            }
        }
    }

    /// Arguments of a short, fast run (high rates so that a few steps change the loss visibly).
    static func arguments(data: String, output: String, steps: Int) -> [String] {
        ["finetune", "--model", Samtrack.microModel, "--data", data, "--output", output, "--steps", "\(steps)",
         "--batch", "2", "--lr-decoder", "2e-3", "--lr-prompt-encoder", "1e-3", "--warmup", "0", "--schedule", "constant",
         "--corrections", "1", "--holdout", "0.34", "--eval-every", "10", "--seed", "7", "--threads", "1"]
    }

    func testFinetuneLowersTheLossAndWritesACheckpointSamtrackLoads() throws {
        let dir = try TemporaryDirectory("finetune")
        let data = dir.file("davis")
        try Self.makeDAVIS(data, sequences: 3, frames: 4)
        let output = dir.file("out/tuned.pt")
        try FileManager.default.createDirectory(atPath: dir.file("out"), withIntermediateDirectories: true)
        let result = try Samtrack.run(Self.arguments(data: data, output: output, steps: 30), timeout: 900)
        XCTAssertEqual(result.status, 0, result.summary)
        // "davis data: 3 sequences, ...", one line per evaluation, the summary with the loss trend.
        XCTAssertTrue(result.stderr.contains("davis data: 3 sequences, 12 annotated frames"), result.stderr)
        let summary = try XCTUnwrap(result.stderrLines.last { $0.hasPrefix("trained 30 steps") }, result.stderr)
        let trend = try XCTUnwrap(summary.firstMatch(of: /loss ([0-9.]+) -> ([0-9.]+)/), summary)
        let (first, last) = (Double(trend.1)!, Double(trend.2)!)
        XCTAssertLessThan(last, first * 0.9, "the loss falls: \(summary)")
        let iou = try XCTUnwrap(summary.firstMatch(of: /held-out mean IoU ([0-9.]+) -> ([0-9.]+)/), summary)
        XCTAssertGreaterThanOrEqual(Double(iou.2)!, Double(iou.1)!, "held-out IoU does not fall: \(summary)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: output + ".state"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file("out/tuned.json")), "the config sidecar is copied")

        // samtrack loads it like any checkpoint: info, and tracking one sequence from a box.
        let info = try Samtrack.run(["info", output])
        XCTAssertEqual(info.status, 0, info.summary)
        XCTAssertTrue(info.stdout.contains("micro_sam2.1 (SAM 2.1)"), info.stdout)
        let tracked = try Samtrack.run(["track", data + "/JPEGImages/seq0", "--model", output, "--box", "1:8,14,30,36",
                                        "--output", dir.file("track"), "--quiet"], timeout: 300)
        XCTAssertEqual(tracked.status, 0, tracked.summary)
        XCTAssertEqual(try readMasksJSONL(dir.file("track/masks.jsonl")).count, 4)

        // The official code loads it (strict), when the reference virtualenv is there.
        let venv = ProcessInfo.processInfo.environment["SAMTRACK_VENV"]
            ?? Fixtures.repositoryRoot.appendingPathComponent("Tools/reference/.venv").path
        let python = venv + "/bin/python"
        if FileManager.default.isExecutableFile(atPath: python) {
            let script = Fixtures.repositoryRoot.appendingPathComponent("Tools/reference/check_finetuned_checkpoint.py").path
            let check = try ChildProcess.run(python, [script, output, "--base", Samtrack.microModel], timeout: 600)
            XCTAssertEqual(check.status, 0, check.summary)
            XCTAssertTrue(check.stdout.contains("loaded strict"), check.stdout)
        } else {
            print("no reference virtualenv at \(venv): the official loading check is skipped")
        }
    }

    func testResumeEndsWithTheSameWeightsAsOneRun() throws {
        let dir = try TemporaryDirectory("finetune-resume")
        let data = dir.file("davis")
        try Self.makeDAVIS(data, sequences: 2, frames: 3)
        let whole = try Samtrack.run(Self.arguments(data: data, output: dir.file("whole.pt"), steps: 6), timeout: 600)
        XCTAssertEqual(whole.status, 0, whole.summary)
        let part = try Samtrack.run(Self.arguments(data: data, output: dir.file("part.pt"), steps: 3), timeout: 600)
        XCTAssertEqual(part.status, 0, part.summary)
        let resumed = try Samtrack.run(Self.arguments(data: data, output: dir.file("part.pt"), steps: 6) + ["--resume"], timeout: 600)
        XCTAssertEqual(resumed.status, 0, resumed.summary)
        XCTAssertTrue(resumed.stderr.contains("trained 6 steps"), resumed.stderr)
        let a = try Data(contentsOf: URL(fileURLWithPath: dir.file("whole.pt")))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir.file("part.pt")))
        XCTAssertEqual(a, b, "a resumed run ends with the bytes of an uninterrupted one")
        // Resuming with another option is refused (usage), naming the state file.
        var changed = Self.arguments(data: data, output: dir.file("part.pt"), steps: 8) + ["--resume"]
        changed[changed.firstIndex(of: "--batch")! + 1] = "3"
        let refused = try Samtrack.run(changed, timeout: 600)
        XCTAssertEqual(refused.status, 64, refused.summary)
        XCTAssertTrue(refused.stderr.contains(dir.file("part.pt.state")) && refused.stderr.contains("batch"), refused.stderr)
        // Nothing to resume.
        let nothing = try Samtrack.run(Self.arguments(data: data, output: dir.file("none.pt"), steps: 2) + ["--resume"], timeout: 600)
        XCTAssertEqual(nothing.status, 64, nothing.summary)
        XCTAssertTrue(nothing.stderr.contains(dir.file("none.pt.state")), nothing.stderr)
    }

    func testCtrlCSavesTheWeightsAndTheRunResumes() throws {
        let dir = try TemporaryDirectory("finetune-interrupt")
        let data = dir.file("davis")
        try Self.makeDAVIS(data, sequences: 2, frames: 3)
        let output = dir.file("stopped.pt")
        var arguments = Self.arguments(data: data, output: output, steps: 100_000)
        arguments[arguments.firstIndex(of: "--eval-every")! + 1] = "0"
        let run = try ChildProcess(try Samtrack.path(), arguments)
        defer { run.terminate() }
        // The held-out evaluation before the first step is printed once the features are ready.
        let deadline = Date().addingTimeInterval(300)
        while !run.stderrSoFar.contains("step 0: held-out") && run.isRunning && Date() < deadline { usleep(100_000) }
        XCTAssertTrue(run.stderrSoFar.contains("step 0: held-out"), run.stderrSoFar)
        usleep(1_500_000)
        run.send(SIGINT)
        XCTAssertTrue(run.wait(timeout: 120), "finetune stops after the current step")
        let result = run.result
        XCTAssertEqual(result.status, 130, result.summary)
        let stopped = try XCTUnwrap(result.stderr.firstMatch(of: /stopped after step ([0-9]+)/), result.stderr)
        let steps = Int(stopped.1)!
        XCTAssertGreaterThan(steps, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("continue with --resume"), result.stderr)
        let info = try Samtrack.run(["info", output])
        XCTAssertEqual(info.status, 0, "the weights are written on Ctrl-C: \(info.summary)")
        // --resume continues from the saved step (--steps may grow).
        let resumed = try Samtrack.run(Self.arguments(data: data, output: output, steps: steps + 2) + ["--resume"], timeout: 600)
        XCTAssertEqual(resumed.status, 0, resumed.summary)
        XCTAssertTrue(resumed.stderr.contains("trained \(steps + 2) steps"), resumed.stderr)
    }

    func testBadDataNamesTheFile() throws {
        let dir = try TemporaryDirectory("finetune-bad")
        let data = dir.file("davis")
        try Self.makeDAVIS(data, sequences: 2, frames: 2)
        let annotation = data + "/Annotations/seq1/00001.png"
        try PNGWriter().writeIndexed([UInt8](repeating: 1, count: 20 * 10), width: 20, height: 10, palette: DAVISPalette.bytes,
                                     to: annotation)
        let wrong = try Samtrack.run(Self.arguments(data: data, output: dir.file("o.pt"), steps: 1), timeout: 300)
        XCTAssertEqual(wrong.status, 65, wrong.summary)
        XCTAssertTrue(wrong.stderr.contains(annotation) && wrong.stderr.contains("20x10"), wrong.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("o.pt")))
        let missing = try Samtrack.run(Self.arguments(data: dir.file("nowhere"), output: dir.file("o.pt"), steps: 1), timeout: 300)
        XCTAssertEqual(missing.status, 66, missing.summary)
        XCTAssertTrue(missing.stderr.contains(dir.file("nowhere")), missing.stderr)
    }
}
