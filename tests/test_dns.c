/*
 * test_dns.c - the resolver: the generic layer through the fixture, the
 * conversion of libunbound results on hand-built ones, and the libunbound
 * backend end to end on local data (no network: the only forwarder is a
 * closed loopback port). Limits counted in minutes are reached by moving
 * the monotonic clock (clock_shift.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "clock_shift.h"
#include "dns.h"
#include "dns_unbound.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "util.h"

/* ---------------------------------------------------------------- helpers */

/* One record as text: addresses, "pref host" (host "." for the root), TXT escaped. */
static void rr_text(str *out, const struct dns_rr *rr)
{
    char buf[INET6_ADDRSTRLEN];

    switch (rr->type) {
    case DNS_T_A:
        str_adds(out, inet_ntop(AF_INET, &rr->u.a, buf, sizeof(buf)));
        break;
    case DNS_T_AAAA:
        str_adds(out, inet_ntop(AF_INET6, &rr->u.aaaa, buf, sizeof(buf)));
        break;
    case DNS_T_MX:
        str_addf(out, "%u %s", rr->u.mx.pref, rr->u.mx.host[0] ? rr->u.mx.host : ".");
        break;
    case DNS_T_TXT:
        assert_int_equal(rr->u.txt.data[rr->u.txt.len], '\0');
        str_adds(out, "\"");
        str_add_escaped(out, rr->u.txt.data, rr->u.txt.len, -1);
        str_adds(out, "\"");
        break;
    case DNS_T_PTR:
    case DNS_T_CNAME:
    case DNS_T_NS:
        str_adds(out, rr->u.name[0] ? rr->u.name : ".");
        break;
    default:
        str_addf(out, "TYPE%u", rr->type);
        break;
    }
}

/* An answer as "status rr rr ..." for table comparisons. */
static char *answer_text(const struct dns_answer *a)
{
    str s = STR_INIT;

    str_adds(&s, dns_status_name(a->status));
    for (int i = 0; i < a->count; i++) {
        str_addc(&s, ' ');
        rr_text(&s, &a->rr[i]);
    }
    return str_steal(&s);
}

/* Assert an answer's text. */
static void assert_answer(const struct dns_answer *a, const char *expect, const char *what)
{
    char *got = answer_text(a);

    if (strcmp(got, expect) != 0)
        fail_msg("%s: got \"%s\", expected \"%s\"", what, got, expect);
    mem_free(got);
}

/* ---------------------------------------------------------------- fixture */

static const struct fx_record {
    const char *name;
    uint16_t type;
    const char *rdata;
} fx_records[] = {
    { "a.test", DNS_T_A, "192.0.2.1" },
    { "a.test", DNS_T_A, "192.0.2.2" },
    { "a.test", DNS_T_AAAA, "2001:db8::1" },
    { "mx.test", DNS_T_MX, "10 mail.test." },
    { "mx.test", DNS_T_MX, "20 backup.test" },
    { "nullmx.test", DNS_T_MX, "0 ." },
    { "txt.test", DNS_T_TXT, "v=spf1 -all" },
    { "ptr.test", DNS_T_PTR, "host.test." },
    { "cname.test", DNS_T_CNAME, "a.test" },
};

static const struct fx_fail {
    const char *name;
    uint16_t type;
    enum dns_status status;
    int timeout;
} fx_fails[] = {
    { "servfail.test", DNS_T_TXT, DNS_TEMPFAIL, 0 },
    { "bad.test", DNS_T_TXT, DNS_BADANSWER, 0 },
    { "slow.test", DNS_T_TXT, DNS_TEMPFAIL, 1 },
};

#define LABEL63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct fx_case {
    const char *what;
    const char *qname;
    uint16_t qtype;
    const char *expect;
    const char *why;    /* expected reason, or NULL */
} fx_cases[] = {
    { "two A records", "a.test", DNS_T_A, "answer 192.0.2.1 192.0.2.2", NULL },
    { "name case ignored", "A.Test", DNS_T_A, "answer 192.0.2.1 192.0.2.2", NULL },
    { "trailing dot", "a.test.", DNS_T_A, "answer 192.0.2.1 192.0.2.2", NULL },
    { "AAAA", "a.test", DNS_T_AAAA, "answer 2001:db8::1", NULL },
    { "MX", "mx.test", DNS_T_MX, "answer 10 mail.test 20 backup.test", NULL },
    { "null MX", "nullmx.test", DNS_T_MX, "answer 0 .", NULL },
    { "TXT", "txt.test", DNS_T_TXT, "answer \"v=spf1 -all\"", NULL },
    { "PTR", "ptr.test", DNS_T_PTR, "answer host.test", NULL },
    { "CNAME", "cname.test", DNS_T_CNAME, "answer a.test", NULL },
    { "NXDOMAIN", "nope.test", DNS_T_A, "nxdomain", NULL },
    { "NODATA", "txt.test", DNS_T_A, "nodata", NULL },
    { "SERVFAIL", "servfail.test", DNS_T_TXT, "tempfail", "SERVFAIL" },
    { "bad answer", "bad.test", DNS_T_TXT, "badanswer", "malformed answer" },
    { "empty name", "", DNS_T_A, "badanswer", "invalid query name" },
    { "root", ".", DNS_T_A, "badanswer", "invalid query name" },
    { "empty label", "a..test", DNS_T_A, "badanswer", "invalid query name" },
    { "leading dot", ".a.test", DNS_T_A, "badanswer", "invalid query name" },
    { "space in label", "a b.test", DNS_T_A, "badanswer", "invalid query name" },
    { "control byte", "a\001.test", DNS_T_A, "badanswer", "invalid query name" },
    { "label of 64", "a" LABEL63 ".test", DNS_T_A, "badanswer", "invalid query name" },
    { "label of 63", LABEL63 ".test", DNS_T_A, "nxdomain", NULL },
};

/* A fixture with the records and failures above. */
static int fx_setup(void **state)
{
    struct dns_resolver *r = dns_fixture_new();

    for (size_t i = 0; i < NELEM(fx_records); i++)
        assert_int_equal(dns_fixture_add(r, fx_records[i].name, fx_records[i].type, fx_records[i].rdata), 0);
    for (size_t i = 0; i < NELEM(fx_fails); i++)
        dns_fixture_fail(r, fx_fails[i].name, fx_fails[i].type, fx_fails[i].status, fx_fails[i].timeout);
    *state = r;
    return 0;
}

/* Free the fixture. */
static int fx_teardown(void **state)
{
    dns_resolver_free(*state);
    *state = NULL;
    return 0;
}

/* Check one case's answer. */
static void fx_check(const struct fx_case *c, const struct dns_answer *a)
{
    assert_non_null(a);
    assert_answer(a, c->expect, c->what);
    assert_int_equal(a->qtype, c->qtype);
    assert_int_equal(a->timed_out, 0);
    if (c->why)
        assert_string_equal(a->why, c->why);
}

