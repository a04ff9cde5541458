// JobLifecycle: every change of a job's state, as one transition function. A worker, the
// scheduler, a cancel request or the start-up recovery says *what happened* (`JobEvent`);
// `JobRecord.apply` decides the new status and sets every field that goes with it, and refuses
// a change the life cycle does not allow (a bug, reported rather than stored).
//
//   queued --started--> running --succeeded--> succeeded
//     |                   |------failed------> failed
//     |                   |------cancelled---> cancelled
//     |                   |------suspended---> interrupted (resumable: file jobs on SIGTERM)
//     |                   '---shutDownLive---> interrupted (live jobs on SIGTERM)
//     '--cancelled--> cancelled
//   at start-up: running (the daemon died) --requeued--> queued, or --gaveUp--> failed (crashed),
//                or --abandonedLive--> interrupted; interrupted+resumable --requeued--> queued;
//   any unreadable row --quarantined--> failed (quarantined).

import Foundation

/// What happened to a job.
public enum JobEvent: Sendable {
    /// A worker took the job.
    case started
    /// A frame was tracked.
    case progressed(framesDone: Int, totalFrames: Int?, fps: Double, droppedFrames: Int)
    /// The tracker state was saved after `frame`.
    case checkpointed(frame: Int)
    /// The saved state could not be used; the run restarted from frame 0.
    case checkpointDiscarded
    /// The run ended normally.
    case succeeded(reason: JobEndReason, framesTracked: Int, seconds: Double, droppedFrames: Int)
    /// Cancelled (DELETE), queued or running.
    case cancelled
    /// SIGTERM: a file job stopped after saving its state at `checkpointFrame`.
    case suspended(checkpointFrame: Int?)
    /// SIGTERM while a live job ran (or before a job's source was open when it cannot resume).
    case shutDown(resumable: Bool, message: String)
    /// The run failed.
    case failed(code: ErrorCode, message: String)
    /// Start-up: a job that was queued, interrupted-resumable, or running when the daemon died
    /// (`crashed`) goes back to the queue.
    case requeued(crashed: Bool)
    /// Start-up: a live job found running is not resumed (the stream moved on).
    case abandonedLive
    /// Start-up: the daemon died `crashes` times while running this job.
    case gaveUp(crashes: Int)
    /// Start-up: the stored row could not be read (bad spec, unknown status): kept, marked failed.
    case quarantined(reason: String)
}

/// A transition the life cycle does not allow.
public struct LifecycleError: Error, CustomStringConvertible, Sendable {
    public var jobID: String
    public var from: JobStatus
    public var event: String
    public var description: String { "job \(jobID): \(event) is not possible while \(from.rawValue)" }
}

extension JobRecord {
    /// Applies `event` at time `now` (see the file comment).
    public mutating func apply(_ event: JobEvent, now: Date = Date()) throws(LifecycleError) {
        func require(_ allowed: Set<JobStatus>) throws(LifecycleError) {
            guard allowed.contains(status) else { throw LifecycleError(jobID: id, from: status, event: "\(event)") }
        }
        switch event {
        case .started:
            try require([.queued])
            status = .running
            startedAt = now
            finishedAt = nil
            attempts += 1
            errorCode = nil
            errorMessage = nil
            endReason = nil
        case let .progressed(framesDone, totalFrames, fps, droppedFrames):
            try require([.running])
            self.framesDone = framesDone
            if let totalFrames { self.totalFrames = totalFrames }
            self.fps = fps
            self.droppedFrames = droppedFrames
        case let .checkpointed(frame):
            try require([.running])
            checkpointFrame = frame
        case .checkpointDiscarded:
            try require([.running])
            checkpointFrame = nil
        case let .succeeded(reason, framesTracked, seconds, droppedFrames):
            try require([.running])
            finish(.succeeded, now: now)
            endReason = reason
            if framesTracked > 0 { fps = Double(framesTracked) / max(seconds, 1e-9) }
            self.droppedFrames = droppedFrames
        case .cancelled:
            try require([.queued, .running])
            finish(.cancelled, now: now)
        case let .suspended(checkpointFrame):
            try require([.running])
            finish(.interrupted, now: now)
            if let checkpointFrame { self.checkpointFrame = checkpointFrame }
            resumable = true
            errorCode = ErrorCode.interrupted.rawValue
            errorMessage = "the daemon shut down; the job resumes after frame "
                + "\(self.checkpointFrame.map(String.init) ?? "none") when it starts again"
        case let .shutDown(canResume, message):
            try require([.running])
            finish(.interrupted, now: now)
            resumable = canResume && !live
            errorCode = ErrorCode.interrupted.rawValue
            errorMessage = message
        case let .failed(code, message):
            try require([.queued, .running])
            finish(.failed, now: now)
            errorCode = code.rawValue
            errorMessage = message
        case let .requeued(crashed):
            try require([.queued, .running, .interrupted])
            if crashed { crashes += 1 }
            status = .queued
            resumable = false
            finishedAt = nil
        case .abandonedLive:
            try require([.running, .interrupted])
            finish(.interrupted, now: now)
            errorCode = ErrorCode.interrupted.rawValue
            errorMessage = "the daemon stopped while this live job ran; live jobs are not resumed"
        case let .gaveUp(crashes):
            try require([.running])
            self.crashes = crashes
            finish(.failed, now: now)
            errorCode = ErrorCode.crashed.rawValue
            errorMessage = "the daemon died \(crashes) times while running this job; giving up"
        case let .quarantined(reason):
            finish(.failed, now: now)
            errorCode = ErrorCode.quarantined.rawValue
            errorMessage = reason
        }
    }

    /// A terminal status: finished now, never resumable unless the caller says so after.
    private mutating func finish(_ terminal: JobStatus, now: Date) {
        status = terminal
        finishedAt = now
        resumable = false
    }
}
