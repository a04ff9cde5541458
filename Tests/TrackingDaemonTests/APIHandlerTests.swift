// The HTTP API through APIHandler, without sockets: jobs run on the micro model (about 20-30
// frames/s in debug builds) over bedroom.mp4; every bad request gets its status and error code.
// The same suite runs twice: on SQLite (APIHandlerTests) and on a private PostgreSQL server
// (APIHandlerOnPostgresTests, the daemon as one node of a shared store).

import Foundation
import XCTest
import Export
import TestSupport
import TrackingRun
@testable import TrackingDaemon

class APIHandlerTests: StoreParameterizedTestCase {
    func testJobRunsToTheEndWithOneEventPerFrame() async throws {
        let h = try ServiceHarness(store: try harnessStore())
        defer { h.directory.cleanUp() }
        let created = await h.call("POST", "/v1/jobs", json: h.jobBody(maxFrames: 12, path: "runs/first"))
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(created.json["id"] as? String)
        XCTAssertEqual(created.headers["Location"], "/v1/jobs/\(id)")
        XCTAssertEqual(created.json["status"] as? String, "queued")
        XCTAssertEqual(created.json["objects"] as? [Int], [1, 2])

        let events = await h.events(id)
        let frames = events.filter { $0.name == "frame" }
        XCTAssertEqual(frames.map(\.id), (0..<12).map { $0 }, "one frame event per tracked frame, in order")
        XCTAssertEqual(frames.first?.json["prompted"] as? [Int], [1, 2])
        for frame in frames {
            XCTAssertEqual(frame.objectIDs, [1, 2])
            let object = (frame.json["objects"] as? [[String: Any]])?.first
            XCTAssertEqual((object?["bbox"] as? [Int])?.count, 4)
            XCTAssertNotNil(object?["area"] as? Int)
            XCTAssertNotNil(object?["score"] as? Double)
            XCTAssertNotNil(frame.json["pts"] as? Double)
        }
        XCTAssertEqual(events.last?.name, "end")
        XCTAssertEqual(events.last?.json["status"] as? String, "succeeded")

        let job = await h.job(id)
        XCTAssertEqual(job["status"] as? String, "succeeded")
        XCTAssertEqual(job["frames_done"] as? Int, 12)
        XCTAssertEqual(job["attempts"] as? Int, 1)
        XCTAssertNotNil(job["finished_at"] as? String)
        XCTAssertTrue(job["error"] is NSNull)

        // Outputs: one masks.jsonl line per frame, readable by the Export module.
        let lines = try h.masks("runs/first").split(separator: "\n")
        XCTAssertEqual(lines.count, 12)
        let records = try lines.map { try FrameRecord(jsonLine: String($0)) }
        XCTAssertEqual(records.map(\.frame), Array(0..<12))
        XCTAssertEqual(records[5].objects.map(\.id), [1, 2])
        // The state checkpoint is removed once the job has ended.
        XCTAssertFalse(FileManager.default.fileExists(atPath: (h.data as NSString).appendingPathComponent("jobs/\(id)")))

        // A late subscriber gets the kept frames and the end event.
        let replay = await h.events(id)
        XCTAssertEqual(replay.map(\.name), ["end"], "an ended job's stream holds only its end event")

        let list = await h.call("GET", "/v1/jobs?status=succeeded")
        XCTAssertEqual((list.json["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [id])
        let metrics = await h.call("GET", "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.text.contains("samtrackd_frames_tracked_total 12\n"), metrics.text)
        XCTAssertTrue(metrics.text.contains("samtrackd_jobs{state=\"succeeded\"} 1.0\n"))
        XCTAssertTrue(metrics.text.contains("samtrackd_stage_seconds_count{stage=\"encoder\"} 12\n"))
        XCTAssertTrue(metrics.text.contains("samtrackd_stage_seconds_bucket{stage=\"frame\",le=\"+Inf\"} 12\n"))
        let health = await h.call("GET", "/healthz")
        XCTAssertEqual(health.json["status"] as? String, "ok")
        await h.shutdown()
    }

    /// Every malformed or forbidden request: status and code (the body is always the JSON error).
    func testBadRequestsGetJSONErrors() async throws {
        let outside = TemporaryDirectory("samtrackd-outside")
        defer { outside.cleanUp() }
        let secret = outside.file("secret.mp4")
        try FileManager.default.copyItem(atPath: TestMedia.bedroom, toPath: secret)
        // A root of our own that holds a symlink pointing outside it, and a broken file.
        let root = TemporaryDirectory("samtrackd-root")
        defer { root.cleanUp() }
        try FileManager.default.createSymbolicLink(atPath: root.file("escape.mp4"), withDestinationPath: secret)
        try Data("not a video".utf8).write(to: URL(fileURLWithPath: root.file("garbage.mp4")))
        let h = try ServiceHarness(limits: .init(maxRunningJobs: 1, maxObjectsPerJob: 3, maxBodyBytes: 4096),
                                   extraRoots: [root.path], start: false, store: try harnessStore())
        defer { h.directory.cleanUp() }
        // An output directory with a symlink leading out of the output root.
        try FileManager.default.createDirectory(atPath: h.config.outputRoot, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: (h.config.outputRoot as NSString).appendingPathComponent("link"),
                                                   withDestinationPath: outside.path)

        func job(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
            var body = h.jobBody()
            change(&body)
            return body
        }
        let mask = COCORLE(encoding: BinaryMask(width: 10, height: 10))
        let cases: [(String, [UInt8], Int, String)] = [
            ("malformed JSON", Array("{\"source\": ".utf8), 400, "invalid_json"),
            ("empty body", [], 400, "invalid_json"),
            ("not an object", Array("[1, 2]".utf8), 400, "invalid_request"),
            ("unknown key", bytes(job { $0["max_frame"] = 3 }), 400, "invalid_request"),
            ("missing source", bytes(job { $0["source"] = nil }), 400, "invalid_request"),
            ("wrong type", bytes(job { $0["max_frames"] = "ten" }), 400, "invalid_request"),
            ("unknown model", bytes(job { $0["model"] = "huge" }), 422, "unknown_model"),
            ("source outside roots", bytes(job { $0["source"] = secret }), 403, "source_not_allowed"),
            ("source with ..", bytes(job { $0["source"] = TestMedia.root + "/../../etc/passwd" }), 403, "source_not_allowed"),
            ("relative source", bytes(job { $0["source"] = "bedroom.mp4" }), 403, "source_not_allowed"),
            ("symlink out of a root", bytes(job { $0["source"] = root.file("escape.mp4") }), 403, "source_not_allowed"),
            ("device not allowed", bytes(job { $0["source"] = "/dev/sda" }), 403, "source_not_allowed"),
            ("device pattern escape", bytes(job { $0["source"] = "/dev/video0/../sda" }), 403, "source_not_allowed"),
            ("URL not allowed", bytes(job { $0["source"] = "http://example.com/a.mp4" }), 403, "source_not_allowed"),
            ("missing file under a root", bytes(job { $0["source"] = root.file("nothing.mp4") }), 422, "source_not_found"),
            ("unreadable file", bytes(job { $0["source"] = root.file("garbage.mp4") }), 422, "unreadable_source"),
            ("point outside the frame", bytes(job { $0["prompts"] = [["object": 1, "points": [[961, 10]]]] }), 422, "prompt_outside_frame"),
            ("box outside the frame", bytes(job { $0["prompts"] = [["object": 1, "box": [10, 10, 100, 541]]] }), 422, "prompt_outside_frame"),
            ("mask of the wrong size", bytes(job { $0["prompts"] = [["object": 1, "mask": ["size": [10, 10], "counts": mask.compressed]]] }),
             422, "prompt_outside_frame"),
            ("inverted box", bytes(job { $0["prompts"] = [["object": 1, "box": [100, 10, 10, 100]]] }), 422, "invalid_prompt"),
            ("bad label", bytes(job { $0["prompts"] = [["object": 1, "points": [[10, 10, 2]]]] }), 422, "invalid_prompt"),
            ("object 0", bytes(job { $0["prompts"] = [["object": 0, "box": [1, 1, 5, 5]]] }), 422, "invalid_prompt"),
            ("no prompts", bytes(job { $0["prompts"] = [] as [Any] }), 422, "invalid_prompt"),
            ("box and mask", bytes(job { $0["prompts"] = [["object": 1, "box": [1, 1, 5, 5], "mask": ["size": [10, 10], "counts": mask.compressed]]] }),
             422, "invalid_prompt"),
            ("live file, nothing on frame 0", bytes(job { $0["live"] = true; $0["prompts"] = [["object": 1, "frame": 3, "box": [1, 1, 5, 5]]] }), 422, "no_prompt_on_first_frame"),
            ("prompt after max_frames", bytes(job { $0["prompts"] = [["object": 1, "box": [1, 1, 5, 5]], ["object": 2, "frame": 10, "box": [1, 1, 5, 5]]] }),
             422, "prompt_outside_frame"),
            ("too many objects", bytes(job { $0["prompts"] = (1...4).map { ["object": $0, "box": [1, 1, 5, 5]] } }), 422, "too_many_objects"),
            ("output path ..", bytes(job { $0["output"] = ["path": "a/../../etc"] }), 400, "invalid_output_path"),
            ("absolute output path", bytes(job { $0["output"] = ["path": "/tmp/x"] }), 400, "invalid_output_path"),
            ("empty component", bytes(job { $0["output"] = ["path": "a//b"] }), 400, "invalid_output_path"),
            ("symlink out of the output root", bytes(job { $0["output"] = ["path": "link/x"] }), 400, "invalid_output_path"),
            ("unknown format", bytes(job { $0["output"] = ["format": "gif"] }), 400, "invalid_request"),
            ("zero max_frames", bytes(job { $0["max_frames"] = 0 }), 400, "invalid_request"),
            ("oversized body", Array(repeating: 0x20, count: 5000), 413, "body_too_large"),
        ]
        for (name, body, status, code) in cases {
            let reply = await h.call("POST", "/v1/jobs", body: body)
            XCTAssertEqual(reply.status, status, "\(name): \(reply.text)")
            XCTAssertEqual(reply.errorCode, code, "\(name): \(reply.text)")
            XCTAssertEqual(reply.headers["Content-Type"], "application/json", name)
            XCTAssertFalse(((reply.json["error"] as? [String: Any])?["message"] as? String ?? "").isEmpty, name)
        }
        // Routes and ids.
        let routes: [(String, String, Int, String)] = [
            ("GET", "/v1/jobs/0000-none", 404, "job_not_found"),
            ("DELETE", "/v1/jobs/0000-none", 404, "job_not_found"),
            ("GET", "/v1/jobs/0000-none/events", 404, "job_not_found"),
            ("POST", "/v1/jobs/0000-none/prompts", 404, "job_not_found"),
            ("GET", "/v1/jobs/..%2F..%2Fetc", 404, "job_not_found"),
            ("GET", "/v2/jobs", 404, "not_found"),
            ("PUT", "/v1/jobs", 405, "method_not_allowed"),
            ("POST", "/healthz", 405, "method_not_allowed"),
            ("GET", "/v1/jobs?status=done", 400, "invalid_request"),
            ("GET", "/v1/jobs?limit=0", 400, "invalid_request"),
        ]
        for (method, target, status, code) in routes {
            let body: [String: Any]? = method == "POST" ? ["object": 1, "box": [1, 1, 5, 5]] : nil
            let reply = await h.call(method, target, json: body)
            XCTAssertEqual(reply.status, status, "\(method) \(target): \(reply.text)")
            XCTAssertEqual(reply.errorCode, code, "\(method) \(target)")
        }
        let notAllowed = await h.call("PUT", "/v1/jobs")
        XCTAssertEqual(notAllowed.headers["Allow"], "GET, POST")
        // Nothing was queued by any of them.
        let list = await h.call("GET", "/v1/jobs")
        XCTAssertEqual((list.json["jobs"] as? [Any])?.count, 0)
    }

    func testBearerTokenIsRequiredExceptForHealth() async throws {
        let h = try ServiceHarness(token: "s3cret-token", start: false, store: try harnessStore())
        defer { h.directory.cleanUp() }
        for headers in [[:], ["Authorization": "Bearer wrong-token!"], ["Authorization": "Basic czNjcmV0LXRva2Vu"],
                        ["Authorization": "Bearer s3cret-toke"], ["Authorization": "Bearer s3cret-token-and-more"]] {
            for (method, target) in [("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/metrics"), ("DELETE", "/v1/jobs/x")] {
                let reply = await h.call(method, target, json: method == "POST" ? h.jobBody() : nil, headers: headers)
                XCTAssertEqual(reply.status, 401, "\(method) \(target) with \(headers)")
                XCTAssertEqual(reply.errorCode, "unauthorized")
                XCTAssertEqual(reply.headers["WWW-Authenticate"], "Bearer realm=\"samtrackd\"")
            }
        }
        let ok = await h.call("GET", "/v1/jobs", headers: ["authorization": "Bearer s3cret-token"])
        XCTAssertEqual(ok.status, 200)
        let created = await h.call("POST", "/v1/jobs", json: h.jobBody(), headers: ["Authorization": "bearer s3cret-token"])
        XCTAssertEqual(created.status, 201, created.text)
        let health = await h.call("GET", "/healthz")
        XCTAssertEqual(health.status, 200)
        // An unauthenticated oversized body is refused as unauthorized, not read.
        let big = await h.call("POST", "/v1/jobs", body: Array(repeating: 0x20, count: 10 << 20))
        XCTAssertEqual(big.status, 401)
    }

    func testQueueLimitGives429AndOutputPathsDoNotCollide() async throws {
        let h = try ServiceHarness(limits: .init(maxRunningJobs: 1, maxQueuedJobs: 2), start: false, store: try harnessStore())
        defer { h.directory.cleanUp() }
        _ = await h.submit(h.jobBody(path: "a"))
        let sameOutput = await h.call("POST", "/v1/jobs", json: h.jobBody(path: "a"))
        XCTAssertEqual(sameOutput.status, 409)
        XCTAssertEqual(sameOutput.errorCode, "output_in_use")
        _ = await h.submit(h.jobBody(path: "b"))
        let third = await h.call("POST", "/v1/jobs", json: h.jobBody(path: "c"))
        XCTAssertEqual(third.status, 429)
        XCTAssertEqual(third.errorCode, "too_many_jobs")
        XCTAssertEqual(third.headers["Retry-After"], "5")
        let health = await h.call("GET", "/healthz")
        XCTAssertEqual(health.json["queued"] as? Int, 2)
    }

    func testCancelQueuedAndRunningJobs() async throws {
        let h = try ServiceHarness(start: false, store: try harnessStore())
        defer { h.directory.cleanUp() }
        let queued = await h.submit(h.jobBody(path: "q"))
        let running = await h.submit(h.jobBody(maxFrames: 150, path: "r"))
        let cancelled = await h.call("DELETE", "/v1/jobs/\(queued)")
        XCTAssertEqual(cancelled.status, 200)
        XCTAssertEqual(cancelled.json["status"] as? String, "cancelled")
        XCTAssertEqual(cancelled.json["frames_done"] as? Int, 0)
        let again = await h.call("DELETE", "/v1/jobs/\(queued)")
        XCTAssertEqual(again.status, 200, "cancelling a cancelled job returns it")
        let end = await h.events(queued)
        XCTAssertEqual(end.map(\.name), ["end"])
        XCTAssertEqual(end.first?.json["status"] as? String, "cancelled")

        try h.manager.start()
        _ = await h.events(running) { $0.name == "frame" && ($0.id ?? 0) >= 3 }
        let started = Date()
        let stop = await h.call("DELETE", "/v1/jobs/\(running)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "a running job stops after its current frame")
        XCTAssertEqual(stop.status, 200, stop.text)
        XCTAssertEqual(stop.json["status"] as? String, "cancelled")
        let done = try XCTUnwrap(stop.json["frames_done"] as? Int)
        XCTAssertLessThan(done, 150)
        // The outputs hold exactly the frames done.
        XCTAssertEqual(try h.masks("r").split(separator: "\n").count, done)
        let finished = await h.call("DELETE", "/v1/jobs/\(running)")
        XCTAssertEqual(finished.status, 200)
        let lateEvents = await h.events(running)
        XCTAssertEqual(lateEvents.last?.json["status"] as? String, "cancelled")
        await h.shutdown()
    }

    func testPromptsAddedToARunningJobApplyToTheNextFrame() async throws {
        let h = try ServiceHarness(store: try harnessStore())
        defer { h.directory.cleanUp() }
        var body = h.jobBody(maxFrames: 40, path: "p")
        body["prompts"] = [["object": 1, "box": [300, 150, 520, 500]]]
        let id = await h.submit(body)
        _ = await h.events(id) { $0.name == "frame" && ($0.id ?? 0) >= 4 }

        let outside = await h.call("POST", "/v1/jobs/\(id)/prompts", json: ["object": 3, "box": [900, 10, 1000, 100]])
        XCTAssertEqual(outside.status, 422, outside.text)
        XCTAssertEqual(outside.errorCode, "prompt_outside_frame")
        let withFrame = await h.call("POST", "/v1/jobs/\(id)/prompts", json: ["object": 3, "frame": 9, "box": [10, 10, 100, 100]])
        XCTAssertEqual(withFrame.errorCode, "invalid_prompt")
        let added = await h.call("POST", "/v1/jobs/\(id)/prompts",
                                 json: ["prompts": [["object": 3, "box": [600, 200, 800, 400]], ["object": 1, "points": [[400, 300, 1]]]]])
        XCTAssertEqual(added.status, 202, added.text)
        XCTAssertEqual(added.json["accepted"] as? [Int], [3, 1])
        XCTAssertEqual((added.json["job"] as? [String: Any])?["objects"] as? [Int], [1, 3])

        let events = await h.events(id)
        let frames = events.filter { $0.name == "frame" }
        XCTAssertEqual(frames.count, 40)
        let appliedAt = try XCTUnwrap(frames.first { ($0.json["prompted"] as? [Int]) == [1, 3] }?.id, "no frame with the added prompts")
        XCTAssertGreaterThan(appliedAt, 4)
        for frame in frames {
            XCTAssertEqual(frame.objectIDs, (frame.id ?? 0) < appliedAt ? [1] : [1, 3], "frame \(frame.id ?? -1)")
        }
        let lines = try h.masks("p").split(separator: "\n").map { try FrameRecord(jsonLine: String($0)) }
        XCTAssertEqual(lines[appliedAt].objects.map(\.id), [1, 3])
        // Recorded for a resume, with the frame it was applied to.
        let applied = try h.store.appliedPrompts(jobID: id)
        XCTAssertEqual(applied.map(\.object), [3, 1], "in the order they were given")
        XCTAssertEqual(Set(applied.map(\.frame)), [appliedAt])
        XCTAssertEqual(applied.first { $0.object == 3 }?.box, [600, 200, 800, 400])

        let late = await h.call("POST", "/v1/jobs/\(id)/prompts", json: ["object": 4, "box": [10, 10, 100, 100]])
        XCTAssertEqual(late.status, 409)
        XCTAssertEqual(late.errorCode, "job_finished")
        await h.shutdown()
    }

    func testAFailingJobDoesNotAffectTheNextOne() async throws {
        let root = TemporaryDirectory("samtrackd-root")
        defer { root.cleanUp() }
        let doomed = root.file("doomed.mp4")
        try FileManager.default.copyItem(atPath: TestMedia.bedroom, toPath: doomed)
        let h = try ServiceHarness(extraRoots: [root.path], start: false, store: try harnessStore())
        defer { h.directory.cleanUp() }
        var body = h.jobBody(maxFrames: 5, path: "doomed")
        body["source"] = doomed
        let failing = await h.submit(body)
        let healthy = await h.submit(h.jobBody(maxFrames: 5, path: "healthy"))
        try FileManager.default.removeItem(atPath: doomed)  // gone before the job runs
        try h.manager.start()
        let failed = await h.events(failing)
        XCTAssertEqual(failed.last?.json["status"] as? String, "failed")
        let job = await h.job(failing)
        XCTAssertEqual((job["error"] as? [String: Any])?["code"] as? String, "source_not_found", "\(job)")
        // (The healthy job may have ended before this subscription: then its stream is its end event.)
        let ok = await h.events(healthy)
        XCTAssertEqual(ok.last?.json["status"] as? String, "succeeded")
        let done = await h.job(healthy)
        XCTAssertEqual(done["frames_done"] as? Int, 5, "\(done)")
        XCTAssertEqual(try h.masks("healthy").split(separator: "\n").count, 5)
        await h.shutdown()
    }

    func testEventsResumeAfterLastEventID() async throws {
        let h = try ServiceHarness(store: try harnessStore())
        defer { h.directory.cleanUp() }
        let id = await h.submit(h.jobBody(maxFrames: 8))
        _ = await h.events(id)
        // Ended: only the end event, whatever the cursor.
        let after = await h.events(id, after: 5)
        XCTAssertEqual(after.map(\.name), ["end"])
        // While running, the kept frames after the cursor come first.
        let second = await h.submit(h.jobBody(maxFrames: 30, path: "second"))
        _ = await h.events(second) { ($0.id ?? 0) >= 6 }
        let resumed = await h.events(second, after: 3)
        XCTAssertEqual(resumed.filter { $0.name == "frame" }.map(\.id), (4..<30).map { $0 })
        await h.shutdown()
    }
}

/// The same API suite with the jobs on PostgreSQL.
final class APIHandlerOnPostgresTests: APIHandlerTests {
    // Linux XCTest discovery does not list inherited tests: each one is named here again
    // (testEveryTestOfTheBaseRunsHere keeps this list complete).
    override func testJobRunsToTheEndWithOneEventPerFrame() async throws { try await super.testJobRunsToTheEndWithOneEventPerFrame() }
    override func testBadRequestsGetJSONErrors() async throws { try await super.testBadRequestsGetJSONErrors() }
    override func testBearerTokenIsRequiredExceptForHealth() async throws { try await super.testBearerTokenIsRequiredExceptForHealth() }
    override func testQueueLimitGives429AndOutputPathsDoNotCollide() async throws { try await super.testQueueLimitGives429AndOutputPathsDoNotCollide() }
    override func testCancelQueuedAndRunningJobs() async throws { try await super.testCancelQueuedAndRunningJobs() }
    override func testPromptsAddedToARunningJobApplyToTheNextFrame() async throws { try await super.testPromptsAddedToARunningJobApplyToTheNextFrame() }
    override func testAFailingJobDoesNotAffectTheNextOne() async throws { try await super.testAFailingJobDoesNotAffectTheNextOne() }
    override func testEventsResumeAfterLastEventID() async throws { try await super.testEventsResumeAfterLastEventID() }

    func testEveryTestOfTheBaseRunsHere() throws {
        try InheritedTests.assertRepeatsEveryTest(in: "Tests/TrackingDaemonTests/APIHandlerTests.swift", except: ["EveryTestOfTheBaseRunsHere"])
    }

    static let postgres = ClassPostgres()

    override func harnessStore() throws -> HarnessStore { .postgres(Self.postgres) }

    override class func tearDown() {
        postgres.stop()
        super.tearDown()
    }
}

private func bytes(_ object: [String: Any]) -> [UInt8] {
    Array(try! JSONSerialization.data(withJSONObject: object))
}
