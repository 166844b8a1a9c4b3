/*
 * test_config.c - rampart.conf parsing: valid files, every kind of error
 * (with file, line and key in the message), continuation lines, limits,
 * -n output, and reload keeping the running configuration on error.
 * Also the socket spec parser, which config uses to check listeners, and
 * the preparation of a unix socket's directory and stale socket file.
 */
#include "config.h"

#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "listen.h"
#include "log.h"
#include "mem.h"
#include "rconfig.h"
#include "str.h"

static char tmp_path[64];

/* Write text (len bytes) to a fresh temporary file; its path is tmp_path. */
static const char *write_conf_n(const char *text, size_t len)
{
    int fd;

    snprintf(tmp_path, sizeof(tmp_path), "/tmp/rampart-test-XXXXXX");
    fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t) len);
    close(fd);
    return tmp_path;
}

static const char *write_conf(const char *text)
{
    return write_conf_n(text, strlen(text));
}

/* Load text; returns the config (or NULL) and the error text in err. */
static struct config *load_text(const char *text, str *err)
{
    struct config *c = config_load(write_conf(text), err);

    unlink(tmp_path);
    return c;
}

static int teardown(void **state)
{
    (void) state;
    config_install(NULL);
    return 0;
}

static void test_defaults(void **state)
{
    struct config *c = config_defaults();

    (void) state;
    assert_string_equal(c->milter_listen, "unix:/var/spool/postfix/rampart/milter.sock");
    assert_string_equal(c->policy_listen, "");
    assert_string_equal(c->socket_owner, "");
    assert_string_equal(c->socket_group, "postfix");
    assert_int_equal(c->socket_mode, 0660);
    assert_int_equal(c->av_skip_text_only, 0);
    assert_int_equal(c->av_text_parts, 1);
    assert_int_equal(c->dns_timeout, 5000);
    assert_int_equal(c->policy_max_request_size, 32 * 1024);
    assert_int_equal(c->dns_forwarders.n, 0);
    config_unref(c);
}

static void test_valid_file(void **state)
{
    str err = STR_INIT;
    struct config *c;

    (void) state;
    c = load_text("# a comment\n"
                  "\n"
                  "milter_listen = unix:/run/rampart/milter.sock\n"
                  "   # an indented comment\n"
                  "policy_listen=inet:127.0.0.1:10045\n"
                  "socket_mode = 0600\n"
                  "dns_timeout = 1500ms\n"
                  "policy_idle_timeout = 5m\n"
                  "policy_max_request_size = 64k\n"
                  "log_level = DEBUG\n"
                  "syslog_facility = local3\n"
                  "dns_forwarders = 127.0.0.1, ::1\t192.0.2.53@5353\n"
                  "authserv_id = mx.example.org   \n",
                  &err);
    assert_non_null(c);
    assert_int_equal(err.len, 0);
    assert_string_equal(c->milter_listen, "unix:/run/rampart/milter.sock");
    assert_string_equal(c->policy_listen, "inet:127.0.0.1:10045");
    assert_int_equal(c->socket_mode, 0600);
    assert_int_equal(c->dns_timeout, 1500);
    assert_int_equal(c->policy_idle_timeout, 300000);
    assert_int_equal(c->policy_max_request_size, 65536);
    assert_int_equal(c->log_level, LOG_DEBUG);
    assert_int_equal(c->syslog_facility, LOG_LOCAL3);
    assert_int_equal(c->dns_forwarders.n, 3);
    assert_string_equal(c->dns_forwarders.v[0], "127.0.0.1");
    assert_string_equal(c->dns_forwarders.v[1], "::1");
    assert_string_equal(c->dns_forwarders.v[2], "192.0.2.53@5353");
    assert_string_equal(c->authserv_id, "mx.example.org");
    config_unref(c);
    str_free(&err);
}

