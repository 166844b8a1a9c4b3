/*
 * test_dnsbl.c - DNS block and allow lists against the resolver fixture:
 * address reversal, list entry syntax (every filter form, weights,
 * kinds, errors), IP/domain/URI lookups and scores, refused and
 * out-of-range codes, malformed answers, SERVFAIL and timeouts (unknown,
 * never listed, bounded time), health checks (test points, a list that
 * answers everything, error share), local list files and their re-read,
 * thresholds and the rendered text.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns.h"
#include "dnsbl.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "uri.h"
#include "util.h"

/* ------------------------------------------------------------ fixtures */

static str logged = STR_INIT;

static void log_hook(int level, const char *line, void *arg)
{
    (void) arg;
    str_addf(&logged, "%s: %s\n", log_level_name(level), line);
}

/* How many logged lines contain needle. */
static int log_count(const char *needle)
{
    int n = 0;

    for (const char *s = str_cstr(&logged); (s = strstr(s, needle)) != NULL; s++)
        n++;
    return n;
}

static int setup(void **state)
{
    (void) state;
    str_reset(&logged);
    log_set_hook(log_hook, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    log_set_hook(NULL, NULL);
    str_free(&logged);
    return 0;
}

/* One fixture record: rdata, or a failure (status, or timeout). */
struct rec {
    const char *name;
    uint16_t type;
    const char *data;
    int fail;                    /* a dns_status, 0 for none */
    int timeout;
};

#define MAX_RECS 8
#define MAX_SITES 4
#define A(n, d) { n, DNS_T_A, d, 0, 0 }
#define REC(n, t, d) { n, t, d, 0, 0 }
#define FAIL(n, st) { n, DNS_T_A, NULL, st, 0 }
#define TIMEOUT(n) { n, DNS_T_A, NULL, 0, 1 }
#define NO_RECS { { NULL, 0, NULL, 0, 0 } }

static void add_recs(struct dns_resolver *r, const struct rec *recs)
{
    for (int i = 0; i < MAX_RECS && recs[i].name; i++) {
        if (recs[i].fail || recs[i].timeout)
            dns_fixture_fail(r, recs[i].name, recs[i].type,
                             (enum dns_status) recs[i].fail, recs[i].timeout);
        else
            assert_int_equal(dns_fixture_add(r, recs[i].name, recs[i].type,
                                             recs[i].data), 0);
    }
}

/* Lists from entries; fails the test if they do not parse. */
static struct dnsbl *make_lists(const char *const *sites, struct dnsbl_options *o)
{
    struct dnsbl_options def = { 0 };
    str err = STR_INIT;
    struct dnsbl *d;
    int n = 0;

    if (o == NULL)
        o = &def;
    while (n < MAX_SITES && sites[n])
        n++;
    o->sites = sites;
    o->n_sites = n;
    d = dnsbl_new(o, &err);
    if (d == NULL)
        fail_msg("dnsbl_new: %s", str_cstr(&err));
    str_free(&err);
    return d;
}

static char *data_path(const char *name)
{
    const char *top = getenv("top_srcdir");
    str p = STR_INIT;

    str_addf(&p, "%s/tests/dnsbl/%s", top ? top : ".", name);
    return str_steal(&p);
}

/* ------------------------------------------------------------ reversal */

struct rev_case {
    const char *addr;
    int fam;
    const char *rev;
};

static const struct rev_case rev_cases[] = {
    { "192.0.2.1", 4, "1.2.0.192" },
    { "127.0.0.2", 4, "2.0.0.127" },
    { "[192.0.2.1]", 4, "1.2.0.192" },
    { "2001:db8::1", 6, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2" },
    { "2001:0DB8:0000:0000:0000:0000:0000:0001", 6,
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2" },
    { "2001:db8:1234:5678:9abc:def0:1:abcd", 6,
      "d.c.b.a.1.0.0.0.0.f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.8.b.d.0.1.0.0.2" },
    { "IPv6:2001:db8::1", 6, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2" },
    { "::1", 6, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0" },
    { "::ffff:192.0.2.1", 4, "1.2.0.192" },          /* IPv4-mapped: an IPv4 client */
    { "::FFFF:7F00:2", 4, "2.0.0.127" },
    { "1.2.3", 0, "" },
    { "1.2.3.4.5", 0, "" },
    { "192.0.2.256", 0, "" },
    { "01.2.3.4", 0, "" },
    { "example.com", 0, "" },
    { "", 0, "" },
    { "[]", 0, "" },
    { "fe80::1%eth0", 0, "" },
    { "2001:db8::1::2", 0, "" },
};

static void test_reverse(void **state)
{
    str out = STR_INIT;

    (void) state;
    for (size_t i = 0; i < NELEM(rev_cases); i++) {
        int fam = dnsbl_reverse_ip(rev_cases[i].addr, &out);

        if (fam != rev_cases[i].fam || strcmp(str_cstr(&out), rev_cases[i].rev) != 0)
            fail_msg("%s: %d %s, want %d %s", rev_cases[i].addr, fam, str_cstr(&out), rev_cases[i].fam,
                     rev_cases[i].rev);
    }
    str_free(&out);
}

/* ------------------------------------------------------------ entry syntax */

struct spec_case {
    const char *text;
    const char *zone;
    unsigned kinds;
    int weight;
    enum dnsbl_filter_type ftype;
    const char *match[6];        /* answers that pass the filter */
    const char *nomatch[6];      /* answers that do not */
};

static const struct spec_case spec_cases[] = {
    { "zen.test", "zen.test", DNSBL_IP, 1, DNSBL_FILTER_ANY,
      { "127.0.0.2", "127.0.0.255", "127.1.2.3" }, { NULL } },
    { "ZEN.Test.", "zen.test", DNSBL_IP, 1, DNSBL_FILTER_ANY, { "127.0.0.2" }, { NULL } },
    { "zen.test=127.0.0.2", "zen.test", DNSBL_IP, 1, DNSBL_FILTER_OCTETS,
      { "127.0.0.2" }, { "127.0.0.3", "127.0.1.2", "127.0.0.4" } },
    { "zen.test=127.0.0.[2..11]*3", "zen.test", DNSBL_IP, 3, DNSBL_FILTER_OCTETS,
      { "127.0.0.2", "127.0.0.4", "127.0.0.11" }, { "127.0.0.1", "127.0.0.12", "127.0.1.2" } },
    { "zen.test=127.0.[0..255].[2;4;8]*-2", "zen.test", DNSBL_IP, -2, DNSBL_FILTER_OCTETS,
      { "127.0.0.2", "127.0.255.4", "127.0.7.8" }, { "127.0.0.3", "127.1.0.2", "127.0.0.9" } },
    { "zen.test=127.0.0.[1;3..5;9]*+7", "zen.test", DNSBL_IP, 7, DNSBL_FILTER_OCTETS,
      { "127.0.0.1", "127.0.0.3", "127.0.0.5", "127.0.0.9" }, { "127.0.0.2", "127.0.0.6" } },
    { "zen.test=[127;128].[0..1].0.[0..255]", "zen.test", DNSBL_IP, 1, DNSBL_FILTER_OCTETS,
      { "127.0.0.0", "127.1.0.255" }, { "127.2.0.1", "127.0.1.1" } },
    { "list.dnswl.test=127.0.[0..255].[1..3]*-5", "list.dnswl.test", DNSBL_IP, -5, DNSBL_FILTER_OCTETS,
      { "127.0.10.1", "127.0.15.3" }, { "127.0.10.0", "127.0.10.4" } },
    { "multi.test&0x04*2", "multi.test", DNSBL_IP, 2, DNSBL_FILTER_MASK,
      { "127.0.0.4", "127.0.0.6", "127.0.0.255" }, { "127.0.0.2", "127.0.0.8", "127.0.0.3" } },
    { "multi.test&8", "multi.test", DNSBL_IP, 1, DNSBL_FILTER_MASK,
      { "127.0.0.8", "127.0.0.12" }, { "127.0.0.4" } },
    { "multi.test&0x0100", "multi.test", DNSBL_IP, 1, DNSBL_FILTER_MASK,
      { "127.0.1.0" }, { "127.0.0.255" } },
    { "mailfrom+helo:dbl.test=127.0.1.[2..99]*4", "dbl.test", DNSBL_MAILFROM | DNSBL_HELO, 4,
      DNSBL_FILTER_OCTETS, { "127.0.1.2", "127.0.1.99" }, { "127.0.1.255", "127.0.0.2" } },
    { "domain:dbl.test", "dbl.test", DNSBL_DOMAIN_KINDS, 1, DNSBL_FILTER_ANY, { "127.0.1.2" }, { NULL } },
    { "uri+uri_ip:uribl.test&0x02*0", "uribl.test", DNSBL_URI | DNSBL_URI_IP, 0, DNSBL_FILTER_MASK,
      { "127.0.0.2" }, { "127.0.0.4" } },
    { "ip+client_name+from:x.test", "x.test", DNSBL_IP | DNSBL_CLIENT_NAME | DNSBL_FROM, 1,
      DNSBL_FILTER_ANY, { "127.0.0.2" }, { NULL } },
    { "bl.test*100000", "bl.test", DNSBL_IP, 100000, DNSBL_FILTER_ANY, { NULL }, { NULL } },
};

/* Does the filter of an entry match a dotted answer? */
static int filter_matches(const struct dnsbl_spec *s, const char *answer)
{
    struct in_addr a;

    assert_int_equal(inet_pton(AF_INET, answer, &a), 1);
    return dnsbl_filter_match(&s->filter, a);
}

static void test_spec_parse(void **state)
{
    str err = STR_INIT;

    (void) state;
    for (size_t i = 0; i < NELEM(spec_cases); i++) {
        const struct spec_case *c = &spec_cases[i];
        struct dnsbl_spec s;

        if (dnsbl_spec_parse(c->text, &s, &err) != 0)
            fail_msg("%s: %s", c->text, str_cstr(&err));
        assert_string_equal(s.zone, c->zone);
        assert_string_equal(s.text, c->text);
        assert_int_equal(s.kinds, c->kinds);
        assert_int_equal(s.weight, c->weight);
        assert_int_equal(s.filter.type, c->ftype);
        for (int k = 0; k < 6 && c->match[k]; k++)
            if (!filter_matches(&s, c->match[k]))
                fail_msg("%s: %s should match", c->text, c->match[k]);
        for (int k = 0; k < 6 && c->nomatch[k]; k++)
            if (filter_matches(&s, c->nomatch[k]))
                fail_msg("%s: %s should not match", c->text, c->nomatch[k]);
        dnsbl_spec_clear(&s);
    }
    assert_int_equal(err.len, 0);
    str_free(&err);
}

struct bad_spec {
    const char *text;
    const char *why;
};

static const struct bad_spec bad_specs[] = {
    { "", "bad zone name" },
    { "=127.0.0.2", "bad zone name" },
    { "zen..test", "bad zone name" },
    { "zen test", "bad zone name" },
    { "192.0.2.1", "bad zone name" },
    { "zen.test=127.0.0", "four octets" },
    { "zen.test=127.0.0.256", "0 to 255" },
    { "zen.test=127.0.0.-1", "0 to 255" },
    { "zen.test=127.0.0.[2..]", "n..m" },
    { "zen.test=127.0.0.[5..2]", "n..m" },
    { "zen.test=127.0.0.[2", "closing ']'" },
    { "zen.test=127.0.0.[2,3]", "closing ']'" },
    { "zen.test=127.0.0.[]", "set item" },
    { "zen.test=", "0 to 255" },
    { "zen.test&0", "bad mask" },
    { "zen.test&x", "bad mask" },
    { "zen.test&-4", "bad mask" },
    { "zen.test&0x100000000", "bad mask" },
    { "zen.test*", "bad weight" },
    { "zen.test*abc", "bad weight" },
    { "zen.test*100001", "bad weight" },
    { "zen.test*--1", "bad weight" },
    { "zen.test*5x", "unexpected text" },
    { "zen.test=127.0.0.2 junk", "unexpected text" },
    { "zen.test=127.0.0.2&4", "unexpected text" },
    { "bogus:zen.test", "unknown kind" },
    { "ip+:zen.test", "unknown kind" },
    { ":zen.test", "unknown kind" },
};

static void test_spec_errors(void **state)
{
    str err = STR_INIT;

    (void) state;
    for (size_t i = 0; i < NELEM(bad_specs); i++) {
        struct dnsbl_spec s;

        str_reset(&err);
        if (dnsbl_spec_parse(bad_specs[i].text, &s, &err) == 0)
            fail_msg("\"%s\" parsed", bad_specs[i].text);
        assert_null(s.zone);
        assert_null(s.text);
        /* The message names the entry and says what is wrong. */
        if (!strstr(err.data, bad_specs[i].why) || strncmp(err.data, "dnsbl entry \"", 13) != 0
            || !strstr(err.data, bad_specs[i].text))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad_specs[i].text, err.data, bad_specs[i].why);
    }
    /* Untrusted bytes in an entry are escaped in the message. */
    str_reset(&err);
    {
        struct dnsbl_spec s;

        assert_int_equal(dnsbl_spec_parse("zen.test*\x01\"", &s, &err), -1);
        assert_non_null(strstr(err.data, "zen.test*\\x01\\x22"));
    }
    str_free(&err);
}

/* dnsbl_new reports every bad entry and builds nothing. */
static void test_options_errors(void **state)
{
    const char *sites[] = { "good.test", "bad..test", "also.test=1.2.3", NULL };
    struct dnsbl_options o = { .sites = sites, .n_sites = 3 };
    str err = STR_INIT;

    (void) state;
    assert_null(dnsbl_new(&o, &err));
    assert_non_null(strstr(err.data, "bad..test"));
    assert_non_null(strstr(err.data, "also.test=1.2.3"));
    assert_null(strstr(err.data, "\"good.test\""));
    str_free(&err);
}

static void test_kinds(void **state)
{
    unsigned k;

    (void) state;
    assert_int_equal(dnsbl_kinds_parse("ip", 2, &k), 0);
    assert_int_equal(k, DNSBL_IP);
    assert_int_equal(dnsbl_kinds_parse("helo+uri_ip", 11, &k), 0);
    assert_int_equal(k, DNSBL_HELO | DNSBL_URI_IP);
    assert_int_equal(dnsbl_kinds_parse("IP", 2, &k), -1);
    assert_int_equal(dnsbl_kinds_parse("", 0, &k), -1);
    assert_string_equal(dnsbl_kind_name(DNSBL_CLIENT_NAME), "client_name");
    assert_string_equal(dnsbl_kind_name(DNSBL_MAILFROM), "mailfrom");
    assert_string_equal(dnsbl_kind_name(DNSBL_DOMAIN_KINDS), "?");
}

/* ------------------------------------------------------------ IP lists */

struct ip_case {
    const char *name;
    const char *sites[MAX_SITES];
    const char *client;
    struct rec recs[MAX_RECS];
    int queries;
    int score;
    int nhits;
    int unknown;
    int errors;
    const char *render;
};

static const struct ip_case ip_cases[] = {
    { "weights, allow list, unlisted list",
      { "bl.test=127.0.0.2*5", "wl.test=127.0.[0..255].[1..3]*-3", "other.test*2" },
      "192.0.2.2",
      { A("2.2.0.192.bl.test", "127.0.0.2"), A("2.2.0.192.wl.test", "127.0.10.3") },
      3, 2, 2, 0, 0, "bl.test=127.0.0.2(+5) wl.test=127.0.10.3(-3)" },
    { "not listed",
      { "bl.test*5" }, "192.0.2.2", NO_RECS, 1, 0, 0, 0, 0, "" },
    { "filter excludes the code",
      { "bl.test=127.0.0.2*5" }, "192.0.2.2", { A("2.2.0.192.bl.test", "127.0.0.4") },
      1, 0, 0, 0, 0, "" },
    { "several codes, those that pass are kept",
      { "zen.test=127.0.0.[2..11]*4" }, "192.0.2.2",
      { A("2.2.0.192.zen.test", "127.0.0.2"), A("2.2.0.192.zen.test", "127.0.0.4"),
        A("2.2.0.192.zen.test", "127.0.0.20"), A("2.2.0.192.zen.test", "127.0.0.10") },
      1, 4, 1, 0, 0, "zen.test=127.0.0.2,127.0.0.4,127.0.0.10(+4)" },
    { "entries sharing a zone share the query",
      { "zen.test=127.0.0.[2..3]*3", "zen.test=127.0.0.[10;11]*1", "zen.test=127.0.0.4*8" }, "192.0.2.2",
      { A("2.2.0.192.zen.test", "127.0.0.2"), A("2.2.0.192.zen.test", "127.0.0.11") },
      1, 4, 2, 0, 0, "zen.test=127.0.0.2(+3) zen.test=127.0.0.11(+1)" },
    { "bitmask",
      { "multi.test&0x04*2", "multi2.test&0x08*9" }, "192.0.2.2",
      { A("2.2.0.192.multi.test", "127.0.0.6"), A("2.2.0.192.multi2.test", "127.0.0.6") },
      2, 2, 1, 0, 0, "multi.test=127.0.0.6(+2)" },
    { "refused code is an error, not a listing",
      { "bl.test*5" }, "192.0.2.2", { A("2.2.0.192.bl.test", "127.255.255.254") },
      1, 0, 0, 1, 1, "" },
    { "refused code among listing codes",
      { "bl.test*5" }, "192.0.2.2",
      { A("2.2.0.192.bl.test", "127.0.0.2"), A("2.2.0.192.bl.test", "127.255.255.252") },
      1, 0, 0, 1, 1, "" },
    { "answer outside 127/8 (rewritten NXDOMAIN)",
      { "bl.test*5" }, "192.0.2.2", { A("2.2.0.192.bl.test", "192.0.2.99") },
      1, 0, 0, 1, 1, "" },
    { "malformed answer",
      { "bl.test*5", "ok.test*1" }, "192.0.2.2",
      { FAIL("2.2.0.192.bl.test", DNS_BADANSWER), A("2.2.0.192.ok.test", "127.0.0.2") },
      2, 1, 1, 1, 1, "ok.test=127.0.0.2(+1)" },
    { "name with other records only (NODATA)",
      { "bl.test*5" }, "192.0.2.2", { REC("2.2.0.192.bl.test", DNS_T_AAAA, "::1") },
      1, 0, 0, 0, 0, "" },
    { "SERVFAIL is unknown",
      { "bl.test*5" }, "192.0.2.2", { FAIL("2.2.0.192.bl.test", DNS_TEMPFAIL) },
      1, 0, 0, 1, 0, "" },
    { "timeout is unknown, the other list still counts",
      { "slow.test*5", "fast.test*2" }, "192.0.2.2",
      { TIMEOUT("2.2.0.192.slow.test"), A("2.2.0.192.fast.test", "127.0.0.2") },
      2, 2, 1, 1, 0, "fast.test=127.0.0.2(+2)" },
    { "IPv6 client",
      { "bl.test*5" }, "2001:db8::1",
      { A("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test", "127.0.0.3") },
      1, 5, 1, 0, 0, "bl.test=127.0.0.3(+5)" },
    { "IPv4-mapped client is asked as IPv4",
      { "bl.test*5" }, "::ffff:192.0.2.2", { A("2.2.0.192.bl.test", "127.0.0.2") },
      1, 5, 1, 0, 0, "bl.test=127.0.0.2(+5)" },
    { "lists of other kinds are not asked",
      { "mailfrom:dbl.test*5", "uri:uribl.test" }, "192.0.2.2", NO_RECS, 0, 0, 0, 0, 0, "" },
};

static void test_ip_lists(void **state)
{
    str text = STR_INIT;

    (void) state;
    for (size_t i = 0; i < NELEM(ip_cases); i++) {
        const struct ip_case *c = &ip_cases[i];
        struct dns_resolver *r = dns_fixture_new();
        struct dnsbl *d = make_lists(c->sites, NULL);
        struct dnsbl_check *chk = dnsbl_check_new(d, r);
        const struct dnsbl_result *res;
        int64_t t0 = clock_now_ms();

        add_recs(r, c->recs);
        assert_int_equal(dnsbl_check_ip(chk, c->client), c->queries);
        res = dnsbl_check_collect(chk, clock_now_ms() + 200);
        /* Never past the deadline, whatever the lists do. */
        assert_true(clock_now_ms() - t0 < 1000);
        str_reset(&text);
        dnsbl_render(res, &text, 0);
        if (res->queries != c->queries || res->score != c->score || res->nhits != c->nhits
            || res->unknown != c->unknown || res->errors != c->errors || strcmp(str_cstr(&text), c->render))
            fail_msg("%s: queries %d score %d hits %d unknown %d errors %d \"%s\"", c->name, res->queries,
                     res->score, res->nhits, res->unknown, res->errors, str_cstr(&text));
        assert_int_equal(res->local, DNSBL_LOCAL_NONE);
        dnsbl_check_free(chk);
        dnsbl_unref(d);
        dns_resolver_free(r);
    }
    str_free(&text);
}

/* What one hit holds. */
static void test_hit_details(void **state)
{
    const char *sites[] = { "bl.test=127.0.0.[2..3]*5", NULL };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, NULL);
    struct dnsbl_check *c = dnsbl_check_new(d, r);
    const struct dnsbl_result *res;
    str text = STR_INIT;

    (void) state;
    dns_fixture_add(r, "2.2.0.192.bl.test", DNS_T_A, "127.0.0.3");
    assert_int_equal(dnsbl_check_ip(c, "[192.0.2.2]"), 1);
    assert_int_equal(dnsbl_check_ip(c, "not an address"), -1);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->nhits, 1);
    assert_string_equal(res->hits[0].list, "bl.test");
    assert_ptr_equal(res->hits[0].spec, dnsbl_entry(d, 0));
    assert_int_equal(res->hits[0].kind, DNSBL_IP);
    assert_string_equal(res->hits[0].identity, "192.0.2.2");
    assert_string_equal(res->hits[0].qname, "2.2.0.192.bl.test");
    assert_int_equal(res->hits[0].ncodes, 1);
    assert_int_equal(ntohl(res->hits[0].codes[0].s_addr), 0x7f000003);
    assert_int_equal(res->hits[0].weight, 5);
    assert_null(res->hits[0].txt);
    assert_int_equal(res->invalid, 1);
    dnsbl_render_log(res, &text);
    assert_string_equal(text.data, "bl.test:192.0.2.2=127.0.0.3(+5)");
    str_free(&text);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* Every list timing out: unknown, and the check ends at the deadline. */
static void test_all_time_out(void **state)
{
    const char *sites[] = { "a.test*5", "b.test*5", "c.test*5", "d.test*5", NULL };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, NULL);
    struct dnsbl_check *c = dnsbl_check_new(d, r);
    const struct dnsbl_result *res;
    const char *zones[] = { "a", "b", "c", "d" };
    int64_t t0;
    str name = STR_INIT;
    struct dnsbl_zone_status st;

    (void) state;
    for (int i = 0; i < 4; i++) {
        str_reset(&name);
        str_addf(&name, "2.2.0.192.%s.test", zones[i]);
        dns_fixture_fail(r, name.data, DNS_T_A, DNS_TEMPFAIL, 1);
    }
    t0 = clock_now_ms();
    assert_int_equal(dnsbl_check_ip(c, "192.0.2.2"), 4);
    res = dnsbl_check_collect(c, t0 + 150);
    assert_true(clock_now_ms() - t0 >= 140);
    assert_true(clock_now_ms() - t0 < 600);
    assert_int_equal(res->score, 0);
    assert_int_equal(res->nhits, 0);
    assert_int_equal(res->unknown, 4);
    assert_int_equal(res->errors, 0);
    /* Timeouts are counted, but do not make a list broken. */
    dnsbl_zone_status(d, 0, &st);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.broken, 0);
    str_free(&name);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* A query still in flight when the check is freed is dropped cleanly. */
static void test_free_in_flight(void **state)
{
    const char *sites[] = { "slow.test", NULL };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, NULL);
    struct dnsbl_check *c = dnsbl_check_new(d, r);

    (void) state;
    dns_fixture_fail(r, "2.2.0.192.slow.test", DNS_T_A, DNS_TEMPFAIL, 1);
    assert_int_equal(dnsbl_check_ip(c, "192.0.2.2"), 1);
    dnsbl_check_free(c);
    /* The check held a reference on the lists: they outlive a reload. */
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* ------------------------------------------------------------ domain lists */

struct dom_case {
    const char *name;
    const char *sites[MAX_SITES];
    enum dnsbl_kind kind;
    const char *identity;
    struct rec recs[MAX_RECS];
    int started;                 /* return of dnsbl_check_domain */
    int score;
    int invalid;
    const char *render;
};

static char long_helo[400];
static char long_label_helo[300];

static const struct dom_case dom_cases[] = {
    { "mail from domain listed via its registered domain",
      { "mailfrom+from:dbl.test=127.0.1.[2..99]*3" }, DNSBL_MAILFROM, "bounce@Mail.Evil.Test",
      { A("evil.test.dbl.test", "127.0.1.2") }, 2, 3, 0, "dbl.test:mailfrom=127.0.1.2(+3)" },
    { "from domain listed as given",
      { "from:dbl.test*3" }, DNSBL_FROM, "news.evil.co.uk",
      { A("news.evil.co.uk.dbl.test", "127.0.1.2") }, 2, 3, 0, "dbl.test:from=127.0.1.2(+3)" },
    { "registered domain under a two-label suffix",
      { "from:dbl.test*3" }, DNSBL_FROM, "a.b.evil.co.uk",
      { A("evil.co.uk.dbl.test", "127.0.1.2") }, 2, 3, 0, "dbl.test:from=127.0.1.2(+3)" },
    { "a registered domain is asked once",
      { "helo:dbl.test*3" }, DNSBL_HELO, "evil.test", NO_RECS, 1, 0, 0, "" },
    { "domain alias covers helo",
      { "domain:dbl.test*2" }, DNSBL_HELO, "mx.evil.test",
      { A("mx.evil.test.dbl.test", "127.0.1.2") }, 2, 2, 0, "dbl.test:helo=127.0.1.2(+2)" },
    { "client name",
      { "client_name:dbl.test*2" }, DNSBL_CLIENT_NAME, "host.evil.test",
      { A("evil.test.dbl.test", "127.0.1.2") }, 2, 2, 0, "dbl.test:client_name=127.0.1.2(+2)" },
    { "IDN sender domain in punycode",
      { "mailfrom:dbl.test*2" }, DNSBL_MAILFROM, "user@b\xc3\xbc" "cher.example",
      { A("xn--bcher-kva.example.dbl.test", "127.0.1.2") }, 1, 2, 0, "dbl.test:mailfrom=127.0.1.2(+2)" },
    { "list not for this kind",
      { "mailfrom:dbl.test*3" }, DNSBL_HELO, "evil.test", NO_RECS, 0, 0, 0, "" },
    { "HELO address literal is not a domain",
      { "helo:dbl.test*3" }, DNSBL_HELO, "[192.0.2.1]", NO_RECS, -1, 0, 1, "" },
    { "HELO IPv6 literal",
      { "helo:dbl.test*3" }, DNSBL_HELO, "[IPv6:2001:db8::1]", NO_RECS, -1, 0, 1, "" },
    { "bare address as HELO",
      { "helo:dbl.test*3" }, DNSBL_HELO, "192.0.2.1", NO_RECS, -1, 0, 1, "" },
    { "single label",
      { "helo:dbl.test*3" }, DNSBL_HELO, "localhost", NO_RECS, -1, 0, 1, "" },
    { "unverified client name",
      { "client_name:dbl.test*3" }, DNSBL_CLIENT_NAME, "unknown", NO_RECS, -1, 0, 1, "" },
    { "bad characters",
      { "helo:dbl.test*3" }, DNSBL_HELO, "evil test.example", NO_RECS, -1, 0, 1, "" },
    { "empty",
      { "helo:dbl.test*3" }, DNSBL_HELO, "", NO_RECS, -1, 0, 1, "" },
    { "empty domain after @",
      { "mailfrom:dbl.test*3" }, DNSBL_MAILFROM, "user@", NO_RECS, -1, 0, 1, "" },
    { "overlong HELO",
      { "helo:dbl.test*3" }, DNSBL_HELO, long_helo, NO_RECS, -1, 0, 1, "" },
    { "name too long with the zone: only the registered domain is asked",
      { "helo:a-rather-long-zone-name.dbl.test*3" }, DNSBL_HELO, long_label_helo,
      { A("evil.test.a-rather-long-zone-name.dbl.test", "127.0.1.2") }, 1, 3, 1,
      "a-rather-long-zone-name.dbl.test:helo=127.0.1.2(+3)" },
};

static void test_domain_lists(void **state)
{
    str text = STR_INIT;

    (void) state;
    memset(long_helo, 'a', 300);
    memcpy(long_helo + 300, ".evil.test", 11);
    /* 4 labels of 58 and "evil.test": 245 characters, valid, too long with the zone. */
    long_label_helo[0] = '\0';
    for (int l = 0; l < 4; l++) {
        size_t n = strlen(long_label_helo);

        memset(long_label_helo + n, 'b' + l, 58);
        long_label_helo[n + 58] = '.';
        long_label_helo[n + 59] = '\0';
    }
    strcat(long_label_helo, "evil.test");
    for (size_t i = 0; i < NELEM(dom_cases); i++) {
        const struct dom_case *c = &dom_cases[i];
        struct dns_resolver *r = dns_fixture_new();
        struct dnsbl *d = make_lists(c->sites, NULL);
        struct dnsbl_check *chk = dnsbl_check_new(d, r);
        const struct dnsbl_result *res;
        int started;

        add_recs(r, c->recs);
        started = dnsbl_check_domain(chk, c->kind, c->identity);
        res = dnsbl_check_collect(chk, clock_now_ms() + 200);
        str_reset(&text);
        dnsbl_render(res, &text, 0);
        if (started != c->started || res->score != c->score || res->invalid != c->invalid
            || strcmp(str_cstr(&text), c->render) != 0)
            fail_msg("%s: started %d score %d invalid %d \"%s\"", c->name, started, res->score, res->invalid,
                     str_cstr(&text));
        dnsbl_check_free(chk);
        dnsbl_unref(d);
        dns_resolver_free(r);
    }
    str_free(&text);
}

/* One transaction: identities come in over time; collect is cumulative. */
static void test_transaction(void **state)
{
    const char *sites[] = { "bl.test*2", "helo+mailfrom:dbl.test*3", NULL };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, NULL);
    struct dnsbl_check *c = dnsbl_check_new(d, r);
    const struct dnsbl_result *res;
    str text = STR_INIT;

    (void) state;
    dns_fixture_add(r, "2.2.0.192.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "evil.test.dbl.test", DNS_T_A, "127.0.1.2");
    assert_int_equal(dnsbl_check_ip(c, "192.0.2.2"), 1);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->score, 2);
    /* The same domain as HELO and MAIL FROM: one query, two hits (one per kind). */
    assert_int_equal(dnsbl_check_domain(c, DNSBL_HELO, "evil.test"), 1);
    assert_int_equal(dnsbl_check_domain(c, DNSBL_MAILFROM, "x@evil.test"), 0);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->queries, 2);
    assert_int_equal(res->score, 8);
    dnsbl_render(res, &text, 0);
    assert_string_equal(text.data, "bl.test=127.0.0.2(+2) dbl.test:helo=127.0.1.2(+3) dbl.test:mailfrom=127.0.1.2(+3)");
    /* Asked again after collection: a new query, no new hit. */
    assert_int_equal(dnsbl_check_domain(c, DNSBL_HELO, "EVIL.test."), 1);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->score, 8);
    assert_int_equal(res->nhits, 3);
    assert_int_equal(res->hits[1].more, 1);
    str_free(&text);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* ------------------------------------------------------------ URI lists */

