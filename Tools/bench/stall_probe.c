// stall_probe: how often, and for how long, something else takes a core away from a busy thread.
//
// Each thread spins on the monotonic clock for the given seconds and reports every gap between
// two consecutive readings longer than the threshold (the thread was not running then), then a
// summary: gaps per second and their total. On the 2-core AVX-512 VM of sessions 10-12 one of the
// two cores lost ~3.5-4 ms every ~0.51 s, in step with the kernel's `kdamond` (DAMON sampling
// physical memory every 0.5 s, ~11 ms of CPU a second), which bounds samtrack's p99 / median frame
// latency there (Tools/bench/README.md).
//
// build: cc -O2 -pthread -o /tmp/stall_probe Tools/bench/stall_probe.c
// usage: /tmp/stall_probe [threads=2] [seconds=5] [threshold_us=200]

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds_limit = 5, threshold = 200e-6;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *probe(void *arg) {
    long id = (long)arg;
    double start = now(), last = start, lost = 0;
    long gaps = 0;
    while (last - start < seconds_limit) {
        double t = now();
        if (t - last > threshold) {
            printf("thread %ld: %.3f ms gap at %.3f s\n", id, (t - last) * 1e3, t - start);
            lost += t - last;
            gaps++;
        }
        last = t;
    }
    printf("thread %ld: %ld gaps (%.1f per second), %.1f ms lost in %.1f s (%.2f%%)\n", id, gaps,
           gaps / seconds_limit, lost * 1e3, seconds_limit, 100 * lost / seconds_limit);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (argc > 2) seconds_limit = atof(argv[2]);
    if (argc > 3) threshold = atof(argv[3]) * 1e-6;
    if (threads < 1 || threads > 256 || seconds_limit <= 0 || threshold <= 0) {
        fprintf(stderr, "usage: stall_probe [threads 1-256] [seconds > 0] [threshold_us > 0]\n");
        return 2;
    }
    pthread_t ids[256];
    for (long i = 0; i < threads; i++) pthread_create(&ids[i], NULL, probe, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    return 0;
}