static void test_continuation(void **state)
{
    str err = STR_INIT;
    struct config *c;

    (void) state;
    /* As in Postfix, comment and blank lines do not end a logical line. */
    c = load_text("dns_forwarders =\n"
                  "    127.0.0.1,\n"
                  "# a comment at column 0\n"
                  "\n"
                  "\t127.0.0.3\n",
                  &err);
    assert_non_null(c);
    assert_int_equal(c->dns_forwarders.n, 2);
    assert_string_equal(c->dns_forwarders.v[1], "127.0.0.3");
    config_unref(c);

    c = load_text("dns_forwarders =\n"
                  "    127.0.0.1,\n"
                  "    # an indented comment is skipped\n"
                  "\t127.0.0.2\n"
                  "authserv_id = a\n"
                  "  b\r\n",
                  &err);
    assert_non_null(c);
    assert_int_equal(c->dns_forwarders.n, 2);
    assert_string_equal(c->dns_forwarders.v[1], "127.0.0.2");
    assert_string_equal(c->authserv_id, "a b");
    config_unref(c);
    str_free(&err);
}

/* Table: a file with one error, and the fragment its message must contain. */
static const struct {
    const char *name;
    const char *text;
    const char *expect;
} bad_cases[] = {
    { "unknown key", "log_level = info\nno_such_key = 1\n", ":2: no_such_key: unknown parameter" },
    { "duplicate", "log_level = info\n\nlog_level = debug\n",
      ":3: log_level: duplicate parameter (first set on line 1)" },
    { "no equals", "log_level info\n", ":1: expected \"name = value\"" },
    { "empty name", " = x\n", ":1: continuation line without a parameter" },
    { "bad time", "dns_timeout = soon\n", ":1: dns_timeout: expected a time" },
    { "time unit", "dns_timeout = 5 s\n", ":1: dns_timeout: expected a time" },
    { "time range", "dns_timeout = 2h\n", ":1: dns_timeout: value out of range" },
    { "bad size", "policy_max_request_size = 12q\n", ":1: policy_max_request_size: expected a size" },
    { "size range", "policy_max_request_size = 1g\n", ":1: policy_max_request_size: value out of range" },
    { "negative int", "policy_workers = -3\n", ":1: policy_workers: value out of range" },
    { "int junk", "policy_workers = 3x\n", ":1: policy_workers: expected a whole number" },
    { "int overflow", "policy_workers = 99999999999999999999999\n", ":1: policy_workers: expected a whole number" },
    { "bad mode", "socket_mode = 0999\n", ":1: socket_mode: expected an octal file mode" },
    { "bad level", "log_level = loud\n", ":1: log_level: unknown log level" },
    { "bad facility", "syslog_facility = kern9\n", ":1: syslog_facility: unknown syslog facility" },
    { "bad listen", "milter_listen = tcp:1234\n", ":1: milter_listen: expected unix:/path" },
    { "bad port", "policy_listen = inet:127.0.0.1:99999\n", ":1: policy_listen: bad port" },
    { "relative unix", "milter_listen = unix:run/x.sock\n", ":1: milter_listen: unix socket path must be absolute" },
    { "v6 no brackets", "milter_listen = inet:::1:8894\n", "an IPv6 address needs brackets" },
    { "stray continuation", "  dns_timeout = 5s\n", ":1: continuation line without a parameter" },
};

static void test_bad_files(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        str err = STR_INIT;
        struct config *c = load_text(bad_cases[i].text, &err);

        if (c != NULL || strstr(str_cstr(&err), bad_cases[i].expect) == NULL)
            fail_msg("case %s: got \"%s\", want \"%s\"", bad_cases[i].name, str_cstr(&err),
                     bad_cases[i].expect);
        /* Every message names the file. */
        assert_non_null(strstr(str_cstr(&err), "/tmp/rampart-test-"));
        str_free(&err);
    }
}

