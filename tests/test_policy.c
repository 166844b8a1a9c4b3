/*
 * test_policy.c - the policy service: request parsing with its limits; the
 * decisions (a table of requests against the DNS fixture: SPF, DNS lists,
 * sender validation, disposable domains, rate limits, each in enforce and
 * monitor mode, every protocol state, once per transaction whether asked
 * at MAIL, RCPT or both, the handoff to the milter (none with an unknown
 * DNS list), replies naming what a DNS list matched, sender counters by
 * lower-case domain, the recipient limit's actions, Redis down, the
 * control commands); and the listener end to
 * end on a unix socket (several requests per connection, CRLF, an oversize
 * request, a 10 MB attribute, a half request that stalls, junk, unknown
 * attributes, 2000 idle connections against a limit of 100, the idle
 * timeout, the control socket).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"
#include "dns.h"
#include "handoff.h"
#include "log.h"
#include "policy.h"
#include "rconfig.h"
#include "str.h"
#include "util.h"

static char sock_path[64], ctl_path[64];

static void test_parse(void **state)
{
    struct policy_request req;
    str why = STR_INIT;
    const char *ok = "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b.example\n"
                     "recipient=\nunknown_attribute=whatever=with=equals\r\n";

    (void) state;
    assert_int_equal(policy_parse(ok, (ssize_t) strlen(ok), &req, &why), 0);
    assert_int_equal(req.n, 5);
    assert_string_equal(policy_attr(&req, "protocol_state"), "RCPT");
    assert_string_equal(policy_attr(&req, "recipient"), "");
    assert_string_equal(policy_attr(&req, "unknown_attribute"), "whatever=with=equals");
    assert_string_equal(policy_attr(&req, "absent"), "");
    policy_request_free(&req);

    assert_int_equal(policy_parse("request=x\nno equals here\n", 25, &req, &why), -1);
    assert_non_null(strstr(str_cstr(&why), "not name=value"));
    str_reset(&why);
    assert_int_equal(policy_parse("=value\n", 7, &req, &why), -1);
    str_reset(&why);
    assert_int_equal(policy_parse("a=b\0c\n", 6, &req, &why), -1);
    assert_non_null(strstr(str_cstr(&why), "NUL"));
    str_free(&why);
}

static void test_parse_attr_limit(void **state)
{
    struct policy_request req;
    str why = STR_INIT, in = STR_INIT;

    (void) state;
    for (int i = 0; i < POLICY_MAX_ATTRS; i++)
        str_addf(&in, "a%d=%d\n", i, i);
    assert_int_equal(policy_parse(in.data, in.len, &req, &why), 0);
    assert_int_equal(req.n, POLICY_MAX_ATTRS);
    policy_request_free(&req);
    str_adds(&in, "one=toomany\n");
    assert_int_equal(policy_parse(in.data, in.len, &req, &why), -1);
    assert_non_null(strstr(str_cstr(&why), "more than"));
    str_free(&why);
    str_free(&in);
}

/* ---------------------------------------------------------------- decisions */

static struct dns_resolver *fixture;

/* Install a configuration of these lines, the core on the DNS fixture, and the checks. */
static void use_config(const char *text)
{
    char path[] = "/tmp/rampart-policy-XXXXXX";
    int fd = mkstemp(path);
    str err = STR_INIT;
    static const char base[] = "av_mode = off\nauthserv_id = mx.test\n";
    struct config *c;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, base, strlen(base)), (ssize_t) strlen(base));
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    if (config_reload(path, NULL, 0, &err) != 0)
        fail_msg("config: %s", str_cstr(&err));
    unlink(path);
    core_shutdown();
    c = config_current();
    if (core_init_with_resolver(c, fixture, &err) != 0)
        fail_msg("core: %s", str_cstr(&err));
    if (policy_checks_init(c, &err) != 0)
        fail_msg("checks: %s", str_cstr(&err));
    config_unref(c);
    str_free(&err);
}

