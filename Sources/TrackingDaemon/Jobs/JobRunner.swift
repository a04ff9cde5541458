// JobRunner: one job on a worker thread, start to end — the tracking run with its hooks
// (checkpoints, resume, prompts applied, source opened), progress into the record, the SSE
// stream and the metrics, and the end turned into one life-cycle event.

import Foundation
import Export
import FileIO
import Media
import SAM2
import Tensor
import Tracker
import TrackingRun

/// Runs one job (see the file comment).
struct JobRunner {
    let manager: JobManager
    /// The worker's compute context (its threads and batch priority).
    let context: ComputeContext

    func run(_ id: String) {
        guard let job = manager.lock.withLock({ manager.active[id] }) else { return }
        // A claimed job (shared store) was started by its claim, in the same transaction as its lease.
        let record = job.lease == nil ? manager.transition(job, .started) : manager.lock.withLock { job.record }
        guard record.status == .running else { return }
        let outcome: Result<TrackingSummary, Error>
        do {
            let run = try makeRun(job, record)
            let stopNow: Bool = manager.lock.withLock {
                job.run = run
                job.lastProgressTime = DispatchTime.now().uptimeNanoseconds
                return job.cancelRequested || manager.draining
            }
            if stopNow { record.live || job.cancelRequested ? run.stop() : run.suspend() }
            manager.log(run.hooks.resume.map { "job \(id): resuming from \($0.statePath)" } ?? "job \(id): running")
            // Both-way runs report frames out of order: their count is what was done.
            let countsFrames = run.request.wantsRandomAccess
            outcome = Result { try context.run { try run.run { progress(job, $0, countsFrames: countsFrames) } } }
        } catch {
            outcome = .failure(error)
        }
        finish(job, outcome)
    }

    /// The tracking run for a job, with its checkpoint, resume and reporting hooks.
    private func makeRun(_ job: ActiveJob, _ record: JobRecord) throws -> TrackingRun {
        let id = record.id
        let model: SAM2Model = try manager.models.model(named: record.spec.model)
        let request = try trackingRequest(for: record)
        let directory = manager.jobDirectory(id)
        try DirectoryHandle.makeDirectories(directory)
        let statePath = (directory as NSString).appendingPathComponent("state.safetensors")
        var hooks = RunHooks()
        // A job tracked both ways (prompts after frame 0) runs on the predictor path, which keeps
        // no streaming state to checkpoint: after a restart it runs again from the start.
        if !record.live && !request.wantsRandomAccess {
            hooks.checkpoint = CheckpointOptions(statePath: statePath, everyFrames: manager.config.checkpointEvery)
            try manager.materializeCheckpoint(record, statePath: statePath)
            if record.checkpointFrame != nil, FileManager.default.fileExists(atPath: statePath) {
                let applied = try manager.store.appliedPrompts(jobID: id).map { $0.trackingPrompt() }
                hooks.resume = ResumePoint(statePath: statePath, appliedPrompts: applied)
            }
        }
        let manager = self.manager
        if manager.shared != nil {
            hooks.onCheckpoint = { frame in manager.saveSharedCheckpoint(job, frame: frame, statePath: statePath) }
        } else {
            hooks.onCheckpoint = { frame in manager.transition(job, .checkpointed(frame: frame)) }
        }
        hooks.onPromptsApplied = { frame, prompts in
            let tickets = manager.lock.withLock { () -> [ChangeTicket] in
                defer { job.pendingChanges.removeAll() }
                return job.pendingChanges
            }
            for ticket in tickets { ticket.fire(frame: frame) }
            do {
                try manager.store.addAppliedPrompts(jobID: id, frame: frame, prompts: prompts.map(PromptSpec.init(prompt:)))
            } catch {
                manager.log("job \(id): cannot record the prompts applied at frame \(frame): \(error)")
            }
        }
        hooks.onResumeFallback = { reason in
            manager.log("job \(id): cannot resume (\(reason)); starting again from frame 0")
            manager.transition(job, .checkpointDiscarded)
        }
        hooks.onSourceOpened = { _, _, _ in job.sourceOpened.fire() }
        return TrackingRun(model: model, request: request, hooks: hooks)
    }

    /// The library request for a job; re-checks the source and output policies (the config may
    /// have changed since the job was submitted).
    func trackingRequest(for record: JobRecord) throws -> TrackingRequest {
        let config = manager.config
        let kind = try manager.policy.checkSource(record.spec.source)
        var inputOptions = InputOptions(decoderThreads: config.effectiveThreadsPerJob, openTimeout: 30)
        let input: String
        switch kind {
        case let .file(path):
            input = path
            // The file and everything FFmpeg opens for it (playlists, concat lists, sequences)
            // stay under the source roots.
            inputOptions.confinement = InputConfinement(allowedDirectories: config.readableRoots)
        case let .stream(url):
            input = url
            inputOptions.idleTimeout = config.limits.liveIdleTimeout
        }
        _ = try manager.policy.outputDirectory(record.spec.output?.path ?? record.id)
        let isStream: Bool = { if case .stream = kind { return true } else { return false } }()
        var output = OutputOptions(directory: record.outputDirectory, format: record.spec.output?.format ?? .rle)
        output.recordJSONL = true  // every export format is served from masks.jsonl
        var request = TrackingRequest(
            input: input, inputOptions: inputOptions,
            prompts: record.spec.prompts.map { $0.trackingPrompt() },
            output: output,
            maxFrames: record.spec.maxFrames, live: record.spec.live ?? isStream,
            trackerOptions: TrackerOptions(fillHoleArea: record.spec.fillHoles ?? 8,
                                           precision: record.spec.precision ?? .float32))
        request.keepLatestFrame = true
        return request
    }

