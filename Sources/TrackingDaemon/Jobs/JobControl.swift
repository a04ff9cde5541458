// JobControl: requests that change a job from outside its worker — cancel, and prompts added to
// a running job. Both wait (signalled, with a timeout) for the worker to reach the point they
// need: a cancel for the job to stop after its current frame, a prompt for the source to open.

import Foundation
import TrackingRun

extension JobManager {
    /// Cancels a job: a queued job at once, a running one after its current frame (this waits
    /// for it, up to `wait` seconds). Throws 404 / 409.
    public func cancel(_ id: String, wait: Double = 30) async throws -> JobRecord {
        enum Outcome { case cancelledQueued(ActiveJob), waitFor(ActiveJob), ended }
        let outcome: Outcome = lock.withLock {
            guard let job = active[id] else { return .ended }
            if job.record.status == .queued, scheduler.remove(id) { return .cancelledQueued(job) }
            job.cancelRequested = true
            job.run?.stop()
            return .waitFor(job)
        }
        switch outcome {
        case .ended:
            if let shared { return try await cancelShared(shared, id, wait: wait) }
            guard let record = try store.job(id) else { throw APIError.jobNotFound(id) }
            if record.status == .cancelled { return record }
            throw APIError(.jobFinished, "job \(id) already ended (\(record.status.rawValue))")
        case let .cancelledQueued(job):
            let record = transition(job, .cancelled)
            retire(job)
            log("job \(id): cancelled while queued")
            return record
        case let .waitFor(job):
            _ = await job.done.wait(timeout: wait)
            return lock.withLock { job.record }
        }
    }

    /// Adds or corrects objects on the next frame of a running job. Waits (up to `wait` seconds)
    /// for a job that is still opening its source. Throws 404 / 409 / 422.
    public func addPrompts(_ id: String, _ prompts: [PromptSpec], wait: Double = 30) async throws -> (record: JobRecord, frame: Int?) {
        let limit = config.limits.maxObjectsPerJob
        let found: (job: ActiveJob, newObjects: Set<Int>)? = try lock.withLock {
            guard let job = active[id] else { return nil }
            let newObjects = Set(prompts.map(\.object)).subtracting(job.objects)
            if job.objects.count + newObjects.count > limit {
                throw APIError(.tooManyObjects, "the job would track \(job.objects.count + newObjects.count) objects; "
                               + "this daemon allows \(limit) per job")
            }
            if let maxID = (job.record.spec.output?.format ?? .rle).maxObjectID, let bad = newObjects.first(where: { $0 > maxID }) {
                throw APIError(.unsupportedOutput, "object id \(bad) cannot be stored in this job's output format (ids 1...\(maxID))")
            }
            return (job, newObjects)
        }
        guard let (job, newObjects) = found else {
            guard let record = try store.job(id) else { throw APIError.jobNotFound(id) }
            if let shared, record.status == .running { return try await forwardPrompts(shared, record, prompts, wait: wait) }
            try refuseRemote(record)
            throw APIError(.jobFinished, "job \(id) already ended (\(record.status.rawValue))")
        }
        _ = await job.sourceOpened.wait(timeout: wait)
        let (run, size, status, done) = lock.withLock { (job.run, job.run?.sourceSize, job.record.status, job.done.isFired) }
        if done { throw APIError(.jobFinished, "job \(id) already ended (\(status.rawValue))") }
        guard let run, let size else {
            throw APIError(.jobNotRunning, "job \(id) is \(status.rawValue) and has not opened its source yet; retry later")
        }
        if run.request.wantsRandomAccess {
            throw APIError(.jobNotRunning, "job \(id) tracks both ways from prompts after frame 0 (the predictor path, "
                           + "which has no current frame): it takes no prompts while it runs; correct in a session instead")
        }
        var tracking: [TrackingPrompt] = []
        for (i, spec) in prompts.enumerated() {
            let prompt = spec.trackingPrompt()
            do {
                try prompt.check(width: size.width, height: size.height)
            } catch {
                throw APIError(.promptOutsideFrame, "prompts[\(i)]: \(error.description)")
            }
            tracking.append(prompt)
        }
        let ticket = ChangeTicket()
        try lock.withLock {
            guard !job.done.isFired else { throw APIError(.jobFinished, "job \(id) already ended (\(job.record.status.rawValue))") }
            for prompt in tracking {
                do { try run.addPrompt(prompt) } catch let error as RunError { throw APIError(.promptOutsideFrame, error.description) }
            }
            job.objects.formUnion(newObjects)
            job.pendingChanges.append(ticket)
        }
        log("job \(id): prompts queued for objects \(prompts.map(\.object))")
        return try await applied(ticket, job: job, wait: wait)
    }

