/*
 * test_dns_trace.c - the recording resolver: answers pass through
 * unchanged and are recorded with their context; slow answers are
 * delivered by the worker and still overlap; a caller that gives up is
 * recorded as a timeout; the entry limit; the zone file it writes loads
 * into dns_zonefile and answers the same (round trip), TXT escaping
 * included.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pthread.h>

#include "dns.h"
#include "dns_trace.h"
#include "dns_zonefile.h"
#include "mem.h"
#include "str.h"
#include "util.h"
#include "workers.h"

static struct dns_resolver *inner, *tr;

static int setup(void **state)
{
    (void) state;
    inner = dns_fixture_new();
    dns_set_timeout(inner, 2000);
    tr = dns_trace_new(inner);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    dns_resolver_free(tr);
    dns_resolver_free(inner);
    tr = inner = NULL;
    return 0;
}

/* Wait (up to 2 s) until entry i has its answer. */
static const struct dns_trace_entry *settled(struct dns_resolver *r, int i)
{
    for (int k = 0; k < 2000; k++) {
        const struct dns_trace_entry *e = dns_trace_entry(r, i);
        struct timespec ts = { 0, 1000000L };

        if (e && e->elapsed_ms >= 0)
            return e;
        nanosleep(&ts, NULL);
    }
    fail_msg("entry %d never settled", i);
    return NULL;
}

/* Answers pass through and are recorded, with the context of the moment. */
static void test_pass_through(void **state)
{
    struct dns_answer *a;
    const struct dns_trace_entry *e;

    (void) state;
    assert_int_equal(dns_get_timeout(tr), 2000);
    dns_fixture_add(inner, "example.org", DNS_T_TXT, "v=spf1 -all");
    dns_fixture_add(inner, "example.org", DNS_T_MX, "10 mx.example.org");
    dns_trace_set_context(tr, "mail");
    a = dns_lookup(tr, "example.org", DNS_T_TXT);
    assert_int_equal(a->status, DNS_ANSWER);
    assert_string_equal(a->rr[0].u.txt.data, "v=spf1 -all");
    dns_answer_free(a);
    dns_trace_set_context(tr, "eom");
    a = dns_lookup(tr, "nope.example.org", DNS_T_A);
    assert_int_equal(a->status, DNS_NXDOMAIN);
    dns_answer_free(a);
    dns_trace_set_context(tr, NULL);
    a = dns_lookup(tr, "example.org.", DNS_T_A);
    assert_int_equal(a->status, DNS_NODATA);
    dns_answer_free(a);

    assert_int_equal(dns_trace_count(tr), 3);
    e = dns_trace_entry(tr, 0);
    assert_int_equal(e->seq, 0);
    assert_string_equal(e->name, "example.org");
    assert_int_equal(e->type, DNS_T_TXT);
    assert_string_equal(e->context, "mail");
    assert_int_equal(e->answer->status, DNS_ANSWER);
    assert_int_equal(e->answer->rr[0].ttl, 300);
    assert_true(e->elapsed_ms >= 0);
    e = dns_trace_entry(tr, 1);
    assert_string_equal(e->context, "eom");
    assert_int_equal(e->answer->status, DNS_NXDOMAIN);
    e = dns_trace_entry(tr, 2);
    assert_null(e->context);
    assert_string_equal(e->name, "example.org");
    assert_null(dns_trace_entry(tr, 3));
    assert_int_equal(dns_fixture_queries(inner), 3);
}

/* A job on a pool thread: one question, asked once the submitter has moved on. */
struct stage_job {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int go;
};

static void stage_job_run(void *arg)
{
    struct stage_job *sj = arg;

    pthread_mutex_lock(&sj->lock);
    while (!sj->go)
        pthread_cond_wait(&sj->cond, &sj->lock);
    pthread_mutex_unlock(&sj->lock);
    dns_answer_free(dns_lookup(tr, "example.org", DNS_T_TXT));
}

/* This thread's label wins over the trace's, and a pool job asks under the label of the
   thread that submitted it, whatever that thread does meanwhile (SPF in rampart-check). */
