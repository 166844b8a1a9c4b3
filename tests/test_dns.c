/*
 * test_dns.c - the resolver: the generic layer through the fixture, the
 * conversion of DNS responses in wire format on hand-built packets, and
 * the libunbound backend end to end on local data (no network: the only
 * forwarder is a closed loopback port). Limits counted in minutes are reached by moving
 * the monotonic clock (clock_shift.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock_shift.h"
#include "dns.h"
#include "dns_unbound.h"
#include "dns_wire.h"
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

/* ---------------------------------------------------- dns_answer_from_wire */

/*
 * Packets are built with the helpers below: a header, the question, then
 * records whose owner and rdata are written byte by byte, so that a case
 * shows where its compression pointers point. The question name always
 * starts at offset W_QNAME (right after the header).
 */
#define W_IN 1
#define W_CH 3
#define W_QNAME 12

/* Bytes given as a string literal, NULs included. */
struct rd {
    const char *p;
    int len;
};
#define RD(s) { s, (int) sizeof(s) - 1 }

/* Append one byte, a 16-bit or a 32-bit big-endian number. */
static void w8(str *p, unsigned v)
{
    str_addc(p, (int) (v & 0xff));
}

static void w16(str *p, unsigned v)
{
    w8(p, v >> 8);
    w8(p, v);
}

static void w32(str *p, uint32_t v)
{
    w16(p, v >> 16);
    w16(p, v & 0xffff);
}

/* The header of a response (QR, RD, RA) with this rcode and these section counts. */
static void w_header(str *p, int rcode, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
    w16(p, 0x1234);
    w16(p, 0x8180 | (unsigned) rcode);
    w16(p, qd);
    w16(p, an);
    w16(p, ns);
    w16(p, ar);
}

/* The labels of a text name ("" has none), without the root label. */
static void w_labels(str *p, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t) (dot - name) : strlen(name);

        w8(p, (unsigned) n);
        str_add(p, name, (ssize_t) n);
        name += n;
        if (*name == '.')
            name++;
    }
}

/* A whole uncompressed name: its labels and the root label. */
static void w_name(str *p, const char *name)
{
    w_labels(p, name);
    w8(p, 0);
}

/* A compression pointer to offset off. */
static void w_ptr(str *p, size_t off)
{
    w16(p, 0xc000 | (unsigned) off);
}

/* A question (name, type, class). */
static void w_question_class(str *p, const char *name, uint16_t type, uint16_t class)
{
    w_name(p, name);
    w16(p, type);
    w16(p, class);
}

/* The question (name, type, IN). */
static void w_question(str *p, const char *name, uint16_t type)
{
    w_question_class(p, name, type, W_IN);
}

/* The fixed part of a record after its owner; returns where its RDLENGTH is, for w_rr_end. */
static size_t w_rr_begin(str *p, uint16_t type, uint16_t class, uint32_t ttl)
{
    size_t at;

    w16(p, type);
    w16(p, class);
    w32(p, ttl);
    at = (size_t) p->len;
    w16(p, 0);
    return at;
}

/* Set the RDLENGTH written at at to the bytes appended since. */
static void w_rr_end(str *p, size_t at)
{
    size_t rdlen = (size_t) p->len - at - 2;

    p->data[at] = (char) (rdlen >> 8);
    p->data[at + 1] = (char) (rdlen & 0xff);
}

/* A whole record: owner a pointer to the question name, rdata as given. */
static void w_rr(str *p, uint16_t type, uint32_t ttl, const void *rd, size_t rdlen)
{
    size_t at;

    w_ptr(p, W_QNAME);
    at = w_rr_begin(p, type, W_IN, ttl);
    str_add(p, rd, (ssize_t) rdlen);
    w_rr_end(p, at);
}

/* SOA rdata with root MNAME and RNAME, then serial, refresh, retry, expire and MINIMUM. */
#define SOA_RD(minimum) "\x00\x00" "\x00\x00\x00\x01" "\x00\x00\x0e\x10" "\x00\x00\x03\x84" "\x00\x09\x3a\x80" minimum

/*
 * dns_answer_from_wire on a copy of exactly len bytes (so that ASan sees a
 * read past the end), with the checks every answer must pass: the name
 * and type asked, no records unless DNS_ANSWER and then only of the type
 * asked, a reason exactly for DNS_TEMPFAIL and DNS_BADANSWER, an rcode
 * that agrees with the status. Free the answer with dns_answer_free.
 */
static struct dns_answer *wire_run(const char *qname, uint16_t qtype, const void *pkt, size_t len)
{
    unsigned char *copy = malloc(len);   /* not mem_alloc: it makes 0 bytes 1 */
    struct dns_answer *a;

    if (len > 0) {
        assert_non_null(copy);
        memcpy(copy, pkt, len);
    }
    a = dns_answer_from_wire(qname, qtype, copy, len);
    free(copy);
    assert_non_null(a);
    assert_non_null(a->qname);
    assert_string_equal(a->qname, qname);
    assert_int_equal(a->qtype, qtype);
    assert_int_equal(a->secure, DNS_SEC_INSECURE);
    assert_int_equal(a->timed_out, 0);
    if (a->status == DNS_ANSWER) {
        assert_in_range(a->count, 1, DNS_MAX_RRS);
        for (int i = 0; i < a->count; i++)
            assert_int_equal(a->rr[i].type, qtype);
    } else {
        assert_int_equal(a->count, 0);
    }
    if (a->status == DNS_TEMPFAIL || a->status == DNS_BADANSWER)
        assert_non_null(a->why);
    else
        assert_null(a->why);
    switch (a->status) {
    case DNS_ANSWER:
    case DNS_NODATA:
        assert_int_equal(a->rcode, 0);
        break;
    case DNS_NXDOMAIN:
        assert_int_equal(a->rcode, 3);
        break;
    case DNS_TEMPFAIL:
        /* rcode 0 only with the TC bit */
        if (a->rcode == 0)
            assert_string_equal(a->why, "truncated answer");
        else
            assert_in_range(a->rcode, 1, 15);
        assert_int_not_equal(a->rcode, 3);
        break;
    case DNS_BADANSWER:
        /* -1 when the header could not be read (assert_in_range is unsigned) */
        assert_true(a->rcode >= -1 && a->rcode <= 15);
        break;
    }
    return a;
}

/* wire_run on a packet built in a str. */
static struct dns_answer *wire_run_str(const char *qname, uint16_t qtype, const str *p)
{
    return wire_run(qname, qtype, p->data, (size_t) p->len);
}

/* Assert an answer's status and records, its reason, and free it. */
static void wire_expect(struct dns_answer *a, const char *expect, const char *why, const char *what)
{
    assert_answer(a, expect, what);
    if (why != NULL && (a->why == NULL || strcmp(a->why, why) != 0))
        fail_msg("%s: why \"%s\", expected \"%s\"", what, a->why ? a->why : "(null)", why);
    dns_answer_free(a);
}

/* One side of a limit: within it, 1 and the answer stays the caller's to check and free; past it, a bad answer with why (freed), 0. */
static int wire_within_limit(struct dns_answer *a, int within, const char *why)
{
    if (within) {
        assert_int_equal(a->status, DNS_ANSWER);
        return 1;
    }
    assert_int_equal(a->status, DNS_BADANSWER);
    assert_string_equal(a->why, why);
    dns_answer_free(a);
    return 0;
}

/* One record of a table case; owner NULL is a pointer to the question name. */
struct wire_case_rr {
    const char *owner;
    uint16_t type;
    uint16_t class;            /* 0: IN */
    uint32_t ttl;
    struct rd rd;
};
#define R(type, ttl, s) { NULL, type, 0, ttl, RD(s) }
#define RN(owner, type, ttl, s) { owner, type, 0, ttl, RD(s) }
#define A1 "\xc0\x00\x02\x01"
#define A2 "\xc0\x00\x02\x02"