static struct uri_parser *parse_body(const char *body, const struct uri_limits *lim)
{
    struct uri_parser *p = uri_parser_new(lim, 0);

    uri_parser_feed(p, body, (ssize_t) strlen(body));
    uri_parser_end(p);
    return p;
}

static void test_uri_lists(void **state)
{
    const char *sites[] = { "uri:dbl.test=127.0.1.[2..99]*4", "uri_ip:ubl.test*2", "bl.test*9", NULL };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, NULL);
    struct dnsbl_check *c = dnsbl_check_new(d, r);
    struct uri_parser *p = parse_body("Click http://a.evil.test/ or http://b.evil.test/x or "
                                      "http://good.test/ or http://192.0.2.3/ or http://user@[2001:db8::3]/\n",
                                      NULL);
    const struct dnsbl_result *res;
    str text = STR_INIT;

    (void) state;
    dns_fixture_add(r, "evil.test.dbl.test", DNS_T_A, "127.0.1.2");
    dns_fixture_add(r, "b.evil.test.dbl.test", DNS_T_A, "127.0.1.2");
    dns_fixture_add(r, "3.2.0.192.ubl.test", DNS_T_A, "127.0.0.2");
    /* a.evil.test, evil.test, b.evil.test, good.test; two addresses. */
    assert_int_equal(dnsbl_check_uris(c, p), 6);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->queries, 6);
    assert_int_equal(res->score, 6);
    dnsbl_render(res, &text, 0);
    assert_string_equal(text.data, "dbl.test:uri=127.0.1.2(+4) ubl.test:uri_ip=127.0.0.2(+2)");
    /* The second listed name of the same list and kind is counted, not scored. */
    assert_int_equal(res->hits[0].more, 1);
    assert_string_equal(res->hits[0].identity, "a.evil.test");
    assert_string_equal(res->hits[0].qname, "evil.test.dbl.test");
    str_reset(&text);
    dnsbl_render_log(res, &text);
    assert_string_equal(text.data, "dbl.test:uri:a.evil.test=127.0.1.2(+4, 1 more) "
                        "ubl.test:uri_ip:192.0.2.3=127.0.0.2(+2)");
    str_free(&text);
    uri_parser_free(p);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* At most uri_max_names distinct names are asked. */
