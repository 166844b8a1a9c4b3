/*
 * test_sender.c - sender validation: RFC 5321 syntax (table), domain
 * existence on the DNS fixture (MX, null MX, A/AAAA fallback, NXDOMAIN,
 * temporary errors, timeouts), the disposable list (subdomains, comments,
 * re-read on change, a missing file), and the callout against a scripted
 * SMTP server on loopback (valid, invalid, 4xx, an endless reply, a server
 * that stalls) with its cache.
 */
#include "config.h"

#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns.h"
#include "sender.h"
#include "util.h"

static const struct {
    const char *addr;
    int ok;
    const char *why;        /* part of the reason when not ok */
} syntax_cases[] = {
    { "", 1, NULL },
    { "alice@example.com", 1, NULL },
    { "a.b-c+tag@sub.example.co.uk", 1, NULL },
    { "!#$%&'*+-/=?^_`{|}~@example.com", 1, NULL },
    { "john doe@example.com", 1, NULL },             /* was "john doe"@..., unquoted by Postfix */
    { "user@[192.0.2.1]", 1, NULL },
    { "user@[IPv6:2001:db8::1]", 1, NULL },
    { "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 1, NULL }, /* UTF-8 (RFC 6531) */
    { "user@localhost", 1, NULL },
    { "alice", 0, "no @domain" },
    { "alice@", 0, "domain after @ is empty" },
    { "@example.com", 0, "local part is empty" },
    { ".alice@example.com", 0, "leading, trailing or double dot" },
    { "alice.@example.com", 0, "leading, trailing or double dot" },
    { "al..ice@example.com", 0, "leading, trailing or double dot" },
    { "alice@example.com.", 0, "ends with a dot" },
    { "alice@exa..mple.com", 0, "empty label" },
    { "alice@.example.com", 0, "empty label" },
    { "alice@-example.com", 0, "hyphen" },
    { "alice@example-.com", 0, "hyphen" },
    { "alice@exam_ple.com", 0, "invalid character '_'" },
    { "alice@exa mple.com", 0, "invalid character ' '" },
    { "alice@192.0.2.1", 0, "in brackets" },
    { "alice@[192.0.2.256]", 0, "not an IPv4 or IPv6" },
    { "alice@[IPv6:zz::1]", 0, "IPv6 address literal" },
    { "alice@[192.0.2.1", 0, "closing bracket" },
    { "ali\tce@example.com", 0, "control characters" },
    { "alice@exa\xffmple.com", 0, "UTF-8" },
    { "alice@exa\xc0\xafmple.com", 0, "UTF-8" },      /* overlong */
    { "alice@a@b.example", 1, NULL },                  /* was "alice@a"@b.example */
};

static void test_syntax(void **state)
{
    str why = STR_INIT, big = STR_INIT;

    (void) state;
    for (size_t i = 0; i < sizeof(syntax_cases) / sizeof(syntax_cases[0]); i++) {
        int rc;

        str_reset(&why);
        rc = sender_syntax(syntax_cases[i].addr, (ssize_t) strlen(syntax_cases[i].addr), &why);
        if ((rc == 0) != syntax_cases[i].ok)
            fail_msg("%s: expected %s, got %s (%s)", syntax_cases[i].addr, syntax_cases[i].ok ? "valid" : "invalid",
                     rc == 0 ? "valid" : "invalid", str_cstr(&why));
        if (!syntax_cases[i].ok && strstr(str_cstr(&why), syntax_cases[i].why) == NULL)
            fail_msg("%s: reason \"%s\" lacks \"%s\"", syntax_cases[i].addr, str_cstr(&why), syntax_cases[i].why);
    }
    /* Limits: 64-octet local part, 63-octet labels, 254-octet path. */
    for (int i = 0; i < 64; i++)
        str_addc(&big, 'a');
    str_adds(&big, "@example.com");
    assert_int_equal(sender_syntax(big.data, big.len, &why), 0);
    str_reset(&big);
    for (int i = 0; i < 65; i++)
        str_addc(&big, 'a');
    str_adds(&big, "@example.com");
    str_reset(&why);
    assert_int_equal(sender_syntax(big.data, big.len, &why), -1);
    assert_non_null(strstr(str_cstr(&why), "longer than 64"));
    str_reset(&big);
    str_adds(&big, "a@");
    for (int i = 0; i < 64; i++)
        str_addc(&big, 'b');
    str_adds(&big, ".example");
    str_reset(&why);
    assert_int_equal(sender_syntax(big.data, big.len, &why), -1);
    assert_non_null(strstr(str_cstr(&why), "longer than 63"));
    str_reset(&big);
    str_adds(&big, "a@");
    while (big.len < 300)
        str_adds(&big, "bbbbbbbbb.");
    str_adds(&big, "example");
    str_reset(&why);
    assert_int_equal(sender_syntax(big.data, big.len, &why), -1);
    assert_non_null(strstr(str_cstr(&why), "longer than 254"));
    /* A 10 MB address is refused by length, not walked. */
    str_reset(&big);
    while (big.len < 10 * 1024 * 1024)
        str_adds(&big, "xxxxxxxxxxxxxxxx");
    str_reset(&why);
    assert_int_equal(sender_syntax(big.data, big.len, &why), -1);
    assert_string_equal(sender_domain("a@b.example"), "b.example");
    assert_null(sender_domain("a@"));
    assert_null(sender_domain("ab"));
    str_free(&why);
    str_free(&big);
}

static struct dns_resolver *fixture;

static int fixture_setup(void **state)
{
    (void) state;
    fixture = dns_fixture_new();
    dns_set_timeout(fixture, 300);
    dns_fixture_add(fixture, "mx.example", DNS_T_MX, "20 mx2.mx.example");
    dns_fixture_add(fixture, "mx.example", DNS_T_MX, "10 mx1.mx.example");
    dns_fixture_add(fixture, "nullmx.example", DNS_T_MX, "0 .");
    dns_fixture_add(fixture, "aonly.example", DNS_T_A, "192.0.2.30");
    dns_fixture_add(fixture, "v6only.example", DNS_T_AAAA, "2001:db8::30");
    dns_fixture_add(fixture, "noaddr.example", DNS_T_TXT, "v=spf1 -all");
    dns_fixture_fail(fixture, "servfail.example", DNS_T_MX, DNS_TEMPFAIL, 0);
    dns_fixture_fail(fixture, "slow.example", DNS_T_MX, DNS_TEMPFAIL, 1);
    dns_fixture_add(fixture, "halfbad.example", DNS_T_TXT, "x");
    dns_fixture_fail(fixture, "halfbad.example", DNS_T_A, DNS_TEMPFAIL, 0);
    return 0;
}

static int fixture_teardown(void **state)
{
    (void) state;
    dns_resolver_free(fixture);
    fixture = NULL;
    return 0;
}

static const struct {
    const char *addr;
    enum sender_status status;
    const char *why;
    const char *mx0;
} domain_cases[] = {
    { "a@mx.example", SENDER_OK, "", "mx1.mx.example" },
    { "a@MX.Example", SENDER_OK, "", "mx1.mx.example" },
    { "a@aonly.example", SENDER_OK, "", "aonly.example" },
    { "a@v6only.example", SENDER_OK, "", "v6only.example" },
    { "a@nullmx.example", SENDER_NULL_MX, "null MX", NULL },
    { "a@noaddr.example", SENDER_NO_MAIL, "no mail server", NULL },
    { "a@nowhere.example", SENDER_NO_DOMAIN, "does not exist", NULL },
    { "a@servfail.example", SENDER_TEMPFAIL, "could not be looked up", NULL },
    { "a@slow.example", SENDER_TEMPFAIL, "timeout", NULL },
    { "a@halfbad.example", SENDER_TEMPFAIL, "could not be looked up", NULL },
    { "", SENDER_NULL, "", NULL },
    { "a@@", SENDER_SYNTAX, "domain after @ is empty", NULL },
    { "a@[192.0.2.1]", SENDER_OK, "", NULL },
    { "a@b\xc3\xbc" "cher.example", SENDER_OK, "internationalised", NULL },
};

static void test_domain(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(domain_cases) / sizeof(domain_cases[0]); i++) {
        struct sender_check *c = sender_check_start(fixture, domain_cases[i].addr);
        struct sender_result res;

        sender_check_finish(c, 0, &res);
        if (res.status != domain_cases[i].status)
            fail_msg("%s: expected %s, got %s (%s)", domain_cases[i].addr,
                     sender_status_name(domain_cases[i].status), sender_status_name(res.status),
                     str_cstr(&res.why));
        if (strstr(str_cstr(&res.why), domain_cases[i].why) == NULL)
            fail_msg("%s: reason \"%s\" lacks \"%s\"", domain_cases[i].addr, str_cstr(&res.why),
                     domain_cases[i].why);
        if (domain_cases[i].mx0) {
            assert_true(res.nmx > 0);
            assert_string_equal(res.mx[0], domain_cases[i].mx0);
        }
        sender_result_free(&res);
        sender_check_free(c);
    }
}

