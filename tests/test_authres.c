/*
 * test_authres.c - Authentication-Results: formatting, folding (78 where a
 * fold point exists, never past 998: huge values, reasons, many results),
 * quoting of hostile values, and recognising the authserv-id of received
 * headers (ours in any case, folded, with comments, unparseable).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authres.h"

static void test_format(void **state)
{
    struct authres ar;
    struct authres_result *r;
    str out = STR_INIT;

    (void) state;
    authres_init(&ar);
    authres_format(&ar, "mx.example.org", &out);
    assert_string_equal(str_cstr(&out), " mx.example.org; none");
    str_reset(&out);

    r = authres_add(&ar, "spf", "pass", NULL);
    authres_prop(r, "smtp.mailfrom", "alice@example.org");
    r = authres_add(&ar, "dkim", "fail", "body hash mismatch");
    authres_prop(r, "header.d", "example.org");
    authres_prop(r, "header.s", "sel(1)");
    authres_format(&ar, "mx.example.org", &out);
    /* "Authentication-Results: mx.example.org; spf=..." would pass column 78: folded. */
    assert_string_equal(str_cstr(&out), " mx.example.org;\n\tspf=pass smtp.mailfrom=alice@example.org;\n"
                                        "\tdkim=fail (body hash mismatch) header.d=example.org header.s=\"sel(1)\"");
    str_reset(&out);
    authres_format(&ar, "mx", &out);
    assert_string_equal(str_cstr(&out), " mx; spf=pass smtp.mailfrom=alice@example.org;\n"
                                        "\tdkim=fail (body hash mismatch) header.d=example.org header.s=\"sel(1)\"");
    /* No line is longer than 78 characters (with the field name on the first). */
    {
        const char *p = str_cstr(&out);
        int col = (int) strlen("Authentication-Results:");

        for (; *p; p++) {
            col = *p == '\n' ? 0 : col + 1;
            assert_true(col <= 78);
        }
    }
    authres_free(&ar);
    str_free(&out);
}

#define FIELD "Authentication-Results:"

/*
 * Check the lines of a rendered value: folds are "\n\t" only, no line
 * (the field name counted on the first) passes 998; returns how many pass
 * 78, and the longest in *longest.
 */
static int check_lines(const char *v, size_t *longest)
{
    size_t col = strlen(FIELD), max = 0;
    int over = 0;

    for (const char *p = v;; p++) {
        if (*p == '\n' || *p == '\0') {
            if (col > 78)
                over++;
            if (col > max)
                max = col;
            if (col > 998)
                fail_msg("a line of %zu characters", col);
            if (*p == '\0')
                break;
            assert_int_equal(p[1], '\t');
            col = 0;
        } else {
            assert_true(*p != '\r');
            col++;
        }
    }
    if (longest)
        *longest = max;
    return over;
}

/* The value unfolded the way a reader does it (RFC 5322 2.2.3), a fold read as the space it replaced. */
static char *unfold(const char *v)
{
    char *u = strdup(v), *q = u;

    assert_non_null(u);
    for (const char *p = v; *p; p++) {
        if (p[0] == '\n' && p[1] == '\t') {
            *q++ = ' ';
            p++;
        } else {
            *q++ = *p;
        }
    }
    *q = '\0';
    return u;
}

/* CFWS: white space, folds, nested comments with quoted pairs; -1 if a comment is open at the end. */
static int skip_cfws(const char *s, size_t *i)
{
    while (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '(') {
        if (s[*i] == '(') {
            int depth = 0;

            do {
                if (s[*i] == '\0')
                    return -1;
                if (s[*i] == '\\' && s[*i + 1] != '\0')
                    (*i)++;
                else if (s[*i] == '(')
                    depth++;
                else if (s[*i] == ')')
                    depth--;
                (*i)++;
            } while (depth > 0);
        } else {
            (*i)++;
        }
    }
    return 0;
}

/* value = token / quoted-string (RFC 2045; '@' allowed in a token as a pvalue may have it). */
static int read_value(const char *s, size_t *i)
{
    size_t start = *i;

    if (s[*i] == '"') {
        for ((*i)++; s[*i] != '"'; (*i)++) {
            if (s[*i] == '\0' || s[*i] == '\n')
                return -1;
            if (s[*i] == '\\')
                (*i)++;
        }
        (*i)++;
        return 0;
    }
    while (s[*i] > 0x20 && s[*i] < 0x7f && !strchr("()<>,;:\\\"[]?=", s[*i]))
        (*i)++;
    return *i > start ? 0 : -1;
}

