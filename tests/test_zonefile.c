/*
 * test_zonefile.c - the zone-file resolver: the format subset ($ORIGIN,
 * $TTL, relative names, @, omitted owners, TTL units, class, comments,
 * parentheses, TXT strings and escapes), rampart's status lines, CNAME
 * chains, NODATA for names with records or names below them, NXDOMAIN
 * and misses, every error with its line, and every limit.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "dns.h"
#include "dns_zonefile.h"
#include "mem.h"
#include "str.h"

static struct dns_resolver *zr;

static int setup(void **state)
{
    (void) state;
    zr = dns_zonefile_new();
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    dns_resolver_free(zr);
    zr = NULL;
    return 0;
}

/* Load text that must load. */
static void load_ok(const char *text)
{
    str err = STR_INIT;

    if (dns_zonefile_load_text(zr, text, (ssize_t) strlen(text), "t.zone", &err) != 0)
        fail_msg("load: %s", str_cstr(&err));
    str_free(&err);
}

/* Ask and return the answer (caller frees). */
static struct dns_answer *ask(const char *name, uint16_t type)
{
    return dns_lookup(zr, name, type);
}

/* The status of (name, type). */
static enum dns_status status_of(const char *name, uint16_t type)
{
    struct dns_answer *a = ask(name, type);
    enum dns_status s = a->status;

    dns_answer_free(a);
    return s;
}

static const char base_zone[] =
    "; a test zone\n"
    "$ORIGIN example.\n"
    "$TTL 600\n"
    "@            IN  TXT  \"v=spf1 -all\"   ; the apex\n"
    "mail         300 IN A 192.0.2.10\n"
    "             IN 300 AAAA 2001:db8::10\n"
    "             1h   TXT first \"second part\" \"\\\"q\\\"\\\\\\065\"\n"
    "mx           2d   MX 10 mail\n"
    "             MX   20 mail.other.test.\n"
    "null         MX   0 .\n"
    "alias        CNAME mail\n"
    "loop1        CNAME loop2\n"
    "loop2        CNAME loop1\n"
    "10.2.0.192.in-addr.arpa. PTR mail\n"
    "sub          NS   ns1.example.\n"
    "deep.a.b     A    192.0.2.99\n"
    "multi        TXT  ( \"one\"\n"
    "                    \"two\" )   ; joined\n"
    "@            SOA  ns1 hostmaster ( 1 3600 600\n"
    "                  86400 300 )\n"
    "srv          SRV  0 5 25 mail\n"
    "UPPER.Case   A    192.0.2.1\n"
    "ttlw         1w2d A 192.0.2.2\n";

/* Records, TTLs, relative names, omitted owners. */
static void test_records(void **state)
{
    struct dns_answer *a;
    char buf[64];

    (void) state;
    load_ok(base_zone);
    a = ask("example", DNS_T_TXT);
    assert_int_equal(a->status, DNS_ANSWER);
    assert_int_equal(a->count, 1);
    assert_string_equal(a->rr[0].u.txt.data, "v=spf1 -all");
    assert_int_equal(a->rr[0].ttl, 600);
    dns_answer_free(a);

    a = ask("mail.example", DNS_T_A);
    assert_int_equal(a->status, DNS_ANSWER);
    assert_int_equal(a->rr[0].ttl, 300);
    assert_string_equal(inet_ntop(AF_INET, &a->rr[0].u.a, buf, sizeof(buf)), "192.0.2.10");
    dns_answer_free(a);

    a = ask("MAIL.Example.", DNS_T_AAAA);
    assert_int_equal(a->status, DNS_ANSWER);
    assert_int_equal(a->rr[0].ttl, 300);
    assert_string_equal(inet_ntop(AF_INET6, &a->rr[0].u.aaaa, buf, sizeof(buf)), "2001:db8::10");
    dns_answer_free(a);

    a = ask("mail.example", DNS_T_TXT);
    assert_int_equal(a->status, DNS_ANSWER);
    assert_int_equal(a->rr[0].ttl, 3600);
    assert_string_equal(a->rr[0].u.txt.data, "firstsecond part\"q\"\\A");
    dns_answer_free(a);

    a = ask("mx.example", DNS_T_MX);
    assert_int_equal(a->count, 2);
    assert_int_equal(a->rr[0].u.mx.pref, 10);
    assert_string_equal(a->rr[0].u.mx.host, "mail.example");
    assert_string_equal(a->rr[1].u.mx.host, "mail.other.test");
    assert_int_equal(a->rr[0].ttl, 172800);
    assert_int_equal(a->rr[1].ttl, 600);
    dns_answer_free(a);

    a = ask("null.example", DNS_T_MX);
    assert_int_equal(a->count, 1);
    assert_string_equal(a->rr[0].u.mx.host, "");
    dns_answer_free(a);

    a = ask("10.2.0.192.in-addr.arpa", DNS_T_PTR);
    assert_string_equal(a->rr[0].u.name, "mail.example");
    dns_answer_free(a);

    a = ask("sub.example", DNS_T_NS);
    assert_string_equal(a->rr[0].u.name, "ns1.example");
    dns_answer_free(a);

    a = ask("multi.example", DNS_T_TXT);
    assert_string_equal(a->rr[0].u.txt.data, "onetwo");
    dns_answer_free(a);

    assert_int_equal(status_of("upper.case.example", DNS_T_A), DNS_ANSWER);
    a = ask("ttlw.example", DNS_T_A);
    assert_int_equal(a->rr[0].ttl, 9 * 86400);
    dns_answer_free(a);
    /* SOA and SRV are skipped, but their names exist. */
    assert_int_equal(status_of("srv.example", DNS_T_A), DNS_NODATA);
    assert_int_equal(dns_zonefile_entries(zr), 16);
}

