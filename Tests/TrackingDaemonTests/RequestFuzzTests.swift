// A seeded, budgeted fuzzer over the daemon's request handling (issue 23): bodies derived from
// valid job and prompt requests by structural mutations (values replaced by extremes, wrong
// types, deep nesting, unknown keys, huge or negative mask sizes, RLE strings of random bytes)
// and byte-level ones, sent to every route through `APIHandler` without sockets. Every answer
// must be a 2xx or a 4xx with the JSON error body; a trap (overflow, out-of-range index) fails
// the run, and a 5xx fails the test. `SAMTRACK_FUZZ_SECONDS` (default 4) sets the budget and
// `SAMTRACK_FUZZ_SEED` the seed; a longer run's figures are in Tools/fuzz/README.md.

import Foundation
import XCTest
import TestSupport
@testable import TrackingDaemon

final class RequestFuzzTests: XCTestCase {
    private var budget: Double { ProcessInfo.processInfo.environment["SAMTRACK_FUZZ_SECONDS"].flatMap(Double.init) ?? 4 }
    private var seed: UInt64 { ProcessInfo.processInfo.environment["SAMTRACK_FUZZ_SEED"].flatMap(UInt64.init) ?? 23 }

    /// Values a mutation puts in place of a JSON value.
    nonisolated(unsafe) private static let extremes: [Any] = [  // never mutated
        0, -1, 1, Int64.max, Int64.min, 4294967296, -4294967296, 1e308, -1e308, 1e-300, 0.5, Double.leastNonzeroMagnitude,
        "", "x", String(repeating: "a", count: 5000), "%05d", "../../etc/passwd", "\u{0}", "🎥", true, false, NSNull(),
        [Any](), [String: Any](), [[[[[[[[1]]]]]]]], ["size": [4294967296, 4294967296], "counts": [0]],
        ["size": [720, 1280], "counts": "0"], ["size": [-3, 5], "counts": [7]], ["size": [2, 2], "counts": "!!!!!!!!"],
        [0, 0, 1e300, 1e300], [[1e308, -1e308, 2]], [[5, 5, 7]],
    ]

    private func mutateValue(_ value: Any, _ rng: inout SeededGenerator, depth: Int = 0) -> Any {
        let roll = Int.random(in: 0..<10, using: &rng)
        if depth > 4 || roll < 2 { return Self.extremes.randomElement(using: &rng)! }
        if var object = value as? [String: Any], !object.isEmpty {
            let key = object.keys.sorted().randomElement(using: &rng)!
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: object[key] = nil
            case 1: object["unknown_\(Int.random(in: 0..<5, using: &rng))"] = Self.extremes.randomElement(using: &rng)!
            default: object[key] = mutateValue(object[key]!, &rng, depth: depth + 1)
            }
            return object
        }
        if var array = value as? [Any], !array.isEmpty {
            let index = Int.random(in: 0..<array.count, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: array.remove(at: index)
            case 1: array.append(array[index])
            default: array[index] = mutateValue(array[index], &rng, depth: depth + 1)
            }
            return array
        }
        return Self.extremes.randomElement(using: &rng)!
    }

    private func mutateBytes(_ bytes: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes.remove(at: i)
            default: bytes.insert(Array("{}[]\",:0-e9\\".utf8).randomElement(using: &rng)!, at: i)
            }
        }
        return bytes
    }

    func testMutatedRequestsAlwaysGetA2xxOr4xxJSONAnswer() async throws {
        let h = try ServiceHarness(limits: .init(maxRunningJobs: 1, maxQueuedJobs: 100_000, maxObjectsPerJob: 64), start: false)
        defer { h.directory.cleanUp() }
        let valid = h.jobBody()
        let prompt: [String: Any] = ["object": 3, "points": [[10, 20, 1]]]
        let routes: [(String, String, Any)] = [
            ("POST", "/v1/jobs", valid),
            ("POST", "/v1/jobs/00000000-0000-0000-0000-000000000000/prompts", prompt),
            ("POST", "/v1/jobs/00000000-0000-0000-0000-000000000000/prompts", ["prompts": [prompt, prompt]]),
        ]
        let queries = ["/v1/jobs?limit=-1", "/v1/jobs?status=%ff", "/v1/jobs?offset=99999999999999999999", "/v1/jobs/%2e%2e",
                       "/v1/jobs/x/events?after=-99999999999999999999", "/v1/jobs/" + String(repeating: "a", count: 5000), "/metrics"]
        var rng = SeededGenerator(seed: seed)
        let deadline = Date().addingTimeInterval(budget)
        var sent = 0, accepted = 0
        while Date() < deadline {
            let (method, target, body) = routes.randomElement(using: &rng)!
            var mutated = body
            for _ in 0..<Int.random(in: 1...3, using: &rng) { mutated = mutateValue(mutated, &rng) }
            var bytes = (try? JSONSerialization.data(withJSONObject: mutated, options: [.fragmentsAllowed])).map(Array.init) ?? []
            if Int.random(in: 0..<4, using: &rng) == 0 { bytes = mutateBytes(bytes, &rng) }
            let reply = await h.call(method, target, body: bytes)
            sent += 1
            if reply.status < 300 { accepted += 1; continue }
            XCTAssertTrue((400..<500).contains(reply.status), "\(method) \(target) \(String(decoding: bytes.prefix(300), as: UTF8.self)) -> \(reply.status) \(reply.text)")
            XCTAssertNotNil(reply.errorCode, "no JSON error: \(reply.text)")
            if sent % 50 == 0 {
                let probe = await h.call("GET", queries.randomElement(using: &rng)!)
                XCTAssertTrue(probe.status < 500, "\(probe.status) \(probe.text)")
            }
        }
        print("request fuzz: \(sent) requests in \(budget) s (seed \(seed)), \(accepted) accepted, 0 traps")
        XCTAssertGreaterThan(sent, 50)
    }
}
