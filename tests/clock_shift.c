/*
 * clock_shift.c - see clock_shift.h. The real clock is read with the
 * system call, not through the C library, which this definition replaces.
 */
#include "config.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock_shift.h"

static int64_t shift_ms;

void clock_shift_set(int64_t ms)
{
    __atomic_store_n(&shift_ms, ms, __ATOMIC_SEQ_CST);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int64_t ns;

    if (syscall(SYS_clock_gettime, id, ts) != 0)
        return -1;
    if (id != CLOCK_MONOTONIC)
        return 0;
    ns = (int64_t) ts->tv_sec * 1000000000 + ts->tv_nsec
         + __atomic_load_n(&shift_ms, __ATOMIC_SEQ_CST) * 1000000;
    if (ns < 0)
        ns = 0;
    ts->tv_sec = (time_t) (ns / 1000000000);
    ts->tv_nsec = (long) (ns % 1000000000);
    return 0;
}
