/*
 * metrics.h - what rampart counts and times, in Prometheus text format.
 *
 * Three kinds of numbers reach the renderer:
 *  - the named counters of counters.h, mapped to metric families by their
 *    name (below);
 *  - duration histograms, fed with metrics_observe_ms();
 *  - values read when the page is rendered: the resolver's counters, the
 *    DNS lists' health, the scanner's engine, and gauges that the daemon
 *    registers as callbacks (open connections, ...).
 * This module renders text and never touches a socket; the daemon's HTTP
 * listener (milter/metrics_http.c) serves metrics_render_core().
 *
 * Counter names and the families they become (a name that fits no row is
 * exported as rampart_events_total{event="NAME"}):
 *
 *   message.action.ACTION      rampart_messages_total{action}
 *   check.CHECK.ACTION         rampart_check_actions_total{check,action}
 *   monitor.CHECK.ACTION       rampart_monitor_actions_total{check,action}
 *   result.CHECK.RESULT        rampart_check_results_total{check,result}
 *   policy.action.ACTION       rampart_policy_requests_total{action}
 *                              (ACTION: the answer's first word, lower case:
 *                              dunno, defer_if_permit, reject, ...)
 *   ratelimit.hit.NAME         rampart_ratelimit_hits_total{limit}
 *                              (NAME: the rate limit's configured name)
 *   av.load.failed             rampart_av_load_failures_total
 *
 * Histogram names: "message.ms" is rampart_message_duration_seconds,
 * "check.CHECK.ms" is rampart_check_duration_seconds{check}, "policy.ms"
 * is rampart_policy_request_duration_seconds; any other "A.B.ms" becomes
 * rampart_A_B_duration_seconds. Names are static strings from the code,
 * never from input.
 */
#ifndef RAMPART_METRICS_H
#define RAMPART_METRICS_H

#include <stdint.h>

#include "str.h"

struct dns_resolver;
struct dnsbl;

/* Upper bounds of the histogram buckets, in milliseconds (then +Inf). */
#define METRICS_BUCKETS_MS 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000
/* Distinct histogram names; observations under further names are dropped (logged once). */
#define METRICS_MAX_HISTOGRAMS 64
#define METRICS_MAX_NAME 64
/* Registered gauges. */
#define METRICS_MAX_GAUGES 32

/*
 * Count one duration under name (see above). Lock-free after the first
 * observation of a name: a few atomic additions. A negative ms counts as 0.
 */
void metrics_observe_ms(const char *name, int64_t ms);

/* A histogram's state, for tests and rampart-check: 0, or -1 if name was never observed. */
struct metrics_histogram {
    uint64_t count;
    uint64_t sum_ms;
    uint64_t bucket[16];        /* per bucket, not cumulative; the last is +Inf */
};
int metrics_histogram_get(const char *name, struct metrics_histogram *out);

/*
 * A gauge read at render time. name is a metric name ("rampart_connections"),
 * labels the label text inside the braces without them ("frontend=\"milter\"")
 * or NULL; several gauges may share a name with different labels. The
 * strings must outlive the registration (static). Returns 0, or -1 when
 * METRICS_MAX_GAUGES are registered or name is not a valid metric name.
 */
typedef double (*metrics_gauge_fn)(void *arg);
int metrics_gauge_add(const char *name, const char *help, const char *labels, metrics_gauge_fn fn, void *arg);

/* What the renderer reads besides counters, histograms and gauges. */
struct metrics_sources {
    struct dns_resolver *resolver;  /* DNS counters; NULL: left out */
    struct dnsbl *dnsbl;            /* DNS list health; NULL: left out */
    int av;                         /* 1: the scanner's engine, database and loads */
};

/* Append the whole page in Prometheus text format (version 0.0.4). */
void metrics_render(const struct metrics_sources *src, str *out);

/*
 * The daemon's page: the core's resolver and DNS lists, and the scanner
 * when the current configuration's av_mode is not off.
 */
void metrics_render_core(str *out);

/* The Content-Type of the page. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Forget every histogram and gauge (tests). */
void metrics_reset(void);

#endif
