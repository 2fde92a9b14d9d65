/* The wall clock of a process, shifted by the number of seconds in the file named by
 * WALLCLOCK_SHIFT_FILE (read at every reading, so a test steps it while the process runs).
 * CLOCK_MONOTONIC and the other clocks are left alone: a step of the wall clock as
 * `date -s` makes one, for one process, without touching the machine's clock. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_gettime_t)(clockid_t, struct timespec *);

static long long shift_ns(void) {
    const char *path = getenv("WALLCLOCK_SHIFT_FILE");
    double seconds = 0;
    FILE *file;
    if (path == NULL || (file = fopen(path, "r")) == NULL) return 0;
    if (fscanf(file, "%lf", &seconds) != 1) seconds = 0;
    fclose(file);
    return (long long)(seconds * 1e9);
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static clock_gettime_t real = NULL;
    if (real == NULL) real = (clock_gettime_t)dlsym(RTLD_NEXT, "clock_gettime");
    int result = real(id, ts);
    if (result == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + shift_ns();
        ts->tv_sec = ns / 1000000000LL;
        ts->tv_nsec = ns % 1000000000LL;
    }
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    if (tv == NULL) return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}