static void test_every_error_reported(void **state)
{
    str err = STR_INIT;
    struct config *c;
    int lines = 0;

    (void) state;
    c = load_text("foo = 1\nbar = 2\ndns_timeout = x\n", &err);
    assert_null(c);
    for (const char *p = str_cstr(&err); *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    str_free(&err);
}

static void test_limits(void **state)
{
    str err = STR_INIT, text = STR_INIT;
    struct config *c;

    (void) state;
    /* A line just under the limit is fine; one over it is refused. */
    str_adds(&text, "authserv_id = ");
    while (text.len < CONFIG_MAX_LINE_LEN)
        str_addc(&text, 'a');
    c = load_text(str_cstr(&text), &err);
    assert_non_null(c);
    config_unref(c);
    str_addc(&text, 'a');
    c = load_text(str_cstr(&text), &err);
    assert_null(c);
    assert_non_null(strstr(str_cstr(&err), ":1: line longer than"));
    str_reset(&err);

    /* Continuations that add up past the limit. */
    str_reset(&text);
    str_adds(&text, "authserv_id = x\n");
    for (int i = 0; i < 3; i++) {
        str_adds(&text, " ");
        for (int j = 0; j < CONFIG_MAX_LINE_LEN / 2; j++)
            str_addc(&text, 'b');
        str_addc(&text, '\n');
    }
    c = load_text(str_cstr(&text), &err);
    assert_null(c);
    assert_non_null(strstr(str_cstr(&err), "logical line longer than"));
    str_reset(&err);

    /* A file over the size limit. */
    str_reset(&text);
    while (text.len <= CONFIG_MAX_FILE_SIZE)
        str_adds(&text, "# padding padding padding padding padding padding\n");
    c = load_text(str_cstr(&text), &err);
    assert_null(c);
    assert_non_null(strstr(str_cstr(&err), "file larger than"));
    str_reset(&err);

    /* A NUL byte. */
    c = config_load(write_conf_n("log_level = info\0\n", 18), &err);
    unlink(tmp_path);
    assert_null(c);
    assert_non_null(strstr(str_cstr(&err), "NUL byte"));
    str_reset(&err);

    /* A missing file. */
    c = config_load("/nonexistent/rampart.conf", &err);
    assert_null(c);
    assert_non_null(strstr(str_cstr(&err), "/nonexistent/rampart.conf: cannot open"));
    str_free(&err);
    str_free(&text);
}

static void test_print_changed(void **state)
{
    str err = STR_INIT;
    struct config *c;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void) state;
    c = load_text("log_level = debug\nsocket_mode = 0660\ndns_timeout = 2500ms\n", &err);
    assert_non_null(c);
    config_print_changed(c, f);
    fclose(f);
    /* socket_mode equals its default, so it is not printed. */
    assert_string_equal(buf, "log_level = debug\ndns_timeout = 2500ms\n");
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    config_print_defaults(f);
    fclose(f);
    assert_non_null(strstr(buf, "milter_listen = unix:/var/spool/postfix/rampart/milter.sock\n"));
    assert_non_null(strstr(buf, "av_skip_text_only = no\n"));
    assert_non_null(strstr(buf, "av_text_parts = yes\n"));
    assert_non_null(strstr(buf, "policy_max_request_size = 32k\n"));
    assert_non_null(strstr(buf, "shutdown_timeout = 30s\n"));
    free(buf);
    config_unref(c);
    str_free(&err);
}

static void test_reload_keeps_old(void **state)
{
    str err = STR_INIT;
    struct config *c;
    const char *over[] = { "policy_listen=inet:127.0.0.1:10046" };
    char path[64];

    (void) state;
    memcpy(path, write_conf("log_level = debug\n"), sizeof(path));
    assert_int_equal(config_reload(path, over, 1, &err), 0);
    c = config_current();
    assert_int_equal(c->log_level, LOG_DEBUG);
    assert_string_equal(c->policy_listen, "inet:127.0.0.1:10046");
    unlink(path);

    /* A broken file: the running configuration stays, and is still usable. */
    memcpy(path, write_conf("log_level = debug\nbogus = 1\n"), sizeof(path));
    assert_int_equal(config_reload(path, over, 1, &err), -1);
    assert_non_null(strstr(str_cstr(&err), ":2: bogus: unknown parameter"));
    unlink(path);
    {
        struct config *now = config_current();

        assert_ptr_equal(now, c);
        assert_int_equal(now->log_level, LOG_DEBUG);
        config_unref(now);
    }
    str_reset(&err);

    /* A bad override is refused as well. */
    memcpy(path, write_conf("log_level = info\n"), sizeof(path));
    {
        const char *bad[] = { "milter_listen=nonsense" };
        struct config *now;

        assert_int_equal(config_reload(path, bad, 1, &err), -1);
        assert_non_null(strstr(str_cstr(&err), "command line: milter_listen"));
        now = config_current();
        assert_ptr_equal(now, c);
        config_unref(now);
    }
    str_reset(&err);

    /* A good file replaces it; the old one stays valid while referenced. */
    assert_int_equal(config_reload(path, NULL, 0, &err), 0);
    unlink(path);
    {
        struct config *now = config_current();

        assert_ptr_not_equal(now, c);
        assert_int_equal(now->log_level, LOG_INFO);
        config_unref(now);
    }
    assert_int_equal(c->log_level, LOG_DEBUG);
    config_unref(c);
    str_free(&err);
}