static int decide_setup(void **state)
{
    (void) state;
    fixture = dns_fixture_new();
    dns_set_timeout(fixture, 300);
    dns_fixture_add(fixture, "sender.example", DNS_T_TXT, "v=spf1 ip4:192.0.2.0/25 -all");
    dns_fixture_add(fixture, "sender.example", DNS_T_MX, "10 mail.sender.example");
    dns_fixture_add(fixture, "mail.sender.example", DNS_T_A, "192.0.2.10");
    dns_fixture_add(fixture, "mail.sender.example", DNS_T_TXT, "v=spf1 a -all");
    dns_fixture_add(fixture, "softfail.example", DNS_T_TXT, "v=spf1 ~all");
    dns_fixture_add(fixture, "softfail.example", DNS_T_MX, "10 mail.sender.example");
    dns_fixture_add(fixture, "tempfail.example", DNS_T_MX, "10 mail.sender.example");
    dns_fixture_fail(fixture, "tempfail.example", DNS_T_TXT, DNS_TEMPFAIL, 0);
    dns_fixture_add(fixture, "nullmx.example", DNS_T_MX, "0 .");
    dns_fixture_add(fixture, "noaddr.example", DNS_T_TXT, "v=spf1 -all");
    dns_fixture_fail(fixture, "servfail.example", DNS_T_MX, DNS_TEMPFAIL, 0);
    dns_fixture_add(fixture, "servfail.example", DNS_T_TXT, "v=spf1 ?all");
    dns_fixture_add(fixture, "mailinator.example", DNS_T_MX, "10 mx.mailinator.example");
    dns_fixture_add(fixture, "66.2.0.192.bl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(fixture, "99.100.51.198.bl.test", DNS_T_A, "127.0.0.4");
    dns_fixture_add(fixture, "bad.helo.example.dbl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(fixture, "spam.example.dbl.test", DNS_T_A, "127.0.0.2");
    dns_fixture_add(fixture, "spam.example", DNS_T_MX, "10 mail.sender.example");
    dns_fixture_fail(fixture, "77.2.0.192.bl.test", DNS_T_A, DNS_TEMPFAIL, 0);
    return 0;
}

static int decide_teardown(void **state)
{
    (void) state;
    policy_checks_shutdown();
    core_shutdown();
    config_install(NULL);
    dns_resolver_free(fixture);
    fixture = NULL;
    return 0;
}

/* When the next request asked arrived (0: now). */
static int64_t ask_arrived_ms;

/* Ask: "k=v;k=v" overrides of a base RCPT request. Returns the action (without "action="); log in logtext. */
static const char *ask(const char *over, str *action, str *logtext)
{
    static const char *const base[][2] = {
        { "request", "smtpd_access_policy" }, { "protocol_state", "RCPT" }, { "protocol_name", "ESMTP" },
        { "client_address", "192.0.2.10" }, { "client_name", "mail.sender.example" },
        { "helo_name", "mail.sender.example" }, { "sender", "alice@sender.example" },
        { "recipient", "bob@rcpt.example" }, { "instance", "1.1" }, { "sasl_username", "" },
    };
    str text = STR_INIT, why = STR_INIT;
    struct policy_request req;
    log_line line;

    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
        size_t nl = strlen(base[i][0]);
        int overridden = 0;

        /* An override names the attribute at the start of one of its "k=v" fields. */
        for (const char *p = over; *p; p += strcspn(p, ";"), p += *p == ';')
            if (strncmp(p, base[i][0], nl) == 0 && p[nl] == '=')
                overridden = 1;
        if (!overridden)
            str_addf(&text, "%s=%s\n", base[i][0], base[i][1]);
    }
    for (const char *p = over; *p;) {
        size_t n = strcspn(p, ";");

        str_add(&text, p, (ssize_t) n);
        str_addc(&text, '\n');
        p += n + (p[n] == ';');
    }
    assert_int_equal(policy_parse(text.data, text.len, &req, &why), 0);
    req.arrived_ms = ask_arrived_ms;
    ask_arrived_ms = 0;
    str_reset(action);
    str_reset(logtext);
    log_line_init(&line, "policy:");
    policy_decide(&req, action, &line);
    str_add(logtext, line.buf.data, line.buf.len);
    log_line_free(&line);
    policy_request_free(&req);
    str_free(&text);
    str_free(&why);
    assert_true(strncmp(str_cstr(action), "action=", 7) == 0);
    return str_cstr(action) + 7;
}

static const struct {
    const char *name;
    const char *config;
    const char *request;         /* overrides, "k=v;k=v" */
    const char *action;          /* the answer starts with this */
    const char *log;             /* the summary line contains this (or NULL) */
} decide_cases[] = {
    /* SPF */
    { "spf fail enforced", "policy_spf_mode = enforce\n", "client_address=198.51.100.66;instance=a1",
      "REJECT 5.7.23 SPF check failed for alice@sender.example", "spf=fail" },
    { "spf fail monitored", "", "client_address=198.51.100.66;instance=a2", "DUNNO",
      "spf=fail(monitor:reject)" },
    { "spf pass: Received-SPF", "policy_spf_mode = enforce\n", "instance=a3",
      "PREPEND Received-SPF: pass (", "spf=pass" },
    { "spf pass, no header", "policy_spf_mode = enforce\npolicy_spf_header = no\n", "instance=a4", "DUNNO",
      "spf=pass" },
    { "spf softfail tagged", "policy_spf_mode = enforce\n", "sender=x@softfail.example;instance=a5",
      "PREPEND X-Rampart-Action: tag (spf=softfail)", "spf=softfail" },
    { "spf temperror", "policy_spf_mode = enforce\npolicy_sender_mode = off\n",
      "sender=x@tempfail.example;instance=a6", "DEFER_IF_PERMIT 4.7.24 SPF check of tempfail.example", NULL },
    { "spf off", "policy_spf_mode = off\n", "client_address=198.51.100.66;instance=a7", "DUNNO", NULL },
    { "spf quarantine", "policy_spf_mode = enforce\nspf_mailfrom_actions = fail=quarantine\n"
      "spf_both_fail_action = quarantine\n",
      "client_address=198.51.100.66;instance=a8", "HOLD spf=fail: SPF check failed", NULL },
    { "spf forwarder", "policy_spf_mode = enforce\nspf_allow_forwarders = fwd.example\n",
      "client_address=198.51.100.66;client_name=mx.fwd.example;instance=a9", "PREPEND Received-SPF: fail",
      "spf=fail" },
    /* DNS lists */
    { "dnsbl listed", "policy_dnsbl_mode = enforce\ndnsbl_sites = bl.test*3\n",
      "client_address=192.0.2.66;instance=b1", "REJECT 5.7.1 Service unavailable; client [192.0.2.66] is listed: "
      "bl.test=127.0.0.2(+3)", "dnsbl=listed" },
    { "dnsbl monitor", "dnsbl_sites = bl.test*3\n", "client_address=192.0.2.66;instance=b2", "DUNNO",
      "dnsbl=listed(monitor:reject)" },
    { "dnsbl tag", "policy_dnsbl_mode = enforce\ndnsbl_sites = bl.test\n", "client_address=192.0.2.66;instance=b3",
      "PREPEND X-Rampart-Action: tag (dnsbl=listed)", NULL },
    { "dnsbl filter", "policy_dnsbl_mode = enforce\ndnsbl_sites = bl.test=127.0.0.2*3\n",
      "client_address=198.51.100.99;instance=b4", "DUNNO", "dnsbl=clean" },
    { "dnsbl at connect", "policy_dnsbl_mode = enforce\ndnsbl_sites = bl.test*3\n",
      "protocol_state=CONNECT;client_address=192.0.2.66;instance=;sender=;helo_name=", "REJECT 5.7.1", NULL },
    { "dnsbl at helo", "policy_dnsbl_mode = enforce\ndnsbl_sites = bl.test*3\n",
      "protocol_state=EHLO;client_address=192.0.2.66;instance=;sender=", "REJECT 5.7.1", NULL },
    { "dnsbl trusted", "policy_dnsbl_mode = enforce\ndnsbl_sites = bl.test*3\ntrusted_networks = 192.0.2.0/24\n",
      "client_address=192.0.2.66;instance=b5", "DUNNO", "skipped=trusted" },
    /* sender validation */
    { "sender syntax", "policy_sender_mode = enforce\n", "sender=alice..x@sender.example;instance=c1",
      "REJECT 5.1.7 Bad sender address syntax: the local part has a leading, trailing or double dot", "sender=syntax" },
    { "sender no domain part", "policy_sender_mode = enforce\npolicy_spf_mode = off\n", "sender=alice;instance=c2",
      "REJECT 5.1.7 Bad sender address syntax: the address has no @domain part", NULL },
    { "sender null MX", "policy_sender_mode = enforce\npolicy_spf_mode = off\n", "sender=x@nullmx.example;instance=c3",
      "REJECT 5.7.27 Sender <x@nullmx.example> not accepted: the domain nullmx.example accepts no mail (null MX)", "sender=nullmx" },
    { "sender no MX/A", "policy_sender_mode = enforce\npolicy_spf_mode = off\n", "sender=x@noaddr.example;instance=c4",
      "REJECT 5.1.8 Sender <x@noaddr.example> not accepted: the domain noaddr.example has no mail server", "sender=nomail" },
    { "sender no domain", "policy_sender_mode = enforce\npolicy_spf_mode = off\n",
      "sender=x@nowhere.example;instance=c5", "REJECT 5.1.8 Sender <x@nowhere.example> not accepted: the domain "
      "nowhere.example does not exist", NULL },
    { "sender tempfail", "policy_sender_mode = enforce\npolicy_spf_mode = off\n",
      "sender=x@servfail.example;instance=c6", "DEFER_IF_PERMIT 4.1.8 Sender <x@servfail.example> not checked: the MX records",
      "sender=tempfail" },
    { "sender tempfail accepted", "policy_sender_mode = enforce\npolicy_spf_mode = off\n"
      "policy_sender_tempfail_action = accept\n", "sender=x@servfail.example;instance=c7", "DUNNO", NULL },
    { "sender monitor", "policy_spf_mode = off\n", "sender=x@nullmx.example;instance=c8", "DUNNO",
      "sender=nullmx(monitor:reject)" },
    { "null sender", "policy_sender_mode = enforce\npolicy_spf_mode = off\n", "sender=;instance=c9", "DUNNO",
      "sender=null" },
    { "disposable", "policy_sender_mode = enforce\npolicy_spf_mode = off\n"
      "policy_disposable_domains = @DISPOSABLE@\n", "sender=x@mailinator.example;instance=c10",
      "REJECT 5.7.1 Sender <x@mailinator.example> not accepted: mailinator.example is a disposable address domain",
      "disposable=listed" },
    { "authenticated skipped", "policy_sender_mode = enforce\n", "sender=alice;sasl_username=alice;instance=c11",
      "DUNNO", "skipped=authenticated" },
    /* other states and requests */
    { "end of message", "policy_sender_mode = enforce\n", "protocol_state=END-OF-MESSAGE;sender=alice", "DUNNO", NULL },
    { "vrfy", "policy_sender_mode = enforce\n", "protocol_state=VRFY;sender=alice", "DUNNO", NULL },
    { "data state", "policy_sender_mode = enforce\n", "protocol_state=DATA;sender=alice;instance=d1", "REJECT 5.1.7",
      NULL },
    { "mail state", "policy_sender_mode = enforce\n", "protocol_state=MAIL;sender=alice;instance=d2", "REJECT 5.1.7",
      NULL },
    { "unknown request", "policy_sender_mode = enforce\n", "request=junk;sender=alice", "DUNNO", "request=junk" },
    { "binary values", "", "helo_name=\001\377x;sender=\033[31m@x;instance=d3", "DUNNO", NULL },
    /* Redis down: fail open or closed */
    { "redis down, open", "policy_ratelimit_client_limit = 5\npolicy_ratelimit_redis = unix:/nonexistent/r.sock\n",
      "instance=e1", "DUNNO", "error" },
    { "redis down, closed", "policy_ratelimit_client_limit = 5\npolicy_ratelimit_redis = unix:/nonexistent/r.sock\n"
      "policy_ratelimit_redis_down_action = tempfail\n", "instance=e2",
      "DEFER_IF_PERMIT 4.3.0 Rate limit state unavailable", NULL },
};

static void test_decide_table(void **state)
{
    char list[64];
    str action = STR_INIT, logtext = STR_INIT, cfg = STR_INIT;
    FILE *f;

    (void) state;
    snprintf(list, sizeof(list), "/tmp/rampart-policy-disposable-%ld", (long) getpid());
    f = fopen(list, "w");
    assert_non_null(f);
    fputs("mailinator.example\n", f);
    fclose(f);
    for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
        const char *got, *at;

        str_reset(&cfg);
        for (const char *p = decide_cases[i].config; *p; p++) {
            if ((at = strstr(p, "@DISPOSABLE@")) == p) {
                str_adds(&cfg, list);
                p += strlen("@DISPOSABLE@") - 1;
            } else
                str_addc(&cfg, *p);
        }
        use_config(str_cstr(&cfg));
        got = ask(decide_cases[i].request, &action, &logtext);
        if (strncmp(got, decide_cases[i].action, strlen(decide_cases[i].action)) != 0)
            fail_msg("%s: expected \"%s\", got \"%s\"\n  log: %s", decide_cases[i].name, decide_cases[i].action, got,
                     str_cstr(&logtext));
        if (decide_cases[i].log && !strstr(str_cstr(&logtext), decide_cases[i].log))
            fail_msg("%s: log lacks \"%s\": %s", decide_cases[i].name, decide_cases[i].log, str_cstr(&logtext));
    }
    unlink(list);
    str_free(&action);
    str_free(&logtext);
    str_free(&cfg);
}

