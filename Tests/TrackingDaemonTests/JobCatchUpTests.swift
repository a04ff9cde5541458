// Issue 25, item 3: what a client of a running job can see and do besides the frame count — each
// object's RLE in the frame events, the frame a live prompt was applied to, the job's applied
// prompts and removals, an object removed, the masks so far, the newest frame as an image.

import Foundation
import XCTest
import Export
import TestSupport
@testable import TrackingDaemon

final class JobCatchUpTests: XCTestCase {
    func testARunningJobShowsItsMasksAndTakesChanges() async throws {
        let h = try ServiceHarness(checkpointEvery: 5)
        defer { h.directory.cleanUp() }
        let id = await h.submit(h.jobBody(maxFrames: 40, path: "catchup", extra: ["output": ["format": "palette", "path": "catchup"]]))
        let early = await h.events(id) { $0.name == "frame" && ($0.id ?? 0) >= 3 }
        let frame = try XCTUnwrap(early.last(where: { $0.name == "frame" }))
        let objects = try XCTUnwrap(frame.json["objects"] as? [[String: Any]])
        XCTAssertEqual(objects.compactMap { $0["id"] as? Int }, [1, 2])
        for object in objects {
            let rle = try XCTUnwrap(object["rle"] as? [String: Any])
            XCTAssertEqual(rle["size"] as? [Int], [540, 960])
            let decoded = try COCORLE(height: 540, width: 960, compressed: rle["counts"] as! String)
            XCTAssertEqual(decoded.area, object["area"] as? Int)
        }
        // A prompt: the reply names the frame it was applied to, and the job lists it.
        let added = await h.call("POST", "/v1/jobs/\(id)/prompts", json: ["object": 3, "box": [600, 200, 800, 400]])
        XCTAssertEqual(added.status, 202, added.text)
        let appliedAt = try XCTUnwrap(added.json["frame"] as? Int, added.text)
        XCTAssertGreaterThan(appliedAt, 3)
        // A removal.
        let removed = await h.call("DELETE", "/v1/jobs/\(id)/objects/2")
        XCTAssertEqual(removed.status, 202, removed.text)
        let removedAt = try XCTUnwrap(removed.json["frame"] as? Int)
        XCTAssertGreaterThan(removedAt, appliedAt)
        let unknown = await h.call("DELETE", "/v1/jobs/\(id)/objects/9")
        XCTAssertEqual(unknown.errorCode, "object_not_found")
        // The newest frame as an image while it runs.
        let image = await h.call("GET", "/v1/jobs/\(id)/frames/latest")
        if image.status == 200 {
            XCTAssertEqual(Array(image.body.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG")
            XCTAssertNotNil(image.headers["X-Frame-Index"])
        } else {
            XCTAssertEqual(image.errorCode, "job_not_running", "the job ended meanwhile")
        }
        // Masks so far (a palette job records masks.jsonl too).
        let partial = await h.call("GET", "/v1/jobs/\(id)/masks?format=jsonl")
        XCTAssertEqual(partial.status, 200)
        XCTAssertGreaterThanOrEqual(partial.text.split(separator: "\n").count, removedAt, "the frames before the removal are in")
        let events = await h.events(id)
        XCTAssertEqual(events.last?.json["status"] as? String, "succeeded")
        let lastFrame = try XCTUnwrap(events.last(where: { $0.name == "frame" }))
        XCTAssertEqual((lastFrame.json["objects"] as? [[String: Any]])?.compactMap { $0["id"] as? Int }, [1, 3])
        let job = await h.job(id)
        let applied = try XCTUnwrap(job["applied_prompts"] as? [[String: Any]])
        XCTAssertEqual(applied.compactMap { $0["frame"] as? Int }, [appliedAt, removedAt])
        XCTAssertEqual(applied.compactMap { $0["removed"] as? Bool }, [false, true])
        let all = await h.call("GET", "/v1/jobs/\(id)/masks")
        let lines = all.text.split(separator: "\n")
        XCTAssertEqual(lines.count, 40)
        XCTAssertTrue(lines[removedAt].contains("\"id\": 3") || lines[removedAt].contains("\"id\":3"))
        XCTAssertFalse(lines[removedAt].contains("\"id\": 2,") || lines[removedAt].contains("\"id\":2,"), String(lines[removedAt].prefix(200)))
    }
}
