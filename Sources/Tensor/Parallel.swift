// Parallel: splits loops and matrix products over the cores.
//
// Policy: every parallel piece of work goes through one pool (`WorkerPool`): the project's loops
// (element-wise, norms, softmax, attention tiles, im2col...) and the matrix products, which
// `sgemm` splits into row or column blocks, each a single-threaded OpenBLAS call. OpenBLAS's own
// threads are never used, so the cores are never shared between two thread pools and a product's
// blocks are claimed dynamically like any other loop's chunks.

import Foundation
import COpenBLAS

/// Thread configuration and parallel loops shared by every kernel.
public enum Parallel {
    private static let configuration = NSLock()
    nonisolated(unsafe) private static var currentPool: WorkerPool?

    /// Worker count for the project's loops and products (default: the number of active cores, or
    /// `SAMTRACK_THREADS` / `OPENBLAS_NUM_THREADS` when set).
    public static var threadCount: Int { pool().workerCount + 1 }

    /// Sets the worker count. Call before tracking starts (a loop running on another thread at the
    /// same time finishes on the old workers).
    public static func setThreadCount(_ count: Int) {
        configuration.lock()
        defer { configuration.unlock() }
        let workers = max(1, count) - 1
        if currentPool?.workerCount != workers { _ = replacePool(workers: workers) }
    }

    private static func pool() -> WorkerPool {
        configuration.lock()
        defer { configuration.unlock() }
        return currentPool ?? replacePool(workers: defaultThreadCount() - 1)
    }

    /// Retires the current pool and starts one of `workers` threads (callers hold `configuration`).
    /// OpenBLAS is set to run on the calling thread only, however the first pool comes about: `sgemm`
    /// splits large products itself.
    private static func replacePool(workers: Int) -> WorkerPool {
        openblas_set_num_threads(1)
        currentPool?.retire()
        let created = WorkerPool(workerCount: workers)
        currentPool = created
        return created
    }

    private static func defaultThreadCount() -> Int {
        let env = ProcessInfo.processInfo.environment
        if let value = env["SAMTRACK_THREADS"].flatMap(Int.init), value > 0 { return value }
        if let value = env["OPENBLAS_NUM_THREADS"].flatMap(Int.init), value > 0 { return value }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Calls `body` on disjoint sub-ranges that cover `0..<count`, in parallel when the work is large
    /// enough. `grain` is the smallest number of iterations worth giving one worker. Called while
    /// another `forEach` runs (from inside its body, or from another thread), it runs `body(0..<count)`
    /// on the calling thread.
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let pool = pool()
        let workers = min(pool.workerCount + 1, max(1, count / max(grain, 1)))
        if workers <= 1 {
            body(0..<count)
            return
        }
        // A few chunks per worker balance uneven work, and a worker another process preempts holds
        // up only its current chunk.
        let chunks = min(count, workers * 4)
        let ran = pool.run(chunks: chunks) { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            if start < end { body(start..<end) }
        }
        if !ran { body(0..<count) }
    }

    /// Name of the CPU kernel set OpenBLAS selected (e.g. "SkylakeX", "Haswell").
    public static var openBLASCoreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's own description of how it was built (version, threading model, target).
    public static var openBLASConfig: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }
}

/// Carries a value into a `@Sendable` closure when the caller guarantees the accesses are
/// disjoint (each worker of `Parallel.forEach` writes its own range).
@usableFromInline
struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @usableFromInline init(_ value: Value) { self.value = value }
}