/*
 * Answers to ("x.test", qtype): the question "\001x\004test\000" at offset
 * 12, so "\xc0\x0c" in rdata is x.test and "\xc0\x0e" is test.
 */
static const struct wire_case {
    const char *what;
    uint16_t qtype;
    int rcode;
    struct wire_case_rr an[4];     /* answer section, up to the first of type 0 */
    struct wire_case_rr ns[2];     /* authority section, likewise */
    const char *expect;
    uint32_t ttl;                  /* for DNS_ANSWER, DNS_NXDOMAIN, DNS_NODATA */
    const char *why;
} wire_cases[] = {
    { .what = "A", .qtype = DNS_T_A, .an = { R(DNS_T_A, 300, A1), R(DNS_T_A, 200, A2) },
      .expect = "answer 192.0.2.1 192.0.2.2", .ttl = 200 },
    { .what = "A of 3 bytes", .qtype = DNS_T_A, .an = { R(DNS_T_A, 300, "\xc0\x00\x02") },
      .expect = "badanswer", .why = "bad A record length" },
    { .what = "A of 5 bytes", .qtype = DNS_T_A, .an = { R(DNS_T_A, 300, A1 "\x01") },
      .expect = "badanswer", .why = "bad A record length" },
    { .what = "AAAA", .qtype = DNS_T_AAAA,
      .an = { R(DNS_T_AAAA, 300, "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01") },
      .expect = "answer 2001:db8::1", .ttl = 300 },
    { .what = "AAAA of 4 bytes", .qtype = DNS_T_AAAA, .an = { R(DNS_T_AAAA, 300, "\x20\x01\x0d\xb8") },
      .expect = "badanswer", .why = "bad AAAA record length" },
    { .what = "MX", .qtype = DNS_T_MX,
      .an = { R(DNS_T_MX, 300, "\x00\x0a\x04mail\x07" "example\x00"), R(DNS_T_MX, 300, "\xff\xff\x02mx\x01x\x00") },
      .expect = "answer 10 mail.example 65535 mx.x", .ttl = 300 },
    { .what = "MX exchange compressed", .qtype = DNS_T_MX,
      .an = { R(DNS_T_MX, 300, "\x00\x0a\x04mail\xc0\x0c"), R(DNS_T_MX, 300, "\x00\x14\xc0\x0e") },
      .expect = "answer 10 mail.x.test 20 test", .ttl = 300 },
    { .what = "null MX", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x00\x00") },
      .expect = "answer 0 .", .ttl = 300 },
    { .what = "MX without exchange", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX of one byte", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00") },
      .expect = "badanswer", .why = "malformed MX record" },
    /* The label would end inside the next record: it ends past the rdata. */
    { .what = "MX label past the rdata", .qtype = DNS_T_MX,
      .an = { R(DNS_T_MX, 300, "\x00\x0a\x09mail"), R(DNS_T_MX, 300, "\x00\x0a\x00") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX name without root", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\x04mail") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX bytes after the name", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\x01m\x00junk") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX bytes after a pointer", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\xc0\x0c\x00") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX label with a dot", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\x03m.x\x00") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX label with a NUL", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\x03m\x00x\x00") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX label of 64", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\x40" "a" LABEL63 "\x00") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX pointer past the packet", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\xc0\xff") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX label type 01", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\x41" "a\x00") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "MX label type 10", .qtype = DNS_T_MX, .an = { R(DNS_T_MX, 300, "\x00\x0a\x81" "a\x00") },
      .expect = "badanswer", .why = "malformed MX record" },
    { .what = "TXT strings joined", .qtype = DNS_T_TXT,
      .an = { R(DNS_T_TXT, 300, "\x07v=spf1 \x0binclude:x.y\x05 -all"), R(DNS_T_TXT, 300, "\x00") },
      .expect = "answer \"v=spf1 include:x.y -all\" \"\"", .ttl = 300 },
    { .what = "TXT with NUL", .qtype = DNS_T_TXT, .an = { R(DNS_T_TXT, 300, "\x03" "a\x00z") },
      .expect = "answer \"a\\x00z\"", .ttl = 300 },
    { .what = "TXT length past the end", .qtype = DNS_T_TXT, .an = { R(DNS_T_TXT, 300, "\x02ok\x05" "ab") },
      .expect = "badanswer", .why = "malformed TXT record" },
    { .what = "TXT length past the rdata", .qtype = DNS_T_TXT,
      .an = { R(DNS_T_TXT, 300, "\x02ok\x05"), R(DNS_T_TXT, 300, "\x01z") },
      .expect = "badanswer", .why = "malformed TXT record" },
    { .what = "TXT empty rdata", .qtype = DNS_T_TXT, .an = { R(DNS_T_TXT, 300, "") },
      .expect = "badanswer", .why = "empty TXT record" },
    { .what = "PTR", .qtype = DNS_T_PTR, .an = { R(DNS_T_PTR, 300, "\x04host\x07" "example\x00") },
      .expect = "answer host.example", .ttl = 300 },
    { .what = "PTR compressed", .qtype = DNS_T_PTR, .an = { R(DNS_T_PTR, 300, "\x04host\xc0\x0e") },
      .expect = "answer host.test", .ttl = 300 },
    { .what = "PTR to the root", .qtype = DNS_T_PTR, .an = { R(DNS_T_PTR, 300, "\x00") },
      .expect = "answer .", .ttl = 300 },
    { .what = "PTR label with a space", .qtype = DNS_T_PTR, .an = { R(DNS_T_PTR, 300, "\x04ho t\x00") },
      .expect = "badanswer", .why = "malformed name in record" },
    { .what = "PTR label with a DEL", .qtype = DNS_T_PTR, .an = { R(DNS_T_PTR, 300, "\x04ho\x7ft\x00") },
      .expect = "badanswer", .why = "malformed name in record" },
    { .what = "PTR label of 64", .qtype = DNS_T_PTR, .an = { R(DNS_T_PTR, 300, "\x40" "a" LABEL63 "\x00") },
      .expect = "badanswer", .why = "malformed name in record" },
    { .what = "PTR pointer past the packet", .qtype = DNS_T_PTR, .an = { R(DNS_T_PTR, 300, "\xff\xff") },
      .expect = "badanswer", .why = "malformed name in record" },
    { .what = "CNAME asked", .qtype = DNS_T_CNAME, .an = { R(DNS_T_CNAME, 300, "\x01" "a\x04test\x00") },
      .expect = "answer a.test", .ttl = 300 },
    { .what = "CNAME asked: no chain followed", .qtype = DNS_T_CNAME,
      .an = { R(DNS_T_CNAME, 300, "\x01" "b\xc0\x0e"), RN("b.test", DNS_T_CNAME, 100, "\x01" "c\xc0\x0e") },
      .expect = "answer b.test", .ttl = 300 },
    { .what = "NS", .qtype = DNS_T_NS,
      .an = { R(DNS_T_NS, 300, "\x03ns1\x04test\x00"), R(DNS_T_NS, 300, "\x03ns2\xc0\x0e") },
      .expect = "answer ns1.test ns2.test", .ttl = 300 },
    { .what = "NS malformed", .qtype = DNS_T_NS, .an = { R(DNS_T_NS, 300, "\x03ns1") },
      .expect = "badanswer", .why = "malformed name in record" },
    { .what = "SOA counted, not parsed", .qtype = DNS_T_SOA, .an = { R(DNS_T_SOA, 300, "\x00\x00\x01\x02\x03") },
      .expect = "answer TYPE6", .ttl = 300 },
    { .what = "NXDOMAIN", .qtype = DNS_T_A, .rcode = 3,
      .ns = { RN("test", DNS_T_SOA, 900, SOA_RD("\x00\x00\x01\x2c")) },
      .expect = "nxdomain", .ttl = 300 },
    { .what = "NXDOMAIN, SOA TTL below MINIMUM", .qtype = DNS_T_A, .rcode = 3,
      .ns = { RN("test", DNS_T_SOA, 60, SOA_RD("\x00\x00\x01\x2c")) },
      .expect = "nxdomain", .ttl = 60 },
    { .what = "NXDOMAIN without SOA", .qtype = DNS_T_A, .rcode = 3,
      .expect = "nxdomain", .ttl = 0 },
    { .what = "NXDOMAIN, SOA with compressed names", .qtype = DNS_T_A, .rcode = 3,
      .ns = { { NULL, DNS_T_SOA, 0, 900,
                RD("\x02ns\xc0\x0e\x04host\xc0\x0e" "\x00\x00\x00\x01\x00\x00\x0e\x10\x00\x00\x03\x84"
                   "\x00\x09\x3a\x80\x00\x00\x00\x78") } },
      .expect = "nxdomain", .ttl = 120 },
    { .what = "NODATA", .qtype = DNS_T_MX,
      .ns = { RN("test", DNS_T_SOA, 900, SOA_RD("\x00\x00\x02\x58")) },
      .expect = "nodata", .ttl = 600 },
    { .what = "NODATA without SOA", .qtype = DNS_T_MX, .expect = "nodata", .ttl = 0 },
    { .what = "NODATA, SOA MINIMUM with the top bit", .qtype = DNS_T_MX,
      .ns = { RN("test", DNS_T_SOA, 900, SOA_RD("\x80\x00\x02\x58")) },
      .expect = "nodata", .ttl = 0 },
    { .what = "NODATA, SOA TTL with the top bit", .qtype = DNS_T_MX,
      .ns = { RN("test", DNS_T_SOA, 0x80000384, SOA_RD("\x00\x00\x02\x58")) },
      .expect = "nodata", .ttl = 0 },
    { .what = "NODATA, the first SOA counts", .qtype = DNS_T_MX,
      .ns = { RN("test", DNS_T_SOA, 900, SOA_RD("\x00\x00\x00\x1e")),
              RN("test", DNS_T_SOA, 900, SOA_RD("\x00\x00\x00\x0a")) },
      .expect = "nodata", .ttl = 30 },
    { .what = "NODATA, SOA of class CH passed over", .qtype = DNS_T_MX,
      .ns = { { "test", DNS_T_SOA, W_CH, 900, RD(SOA_RD("\x00\x00\x00\x0a")) },
              RN("test", DNS_T_SOA, 900, SOA_RD("\x00\x00\x00\x1e")) },
      .expect = "nodata", .ttl = 30 },
    { .what = "NODATA, SOA after an NS", .qtype = DNS_T_MX,
      .ns = { RN("test", DNS_T_NS, 900, "\x02ns\xc0\x0e"), RN("test", DNS_T_SOA, 900, SOA_RD("\x00\x00\x00\x1e")) },
      .expect = "nodata", .ttl = 30 },
    { .what = "NODATA, SOA rdata too short", .qtype = DNS_T_MX,
      .ns = { RN("test", DNS_T_SOA, 900, "\x00\x00\x00\x00\x00\x01") },
      .expect = "nodata", .ttl = 0 },
    { .what = "SERVFAIL", .qtype = DNS_T_TXT, .rcode = 2, .expect = "tempfail", .why = "SERVFAIL" },
    { .what = "SERVFAIL with records", .qtype = DNS_T_A, .rcode = 2, .an = { R(DNS_T_A, 300, A1) },
      .expect = "tempfail", .why = "SERVFAIL" },
    { .what = "REFUSED", .qtype = DNS_T_TXT, .rcode = 5, .expect = "tempfail", .why = "REFUSED" },
    { .what = "FORMERR", .qtype = DNS_T_TXT, .rcode = 1, .expect = "tempfail", .why = "FORMERR" },
    { .what = "NOTIMP", .qtype = DNS_T_TXT, .rcode = 4, .expect = "tempfail", .why = "NOTIMP" },
    { .what = "rcode 9", .qtype = DNS_T_TXT, .rcode = 9, .expect = "tempfail", .why = "server error" },
    { .what = "second record bad", .qtype = DNS_T_A, .an = { R(DNS_T_A, 300, A1), R(DNS_T_A, 300, "\x01") },
      .expect = "badanswer", .why = "bad A record length" },
    { .what = "other names passed over", .qtype = DNS_T_A,
      .an = { RN("other.test", DNS_T_A, 100, A2), R(DNS_T_A, 300, A1), RN("x.test.other", DNS_T_A, 100, A2) },
      .expect = "answer 192.0.2.1", .ttl = 300 },
    { .what = "bad record of another name passed over", .qtype = DNS_T_A,
      .an = { RN("other.test", DNS_T_A, 100, "\x01"), R(DNS_T_A, 300, A1) },
      .expect = "answer 192.0.2.1", .ttl = 300 },
    { .what = "other types passed over", .qtype = DNS_T_A,
      .an = { R(DNS_T_AAAA, 100, "\x01"), R(DNS_T_TXT, 100, ""), R(DNS_T_A, 300, A1), R(DNS_T_MX, 100, "") },
      .expect = "answer 192.0.2.1", .ttl = 300 },
    { .what = "only other names", .qtype = DNS_T_A, .an = { RN("other.test", DNS_T_A, 100, A2) },
      .expect = "nodata", .ttl = 0 },
    { .what = "owner uncompressed, in another case", .qtype = DNS_T_A,
      .an = { RN("X.TeSt", DNS_T_A, 300, A1), RN("x.test", DNS_T_A, 300, A2) },
      .expect = "answer 192.0.2.1 192.0.2.2", .ttl = 300 },
    { .what = "class CH passed over", .qtype = DNS_T_A,
      .an = { { NULL, DNS_T_A, W_CH, 100, RD(A2) }, R(DNS_T_A, 300, A1) },
      .expect = "answer 192.0.2.1", .ttl = 300 },
    { .what = "only class CH", .qtype = DNS_T_A, .an = { { NULL, DNS_T_A, W_CH, 100, RD(A2) } },
      .expect = "nodata", .ttl = 0 },
    { .what = "TTL with the top bit", .qtype = DNS_T_A,
      .an = { R(DNS_T_A, 300, A1), R(DNS_T_A, 0x80000000, A2) },
      .expect = "answer 192.0.2.1 192.0.2.2", .ttl = 0 },
    { .what = "TTL all ones", .qtype = DNS_T_A, .an = { R(DNS_T_A, 0xffffffff, A1) },
      .expect = "answer 192.0.2.1", .ttl = 0 },
    { .what = "TTL 2^31-1", .qtype = DNS_T_A, .an = { R(DNS_T_A, 0x7fffffff, A1) },
      .expect = "answer 192.0.2.1", .ttl = 0x7fffffff },
    { .what = "CNAME chain", .qtype = DNS_T_A,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e"), RN("b.test", DNS_T_CNAME, 500, "\x01" "c\x04test\x00"),
              RN("c.test", DNS_T_A, 400, A1), RN("c.test", DNS_T_A, 450, A2) },
      .expect = "answer 192.0.2.1 192.0.2.2", .ttl = 400 },
    { .what = "CNAME chain, a link's TTL smallest", .qtype = DNS_T_A,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e"), RN("b.test", DNS_T_CNAME, 100, "\x01" "c\x04test\x00"),
              RN("c.test", DNS_T_A, 400, A1) },
      .expect = "answer 192.0.2.1", .ttl = 100 },
    { .what = "CNAME chain out of order", .qtype = DNS_T_A,
      .an = { RN("C.TEST", DNS_T_A, 400, A1), RN("b.test", DNS_T_CNAME, 500, "\x01" "c\x04test\x00"),
              R(DNS_T_CNAME, 600, "\x01" "B\xc0\x0e") },
      .expect = "answer 192.0.2.1", .ttl = 400 },
    { .what = "CNAME chain: records of a name left passed over", .qtype = DNS_T_A,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e"), RN("x.test", DNS_T_A, 300, A2),
              RN("b.test", DNS_T_A, 400, A1) },
      .expect = "answer 192.0.2.1", .ttl = 400 },
    { .what = "CNAME chain of MX", .qtype = DNS_T_MX,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e"), RN("b.test", DNS_T_MX, 300, "\x00\x05\x04mail\xc0\x0e") },
      .expect = "answer 5 mail.test", .ttl = 300 },
    { .what = "CNAME to a name without records", .qtype = DNS_T_A,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e") },
      .ns = { RN("test", DNS_T_SOA, 900, SOA_RD("\x00\x00\x00\x3c")) },
      .expect = "nodata", .ttl = 60 },
    { .what = "NXDOMAIN after a CNAME", .qtype = DNS_T_A, .rcode = 3,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e") },
      .ns = { RN("test", DNS_T_SOA, 900, SOA_RD("\x00\x00\x00\x3c")) },
      .expect = "nxdomain", .ttl = 60 },
    { .what = "CNAME to itself", .qtype = DNS_T_A, .an = { R(DNS_T_CNAME, 600, "\xc0\x0c") },
      .expect = "badanswer", .why = "CNAME chain too long" },
    { .what = "CNAME loop of two", .qtype = DNS_T_A,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e"), RN("b.test", DNS_T_CNAME, 600, "\xc0\x0c"),
              R(DNS_T_A, 300, A1) },
      .expect = "badanswer", .why = "CNAME chain too long" },
    { .what = "CNAME of class CH not followed", .qtype = DNS_T_A,
      .an = { { NULL, DNS_T_CNAME, W_CH, 600, RD("\x01" "b\xc0\x0e") }, RN("b.test", DNS_T_A, 300, A2),
              R(DNS_T_A, 300, A1) },
      .expect = "answer 192.0.2.1", .ttl = 300 },
    { .what = "CNAME target with bytes after it", .qtype = DNS_T_A,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e\x00"), RN("b.test", DNS_T_A, 300, A1) },
      .expect = "badanswer", .why = "malformed name in record" },
    { .what = "CNAME target past the rdata", .qtype = DNS_T_A,
      .an = { R(DNS_T_CNAME, 600, "\x05" "b"), RN("b.test", DNS_T_A, 300, A1) },
      .expect = "badanswer", .why = "malformed name in record" },
    { .what = "record after the chain bad", .qtype = DNS_T_A,
      .an = { R(DNS_T_CNAME, 600, "\x01" "b\xc0\x0e"), RN("b.test", DNS_T_A, 300, A1),
              RN("b.test", DNS_T_A, 300, "\x00") },
      .expect = "badanswer", .why = "bad A record length" },
};

