// Issue 23's findings at the daemon library, each with the exact shape that broke it: an
// overflowing mask size (finding 1), memory amplification by mask prompts (6), damaged job rows
// (7), a deleted job database beside checkpoints and outputs (8), and the smaller refusals that
// used to be accepted and fail later (11).

import Foundation
import GRDB
import XCTest
import Export
import TestSupport
import TrackingRun
@testable import TrackingDaemon

final class HardeningTests: XCTestCase {
    /// Finding 1: `{"size": [4294967296, 4294967296], "counts": [0]}` killed the daemon (SIGILL)
    /// on POST /v1/jobs and on POST /v1/jobs/{any id}/prompts. Now a 400, and the daemon serves on.
    func testOverflowingMaskSizesAreRefused() async throws {
        let h = try ServiceHarness(start: false)
        defer { h.directory.cleanUp() }
        let sizes: [[Any]] = [[4294967296, 4294967296], [Int64.max, 2], [-1, 5], [3037000500, 3037000500], [1 << 40, 0]]
        for size in sizes {
            let mask: [String: Any] = ["size": size, "counts": [0]]
            var body = h.jobBody()
            body["prompts"] = [["object": 1, "mask": mask]]
            let created = await h.call("POST", "/v1/jobs", json: body)
            // An RLE that cannot describe a mask is 422 bad_mask; an empty one (0 pixels) 400 invalid_prompt.
            XCTAssertTrue([400, 422].contains(created.status), "\(size): \(created.text)")
            XCTAssertTrue(["bad_mask", "invalid_prompt"].contains(created.errorCode ?? ""), "\(size): \(created.text)")
            let added = await h.call("POST", "/v1/jobs/00000000-0000-0000-0000-000000000000/prompts",
                                     json: ["object": 1, "mask": mask])
            XCTAssertTrue([400, 422].contains(added.status), "\(size): \(added.text)")
            XCTAssertTrue(["bad_mask", "invalid_prompt"].contains(added.errorCode ?? ""), "\(size): \(added.text)")
        }
        let health = await h.call("GET", "/healthz")
        XCTAssertEqual(health.status, 200)
    }

    /// Finding 6: a 238 KB body with 1,024 mask prompts on a 1280x720 source took the daemon to
    /// 1.32 GB. Decoded mask pixels per request are bounded before anything is decoded.
    func testMaskPromptsAreBoundedBeforeDecoding() async throws {
        let h = try ServiceHarness(limits: .init(maxRunningJobs: 1, maxObjectsPerJob: 2048, maxBodyBytes: 8 << 20), start: false)
        defer { h.directory.cleanUp() }
        let full = ["size": [720, 1280], "counts": [0, 921_600]] as [String: Any]
        var body = h.jobBody()
        body["prompts"] = (1...1024).map { ["object": $0, "mask": full] }
        let reply = await h.call("POST", "/v1/jobs", json: body)
        XCTAssertEqual(reply.status, 413, reply.text)
        XCTAssertEqual(reply.errorCode, "prompts_too_large")
        XCTAssertTrue(reply.text.contains("max_prompt_pixels"), reply.text)
        let added = await h.call("POST", "/v1/jobs/00000000-0000-0000-0000-000000000000/prompts",
                                 json: ["prompts": (1...64).map { ["object": $0, "mask": full] }])
        XCTAssertEqual(added.status, 413, added.text)
    }

    /// Finding 7: a bad row stopped the daemon from starting (unfinished job) or made GET /v1/jobs
    /// answer 500 for everyone (finished job); an unknown status was never run. Rows are
    /// quarantined: failed with code `quarantined`, the rest served.
    func testDamagedRowsAreQuarantinedAndTheRestServed() async throws {
        let first = try ServiceHarness(start: false)
        defer { first.directory.cleanUp() }
        let good = await first.submit(first.jobBody(maxFrames: 2, path: "good"))
        let badSpec = await first.submit(first.jobBody(maxFrames: 2, path: "bad-spec"))
        let badStatus = await first.submit(first.jobBody(maxFrames: 2, path: "bad-status"))
        let queue = try DatabaseQueue(path: first.sqlite!.path)
        try await queue.write { db in
            try db.execute(sql: "UPDATE jobs SET spec = '{\"source\": 3' WHERE id = ?", arguments: [badSpec])
            try db.execute(sql: "UPDATE jobs SET status = 'exploded' WHERE id = ?", arguments: [badStatus])
        }
        let second = try ServiceHarness(reuse: first.directory)
        let list = await second.call("GET", "/v1/jobs")
        XCTAssertEqual(list.status, 200, list.text)
        let jobs = (list.json["jobs"] as? [[String: Any]]) ?? []
        XCTAssertEqual(Set(jobs.compactMap { $0["id"] as? String }), [good, badSpec, badStatus])
        for id in [badSpec, badStatus] {
            let job = await second.job(id)
            XCTAssertEqual(job["status"] as? String, "failed", "\(job)")
            XCTAssertEqual((job["error"] as? [String: Any])?["code"] as? String, "quarantined")
        }
        let events = await second.events(good)
        XCTAssertEqual(events.last?.json["status"] as? String, "succeeded", "the good job still runs")
        await second.shutdown()
    }

