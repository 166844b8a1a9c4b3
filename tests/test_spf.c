/*
 * test_spf.c - SPF: table-driven checks of both engines on fixture DNS
 * (junk and duplicate records, long and split records, include loops,
 * limits, IPv4-mapped clients, the null sender, the HELO identity,
 * timeouts, explanations), macro expansion (RFC 7208 7.4 examples),
 * macro bombs with huge local parts, 8-bit local parts, and the
 * Received-SPF value with hostile input. Every case must also survive
 * ASan/UBSan.
 */
#include "config.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dns.h"
#include "log.h"
#include "mem.h"
#include "spf.h"
#include "util.h"

/* One fixture record; type 0 ends a list, DNS_T_TXT with len >= 0 takes raw bytes. */
struct zone_rr {
    const char *name;
    uint16_t type;
    const char *data;
    ssize_t len;                  /* for TXT: -1 = strlen */
    int timeout;                  /* no answer at all */
};

#define ZONE_MAX 12
#define BOTH 2                    /* run the case on both engines */

struct spf_case {
    const char *name;
    struct zone_rr zone[ZONE_MAX];
    const char *ip;
    const char *helo;
    const char *mail_from;
    int helo_identity;
    int engines;                  /* 1: rampart only; BOTH: also libspf2 (status only) */
    enum spf_status want;
    const char *want_sender;      /* NULL: not checked */
    const char *want_exp;         /* NULL: not checked; "" must be absent */
    const char *want_mech;        /* NULL: not checked */
    int timeout_ms;               /* 0: default */
};

#define TXT(n, d) { n, DNS_T_TXT, d, -1, 0 }
#define TXTB(n, d) { n, DNS_T_TXT, d, (ssize_t) sizeof(d) - 1, 0 }
#define RR(n, t, d) { n, t, d, 0, 0 }
#define TIMEOUT(n, t) { n, t, NULL, 0, 1 }