/* Every case through dns_lookup, and through dns_start/dns_wait. */
static void test_fixture_table(void **state)
{
    struct dns_resolver *r = *state;

    for (size_t i = 0; i < NELEM(fx_cases); i++) {
        const struct fx_case *c = &fx_cases[i];
        struct dns_answer *a = dns_lookup(r, c->qname, c->qtype);
        struct dns_query *q;

        fx_check(c, a);
        dns_answer_free(a);
        q = dns_start(r, c->qname, c->qtype);
        fx_check(c, dns_wait(q, clock_now_ms() + 1000));
        /* A second wait gives the same answer. */
        assert_ptr_equal(dns_wait(q, 0), dns_peek(q));
        dns_query_free(q);
    }
}

/* A 253-character name may be asked, a 254-character one not. */
static void test_fixture_name_length(void **state)
{
    struct dns_resolver *r = *state;
    char name[256];
    struct dns_answer *a;

    /* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
    snprintf(name, sizeof(name), "%s.%s.%s.%.61s", LABEL63, LABEL63, LABEL63, LABEL63);
    assert_int_equal(strlen(name), 253);
    assert_true(dns_name_valid(name));
    a = dns_lookup(r, name, DNS_T_A);
    assert_int_equal(a->status, DNS_NXDOMAIN);
    dns_answer_free(a);
    snprintf(name, sizeof(name), "%s.%s.%s.%.62s", LABEL63, LABEL63, LABEL63, LABEL63);
    assert_false(dns_name_valid(name));
    a = dns_lookup(r, name, DNS_T_A);
    assert_int_equal(a->status, DNS_BADANSWER);
    dns_answer_free(a);
}

/* A query nobody answers ends at the caller's deadline, marked timed out. */
static void test_fixture_timeout(void **state)
{
    struct dns_resolver *r = *state;
    struct dns_query *q = dns_start(r, "slow.test", DNS_T_TXT);
    int64_t t0 = clock_now_ms();
    const struct dns_answer *a;
    struct dns_answer *own;
    struct dns_stats st;

    assert_null(dns_peek(q));
    a = dns_wait(q, t0 + 100);
    assert_in_range(clock_now_ms() - t0, 95, 1000);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_int_equal(a->timed_out, 1);
    assert_int_equal(a->rcode, -1);
    assert_string_equal(a->why, "timeout");
    assert_ptr_equal(dns_peek(q), a);
    dns_query_free(q);

    /* Deadline 0: the resolver's per-query timeout. */
    dns_set_timeout(r, 150);
    assert_int_equal(dns_get_timeout(r), 150);
    t0 = clock_now_ms();
    own = dns_lookup(r, "slow.test", DNS_T_TXT);
    assert_in_range(clock_now_ms() - t0, 145, 1000);
    assert_int_equal(own->timed_out, 1);
    dns_answer_free(own);

    /* A caller deadline later than the per-query timeout does not extend it. */
    t0 = clock_now_ms();
    q = dns_start(r, "slow.test", DNS_T_TXT);
    assert_int_equal(dns_wait(q, t0 + 60000)->timed_out, 1);
    assert_in_range(clock_now_ms() - t0, 145, 1000);
    dns_query_free(q);

    dns_stats_get(r, &st);
    assert_int_equal(st.timeouts, 3);
    assert_int_equal(st.tempfail, 0);
}

/* Many queries started at once, waited against one deadline. */
static void test_fixture_many(void **state)
{
    struct dns_resolver *r = *state;
    enum { N = 300 };
    struct dns_query **qs = mem_zalloc(N * (ssize_t) sizeof(*qs));
    int64_t t0 = clock_now_ms();

    for (int i = 0; i < N; i++) {
        const struct fx_case *c = &fx_cases[(size_t) i % NELEM(fx_cases)];

        qs[i] = i % 30 == 7 ? dns_start(r, "slow.test", DNS_T_TXT) : dns_start(r, c->qname, c->qtype);
    }
    dns_wait_all(qs, N, t0 + 200);
    /* One deadline for all: ten slow queries do not take ten times as long. */
    assert_in_range(clock_now_ms() - t0, 195, 1500);
    for (int i = 0; i < N; i++) {
        const struct dns_answer *a = dns_peek(qs[i]);

        assert_non_null(a);
        if (i % 30 == 7)
            assert_int_equal(a->timed_out, 1);
        else
            fx_check(&fx_cases[(size_t) i % NELEM(fx_cases)], a);
        dns_query_free(qs[i]);
    }
    mem_free(qs);
}

/* Releasing queries without waiting: answered, pending (cancelled), and NULL. */
static void test_fixture_free_unwaited(void **state)
{
    struct dns_resolver *r = *state;
    struct dns_stats st;

    dns_query_free(dns_start(r, "a.test", DNS_T_A));
    dns_query_free(dns_start(r, "slow.test", DNS_T_TXT));
    dns_query_free(dns_start(r, "", DNS_T_A));
    dns_query_free(NULL);
    assert_int_equal(dns_fixture_queries(r), 2);   /* the bad name never reaches the backend */
    dns_stats_get(r, &st);
    assert_int_equal(st.queries, 3);
    assert_int_equal(st.answers, 1);
    assert_int_equal(st.badanswer, 1);
    assert_int_equal(st.timeouts, 0);              /* nobody waited: no timeout */
}

/* Counters for every outcome. */
static void test_fixture_stats(void **state)
{
    static const struct {
        const char *name;
        uint16_t type;
    } asks[] = {
        { "a.test", DNS_T_A }, { "mx.test", DNS_T_MX }, { "nope.test", DNS_T_A },
        { "a.test", DNS_T_TXT }, { "servfail.test", DNS_T_TXT }, { "bad.test", DNS_T_TXT },
        { "a..test", DNS_T_A }, { "slow.test", DNS_T_TXT },
    };
    struct dns_resolver *r = *state;
    struct dns_stats st;

    dns_set_timeout(r, 50);
    for (size_t i = 0; i < NELEM(asks); i++)
        dns_answer_free(dns_lookup(r, asks[i].name, asks[i].type));
    dns_stats_get(r, &st);
    assert_int_equal(st.queries, 8);
    assert_int_equal(st.answers, 2);
    assert_int_equal(st.nxdomain, 1);
    assert_int_equal(st.nodata, 1);
    assert_int_equal(st.tempfail, 1);
    assert_int_equal(st.badanswer, 2);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.cache_hits, 0);
    assert_int_equal(dns_fixture_queries(r), 7);
}

