#ifndef SAMTRACK_CSPIN_H
#define SAMTRACK_CSPIN_H
// Thread-level helpers for samtrack's worker pool (Sources/Tensor/WorkerPool.swift) that Swift
// cannot express itself: the spin-wait hint, and the scheduling priority of the calling thread.

#ifdef __cplusplus
extern "C" {
#endif

/// One polling step of a spin-wait loop: tells the core that the thread is polling, so it spends
/// less power and leaves more of the core to an SMT sibling while it waits (x86 `pause`, Arm `yield`).
void st_spin_pause(void);

/// Sets the nice value (-20...19) of the calling thread only (Linux: setpriority on the thread id;
/// elsewhere a no-op). Returns 0, or an errno value when the kernel refused (e.g. a negative value
/// without CAP_SYS_NICE).
int st_thread_set_nice(int nice);

/// The nice value of the calling thread (Linux), 0 elsewhere.
int st_thread_nice(void);

#ifdef __cplusplus
}
#endif

#endif
