// JobManager: the daemon's jobs — validation, the FIFO queue, a bounded pool of worker threads,
// cancellation, prompts added while running, progress events, checkpoints, and what happens to
// unfinished jobs across a shutdown or a crash.
//
// Scheduling: `limits.max_running_jobs` worker threads take jobs in submission order; the rest
// wait in the queue (at most `limits.max_queued_jobs`, then 429). Each job runs on its worker's
// own thread, so a job's failure (a thrown error) only ends that job. Kernel threads: every job
// uses `threads_per_job` threads (default cores / max_running_jobs; `Parallel.setThreadCount` is
// process-wide), so running jobs x threads <= cores.
//
// Durability (DATA = data directory):
// - every state change is written to the job table (JobStore) before it is visible in the API;
// - a file job saves its tracker state to DATA/jobs/<id>/state.safetensors every `checkpoint_every`
//   frames; masks.jsonl lines before the checkpoint are already in masks.jsonl.partial;
// - `drain()` (SIGTERM) suspends running file jobs after their current frame (state saved, outputs
//   left resumable, status `interrupted`, resumable) and stops live jobs (outputs finished, status
//   `interrupted`, not resumable); queued jobs stay queued;
// - `start()` re-queues queued and resumable jobs in submission order; a job found `running` (the
//   daemon died) is resumed from its checkpoint when it is a file job, marked `interrupted` when
//   live, and failed after `maxCrashes` deaths during it.

import Foundation
import Export
import Media
import SAM2
import Tensor
import Tracker

/// A job in memory while it is queued or running. Guarded by the manager's lock.
final class ActiveJob {
    var record: JobRecord
    let events = JobEventHub()
    var run: TrackingRun?
    var cancelRequested = false
    var objects: Set<Int>
    var lastProgress: FrameProgress?
    var lastProgressTime: UInt64 = 0
    var lastPersist: UInt64 = 0
    var lastDropped = 0
    var done = false

    init(record: JobRecord) {
        self.record = record
        objects = Set(record.spec.prompts.map(\.object))
    }
}

/// A job request that passed every check that can be made before it runs.
public struct ValidatedJob: Sendable {
    public var spec: JobSpec
    public var source: SourceKind
    /// Frame size when the source could be opened at submission (files), else nil.
    public var sourceSize: (width: Int, height: Int)?
}

/// Runs the daemon's jobs. Thread-safe.
public final class JobManager: @unchecked Sendable {
    public let config: DaemonConfig
    public let store: JobStore
    public let models: ModelRegistry
    public let metrics: ServiceMetrics
    public let policy: PathPolicy
    public let dataDirectory: String
    /// The daemon gives up on a job after it died this many times while running it.
    public var maxCrashes = 3
    private let log: @Sendable (String) -> Void

    private let condition = NSCondition()
    private var queue: [String] = []
    private var active: [String: ActiveJob] = [:]
    private var draining = false
    private var started = false
    private var liveWorkers = 0

    public init(config: DaemonConfig, dataDirectory: String, store: JobStore, models: ModelRegistry? = nil,
                metrics: ServiceMetrics = ServiceMetrics(), log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config
        self.dataDirectory = dataDirectory
        self.store = store
        self.models = models ?? ModelRegistry(models: config.models)
        self.metrics = metrics
        self.policy = PathPolicy(config: config)
        self.log = log
    }

    // MARK: - Start and stop