/* TXT rdata with NUL bytes survives, and a TXT over the limit is refused. */
static void test_fixture_txt_bytes(void **state)
{
    struct dns_resolver *r = *state;
    struct dns_answer *a, *b = dns_answer_new("x.test", DNS_T_TXT, DNS_ANSWER);
    char *big = mem_zalloc(DNS_MAX_TXT_LEN + 1);

    dns_fixture_add_txt(r, "nul.test", "a\0b", 3);
    a = dns_lookup(r, "nul.test", DNS_T_TXT);
    assert_answer(a, "answer \"a\\x00b\"", "TXT with NUL");
    assert_int_equal(a->rr[0].u.txt.len, 3);
    dns_answer_free(a);
    assert_int_equal(dns_answer_add_text(b, DNS_T_TXT, 1, big, DNS_MAX_TXT_LEN), 0);
    assert_int_equal(dns_answer_add_text(b, DNS_T_TXT, 1, big, DNS_MAX_TXT_LEN + 1), -1);
    assert_int_equal(dns_answer_add_text(b, DNS_T_TXT, 1, big, -1), -1);
    assert_int_equal(dns_answer_add_text(b, DNS_T_MX, 1, "x mail", 6), -1);
    assert_int_equal(dns_answer_add_text(b, DNS_T_A, 1, "300.1.1.1", 9), -1);
    assert_int_equal(b->count, 1);
    dns_answer_free(b);
    mem_free(big);
}

struct fx_thread_arg {
    struct dns_resolver *r;
    int errors;
};

/* Many lookups from one thread. */
static void *fx_thread(void *p)
{
    struct fx_thread_arg *arg = p;

    for (int i = 0; i < 2000; i++) {
        const struct fx_case *c = &fx_cases[(size_t) i % NELEM(fx_cases)];
        struct dns_answer *a = dns_lookup(arg->r, c->qname, c->qtype);
        char *got = answer_text(a);

        arg->errors += strcmp(got, c->expect) != 0;
        mem_free(got);
        dns_answer_free(a);
    }
    return NULL;
}