/* A method or ptype.property name; *dot tells whether it has a '.'. */
static int read_keyword(const char *s, size_t *i, int *dot)
{
    size_t start = *i;

    *dot = 0;
    while ((s[*i] >= 'a' && s[*i] <= 'z') || (s[*i] >= 'A' && s[*i] <= 'Z') || (s[*i] >= '0' && s[*i] <= '9') ||
           (s[*i] != '\0' && strchr("-._", s[*i]))) {
        *dot |= s[*i] == '.';
        (*i)++;
    }
    return *i > start ? 0 : -1;
}

/*
 * Parse a value against RFC 8601 2.2 (authserv-id, then "; none" or
 * resinfos: methodspec, comments, propspecs): the number of results, or
 * -1 if it does not parse.
 */
static int authres_count(const char *v)
{
    size_t i = 0;
    int n = 0, dot;

    if (skip_cfws(v, &i) || read_value(v, &i) || skip_cfws(v, &i))
        return -1;
    if (v[i] != ';')
        return -1;
    while (v[i] == ';') {
        size_t m;

        i++;
        if (skip_cfws(v, &i))
            return -1;
        m = i;
        if (read_keyword(v, &i, &dot))
            return -1;
        if (n == 0 && i - m == 4 && strncmp(v + m, "none", 4) == 0) {
            if (skip_cfws(v, &i))
                return -1;
            return v[i] == '\0' ? 0 : -1;
        }
        if (dot || skip_cfws(v, &i) || v[i++] != '=' || skip_cfws(v, &i) || read_value(v, &i) || skip_cfws(v, &i))
            return -1;
        while (v[i] != ';' && v[i] != '\0') {
            if (read_keyword(v, &i, &dot) || !dot || skip_cfws(v, &i) || v[i++] != '=' || skip_cfws(v, &i) ||
                read_value(v, &i) || skip_cfws(v, &i))
                return -1;
        }
        n++;
    }
    return v[i] == '\0' ? n : -1;
}

/* The value parses, with our id and n results. */
static void assert_parses(const char *v, const char *id, int n)
{
    str got = STR_INIT;

    assert_int_equal(authres_parse_id(v, (ssize_t) strlen(v), &got), 0);
    assert_string_equal(str_cstr(&got), id);
    assert_int_equal(authres_count(v), n);
    str_free(&got);
}

/* A string of n copies of c. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A domain of exactly len characters: 63-byte labels of 'a'...'d', then "example". */
static char *long_domain(size_t len)
{
    char *s = repeat('a', len);
    size_t tail = strlen(".example");

    for (size_t i = 63; i < len - tail; i += 64)
        s[i] = '.';
    memcpy(s + len - tail, ".example", tail);
    return s;
}

static void test_fold_huge_d(void **state)
{
    struct authres ar;
    struct authres_result *r;
    str out = STR_INIT;
    char *d = long_domain(253), *i = NULL, *u, *want;
    size_t longest;

    (void) state;
    assert_int_equal(strlen(d), 253);
    assert_true(asprintf(&i, "postmaster-of-a-rather-long-local-part@%s", d) > 0);
    authres_init(&ar);
    r = authres_add(&ar, "spf", "pass", NULL);
    authres_prop(r, "smtp.mailfrom", "alice@example.org");
    r = authres_add(&ar, "dkim", "pass", NULL);
    authres_prop(r, "header.d", d);
    authres_prop(r, "header.i", i);
    authres_prop(r, "header.s", "sel1");
    authres_prop(r, "header.a", "rsa-sha256");
    authres_prop(r, "header.b", "AbCdEfGh");
    r = authres_add(&ar, "dmarc", "pass", NULL);
    authres_prop(r, "header.from", "example.org");
    authres_format(&ar, "mx.example.org", &out);

    /* Only the two lines holding the huge values pass 78; they are whole, on lines of their own. */
    assert_int_equal(check_lines(str_cstr(&out), &longest), 2);
    assert_int_equal(longest, 1 + strlen("header.i=") + strlen(i));
    assert_non_null(strstr(str_cstr(&out), "\n\theader.d="));
    assert_non_null(strstr(str_cstr(&out), d));
    assert_non_null(strstr(str_cstr(&out), "\n\theader.i="));
    assert_non_null(strstr(str_cstr(&out), "\n\theader.s=sel1 header.a=rsa-sha256 header.b=AbCdEfGh;\n\tdmarc=pass"));
    assert_parses(str_cstr(&out), "mx.example.org", 3);
    /* Folding replaced spaces, nothing else. */
    u = unfold(str_cstr(&out));
    assert_true(asprintf(&want, " mx.example.org; spf=pass smtp.mailfrom=alice@example.org; dkim=pass header.d=%s "
                                "header.i=%s header.s=sel1 header.a=rsa-sha256 header.b=AbCdEfGh; dmarc=pass "
                                "header.from=example.org", d, i) > 0);
    assert_string_equal(u, want);
    free(u);
    free(want);
    free(i);
    free(d);
    authres_free(&ar);
    str_free(&out);
}

