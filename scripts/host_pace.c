/* The host's own pace: a fixed compute loop, pinned to one core, timed in
 * equal chunks of work. Two of these on the two cores at once never
 * communicate, so the larger of their step times against one core's step is
 * what the host alone costs a synchronous 2-rank step (scripts/bench.py,
 * host_reference). Usage: host_pace CPU SECONDS ITERS -> one line per chunk:
 * "start_s chunk_ms". Built by bench.py with the system's C compiler. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: host_pace CPU SECONDS ITERS\n"); return 2; }
    int cpu = atoi(argv[1]);
    double seconds = atof(argv[2]);
    long iters = atol(argv[3]);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) { perror("host_pace: sched_setaffinity"); return 1; }
    /* 64 KB: in L2, so the loop measures the core, not the memory */
    static float buf[16384];
    for (int i = 0; i < 16384; i++) buf[i] = 1.0f + i * 1e-7f;
    double t0 = now();
    while (now() - t0 < seconds) {
        double a = now();
        for (long r = 0; r < iters; r++)
            for (int i = 0; i < 16384; i++) buf[i] = buf[i] * 0.9999f + 0.0001f;
        printf("%.4f %.4f\n", a - t0, 1e3 * (now() - a));
    }
    /* keeps the loop from being optimized away */
    fprintf(stderr, "%g\n", (double)buf[7]);
    return 0;
}
