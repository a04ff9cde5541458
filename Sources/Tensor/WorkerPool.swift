// WorkerPool: the threads behind `Parallel.forEach`.
//
// Why not Dispatch: a tracked frame of a small model (the default one at 256 px, ~13 ms) is
// hundreds of parallel loops and products of 10-200 µs each. With `concurrentPerform`, and with
// OpenBLAS's own threads, every one of them woke sleeping threads through the kernel (futex,
// sem_post) and parked them again: ~270 context switches per frame, ~20% of the CPU time in
// wake-up paths (`perf`), and frames that were slow whenever another process took a core for a
// moment. Here a fixed set of threads polls for the next job for a short while (`spinMicroseconds`)
// before parking, so back-to-back jobs start without a system call, and the chunks of a job are
// claimed one at a time from a shared counter, so a worker that another process has preempted
// holds up at most the chunk it is running.
//
// The submitting thread runs chunks too; a job has at most `maxChunks` chunks. One job runs at a
// time: a `forEach` started while one runs (from inside a chunk, or from another thread) runs its
// whole range on the calling thread. Each `ComputeContext` owns one pool, so work bound to
// different contexts (two daemon jobs, a job and an interactive request) never queues on one.
//
// A pool may share a `CoreBudget` with another (the lanes of a pipeline): its workers then run a
// chunk only while they hold a core of the budget (taken before the first chunk of a job, given
// back between chunks when a lane needs it, and when parking).

import Foundation
import Synchronization
import CSpin

/// A fixed set of worker threads that run the chunks of one job at a time together with the thread
/// that submits it (see the file comment).
final class WorkerPool: @unchecked Sendable {  // atomics and condition locks; `body` is published by the seq-cst job word
    /// Threads besides the submitting one.
    let workerCount: Int
    /// The cores this pool's workers share with another pool's lanes (nil: the workers always run).
    let budget: CoreBudget?
    /// How long an idle worker polls for the next job before it parks.
    static let spinMicroseconds: UInt64 = 100
    /// How long the submitting thread polls for the job's last chunks before it parks. Parking
    /// matters when a worker was preempted mid-chunk (the kernel on this VM takes a core for ~4 ms
    /// every 0.5 s): a core that goes idle pulls the preempted worker over, a polling one does not.
    static let waitSpinMicroseconds: UInt64 = 50
    /// Largest number of chunks in one job (the width of the fields packed in `state`).
    static let maxChunks = 0xFFFF

    /// The current job, packed so that a chunk is claimed with one compare-and-swap that fails for
    /// any other job: bits 32-63 the job number, 16-31 the next unclaimed chunk, 0-15 the chunk count.
    private let state = Atomic<UInt64>(0)
    /// Chunks of the current job not yet finished.
    private let unfinished = Atomic<Int>(0)
    /// Workers parked on `condition` (checked by `run` to skip the wake-up call when none is).
    private let parked = Atomic<Int>(0)
    /// Whether a job is running (the pool runs one at a time).
    private let busy = Atomic<Bool>(false)
    private let retired = Atomic<Bool>(false)
    /// Whether the submitting thread is parked on `finished` waiting for the last chunks.
    private let submitterParked = Atomic<Bool>(false)
    private let condition = NSCondition()
    private let finished = NSCondition()
    /// The current job's body; set before the job is published, cleared after its last chunk.
    nonisolated(unsafe) private var body: ((Int) -> Void)?
    private var jobNumber: UInt64 = 0

