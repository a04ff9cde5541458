// Parallel: splits loops and matrix products over the cores.
//
// Policy: every parallel piece of work goes through the current compute context's pool
// (`ComputeContext`, `WorkerPool`): the project's loops
// (element-wise, norms, softmax, attention tiles, im2col...) and the matrix products, which
// `sgemm` splits into row or column blocks, each a single-threaded OpenBLAS call. OpenBLAS's own
// threads are never used, so the cores are never shared between two thread pools and a product's
// blocks are claimed dynamically like any other loop's chunks.

import Foundation
import COpenBLAS

/// Parallel loops shared by every kernel, on the current `ComputeContext`'s pool.
public enum Parallel {
    /// Threads the loops and products of the current context use (the calling thread included).
    public static var threadCount: Int { WorkerPool.forCurrentThread.workerCount + 1 }

    /// Calls `body` on disjoint sub-ranges that cover `0..<count`, in parallel when the work is large
    /// enough. `grain` is the smallest number of iterations worth giving one worker. Called while
    /// another `forEach` runs (from inside its body, or from another thread), it runs `body(0..<count)`
    /// on the calling thread.
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let pool = WorkerPool.forCurrentThread
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
