/*
 * test_ratelimit.c - sliding-window counters: limits, windows, the memory
 * bound, list and reset, exactness under concurrency (threads), and the
 * Redis backend against a private redis-server on a unix socket (skipped
 * when redis-server is not installed): shared counters between two
 * "hosts", exactness, a lost script, Redis down (fast errors).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ratelimit.h"
#include "util.h"

#define W 10000      /* a 10 s window: sub-windows of 1 s */

static struct ratelimit *mem_new(int max)
{
    struct ratelimit_options o = { .max_entries = max };
    str err = STR_INIT;
    struct ratelimit *rl = ratelimit_new(&o, &err);

    assert_non_null(rl);
    assert_string_equal(ratelimit_backend_name(rl), "memory");
    str_free(&err);
    return rl;
}

static enum ratelimit_result hit(struct ratelimit *rl, const char *key, int64_t limit, int64_t now, int64_t *count)
{
    str err = STR_INIT;
    enum ratelimit_result r = ratelimit_hit(rl, key, limit, W, 1, now, count, &err);

    if (r == RATELIMIT_ERROR)
        fail_msg("ratelimit error: %s", str_cstr(&err));
    str_free(&err);
    return r;
}

/* Limit, count, and the window sliding by sub-windows. */
static void check_window(struct ratelimit *rl)
{
    int64_t t = 1700000000000LL, count = 0;

    for (int i = 1; i <= 3; i++) {
        assert_int_equal(hit(rl, "client:192.0.2.1", 3, t + i, &count), RATELIMIT_OK);
        assert_int_equal(count, i);
    }
    assert_int_equal(hit(rl, "client:192.0.2.1", 3, t + 10, &count), RATELIMIT_OVER);
    assert_int_equal(count, 3);
    /* A refused hit is not counted; other keys are independent. */
    assert_int_equal(hit(rl, "client:192.0.2.1", 3, t + 20, &count), RATELIMIT_OVER);
    assert_int_equal(count, 3);
    assert_int_equal(hit(rl, "client:192.0.2.2", 3, t + 20, &count), RATELIMIT_OK);
    assert_int_equal(count, 1);
    /* Still inside the window (and its extra sub-window). */
    assert_int_equal(hit(rl, "client:192.0.2.1", 3, t + W, &count), RATELIMIT_OVER);
    /* One window and one sub-window later the old events are gone. */
    assert_int_equal(hit(rl, "client:192.0.2.1", 3, t + W + W / RATELIMIT_BUCKETS + 1000, &count), RATELIMIT_OK);
    assert_int_equal(count, 1);
    /* No limit: counts only. */
    for (int i = 1; i <= 5; i++)
        assert_int_equal(hit(rl, "sender:a@b.example", 0, t + i, &count), RATELIMIT_OK);
    assert_int_equal(count, 5);
}

static void test_memory_window(void **state)
{
    struct ratelimit *rl = mem_new(0);

    (void) state;
    check_window(rl);
    ratelimit_free(rl);
}

/* Sub-windows: events spread over the window all count; at the limit, the oldest sub-window frees room. */
static void test_memory_slide(void **state)
{
    struct ratelimit *rl = mem_new(0);
    int64_t t = 1700000000000LL - (1700000000000LL % 1000), count;

    (void) state;
    for (int i = 0; i < 10; i++)
        assert_int_equal(hit(rl, "k", 10, t + i * 1000, &count), RATELIMIT_OK);
    assert_int_equal(hit(rl, "k", 10, t + 9999, &count), RATELIMIT_OVER);
    assert_int_equal(count, 10);
    /* At t+11s the first sub-window (t..t+1s) is 11 sub-windows old: out. */
    assert_int_equal(hit(rl, "k", 10, t + 11000, &count), RATELIMIT_OK);
    assert_int_equal(count, 10);
    /* A changed window starts afresh. */
    {
        str err = STR_INIT;

        assert_int_equal(ratelimit_hit(rl, "k", 10, 2 * W, 1, t + 11001, &count, &err), RATELIMIT_OK);
        assert_int_equal(count, 1);
        str_free(&err);
    }
    ratelimit_free(rl);
}