static void test_uri_limit(void **state)
{
    const char *sites[] = { "uri:dbl.test", "uri:other.test", NULL };
    struct dnsbl_options o = { .uri_max_names = 10 };
    struct uri_limits lim = { .max_hosts = 500 };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, &o);
    struct dnsbl_check *c = dnsbl_check_new(d, r);
    str body = STR_INIT;
    struct uri_parser *p;

    (void) state;
    for (int i = 0; i < 300; i++)
        str_addf(&body, "http://h%d.test/\n", i);
    p = parse_body(body.data, &lim);
    assert_int_equal(uri_parser_count(p), 300);
    assert_int_equal(dnsbl_check_uris(c, p), 20);
    assert_int_equal(dnsbl_check_collect(c, 0)->queries, 20);
    assert_int_equal(dns_fixture_queries(r), 20);
    uri_parser_free(p);
    str_free(&body);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* TXT reasons when asked for: cleaned and bounded. */
static void test_txt(void **state)
{
    const char *sites[] = { "bl.test*5", "quiet.test*1", NULL };
    struct dnsbl_options o = { .fetch_txt = 1 };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, &o);
    struct dnsbl_check *c = dnsbl_check_new(d, r);
    const struct dnsbl_result *res;
    char big[600];
    str text = STR_INIT;

    (void) state;
    memset(big, 'x', sizeof(big));
    dns_fixture_add(r, "2.2.0.192.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add_txt(r, "2.2.0.192.bl.test", "Listed\x01 see \"http://bl.test/\"\x7f",
                        (ssize_t) strlen("Listed\x01 see \"http://bl.test/\"\x7f"));
    dns_fixture_add(r, "2.2.0.192.quiet.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "2.2.0.192.long.test", DNS_T_A, "127.0.0.2");
    dnsbl_check_ip(c, "192.0.2.2");
    res = dnsbl_check_collect(c, clock_now_ms() + 200);
    assert_int_equal(res->nhits, 2);
    assert_string_equal(res->hits[0].txt, "Listed? see \"http://bl.test/\"?");
    assert_null(res->hits[1].txt);
    dnsbl_render_log(res, &text);
    assert_string_equal(text.data, "bl.test:192.0.2.2=127.0.0.2(+5: Listed? see \\x22http://bl.test/\\x22?) "
                        "quiet.test:192.0.2.2=127.0.0.2(+1)");
    dnsbl_check_free(c);
    dnsbl_unref(d);

    /* A long reason is cut at DNSBL_MAX_TXT bytes. */
    sites[0] = "long.test";
    sites[1] = NULL;
    d = make_lists(sites, &o);
    c = dnsbl_check_new(d, r);
    dns_fixture_add_txt(r, "2.2.0.192.long.test", big, sizeof(big));
    dnsbl_check_ip(c, "192.0.2.2");
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(strlen(res->hits[0].txt), DNSBL_MAX_TXT);
    str_free(&text);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* ------------------------------------------------------------ scores and text */

struct level_case {
    int score;
    struct dnsbl_thresholds t;
    enum dnsbl_level want;
};

static const struct level_case level_cases[] = {
    { 0, { 3, 6, 10 }, DNSBL_LEVEL_NONE },
    { 2, { 3, 6, 10 }, DNSBL_LEVEL_NONE },
    { 3, { 3, 6, 10 }, DNSBL_LEVEL_TAG },
    { 6, { 3, 6, 10 }, DNSBL_LEVEL_QUARANTINE },
    { 9, { 3, 6, 10 }, DNSBL_LEVEL_QUARANTINE },
    { 10, { 3, 6, 10 }, DNSBL_LEVEL_REJECT },
    { 500, { 3, 6, 10 }, DNSBL_LEVEL_REJECT },
    { -5, { 3, 6, 10 }, DNSBL_LEVEL_NONE },
    { 10, { 0, 0, 10 }, DNSBL_LEVEL_REJECT },
    { 9, { 0, 0, 10 }, DNSBL_LEVEL_NONE },
    { 7, { 5, 0, 0 }, DNSBL_LEVEL_TAG },
    { 7, { 0, 0, 0 }, DNSBL_LEVEL_NONE },
    { 7, { 8, 5, 0 }, DNSBL_LEVEL_QUARANTINE },   /* thresholds out of order still rank */
};

static void test_levels(void **state)
{
    (void) state;
    for (size_t i = 0; i < NELEM(level_cases); i++)
        if (dnsbl_score_level(level_cases[i].score, &level_cases[i].t) != level_cases[i].want)
            fail_msg("case %zu: score %d gives %s", i, level_cases[i].score,
                     dnsbl_level_name(dnsbl_score_level(level_cases[i].score, &level_cases[i].t)));
    assert_string_equal(dnsbl_level_name(DNSBL_LEVEL_QUARANTINE), "quarantine");
}

/* Weights add up to a score that the thresholds rank, allow lists pull it down. */
static void test_score_with_thresholds(void **state)
{
    const char *sites[] = { "zen.test=127.0.0.[2..11]*6", "bc.test=127.0.0.2*4", "wl.test*-8", NULL };
    const struct dnsbl_thresholds t = { 3, 6, 10 };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, NULL);
    struct dnsbl_check *c;
    const struct dnsbl_result *res;

    (void) state;
    dns_fixture_add(r, "2.2.0.192.zen.test", DNS_T_A, "127.0.0.4");
    dns_fixture_add(r, "2.2.0.192.bc.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "3.2.0.192.zen.test", DNS_T_A, "127.0.0.4");
    dns_fixture_add(r, "3.2.0.192.wl.test", DNS_T_A, "127.0.0.2");
    c = dnsbl_check_new(d, r);
    dnsbl_check_ip(c, "192.0.2.2");
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->score, 10);
    assert_int_equal(dnsbl_score_level(res->score, &t), DNSBL_LEVEL_REJECT);
    dnsbl_check_free(c);
    c = dnsbl_check_new(d, r);
    dnsbl_check_ip(c, "192.0.2.3");
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->score, -2);
    assert_int_equal(dnsbl_score_level(res->score, &t), DNSBL_LEVEL_NONE);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* The header text: compact, only safe characters, bounded. */
