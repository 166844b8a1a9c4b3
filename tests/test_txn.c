/*
 * test_txn.c - the pipeline without a milter: messages, limits and their
 * actions in every mode, forged Authentication-Results removal (deleted
 * from the highest index down), trusted and authenticated clients, reset
 * between messages of one connection, many recipients, tagging.
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

#include "core.h"
#include "counters.h"
#include "dns.h"
#include "log.h"
#include "rconfig.h"
#include "txn.h"
#include "util.h"

static struct dns_resolver *fixture;

/* Install a configuration made of the given lines, and the core on the DNS fixture. */
static void use_config(const char *text)
{
    char path[] = "/tmp/rampart-txn-XXXXXX";
    int fd = mkstemp(path);
    str err = STR_INIT;
    /* No signature database here: the scanner is tested on its own. */
    static const char base[] = "av_mode = off\n";

    assert_true(fd >= 0);
    if (strstr(text, "av_mode") == NULL)
        assert_int_equal(write(fd, base, strlen(base)), (ssize_t) strlen(base));
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    if (config_reload(path, NULL, 0, &err) != 0)
        fail_msg("config: %s", str_cstr(&err));
    unlink(path);
    core_shutdown();
    if (fixture == NULL)
        fixture = dns_fixture_new();
    {
        struct config *c = config_current();

        if (core_init_with_resolver(c, fixture, &err) != 0)
            fail_msg("core: %s", str_cstr(&err));
        config_unref(c);
    }
    str_free(&err);
}

static int teardown(void **state)
{
    (void) state;
    core_shutdown();
    config_install(NULL);
    counter_reset_all();
    if (fixture) {
        dns_resolver_free(fixture);
        fixture = NULL;
    }
    return 0;
}

/* Send a simple message through t. */
static void simple_message(struct txn *t, int extra_headers)
{
    txn_mail(t, "<alice@example.org>", NULL);
    txn_rcpt(t, "<bob@example.net>");
    txn_header(t, "From", " alice@example.org", 18);
    txn_header(t, "Subject", " hello", 6);
    for (int i = 0; i < extra_headers; i++)
        txn_header(t, "X-Filler", " x", 2);
    txn_eoh(t);
    txn_body(t, (const unsigned char *) "Hi.\r\n", 5);
    txn_eom(t);
}

/* Find an edit; NULL if none. */
static const struct txn_edit *find_edit(const struct txn *t, enum txn_edit_op op, const char *name)
{
    for (int i = 0; i < t->nedits; i++)
        if (t->edits[i].op == op && strcmp(t->edits[i].name, name) == 0)
            return &t->edits[i];
    return NULL;
}

static void test_plain_message(void **state)
{
    struct txn t;
    const struct txn_edit *e;

    (void) state;
    use_config("authserv_id = mx.lab.example\n");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "client.example");
    txn_set_helo(&t, "client.example");
    simple_message(&t, 0);
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    assert_int_equal(t.nedits, 1);
    e = find_edit(&t, TXN_EDIT_INSERT, "Authentication-Results");
    assert_non_null(e);
    assert_int_equal(e->index, 0);
    /* No SPF or DMARC records in the fixture. */
    assert_string_equal(e->value, " mx.lab.example;\n\tspf=none smtp.mailfrom=alice@example.org; "
                                  "spf=none smtp.helo=client.example;\n\tdkim=none; dmarc=none header.from=example.org");
    assert_null(t.quarantine_reason);
    txn_log(&t, 1);
    txn_free(&t);
    assert_int_equal(counter_get("message.action.accept"), 1);
}

