// JobReporting: how a job's progress, end and failures look to clients — the Server-Sent Events'
// JSON, the error code of a failed run (matched on typed errors), and the API form of the prompts
// applied while a job runs (stored for resumes).

import Foundation
import Export
import FileIO
import Media
import SAM2
import Tracker
import TrackingRun

extension ErrorCode {
    /// The code and message of a job that failed with `error`.
    static func classify(_ error: Error) -> (ErrorCode, String) {
        switch error {
        case let error as APIError: return (error.code, error.message)
        case let error as RunError:
            switch error {
            case .prompt: return (.promptOutsideFrame, error.description)
            case .noPrompts: return (.invalidPrompt, error.description)
            case .noPromptOnFirstFrame: return (.noPromptOnFirstFrame, error.description)
            case let .source(media):
                switch media {
                case .fileNotFound: return (.sourceNotFound, error.description)
                case .outsideAllowedDirectories, .formatNotAllowed: return (.sourceNotAllowed, error.description)
                default: return (.sourceError, error.description)
                }
            case let .output(file): return (file.isOutOfSpace ? .diskFull : .outputError, error.description)
            case .outputFormat, .overlay: return (.outputError, error.description)
            case .tracker, .predictor: return (.trackerError, error.description)
            case .notRandomAccess: return (.sourceError, error.description)
            case .resume: return (.resumeFailed, error.description)
            }
        case let error as ModelError: return (.modelError, error.description)
        case let error as FileError: return (error.isOutOfSpace ? .diskFull : .storageError, error.description)
        case let error as JobStoreError: return (.storageError, error.description)
        default: return (.internalError, "\(error)")
        }
    }
}

extension JobManager {
    // MARK: - Events

    static func frameEvent(_ p: FrameProgress) -> ServerSentEvent {
        frameEvent(frame: p.frame, pts: p.pts, objects: p.objects, fps: p.framesPerSecond, droppedFrames: p.droppedFrames,
                   prompted: p.promptedObjects)
    }

    /// A `frame` event (the runner's, or one rebuilt from a committed frame on another node).
    static func frameEvent(frame: Int, pts: Double?, objects: [MaskRecord], fps: Double, droppedFrames: Int,
                           prompted: [Int]) -> ServerSentEvent {
        struct Frame: Encodable {
            var frame: Int, pts: Double?, objects: [ObjectMaskView], fps: Double, droppedFrames: Int, prompted: [Int]
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
        let view = Frame(frame: frame, pts: pts, objects: objects.map(ObjectMaskView.init),
                         fps: fps.isFinite ? fps : 0, droppedFrames: droppedFrames, prompted: prompted)
        return ServerSentEvent(name: "frame", id: frame, data: APIJSON.encodeString(view))
    }

    static func endEvent(_ r: JobRecord) -> ServerSentEvent {
        struct End: Encodable {
            var id: String, status: String, framesDone: Int, resumable: Bool, endReason: String?, error: JobView.ErrorView?
            enum CodingKeys: String, CodingKey { case id, status, resumable, error, framesDone = "frames_done", endReason = "end_reason" }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id)
                try c.encode(status, forKey: .status)
                try c.encode(framesDone, forKey: .framesDone)
                try c.encode(resumable, forKey: .resumable)
                try c.encode(endReason, forKey: .endReason)
                try c.encode(error, forKey: .error)
            }
        }
        let error = r.errorCode.map { JobView.ErrorView(code: $0, message: r.errorMessage ?? "") }
        return ServerSentEvent(name: "end", data: APIJSON.encodeString(
            End(id: r.id, status: r.status.rawValue, framesDone: r.framesDone, resumable: r.resumable,
                endReason: r.endReason?.rawValue, error: error)))
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
        case .removal:
            break  // an object-only entry: the object was removed at that frame
        }
    }
}