static void test_thread_context(void **state)
{
    struct stage_job sj = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    struct worker_job job;

    (void) state;
    dns_fixture_add(inner, "example.org", DNS_T_TXT, "v=spf1 -all");
    dns_trace_set_context(tr, "trace");
    dns_trace_set_thread_context("mail");
    assert_string_equal(dns_trace_thread_context(), "mail");
    assert_int_equal(workers_submit(&job, stage_job_run, &sj), 0);
    dns_trace_set_thread_context("eoh");
    dns_trace_set_context(tr, "eom");
    dns_answer_free(dns_lookup(tr, "example.org", DNS_T_TXT));
    pthread_mutex_lock(&sj.lock);
    sj.go = 1;
    pthread_cond_signal(&sj.cond);
    pthread_mutex_unlock(&sj.lock);
    workers_wait(&job);
    dns_trace_set_thread_context(NULL);
    dns_answer_free(dns_lookup(tr, "example.org", DNS_T_TXT));

    assert_int_equal(dns_trace_count(tr), 3);
    assert_string_equal(dns_trace_entry(tr, 0)->context, "eoh");
    assert_string_equal(dns_trace_entry(tr, 1)->context, "mail");
    assert_string_equal(dns_trace_entry(tr, 2)->context, "eom");
}

/* A caller that stops waiting: recorded as the timeout it saw. */
static void test_abandoned(void **state)
{
    const struct dns_answer *a;
    struct dns_query *q;
    const struct dns_trace_entry *e;

    (void) state;
    dns_fixture_fail(inner, "slow.example", DNS_T_A, DNS_TEMPFAIL, 1);
    dns_fixture_fail(inner, "broken.example", DNS_T_A, DNS_TEMPFAIL, 0);
    q = dns_start(tr, "slow.example", DNS_T_A);
    a = dns_wait(q, clock_now_ms() + 30);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_true(a->timed_out);
    dns_query_free(q);
    e = settled(tr, 0);
    assert_true(e->abandoned);
    assert_true(e->answer->timed_out);

    /* Freed without waiting: abandoned too. */
    q = dns_start(tr, "slow.example", DNS_T_A);
    dns_query_free(q);
    e = settled(tr, 1);
    assert_true(e->abandoned);

    q = dns_start(tr, "broken.example", DNS_T_A);
    a = dns_wait(q, 0);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_false(a->timed_out);
    dns_query_free(q);
    e = settled(tr, 2);
    assert_false(e->abandoned);
}

/* ---------------------------------------------------------------- a slow backend */

/* Answers every query with one A record after SLOW_MS, from a thread of its own. */
#define SLOW_MS 60

struct slow_job {
    struct dns_query *q;
};

static void *slow_answer(void *arg)
{
    struct slow_job *j = arg;
    struct timespec ts = { 0, SLOW_MS * 1000000L };
    struct dns_answer *a;

    nanosleep(&ts, NULL);
    a = dns_answer_new(dns_query_name(j->q), dns_query_type(j->q), DNS_ANSWER);
    dns_answer_add_text(a, DNS_T_A, 42, "192.0.2.7", 9);
    dns_query_done(j->q, a);
    mem_free(j);
    return NULL;
}

static void slow_start(struct dns_resolver *r, struct dns_query *q)
{
    struct slow_job *j = mem_zalloc(sizeof(*j));
    pthread_t t;

    (void) r;
    j->q = q;
    assert_int_equal(pthread_create(&t, NULL, slow_answer, j), 0);
    pthread_detach(t);
}

static void slow_destroy(struct dns_resolver *r)
{
    mem_free(r);
}

static const struct dns_backend_ops slow_ops = { slow_start, NULL, slow_destroy };

/* Slow answers come through the worker, and several overlap. */
static void test_overlap(void **state)
{
    struct dns_resolver *slow = mem_zalloc(sizeof(*slow)), *t;
    struct dns_query *q[5];
    int64_t t0 = clock_now_ms(), took;
    char name[32];

    (void) state;
    dns_resolver_init(slow, &slow_ops);
    t = dns_trace_new(slow);
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "h%d.example", i);
        q[i] = dns_start(t, name, DNS_T_A);
    }
    dns_wait_all(q, 5, 0);
    took = clock_now_ms() - t0;
    for (int i = 0; i < 5; i++) {
        const struct dns_answer *a = dns_peek(q[i]);

        assert_int_equal(a->status, DNS_ANSWER);
        assert_int_equal(a->rr[0].ttl, 42);
        dns_query_free(q[i]);
    }
    assert_true(took < 3 * SLOW_MS);
    for (int i = 0; i < 5; i++) {
        const struct dns_trace_entry *e = settled(t, i);

        assert_true(e->elapsed_ms >= SLOW_MS - 5);
        assert_int_equal(e->answer->rr[0].ttl, 42);
    }
    /* The inner queries are gone once answered: let their threads finish. */
    {
        struct timespec ts = { 0, 20 * 1000000L };

        nanosleep(&ts, NULL);
    }
    dns_resolver_free(t);
    dns_resolver_free(slow);
}