/* Every case of the table. */
static void test_wire_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < NELEM(wire_cases); i++) {
        const struct wire_case *c = &wire_cases[i];
        const struct wire_case_rr *all[NELEM(c->an) + NELEM(c->ns)];
        unsigned an = 0, ns = 0;
        str p = STR_INIT;
        struct dns_answer *a;

        while (an < NELEM(c->an) && c->an[an].type != 0) {
            all[an] = &c->an[an];
            an++;
        }
        while (ns < NELEM(c->ns) && c->ns[ns].type != 0) {
            all[an + ns] = &c->ns[ns];
            ns++;
        }
        w_header(&p, c->rcode, 1, an, ns, 0);
        w_question(&p, "x.test", c->qtype);
        for (unsigned n = 0; n < an + ns; n++) {
            const struct wire_case_rr *rr = all[n];
            size_t at;

            if (rr->owner)
                w_name(&p, rr->owner);
            else
                w_ptr(&p, W_QNAME);
            at = w_rr_begin(&p, rr->type, rr->class ? rr->class : W_IN, rr->ttl);
            str_add(&p, rr->rd.p, rr->rd.len);
            w_rr_end(&p, at);
        }
        a = wire_run_str("x.test", c->qtype, &p);
        assert_answer(a, c->expect, c->what);
        if (c->why == NULL)
            assert_null(a->why);
        else if (a->why == NULL || strcmp(a->why, c->why) != 0)
            fail_msg("%s: why \"%s\", expected \"%s\"", c->what, a->why ? a->why : "(null)", c->why);
        if ((a->status == DNS_ANSWER || a->status == DNS_NXDOMAIN || a->status == DNS_NODATA) && a->ttl != c->ttl)
            fail_msg("%s: ttl %u, expected %u", c->what, (unsigned) a->ttl, (unsigned) c->ttl);
        if (a->rcode != c->rcode)
            fail_msg("%s: rcode %d, expected %d", c->what, a->rcode, c->rcode);
        dns_answer_free(a);
        str_free(&p);
    }
}