static void test_forged_authres(void **state)
{
    struct txn t;

    (void) state;
    use_config("authserv_id = mx.lab.example\n");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "client.example");
    txn_mail(&t, "<a@example.org>", NULL);
    txn_header(&t, "Authentication-Results", " example.net; spf=pass", 22);        /* 1: foreign, stays */
    txn_header(&t, "Authentication-Results", " MX.LAB.EXAMPLE; spf=pass", 25);     /* 2: ours, other case */
    txn_header(&t, "Subject", " x", 2);
    txn_header(&t, "From", " a@example.org", 14);
    txn_header(&t, "authentication-results", "\n\tmx.lab.example;\n\tdkim=pass", 27); /* 3: folded */
    txn_header(&t, "Authentication-Results", " ;;garbage", 10);                   /* 4: unparseable */
    txn_header(&t, "Authentication-Results", " mx.lab.example.evil; spf=pass", 30); /* 5: foreign */
    txn_eoh(&t);
    txn_eom(&t);
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    /* Deletions first, highest index first; then ours at the top. */
    assert_int_equal(t.nedits, 4);
    assert_int_equal(t.n_ar_remove, 3);
    assert_int_equal(t.edits[0].op, TXN_EDIT_DELETE);
    assert_int_equal(t.edits[0].index, 4);
    assert_int_equal(t.edits[1].index, 3);
    assert_int_equal(t.edits[2].index, 2);
    assert_int_equal(t.edits[3].op, TXN_EDIT_INSERT);
    txn_free(&t);

    /* Mail of an authenticated client runs no checks, and loses its forged results all the same. */
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "client.example");
    txn_mail(&t, "<a@example.org>", "alice");
    assert_true(t.skip);
    txn_header(&t, "Authentication-Results", " mx.lab.example; dmarc=pass header.from=bank.example", 52);
    txn_header(&t, "From", " a@bank.example", 15);
    txn_eoh(&t);
    txn_eom(&t);
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    assert_int_equal(t.nedits, 1);
    assert_int_equal(t.edits[0].op, TXN_EDIT_DELETE);
    assert_int_equal(t.edits[0].index, 1);
    assert_int_equal(t.ar_removed, 1);
    txn_free(&t);
}

/* At most TXN_MAX_AR_REMOVE (1000) forged results are removed; past that the message is refused. */
static void test_forged_authres_flood(void **state)
{
    (void) state;
    use_config("authserv_id = mx.lab.example\nmax_header_count = 5000\n");
    for (int n = 1000; n <= 1001; n++) {
        struct txn t;

        txn_init(&t);
        txn_set_client(&t, "192.0.2.66", "client.example");
        txn_mail(&t, "<a@example.org>", NULL);
        for (int i = 0; i < n; i++)
            txn_header(&t, "Authentication-Results", " mx.lab.example; spf=pass", 25);
        txn_header(&t, "From", " a@example.org", 14);
        txn_eoh(&t);
        txn_eom(&t);
        if (n == 1000) {
            assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
            assert_int_equal(t.ar_removed, 1000);
            assert_int_equal(t.edits[0].index, 1000);
            assert_int_equal(t.edits[999].index, 1);
        } else {
            assert_int_equal(t.verdict.action, VERDICT_REJECT);
            assert_string_equal(verdict_winner(&t.verdict)->rcode, "554");
            assert_string_equal(str_cstr(&t.reply), "Too many forged Authentication-Results header fields");
            assert_int_equal(t.nedits, 0);
        }
        txn_free(&t);
    }
}

static void test_limits_reject(void **state)
{
    static const struct {
        const char *conf;
        int extra_headers;
        ssize_t body;
        const char *result;
    } cases[] = {
        { "max_header_count = 10\n", 8, 0, "header_count" },
        { "max_headers_size = 4k\n", 239, 0, "headers_size" },   /* 29 + 239 * 17 = 4092 */
        { "max_message_size = 64k\n", 0, 70000, "message_size" },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct txn t;
        static unsigned char body[70000];
        const struct verdict_entry *w;

        use_config(cases[i].conf);
        txn_init(&t);
        txn_set_client(&t, "192.0.2.66", "x");
        txn_mail(&t, "<a@example.org>", NULL);
        txn_header(&t, "Subject", " one", 4);
        txn_header(&t, "From", " a@example.org", 14);
        /* At the limit is fine ... */
        for (int h = 0; h < cases[i].extra_headers; h++)
            txn_header(&t, "X-Filler", " xxxxxxxx", 9);
        assert_int_equal(t.limit, TXN_LIMIT_NONE);
        /* ... one more is over. */
        if (cases[i].extra_headers)
            txn_header(&t, "X-Filler", " xxxxxxxx", 9);
        txn_eoh(&t);
        if (cases[i].body) {
            txn_body(&t, body, 65536);
            assert_int_equal(t.limit, TXN_LIMIT_NONE);
            txn_body(&t, body, cases[i].body - 65536);
        }
        txn_eom(&t);
        assert_int_equal(t.verdict.action, VERDICT_REJECT);
        w = verdict_winner(&t.verdict);
        assert_string_equal(w->check, "limits");
        assert_string_equal(w->result, cases[i].result);
        assert_string_equal(w->rcode, "552");
        assert_string_equal(w->xcode, "5.3.4");
        assert_true(t.reply.len > 0);
        txn_free(&t);
    }
}

