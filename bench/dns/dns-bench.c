/*
 * dns-bench.c - how fast is the resolver (lib/dns with the libunbound
 * backend) against a given forwarder.
 *
 * (a) cached: warm the cache with K names, then T threads each do N
 *     blocking dns_lookup()s over them; lookups per second per thread.
 * (b) cold: M distinct names never asked before, started at once with
 *     dns_start() and waited together with dns_wait_all(); wall time
 *     against the slowest single query of the batch and against one cold
 *     lookup alone. If lookups really run in parallel, the wall time of a
 *     batch stays near one round trip whatever M is.
 *
 * Cold names are generated under a zone (-z) the server must answer for
 * any name (a wildcard record); -l answers from libunbound local data
 * instead (no server: measures rampart and libunbound alone). See
 * bench/dns/README. Prints a table on stdout; exits 1 on bad usage or if
 * the resolver cannot be made.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "dns_unbound.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "util.h"

#define BENCH_MAX_FORWARDERS 8
#define BENCH_MAX_LIST 16
#define BENCH_SERIAL_COLD 20

struct bench_opts {
    const char *forwarders[BENCH_MAX_FORWARDERS];
    int n_forwarders;
    const char *names_file;
    const char *zone;
    int local;
    uint16_t qtype;
    int warm_names;
    int lookups;
    int threads[BENCH_MAX_LIST];
    int n_threads;
    int cold[BENCH_MAX_LIST];
    int n_cold;
    int timeout_ms;
};

/* Names for the cached test. */
struct bench_names {
    char **v;
    int n;
};

/* Microseconds on the monotonic clock. */
static int64_t bench_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sort helper for latencies. */
static int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

    return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of n sorted values. */
static int64_t bench_pct(const int64_t *sorted, int n, int p)
{
    int i = (int) ((int64_t) (n - 1) * p / 100);

    return n > 0 ? sorted[i] : 0;
}

/* Parse "1,2,4" into out; -1 if bad. */
static int bench_parse_list(const char *s, int *out, int *n)
{
    char *end;

    *n = 0;
    while (*s) {
        long v = strtol(s, &end, 10);

        if (end == s || v < 1 || v > 1000000 || *n >= BENCH_MAX_LIST || (*end != ',' && *end != '\0'))
            return -1;
        out[(*n)++] = (int) v;
        s = *end == ',' ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

/* A positive number option; exits on a bad one. */
static int bench_parse_int(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (end == s || *end != '\0' || v < 1 || v > 100000000) {
        fprintf(stderr, "dns-bench: bad %s: %s\n", what, s);
        exit(1);
    }
    return (int) v;
}

/* Read names, one per line, into out; -1 if the file cannot be read. */
static int bench_read_names(const char *file, struct bench_names *out)
{
    FILE *fp = fopen(file, "r");
    char line[512];

    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp)) {
        size_t len = strcspn(line, " \t\r\n#");

        line[len] = '\0';
        if (len == 0 || !dns_name_valid(line))
            continue;
        out->v = mem_realloc(out->v, (ssize_t) sizeof(char *) * (out->n + 1));
        out->v[out->n++] = mem_strdup(line);
    }
    fclose(fp);
    return 0;
}

/* Generated names: prefix<i>.zone. */
static void bench_gen_names(struct bench_names *out, const char *prefix, int n, const char *zone)
{
    out->v = mem_zalloc((ssize_t) sizeof(char *) * n);
    out->n = n;
    for (int i = 0; i < n; i++) {
        str s = STR_INIT;

        str_addf(&s, "%s%d.%s", prefix, i, zone);
        out->v[i] = str_steal(&s);
    }
}

/* Free a name list. */
static void bench_free_names(struct bench_names *names)
{
    for (int i = 0; i < names->n; i++)
        mem_free(names->v[i]);
    mem_free(names->v);
    names->v = NULL;
    names->n = 0;
}