    /// Finding 8: a deleted or emptied database was silently replaced; queued and resumable jobs
    /// vanished. Checkpoints or outputs the new database does not know stop the start-up.
    func testOrphanedStateRefusesToStartUnlessAsked() async throws {
        let first = try ServiceHarness(checkpointEvery: 2, start: false)
        defer { first.directory.cleanUp() }
        let jobs = (first.data as NSString).appendingPathComponent("jobs/0a1b2c3d-0000-0000-0000-000000000001")
        try FileManager.default.createDirectory(atPath: jobs, withIntermediateDirectories: true)
        try Data("state".utf8).write(to: URL(fileURLWithPath: (jobs as NSString).appendingPathComponent("state.safetensors")))
        let refused = try ServiceHarness(start: false, reuse: first.directory)
        XCTAssertThrowsError(try refused.manager.start()) { error in
            guard case let .orphanedState(_, checkpoints, _)? = error as? RecoveryError else { return XCTFail("\(error)") }
            XCTAssertEqual(checkpoints, ["0a1b2c3d-0000-0000-0000-000000000001"])
            XCTAssertTrue("\(error)".contains("--ignore-orphans"), "\(error)")
        }
        XCTAssertNoThrow(try refused.manager.start(ignoringOrphans: true))
        await refused.shutdown()

        // A new (deleted) database beside outputs.
        try FileManager.default.removeItem(atPath: jobs)
        try FileManager.default.createDirectory(atPath: (first.config.outputRoot as NSString).appendingPathComponent("old-job"),
                                                withIntermediateDirectories: true)
        try FileManager.default.removeItem(atPath: first.sqlite!.path)
        let fresh = try ServiceHarness(start: false, reuse: first.directory)
        XCTAssertTrue(fresh.store.isNew)
        XCTAssertThrowsError(try fresh.manager.start()) { error in
            guard case let .orphanedState(_, _, outputs)? = error as? RecoveryError else { return XCTFail("\(error)") }
            XCTAssertEqual(outputs, ["old-job"])
        }
    }

    /// Finding 10: a live job stayed `running` for 60+ s after its sender stopped. It now ends
    /// after `limits.live_idle_timeout_s`, succeeded with end_reason `source_idle`.
    func testLiveJobEndsWhenItsStreamStops() async throws {
        let h = try ServiceHarness(limits: .init(maxRunningJobs: 1, liveIdleTimeout: 2))
        defer { h.directory.cleanUp() }
        let port = Int.random(in: 40_000..<60_000)
        var body = h.jobBody(maxFrames: 100_000, path: "live")
        body["source"] = "udp://127.0.0.1:\(port)"
        let id = await h.submit(body)
        // Give the job a moment to open the socket, then send two seconds of stream and stop.
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let sender = Process()
        sender.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        sender.arguments = ["-nostdin", "-v", "error", "-re", "-i", TestMedia.bedroom, "-t", "2", "-an", "-f", "mpegts",
                            "udp://127.0.0.1:\(port)?pkt_size=1316"]
        try sender.run()
        sender.waitUntilExit()
        let stopped = Date()
        let events = await h.events(id)
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 30, "the job ended long after its stream stopped")
        let end = try XCTUnwrap(events.last)
        XCTAssertEqual(end.json["status"] as? String, "succeeded", end.data)
        XCTAssertEqual(end.json["end_reason"] as? String, "source_idle", end.data)
        XCTAssertGreaterThan(events.filter { $0.name == "frame" }.count, 0)
        await h.shutdown()
    }

    /// Finding 11: requests that could only fail later are refused at submission.
    func testRequestsThatCouldOnlyFailLaterAreRefused() async throws {
        let h = try ServiceHarness(start: false)
        defer { h.directory.cleanUp() }
        // A palette cannot hold object id 300.
        var palette = h.jobBody()
        palette["prompts"] = [["object": 300, "box": [300, 150, 520, 500]]]
        palette["output"] = ["format": "palette"]
        let refusedPalette = await h.call("POST", "/v1/jobs", json: palette)
        XCTAssertEqual(refusedPalette.status, 422, refusedPalette.text)
        XCTAssertEqual(refusedPalette.errorCode, "unsupported_output")
        // A dangling symbolic link as the output path.
        try FileManager.default.createDirectory(atPath: h.config.outputRoot, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: (h.config.outputRoot as NSString).appendingPathComponent("dangling"),
                                                   withDestinationPath: "/nonexistent/target")
        let dangling = await h.call("POST", "/v1/jobs", json: h.jobBody(path: "dangling/x"))
        XCTAssertEqual(dangling.status, 400, dangling.text)
        XCTAssertEqual(dangling.errorCode, "invalid_output_path")
        // `live: true` on a file still checks the prompts against the frame.
        var live = h.jobBody()
        live["live"] = true
        live["prompts"] = [["object": 1, "points": [[5000, 5]]]]
        let liveReply = await h.call("POST", "/v1/jobs", json: live)
        XCTAssertEqual(liveReply.status, 422, liveReply.text)
        XCTAssertEqual(liveReply.errorCode, "prompt_outside_frame")
        // A prompt past the last frame of the file (bedroom.mp4 has 200 frames).
        var late = h.jobBody(maxFrames: 1000)
        late["prompts"] = [["object": 1, "box": [300, 150, 520, 500]], ["object": 2, "frame": 250, "points": [[700, 300]]]]
        let lateReply = await h.call("POST", "/v1/jobs", json: late)
        XCTAssertEqual(lateReply.status, 422, lateReply.text)
        XCTAssertTrue(lateReply.text.contains("past the end"), lateReply.text)
    }

    /// Finding 11: an image sequence directly in a source root was refused.
    func testImageSequenceDirectlyInARootIsAllowed() throws {
        let root = TemporaryDirectory("samtrackd-sequence-root")
        defer { root.cleanUp() }
        let policy = PathPolicy(sourceRoots: [PathPolicy.realPath(root.path)!], sourcePatterns: [], outputRoot: "/tmp")
        XCTAssertEqual(try policy.checkSource(root.file("%05d.png")), .file(PathPolicy.realPath(root.path)! + "/%05d.png"))
    }
}