/* No packet, an empty one, a header cut short. */
static void test_wire_null(void **state)
{
    struct dns_answer *a;

    (void) state;
    a = dns_answer_from_wire("x.test", DNS_T_A, NULL, 0);
    assert_int_equal(a->status, DNS_BADANSWER);
    assert_string_equal(a->why, "malformed answer");
    assert_string_equal(a->qname, "x.test");
    assert_int_equal(a->count, 0);
    assert_int_equal(a->rcode, -1);
    dns_answer_free(a);
    /* NULL with a length is still no packet. */
    a = dns_answer_from_wire("x.test", DNS_T_A, NULL, 512);
    assert_int_equal(a->status, DNS_BADANSWER);
    assert_string_equal(a->why, "malformed answer");
    dns_answer_free(a);
    wire_expect(wire_run("x.test", DNS_T_A, "", 0), "badanswer", "malformed answer", "empty packet");
    wire_expect(wire_run("x.test", DNS_T_A, "\x12\x34\x81\x80\x00\x00\x00\x00\x00\x00\x00", 11), "badanswer",
                "malformed answer", "11-byte header");
    /* A bare header of rcode 0 with no question is an answer with nothing in it. */
    wire_expect(wire_run("x.test", DNS_T_A, "\x12\x34\x81\x80\x00\x00\x00\x00\x00\x00\x00\x00", 12), "nodata", NULL,
                "bare header");
}

