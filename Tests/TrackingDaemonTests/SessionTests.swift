// The session API's behaviour around the happy path: every bad input is a 4xx JSON error naming
// the problem (DESIGN §7.2 codes), a second click on a frame costs only the decoder (the features
// are cached), a propagation can be cancelled and refuses a second one, sessions are bounded in
// number, memory and idle time, and nothing is left after they expire.

import Foundation
import XCTest
import TestSupport
@testable import TrackingDaemon

final class SessionTests: XCTestCase {
    func open(_ handler: APIHandler) async throws -> String {
        let created = await call(handler, "POST", "/v1/sessions", json: ["media": "fixture"])
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.json["frames"] as? Int, 24)
        XCTAssertEqual(created.json["model"] as? String, "micro")
        return try XCTUnwrap(created.json["id"] as? String)
    }

    func testBadInputsGetClearErrors() async throws {
        let (h, handler, _) = try ServiceHarness.withSessions()
        defer { h.directory.cleanUp() }
        let id = try await open(handler)
        let prompts = "/v1/sessions/\(id)/prompts"
        let cases: [(String, String, String, Any?, Int, String)] = [
            ("unknown media", "POST", "/v1/sessions", ["media": "nope"], 404, "media_not_found"),
            ("unknown model", "POST", "/v1/sessions", ["media": "fixture", "model": "huge"], 422, "unknown_model"),
            ("unknown session", "GET", "/v1/sessions/0000", nil, 404, "session_not_found"),
            ("frame past the end", "POST", prompts, ["frame": 24, "object": 1, "points": [[10, 10, 1]]], 422, "frame_out_of_range"),
            ("negative frame", "POST", prompts, ["frame": -1, "object": 1, "points": [[10, 10, 1]]], 422, "invalid_prompt"),
            ("point outside the frame", "POST", prompts, ["frame": 0, "object": 1, "points": [[961, 10, 1]]], 422, "prompt_outside_frame"),
            ("box outside the frame", "POST", prompts, ["frame": 0, "object": 1, "box": [0, 0, 100, 600]], 422, "prompt_outside_frame"),
            ("inverted box", "POST", prompts, ["frame": 0, "object": 1, "box": [100, 100, 10, 10]], 422, "invalid_prompt"),
            ("no prompt", "POST", prompts, ["frame": 0, "object": 1], 422, "invalid_prompt"),
            ("object 0", "POST", prompts, ["frame": 0, "object": 0, "points": [[10, 10, 1]]], 422, "invalid_prompt"),
            ("malformed RLE", "POST", prompts, ["frame": 0, "object": 1, "mask": ["size": [540, 960], "counts": "%%%%"]], 422, "bad_mask"),
            ("RLE of the wrong total", "POST", prompts, ["frame": 0, "object": 1, "mask": ["size": [540, 960], "counts": [5]]], 422, "bad_mask"),
            ("mask of the wrong size", "POST", prompts, ["frame": 0, "object": 1, "mask": ["size": [10, 10], "counts": [100]]], 422,
             "prompt_outside_frame"),
            ("unknown key", "POST", prompts, ["frame": 0, "object": 1, "points": [[1, 1, 1]], "frames": 3], 400, "invalid_request"),
            ("propagate with nothing prompted", "POST", "/v1/sessions/\(id)/propagate", ["direction": "forward"], 400, "invalid_request"),
            ("unknown direction", "POST", "/v1/sessions/\(id)/propagate", ["direction": "sideways"], 400, "invalid_request"),
            ("remove an unknown object", "DELETE", "/v1/sessions/\(id)/objects/7", nil, 404, "object_not_found"),
            ("remove object 'x'", "DELETE", "/v1/sessions/\(id)/objects/x", nil, 404, "object_not_found"),
            ("bad method", "PUT", "/v1/sessions/\(id)", nil, 405, "method_not_allowed"),
        ]
        for (name, method, target, body, status, code) in cases {
            let reply = await call(handler, method, target, json: body)
            XCTAssertEqual(reply.status, status, "\(name): \(reply.text)")
            XCTAssertEqual(reply.errorCode, code, "\(name): \(reply.text)")
        }
        // The session still works after all of that.
        let ok = await call(handler, "POST", prompts, json: ["frame": 0, "object": 1, "box": [300, 150, 520, 500]])
        XCTAssertEqual(ok.status, 200, ok.text)
    }

    func testSecondClickOnAFrameReusesItsFeatures() async throws {
        let (h, handler, sessions) = try ServiceHarness.withSessions()
        defer { h.directory.cleanUp() }
        let id = try await open(handler)
        let first = await call(handler, "POST", "/v1/sessions/\(id)/prompts",
                               json: ["frame": 5, "object": 1, "points": [[400, 300, 1]], "multimask": true])
        XCTAssertEqual(first.status, 200, first.text)
        XCTAssertEqual((first.json["candidates"] as? [[String: Any]])?.count, 3, "one click gives three candidates")
        let second = await call(handler, "POST", "/v1/sessions/\(id)/prompts",
                                json: ["frame": 5, "object": 1, "points": [[450, 320, 0]], "clear": false])
        XCTAssertEqual(second.status, 200, second.text)
        XCTAssertNil(second.json["candidates"], "candidates only when asked")
        let session = try sessions.session(id)
        let stats = try await session.perform { $0.featureCacheStatistics }
        XCTAssertEqual(stats.misses, 1, "frame 5 encoded once")
        XCTAssertEqual(stats.hits, 1, "the second click reused its features")
    }

    func testPropagationCanBeCancelledAndRefusesASecondOne() async throws {
        let (h, handler, sessions) = try ServiceHarness.withSessions()
        defer { h.directory.cleanUp() }
        let id = try await open(handler)
        _ = await call(handler, "POST", "/v1/sessions/\(id)/prompts", json: ["frame": 0, "object": 1, "box": [300, 150, 520, 500]])
        let response = await handler.handle(APIRequest(method: "POST", target: "/v1/sessions/\(id)/propagate",
                                                       body: Array(#"{"direction": "forward"}"#.utf8)))
        XCTAssertEqual(response.status, 200)
        guard case let .stream(stream) = response.body else { return XCTFail("not a stream") }
        var text = "", cancelled = false
        for await chunk in stream {
            text += String(decoding: chunk, as: UTF8.self)
            if !cancelled && text.contains("event: frame") {
                let busy = await call(handler, "POST", "/v1/sessions/\(id)/propagate", json: ["direction": "backward"])
                XCTAssertEqual(busy.errorCode, "propagation_running")
                let prompt = await call(handler, "POST", "/v1/sessions/\(id)/prompts", json: ["frame": 3, "object": 2, "points": [[9, 9, 1]]])
                XCTAssertEqual(prompt.errorCode, "propagation_running")
                let cancel = await call(handler, "DELETE", "/v1/sessions/\(id)/propagate")
                XCTAssertEqual(cancel.json["cancelled"] as? Bool, true)
                cancelled = true
            }
        }
        let events = parseEvents(Array(text.utf8))
        let done = try XCTUnwrap(events.last)
        XCTAssertEqual(done.name, "done")
        XCTAssertEqual(done.json["cancelled"] as? Bool, true)
        XCTAssertLessThan(events.filter { $0.name == "frame" }.count, 24, "stopped before the end")
        XCTAssertFalse(try sessions.session(id).isPropagating)
        let again = await call(handler, "POST", "/v1/sessions/\(id)/propagate", json: ["direction": "forward"])
        XCTAssertEqual(again.status, 200, "a new propagation starts after the cancelled one")
    }

    func testSessionsAreBoundedInNumberMemoryAndTime() async throws {
        let (h, handler, sessions) = try ServiceHarness.withSessions(limits: .init(maxSessions: 2, idleTimeToLive: 0.5, maxBytes: 20_000,
                                                                                   featureCacheBytes: 8 << 20, threads: 1, fillHoles: 0))
        defer { h.directory.cleanUp() }
        let a = try await open(handler)
        _ = try await open(handler)
        let third = await call(handler, "POST", "/v1/sessions", json: ["media": "fixture"])
        XCTAssertEqual(third.status, 429, third.text)
        XCTAssertEqual(third.errorCode, "too_many_sessions")
        // Memory: tracked state past max_bytes stops a propagation and refuses prompts.
        _ = await call(handler, "POST", "/v1/sessions/\(a)/prompts", json: ["frame": 0, "object": 1, "box": [300, 150, 520, 500]])
        let propagated = await call(handler, "POST", "/v1/sessions/\(a)/propagate", json: ["direction": "forward"])
        let done = try XCTUnwrap(parseEvents(propagated.body).last)
        XCTAssertEqual(done.json["cancelled"] as? Bool, true, done.data)
        XCTAssertTrue((done.json["reason"] as? String ?? "").contains("max_bytes"), done.data)
        let refused = await call(handler, "POST", "/v1/sessions/\(a)/prompts", json: ["frame": 9, "object": 1, "points": [[400, 300, 1]]])
        XCTAssertEqual(refused.status, 413, refused.text)
        XCTAssertEqual(refused.errorCode, "session_too_large")
        // Idle sessions expire.
        try await Task.sleep(nanoseconds: 700_000_000)
        XCTAssertEqual(Set(sessions.expireIdle()).count, 2)
        XCTAssertEqual(sessions.count, 0)
        let gone = await call(handler, "GET", "/v1/sessions/\(a)")
        XCTAssertEqual(gone.errorCode, "session_not_found")
    }

    /// Issue 25: nothing leaks after TTL — resident memory back near its baseline after 100
    /// sessions opened, used and expired.
    func testHundredSessionsExpireWithoutLeaking() async throws {
        let (h, handler, sessions) = try ServiceHarness.withSessions(limits: .init(maxSessions: 100, idleTimeToLive: 0.01,
                                                                                   featureCacheBytes: 8 << 20, threads: 1, fillHoles: 0))
        defer { h.directory.cleanUp() }
        func rssMiB() -> Double {
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
        }
        func round() async throws {
            for _ in 0..<10 {
                let id = try await open(handler)
                _ = await call(handler, "POST", "/v1/sessions/\(id)/prompts", json: ["frame": 3, "object": 1, "box": [300, 150, 520, 500]])
                _ = await call(handler, "POST", "/v1/sessions/\(id)/propagate", json: ["direction": "forward", "from": 3, "to": 8])
            }
            try await Task.sleep(nanoseconds: 50_000_000)
            sessions.expireIdle()
        }
        try await round()  // warm-up: model loaded, allocator arenas grown
        let baseline = rssMiB()
        for _ in 0..<10 { try await round() }
        XCTAssertEqual(sessions.count, 0)
        let after = rssMiB()
        print(String(format: "RSS after warm-up %.1f MiB, after 100 more sessions expired %.1f MiB", baseline, after))
        XCTAssertLessThan(after - baseline, 40, "resident memory grew by \(after - baseline) MiB over 100 expired sessions")
    }
}
