/*
 * test_metrics.c - histograms (buckets, sums, the table limit, name
 * limit, threads), the Prometheus page (counter families, seeded
 * actions, other events, label escaping, histograms in seconds, DNS
 * counters, DNS list health, the scanner, gauges) checked line by line
 * against the text format, and the HTTP listener (GET, 404, 405,
 * metrics_allow, a unix socket).
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core.h"
#include "counters.h"
#include "dns.h"
#include "dnsbl.h"
#include "mem.h"
#include "metrics.h"
#include "metrics_http.h"
#include "rconfig.h"
#include "str.h"

static int teardown(void **state)
{
    (void) state;
    metrics_reset();
    counter_reset_all();
    return 0;
}

/* ---------------------------------------------------------------- a text format checker */

/* Does the page contain this exact line? */
static int has_line(const str *page, const char *line)
{
    const char *p = str_cstr(page);
    size_t n = strlen(line);

    while ((p = strstr(p, line)) != NULL) {
        if ((p == page->data || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

#define assert_line(page, line) \
    do { if (!has_line((page), (line))) fail_msg("no line \"%s\" in:\n%s", (line), str_cstr(page)); } while (0)

/* The index of the family a sample name belongs to, given the types declared so far; -1 if none. */
static int family_of(const char *name, char types[][2][128], int ntypes)
{
    static const char *const suffix[] = { "_bucket", "_sum", "_count" };

    for (int i = 0; i < ntypes; i++)
        if (strcmp(types[i][0], name) == 0)
            return i;
    for (size_t s = 0; s < 3; s++) {
        size_t n = strlen(name), k = strlen(suffix[s]);

        if (n > k && strcmp(name + n - k, suffix[s]) == 0)
            for (int i = 0; i < ntypes; i++)
                if (strlen(types[i][0]) == n - k && strncmp(types[i][0], name, n - k) == 0
                    && strcmp(types[i][1], "histogram") == 0)
                    return i;
    }
    return -1;
}

/* Every line is a comment or a sample; each family is declared once, before its samples, which are together. */
static void check_format(const str *page)
{
    static char types[512][2][128];
    char done[512] = { 0 };
    int ntypes = 0, cur = -1;
    const char *p = str_cstr(page);

    assert_true(page->len > 0 && page->data[page->len - 1] == '\n');
    while (*p) {
        const char *nl = strchr(p, '\n');
        char line[4096], name[128];
        size_t len = (size_t) (nl - p), i = 0;
        int k;
        char *end;

        assert_non_null(nl);
        assert_true(len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char t[32];

            assert_int_equal(sscanf(line + 7, "%127s %31s", name, t), 2);
            for (int j = 0; j < ntypes; j++)
                if (strcmp(types[j][0], name) == 0)
                    fail_msg("family %s declared twice", name);
            assert_true(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 || strcmp(t, "histogram") == 0);
            assert_true(ntypes < 512);
            snprintf(types[ntypes][0], sizeof(types[0][0]), "%s", name);
            snprintf(types[ntypes][1], sizeof(types[0][1]), "%s", t);
            ntypes++;
            continue;
        }
        assert_true(line[0] != '#');
        while (line[i] && line[i] != '{' && line[i] != ' ') {
            char c = line[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'
                  || (i > 0 && c >= '0' && c <= '9')))
                fail_msg("bad metric name in: %s", line);
            i++;
        }
        assert_true(i > 0 && i < sizeof(name));
        memcpy(name, line, i);
        name[i] = '\0';
        if (line[i] == '{') {
            i++;
            while (line[i] != '}') {
                while ((line[i] >= 'a' && line[i] <= 'z') || line[i] == '_')
                    i++;
                if (line[i] != '=' || line[i + 1] != '"')
                    fail_msg("bad label in: %s", line);
                i += 2;
                while (line[i] != '"') {
                    if (line[i] == '\0')
                        fail_msg("unterminated label value in: %s", line);
                    if (line[i] == '\\') {
                        if (line[i + 1] != '\\' && line[i + 1] != '"' && line[i + 1] != 'n')
                            fail_msg("bad escape in: %s", line);
                        i++;
                    }
                    i++;
                }
                i++;
                if (line[i] == ',')
                    i++;
                else if (line[i] != '}')
                    fail_msg("bad label list in: %s", line);
            }
            i++;
        }
        if (line[i] != ' ')
            fail_msg("no value in: %s", line);
        strtod(line + i + 1, &end);
        if (end == line + i + 1 || *end != '\0')
            fail_msg("bad value in: %s", line);
        if ((k = family_of(name, types, ntypes)) < 0)
            fail_msg("sample before its # TYPE: %s", line);
        if (k != cur) {
            if (done[k])
                fail_msg("samples of %s are not together", types[k][0]);
            if (cur >= 0)
                done[cur] = 1;
            cur = k;
        }
    }
}

/* ---------------------------------------------------------------- histograms */

static void test_histogram_buckets(void **state)
{
    struct metrics_histogram h;
    static const int64_t obs[] = { 0, 1, 2, 3, 1000, 1001, 60000, 60001, 999999, -5 };

    (void) state;
    assert_int_equal(metrics_histogram_get("check.spf.ms", &h), -1);
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        metrics_observe_ms("check.spf.ms", obs[i]);
    assert_int_equal(metrics_histogram_get("check.spf.ms", &h), 0);
    assert_int_equal(h.count, 10);
    assert_int_equal(h.sum_ms, 0 + 1 + 2 + 3 + 1000 + 1001 + 60000 + 60001 + 999999);
    assert_int_equal(h.bucket[0], 3);    /* <= 1 ms: 0, 1, -5 */
    assert_int_equal(h.bucket[1], 1);    /* <= 2 */
    assert_int_equal(h.bucket[2], 1);    /* <= 5 */
    assert_int_equal(h.bucket[9], 1);    /* <= 1000 */
    assert_int_equal(h.bucket[10], 1);   /* <= 2500 */
    assert_int_equal(h.bucket[14], 1);   /* <= 60000 */
    assert_int_equal(h.bucket[15], 2);   /* +Inf */
}

/* Past METRICS_MAX_HISTOGRAMS names, and names too long, are dropped. */
static void test_histogram_limits(void **state)
{
    char name[METRICS_MAX_NAME + 8];
    struct metrics_histogram h;

    (void) state;
    for (int i = 0; i < METRICS_MAX_HISTOGRAMS + 5; i++) {
        snprintf(name, sizeof(name), "x%d.ms", i);
        metrics_observe_ms(name, 5);
    }
    assert_int_equal(metrics_histogram_get("x0.ms", &h), 0);
    snprintf(name, sizeof(name), "x%d.ms", METRICS_MAX_HISTOGRAMS - 1);
    assert_int_equal(metrics_histogram_get(name, &h), 0);
    snprintf(name, sizeof(name), "x%d.ms", METRICS_MAX_HISTOGRAMS);
    assert_int_equal(metrics_histogram_get(name, &h), -1);
    metrics_reset();
    memset(name, 'a', METRICS_MAX_NAME);
    name[METRICS_MAX_NAME] = '\0';
    metrics_observe_ms(name, 1);
    assert_int_equal(metrics_histogram_get(name, &h), -1);
    name[METRICS_MAX_NAME - 1] = '\0';
    metrics_observe_ms(name, 1);
    assert_int_equal(metrics_histogram_get(name, &h), 0);
}

static void *observer(void *arg)
{
    (void) arg;
    for (int i = 0; i < 20000; i++) {
        metrics_observe_ms("message.ms", i % 100);
        metrics_observe_ms(i % 2 ? "check.a.ms" : "check.b.ms", 1);
    }
    return NULL;
}

/* Threads observing at once lose nothing. */
static void test_histogram_threads(void **state)
{
    pthread_t t[4];
    struct metrics_histogram h;
    uint64_t sum = 0;

    (void) state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, observer, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(metrics_histogram_get("message.ms", &h), 0);
    assert_int_equal(h.count, 80000);
    for (int i = 0; i < 100; i++)
        sum += (uint64_t) i;
    assert_int_equal(h.sum_ms, sum * 800);
    assert_int_equal(metrics_histogram_get("check.a.ms", &h), 0);
    assert_int_equal(h.count, 40000);
}

/* ---------------------------------------------------------------- the page */

static void test_counters_page(void **state)
{
    str page = STR_INIT;

    (void) state;
    counter_add("message.action.reject", 2);
    counter_inc("message.action.accept");
    counter_inc("check.spf.reject");
    counter_inc("check.dnsbl.tag");
    counter_inc("monitor.dmarc.quarantine");
    counter_inc("result.spf.fail");
    counter_add("policy.action.dunno", 7);
    counter_inc("ratelimit.hit.per_client");
    counter_inc("ratelimit.hit.a\"b\\c\nd");
    counter_inc("weird");
    counter_inc("check.nodot");
    counter_add("av.load.failed", 3);
    metrics_render(NULL, &page);
    check_format(&page);
    assert_line(&page, "rampart_build_info{version=\"" PACKAGE_VERSION "\"} 1");
    assert_line(&page, "# TYPE rampart_messages_total counter");
    assert_line(&page, "rampart_messages_total{action=\"reject\"} 2");
    assert_line(&page, "rampart_messages_total{action=\"accept\"} 1");
    /* Every action is there from the start. */
    assert_line(&page, "rampart_messages_total{action=\"tempfail\"} 0");
    assert_line(&page, "rampart_messages_total{action=\"quarantine\"} 0");
    assert_line(&page, "rampart_check_actions_total{check=\"spf\",action=\"reject\"} 1");
    assert_line(&page, "rampart_check_actions_total{check=\"dnsbl\",action=\"tag\"} 1");
    assert_line(&page, "rampart_monitor_actions_total{check=\"dmarc\",action=\"quarantine\"} 1");
    assert_line(&page, "rampart_check_results_total{check=\"spf\",result=\"fail\"} 1");
    assert_line(&page, "rampart_policy_requests_total{action=\"dunno\"} 7");
    assert_line(&page, "rampart_ratelimit_hits_total{limit=\"per_client\"} 1");
    assert_line(&page, "rampart_ratelimit_hits_total{limit=\"a\\\"b\\\\c\\nd\"} 1");
    assert_line(&page, "rampart_events_total{event=\"weird\"} 1");
    assert_line(&page, "rampart_events_total{event=\"check.nodot\"} 1");
    /* Rendered with the scanner only. */
    assert_null(strstr(str_cstr(&page), "av.load.failed"));
    assert_null(strstr(str_cstr(&page), "rampart_av_"));
    assert_null(strstr(str_cstr(&page), "rampart_dns_"));
    str_free(&page);
}

static void test_histograms_page(void **state)
{
    str page = STR_INIT;

    (void) state;
    metrics_observe_ms("check.spf.ms", 3);
    metrics_observe_ms("check.spf.ms", 40);
    metrics_observe_ms("check.dkim.ms", 700);
    metrics_observe_ms("message.ms", 120000);
    metrics_observe_ms("policy.ms", 1);
    metrics_observe_ms("dns.wait.ms", 1);
    metrics_render(NULL, &page);
    check_format(&page);
    assert_line(&page, "# TYPE rampart_check_duration_seconds histogram");
    assert_line(&page, "rampart_check_duration_seconds_bucket{check=\"spf\",le=\"0.001\"} 0");
    assert_line(&page, "rampart_check_duration_seconds_bucket{check=\"spf\",le=\"0.005\"} 1");
    assert_line(&page, "rampart_check_duration_seconds_bucket{check=\"spf\",le=\"0.05\"} 2");
    assert_line(&page, "rampart_check_duration_seconds_bucket{check=\"spf\",le=\"60\"} 2");
    assert_line(&page, "rampart_check_duration_seconds_bucket{check=\"spf\",le=\"+Inf\"} 2");
    assert_line(&page, "rampart_check_duration_seconds_sum{check=\"spf\"} 0.043");
    assert_line(&page, "rampart_check_duration_seconds_count{check=\"spf\"} 2");
    assert_line(&page, "rampart_check_duration_seconds_count{check=\"dkim\"} 1");
    assert_line(&page, "rampart_message_duration_seconds_bucket{le=\"60\"} 0");
    assert_line(&page, "rampart_message_duration_seconds_bucket{le=\"+Inf\"} 1");
    assert_line(&page, "rampart_message_duration_seconds_sum 120.000");
    assert_line(&page, "rampart_message_duration_seconds_count 1");
    assert_line(&page, "rampart_policy_request_duration_seconds_count 1");
    assert_line(&page, "rampart_dns_wait_duration_seconds_count 1");
    str_free(&page);
}

/* The resolver's counters. */
static void test_dns_page(void **state)
{
    struct dns_resolver *r = dns_fixture_new();
    struct metrics_sources src = { r, NULL, 0 };
    struct dns_query *q;
    str page = STR_INIT;

    (void) state;
    dns_fixture_add(r, "a.example", DNS_T_A, "192.0.2.1");
    dns_fixture_fail(r, "sf.example", DNS_T_A, DNS_TEMPFAIL, 0);
    dns_fixture_fail(r, "to.example", DNS_T_A, DNS_TEMPFAIL, 1);
    dns_answer_free(dns_lookup(r, "a.example", DNS_T_A));
    dns_answer_free(dns_lookup(r, "a.example", DNS_T_A));
    dns_answer_free(dns_lookup(r, "a.example", DNS_T_MX));
    dns_answer_free(dns_lookup(r, "b.example", DNS_T_A));
    dns_answer_free(dns_lookup(r, "sf.example", DNS_T_A));
    q = dns_start(r, "to.example", DNS_T_A);
    dns_wait(q, 1);
    dns_query_free(q);
    metrics_render(&src, &page);
    check_format(&page);
    assert_line(&page, "rampart_dns_queries_total 6");
    assert_line(&page, "rampart_dns_cache_hits_total 0");
    assert_line(&page, "rampart_dns_responses_total{status=\"answer\"} 2");
    assert_line(&page, "rampart_dns_responses_total{status=\"nodata\"} 1");
    assert_line(&page, "rampart_dns_responses_total{status=\"nxdomain\"} 1");
    assert_line(&page, "rampart_dns_responses_total{status=\"servfail\"} 1");
    assert_line(&page, "rampart_dns_responses_total{status=\"timeout\"} 1");
    assert_line(&page, "rampart_dns_responses_total{status=\"badanswer\"} 0");
    str_free(&page);
    dns_resolver_free(r);
}

/* DNS list health, one line per list and family. */
static void test_dnsbl_page(void **state)
{
    static const char *const sites[] = { "bl.example*2", "dbl.example", "wl.example=127.0.0.2*-3" };
    struct dns_resolver *r = dns_fixture_new();
    struct dnsbl_options o;
    struct dnsbl *d;
    struct metrics_sources src = { NULL, NULL, 0 };
    str page = STR_INIT, err = STR_INIT;

    (void) state;
    memset(&o, 0, sizeof(o));
    o.sites = sites;
    o.n_sites = 3;
    d = dnsbl_new(&o, &err);
    if (d == NULL)
        fail_msg("dnsbl_new: %s", str_cstr(&err));
    /* bl.example has its test point; dbl.example answers nothing: broken. */
    dns_fixture_add(r, "2.0.0.127.bl.example", DNS_T_A, "127.0.0.2");
    dns_fixture_add(r, "2.0.0.127.wl.example", DNS_T_A, "127.0.0.2");
    dnsbl_health_check(d, r, 0);
    src.dnsbl = d;
    metrics_render(&src, &page);
    check_format(&page);
    assert_line(&page, "# TYPE rampart_dnsbl_broken gauge");
    assert_line(&page, "rampart_dnsbl_broken{list=\"bl.example\",health=\"ok\"} 0");
    assert_non_null(strstr(str_cstr(&page), "rampart_dnsbl_broken{list=\"dbl.example\",health=\""));
    assert_line(&page, "rampart_dnsbl_queries_total{list=\"bl.example\"} 0");
    assert_line(&page, "rampart_dnsbl_listed_total{list=\"wl.example\"} 0");
    assert_non_null(strstr(str_cstr(&page), "rampart_dnsbl_marked_broken_total{list=\"dbl.example\"} "));
    assert_line(&page, "rampart_dnsbl_timeouts_total{list=\"bl.example\"} 0");
    assert_line(&page, "rampart_dnsbl_errors_total{list=\"bl.example\"} 0");
    str_free(&page);
    str_free(&err);
    dnsbl_unref(d);
    dns_resolver_free(r);
}

/* The scanner, without a database loaded. */
static void test_av_page(void **state)
{
    struct metrics_sources src = { NULL, NULL, 1 };
    str page = STR_INIT;

    (void) state;
    counter_add("av.load.failed", 2);
    metrics_render(&src, &page);
    check_format(&page);
    assert_line(&page, "rampart_av_database_loaded 0");
    assert_line(&page, "rampart_av_signatures 0");
    assert_line(&page, "rampart_av_loads_total 0");
    assert_line(&page, "rampart_av_load_failures_total 2");
    assert_non_null(strstr(str_cstr(&page), "rampart_av_engine_info{version=\""));
    /* Unknown times are 0; the load time only once loaded. */
    assert_line(&page, "rampart_av_database_build_timestamp_seconds 0");
    assert_null(strstr(str_cstr(&page), "rampart_av_database_load_timestamp_seconds"));
    str_free(&page);
}

static double gauge_value(void *arg)
{
    return *(const double *) arg;
}

static void test_gauges(void **state)
{
    static double milter = 3, policy = 1.5, other = 7;
    str page = STR_INIT;

    (void) state;
    assert_int_equal(metrics_gauge_add("rampart_connections", "Open connections.", "frontend=\"milter\"",
                                       gauge_value, &milter), 0);
    assert_int_equal(metrics_gauge_add("rampart_a_gauge", "Another.", NULL, gauge_value, &other), 0);
    assert_int_equal(metrics_gauge_add("rampart_connections", "Open connections.", "frontend=\"policy\"",
                                       gauge_value, &policy), 0);
    assert_int_equal(metrics_gauge_add("bad name", "x", NULL, gauge_value, &other), -1);
    assert_int_equal(metrics_gauge_add("9bad", "x", NULL, gauge_value, &other), -1);
    assert_int_equal(metrics_gauge_add("rampart_x", "x", NULL, NULL, &other), -1);
    metrics_render(NULL, &page);
    check_format(&page);
    assert_line(&page, "rampart_connections{frontend=\"milter\"} 3");
    assert_line(&page, "rampart_connections{frontend=\"policy\"} 1.5");
    assert_line(&page, "rampart_a_gauge 7");
    milter = 4;
    str_reset(&page);
    metrics_render(NULL, &page);
    assert_line(&page, "rampart_connections{frontend=\"milter\"} 4");
    str_free(&page);
    for (int i = 3; i < METRICS_MAX_GAUGES; i++)
        assert_int_equal(metrics_gauge_add("rampart_filler", "x", NULL, gauge_value, &other), 0);
    assert_int_equal(metrics_gauge_add("rampart_filler", "x", NULL, gauge_value, &other), -1);
}

/* The daemon's page: the core's resolver, and the scanner unless av_mode is off. */
static void test_core_page(void **state)
{
    struct dns_resolver *r = dns_fixture_new();
    struct config *c = config_defaults();
    str page = STR_INIT, err = STR_INIT;

    (void) state;
    assert_int_equal(config_set(c, "av_mode", "off", "test", &err), 0);
    config_install(config_ref(c));
    assert_int_equal(core_init_with_resolver(c, r, &err), 0);
    dns_answer_free(dns_lookup(r, "a.example", DNS_T_A));
    metrics_render_core(&page);
    check_format(&page);
    assert_line(&page, "rampart_dns_queries_total 1");
    assert_null(strstr(str_cstr(&page), "rampart_av_"));
    core_shutdown();
    config_install(NULL);
    config_unref(c);
    dns_resolver_free(r);
    str_free(&page);
    str_free(&err);
}

/* ---------------------------------------------------------------- HTTP */

/* Send a request to a socket address; the whole reply. */
static void http(const struct sockaddr *sa, socklen_t len, const char *request, str *reply)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    char buf[4096];
    ssize_t n;

    assert_true(fd >= 0);
    assert_int_equal(connect(fd, sa, len), 0);
    /* A refused client may see its write fail: no SIGPIPE, and the reply is then empty. */
    (void) send(fd, request, strlen(request), MSG_NOSIGNAL);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_add(reply, buf, n);
    close(fd);
}

/* A free TCP port on 127.0.0.1. */
static int free_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* A configuration with metrics_listen (and metrics_allow) set, installed. */
static struct config *metrics_config(const char *listen, const char *allow)
{
    struct config *c = config_defaults();
    str err = STR_INIT;

    if (config_set(c, "metrics_listen", listen, "test", &err) != 0
        || (allow && config_set(c, "metrics_allow", allow, "test", &err) != 0)
        || config_set(c, "av_mode", "off", "test", &err) != 0)
        fail_msg("config: %s", str_cstr(&err));
    str_free(&err);
    config_install(config_ref(c));
    return c;
}

static void test_http(void **state)
{
    struct config *c;
    str err = STR_INIT, reply = STR_INIT;
    struct sockaddr_in sin;
    char spec[64];
    int port = free_port();

    (void) state;
    /* Empty: nothing to do. */
    c = config_defaults();
    assert_int_equal(metrics_http_start(c, &err), 0);
    config_unref(c);

    snprintf(spec, sizeof(spec), "inet:127.0.0.1:%d", port);
    c = metrics_config(spec, NULL);
#ifdef HAVE_MICROHTTPD
    counter_inc("message.action.accept");
    if (metrics_http_start(c, &err) != 0)
        fail_msg("start: %s", str_cstr(&err));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    http((struct sockaddr *) &sin, sizeof(sin), "GET /metrics HTTP/1.0\r\n\r\n", &reply);
    if (strstr(str_cstr(&reply), " 200 OK\r\n") == NULL)
        fail_msg("reply: %s", str_cstr(&reply));
    assert_non_null(strstr(str_cstr(&reply), "Content-Type: " METRICS_CONTENT_TYPE "\r\n"));
    assert_non_null(strstr(str_cstr(&reply), "\nrampart_messages_total{action=\"accept\"} 1\n"));
    str_reset(&reply);
    http((struct sockaddr *) &sin, sizeof(sin), "GET /other HTTP/1.0\r\n\r\n", &reply);
    assert_non_null(strstr(str_cstr(&reply), " 404 "));
    str_reset(&reply);
    http((struct sockaddr *) &sin, sizeof(sin), "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", &reply);
    assert_non_null(strstr(str_cstr(&reply), " 405 "));
    assert_non_null(strstr(str_cstr(&reply), "Allow: GET, HEAD"));
    str_reset(&reply);
    http((struct sockaddr *) &sin, sizeof(sin), "HEAD /metrics HTTP/1.0\r\n\r\n", &reply);
    assert_non_null(strstr(str_cstr(&reply), " 200 "));
    assert_null(strstr(str_cstr(&reply), "rampart_build_info"));
    /* A second start while running does nothing. */
    assert_int_equal(metrics_http_start(c, &err), 0);
    metrics_http_stop();
    metrics_http_stop();
    config_install(NULL);
    config_unref(c);

    /* metrics_allow: 127.0.0.1 is not in it, so the connection is closed unanswered. */
    c = metrics_config(spec, "192.0.2.0/24");
    assert_int_equal(metrics_http_start(c, &err), 0);
    str_reset(&reply);
    http((struct sockaddr *) &sin, sizeof(sin), "GET /metrics HTTP/1.0\r\n\r\n", &reply);
    assert_int_equal(reply.len, 0);
    metrics_http_stop();
    config_install(NULL);
    config_unref(c);
    c = metrics_config(spec, "192.0.2.0/24, 127.0.0.0/8");
    assert_int_equal(metrics_http_start(c, &err), 0);
    http((struct sockaddr *) &sin, sizeof(sin), "GET /metrics HTTP/1.0\r\n\r\n", &reply);
    assert_non_null(strstr(str_cstr(&reply), " 200 "));
    /* The address is in use now. */
    {
        struct config *c2 = config_defaults();

        assert_int_equal(config_set(c2, "metrics_listen", spec, "test", &err), 0);
        metrics_http_stop();
        {
            int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
            assert_int_equal(listen(fd, 1), 0);
            assert_int_equal(metrics_http_start(c2, &err), -1);
            assert_non_null(strstr(str_cstr(&err), "cannot bind"));
            close(fd);
        }
        config_unref(c2);
    }
    config_install(NULL);
    config_unref(c);

    /* A unix socket. */
    {
        struct sockaddr_un sun;
        char path[] = "/tmp/rampart-metrics-XXXXXX";
        int fd = mkstemp(path);

        close(fd);
        unlink(path);
        snprintf(spec, sizeof(spec), "unix:%s", path);
        c = metrics_config(spec, NULL);
        assert_int_equal(metrics_http_start(c, &err), 0);
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        memcpy(sun.sun_path, path, strlen(path) + 1);
        str_reset(&reply);
        http((struct sockaddr *) &sun, sizeof(sun), "GET /metrics HTTP/1.0\r\n\r\n", &reply);
        assert_non_null(strstr(str_cstr(&reply), " 200 "));
        metrics_http_stop();
        assert_int_equal(access(path, F_OK), -1);
        config_install(NULL);
        config_unref(c);
    }
#else
    (void) sin;
    assert_int_equal(metrics_http_start(c, &err), -1);
    assert_non_null(strstr(str_cstr(&err), "without libmicrohttpd"));
    config_install(NULL);
    config_unref(c);
#endif
    str_free(&err);
    str_free(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_histogram_buckets, teardown),
        cmocka_unit_test_teardown(test_histogram_limits, teardown),
        cmocka_unit_test_teardown(test_histogram_threads, teardown),
        cmocka_unit_test_teardown(test_counters_page, teardown),
        cmocka_unit_test_teardown(test_histograms_page, teardown),
        cmocka_unit_test_teardown(test_dns_page, teardown),
        cmocka_unit_test_teardown(test_dnsbl_page, teardown),
        cmocka_unit_test_teardown(test_av_page, teardown),
        cmocka_unit_test_teardown(test_gauges, teardown),
        cmocka_unit_test_teardown(test_core_page, teardown),
        cmocka_unit_test_teardown(test_http, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