static void test_render_bounds(void **state)
{
    struct dnsbl_hit hits[20];
    struct dnsbl_result res = { 0 };
    str text = STR_INIT;

    (void) state;
    memset(hits, 0, sizeof(hits));
    for (int i = 0; i < 20; i++) {
        hits[i].list = i == 0 ? "bad zone\r\nX-Injected: yes" : "list.example.test";
        hits[i].kind = DNSBL_IP;
        hits[i].identity = (char *) "192.0.2.1";
        hits[i].ncodes = 1;
        hits[i].codes[0].s_addr = htonl(0x7f000002);
        hits[i].weight = i;
    }
    res.hits = hits;
    res.nhits = 20;
    dnsbl_render(&res, &text, 100);
    assert_true(text.len <= 100);
    assert_null(strchr(text.data, '\r'));
    assert_null(strchr(text.data, '\n'));
    assert_non_null(strstr(text.data, "bad?zone??X-Injected??yes=127.0.0.2(+0)"));
    assert_string_equal(text.data + text.len - 4, " ...");
    for (ssize_t i = 0; i < text.len; i++)
        assert_true(text.data[i] >= 0x20 && text.data[i] < 0x7f);
    str_reset(&text);
    dnsbl_render(&res, &text, 10);
    assert_string_equal(text.data, "...");
    str_reset(&text);
    res.nhits = 0;
    dnsbl_render(&res, &text, 0);
    assert_int_equal(text.len, 0);
    str_free(&text);
}