/* Lookups from several threads at once. */
static void test_fixture_threads(void **state)
{
    struct fx_thread_arg args[4];
    pthread_t t[4];
    struct dns_stats st;

    for (int i = 0; i < 4; i++) {
        args[i].r = *state;
        args[i].errors = 0;
        assert_int_equal(pthread_create(&t[i], NULL, fx_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
    dns_stats_get(*state, &st);
    assert_int_equal(st.queries, 8000);
}

/* ------------------------------------------------------ dns_answer_from_ub */

struct rd {
    const char *p;
    int len;
};
#define RD(s) { s, (int) sizeof(s) - 1 }

static const struct ub_case {
    const char *what;
    int qtype, rcode, havedata, nxdomain, secure, bogus, ttl;
    int nulldata;              /* data itself NULL, as libunbound gives on SERVFAIL */
    struct rd rd[4];           /* up to the first with p NULL */
    const char *expect;
    enum dns_secure sec;
    const char *why;
} ub_cases[] = {
    { "A", DNS_T_A, 0, 1, 0, 0, 0, 300, 0, { RD("\xc0\x00\x02\x01"), RD("\xc0\x00\x02\x02") },
      "answer 192.0.2.1 192.0.2.2", DNS_SEC_INSECURE, NULL },
    { "A of 3 bytes", DNS_T_A, 0, 1, 0, 0, 0, 300, 0, { RD("\xc0\x00\x02") },
      "badanswer", DNS_SEC_INSECURE, "bad A record length" },
    { "AAAA", DNS_T_AAAA, 0, 1, 0, 0, 0, 300, 0,
      { RD("\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01") },
      "answer 2001:db8::1", DNS_SEC_INSECURE, NULL },
    { "AAAA of 4 bytes", DNS_T_AAAA, 0, 1, 0, 0, 0, 300, 0, { RD("\x20\x01\x0d\xb8") },
      "badanswer", DNS_SEC_INSECURE, "bad AAAA record length" },
    { "MX", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0,
      { RD("\x00\x0a\x04mail\x07""example\x00"), RD("\xff\xff\x02mx\x01x\x00") },
      "answer 10 mail.example 65535 mx.x", DNS_SEC_INSECURE, NULL },
    { "null MX", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x00\x00") },
      "answer 0 .", DNS_SEC_INSECURE, NULL },
    { "MX without exchange", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x0a") },
      "badanswer", DNS_SEC_INSECURE, "malformed MX record" },
    { "MX of one byte", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00") },
      "badanswer", DNS_SEC_INSECURE, "malformed MX record" },
    { "MX label past the end", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x0a\x09mail\x00") },
      "badanswer", DNS_SEC_INSECURE, "malformed MX record" },
    { "MX name without root", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x0a\x04mail") },
      "badanswer", DNS_SEC_INSECURE, "malformed MX record" },
    { "MX compression pointer", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x0a\xc0\x0c") },
      "badanswer", DNS_SEC_INSECURE, "malformed MX record" },
    { "MX bytes after the name", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x0a\x01m\x00junk") },
      "badanswer", DNS_SEC_INSECURE, "malformed MX record" },
    { "MX label with a dot", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x0a\x03m.x\x00") },
      "badanswer", DNS_SEC_INSECURE, "malformed MX record" },
    { "MX label with a NUL", DNS_T_MX, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x0a\x03m\x00x\x00") },
      "badanswer", DNS_SEC_INSECURE, "malformed MX record" },
    { "TXT strings joined", DNS_T_TXT, 0, 1, 0, 0, 0, 300, 0,
      { RD("\x07v=spf1 \x0binclude:x.y\x05 -all"), RD("\x00") },
      "answer \"v=spf1 include:x.y -all\" \"\"", DNS_SEC_INSECURE, NULL },
    { "TXT with NUL", DNS_T_TXT, 0, 1, 0, 0, 0, 300, 0, { RD("\x03" "a\x00z") },
      "answer \"a\\x00z\"", DNS_SEC_INSECURE, NULL },
    { "TXT length past the end", DNS_T_TXT, 0, 1, 0, 0, 0, 300, 0, { RD("\x02ok\x05" "ab") },
      "badanswer", DNS_SEC_INSECURE, "malformed TXT record" },
    { "TXT empty rdata", DNS_T_TXT, 0, 1, 0, 0, 0, 300, 0, { { "", 0 } },
      "badanswer", DNS_SEC_INSECURE, "empty TXT record" },
    { "TXT negative length", DNS_T_TXT, 0, 1, 0, 0, 0, 300, 0, { { "\x01x", -1 } },
      "badanswer", DNS_SEC_INSECURE, "bad record length" },
    { "PTR", DNS_T_PTR, 0, 1, 0, 0, 0, 300, 0, { RD("\x04host\x07" "example\x00") },
      "answer host.example", DNS_SEC_INSECURE, NULL },
    { "PTR label with a space", DNS_T_PTR, 0, 1, 0, 0, 0, 300, 0, { RD("\x04ho t\x00") },
      "badanswer", DNS_SEC_INSECURE, "malformed name in record" },
    { "PTR label of 64", DNS_T_PTR, 0, 1, 0, 0, 0, 300, 0,
      { RD("\x40" "a" LABEL63 "\x00") },
      "badanswer", DNS_SEC_INSECURE, "malformed name in record" },
    { "CNAME", DNS_T_CNAME, 0, 1, 0, 0, 0, 300, 0, { RD("\x01" "a\x04test\x00") },
      "answer a.test", DNS_SEC_INSECURE, NULL },
    { "NS", DNS_T_NS, 0, 1, 0, 0, 0, 300, 0, { RD("\x03ns1\x04test\x00"), RD("\x03ns2\x04test\x00") },
      "answer ns1.test ns2.test", DNS_SEC_INSECURE, NULL },
    { "SOA counted, not parsed", DNS_T_SOA, 0, 1, 0, 0, 0, 300, 0, { RD("\x00\x00\x01\x02\x03") },
      "answer TYPE6", DNS_SEC_INSECURE, NULL },
    { "NXDOMAIN", DNS_T_A, 3, 0, 1, 0, 0, 900, 0, { { NULL, 0 } },
      "nxdomain", DNS_SEC_INSECURE, NULL },
    { "NXDOMAIN, secure", DNS_T_A, 3, 0, 1, 1, 0, 900, 0, { { NULL, 0 } },
      "nxdomain", DNS_SEC_SECURE, NULL },
    { "NODATA", DNS_T_MX, 0, 0, 0, 0, 0, 600, 0, { { NULL, 0 } },
      "nodata", DNS_SEC_INSECURE, NULL },
    { "SERVFAIL, data NULL", DNS_T_TXT, 2, 0, 0, 0, 0, 0, 1, { { NULL, 0 } },
      "tempfail", DNS_SEC_INSECURE, "SERVFAIL" },
    { "REFUSED", DNS_T_TXT, 5, 0, 0, 0, 0, 0, 0, { { NULL, 0 } },
      "tempfail", DNS_SEC_INSECURE, "REFUSED" },
    { "FORMERR", DNS_T_TXT, 1, 0, 0, 0, 0, 0, 0, { { NULL, 0 } },
      "tempfail", DNS_SEC_INSECURE, "FORMERR" },
    { "bogus", DNS_T_A, 2, 0, 0, 0, 1, 0, 1, { { NULL, 0 } },
      "tempfail", DNS_SEC_BOGUS, "DNSSEC validation failed" },
    { "bogus with data", DNS_T_A, 0, 1, 0, 0, 1, 300, 0, { RD("\xc0\x00\x02\x01") },
      "tempfail", DNS_SEC_BOGUS, "DNSSEC validation failed" },
    { "secure A", DNS_T_A, 0, 1, 0, 1, 0, 300, 0, { RD("\xc0\x00\x02\x01") },
      "answer 192.0.2.1", DNS_SEC_SECURE, NULL },
    { "havedata, data NULL", DNS_T_A, 0, 1, 0, 0, 0, 300, 1, { { NULL, 0 } },
      "badanswer", DNS_SEC_INSECURE, "answer without records" },
    { "second record bad", DNS_T_A, 0, 1, 0, 0, 0, 300, 0, { RD("\xc0\x00\x02\x01"), RD("\x01") },
      "badanswer", DNS_SEC_INSECURE, "bad A record length" },
};

/* A hand-built result over rdata that the caller keeps; free with ub_case_free. */
static struct ub_result *ub_case_result(const char *qname, int qtype, const struct rd *rd, int n, int nulldata)
{
    struct ub_result *res = mem_zalloc(sizeof(*res));

    res->qname = (char *) qname;
    res->qtype = qtype;
    res->qclass = 1;
    if (!nulldata) {
        res->data = mem_zalloc((n + 1) * (ssize_t) sizeof(char *));
        res->len = mem_zalloc((n + 1) * (ssize_t) sizeof(int));
        for (int i = 0; i < n; i++) {
            /* A copy of exactly len bytes, so an over-read shows under ASan. */
            int len = rd[i].len > 0 ? rd[i].len : 0;

            res->data[i] = mem_alloc(len);
            memcpy(res->data[i], rd[i].p, (size_t) len);
            res->len[i] = rd[i].len;
        }
    }
    return res;
}

/* Free a hand-built result. */
static void ub_case_free(struct ub_result *res)
{
    if (res->data)
        for (int i = 0; res->data[i]; i++)
            mem_free(res->data[i]);
    mem_free(res->data);
    mem_free(res->len);
    mem_free(res);
}

/* Every hand-built result of the table. */
static void test_ub_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < NELEM(ub_cases); i++) {
        const struct ub_case *c = &ub_cases[i];
        int n = 0;
        struct ub_result *res;
        struct dns_answer *a;

        while (n < 4 && c->rd[n].p)
            n++;
        res = ub_case_result("x.test.", c->qtype, c->rd, n, c->nulldata);
        res->rcode = c->rcode;
        res->havedata = c->havedata;
        res->nxdomain = c->nxdomain;
        res->secure = c->secure;
        res->bogus = c->bogus;
        res->why_bogus = c->bogus ? (char *) "signature expired" : NULL;
        res->ttl = c->ttl;
        a = dns_answer_from_ub(res);
        assert_answer(a, c->expect, c->what);
        assert_string_equal(a->qname, "x.test");
        assert_int_equal(a->qtype, c->qtype);
        if (a->secure != c->sec)
            fail_msg("%s: secure %d, expected %d", c->what, a->secure, c->sec);
        if (c->why == NULL)
            assert_null(a->why);
        else if (a->why == NULL || strcmp(a->why, c->why) != 0)
            fail_msg("%s: why \"%s\", expected \"%s\"", c->what, a->why ? a->why : "(null)", c->why);
        if (a->status == DNS_ANSWER || a->status == DNS_NXDOMAIN || a->status == DNS_NODATA)
            assert_int_equal(a->ttl, (uint32_t) c->ttl);
        if (a->status == DNS_TEMPFAIL)
            assert_int_equal(a->rcode, c->rcode);
        assert_int_equal(a->timed_out, 0);
        dns_answer_free(a);
        ub_case_free(res);
    }
}

/* No result at all. */
static void test_ub_null(void **state)
{
    struct dns_answer *a = dns_answer_from_ub(NULL);

    (void) state;
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_non_null(a->why);
    dns_answer_free(a);
}

/* DNS_MAX_RRS records pass, one more is a bad answer. */
static void test_ub_too_many(void **state)
{
    struct rd rd[DNS_MAX_RRS + 1];
    char addr[DNS_MAX_RRS + 1][4];

    (void) state;
    for (int i = 0; i <= DNS_MAX_RRS; i++) {
        addr[i][0] = (char) 192;
        addr[i][1] = 0;
        addr[i][2] = 2;
        addr[i][3] = (char) i;
        rd[i].p = addr[i];
        rd[i].len = 4;
    }
    for (int n = DNS_MAX_RRS; n <= DNS_MAX_RRS + 1; n++) {
        struct ub_result *res = ub_case_result("many.test", DNS_T_A, rd, n, 0);
        struct dns_answer *a;

        res->havedata = 1;
        res->ttl = 60;
        a = dns_answer_from_ub(res);
        if (n == DNS_MAX_RRS) {
            assert_int_equal(a->status, DNS_ANSWER);
            assert_int_equal(a->count, DNS_MAX_RRS);
        } else {
            assert_int_equal(a->status, DNS_BADANSWER);
            assert_string_equal(a->why, "too many records");
            assert_int_equal(a->count, 0);
        }
        dns_answer_free(a);
        ub_case_free(res);
    }
}

/* A TXT record joined to DNS_MAX_TXT_LEN bytes passes, one byte more does not. */
static void test_ub_txt_limit(void **state)
{
    (void) state;
    for (int total = DNS_MAX_TXT_LEN; total <= DNS_MAX_TXT_LEN + 1; total++) {
        str wire = STR_INIT;
        struct rd rd;
        struct ub_result *res;
        struct dns_answer *a;

        for (int left = total; left > 0; left -= 255) {
            int n = left > 255 ? 255 : left;

            str_addc(&wire, n);
            for (int i = 0; i < n; i++)
                str_addc(&wire, 'a' + i % 26);
        }
        rd.p = wire.data;
        rd.len = (int) wire.len;
        res = ub_case_result("long.test", DNS_T_TXT, &rd, 1, 0);
        res->havedata = 1;
        a = dns_answer_from_ub(res);
        if (total == DNS_MAX_TXT_LEN) {
            assert_int_equal(a->status, DNS_ANSWER);
            assert_int_equal(a->rr[0].u.txt.len, DNS_MAX_TXT_LEN);
            assert_int_equal(a->rr[0].u.txt.data[DNS_MAX_TXT_LEN], '\0');
        } else {
            assert_int_equal(a->status, DNS_BADANSWER);
            assert_string_equal(a->why, "TXT record too long");
        }
        dns_answer_free(a);
        ub_case_free(res);
        str_free(&wire);
    }
}

/* A name of 253 characters in rdata passes, 254 do not. */
static void test_ub_name_limit(void **state)
{
    (void) state;
    for (int last = 61; last <= 62; last++) {
        str wire = STR_INIT;
        struct rd rd;
        struct ub_result *res;
        struct dns_answer *a;

        for (int l = 0; l < 3; l++) {
            str_addc(&wire, 63);
            str_adds(&wire, LABEL63);
        }
        str_addc(&wire, last);
        str_add(&wire, LABEL63, last);
        str_add(&wire, "", 1);
        rd.p = wire.data;
        rd.len = (int) wire.len;
        res = ub_case_result("ptr.test", DNS_T_PTR, &rd, 1, 0);
        res->havedata = 1;
        a = dns_answer_from_ub(res);
        if (last == 61) {
            assert_int_equal(a->status, DNS_ANSWER);
            assert_int_equal(strlen(a->rr[0].u.name), 253);
        } else {
            assert_int_equal(a->status, DNS_BADANSWER);
        }
        dns_answer_free(a);
        ub_case_free(res);
        str_free(&wire);
    }
}

/* Every byte string as TXT, MX and PTR rdata: never a crash or an over-read. */
static void test_ub_garbage(void **state)
{
    static const int types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR };
    unsigned seed = 12345;

    (void) state;
    for (int round = 0; round < 20000; round++) {
        char buf[40];
        struct rd rd;
        struct ub_result *res;
        struct dns_answer *a;

        rd.len = (int) (rand_r(&seed) % sizeof(buf));
        for (int i = 0; i < rd.len; i++)
            buf[i] = (char) (rand_r(&seed) % 4 == 0 ? rand_r(&seed) % 8 : rand_r(&seed));
        rd.p = buf;
        res = ub_case_result("g.test", types[round % 5], &rd, 1, 0);
        res->havedata = 1;
        a = dns_answer_from_ub(res);
        assert_true(a->status == DNS_ANSWER || a->status == DNS_BADANSWER);
        assert_true(a->status == DNS_BADANSWER || a->count == 1);
        dns_answer_free(a);
        ub_case_free(res);
    }
}