/* The memory bound drops the least recently hit keys. */
static void test_memory_bound(void **state)
{
    struct ratelimit *rl = mem_new(100);
    struct ratelimit_entry *e;
    str err = STR_INIT;
    int64_t t = 1700000000000LL, count;
    char key[32];
    int n;

    (void) state;
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof(key), "sender:%03d@x.example", i);
        assert_int_equal(hit(rl, key, 10, t, &count), RATELIMIT_OK);
        /* Keep key 000 busy: it must survive. */
        assert_int_equal(hit(rl, "sender:000@x.example", 0, t, &count), RATELIMIT_OK);
    }
    n = ratelimit_list(rl, NULL, t, &e, &err);
    assert_int_equal(n, 100);
    assert_string_equal(e[0].key, "sender:000@x.example");
    assert_int_equal(e[0].count, 151);
    assert_string_equal(e[1].key, "sender:051@x.example");
    assert_int_equal(e[1].window_ms, W);
    ratelimit_entries_free(e, n);
    ratelimit_free(rl);
    str_free(&err);
}

/* List with a pattern, reset one key, reset by pattern. */
static void check_list_reset(struct ratelimit *rl)
{
    struct ratelimit_entry *e;
    str err = STR_INIT;
    int64_t t = ratelimit_now_ms(), count;
    int n;

    assert_int_equal(hit(rl, "client:192.0.2.1", 5, t, &count), RATELIMIT_OK);
    assert_int_equal(hit(rl, "client:192.0.2.1", 5, t, &count), RATELIMIT_OK);
    assert_int_equal(hit(rl, "client:192.0.2.2", 5, t, &count), RATELIMIT_OK);
    assert_int_equal(hit(rl, "sender:a@b.example", 5, t, &count), RATELIMIT_OK);
    n = ratelimit_list(rl, "client:*", t, &e, &err);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].key, "client:192.0.2.1");
    assert_int_equal(e[0].count, 2);
    assert_string_equal(e[1].key, "client:192.0.2.2");
    ratelimit_entries_free(e, n);
    assert_int_equal(ratelimit_reset(rl, "client:192.0.2.1", &err), 1);
    assert_int_equal(hit(rl, "client:192.0.2.1", 5, t, &count), RATELIMIT_OK);
    assert_int_equal(count, 1);
    assert_int_equal(ratelimit_reset(rl, "client:*", &err), 2);
    n = ratelimit_list(rl, "", t, &e, &err);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].key, "sender:a@b.example");
    ratelimit_entries_free(e, n);
    assert_int_equal(ratelimit_reset(rl, NULL, &err), 1);
    assert_int_equal(ratelimit_list(rl, NULL, t, &e, &err), 0);
    ratelimit_entries_free(e, 0);
    str_free(&err);
}

static void test_memory_list_reset(void **state)
{
    struct ratelimit *rl = mem_new(0);

    (void) state;
    check_list_reset(rl);
    ratelimit_free(rl);
}

/* Threads hammering one key: exactly the limit gets through. */
struct hammer {
    struct ratelimit *rl;
    int hits;
    int ok, over, error;
    int64_t now;
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    str err = STR_INIT;

    for (int i = 0; i < h->hits; i++) {
        switch (ratelimit_hit(h->rl, "client:198.51.100.7", 1000, 60000, 1, h->now, NULL, &err)) {
        case RATELIMIT_OK: h->ok++; break;
        case RATELIMIT_OVER: h->over++; break;
        case RATELIMIT_ERROR: h->error++; break;
        }
    }
    str_free(&err);
    return NULL;
}