/* One transaction, one evaluation: later recipients reuse it; the PREPEND goes out once; the milter gets it. */
static void test_decide_once(void **state)
{
    str action = STR_INIT, logtext = STR_INIT;
    struct handoff_key k = { "192.0.2.10", "mail.sender.example", "alice@sender.example", 0 };
    struct spf_result mf, helo;
    int have_helo, acted, q;

    (void) state;
    use_config("policy_spf_mode = enforce\npolicy_sender_mode = enforce\ndnsbl_sites = bl.test*3\n"
               "policy_dnsbl_mode = enforce\n");
    handoff_flush();
    q = dns_fixture_queries(fixture);
    assert_non_null(strstr(ask("instance=o1;recipient=r1@rcpt.example", &action, &logtext), "PREPEND Received-SPF: pass"));
    /* One line: the header's folds are undone. */
    assert_null(strchr(str_cstr(&action), '\n'));
    assert_non_null(strstr(str_cstr(&action), "sender) client-ip=192.0.2.10; envelope-from="));
    assert_true(dns_fixture_queries(fixture) > q);
    q = dns_fixture_queries(fixture);
    assert_string_equal(ask("instance=o1;recipient=r2@rcpt.example", &action, &logtext), "DUNNO");
    assert_non_null(strstr(str_cstr(&logtext), "cached=yes"));
    assert_non_null(strstr(str_cstr(&logtext), "spf=pass"));
    assert_string_equal(ask("instance=o1;recipient=r3@rcpt.example;protocol_state=DATA", &action, &logtext), "DUNNO");
    assert_int_equal(dns_fixture_queries(fixture), q);
    /* The milter finds SPF and the DNS lists. */
    assert_int_equal(handoff_take_spf(&k, &mf, &helo, &have_helo, &acted), 1);
    assert_int_equal(mf.status, SPF_STATUS_PASS);
    assert_int_equal(have_helo, 1);
    assert_int_equal(acted, 1);
    spf_result_free(&mf);
    spf_result_free(&helo);
    {
        struct handoff_dnsbl h;

        assert_int_equal(handoff_take_dnsbl(&k, &h), 1);
        assert_int_equal(h.result.score, 0);
        assert_int_equal(h.kinds, DNSBL_IP | DNSBL_HELO | DNSBL_MAILFROM | DNSBL_CLIENT_NAME);
        handoff_dnsbl_clear(&h);
    }
    /* A new transaction with the same client, HELO and sender takes SPF from the last one. */
    q = dns_fixture_queries(fixture);
    assert_non_null(strstr(ask("instance=o2", &action, &logtext), "PREPEND Received-SPF: pass"));
    assert_non_null(strstr(str_cstr(&logtext), "spf_source=earlier"));
    /* A refusal is repeated for every recipient. */
    assert_non_null(strstr(ask("instance=o3;sender=bad..x@sender.example", &action, &logtext), "REJECT 5.1.7"));
    assert_non_null(strstr(ask("instance=o3;sender=bad..x@sender.example", &action, &logtext), "REJECT 5.1.7"));
    str_free(&action);
    str_free(&logtext);
}

