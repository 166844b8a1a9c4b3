/*
 * test_handoff.c - results handed from the policy service to the milter:
 * key normalisation (address spellings, case, brackets), copies, no
 * temporary errors, expiry, the bound, DNS list results that outlive their
 * lists' last other reference, no DNS list result with an unknown list,
 * threads; the milter's SPF check taking the policy service's result (no
 * DNS asked; an enforced result reported, not acted upon again; evaluated
 * at end of message when nothing came); and the milter's DNS lists looked
 * up at end of message when the policy service's had an unknown list.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "check.h"
#include "core.h"
#include "counters.h"
#include "dns.h"
#include "handoff.h"
#include "log.h"
#include "mem.h"
#include "txn.h"

static void spf_make(struct spf_result *r, enum spf_status st, const char *domain)
{
    memset(r, 0, sizeof(*r));
    r->status = st;
    r->domain = mem_strdup(domain);
    r->sender = mem_strdup("alice@sender.example");
    r->mechanism = mem_strdup("-all");
}

static int reset(void **state)
{
    (void) state;
    handoff_configure(0, 0);
    handoff_flush();
    return 0;
}

static void test_spf_roundtrip(void **state)
{
    struct handoff_key put = { "2001:db8::10", "Mail.Sender.Example", "alice@Sender.EXAMPLE", 0 };
    struct handoff_key same = { "IPv6:2001:DB8:0:0::10", "mail.sender.example", "<alice@sender.example>", 0 };
    struct handoff_key other = { "2001:db8::10", "mail.sender.example", "Alice@sender.example", 0 };
    struct spf_result mf, helo, out_mf, out_helo;
    int have_helo, acted;

    (void) state;
    spf_make(&mf, SPF_STATUS_FAIL, "sender.example");
    spf_make(&helo, SPF_STATUS_PASS, "mail.sender.example");
    handoff_put_spf(&put, &mf, &helo, 1);
    spf_result_free(&mf);
    spf_result_free(&helo);
    assert_int_equal(handoff_take_spf(&same, &out_mf, &out_helo, &have_helo, &acted), 1);
    assert_int_equal(out_mf.status, SPF_STATUS_FAIL);
    assert_string_equal(out_mf.domain, "sender.example");
    assert_string_equal(out_mf.mechanism, "-all");
    assert_int_equal(have_helo, 1);
    assert_int_equal(acted, 1);
    assert_string_equal(out_helo.domain, "mail.sender.example");
    spf_result_free(&out_mf);
    spf_result_free(&out_helo);
    /* Taking copies: a second take finds it again. */
    assert_int_equal(handoff_take_spf(&same, &out_mf, &out_helo, &have_helo, &acted), 1);
    spf_result_free(&out_mf);
    spf_result_free(&out_helo);
    /* A local part in another case is another sender. */
    assert_int_equal(handoff_take_spf(&other, &out_mf, &out_helo, &have_helo, &acted), 0);
    /* No HELO identity, not enforced. */
    spf_make(&mf, SPF_STATUS_PASS, "sender.example");
    handoff_put_spf(&other, &mf, NULL, 0);
    spf_result_free(&mf);
    assert_int_equal(handoff_take_spf(&other, &out_mf, &out_helo, &have_helo, &acted), 1);
    assert_int_equal(have_helo, 0);
    assert_int_equal(acted, 0);
    assert_null(out_helo.domain);
    spf_result_free(&out_mf);
    assert_int_equal(handoff_count(), 2);
}

static void test_spf_temperror_not_kept(void **state)
{
    struct handoff_key k = { "192.0.2.10", "h.example", "a@b.example", 0 };
    struct spf_result mf, helo, o1, o2;
    int have_helo, acted;

    (void) state;
    spf_make(&mf, SPF_STATUS_TEMPERROR, "b.example");
    handoff_put_spf(&k, &mf, NULL, 0);
    spf_result_free(&mf);
    spf_make(&mf, SPF_STATUS_PASS, "b.example");
    spf_make(&helo, SPF_STATUS_TEMPERROR, "h.example");
    handoff_put_spf(&k, &mf, &helo, 0);
    spf_result_free(&mf);
    spf_result_free(&helo);
    assert_int_equal(handoff_take_spf(&k, &o1, &o2, &have_helo, &acted), 0);
    assert_int_equal(handoff_count(), 0);
}

