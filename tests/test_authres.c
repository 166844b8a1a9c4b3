/*
 * test_authres.c - Authentication-Results: formatting, folding, quoting of
 * hostile values, and recognising the authserv-id of received headers
 * (ours in any case, folded, with comments, unparseable).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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
            assert_true(col <= 78 + 1);
        }
    }
    authres_free(&ar);
    str_free(&out);
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
        cmocka_unit_test(test_hostile_values),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_ours_or_bad),
    };

    return cmocka_run_group_tests_name("authres", tests, NULL, NULL);
}
