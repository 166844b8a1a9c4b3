/*
 * test_workers.c - the pool of threads for waiting jobs (lib/workers.c):
 * every job runs and is waited for; jobs run at once even when all
 * threads are busy (a job never waits for another); idle threads are
 * reused rather than created again; a thread idle for WORKERS_IDLE_MS
 * ends, except the last WORKERS_KEEP (the clock is moved, not waited
 * for: clock_shift.h); shutdown ends them and the pool works again
 * afterwards.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock_shift.h"
#include "workers.h"

#define N_AT_ONCE 24

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int arrived, ran;

/* Count a run. */
static void count_job(void *arg)
{
    int *n = arg;

    pthread_mutex_lock(&lock);
    (*n)++;
    ran++;
    pthread_mutex_unlock(&lock);
}

/* Wait (10 s at most) until N_AT_ONCE jobs are in here together; *ok = whether they were. */
static void gather_job(void *arg)
{
    int *ok = arg;
    struct timespec ts;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&lock);
    arrived++;
    pthread_cond_broadcast(&cond);
    while (arrived < N_AT_ONCE && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&cond, &lock, &ts);
    *ok = arrived >= N_AT_ONCE;
    pthread_mutex_unlock(&lock);
}

/* Jobs that each wait for all the others: only done if each got a thread at once. */
static void test_jobs_run_at_once(void **state)
{
    struct worker_job jobs[N_AT_ONCE];
    int ok[N_AT_ONCE];

    (void) state;
    arrived = 0;
    for (int i = 0; i < N_AT_ONCE; i++) {
        ok[i] = 0;
        assert_int_equal(workers_submit(&jobs[i], gather_job, &ok[i]), 0);
    }
    for (int i = 0; i < N_AT_ONCE; i++) {
        workers_wait(&jobs[i]);
        assert_int_equal(ok[i], 1);
    }
}

/* Wait (10 s at most) until held jobs may go on. */
static int released;

static void hold_job(void *arg)
{
    struct timespec ts;
    int rc = 0;

    (void) arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&lock);
    arrived++;
    pthread_cond_broadcast(&cond);
    while (!released && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&cond, &lock, &ts);
    pthread_mutex_unlock(&lock);
}

/* Run n held jobs at once (n threads), then let them end; the idle wait starts with the clock moved by shift_ms. */
static void run_held(int n, int64_t shift_ms)
{
    static struct worker_job jobs[WORKERS_KEEP + 2];
    struct timespec ts;
    int rc = 0, all;

    assert_true(n <= (int) (sizeof(jobs) / sizeof(jobs[0])));
    arrived = released = 0;
    for (int i = 0; i < n; i++)
        assert_int_equal(workers_submit(&jobs[i], hold_job, NULL), 0);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&lock);
    while (arrived < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&cond, &lock, &ts);
    all = arrived == n;
    clock_shift_set(shift_ms);
    released = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    /* Every job ends (a late one finds itself released): wait for all before judging. */
    for (int i = 0; i < n; i++)
        workers_wait(&jobs[i]);
    assert_true(all);
}

/* Wait (5 s at most) until the pool has want threads; how many it has. */
static int wait_threads(int want)
{
    struct timespec pause = { 0, 50000000L };
    struct workers_stats st;

    for (int i = 0; i < 100; i++) {
        workers_stats(&st);
        if (st.threads == want)
            break;
        nanosleep(&pause, NULL);
    }
    return st.threads;
}

/*
 * Idle threads: none ends before WORKERS_IDLE_MS, then all but WORKERS_KEEP
 * do. The clock is moved so that the limit is 2 s of real time away when
 * they start to wait (clock_shift.h: their wait is timed on the real
 * clock): still all there after 1 s, down to WORKERS_KEEP soon after 2 s.
 */
static void test_idle_threads_end(void **state)
{
    struct timespec second = { 1, 0 };
    struct workers_stats st;
    struct worker_job job;
    int n = 0;

    (void) state;
    workers_shutdown();
    run_held(WORKERS_KEEP + 2, -(int64_t) (WORKERS_IDLE_MS - 2000));
    nanosleep(&second, NULL);
    workers_stats(&st);
    assert_int_equal(st.threads, WORKERS_KEEP + 2);
    assert_int_equal(wait_threads(WORKERS_KEEP), WORKERS_KEEP);
    /* the kept ones stay, and still take jobs */
    nanosleep(&second, NULL);
    workers_stats(&st);
    assert_int_equal(st.threads, WORKERS_KEEP);
    assert_int_equal(st.idle, WORKERS_KEEP);
    clock_shift_set(0);
    assert_int_equal(workers_submit(&job, count_job, &n), 0);
    workers_wait(&job);
    assert_int_equal(n, 1);
    workers_stats(&st);
    assert_int_equal(st.threads, WORKERS_KEEP);
}

/* The clock as it is and no thread left, even after a failed test. */
static int pool_teardown(void **state)
{
    (void) state;
    clock_shift_set(0);
    workers_shutdown();
    return 0;
}

/* One job after another: after the first, no new thread; each result is there after the wait. */
static void test_threads_reused(void **state)
{
    struct workers_stats before, after;
    struct worker_job job;
    int n = 0;

    (void) state;
    workers_shutdown();
    workers_stats(&before);
    assert_int_equal(before.threads, 0);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(workers_submit(&job, count_job, &n), 0);
        workers_wait(&job);
        assert_int_equal(n, i + 1);
    }
    workers_stats(&after);
    assert_int_equal(after.jobs - before.jobs, 200);
    /* The thread that ran the first job ran all the others. */
    assert_int_equal(after.created - before.created, 1);
    assert_int_equal(after.threads, 1);
}

/* Many jobs from several threads at once; all run exactly once. */
static void *submitter(void *arg)
{
    struct worker_job jobs[50];
    int *counts = arg;

    for (int i = 0; i < 50; i++)
        assert_int_equal(workers_submit(&jobs[i], count_job, &counts[i]), 0);
    for (int i = 0; i < 50; i++)
        workers_wait(&jobs[i]);
    return NULL;
}

static void test_many_submitters(void **state)
{
    pthread_t t[8];
    int counts[8][50];

    (void) state;
    memset(counts, 0, sizeof(counts));
    ran = 0;
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, submitter, counts[i]), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 50; j++)
            assert_int_equal(counts[i][j], 1);
    assert_int_equal(ran, 400);
}

/* Shutdown ends every thread; the pool starts again on the next job. */
static void test_shutdown_and_again(void **state)
{
    struct workers_stats st;
    struct worker_job job;
    int n = 0;

    (void) state;
    assert_int_equal(workers_submit(&job, count_job, &n), 0);
    workers_wait(&job);
    workers_shutdown();
    workers_stats(&st);
    assert_int_equal(st.threads, 0);
    assert_int_equal(st.idle, 0);
    assert_int_equal(workers_submit(&job, count_job, &n), 0);
    workers_wait(&job);
    assert_int_equal(n, 2);
    workers_shutdown();
    workers_stats(&st);
    assert_int_equal(st.threads, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_run_at_once),
        cmocka_unit_test(test_threads_reused),
        cmocka_unit_test(test_many_submitters),
        cmocka_unit_test(test_shutdown_and_again),
        cmocka_unit_test_teardown(test_idle_threads_end, pool_teardown),
    };

    return cmocka_run_group_tests_name("workers", tests, NULL, NULL);
}
