// JobSharedProgress: a job's progress on a store shared by several nodes (`SharedJobQueue`).
//
// - Frames and checkpoints: each tracked frame's masks.jsonl line is kept in memory until the run
//   saves a checkpoint; once the checkpoint's frame has been reported, the frames up to it, the
//   job's `checkpoint_frame` and the tracker state are committed in one fenced transaction. The
//   frames after the last checkpoint are committed with the job's end (retried with backoff while
//   the database is unreachable, until the lease is lost). A commit that fails keeps its frames
//   for the next one: nothing is dropped. A node that resumes a job writes the state from the
//   database to its own DATA/jobs/<id> and continues after the last committed frame.
// - Reads from any node: masks (`committedFrames`) and the event stream of a job that runs
//   elsewhere come from the committed rows; the stream polls them, and ends with the `end` event.

import Foundation
import Export
import FileIO
import TrackingRun

extension JobManager {
    /// Before a claimed job runs: its checkpoint from the database into DATA/jobs/<id>/state.safetensors
    /// (a local state from an earlier claim is removed first: it may be older than the database's).
    func materializeCheckpoint(_ record: JobRecord, statePath: String) throws {
        guard let shared else { return }
        try? FileManager.default.removeItem(atPath: statePath)
        guard let frame = record.checkpointFrame else { return }
        guard let state = try shared.checkpointState(jobID: record.id, frame: frame) else {
            log("job \(record.id): the database has no tracker state for frame \(frame); starting from frame 0")
            return
        }
        try AtomicFile.write(state, to: statePath)
    }

    /// After each tracked frame (worker thread): the frame joins the uncommitted ones; a checkpoint
    /// waiting for this frame is committed.
    func frameTracked(_ job: ActiveJob, _ p: FrameProgress) {
        let stored = StoredFrame(index: p.index, frame: p.frame,
                                 line: FrameRecord(frame: p.frame, pts: p.pts, objects: p.objects).jsonLine,
                                 prompted: p.promptedObjects)
        let (due, flush): (Bool, Bool) = lock.withLock {
            job.uncommitted[p.index] = stored
            job.lastReportedIndex = max(job.lastReportedIndex, p.index)
            let due = job.pendingCheckpoint.map { $0.index <= p.index } ?? false
            // A run without checkpoints (live, or tracked both ways) commits its frames every
            // `checkpoint_every` frames without a state: it is not resumed, but its frames are served.
            let flush = job.run?.hooks.checkpoint == nil && job.uncommitted.count % config.checkpointEvery == 0
            return (due, flush)
        }
        if due { commitCheckpoint(job) }
        if flush { commitFrames(job) }
    }

    /// The uncommitted frames of a run without checkpoints, with the job's record (fenced).
    private func commitFrames(_ job: ActiveJob) {
        guard let shared else { return }
        let (record, frames) = lock.withLock { (job.record, job.uncommitted.values.sorted { $0.index < $1.index }) }
        do {
            try shared.saveProgress(record, frames: frames, state: nil)
            lock.withLock { for f in frames where job.uncommitted[f.index] == f { job.uncommitted[f.index] = nil } }
        } catch let error as JobStoreError where error.kind == .leaseLost {
            leaseLost(job, error.message)
        } catch {
            log("job \(record.id): cannot commit \(frames.count) frames to the job database: \(error); they go with the next commit")
        }
    }

    /// After the run saved its state at frame index `frame` (the frame itself may not be reported yet).
    func saveSharedCheckpoint(_ job: ActiveJob, frame: Int, statePath: String) {
        let state: Data
        do {
            state = try Data(contentsOf: URL(fileURLWithPath: statePath))
        } catch {
            log("job \(job.record.id): cannot read the checkpoint of frame \(frame) to store it: \(error)")
            return
        }
        let due: Bool = lock.withLock {
            job.pendingCheckpoint = (frame, state)
            return job.lastReportedIndex >= frame
        }
        if due { commitCheckpoint(job) }
    }

    /// The pending checkpoint with its frames, in one fenced transaction.
    private func commitCheckpoint(_ job: ActiveJob) {
        guard let shared else { return }
        let taken: (index: Int, state: Data, frames: [StoredFrame])? = lock.withLock {
            guard let checkpoint = job.pendingCheckpoint, !job.leaseLost else { return nil }
            job.pendingCheckpoint = nil
            let frames = job.uncommitted.values.filter { $0.index <= checkpoint.index }.sorted { $0.index < $1.index }
            return (checkpoint.index, checkpoint.state, frames)
        }
        guard let (index, state, frames) = taken, let record = applied(job, .checkpointed(frame: index)) else { return }
        do {
            try shared.saveProgress(record, frames: frames, state: state)
            lock.withLock { for f in frames where job.uncommitted[f.index] == f { job.uncommitted[f.index] = nil } }
            transition(job, .checkpointed(frame: index), persist: false)
        } catch let error as JobStoreError where error.kind == .leaseLost {
            leaseLost(job, error.message)
        } catch {
            log("job \(record.id): cannot commit the checkpoint of frame \(index) (\(frames.count) frames) to the job database: "
                + "\(error); they go with the next checkpoint")
        }
    }