static void test_prop_bound(void **state)
{
    struct authres ar;
    struct authres_result *r;
    str out = STR_INIT;
    char *at = long_domain(AUTHRES_PROP_MAX - 1), *big = long_domain(2000);
    char *keep = NULL, *drop = NULL;

    (void) state;
    assert_true(asprintf(&keep, "@%s", at) > 0);
    assert_true(asprintf(&drop, "x@%s", at) > 0);
    assert_int_equal(strlen(keep), AUTHRES_PROP_MAX);
    authres_init(&ar);
    /* A value past the bound is left out: a domain cut short would name another one. */
    r = authres_add(&ar, "spf", "fail", NULL);
    authres_prop(r, "smtp.mailfrom", big);
    assert_int_equal(r->nprops, 0);
    r = authres_add(&ar, "dkim", "pass", NULL);
    authres_prop(r, "header.i", drop);
    authres_prop(r, "header.i", keep);
    authres_prop(r, "header.s", "s");
    assert_int_equal(r->nprops, 2);
    authres_format(&ar, "mx", &out);
    assert_null(strstr(str_cstr(&out), "x@"));
    assert_non_null(strstr(str_cstr(&out), keep));
    assert_non_null(strstr(str_cstr(&out), " mx; spf=fail;\n\tdkim=pass\n\theader.i=@"));
    assert_int_equal(check_lines(str_cstr(&out), NULL), 1);
    assert_parses(str_cstr(&out), "mx", 2);
    free(keep);
    free(drop);
    free(at);
    free(big);
    authres_free(&ar);
    str_free(&out);
}

static void test_huge_reason(void **state)
{
    struct authres ar;
    struct authres_result *r;
    str out = STR_INIT, reason = STR_INIT;
    char *word = repeat('w', 600), *u;
    size_t longest;

    (void) state;
    /* Many words: folded between them, every line within 78, cut at the bound with "...". */
    for (int i = 0; i < 100; i++)
        str_addf(&reason, "%sword%02d", i % 7 == 3 ? "   " : " ", i);
    authres_init(&ar);
    r = authres_add(&ar, "dkim", "fail", str_cstr(&reason));
    authres_prop(r, "header.d", "example.org");
    authres_prop(r, "header.s", "sel");
    authres_format(&ar, "mx.example.org", &out);
    assert_int_equal(check_lines(str_cstr(&out), &longest), 0);
    assert_true(longest > 60);
    assert_parses(str_cstr(&out), "mx.example.org", 1);
    u = unfold(str_cstr(&out));
    assert_non_null(strstr(u, "dkim=fail (word00 word01 word02 word03 word04"));
    assert_non_null(strstr(u, "...) header.d=example.org header.s=sel"));
    free(u);
    authres_free(&ar);
    str_reset(&out);

    /* One word longer than a line: whole, on a line of its own, cut at the bound. */
    authres_init(&ar);
    r = authres_add(&ar, "spf", "permerror", word);
    authres_prop(r, "smtp.mailfrom", "alice@example.org");
    (void) authres_add(&ar, "dkim", "none", NULL);
    authres_format(&ar, "mx", &out);
    assert_int_equal(check_lines(str_cstr(&out), &longest), 1);
    assert_int_equal(longest, 1 + 1 + 256 + 3 + 1);
    assert_non_null(strstr(str_cstr(&out), " mx;\n\tspf=permerror\n\t(www"));
    assert_non_null(strstr(str_cstr(&out), "w...)\n\tsmtp.mailfrom=alice@example.org; dkim=none"));
    assert_parses(str_cstr(&out), "mx", 2);
    authres_free(&ar);
    str_reset(&out);

    /* Parentheses and backslashes in a long reason stay escaped across folds. */
    authres_init(&ar);
    str_reset(&reason);
    for (int i = 0; i < 20; i++)
        str_adds(&reason, "a(b) c\\d ");
    r = authres_add(&ar, "spf", "fail", str_cstr(&reason));
    authres_format(&ar, "mx", &out);
    assert_int_equal(check_lines(str_cstr(&out), NULL), 0);
    assert_parses(str_cstr(&out), "mx", 1);
    u = unfold(str_cstr(&out));
    assert_non_null(strstr(u, " mx; spf=fail (a\\(b\\) c\\\\d a\\(b\\) c\\\\d"));
    free(u);
    authres_free(&ar);
    str_free(&out);
    str_free(&reason);
    free(word);
}

