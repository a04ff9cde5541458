// SessionPropagation: `POST /v1/sessions/{id}/propagate` as a Server-Sent Events stream — one
// `frame` event per tracked frame with every object's mask, then `done` with the number of frames
// and whether it was cancelled (DELETE .../propagate, the client going away, or the session's
// memory cap). Forward, backward (`reverse`), or both: forward from the start, then backward
// from it, as the official `propagate_in_video` twice.

import Foundation
import Export
import Tracker

struct SessionPropagation {
    let session: Session

    func start(_ spec: PropagateSpec) async throws -> APIResponse {
        let frames = session.media.frameCount
        if let from = spec.from, !(0..<frames).contains(from) {
            throw APIError(.frameOutOfRange, "from \(from) is outside the media's frames 0...\(frames - 1)")
        }
        if let to = spec.to {
            guard let from = spec.from else { throw APIError(.invalidRequest, "give from with to") }
            guard (0..<frames).contains(to) else { throw APIError(.frameOutOfRange, "to \(to) is outside the media's frames 0...\(frames - 1)") }
            guard spec.direction != .both else { throw APIError(.invalidRequest, "to applies to direction forward or backward") }
            if spec.direction == .forward && to < from || spec.direction == .backward && to > from {
                throw APIError(.invalidRequest, "to \(to) lies behind from \(from) for direction \(spec.direction.rawValue)")
            }
        }
        guard !session.snapshot.objects.isEmpty else {
            throw APIError(.invalidRequest, "nothing to propagate: prompt an object first (POST /v1/sessions/\(session.id)/prompts)")
        }
        guard let flag = session.beginPropagation() else {
            throw APIError(.propagationRunning, "a propagation is already running in session \(session.id)")
        }
        let passes: [(start: Int?, reverse: Bool, maxFrames: Int?)]
        switch spec.direction {
        case .forward: passes = [(spec.from, false, spec.to.map { $0 - spec.from! })]
        case .backward: passes = [(spec.from, true, spec.to.map { spec.from! - $0 })]
        case .both: passes = [(spec.from, false, nil), (spec.from, true, nil)]
        }
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        continuation.onTermination = { _ in flag.cancel() }
        let session = self.session, width = session.media.width, height = session.media.height, maxBytes = session.maxBytes
        Task {
            continuation.yield(Array(": samtrackd session \(session.id) propagation\n\n".utf8))
            var done = Done(frames: 0, cancelled: false, reason: nil)
            do {
                done = try await session.perform { predictor in
                    var result = Done(frames: 0, cancelled: false, reason: nil)
                    for pass in passes where !result.cancelled {
                        let summary = try predictor.propagate(start: pass.start, maxFrames: pass.maxFrames, reverse: pass.reverse) { frame in
                            let records = try SessionMasks.records(frame, width: width, height: height)
                            let view = FrameMasksView(frame: frame.frame, objects: records.map(ObjectMaskView.init))
                            continuation.yield(Array(ServerSentEvent(name: "frame", id: frame.frame, data: APIJSON.encodeString(view)).text.utf8))
                            if flag.isCancelled { return .stop }
                            if predictor.memoryByteCount > maxBytes {
                                result.reason = "the session reached sessions.max_bytes (\(maxBytes) bytes)"
                                return .stop
                            }
                            return .continue
                        }
                        result.frames += summary.frames.count
                        result.cancelled = summary.cancelled
                    }
                    return result
                }
            } catch {
                let apiError = (error as? PredictorError).map(SessionRoutes.apiError) ?? APIError(.internalError, "\(error)")
                continuation.yield(Array(ServerSentEvent(name: "error", data: String(decoding: apiError.body, as: UTF8.self)).text.utf8))
                done.cancelled = true
            }
            session.endPropagation()
            continuation.yield(Array(ServerSentEvent(name: "done", data: APIJSON.encodeString(done)).text.utf8))
            continuation.finish()
        }
        return APIResponse(status: 200, headers: ["Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                                  "X-Accel-Buffering": "no"], body: .stream(stream))
    }

    /// The `done` event's data.
    struct Done: Encodable, Sendable {
        var frames: Int
        var cancelled: Bool
        var reason: String?
    }
}
