#ifndef SAMTRACK_CSPIN_H
#define SAMTRACK_CSPIN_H
// A spin-wait hint for samtrack's worker pool (Sources/Tensor/WorkerPool.swift): tells the core
// that the thread is polling, so it spends less power and leaves more of the core to an SMT
// sibling while it waits (x86 `pause`, Arm `yield`).

#ifdef __cplusplus
extern "C" {
#endif

/// One polling step of a spin-wait loop.
void st_spin_pause(void);

#ifdef __cplusplus
}
#endif

#endif
