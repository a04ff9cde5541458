// Recovery: a drained daemon resumes its jobs on the next start; jobs found running after a crash
// are resumed, or marked interrupted (live), or failed after repeated crashes.

import Foundation
import XCTest
import Export
import SAM2
import TestSupport
import TrackingRun
@testable import TrackingDaemon

final class RecoveryTests: XCTestCase {
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