/* -------------------------------------------------------- libunbound end to end */

/* Two TXT records of 2251 bytes: more text than an answer kept in front of libunbound. */
#define UB_X50 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define UB_S250 "\"" UB_X50 UB_X50 UB_X50 UB_X50 UB_X50 "\" "
#define UB_S2000 UB_S250 UB_S250 UB_S250 UB_S250 UB_S250 UB_S250 UB_S250 UB_S250

static const char *const ub_zones[] = { "test. static" };
static const char *const ub_data[] = {
    "a.test. 300 IN A 192.0.2.1",
    "aaaa.test. 300 IN AAAA 2001:db8::1",
    "mx.test. 300 IN MX 10 mail.test.",
    "nullmx.test. 300 IN MX 0 .",
    "txt.test. 300 IN TXT \"v=spf1 \" \"include:x.test\" \" -all\"",
    "ptr.test. 300 IN PTR host.test.",
    "x\\092y.test. 300 IN TXT \"literal backslash\"",
    "short.test. 3 IN A 192.0.2.9",
    "day.test. 86400 IN A 192.0.2.20",
    "big.test. 300 IN A 192.0.2.1",
    "big.test. 300 IN A 192.0.2.2",
    "big.test. 300 IN A 192.0.2.3",
    "big.test. 300 IN A 192.0.2.4",
    "big.test. 300 IN A 192.0.2.5",
    "big.test. 300 IN A 192.0.2.6",
    "big.test. 300 IN A 192.0.2.7",
    "big.test. 300 IN A 192.0.2.8",
    "big.test. 300 IN A 192.0.2.9",
    "big.test. 300 IN A 192.0.2.10",
    "big.test. 300 IN A 192.0.2.11",
    "big.test. 300 IN A 192.0.2.12",
    "big.test. 300 IN A 192.0.2.13",
    "big.test. 300 IN A 192.0.2.14",
    "big.test. 300 IN A 192.0.2.15",
    "big.test. 300 IN A 192.0.2.16",
    "big.test. 300 IN A 192.0.2.17",
    "long.test. 300 IN TXT \"1\" " UB_S2000 UB_S250,
    "long.test. 300 IN TXT \"2\" " UB_S2000 UB_S250,
};
/* Nothing listens on port 1: anything not local goes unanswered. */
static const char *const ub_dead[] = { "127.0.0.1@1" };

static const struct fx_case ub_e2e_cases[] = {
    { "A", "a.test", DNS_T_A, "answer 192.0.2.1", NULL },
    { "AAAA", "aaaa.test", DNS_T_AAAA, "answer 2001:db8::1", NULL },
    { "MX", "mx.test", DNS_T_MX, "answer 10 mail.test", NULL },
    { "null MX", "nullmx.test", DNS_T_MX, "answer 0 .", NULL },
    { "TXT joined", "txt.test", DNS_T_TXT, "answer \"v=spf1 include:x.test -all\"", NULL },
    { "PTR", "PTR.test.", DNS_T_PTR, "answer host.test", NULL },
    { "backslash is literal", "x\\y.test", DNS_T_TXT, "answer \"literal backslash\"", NULL },
    { "NXDOMAIN", "nope.test", DNS_T_A, "nxdomain", NULL },
    { "NODATA", "a.test", DNS_T_TXT, "nodata", NULL },
    { "bad name", "a..test", DNS_T_A, "badanswer", "invalid query name" },
};