static void test_many_results(void **state)
{
    struct authres ar;
    str out = STR_INIT;
    char d[32];

    (void) state;
    authres_init(&ar);
    for (int i = 0; i < AUTHRES_MAX_RESULTS; i++) {
        struct authres_result *r = authres_add(&ar, "dkim", i % 2 ? "pass" : "fail", i % 3 ? NULL : "bad signature");

        snprintf(d, sizeof(d), "example%d.org", i);
        authres_prop(r, "header.d", d);
        authres_prop(r, "header.s", "selector");
    }
    authres_format(&ar, "mx.example.org", &out);
    assert_int_equal(check_lines(str_cstr(&out), NULL), 0);
    assert_parses(str_cstr(&out), "mx.example.org", AUTHRES_MAX_RESULTS);
    /* A result that fits on a line is never split. */
    assert_non_null(strstr(str_cstr(&out), "\n\tdkim=fail (bad signature) header.d=example0.org header.s=selector;"));
    authres_free(&ar);
    str_free(&out);
}

static void test_worst_case(void **state)
{
    struct authres ar;
    str out = STR_INIT;
    char *quotes = repeat('"', 2000), *parens = repeat(')', 2000), *slashes = repeat('\\', AUTHRES_PROP_MAX);
    char *name = repeat('m', 500);
    size_t longest;

    (void) state;
    /* Every unit at its bound, every byte escaped: no line passes 998. */
    authres_init(&ar);
    for (int i = 0; i < AUTHRES_MAX_RESULTS; i++) {
        struct authres_result *r = authres_add(&ar, name, quotes, parens);

        for (int k = 0; k < AUTHRES_MAX_PROPS; k++)
            authres_prop(r, "header.d", slashes);
    }
    authres_format(&ar, quotes, &out);
    assert_int_equal(check_lines(str_cstr(&out), &longest), 1 + AUTHRES_MAX_RESULTS * (2 + AUTHRES_MAX_PROPS));
    assert_true(longest <= 998);
    assert_true(longest >= 1 + strlen("header.d=") + 2 * AUTHRES_PROP_MAX + 2);
    assert_int_equal(authres_count(str_cstr(&out)), AUTHRES_MAX_RESULTS);
    authres_free(&ar);
    free(quotes);
    free(parens);
    free(slashes);
    free(name);
    str_free(&out);
}

static void test_long_id(void **state)
{
    struct authres ar;
    str out = STR_INIT, want = STR_INIT;
    char *id = long_domain(200);

    (void) state;
    authres_init(&ar);
    authres_format(&ar, id, &out);
    str_addf(&want, " %s;\n\tnone", id);
    assert_string_equal(str_cstr(&out), str_cstr(&want));
    assert_int_equal(check_lines(str_cstr(&out), NULL), 1);
    assert_parses(str_cstr(&out), id, 0);
    str_reset(&out);
    (void) authres_add(&ar, "spf", "none", NULL);
    authres_format(&ar, id, &out);
    str_reset(&want);
    str_addf(&want, " %s;\n\tspf=none", id);
    assert_string_equal(str_cstr(&out), str_cstr(&want));
    assert_parses(str_cstr(&out), id, 1);
    authres_free(&ar);
    str_free(&out);
    str_free(&want);
    free(id);
}

