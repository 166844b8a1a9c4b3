/*
 * test_addr.c - the RFC 5322 address-list parser and the RFC 5321 path
 * domain extractor: a table of header values (display names, comments,
 * quoted strings, groups, encoded words, obsolete forms, hostile bytes)
 * and one test per limit.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"
#include "mem.h"
#include "str.h"

struct from_case {
    const char *name;
    const char *value;
    ssize_t len;                /* 0: strlen(value) */
    enum addr_status status;
    int n;
    const char *domains[4];     /* "" for a mailbox without domain */
    const char *display0;       /* display name of the first mailbox, or NULL: not checked */
    const char *local0;
};

static const struct from_case from_cases[] = {
    { "plain", "user@example.com", 0, ADDR_OK, 1, { "example.com" }, "", "user" },
    { "leading space, angle", " John Doe <John.Doe@Example.COM>", 0, ADDR_OK, 1,
      { "example.com" }, "John Doe", "John.Doe" },
    { "quoted display with comma", "\"Doe, John\" <jd@example.com>", 0, ADDR_OK, 1,
      { "example.com" }, "Doe, John", "jd" },
    { "trailing comment", "jd@example.com (John Doe)", 0, ADDR_OK, 1, { "example.com" }, "", "jd" },
    { "nested comments", "(c1 (nested \\) )) <a@b.example> (trailing)", 0, ADDR_OK, 1,
      { "b.example" }, "", "a" },
    { "two mailboxes", "a@b.example, C <c@D.example>", 0, ADDR_OK, 2, { "b.example", "d.example" }, "", "a" },
    { "group", "Team: a@b.example, c@d.example;", 0, ADDR_OK, 2, { "b.example", "d.example" }, "", "a" },
    { "group then mailbox", "Team: a@b.example;, c@d.example", 0, ADDR_OK, 2, { "b.example", "d.example" }, NULL, NULL },
    { "empty group", "undisclosed-recipients:;", 0, ADDR_EMPTY, 0, { NULL }, NULL, NULL },
    { "empty value", "   ", 0, ADDR_EMPTY, 0, { NULL }, NULL, NULL },
    { "encoded word Q", "=?UTF-8?Q?J=C3=B6rg_B?= <j@example.de>", 0, ADDR_OK, 1, { "example.de" },
      "J\xc3\xb6rg B", "j" },
    { "adjacent encoded words", "=?ISO-8859-1?B?SvZyZw==?= =?ISO-8859-1?Q?_M=FCller?= <x@y.example>", 0,
      ADDR_OK, 1, { "y.example" }, "J\xf6rg M\xfcller", "x" },
    { "encoded word and atom", "=?utf-8?q?A?= B <x@y.example>", 0, ADDR_OK, 1, { "y.example" }, "A B", NULL },
    { "broken encoded word kept", "=?utf-8?x?abc?= <x@y.example>", 0, ADDR_OK, 1, { "y.example" },
      "=?utf-8?x?abc?=", NULL },
    { "encoded control byte masked", "=?us-ascii?Q?a=00b?= <x@y.example>", 0, ADDR_OK, 1, { "y.example" },
      "a?b", NULL },
    { "obs-route", "<@relay.example,@r2.example:user@example.com>", 0, ADDR_OK, 1, { "example.com" }, "", "user" },
    { "quoted local-part", "\"quoted local\"@example.com", 0, ADDR_OK, 1, { "example.com" }, "", "quoted local" },
    { "domain literal", "user@[192.0.2.1]", 0, ADDR_OK, 1, { "[192.0.2.1]" }, "", NULL },
    { "no domain", "user", 0, ADDR_OK, 1, { "" }, "", "user" },
    { "no domain in angle", "Someone <user>", 0, ADDR_OK, 1, { "" }, "Someone", "user" },
    { "folded", "John\r\n <j@example.com>", 0, ADDR_OK, 1, { "example.com" }, "John", NULL },
    { "folded LF only", "John\n\t<j@example.com>", 0, ADDR_OK, 1, { "example.com" }, "John", NULL },
    { "obs-phrase with dots", "John Q. Public <jqp@example.com>", 0, ADDR_OK, 1, { "example.com" },
      "John Q. Public", NULL },
    { "obs empty elements", "  ,, a@b.example ,,", 0, ADDR_OK, 1, { "b.example" }, NULL, NULL },
    { "RFC 5322 A.5", "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", 0, ADDR_OK, 1,
      { "silly.test" }, "Pete", "pete" },
    { "CFWS around dots", "a@b . example", 0, ADDR_OK, 1, { "b.example" }, NULL, NULL },
    { "UTF-8 display and domain", "J\xc3\xb6rg <j@B\xc3\xbc" "cher.example>", 0, ADDR_OK, 1,
      { "b\xc3\xbc" "cher.example" }, "J\xc3\xb6rg", NULL },
    { "empty local-part parts", "john..doe@example.jp", 0, ADDR_OK, 1, { "example.jp" }, NULL, "john..doe" },
    /* Found by fuzzing: an escaped line end is unfolded, never kept. */
    { "quoted-pair CRLF in display", "\"a\\\r\n b\" <x@y.example>", 0, ADDR_OK, 1, { "y.example" }, "a b", "x" },
    { "quoted-pair LF in local-part", "\"a\\\nb\"@example.com", 0, ADDR_OK, 1, { "example.com" }, "", "ab" },
    /* errors */
    { "no domain after @", "user@", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "unclosed angle", "<user@example.com", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "two addr-specs without comma", "a@b.example c@d.example", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "display without angle", "Joe user@example.com", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "double dot in domain", "a@b..example", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "trailing dot in domain", "a@b.example.", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "unterminated comment", "a@b.example (oops", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "unterminated quote", "\"oops <a@b.example>", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "stray paren", "a@b.example)", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "group without semicolon", "g: a@b.example", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "nested group", "g1: g2: a@b.example;;", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "only a display name", "John Doe", 0, ADDR_SYNTAX, 0, { NULL }, NULL, NULL },
    { "NUL byte", "a@b\0.example", 12, ADDR_BAD_BYTE, 0, { NULL }, NULL, NULL },
    { "control byte", "a@b\x01.example", 0, ADDR_BAD_BYTE, 0, { NULL }, NULL, NULL },
    { "8-bit junk", "a@\xff.example", 0, ADDR_BAD_BYTE, 0, { NULL }, NULL, NULL },
    { "overlong UTF-8", "a@\xc0\xae.example", 0, ADDR_BAD_BYTE, 0, { NULL }, NULL, NULL },
    { "truncated UTF-8", "J\xc3 <a@b.example>", 0, ADDR_BAD_BYTE, 0, { NULL }, NULL, NULL },
    { "surrogate", "\xed\xa0\x80 <a@b.example>", 0, ADDR_BAD_BYTE, 0, { NULL }, NULL, NULL },
};

