// Resuming: a TrackingRun stopped part-way (suspended, or stopped with its outputs finished, or
// crashed after a checkpoint) and resumed from its saved state writes a masks.jsonl byte-equal to
// an uninterrupted run's — including prompts added while it ran. (The daemon's side, restarts
// and crashes, is in TrackingDaemonTests/RecoveryTests.)

import Foundation
import Synchronization
import XCTest
import Export
import SAM2
import TestSupport
@testable import TrackingRun

/// A temporary directory removed by `cleanUp()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "samtrack-run-test") {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ relative: String) -> String { (path as NSString).appendingPathComponent(relative) }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// The shared test video and the micro model.
enum TestMedia {
    static let bedroom = Fixtures.sharedMedia("bedroom.mp4")
    static let microModel = Fixtures.path("models/micro.pt")
}

/// Values appended from `@Sendable` callbacks.
final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func append(_ value: Value) { values.withLock { $0.append(value) } }
    func append(contentsOf more: [Value]) { values.withLock { $0 += more } }
    var all: [Value] { values.withLock { $0 } }
}

final class ResumeTests: XCTestCase {
    static let model: SAM2Model = try! SAM2Model.load(checkpoint: TestMedia.microModel)

    func request(_ directory: String, frames: Int = 30) -> TrackingRequest {
        TrackingRequest(input: TestMedia.bedroom,
                        prompts: [TrackingPrompt(objectID: 1, kind: .points(ImagePrompt(box: (300, 150, 520, 500)))),
                                  TrackingPrompt(objectID: 2, kind: .points(ImagePrompt(points: [(x: 700, y: 300, label: 1)])))],
                        output: OutputOptions(directory: directory), maxFrames: frames)
    }

    /// Object 3 added while running, after frame 8 was tracked (so it applies to frame 9).
    let added = TrackingPrompt(objectID: 3, kind: .points(ImagePrompt(box: (600, 200, 800, 400))))

    func uninterrupted(_ dir: TemporaryDirectory) throws -> String {
        let run = TrackingRun(model: Self.model, request: request(dir.file("reference")))
        try run.run { p in if p.frame == 8 { try! run.addPrompt(self.added) } }
        return try String(contentsOfFile: dir.file("reference/masks.jsonl"), encoding: .utf8)
    }

    /// First part: checkpoints every 5 frames, prompt added after frame 8, then `stopAt` is called
    /// after frame `at`. Returns the prompts applied (with their frames).
    func firstPart(_ dir: TemporaryDirectory, at: Int, stopAt: (TrackingRun) -> Void) throws -> (TrackingSummary, [TrackingPrompt]) {
        let applied = Recorder<TrackingPrompt>(), checkpoints = Recorder<Int>()
        let hooks = RunHooks(checkpoint: CheckpointOptions(statePath: dir.file("state.safetensors"), everyFrames: 5),
                             onCheckpoint: { checkpoints.append($0) },
                             onPromptsApplied: { _, prompts in applied.append(contentsOf: prompts) })
        let run = TrackingRun(model: Self.model, request: request(dir.file("out")), hooks: hooks)
        let summary = try run.run { p in
            if p.frame == 8 { try! run.addPrompt(self.added) }
            if p.frame == at { stopAt(run) }
        }
        XCTAssertEqual(Array(checkpoints.all.prefix(2)), [4, 9])
        XCTAssertEqual(applied.all.map(\.frame), [9])
        return (summary, applied.all)
    }

    func resume(_ dir: TemporaryDirectory, applied: [TrackingPrompt], expectAfter: Int) throws -> String {
        let fallback = Recorder<String>()
        let hooks = RunHooks(checkpoint: CheckpointOptions(statePath: dir.file("state.safetensors"), everyFrames: 5),
                             resume: ResumePoint(statePath: dir.file("state.safetensors"), appliedPrompts: applied),
                             onResumeFallback: { fallback.append($0) })
        let run = TrackingRun(model: Self.model, request: request(dir.file("out")), hooks: hooks)
        var frames: [Int] = []
        let summary = try run.run { frames.append($0.frame) }
        XCTAssertEqual(fallback.all, [])
        XCTAssertEqual(summary.resumedAfterFrame, expectAfter)
        XCTAssertEqual(frames, Array((expectAfter + 1)..<30))
        return try String(contentsOfFile: dir.file("out/masks.jsonl"), encoding: .utf8)
    }