/* A libunbound resolver on local data with a dead forwarder; max_ttl 0: 3600 s. */
static struct dns_resolver *ub_new_opt(int timeout_ms, int max_ttl, int no_kept_answers)
{
    struct dns_unbound_config cfg = { 0 };
    struct dns_resolver *r;
    str err = STR_INIT;

    cfg.no_kept_answers = no_kept_answers;
    cfg.forwarders = ub_dead;
    cfg.n_forwarders = 1;
    cfg.timeout_ms = timeout_ms;
    cfg.cache_size_bytes = 1 << 20;
    cfg.cache_max_ttl = max_ttl > 0 ? max_ttl : 3600;
    cfg.cache_max_negative_ttl = 300;
    cfg.local_zones = ub_zones;
    cfg.n_local_zones = (int) NELEM(ub_zones);
    cfg.local_data = ub_data;
    cfg.n_local_data = (int) NELEM(ub_data);
    r = dns_unbound_new(&cfg, &err);
    if (r == NULL)
        fail_msg("dns_unbound_new: %s", str_cstr(&err));
    str_free(&err);
    return r;
}

static struct dns_resolver *ub_new_ttl(int timeout_ms, int max_ttl)
{
    return ub_new_opt(timeout_ms, max_ttl, 0);
}

static struct dns_resolver *ub_new(int timeout_ms)
{
    return ub_new_ttl(timeout_ms, 0);
}

/* A libunbound resolver with a 2 s timeout. */
static int ub_setup(void **state)
{
    *state = ub_new(2000);
    return 0;
}

/* Stop and free it. */
static int ub_teardown(void **state)
{
    dns_resolver_free(*state);
    *state = NULL;
    return 0;
}

/* Local answers through dns_lookup and dns_start/dns_wait. */
static void test_unbound_table(void **state)
{
    struct dns_resolver *r = *state;
    struct dns_stats st;

    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NELEM(ub_e2e_cases); i++) {
            const struct fx_case *c = &ub_e2e_cases[i];
            struct dns_answer *a = dns_lookup(r, c->qname, c->qtype);
            struct dns_query *q;

            fx_check(c, a);
            if (a->status == DNS_ANSWER)
                assert_int_equal(a->ttl, 300);
            dns_answer_free(a);
            q = dns_start(r, c->qname, c->qtype);
            fx_check(c, dns_wait(q, clock_now_ms() + 2000));
            dns_query_free(q);
        }
    }
    dns_stats_get(r, &st);
    assert_int_equal(st.queries, 6 * NELEM(ub_e2e_cases));
    assert_int_equal(st.answers, 6 * 7);
    assert_int_equal(st.timeouts, 0);
    /* Local answers take no round trip; most come back well under 1 ms. */
    assert_true(st.cache_hits > 0);
    assert_true(st.cache_hits <= st.answers + st.nxdomain + st.nodata);
}

/* Was q answered from the answers kept in front of libunbound (at once, in this thread)? */
static int ub_kept(struct dns_resolver *r, const char *name, uint16_t type, const char *expect)
{
    uint64_t before = dns_unbound_kept_answers(r);
    struct dns_query *q = dns_start(r, name, type);
    int kept = dns_unbound_kept_answers(r) > before;
    const struct dns_answer *a = dns_wait(q, clock_now_ms() + 2000);
    char *got = answer_text(a);

    if (kept)
        assert_non_null(dns_peek(q));
    if (expect != NULL && strcmp(got, expect) != 0)
        fail_msg("%s: %s, wanted %s", name, got, expect);
    assert_string_equal(a->qname, name);
    mem_free(got);
    dns_query_free(q);
    return kept;
}

/* Answers kept in front of libunbound: which are, for how long, and what they say. */
static void test_unbound_kept(void **state)
{
    struct dns_resolver *r = *state;
    struct dns_answer *a;

    /* the first answer comes from libunbound, the next ones from what was kept */
    assert_int_equal(ub_kept(r, "a.test", DNS_T_A, "answer 192.0.2.1"), 0);
    assert_int_equal(ub_kept(r, "a.test", DNS_T_A, "answer 192.0.2.1"), 1);
    assert_int_equal(ub_kept(r, "A.Test", DNS_T_A, "answer 192.0.2.1"), 1);
    a = dns_lookup(r, "a.test", DNS_T_A);
    assert_true(a->ttl <= 300 && a->ttl >= 240);
    dns_answer_free(a);
    /* a backslash is part of the name: "x\\y" and "x\\\\y" are two names */
    assert_int_equal(ub_kept(r, "x\\y.test", DNS_T_TXT, "answer \"literal backslash\""), 0);
    assert_int_equal(ub_kept(r, "x\\y.test", DNS_T_TXT, "answer \"literal backslash\""), 1);
    assert_int_equal(ub_kept(r, "x\\\\y.test", DNS_T_TXT, "nxdomain"), 0);
    /* the type counts */
    assert_int_equal(ub_kept(r, "a.test", DNS_T_TXT, "nodata"), 0);
    assert_int_equal(ub_kept(r, "a.test", DNS_T_TXT, "nodata"), 1);
    assert_int_equal(ub_kept(r, "nope.test", DNS_T_A, "nxdomain"), 0);
    assert_int_equal(ub_kept(r, "nope.test", DNS_T_A, "nxdomain"), 1);
    /* a bad name never reaches the backend */
    assert_int_equal(ub_kept(r, "a..test", DNS_T_A, "badanswer"), 0);
    /* more records, or more text, than kept: asked of libunbound every time */
    assert_int_equal(ub_kept(r, "big.test", DNS_T_A, NULL), 0);
    assert_int_equal(ub_kept(r, "big.test", DNS_T_A, NULL), 0);
    a = dns_lookup(r, "big.test", DNS_T_A);
    assert_int_equal(a->count, 17);
    dns_answer_free(a);
    assert_int_equal(ub_kept(r, "long.test", DNS_T_TXT, NULL), 0);
    assert_int_equal(ub_kept(r, "long.test", DNS_T_TXT, NULL), 0);
    a = dns_lookup(r, "long.test", DNS_T_TXT);
    assert_int_equal(a->status, DNS_ANSWER);
    assert_int_equal(a->count, 2);
    assert_int_equal(a->rr[0].u.txt.len + a->rr[1].u.txt.len, 2 * 2251);
    dns_answer_free(a);
    /* kept for its TTL (3 s), no longer */
    assert_int_equal(ub_kept(r, "short.test", DNS_T_A, "answer 192.0.2.9"), 0);
    assert_int_equal(ub_kept(r, "short.test", DNS_T_A, "answer 192.0.2.9"), 1);
    {
        struct timespec ts = { 3, 100000000L };

        nanosleep(&ts, NULL);
    }
    assert_int_equal(ub_kept(r, "short.test", DNS_T_A, "answer 192.0.2.9"), 0);
}

/* An answer is kept DNS_UNBOUND_KEPT_MAX_TTL seconds at most, even with a longer TTL
   (the clock is moved, not waited for), its TTL lowered by the time kept. */