/* Every row of the From table. */
static void test_from_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
        const struct from_case *c = &from_cases[i];
        struct addr_list l;
        ssize_t len = c->len ? c->len : (ssize_t) strlen(c->value);
        enum addr_status st;

        addr_list_init(&l);
        st = addr_parse(&l, c->value, len);
        if (st != c->status || l.n != c->n)
            fail_msg("%s: status %s n %d, want %s n %d (%s)", c->name, addr_status_name(st), l.n,
                     addr_status_name(c->status), c->n, l.error ? l.error : "");
        if (st != ADDR_OK)
            assert_non_null(l.error);
        for (int k = 0; k < c->n; k++) {
            const char *want = c->domains[k];

            if (!*want && l.a[k].domain)
                fail_msg("%s: mailbox %d has domain %s", c->name, k, l.a[k].domain);
            if (*want && (!l.a[k].domain || strcmp(l.a[k].domain, want) != 0))
                fail_msg("%s: mailbox %d domain %s, want %s", c->name, k,
                         l.a[k].domain ? l.a[k].domain : "(none)", want);
        }
        if (c->n > 0 && c->display0 && strcmp(l.a[0].display, c->display0) != 0)
            fail_msg("%s: display [%s], want [%s]", c->name, l.a[0].display, c->display0);
        if (c->n > 0 && c->local0 && strcmp(l.a[0].local, c->local0) != 0)
            fail_msg("%s: local [%s], want [%s]", c->name, l.a[0].local, c->local0);
        addr_list_free(&l);
    }
}