/* Make the resolver. */
static struct dns_resolver *bench_resolver(const struct bench_opts *o)
{
    struct dns_unbound_config cfg = { 0 };
    struct dns_resolver *r;
    const char *zones[1], *data[1];
    str zone = STR_INIT, rr = STR_INIT, err = STR_INIT;

    cfg.forwarders = o->forwarders;
    cfg.n_forwarders = o->n_forwarders;
    cfg.timeout_ms = o->timeout_ms;
    if (o->local) {
        /* Every name under the zone answers with the zone's own records. */
        str_addf(&zone, "%s. redirect", o->zone);
        str_addf(&rr, "%s. 300 IN %s %s", o->zone, dns_type_name(o->qtype),
                 o->qtype == DNS_T_AAAA ? "2001:db8::1" : o->qtype == DNS_T_MX ? "10 mx.example."
                 : o->qtype == DNS_T_TXT ? "\"v=spf1 -all\"" : "192.0.2.1");
        zones[0] = str_cstr(&zone);
        data[0] = str_cstr(&rr);
        cfg.local_zones = zones;
        cfg.n_local_zones = 1;
        cfg.local_data = data;
        cfg.n_local_data = 1;
    }
    r = dns_unbound_new(&cfg, &err);
    if (r == NULL)
        fprintf(stderr, "dns-bench: %s\n", str_cstr(&err));
    str_free(&zone);
    str_free(&rr);
    str_free(&err);
    return r;
}

/* ------------------------------------------------------------------ (a) */

struct bench_worker {
    struct dns_resolver *r;
    const struct bench_names *names;
    uint16_t qtype;
    int lookups;
    int offset;
    int64_t elapsed_us;
    int failures;
    int64_t *lat_us;
};

/* N blocking lookups over the warm names. */
static void *bench_cached_worker(void *p)
{
    struct bench_worker *w = p;
    int64_t t0 = bench_now_us();

    for (int i = 0; i < w->lookups; i++) {
        const char *name = w->names->v[(i + w->offset) % w->names->n];
        int64_t s = bench_now_us();
        struct dns_answer *a = dns_lookup(w->r, name, w->qtype);

        w->lat_us[i] = bench_now_us() - s;
        w->failures += a->status != DNS_ANSWER;
        dns_answer_free(a);
    }
    w->elapsed_us = bench_now_us() - t0;
    return NULL;
}

/* Run (a) for every thread count. */
static void bench_cached(struct dns_resolver *r, const struct bench_opts *o, const struct bench_names *names)
{
    struct dns_stats before, after;
    int warm_fail = 0;

    for (int i = 0; i < names->n; i++) {
        struct dns_answer *a = dns_lookup(r, names->v[i], o->qtype);

        warm_fail += a->status != DNS_ANSWER;
        dns_answer_free(a);
    }
    printf("(a) cached lookups: %d names warmed (%d not answered), %d blocking dns_lookup() per thread\n",
           names->n, warm_fail, o->lookups);
    printf("    %7s %9s %8s %11s %12s %8s %8s %8s %10s\n", "threads", "lookups", "seconds", "lookups/s",
           "per thread/s", "p50 us", "p99 us", "max us", "cache hits");
    for (int t = 0; t < o->n_threads; t++) {
        int nt = o->threads[t];
        struct bench_worker *w = mem_zalloc((ssize_t) sizeof(*w) * nt);
        pthread_t *tid = mem_zalloc((ssize_t) sizeof(*tid) * nt);
        int64_t *all = mem_alloc((ssize_t) sizeof(int64_t) * nt * o->lookups);
        int64_t t0, wall, total = (int64_t) nt * o->lookups;
        int failures = 0;
        double per_thread = 0;

        dns_stats_get(r, &before);
        t0 = bench_now_us();
        for (int i = 0; i < nt; i++) {
            w[i].r = r;
            w[i].names = names;
            w[i].lookups = o->lookups;
            w[i].offset = i * 7919;
            w[i].qtype = o->qtype;
            w[i].lat_us = all + (int64_t) i * o->lookups;
            if (pthread_create(&tid[i], NULL, bench_cached_worker, &w[i]) != 0) {
                fprintf(stderr, "dns-bench: pthread_create failed\n");
                exit(1);
            }
        }
        for (int i = 0; i < nt; i++) {
            pthread_join(tid[i], NULL);
            failures += w[i].failures;
            per_thread += (double) o->lookups / ((double) w[i].elapsed_us / 1e6);
        }
        wall = bench_now_us() - t0;
        dns_stats_get(r, &after);
        qsort(all, (size_t) total, sizeof(int64_t), bench_cmp_i64);
        printf("    %7d %9lld %8.3f %11.0f %12.0f %8lld %8lld %8lld %10llu%s\n", nt, (long long) total,
               (double) wall / 1e6, (double) total / ((double) wall / 1e6), per_thread / nt,
               (long long) bench_pct(all, (int) total, 50), (long long) bench_pct(all, (int) total, 99),
               (long long) all[total - 1], (unsigned long long) (after.cache_hits - before.cache_hits),
               failures ? " (some not answered)" : "");
        mem_free(all);
        mem_free(tid);
        mem_free(w);
    }
}