/* ------------------------------------------------------------ health */

struct health_case {
    const char *name;
    const char *site;
    struct rec recs[MAX_RECS];
    int broken;
    enum dnsbl_health health;
    int ipv6_testpoint;
};

static const struct health_case health_cases[] = {
    { "IPv4 test points right", "bl.test",
      { A("2.0.0.127.bl.test", "127.0.0.2") }, 0, DNSBL_HEALTH_OK, 0 },
    { "lists 127.0.0.1: answers everything", "bl.test",
      { A("2.0.0.127.bl.test", "127.0.0.2"), A("1.0.0.127.bl.test", "127.0.0.2") },
      1, DNSBL_HEALTH_LISTS_ALL, 0 },
    { "127.0.0.2 not listed: dead or misspelt zone", "bl.test",
      NO_RECS, 1, DNSBL_HEALTH_NO_TESTPOINT, 0 },
    { "queries refused", "bl.test",
      { A("2.0.0.127.bl.test", "127.255.255.254") }, 1, DNSBL_HEALTH_REFUSED, 0 },
    { "test point answered outside 127/8", "bl.test",
      { A("2.0.0.127.bl.test", "127.0.0.2"), A("1.0.0.127.bl.test", "198.51.100.1") },
      1, DNSBL_HEALTH_REFUSED, 0 },
    { "IPv6 test points", "bl.test",
      { A("2.0.0.127.bl.test", "127.0.0.2"),
        A("2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test", "127.0.0.2") },
      0, DNSBL_HEALTH_OK, 1 },
    { "IPv6 ::FFFF:7F00:1 listed", "bl.test",
      { A("2.0.0.127.bl.test", "127.0.0.2"),
        A("1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test", "127.0.0.2") },
      1, DNSBL_HEALTH_LISTS_ALL, 0 },
    { "IPv6-only list: ::FFFF:7F00:2 listed, 127.0.0.2 not", "bl.test",
      { A("2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.test", "127.0.0.2") },
      0, DNSBL_HEALTH_OK, 1 },
    { "timeout: state kept", "bl.test",
      { TIMEOUT("2.0.0.127.bl.test") }, 0, DNSBL_HEALTH_OK, 0 },
    { "SERVFAIL: state kept", "bl.test",
      { FAIL("2.0.0.127.bl.test", DNS_TEMPFAIL) }, 0, DNSBL_HEALTH_OK, 0 },
    { "domain test points right", "domain:dbl.test",
      { A("test.dbl.test", "127.0.1.2") }, 0, DNSBL_HEALTH_OK, -1 },
    { "domain list lists \"invalid\"", "helo:dbl.test",
      { A("test.dbl.test", "127.0.1.2"), A("invalid.dbl.test", "127.0.1.2") },
      1, DNSBL_HEALTH_LISTS_ALL, -1 },
    { "URI list without \"test\"", "uri:uribl.test",
      NO_RECS, 1, DNSBL_HEALTH_NO_TESTPOINT, -1 },
    { "domain list with a malformed test point answer", "uri:uribl.test",
      { FAIL("test.uribl.test", DNS_BADANSWER) }, 1, DNSBL_HEALTH_REFUSED, -1 },
};