    /// Starts `workerCount` threads, each at nice value `nice` (its own thread only); with a
    /// `budget`, they compute only on cores it has free.
    init(workerCount: Int, nice: Int32 = 0, budget: CoreBudget? = nil) {
        self.workerCount = max(0, workerCount)
        self.budget = budget
        for index in 0..<self.workerCount {
            let thread = Thread {  // the thread keeps the pool alive until it exits
                if nice != 0 { _ = st_thread_set_nice(nice) }
                // Loops started from inside a chunk find this pool busy and run on this thread.
                WorkerPool.$owningPool.withValue(self) { self.workerLoop() }
            }
            thread.name = "samtrack-worker-\(index + 1)"
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Runs `body(chunk)` for every chunk in `0..<chunks` on this thread and the workers; returns
    /// false, without running anything, when another job holds the pool.
    func run(chunks: Int, _ body: (Int) -> Void) -> Bool {
        precondition(chunks > 0 && chunks <= Self.maxChunks)
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            self.body = body
            jobNumber = (jobNumber + 1) & 0xFFFF_FFFF
            let job = jobNumber
            unfinished.store(chunks, ordering: .relaxed)
            // Sequentially consistent with the workers' `parked` increment and state re-check, so
            // either a worker sees this job before it waits or this thread sees it parked.
            state.store(job << 32 | UInt64(chunks), ordering: .sequentiallyConsistent)
            if parked.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            runChunks(of: job)
            if poll(forMicroseconds: Self.waitSpinMicroseconds, while: { unfinished.load(ordering: .acquiring) > 0 }) {
                finished.lock()
                submitterParked.store(true, ordering: .sequentiallyConsistent)
                while unfinished.load(ordering: .sequentiallyConsistent) > 0 { finished.wait() }
                submitterParked.store(false, ordering: .relaxed)
                finished.unlock()
            }
            self.body = nil
        }
        return true
    }

    /// The pool whose worker thread this is (nil on any other thread).
    @TaskLocal static var owningPool: WorkerPool?

    /// The pool a loop started on this thread uses: the worker's own pool on a worker thread, else
    /// the current compute context's.
    static var forCurrentThread: WorkerPool { owningPool ?? ComputeContext.current.pool }

    /// Asks the workers to exit once they are idle (used when the thread count changes).
    func retire() {
        retired.store(true, ordering: .sequentiallyConsistent)
        condition.lock()
        condition.broadcast()
        condition.unlock()
        budget?.wakeAll()
    }

    private func workerLoop() {
        // Job numbers start at 1: a worker whose thread started after the first job was published
        // (a new context used at once on a busy machine) joins that job instead of waiting for the
        // next one.
        var seen: UInt64 = 0
        var holdsCore = false  // of `budget`
        while true {
            let idle = { self.state.load(ordering: .acquiring) >> 32 == seen && !self.retired.load(ordering: .relaxed) }
            let mustYield = { holdsCore && self.budget.unsafelyUnwrapped.isOversubscribed }
            // Park when no job came within the spin time, or at once when a lane wants the core back.
            if poll(forMicroseconds: Self.spinMicroseconds, while: { idle() && !mustYield() }) || idle() {
                if holdsCore {
                    budget.unsafelyUnwrapped.workerReturns()
                    holdsCore = false
                }
                condition.lock()
                parked.add(1, ordering: .sequentiallyConsistent)
                while state.load(ordering: .sequentiallyConsistent) >> 32 == seen,
                      !retired.load(ordering: .sequentiallyConsistent) {
                    condition.wait()
                }
                parked.subtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
            }
            if retired.load(ordering: .relaxed) {
                if holdsCore { budget.unsafelyUnwrapped.workerReturns() }
                return
            }
            seen = state.load(ordering: .acquiring) >> 32
            if let budget {
                if holdsCore, budget.isOversubscribed {
                    budget.workerReturns()
                    holdsCore = false
                }
                if !holdsCore {
                    if !budget.workerTryTake() {
                        // Wait for a lane to stop computing while this job may still have chunks.
                        let job = seen
                        budget.waitForCore(stop: { !self.hasUnclaimedChunks(of: job) || self.retired.load(ordering: .relaxed) })
                        guard budget.workerTryTake() else { continue }
                    }
                    holdsCore = true
                }
            }
            runChunks(of: seen, yieldingTo: budget)
        }
    }

    /// Whether job `job` is the current one and has chunks nobody claimed yet.
    private func hasUnclaimedChunks(of job: UInt64) -> Bool {
        let value = state.load(ordering: .acquiring)
        return value >> 32 == job && (value >> 16) & 0xFFFF < value & 0xFFFF
    }

    /// Polls `waiting` with the CPU's spin-wait hint for up to `microseconds`; returns whether it
    /// still holds then (the caller parks), false as soon as it stops holding.
    private func poll(forMicroseconds microseconds: UInt64, while waiting: () -> Bool) -> Bool {
        let deadline = DispatchTime.now().uptimeNanoseconds + microseconds * 1000
        var polls = 0
        while waiting() {
            st_spin_pause()
            polls += 1
            if polls & 63 == 0, DispatchTime.now().uptimeNanoseconds > deadline { return waiting() }
        }
        return false
    }

    /// Claims and runs chunks of job `job` until none is left (or another job replaced it, or
    /// `budget` has a lane waiting for the core this worker holds).
    private func runChunks(of job: UInt64, yieldingTo budget: CoreBudget? = nil) {
        while true {
            if let budget, budget.isOversubscribed { return }
            let value = state.load(ordering: .acquiring)
            guard value >> 32 == job else { return }
            let next = (value >> 16) & 0xFFFF, count = value & 0xFFFF
            guard next < count else { return }
            guard state.compareExchange(expected: value, desired: value + (1 << 16),
                                        ordering: .acquiringAndReleasing).exchanged else { continue }
            runChunk(Int(next))
            // Sequentially consistent with the submitter's `submitterParked` store and re-check.
            if unfinished.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
               submitterParked.load(ordering: .sequentiallyConsistent) {
                finished.lock()
                finished.signal()
                finished.unlock()
            }
        }
    }

    /// Calls the job's body in its own frame, so the reference taken to the closure is released
    /// before the chunk is counted as finished.
    @inline(never)
    private func runChunk(_ chunk: Int) {
        body.unsafelyUnwrapped(chunk)
    }
}