static void test_header_size_limit(void **state)
{
    struct txn t;
    str big = STR_INIT;

    (void) state;
    use_config("max_header_size = 1k\n");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "x");
    txn_mail(&t, "<a@example.org>", NULL);
    while (big.len < 1024 - (ssize_t) strlen("Subject"))
        str_addc(&big, 'y');
    txn_header(&t, "Subject", big.data, big.len);       /* exactly 1k: fine */
    assert_int_equal(t.limit, TXN_LIMIT_NONE);
    str_addc(&big, 'y');
    txn_header(&t, "Subject", big.data, big.len);       /* 1k + 1 */
    assert_int_equal(t.limit, TXN_LIMIT_HEADER_SIZE);
    /* A forged A-R after the limit is still found. */
    txn_header(&t, "Authentication-Results", " mx; spf=pass", 13);
    txn_eom(&t);
    assert_int_equal(t.n_ar_remove, 0);  /* authserv_id is the host name here, not "mx" */
    assert_int_equal(t.verdict.action, VERDICT_REJECT);
    txn_free(&t);
    str_free(&big);
}

static void test_limits_actions(void **state)
{
    struct txn t;
    const struct txn_edit *e;

    (void) state;
    /* quarantine: hold reason and headers. */
    use_config("max_header_count = 10\nlimits_action = quarantine\nauthserv_id = mx\n");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "x");
    simple_message(&t, 20);
    assert_int_equal(t.verdict.action, VERDICT_QUARANTINE);
    assert_non_null(t.quarantine_reason);
    assert_non_null(strstr(t.quarantine_reason, "limits=header_count"));
    e = find_edit(&t, TXN_EDIT_ADD, "X-Rampart-Action");
    assert_non_null(e);
    assert_string_equal(e->value, "quarantine");
    assert_non_null(find_edit(&t, TXN_EDIT_ADD, "X-Rampart-Reason"));
    assert_non_null(find_edit(&t, TXN_EDIT_INSERT, "Authentication-Results"));
    txn_reset_message(&t);

    /* tag with a Subject prefix. */
    use_config("max_header_count = 10\nlimits_action = tag\ntag_subject_prefix = [SPAM] \n");
    simple_message(&t, 20);
    assert_int_equal(t.verdict.action, VERDICT_TAG);
    e = find_edit(&t, TXN_EDIT_CHANGE, "Subject");
    assert_non_null(e);
    assert_int_equal(e->index, 1);
    assert_string_equal(e->value, "[SPAM] hello");
    assert_null(t.quarantine_reason);
    txn_reset_message(&t);

    /* tempfail. */
    use_config("max_header_count = 10\nlimits_action = tempfail\n");
    simple_message(&t, 20);
    assert_int_equal(t.verdict.action, VERDICT_TEMPFAIL);
    assert_string_equal(verdict_winner(&t.verdict)->rcode, "451");
    txn_reset_message(&t);

    /* monitor: nothing changes but the log and the counters. */
    use_config("max_header_count = 10\nlimits_mode = monitor\nauthserv_id = mx\n");
    simple_message(&t, 20);
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    assert_string_equal(t.verdict.e[0].check, "limits");
    assert_true(t.verdict.e[0].monitor);
    assert_null(find_edit(&t, TXN_EDIT_ADD, "X-Rampart-Action"));
    assert_non_null(find_edit(&t, TXN_EDIT_INSERT, "Authentication-Results"));
    assert_int_equal(counter_get("monitor.limits.reject"), 1);
    txn_log(&t, 1);
    txn_reset_message(&t);

    /* off: not even counted. */
    use_config("max_header_count = 10\nlimits_mode = off\nspf_mode = off\ndmarc_mode = off\ndkim_mode = off\n");
    simple_message(&t, 20);
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    assert_int_equal(t.verdict.n, 0);
    txn_free(&t);
}