static void test_expiry_and_bound(void **state)
{
    struct spf_result mf, o1, o2;
    int have_helo, acted;
    char sender[32];

    (void) state;
    spf_make(&mf, SPF_STATUS_PASS, "b.example");
    handoff_configure(10, 100);
    for (int i = 0; i < 25; i++) {
        struct handoff_key k = { "192.0.2.10", "h.example", sender, 0 };

        snprintf(sender, sizeof(sender), "u%d@b.example", i);
        handoff_put_spf(&k, &mf, NULL, 0);
    }
    assert_int_equal(handoff_count(), 10);
    {
        struct handoff_key old = { "192.0.2.10", "h.example", "u0@b.example", 0 };
        struct handoff_key young = { "192.0.2.10", "h.example", "u24@b.example", 0 };

        assert_int_equal(handoff_take_spf(&old, &o1, &o2, &have_helo, &acted), 0);
        assert_int_equal(handoff_take_spf(&young, &o1, &o2, &have_helo, &acted), 1);
        spf_result_free(&o1);
        usleep(150000);
        assert_int_equal(handoff_take_spf(&young, &o1, &o2, &have_helo, &acted), 0);
    }
    assert_int_equal(handoff_count(), 0);
    spf_result_free(&mf);
}

/* A DNS list result keeps its lists alive: the copy's zone names stay valid. */
static void test_dnsbl(void **state)
{
    const char *sites[] = { "bl.test*3" };
    struct dnsbl_options o = { .sites = sites, .n_sites = 1 };
    struct dns_resolver *r = dns_fixture_new();
    str err = STR_INIT;
    struct dnsbl *d = dnsbl_new(&o, &err);
    struct dnsbl_check *c;
    const struct dnsbl_result *res;
    struct handoff_key k = { "192.0.2.66", "h.example", "a@b.example", 0 };
    struct handoff_dnsbl h;

    (void) state;
    assert_non_null(d);
    dns_fixture_add(r, "66.2.0.192.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "66.2.0.192.bl.test", DNS_T_TXT, "listed");
    c = dnsbl_check_new(d, r);
    dnsbl_check_ip(c, "192.0.2.66");
    res = dnsbl_check_collect(c, 0);
    assert_int_equal(res->score, 3);
    handoff_put_dnsbl(&k, d, DNSBL_IP | DNSBL_HELO | DNSBL_MAILFROM, res, 1);
    assert_int_equal(handoff_take_dnsbl(&(struct handoff_key) { "10.0.0.1", "", "", 0 }, &h), 0);
    assert_null(h.lists);
    dnsbl_check_free(c);
    dnsbl_unref(d);
    dns_resolver_free(r);
    assert_int_equal(handoff_take_dnsbl(&k, &h), 1);
    handoff_flush();               /* the table lets go too: only the copy holds the lists */
    assert_int_equal(h.result.score, 3);
    assert_int_equal(h.result.nhits, 1);
    assert_string_equal(h.result.hits[0].list, "bl.test");
    assert_string_equal(h.result.hits[0].identity, "192.0.2.66");
    assert_int_equal(h.kinds, DNSBL_IP | DNSBL_HELO | DNSBL_MAILFROM);
    assert_int_equal(h.acted, 1);
    {
        str text = STR_INIT;

        dnsbl_render(&h.result, &text, 0);
        assert_non_null(strstr(str_cstr(&text), "bl.test=127.0.0.2(+3)"));
        str_free(&text);
    }
    handoff_dnsbl_clear(&h);
    handoff_put_dnsbl(&k, NULL, 0, NULL, 0);
    assert_int_equal(handoff_count(), 0);
    str_free(&err);
}

/*
 * A result with an unknown list is not kept, and takes an earlier result
 * under the same key away (the SPF result stays).
 */
static void test_dnsbl_unknown_not_kept(void **state)
{
    const char *sites[] = { "bl.test*3" };
    struct dnsbl_options o = { .sites = sites, .n_sites = 1 };
    struct dns_resolver *r = dns_fixture_new();
    str err = STR_INIT;
    struct dnsbl *d = dnsbl_new(&o, &err);
    struct dnsbl_check *clean, *failed;
    const struct dnsbl_result *ok, *unknown;
    struct handoff_key k = { "192.0.2.66", "h.example", "a@b.example", 0 };
    struct handoff_dnsbl h;
    struct spf_result mf, o1, o2;
    int have_helo, acted;

    (void) state;
    assert_non_null(d);
    dns_fixture_add(r, "66.2.0.192.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_fail(r, "77.2.0.192.bl.test", DNS_T_A, DNS_TEMPFAIL, 0);
    clean = dnsbl_check_new(d, r);
    dnsbl_check_ip(clean, "192.0.2.66");
    ok = dnsbl_check_collect(clean, 0);
    assert_int_equal(ok->unknown, 0);
    failed = dnsbl_check_new(d, r);
    dnsbl_check_ip(failed, "192.0.2.77");
    unknown = dnsbl_check_collect(failed, 0);
    assert_int_equal(unknown->unknown, 1);
    /* Alone: nothing kept. */
    handoff_put_dnsbl(&k, d, DNSBL_IP, unknown, 1);
    assert_int_equal(handoff_take_dnsbl(&k, &h), 0);
    assert_int_equal(handoff_count(), 0);
    /* After a complete result: that one goes too. */
    handoff_put_dnsbl(&k, d, DNSBL_IP, ok, 1);
    assert_int_equal(handoff_take_dnsbl(&k, &h), 1);
    handoff_dnsbl_clear(&h);
    handoff_put_dnsbl(&k, d, DNSBL_IP, unknown, 1);
    assert_int_equal(handoff_take_dnsbl(&k, &h), 0);
    assert_int_equal(handoff_count(), 0);
    /* An SPF result under the same key stays. */
    spf_make(&mf, SPF_STATUS_PASS, "b.example");
    handoff_put_spf(&k, &mf, NULL, 0);
    spf_result_free(&mf);
    handoff_put_dnsbl(&k, d, DNSBL_IP, ok, 1);
    handoff_put_dnsbl(&k, d, DNSBL_IP, unknown, 1);
    assert_int_equal(handoff_take_dnsbl(&k, &h), 0);
    assert_int_equal(handoff_take_spf(&k, &o1, &o2, &have_helo, &acted), 1);
    spf_result_free(&o1);
    dnsbl_check_free(clean);
    dnsbl_check_free(failed);
    dnsbl_unref(d);
    dns_resolver_free(r);
    str_free(&err);
}

/* Many threads writing and reading the same and different keys. */
static void *worker(void *arg)
{
    int id = (int) (intptr_t) arg;
    struct spf_result mf, o1, o2;
    int have_helo, acted;
    char sender[32];

    spf_make(&mf, SPF_STATUS_PASS, "b.example");
    for (int i = 0; i < 2000; i++) {
        struct handoff_key k = { "192.0.2.10", "h.example", sender, 0 };

        snprintf(sender, sizeof(sender), "u%d@b.example", (i * 7 + id) % 300);
        if (i % 3)
            handoff_put_spf(&k, &mf, &mf, 0);
        else if (handoff_take_spf(&k, &o1, &o2, &have_helo, &acted)) {
            spf_result_free(&o1);
            spf_result_free(&o2);
        }
    }
    spf_result_free(&mf);
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[8];

    (void) state;
    handoff_configure(100, 60000);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *) (intptr_t) i), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_true(handoff_count() <= 100);
}