static void test_health(void **state)
{
    (void) state;
    for (size_t i = 0; i < NELEM(health_cases); i++) {
        const struct health_case *c = &health_cases[i];
        const char *sites[] = { c->site, NULL };
        struct dns_resolver *r = dns_fixture_new();
        struct dnsbl *d = make_lists(sites, NULL);
        struct dnsbl_zone_status st;
        int64_t t0 = clock_now_ms();
        int broken;

        add_recs(r, c->recs);
        broken = dnsbl_health_check(d, r, t0 + 150);
        assert_true(clock_now_ms() - t0 < 1000);
        dnsbl_zone_status(d, 0, &st);
        if (broken != c->broken || st.broken != c->broken || st.health != c->health
            || st.ipv6_testpoint != c->ipv6_testpoint)
            fail_msg("%s: broken %d/%d health %s ipv6 %d", c->name, broken, st.broken,
                     dnsbl_health_name(st.health), st.ipv6_testpoint);
        assert_int_equal(st.broken_count, (uint64_t) c->broken);
        dnsbl_unref(d);
        dns_resolver_free(r);
    }
}

/* A list configured as having no test points is not asked for them. */
static void test_no_testpoints(void **state)
{
    const char *sites[] = { "bl.test", "domain:private.test", NULL };
    const char *none[] = { "Private.Test." };
    struct dnsbl_options o = { .no_testpoints = none, .n_no_testpoints = 1 };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, &o);
    struct dnsbl_zone_status st;
    str err = STR_INIT;

    (void) state;
    dns_fixture_add(r, "2.0.0.127.bl.test", DNS_T_A, "127.0.0.2");
    assert_int_equal(dnsbl_health_check(d, r, 0), 0);
    /* Four test points for bl.test (IPv4 and IPv6), none for private.test. */
    assert_int_equal(dns_fixture_queries(r), 4);
    dnsbl_zone_status(d, 1, &st);
    assert_string_equal(st.zone, "private.test");
    assert_int_equal(st.broken, 0);
    dnsbl_unref(d);

    /* A zone that no entry uses is a configuration mistake. */
    none[0] = "other.test";
    assert_null(dnsbl_new(&o, &err));
    assert_non_null(strstr(err.data, "\"other.test\": not the zone of any list entry"));
    str_free(&err);
    dns_resolver_free(r);
}

