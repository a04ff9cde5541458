// JobManager: the daemon's jobs as one object for the HTTP layer — submit (after `JobValidator`),
// query, cancel, add prompts to a running job, subscribe to events, start (after `JobRecovery`)
// and drain. The parts live apart: the queue and worker threads in `JobScheduler`, one job's run
// in `JobRunner`, state changes in `JobRecord.apply` (JobLifecycle.swift), which every change
// below goes through via `transition`.
//
// Durability (DATA = data directory): every state change is written to the job store before the
// API shows it; a file job saves its tracker state to DATA/jobs/<id>/state.safetensors every
// `checkpoint_every` frames.
//
// With a shared store (`SharedJobQueue`, several nodes on one PostgreSQL database) jobs are not
// queued in memory: submissions go to the database, idle workers claim from it under a lease, and
// reads of jobs run elsewhere come from the database (JobLeases.swift).

import Foundation
import Export
import Media
import SAM2
import Tensor
import TrackingRun

/// Runs the daemon's jobs. Thread-safe.
public final class JobManager: @unchecked Sendable {  // mutable state behind `lock`
    public let config: DaemonConfig
    public let store: any JobStore
    /// The store as shared by several nodes (nil for SQLite).
    public let shared: (any SharedJobQueue)?
    public let models: ModelRegistry
    public let metrics: DaemonMetrics
    public let policy: PathPolicy
    public let dataDirectory: String
    /// The daemon gives up on a job after it died this many times while running it.
    public let maxCrashes: Int
    let log: @Sendable (String) -> Void

    let lock = NSLock()
    var active: [String: ActiveJob] = [:]
    var draining = false
    private var started = false
    /// Fired when the heartbeat thread must stop (shared store).
    private let heartbeatStop = AsyncSignal()
    /// The queue and workers (set once in `init`).
    private(set) var scheduler: JobScheduler!

    public init(config: DaemonConfig, dataDirectory: String, store: any JobStore, models: ModelRegistry? = nil,
                metrics: DaemonMetrics = DaemonMetrics(), maxCrashes: Int = 3,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config
        self.dataDirectory = dataDirectory
        self.store = store
        self.shared = store as? any SharedJobQueue
        self.models = models ?? ModelRegistry(models: config.models)
        self.metrics = metrics
        self.policy = PathPolicy(config: config)
        self.maxCrashes = maxCrashes
        self.log = log
        var claim: (@Sendable () -> String?)?
        if shared != nil { claim = { @Sendable [weak self] in self?.claimShared() } }
        scheduler = JobScheduler(workers: config.limits.maxRunningJobs, threadsPerJob: config.effectiveThreadsPerJob,
                                 claim: claim, pollInterval: min(1, config.node.heartbeat)) {
            [weak self] id, context in
            guard let self else { return }
            JobRunner(manager: self, context: context).run(id)
        }
    }

    // MARK: - The one door for state changes

    /// Applies `event` to an active job's record and persists it; returns the new record. A
    /// transition the life cycle refuses is logged and leaves the record as it was.
    @discardableResult
    func transition(_ job: ActiveJob, _ event: JobEvent, persist: Bool = true) -> JobRecord {
        let record: JobRecord? = lock.withLock {
            do {
                try job.record.apply(event)
                return job.record
            } catch {
                return nil
            }
        }
        guard let record else {
            log("job \(job.record.id): ignored \(event) (not possible in its state)")
            return lock.withLock { job.record }
        }
        if persist { self.persist(record) }
        return record
    }

    func persist(_ record: JobRecord) {
        do {
            try store.update(record)
        } catch {
            log("job \(record.id): cannot update the job database: \(error)")
        }
    }

    // MARK: - Start and stop

    /// Recovers unfinished jobs from the store and starts the workers (once).
    /// - Throws: `RecoveryError` (orphaned state, unreadable store).
    public func start(ignoringOrphans: Bool = false) throws {
        guard !lock.withLock({ started }) else { return }
        let requeued = try JobRecovery(manager: self).recover(ignoringOrphans: ignoringOrphans)
        lock.withLock {
            started = true
            for job in requeued { active[job.record.id] = job }
        }
        if let shared {
            shared.listen(onJobQueued: { [weak self] in self?.scheduler.wake() },
                          onCancel: { [weak self] id in self?.cancelRequestedElsewhere(id) },
                          onPrompts: { [weak self] id in self?.promptsRequestedElsewhere(id) })
            let thread = Thread { [self] in runHeartbeat(until: heartbeatStop) }
            thread.name = "samtrackd.heartbeat"
            thread.start()
        }
        scheduler.start(queue: requeued.map(\.record.id))
    }

    /// SIGTERM: running file jobs finish their frame, save their state and become `interrupted`
    /// (resumable); live jobs finish their outputs and become `interrupted`; queued jobs stay
    /// queued. Returns when every worker has stopped, or after `timeout` seconds.
    public func drain(timeout: Double = 120) async {
        let running: [ActiveJob] = lock.withLock {
            draining = true
            return active.values.filter { $0.record.status == .running }
        }
        for job in running {
            if let run = lock.withLock({ job.run }) { job.record.live ? run.stop() : run.suspend() }
        }
        await scheduler.stop(timeout: timeout)
        heartbeatStop.fire()
        for job in lock.withLock({ Array(active.values) }) { job.events.finish(with: nil) }
    }