/* The question must be the one asked: one, of this name (any case), type and class IN; or none. */
static void test_wire_question(void **state)
{
    static const struct {
        const char *what;
        const char *qname;         /* passed */
        const char *qname_wire;    /* in the packet */
        uint16_t type, class;
        unsigned qdcount;          /* 0, 1, or 2 (the question twice) */
        const char *expect;
        const char *why;
    } cases[] = {
        { "same question", "x.test", "x.test", DNS_T_A, W_IN, 1, "answer 192.0.2.1", NULL },
        { "question in another case", "x.test", "X.TEST", DNS_T_A, W_IN, 1, "answer 192.0.2.1", NULL },
        { "asked in another case", "X.Test", "x.test", DNS_T_A, W_IN, 1, "answer 192.0.2.1", NULL },
        { "no question", "x.test", "x.test", DNS_T_A, W_IN, 0, "answer 192.0.2.1", NULL },
        { "another name", "x.test", "y.test", DNS_T_A, W_IN, 1, "badanswer", "answer to another question" },
        { "a longer name", "x.test", "x.test.test", DNS_T_A, W_IN, 1, "badanswer", "answer to another question" },
        { "a parent name", "x.test", "test", DNS_T_A, W_IN, 1, "badanswer", "answer to another question" },
        { "another type", "x.test", "x.test", DNS_T_MX, W_IN, 1, "badanswer", "answer to another question" },
        { "class CH", "x.test", "x.test", DNS_T_A, W_CH, 1, "badanswer", "answer to another question" },
        { "two questions", "x.test", "x.test", DNS_T_A, W_IN, 2, "badanswer", "answer to another question" },
    };

    (void) state;
    for (size_t i = 0; i < NELEM(cases); i++) {
        str p = STR_INIT;
        size_t at;

        w_header(&p, 0, cases[i].qdcount, 1, 0, 0);
        for (unsigned q = 0; q < cases[i].qdcount; q++)
            w_question_class(&p, cases[i].qname_wire, cases[i].type, cases[i].class);
        /* The record's owner is spelt out: with no question there is nothing to point to. */
        w_name(&p, cases[i].qname);
        at = w_rr_begin(&p, DNS_T_A, W_IN, 300);
        str_add(&p, A1, 4);
        w_rr_end(&p, at);
        wire_expect(wire_run_str(cases[i].qname, DNS_T_A, &p), cases[i].expect, cases[i].why, cases[i].what);
        str_free(&p);
    }

    /* A question name that cannot be read. */
    {
        str p = STR_INIT;

        w_header(&p, 0, 1, 0, 0, 0);
        str_add(&p, "\x40" "a" LABEL63 "\x00\x00\x01\x00\x01", 70);
        wire_expect(wire_run_str("x.test", DNS_T_A, &p), "badanswer", "malformed answer", "question label of 64");
        str_free(&p);
        w_header(&p, 0, 1, 0, 0, 0);
        w_ptr(&p, W_QNAME);
        w16(&p, DNS_T_A);
        w16(&p, W_IN);
        wire_expect(wire_run_str("x.test", DNS_T_A, &p), "badanswer", "malformed answer",
                    "question pointing at itself");
        str_free(&p);
    }

    /* NXDOMAIN with no question. */
    {
        str p = STR_INIT;

        w_header(&p, 3, 0, 0, 0, 0);
        wire_expect(wire_run_str("x.test", DNS_T_A, &p), "nxdomain", NULL, "NXDOMAIN without question");
        str_free(&p);
    }
}

/* The rest of an A record, after an owner the caller wrote. */
static void w_rr_a(str *p, uint32_t ttl, const char *addr)
{
    size_t at = w_rr_begin(p, DNS_T_A, W_IN, ttl);

    str_add(p, addr, 4);
    w_rr_end(p, at);
}

/* Names in owners and rdata: compression pointers that point back work, any other is malformed. */
static void test_wire_names(void **state)
{
    str p = STR_INIT;
    size_t owner1, rdata1, at;

    (void) state;

    /* A pointer to a pointer to the question; labels then a pointer. */
    w_header(&p, 0, 1, 3, 0, 0);
    w_question(&p, "mail.x.test", DNS_T_A);
    owner1 = (size_t) p.len;
    w_ptr(&p, W_QNAME);
    w_rr_a(&p, 300, A1);
    w_ptr(&p, owner1);
    w_rr_a(&p, 300, A2);
    w_labels(&p, "mail");
    w_ptr(&p, W_QNAME + 5);      /* "x.test" inside the question */
    w_rr_a(&p, 300, "\xc0\x00\x02\x03");
    wire_expect(wire_run_str("mail.x.test", DNS_T_A, &p), "answer 192.0.2.1 192.0.2.2 192.0.2.3", NULL,
                "owner: pointer to a pointer, labels and a pointer");
    str_free(&p);

    /* Owners that cannot be read: the whole answer is malformed. */
    for (int kind = 0; kind < 9; kind++) {
        static const char *const what[] = {
            "owner: pointer to itself", "owner: pointer forward", "owner: pointer past the packet",
            "owner: label and a pointer back to it", "owner: pointer to a forward pointer",
            "owner: label of 64", "owner: label type 01", "owner: 256 bytes", "owner: 257 bytes through a pointer",
        };
        size_t here;

        w_header(&p, 0, 1, 2, 0, 0);
        w_question(&p, "x.test", DNS_T_A);
        /* A first record of a type not asked for: its rdata holds a forward pointer. */
        w_ptr(&p, W_QNAME);
        at = w_rr_begin(&p, 99, W_IN, 300);
        rdata1 = (size_t) p.len;
        w_ptr(&p, rdata1 + 40);
        w_rr_end(&p, at);
        here = (size_t) p.len;
        switch (kind) {
        case 0:
            w_ptr(&p, here);
            break;
        case 1:
            w_ptr(&p, here + 2);
            w_name(&p, "x.test");
            break;
        case 2:
            w_ptr(&p, 0x3fff);
            break;
        case 3:
            w_labels(&p, "a");
            w_ptr(&p, here);
            break;
        case 4:
            w_ptr(&p, rdata1);
            break;
        case 5:
            w8(&p, 64);
            str_adds(&p, "a" LABEL63);
            w8(&p, 0);
            break;
        case 6:
            w8(&p, 0x41);
            w8(&p, 'a');
            w8(&p, 0);
            break;
        case 7:
            /* 3 x (63 + 1) + 62 + 1 + the root. */
            for (int l = 0; l < 3; l++)
                w_labels(&p, LABEL63);
            w8(&p, 62);
            str_add(&p, LABEL63, 62);
            w8(&p, 0);
            break;
        case 8:
            /* 63 + 1, then a pointer to a name of 3 x (63 + 1) + the root. */
            {
                size_t start = (size_t) p.len;

                for (int l = 0; l < 3; l++)
                    w_labels(&p, LABEL63);
                w8(&p, 0);
                w_rr_a(&p, 300, A1);
                /* That record made 3 records; the one below is the fourth. */
                p.data[7] = 3;
                w_labels(&p, LABEL63);
                w_ptr(&p, start);
            }
            break;
        }
        w_rr_a(&p, 300, A1);
        wire_expect(wire_run_str("x.test", DNS_T_A, &p), "badanswer", "malformed answer", what[kind]);
        str_free(&p);
    }

    /* An owner of exactly 255 bytes (3 x 64 + 62 + 1) reads fine; its records are not ours. */
    w_header(&p, 0, 1, 1, 0, 0);
    w_question(&p, "x.test", DNS_T_A);
    for (int l = 0; l < 3; l++)
        w_labels(&p, LABEL63);
    w8(&p, 61);
    str_add(&p, LABEL63, 61);
    w8(&p, 0);
    w_rr_a(&p, 300, A1);
    wire_expect(wire_run_str("x.test", DNS_T_A, &p), "nodata", NULL, "owner: 255 bytes");
    str_free(&p);

    /* Names in rdata: pointing back into an earlier rdata works. */
    w_header(&p, 0, 1, 2, 0, 0);
    w_question(&p, "x.test", DNS_T_PTR);
    w_ptr(&p, W_QNAME);
    at = w_rr_begin(&p, DNS_T_PTR, W_IN, 300);
    rdata1 = (size_t) p.len;
    w_labels(&p, "host");
    w_ptr(&p, W_QNAME + 2);      /* "test" */
    w_rr_end(&p, at);
    w_ptr(&p, W_QNAME);
    at = w_rr_begin(&p, DNS_T_PTR, W_IN, 300);
    w_labels(&p, "www");
    w_ptr(&p, rdata1);
    w_rr_end(&p, at);
    wire_expect(wire_run_str("x.test", DNS_T_PTR, &p), "answer host.test www.host.test", NULL,
                "PTR pointing into an earlier rdata");
    str_free(&p);

    /* Names in rdata that cannot be read: the record's own reason. */
    for (int kind = 0; kind < 4; kind++) {
        static const uint16_t types[] = { DNS_T_PTR, DNS_T_MX, DNS_T_NS, DNS_T_CNAME };
        static const char *const why[] = {
            "malformed name in record", "malformed MX record", "malformed name in record",
            "malformed name in record",
        };

        for (int bad = 0; bad < 4; bad++) {
            static const char *const what[] = {
                "rdata: pointer to itself", "rdata: pointer forward", "rdata: label and a pointer back to it",
                "rdata: pointer to a forward pointer",
            };
            /* A CNAME is read when the chain is followed from the query name. */
            uint16_t qtype = types[kind] == DNS_T_CNAME ? DNS_T_A : types[kind];
            size_t here;
            char label[128];

            w_header(&p, 0, 1, 2, 0, 0);
            w_question(&p, "x.test", qtype);
            w_ptr(&p, W_QNAME);
            at = w_rr_begin(&p, 99, W_IN, 300);
            rdata1 = (size_t) p.len;
            w_ptr(&p, rdata1 + 60);
            w_rr_end(&p, at);
            w_ptr(&p, W_QNAME);
            at = w_rr_begin(&p, types[kind], W_IN, 300);
            if (types[kind] == DNS_T_MX)
                w16(&p, 10);
            here = (size_t) p.len;
            switch (bad) {
            case 0:
                w_ptr(&p, here);
                break;
            case 1:
                w_ptr(&p, here + 2);
                w_name(&p, "x.test");
                break;
            case 2:
                w_labels(&p, "a");
                w_ptr(&p, here);
                break;
            case 3:
                w_ptr(&p, rdata1);
                break;
            }
            w_rr_end(&p, at);
            snprintf(label, sizeof(label), "%s (%s)", what[bad], dns_type_name(types[kind]));
            wire_expect(wire_run_str("x.test", qtype, &p), "badanswer", why[kind], label);
            str_free(&p);
        }
    }
}