/* Broken: logged once, skipped by checks, counted; recovered by a passing check. */
static void test_health_cycle(void **state)
{
    const char *sites[] = { "bl.test*5", "good.test*1", NULL };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, NULL);
    struct dnsbl_check *c;
    const struct dnsbl_result *res;
    struct dnsbl_zone_status st;

    (void) state;
    /* bl.test has gone dark by listing everything. */
    dns_fixture_add(r, "2.0.0.127.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "1.0.0.127.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "2.2.0.192.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "2.0.0.127.good.test", DNS_T_A, "127.0.0.2");
    assert_int_equal(dnsbl_health_check(d, r, 0), 1);
    assert_int_equal(dnsbl_health_check(d, r, 0), 1);
    assert_int_equal(log_count("list bl.test is broken (it lists everything"), 1);
    dnsbl_zone_status(d, 0, &st);
    assert_int_equal(st.broken_count, 1);
    assert_string_equal(st.zone, "bl.test");

    /* Checks skip it: the mail is not rejected for it. */
    c = dnsbl_check_new(d, r);
    assert_int_equal(dnsbl_check_ip(c, "192.0.2.2"), 1);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->score, 0);
    assert_int_equal(res->skipped, 1);
    assert_int_equal(res->queries, 1);
    dnsbl_check_free(c);

    /* Fixed: the next health check brings it back. */
    dns_fixture_clear(r);
    dns_fixture_add(r, "2.0.0.127.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "2.0.0.127.good.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "2.2.0.192.bl.test", DNS_T_A, "127.0.0.2");
    assert_int_equal(dnsbl_health_check(d, r, 0), 0);
    assert_int_equal(log_count("list bl.test passes its test points again"), 1);
    c = dnsbl_check_new(d, r);
    dnsbl_check_ip(c, "192.0.2.2");
    assert_int_equal(dnsbl_check_collect(c, 0)->score, 5);
    dnsbl_check_free(c);
    dnsbl_zone_status(d, 0, &st);
    assert_int_equal(st.broken, 0);
    assert_int_equal(st.broken_count, 1);
    assert_string_equal(dnsbl_health_name(st.health), "ok");
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* Mostly error answers in traffic: broken after the minimum sample. Error lines are rate-limited. */
static void test_error_share(void **state)
{
    const char *sites[] = { "bl.test*5", NULL };
    struct dnsbl_options o = { .broken_min_answers = 10, .broken_error_percent = 50, .log_interval_ms = 100 };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_lists(sites, &o);
    struct dnsbl_zone_status st;
    str name = STR_INIT, addr = STR_INIT;
    int skipped = 0;

    (void) state;
    /* 4 good answers, then refusals: at the 10th answer 6 of 10 are errors. */
    for (int i = 1; i <= 20; i++) {
        str_reset(&name);
        str_addf(&name, "%d.2.0.192.bl.test", i);
        dns_fixture_add(r, name.data, DNS_T_A, i <= 4 ? "127.0.0.2" : "127.255.255.254");
    }
    for (int i = 1; i <= 20; i++) {
        struct dnsbl_check *c = dnsbl_check_new(d, r);

        str_reset(&addr);
        str_addf(&addr, "192.0.2.%d", i);
        dnsbl_check_ip(c, addr.data);
        skipped += dnsbl_check_collect(c, 0)->skipped;
        dnsbl_check_free(c);
    }
    dnsbl_zone_status(d, 0, &st);
    assert_int_equal(st.broken, 1);
    assert_int_equal(st.health, DNSBL_HEALTH_ERRORS);
    assert_int_equal(st.queries, 10);
    assert_int_equal(st.listed, 4);
    assert_int_equal(st.errors, 6);
    assert_int_equal(skipped, 10);
    assert_int_equal(log_count("list bl.test is broken (too many error answers)"), 1);
    /* Six refusals within the log interval: one line. */
    assert_int_equal(log_count("query refused (127.255.255.x)"), 1);

    /* After the interval the next line says how many were left out. */
    usleep(150 * 1000);
    dnsbl_health_check(d, r, 0);          /* no test points in this fixture: stays broken */
    dns_fixture_add(r, "2.0.0.127.bl.test", DNS_T_A, "127.0.0.2");
    assert_int_equal(dnsbl_health_check(d, r, 0), 0);
    {
        struct dnsbl_check *c = dnsbl_check_new(d, r);

        dnsbl_check_ip(c, "192.0.2.20");
        dnsbl_check_collect(c, 0);
        dnsbl_check_free(c);
    }
    assert_int_equal(log_count("(and 5 more since the last report)"), 1);
    str_free(&name);
    str_free(&addr);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* ------------------------------------------------------------ local lists */

struct local_case {
    enum dnsbl_kind kind;        /* DNSBL_IP or a domain kind */
    const char *identity;
    enum dnsbl_local want;
};

static const struct local_case local_cases[] = {
    { DNSBL_IP, "192.0.2.66", DNSBL_LOCAL_BLOCK },
    { DNSBL_IP, "192.0.2.67", DNSBL_LOCAL_NONE },
    { DNSBL_IP, "198.51.100.7", DNSBL_LOCAL_BLOCK },
    { DNSBL_IP, "198.51.101.7", DNSBL_LOCAL_NONE },
    { DNSBL_IP, "203.0.113.200", DNSBL_LOCAL_BLOCK },
    { DNSBL_IP, "203.0.113.128", DNSBL_LOCAL_BLOCK },
    { DNSBL_IP, "203.0.113.127", DNSBL_LOCAL_NONE },
    { DNSBL_IP, "2001:db8:bad::1", DNSBL_LOCAL_BLOCK },
    { DNSBL_IP, "2001:db8:bad:ffff::1", DNSBL_LOCAL_BLOCK },
    { DNSBL_IP, "2001:db8:bae::1", DNSBL_LOCAL_NONE },
    { DNSBL_IP, "192.0.2.77", DNSBL_LOCAL_BLOCK },
    { DNSBL_IP, "::ffff:192.0.2.77", DNSBL_LOCAL_BLOCK },
    { DNSBL_IP, "192.0.2.10", DNSBL_LOCAL_ALLOW },
    { DNSBL_IP, "2001:db8:600d:1::5", DNSBL_LOCAL_ALLOW },
    { DNSBL_MAILFROM, "x@spam.example", DNSBL_LOCAL_BLOCK },
    { DNSBL_HELO, "a.b.spam.example", DNSBL_LOCAL_BLOCK },
    { DNSBL_FROM, "notspam.example", DNSBL_LOCAL_NONE },
    { DNSBL_FROM, "example", DNSBL_LOCAL_NONE },      /* single label: not looked up at all */
    { DNSBL_CLIENT_NAME, "mx.dots.example", DNSBL_LOCAL_BLOCK },
    { DNSBL_HELO, "dots.example", DNSBL_LOCAL_BLOCK },
    { DNSBL_HELO, "star.example", DNSBL_LOCAL_BLOCK },
    { DNSBL_HELO, "BAD-case.example.", DNSBL_LOCAL_BLOCK },
    { DNSBL_MAILFROM, "partner.example", DNSBL_LOCAL_ALLOW },
    { DNSBL_MAILFROM, "a.partner.example", DNSBL_LOCAL_ALLOW },
};

/* Lists with the test files, and one DNS list. */
static struct dnsbl *make_local(struct dnsbl_options *o, const char *allow_spec, const char *block_spec)
{
    static const char *sites[] = { "bl.test*5", "domain:dbl.test*3", "uri:uribl.test*4", NULL };
    struct dnsbl_options def = { 0 };
    const char *allow[] = { allow_spec }, *block[] = { block_spec };
    str err = STR_INIT;
    struct dnsbl *d;

    if (o == NULL)
        o = &def;
    o->sites = sites;
    o->n_sites = 3;
    o->local_allow = allow;
    o->n_local_allow = allow_spec != NULL;
    o->local_block = block;
    o->n_local_block = block_spec != NULL;
    d = dnsbl_new(o, &err);
    if (d == NULL)
        fail_msg("dnsbl_new: %s", str_cstr(&err));
    str_free(&err);
    return d;
}

static void test_local_files(void **state)
{
    char *allow = data_path("local-allow.txt"), *block = data_path("local-block.txt");
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_local(NULL, allow, block);

    (void) state;
    /* Four bad lines in the block file, each named. */
    assert_int_equal(log_count("line ignored"), 4);
    assert_int_equal(log_count("local-block.txt:15: not an address"), 1);
    assert_int_equal(log_count("local-block.txt:16: prefix length over 32"), 1);
    assert_int_equal(log_count("local-block.txt:17: more than one entry"), 1);
    assert_int_equal(log_count("local-block.txt:18: not an address, network or domain name"), 1);
    for (size_t i = 0; i < NELEM(local_cases); i++) {
        const struct local_case *c = &local_cases[i];
        struct dnsbl_check *chk = dnsbl_check_new(d, r);
        const struct dnsbl_result *res;

        if (c->kind == DNSBL_IP)
            dnsbl_check_ip(chk, c->identity);
        else
            dnsbl_check_domain(chk, c->kind, c->identity);
        res = dnsbl_check_collect(chk, 0);
        if (res->local != c->want)
            fail_msg("%s: local %d, want %d", c->identity, res->local, c->want);
        /* A local verdict asks no DNS. */
        if (c->want != DNSBL_LOCAL_NONE)
            assert_int_equal(res->queries, 0);
        assert_int_equal(res->score, 0);
        dnsbl_check_free(chk);
    }
    dnsbl_unref(d);
    dns_resolver_free(r);
    mem_free(allow);
    mem_free(block);
}

/* A local hit stops DNS: queries in flight are not waited for; allow wins over block. */
static void test_local_short_circuit(void **state)
{
    char *allow = data_path("local-allow.txt"), *block = data_path("local-block.txt");
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d = make_local(NULL, allow, block);
    struct dnsbl_check *c = dnsbl_check_new(d, r);
    const struct dnsbl_result *res;
    str text = STR_INIT;
    int64_t t0;

    (void) state;
    dns_fixture_fail(r, "2.2.0.192.bl.test", DNS_T_A, DNS_TEMPFAIL, 1);
    assert_int_equal(dnsbl_check_ip(c, "192.0.2.2"), 1);
    assert_int_equal(dnsbl_check_domain(c, DNSBL_MAILFROM, "user@partner.example"), 0);
    t0 = clock_now_ms();
    res = dnsbl_check_collect(c, t0 + 5000);
    assert_true(clock_now_ms() - t0 < 500);
    assert_int_equal(res->local, DNSBL_LOCAL_ALLOW);
    assert_int_equal(res->unknown, 0);
    dnsbl_render(res, &text, 0);
    assert_string_equal(text.data, "local:mailfrom=allow");
    /* Nothing more is asked once a local list decided. */
    assert_int_equal(dnsbl_check_domain(c, DNSBL_HELO, "mx.evil.test"), 0);
    dnsbl_check_free(c);

    c = dnsbl_check_new(d, r);
    assert_int_equal(dnsbl_check_ip(c, "192.0.2.66"), 0);
    assert_int_equal(dnsbl_check_domain(c, DNSBL_HELO, "mx.partner.example"), 0);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->local, DNSBL_LOCAL_ALLOW);
    str_reset(&text);
    dnsbl_render(res, &text, 0);
    assert_string_equal(text.data, "local:ip=block local:helo=allow");
    str_reset(&text);
    dnsbl_render_log(res, &text);
    assert_non_null(strstr(text.data, "local:ip:192.0.2.66=block("));
    assert_non_null(strstr(text.data, "local-block.txt)"));
    dnsbl_check_free(c);

    c = dnsbl_check_new(d, r);
    dnsbl_check_ip(c, "198.51.100.1");
    assert_int_equal(dnsbl_check_collect(c, 0)->local, DNSBL_LOCAL_BLOCK);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
    str_free(&text);
    mem_free(allow);
    mem_free(block);
}