/* Socket specs in both spellings. */
static void test_listen_specs(void **state)
{
    static const struct {
        const char *spec;
        const char *milter;
        const char *postfix;
    } ok[] = {
        { "inet:8894@127.0.0.1", "inet:8894@127.0.0.1", "inet:127.0.0.1:8894" },
        { "inet:127.0.0.1:8894", "inet:8894@127.0.0.1", "inet:127.0.0.1:8894" },
        { "inet6:8894@[::1]", "inet6:8894@::1", "inet:[::1]:8894" },
        { "inet6:8894@::1", "inet6:8894@::1", "inet:[::1]:8894" },
        { "inet:[::1]:8894", "inet6:8894@::1", "inet:[::1]:8894" },
        { "unix:/run/rampart/milter.sock", "unix:/run/rampart/milter.sock", "unix:/run/rampart/milter.sock" },
        { "local:/run/r.sock", "unix:/run/r.sock", "unix:/run/r.sock" },
        { "inet:localhost:10045", "inet:10045@localhost", "inet:localhost:10045" },
    };
    static const char *const bad[] = {
        "", "inet:", "inet:127.0.0.1", "inet:127.0.0.1:0", "inet:127.0.0.1:65536", "inet:x@127.0.0.1",
        "inet:@127.0.0.1", "unix:", "unix:relative", "tcp:127.0.0.1:25", "inet:127.0.0.1:25x",
        "inet:bad host:25", "inet:::1:25",
    };

    (void) state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct listen_spec ls;
        str err = STR_INIT, m = STR_INIT, p = STR_INIT;

        if (listen_parse(ok[i].spec, &ls, &err) != 0)
            fail_msg("%s: %s", ok[i].spec, str_cstr(&err));
        listen_format_milter(&ls, &m);
        listen_format_postfix(&ls, &p);
        assert_string_equal(str_cstr(&m), ok[i].milter);
        assert_string_equal(str_cstr(&p), ok[i].postfix);
        str_free(&err);
        str_free(&m);
        str_free(&p);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct listen_spec ls;
        str err = STR_INIT;

        if (listen_parse(bad[i], &ls, &err) == 0)
            fail_msg("accepted bad spec \"%s\"", bad[i]);
        assert_true(err.len > 0);
        str_free(&err);
    }
}