/* Send a message whose From and Subject come after 12 Received fields. */
static void late_from_message(struct txn *t)
{
    txn_mail(t, "<alice@example.org>", NULL);
    txn_rcpt(t, "<bob@example.net>");
    for (int i = 0; i < 12; i++)
        txn_header(t, "Received", " from x by y", 12);
    txn_header(t, "From", " alice@example.org", 18);
    txn_header(t, "Subject", " hello", 6);
    txn_eoh(t);
    txn_body(t, (const unsigned char *) "Hi.\r\n", 5);
    txn_eom(t);
}

/*
 * Past a header limit the fields after it are not kept: the checks that
 * judge header fields are not run on what is left (here the From field is
 * missing, which DMARC would refuse), and no Subject is added for a tag.
 */
static void test_limits_headers_cut(void **state)
{
    struct txn t;
    const struct txn_edit *e;

    (void) state;
    use_config("max_header_count = 10\nlimits_mode = monitor\nauthserv_id = mx\n");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "x");
    late_from_message(&t);
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    for (int i = 0; i < t.verdict.n; i++)
        if (strcmp(t.verdict.e[i].check, "dkim") == 0 || strcmp(t.verdict.e[i].check, "dmarc") == 0)
            assert_string_equal(t.verdict.e[i].result, "not_checked");
    e = find_edit(&t, TXN_EDIT_INSERT, "Authentication-Results");
    assert_non_null(e);
    assert_non_null(strstr(e->value, "dkim=permerror (header fields over the limit, not checked)"));
    assert_non_null(strstr(e->value, "dmarc=permerror (header fields over the limit, not checked)"));
    txn_reset_message(&t);

    /* Within the limit the same message is judged: no From, refused. */
    use_config("max_header_count = 20\nauthserv_id = mx\n");
    txn_mail(&t, "<alice@example.org>", NULL);
    txn_header(&t, "Subject", " hello", 6);
    txn_eoh(&t);
    txn_eom(&t);
    assert_int_equal(t.verdict.action, VERDICT_REJECT);
    txn_reset_message(&t);

    /* A tag: the Subject was left out, so none is added (the message has one). */
    use_config("max_header_count = 10\nlimits_action = tag\ntag_subject_prefix = [SPAM]\n");
    late_from_message(&t);
    assert_int_equal(t.verdict.action, VERDICT_TAG);
    assert_null(find_edit(&t, TXN_EDIT_ADD, "Subject"));
    assert_null(find_edit(&t, TXN_EDIT_CHANGE, "Subject"));
    assert_non_null(find_edit(&t, TXN_EDIT_ADD, "X-Rampart-Action"));
    txn_free(&t);
}

static void test_skip(void **state)
{
    struct txn t;

    (void) state;
    use_config("trusted_networks = 192.0.2.0/24, 2001:db8::/32\n");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "x");
    assert_true(t.trusted);
    simple_message(&t, 0);
    assert_true(t.skip);
    assert_int_equal(t.nedits, 0);
    txn_reset_message(&t);
    txn_set_client(&t, "::ffff:192.0.2.7", "x");
    assert_true(t.trusted);
    txn_set_client(&t, "2001:db8::66", "x");
    assert_true(t.trusted);
    txn_set_client(&t, "198.51.100.1", "x");
    assert_false(t.trusted);
    txn_set_client(&t, "not-an-address", "x");
    assert_false(t.trusted);

    /* Authenticated: skipped unless skip_authenticated = no. */
    txn_set_client(&t, "198.51.100.1", "x");
    txn_mail(&t, "<a@example.org>", "alice");
    assert_true(t.skip);
    txn_reset_message(&t);
    use_config("skip_authenticated = no\n");
    txn_mail(&t, "<a@example.org>", "alice");
    assert_false(t.skip);
    txn_free(&t);
}

