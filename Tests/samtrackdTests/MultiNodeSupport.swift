// What the multi-node tests share (MultiNodeTests, MultiNodeScenarioTests): a scratch directory
// holding the nodes' shared output and media roots, a node's config on one PostgreSQL database,
// submitting a job and polling it until a condition holds.

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A test case whose nodes share one scratch directory (created in setUp, removed in tearDown).
class MultiNodeTestCase: XCTestCase {
    var scratch = ""
    var outputs: String { scratch + "/outputs" }

    static let leaseTTL = 3.0

    override func setUp() {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("samtrackd-nodes-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: scratch + "/outputs", withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// A node's config: its own data directory, the shared output and media roots, the shared
    /// store, a lease of `leaseTTL` seconds renewed every 0.5 s, one job at a time on one thread.
    func nodeConfig(_ name: String, store: String, models: [String: String], checkpointEvery: Int,
                    maxQueuedJobs: Int? = nil) throws -> (data: String, config: String) {
        let data = scratch + "/\(name)/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var limits: [String: Any] = ["max_running_jobs": 1]
        if let maxQueuedJobs { limits["max_queued_jobs"] = maxQueuedJobs }
        let config: [String: Any] = [
            "models": models,
            "sources": ["roots": [Samtrackd.mediaRoot]],
            "output_root": outputs,
            "media_root": scratch + "/media",
            "limits": limits,
            "checkpoint_every": checkpointEvery,
            "threads_per_job": 1,
            "store": ["postgres": store],
            "node": ["name": name, "lease_ttl_s": Self.leaseTTL, "heartbeat_s": 0.5],
            "shared_roots": [scratch, Samtrackd.mediaRoot],
        ]
        let path = scratch + "/\(name)/config.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return (data, path)
    }

    func submit(_ client: MiniHTTPClient, _ body: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let reply = try client.request("POST", "/v1/jobs", json: body)
        XCTAssertEqual(reply.status, 201, reply.text, file: file, line: line)
        return try XCTUnwrap(reply.json["id"] as? String, reply.text, file: file, line: line)
    }

    /// Polls GET /v1/jobs/{id} until `done` holds (request failures, e.g. while the database
    /// restarts, are retried); fails the test after `timeout` seconds; returns the last view.
    func waitFor(_ client: MiniHTTPClient, _ id: String, timeout: Double = 120, _ done: ([String: Any]) -> Bool) -> [String: Any] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var view: [String: Any] = [:]
        while Date() < deadline {
            if let reply = try? client.request("GET", "/v1/jobs/\(id)"), reply.status == 200 {
                view = reply.json
                if done(view) { return view }
            }
            usleep(100_000)
        }
        XCTFail("job \(id) did not reach the expected state in \(Int(timeout)) s: \(view)")
        return view
    }
}
