// JobView: the JSON form of a job (GET /v1/jobs/{id}, the list, create and cancel responses).

import Export
import Foundation
import TrackingRun

/// The JSON view of a job.
public struct JobView: Encodable, Sendable {
    public struct ErrorView: Encodable, Sendable {
        public var code: String
        public var message: String
    }
    public struct OutputView: Encodable, Sendable {
        public var format: String
        public var path: String
        /// Absolute directory on the daemon's machine.
        public var directory: String
    }
    public var id: String
    public var status: String
    public var source: String
    public var model: String
    public var live: Bool
    public var output: OutputView
    public var objects: [Int]
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var framesDone: Int
    public var totalFrames: Int?
    public var fps: Double?
    public var droppedFrames: Int
    public var checkpointFrame: Int?
    public var resumable: Bool
    public var endReason: String?
    public var attempts: Int
    public var error: ErrorView?
    public var request: JobSpec
    /// Prompts and removals applied while the job ran, each with its frame.
    public var appliedPrompts: [AppliedView]

    /// One change applied to a running job.
    public struct AppliedView: Encodable, Sendable {
        public var frame: Int
        public var object: Int
        /// The object was removed at `frame` (no prompt then).
        public var removed: Bool
        public var box: [Double]?
        public var points: [[Double]]?
        public var mask: COCORLE?

        init(_ spec: PromptSpec) {
            frame = spec.frame ?? 0
            object = spec.object
            removed = spec.box == nil && spec.points == nil && spec.mask == nil
            box = spec.box
            points = spec.points
            mask = spec.mask
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, status, source, model, live, output, objects, fps, resumable, attempts, error, request
        case createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at", framesDone = "frames_done"
        case totalFrames = "total_frames", droppedFrames = "dropped_frames", checkpointFrame = "checkpoint_frame"
        case endReason = "end_reason", appliedPrompts = "applied_prompts"
    }

    public init(_ r: JobRecord, objects: [Int], applied: [PromptSpec] = []) {
        appliedPrompts = applied.map(AppliedView.init)
        id = r.id
        status = r.status.rawValue
        source = r.spec.source
        model = r.spec.model
        live = r.live
        output = OutputView(format: (r.spec.output?.format ?? .rle).rawValue, path: r.spec.output?.path ?? r.id,
                            directory: r.outputDirectory)
        self.objects = objects
        createdAt = APIJSON.timestamp(r.createdAt)!
        startedAt = APIJSON.timestamp(r.startedAt)
        finishedAt = APIJSON.timestamp(r.finishedAt)
        framesDone = r.framesDone
        totalFrames = r.totalFrames
        fps = r.fps.map { $0.isFinite ? ($0 * 100).rounded() / 100 : 0 }
        droppedFrames = r.droppedFrames
        checkpointFrame = r.checkpointFrame
        resumable = r.resumable
        endReason = r.endReason?.rawValue
        attempts = r.attempts
        error = r.errorCode.map { ErrorView(code: $0, message: r.errorMessage ?? "") }
        request = r.spec
    }

    /// Nulls are written (a client sees every field).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(status, forKey: .status)
        try c.encode(source, forKey: .source)
        try c.encode(model, forKey: .model)
        try c.encode(live, forKey: .live)
        try c.encode(output, forKey: .output)
        try c.encode(objects, forKey: .objects)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(framesDone, forKey: .framesDone)
        try c.encode(totalFrames, forKey: .totalFrames)
        try c.encode(fps, forKey: .fps)
        try c.encode(droppedFrames, forKey: .droppedFrames)
        try c.encode(checkpointFrame, forKey: .checkpointFrame)
        try c.encode(resumable, forKey: .resumable)
        try c.encode(endReason, forKey: .endReason)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(error, forKey: .error)
        try c.encode(request, forKey: .request)
        try c.encode(appliedPrompts, forKey: .appliedPrompts)
    }
}
