// Every error `samtrack track` reports (issue 5, CLI): a non-zero exit and a one-line reason on
// stderr that names the problem, nothing on stdout and no mask file left behind.
//
// Exit statuses are samtrack's named codes (`CLIExit`, samtrack(1)): 66 (EX_NOINPUT) when an input
// or the model cannot be opened, 65 (EX_DATAERR) for bad data (a corrupt video or checkpoint, a
// prompt that does not fit the video), 73 for unwritable outputs — stderr is exactly the one line
// "Error: <reason>"; 64 (EX_USAGE) for bad command-line syntax, where ArgumentParser follows the
// reason line with the usage of `samtrack track`.

import Foundation
import XCTest
import TestSupport

final class TrackErrorTests: XCTestCase {
    /// Files the cases use, made once: corrupt media, an audio-only file, bad checkpoints.
    private static let scratch: TemporaryDirectory = {
        let dir = try! TemporaryDirectory("errors")
        try! pseudoRandomBytes(65_536, seed: 7).write(to: URL(fileURLWithPath: dir.file("random.mp4")))
        let model = try! Data(contentsOf: URL(fileURLWithPath: Samtrack.microModel))
        try! model.prefix(model.count / 2).write(to: URL(fileURLWithPath: dir.file("truncated.pt")))
        try! pseudoRandomBytes(4096, seed: 9).write(to: URL(fileURLWithPath: dir.file("random-bytes.pt")))
        try! pseudoRandomBytes(4096, seed: 10).write(to: URL(fileURLWithPath: dir.file("random-bytes.safetensors")))
        try! TrackErrorTests.unrelatedSafetensors().write(to: URL(fileURLWithPath: dir.file("unrelated.safetensors")))
        try! Data("not a file".utf8).write(to: URL(fileURLWithPath: dir.file("regular-file")))
        return dir
    }()

