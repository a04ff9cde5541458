// SessionRoutes: the interactive session API (DESIGN §7.2) on `SessionManager`:
//
//   POST   /v1/sessions                       {"media", "model"?} -> 201 session
//   GET    /v1/sessions/{id}                  the session
//   DELETE /v1/sessions/{id}                  close it
//   POST   /v1/sessions/{id}/prompts          points / box / mask on a frame -> that frame's masks
//   POST   /v1/sessions/{id}/propagate        {"from", "direction", "to"} -> text/event-stream
//   DELETE /v1/sessions/{id}/propagate        cancel the running propagation
//   DELETE /v1/sessions/{id}/objects/{k}      remove an object
//   POST   /v1/sessions/{id}/reset            forget every prompt and result
//   GET    /v1/sessions/{id}/masks            export (SessionExport.swift)

import Foundation
import Export
import SAM2
import Tensor
import Tracker
import TrackingRun

/// The JSON form of a session.
struct SessionView: Encodable {
    var id: String
    var media: String
    var model: String
    var frames: Int
    var width: Int
    var height: Int
    var objects: [Int]
    var trackedFrames: Int
    var memoryBytes: Int
    var propagating: Bool
    var createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, media, model, frames, width, height, objects, propagating
        case trackedFrames = "tracked_frames", memoryBytes = "memory_bytes", createdAt = "created_at"
    }

    init(_ session: Session) {
        let snapshot = session.snapshot
        id = session.id
        media = session.media.id
        model = session.modelName
        frames = session.media.frameCount
        width = session.media.width
        height = session.media.height
        objects = snapshot.objects
        trackedFrames = snapshot.trackedFrames
        memoryBytes = snapshot.memoryBytes
        propagating = session.isPropagating
        createdAt = APIJSON.timestamp(session.createdAt)!
    }
}

/// The session routes (see the file comment).
struct SessionRoutes {
    let sessions: SessionManager
    let maxMaskPixels: Int

    func route(_ request: APIRequest, _ parts: [String]) async throws -> APIResponse {
        let method = request.method
        if parts.count == 2 {
            try allow(method, ["POST"], request.path)
            let spec = try APIJSON.decode(SessionCreateSpec.self, from: request.body)
            let session = try await sessions.create(mediaID: spec.media, model: spec.model)
            var response = APIResponse.json(201, SessionView(session))
            response.headers["Location"] = "/v1/sessions/\(session.id)"
            return response
        }
        let session = try sessions.session(try identifier(parts[2]))
        switch Array(parts.dropFirst(3)) {
        case []:
            try allow(method, ["GET", "DELETE"], request.path)
            if method == "DELETE" {
                try sessions.delete(session.id)
                return .json(200, SessionView(session))
            }
            return .json(200, SessionView(session))
        case ["prompts"]:
            try allow(method, ["POST"], request.path)
            return try await prompt(session, request)
        case ["propagate"]:
            try allow(method, ["POST", "DELETE"], request.path)
            if method == "DELETE" {
                struct Cancelled: Encodable { var cancelled: Bool }
                return .json(200, Cancelled(cancelled: session.cancelPropagation()))
            }
            return try await SessionPropagation(session: session).start(try APIJSON.decode(PropagateSpec.self, from: request.body))
        case ["reset"]:
            try allow(method, ["POST"], request.path)
            try refuseWhilePropagating(session)
            try await session.perform { $0.resetState() }
            session.forgetPrompts(object: nil)
            return .json(200, SessionView(session))
        case let p where p.count == 2 && p[0] == "objects":
            try allow(method, ["DELETE"], request.path)
            try refuseWhilePropagating(session)
            guard let object = Int(p[1]), object > 0 else {
                throw APIError(.objectNotFound, "'\(p[1].prefix(32))' is not an object id (a positive integer)")
            }
            do {
                try await session.perform { try $0.removeObject(object) }
            } catch PredictorError.unknownObject {
                throw APIError(.objectNotFound, "session \(session.id) has no object \(object)")
            }
            session.forgetPrompts(object: object)
            return .json(200, SessionView(session))
        case ["masks"]:
            try allow(method, ["GET"], request.path)
            return try await SessionExport(session: session).response(format: request.query["format"] ?? "jsonl")
        default:
            throw APIError.routeNotFound(method, request.path)
        }
    }

