/*
 * test_verdict.c - the verdict engine: every pair of actions, with and
 * without temporary errors and monitor mode; a temporary error never
 * becomes a reject; reply codes and sanitised reasons.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "verdict.h"

static const enum verdict_action all[] = {
    VERDICT_ACCEPT, VERDICT_TAG, VERDICT_QUARANTINE, VERDICT_TEMPFAIL, VERDICT_DISCARD, VERDICT_REJECT,
};
#define NALL ((int) (sizeof(all) / sizeof(all[0])))

/* What a (possibly temporary) requested action becomes. */
static enum verdict_action effective(enum verdict_action a, int temporary)
{
    if (temporary && a != VERDICT_ACCEPT && a != VERDICT_TEMPFAIL)
        return VERDICT_TEMPFAIL;
    return a;
}

/* Every combination of two checks' actions, temporary flags and monitor flags. */
static void test_pairs(void **state)
{
    (void) state;
    for (int i = 0; i < NALL; i++)
        for (int j = 0; j < NALL; j++)
            for (int ti = 0; ti < 2; ti++)
                for (int tj = 0; tj < 2; tj++)
                    for (int mi = 0; mi < 2; mi++)
                        for (int mj = 0; mj < 2; mj++) {
                            struct verdict v;
                            enum verdict_action ei = effective(all[i], ti), ej = effective(all[j], tj);
                            enum verdict_action want = VERDICT_ACCEPT;

                            if (!mi && ei > want)
                                want = ei;
                            if (!mj && ej > want)
                                want = ej;
                            verdict_init(&v);
                            verdict_add(&v, "a", "r1", all[i], ti, mi, NULL, NULL, "first");
                            verdict_add(&v, "b", "r2", all[j], tj, mj, NULL, NULL, "second");
                            verdict_decide(&v);
                            if (v.action != want)
                                fail_msg("%s(temp=%d,mon=%d) + %s(temp=%d,mon=%d): got %s, want %s",
                                         verdict_action_name(all[i]), ti, mi, verdict_action_name(all[j]),
                                         tj, mj, verdict_action_name(v.action), verdict_action_name(want));
                            /* A temporary error alone never rejects, discards or quarantines. */
                            if (ti && tj)
                                assert_true(v.action == VERDICT_ACCEPT || v.action == VERDICT_TEMPFAIL);
                            if (want == VERDICT_ACCEPT)
                                assert_null(verdict_winner(&v));
                            else
                                assert_int_equal(verdict_winner(&v)->action, want);
                            verdict_free(&v);
                        }
}

static void test_order(void **state)
{
    struct verdict v;

    (void) state;
    /* reject > discard > tempfail > quarantine > tag > accept */
    for (int i = 0; i + 1 < NALL; i++)
        assert_true(all[i] < all[i + 1]);
    /* A tie goes to the first entry. */
    verdict_init(&v);
    verdict_add(&v, "spf", "fail", VERDICT_REJECT, 0, 0, "550", "5.7.23", "SPF failed");
    verdict_add(&v, "dmarc", "fail", VERDICT_REJECT, 0, 0, "550", "5.7.1", "DMARC failed");
    verdict_decide(&v);
    assert_string_equal(verdict_winner(&v)->check, "spf");
    assert_string_equal(verdict_winner(&v)->xcode, "5.7.23");
    verdict_free(&v);
    /* No entries: accept. */
    verdict_init(&v);
    verdict_decide(&v);
    assert_int_equal(v.action, VERDICT_ACCEPT);
    verdict_free(&v);
}

static void test_codes(void **state)
{
    struct verdict v;

    (void) state;
    verdict_init(&v);
    /* Defaults, and codes that do not fit the action are replaced. */
    verdict_add(&v, "a", "x", VERDICT_REJECT, 0, 0, NULL, NULL, "r");
    verdict_add(&v, "b", "x", VERDICT_TEMPFAIL, 0, 0, "550", "5.7.1", "r");
    verdict_add(&v, "c", "x", VERDICT_REJECT, 1, 0, "550", "5.7.23", "r");  /* temporary: lowered */
    verdict_add(&v, "d", "x", VERDICT_REJECT, 0, 0, "5500000", "5.7.1.1.1.1.1.1.1.1.1.1", "r");
    assert_string_equal(v.e[0].rcode, "550");
    assert_string_equal(v.e[0].xcode, "5.7.1");
    assert_string_equal(v.e[1].rcode, "451");
    assert_string_equal(v.e[1].xcode, "4.7.1");
    assert_int_equal(v.e[2].action, VERDICT_TEMPFAIL);
    assert_string_equal(v.e[2].rcode, "451");
    assert_string_equal(v.e[3].rcode, "550");
    assert_string_equal(v.e[3].xcode, "5.7.1");
    verdict_free(&v);
}

static void test_reason_sanitised(void **state)
{
    struct verdict v;
    char big[1000];

    (void) state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    verdict_init(&v);
    verdict_add(&v, "a", "x", VERDICT_REJECT, 0, 0, NULL, NULL, "bad\r\n250 OK\x01\xff end");
    verdict_add(&v, "b", "x", VERDICT_REJECT, 0, 0, NULL, NULL, big);
    assert_string_equal(v.e[0].reason, "bad??250 OK?? end");
    assert_int_equal(strlen(v.e[1].reason), VERDICT_REASON_MAX + 3);
    verdict_free(&v);
}

static void test_names(void **state)
{
    (void) state;
    for (int i = 0; i < NALL; i++)
        assert_int_equal(verdict_action_from_name(verdict_action_name(all[i])), all[i]);
    assert_int_equal(verdict_action_from_name("REJECT"), VERDICT_REJECT);
    assert_int_equal(verdict_action_from_name("bounce"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_reason_sanitised),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests_name("verdict", tests, NULL, NULL);
}