static void test_reset_between_messages(void **state)
{
    struct txn t;

    (void) state;
    use_config("max_header_count = 10\nauthserv_id = mx\n");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "x");
    /* An aborted message (RSET) leaves nothing behind. */
    txn_mail(&t, "<a@example.org>", NULL);
    for (int i = 0; i < 20; i++)
        txn_header(&t, "X-Filler", " x", 2);
    txn_reset_message(&t);
    /* A second MAIL FROM without RSET starts clean too. */
    txn_mail(&t, "<b@example.org>", NULL);
    for (int i = 0; i < 20; i++)
        txn_header(&t, "X-Filler", " x", 2);
    txn_mail(&t, "<c@example.org>", NULL);
    assert_int_equal(t.limit, TXN_LIMIT_NONE);
    assert_int_equal(t.headers.n, 0);
    txn_reset_message(&t);
    simple_message(&t, 0);
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    assert_string_equal(str_cstr(&t.mail_from), "<alice@example.org>");
    txn_free(&t);
}

static void test_many_recipients(void **state)
{
    struct txn t;

    (void) state;
    use_config("authserv_id = mx\n");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "x");
    txn_mail(&t, "<a@example.org>", NULL);
    for (int i = 0; i < 5000; i++)
        txn_rcpt(&t, "<someone@example.net>");
    txn_eom(&t);
    assert_int_equal(t.nrcpt, 5000);
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);
    txn_free(&t);
}

static void test_hostile_envelope(void **state)
{
    struct txn t;
    str big = STR_INIT;

    (void) state;
    use_config("authserv_id = mx\n");
    while (big.len < 100000)
        str_adds(&big, "\xff\x01x");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", big.data);
    txn_set_helo(&t, big.data);
    assert_int_equal(t.helo.len, TXN_MAX_VALUE);
    txn_mail(&t, big.data, NULL);
    assert_int_equal(t.mail_from.len, TXN_MAX_VALUE);
    txn_mail(&t, NULL, NULL);
    txn_set_helo(&t, "[192.0.2.66]");
    txn_eom(&t);
    txn_log(&t, 0);
    txn_free(&t);
    str_free(&big);
}

/* Collect split fields as "name=value|". */
static void collect(const char *name, const char *value, ssize_t len, void *arg)
{
    str_addf(arg, "%s=", name);
    str_add(arg, value, len);
    str_addc(arg, '|');
}

static void test_msg_split(void **state)
{
    static const struct {
        const char *msg;
        const char *fields;
        const char *body;
    } cases[] = {
        { "A: 1\r\nB: two\r\n\tlines\r\n\r\nbody\r\n", "A= 1|B= two\n\tlines|", "body\r\n" },
        { "A: 1\nB:2\n\nbody", "A= 1|B=2|", "body" },
        { "A: 1\nnot a header line\nmore", "A= 1|", "not a header line\nmore" },
        { "A: 1", "A= 1|", "" },
        { "", "", "" },
        { "\nbody only", "", "body only" },
        { " leading continuation\nA: 1\n\n", "", " leading continuation\nA: 1\n\n" },
        { ": no name\n\n", "", ": no name\n\n" },
        { "Bad Name: x\n\n", "", "Bad Name: x\n\n" },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        str got = STR_INIT;
        ssize_t body = msg_split(cases[i].msg, (ssize_t) strlen(cases[i].msg), collect, &got);

        assert_string_equal(str_cstr(&got), cases[i].fields);
        assert_string_equal(cases[i].msg + body, cases[i].body);
        str_free(&got);
    }
}

/* The debug lines of the checks, in the order they were written. */
static str order_lines = STR_INIT;

static void order_hook(int level, const char *line, void *arg)
{
    (void) level;
    (void) arg;
    if (strncmp(line, "av: ", 4) == 0 || strncmp(line, "spf: ", 5) == 0) {
        str_adds(&order_lines, line);
        str_addc(&order_lines, '\n');
    }
}