/*
 * Every prefix of a packet: cut in the header, the question, the answer or
 * the authority section it is malformed (from an exactly sized copy, so
 * that a read past the cut shows under ASan); cut in the additional
 * section, which is not read, it gives the whole packet's answer.
 */
static void wire_prefixes(const str *p, size_t end_read, const char *qname, uint16_t qtype, const char *expect,
                          uint32_t ttl)
{
    for (size_t len = 0; len <= (size_t) p->len; len++) {
        struct dns_answer *a = wire_run(qname, qtype, p->data, len);
        char what[64];

        snprintf(what, sizeof(what), "prefix of %zu bytes", len);
        if (len < end_read) {
            assert_answer(a, "badanswer", what);
            assert_string_equal(a->why, "malformed answer");
            assert_int_equal(a->rcode, len < 12 ? -1 : (int) (p->data[3] & 0x0f));
        } else {
            assert_answer(a, expect, what);
            assert_int_equal(a->ttl, ttl);
        }
        dns_answer_free(a);
    }
}

/* Packets cut at every byte. */
static void test_wire_truncated(void **state)
{
    str p = STR_INIT;
    size_t cname_rdata, mx_rdata, at, end_read;

    (void) state;
    /* x.test CNAME b.test, two MX of b.test, an SOA; glue and an OPT record in the additional section. */
    w_header(&p, 0, 1, 3, 1, 2);
    w_question(&p, "x.test", DNS_T_MX);
    w_ptr(&p, W_QNAME);
    at = w_rr_begin(&p, DNS_T_CNAME, W_IN, 600);
    cname_rdata = (size_t) p.len;
    w_labels(&p, "b");
    w_ptr(&p, W_QNAME + 2);
    w_rr_end(&p, at);
    w_ptr(&p, cname_rdata);
    at = w_rr_begin(&p, DNS_T_MX, W_IN, 300);
    w16(&p, 10);
    mx_rdata = (size_t) p.len;
    w_labels(&p, "mx");
    w_ptr(&p, cname_rdata);
    w_rr_end(&p, at);
    w_ptr(&p, cname_rdata);
    at = w_rr_begin(&p, DNS_T_MX, W_IN, 200);
    w16(&p, 20);
    w_ptr(&p, mx_rdata);
    w_rr_end(&p, at);
    w_ptr(&p, W_QNAME + 2);
    at = w_rr_begin(&p, DNS_T_SOA, W_IN, 900);
    w_labels(&p, "ns");
    w_ptr(&p, W_QNAME + 2);
    w_labels(&p, "host");
    w_ptr(&p, W_QNAME + 2);
    str_add(&p, "\x00\x00\x00\x01\x00\x00\x0e\x10\x00\x00\x03\x84\x00\x09\x3a\x80\x00\x00\x00\x3c", 20);
    w_rr_end(&p, at);
    end_read = (size_t) p.len;
    w_ptr(&p, mx_rdata);
    w_rr_a(&p, 300, A1);
    w8(&p, 0);
    at = w_rr_begin(&p, 41, 1232, 0);
    w_rr_end(&p, at);
    wire_prefixes(&p, end_read, "x.test", DNS_T_MX, "answer 10 mx.b.test 20 mx.b.test", 200);
    str_free(&p);

    /* NXDOMAIN with an SOA; the additional section garbage (it says 3 records, holds 5 bytes). */
    w_header(&p, 3, 1, 0, 1, 3);
    w_question(&p, "Nope.Test", DNS_T_TXT);
    w_ptr(&p, W_QNAME + 5);
    at = w_rr_begin(&p, DNS_T_SOA, W_IN, 900);
    str_add(&p, SOA_RD("\x00\x00\x01\x2c"), 22);
    w_rr_end(&p, at);
    end_read = (size_t) p.len;
    str_add(&p, "\xc0\xff\x01\x02\x03", 5);
    wire_prefixes(&p, end_read, "nope.test", DNS_T_TXT, "nxdomain", 300);
    str_free(&p);
}

/* DNS_MAX_RRS records pass, one more is a bad answer; records of other types do not count. */
static void test_wire_too_many(void **state)
{
    (void) state;
    for (int n = DNS_MAX_RRS; n <= DNS_MAX_RRS + 1; n++) {
        for (int others = 0; others <= 100; others += 100) {
            str p = STR_INIT;
            struct dns_answer *a;
            int a_left = n, aaaa_left = others;

            w_header(&p, 0, 1, (unsigned) (n + others), 0, 0);
            w_question(&p, "many.test", DNS_T_A);
            for (int i = 0; i < n + others; i++) {
                char addr[16] = { 0 };

                addr[0] = (char) 192;
                addr[2] = 2;
                addr[3] = (char) i;
                /* The AAAA records between the A records, the rest at the end. */
                if (aaaa_left > 0 && (i % 2 == 1 || a_left == 0)) {
                    w_rr(&p, DNS_T_AAAA, 60, addr, 16);
                    aaaa_left--;
                } else {
                    w_rr(&p, DNS_T_A, 60, addr, 4);
                    a_left--;
                }
            }
            a = wire_run_str("many.test", DNS_T_A, &p);
            if (wire_within_limit(a, n == DNS_MAX_RRS, "too many records")) {
                assert_int_equal(a->count, DNS_MAX_RRS);
                assert_int_equal(a->ttl, 60);
                dns_answer_free(a);
            }
            str_free(&p);
        }
    }
    /* Counts far beyond what the packet holds, or with nothing behind them: refused before anything is read. */
    {
        str p = STR_INIT;

        w_header(&p, 0, 1, 0xffff, 0xffff, 0);
        w_question(&p, "many.test", DNS_T_A);
        w_rr(&p, DNS_T_A, 60, A1, 4);
        wire_expect(wire_run_str("many.test", DNS_T_A, &p), "badanswer", "malformed answer", "counts of 0xffff");
        str_reset(&p);
        w_header(&p, 0, 1, 1025, 0, 0);
        w_question(&p, "x.test", DNS_T_A);
        wire_expect(wire_run_str("x.test", DNS_T_A, &p), "badanswer", "malformed answer", "1025 records, none there");
        /* Many records of other types beside the one asked: only the asked type counts. */
        str_reset(&p);
        w_header(&p, 0, 1, 1025, 0, 0);
        w_question(&p, "x.test", DNS_T_A);
        w_rr(&p, DNS_T_A, 60, A1, 4);
        for (int i = 0; i < 1024; i++)
            w_rr(&p, DNS_T_TXT, 60, "\x03" "abc", 4);
        wire_expect(wire_run_str("x.test", DNS_T_A, &p), "answer 192.0.2.1", NULL, "1 A among 1024 TXT");
        str_free(&p);
    }
}

