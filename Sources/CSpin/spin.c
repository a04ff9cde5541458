#define _GNU_SOURCE
#include "CSpin.h"
#include <errno.h>
#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

void st_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int st_thread_set_nice(int nice) {
#if defined(__linux__)
    // On Linux the nice value belongs to the thread (task) named by its id, not to the process.
    id_t tid = (id_t)syscall(SYS_gettid);
    if (setpriority(PRIO_PROCESS, tid, nice) != 0) return errno;
#else
    (void)nice;
#endif
    return 0;
}

int st_thread_nice(void) {
#if defined(__linux__)
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int value = getpriority(PRIO_PROCESS, tid);
    return errno == 0 ? value : 0;
#else
    return 0;
#endif
}