    /// The job's end with every frame not yet committed, in one fenced transaction, retried with
    /// backoff while the database fails. Nil when the lease is lost (another node goes on with the job).
    func finishShared(_ job: ActiveJob, _ event: JobEvent) -> JobRecord? {
        guard let shared, let record = applied(job, event) else { return transition(job, event) }
        let frames = lock.withLock { job.uncommitted.values.sorted { $0.index < $1.index } }
        let started = Date()
        var delay = 0.25
        while true {
            do {
                try shared.saveProgress(record, frames: frames, state: nil)
                // The API shows the end once it is in the database (with its frames): the record
                // made by `apply` above, adopted as committed.
                lock.withLock {
                    job.uncommitted.removeAll()
                    job.record = record
                }
                return record
            } catch let error as JobStoreError where error.kind == .leaseLost {
                leaseLost(job, error.message)
                return nil
            } catch {
                let lost = lock.withLock { job.leaseLost }
                if lost { return nil }
                // The heartbeat gives the lease up after lease_ttl_s without a renewal; the bound is a safety net.
                if Date().timeIntervalSince(started) > 2 * config.node.leaseTTL + 30 {
                    leaseLost(job, "its end could not be written to the job database: \(error)")
                    return nil
                }
                log("job \(record.id): cannot record its end in the job database (\(error)); retrying in \(delay) s")
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 4)
            }
        }
    }

    /// The job's record after `event`, not yet adopted (nil, logged: the life cycle refuses it);
    /// committed first, then adopted, so that the API never shows what the database lacks.
    private func applied(_ job: ActiveJob, _ event: JobEvent) -> JobRecord? {
        lock.withLock {
            var r = job.record
            do { try r.apply(event) } catch { return nil }
            return r
        }
    }

    /// A job's committed frames in order, read page by page (for exports from any node).
    func committedFrames(_ shared: any SharedJobQueue, jobID: String) -> () throws -> FrameRecord? {
        var page: [StoredFrame] = []
        var position = 0
        var lastIndex = -1
        var exhausted = false
        return {
            if position == page.count {
                guard !exhausted else { return nil }
                page = try shared.frames(jobID: jobID, afterIndex: lastIndex, limit: 256)
                position = 0
                exhausted = page.count < 256
                guard !page.isEmpty else { return nil }
            }
            let stored = page[position]
            position += 1
            lastIndex = stored.index
            return try FrameRecord(jsonLine: stored.line)
        }
    }

    /// Events of a job that runs (or waits) elsewhere: its committed frames as `frame` events (after
    /// the frame number `afterID`), polled every min(1 s, heartbeat_s), then its `end` event. When
    /// this node starts running the job (it was queued; checked every 20 ms), the stream goes on
    /// from the run's own events, live, after the last frame it sent.
    func remoteEvents(_ id: String, afterID: Int?) -> AsyncStream<ServerSentEvent> {
        let manager = self, store = self.store, shared = self.shared
        let interval = min(1.0, config.node.heartbeat)
        return AsyncStream { continuation in
            let task = Task {
                var lastIndex = -1
                var lastFrame = afterID
                while !Task.isCancelled {
                    if let hub = manager.lock.withLock({ manager.active[id]?.events }) {
                        for await event in hub.subscribe(afterID: lastFrame) { continuation.yield(event) }
                        break
                    }
                    let record = try? store.job(id)
                    if let shared, let record {
                        while let frames = try? shared.frames(jobID: id, afterIndex: lastIndex, limit: 256), !frames.isEmpty {
                            for f in frames where afterID.map({ f.frame > $0 }) ?? true {
                                guard let parsed = try? FrameRecord(jsonLine: f.line) else { continue }
                                continuation.yield(Self.frameEvent(frame: parsed.frame, pts: parsed.pts, objects: parsed.objects,
                                                                   fps: record.fps ?? 0, droppedFrames: record.droppedFrames,
                                                                   prompted: f.prompted))
                            }
                            lastIndex = frames.last!.index
                            lastFrame = max(lastFrame ?? -1, frames.last!.frame)
                        }
                    }
                    if let record, record.status.isTerminal, record.status != .interrupted || !record.resumable {
                        continuation.yield(Self.endEvent(record))
                        break
                    }
                    // The database every `interval`; this node's own runs (a claim of the job) every 20 ms.
                    let wake = Date(timeIntervalSinceNow: interval)
                    while Date() < wake, !Task.isCancelled, manager.lock.withLock({ manager.active[id] == nil }) {
                        try? await Task.sleep(nanoseconds: 20_000_000)
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