/* The TC bit: records may be missing, so the answer is a temporary failure, whatever it holds. */
static void test_wire_truncated_flag(void **state)
{
    str p = STR_INIT;
    struct dns_answer *a;

    (void) state;
    w16(&p, 0x1234);
    w16(&p, 0x8380);   /* QR RD TC RA, rcode 0 */
    w16(&p, 1);
    w16(&p, 1);
    w16(&p, 0);
    w16(&p, 0);
    w_question(&p, "x.test", DNS_T_TXT);
    w_rr(&p, DNS_T_TXT, 60, "\x03" "abc", 4);
    a = wire_run_str("x.test", DNS_T_TXT, &p);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_int_equal(a->rcode, 0);
    assert_string_equal(a->why, "truncated answer");
    dns_answer_free(a);
    str_free(&p);
}

/* A TXT record joined to DNS_MAX_TXT_LEN bytes passes, one byte more does not. */
static void test_wire_txt_limit(void **state)
{
    (void) state;
    for (int total = DNS_MAX_TXT_LEN; total <= DNS_MAX_TXT_LEN + 1; total++) {
        str p = STR_INIT;
        struct dns_answer *a;
        size_t at;

        w_header(&p, 0, 1, 1, 0, 0);
        w_question(&p, "long.test", DNS_T_TXT);
        w_ptr(&p, W_QNAME);
        at = w_rr_begin(&p, DNS_T_TXT, W_IN, 300);
        for (int left = total; left > 0; left -= 255) {
            int n = left > 255 ? 255 : left;

            w8(&p, (unsigned) n);
            for (int i = 0; i < n; i++)
                w8(&p, (unsigned) ('a' + i % 26));
        }
        w_rr_end(&p, at);
        a = wire_run_str("long.test", DNS_T_TXT, &p);
        if (wire_within_limit(a, total == DNS_MAX_TXT_LEN, "TXT record too long")) {
            assert_int_equal(a->rr[0].u.txt.len, DNS_MAX_TXT_LEN);
            assert_int_equal(a->rr[0].u.txt.data[DNS_MAX_TXT_LEN], '\0');
            dns_answer_free(a);
        }
        str_free(&p);
    }
}

/*
 * A name of 253 characters (255 bytes on the wire) in rdata passes, 254 do
 * not; spelt out, and made of a label and a pointer to the owner.
 */
static void test_wire_name_limit(void **state)
{
    (void) state;
    for (int compressed = 0; compressed <= 1; compressed++) {
        for (int last = 61; last <= 62; last++) {
            str p = STR_INIT;
            struct dns_answer *a;
            size_t owner, at;

            w_header(&p, 0, 1, 1, 0, 0);
            w_question(&p, "ptr.test", DNS_T_PTR);
            /* The owner: 3 labels of 63 and the root (193 bytes), then the PTR of it. */
            owner = (size_t) p.len;
            for (int l = 0; l < 3; l++)
                w_labels(&p, LABEL63);
            w8(&p, 0);
            at = w_rr_begin(&p, 99, W_IN, 300);
            w_rr_end(&p, at);
            p.data[7] = 2;
            w_ptr(&p, W_QNAME);
            at = w_rr_begin(&p, DNS_T_PTR, W_IN, 300);
            w8(&p, (unsigned) last);
            str_add(&p, LABEL63, last);
            if (compressed) {
                w_ptr(&p, owner);
            } else {
                for (int l = 0; l < 3; l++)
                    w_labels(&p, LABEL63);
                w8(&p, 0);
            }
            w_rr_end(&p, at);
            a = wire_run_str("ptr.test", DNS_T_PTR, &p);
            if (wire_within_limit(a, last == 61, "malformed name in record")) {
                assert_int_equal(strlen(a->rr[0].u.name), DNS_MAX_NAME_LEN);
                dns_answer_free(a);
            }
            str_free(&p);
        }
    }
}

/* A chain of DNS_WIRE_MAX_CNAMES links is followed, one more link is too long. */
static void test_wire_cname_limit(void **state)
{
    (void) state;
    for (int links = DNS_WIRE_MAX_CNAMES; links <= DNS_WIRE_MAX_CNAMES + 1; links++) {
        str p = STR_INIT;
        struct dns_answer *a;
        char name[32];
        size_t at;

        w_header(&p, 0, 1, (unsigned) links + 1, 0, 0);
        w_question(&p, "x.test", DNS_T_A);
        /* x.test -> c1.test -> ... -> cN.test, which has the A record. */
        for (int i = 0; i < links; i++) {
            if (i == 0) {
                w_ptr(&p, W_QNAME);
            } else {
                snprintf(name, sizeof(name), "c%d.test", i);
                w_name(&p, name);
            }
            at = w_rr_begin(&p, DNS_T_CNAME, W_IN, (uint32_t) (1000 - i));
            snprintf(name, sizeof(name), "c%d", i + 1);
            w_labels(&p, name);
            w_ptr(&p, W_QNAME + 2);
            w_rr_end(&p, at);
        }
        snprintf(name, sizeof(name), "c%d.test", links);
        w_name(&p, name);
        w_rr_a(&p, 2000, A1);
        a = wire_run_str("x.test", DNS_T_A, &p);
        if (wire_within_limit(a, links == DNS_WIRE_MAX_CNAMES, "CNAME chain too long")) {
            assert_answer(a, "answer 192.0.2.1", "longest chain");
            assert_int_equal(a->ttl, 1000 - (links - 1));
            dns_answer_free(a);
        }
        str_free(&p);
    }
}

/* A name reached through DNS_WIRE_MAX_POINTERS compression pointers is read, through one more it is malformed. */
static void test_wire_pointer_limit(void **state)
{
    (void) state;
    for (int hops = DNS_WIRE_MAX_POINTERS; hops <= DNS_WIRE_MAX_POINTERS + 1; hops++) {
        str p = STR_INIT;
        struct dns_answer *a;
        size_t at, prev = W_QNAME;

        w_header(&p, 0, 1, 2, 0, 0);
        w_question(&p, "x.test", DNS_T_A);
        /* A record of a type nobody asked for holds hops - 1 pointers, each to the one before. */
        w_ptr(&p, W_QNAME);
        at = w_rr_begin(&p, 99, W_IN, 300);
        for (int i = 0; i < hops - 1; i++) {
            size_t here = (size_t) p.len;

            w_ptr(&p, prev);
            prev = here;
        }
        w_rr_end(&p, at);
        /* The A record's owner points at the last of them: hops pointers to the question name. */
        w_ptr(&p, prev);
        at = w_rr_begin(&p, DNS_T_A, W_IN, 300);
        str_add(&p, A1, 4);
        w_rr_end(&p, at);
        a = wire_run_str("x.test", DNS_T_A, &p);
        if (wire_within_limit(a, hops == DNS_WIRE_MAX_POINTERS, "malformed answer")) {
            assert_answer(a, "answer 192.0.2.1", "owner through the most pointers");
            dns_answer_free(a);
        }
        str_free(&p);
    }
}