/*
 * At end of message the virus scan, which waits for no DNS answer, runs
 * before the checks that wait for theirs (here SPF, whose lookup does not
 * answer for a second), so the answers arrive while it scans.
 */
static void test_scan_before_dns_waits(void **state)
{
    struct txn t;
    const char *av, *spf;
    static const char body[] = "--b\r\nContent-Type: application/octet-stream\r\n\r\nAAAA\r\n--b--\r\n";

    (void) state;
    use_config("authserv_id = mx.lab.example\nspf_timeout = 1s\ndmarc_mode = off\n"
               "av_mode = monitor\nav_database_dir = /nonexistent/rampart-test-db\n");
    dns_fixture_fail(fixture, "slow.example", DNS_T_TXT, DNS_TEMPFAIL, 1);
    str_reset(&order_lines);
    log_set_level(LOG_LVL_DEBUG);
    log_set_hook(order_hook, NULL);
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "client.example");
    txn_set_helo(&t, "client.example");
    txn_mail(&t, "<alice@slow.example>", NULL);
    txn_rcpt(&t, "<bob@example.net>");
    txn_header(&t, "From", " alice@slow.example", 19);
    txn_header(&t, "MIME-Version", " 1.0", 4);
    txn_header(&t, "Content-Type", " multipart/mixed; boundary=b", 28);
    txn_eoh(&t);
    txn_body(&t, (const unsigned char *) body, (ssize_t) strlen(body));
    txn_eom(&t);
    log_set_hook(NULL, NULL);
    log_set_level(LOG_LVL_WARNING);
    av = strstr(str_cstr(&order_lines), "av: queue_id= scanned whole: not text only");
    spf = strstr(str_cstr(&order_lines), "spf: checked in ");
    if (av == NULL || spf == NULL || av > spf)
        fail_msg("lines out of order:\n%s", str_cstr(&order_lines));
    /* No database: the scanner's result is there all the same, in the verdict and the header. */
    assert_non_null(find_edit(&t, TXN_EDIT_ADD, "X-Virus-Scanned"));
    assert_non_null(strstr(find_edit(&t, TXN_EDIT_ADD, "X-Virus-Scanned")->value, "unavailable"));
    txn_free(&t);
    str_free(&order_lines);
}

/* How many lookups the fixture had answered when the scanner said it scans. */
static int queries_at_scan = -1;

static void queries_hook(int level, const char *line, void *arg)
{
    (void) level;
    (void) arg;
    if (strncmp(line, "av: queue_id= scanned whole", 27) == 0)
        queries_at_scan = dns_fixture_queries(fixture);
}

/* The body's URL hosts are asked for before the scan starts, not after it. */
static void test_uri_lookups_before_scan(void **state)
{
    struct txn t;
    int before;
    static const char body[] = "--b\r\nContent-Type: text/html\r\n\r\n<a href=\"http://spam.example/x\">x</a>\r\n"
                               "--b\r\nContent-Type: application/octet-stream\r\n\r\nAAAA\r\n--b--\r\n";

    (void) state;
    use_config("authserv_id = mx.lab.example\nspf_mode = off\ndmarc_mode = off\n"
               "dnsbl_sites = uri:uribl.test*5\nav_mode = monitor\nav_database_dir = /nonexistent/rampart-test-db\n");
    dns_fixture_add(fixture, "spam.example.uribl.test", DNS_T_A, "127.0.0.2");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "client.example");
    txn_set_helo(&t, "client.example");
    txn_mail(&t, "<alice@example.org>", NULL);
    txn_rcpt(&t, "<bob@example.net>");
    txn_header(&t, "From", " alice@example.org", 18);
    txn_header(&t, "MIME-Version", " 1.0", 4);
    txn_header(&t, "Content-Type", " multipart/mixed; boundary=b", 28);
    txn_eoh(&t);
    txn_body(&t, (const unsigned char *) body, (ssize_t) strlen(body));
    before = dns_fixture_queries(fixture);
    queries_at_scan = -1;
    log_set_level(LOG_LVL_DEBUG);
    log_set_hook(queries_hook, NULL);
    txn_eom(&t);
    log_set_hook(NULL, NULL);
    log_set_level(LOG_LVL_WARNING);
    /* The URL host's lookup was made at end of message, and before the scan. */
    assert_true(dns_fixture_queries(fixture) > before);
    assert_int_equal(queries_at_scan, dns_fixture_queries(fixture));
    /* and it counted: the host is listed. */
    assert_non_null(find_edit(&t, TXN_EDIT_ADD, "X-Rampart-DNSBL"));
    assert_non_null(strstr(find_edit(&t, TXN_EDIT_ADD, "X-Rampart-DNSBL")->value, "score=5; uribl.test"));
    txn_free(&t);
}

