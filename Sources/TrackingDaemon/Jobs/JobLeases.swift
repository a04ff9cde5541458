// JobLeases: the job manager on a store shared by several nodes (`SharedJobQueue`, PostgreSQL).
//
// - Claiming: an idle worker claims the oldest claimable job (JobScheduler's `claim`); the life
//   cycle decides here what the claim does with it (`decideClaim`): start it, or — when its node
//   died (expired lease) — requeue and start it, give up after `maxCrashes`, or mark a live job
//   interrupted. A device or stream source this node's `sources.patterns` do not allow is left
//   to the nodes that allow it.
// - Heartbeat: one thread renews the lease of every job this node runs each `node.heartbeat_s`;
//   a cancel requested through another node is seen there (or at once, through the store's
//   LISTEN/NOTIFY) and stops the run; a lost lease (another
//   node took the job) or a database unreachable for longer than the lease stops the run without
//   any further write (fencing: the store refuses writes under an old token anyway).
// - Progress (frames, checkpoints), masks and events from any node: JobSharedProgress.swift;
//   live prompts through any node: JobRemotePrompts.swift.

import Foundation
import TrackingRun

extension JobManager {
    /// Claims the next job for a worker (nil: none claimable, draining, or the store failed).
    func claimShared() -> String? {
        guard let shared, !isDraining else { return nil }
        do {
            let started = DispatchTime.now().uptimeNanoseconds
            guard let (record, lease) = try shared.claimNext(ttl: config.node.leaseTTL, decide: decideClaim) else { return nil }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let job = ActiveJob(record: record)
            job.lease = lease
            job.lastRenewal = DispatchTime.now().uptimeNanoseconds
            lock.withLock { active[record.id] = job }
            metrics.jobClaimed(resumed: record.checkpointFrame != nil, seconds: seconds)
            log("job \(record.id): claimed by node \(shared.nodeName) (attempt \(record.attempts)"
                + (record.checkpointFrame.map { ", resuming after frame \($0)" } ?? "") + ")")
            return record.id
        } catch {
            log("cannot claim a job from the job database: \(error)")
            return nil
        }
    }

    /// What a claim does with a stored job (the life cycle's events; see the file comment).
    func decideClaim(_ stored: JobRecord, leaseExpired: Bool) -> ClaimDecision? {
        var r = stored
        // A device or stream this node's sources.patterns do not allow: another node's job.
        if !stored.spec.source.hasPrefix("/") || stored.spec.source.hasPrefix("/dev/") {
            do { _ = try policy.checkSource(stored.spec.source) } catch { return .skip }
        }
        do {
            if leaseExpired {
                if r.live {
                    try r.apply(.abandonedLive)
                    log("job \(r.id): its node died while this live job ran; marked interrupted")
                    return .store(r)
                }
                if r.crashes + 1 >= maxCrashes {
                    try r.apply(.gaveUp(crashes: r.crashes + 1))
                    log("job \(r.id): failed after \(r.crashes) crashes")
                    return .store(r)
                }
                try r.apply(.requeued(crashed: true))
            } else if r.status == .interrupted {
                try r.apply(.requeued(crashed: false))
            }
            try r.apply(.started)
            return .run(r)
        } catch {
            log("\(error)")
            return nil
        }
    }

    /// Renews this node's leases until `stopped` fires (runs on its own thread).
    func runHeartbeat(until stopped: AsyncSignal) {
        guard let shared else { return }
        let interval = config.node.heartbeat, ttl = config.node.leaseTTL
        while !stopped.isFired {
            let jobs: [(ActiveJob, JobLease)] = lock.withLock {
                active.values.compactMap { job in job.lease.flatMap { job.leaseLost ? nil : (job, $0) } }
            }
            for (job, lease) in jobs {
                let now = DispatchTime.now().uptimeNanoseconds
                do {
                    switch try shared.renew(lease, ttl: ttl) {
                    case let .held(cancelRequested):
                        let (requested, run): (Bool, TrackingRun?) = lock.withLock {
                            job.lastRenewal = now
                            guard cancelRequested && !job.cancelRequested else { return (false, nil) }
                            job.cancelRequested = true
                            return (true, job.run)
                        }
                        if requested {
                            log("job \(lease.jobID): cancel requested through another node")
                            run?.stop()
                        }
                        // (the notification, `cancelRequestedElsewhere`, usually came first)
                        promptsRequestedElsewhere(lease.jobID)  // requests whose notification was missed
                    case .lost:
                        leaseLost(job, "another node took the job")
                    }
                } catch {
                    let silent = Double(now &- lock.withLock { job.lastRenewal }) / 1e9
                    log("job \(lease.jobID): cannot renew the lease (\(error)); last renewed \(Int(silent)) s ago")
                    if silent >= ttl { leaseLost(job, "the lease could not be renewed for \(Int(silent)) s (lease_ttl_s \(Int(ttl)))") }
                }
            }
            _ = stopped.waitBlocking(timeout: interval)
        }
    }

    /// A cancel notification: stops the job at once when this node runs it (the heartbeat would
    /// see the request too, at most `heartbeat_s` later).
    func cancelRequestedElsewhere(_ id: String) {
        let (requested, run): (Bool, TrackingRun?) = lock.withLock {
            guard let job = active[id], job.lease != nil, !job.cancelRequested else { return (false, nil) }
            job.cancelRequested = true
            return (true, job.run)  // no run yet: the runner checks cancelRequested once it has one
        }
        guard requested else { return }
        log("job \(id): cancel requested through another node")
        run?.stop()
    }

    /// The lease is gone: stop the run and write nothing more for the job.
    func leaseLost(_ job: ActiveJob, _ reason: String) {
        let run: TrackingRun? = lock.withLock {
            guard !job.leaseLost else { return nil }
            job.leaseLost = true
            return job.run
        }
        log("job \(job.record.id): lease lost (\(reason)); this node stops the job without writing")
        metrics.leaseLost()
        run?.stop()
    }

    /// Cancel of a job this node does not run: at once when nobody holds it, else asks its node and
    /// waits (up to `wait` seconds) for the job to end.
    func cancelShared(_ shared: any SharedJobQueue, _ id: String, wait: Double) async throws -> JobRecord {
        let outcome: CancelRequest
        do {
            outcome = try shared.requestCancel(jobID: id) { stored in
                var r = stored
                do { try r.apply(.cancelled) } catch { return nil }
                return r
            }
        } catch {
            throw APIError(.storageError, "cannot cancel the job: \(error)")
        }
        switch outcome {
        case .notFound:
            throw APIError.jobNotFound(id)
        case let .cancelled(record):
            metrics.jobFinished(record.status)
            log("job \(id): cancelled while queued")
            return record
        case let .notCancellable(record):
            if record.status == .cancelled { return record }
            throw APIError(.jobFinished, "job \(id) already ended (\(record.status.rawValue))")
        case .signalled:
            log("job \(id): cancel sent to the node running it")
            let deadline = Date(timeIntervalSinceNow: wait)
            while true {
                let record = try store.job(id)
                if let record, record.status.isTerminal || Date() >= deadline { return record }
                if record == nil { throw APIError.jobNotFound(id) }
                try await Task.sleep(nanoseconds: 200_000_000)
            }
        }
    }
}