/* ---------------------------------------------------------------- the milter's SPF check */

static struct dns_resolver *fixture;

static void use_config(const char *text)
{
    char path[] = "/tmp/rampart-handoff-XXXXXX";
    int fd = mkstemp(path);
    str err = STR_INIT;
    static const char base[] = "av_mode = off\ndkim_mode = off\ndmarc_mode = off\nauthserv_id = mx.test\n";
    struct config *c;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, base, strlen(base)), (ssize_t) strlen(base));
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    if (config_reload(path, NULL, 0, &err) != 0)
        fail_msg("config: %s", str_cstr(&err));
    unlink(path);
    core_shutdown();
    if (fixture == NULL) {
        fixture = dns_fixture_new();
        dns_fixture_add(fixture, "sender.example", DNS_T_TXT, "v=spf1 ip4:192.0.2.0/25 -all");
    }
    c = config_current();
    if (core_init_with_resolver(c, fixture, &err) != 0)
        fail_msg("core: %s", str_cstr(&err));
    config_unref(c);
    str_free(&err);
}

static int pipeline_teardown(void **state)
{
    (void) state;
    core_shutdown();
    config_install(NULL);
    counter_reset_all();
    handoff_flush();
    if (fixture) {
        dns_resolver_free(fixture);
        fixture = NULL;
    }
    return 0;
}

