// Parallel: splits loops over the cores with Dispatch, without oversubscribing OpenBLAS.
//
// Policy: the project's own loops (element-wise, norms, softmax, im2col, depthwise conv...) run on
// `Parallel.threadCount` workers; OpenBLAS is called either from one thread with all of its threads,
// or, for batches of small products, from several workers while each product stays below OpenBLAS's
// own threading threshold. Both use the same count, so the cores are never oversubscribed.

import Foundation
import COpenBLAS

/// Thread configuration and parallel loops shared by every kernel.
public enum Parallel {
    nonisolated(unsafe) private static var configuredThreads: Int = {
        quietOpenBLASIdleThreads()
        return defaultThreadCount()
    }()

    /// Worker count for the project's loops and OpenBLAS (default: the number of active cores, or
    /// `SAMTRACK_THREADS` / `OPENBLAS_NUM_THREADS` when set).
    public static var threadCount: Int { configuredThreads }

    /// Sets the worker count for both the project's loops and OpenBLAS. Call before tracking starts.
    public static func setThreadCount(_ count: Int) {
        configuredThreads = max(1, count)
        openblas_set_num_threads(Int32(configuredThreads))
    }

    private static func defaultThreadCount() -> Int {
        let env = ProcessInfo.processInfo.environment
        if let value = env["SAMTRACK_THREADS"].flatMap(Int.init), value > 0 { return value }
        if let value = env["OPENBLAS_NUM_THREADS"].flatMap(Int.init), value > 0 { return value }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Calls `body` on disjoint sub-ranges that cover `0..<count`, in parallel when the work is large
    /// enough. `grain` is the smallest number of iterations worth giving one worker.
    @inlinable
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = min(threadCount, max(1, count / max(grain, 1)))
        if workers <= 1 {
            body(0..<count)
            return
        }
        // A few chunks per worker balance uneven work without much scheduling overhead.
        let chunks = min(count, workers * 4)
        withoutActuallyEscaping(body) { body in
            let task = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                if start < end { task.value(start..<end) }
            }
        }
    }

    nonisolated(unsafe) private static var serialDepth = 0
    private static let serialLock = NSLock()

    /// Runs `body` with OpenBLAS limited to one thread, so that the project's workers can each run
    /// small products at once without OpenBLAS spreading (and synchronising) every one of them.
    /// Nested uses keep the limit until the outermost ends.
    public static func withSerialBLAS<T>(_ body: () throws -> T) rethrows -> T {
        serialLock.lock()
        serialDepth += 1
        if serialDepth == 1 { openblas_set_num_threads(1) }
        serialLock.unlock()
        defer {
            serialLock.lock()
            serialDepth -= 1
            if serialDepth == 0 { openblas_set_num_threads(Int32(configuredThreads)) }
            serialLock.unlock()
        }
        return try body()
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
