// JobRecord: one job as the daemon stores and shows it. Its fields change only through
// `JobRecord.apply(_:)` (JobLifecycle.swift), the one place that knows the job life cycle.

import Foundation

/// Life cycle of a job.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    /// Waiting for a worker.
    case queued
    /// Being tracked.
    case running
    /// Tracked to the end of the source (or max_frames, or until a live source went idle).
    case succeeded
    /// Stopped by an error (see `error`).
    case failed
    /// Stopped by DELETE; outputs hold the frames done.
    case cancelled
    /// Stopped by a daemon shutdown or crash. `resumable` jobs (files) continue from their last
    /// checkpoint when the daemon starts again; live jobs do not.
    case interrupted

    /// True once nothing more will happen to the job.
    public var isTerminal: Bool {
        switch self {
        case .queued, .running: return false
        case .succeeded, .failed, .cancelled, .interrupted: return true
        }
    }
}

/// Why a job that succeeded stopped where it did.
public enum JobEndReason: String, Codable, Sendable, CaseIterable {
    /// The source ended.
    case endOfSource = "end_of_source"
    /// `max_frames` frames were tracked.
    case maxFrames = "max_frames"
    /// A live source sent nothing for `limits.live_idle_timeout_s` seconds.
    case sourceIdle = "source_idle"
    /// The file ended before the frame count its container declares (a truncated file).
    case truncated
    /// Frames of the source could not be decoded and were skipped (a damaged stream).
    case damaged
}

/// One job as stored.
public struct JobRecord: Sendable, Equatable {
    public internal(set) var id: String
    /// Submission order (FIFO scheduling, listing).
    public internal(set) var seq: Int64
    public internal(set) var spec: JobSpec
    public internal(set) var status: JobStatus
    /// Absolute output directory (under the output root).
    public internal(set) var outputDirectory: String
    /// Live mode (newest frame wins; not resumable).
    public internal(set) var live: Bool
    public internal(set) var createdAt: Date
    public internal(set) var startedAt: Date?
    public internal(set) var finishedAt: Date?
    /// Frames tracked (the last tracked frame + 1, counting frames before a resume).
    public internal(set) var framesDone: Int = 0
    /// Frames the job will track when known (file length, max_frames).
    public internal(set) var totalFrames: Int?
    public internal(set) var droppedFrames: Int = 0
    /// Frames per second of the latest run.
    public internal(set) var fps: Double?
    /// Stable error code (`ErrorCode`) and message of a failed or interrupted job.
    public internal(set) var errorCode: String?
    public internal(set) var errorMessage: String?
    /// Why a succeeded job ended where it did.
    public internal(set) var endReason: JobEndReason?
    /// Last frame whose tracker state is saved in DATA/jobs/<id>/state.safetensors.
    public internal(set) var checkpointFrame: Int?
    /// An interrupted job that the next start of the daemon resumes.
    public internal(set) var resumable: Bool = false
    /// Times a worker started the job.
    public internal(set) var attempts: Int = 0
    /// Times the daemon died while the job was running.
    public internal(set) var crashes: Int = 0

    public init(id: String, seq: Int64 = 0, spec: JobSpec, status: JobStatus, outputDirectory: String, live: Bool,
                createdAt: Date) {
        self.id = id
        self.seq = seq
        self.spec = spec
        self.status = status
        self.outputDirectory = outputDirectory
        self.live = live
        self.createdAt = createdAt
    }
}