    /// A static value is never released: remove the scratch files when the class is done.
    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: scratch.path)
        super.tearDown()
    }

    /// A valid safetensors file whose one tensor has nothing to do with SAM 2.
    private static func unrelatedSafetensors() -> Data {
        let header = #"{"classifier.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}"#
        var data = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(pseudoRandomBytes(64, seed: 11))
        return data
    }

    private var cups: String { Fixtures.sharedMedia("cups.mp4") }
    private var model: String { Samtrack.microModel }
    private let box = ["--box", "1:100,100,400,400"]

    /// Runs `samtrack track ARGS --output DIR` and checks the exit status and reason.
    /// - Parameter mentions: lower-cased fragments the reason must contain (the problem's name).
    private func expectFailure(_ arguments: [String], status: Int32, mentions: [String],
                               environment: [String: String] = [:],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let out = try TemporaryDirectory("error-out")
        let hasOutput = arguments.contains("--output")
        let result = try Samtrack.run(["track"] + arguments + (hasOutput ? [] : ["--output", out.file("masks")]) + ["--quiet"],
                                      timeout: 120, environment: environment, file: file, line: line)
        let context = "samtrack track \(arguments.joined(separator: " ")):\n\(result.summary)"
        XCTAssertFalse(result.signalled, context, file: file, line: line)
        XCTAssertEqual(result.status, status, context, file: file, line: line)
        let lines = result.stderrLines
        guard let reason = lines.first else {
            XCTFail("no reason on stderr: \(context)", file: file, line: line)
            return
        }
        XCTAssertTrue(reason.hasPrefix("Error: "), "reason line: \(reason)", file: file, line: line)
        for fragment in mentions {
            XCTAssertTrue(reason.lowercased().contains(fragment.lowercased()),
                          "the reason should mention '\(fragment)': \(reason)", file: file, line: line)
        }
        if status == 64 {
            // The usage lines that follow name this subcommand.
            for extra in lines.dropFirst() {
                XCTAssertTrue(extra.hasPrefix("Usage: samtrack track") || extra.hasPrefix("  See 'samtrack track --help'")
                              || extra.hasPrefix("Help:"), "unexpected stderr line: \(extra)", file: file, line: line)
            }
        } else {
            XCTAssertEqual(lines.count, 1, "the reason must be one line: \(context)", file: file, line: line)
        }
        XCTAssertEqual(result.stdout, "", context, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.file("masks/masks.jsonl")),
                       "a failed run left masks.jsonl", file: file, line: line)
    }

    // MARK: Input

    func testMissingInput() throws {
        try expectFailure(["/nonexistent/clip.mp4", "--model", model] + box, status: 66, mentions: ["/nonexistent/clip.mp4", "no such file"])
    }

    func testCorruptInput() throws {
        let path = Self.scratch.file("random.mp4")
        try expectFailure([path, "--model", model] + box, status: 65, mentions: ["random.mp4", "not a readable media file"])
    }

    func testEmptyInputFile() throws {
        let dir = try TemporaryDirectory("empty")
        _ = FileManager.default.createFile(atPath: dir.file("empty.mp4"), contents: Data())
        try expectFailure([dir.file("empty.mp4"), "--model", model] + box, status: 65, mentions: ["empty.mp4", "not a readable media file"])
    }

    func testNoVideoStream() throws {
        let ffmpeg = try requiredTool("ffmpeg")
        let dir = try TemporaryDirectory("audio")
        let made = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                                                  dir.file("tone.m4a")], timeout: 60)
        XCTAssertEqual(made.status, 0, made.summary)
        try expectFailure([dir.file("tone.m4a"), "--model", model] + box, status: 65, mentions: ["tone.m4a", "no video stream"])
    }

    func testDeviceThatCannotBeOpened() throws {
        let device = (9...99).map { "/dev/video\($0)" }.first { !FileManager.default.fileExists(atPath: $0) } ?? "/dev/video99"
        try expectFailure([device, "--model", model] + box, status: 66, mentions: [device, "device"])
    }

    func testUnknownInputFormat() throws {
        try expectFailure([cups, "--model", model, "--input-format", "no-such-format"] + box, status: 65,
                          mentions: ["unknown input format 'no-such-format'"])
    }

    // MARK: Checkpoint

    func testMissingCheckpoint() throws {
        try expectFailure([cups, "--model", "/nonexistent/sam2.1_hiera_tiny.pt"] + box, status: 66,
                          mentions: ["/nonexistent/sam2.1_hiera_tiny.pt", "no such file"])
    }

    func testTruncatedCheckpoint() throws {
        try expectFailure([cups, "--model", Self.scratch.file("truncated.pt")] + box, status: 65, mentions: ["truncated.pt", "truncated"])
    }

    func testRandomBytesCheckpoint() throws {
        try expectFailure([cups, "--model", Self.scratch.file("random-bytes.pt")] + box, status: 65,
                          mentions: ["random-bytes.pt", "not a pytorch (.pt zip) or safetensors checkpoint"])
        try expectFailure([cups, "--model", Self.scratch.file("random-bytes.safetensors")] + box, status: 65,
                          mentions: ["random-bytes.safetensors", "not a pytorch (.pt zip) or safetensors checkpoint"])
        // A pre-1.6 torch.save file.
        try expectFailure([cups, "--model", Fixtures.path("checkpoint/legacy.pt")] + box, status: 65, mentions: ["legacy.pt", "legacy"])
    }

    func testCheckpointThatIsNotSAM2() throws {
        try expectFailure([cups, "--model", Self.scratch.file("unrelated.safetensors")] + box, status: 65,
                          mentions: ["unrelated.safetensors", "not a sam 2 checkpoint"])
        // A real torch.save file (zip + pickle) of unrelated tensors.
        try expectFailure([cups, "--model", Fixtures.path("checkpoint/nested.pt")] + box, status: 65,
                          mentions: ["nested.pt", "not a sam 2 checkpoint"])
        try expectFailure([cups, "--model", Fixtures.path("checkpoint/official.pt")] + box, status: 65,
                          mentions: ["official.pt", "not a sam 2 checkpoint"])
    }

    func testCheckpointThatIsADirectory() throws {
        try expectFailure([cups, "--model", Fixtures.path("models")] + box, status: 66, mentions: ["models", "is a directory"])
    }

    // MARK: Prompts against the video

    func testPromptOutsideTheFrame() throws {
        try expectFailure([cups, "--model", model, "--box", "1:1200,600,1400,800"], status: 65,
                          mentions: ["object 1", "outside", "1280x720"])
        try expectFailure([cups, "--model", model, "--point", "2:-5,10"], status: 65, mentions: ["object 2", "outside"])
        try expectFailure([cups, "--model", model] + box + ["--point", "3@2:100,9000"], status: 65, mentions: ["object 3", "outside"])
    }

    func testMaskOfTheWrongSize() throws {
        let dir = try TemporaryDirectory("mask")
        try makeMaskPNG(dir.file("small.png"), width: 64, height: 48, rect: (4, 4, 20, 20))
        try expectFailure([cups, "--model", model, "--mask", "1:" + dir.file("small.png")], status: 65, mentions: ["object 1", "64x48", "1280x720"])
        try expectFailure([cups, "--model", model, "--mask", "1:/nonexistent/mask.png"], status: 66, mentions: ["/nonexistent/mask.png"])
    }

    func testFirstPromptAfterFrameZero() throws {
        // Issue 23, finding 11: a prompt past the last frame was ignored with exit 0 (cups.mp4 has 300 frames).
        try expectFailure([cups, "--model", model] + box + ["--point", "2@400:100,100"], status: 65,
                          mentions: ["object 2", "frame 400", "past the end"])
    }

    func testPromptsAfterFrameZeroOnAStream() throws {
        // A pipe is read forward only: the default direction tracks it forward from frame 0, which
        // needs a prompt there; an explicit backward pass names the fix.
        let dir = try TemporaryDirectory("late")
        let ffmpeg = try requiredTool("ffmpeg")
        let remux = try ChildProcess.run(ffmpeg, ["-nostdin", "-v", "error", "-i", cups, "-frames:v", "8", "-an",
                                                  "-vf", "scale=320:180", "-f", "mpegts", dir.file("cups.ts")], timeout: 60)
        XCTAssertEqual(remux.status, 0, remux.summary)
        func track(_ extra: [String]) throws -> ProcessResult {
            let child = try ChildProcess(try Samtrack.path(), ["track", "-", "--model", model, "--box", "1@3:10,10,200,150",
                                                               "--output", dir.file("out-\(extra.count)")] + extra,
                                         standardInput: dir.file("cups.ts"))
            XCTAssertTrue(child.wait(timeout: 120))
            return child.result
        }
        let forward = try track([])
        XCTAssertEqual(forward.status, 65, forward.summary)
        XCTAssertTrue(forward.stderr.contains("frame 0"), forward.stderr)
        let both = try track(["--direction", "both"])
        XCTAssertEqual(both.status, 64, both.summary)
        XCTAssertTrue(both.stderr.contains("pipe, stream or device"), both.stderr)
        XCTAssertTrue(both.stderr.contains("--direction forward"), both.stderr)
    }

    // MARK: Object ids

    func testBadObjectIDs() throws {
        for id in ["0", "-1", "abc", "1.5", "", "+-2"] {
            try expectFailure([cups, "--model", model, "--box", "\(id):100,100,400,400"], status: 64,
                              mentions: ["--box", "object id must be a positive integer"])
        }
        try expectFailure([cups, "--model", model, "--box=-1:100,100,400,400"], status: 64, mentions: ["object id"])
        try expectFailure([cups, "--model", model, "--point", "-3:10,10"], status: 64, mentions: ["--point", "object id"])
        try expectFailure([cups, "--model", model, "--mask", "x:mask.png"], status: 64, mentions: ["--mask", "object id"])
    }

    // MARK: Prompt syntax

    func testMalformedPrompts() throws {
        let cases: [([String], [String])] = [
            (["--box", "1-100,100,400,400"], ["--box", "expected id:values"]),
            (["--box", "1:100,100,400"], ["--box", "4 comma-separated numbers"]),
            (["--box", "1:100,100,400,400,500"], ["--box", "4 comma-separated numbers"]),
            (["--box", "1:a,b,c,d"], ["--box", "numbers"]),
            (["--box", "1:nan,1,2,3"], ["--box", "numbers"]),
            (["--box", "1:100,100,400,400", "--box", "1:1,1,2,2"], ["--box", "two boxes"]),
            (["--point", "1:10"], ["--point", "x,y"]),
            (["--point", "1:10,10,2"], ["--point", "label"]),
            (["--point", "1:10,10,1,1"], ["--point", "x,y"]),
            (["--point", "1@x:10,10"], ["--point", "frame"]),
            (["--point", "1@-2:10,10"], ["--point", "frame"]),
            (["--point", "1@2@3:10,10"], ["--point", "id@frame"]),
            (["--mask", "1"], ["--mask", "expected id:file"]),
            (["--mask", "1@2"], ["--mask", "expected id:file"]),
            (["--mask", "@x:mask.png"], ["--mask", "frame"]),
            (["--box", "1:100,100,400,400", "--format", "rle,gif"], ["--format", "gif"]),
            (["--box", "1:100,100,400,400", "--input-option", "video_size"], ["--input-option", "key=value"]),
            (["--box", "1:100,100,400,400", "--input-option", "a=1", "--input-option", "a=2"], ["--input-option", "twice"]),
            (["--box", "1:100,100,400,400", "--progress", "plain"], ["--quiet", "--progress"]),  // expectFailure adds --quiet
        ]
        for (prompt, mentions) in cases {
            try expectFailure([cups, "--model", model] + prompt, status: 64, mentions: mentions)
        }
    }

    func testOtherUsageErrors() throws {
        try expectFailure([cups, "--model", model], status: 64, mentions: ["--box", "--point", "--mask"])
        try expectFailure([cups, "--model", model, "--max-frames", "0"] + box, status: 64, mentions: ["--max-frames"])
        try expectFailure([cups, "--model", model, "--threads", "0"] + box, status: 64, mentions: ["--threads"])
        // Issue 23, finding 11: --threads 100000 never finished; negative numbers said "Missing value".
        try expectFailure([cups, "--model", model, "--threads", "100000"] + box, status: 64, mentions: ["--threads", "4 x the cores"])
        try expectFailure([cups, "--model", model, "--max-frames", "-5"] + box, status: 64, mentions: ["--max-frames", "positive"])
        try expectFailure([cups, "--model", model, "--idle-timeout", "-1"] + box, status: 64, mentions: ["--idle-timeout"])
        try expectFailure([cups, "--model", model, "--fill-holes", "-1"] + box, status: 64, mentions: ["--fill-holes"])
        try expectFailure([cups, "--model", model, "--format", "gif"] + box, status: 64, mentions: ["--format", "gif"])
        // No --model: the default model is used; when it cannot be found, the message says where it looked.
        try expectFailure([cups] + box, status: 66, mentions: ["/nonexistent/default.pt", "--model"],
                          environment: ["SAMTRACK_MODEL": "/nonexistent/default.pt"])
    }

    // MARK: Outputs

    func testUnwritableOutputDirectory() throws {
        // /proc refuses new entries even to root.
        try expectFailure([cups, "--model", model, "--output", "/proc/samtrack-e2e/out"] + box, status: 73,
                          mentions: ["cannot create directory '/proc/samtrack-e2e"])
        // A path under a regular file.
        let blocked = Self.scratch.file("regular-file/out")
        try expectFailure([cups, "--model", model, "--output", blocked] + box, status: 73, mentions: [blocked, "not a directory"])
        // An existing regular file.
        try expectFailure([cups, "--model", model, "--output", Self.scratch.file("regular-file")] + box, status: 73,
                          mentions: ["regular-file"])
        // A read-only directory (root writes anyway, so only checked for other users).
        if geteuid() != 0 {
            let dir = try TemporaryDirectory("readonly")
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path) }
            try expectFailure([cups, "--model", model, "--output", dir.file("out")] + box, status: 73,
                              mentions: [dir.file("out"), "permission"])
        }
    }

    func testUnwritableOverlayAndLogits() throws {
        try expectFailure([cups, "--model", model, "--overlay", "/proc/samtrack-e2e.mp4", "--max-frames", "2"] + box, status: 73,
                          mentions: ["/proc/samtrack-e2e.mp4"])
        try expectFailure([cups, "--model", model, "--save-logits", "/proc/samtrack-e2e-logits", "--max-frames", "2"] + box, status: 73,
                          mentions: ["/proc/samtrack-e2e-logits"])
    }
}