/* SPF runs beside the SMTP dialogue: MAIL FROM does not wait for DNS. */
static void test_spf_does_not_block_mail(void **state)
{
    struct txn t;
    const struct txn_edit *e;
    int64_t t0, mail_ms, total_ms;

    (void) state;
    use_config("authserv_id = mx.lab.example\nspf_timeout = 1s\ndmarc_mode = off\n"
               "spf_mailfrom_actions = fail=reject, temperror=accept\n");
    dns_fixture_fail(fixture, "slow.example", DNS_T_TXT, DNS_TEMPFAIL, 1);
    dns_fixture_add(fixture, "client.example", DNS_T_TXT, "v=spf1 +all");
    txn_init(&t);
    txn_set_client(&t, "192.0.2.66", "client.example");
    txn_set_helo(&t, "client.example");
    t0 = clock_now_ms();
    txn_mail(&t, "<alice@slow.example>", NULL);
    mail_ms = clock_now_ms() - t0;
    txn_rcpt(&t, "<bob@example.net>");
    txn_header(&t, "From", " alice@slow.example", 19);
    txn_eoh(&t);
    txn_body(&t, (const unsigned char *) "Hi.\r\n", 5);
    txn_eom(&t);
    total_ms = clock_now_ms() - t0;
    /* The lookup never answers: the evaluation took its whole second, MAIL FROM did not. */
    assert_true(mail_ms < 500);
    assert_true(total_ms >= 900);
    e = find_edit(&t, TXN_EDIT_INSERT, "Authentication-Results");
    assert_non_null(e);
    assert_non_null(strstr(e->value, "spf=temperror (failed TXT lookup for slow.example)\n\tsmtp.mailfrom=alice@slow.example"));
    assert_non_null(strstr(e->value, "spf=pass smtp.helo=client.example"));
    assert_int_equal(t.verdict.action, VERDICT_ACCEPT);

    /* A transaction that ends before its end of message waits for, and frees, its evaluations. */
    txn_reset_message(&t);
    txn_mail(&t, "<carol@slow.example>", NULL);
    txn_reset_message(&t);
    txn_mail(&t, "<dave@slow.example>", NULL);
    txn_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_plain_message, teardown),
        cmocka_unit_test_teardown(test_forged_authres, teardown),
        cmocka_unit_test_teardown(test_forged_authres_flood, teardown),
        cmocka_unit_test_teardown(test_limits_reject, teardown),
        cmocka_unit_test_teardown(test_header_size_limit, teardown),
        cmocka_unit_test_teardown(test_limits_actions, teardown),
        cmocka_unit_test_teardown(test_limits_headers_cut, teardown),
        cmocka_unit_test_teardown(test_skip, teardown),
        cmocka_unit_test_teardown(test_reset_between_messages, teardown),
        cmocka_unit_test_teardown(test_many_recipients, teardown),
        cmocka_unit_test_teardown(test_hostile_envelope, teardown),
        cmocka_unit_test_teardown(test_spf_does_not_block_mail, teardown),
        cmocka_unit_test_teardown(test_scan_before_dns_waits, teardown),
        cmocka_unit_test_teardown(test_uri_lookups_before_scan, teardown),
        cmocka_unit_test(test_msg_split),
    };

    log_set_level(LOG_LVL_WARNING);
    return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