/* Past DNS_TRACE_MAX_ENTRIES queries are answered, not recorded. */
static void test_limit(void **state)
{
    (void) state;
    dns_fixture_add(inner, "a.example", DNS_T_A, "192.0.2.1");
    for (int i = 0; i < DNS_TRACE_MAX_ENTRIES + 3; i++) {
        struct dns_answer *a = dns_lookup(tr, "a.example", DNS_T_A);

        assert_int_equal(a->status, DNS_ANSWER);
        dns_answer_free(a);
    }
    assert_int_equal(dns_trace_count(tr), DNS_TRACE_MAX_ENTRIES);
    assert_int_equal(dns_trace_dropped(tr), 3);
}

/* ---------------------------------------------------------------- zone file */

static const struct {
    const char *name;
    uint16_t type;
} asked[] = {
    { "sender.example", DNS_T_TXT },
    { "sender.example", DNS_T_MX },
    { "sender.example", DNS_T_A },
    { "mail.sender.example", DNS_T_AAAA },
    { "null.example", DNS_T_MX },
    { "10.2.0.192.in-addr.arpa", DNS_T_PTR },
    { "gone.example", DNS_T_A },
    { "sender.example", DNS_T_CNAME },
    { "broken.example", DNS_T_TXT },
    { "bad.example", DNS_T_A },
    { "odd.example", DNS_T_TXT },
    { "sender.example", DNS_T_TXT },          /* asked twice: written once */
};

/* Fill the fixture with what the names above answer. */
static void fill(void)
{
    static const char odd[] = "q\"uote\\back\001ctl\377hi";
    str long_txt = STR_INIT;

    dns_fixture_add(inner, "sender.example", DNS_T_TXT, "v=spf1 ip4:192.0.2.0/25 -all");
    dns_fixture_add(inner, "sender.example", DNS_T_MX, "10 mail.sender.example");
    dns_fixture_add(inner, "sender.example", DNS_T_MX, "20 backup.example");
    dns_fixture_add(inner, "mail.sender.example", DNS_T_AAAA, "2001:db8::10");
    dns_fixture_add(inner, "null.example", DNS_T_MX, "0 .");
    dns_fixture_add(inner, "10.2.0.192.in-addr.arpa", DNS_T_PTR, "mail.sender.example");
    dns_fixture_fail(inner, "broken.example", DNS_T_TXT, DNS_TEMPFAIL, 0);
    dns_fixture_fail(inner, "bad.example", DNS_T_A, DNS_BADANSWER, 0);
    dns_fixture_add_txt(inner, "odd.example", odd, (ssize_t) sizeof(odd) - 1);
    for (int i = 0; i < 40; i++)
        str_adds(&long_txt, "0123456789");
    dns_fixture_add_txt(inner, "odd.example", long_txt.data, long_txt.len);
    str_free(&long_txt);
}

/* Compare two answers field by field. */
static void same_answer(const struct dns_answer *x, const struct dns_answer *y, const char *what)
{
    if (x->status != y->status)
        fail_msg("%s: status %s vs %s", what, dns_status_name(x->status), dns_status_name(y->status));
    assert_int_equal(x->timed_out, y->timed_out);
    assert_int_equal(x->count, y->count);
    if (x->status != DNS_ANSWER && x->status != DNS_TEMPFAIL && x->status != DNS_BADANSWER)
        assert_int_equal(x->ttl, y->ttl);
    for (int i = 0; i < x->count; i++) {
        str a = STR_INIT, b = STR_INIT;

        assert_int_equal(x->rr[i].type, y->rr[i].type);
        assert_int_equal(x->rr[i].ttl, y->rr[i].ttl);
        dns_rdata_format(&x->rr[i], &a);
        dns_rdata_format(&y->rr[i], &b);
        assert_string_equal(str_cstr(&a), str_cstr(&b));
        if (x->rr[i].type == DNS_T_TXT) {
            assert_int_equal(x->rr[i].u.txt.len, y->rr[i].u.txt.len);
            assert_memory_equal(x->rr[i].u.txt.data, y->rr[i].u.txt.data, (size_t) x->rr[i].u.txt.len);
        }
        str_free(&a);
        str_free(&b);
    }
}