/* CNAMEs, NODATA, empty non-terminals, NXDOMAIN and misses. */
static void test_answers(void **state)
{
    struct dns_answer *a;

    (void) state;
    load_ok(base_zone);
    a = ask("alias.example", DNS_T_A);
    assert_int_equal(a->status, DNS_ANSWER);
    assert_string_equal(a->qname, "alias.example");
    assert_int_equal(a->count, 1);
    dns_answer_free(a);
    a = ask("alias.example", DNS_T_CNAME);
    assert_string_equal(a->rr[0].u.name, "mail.example");
    dns_answer_free(a);
    assert_int_equal(status_of("alias.example", DNS_T_MX), DNS_NODATA);
    assert_int_equal(status_of("loop1.example", DNS_T_A), DNS_NODATA);
    assert_int_equal(status_of("mail.example", DNS_T_MX), DNS_NODATA);
    /* b.example and a.b.example have only names below them. */
    assert_int_equal(status_of("a.b.example", DNS_T_A), DNS_NODATA);
    assert_int_equal(status_of("b.example", DNS_T_TXT), DNS_NODATA);
    assert_int_equal(dns_zonefile_misses(zr), 0);
    a = ask("nothing.example", DNS_T_A);
    assert_int_equal(a->status, DNS_NXDOMAIN);
    assert_int_equal(a->ttl, 600);
    dns_answer_free(a);
    assert_int_equal(status_of("x.deep.a.b.example", DNS_T_A), DNS_NXDOMAIN);
    assert_int_equal(dns_zonefile_misses(zr), 2);
}

/* rampart's status lines. */
static void test_status_lines(void **state)
{
    struct dns_answer *a;

    (void) state;
    load_ok("$NXDOMAIN gone.example. 120\n"
            "$NODATA empty.example. MX 60\n"
            "$NODATA bare.example. TXT\n"
            "$SERVFAIL broken.example. TXT\n"
            "$TIMEOUT slow.example. A\n"
            "$BADANSWER bad.example. A\n"
            "slow.example. 300 IN TXT \"fine\"\n");
    a = ask("gone.example", DNS_T_A);
    assert_int_equal(a->status, DNS_NXDOMAIN);
    assert_int_equal(a->ttl, 120);
    dns_answer_free(a);
    a = ask("empty.example", DNS_T_MX);
    assert_int_equal(a->status, DNS_NODATA);
    assert_int_equal(a->ttl, 60);
    dns_answer_free(a);
    assert_int_equal(status_of("empty.example", DNS_T_A), DNS_NODATA);
    a = ask("bare.example", DNS_T_TXT);
    assert_int_equal(a->status, DNS_NODATA);
    assert_int_equal(a->ttl, DNS_ZONEFILE_DEFAULT_TTL);
    dns_answer_free(a);
    a = ask("broken.example", DNS_T_TXT);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_int_equal(a->timed_out, 0);
    assert_int_equal(a->rcode, 2);
    dns_answer_free(a);
    /* SERVFAIL for TXT says nothing of A: the name has no data, so NXDOMAIN. */
    assert_int_equal(status_of("broken.example", DNS_T_A), DNS_NXDOMAIN);
    a = ask("slow.example", DNS_T_A);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_int_equal(a->timed_out, 1);
    assert_int_equal(a->rcode, -1);
    dns_answer_free(a);
    assert_int_equal(status_of("slow.example", DNS_T_TXT), DNS_ANSWER);
    assert_int_equal(status_of("bad.example", DNS_T_A), DNS_BADANSWER);
    /* Explicit NXDOMAIN is no miss. */
    assert_int_equal(dns_zonefile_misses(zr), 1);
}