/* Flags: literal and group. */
static void test_flags(void **state)
{
    struct addr_list l;

    (void) state;
    addr_list_init(&l);
    assert_int_equal(addr_parse(&l, "g: a@[192.0.2.1];, b@c.example",
                                (ssize_t) strlen("g: a@[192.0.2.1];, b@c.example")), ADDR_OK);
    assert_int_equal(l.n, 2);
    assert_true(l.a[0].literal);
    assert_true(l.a[0].group);
    assert_false(l.a[1].literal);
    assert_false(l.a[1].group);
    addr_list_free(&l);
}

/* Several fields append to one list; an error appends nothing. */
static void test_append_and_rollback(void **state)
{
    struct addr_list l;

    (void) state;
    addr_list_init(&l);
    assert_int_equal(addr_parse(&l, "a@b.example", 11), ADDR_OK);
    assert_int_equal(addr_parse(&l, "c@d.example, e@", 15), ADDR_SYNTAX);
    assert_int_equal(l.n, 1);
    assert_int_equal(addr_parse(&l, "c@d.example", 11), ADDR_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.a[1].domain, "d.example");
    addr_list_free(&l);
    assert_int_equal(l.n, 0);
}

/* Errors say where: the offending byte or token. */
static void test_error_position(void **state)
{
    struct addr_list l;

    (void) state;
    addr_list_init(&l);
    assert_int_equal(addr_parse(&l, "a@\xff.example", 11), ADDR_BAD_BYTE);
    assert_int_equal(l.error_pos, 2);
    assert_int_equal(addr_parse(&l, "a@b.example\x01", 12), ADDR_BAD_BYTE);
    assert_int_equal(l.error_pos, 11);
    assert_int_equal(addr_parse(&l, "a@b.example c@d.example", 23), ADDR_SYNTAX);
    assert_int_equal(l.error_pos, 12);
    assert_string_equal(l.error, "expected ',' between addresses");
    addr_list_free(&l);
}

/* Comment nesting: ADDR_MAX_COMMENT_DEPTH is fine, one more is not. */
static void test_limit_comment_depth(void **state)
{
    str v = STR_INIT;
    struct addr_list l;

    (void) state;
    for (int depth = ADDR_MAX_COMMENT_DEPTH; depth <= ADDR_MAX_COMMENT_DEPTH + 1; depth++) {
        str_reset(&v);
        str_adds(&v, "a@b.example ");
        for (int k = 0; k < depth; k++)
            str_addc(&v, '(');
        for (int k = 0; k < depth; k++)
            str_addc(&v, ')');
        addr_list_init(&l);
        assert_int_equal(addr_parse(&l, v.data, v.len),
                         depth <= ADDR_MAX_COMMENT_DEPTH ? ADDR_OK : ADDR_TOO_DEEP);
        addr_list_free(&l);
    }
    str_free(&v);
}

/* Number of mailboxes: ADDR_MAX_ADDRESSES is fine, one more is not. */
static void test_limit_addresses(void **state)
{
    str v = STR_INIT;
    struct addr_list l;

    (void) state;
    for (int n = ADDR_MAX_ADDRESSES; n <= ADDR_MAX_ADDRESSES + 1; n++) {
        str_reset(&v);
        for (int k = 0; k < n; k++)
            str_addf(&v, "%su%d@d%d.example", k ? ", " : "", k, k);
        addr_list_init(&l);
        assert_int_equal(addr_parse(&l, v.data, v.len), n <= ADDR_MAX_ADDRESSES ? ADDR_OK : ADDR_TOO_MANY);
        assert_int_equal(l.n, n <= ADDR_MAX_ADDRESSES ? n : 0);
        addr_list_free(&l);
    }
    str_free(&v);
}

/* Length: ADDR_MAX_LEN bytes are parsed, one more is refused. */
static void test_limit_length(void **state)
{
    str v = STR_INIT;
    struct addr_list l;

    (void) state;
    str_adds(&v, "a@b.example (");
    while (v.len < ADDR_MAX_LEN - 1)
        str_addc(&v, 'x');
    str_addc(&v, ')');
    addr_list_init(&l);
    assert_int_equal(v.len, ADDR_MAX_LEN);
    assert_int_equal(addr_parse(&l, v.data, v.len), ADDR_OK);
    addr_list_free(&l);
    str_truncate(&v, v.len - 1);
    str_adds(&v, "x)");
    assert_int_equal(addr_parse(&l, v.data, v.len), ADDR_TOO_LONG);
    assert_int_equal(l.n, 0);
    str_free(&v);
}