static void test_unbound_kept_max_ttl(void **state)
{
    struct dns_resolver *r = ub_new_ttl(2000, 86400);
    const int64_t limit_ms = (int64_t) DNS_UNBOUND_KEPT_MAX_TTL * 1000;
    struct dns_answer *a;

    (void) state;
    assert_int_equal(ub_kept(r, "day.test", DNS_T_A, "answer 192.0.2.20"), 0);
    clock_shift_set(limit_ms - 2000);
    assert_int_equal(ub_kept(r, "day.test", DNS_T_A, "answer 192.0.2.20"), 1);
    a = dns_lookup(r, "day.test", DNS_T_A);
    assert_true(a->ttl <= 86400 - (DNS_UNBOUND_KEPT_MAX_TTL - 2) && a->ttl >= 86400 - DNS_UNBOUND_KEPT_MAX_TTL);
    dns_answer_free(a);
    clock_shift_set(limit_ms + 1000);
    assert_int_equal(ub_kept(r, "day.test", DNS_T_A, "answer 192.0.2.20"), 0);
    /* kept again from the fresh answer */
    assert_int_equal(ub_kept(r, "day.test", DNS_T_A, "answer 192.0.2.20"), 1);
    dns_resolver_free(r);
}

/* The clock as it is, even after a failed test. */
static int clock_teardown(void **state)
{
    (void) state;
    clock_shift_set(0);
    return 0;
}

/* cache_max_ttl bounds how long an answer is kept in front of libunbound too
   (libunbound reports TTLs capped by it, and the kept answer lives no longer). */
static void test_unbound_kept_cap(void **state)
{
    struct dns_resolver *r = ub_new_ttl(2000, 2);
    struct timespec ts = { 2, 200000000L };

    (void) state;
    /* a.test has a TTL of 300 s: kept 2 s only */
    assert_int_equal(ub_kept(r, "a.test", DNS_T_A, "answer 192.0.2.1"), 0);
    assert_int_equal(ub_kept(r, "a.test", DNS_T_A, "answer 192.0.2.1"), 1);
    nanosleep(&ts, NULL);
    assert_int_equal(ub_kept(r, "a.test", DNS_T_A, "answer 192.0.2.1"), 0);
    dns_resolver_free(r);
}

/* With no_kept_answers, every query goes through libunbound (pipeline-bench's cold row). */
static void test_unbound_nothing_kept(void **state)
{
    struct dns_resolver *r = ub_new_opt(2000, 0, 1);

    (void) state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ub_kept(r, "a.test", DNS_T_A, "answer 192.0.2.1"), 0);
        assert_int_equal(ub_kept(r, "nope.test", DNS_T_A, "nxdomain"), 0);
    }
    dns_resolver_free(r);
}

struct ub_thread_arg {
    struct dns_resolver *r;
    int errors;
};

/* Start a batch, wait for it together; then start one and drop it unwaited. */
static void *ub_thread(void *p)
{
    struct ub_thread_arg *arg = p;
    enum { N = 40 };
    struct dns_query *qs[N];

    for (int round = 0; round < 25; round++) {
        for (int i = 0; i < N; i++) {
            const struct fx_case *c = &ub_e2e_cases[(size_t) (i + round) % NELEM(ub_e2e_cases)];

            qs[i] = dns_start(arg->r, c->qname, c->qtype);
        }
        dns_wait_all(qs, N, clock_now_ms() + 2000);
        for (int i = 0; i < N; i++) {
            const struct fx_case *c = &ub_e2e_cases[(size_t) (i + round) % NELEM(ub_e2e_cases)];
            char *got = answer_text(dns_peek(qs[i]));

            arg->errors += strcmp(got, c->expect) != 0;
            mem_free(got);
            dns_query_free(qs[i]);
        }
        /*
         * Released unwaited after 0 to 120 us: cancelled in time, or the
         * callback is already running (ub_cancel fails), or answered.
         */
        for (int i = 0; i < N; i++) {
            struct dns_query *q = dns_start(arg->r, ub_e2e_cases[(size_t) i % NELEM(ub_e2e_cases)].qname,
                                            DNS_T_A);
            struct timespec ts = { 0, (long) i * 3000 };

            nanosleep(&ts, NULL);
            dns_query_free(q);
        }
    }
    return NULL;
}