/* The zone text, and a replay from it that answers the same. */
static void test_zone_round_trip(void **state)
{
    struct dns_answer *live[NELEM(asked)];
    struct dns_resolver *zr = dns_zonefile_new();
    str zone = STR_INIT, err = STR_INIT;
    struct dns_query *q;

    (void) state;
    fill();
    dns_fixture_fail(inner, "slow.example", DNS_T_A, DNS_TEMPFAIL, 1);
    for (size_t i = 0; i < NELEM(asked); i++)
        live[i] = dns_lookup(tr, asked[i].name, asked[i].type);
    q = dns_start(tr, "slow.example", DNS_T_A);
    dns_wait(q, clock_now_ms() + 20);
    dns_query_free(q);
    settled(tr, (int) NELEM(asked));

    dns_trace_write_zone(tr, &zone);
    assert_non_null(strstr(str_cstr(&zone), "sender.example. 300 IN TXT \"v=spf1 ip4:192.0.2.0/25 -all\"\n"));
    assert_non_null(strstr(str_cstr(&zone), "sender.example. 300 IN MX 10 mail.sender.example.\n"));
    assert_non_null(strstr(str_cstr(&zone), "null.example. 300 IN MX 0 .\n"));
    assert_non_null(strstr(str_cstr(&zone), "$NXDOMAIN gone.example. 300\n"));
    assert_non_null(strstr(str_cstr(&zone), "$NODATA sender.example. A 300\n"));
    assert_non_null(strstr(str_cstr(&zone), "$SERVFAIL broken.example. TXT\n"));
    assert_non_null(strstr(str_cstr(&zone), "$BADANSWER bad.example. A\n"));
    assert_non_null(strstr(str_cstr(&zone), "$TIMEOUT slow.example. A\n"));
    assert_non_null(strstr(str_cstr(&zone), "\"q\\\"uote\\\\back\\001ctl\\255hi\""));
    /* 400 bytes: two character-strings. */
    assert_non_null(strstr(str_cstr(&zone), "01234\" \"56789"));
    {
        const char *first = strstr(str_cstr(&zone), "IN TXT \"v=spf1");

        assert_null(strstr(first + 1, "IN TXT \"v=spf1"));
    }

    if (dns_zonefile_load_text(zr, zone.data, zone.len, "recorded", &err) != 0)
        fail_msg("replay does not load: %s\n%s", str_cstr(&err), str_cstr(&zone));
    for (size_t i = 0; i < NELEM(asked); i++) {
        struct dns_answer *a = dns_lookup(zr, asked[i].name, asked[i].type);

        same_answer(live[i], a, asked[i].name);
        dns_answer_free(a);
        dns_answer_free(live[i]);
    }
    {
        struct dns_answer *a = dns_lookup(zr, "slow.example", DNS_T_A);

        assert_int_equal(a->status, DNS_TEMPFAIL);
        assert_true(a->timed_out);
        dns_answer_free(a);
    }
    assert_int_equal(dns_zonefile_misses(zr), 0);
    dns_resolver_free(zr);
    str_free(&zone);
    str_free(&err);
}

/* A copy owns everything it points to. */
static void test_copy(void **state)
{
    struct dns_answer *a, *c;

    (void) state;
    fill();
    a = dns_lookup(inner, "sender.example", DNS_T_MX);
    c = dns_answer_copy(a);
    dns_answer_free(a);
    assert_int_equal(c->count, 2);
    assert_string_equal(c->rr[1].u.mx.host, "backup.example");
    assert_string_equal(c->qname, "sender.example");
    dns_answer_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pass_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandoned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zone_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
