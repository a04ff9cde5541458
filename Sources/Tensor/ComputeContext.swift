// ComputeContext: the CPU budget a piece of work runs with — its own worker pool (how many
// threads its loops and products use) and the scheduling priority of those threads. It is a
// value passed down, not a global: a daemon job, an interactive request and a CLI run each bind
// their own context for the scope of their work, and every `Parallel.forEach` and matrix product
// inside that scope runs on that context's pool.
//
//   let context = ComputeContext(threads: 2, priority: .batch)
//   context.run { tracker.step(...) }          // everything inside uses context's 2 threads
//
// The binding is a task-local, which Swift also keeps per thread outside of tasks, so it works on
// the daemon's job threads as well as in async code. Outside any binding the process default
// applies: every core (or `SAMTRACK_THREADS` / `OPENBLAS_NUM_THREADS`), normal priority; the CLI's
// `--threads` replaces it (`ComputeContext.setProcessDefault`).
//
// Two contexts never share threads, so two jobs of 1 thread each really get 2 cores, and a
// `.batch` context's threads (nice 10) yield the CPU to an `.interactive` one's (nice 0).
//
// `pipelineLanes()` splits a context's cores between two stages that run at once on two threads
// (a `CoreBudget`): each lane has as many threads as the context, and a lane's workers compute
// only on the cores the two lanes leave free.

import Foundation
import COpenBLAS
import CSpin

/// A worker pool and a priority for the work run inside `run(_:)` (see the file comment).
public final class ComputeContext: Sendable {
    /// How the context's threads are scheduled relative to other work in the process.
    public enum Priority: String, Sendable, CaseIterable {
        /// Normal priority (nice 0): CLI runs, interactive requests.
        case interactive
        /// Background work (nice 10): daemon jobs, which must not delay an interactive request.
        case batch

        /// The nice value of the context's threads.
        public var niceValue: Int32 {
            switch self {
            case .interactive: return 0
            case .batch: return 10
            }
        }
    }

    /// Threads the context's loops and products use, the calling thread included (>= 1).
    public let threads: Int
    public let priority: Priority
    /// `threads - 1` workers; the thread that calls `forEach` runs chunks too.
    let pool: WorkerPool
    /// For a pipeline lane, the cores it shares with the other lanes (nil for any other context).
    public let budget: CoreBudget?

    /// A context of `threads` threads (clamped to 1...`maxThreads`).
    public convenience init(threads: Int, priority: Priority = .interactive) {
        self.init(threads: threads, priority: priority, budget: nil)
    }

    private init(threads: Int, priority: Priority, budget: CoreBudget?) {
        self.threads = min(max(1, threads), Self.maxThreads)
        self.priority = priority
        self.budget = budget
        // OpenBLAS runs single-threaded on whichever thread calls it: `sgemm` splits large
        // products over the context's workers itself (Parallel.swift).
        openblas_set_num_threads(1)
        pool = WorkerPool(workerCount: self.threads - 1, nice: priority.niceValue, budget: budget)
    }

    /// Two contexts for two stages that run at the same time on two threads (a pipeline), sharing
    /// this context's cores: each has this context's thread count and priority (so its loops split
    /// the same way and give the same bits), and their workers compute only on cores the lanes
    /// leave free. Each piece of a lane's work runs inside the lane's `run`, which holds a core
    /// for its duration; a lane waiting for the other (outside `run`) lends its core to the
    /// other's workers. Needs `threads >= 2`; with one thread it returns nil.
    public func pipelineLanes() -> (ComputeContext, ComputeContext)? {
        guard threads >= 2 else { return nil }
        let budget = CoreBudget(cores: threads)
        return (ComputeContext(threads: threads, priority: priority, budget: budget),
                ComputeContext(threads: threads, priority: priority, budget: budget))
    }

    deinit { pool.retire() }

    /// The most threads a context may have: 4 x the cores (more only oversubscribes the CPU, and
    /// each thread reserves its stack).
    public static var maxThreads: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) * 4 }

    /// Runs `body` with this context bound (loops and products inside use its pool). The calling
    /// thread takes the context's priority for the duration; a pipeline lane's thread holds one of
    /// the shared cores (do not nest a lane's `run` calls).
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        let previousNice = st_thread_nice()
        let changesPriority = previousNice != priority.niceValue
        if changesPriority { _ = st_thread_set_nice(priority.niceValue) }
        defer { if changesPriority { _ = st_thread_set_nice(previousNice) } }
        budget?.laneTakes()
        defer { budget?.laneReturns() }
        return try Self.$bound.withValue(self, operation: body)
    }

    /// Runs `body` with a context of one thread bound: its loops and products run on the calling
    /// thread, and the thread's priority is left as it is. For helper threads whose small loops
    /// must not take the pool of the work they feed (a frame reader's decoding thread: its
    /// normalisation, submitted to the tracker's pool, made the tracker's products run on one
    /// thread whenever the two overlapped).
    public static func onCallingThread<T>(_ body: () throws -> T) rethrows -> T {
        try $bound.withValue(callingThreadOnly, operation: body)
    }

    /// One thread, no workers (`onCallingThread`).
    private static let callingThreadOnly = ComputeContext(threads: 1)

    /// Async variant of `run(_:)` (binds the context for the task; the priority applies to the
    /// context's worker threads only).
    public func run<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        try await Self.$bound.withValue(self, operation: body)
    }

    // MARK: - The current context

    @TaskLocal static var bound: ComputeContext?

    /// The context bound to this task or thread, else the process default.
    public static var current: ComputeContext { bound ?? processDefault }

    private static let defaultLock = NSLock()
    nonisolated(unsafe) private static var defaultContext: ComputeContext?

    /// The context used outside any `run` (created on first use from the environment).
    public static var processDefault: ComputeContext {
        defaultLock.lock()
        defer { defaultLock.unlock() }
        if let defaultContext { return defaultContext }
        let created = ComputeContext(threads: defaultThreadCount())
        defaultContext = created
        return created
    }

    /// Replaces the process default (the CLI's `--threads`). Work already running on the old
    /// default finishes on it.
    public static func setProcessDefault(threads: Int) {
        defaultLock.lock()
        defer { defaultLock.unlock() }
        if defaultContext?.threads == threads { return }
        defaultContext = ComputeContext(threads: threads)
    }

    /// `SAMTRACK_THREADS`, else `OPENBLAS_NUM_THREADS`, else the number of active cores.
    public static func defaultThreadCount() -> Int {
        let env = ProcessInfo.processInfo.environment
        if let value = env["SAMTRACK_THREADS"].flatMap(Int.init), value > 0 { return value }
        if let value = env["OPENBLAS_NUM_THREADS"].flatMap(Int.init), value > 0 { return value }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }
}