/* Several threads share the context; batches, and queries released unwaited. */
static void test_unbound_threads(void **state)
{
    struct ub_thread_arg args[4];
    pthread_t t[4];

    for (int i = 0; i < 4; i++) {
        args[i].r = *state;
        args[i].errors = 0;
        assert_int_equal(pthread_create(&t[i], NULL, ub_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
}

/* A forwarder that never answers: our deadline ends the wait, not libunbound's retries. */
static void test_unbound_dead_forwarder(void **state)
{
    struct dns_resolver *r = ub_new(300);
    struct dns_query *q;
    const struct dns_answer *a;
    struct dns_answer *own;
    struct dns_stats st;
    int64_t t0;

    (void) state;
    t0 = clock_now_ms();
    q = dns_start(r, "x.example", DNS_T_TXT);
    a = dns_wait(q, t0 + 300);
    assert_in_range(clock_now_ms() - t0, 295, 1500);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_int_equal(a->timed_out, 1);
    dns_query_free(q);

    /* The per-query timeout from the configuration. */
    t0 = clock_now_ms();
    own = dns_lookup(r, "y.example", DNS_T_A);
    assert_in_range(clock_now_ms() - t0, 295, 1500);
    assert_int_equal(own->timed_out, 1);
    dns_answer_free(own);

    /* Local data still answers while the forwarder is dead. */
    own = dns_lookup(r, "a.test", DNS_T_A);
    assert_int_equal(own->status, DNS_ANSWER);
    dns_answer_free(own);

    /* Dropped unwaited while libunbound still works on it. */
    dns_query_free(dns_start(r, "z.example", DNS_T_MX));

    dns_stats_get(r, &st);
    assert_int_equal(st.queries, 4);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(st.answers, 1);

    /* Shutdown with libunbound still retrying: prompt, and clean under ASan. */
    t0 = clock_now_ms();
    dns_resolver_free(r);
    assert_in_range(clock_now_ms() - t0, 0, 1000);
}

static char ub_log_seen[256];

/* Keep the last warning. */
static void ub_log_hook(int level, const char *line, void *arg)
{
    (void) arg;
    if (level == LOG_LVL_WARNING)
        snprintf(ub_log_seen, sizeof(ub_log_seen), "%s", line);
}

/* Stopping with a query outstanding wakes its waiter with an error, and says so. */
static void test_unbound_stop_outstanding(void **state)
{
    struct dns_resolver *r = ub_new(5000);
    struct dns_query *q = dns_start(r, "x.example", DNS_T_TXT);
    const struct dns_answer *a;

    (void) state;
    ub_log_seen[0] = '\0';
    log_set_hook(ub_log_hook, NULL);
    dns_resolver_free(r);
    log_set_hook(NULL, NULL);
    assert_non_null(strstr(ub_log_seen, "resolver stopped with 1 queries outstanding"));
    a = dns_peek(q);
    assert_non_null(a);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_string_equal(a->why, "resolver stopped");
    dns_query_free(q);
}

/* Forwarder syntax. */
static void test_unbound_forwarder_valid(void **state)
{
    static const struct {
        const char *spec;
        int ok;
    } cases[] = {
        { "192.0.2.1", 1 }, { "192.0.2.1@53", 1 }, { "127.0.0.1@65535", 1 }, { "::1", 1 },
        { "2001:db8::53@5353", 1 }, { "", 0 }, { "@53", 0 }, { "192.0.2.1@", 0 },
        { "192.0.2.1@0", 0 }, { "192.0.2.1@65536", 0 }, { "192.0.2.1@5x", 0 },
        { "192.0.2.1@000053", 0 }, { "dns.example", 0 }, { "192.0.2", 0 },
        { "192.0.2.1 ", 0 }, { "192.0.2.1@-1", 0 },
        { "1111:2222:3333:4444:5555:6666:7777:8888:9999", 0 },
    };

    (void) state;
    for (size_t i = 0; i < NELEM(cases); i++)
        if (dns_unbound_forwarder_valid(cases[i].spec) != cases[i].ok)
            fail_msg("forwarder \"%s\": expected %d", cases[i].spec, cases[i].ok);
}

/* Bad settings: NULL and a reason. */
static void test_unbound_bad_config(void **state)
{
    static const char *const bad_fwd[] = { "192.0.2.1", "dns.example" };
    static const char *const bad_zone[] = { "test." };
    static const char *const bad_data[] = { "a.test. 300 IN A not-an-address" };
    static const struct {
        const char *what;
        const char *expect;
    } cases[] = {
        { "forwarder", "bad DNS forwarder \"dns.example\"" },
        { "resolv.conf", "cannot use \"/nonexistent/resolv.conf\"" },
        { "trust anchor", "trust anchor file \"/nonexistent/root.key\"" },
        { "auto trust anchor", "auto trust anchor file \"/nonexistent/root.key\"" },
        { "local zone", "bad local zone \"test.\"" },
        { "local data", "bad local data" },
    };

    (void) state;
    for (size_t i = 0; i < NELEM(cases); i++) {
        struct dns_unbound_config cfg = { 0 };
        str err = STR_INIT;

        str_set(&err, "old text");
        switch (i) {
        case 0: cfg.forwarders = bad_fwd; cfg.n_forwarders = 2; break;
        case 1: cfg.resolv_conf = "/nonexistent/resolv.conf"; break;
        case 2: cfg.forwarders = ub_dead; cfg.n_forwarders = 1; cfg.trust_anchor_file = "/nonexistent/root.key"; break;
        case 3: cfg.forwarders = ub_dead; cfg.n_forwarders = 1; cfg.auto_trust_anchor_file = "/nonexistent/root.key"; break;
        case 4: cfg.forwarders = ub_dead; cfg.n_forwarders = 1; cfg.local_zones = bad_zone; cfg.n_local_zones = 1; break;
        default: cfg.forwarders = ub_dead; cfg.n_forwarders = 1; cfg.local_data = bad_data; cfg.n_local_data = 1; break;
        }
        assert_null(dns_unbound_new(&cfg, &err));
        if (strstr(str_cstr(&err), cases[i].expect) != str_cstr(&err))
            fail_msg("%s: error \"%s\"", cases[i].what, str_cstr(&err));
        str_free(&err);
    }
}

/* A trust anchor that does not parse is found at creation, not at the first query. */
static void test_unbound_bad_trust_anchor(void **state)
{
    char path[] = "/tmp/test_dns_ta_XXXXXX";
    struct dns_unbound_config cfg = { 0 };
    str err = STR_INIT;
    int fd = mkstemp(path);

    (void) state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "this is not a DS record\n", 24), 24);
    close(fd);
    cfg.forwarders = ub_dead;
    cfg.n_forwarders = 1;
    cfg.trust_anchor_file = path;
    assert_null(dns_unbound_new(&cfg, &err));
    assert_true(err.len > 0);
    unlink(path);
    str_free(&err);
}

/* Without forwarders, resolv.conf's name servers; NULL config means all defaults. */
static void test_unbound_resolv_conf(void **state)
{
    char path[] = "/tmp/test_dns_resolv_XXXXXX";
    struct dns_unbound_config cfg = { 0 };
    struct dns_resolver *r;
    str err = STR_INIT;
    int fd = mkstemp(path);
    static const char text[] = "nameserver 127.0.0.1\n";

    (void) state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t) sizeof(text) - 1);
    close(fd);
    cfg.resolv_conf = path;
    r = dns_unbound_new(&cfg, &err);
    if (r == NULL)
        fail_msg("dns_unbound_new: %s", str_cstr(&err));
    assert_int_equal(dns_get_timeout(r), 5000);
    dns_resolver_free(r);
    unlink(path);
    if (access("/etc/resolv.conf", R_OK) == 0) {
        r = dns_unbound_new(NULL, &err);
        assert_non_null(r);
        dns_resolver_free(r);
    }
    str_free(&err);
}

/* Three groups: the generic layer, the conversion, the libunbound backend. */
int main(void)
{
    const struct CMUnitTest fixture_tests[] = {
        cmocka_unit_test_setup_teardown(test_fixture_table, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixture_name_length, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixture_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixture_many, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixture_free_unwaited, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixture_stats, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixture_txt_bytes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixture_threads, fx_setup, fx_teardown),
    };
    const struct CMUnitTest ub_tests[] = {
        cmocka_unit_test(test_ub_table),
        cmocka_unit_test(test_ub_null),
        cmocka_unit_test(test_ub_too_many),
        cmocka_unit_test(test_ub_txt_limit),
        cmocka_unit_test(test_ub_name_limit),
        cmocka_unit_test(test_ub_garbage),
    };
    const struct CMUnitTest unbound_tests[] = {
        cmocka_unit_test_setup_teardown(test_unbound_table, ub_setup, ub_teardown),
        cmocka_unit_test_setup_teardown(test_unbound_kept, ub_setup, ub_teardown),
        cmocka_unit_test(test_unbound_nothing_kept),
        cmocka_unit_test(test_unbound_kept_cap),
        cmocka_unit_test_teardown(test_unbound_kept_max_ttl, clock_teardown),
        cmocka_unit_test_setup_teardown(test_unbound_threads, ub_setup, ub_teardown),
        cmocka_unit_test(test_unbound_dead_forwarder),
        cmocka_unit_test(test_unbound_stop_outstanding),
        cmocka_unit_test(test_unbound_forwarder_valid),
        cmocka_unit_test(test_unbound_bad_config),
        cmocka_unit_test(test_unbound_bad_trust_anchor),
        cmocka_unit_test(test_unbound_resolv_conf),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("dns generic layer (fixture)", fixture_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("dns_answer_from_ub", ub_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("dns libunbound backend", unbound_tests, NULL, NULL);
    return failed ? 1 : 0;
}