/* One message from 198.51.100.66 (outside sender.example's SPF). */
/* A message through the milter's pipeline; at_rcpt (if not NULL) runs at RCPT, as the policy service would. */
static void message_rcpt(struct txn *t, void (*at_rcpt)(void))
{
    txn_init(t);
    txn_set_client(t, "198.51.100.66", "");
    txn_set_helo(t, "");
    txn_mail(t, "<alice@sender.example>", NULL);
    if (at_rcpt)
        at_rcpt();
    txn_rcpt(t, "<bob@rcpt.example>");
    txn_header(t, "From", " alice@sender.example", 21);
    txn_eoh(t);
    txn_eom(t);
}

static void message(struct txn *t)
{
    message_rcpt(t, NULL);
}

/* The policy service enforced an SPF fail, or a listing, for this key. */
static void put_spf_fail_acted(void)
{
    struct handoff_key k = { "198.51.100.66", "", "alice@sender.example", 0 };
    struct spf_result mf;

    spf_make(&mf, SPF_STATUS_FAIL, "sender.example");
    handoff_put_spf(&k, &mf, NULL, 1);
    spf_result_free(&mf);
}

static const struct verdict_entry *entry(const struct txn *t, const char *check)
{
    for (int i = 0; i < t->verdict.n; i++)
        if (strcmp(t->verdict.e[i].check, check) == 0)
            return &t->verdict.e[i];
    return NULL;
}

/* The spf= result in Authentication-Results. */
static const char *spf_authres(const struct txn *t)
{
    for (int i = 0; i < t->authres.n; i++)
        if (strcmp(t->authres.r[i].method, "spf") == 0)
            return t->authres.r[i].result;
    return "";
}

static void test_milter_takes_result(void **state)
{
    struct handoff_key k = { "198.51.100.66", "", "alice@sender.example", 0 };
    struct spf_result mf;
    struct txn t;
    int q;

    (void) state;
    use_config("policy_listen = inet:127.0.0.1:10045\npolicy_spf_mode = enforce\n");
    /* Enforced at this transaction's RCPT: reported, not acted upon again, no DNS asked. */
    q = dns_fixture_queries(fixture);
    message_rcpt(&t, put_spf_fail_acted);
    assert_int_equal(dns_fixture_queries(fixture), q);
    assert_non_null(entry(&t, "spf"));
    assert_string_equal(entry(&t, "spf")->result, "fail");
    assert_int_equal(entry(&t, "spf")->action, VERDICT_ACCEPT);
    assert_string_equal(spf_authres(&t), "fail");
    txn_free(&t);
    /* Enforced for an earlier transaction (whose recipient this one may not have):
       the result stands, the milter acts on it. */
    usleep(3000);
    message(&t);
    assert_int_equal(dns_fixture_queries(fixture), q);
    assert_string_equal(entry(&t, "spf")->result, "fail");
    assert_int_equal(t.verdict.action, VERDICT_REJECT);
    txn_free(&t);
    /* Handed over in monitor mode: the milter acts. */
    spf_make(&mf, SPF_STATUS_FAIL, "sender.example");
    handoff_put_spf(&k, &mf, NULL, 0);
    message(&t);
    assert_int_equal(dns_fixture_queries(fixture), q);
    assert_int_equal(t.verdict.action, VERDICT_REJECT);
    txn_free(&t);
    spf_result_free(&mf);
    /* Nothing handed over: evaluated at end of message. */
    handoff_flush();
    message(&t);
    assert_true(dns_fixture_queries(fixture) > q);
    assert_string_equal(entry(&t, "spf")->result, "fail");
    assert_int_equal(t.verdict.action, VERDICT_REJECT);
    txn_free(&t);
    /* Without the policy service's SPF the milter does not wait. */
    use_config("policy_listen = inet:127.0.0.1:10045\npolicy_spf_mode = off\n");
    spf_make(&mf, SPF_STATUS_PASS, "sender.example");
    handoff_put_spf(&k, &mf, NULL, 0);
    spf_result_free(&mf);
    message(&t);
    /* ... but a result already there is used (same key: same answer) */
    assert_string_equal(entry(&t, "spf")->result, "pass");
    txn_free(&t);
}

/*
 * The policy service's DNS lists timed out at RCPT: nothing is handed
 * over, and the milter looks the envelope up itself and finds the listing.
 */