    /// Removes an object from a running job from its next frame on; returns the frame.
    public func removeObject(_ id: String, object: Int, wait: Double = 30) async throws -> (record: JobRecord, frame: Int?) {
        guard let job = lock.withLock({ active[id] }) else {
            guard let record = try store.job(id) else { throw APIError.jobNotFound(id) }
            try refuseRemote(record)
            throw APIError(.jobFinished, "job \(id) already ended (\(record.status.rawValue))")
        }
        _ = await job.sourceOpened.wait(timeout: wait)
        let ticket = ChangeTicket()
        try lock.withLock {
            guard !job.done.isFired, let run = job.run else {
                throw APIError(.jobNotRunning, "job \(id) is \(job.record.status.rawValue): objects can be removed while it runs")
            }
            guard job.objects.contains(object) else { throw APIError(.objectNotFound, "job \(id) has no object \(object)") }
            if run.request.wantsRandomAccess {
                throw APIError(.jobNotRunning, "job \(id) tracks both ways from prompts after frame 0 (the predictor path, "
                               + "which has no current frame): objects cannot be removed while it runs")
            }
            do { try run.addPrompt(TrackingPrompt(objectID: object, kind: .removal)) } catch let error as RunError { throw APIError(.invalidPrompt, error.description) }
            job.objects.remove(object)
            job.pendingChanges.append(ticket)
        }
        log("job \(id): object \(object) removed")
        return try await applied(ticket, job: job, wait: wait)
    }

    /// A job no node runs now, or (removals) that another node runs (shared store): refused.
    private func refuseRemote(_ record: JobRecord) throws {
        guard shared != nil, !record.status.isTerminal || (record.status == .interrupted && record.resumable) else { return }
        if record.status == .running {
            throw APIError(.jobNotRunning, "job \(record.id) runs on another node: remove objects through the node that runs it "
                           + "(removals are not forwarded between nodes; prompts are)")
        }
        throw APIError(.jobNotRunning, "job \(record.id) is \(record.status.rawValue): prompts are taken while it runs; retry later")
    }

    /// Waits for a queued change to be applied; the job's record and the frame.
    private func applied(_ ticket: ChangeTicket, job: ActiveJob, wait: Double) async throws -> (record: JobRecord, frame: Int?) {
        _ = await ticket.applied.wait(timeout: wait)
        return (lock.withLock { job.record }, ticket.frame)
    }

    /// Removes an ended job from the active set, closes its event stream and fires its signals.
    /// `announce` false: the job goes on elsewhere (lost lease): no metrics, and its event
    /// streams close without an `end` event (clients reconnect, to any node).
    func retire(_ job: ActiveJob, announce: Bool = true) {
        let (record, tickets) = lock.withLock {
            job.run = nil
            active[job.record.id] = nil
            defer { job.pendingChanges.removeAll() }
            return (job.record, job.pendingChanges)
        }
        for ticket in tickets { ticket.fire(frame: nil) }
        if announce { metrics.jobFinished(record.status) }
        job.events.finish(with: announce ? Self.endEvent(record) : nil)
        job.sourceOpened.fire()
        job.done.fire()
    }
}