static const struct spf_case cases[] = {
    { "simple pass", { TXT("example.org", "v=spf1 ip4:192.0.2.0/24 -all") },
      "192.0.2.7", "mail.example.org", "alice@example.org", 0, BOTH, SPF_STATUS_PASS,
      "alice@example.org", "", "ip4:192.0.2.0/24", 0 },
    { "simple fail, default explanation", { TXT("example.org", "v=spf1 ip4:192.0.2.0/24 -all") },
      "198.51.100.1", "mail.example.org", "alice@example.org", 0, BOTH, SPF_STATUS_FAIL,
      NULL, "See https://example.net/why?d=example.org&ip=198.51.100.1", "-all", 0 },
    { "no record", { TXT("example.org", "google-site-verification=abc") },
      "192.0.2.7", "mail.example.org", "alice@example.org", 0, BOTH, SPF_STATUS_NONE, NULL, NULL, NULL, 0 },
    { "nxdomain", { TXT("other.example", "v=spf1 -all") },
      "192.0.2.7", "mail.example.org", "alice@example.org", 0, BOTH, SPF_STATUS_NONE, NULL, NULL, NULL, 0 },
    { "junk record", { TXT("example.org", "v=spf1 \x01\x02 <script> ip4:192.0.2.7 -all") },
      "192.0.2.7", "h", "a@example.org", 0, 1, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "junk mechanism", { TXT("example.org", "v=spf1 ipv4:192.0.2.7 -all") },
      "192.0.2.7", "h", "a@example.org", 0, BOTH, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "binary junk beside the record", { TXTB("example.org", "\xff\xfe\x00\x01junk"),
                                         TXT("example.org", "v=spf1 +all") },
      "192.0.2.7", "h", "a@example.org", 0, BOTH, SPF_STATUS_PASS, NULL, NULL, NULL, 0 },
    { "NUL inside the record", { TXTB("example.org", "v=spf1 a:x.example.org\0 +all") },
      "192.0.2.7", "h", "a@example.org", 0, 1, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "two records", { TXT("example.org", "v=spf1 +all"), TXT("example.org", "v=spf1 -all") },
      "192.0.2.7", "h", "a@example.org", 0, BOTH, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "v=spf10 is not a record", { TXT("example.org", "v=spf10 +all"), TXT("example.org", "V=SPF1 ~all") },
      "192.0.2.7", "h", "a@example.org", 0, BOTH, SPF_STATUS_SOFTFAIL, NULL, NULL, NULL, 0 },
    { "split strings, joined", { TXT("example.org", "v=spf1 " "ip4:192.0.2.7" " -all") },
      "192.0.2.7", "h", "a@example.org", 0, BOTH, SPF_STATUS_PASS, NULL, NULL, NULL, 0 },
    { "include loop", { TXT("a.example", "v=spf1 include:b.example -all"),
                        TXT("b.example", "v=spf1 include:a.example -all") },
      "192.0.2.7", "h", "x@a.example", 0, 1, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "redirect loop", { TXT("a.example", "v=spf1 redirect=a.example") },
      "192.0.2.7", "h", "x@a.example", 0, BOTH, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "include pass", { TXT("a.example", "v=spf1 include:_spf.b.example -all"),
                        TXT("_spf.b.example", "v=spf1 ip6:2001:db8::/32 ~all") },
      "2001:db8::25", "h", "x@a.example", 0, BOTH, SPF_STATUS_PASS, NULL, NULL, "include:_spf.b.example", 0 },
    { "include of no record", { TXT("a.example", "v=spf1 include:none.example -all") },
      "192.0.2.7", "h", "x@a.example", 0, 1, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "include temperror", { TXT("a.example", "v=spf1 include:slow.example -all"),
                             TIMEOUT("slow.example", DNS_T_TXT) },
      "192.0.2.7", "h", "x@a.example", 0, 1, SPF_STATUS_TEMPERROR, NULL, NULL, NULL, 300 },
    { "IPv4-mapped IPv6 client", { TXT("example.org", "v=spf1 ip6:::ffff:0:0/96 ip4:192.0.2.7 -all") },
      "::ffff:192.0.2.7", "h", "a@example.org", 0, BOTH, SPF_STATUS_PASS, NULL, NULL, "ip4:192.0.2.7", 0 },
    { "IPv4-mapped client and a", { TXT("example.org", "v=spf1 a -all"), RR("example.org", DNS_T_A, "192.0.2.8") },
      "::ffff:192.0.2.8", "h", "a@example.org", 0, BOTH, SPF_STATUS_PASS, NULL, NULL, "a", 0 },
    { "null sender uses postmaster@helo", { TXT("mail.example.org", "v=spf1 a -all"),
                                            RR("mail.example.org", DNS_T_A, "192.0.2.9") },
      "192.0.2.9", "mail.example.org", "", 0, BOTH, SPF_STATUS_PASS, "postmaster@mail.example.org", NULL, NULL, 0 },
    { "empty local part", { TXT("example.org", "v=spf1 -all exp=why.example.org"),
                            TXT("why.example.org", "%{l} of %{o} says no") },
      "192.0.2.9", "h", "@example.org", 0, 1, SPF_STATUS_FAIL, "postmaster@example.org",
      "postmaster of example.org says no", NULL, 0 },
    { "HELO identity", { TXT("mail.example.org", "v=spf1 -all"), TXT("example.org", "v=spf1 +all") },
      "192.0.2.9", "mail.example.org", "a@example.org", 1, BOTH, SPF_STATUS_FAIL,
      "postmaster@mail.example.org", NULL, NULL, 0 },
    { "HELO not a domain", { TXT("example.org", "v=spf1 +all") },
      "192.0.2.9", "[192.0.2.9]", "a@example.org", 1, BOTH, SPF_STATUS_NONE, NULL, NULL, NULL, 0 },
    { "timeout is temperror", { TIMEOUT("example.org", DNS_T_TXT) },
      "192.0.2.9", "h", "a@example.org", 0, BOTH, SPF_STATUS_TEMPERROR, NULL, NULL, NULL, 200 },
    { "servfail is temperror", { { "example.org", DNS_T_TXT, "SERVFAIL", 0, 0 } },
      "192.0.2.9", "h", "a@example.org", 0, 1, SPF_STATUS_TEMPERROR, NULL, NULL, NULL, 0 },
    { "mx", { TXT("example.org", "v=spf1 mx/24 -all"), RR("example.org", DNS_T_MX, "10 mx1.example.org"),
              RR("example.org", DNS_T_MX, "20 ."), RR("mx1.example.org", DNS_T_A, "192.0.2.1") },
      "192.0.2.200", "h", "a@example.org", 0, BOTH, SPF_STATUS_PASS, NULL, NULL, "mx/24", 0 },
    { "mx address timeout", { TXT("example.org", "v=spf1 mx -all"), RR("example.org", DNS_T_MX, "10 mx1.example.org"),
                              TIMEOUT("mx1.example.org", DNS_T_A) },
      "192.0.2.200", "h", "a@example.org", 0, 1, SPF_STATUS_TEMPERROR, NULL, NULL, NULL, 200 },
    { "ptr", { TXT("example.org", "v=spf1 ptr -all"), RR("9.2.0.192.in-addr.arpa", DNS_T_PTR, "evil.example.net"),
               RR("9.2.0.192.in-addr.arpa", DNS_T_PTR, "mail.example.org"),
               RR("mail.example.org", DNS_T_A, "192.0.2.9") },
      "192.0.2.9", "h", "a@example.org", 0, BOTH, SPF_STATUS_PASS, NULL, NULL, "ptr", 0 },
    { "ptr not validated", { TXT("example.org", "v=spf1 ptr -all"),
                             RR("9.2.0.192.in-addr.arpa", DNS_T_PTR, "mail.example.org"),
                             RR("mail.example.org", DNS_T_A, "192.0.2.10") },
      "192.0.2.9", "h", "a@example.org", 0, BOTH, SPF_STATUS_FAIL, NULL, NULL, NULL, 0 },
    { "void lookup limit", { TXT("example.org", "v=spf1 a:n1.example.org exists:n2.example.org mx:n3.example.org ?all") },
      "192.0.2.9", "h", "a@example.org", 0, 1, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "DNS term limit", { TXT("example.org", "v=spf1 a a a a a a a a a a a -all"), RR("example.org", DNS_T_A, "192.0.2.1") },
      "192.0.2.9", "h", "a@example.org", 0, 1, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "exp with hostile bytes from the local part",
      { TXT("example.org", "v=spf1 -all exp=why.example.org"), TXT("why.example.org", "no %{l} from %{i}") },
      "192.0.2.9", "h", "x\r\ny\x01\x7f\xe9z@example.org", 0, 1, SPF_STATUS_FAIL, NULL,
      "no x??y???z from 192.0.2.9", NULL, 0 },
    { "exp with control bytes is ignored", { TXT("example.org", "v=spf1 -all exp=why.example.org"),
                                             TXT("why.example.org", "bad\r\nInjected: header") },
      "192.0.2.9", "h", "a@example.org", 0, 1, SPF_STATUS_FAIL, NULL,
      "See https://example.net/why?d=example.org&ip=192.0.2.9", NULL, 0 },
    { "8-bit local part in a name", { TXT("example.org", "v=spf1 exists:%{l}.u.example.org -all"),
                                      RR("j\\195\\169r\\195\\180me.u.example.org", DNS_T_A, "127.0.0.2") },
      "192.0.2.9", "h", "j\xc3\xa9r\xc3\xb4me@example.org", 0, 1, SPF_STATUS_PASS, NULL, NULL, NULL, 0 },
    { "8-bit local part, URL-escaped", { TXT("example.org", "v=spf1 exists:%{L}.u.example.org -all"),
                                         RR("j%C3%A9r%C3%B4me.u.example.org", DNS_T_A, "127.0.0.2") },
      "192.0.2.9", "h", "j\xc3\xa9r\xc3\xb4me@example.org", 0, 1, SPF_STATUS_PASS, NULL, NULL, NULL, 0 },
    { "8-bit domain", { TXT("example.org", "v=spf1 +all") },
      "192.0.2.9", "h", "a@exampl\xc3\xa9.org", 0, BOTH, SPF_STATUS_NONE, NULL, NULL, NULL, 0 },
    { "redirect", { TXT("example.org", "v=spf1 redirect=_spf.example.net"),
                    TXT("_spf.example.net", "v=spf1 ip4:192.0.2.0/28 -all exp=e.example.net"),
                    TXT("e.example.net", "%{d} refuses %{s}") },
      "192.0.2.99", "h", "a@example.org", 0, 1, SPF_STATUS_FAIL, NULL, "_spf.example.net refuses a@example.org",
      "-all", 0 },
    { "include does not explain", { TXT("example.org", "v=spf1 include:i.example.net ?all"),
                                    TXT("i.example.net", "v=spf1 -all exp=e.example.net"),
                                    TXT("e.example.net", "never") },
      "192.0.2.99", "h", "a@example.org", 0, 1, SPF_STATUS_NEUTRAL, NULL, "", "?all", 0 },
    { "domain-spec syntax", { TXT("example.org", "v=spf1 a:example -all") },
      "192.0.2.99", "h", "a@example.org", 0, 1, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "cidr forms", { TXT("example.org", "v=spf1 ip4:192.0.2.0/033 -all") },
      "192.0.2.99", "h", "a@example.org", 0, 1, SPF_STATUS_PERMERROR, NULL, NULL, NULL, 0 },
    { "ip4 /0", { TXT("example.org", "v=spf1 ip4:0.0.0.0/0 -all") },
      "203.0.113.5", "h", "a@example.org", 0, 1, SPF_STATUS_PASS, NULL, NULL, NULL, 0 },
    { "ip6 prefix", { TXT("example.org", "v=spf1 ip6:2001:db8:8000::/33 -all") },
      "2001:db8:7fff::1", "h", "a@example.org", 0, BOTH, SPF_STATUS_FAIL, NULL, NULL, NULL, 0 },
};

