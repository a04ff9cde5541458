// JobScheduler: the FIFO queue and the worker threads. `limits.max_running_jobs` workers take
// job ids in submission order; each worker owns a compute context of `threads_per_job` threads
// at batch priority (`ComputeContext`), so running jobs x threads <= cores and an interactive
// request outranks them. A worker blocks on a condition until there is work or the daemon stops;
// stopping waits (signalled) for every worker to finish its current job.
//
// With a shared store (several nodes, JobLeases.swift) there is no local queue: an idle worker
// claims the next job from the database (`claim`), and waits `pollInterval` seconds (or until
// `wake()`: a local submission or a notification) before it asks again.

import Foundation
import Tensor

/// The queue and its workers (see the file comment). Thread-safe.
final class JobScheduler: @unchecked Sendable {  // mutable state behind `condition`
    let workerCount: Int
    let threadsPerJob: Int
    private let runJob: @Sendable (String, ComputeContext) -> Void
    /// Takes the next job from a shared store (nil: the local queue is used).
    private let claim: (@Sendable () -> String?)?
    private let pollInterval: Double
    private let condition = NSCondition()
    private var queue: [String] = []
    private var stopping = false
    private var started = false
    private var liveWorkers = 0
    private let allStopped = AsyncSignal()

    init(workers: Int, threadsPerJob: Int, claim: (@Sendable () -> String?)? = nil, pollInterval: Double = 1,
         runJob: @escaping @Sendable (String, ComputeContext) -> Void) {
        workerCount = max(1, workers)
        self.threadsPerJob = threadsPerJob
        self.claim = claim
        self.pollInterval = pollInterval
        self.runJob = runJob
    }

    /// Wakes idle workers so that they claim at once (shared store).
    func wake() {
        condition.withLock { condition.broadcast() }
    }

    /// Jobs waiting for a worker.
    var queuedCount: Int { condition.withLock { queue.count } }

    /// Starts the workers with `initial` queued first (once).
    func start(queue initial: [String]) {
        condition.withLock {
            guard !started else { return }
            started = true
            queue = initial + queue
            liveWorkers = workerCount
            for index in 0..<workerCount {
                let thread = Thread { [self] in workerLoop() }
                thread.name = "samtrackd.worker.\(index)"
                thread.stackSize = 16 << 20
                thread.start()
            }
            condition.broadcast()
        }
    }

    func enqueue(_ id: String) {
        condition.withLock {
            queue.append(id)
            condition.signal()
        }
    }

    /// Takes `id` out of the queue; false when it is not queued (a worker has it).
    func remove(_ id: String) -> Bool {
        condition.withLock {
            guard let index = queue.firstIndex(of: id) else { return false }
            queue.remove(at: index)
            return true
        }
    }

    /// Stops taking jobs and waits (up to `timeout` seconds) for the workers to finish theirs.
    func stop(timeout: Double) async {
        let wasStarted: Bool = condition.withLock {
            stopping = true
            condition.broadcast()
            return started
        }
        if wasStarted { _ = await allStopped.wait(timeout: timeout) }
    }

    private func workerLoop() {
        // One context per worker for its whole life: its threads are reused by every job it runs.
        let context = ComputeContext(threads: threadsPerJob, priority: .batch)
        while let id = next() { runJob(id, context) }
        let last: Bool = condition.withLock {
            liveWorkers -= 1
            return liveWorkers == 0
        }
        if last { allStopped.fire() }
    }

    private func next() -> String? {
        if let claim {
            while true {
                if condition.withLock({ stopping }) { return nil }
                if let id = claim() { return id }
                condition.withLock {
                    if !stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: pollInterval)) }
                }
            }
        }
        return condition.withLock {
            while !stopping && queue.isEmpty { condition.wait() }
            return stopping ? nil : queue.removeFirst()
        }
    }
}
