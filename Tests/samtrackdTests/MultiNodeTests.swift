// Several samtrackd nodes on one PostgreSQL database (a private server started by the test from
// Debian's packages; skipped where PostgreSQL is not installed, failed under CI): jobs submitted to
// either node all complete exactly once; a node killed with SIGKILL mid-job loses its lease and the
// other node resumes the job from its last checkpoint, with masks equal byte for byte to an
// uninterrupted run; reads, event streams and a cancel through the node that does not run the job.

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class MultiNodeTests: MultiNodeTestCase {
    func nodeConfig(_ name: String, store: String) throws -> (data: String, config: String) {
        try nodeConfig(name, store: store, models: ["micro": Samtrackd.microModel], checkpointEvery: 10)
    }

    func job(_ path: String, frames: Int) -> [String: Any] {
        ["source": Samtrackd.bedroom, "model": "micro", "max_frames": frames, "output": ["path": path],
         "prompts": [["object": 1, "box": [300, 150, 520, 500]], ["object": 2, "points": [[700, 300, 1]]]]]
    }

    func masks(_ path: String) throws -> String {
        try String(contentsOfFile: outputs + "/\(path)/masks.jsonl", encoding: .utf8)
    }

    func testTwoNodesShareTheQueueSurviveKillNineAndServeEachOthersJobs() throws {
        let testStart = Date()
        let server = try PostgresServer.start()
        let store = try server.createDatabase("samtrack")
        let configs = [try nodeConfig("a", store: store), try nodeConfig("b", store: store)]
        var nodes = try configs.map { try DaemonProcess(dataDirectory: $0.data, config: $0.config) }
        var logs: [String] { nodes.map(\.stderr) }

        // The uninterrupted reference (either node runs it).
        let reference = try submit(nodes[0].client, job("reference", frames: 60))
        XCTAssertEqual(waitFor(nodes[1].client, reference) { $0["status"] as? String == "succeeded" }["status"] as? String,
                       "succeeded")

        // The job that will lose its node, and ten short jobs, submitted to either node.
        let victim = try submit(nodes[1].client, job("victim", frames: 60))
        var batch: [String: String] = [:]
        for i in 0..<10 {
            batch["batch/\(i)"] = try submit(nodes[i % 2].client, job("batch/\(i)", frames: 4))
        }
        var runnerIndex: Int?
        let claimDeadline = Date(timeIntervalSinceNow: 60)
        while runnerIndex == nil && Date() < claimDeadline {
            runnerIndex = (0..<2).first { nodes[$0].stderr.contains("job \(victim): claimed by node \(["a", "b"][$0])") }
            usleep(20_000)
        }
        guard let runnerIndex else { return XCTFail("nobody claimed the victim: \(logs)") }
        let survivor = 1 - runnerIndex
        var seen = 0
        try nodes[runnerIndex].client.events("/v1/jobs/\(victim)/events") { event in
            seen = event.id ?? seen
            return event.name == "frame" && seen < 25
        }
        XCTAssertGreaterThanOrEqual(seen, 25, "the runner streams the job's frames")
        nodes[runnerIndex].killHard()
        let killed = Date()
        let killedLog = nodes[runnerIndex].stderr
        XCTAssertFalse(FileManager.default.fileExists(atPath: outputs + "/victim/masks.jsonl"), "the job had not finished")

        // The survivor takes the job over once the lease expired, from the last checkpoint.
        let takenOver = waitFor(nodes[survivor].client, victim) { ($0["attempts"] as? Int ?? 0) >= 2 }
        let failover = Date().timeIntervalSince(killed)
        XCTAssertGreaterThanOrEqual(failover, Self.leaseTTL - 0.5, "not before the lease expired")
        XCTAssertEqual(takenOver["attempts"] as? Int, 2)
        print("multi-node: failover after kill -9 took \(String(format: "%.1f", failover)) s (lease_ttl_s \(Self.leaseTTL))")

        // The killed node comes back (same data directory) and helps drain the queue.
        nodes[runnerIndex] = try DaemonProcess(dataDirectory: configs[runnerIndex].data, config: configs[runnerIndex].config)
        let done = waitFor(nodes[runnerIndex].client, victim, timeout: 180) {
            ($0["status"] as? String).map { $0 != "running" && $0 != "queued" } ?? false
        }
        XCTAssertEqual(done["status"] as? String, "succeeded", "\(done)")
        XCTAssertEqual(done["frames_done"] as? Int, 60)
        XCTAssertEqual(done["attempts"] as? Int, 2)
        XCTAssertEqual(try masks("victim"), try masks("reference"), "resumed output equals an uninterrupted run byte for byte")
        XCTAssertTrue(logs.joined().contains("job \(victim): claimed by node \(["a", "b"][survivor]) (attempt 2, resuming after frame"),
                      logs.joined())

        for (path, id) in batch.sorted(by: { $0.key < $1.key }) {
            let view = waitFor(nodes[0].client, id) { ($0["status"] as? String) == "succeeded" }
            XCTAssertEqual(view["attempts"] as? Int, 1, "\(path) ran once")
            XCTAssertEqual(try masks(path).split(separator: "\n").count, 4, "\(path): every frame once")
        }
        let listed = try nodes[1].client.request("GET", "/v1/jobs?limit=100").json["jobs"] as? [[String: Any]] ?? []
        XCTAssertEqual(listed.count, 12, "every job listed once")
        XCTAssertEqual(Set(listed.compactMap { $0["id"] as? String }).count, 12)
        let claims = (logs + [killedLog]).joined().components(separatedBy: ": claimed by node ").count - 1
        XCTAssertEqual(claims, 13, "each job claimed once, the victim twice")

        // Reads through either node: a job view, its masks, its (ended) event stream.
        for id in batch.values.sorted().prefix(3) {
            for client in nodes.map(\.client) {
                XCTAssertEqual(try client.request("GET", "/v1/jobs/\(id)").json["status"] as? String, "succeeded")
                let masks = try client.request("GET", "/v1/jobs/\(id)/masks")
                XCTAssertEqual(masks.status, 200, masks.text)
                XCTAssertEqual(try client.events("/v1/jobs/\(id)/events").events.last?.json["status"] as? String, "succeeded")
            }
        }

        // Cancel and SSE through the node that does not run the job.
        let long = try submit(nodes[1].client, job("long", frames: 200))
        let deadline = Date(timeIntervalSinceNow: 60)
        var runner: DaemonProcess?, other: DaemonProcess?
        while Date() < deadline && runner == nil {
            if nodes[0].stderr.contains("job \(long): claimed by node a") { (runner, other) = (nodes[0], nodes[1]) }
            if nodes[1].stderr.contains("job \(long): claimed by node b") { (runner, other) = (nodes[1], nodes[0]) }
            usleep(50_000)
        }
        guard let runner, let other else { return XCTFail("nobody claimed the long job") }
        _ = waitFor(other.client, long) { ($0["frames_done"] as? Int ?? 0) >= 5 }
        let endThroughOther = LockedValue<SSEEvent?>(nil)
        let streamDone = DispatchSemaphore(value: 0)
        let otherClient = other.client
        Thread.detachNewThread {
            endThroughOther.set(try? otherClient.events("/v1/jobs/\(long)/events").events.last)
            streamDone.signal()
        }
        let cancelled = try other.client.request("DELETE", "/v1/jobs/\(long)")
        XCTAssertEqual(cancelled.status, 200, cancelled.text)
        XCTAssertEqual(cancelled.json["status"] as? String, "cancelled", cancelled.text)
        XCTAssertLessThan(cancelled.json["frames_done"] as? Int ?? 200, 200)
        XCTAssertTrue(runner.stderr.contains("job \(long): cancel requested through another node"), runner.stderr)
        XCTAssertEqual(streamDone.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(endThroughOther.value?.name, "end")
        XCTAssertEqual(endThroughOther.value?.json["status"] as? String, "cancelled")

        for node in nodes { XCTAssertEqual(node.terminate(), 0, node.stderr) }
        print("multi-node: scenario took \(String(format: "%.1f", Date().timeIntervalSince(testStart))) s")
    }

    /// An unreachable database at start-up: a clear error and a non-zero exit, not a hang.
    func testUnreachableDatabaseAtStartUpExitsWithAClearError() throws {
        let (data, config) = try nodeConfig("c", store: "postgresql://samtrack@127.0.0.1:1/none")
        let started = Date()
        let (status, text) = try runRefusedDaemon(["--data", data, "--config", config], timeout: 30)
        XCTAssertEqual(status, 69, text)
        XCTAssertTrue(text.contains("cannot connect to postgresql://samtrack@127.0.0.1:1/none"), text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        let (usage, why) = try runRefusedDaemon(["--data", data, "--config", config, "--store", "postgresql://nobody-at-all/db"])
        XCTAssertEqual(usage, 64, why)
        XCTAssertTrue(why.contains("no user"), why)
    }
}

/// A value set by one thread and read by another.
final class LockedValue<Value>: @unchecked Sendable {  // `stored` behind `lock`
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    func set(_ value: Value) { lock.withLock { stored = value } }
    var value: Value { lock.withLock { stored } }
}