    /// Recovers unfinished jobs from the store and starts the workers (once).
    public func start() throws {
        guard !locked({ started }) else { return }
        Parallel.setThreadCount(config.effectiveThreadsPerJob)
        let unfinished = try store.unfinishedJobs()
        condition.lock()
        defer { condition.unlock() }
        started = true
        for var r in unfinished where active[r.id] == nil {
            if r.status == .running { r.crashes += 1 }
            if r.status != .queued {
                if r.live {
                    r.status = .interrupted
                    r.resumable = false
                    r.finishedAt = r.finishedAt ?? Date()
                    r.errorCode = "interrupted"
                    r.errorMessage = "the daemon stopped while this live job ran; live jobs are not resumed"
                    persist(r)
                    log("job \(r.id): live job marked interrupted")
                    continue
                }
                if r.crashes >= maxCrashes {
                    r.status = .failed
                    r.resumable = false
                    r.finishedAt = Date()
                    r.errorCode = "crashed"
                    r.errorMessage = "the daemon died \(r.crashes) times while running this job; giving up"
                    persist(r)
                    removeJobDirectory(r.id)
                    log("job \(r.id): failed after \(r.crashes) crashes")
                    continue
                }
                log("job \(r.id): will resume" + (r.checkpointFrame.map { " after frame \($0)" } ?? " from frame 0"))
            }
            r.status = .queued
            r.resumable = false
            r.finishedAt = nil
            persist(r)
            active[r.id] = ActiveJob(record: r)
            queue.append(r.id)
        }
        for i in 0..<config.limits.maxRunningJobs {
            let thread = Thread { [self] in workerLoop() }
            thread.name = "samtrackd.worker.\(i)"
            thread.stackSize = 16 << 20
            liveWorkers += 1
            thread.start()
        }
        condition.broadcast()
    }

