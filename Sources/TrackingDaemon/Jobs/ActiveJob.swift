// ActiveJob: a job in memory while it is queued or running — its record, its event stream, its
// run once a worker has it, and the signals other requests wait on. Guarded by the manager's lock.

import Foundation
import TrackingRun

/// A queued or running job (see the file comment).
final class ActiveJob: @unchecked Sendable {  // fields guarded by the manager's lock; the hub and signals are thread-safe
    var record: JobRecord
    let events = JobEventHub()
    /// The tracking run, once a worker has built it.
    var run: TrackingRun?
    var cancelRequested = false
    /// Object ids: the initial prompts' and those added while running.
    var objects: Set<Int>
    var lastProgress: FrameProgress?
    var lastProgressTime: UInt64 = 0
    var lastPersist: UInt64 = 0
    var lastDropped = 0
    /// Fired when the job has left the active set (any end).
    let done = AsyncSignal()
    /// Fired when the run has opened its source (its frame size is known) or ended.
    let sourceOpened = AsyncSignal()
    /// Prompts and removals queued for the next frame, waiting to learn which frame it is.
    var pendingChanges: [ChangeTicket] = []
    /// This node's lease on the job (shared store; nil with SQLite).
    var lease: JobLease?
    /// When the lease was last renewed (uptime nanoseconds).
    var lastRenewal: UInt64 = 0
    /// Another node took the job (or the lease could not be renewed in time): write nothing more.
    var leaseLost = false
    /// Shared store: frames tracked and not yet committed to the database, by frame index.
    var uncommitted: [Int: StoredFrame] = [:]
    /// Shared store: a checkpoint saved by the run whose frame has not been reported yet (its
    /// frames and state are committed together once it has).
    var pendingCheckpoint: (index: Int, state: Data)?
    /// The highest frame index the run has reported (-1: none).
    var lastReportedIndex = -1

    init(record: JobRecord) {
        self.record = record
        objects = Set(record.spec.prompts.map(\.object))
    }
}

/// A change (prompts, a removal) queued for a running job's next frame: fired with the frame it
/// was applied to, or with nil when the job ended first.
final class ChangeTicket: @unchecked Sendable {  // `frame` is written before `applied` fires, read after
    let applied = AsyncSignal()
    private(set) var frame: Int?
    func fire(frame: Int?) {
        self.frame = frame
        applied.fire()
    }
}