static void test_hostile_values(void **state)
{
    struct authres ar;
    struct authres_result *r;
    str out = STR_INIT;

    (void) state;
    authres_init(&ar);
    r = authres_add(&ar, "spf", "fail", "a) b\r\nX-Injected: yes");
    authres_prop(r, "smtp.mailfrom", "\"x\"@evil;\r\nX-Injected: yes");
    authres_format(&ar, "mx", &out);
    assert_null(strchr(str_cstr(&out), '\r'));
    assert_null(strstr(str_cstr(&out), "\nX-Injected"));
    assert_non_null(strstr(str_cstr(&out), "(a\\) b??X-Injected: yes)"));
    assert_non_null(strstr(str_cstr(&out), "smtp.mailfrom=\"\\\"x\\\"@evil;??X-Injected: yes\""));
    authres_free(&ar);
    str_free(&out);
}

static void test_limits(void **state)
{
    struct authres ar;

    (void) state;
    authres_init(&ar);
    for (int i = 0; i < AUTHRES_MAX_RESULTS; i++)
        assert_non_null(authres_add(&ar, "dkim", "pass", NULL));
    assert_null(authres_add(&ar, "dkim", "pass", NULL));
    for (int i = 0; i < AUTHRES_MAX_PROPS + 3; i++)
        authres_prop(&ar.r[0], "header.d", "x");
    assert_int_equal(ar.r[0].nprops, AUTHRES_MAX_PROPS);
    authres_prop(NULL, "x", "y");
    authres_free(&ar);
}

static const struct {
    const char *value;
    const char *id;       /* NULL: unparseable */
} ids[] = {
    { " mx.example.org; spf=pass", "mx.example.org" },
    { "mx.example.org;spf=pass", "mx.example.org" },
    { " MX.Example.ORG 1; none", "MX.Example.ORG" },
    { " (comment) mx.example.org (another (nested)) ; dkim=pass", "mx.example.org" },
    { "\n\tmx.example.org;\n\tspf=pass", "mx.example.org" },
    { " \"mx.example.org\"; none", "mx.example.org" },
    { " mx.example.org", "mx.example.org" },
    { " example.net; spf=fail", "example.net" },
    { "", NULL },
    { " ; spf=pass", NULL },
    { " (unterminated comment mx.example.org; spf=pass", NULL },
    { " mx.example.org spf=pass", NULL },
    { " \"unterminated; spf=pass", NULL },
    { " ((((((((((deep)))))))))) mx; none", NULL },
    { " mx.example.org 1 2; none", NULL },
};

static void test_parse_id(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        str id = STR_INIT;
        int rc = authres_parse_id(ids[i].value, (ssize_t) strlen(ids[i].value), &id);

        if (ids[i].id == NULL && rc == 0)
            fail_msg("\"%s\" parsed as \"%s\", want unparseable", ids[i].value, str_cstr(&id));
        if (ids[i].id != NULL && (rc != 0 || strcmp(str_cstr(&id), ids[i].id) != 0))
            fail_msg("\"%s\": got rc %d id \"%s\", want \"%s\"", ids[i].value, rc, str_cstr(&id), ids[i].id);
        str_free(&id);
    }
}

static void test_ours_or_bad(void **state)
{
    (void) state;
    assert_true(authres_is_ours_or_bad(" mx.example.org; spf=pass", 25, "mx.example.org"));
    assert_true(authres_is_ours_or_bad(" MX.EXAMPLE.ORG; spf=pass", 25, "mx.example.org"));
    assert_true(authres_is_ours_or_bad(" ;;; junk", 9, "mx.example.org"));
    assert_true(authres_is_ours_or_bad(" mx.example.org\0; x", 19, "other"));
    assert_false(authres_is_ours_or_bad(" example.net; spf=pass", 22, "mx.example.org"));
    assert_false(authres_is_ours_or_bad(" mx.example.org.evil; spf=pass", 30, "mx.example.org"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_fold_huge_d),
        cmocka_unit_test(test_prop_bound),
        cmocka_unit_test(test_huge_reason),
        cmocka_unit_test(test_many_results),
        cmocka_unit_test(test_worst_case),
        cmocka_unit_test(test_long_id),
        cmocka_unit_test(test_hostile_values),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_ours_or_bad),
    };

    return cmocka_run_group_tests_name("authres", tests, NULL, NULL);
}