/* Several files add up; a later file may use its own origin. */
static void test_files(void **state)
{
    char path[] = "/tmp/rampart-zone-XXXXXX";
    int fd = mkstemp(path);
    static const char text[] = "$ORIGIN test.\nwww A 192.0.2.80\n";
    str err = STR_INIT;

    (void) state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t) sizeof(text) - 1);
    close(fd);
    load_ok(base_zone);
    assert_int_equal(dns_zonefile_load(zr, path, &err), 0);
    unlink(path);
    assert_int_equal(status_of("www.test", DNS_T_A), DNS_ANSWER);
    assert_int_equal(status_of("mail.example", DNS_T_A), DNS_ANSWER);
    assert_int_equal(dns_zonefile_load(zr, path, &err), -1);
    assert_non_null(strstr(str_cstr(&err), "No such file"));
    str_free(&err);
}

/* Each bad input: its error, at its line, and nothing of the file added. */
static void test_errors(void **state)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        { "a.example. 300 IN A 192.0.2.1\nb.example. 99x IN A 192.0.2.1\n", "t.zone:2: bad TTL 99x" },
        { "a.example. IN A 192.0.2.300\n", "t.zone:1: bad A rdata" },
        { "a.example. IN AAAA 192.0.2.1\n", "t.zone:1: bad AAAA rdata" },
        { "a.example. IN 300\n", "t.zone:1: expected a record type" },
        { "a.example. IN \"A\" 192.0.2.1\n", "t.zone:1: expected a record type" },
        { "a.example. CH A 192.0.2.1\n", "only class IN" },
        { "   IN A 192.0.2.1\n", "t.zone:1: a record without a name" },
        { "a.example. A 192.0.2.1 192.0.2.2\n", "expected one address" },
        { "a.example. MX 10\n", "MX wants a preference and a host" },
        { "a.example. MX x mail.example.\n", "bad MX rdata" },
        { "a.example. CNAME\n", "expected one host name" },
        { "a.example. TXT\n", "TXT without text" },
        { "a.example. TXT \"open\n", "t.zone:1: a quoted string does not end" },
        { "\n\na.example. TXT ( \"x\"\n", "t.zone:3: a '(' without ')'" },
        { "a.example. TXT \"x\" )\n", "t.zone:1: a ')' without '('" },
        { "a.example. TXT \"\\300\"\n", "bad escape \\300" },
        { "$INCLUDE other.zone\n", "$INCLUDE is not supported" },
        { "$GENERATE 1-2 x A 192.0.2.$\n", "$GENERATE is not supported" },
        { "$TTL\n", "$TTL wants one TTL" },
        { "$TTL 1y\n", "$TTL wants one TTL" },
        { "$ORIGIN a b\n", "$ORIGIN wants one name" },
        { "$NODATA a.example.\n", "$NODATA: expected A, AAAA" },
        { "$NODATA a.example. SOA\n", "$NODATA: expected A, AAAA" },
        { "$NXDOMAIN a.example. 300 extra\n", "$NXDOMAIN: too many words" },
        { "$SERVFAIL a.example. A 300\n", "$SERVFAIL: too many words" },
        { "$NXDOMAIN\n", "$NXDOMAIN: expected a name" },
        { "bad..name. A 192.0.2.1\n", "t.zone:1: bad name" },
        { "a.example. PTR bad..target.\n", "expected one host name" },
        { "x.example. A 192.0.2.1\n\\\n", "a backslash at the end" },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        str err = STR_INIT;

        if (dns_zonefile_load_text(zr, cases[i].text, (ssize_t) strlen(cases[i].text), "t.zone", &err) != -1)
            fail_msg("case %zu loaded: %s", i, cases[i].text);
        if (strstr(str_cstr(&err), cases[i].error) == NULL)
            fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].error, str_cstr(&err));
        str_free(&err);
    }
    assert_int_equal(dns_zonefile_entries(zr), 0);
    assert_int_equal(status_of("a.example", DNS_T_A), DNS_NXDOMAIN);
}

/* A NUL byte is an error. */
static void test_nul(void **state)
{
    static const char text[] = "a.example. A 192.0.2.1\nb\0.example. A 192.0.2.1\n";
    str err = STR_INIT;

    (void) state;
    assert_int_equal(dns_zonefile_load_text(zr, text, (ssize_t) sizeof(text) - 1, "t.zone", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "t.zone:2: a NUL byte"));
    str_free(&err);
}

