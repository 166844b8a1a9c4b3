/*
 * clock_shift.h - tests move the monotonic clock: clock_gettime() is
 * interposed for the whole test program, and CLOCK_MONOTONIC reads
 * clock_shift_ms milliseconds off the real one (0 unless a test sets it).
 * Lets a test reach a limit counted in seconds (how long an answer is
 * kept, how long a thread may idle) without waiting for it.
 *
 * Only what reads the clock sees the shift: a deadline made from it and
 * handed to the kernel (pthread_cond_timedwait on CLOCK_MONOTONIC) is
 * timed on the real clock, so it comes shift_ms later (positive shift) or
 * earlier (negative). test_workers counts on that to shorten an idle
 * wait; test_dns moves the clock only while no lookup waits. A shift
 * below the real clock's zero (a host up for less than its size) reads 0.
 */
#ifndef RAMPART_TESTS_CLOCK_SHIFT_H
#define RAMPART_TESTS_CLOCK_SHIFT_H

#include <stdint.h>

/* Milliseconds added to CLOCK_MONOTONIC (negative: the clock reads earlier). */
void clock_shift_set(int64_t ms);

#endif