    public var isDraining: Bool { lock.withLock { draining } }

    // MARK: - Submission

    /// Checks a request (see `JobValidator`). Throws `APIError`s.
    public func validate(_ spec: JobSpec) async throws -> ValidatedJob {
        try await JobValidator(config: config, models: models, policy: policy).validate(spec)
    }

    /// Queues a validated job; returns its record.
    public func submit(_ job: ValidatedJob) throws -> JobRecord {
        let id = UUID().uuidString.lowercased()
        var spec = job.spec
        spec.output = OutputSpec(format: spec.output?.format ?? .rle, path: spec.output?.path ?? id)
        let directory = try policy.outputDirectory(spec.output!.path!)
        var live = spec.live ?? false
        if case .stream = job.source { live = true }
        var record = JobRecord(id: id, spec: spec, status: .queued, outputDirectory: directory, live: live, createdAt: Date())
        if let maxFrames = spec.maxFrames { record.totalFrames = maxFrames }
        if let count = job.frameCount { record.totalFrames = min(record.totalFrames ?? count, count) }
        if let shared { return try submitShared(shared, record) }
        let submitted: JobRecord = try lock.withLock {
            guard !draining else { throw APIError.shuttingDown }
            guard scheduler.queuedCount < config.limits.maxQueuedJobs else {
                throw APIError.tooManyJobs("\(scheduler.queuedCount) jobs are already queued (limits.max_queued_jobs); retry later")
            }
            if let other = self.active.values.first(where: { $0.record.outputDirectory == directory }) {
                throw APIError(.outputInUse, "job \(other.record.id) is already writing to output.path '\(spec.output!.path!)'")
            }
            do {
                record = try store.insert(record)
            } catch {
                throw APIError(.storageError, "cannot record the job: \(error)")
            }
            self.active[id] = ActiveJob(record: record)
            return record
        }
        scheduler.enqueue(id)
        metrics.jobSubmitted()
        log("job \(id): queued (\(spec.model), \(spec.source))")
        return submitted
    }

    /// Submission to a shared store: the database is the queue (and refuses a second unfinished
    /// job on one output directory); idle workers of every node are woken by a notification.
    private func submitShared(_ shared: any SharedJobQueue, _ record: JobRecord) throws -> JobRecord {
        guard !isDraining else { throw APIError.shuttingDown }
        let queued: Int
        do { queued = try shared.queuedCount() } catch { throw APIError(.storageError, "cannot read the job queue: \(error)") }
        guard queued < config.limits.maxQueuedJobs else {
            throw APIError.tooManyJobs("\(queued) jobs are already queued (limits.max_queued_jobs); retry later")
        }
        let stored: JobRecord
        do {
            stored = try shared.insert(record)
        } catch let error as JobStoreError where error.kind == .outputInUse {
            throw APIError(.outputInUse, "another unfinished job is already writing to output.path '\(record.spec.output?.path ?? "")'")
        } catch {
            throw APIError(.storageError, "cannot record the job: \(error)")
        }
        scheduler.wake()
        metrics.jobSubmitted()
        log("job \(record.id): queued (\(record.spec.model), \(record.spec.source))")
        return stored
    }

    // MARK: - Queries

    /// The job's current record (in memory while active, else from the store).
    public func job(_ id: String) throws -> JobRecord? {
        if let record = lock.withLock({ active[id]?.record }) { return record }
        return try store.job(id)
    }

    /// Object ids of a job (initial and added).
    public func objects(of record: JobRecord) -> [Int] {
        lock.withLock {
            if let job = active[record.id] { return job.objects.sorted() }
            return Set(record.spec.prompts.map(\.object)).sorted()
        }
    }

    /// Jobs in submission order (active ones with their live progress).
    public func jobs(status: JobStatus?, limit: Int, offset: Int) throws -> [JobRecord] {
        let stored = try store.jobs(status: status, limit: limit, offset: offset)
        return lock.withLock { stored.map { active[$0.id]?.record ?? $0 } }
    }

    /// The newest tracked frame of a running job (nil when it is not running or has none yet).
    public func latestFrame(of id: String) -> (frame: Int, image: RGBImage)? {
        lock.withLock { active[id]?.run }?.latestFrame
    }

    /// Jobs per status (for /metrics and /healthz).
    public func counts() -> [JobStatus: Int] {
        (try? store.countsByStatus()) ?? [:]
    }

    /// Events of a job: kept frame events after `afterID`, then live ones; only `end` for a job that
    /// ended. Nil for an unknown job.
    public func events(_ id: String, afterID: Int?) throws -> AsyncStream<ServerSentEvent>? {
        if let hub = lock.withLock({ active[id]?.events }) { return hub.subscribe(afterID: afterID) }
        guard let record = try store.job(id) else { return nil }
        if shared != nil && !(record.status.isTerminal && !(record.status == .interrupted && record.resumable)) {
            return remoteEvents(id, afterID: afterID)
        }
        let ended = JobEventHub()
        ended.finish(with: Self.endEvent(record))
        return ended.subscribe()
    }
}