/*
 * Random packets: random bytes after a header and question that fit, and
 * a valid packet with random bytes changed. Never a crash or an
 * over-read, and every answer keeps the promises wire_run checks.
 */
static void test_wire_garbage(void **state)
{
    static const uint16_t types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR, DNS_T_CNAME,
                                      DNS_T_NS, DNS_T_SOA };
    unsigned seed = 12345;
    str valid = STR_INIT;
    size_t at;

    (void) state;
    w_header(&valid, 0, 1, 3, 1, 0);
    w_question(&valid, "g.test", DNS_T_MX);
    w_ptr(&valid, W_QNAME);
    at = w_rr_begin(&valid, DNS_T_CNAME, W_IN, 300);
    w_labels(&valid, "h");
    w_ptr(&valid, W_QNAME + 2);
    w_rr_end(&valid, at);
    w_ptr(&valid, at + 2);       /* h.test, the CNAME's target */
    at = w_rr_begin(&valid, DNS_T_MX, W_IN, 300);
    str_add(&valid, "\x00\x0a\x02mx\xc0\x0c", 7);
    w_rr_end(&valid, at);
    w_rr(&valid, DNS_T_TXT, 300, "\x02hi", 3);
    w_ptr(&valid, W_QNAME + 2);
    at = w_rr_begin(&valid, DNS_T_SOA, W_IN, 900);
    str_add(&valid, SOA_RD("\x00\x00\x01\x2c"), 22);
    w_rr_end(&valid, at);

    for (int round = 0; round < 20000; round++) {
        uint16_t qtype = types[round % NELEM(types)];
        str p = STR_INIT;

        if (round % 2 == 0) {
            int n = (int) (rand_r(&seed) % 120);

            w_header(&p, rand_r(&seed) % 8 == 0 ? 3 : 0, (unsigned) (rand_r(&seed) % 2), rand_r(&seed) % 6,
                     rand_r(&seed) % 3, rand_r(&seed) % 2);
            if (p.data[5] == 1)
                w_question(&p, "g.test", qtype);
            for (int i = 0; i < n; i++) {
                /* Small numbers often: lengths, counts, labels, pointers. */
                unsigned r = (unsigned) rand_r(&seed);

                w8(&p, r % 4 == 0 ? r / 4 % 8 : r % 4 == 1 ? 0xc0 | (r / 4 % 2) : r / 4);
            }
        } else {
            str_add(&p, valid.data, valid.len);
            for (int flips = 1 + rand_r(&seed) % 4; flips > 0; flips--)
                p.data[(unsigned) rand_r(&seed) % (unsigned) p.len] = (char) rand_r(&seed);
            qtype = DNS_T_MX;
        }
        dns_answer_free(wire_run("g.test", qtype, p.data, (size_t) p.len));
        str_free(&p);
    }
    str_free(&valid);
}

/* -------------------------------------------------------- libunbound end to end */

/* Two TXT records of 2251 bytes: more text than an answer kept in front of libunbound. */
#define UB_X50 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define UB_S250 "\"" UB_X50 UB_X50 UB_X50 UB_X50 UB_X50 "\" "
#define UB_S2000 UB_S250 UB_S250 UB_S250 UB_S250 UB_S250 UB_S250 UB_S250 UB_S250

static const char *const ub_zones[] = { "test. static" };
static const char *const ub_data[] = {
    /* Negative answers carry its TTL (the smaller of TTL and MINIMUM), as from any real zone. */
    "test. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300",
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
    a = dns_lookup(r, "nope.test", DNS_T_A);
    assert_true(a->ttl <= 300 && a->ttl >= 240);   /* the SOA's MINIMUM */
    dns_answer_free(a);
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

/*
 * A query in libunbound's hands when the resolver stops (its packet has
 * reached a forwarder that never answers): deleting libunbound's context
 * answers it, and the caller reads the same reason as for a query that
 * was only queued.
 */
static void test_unbound_stop_in_libunbound(void **state)
{
    struct dns_unbound_config cfg = { 0 };
    struct sockaddr_in sin = { 0 };
    socklen_t slen = sizeof(sin);
    struct pollfd pfd;
    struct dns_resolver *r;
    struct dns_query *q, *gone;
    const struct dns_answer *a;
    const char *fwd[1];
    char spec[64], buf[512];
    str err = STR_INIT;
    int fd;

    (void) state;
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &slen), 0);
    snprintf(spec, sizeof(spec), "127.0.0.1@%u", (unsigned) ntohs(sin.sin_port));
    fwd[0] = spec;
    cfg.forwarders = fwd;
    cfg.n_forwarders = 1;
    cfg.timeout_ms = 10000;
    r = dns_unbound_new(&cfg, &err);
    if (r == NULL)
        fail_msg("dns_unbound_new: %s", str_cstr(&err));
    str_free(&err);
    /* One the caller gives up on (cancelled: dropped), one it still waits for. */
    gone = dns_start(r, "gone.example", DNS_T_TXT);
    q = dns_start(r, "held.example", DNS_T_TXT);
    for (int seen = 0; seen < 2;) {
        pfd.fd = fd;
        pfd.events = POLLIN;
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        assert_true(recv(fd, buf, sizeof(buf), 0) > 12);
        seen++;
    }
    assert_null(dns_peek(q));
    dns_query_free(gone);
    ub_log_seen[0] = '\0';
    log_set_hook(ub_log_hook, NULL);
    dns_resolver_free(r);
    log_set_hook(NULL, NULL);
    assert_non_null(strstr(ub_log_seen, "resolver stopped with 1 queries outstanding"));
    a = dns_peek(q);
    assert_non_null(a);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_int_equal(a->rcode, -1);
    assert_string_equal(a->why, "resolver stopped");
    dns_query_free(q);
    close(fd);
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
    const struct CMUnitTest wire_tests[] = {
        cmocka_unit_test(test_wire_table),
        cmocka_unit_test(test_wire_null),
        cmocka_unit_test(test_wire_question),
        cmocka_unit_test(test_wire_names),
        cmocka_unit_test(test_wire_truncated),
        cmocka_unit_test(test_wire_too_many),
        cmocka_unit_test(test_wire_truncated_flag),
        cmocka_unit_test(test_wire_pointer_limit),
        cmocka_unit_test(test_wire_txt_limit),
        cmocka_unit_test(test_wire_name_limit),
        cmocka_unit_test(test_wire_cname_limit),
        cmocka_unit_test(test_wire_garbage),
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
        cmocka_unit_test(test_unbound_stop_in_libunbound),
        cmocka_unit_test(test_unbound_forwarder_valid),
        cmocka_unit_test(test_unbound_bad_config),
        cmocka_unit_test(test_unbound_bad_trust_anchor),
        cmocka_unit_test(test_unbound_resolv_conf),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("dns generic layer (fixture)", fixture_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("dns_answer_from_wire", wire_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("dns libunbound backend", unbound_tests, NULL, NULL);
    return failed ? 1 : 0;
}
