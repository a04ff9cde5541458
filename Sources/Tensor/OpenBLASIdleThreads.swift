// OpenBLASIdleThreads: stops OpenBLAS's worker threads from spinning between matrix products.
//
// After each threaded product, an OpenBLAS (pthreads build) worker polls for new work, calling
// sched_yield, for 2^OPENBLAS_THREAD_TIMEOUT cycles before it sleeps; the default, 2^28 cycles, is
// about 0.1 s. samtrack runs its own parallel loops (norms, softmax, GELU, copies) between products
// on the same cores, so a spinning worker takes a core from them: with two cores, tiny at 1024 px
// spent ~9% of its time in the kernel's sched_yield path (`perf`), and the shortest timeout (2^4
// cycles: sleep at once) made a frame ~6-13% faster (Tools/bench/README.md). A sleeping worker is
// woken by a condition variable when the next large product starts, which costs microseconds.
//
// OpenBLAS reads the variable when its thread pool starts, and the pool starts while the library
// loads, before `main`. So this sets the variable (unless the user has), has OpenBLAS read its
// environment again and shuts the pool down; the next threaded product starts a pool that reads
// the new timeout. The two functions are exported by OpenBLAS's shared library but not declared in
// its headers; they are looked up at run time, so another BLAS build (or a future OpenBLAS without
// them) only misses the speed-up.

import Foundation
import COpenBLAS

extension Parallel {
    /// OpenBLAS's thread timeout exponent samtrack sets when `OPENBLAS_THREAD_TIMEOUT` is unset:
    /// the smallest OpenBLAS accepts (idle workers sleep almost at once).
    public static let openBLASThreadTimeout = 4

    /// The exponent of the cycles OpenBLAS's idle workers poll before they sleep, as OpenBLAS now
    /// uses it; nil when this BLAS does not export the functions that read and apply it.
    public static var openBLASIdleTimeout: Int? { quietOnce }

    /// Applies `openBLASThreadTimeout` to OpenBLAS's thread pool once per process (idempotent; run
    /// before the first product by `Parallel.threadCount`'s initialisation).
    static func quietOpenBLASIdleThreads() { _ = quietOnce }

    private static let quietOnce: Int? = {
        guard let process = dlopen(nil, RTLD_NOW) else { return nil }
        defer { dlclose(process) }
        guard let readEnvironment = dlsym(process, "openblas_read_env"),
              let shutdown = dlsym(process, "blas_thread_shutdown_"),
              let timeout = dlsym(process, "openblas_thread_timeout") else { return nil }
        typealias VoidFunction = @convention(c) () -> Void
        typealias IntFunction = @convention(c) () -> Int32
        setenv("OPENBLAS_THREAD_TIMEOUT", String(openBLASThreadTimeout), 0)  // 0: a user's value stays
        unsafeBitCast(readEnvironment, to: VoidFunction.self)()
        _ = unsafeBitCast(shutdown, to: IntFunction.self)()
        // What OpenBLAS read; it clamps a set value to 4...30 and keeps its default 28 for 0 (unset or not a number).
        let read = Int(unsafeBitCast(timeout, to: IntFunction.self)())
        return read > 0 ? min(max(read, 4), 30) : 28
    }()
}