/* A unix socket bound, and left listening or not; its fd. */
static int unix_socket_at(const char *path, int do_listen)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_true(strlen(path) < sizeof(sun.sun_path));
    memcpy(sun.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
    if (do_listen)
        assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/*
 * listen_prepare_unix: the directory made with its group and mode, left
 * alone when it exists; a stale socket removed; a live socket, a file and
 * a missing parent refused.
 */
static void test_listen_prepare(void **state)
{
    char root[] = "/tmp/rampart-test-listen-XXXXXX";
    char dir[128], sock[160], deep[192], file[160];
    struct group *gr = getgrgid(getgid());
    struct stat st;
    str err = STR_INIT;
    int fd, flags;

    (void) state;
    assert_non_null(mkdtemp(root));
    assert_non_null(gr);
    snprintf(dir, sizeof(dir), "%s/sock", root);
    snprintf(sock, sizeof(sock), "%s/milter.sock", dir);
    snprintf(deep, sizeof(deep), "%s/no/such/milter.sock", root);
    snprintf(file, sizeof(file), "%s/file", root);

    /* the directory is made: group given, so 0750 whatever the umask */
    umask(077);
    flags = listen_prepare_unix(sock, "", gr->gr_name, &err);
    umask(022);
    assert_int_equal(flags, LISTEN_MADE_DIR);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_gid, gr->gr_gid);
    assert_int_equal(err.len, 0);

    /* exists: left alone; open to its group */
    assert_int_equal(listen_prepare_unix(sock, "", gr->gr_name, &err), 0);
    /* without a group and closed to others: reported */
    assert_int_equal(listen_prepare_unix(sock, "", "", &err), LISTEN_DIR_CLOSED);
    rmdir(dir);
    assert_int_equal(listen_prepare_unix(sock, "", "", &err), LISTEN_MADE_DIR);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);

    /* a socket nobody listens on (its process was killed) is removed */
    fd = unix_socket_at(sock, 0);
    close(fd);
    assert_int_equal(lstat(sock, &st), 0);
    assert_int_equal(listen_prepare_unix(sock, "", "", &err), LISTEN_REMOVED_STALE);
    assert_int_equal(lstat(sock, &st), -1);

    /* a socket someone listens on stays, and is refused */
    fd = unix_socket_at(sock, 1);
    assert_int_equal(listen_prepare_unix(sock, "", "", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "another process listens on"));
    assert_int_equal(lstat(sock, &st), 0);
    close(fd);
    unlink(sock);
    str_reset(&err);

    /* not a socket: refused, not removed */
    fd = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(listen_prepare_unix(file, "", "", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "is not a socket"));
    assert_int_equal(stat(file, &st), 0);
    str_reset(&err);

    /* the directory is a file */
    snprintf(deep, sizeof(deep), "%s/x.sock", file);
    assert_int_equal(listen_prepare_unix(deep, "", "", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "is not a directory"));
    str_reset(&err);

    /* only the last directory is made */
    snprintf(deep, sizeof(deep), "%s/no/such/milter.sock", root);
    assert_int_equal(listen_prepare_unix(deep, "", "", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "its parent directory does not exist"));
    str_reset(&err);

    /* unknown user and group */
    assert_int_equal(listen_prepare_unix(sock, "no-such-user-rampart", "", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "unknown user"));
    str_reset(&err);
    assert_int_equal(listen_prepare_unix(sock, "", "no-such-group-rampart", &err), -1);
    assert_non_null(strstr(str_cstr(&err), "socket_group: unknown group"));

    unlink(file);
    rmdir(dir);
    rmdir(root);
    str_free(&err);
}

static void test_value_parsers(void **state)
{
    int64_t v;
    int b;

    (void) state;
    assert_int_equal(config_parse_time("10", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(config_parse_time("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(config_parse_time("2d", &v), 0);
    assert_int_equal(v, 172800000);
    assert_int_equal(config_parse_time("-1s", &v), -1);
    assert_int_equal(config_parse_time("", &v), -1);
    assert_int_equal(config_parse_time("9999999999999999999w", &v), -1);
    assert_int_equal(config_parse_size("10M", &v), 0);
    assert_int_equal(v, 10485760);
    assert_int_equal(config_parse_size("10x", &v), -1);
    assert_int_equal(config_parse_bool("Yes", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(config_parse_bool("off", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(config_parse_bool("maybe", &b), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_valid_file, teardown),
        cmocka_unit_test_teardown(test_continuation, teardown),
        cmocka_unit_test_teardown(test_bad_files, teardown),
        cmocka_unit_test_teardown(test_every_error_reported, teardown),
        cmocka_unit_test_teardown(test_limits, teardown),
        cmocka_unit_test_teardown(test_print_changed, teardown),
        cmocka_unit_test_teardown(test_reload_keeps_old, teardown),
        cmocka_unit_test_teardown(test_listen_specs, teardown),
        cmocka_unit_test_teardown(test_listen_prepare, teardown),
        cmocka_unit_test_teardown(test_value_parsers, teardown),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