/* MX, A and AAAA start together: one round trip, not three. */
static void test_domain_parallel(void **state)
{
    struct sender_check *c;
    struct sender_result res;
    int before = dns_fixture_queries(fixture);

    (void) state;
    c = sender_check_start(fixture, "a@aonly.example");
    assert_int_equal(dns_fixture_queries(fixture) - before, 3);
    sender_check_finish(c, 0, &res);
    assert_int_equal(res.status, SENDER_OK);
    sender_result_free(&res);
    sender_check_free(c);
}

/* ---------------------------------------------------------------- disposable */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_disposable(void **state)
{
    char path[64];
    struct sender_list *l;
    str err = STR_INIT;

    (void) state;
    snprintf(path, sizeof(path), "/tmp/rampart-disposable-%ld", (long) getpid());
    write_file(path, "# throw-away providers\n\nmailinator.example\n  *.wildcard.example  # comment\n"
                     ".dot.example\nTrailing.Example.\n");
    l = sender_list_new(path, -1);
    assert_int_equal(sender_list_count(l), 4);
    assert_true(sender_list_match(l, "mailinator.example"));
    assert_true(sender_list_match(l, "MAILINATOR.example"));
    assert_true(sender_list_match(l, "a.b.mailinator.example"));
    assert_true(sender_list_match(l, "x.wildcard.example"));
    assert_true(sender_list_match(l, "dot.example"));
    assert_true(sender_list_match(l, "trailing.example"));
    assert_false(sender_list_match(l, "notmailinator.example"));
    assert_false(sender_list_match(l, "example"));
    assert_false(sender_list_match(l, ""));
    assert_int_equal(sender_list_error(l, &err), 0);
    /* Re-read on change (another size, so the change shows even within one mtime tick). */
    write_file(path, "other.example\n");
    assert_false(sender_list_match(l, "mailinator.example"));
    assert_true(sender_list_match(l, "sub.other.example"));
    /* A vanished file keeps the list and reports once. */
    unlink(path);
    assert_true(sender_list_match(l, "other.example"));
    assert_int_equal(sender_list_error(l, &err), 1);
    assert_non_null(strstr(str_cstr(&err), "No such file"));
    str_reset(&err);
    assert_true(sender_list_match(l, "other.example"));
    assert_int_equal(sender_list_error(l, &err), 0);
    sender_list_free(l);
    /* Missing from the start: empty, error reported. */
    l = sender_list_new("/nonexistent/list", 0);
    assert_false(sender_list_match(l, "a.example"));
    assert_int_equal(sender_list_error(l, &err), 1);
    sender_list_free(l);
    str_free(&err);
}