static void test_milter_dnsbl_after_unknown(void **state)
{
    struct handoff_key k = { "198.51.100.66", "", "alice@sender.example", 0 };
    struct dns_resolver *failing = dns_fixture_new();
    struct dnsbl *lists;
    struct dnsbl_check *c;
    const struct dnsbl_result *r;
    struct txn t;

    (void) state;
    use_config("policy_listen = inet:127.0.0.1:10045\npolicy_dnsbl_mode = enforce\ndnsbl_sites = bl.test*3\n");
    dns_fixture_add(fixture, "66.100.51.198.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_fail(failing, "66.100.51.198.bl.test", DNS_T_A, DNS_TEMPFAIL, 0);
    lists = core_dnsbl();
    assert_non_null(lists);
    c = dnsbl_check_new(lists, failing);
    dnsbl_check_ip(c, "198.51.100.66");
    r = dnsbl_check_collect(c, 0);
    assert_int_equal(r->unknown, 1);
    handoff_put_dnsbl(&k, lists, DNSBL_IP | DNSBL_HELO | DNSBL_MAILFROM, r, 1);
    message(&t);
    assert_non_null(entry(&t, "dnsbl"));
    assert_string_equal(entry(&t, "dnsbl")->result, "listed");
    assert_int_equal(t.verdict.action, VERDICT_REJECT);
    txn_free(&t);
    dnsbl_check_free(c);
    dnsbl_unref(lists);
    dns_resolver_free(failing);
}

/* A listing the policy service enforced, handed over (set by the test). */
static struct dnsbl *acted_lists;
static const struct dnsbl_result *acted_result;

static void put_dnsbl_acted(void)
{
    struct handoff_key k = { "198.51.100.66", "", "alice@sender.example", 0 };

    handoff_put_dnsbl(&k, acted_lists, DNSBL_IP | DNSBL_HELO | DNSBL_MAILFROM, acted_result, 1);
}

/* A listing enforced at this transaction's RCPT is not acted upon again; one of an earlier transaction is. */
static void test_milter_dnsbl_acted(void **state)
{
    struct dnsbl_check *c;
    struct txn t;

    (void) state;
    use_config("policy_listen = inet:127.0.0.1:10045\npolicy_dnsbl_mode = enforce\ndnsbl_sites = bl.test*3\n"
               "spf_mode = off\n");
    dns_fixture_add(fixture, "66.100.51.198.bl.test", DNS_T_A, "127.0.0.2");
    acted_lists = core_dnsbl();
    c = dnsbl_check_new(acted_lists, fixture);
    dnsbl_check_ip(c, "198.51.100.66");
    acted_result = dnsbl_check_collect(c, 0);
    assert_int_equal(acted_result->nhits, 1);
    message_rcpt(&t, put_dnsbl_acted);
    assert_string_equal(entry(&t, "dnsbl")->result, "listed");
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    txn_free(&t);
    usleep(3000);
    message(&t);
    assert_string_equal(entry(&t, "dnsbl")->result, "listed");
    assert_int_equal(t.verdict.action, VERDICT_REJECT);
    txn_free(&t);
    dnsbl_check_free(c);
    dnsbl_unref(acted_lists);
}

static void test_expect(void **state)
{
    struct config *c = config_defaults();
    str err = STR_INIT;

    (void) state;
    assert_int_equal(handoff_expect_spf(c), 0);
    assert_int_equal(handoff_expect_dnsbl(c), 0);
    assert_int_equal(config_set(c, "policy_listen", "inet:127.0.0.1:10045", "test", &err), 0);
    assert_int_equal(handoff_expect_spf(c), 1);
    assert_int_equal(handoff_expect_dnsbl(c), 1);
    assert_int_equal(config_set(c, "policy_dnsbl_mode", "off", "test", &err), 0);
    assert_int_equal(handoff_expect_dnsbl(c), 0);
    config_unref(c);
    str_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_spf_roundtrip, reset),
        cmocka_unit_test_setup(test_spf_temperror_not_kept, reset),
        cmocka_unit_test_setup(test_expiry_and_bound, reset),
        cmocka_unit_test_setup(test_dnsbl, reset),
        cmocka_unit_test_setup(test_dnsbl_unknown_not_kept, reset),
        cmocka_unit_test_setup(test_threads, reset),
        cmocka_unit_test_setup(test_expect, reset),
        cmocka_unit_test_setup_teardown(test_milter_takes_result, reset, pipeline_teardown),
        cmocka_unit_test_setup_teardown(test_milter_dnsbl_after_unknown, reset, pipeline_teardown),
        cmocka_unit_test_setup_teardown(test_milter_dnsbl_acted, reset, pipeline_teardown),
    };

    log_set_level(LOG_LVL_WARNING);
    return cmocka_run_group_tests_name("handoff", tests, NULL, NULL);
}
