// End to end over real HTTP on 127.0.0.1: the built samtrackd with the micro model on
// bedroom.mp4 — submit, stream events, fetch status and outputs, cancel; refused requests; a
// kill -9 and a SIGTERM in the middle of a job, then a restart that finishes it with outputs equal
// to an uninterrupted run's; 50 concurrent submissions with nothing lost or duplicated. The same
// tests run on SQLite (DaemonEndToEndTests) and as one node on a private PostgreSQL server
// (DaemonEndToEndOnPostgresTests).

import Foundation
import XCTest
import Export
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

class DaemonEndToEndTests: XCTestCase {
    var scratch = ""

    /// The job store of this class's daemons: nil for SQLite, else a new PostgreSQL database's URL.
    func storeURL() throws -> String? { nil }

    override func setUp() {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("samtrackd-e2e-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    var data: String { scratch + "/data" }

    func job(_ path: String, frames: Int) -> [String: Any] {
        ["source": Samtrackd.bedroom, "model": "micro", "max_frames": frames, "output": ["path": path],
         "prompts": [["object": 1, "box": [300, 150, 520, 500]], ["object": 2, "points": [[700, 300, 1]]]]]
    }

    func submit(_ client: MiniHTTPClient, _ body: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let reply = try client.request("POST", "/v1/jobs", json: body)
        XCTAssertEqual(reply.status, 201, reply.text, file: file, line: line)
        return try XCTUnwrap(reply.json["id"] as? String, reply.text, file: file, line: line)
    }

    func masks(_ path: String) throws -> String {
        try String(contentsOfFile: data + "/outputs/\(path)/masks.jsonl", encoding: .utf8)
    }

    /// Streams a job's events to its end; returns them.
    func waitForEnd(_ client: MiniHTTPClient, _ id: String) throws -> [SSEEvent] {
        let (status, events) = try client.events("/v1/jobs/\(id)/events")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(events.last?.name, "end", "the stream ends with an end event")
        return events
    }

    func testSubmitStreamFetchOutputsAndCancel() throws {
        let store = try storeURL()
        let config = try DaemonProcess.writeConfig(dataDirectory: data, store: store)
        let daemon = try DaemonProcess(dataDirectory: data, config: config)
        let client = daemon.client
        let health = try client.request("GET", "/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json["models"] as? [String], ["micro"])

        let id = try submit(client, job("first", frames: 30))
        let events = try waitForEnd(client, id)
        let frames = events.filter { $0.name == "frame" }
        XCTAssertEqual(frames.map(\.id), (0..<30).map { $0 })
        for frame in frames {
            let objects = frame.json["objects"] as? [[String: Any]] ?? []
            XCTAssertEqual(objects.compactMap { $0["id"] as? Int }, [1, 2])
            XCTAssertEqual(objects.first?.keys.sorted(), ["area", "bbox", "id", "rle", "score"])
        }
        XCTAssertEqual(events.last?.json["status"] as? String, "succeeded")

        let status = try client.request("GET", "/v1/jobs/\(id)")
        XCTAssertEqual(status.status, 200)
        XCTAssertEqual(status.json["status"] as? String, "succeeded")
        XCTAssertEqual(status.json["frames_done"] as? Int, 30)
        XCTAssertEqual(status.json["dropped_frames"] as? Int, 0)
        XCTAssertGreaterThan(status.json["fps"] as? Double ?? 0, 0)
        let directory = (status.json["output"] as? [String: Any])?["directory"] as? String
        XCTAssertEqual(directory, PathPolicyPath.real(data + "/outputs") + "/first")
        let records = try masks("first").split(separator: "\n").map { try FrameRecord(jsonLine: String($0)) }
        XCTAssertEqual(records.map(\.frame), Array(0..<30))
        XCTAssertEqual(records[0].objects.map(\.id), [1, 2])

        // Cancel: a long job stops within a frame of the DELETE.
        let long = try submit(client, job("long", frames: 200))
        try client.events("/v1/jobs/\(long)/events") { ($0.id ?? 0) < 3 }
        let started = Date()
        let cancelled = try client.request("DELETE", "/v1/jobs/\(long)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertEqual(cancelled.status, 200, cancelled.text)
        XCTAssertEqual(cancelled.json["status"] as? String, "cancelled")
        let done = cancelled.json["frames_done"] as? Int ?? -1
        XCTAssertTrue((3..<200).contains(done), "frames done \(done)")
        XCTAssertEqual(try masks("long").split(separator: "\n").count, done)

        let list = try client.request("GET", "/v1/jobs")
        XCTAssertEqual((list.json["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [id, long])
        let metrics = try client.request("GET", "/metrics")
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        XCTAssertTrue(metrics.text.contains("samtrackd_jobs{state=\"cancelled\"} 1.0"), metrics.text)
        XCTAssertTrue(metrics.text.contains("samtrackd_frames_tracked_total \(30 + done)"), metrics.text)
        XCTAssertEqual(daemon.terminate(), 0, daemon.stderr)
    }

    func testSecurityRefusals() throws {
        let token = "e2e-secret-token"
        let store = try storeURL()
        let config = try DaemonProcess.writeConfig(dataDirectory: data, limits: ["max_body_bytes": 65536], token: token, store: store)
        let daemon = try DaemonProcess(dataDirectory: data, config: config, token: token)
        var anonymous = daemon.client
        anonymous.token = nil
        for (method, path) in [("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/metrics")] {
            let reply = try anonymous.request(method, path, json: method == "POST" ? job("x", frames: 3) : nil)
            XCTAssertEqual(reply.status, 401, "\(method) \(path)")
            XCTAssertEqual(reply.errorCode, "unauthorized")
            XCTAssertEqual(reply.headers["www-authenticate"], "Bearer realm=\"samtrackd\"")
        }
        var wrong = daemon.client
        wrong.token = "e2e-secret-tokem"
        XCTAssertEqual(try wrong.request("GET", "/v1/jobs").status, 401)
        XCTAssertEqual(try anonymous.request("GET", "/healthz").status, 200)

        let client = daemon.client
        var traversal = job("x", frames: 3)
        traversal["source"] = Samtrackd.mediaRoot + "/../../../etc/passwd"
        XCTAssertEqual(try client.request("POST", "/v1/jobs", json: traversal).errorCode, "source_not_allowed")
        for path in ["../escape", "/tmp/abs", "a/../../b"] {
            let reply = try client.request("POST", "/v1/jobs", json: job(path, frames: 3))
            XCTAssertEqual(reply.status, 400, path)
            XCTAssertEqual(reply.errorCode, "invalid_output_path", path)
        }
        let malformed = try client.request("POST", "/v1/jobs", body: Array("{\"source\":".utf8))
        XCTAssertEqual(malformed.status, 400)
        XCTAssertEqual(malformed.errorCode, "invalid_json")
        let big = try client.request("POST", "/v1/jobs", body: Array(repeating: 0x20, count: 100_000))
        XCTAssertEqual(big.status, 413)
        XCTAssertEqual(big.errorCode, "body_too_large")
        XCTAssertEqual(try client.request("GET", "/v1/jobs/does-not-exist").status, 404)
        XCTAssertEqual(try client.request("GET", "/v1/jobs/x/y/z").errorCode, "not_found")
        // The daemon still serves after all of that.
        XCTAssertEqual(try client.request("GET", "/v1/jobs").status, 200)

        // Issue 23, finding 11: a port in use exited 1, not the documented code (69, EX_UNAVAILABLE).
        let (busy, busyReason) = try runRefusedDaemon(["--listen", "127.0.0.1:\(daemon.port)", "--data", scratch + "/busy/data",
                                                       "--config", try DaemonProcess.writeConfig(dataDirectory: scratch + "/busy/data")])
        XCTAssertEqual(busy, 69, busyReason)
        XCTAssertTrue(busyReason.contains("already in use"), busyReason)
        // A second daemon on the same data directory is refused while the first runs.
        let (status, message) = try runRefusedDaemon(["--listen", "127.0.0.1:0", "--data", data, "--config", config])
        XCTAssertEqual(status, 69, "EX_UNAVAILABLE")
        XCTAssertTrue(message.contains("another samtrackd"), message)
        XCTAssertEqual(daemon.terminate(), 0)

        // Listening beyond loopback needs a token.
        let open = try DaemonProcess.writeConfig(dataDirectory: scratch + "/open/data")
        let (refused, reason) = try runRefusedDaemon(["--listen", "0.0.0.0:0", "--data", scratch + "/open/data", "--config", open])
        XCTAssertEqual(refused, 64)
        XCTAssertTrue(reason.contains("without a bearer token"), reason)
        let (badConfig, why) = try runRefusedDaemon(["--data", scratch + "/bad", "--config", scratch + "/missing.json"])
        XCTAssertEqual(badConfig, 64)
        XCTAssertTrue(why.contains("missing.json"), why)
    }

    /// kill -9 while a job runs; the restarted daemon resumes it from its last checkpoint and the
    /// final masks.jsonl is byte-equal to an uninterrupted run's.
    func testKillDashNineMidJobThenRestartGivesIdenticalOutputs() throws {
        let store = try storeURL()
        let config = try DaemonProcess.writeConfig(dataDirectory: data, checkpointEvery: 10, store: store)
        var daemon = try DaemonProcess(dataDirectory: data, config: config)
        let reference = try submit(daemon.client, job("reference", frames: 60))
        _ = try waitForEnd(daemon.client, reference)

        let crashed = try submit(daemon.client, job("crashed", frames: 60))
        var seen = 0
        try daemon.client.events("/v1/jobs/\(crashed)/events") { event in
            seen = event.id ?? seen
            return event.name == "frame" && seen < 25
        }
        XCTAssertGreaterThanOrEqual(seen, 25)
        daemon.killHard()
        XCTAssertFalse(FileManager.default.fileExists(atPath: data + "/outputs/crashed/masks.jsonl"), "the job had not finished")

        daemon = try DaemonProcess(dataDirectory: data, config: config)
        let events = try waitForEnd(daemon.client, crashed)
        let frameIDs = events.filter { $0.name == "frame" }.compactMap(\.id)
        if store == nil {
            // SQLite: the stream holds the resumed run's frames.
            let firstFrame = frameIDs.first ?? 0
            XCTAssertTrue(firstFrame % 10 == 0 && (20..<60).contains(firstFrame), "resumed after a checkpoint, at frame \(firstFrame)")
        } else {
            // PostgreSQL: the committed frames come from the database first, then the resumed run's, each once.
            XCTAssertEqual(frameIDs, Array(0..<60))
            let metrics = try daemon.client.request("GET", "/metrics").text
            XCTAssertTrue(metrics.contains("samtrackd_job_resumes_total 1\n"), "resumed from the checkpoint: \(metrics)")
        }
        XCTAssertEqual(events.last?.json["status"] as? String, "succeeded")
        let status = try daemon.client.request("GET", "/v1/jobs/\(crashed)").json
        XCTAssertEqual(status["attempts"] as? Int, 2)
        XCTAssertEqual(status["frames_done"] as? Int, 60)
        XCTAssertEqual(try masks("crashed"), try masks("reference"))
        XCTAssertEqual(daemon.terminate(), 0)
    }

    /// SIGTERM drains: the running job saves its state, the daemon exits 0, and the next start
    /// finishes the job with outputs equal to an uninterrupted run's.
    func testSIGTERMSavesStateExitsZeroAndResumes() throws {
        let store = try storeURL()
        let config = try DaemonProcess.writeConfig(dataDirectory: data, checkpointEvery: 50, store: store)
        var daemon = try DaemonProcess(dataDirectory: data, config: config)
        let reference = try submit(daemon.client, job("reference", frames: 45))
        _ = try waitForEnd(daemon.client, reference)
        let drained = try submit(daemon.client, job("drained", frames: 45))
        let queued = try submit(daemon.client, job("queued", frames: 3))
        var endEvent: SSEEvent?
        var signalled = false
        try daemon.client.events("/v1/jobs/\(drained)/events") { event in
            if event.name == "frame", (event.id ?? 0) >= 10, !signalled {
                signalled = true
                kill(daemon.process.processIdentifier, SIGTERM)
            }
            if event.name == "end" { endEvent = event }
            return true
        }
        XCTAssertEqual(daemon.terminate(), 0, "SIGTERM exits 0: \(daemon.stderr)")
        XCTAssertEqual(endEvent?.json["status"] as? String, "interrupted")
        XCTAssertEqual(endEvent?.json["resumable"] as? Bool, true)

        daemon = try DaemonProcess(dataDirectory: data, config: config)
        // SQLite requeues it before serving; on a shared store this node's claim loop takes it
        // (status interrupted -> running) moments after start, so allow it a little time.
        var status = try daemon.client.request("GET", "/v1/jobs/\(drained)").json["status"] as? String
        let deadline = Date().addingTimeInterval(30)
        while status == "interrupted" && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            status = try daemon.client.request("GET", "/v1/jobs/\(drained)").json["status"] as? String
        }
        XCTAssertNotEqual(status, "interrupted", "a resumable job is taken up again at start")
        let events = try waitForEnd(daemon.client, drained)
        XCTAssertEqual(events.last?.json["status"] as? String, "succeeded")
        XCTAssertGreaterThan(events.first { $0.name == "frame" }?.id ?? 0, 10, "resumed, not restarted")
        XCTAssertEqual(try masks("drained"), try masks("reference"))
        XCTAssertEqual(try waitForEnd(daemon.client, queued).last?.json["status"] as? String, "succeeded")
        XCTAssertEqual(daemon.terminate(), 0)
    }

    func testFiftyConcurrentSubmissionsNothingLostOrDuplicated() throws {
        let store = try storeURL()
        let config = try DaemonProcess.writeConfig(dataDirectory: data, limits: ["max_running_jobs": 2, "max_queued_jobs": 100], store: store)
        let daemon = try DaemonProcess(dataDirectory: data, config: config)
        let client = daemon.client
        let count = 50
        let results = ResultsBox(count: count)
        let group = DispatchGroup()
        let payloads = try (0..<count).map { Array(try JSONSerialization.data(withJSONObject: job("batch/\($0)", frames: 3))) }
        for i in 0..<count {
            group.enter()
            let payload = payloads[i]
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let reply = try client.request("POST", "/v1/jobs", body: payload)
                    results.set(i, reply.status == 201 ? reply.json["id"] as? String : "status \(reply.status): \(reply.text)")
                } catch {
                    results.set(i, "error: \(error)")
                }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        let ids = results.values
        XCTAssertEqual(ids.compactMap { $0 }.count, count)
        for (i, id) in ids.enumerated() { XCTAssertEqual(id?.count, 36, "submission \(i): \(id ?? "nil")") }
        XCTAssertEqual(Set(ids.compactMap { $0 }).count, count, "ids are unique")

        // Wait for every job to end (bounded).
        let deadline = Date(timeIntervalSinceNow: 120)
        var jobs: [[String: Any]] = []
        while Date() < deadline {
            jobs = try client.request("GET", "/v1/jobs?limit=1000").json["jobs"] as? [[String: Any]] ?? []
            if jobs.count == count && jobs.allSatisfy({ $0["status"] as? String == "succeeded" }) { break }
            usleep(100_000)
        }
        XCTAssertEqual(jobs.count, count, "every submission is listed once")
        XCTAssertEqual(Set(jobs.compactMap { $0["id"] as? String }), Set(ids.compactMap { $0 }))
        XCTAssertEqual(jobs.filter { $0["status"] as? String == "succeeded" }.count, count, "\(jobs.map { $0["status"] ?? "?" })")
        for i in 0..<count {
            XCTAssertEqual(try masks("batch/\(i)").split(separator: "\n").count, 3, "batch/\(i)")
        }
        let metrics = try client.request("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("samtrackd_frames_tracked_total \(3 * count)\n"), metrics)
        XCTAssertTrue(metrics.contains("samtrackd_jobs_submitted_total \(count)\n"))
        XCTAssertEqual(daemon.terminate(), 0)
    }
}

/// The same end-to-end tests with the daemon as one node on PostgreSQL (lease 3 s, so that a
/// restart after kill -9 takes the job back soon).
final class DaemonEndToEndOnPostgresTests: DaemonEndToEndTests {
    // Linux XCTest discovery does not list inherited tests: each one is named here again
    // (testEveryTestOfTheBaseRunsHere keeps this list complete).
    override func testSubmitStreamFetchOutputsAndCancel() throws { try super.testSubmitStreamFetchOutputsAndCancel() }
    override func testSecurityRefusals() throws { try super.testSecurityRefusals() }
    override func testKillDashNineMidJobThenRestartGivesIdenticalOutputs() throws { try super.testKillDashNineMidJobThenRestartGivesIdenticalOutputs() }
    override func testSIGTERMSavesStateExitsZeroAndResumes() throws { try super.testSIGTERMSavesStateExitsZeroAndResumes() }
    override func testFiftyConcurrentSubmissionsNothingLostOrDuplicated() throws { try super.testFiftyConcurrentSubmissionsNothingLostOrDuplicated() }

    func testEveryTestOfTheBaseRunsHere() throws {
        try InheritedTests.assertRepeatsEveryTest(in: "Tests/samtrackdTests/DaemonEndToEndTests.swift", except: ["EveryTestOfTheBaseRunsHere", "ManPageAndOpenAPIDocumentTheDaemon"])
    }

    static let postgres = ClassPostgres()

    override func storeURL() throws -> String? { try Self.postgres.newDatabase(prefix: "e2e") }

    override class func tearDown() {
        postgres.stop()
        super.tearDown()
    }
}

final class DaemonDocumentationTests: XCTestCase {
    /// man/samtrackd.8 documents every option of `samtrackd --help` and renders without warnings;
    /// docs/openapi.yaml describes every route and error code the API uses.
    func testManPageAndOpenAPIDocumentTheDaemon() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Samtrackd.path())
        process.arguments = ["--help"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let help = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let man = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("man/samtrackd.8"), encoding: .utf8)
            .replacingOccurrences(of: "\\-", with: "-")
        let options = Set(help.split { !($0.isLetter || $0 == "-") }.map(String.init).filter { $0.hasPrefix("--") && $0.count > 2 })
        XCTAssertTrue(options.isSuperset(of: ["--listen", "--data", "--config", "--log-level"]), help)
        for option in options { XCTAssertTrue(man.contains(option), "man/samtrackd.8 does not mention \(option)") }

        if FileManager.default.isExecutableFile(atPath: "/usr/bin/man") {
            let render = Process()
            render.executableURL = URL(fileURLWithPath: "/usr/bin/man")
            render.arguments = ["--warnings", "-l", Fixtures.repositoryRoot.appendingPathComponent("man/samtrackd.8").path]
            render.environment = ["MANWIDTH": "80", "PATH": "/usr/bin:/bin"]
            let out = Pipe(), err = Pipe()
            render.standardOutput = out
            render.standardError = err
            try render.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let warnings = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            render.waitUntilExit()
            XCTAssertTrue(text.contains("SAMTRACKD(8)"), text)
            XCTAssertEqual(warnings, "", "man warnings")
        }

        let openapi = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        for path in ["/healthz:", "/metrics:", "/v1/jobs:", "/v1/jobs/{id}:", "/v1/jobs/{id}/events:", "/v1/jobs/{id}/prompts:"] {
            XCTAssertTrue(openapi.contains("  \(path)\n"), "openapi.yaml lacks \(path)")
        }
        for code in ["invalid_json", "invalid_request", "invalid_prompt", "invalid_output_path", "unauthorized",
                     "source_not_allowed", "job_not_found", "not_found", "output_in_use", "job_finished", "job_not_running",
                     "body_too_large", "unknown_model", "prompt_outside_frame", "too_many_objects",
                     "no_prompt_on_first_frame", "source_not_found", "unreadable_source", "too_many_jobs", "shutting_down"] {
            XCTAssertTrue(openapi.contains(code), "openapi.yaml lacks the error code \(code)")
            XCTAssertTrue(man.contains(code), "man/samtrackd.8 lacks the error code \(code)")
        }
    }
}

/// Thread-safe slots for the concurrent submissions.
final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [String?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: String?) { lock.lock(); slots[i] = value; lock.unlock() }
    var values: [String?] { lock.lock(); defer { lock.unlock() }; return slots }
}

enum PathPolicyPath {
    static func real(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