/* ---------------------------------------------------------------- callout */

enum server_mode { SRV_NORMAL, SRV_FLOOD, SRV_STALL, SRV_BADGREET };

struct server {
    int fd;
    int port;
    enum server_mode mode;
    int sessions;
    pthread_t tid;
};

static void srv_send(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) < 0)
        return;
}

/* Read one line (bounded). */
static int srv_line(int fd, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size) {
        char c;

        if (read(fd, &c, 1) != 1)
            return -1;
        if (c == '\n')
            break;
        if (c != '\r')
            buf[n++] = c;
    }
    buf[n] = '\0';
    return 0;
}

static void *server_thread(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->fd, NULL, NULL);
    char line[512];

    if (fd < 0)
        return NULL;
    s->sessions++;
    switch (s->mode) {
    case SRV_STALL:
        sleep(2);
        close(fd);
        return NULL;
    case SRV_FLOOD:
        for (int i = 0; i < 2000; i++)
            srv_send(fd, "220-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        close(fd);
        return NULL;
    case SRV_BADGREET:
        srv_send(fd, "554 go away\r\n");
        close(fd);
        return NULL;
    case SRV_NORMAL:
        break;
    }
    srv_send(fd, "220 mx ESMTP\r\n");
    while (srv_line(fd, line, sizeof(line)) == 0) {
        if (strncmp(line, "EHLO ", 5) == 0)
            srv_send(fd, "250-mx\r\n250 8BITMIME\r\n");
        else if (strncmp(line, "MAIL FROM:<>", 12) == 0)
            srv_send(fd, "250 2.1.0 Ok\r\n");
        else if (strncmp(line, "RCPT TO:<good@", 14) == 0 || strncmp(line, "RCPT TO:<\"john doe\"@", 20) == 0)
            srv_send(fd, "250 2.1.5 Ok\r\n");
        else if (strncmp(line, "RCPT TO:<busy@", 14) == 0)
            srv_send(fd, "450 4.2.1 Mailbox busy\r\n");
        else if (strncmp(line, "RCPT TO:", 8) == 0)
            srv_send(fd, "550 5.1.1 <x>: Recipient address rejected: User unknown\r\n");
        else if (strcmp(line, "QUIT") == 0) {
            srv_send(fd, "221 Bye\r\n");
            break;
        } else
            srv_send(fd, "502 what\r\n");
    }
    close(fd);
    return NULL;
}

