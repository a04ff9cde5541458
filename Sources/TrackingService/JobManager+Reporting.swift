// JobManager+Reporting: how a job's progress and end look to clients (the Server-Sent Events'
// JSON, the stable error codes of failed jobs), and the API form of the prompts applied while a
// job runs (stored for resumes).

import Foundation
import Export
import Media
import SAM2
import Tracker

extension JobManager {
    /// A stable code and the message for a job's failure.
    static func classify(_ error: Error) -> (String, String) {
        switch error {
        case let error as APIError: return (error.code, error.message)
        case let error as TrackingError:
            switch error {
            case .promptOutsideFrame, .maskSize: return ("prompt_outside_frame", error.description)
            case .resumeFailed: return ("resume_failed", error.description)
            default: return ("invalid_prompt", error.description)
            }
        case let error as MediaError:
            switch error {
            case .fileNotFound: return ("source_not_found", error.description)
            case .writeFailed, .encodeFailed, .encoderNotFound: return ("output_error", error.description)
            default: return ("source_error", error.description)
            }
        case let error as ExportError: return ("output_error", error.description)
        case let error as TrackerError: return ("tracker_error", error.description)
        case let error as TrackerStateError: return ("resume_failed", error.description)
        case let error as ConfigError: return ("model_error", error.description)
        default:
            let text = "\(error)"
            if String(describing: type(of: error)).contains("Checkpoint") { return ("model_error", text) }
            return ("internal_error", text)
        }
    }

    // MARK: - Events

    static func frameEvent(_ p: FrameProgress) -> ServerSentEvent {
        struct Object: Encodable { var id: Int, area: Int, bbox: [Int], score: Float }
        struct Frame: Encodable {
            var frame: Int, pts: Double?, objects: [Object], fps: Double, droppedFrames: Int, prompted: [Int]
            enum CodingKeys: String, CodingKey { case frame, pts, objects, fps, prompted, droppedFrames = "dropped_frames" }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(frame, forKey: .frame)
                try c.encode(pts, forKey: .pts)  // null when the source has no timestamps
                try c.encode(objects, forKey: .objects)
                try c.encode((fps * 100).rounded() / 100, forKey: .fps)
                try c.encode(droppedFrames, forKey: .droppedFrames)
                try c.encode(prompted, forKey: .prompted)
            }
        }
        let frame = Frame(frame: p.frame, pts: p.pts,
                          objects: p.objects.map { Object(id: $0.id, area: $0.area, bbox: $0.bbox, score: $0.score.isFinite ? $0.score : 0) },
                          fps: p.framesPerSecond.isFinite ? p.framesPerSecond : 0, droppedFrames: p.droppedFrames,
                          prompted: p.promptedObjects)
        return ServerSentEvent(name: "frame", id: p.frame, data: APIJSON.encodeString(frame))
    }

    static func endEvent(_ r: JobRecord) -> ServerSentEvent {
        struct End: Encodable {
            var id: String, status: String, framesDone: Int, resumable: Bool, error: JobView.ErrorView?
            enum CodingKeys: String, CodingKey { case id, status, resumable, error, framesDone = "frames_done" }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id)
                try c.encode(status, forKey: .status)
                try c.encode(framesDone, forKey: .framesDone)
                try c.encode(resumable, forKey: .resumable)
                try c.encode(error, forKey: .error)
            }
        }
        let error = r.errorCode.map { JobView.ErrorView(code: $0, message: r.errorMessage ?? "") }
        return ServerSentEvent(name: "end", data: APIJSON.encodeString(
            End(id: r.id, status: r.status.rawValue, framesDone: r.framesDone, resumable: r.resumable, error: error)))
    }
}

extension PromptSpec {
    /// The API form of a library prompt (exact: Float coordinates round-trip through Double).
    init(prompt: TrackingPrompt) {
        self.init(object: prompt.objectID, frame: prompt.frame)
        switch prompt.kind {
        case let .points(image):
            if let b = image.box { box = [Double(b.x1), Double(b.y1), Double(b.x2), Double(b.y2)] }
            if !image.points.isEmpty { points = image.points.map { [Double($0.x), Double($0.y), Double($0.label)] } }
        case let .mask(mask):
            self.mask = COCORLE(encoding: mask)
        }
    }
}