    /// Prompts on one frame; answers every object's mask on it (and candidates when asked).
    private func prompt(_ session: Session, _ request: APIRequest) async throws -> APIResponse {
        let spec = try APIJSON.decode(SessionPromptSpec.self, from: request.body, maskPixels: maxMaskPixels)
        let prompt = try spec.check()
        let (frames, width, height) = (session.media.frameCount, session.media.width, session.media.height)
        guard spec.frame < frames else {
            throw APIError(.frameOutOfRange, "frame \(spec.frame) is past the end of the media (\(frames) frames: 0...\(frames - 1))")
        }
        try refuseWhilePropagating(session)
        if session.snapshot.memoryBytes > session.maxBytes {
            throw APIError(.sessionTooLarge, "the session holds \(session.snapshot.memoryBytes) bytes of tracked state "
                           + "(sessions.max_bytes \(session.maxBytes)); export its masks and reset it, or remove objects")
        }
        let mask = prompt.mask.map { $0.decoded() }
        let image = prompt.imagePrompt
        let clear = spec.clear, multimask = spec.multimask, frame = spec.frame, object = spec.object
        let reply: PromptReplyView
        do {
            reply = try await session.perform { predictor in
                let result: PromptResult
                if let mask {
                    let values = mask.withUnsafeBufferPointer { $0.map { Float($0) } }
                    result = try predictor.addMask(frame: frame, object: object, mask: Tensor(shape: [mask.height, mask.width], values: values))
                } else {
                    result = try predictor.addPointsOrBox(frame: frame, object: object, prompt: image ?? ImagePrompt(), clearOld: clear)
                }
                let records = try SessionMasks.records(result.frame, width: width, height: height)
                let candidates = multimask ? try result.candidates.map { try SessionMasks.candidate($0, width: width, height: height) } : nil
                return PromptReplyView(frame: frame, objects: records.map(ObjectMaskView.init), candidates: candidates)
            }
        } catch let error as PredictorError {
            throw Self.apiError(error)
        }
        session.recordPrompt(prompt)
        return .json(200, reply)
    }

    private func refuseWhilePropagating(_ session: Session) throws(APIError) {
        if session.isPropagating {
            throw APIError(.propagationRunning, "a propagation is running in session \(session.id); wait for its done event or cancel it "
                           + "(DELETE /v1/sessions/\(session.id)/propagate)")
        }
    }

    /// A predictor error as the API's.
    static func apiError(_ error: PredictorError) -> APIError {
        switch error {
        case let .invalidFrame(cause): return APIError(.frameOutOfRange, cause.description)
        case let .prompt(cause):
            switch cause {
            case .pointOutsideImage, .boxOutsideImage, .maskSize: return APIError(.promptOutsideFrame, cause.description)
            default: return APIError(.invalidPrompt, cause.description)
            }
        case let .unknownObject(id): return APIError(.objectNotFound, error.description + " (object \(id))")
        case .boxWithoutClearing, .maskLogitsNotSupported, .objectWithoutPrompts, .invalidFrameLimit:
            return APIError(.invalidPrompt, error.description)
        case .noObjects: return APIError(.invalidRequest, error.description)
        case .frameShape, .frameUnreadable: return APIError(.internalError, error.description)
        }
    }
}

func allow(_ method: String, _ allowed: [String], _ path: String) throws(APIError) {
    guard allowed.contains(method) else { throw APIError.methodNotAllowed(method, path, allowed: allowed) }
}

/// A session or media id from a path component (lower-case UUIDs; anything else is unknown).
func identifier(_ text: String) throws(APIError) -> String {
    guard text.count <= 64, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
        throw APIError(.notFound, "'\(text.prefix(64))' is not a valid id")
    }
    return text.lowercased()
}