static void server_start(struct server *s, enum server_mode mode)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);

    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(s->fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(s->fd, 4), 0);
    getsockname(s->fd, (struct sockaddr *) &sin, &len);
    s->port = ntohs(sin.sin_port);
    assert_int_equal(pthread_create(&s->tid, NULL, server_thread, s), 0);
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    pthread_join(s->tid, NULL);
    close(s->fd);
}

static enum sender_callout_status run_callout(const char *addr, int port, int64_t timeout, str *reply)
{
    struct sender_check *c = sender_check_start(fixture, addr);
    struct sender_result res;
    struct sender_callout_options o = { .port = port, .helo = "mx.test", .mail_from = "",
                                        .deadline_ms = clock_now_ms() + timeout };
    enum sender_callout_status st;

    sender_check_finish(c, 0, &res);
    assert_int_equal(res.status, SENDER_OK);
    st = sender_callout(fixture, &res, addr, &o, reply);
    sender_result_free(&res);
    sender_check_free(c);
    return st;
}

static void test_callout(void **state)
{
    static const struct {
        const char *addr;
        enum sender_callout_status status;
        const char *reply;
    } cases[] = {
        { "good@callout.example", SENDER_CALLOUT_VALID, "250 2.1.5" },
        { "john doe@callout.example", SENDER_CALLOUT_VALID, "250 2.1.5" },
        { "nobody@callout.example", SENDER_CALLOUT_INVALID, "550 5.1.1" },
        { "busy@callout.example", SENDER_CALLOUT_UNKNOWN, "450 4.2.1" },
    };
    str reply = STR_INIT;

    (void) state;
    dns_fixture_add(fixture, "callout.example", DNS_T_MX, "10 smtp.callout.example");
    dns_fixture_add(fixture, "smtp.callout.example", DNS_T_A, "127.0.0.1");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct server s;

        server_start(&s, SRV_NORMAL);
        assert_int_equal(run_callout(cases[i].addr, s.port, 3000, &reply), cases[i].status);
        assert_non_null(strstr(str_cstr(&reply), cases[i].reply));
        server_stop(&s);
    }
    /* A reply that never ends, a refused greeting, a server that says nothing: unknown, in time. */
    {
        struct server s;
        int64_t t0;

        server_start(&s, SRV_FLOOD);
        assert_int_equal(run_callout("good@callout.example", s.port, 3000, &reply), SENDER_CALLOUT_UNKNOWN);
        server_stop(&s);
        server_start(&s, SRV_BADGREET);
        assert_int_equal(run_callout("good@callout.example", s.port, 3000, &reply), SENDER_CALLOUT_UNKNOWN);
        server_stop(&s);
        server_start(&s, SRV_STALL);
        t0 = clock_now_ms();
        assert_int_equal(run_callout("good@callout.example", s.port, 500, &reply), SENDER_CALLOUT_UNKNOWN);
        assert_true(clock_now_ms() - t0 < 1500);
        server_stop(&s);
    }
    /* Nobody listening. */
    {
        struct server s;
        int port;

        server_start(&s, SRV_BADGREET);
        port = s.port;
        server_stop(&s);
        assert_int_equal(run_callout("good@callout.example", port, 1000, &reply), SENDER_CALLOUT_UNKNOWN);
        assert_non_null(strstr(str_cstr(&reply), "no mail server reachable"));
    }
    str_free(&reply);
}

static void test_callout_cache(void **state)
{
    struct sender_cache *c = sender_cache_new(3);
    enum sender_callout_status st;
    str reply = STR_INIT;

    (void) state;
    sender_cache_put(c, "a@X.example", SENDER_CALLOUT_INVALID, "550 no", 1000);
    assert_true(sender_cache_get(c, "a@x.EXAMPLE", 999, &st, &reply));
    assert_int_equal(st, SENDER_CALLOUT_INVALID);
    assert_string_equal(str_cstr(&reply), "550 no");
    assert_false(sender_cache_get(c, "A@x.example", 999, &st, &reply));  /* local parts keep their case */
    assert_false(sender_cache_get(c, "a@x.example", 1000, &st, &reply)); /* expired */
    for (int i = 0; i < 5; i++) {
        char addr[32];

        snprintf(addr, sizeof(addr), "u%d@y.example", i);
        sender_cache_put(c, addr, SENDER_CALLOUT_VALID, "250", 5000);
    }
    assert_false(sender_cache_get(c, "u0@y.example", 1, &st, &reply));
    assert_true(sender_cache_get(c, "u4@y.example", 1, &st, &reply));
    assert_int_equal(st, SENDER_CALLOUT_VALID);
    sender_cache_free(c);
    str_free(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_domain),
        cmocka_unit_test(test_domain_parallel),
        cmocka_unit_test(test_disposable),
        cmocka_unit_test(test_callout),
        cmocka_unit_test(test_callout_cache),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("sender", tests, fixture_setup, fixture_teardown);
}
