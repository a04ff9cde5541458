// Resuming: a TrackingRun stopped part-way (suspended, or stopped with its outputs finished, or
// crashed after a checkpoint) and resumed from its saved state writes a masks.jsonl byte-equal to
// an uninterrupted run's — including prompts added while it ran. And the JobManager side: a
// drained daemon resumes its jobs on the next start; jobs found running after a crash are resumed,
// or marked interrupted (live), or failed after repeated crashes.

import Foundation
import XCTest
import Export
import SAM2
import TestSupport
@testable import TrackingService

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
        let run = TrackingRun(model: Self.model, request: request(dir.file("out")))
        run.checkpoint = CheckpointOptions(statePath: dir.file("state.safetensors"), everyFrames: 5)
        var applied: [TrackingPrompt] = []
        var checkpoints: [Int] = []
        run.onPromptsApplied = { _, prompts in applied += prompts }
        run.onCheckpoint = { checkpoints.append($0) }
        let summary = try run.run { p in
            if p.frame == 8 { try! run.addPrompt(self.added) }
            if p.frame == at { stopAt(run) }
        }
        XCTAssertEqual(Array(checkpoints.prefix(2)), [4, 9])
        XCTAssertEqual(applied.map(\.frame), [9])
        return (summary, applied)
    }

    func resume(_ dir: TemporaryDirectory, applied: [TrackingPrompt], expectAfter: Int) throws -> String {
        let run = TrackingRun(model: Self.model, request: request(dir.file("out")))
        run.checkpoint = CheckpointOptions(statePath: dir.file("state.safetensors"), everyFrames: 5)
        run.resume = ResumePoint(statePath: dir.file("state.safetensors"), appliedPrompts: applied)
        var fallback: String?
        run.onResumeFallback = { fallback = $0 }
        var frames: [Int] = []
        let summary = try run.run { frames.append($0.frame) }
        XCTAssertNil(fallback)
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
        let run = TrackingRun(model: Self.model, request: request(dir.file("scratch")))
        run.checkpoint = CheckpointOptions(statePath: dir.file("state9.safetensors"), everyFrames: 10)
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
        let run = TrackingRun(model: Self.model, request: request(dir.file("out"), frames: 12))
        run.resume = ResumePoint(statePath: dir.file("state.safetensors"))
        var fallback: String?
        run.onResumeFallback = { fallback = $0 }
        let summary = try run.run()
        XCTAssertNotNil(fallback)
        XCTAssertNil(summary.resumedAfterFrame)
        XCTAssertEqual(summary.framesTracked, 12)
        XCTAssertEqual(try String(contentsOfFile: dir.file("out/masks.jsonl"), encoding: .utf8),
                       try String(contentsOfFile: dir.file("reference/masks.jsonl"), encoding: .utf8))
    }

    // MARK: - Manager

    /// SIGTERM path: drain suspends the running job; the next manager on the same data resumes it.
    func testDrainedJobResumesOnTheNextStart() async throws {
        let first = try ServiceHarness(checkpointEvery: 10)
        defer { first.directory.cleanUp() }
        let id = await first.submit(first.jobBody(maxFrames: 45, path: "resumed"))
        let queuedBehind = await first.submit(first.jobBody(maxFrames: 3, path: "behind"))
        _ = await first.events(id) { ($0.id ?? 0) >= 12 }
        await first.shutdown()
        let interrupted = try XCTUnwrap(first.store.job(id))
        XCTAssertEqual(interrupted.status, .interrupted)
        XCTAssertTrue(interrupted.resumable)
        let checkpoint = try XCTUnwrap(interrupted.checkpointFrame)
        XCTAssertGreaterThanOrEqual(checkpoint, 12)
        XCTAssertEqual(try first.store.job(queuedBehind)?.status, .queued, "queued jobs stay queued")

        let second = try ServiceHarness(checkpointEvery: 10, reuse: first.directory)
        let events = await second.events(id)
        XCTAssertEqual(events.first { $0.name == "frame" }?.id, checkpoint + 1, "resumed after the checkpoint")
        XCTAssertEqual(events.last?.json["status"] as? String, "succeeded")
        let job = await second.job(id)
        XCTAssertEqual(job["attempts"] as? Int, 2)
        XCTAssertEqual(job["frames_done"] as? Int, 45)
        let behind = await second.events(queuedBehind)
        XCTAssertEqual(behind.last?.json["status"] as? String, "succeeded")
        // Identical to an uninterrupted job.
        let reference = await second.submit(second.jobBody(maxFrames: 45, path: "reference"))
        _ = await second.events(reference)
        XCTAssertEqual(try second.masks("resumed"), try second.masks("reference"))
        await second.shutdown()
    }

    /// Records left by a daemon that died: file jobs resume, live jobs become interrupted, a job
    /// that keeps killing the daemon is failed.
    func testJobsFoundRunningAfterACrash() async throws {
        let first = try ServiceHarness(start: false)
        defer { first.directory.cleanUp() }
        func insert(_ path: String, live: Bool, crashes: Int) throws -> String {
            var body = first.jobBody(maxFrames: 3, path: path)
            if live { body["source"] = "udp://127.0.0.1:9" }
            let spec = try JSONDecoder().decode(JobSpec.self, from: JSONSerialization.data(withJSONObject: body))
            var record = JobRecord(id: UUID().uuidString.lowercased(), spec: spec, status: .running,
                                   outputDirectory: (first.config.outputRoot as NSString).appendingPathComponent(path),
                                   live: live, createdAt: Date())
            record.crashes = crashes
            record.attempts = crashes + 1
            return try first.store.insert(record).id
        }
        let file = try insert("file", live: false, crashes: 0)
        let live = try insert("live", live: true, crashes: 0)
        let doomed = try insert("doomed", live: false, crashes: 2)
        let second = try ServiceHarness(reuse: first.directory)
        let resumed = await second.events(file)
        XCTAssertEqual(resumed.last?.json["status"] as? String, "succeeded")
        XCTAssertEqual(try second.store.job(file)?.crashes, 1)
        let liveJob = try XCTUnwrap(second.store.job(live))
        XCTAssertEqual(liveJob.status, .interrupted)
        XCTAssertFalse(liveJob.resumable)
        let doomedJob = try XCTUnwrap(second.store.job(doomed))
        XCTAssertEqual(doomedJob.status, .failed)
        XCTAssertEqual(doomedJob.errorCode, "crashed")
        await second.shutdown()
    }
}