    func testSuspendedRunResumesToIdenticalOutput() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let expected = try uninterrupted(dir)
        let (summary, applied) = try firstPart(dir, at: 16) { $0.suspend() }
        XCTAssertTrue(summary.suspended)
        XCTAssertEqual(summary.checkpointFrame, 16, "suspending saves the state at the last frame tracked")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file("out/masks.jsonl.partial")), "outputs stay resumable")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("out/masks.jsonl")))
        let resumed = try resume(dir, applied: applied, expectAfter: 16)
        XCTAssertEqual(resumed, expected)
    }

    /// Stopped with its outputs finished after frame 17, the state saved at 14: lines 15-17 of the
    /// finished file are dropped and tracked again (the crash between finishing and recording).
    func testResumeFromAnEarlierCheckpointDropsLaterLines() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let expected = try uninterrupted(dir)
        let (summary, applied) = try firstPart(dir, at: 17) { $0.stop() }
        XCTAssertTrue(summary.stopped)
        XCTAssertEqual(summary.checkpointFrame, 14)
        XCTAssertEqual(try String(contentsOfFile: dir.file("out/masks.jsonl"), encoding: .utf8).split(separator: "\n").count, 18)
        let resumed = try resume(dir, applied: applied, expectAfter: 14)
        XCTAssertEqual(resumed, expected)
    }

    /// A crash leaves a cut-off last line after the checkpoint.
    func testResumeAfterACrashWithATornLine() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let expected = try uninterrupted(dir)
        let (_, applied) = try firstPart(dir, at: 12) { $0.suspend() }
        // Simulate the state at frame 9 with frames 10-12 written and frame 13 half written.
        let run = TrackingRun(model: Self.model, request: request(dir.file("scratch")),
                              hooks: RunHooks(checkpoint: CheckpointOptions(statePath: dir.file("state9.safetensors"), everyFrames: 10)))
        try run.run { p in
            if p.frame == 8 { try! run.addPrompt(self.added) }
            if p.frame == 9 { run.suspend() }
        }
        try FileManager.default.removeItem(atPath: dir.file("state.safetensors"))
        try FileManager.default.moveItem(atPath: dir.file("state9.safetensors"), toPath: dir.file("state.safetensors"))
        let partial = FileHandle(forWritingAtPath: dir.file("out/masks.jsonl.partial"))!
        partial.seekToEndOfFile()
        partial.write(Data("{\"frame\": 13, \"pts\": 0.4, \"obj".utf8))
        partial.closeFile()
        let resumed = try resume(dir, applied: applied, expectAfter: 9)
        XCTAssertEqual(resumed, expected)
    }

    func testUnusableStateStartsAgainFromFrameZero() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let reference = TrackingRun(model: Self.model, request: request(dir.file("reference"), frames: 12))
        try reference.run()
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir.file("state.safetensors")))
        let fallback = Recorder<String>()
        let run = TrackingRun(model: Self.model, request: request(dir.file("out"), frames: 12),
                              hooks: RunHooks(resume: ResumePoint(statePath: dir.file("state.safetensors")),
                                              onResumeFallback: { fallback.append($0) }))
        let summary = try run.run()
        XCTAssertEqual(fallback.all.count, 1)
        XCTAssertNil(summary.resumedAfterFrame)
        XCTAssertEqual(summary.framesTracked, 12)
        XCTAssertEqual(try String(contentsOfFile: dir.file("out/masks.jsonl"), encoding: .utf8),
                       try String(contentsOfFile: dir.file("reference/masks.jsonl"), encoding: .utf8))
    }
}
