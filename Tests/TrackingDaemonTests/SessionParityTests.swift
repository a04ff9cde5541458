// The session API replays the reference scripts (Fixtures/video/micro_session*.safetensors, the
// official SAM2VideoPredictor on the micro model, Tools/reference/make_session_fixtures.py) over
// HTTP: every mask a prompt or a propagation returns is the reference's logits upsampled to the
// source size and thresholded at 0, pixel for pixel, except where |logit| < 1e-3 (DESIGN §8).
// (The engine's logits are compared to 1e-4 by TrackerTests.VideoPredictorParityTests.)

import Foundation
import XCTest
import Checkpoint
import Export
import Tensor
import TestSupport
@testable import TrackingDaemon

final class SessionParityTests: XCTestCase {
    func testInteractiveSessionOverHTTP() async throws { try await replay("micro_session") }
    func testBothDirectionRunOverHTTP() async throws { try await replay("micro_session_cli_late") }

    func replay(_ name: String) async throws {
        let reference = try Fixtures.reference("video/\(name).safetensors")
        let steps = try JSONSerialization.jsonObject(with: Data(reference.metadata["script"]!.utf8)) as! [[String: Any]]
        let (width, height) = (reference.int("source_width")!, reference.int("source_height")!)
        let (h, handler, _) = try ServiceHarness.withSessions()
        defer { h.directory.cleanUp() }
        let created = await call(handler, "POST", "/v1/sessions", json: ["media": "fixture", "model": "micro"])
        XCTAssertEqual(created.status, 201, created.text)
        let session = try XCTUnwrap(created.json["id"] as? String)
        var compared = 0
        func check(_ objects: [[String: Any]], prefix: String) throws {
            for object in objects {
                let id = object["id"] as! Int
                let rle = object["rle"] as! [String: Any]
                let mask = try COCORLE(height: height, width: width, compressed: rle["counts"] as! String).decoded()
                let logits = try reference.tensor("\(prefix).\(id).low_res")
                let side = logits.shape
                let upsampled = logits.reshaped([1, 1, side[0], side[1]])
                    .interpolate(height: height, width: width, mode: .bilinear(antialias: false)).reshaped([height, width])
                var differing = 0
                upsampled.withUnsafeBufferPointer { values in
                    mask.withUnsafeBufferPointer { pixels in
                        for i in 0..<(width * height) where (values[i] > 0) != (pixels[i] != 0) && abs(values[i]) >= 1e-3 { differing += 1 }
                    }
                }
                XCTAssertEqual(differing, 0, "\(name) \(prefix) object \(id): pixels differing from the reference")
                compared += 1
            }
        }
        for (i, step) in steps.enumerated() {
            switch step["op"] as! String {
            case "points", "mask":
                var body: [String: Any] = ["frame": step["frame"]!, "object": step["object"]!]
                if step["op"] as! String == "mask" {
                    body["mask"] = ellipseRLE(step["ellipse"] as! [Double], width: width, height: height)
                } else {
                    if let box = step["box"] { body["box"] = box }
                    if let points = step["points"] as? [[Double]], let labels = step["labels"] as? [Int] {
                        body["points"] = zip(points, labels).map { [$0[0], $0[1], Double($1)] }
                    }
                    if let clear = step["clear"] as? Bool { body["clear"] = clear }
                }
                let reply = await call(handler, "POST", "/v1/sessions/\(session)/prompts", json: body)
                XCTAssertEqual(reply.status, 200, "step \(i): \(reply.text)")
                try check(reply.json["objects"] as? [[String: Any]] ?? [], prefix: "\(i)")
            case "propagate":
                let reverse = step["reverse"] as! Bool
                var body: [String: Any] = ["direction": reverse ? "backward" : "forward"]
                if let start = step["start"] as? Int {
                    body["from"] = start
                    if let max = step["max"] as? Int { body["to"] = reverse ? start - max : start + max }
                }
                let reply = await call(handler, "POST", "/v1/sessions/\(session)/propagate", json: body)
                XCTAssertEqual(reply.status, 200, "step \(i): \(reply.text)")
                let events = parseEvents(reply.body)
                let frames = events.filter { $0.name == "frame" }
                XCTAssertEqual(frames.map { $0.id ?? -1 }, try reference.tensor("\(i).frames").scalars.map { Int($0) }, "step \(i)")
                for event in frames {
                    try check(event.json["objects"] as? [[String: Any]] ?? [], prefix: "\(i).\(event.id!)")
                }
                XCTAssertEqual(events.last?.name, "done")
                XCTAssertEqual(events.last?.json["frames"] as? Int, frames.count)
            case "remove":
                let reply = await call(handler, "DELETE", "/v1/sessions/\(session)/objects/\(step["object"] as! Int)")
                XCTAssertEqual(reply.status, 200, reply.text)
            default:
                XCTFail("unknown step")
            }
        }
        print("\(name) over HTTP: \(compared) masks equal the reference")
        XCTAssertGreaterThan(compared, 30)
    }
}