/* At most 20 errors are listed, then a count. */
static void test_error_cap(void **state)
{
    str text = STR_INIT, err = STR_INIT;

    (void) state;
    for (int i = 0; i < 25; i++)
        str_adds(&text, "a.example. A nonsense\n");
    assert_int_equal(dns_zonefile_load_text(zr, text.data, text.len, "t.zone", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "t.zone:20: bad A rdata"));
    assert_null(strstr(str_cstr(&err), "t.zone:21:"));
    assert_non_null(strstr(str_cstr(&err), "t.zone: 5 more errors"));
    str_free(&text);
    str_free(&err);
}

/* Limits: record length, words per record, file size, entries. */
static void test_limits(void **state)
{
    str text = STR_INIT, err = STR_INIT;

    (void) state;
    /* A TXT record of DNS_MAX_TXT_LEN bytes loads; one byte more does not. */
    str_adds(&text, "t.example. TXT ");
    for (int i = 0; i < DNS_MAX_TXT_LEN / 16; i++)
        str_adds(&text, "\"0123456789abcdef\"");
    str_addc(&text, '\n');
    assert_int_equal(dns_zonefile_load_text(zr, text.data, text.len, "t.zone", &err), 0);
    str_reset(&text);
    str_adds(&text, "u.example. TXT ");
    for (int i = 0; i < DNS_MAX_TXT_LEN / 16; i++)
        str_adds(&text, "\"0123456789abcdef\"");
    str_adds(&text, "x\n");
    assert_int_equal(dns_zonefile_load_text(zr, text.data, text.len, "t.zone", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "bad TXT rdata"));

    /* A logical line over DNS_ZONEFILE_MAX_LINE bytes. */
    str_reset(&text);
    str_reset(&err);
    str_adds(&text, "v.example. TXT (\n");
    while (text.len <= DNS_ZONEFILE_MAX_LINE)
        str_adds(&text, "  \"0123456789abcdef\"\n");
    str_adds(&text, ")\n");
    assert_int_equal(dns_zonefile_load_text(zr, text.data, text.len, "t.zone", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "t.zone:1: a record longer than 65536 bytes"));

    /* Too many words. */
    str_reset(&text);
    str_reset(&err);
    str_adds(&text, "w.example. TXT");
    for (int i = 0; i < 600; i++)
        str_adds(&text, " x");
    str_addc(&text, '\n');
    assert_int_equal(dns_zonefile_load_text(zr, text.data, text.len, "t.zone", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "more than 512 words"));

    /* A file over DNS_ZONEFILE_MAX_BYTES. */
    str_reset(&err);
    {
        ssize_t big = DNS_ZONEFILE_MAX_BYTES + 1;
        char *buf = mem_alloc(big);

        memset(buf, '\n', (size_t) big);
        assert_int_equal(dns_zonefile_load_text(zr, buf, big, "big.zone", &err), -1);
        assert_non_null(strstr(str_cstr(&err), "big.zone: larger than"));
        memset(buf, ';', 16);
        assert_int_equal(dns_zonefile_load_text(zr, buf, big - 1, "big.zone", &err), 0);
        mem_free(buf);
    }

    /* DNS_ZONEFILE_MAX_ENTRIES, all files together. */
    str_reset(&text);
    str_reset(&err);
    str_adds(&text, "$ORIGIN n.example.\n");
    for (int i = 1; i < DNS_ZONEFILE_MAX_ENTRIES; i++)
        str_addf(&text, "h%d A 192.0.2.1\n", i);
    assert_int_equal(dns_zonefile_load_text(zr, text.data, text.len, "many.zone", &err), 0);
    assert_int_equal(dns_zonefile_entries(zr), DNS_ZONEFILE_MAX_ENTRIES);
    assert_int_equal(status_of("h99999.n.example", DNS_T_A), DNS_ANSWER);
    assert_int_equal(dns_zonefile_load_text(zr, "x.example. A 192.0.2.1\n", 23, "one.zone", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "one.zone: more than 100000 entries"));
    str_free(&text);
    str_free(&err);
}

/* Names compare case-insensitively, with or without the final dot. */
static void test_case_and_trailing_dot(void **state)
{
    (void) state;
    load_ok("$ORIGIN Example.\nWWW A 192.0.2.80\n");
    assert_int_equal(status_of("www.example.", DNS_T_A), DNS_ANSWER);
    assert_int_equal(status_of("WwW.eXample", DNS_T_A), DNS_ANSWER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_and_trailing_dot, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