    /// SIGTERM: running file jobs finish their frame, save their state and become `interrupted`
    /// (resumable); live jobs finish their outputs and become `interrupted`; queued jobs stay
    /// queued. Returns when every worker has stopped, or after `timeout` seconds.
    public func drain(timeout: Double = 120) async {
        locked {
            draining = true
            for job in active.values where job.record.status == .running {
                if let run = job.run { job.record.live ? run.stop() : run.suspend() }
            }
            condition.broadcast()
        }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline, locked({ liveWorkers > 0 }) {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        for job in locked({ Array(active.values) }) { job.events.finish(with: nil) }
    }

    /// Runs `body` holding the lock (usable from async code).
    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    public var isDraining: Bool {
        condition.lock()
        defer { condition.unlock() }
        return draining
    }

    // MARK: - Submission

    /// Checks a request: fields, model, source policy, output path, and — for files, which are
    /// opened here — that every prompt fits the frame. Throws `APIError`s.
    public func validate(_ spec: JobSpec) async throws -> ValidatedJob {
        try spec.check(maxObjects: config.limits.maxObjectsPerJob)
        guard models.contains(spec.model) else {
            throw APIError.unprocessable("unknown_model",
                                         "unknown model '\(spec.model)'; this daemon has: \(models.names.joined(separator: ", "))")
        }
        let source = try policy.checkSource(spec.source)
        if let path = spec.output?.path { _ = try policy.outputDirectory(path) }
        guard case let .file(path) = source, spec.live != true else {
            return ValidatedJob(spec: spec, source: source, sourceSize: nil)
        }
        let size = try await Self.probe(path)
        for (i, prompt) in spec.prompts.enumerated() {
            if let mask = prompt.mask, mask.height != size.height || mask.width != size.width {
                throw APIError.unprocessable("prompt_outside_frame",
                                             "prompts[\(i)] (object \(prompt.object)): mask is \(mask.width)x\(mask.height), the source is \(size.width)x\(size.height)")
            }
            do {
                try TrackingRun.validate(prompt.trackingPrompt(), imageSize: 1024, width: size.width, height: size.height)
            } catch let error as TrackingError {
                throw APIError.unprocessable("prompt_outside_frame", "prompts[\(i)]: \(error.description)")
            }
        }
        return ValidatedJob(spec: spec, source: source, sourceSize: size)
    }

    /// Opens a file source to read its frame size (off the caller's thread).
    static func probe(_ path: String) async throws -> (width: Int, height: Int) {
        let result: Result<(Int, Int), Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let source = try VideoSource(path, options: InputOptions(options: ["protocol_whitelist": "file"],
                                                                            decoderThreads: 1, openTimeout: 10))
                    continuation.resume(returning: .success((source.info.width, source.info.height)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        switch result {
        case let .success(size): return size
        case let .failure(error as MediaError):
            throw APIError.unprocessable("unreadable_source", error.description)
        case let .failure(error):
            throw APIError.unprocessable("unreadable_source", "\(error)")
        }
    }

    /// Queues a validated job; returns its record.
    public func submit(_ job: ValidatedJob) throws -> JobRecord {
        condition.lock()
        defer { condition.unlock() }
        guard !draining else { throw APIError.shuttingDown }
        guard queue.count < config.limits.maxQueuedJobs else {
            throw APIError.tooManyJobs("\(queue.count) jobs are already queued (limits.max_queued_jobs); retry later")
        }
        let id = UUID().uuidString.lowercased()
        var spec = job.spec
        spec.output = OutputSpec(format: spec.output?.format ?? .rle, path: spec.output?.path ?? id)
        let directory = try policy.outputDirectory(spec.output!.path!)
        if let other = active.values.first(where: { $0.record.outputDirectory == directory }) {
            throw APIError.conflict("output_in_use", "job \(other.record.id) is already writing to output.path '\(spec.output!.path!)'")
        }
        var live = spec.live ?? false
        if case .stream = job.source { live = true }
        var record = JobRecord(id: id, spec: spec, status: .queued, outputDirectory: directory, live: live, createdAt: Date())
        if let maxFrames = spec.maxFrames { record.totalFrames = maxFrames }
        do {
            record = try store.insert(record)
        } catch {
            throw APIError.internalError("cannot record the job: \(error)")
        }
        active[id] = ActiveJob(record: record)
        queue.append(id)
        metrics.jobSubmitted()
        condition.signal()
        log("job \(id): queued (\(spec.model), \(spec.source))")
        return record
    }

    // MARK: - Queries

    /// The job's current record (in memory while active, else from the store).
    public func job(_ id: String) throws -> JobRecord? {
        condition.lock()
        let record = active[id]?.record
        condition.unlock()
        if let record { return record }
        return try store.job(id)
    }

    /// Object ids of a job (initial and added).
    public func objects(of record: JobRecord) -> [Int] {
        condition.lock()
        defer { condition.unlock() }
        if let job = active[record.id] { return job.objects.sorted() }
        return Set(record.spec.prompts.map(\.object)).sorted()
    }

    /// Jobs in submission order (active ones with their live progress).
    public func jobs(status: JobStatus?, limit: Int, offset: Int) throws -> [JobRecord] {
        let stored = try store.jobs(status: status, limit: limit, offset: offset)
        condition.lock()
        defer { condition.unlock() }
        return stored.map { active[$0.id]?.record ?? $0 }
    }

    /// Jobs per status (for /metrics and /healthz).
    public func counts() -> [JobStatus: Int] {
        (try? store.countsByStatus()) ?? [:]
    }

    /// Events of a job: kept frame events after `afterID`, then live ones; only `end` for a job that
    /// ended. Nil for an unknown job.
    public func events(_ id: String, afterID: Int?) throws -> AsyncStream<ServerSentEvent>? {
        condition.lock()
        let hub = active[id]?.events
        condition.unlock()
        if let hub { return hub.subscribe(afterID: afterID) }
        guard let record = try store.job(id) else { return nil }
        let hubForEnded = JobEventHub()
        hubForEnded.finish(with: Self.endEvent(record))
        return hubForEnded.subscribe()
    }

    // MARK: - Control

    /// Cancels a job: a queued job at once, a running one after its current frame (this waits
    /// for it, up to `wait` seconds). Throws 404 / 409.
    public func cancel(_ id: String, wait: Double = 30) async throws -> JobRecord {
        enum Outcome { case cancelledQueued(ActiveJob, JobRecord), waitFor(ActiveJob), ended }
        let outcome: Outcome = locked {
            guard let job = active[id] else { return .ended }
            if job.record.status == .queued {
                queue.removeAll { $0 == id }
                job.record.status = .cancelled
                job.record.finishedAt = Date()
                job.done = true
                active[id] = nil
                persist(job.record)
                return .cancelledQueued(job, job.record)
            }
            job.cancelRequested = true
            job.run?.stop()
            return .waitFor(job)
        }
        switch outcome {
        case .ended:
            guard let record = try store.job(id) else { throw APIError.jobNotFound(id) }
            if record.status == .cancelled { return record }
            throw APIError.conflict("job_finished", "job \(id) already ended (\(record.status.rawValue))")
        case let .cancelledQueued(job, record):
            metrics.jobFinished(.cancelled)
            job.events.finish(with: Self.endEvent(record))
            log("job \(id): cancelled while queued")
            return record
        case let .waitFor(job):
            let deadline = Date(timeIntervalSinceNow: wait)
            while Date() < deadline, !locked({ job.done }) {
                try? await Task.sleep(nanoseconds: 5_000_000)
            }
            return locked { job.record }
        }
    }

    /// Adds or corrects objects on the next frame of a running job. Waits (up to `wait` seconds)
    /// for a job that is still opening its source. Throws 404 / 409 / 422.
    public func addPrompts(_ id: String, _ prompts: [PromptSpec], wait: Double = 30) async throws -> JobRecord {
        let limit = config.limits.maxObjectsPerJob
        let found: (job: ActiveJob, newObjects: Set<Int>)? = try locked {
            guard let job = active[id] else { return nil }
            let newObjects = Set(prompts.map(\.object)).subtracting(job.objects)
            if job.objects.count + newObjects.count > limit {
                throw APIError.unprocessable("too_many_objects",
                                             "the job would track \(job.objects.count + newObjects.count) objects; this daemon allows \(limit) per job")
            }
            return (job, newObjects)
        }
        guard let (job, newObjects) = found else {
            guard let record = try store.job(id) else { throw APIError.jobNotFound(id) }
            throw APIError.conflict("job_finished", "job \(id) already ended (\(record.status.rawValue))")
        }
        // Wait until the job runs and its source is open (its frame size is then known).
        let deadline = Date(timeIntervalSinceNow: wait)
        var opened: (run: TrackingRun, size: (width: Int, height: Int))?
        while opened == nil {
            let (run, done, status) = locked { (job.run, job.done, job.record.status) }
            if done { throw APIError.conflict("job_finished", "job \(id) already ended (\(status.rawValue))") }
            if let run, let size = run.sourceSize { opened = (run, size); break }
            guard Date() < deadline else {
                throw APIError.conflict("job_not_running", "job \(id) is \(status.rawValue) and has not opened its source yet; retry later")
            }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        let (run, size) = opened!
        var tracking: [TrackingPrompt] = []
        for (i, spec) in prompts.enumerated() {
            if let mask = spec.mask, mask.height != size.height || mask.width != size.width {
                throw APIError.unprocessable("prompt_outside_frame",
                                             "prompts[\(i)] (object \(spec.object)): mask is \(mask.width)x\(mask.height), the source is \(size.width)x\(size.height)")
            }
            let prompt = spec.trackingPrompt()
            do {
                try TrackingRun.validate(prompt, imageSize: run.model.config.imageSize, width: size.width, height: size.height)
            } catch let error as TrackingError {
                throw APIError.unprocessable("prompt_outside_frame", "prompts[\(i)]: \(error.description)")
            }
            tracking.append(prompt)
        }
        let record: JobRecord = try locked {
            guard !job.done else { throw APIError.conflict("job_finished", "job \(id) already ended (\(job.record.status.rawValue))") }
            for prompt in tracking { try run.addPrompt(prompt) }
            job.objects.formUnion(newObjects)
            return job.record
        }
        log("job \(id): prompts queued for objects \(prompts.map(\.object))")
        return record
    }

    // MARK: - Workers

    private func workerLoop() {
        while let job = nextJob() {
            execute(job)
        }
        condition.lock()
        liveWorkers -= 1
        condition.broadcast()
        condition.unlock()
    }

    private func nextJob() -> ActiveJob? {
        condition.lock()
        defer { condition.unlock() }
        var next: ActiveJob?
        while next == nil {
            while !draining && queue.isEmpty { condition.wait() }
            if draining { return nil }
            next = active[queue.removeFirst()]
        }
        let job = next!
        job.record.status = .running
        job.record.startedAt = Date()
        job.record.finishedAt = nil
        job.record.attempts += 1
        job.record.errorCode = nil
        job.record.errorMessage = nil
        persist(job.record)
        return job
    }

    private func jobDirectory(_ id: String) -> String {
        ((dataDirectory as NSString).appendingPathComponent("jobs") as NSString).appendingPathComponent(id)
    }

    private func removeJobDirectory(_ id: String) {
        try? FileManager.default.removeItem(atPath: jobDirectory(id))
    }

    /// Runs one job on the calling worker thread, start to end.
    private func execute(_ job: ActiveJob) {
        condition.lock()
        let record = job.record
        condition.unlock()
        let id = record.id
        do {
            let model = try models.model(named: record.spec.model)
            let request = try trackingRequest(for: record)
            let run = TrackingRun(model: model, request: request)
            let directory = jobDirectory(id)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let statePath = (directory as NSString).appendingPathComponent("state.safetensors")
            if !record.live {
                run.checkpoint = CheckpointOptions(statePath: statePath, everyFrames: config.checkpointEvery)
                if record.checkpointFrame != nil, FileManager.default.fileExists(atPath: statePath) {
                    let applied = try store.appliedPrompts(jobID: id).map { $0.trackingPrompt() }
                    run.resume = ResumePoint(statePath: statePath, appliedPrompts: applied)
                }
            }
            run.onCheckpoint = { [self] frame in
                condition.lock()
                job.record.checkpointFrame = frame
                let snapshot = job.record
                condition.unlock()
                persist(snapshot)
            }
            run.onPromptsApplied = { [self] frame, prompts in
                do {
                    try store.addAppliedPrompts(jobID: id, frame: frame, prompts: prompts.map(PromptSpec.init(prompt:)))
                } catch {
                    log("job \(id): cannot record the prompts applied at frame \(frame): \(error)")
                }
            }
            run.onResumeFallback = { [self] reason in
                log("job \(id): cannot resume (\(reason)); starting again from frame 0")
                condition.lock()
                job.record.checkpointFrame = nil
                condition.unlock()
            }
            condition.lock()
            job.run = run
            job.lastProgressTime = DispatchTime.now().uptimeNanoseconds
            if job.cancelRequested {
                run.stop()
            } else if draining {
                record.live ? run.stop() : run.suspend()
            }
            condition.unlock()
            if let resume = run.resume { log("job \(id): resuming from \(resume.statePath)") } else { log("job \(id): running") }
            let summary = try run.run { [self] progress in self.progress(job, progress) }
            finish(job, summary: summary)
        } catch {
            finish(job, error: error)
        }
    }

    /// The library request for a job; re-checks the source and output policies (the config may
    /// have changed since the job was submitted).
    func trackingRequest(for record: JobRecord) throws -> TrackingRequest {
        let kind = try policy.checkSource(record.spec.source)
        var inputOptions = InputOptions(decoderThreads: config.effectiveThreadsPerJob, openTimeout: 30)
        let input: String
        switch kind {
        case let .file(path):
            input = path
            // A playlist or concat file under a root must not reach the network.
            inputOptions.options = ["protocol_whitelist": "file"]
        case let .stream(url):
            input = url
        }
        _ = try policy.outputDirectory(record.spec.output?.path ?? record.id)
        let isStream: Bool = { if case .stream = kind { return true } else { return false } }()
        return TrackingRequest(
            input: input, inputOptions: inputOptions,
            prompts: record.spec.prompts.map { $0.trackingPrompt() },
            output: OutputOptions(directory: record.outputDirectory, format: record.spec.output?.format ?? .rle),
            maxFrames: record.spec.maxFrames, live: record.spec.live ?? isStream,
            trackerOptions: TrackerOptions(fillHoleArea: record.spec.fillHoles ?? 8,
                                           precision: record.spec.precision ?? .float32))
    }

    /// Called on the worker thread after each frame.
    private func progress(_ job: ActiveJob, _ p: FrameProgress) {
        let now = DispatchTime.now().uptimeNanoseconds
        condition.lock()
        let before = job.lastProgress
        let wall = Double(now &- job.lastProgressTime) / 1e9
        job.lastProgress = p
        job.lastProgressTime = now
        job.record.framesDone = p.frame + 1
        job.record.fps = p.framesPerSecond
        job.record.droppedFrames = p.droppedFrames
        if let total = p.totalFrames { job.record.totalFrames = total }
        let newlyDropped = p.droppedFrames - job.lastDropped
        job.lastDropped = p.droppedFrames
        let persistNow = now &- job.lastPersist > 1_000_000_000
        if persistNow { job.lastPersist = now }
        let snapshot = job.record
        condition.unlock()
        metrics.frameTracked(FrameStageSeconds(before: before, after: p, wall: wall), newlyDropped: newlyDropped)
        job.events.publish(Self.frameEvent(p))
        if persistNow { persist(snapshot) }
    }

    private func finish(_ job: ActiveJob, summary: TrackingSummary) {
        condition.lock()
        var r = job.record
        if summary.suspended {
            r.status = .interrupted
            r.resumable = true
            r.errorCode = "interrupted"
            r.errorMessage = "the daemon shut down; the job resumes after frame \(summary.checkpointFrame.map(String.init) ?? "none") when it starts again"
        } else if summary.stopped && job.cancelRequested {
            r.status = .cancelled
        } else if summary.stopped && draining {
            r.status = .interrupted
            r.resumable = false
            r.errorCode = "interrupted"
            r.errorMessage = "the daemon shut down while this live job ran; outputs hold the frames tracked"
        } else if summary.stopped {
            r.status = .cancelled
        } else {
            r.status = .succeeded
        }
        if let checkpoint = summary.checkpointFrame { r.checkpointFrame = checkpoint }
        if summary.framesTracked > 0 { r.fps = Double(summary.framesTracked) / max(summary.seconds, 1e-9) }
        r.droppedFrames = summary.droppedFrames
        condition.unlock()
        complete(job, r)
    }

    private func finish(_ job: ActiveJob, error: Error) {
        condition.lock()
        var r = job.record
        let interrupted: Bool = { if case MediaError.interrupted = error { return true } else { return false } }()
        if job.cancelRequested {
            r.status = .cancelled
        } else if draining && interrupted {
            r.status = .interrupted
            r.resumable = !r.live
            r.errorCode = "interrupted"
            r.errorMessage = "the daemon shut down before the job's source was open"
        } else {
            r.status = .failed
            (r.errorCode, r.errorMessage) = Self.classify(error)
        }
        condition.unlock()
        complete(job, r)
    }

    /// Records the final state, then removes the job from memory and closes its event streams.
    private func complete(_ job: ActiveJob, _ final: JobRecord) {
        var r = final
        r.finishedAt = Date()
        if r.status != .interrupted || !r.resumable { r.resumable = false }
        persist(r)
        condition.lock()
        job.record = r
        job.done = true
        job.run = nil
        active[r.id] = nil
        condition.unlock()
        if !(r.status == .interrupted && r.resumable) { removeJobDirectory(r.id) }
        metrics.jobFinished(r.status)
        job.events.finish(with: Self.endEvent(r))
        log("job \(r.id): \(r.status.rawValue) after \(r.framesDone) frames" + (r.errorMessage.map { ": \($0)" } ?? ""))
    }

    private func persist(_ record: JobRecord) {
        do {
            try store.update(record)
        } catch {
            log("job \(record.id): cannot update the job database: \(error)")
        }
    }
}
