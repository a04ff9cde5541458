// Sessions in tests: the fixture frames (24 frames of bedroom.mp4 at 128x128, Fixtures/video) as a
// session's media, with the source size the reference scripts use, and a harness with sessions.

import Foundation
import XCTest
import Export
import SAM2
import Tensor
import TestSupport
import Tracker
@testable import TrackingDaemon

/// The committed fixture frames as a session media (frames in memory, normalised as SAM 2 does).
struct FixtureMedia: SessionMedia {
    let id = "fixture"
    let width: Int, height: Int
    let frameCount = 24

    func frameProvider(imageSize: Int) throws -> any FrameProvider {
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("video/bedroom_128x128_24.rgb"))))
        precondition(imageSize == 128, "the fixture frames are 128 x 128")
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        let plane = imageSize * imageSize
        let frames = (0..<frameCount).map { index -> Tensor in
            var out = Tensor(uninitialized: [1, 3, imageSize, imageSize])
            out.withUnsafeMutablePointer { p in
                for i in 0..<plane {
                    for c in 0..<3 { p[c * plane + i] = (Float(raw[(index * plane + i) * 3 + c]) / 255 - mean[c]) / std[c] }
                }
            }
            return out
        }
        return TensorFrames(frames, sourceWidth: width, sourceHeight: height)
    }
}

extension ServiceHarness {
    /// A harness whose handler also serves sessions on `FixtureMedia` (960 x 540 source, the
    /// reference scripts' size), hole filling off by default (as the CPU reference runs).
    static func withSessions(limits: DaemonConfig.SessionLimits = DaemonConfig.SessionLimits(featureCacheBytes: 64 << 20, threads: 2,
                                                                                               fillHoles: 0))
        throws -> (ServiceHarness, APIHandler, SessionManager) {
        let h = try ServiceHarness(start: false)
        let media = FixtureMedia(width: 960, height: 540)
        let sessions = SessionManager(limits: limits, models: h.manager.models, defaultModel: "micro") { id in
            guard id == media.id else { throw APIError(.mediaNotFound, "no media '\(id)'") }
            return media
        }
        return (h, APIHandler(manager: h.manager, sessions: sessions, keepAliveInterval: 30), sessions)
    }
}

/// Calls `handler` like `ServiceHarness.call` does.
func call(_ handler: APIHandler, _ method: String, _ target: String, json: Any? = nil) async -> ServiceHarness.Reply {
    let body = json.map { Array(try! JSONSerialization.data(withJSONObject: $0)) } ?? []
    let response = await handler.handle(APIRequest(method: method, target: target, body: body))
    return ServiceHarness.Reply(status: response.status, headers: response.headers, body: await response.collectedBody())
}

/// The events of an SSE response body.
func parseEvents(_ body: [UInt8]) -> [ParsedEvent] {
    String(decoding: body, as: UTF8.self).components(separatedBy: "\n\n").compactMap { ParsedEvent($0) }
}

/// The COCO RLE of the reference's ellipse mask ((x-cx)/rx)^2 + ((y-cy)/ry)^2 <= 1.
func ellipseRLE(_ e: [Double], width: Int, height: Int) -> [String: Any] {
    let mask = BinaryMask(width: width, height: height) { x, y in
        let dx = (Double(x) - e[0]) / e[2], dy = (Double(y) - e[1]) / e[3]
        return dx * dx + dy * dy <= 1
    }
    let rle = COCORLE(encoding: mask)
    return ["size": [height, width], "counts": rle.compressed]
}