/* URL hosts: local files apply only with the uri kind; an allowed host is only not asked. */
static void test_local_uri(void **state)
{
    char *allow = data_path("local-allow.txt"), *block = data_path("local-block.txt");
    str aspec = STR_INIT, bspec = STR_INIT;
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d;
    struct dnsbl_check *c;
    struct uri_parser *p = parse_body("http://partner.example/ http://spam.example/ http://x.test/", NULL);
    const struct dnsbl_result *res;

    (void) state;
    /* Default kinds: URL hosts are not looked up locally. */
    d = make_local(NULL, allow, block);
    c = dnsbl_check_new(d, r);
    assert_int_equal(dnsbl_check_uris(c, p), 3);
    assert_int_equal(dnsbl_check_collect(c, 0)->local, DNSBL_LOCAL_NONE);
    dnsbl_check_free(c);
    dnsbl_unref(d);

    str_addf(&aspec, "uri:%s", allow);
    d = make_local(NULL, aspec.data, NULL);
    c = dnsbl_check_new(d, r);
    assert_int_equal(dnsbl_check_uris(c, p), 2);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->local, DNSBL_LOCAL_NONE);
    assert_int_equal(res->nhits, 0);
    /* The allow file with the uri kind does not cover the client. */
    assert_int_equal(dnsbl_check_ip(c, "192.0.2.10"), 1);
    dnsbl_check_free(c);
    dnsbl_unref(d);

    str_addf(&bspec, "uri+uri_ip:%s", block);
    d = make_local(NULL, NULL, bspec.data);
    c = dnsbl_check_new(d, r);
    dnsbl_check_uris(c, p);
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->local, DNSBL_LOCAL_BLOCK);
    assert_int_equal(res->hits[0].kind, DNSBL_URI);
    assert_string_equal(res->hits[0].identity, "spam.example");
    dnsbl_check_free(c);
    dnsbl_unref(d);

    uri_parser_free(p);
    str_free(&aspec);
    str_free(&bspec);
    dns_resolver_free(r);
    mem_free(allow);
    mem_free(block);
}

/* Write text to path, with an mtime of base+offset seconds. */
static void write_file(const char *path, const char *text, time_t mtime)
{
    FILE *f = fopen(path, "w");
    struct timeval tv[2] = { { mtime, 0 }, { mtime, 0 } };

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(utimes(path, tv), 0);
}

static enum dnsbl_local local_ip(struct dnsbl *d, struct dns_resolver *r, const char *addr)
{
    struct dnsbl_check *c = dnsbl_check_new(d, r);
    enum dnsbl_local l;

    dnsbl_check_ip(c, addr);
    l = dnsbl_check_collect(c, 0)->local;
    dnsbl_check_free(c);
    return l;
}

/* A changed file is re-read; a vanished one keeps its contents; the interval bounds stat(). */
static void test_local_reread(void **state)
{
    char path[] = "/tmp/rampart-dnsbl-XXXXXX";
    int fd = mkstemp(path);
    struct dnsbl_options o = { .local_check_interval_ms = -1 };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl *d;
    time_t base = 1700000000;

    (void) state;
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "192.0.2.1\n", base);
    d = make_local(&o, NULL, path);
    assert_int_equal(local_ip(d, r, "192.0.2.1"), DNSBL_LOCAL_BLOCK);
    assert_int_equal(local_ip(d, r, "192.0.2.2"), DNSBL_LOCAL_NONE);

    /* Another size. */
    write_file(path, "# now\n192.0.2.2\n", base + 10);
    assert_int_equal(local_ip(d, r, "192.0.2.1"), DNSBL_LOCAL_NONE);
    assert_int_equal(local_ip(d, r, "192.0.2.2"), DNSBL_LOCAL_BLOCK);
    assert_int_equal(log_count("loaded"), 1);
    /* Same size, another mtime. */
    write_file(path, "# now\n192.0.2.3\n", base + 20);
    assert_int_equal(local_ip(d, r, "192.0.2.3"), DNSBL_LOCAL_BLOCK);
    /* Unchanged: not read again. */
    assert_int_equal(local_ip(d, r, "192.0.2.3"), DNSBL_LOCAL_BLOCK);
    assert_int_equal(log_count("loaded"), 2);
    /* Gone: the last contents stay, said once. */
    unlink(path);
    assert_int_equal(local_ip(d, r, "192.0.2.3"), DNSBL_LOCAL_BLOCK);
    assert_int_equal(local_ip(d, r, "192.0.2.3"), DNSBL_LOCAL_BLOCK);
    assert_int_equal(log_count("keeping its previous contents"), 1);
    /* Back again. */
    write_file(path, "192.0.2.4/31\n", base + 30);
    assert_int_equal(local_ip(d, r, "192.0.2.5"), DNSBL_LOCAL_BLOCK);
    dnsbl_unref(d);

    /* With a long interval a change is not even looked at yet. */
    o.local_check_interval_ms = 60000;
    d = make_local(&o, NULL, path);
    write_file(path, "192.0.2.9\n", base + 40);
    assert_int_equal(local_ip(d, r, "192.0.2.5"), DNSBL_LOCAL_BLOCK);
    assert_int_equal(local_ip(d, r, "192.0.2.9"), DNSBL_LOCAL_NONE);
    dnsbl_unref(d);
    unlink(path);
    dns_resolver_free(r);
}

/* Lists shared by threads while a local file changes under them. */
struct thread_arg {
    struct dnsbl *d;
    struct dns_resolver *r;
    int blocked;
};

static void *check_thread(void *p)
{
    struct thread_arg *a = p;

    for (int i = 0; i < 300; i++) {
        struct dnsbl_check *c = dnsbl_check_new(a->d, a->r);
        const struct dnsbl_result *res;

        dnsbl_check_ip(c, i % 2 ? "192.0.2.1" : "192.0.2.2");
        dnsbl_check_domain(c, DNSBL_HELO, "mx.example.test");
        res = dnsbl_check_collect(c, 0);
        a->blocked += res->local == DNSBL_LOCAL_BLOCK;
        assert_true(res->local != DNSBL_LOCAL_BLOCK || res->queries == 0 || res->nhits > 0);
        dnsbl_check_free(c);
    }
    return NULL;
}

static void test_threads(void **state)
{
    char path[] = "/tmp/rampart-dnsbl-XXXXXX";
    int fd = mkstemp(path);
    struct dnsbl_options o = { .local_check_interval_ms = -1 };
    struct dns_resolver *r = dns_fixture_new();
    struct thread_arg args[4];
    pthread_t th[4];
    struct dnsbl *d;

    (void) state;
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "192.0.2.1\n", 1700000000);
    dns_fixture_add(r, "2.2.0.192.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "2.0.0.127.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "test.dbl.test", DNS_T_A, "127.0.1.2");
    d = make_local(&o, NULL, path);
    for (int i = 0; i < 4; i++) {
        args[i].d = d;
        args[i].r = r;
        args[i].blocked = 0;
        assert_int_equal(pthread_create(&th[i], NULL, check_thread, &args[i]), 0);
    }
    /* Replaced atomically, as an admin should: both versions block 192.0.2.1 only. */
    for (int i = 0; i < 50; i++) {
        str tmp = STR_INIT;

        str_addf(&tmp, "%s.new", path);
        write_file(tmp.data, i % 2 ? "192.0.2.1\n" : "# other\n192.0.2.0/31\n", 1700000000 + i);
        assert_int_equal(rename(tmp.data, path), 0);
        str_free(&tmp);
        dnsbl_health_check(d, r, 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].blocked, 150);
    }
    dnsbl_unref(d);
    unlink(path);
    dns_resolver_free(r);
}

/* Missing or bad local files are configuration errors at start. */
static void test_local_errors(void **state)
{
    const char *block[] = { "/nonexistent/rampart-block.txt", "ip:" };
    struct dnsbl_options o = { .local_block = block, .n_local_block = 2 };
    str err = STR_INIT;

    (void) state;
    assert_null(dnsbl_new(&o, &err));
    assert_non_null(strstr(err.data, "/nonexistent/rampart-block.txt"));
    assert_non_null(strstr(err.data, "no file name"));
    str_reset(&err);
    o.n_local_block = 0;
    o.public_suffix_file = "/nonexistent/psl.dat";
    assert_null(dnsbl_new(&o, &err));
    assert_non_null(strstr(err.data, "/nonexistent/psl.dat"));
    str_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reverse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ip_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_time_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_score_with_thresholds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_testpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_short_circuit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_reread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