/* 8 threads x hits each against a limit of 1000, over two backends objects if given. */
static void check_exact(struct ratelimit *a, struct ratelimit *b, int hits)
{
    pthread_t tid[8];
    struct hammer h[8];
    int ok = 0, over = 0, error = 0;
    int64_t now = ratelimit_now_ms();

    for (int i = 0; i < 8; i++) {
        h[i] = (struct hammer) { .rl = (i % 2 && b) ? b : a, .hits = hits, .now = now };
        assert_int_equal(pthread_create(&tid[i], NULL, hammer_thread, &h[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(tid[i], NULL);
        ok += h[i].ok;
        over += h[i].over;
        error += h[i].error;
    }
    assert_int_equal(error, 0);
    assert_int_equal(ok, 1000);
    assert_int_equal(over, 8 * hits - 1000);
}

static void test_memory_threads(void **state)
{
    struct ratelimit *rl = mem_new(0);

    (void) state;
    check_exact(rl, NULL, 500);
    ratelimit_free(rl);
}

static void test_bad_options(void **state)
{
    static const char *const bad[] = { "host:1:2", "[::1", "[::1]x", "unix:relative", "host:0", "host:99999", ":6379" };
    str err = STR_INIT;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ratelimit_options o = { .redis = bad[i] };

        str_reset(&err);
        assert_null(ratelimit_new(&o, &err));
#ifdef HAVE_HIREDIS
        assert_non_null(strstr(str_cstr(&err), bad[i]));
#else
        assert_non_null(strstr(str_cstr(&err), "without hiredis"));
#endif
    }
    str_free(&err);
}

/* A key longer than RATELIMIT_MAX_KEY is cut, not refused. */
static void test_long_key(void **state)
{
    struct ratelimit *rl = mem_new(0);
    str key = STR_INIT;
    int64_t count;

    (void) state;
    str_adds(&key, "sender:");
    while (key.len < 100000)
        str_addc(&key, 'x');
    assert_int_equal(hit(rl, str_cstr(&key), 2, 1, &count), RATELIMIT_OK);
    str_addc(&key, 'y');
    assert_int_equal(hit(rl, str_cstr(&key), 2, 1, &count), RATELIMIT_OK);
    assert_int_equal(count, 2);
    str_free(&key);
    ratelimit_free(rl);
}

/* ---------------------------------------------------------------- Redis */

#ifdef HAVE_HIREDIS
static pid_t redis_pid;
static char redis_dir[64], redis_sock[128];

static int redis_setup(void **state)
{
    char port0[] = "0";

    (void) state;
    if (access("/usr/bin/redis-server", X_OK) != 0)
        return 0;
    snprintf(redis_dir, sizeof(redis_dir), "/tmp/rampart-rl-%ld", (long) getpid());
    mkdir(redis_dir, 0700);
    snprintf(redis_sock, sizeof(redis_sock), "%s/redis.sock", redis_dir);
    redis_pid = fork();
    if (redis_pid == 0) {
        int fd = open("/dev/null", O_WRONLY);

        dup2(fd, 1);
        dup2(fd, 2);
        execl("/usr/bin/redis-server", "redis-server", "--port", port0, "--unixsocket", redis_sock,
              "--save", "", "--appendonly", "no", "--dir", redis_dir, (char *) NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && access(redis_sock, F_OK) != 0; i++)
        usleep(50000);
    if (access(redis_sock, F_OK) != 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
    return 0;
}

static int redis_teardown(void **state)
{
    (void) state;
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
    unlink(redis_sock);
    rmdir(redis_dir);
    return 0;
}

static struct ratelimit *redis_new(const char *prefix)
{
    struct ratelimit_options o = { .redis = NULL, .redis_prefix = prefix, .pool_size = 4, .redis_timeout_ms = 2000 };
    str spec = STR_INIT, err = STR_INIT;
    struct ratelimit *rl;

    str_addf(&spec, "unix:%s", redis_sock);
    o.redis = str_cstr(&spec);
    rl = ratelimit_new(&o, &err);
    assert_non_null(rl);
    assert_string_equal(ratelimit_backend_name(rl), "redis");
    str_free(&spec);
    str_free(&err);
    return rl;
}

#define NEED_REDIS() do { if (redis_pid <= 0) skip(); } while (0)

static void test_redis_window(void **state)
{
    struct ratelimit *rl;

    (void) state;
    NEED_REDIS();
    rl = redis_new("t1:");
    check_window(rl);
    check_list_reset(rl);
    ratelimit_free(rl);
}

/* Two "hosts" (two backends on one Redis) and 8 threads: exactly the limit passes. */
static void test_redis_shared_exact(void **state)
{
    struct ratelimit *a, *b;

    (void) state;
    NEED_REDIS();
    a = redis_new("t2:");
    b = redis_new("t2:");
    check_exact(a, b, 200);
    ratelimit_free(a);
    ratelimit_free(b);
}

/* Redis forgets the script (restart, SCRIPT FLUSH): it is loaded again. */
static void test_redis_noscript(void **state)
{
    struct ratelimit *rl;
    int64_t count;
    char cmd[256];

    (void) state;
    NEED_REDIS();
    rl = redis_new("t3:");
    assert_int_equal(hit(rl, "k", 5, ratelimit_now_ms(), &count), RATELIMIT_OK);
    snprintf(cmd, sizeof(cmd), "redis-cli -s %s SCRIPT FLUSH >/dev/null", redis_sock);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(hit(rl, "k", 5, ratelimit_now_ms(), &count), RATELIMIT_OK);
    assert_int_equal(count, 2);
    ratelimit_free(rl);
}

/* Redis down: an error at once, and no new connection attempt for a second. */
static void test_redis_down(void **state)
{
    struct ratelimit_options o = { .redis = "unix:/nonexistent/redis.sock", .redis_timeout_ms = 500 };
    struct ratelimit *rl;
    str err = STR_INIT;
    int64_t t0, count;

    (void) state;
    rl = ratelimit_new(&o, &err);
    assert_non_null(rl);
    assert_int_equal(ratelimit_hit(rl, "k", 5, W, 1, ratelimit_now_ms(), &count, &err), RATELIMIT_ERROR);
    assert_non_null(strstr(str_cstr(&err), "cannot connect"));
    str_reset(&err);
    t0 = clock_now_ms();
    assert_int_equal(ratelimit_hit(rl, "k", 5, W, 1, ratelimit_now_ms(), &count, &err), RATELIMIT_ERROR);
    assert_true(clock_now_ms() - t0 < 100);
    assert_non_null(strstr(str_cstr(&err), "unreachable"));
    assert_int_equal(ratelimit_list(rl, NULL, 0, &(struct ratelimit_entry *) { NULL }, &err), -1);
    ratelimit_free(rl);
    str_free(&err);
}
#endif

int main(void)
{
    const struct CMUnitTest mem_tests[] = {
        cmocka_unit_test(test_memory_window),
        cmocka_unit_test(test_memory_slide),
        cmocka_unit_test(test_memory_bound),
        cmocka_unit_test(test_memory_list_reset),
        cmocka_unit_test(test_memory_threads),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_long_key),
    };
    int failed = cmocka_run_group_tests_name("ratelimit memory", mem_tests, NULL, NULL);
#ifdef HAVE_HIREDIS
    const struct CMUnitTest redis_tests[] = {
        cmocka_unit_test(test_redis_window),
        cmocka_unit_test(test_redis_shared_exact),
        cmocka_unit_test(test_redis_noscript),
        cmocka_unit_test(test_redis_down),
    };

    failed += cmocka_run_group_tests_name("ratelimit redis", redis_tests, redis_setup, redis_teardown);
#endif
    return failed;
}