/* Random bytes never crash the parser (run under ASan in CI). */
static void test_junk_does_not_crash(void **state)
{
    unsigned int seed = 12345;
    char buf[256];
    static const char alphabet[] = "<>()\"\\@,;:.[] \r\n\tab=?\xc3\xa9\xff\0";

    (void) state;
    for (int round = 0; round < 3000; round++) {
        struct addr_list l;
        str dom = STR_INIT;
        int len;

        seed = seed * 1103515245u + 12345u;
        len = (int) ((seed >> 16) % sizeof(buf));
        for (int k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        addr_list_init(&l);
        (void) addr_parse(&l, buf, len);
        addr_list_free(&l);
        (void) addr_path_domain(buf, len, &dom, NULL);
        str_free(&dom);
    }
}

struct path_case {
    const char *path;
    ssize_t len;
    enum addr_status status;
    const char *domain;
};

static const struct path_case path_cases[] = {
    { "<user@Example.COM>", 0, ADDR_OK, "example.com" },
    { "user@example.com", 0, ADDR_OK, "example.com" },
    { " <user@example.com> ", 0, ADDR_OK, "example.com" },
    { "<>", 0, ADDR_OK, "" },
    { "", 0, ADDR_OK, "" },
    { "<@a.example,@b.example:u@c.example>", 0, ADDR_OK, "c.example" },
    { "<\"a@b\"@c.example>", 0, ADDR_OK, "c.example" },
    { "<\"a\\\"b\"@c.example>", 0, ADDR_OK, "c.example" },
    { "<user@[192.0.2.1]>", 0, ADDR_OK, "[192.0.2.1]" },
    { "<u@B\xc3\xbc" "cher.example>", 0, ADDR_OK, "b\xc3\xbc" "cher.example" },
    { "<postmaster>", 0, ADDR_NO_DOMAIN, NULL },
    { "<user@>", 0, ADDR_NO_DOMAIN, NULL },
    { "<@a.example>", 0, ADDR_SYNTAX, NULL },
    { "<user@exa mple.com>", 0, ADDR_SYNTAX, NULL },
    { "<user@example.com", 0, ADDR_SYNTAX, NULL },
    { "<user@-example.com>", 0, ADDR_SYNTAX, NULL },
    { "<user@example..com>", 0, ADDR_SYNTAX, NULL },
    { "<@example.com>", 0, ADDR_SYNTAX, NULL },
    { "<\"unterminated@example.com>", 0, ADDR_SYNTAX, NULL },
    { "<a(b)@example.com>", 0, ADDR_SYNTAX, NULL },
    { "user@ex\0ample.com", 17, ADDR_BAD_BYTE, NULL },
    { "user@\xff.example", 0, ADDR_BAD_BYTE, NULL },
};

/* Every row of the path table. */
static void test_path_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
        const struct path_case *c = &path_cases[i];
        str dom = STR_INIT;
        const char *why = NULL;
        enum addr_status st = addr_path_domain(c->path, c->len ? c->len : (ssize_t) strlen(c->path), &dom, &why);

        if (st != c->status)
            fail_msg("path %zu [%s]: %s, want %s (%s)", i, c->path, addr_status_name(st),
                     addr_status_name(c->status), why ? why : "");
        if (st == ADDR_OK)
            assert_string_equal(dom.len ? dom.data : "", c->domain);
        else
            assert_non_null(why);
        str_free(&dom);
    }
}

/* Path length limit. */
static void test_path_limit(void **state)
{
    str p = STR_INIT, dom = STR_INIT;

    (void) state;
    str_adds(&p, "<");
    while (p.len < ADDR_MAX_LEN + 1)
        str_addc(&p, 'a');
    str_adds(&p, "@example.com>");
    assert_int_equal(addr_path_domain(p.data, p.len, &dom, NULL), ADDR_TOO_LONG);
    str_free(&p);
    str_free(&dom);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_table),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_append_and_rollback),
        cmocka_unit_test(test_error_position),
        cmocka_unit_test(test_limit_comment_depth),
        cmocka_unit_test(test_limit_addresses),
        cmocka_unit_test(test_limit_length),
        cmocka_unit_test(test_junk_does_not_crash),
        cmocka_unit_test(test_path_table),
        cmocka_unit_test(test_path_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