/* ------------------------------------------------------------------ (b) */

struct bench_batch {
    struct dns_query **qs;
    int64_t *start_us;
    int64_t *lat_us;       /* -1 until seen answered */
    int n;
    int64_t stop_us;
};

/* Watch a batch and note when each answer arrives (0.1 ms resolution). */
static void *bench_watch(void *p)
{
    struct bench_batch *b = p;
    int left = b->n;

    while (left > 0 && bench_now_us() < b->stop_us) {
        struct timespec ts = { 0, 100000 };

        for (int i = 0; i < b->n; i++) {
            if (b->lat_us[i] < 0 && dns_peek(b->qs[i])) {
                b->lat_us[i] = bench_now_us() - b->start_us[i];
                left--;
            }
        }
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* One cold lookup at a time: the time of a single round trip, for reference. */
static int64_t bench_serial_cold(struct dns_resolver *r, const struct bench_opts *o, int64_t *max_us)
{
    int64_t lat[BENCH_SERIAL_COLD];
    struct bench_names names = { NULL, 0 };
    str prefix = STR_INIT;

    str_addf(&prefix, "s%ld-", (long) getpid());
    bench_gen_names(&names, str_cstr(&prefix), BENCH_SERIAL_COLD, o->zone);
    for (int i = 0; i < BENCH_SERIAL_COLD; i++) {
        int64_t s = bench_now_us();

        dns_answer_free(dns_lookup(r, names.v[i], o->qtype));
        lat[i] = bench_now_us() - s;
    }
    qsort(lat, BENCH_SERIAL_COLD, sizeof(int64_t), bench_cmp_i64);
    *max_us = lat[BENCH_SERIAL_COLD - 1];
    bench_free_names(&names);
    str_free(&prefix);
    return bench_pct(lat, BENCH_SERIAL_COLD, 50);
}

/* Run (b) for every batch size. */
static void bench_cold(struct dns_resolver *r, const struct bench_opts *o)
{
    int64_t single_max, single = bench_serial_cold(r, o, &single_max);

    printf("(b) cold lookups started at once (dns_start), waited together (dns_wait_all)\n");
    printf("    one cold lookup alone: median %.1f ms, max %.1f ms (%d in a row)\n", (double) single / 1e3,
           (double) single_max / 1e3, BENCH_SERIAL_COLD);
    printf("    %6s %8s %8s %9s %10s %8s %10s %12s\n", "M", "answered", "timeouts", "wall ms", "slowest ms",
           "p50 ms", "sum ms", "wall/single");
    for (int c = 0; c < o->n_cold; c++) {
        struct bench_batch b;
        struct bench_names names = { NULL, 0 };
        str prefix = STR_INIT;
        pthread_t watcher;
        int64_t t0, wall, sum = 0, *sorted;
        int answered = 0, timeouts = 0;

        str_addf(&prefix, "c%ld-%d-", (long) getpid(), c);
        bench_gen_names(&names, str_cstr(&prefix), o->cold[c], o->zone);
        b.n = o->cold[c];
        b.qs = mem_zalloc((ssize_t) sizeof(*b.qs) * b.n);
        b.start_us = mem_zalloc((ssize_t) sizeof(int64_t) * b.n);
        b.lat_us = mem_zalloc((ssize_t) sizeof(int64_t) * b.n);
        for (int i = 0; i < b.n; i++)
            b.lat_us[i] = -1;
        b.stop_us = bench_now_us() + (int64_t) o->timeout_ms * 1000 + 1000000;

        t0 = bench_now_us();
        for (int i = 0; i < b.n; i++) {
            b.start_us[i] = bench_now_us();
            b.qs[i] = dns_start(r, names.v[i], o->qtype);
        }
        if (pthread_create(&watcher, NULL, bench_watch, &b) != 0) {
            fprintf(stderr, "dns-bench: pthread_create failed\n");
            exit(1);
        }
        dns_wait_all(b.qs, b.n, clock_now_ms() + o->timeout_ms);
        wall = bench_now_us() - t0;
        pthread_join(watcher, NULL);

        for (int i = 0; i < b.n; i++) {
            const struct dns_answer *a = dns_peek(b.qs[i]);

            answered += a->status == DNS_ANSWER;
            timeouts += a->timed_out;
            if (b.lat_us[i] < 0)
                b.lat_us[i] = wall;   /* not seen by the watcher: bounded by the wall time */
            sum += b.lat_us[i];
            dns_query_free(b.qs[i]);
        }
        sorted = b.lat_us;
        qsort(sorted, (size_t) b.n, sizeof(int64_t), bench_cmp_i64);
        printf("    %6d %8d %8d %9.1f %10.1f %8.1f %10.1f %12.2f\n", b.n, answered, timeouts,
               (double) wall / 1e3, (double) sorted[b.n - 1] / 1e3, (double) bench_pct(sorted, b.n, 50) / 1e3,
               (double) sum / 1e3, single > 0 ? (double) wall / (double) single : 0.0);
        mem_free(b.qs);
        mem_free(b.start_us);
        mem_free(b.lat_us);
        bench_free_names(&names);
        str_free(&prefix);
    }
}

/* ------------------------------------------------------------------ main */

/* Print the usage and exit 1. */
static void bench_usage(void)
{
    fprintf(stderr,
            "usage: dns-bench [-s addr[@port]]... [-l] [-z zone] [-f names-file] [-k names]\n"
            "                 [-t threads,...] [-n lookups] [-m batch,...] [-q type] [-w timeout-ms]\n"
            "  -s  forwarder (repeatable; default: /etc/resolv.conf)\n"
            "  -l  answer every name under the zone from libunbound local data (no server)\n"
            "  -z  zone for generated names (default bench.test); the server must answer any name in it\n"
            "  -f  names for the cached test, one per line (default: K generated names)\n"
            "  -k  generated names for the cached test (default 100)\n"
            "  -t  thread counts for the cached test (default 1,2)\n"
            "  -n  lookups per thread in the cached test (default 20000)\n"
            "  -m  batch sizes for the cold test (default 1,10,100,1000)\n"
            "  -q  query type: A, AAAA, MX or TXT (default A)\n"
            "  -w  per-query timeout in ms (default 5000)\n");
    exit(1);
}

/* Query type from its name. */
static uint16_t bench_qtype(const char *s)
{
    static const uint16_t types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT };

    for (size_t i = 0; i < NELEM(types); i++)
        if (ascii_casecmp(s, dns_type_name(types[i])) == 0)
            return types[i];
    bench_usage();
    return 0;
}

/* Parse options, make the resolver, run (a) then (b), print the totals. */
int main(int argc, char **argv)
{
    struct bench_opts o;
    struct bench_names names = { NULL, 0 };
    struct dns_resolver *r;
    struct dns_stats st;
    int c;

    memset(&o, 0, sizeof(o));
    o.zone = "bench.test";
    o.qtype = DNS_T_A;
    o.warm_names = 100;
    o.lookups = 20000;
    o.timeout_ms = 5000;
    o.threads[0] = 1;
    o.threads[1] = 2;
    o.n_threads = 2;
    o.cold[0] = 1;
    o.cold[1] = 10;
    o.cold[2] = 100;
    o.cold[3] = 1000;
    o.n_cold = 4;
    while ((c = getopt(argc, argv, "s:lz:f:k:t:n:m:q:w:h")) != -1) {
        switch (c) {
        case 's':
            if (o.n_forwarders >= BENCH_MAX_FORWARDERS || !dns_unbound_forwarder_valid(optarg)) {
                fprintf(stderr, "dns-bench: bad or too many forwarders: %s\n", optarg);
                return 1;
            }
            o.forwarders[o.n_forwarders++] = optarg;
            break;
        case 'l': o.local = 1; break;
        case 'z': o.zone = optarg; break;
        case 'f': o.names_file = optarg; break;
        case 'k': o.warm_names = bench_parse_int(optarg, "name count"); break;
        case 'n': o.lookups = bench_parse_int(optarg, "lookup count"); break;
        case 'w': o.timeout_ms = bench_parse_int(optarg, "timeout"); break;
        case 'q': o.qtype = bench_qtype(optarg); break;
        case 't':
            if (bench_parse_list(optarg, o.threads, &o.n_threads) != 0)
                bench_usage();
            break;
        case 'm':
            if (bench_parse_list(optarg, o.cold, &o.n_cold) != 0)
                bench_usage();
            break;
        default: bench_usage();
        }
    }
    if (optind != argc || !dns_name_valid(o.zone))
        bench_usage();
    log_open_stderr("dns-bench");

    if (o.names_file) {
        if (bench_read_names(o.names_file, &names) != 0) {
            fprintf(stderr, "dns-bench: %s: %s\n", o.names_file, strerror(errno));
            return 1;
        }
        if (names.n == 0) {
            fprintf(stderr, "dns-bench: %s: no names\n", o.names_file);
            return 1;
        }
    } else {
        str prefix = STR_INIT;

        str_addf(&prefix, "w%ld-", (long) getpid());
        bench_gen_names(&names, str_cstr(&prefix), o.warm_names, o.zone);
        str_free(&prefix);
    }
    r = bench_resolver(&o);
    if (r == NULL)
        return 1;
    printf("dns-bench: forwarder %s%s, type %s, zone %s, timeout %d ms\n",
           o.n_forwarders ? o.forwarders[0] : "from /etc/resolv.conf", o.n_forwarders > 1 ? " (and more)" : "",
           dns_type_name(o.qtype), o.zone, o.timeout_ms);
    if (o.local)
        printf("    answers from libunbound local data (no server)\n");
    bench_cached(r, &o, &names);
    bench_cold(r, &o);
    dns_stats_get(r, &st);
    printf("totals: queries %llu, answers %llu, nxdomain %llu, nodata %llu, tempfail %llu, timeouts %llu, "
           "badanswer %llu, cache hits %llu\n",
           (unsigned long long) st.queries, (unsigned long long) st.answers, (unsigned long long) st.nxdomain,
           (unsigned long long) st.nodata, (unsigned long long) st.tempfail, (unsigned long long) st.timeouts,
           (unsigned long long) st.badanswer, (unsigned long long) st.cache_hits);
    dns_resolver_free(r);
    bench_free_names(&names);
    return 0;
}
