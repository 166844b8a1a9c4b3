/*
 * test_policy.c - the policy service: request parsing with its limits, and
 * the listener end to end on a unix socket (several requests per
 * connection, CRLF, an oversize request, a half request that stalls, junk).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "policy.h"
#include "rconfig.h"
#include "str.h"

static char sock_path[64];

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

int main(void)
{
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_attr_limit),
    };
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test(test_server_requests),
        cmocka_unit_test(test_server_junk),
    };
    int failed;

    log_set_level(LOG_LVL_WARNING);
    failed = cmocka_run_group_tests_name("policy parser", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("policy server", server_tests, server_setup, server_teardown);
    return failed;
}
