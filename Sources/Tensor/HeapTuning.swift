// HeapTuning: glibc malloc settings for a process that allocates and frees tensors of megabytes
// every frame.
//
// By default glibc serves blocks above its mmap threshold (128 KiB, raised dynamically up to
// 32 MiB) with fresh mmap()s and hands freed memory back to the kernel, so every frame's
// activations come from new pages: the kernel zeroes each page on first touch (page faults were
// ~7% of a bf16 frame). With a high mmap threshold (1 GiB) and trim threshold (256 MiB), freed
// tensors stay in the heap and the next frame reuses them. Measured (tiny, 1024 px, 2 threads):
// bf16 per frame 1345 -> 1210-1225 ms (16 frames), fp32 2.27 -> 2.15 s; resident memory after 60
// fp32 frames 533 MiB (peak 533; glibc defaults: 547, peak 630). A 1 GiB trim threshold was as
// fast but kept 604 MiB resident.

#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Process-wide allocator settings (glibc only; a no-op elsewhere). Call once at start-up, before
/// threads are spawned. `SAMTRACK_HEAP_TUNING=0` leaves glibc's defaults (for comparisons).
public enum HeapTuning {
    /// Whether `apply` changed the settings (false when disabled or not on glibc).
    public private(set) nonisolated(unsafe) static var applied = false

    /// Keeps freed tensors in the heap for reuse: mmap threshold 1 GiB, trim threshold 256 MiB
    /// (free memory above that at the heap's top goes back to the kernel).
    /// `singleArena` makes every thread allocate from the main heap (for processes that run the
    /// model off the main thread, such as the daemon: glibc's per-thread arenas are limited to
    /// 64 MiB heaps and would mmap larger tensors anyway).
    public static func apply(singleArena: Bool = false) {
        if ProcessInfo.processInfo.environment["SAMTRACK_HEAP_TUNING"] == "0" { return }
        #if canImport(Glibc)
        // mallopt is not in Swift's Glibc module (malloc.h); look it up. Parameters from
        // glibc's malloc.h (a stable ABI): M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3, M_ARENA_MAX -8.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        var ok = mallopt(-3, 1 << 30) == 1
        ok = mallopt(-1, 256 << 20) == 1 && ok
        if singleArena { ok = mallopt(-8, 1) == 1 && ok }
        applied = ok
        #endif
    }
}