    /// After each frame (on the worker thread): the record, the event stream, the metrics.
    private func progress(_ job: ActiveJob, _ p: FrameProgress, countsFrames: Bool) {
        let now = DispatchTime.now().uptimeNanoseconds
        let (before, wall, newlyDropped, persistNow): (FrameProgress?, Double, Int, Bool) = manager.lock.withLock {
            let before = job.lastProgress
            let wall = Double(now &- job.lastProgressTime) / 1e9
            job.lastProgress = p
            job.lastProgressTime = now
            let newlyDropped = p.droppedFrames - job.lastDropped
            job.lastDropped = p.droppedFrames
            let persistNow = now &- job.lastPersist > 1_000_000_000
            if persistNow { job.lastPersist = now }
            return (before, wall, newlyDropped, persistNow)
        }
        manager.transition(job, .progressed(framesDone: countsFrames ? min(p.framesDone, p.totalFrames ?? p.framesDone) : p.frame + 1, totalFrames: p.totalFrames, fps: p.framesPerSecond,
                                            droppedFrames: p.droppedFrames), persist: persistNow)
        manager.metrics.frameTracked(FrameStageSeconds(before: before, after: p, wall: wall), newlyDropped: newlyDropped)
        job.events.publish(JobManager.frameEvent(p))
        if manager.shared != nil { manager.frameTracked(job, p) }
    }

    /// The run's end as one life-cycle event, then the job leaves the active set.
    private func finish(_ job: ActiveJob, _ outcome: Result<TrackingSummary, Error>) {
        let (cancelRequested, draining, leaseLost) = manager.lock.withLock { (job.cancelRequested, manager.draining, job.leaseLost) }
        if leaseLost { return dropLostJob(job) }
        let event: JobEvent
        switch outcome {
        case let .success(summary):
            if summary.suspended {
                event = .suspended(checkpointFrame: summary.checkpointFrame)
            } else if summary.stopped && cancelRequested {
                event = .cancelled
            } else if summary.stopped && draining {
                event = .shutDown(resumable: false,
                                  message: "the daemon shut down while this live job ran; outputs hold the frames tracked")
            } else if summary.stopped {
                event = .cancelled
            } else {
                let reason: JobEndReason
                switch summary.endReason {
                case .maxFrames: reason = .maxFrames
                case .sourceIdle: reason = .sourceIdle
                case .truncated: reason = .truncated
                case .damaged: reason = .damaged
                case .endOfSource, .stopped: reason = .endOfSource
                }
                if reason == .truncated || reason == .damaged, let detail = summary.sourceEnd {
                    manager.log("job \(job.record.id): \(detail)")
                }
                event = .succeeded(reason: reason, framesTracked: summary.framesTracked, seconds: summary.seconds,
                                   droppedFrames: summary.droppedFrames)
            }
        case let .failure(error):
            let interrupted: Bool = { if case RunError.source(.interrupted) = error { return true } else { return false } }()
            if cancelRequested {
                event = .cancelled
            } else if draining && interrupted {
                event = .shutDown(resumable: true, message: "the daemon shut down before the job's source was open")
            } else {
                let (code, message) = ErrorCode.classify(error)
                event = .failed(code: code, message: message)
            }
        }
        // On a shared store the end is committed with the frames not yet in the database.
        guard let record = manager.finishShared(job, event) else { return dropLostJob(job) }
        if !(record.status == .interrupted && record.resumable) { manager.removeJobDirectory(record.id) }
        manager.retire(job)
        manager.log("job \(record.id): \(record.status.rawValue) after \(record.framesDone) frames"
                    + (record.errorMessage.map { ": \($0)" } ?? ""))
    }
}

extension JobRunner {
    /// Another node owns the job now: nothing is written, its state here is dropped.
    private func dropLostJob(_ job: ActiveJob) {
        manager.removeJobDirectory(job.record.id)
        manager.retire(job, announce: false)
        manager.log("job \(job.record.id): stopped on this node after losing its lease")
    }
}

extension JobManager {
    /// DATA/jobs/<id>: the job's tracker state while it is unfinished.
    func jobDirectory(_ id: String) -> String {
        ((dataDirectory as NSString).appendingPathComponent("jobs") as NSString).appendingPathComponent(id)
    }

    func removeJobDirectory(_ id: String) {
        try? FileManager.default.removeItem(atPath: jobDirectory(id))
    }
}