/* Load a case's zone into a fresh fixture. */
static struct dns_resolver *load_zone(const struct spf_case *c)
{
    struct dns_resolver *r = dns_fixture_new();

    dns_set_timeout(r, 1000);
    for (int i = 0; i < ZONE_MAX && c->zone[i].name; i++) {
        const struct zone_rr *z = &c->zone[i];

        if (z->timeout)
            dns_fixture_fail(r, z->name, z->type, DNS_TEMPFAIL, 1);
        else if (z->data && strcmp(z->data, "SERVFAIL") == 0)
            dns_fixture_fail(r, z->name, z->type, DNS_TEMPFAIL, 0);
        else if (z->type == DNS_T_TXT)
            dns_fixture_add_txt(r, z->name, z->data, z->len >= 0 ? z->len : (ssize_t) strlen(z->data));
        else
            assert_int_equal(dns_fixture_add(r, z->name, z->type, z->data), 0);
    }
    return r;
}

/* Run one case on one engine. */
static void run_case(const struct spf_case *c, enum spf_engine engine)
{
    struct dns_resolver *r = load_zone(c);
    struct spf_request req;
    struct spf_options opts;
    struct spf_result res;
    int64_t start = clock_now_ms();

    memset(&req, 0, sizeof(req));
    assert_int_equal(spf_request_set_ip(&req, c->ip), 0);
    req.helo = c->helo;
    req.mail_from = c->mail_from;
    req.receiver = "mx.example.net";
    spf_options_init(&opts);
    opts.engine = engine;
    opts.default_explanation = "See https://example.net/why?d=%{d}&ip=%{c}";
    if (c->timeout_ms)
        opts.timeout_ms = c->timeout_ms;
    if (c->helo_identity)
        spf_check_helo(r, &req, &opts, &res);
    else
        spf_check_mailfrom(r, &req, &opts, &res);
    if (res.status != c->want)
        fail_msg("%s (%s): got %s, want %s (problem: %s)", c->name, spf_engine_name(engine),
                 spf_status_name(res.status), spf_status_name(c->want), res.problem ? res.problem : "-");
    assert_int_equal(res.identity, c->helo_identity ? SPF_IDENTITY_HELO : SPF_IDENTITY_MAILFROM);
    if (c->want_sender)
        assert_string_equal(res.sender, c->want_sender);
    if (engine == SPF_ENGINE_RAMPART) {
        if (c->want_exp && c->want_exp[0] == '\0' && res.explanation)
            fail_msg("%s: unexpected explanation \"%s\"", c->name, res.explanation);
        if (c->want_exp && c->want_exp[0]) {
            if (res.explanation == NULL)
                fail_msg("%s: no explanation", c->name);
            assert_string_equal(res.explanation, c->want_exp);
        }
        if (c->want_mech) {
            if (res.mechanism == NULL)
                fail_msg("%s: no mechanism", c->name);
            assert_string_equal(res.mechanism, c->want_mech);
        }
    }
    if (res.explanation)
        for (const char *p = res.explanation; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    if (res.status == SPF_STATUS_TEMPERROR || res.status == SPF_STATUS_PERMERROR)
        assert_non_null(res.problem);
    /* A timeout case must end near its deadline, not the resolver's 1 s. */
    if (c->timeout_ms)
        assert_true(clock_now_ms() - start < c->timeout_ms + 500);
    spf_result_free(&res);
    dns_resolver_free(r);
}

/* Every case of the table, on rampart's engine and, where marked, on libspf2. */
static void test_cases(void **state)
{
    (void) state;
    for (size_t i = 0; i < NELEM(cases); i++) {
        run_case(&cases[i], SPF_ENGINE_RAMPART);
        if (cases[i].engines == BOTH)
            run_case(&cases[i], SPF_ENGINE_LIBSPF2);
    }
}

/* A record over 450 bytes is still evaluated; the match is at its end. */
static void test_long_record(void **state)
{
    struct dns_resolver *r = dns_fixture_new();
    struct spf_request req;
    struct spf_result res;
    str rec = STR_INIT;

    (void) state;
    str_adds(&rec, "v=spf1");
    for (int i = 0; i < 60; i++)
        str_addf(&rec, " ip4:198.51.100.%d", i);
    str_adds(&rec, " ip4:192.0.2.77 -all");
    assert_true(rec.len > 450);
    dns_fixture_add_txt(r, "example.org", str_cstr(&rec), rec.len);
    memset(&req, 0, sizeof(req));
    spf_request_set_ip(&req, "192.0.2.77");
    req.mail_from = "a@example.org";
    assert_int_equal(spf_check_mailfrom(r, &req, NULL, &res), SPF_STATUS_PASS);
    assert_string_equal(res.mechanism, "ip4:192.0.2.77");
    spf_result_free(&res);
    str_free(&rec);
    dns_resolver_free(r);
}

/* Huge local parts against records full of macros: bounded, linear, no crash. */
static void test_macro_bomb(void **state)
{
    struct dns_resolver *r = dns_fixture_new();
    struct spf_request req;
    struct spf_result res;
    str local = STR_INIT, rec = STR_INIT, exp = STR_INIT;
    int64_t start = clock_now_ms();

    (void) state;
    for (int i = 0; i < 100000; i++)
        str_adds(&local, "a.");
    str_adds(&local, "b@example.org");
    /* Each %{l} is 200 kB: the first expansion is over the limit, so no match. */
    str_adds(&rec, "v=spf1");
    for (int i = 0; i < 50; i++)
        str_adds(&rec, " exists:%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}.x.example.org");
    str_adds(&rec, " ?all");
    dns_fixture_add_txt(r, "example.org", str_cstr(&rec), rec.len);
    memset(&req, 0, sizeof(req));
    spf_request_set_ip(&req, "192.0.2.1");
    req.mail_from = str_cstr(&local);
    /* 50 terms: the lookup limit ends it first. */
    assert_int_equal(spf_check_mailfrom(r, &req, NULL, &res), SPF_STATUS_PERMERROR);
    spf_result_free(&res);

    /* %{l1r} keeps one part of 5000: little output, much scanning; the work is bounded. */
    dns_fixture_clear(r);
    str_reset(&local);
    for (int i = 0; i < 5000; i++)
        str_adds(&local, "a.");
    str_adds(&local, "b@example.org");
    req.mail_from = str_cstr(&local);
    str_reset(&rec);
    str_adds(&rec, "v=spf1 exists:");
    for (int i = 0; i < 600; i++)
        str_adds(&rec, "%{l1r}");
    str_adds(&rec, ".x.example.org -all exp=e.example.org");
    assert_true(rec.len < DNS_MAX_TXT_LEN);
    dns_fixture_add_txt(r, "example.org", str_cstr(&rec), rec.len);
    str_adds(&exp, "%{l}");
    for (int i = 0; i < 400; i++)
        str_adds(&exp, "%{s}%{L}");
    dns_fixture_add_txt(r, "e.example.org", str_cstr(&exp), exp.len);
    assert_int_equal(spf_check_mailfrom(r, &req, NULL, &res), SPF_STATUS_FAIL);
    /* The explanation is cut at its limit. */
    assert_non_null(res.explanation);
    assert_true(strlen(res.explanation) <= DEF_SPF_MAX_EXPLANATION_SIZE + 3);
    spf_result_free(&res);

    /* The libspf2 engine on the same input must not crash either. */
    {
        struct spf_options opts;

        spf_options_init(&opts);
        opts.engine = SPF_ENGINE_LIBSPF2;
        spf_check_mailfrom(r, &req, &opts, &res);
        spf_result_free(&res);
    }
    assert_true(clock_now_ms() - start < 20000);
    str_free(&local);
    str_free(&rec);
    str_free(&exp);
    dns_resolver_free(r);
}

/* Macro expansion: the examples of RFC 7208 7.4, plus transformers and escapes. */
static void test_macros(void **state)
{
    static const struct {
        const char *in;
        const char *out;
        int flags;
    } m[] = {
        { "%{s}", "strong-bad@email.example.com", 0 },
        { "%{o}", "email.example.com", 0 },
        { "%{d}", "email.example.com", 0 },
        { "%{d4}", "email.example.com", 0 },
        { "%{d3}", "email.example.com", 0 },
        { "%{d2}", "example.com", 0 },
        { "%{d1}", "com", 0 },
        { "%{dr}", "com.example.email", 0 },
        { "%{d2r}", "example.email", 0 },
        { "%{l}", "strong-bad", 0 },
        { "%{l-}", "strong.bad", 0 },
        { "%{lr}", "strong-bad", 0 },
        { "%{lr-}", "bad.strong", 0 },
        { "%{l1r-}", "strong", 0 },
        { "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", 0 },
        { "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", 0 },
        { "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", 0 },
        { "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com", 0 },
        { "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net", 0 },
        { "%%%_%-", "% %20", 0 },
        { "%{S}", "strong-bad%40email.example.com", 0 },
        { "%{d999999999999}", "email.example.com", 0 },
        { "%{l+-=,/_.}", "strong.bad", 0 },
        { "%{c} %{r} %{h}", "192.0.2.3 mx.example.net helo.example.org", SPF_MACRO_EXPLAIN },
        { "%{p}", "unknown", 0 },
    };
    static const char *const bad[] = {
        "%", "%{", "%{d", "%{x}", "%{d0}", "%{d2q}", "%(d)", "a%b", "%{c}", "%{r}", "%{t}", "sp ace",
    };
    static const unsigned char ip[4] = { 192, 0, 2, 3 };
    struct spf_macro_env env;
    str out = STR_INIT;

    (void) state;
    memset(&env, 0, sizeof(env));
    env.sender = "strong-bad@email.example.com";
    env.local = "strong-bad";
    env.sender_domain = "email.example.com";
    env.domain = "email.example.com";
    env.helo = "helo.example.org";
    env.receiver = "mx.example.net";
    env.family = AF_INET;
    env.ip = ip;
    for (size_t i = 0; i < NELEM(m); i++) {
        str_reset(&out);
        if (spf_macro_expand(&env, m[i].in, (ssize_t) strlen(m[i].in), m[i].flags, 1000, 0, &out) != 0)
            fail_msg("%s: expansion failed", m[i].in);
        assert_string_equal(str_cstr(&out), m[i].out);
    }
    for (size_t i = 0; i < NELEM(bad); i++) {
        str_reset(&out);
        if (spf_macro_expand(&env, bad[i], (ssize_t) strlen(bad[i]), SPF_MACRO_DOMAIN, 1000, 0, &out) == 0)
            fail_msg("%s: accepted", bad[i]);
    }
    /* The IPv6 form of %{i} is 32 nibbles. */
    {
        struct in6_addr a6;

        inet_pton(AF_INET6, "2001:db8::cb01", &a6);
        env.family = AF_INET6;
        env.ip = a6.s6_addr;
        str_reset(&out);
        assert_int_equal(spf_macro_expand(&env, "%{ir}.%{v}._spf.%{d2}", 21, 0, 1000, 0, &out), 0);
        assert_true(ascii_casecmp(str_cstr(&out), "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d."
                                                  "0.1.0.0.2.ip6._spf.example.com") == 0);
    }
    /* Output over max: -2, or cut when truncating. */
    str_reset(&out);
    assert_int_equal(spf_macro_expand(&env, "%{s}%{s}", 8, 0, 40, 0, &out), -2);
    str_reset(&out);
    assert_int_equal(spf_macro_expand(&env, "%{s}%{s}", 8, 0, 40, 1, &out), 0);
    assert_int_equal(out.len, 40);
    str_free(&out);
}

/* Domain-spec syntax (RFC 7208 7.1 domain-end). */
static void test_domain_spec(void **state)
{
    static const char *const good[] = {
        "example.com", "example.com.", "%{d}", "x.%{d}", "_spf.%{d2}", "foo:bar/baz.example.com",
        "foo.xn--zckzah", "a.123-4", ".com", "%{l}.%%", "macro%%percent%_%-url.example.com",
    };
    static const char *const bad[] = {
        "", "example", "example.", "a.123", "example.-com", "example.com-", "example.com:8080",
        "example.com/24", "%{d}.", "a.%{d}com", "foo%.example.com", "a.b c", "a.b\x01", "a.\xc3\xa9",
    };
    str name = STR_INIT;

    (void) state;
    for (size_t i = 0; i < NELEM(good); i++)
        if (spf_macro_check(good[i], (ssize_t) strlen(good[i]), SPF_MACRO_DOMAIN) != 0)
            fail_msg("\"%s\" refused", good[i]);
    for (size_t i = 0; i < NELEM(bad); i++)
        if (spf_macro_check(bad[i], (ssize_t) strlen(bad[i]), SPF_MACRO_DOMAIN) == 0)
            fail_msg("\"%s\" accepted", bad[i]);
    /* Left truncation to 253 bytes by whole labels. */
    for (int i = 0; i < 30; i++)
        str_adds(&name, "abcdefghi.");
    str_adds(&name, "example.com.");
    assert_int_equal(spf_name_finish(&name), 0);
    assert_true(name.len <= 253);
    assert_string_equal(str_cstr(&name) + name.len - 11, "example.com");
    assert_true(str_cstr(&name)[0] == 'a');
    str_set(&name, "a..b");
    assert_int_equal(spf_name_finish(&name), -1);
    str_reset(&name);
    assert_int_equal(spf_name_escape(&name, "a b\\c.example", 13), 0);
    assert_string_equal(str_cstr(&name), "a\\032b\\092c.example");
    assert_true(spf_domain_checkable("example.org"));
    assert_true(spf_domain_checkable("example.org."));
    assert_false(spf_domain_checkable("localhost"));
    assert_false(spf_domain_checkable("[192.0.2.1]"));
    assert_false(spf_domain_checkable("a..example"));
    assert_false(spf_domain_checkable(""));
    str_free(&name);
}

/* Received-SPF: the fields, and hostile input made harmless. */
static void test_received_spf(void **state)
{
    struct spf_request req;
    struct spf_result res;
    str out = STR_INIT;

    (void) state;
    memset(&req, 0, sizeof(req));
    memset(&res, 0, sizeof(res));
    spf_request_set_ip(&req, "192.0.2.1");
    req.helo = "mail.example.org";
    req.mail_from = "alice@example.org";
    req.receiver = "mx.example.net";
    res.status = SPF_STATUS_PASS;
    res.identity = SPF_IDENTITY_MAILFROM;
    res.sender = "alice@example.org";
    res.mechanism = "ip4:192.0.2.0/24";
    spf_received_spf(&out, &req, &res);
    assert_string_equal(str_cstr(&out),
                        "pass (mx.example.net: domain of alice@example.org designates 192.0.2.1 as "
                        "permitted sender)\n\tclient-ip=192.0.2.1; envelope-from=\"alice@example.org\";\n"
                        "\thelo=mail.example.org; receiver=mx.example.net; identity=mailfrom;\n\t"
                        "mechanism=\"ip4:192.0.2.0/24\";");

    /* Hostile HELO, sender, problem: no CR, no bare LF, no control or 8-bit bytes, quotes escaped. */
    str_reset(&out);
    spf_request_set_ip(&req, "::ffff:192.0.2.1");
    req.helo = "evil\r\nX-Injected: yes\"\\";
    req.mail_from = "a\"b\r\n\x01\xff@example.org";
    req.receiver = "mx(1)\r\n";
    res.status = SPF_STATUS_PERMERROR;
    res.sender = "a\"b\r\n\x01\xff@example.org";
    res.mechanism = NULL;
    res.problem = "bad mechanism '\x7f\r\n'";
    spf_received_spf(&out, &req, &res);
    for (ssize_t i = 0; i < out.len; i++) {
        unsigned char c = (unsigned char) out.data[i];

        assert_true(c != '\r');
        if (c == '\n')
            assert_true(out.data[i + 1] == '\t');
        else
            assert_true(c == '\t' || (c >= 0x20 && c < 0x7f));
    }
    assert_non_null(strstr(str_cstr(&out), "client-ip=192.0.2.1;"));
    assert_non_null(strstr(str_cstr(&out), "helo=\"evil??X-Injected: yes\\\"\\\\\";"));
    assert_non_null(strstr(str_cstr(&out), "(mx\\(1\\)??: permanent error"));
    assert_non_null(strstr(str_cstr(&out), "problem=\"bad mechanism '??\?'\";"));
    assert_null(strstr(str_cstr(&out), "mechanism=\""));
    str_free(&out);
}

/* A fail's explanation from a hostile TXT travels into Received-SPF only sanitised. */
static void test_hostile_explanation(void **state)
{
    struct dns_resolver *r = dns_fixture_new();
    struct spf_request req;
    struct spf_result res;
    str out = STR_INIT;

    (void) state;
    dns_fixture_add_txt(r, "example.org", "v=spf1 -all exp=e.example.org", 29);
    dns_fixture_add_txt(r, "e.example.org", "%{l} %{h}", 9);
    memset(&req, 0, sizeof(req));
    spf_request_set_ip(&req, "192.0.2.1");
    req.helo = "h\r\nX: y";
    req.mail_from = "\x1b[31m\r\n\x85@example.org";
    assert_int_equal(spf_check_mailfrom(r, &req, NULL, &res), SPF_STATUS_FAIL);
    assert_string_equal(res.explanation, "?[31m??? h??X: y");
    spf_received_spf(&out, &req, &res);
    assert_null(strchr(str_cstr(&out), '\r'));
    assert_non_null(strstr(str_cstr(&out), "mechanism=-all;"));
    spf_result_free(&res);
    str_free(&out);
    dns_resolver_free(r);
}

/* Names and options. */
static void test_names(void **state)
{
    struct spf_options o;
    struct spf_request req;

    (void) state;
    for (int s = SPF_STATUS_NONE; s <= SPF_STATUS_PERMERROR; s++)
        assert_int_equal(spf_status_from_name(spf_status_name((enum spf_status) s)), s);
    assert_int_equal(spf_status_from_name("PASS"), SPF_STATUS_PASS);
    assert_int_equal(spf_status_from_name("bogus"), -1);
    assert_int_equal(spf_engine_from_name("libspf2"), SPF_ENGINE_LIBSPF2);
    assert_int_equal(spf_engine_from_name("rampart"), SPF_ENGINE_RAMPART);
    assert_int_equal(spf_engine_from_name("x"), -1);
    assert_string_equal(spf_identity_name(SPF_IDENTITY_HELO), "helo");
    spf_options_init(&o);
    assert_int_equal(o.max_dns_mechanisms, 10);
    assert_int_equal(o.max_void_lookups, 2);
    memset(&req, 0, sizeof(req));
    assert_int_equal(spf_request_set_ip(&req, "not an address"), -1);
    assert_int_equal(spf_request_set_ip(&req, "2001:db8::1"), 0);
    assert_int_equal(req.family, AF_INET6);
}

/* No client address: none, with a reason, and nothing asked. */
static void test_no_client(void **state)
{
    struct dns_resolver *r = dns_fixture_new();
    struct spf_request req;
    struct spf_result res;

    (void) state;
    memset(&req, 0, sizeof(req));
    req.mail_from = "a@example.org";
    assert_int_equal(spf_check_mailfrom(r, &req, NULL, &res), SPF_STATUS_NONE);
    assert_non_null(res.problem);
    assert_int_equal(dns_fixture_queries(r), 0);
    spf_result_free(&res);
    dns_resolver_free(r);
}

/* A deadline already past: temperror without waiting. */
static void test_deadline(void **state)
{
    struct dns_resolver *r = dns_fixture_new();
    struct spf_request req;
    struct spf_options opts;
    struct spf_result res;

    (void) state;
    dns_fixture_add_txt(r, "example.org", "v=spf1 +all", 11);
    memset(&req, 0, sizeof(req));
    spf_request_set_ip(&req, "192.0.2.1");
    req.mail_from = "a@example.org";
    spf_options_init(&opts);
    opts.deadline_ms = clock_now_ms() - 1;
    assert_int_equal(spf_check_mailfrom(r, &req, &opts, &res), SPF_STATUS_TEMPERROR);
    spf_result_free(&res);
    opts.engine = SPF_ENGINE_LIBSPF2;
    assert_int_equal(spf_check_mailfrom(r, &req, &opts, &res), SPF_STATUS_TEMPERROR);
    spf_result_free(&res);
    dns_resolver_free(r);
}

/* Run the group. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_long_record),
        cmocka_unit_test(test_macro_bomb),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_domain_spec),
        cmocka_unit_test(test_received_spf),
        cmocka_unit_test(test_hostile_explanation),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_no_client),
        cmocka_unit_test(test_deadline),
    };

    log_open_stderr("test_spf");
    log_set_level(LOG_LVL_ERROR);
    return cmocka_run_group_tests_name("spf", tests, NULL, NULL);
}