/* The sender rate-limit counter's value, or -1. */
static long sender_count(const char *sender)
{
    str cmd = STR_INIT, out = STR_INIT;
    long n = -1;
    const char *p;

    str_addf(&cmd, "ratelimit list sender:%s", sender);
    policy_control_command(str_cstr(&cmd), &out);
    if ((p = strstr(str_cstr(&out), " ")) != NULL)
        n = strtol(p + 1, NULL, 10);
    str_free(&cmd);
    str_free(&out);
    return n;
}

/*
 * A MAIL request has no instance (Postfix sets it after the MAIL
 * restrictions): every MAIL begins a transaction, and the RCPT requests of
 * the same transaction take its evaluation over.
 */
static void test_decide_mail_state(void **state)
{
    static const char mail0[] = "protocol_state=MAIL;recipient=;instance=;client_port=40000";
    static const char mail1[] = "protocol_state=MAIL;recipient=;instance=;client_port=40001";
    static const char mail2[] = "protocol_state=MAIL;recipient=;instance=;client_port=40002";
    str action = STR_INIT, logtext = STR_INIT, cmd = STR_INIT;

    (void) state;
    use_config("policy_spf_mode = enforce\npolicy_sender_mode = off\npolicy_ratelimit_sender_limit = 100\n");
    /* Called at MAIL only: two messages on one connection, two evaluations, two headers, two counts. */
    assert_non_null(strstr(ask(mail0, &action, &logtext), "PREPEND Received-SPF: pass"));
    assert_null(strstr(str_cstr(&logtext), "cached=yes"));
    assert_non_null(strstr(ask(mail0, &action, &logtext), "PREPEND Received-SPF: pass"));
    assert_null(strstr(str_cstr(&logtext), "cached=yes"));
    assert_int_equal(sender_count("alice@sender.example"), 2);
    /* Called at MAIL and RCPT: the RCPT requests reuse the MAIL request's evaluation. */
    assert_non_null(strstr(ask(mail1, &action, &logtext), "PREPEND Received-SPF: pass"));
    assert_string_equal(ask("instance=m1;client_port=40001;recipient=r1@rcpt.example", &action, &logtext), "DUNNO");
    assert_non_null(strstr(str_cstr(&logtext), "cached=yes"));
    assert_non_null(strstr(str_cstr(&logtext), "spf=pass"));
    assert_string_equal(ask("instance=m1;client_port=40001;recipient=r2@rcpt.example", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=m1;client_port=40001;protocol_state=DATA;recipient=", &action, &logtext),
                        "DUNNO");
    assert_int_equal(sender_count("alice@sender.example"), 3);
    /* The next message on that connection is a new transaction. */
    assert_non_null(strstr(ask(mail1, &action, &logtext), "PREPEND Received-SPF: pass"));
    assert_string_equal(ask("instance=m2;client_port=40001", &action, &logtext), "DUNNO");
    assert_int_equal(sender_count("alice@sender.example"), 4);
    /* Another connection (another port) takes nothing over: its own evaluation. */
    assert_non_null(strstr(ask(mail2, &action, &logtext), "PREPEND Received-SPF: pass"));
    assert_non_null(strstr(ask("instance=m3;client_port=40003", &action, &logtext), "PREPEND Received-SPF: pass"));
    assert_int_equal(sender_count("alice@sender.example"), 6);
    /* ... and neither does a RCPT with another sender on the same connection. */
    assert_non_null(strstr(ask("instance=m4;client_port=40002;sender=bob@sender.example", &action, &logtext),
                           "PREPEND Received-SPF: pass"));
    /* A deferral at MAIL does not stick to the next message. */
    use_config("policy_spf_mode = off\npolicy_sender_mode = off\npolicy_ratelimit_sender_limit = 1\n");
    assert_string_equal(ask(mail0, &action, &logtext), "DUNNO");
    assert_true(strncmp(ask(mail0, &action, &logtext), "DEFER 4.7.1", 11) == 0);
    policy_control_command("ratelimit reset sender:*", &cmd);
    assert_string_equal(str_cstr(&cmd), "reset 1\n");
    assert_string_equal(ask(mail0, &action, &logtext), "DUNNO");
    str_free(&action);
    str_free(&logtext);
    str_free(&cmd);
}

/* The DNS lists' reply names what they matched. */
static void test_decide_dnsbl_names(void **state)
{
    char block[64];
    str action = STR_INIT, logtext = STR_INIT, cfg = STR_INIT;
    FILE *f;

    (void) state;
    use_config("policy_dnsbl_mode = enforce\npolicy_spf_mode = off\npolicy_sender_mode = off\n"
               "dnsbl_sites = helo:dbl.test*3\n");
    assert_string_equal(ask("instance=n1;helo_name=bad.helo.example", &action, &logtext),
                        "REJECT 5.7.1 Service unavailable; HELO name bad.helo.example is listed: "
                        "dbl.test:helo=127.0.0.2(+3)");
    use_config("policy_dnsbl_mode = enforce\npolicy_spf_mode = off\npolicy_sender_mode = off\n"
               "dnsbl_sites = mailfrom:dbl.test*3\n");
    assert_string_equal(ask("instance=n2;sender=x@spam.example", &action, &logtext),
                        "REJECT 5.7.1 Service unavailable; sender domain spam.example is listed: "
                        "dbl.test:mailfrom=127.0.0.2(+3)");
    use_config("policy_dnsbl_mode = enforce\npolicy_spf_mode = off\npolicy_sender_mode = off\n"
               "dnsbl_sites = bl.test*2, helo:dbl.test*2\n");
    assert_string_equal(ask("instance=n3;client_address=192.0.2.66;helo_name=bad.helo.example", &action, &logtext),
                        "REJECT 5.7.1 Service unavailable; client [192.0.2.66] and HELO name bad.helo.example "
                        "are listed: bl.test=127.0.0.2(+2) dbl.test:helo=127.0.0.2(+2)");
    /* At HELO the same. */
    assert_true(strncmp(ask("protocol_state=EHLO;instance=;sender=;client_address=192.0.2.66;"
                            "helo_name=bad.helo.example", &action, &logtext),
                        "REJECT 5.7.1 Service unavailable; client [192.0.2.66] and HELO name bad.helo.example "
                        "are listed", 91) == 0);
    /* A local block file. */
    snprintf(block, sizeof(block), "/tmp/rampart-policy-block-%ld", (long) getpid());
    f = fopen(block, "w");
    assert_non_null(f);
    fputs("blocked.helo.example\n", f);
    fclose(f);
    str_addf(&cfg, "policy_dnsbl_mode = enforce\npolicy_spf_mode = off\npolicy_sender_mode = off\n"
             "dnsbl_sites = bl.test*3\ndnsbl_local_block = helo:%s\n", block);
    use_config(str_cstr(&cfg));
    assert_string_equal(ask("instance=n4;helo_name=blocked.helo.example", &action, &logtext),
                        "REJECT 5.7.1 Service unavailable; HELO name blocked.helo.example is blocked locally");
    unlink(block);
    str_free(&action);
    str_free(&logtext);
    str_free(&cfg);
}

/* A DNS list that did not answer: nothing handed to the milter, nor an earlier result under the same key. */
static void test_decide_dnsbl_unknown(void **state)
{
    str action = STR_INIT, logtext = STR_INIT;
    struct handoff_key k = { "192.0.2.77", "mail.sender.example", "alice@sender.example", 0 };
    struct handoff_dnsbl h;

    (void) state;
    use_config("policy_dnsbl_mode = enforce\npolicy_spf_mode = off\npolicy_sender_mode = off\n"
               "dnsbl_sites = bl.test*3\n");
    handoff_flush();
    /* A clean answer for 192.0.2.10 is handed over. */
    assert_string_equal(ask("instance=u1", &action, &logtext), "DUNNO");
    assert_int_equal(handoff_take_dnsbl(&(struct handoff_key) { "192.0.2.10", "mail.sender.example",
                                                                "alice@sender.example", 0 }, &h), 1);
    handoff_dnsbl_clear(&h);
    /* bl.test fails for 192.0.2.77: unknown, not handed over. */
    assert_string_equal(ask("instance=u2;client_address=192.0.2.77", &action, &logtext), "DUNNO");
    assert_non_null(strstr(str_cstr(&logtext), "dnsbl=unknown"));
    assert_int_equal(handoff_take_dnsbl(&k, &h), 0);
    str_free(&action);
    str_free(&logtext);
}

/*
 * policy_check_timeout counts from the request's arrival: a request that
 * waited for a free worker has that much less time, and one that waited
 * it all is answered at once, with a temporary outcome, never a refusal.
 */
static void test_decide_deadline_from_arrival(void **state)
{
    str action = STR_INIT, logtext = STR_INIT, first = STR_INIT;
    int64_t t0, took;

    (void) state;
    use_config("policy_spf_mode = enforce\npolicy_dnsbl_mode = off\npolicy_sender_mode = off\n"
               "policy_check_timeout = 1s\n");
    dns_fixture_fail(fixture, "slow.example", DNS_T_TXT, DNS_TEMPFAIL, 1);
    dns_set_timeout(fixture, 5000);
    t0 = clock_now_ms();
    str_set(&first, ask("instance=d1;sender=alice@slow.example", &action, &logtext));
    took = clock_now_ms() - t0;
    if (took < 900)
        fail_msg("took %lld ms: %s; %s", (long long) took, str_cstr(&first), str_cstr(&logtext));
    assert_true(str_cstr(&first)[0] != '5' && strncmp(str_cstr(&first), "REJECT", 6) != 0);
    ask_arrived_ms = clock_now_ms() - 5000;
    t0 = clock_now_ms();
    assert_string_equal(ask("instance=d2;sender=alice@slow.example", &action, &logtext), str_cstr(&first));
    took = clock_now_ms() - t0;
    assert_true(took < 500);
    str_free(&first);
    str_free(&action);
    str_free(&logtext);
}

/* The recipient limit takes only the actions that answer for one recipient. */
static void test_recipient_action(void **state)
{
    static const char *const bad[] = { "discard", "quarantine", "tag" };
    static const char *const good[] = { "tempfail", "reject", "accept" };
    char path[] = "/tmp/rampart-policy-conf-XXXXXX";
    str err = STR_INIT, want = STR_INIT, action = STR_INIT, logtext = STR_INIT;
    struct config *c;
    int fd;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + sizeof(good) / sizeof(good[0]); i++) {
        int ok = i >= sizeof(bad) / sizeof(bad[0]);
        const char *a = ok ? good[i - sizeof(bad) / sizeof(bad[0])] : bad[i];
        FILE *f;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fprintf(f, "# rate limits\npolicy_ratelimit_client_action = discard\n"
                   "policy_ratelimit_recipient_action = %s\n", a);
        fclose(f);
        str_reset(&err);
        c = config_load(path, &err);
        if (ok) {
            if (c == NULL)
                fail_msg("%s: %s", a, str_cstr(&err));
            config_unref(c);
        } else {
            assert_null(c);
            str_reset(&want);
            str_addf(&want, "%s:3: policy_ratelimit_recipient_action: for one recipient the action can only be "
                     "accept, tempfail or reject\n", path);
            assert_string_equal(str_cstr(&err), str_cstr(&want));
        }
        unlink(path);
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
    }
    /* reject refuses that recipient only; the next message's first recipient still gets through. */
    use_config("policy_spf_mode = off\npolicy_sender_mode = off\npolicy_ratelimit_recipient_limit = 1\n"
               "policy_ratelimit_recipient_action = reject\n");
    assert_string_equal(ask("instance=ra1;recipient=a@x.example", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=ra1;recipient=b@x.example", &action, &logtext),
                        "REJECT 5.7.1 Rate limit reached for recipient 192.0.2.10: 1 recipients per 1h, "
                        "try again later");
    /* accept: logged, not refused. */
    use_config("policy_spf_mode = off\npolicy_sender_mode = off\npolicy_ratelimit_recipient_limit = 1\n"
               "policy_ratelimit_recipient_action = accept\n");
    assert_string_equal(ask("instance=ra2;recipient=c@x.example", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=ra2;recipient=d@x.example", &action, &logtext), "DUNNO");
    assert_non_null(strstr(str_cstr(&logtext), "recipient:192.0.2.10=1/1(over"));
    str_free(&err);
    str_free(&want);
    str_free(&action);
    str_free(&logtext);
}

/* Rate limits: per client, network, sender, SASL user, recipients; once per transaction. */
static void test_decide_limits(void **state)
{
    str action = STR_INIT, logtext = STR_INIT, cmd = STR_INIT;

    (void) state;
    use_config("policy_spf_mode = off\npolicy_sender_mode = off\npolicy_dnsbl_mode = off\n"
               "policy_ratelimit_client_limit = 2\npolicy_ratelimit_client_window = 1h\n");
    /* Two transactions, several recipients each: counted once per transaction. */
    for (int t = 0; t < 2; t++)
        for (int r = 0; r < 3; r++) {
            char over[64];

            snprintf(over, sizeof(over), "instance=l%d;recipient=r%d@rcpt.example", t, r);
            assert_string_equal(ask(over, &action, &logtext), "DUNNO");
        }
    assert_string_equal(ask("instance=l2", &action, &logtext),
                        "DEFER 4.7.1 Rate limit reached for client 192.0.2.10: 2 messages per 1h, try again later");
    assert_non_null(strstr(str_cstr(&logtext), "ratelimit=client"));
    assert_non_null(strstr(str_cstr(&logtext), "client:192.0.2.10=2/2(over"));
    assert_string_equal(ask("instance=l2;recipient=x@rcpt.example", &action, &logtext), "DEFER 4.7.1 Rate limit reached "
                        "for client 192.0.2.10: 2 messages per 1h, try again later");
    /* Another client is not affected; trusted clients are never limited. */
    assert_string_equal(ask("instance=l3;client_address=192.0.2.11", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=l4;client_address=127.0.0.1", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=l5;client_address=127.0.0.1", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=l6;client_address=127.0.0.1", &action, &logtext), "DUNNO");
    /* The control commands show and reset the counter. */
    str_reset(&cmd);
    policy_control_command("ratelimit list client:*", &cmd);
    assert_non_null(strstr(str_cstr(&cmd), "client:192.0.2.10 2 per 1h\n"));
    assert_non_null(strstr(str_cstr(&cmd), "client:192.0.2.11 1 per 1h\n"));
    str_reset(&cmd);
    policy_control_command("ratelimit reset client:192.0.2.10", &cmd);
    assert_string_equal(str_cstr(&cmd), "reset 1\n");
    assert_string_equal(ask("instance=l7", &action, &logtext), "DUNNO");
    str_reset(&cmd);
    policy_control_command("status", &cmd);
    assert_non_null(strstr(str_cstr(&cmd), "ratelimit_backend=memory"));
    str_reset(&cmd);
    policy_control_command("frobnicate", &cmd);
    assert_true(strncmp(str_cstr(&cmd), "error:", 6) == 0);
    /* Monitor: logged, not enforced. */
    use_config("policy_spf_mode = off\npolicy_sender_mode = off\npolicy_ratelimit_mode = monitor\n"
               "policy_ratelimit_client_limit = 1\n");
    assert_string_equal(ask("instance=m1", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=m2", &action, &logtext), "DUNNO");
    assert_non_null(strstr(str_cstr(&logtext), "ratelimit=client(monitor:tempfail)"));
    /* Network: two clients in one /24; with reject as action. */
    use_config("policy_spf_mode = off\npolicy_sender_mode = off\npolicy_ratelimit_network_limit = 1\n"
               "policy_ratelimit_network_action = reject\n");
    assert_string_equal(ask("instance=n1;client_address=198.51.100.1", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=n2;client_address=198.51.100.200", &action, &logtext),
                        "REJECT 5.7.1 Rate limit reached for network 198.51.100.0/24: 1 messages per 1h, try again later");
    assert_string_equal(ask("instance=n3;client_address=2001:db8:1:2:3::1", &action, &logtext), "DUNNO");
    assert_non_null(strstr(ask("instance=n4;client_address=2001:db8:1:2:ffff::1", &action, &logtext),
                           "network 2001:db8:1:2::/64"));
    /* Sender and SASL user. */
    use_config("policy_spf_mode = off\npolicy_sender_mode = off\npolicy_ratelimit_sender_limit = 1\n"
               "policy_ratelimit_sasl_limit = 2\npolicy_ratelimit_sasl_window = 10m\n");
    assert_string_equal(ask("instance=s1", &action, &logtext), "DUNNO");
    assert_non_null(strstr(ask("instance=s2", &action, &logtext), "sender alice@sender.example: 1 messages"));
    assert_string_equal(ask("instance=s3;sender=;sasl_username=u1", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=s4;sender=;sasl_username=u1", &action, &logtext), "DUNNO");
    assert_non_null(strstr(ask("instance=s5;sender=;sasl_username=u1", &action, &logtext),
                           "DEFER 4.7.1 Rate limit reached for sasl u1: 2 messages per 10m"));
    /* Recipients: counted per recipient; a refused recipient leaves the PREPEND for the next one. */
    use_config("policy_spf_mode = enforce\npolicy_sender_mode = off\npolicy_ratelimit_recipient_limit = 2\n");
    assert_non_null(strstr(ask("instance=r1;recipient=a@x.example", &action, &logtext), "PREPEND Received-SPF"));
    assert_string_equal(ask("instance=r1;recipient=b@x.example", &action, &logtext), "DUNNO");
    assert_non_null(strstr(ask("instance=r1;recipient=c@x.example", &action, &logtext),
                           "DEFER 4.7.1 Rate limit reached for recipient 192.0.2.10: 2 recipients per 1h"));
    assert_non_null(strstr(ask("instance=r2;recipient=d@x.example", &action, &logtext), "DEFER 4.7.1"));
    /* A sender's domain in any case is one counter; its local part is not folded. */
    use_config("policy_spf_mode = off\npolicy_sender_mode = off\npolicy_ratelimit_sender_limit = 1\n");
    assert_string_equal(ask("instance=q1;sender=q@ok.test", &action, &logtext), "DUNNO");
    assert_string_equal(ask("instance=q2;sender=q@OK.test", &action, &logtext),
                        "DEFER 4.7.1 Rate limit reached for sender q@ok.test: 1 messages per 1h, try again later");
    assert_string_equal(ask("instance=q3;sender=<q@Ok.Test>", &action, &logtext),
                        "DEFER 4.7.1 Rate limit reached for sender q@ok.test: 1 messages per 1h, try again later");
    assert_string_equal(ask("instance=q4;sender=Q@ok.test", &action, &logtext), "DUNNO");
    str_reset(&cmd);
    policy_control_command("ratelimit list sender:*", &cmd);
    assert_non_null(strstr(str_cstr(&cmd), "sender:q@ok.test 1 per 1h\n"));
    assert_non_null(strstr(str_cstr(&cmd), "sender:Q@ok.test 1 per 1h\n"));
    assert_null(strstr(str_cstr(&cmd), "OK"));
    str_free(&action);
    str_free(&logtext);
    str_free(&cmd);
}

/* Connect to the test listener. */
static int dial(void)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
    assert_int_equal(connect(fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
    return fd;
}

/* Read until "\n\n" or EOF or timeout; returns what was read. */
static void read_reply(int fd, str *out, int timeout_ms)
{
    char buf[512];

    str_reset(out);
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
            return;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        str_add(out, buf, n);
        if (out->len >= 2 && strstr(str_cstr(out), "\n\n"))
            return;
    }
}

/* True if the peer closed the connection within timeout_ms. */
static int closed_by_peer(int fd, int timeout_ms)
{
    char c;
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, timeout_ms) == 1 && read(fd, &c, 1) == 0;
}

static int server_setup(void **state)
{
    struct config *c = config_defaults();
    str err = STR_INIT, spec = STR_INIT;

    (void) state;
    snprintf(sock_path, sizeof(sock_path), "/tmp/rampart-policy-%ld.sock", (long) getpid());
    str_addf(&spec, "unix:%s", sock_path);
    assert_int_equal(config_set(c, "policy_request_timeout", "1s", "test", &err), 0);
    assert_int_equal(config_set(c, "policy_max_request_size", "1k", "test", &err), 0);
    assert_int_equal(config_set(c, "policy_workers", "2", "test", &err), 0);
    assert_int_equal(config_set(c, "policy_max_connections", "100", "test", &err), 0);
    assert_int_equal(config_set(c, "policy_idle_timeout", "5s", "test", &err), 0);
    snprintf(ctl_path, sizeof(ctl_path), "/tmp/rampart-policy-ctl-%ld.sock", (long) getpid());
    assert_int_equal(config_set(c, "policy_control_socket", ctl_path, "test", &err), 0);
    assert_int_equal(policy_open(c, str_cstr(&spec)), 0);
    assert_int_equal(policy_start(), 0);
    config_unref(c);
    str_free(&err);
    str_free(&spec);
    return 0;
}

static int server_teardown(void **state)
{
    (void) state;
    policy_stop(2000);
    assert_int_equal(access(sock_path, F_OK), -1);
    assert_int_equal(access(ctl_path, F_OK), -1);
    return 0;
}

static void test_server_requests(void **state)
{
    const char *req = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.66\n"
                      "sender=a@b.example\nrecipient=c@d.example\n\n";
    str reply = STR_INIT;
    int fd = dial();

    (void) state;
    /* Two requests in one write, then one more: three answers, in order. */
    {
        str two = STR_INIT;

        str_adds(&two, req);
        str_adds(&two, req);
        assert_int_equal(write(fd, two.data, (size_t) two.len), two.len);
        read_reply(fd, &reply, 2000);
        if (reply.len == 14) {
            str more = STR_INIT;

            read_reply(fd, &more, 2000);
            str_add(&reply, more.data, more.len);
            str_free(&more);
        }
        assert_string_equal(str_cstr(&reply), "action=DUNNO\n\naction=DUNNO\n\n");
        str_free(&two);
    }
    /* A request in pieces, with CRLF line ends. */
    assert_int_equal(write(fd, "request=smtpd_access_policy\r\nsender=", 36), 36);
    usleep(50000);
    assert_int_equal(write(fd, "x@y.example\r\n\r\n", 15), 15);
    read_reply(fd, &reply, 2000);
    assert_string_equal(str_cstr(&reply), "action=DUNNO\n\n");
    close(fd);
    str_free(&reply);
}

static void test_server_junk(void **state)
{
    str reply = STR_INIT, big = STR_INIT;
    int fd;

    (void) state;
    /* A line without '=' closes the connection without an answer. */
    fd = dial();
    assert_int_equal(write(fd, "hello there\n\n", 13), 13);
    assert_true(closed_by_peer(fd, 2000));
    close(fd);

    /* Binary junk with a NUL byte. */
    fd = dial();
    assert_int_equal(write(fd, "a=\001\002\0\377\n\n", 8), 8);
    assert_true(closed_by_peer(fd, 2000));
    close(fd);

    /* A request over policy_max_request_size (1k here), even without its empty line. */
    fd = dial();
    str_adds(&big, "sender=");
    while (big.len < 2048)
        str_addc(&big, 'x');
    assert_int_equal(write(fd, big.data, (size_t) big.len), big.len);
    assert_true(closed_by_peer(fd, 2000));
    close(fd);

    /* Half a request, then silence: closed after policy_request_timeout (1s). */
    fd = dial();
    assert_int_equal(write(fd, "request=smtpd_access_policy\n", 28), 28);
    assert_true(closed_by_peer(fd, 4000));
    close(fd);

    /* The service still answers others. */
    fd = dial();
    assert_int_equal(write(fd, "request=smtpd_access_policy\n\n", 29), 29);
    read_reply(fd, &reply, 2000);
    assert_string_equal(str_cstr(&reply), "action=DUNNO\n\n");
    close(fd);
    str_free(&reply);
    str_free(&big);
}

/* True if the peer closed (or reset) the connection within timeout_ms. */
static int gone(int fd, int timeout_ms)
{
    char buf[256];
    int64_t until = clock_now_ms() + timeout_ms;

    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left = until - clock_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&p, 1, (int) left) != 1)
            return 0;
        n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            return 0;
    }
}

static void test_server_abuse(void **state)
{
    str reply = STR_INIT, big = STR_INIT;
    int fd;

    (void) state;
    /* A 10 MB attribute value: closed after policy_max_request_size. */
    fd = dial();
    {
        struct timeval tv = { .tv_sec = 2 };

        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    str_adds(&big, "request=smtpd_access_policy\nsender=");
    while (big.len < 10 * 1024 * 1024)
        str_adds(&big, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    (void) send(fd, big.data, (size_t) big.len, MSG_NOSIGNAL);
    assert_true(gone(fd, 3000));
    close(fd);

    /* No empty line, then end of file: closed without an answer. */
    fd = dial();
    assert_int_equal(write(fd, "request=smtpd_access_policy\nsender=a@b", 39), 39);
    shutdown(fd, SHUT_WR);
    read_reply(fd, &reply, 2000);
    assert_int_equal(reply.len, 0);
    close(fd);

    /* Unknown attributes and binary (non-NUL) bytes in values: answered. */
    fd = dial();
    {
        static const char odd[] = "request=smtpd_access_policy\nno_such_thing=1\nx-y=\001\377\033[0m\n\n";

        assert_int_equal(write(fd, odd, sizeof(odd) - 1), (ssize_t) sizeof(odd) - 1);
    }
    read_reply(fd, &reply, 2000);
    assert_string_equal(str_cstr(&reply), "action=DUNNO\n\n");
    close(fd);
    str_free(&reply);
    str_free(&big);
}

/* 2000 idle connections against policy_max_connections = 100: bounded, and the service recovers. */
static void test_server_idle_flood(void **state)
{
    enum { N = 2000 };
    static int fds[N];
    struct rlimit rl;
    int n = N, closed = 0, fd;
    str reply = STR_INIT;

    (void) state;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < N + 200) {
        rl.rlim_cur = rl.rlim_max < N + 200 ? rl.rlim_max : N + 200;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < (rlim_t) n + 200)
        n = (int) rl.rlim_cur - 200;
    assert_true(n > 300);
    for (int i = 0; i < n; i++)
        fds[i] = dial();
    usleep(500000);
    for (int i = 0; i < n; i++)
        closed += gone(fds[i], 10);
    assert_true(closed >= n - 100);
    assert_true(closed <= n - 90);
    /* Full: a new connection is refused, but the open ones are served. */
    for (int i = 0; i < n; i++) {
        if (fcntl(fds[i], F_GETFD) < 0)
            continue;
        fd = fds[i];
        if (write(fd, "request=smtpd_access_policy\n\n", 29) == 29) {
            read_reply(fd, &reply, 2000);
            if (reply.len)
                break;
        }
    }
    assert_string_equal(str_cstr(&reply), "action=DUNNO\n\n");
    for (int i = 0; i < n; i++)
        close(fds[i]);
    usleep(300000);
    fd = dial();
    assert_int_equal(write(fd, "request=smtpd_access_policy\n\n", 29), 29);
    read_reply(fd, &reply, 2000);
    assert_string_equal(str_cstr(&reply), "action=DUNNO\n\n");
    /* An idle connection goes after policy_idle_timeout (5s). */
    assert_true(gone(fd, 8000));
    close(fd);
    str_free(&reply);
}

/* The control socket: mode 0600, status, a bad command. */
static void test_server_control(void **state)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct stat st;
    str reply = STR_INIT;
    char buf[512];
    ssize_t got;
    int fd;

    (void) state;
    assert_int_equal(stat(ctl_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    for (int round = 0; round < 2; round++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        memcpy(sun.sun_path, ctl_path, strlen(ctl_path) + 1);
        assert_int_equal(connect(fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
        if (round == 0)
            assert_int_equal(write(fd, "status\n", 7), 7);
        else
            assert_int_equal(write(fd, "ratelimit reset\n", 16), 16);
        str_reset(&reply);
        while ((got = read(fd, buf, sizeof(buf))) > 0)
            str_add(&reply, buf, got);
        close(fd);
        if (round == 0)
            assert_non_null(strstr(str_cstr(&reply), "ratelimit_backend=memory"));
        else
            assert_true(strncmp(str_cstr(&reply), "error:", 6) == 0);
    }
    str_free(&reply);
}

int main(void)
{
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_attr_limit),
    };
    const struct CMUnitTest decide_tests[] = {
        cmocka_unit_test(test_decide_table),
        cmocka_unit_test(test_decide_once),
        cmocka_unit_test(test_decide_limits),
        cmocka_unit_test(test_decide_mail_state),
        cmocka_unit_test(test_decide_dnsbl_names),
        cmocka_unit_test(test_decide_dnsbl_unknown),
        cmocka_unit_test(test_decide_deadline_from_arrival),
        cmocka_unit_test(test_recipient_action),
    };
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test(test_server_requests),
        cmocka_unit_test(test_server_junk),
        cmocka_unit_test(test_server_abuse),
        cmocka_unit_test(test_server_idle_flood),
        cmocka_unit_test(test_server_control),
    };
    int failed;

    log_set_level(LOG_LVL_ERROR);
    signal(SIGPIPE, SIG_IGN);
    failed = cmocka_run_group_tests_name("policy parser", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("policy decisions", decide_tests, decide_setup, decide_teardown);
    failed += cmocka_run_group_tests_name("policy server", server_tests, server_setup, server_teardown);
    return failed;
}
