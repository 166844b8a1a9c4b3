/*
 * metrics.c - duration histograms and the Prometheus text page.
 *
 * Histograms live in a fixed table. A name gets its slot under a mutex
 * the first time it is observed; after that an observation finds the slot
 * by a scan of the published slots (a few strcmp) and adds with relaxed
 * atomics, so the message path never takes a lock. Bucket counts are kept
 * per bucket and summed when rendered, so a page's _count always equals
 * its +Inf bucket even while observations come in.
 *
 * The page is built from a snapshot of each source: the counter table
 * (counter_each), the histogram table, the resolver's counters
 * (dns_stats_get), the DNS lists' status (dnsbl_zone_status), the scanner
 * (av_engine_info) and the registered gauges. Label values are escaped as
 * the text format wants (\\, \", \n). See metrics.h for the names.
 *
 * Logs one warning when the histogram table is full.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "av.h"
#include "core.h"
#include "counters.h"
#include "dns.h"
#include "dnsbl.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "rconfig.h"
#include "util.h"
#include "verdict.h"

static const int64_t metrics_bounds[] = { METRICS_BUCKETS_MS };
#define METRICS_NBUCKETS ((int) NELEM(metrics_bounds) + 1)

_Static_assert(NELEM(metrics_bounds) + 1 == NELEM(((struct metrics_histogram *) 0)->bucket),
               "struct metrics_histogram has one slot per bucket");

struct histogram {
    char name[METRICS_MAX_NAME];
    uint64_t bucket[METRICS_NBUCKETS];
    uint64_t sum_ms;
};

static struct histogram hists[METRICS_MAX_HISTOGRAMS];
static int nhists;                  /* published slots; read with acquire */
static int hists_full_logged;
static pthread_mutex_t hists_lock = PTHREAD_MUTEX_INITIALIZER;

struct gauge {
    const char *name, *help, *labels;
    metrics_gauge_fn fn;
    void *arg;
};

static struct gauge gauges[METRICS_MAX_GAUGES];
static int ngauges;
static pthread_mutex_t gauges_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- histograms */

/* The slot of name, created if need be; NULL when the table is full or the name too long. */
static struct histogram *hist_slot(const char *name)
{
    int n = __atomic_load_n(&nhists, __ATOMIC_ACQUIRE);
    struct histogram *h = NULL;

    for (int i = 0; i < n; i++)
        if (strcmp(hists[i].name, name) == 0)
            return &hists[i];
    if (strlen(name) >= METRICS_MAX_NAME)
        return NULL;
    pthread_mutex_lock(&hists_lock);
    n = nhists;
    for (int i = 0; i < n && h == NULL; i++)
        if (strcmp(hists[i].name, name) == 0)
            h = &hists[i];
    if (h == NULL && n < METRICS_MAX_HISTOGRAMS) {
        h = &hists[n];
        memset(h, 0, sizeof(*h));
        memcpy(h->name, name, strlen(name) + 1);
        __atomic_store_n(&nhists, n + 1, __ATOMIC_RELEASE);
    } else if (h == NULL && !hists_full_logged) {
        hists_full_logged = 1;
        log_warning("metrics: more than %d histograms; not timing %s", METRICS_MAX_HISTOGRAMS, name);
    }
    pthread_mutex_unlock(&hists_lock);
    return h;
}

/* Count one duration. */
void metrics_observe_ms(const char *name, int64_t ms)
{
    struct histogram *h = hist_slot(name);
    int b = 0;

    if (h == NULL)
        return;
    if (ms < 0)
        ms = 0;
    while (b < METRICS_NBUCKETS - 1 && ms > metrics_bounds[b])
        b++;
    __atomic_add_fetch(&h->bucket[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->sum_ms, (uint64_t) ms, __ATOMIC_RELAXED);
}

/* Copy one slot. */
static void hist_copy(const struct histogram *h, struct metrics_histogram *out)
{
    memset(out, 0, sizeof(*out));
    for (int b = 0; b < METRICS_NBUCKETS; b++) {
        out->bucket[b] = __atomic_load_n(&h->bucket[b], __ATOMIC_RELAXED);
        out->count += out->bucket[b];
    }
    out->sum_ms = __atomic_load_n(&h->sum_ms, __ATOMIC_RELAXED);
}

int metrics_histogram_get(const char *name, struct metrics_histogram *out)
{
    int n = __atomic_load_n(&nhists, __ATOMIC_ACQUIRE);

    for (int i = 0; i < n; i++)
        if (strcmp(hists[i].name, name) == 0) {
            hist_copy(&hists[i], out);
            return 0;
        }
    return -1;
}

/* ---------------------------------------------------------------- gauges */

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static int metric_name_valid(const char *s)
{
    if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'
              || *s == ':'))
            return 0;
    return 1;
}

int metrics_gauge_add(const char *name, const char *help, const char *labels, metrics_gauge_fn fn, void *arg)
{
    int rc = -1;

    if (!metric_name_valid(name) || fn == NULL)
        return -1;
    pthread_mutex_lock(&gauges_lock);
    if (ngauges < METRICS_MAX_GAUGES) {
        gauges[ngauges++] = (struct gauge) { name, help ? help : "", labels, fn, arg };
        rc = 0;
    }
    pthread_mutex_unlock(&gauges_lock);
    return rc;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&hists_lock);
    memset(hists, 0, sizeof(hists));
    __atomic_store_n(&nhists, 0, __ATOMIC_RELEASE);
    hists_full_logged = 0;
    pthread_mutex_unlock(&hists_lock);
    pthread_mutex_lock(&gauges_lock);
    ngauges = 0;
    pthread_mutex_unlock(&gauges_lock);
}

/* ---------------------------------------------------------------- text format */

/* A label value, escaped. */
static void add_label_value(str *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            str_adds(out, "\\\\");
        else if (*v == '"')
            str_adds(out, "\\\"");
        else if (*v == '\n')
            str_adds(out, "\\n");
        else
            str_addc(out, *v);
    }
}

/* The # HELP and # TYPE lines of a family. */
static void add_header(str *out, const char *name, const char *type, const char *help)
{
    str_addf(out, "# HELP %s ", name);
    for (const char *h = help; *h; h++) {
        if (*h == '\\')
            str_adds(out, "\\\\");
        else if (*h == '\n')
            str_adds(out, "\\n");
        else
            str_addc(out, *h);
    }
    str_addf(out, "\n# TYPE %s %s\n", name, type);
}

/* name{k1="v1",k2="v2"} value; k2 may be NULL, k1 too. */
static void add_sample(str *out, const char *name, const char *k1, const char *v1, const char *k2,
                       const char *v2, uint64_t value)
{
    str_adds(out, name);
    if (k1) {
        str_addf(out, "{%s=\"", k1);
        add_label_value(out, v1);
        str_addc(out, '"');
        if (k2) {
            str_addf(out, ",%s=\"", k2);
            add_label_value(out, v2);
            str_addc(out, '"');
        }
        str_addc(out, '}');
    }
    str_addf(out, " %llu\n", (unsigned long long) value);
}

/* ---------------------------------------------------------------- counters */

struct csnap {
    char *name;
    uint64_t value;
    int used;
};

struct csnaps {
    struct csnap *v;
    int n, cap;
};

static void csnap_add(const char *name, uint64_t value, void *arg)
{
    struct csnaps *s = arg;

    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = mem_realloc(s->v, (ssize_t) sizeof(*s->v) * s->cap);
    }
    s->v[s->n++] = (struct csnap) { mem_strdup(name), value, 0 };
}

/* Counter families by name prefix; label2 NULL: the rest of the name is label1. */
static const struct {
    const char *prefix, *metric, *help, *label1, *label2;
} families[] = {
    { "message.action.", "rampart_messages_total", "Messages decided, by the action taken.", "action", NULL },
    { "check.", "rampart_check_actions_total",
      "Check outcomes by the action the configuration maps them to (enforced checks).", "check", "action" },
    { "monitor.", "rampart_monitor_actions_total",
      "Actions checks in monitor mode would have taken.", "check", "action" },
    { "result.", "rampart_check_results_total", "Check results by result word.", "check", "result" },
    { "policy.action.", "rampart_policy_requests_total",
      "Policy service requests by the action answered.", "action", NULL },
    { "ratelimit.hit.", "rampart_ratelimit_hits_total", "Requests over a rate limit, by limit.", "limit", NULL },
};

/* Render one family from the snapshot; seeds are label1 values shown as 0 when absent. */
static void render_family(str *out, struct csnaps *s, int f, const char *const *seeds, int nseeds)
{
    size_t plen = strlen(families[f].prefix);
    str a = STR_INIT;

    for (int i = 0; i < nseeds; i++) {
        int present = 0;

        str_reset(&a);
        str_addf(&a, "%s%s", families[f].prefix, seeds[i]);

        for (int j = 0; j < s->n && !present; j++)
            present = strcmp(s->v[j].name, str_cstr(&a)) == 0;
        if (!present)
            csnap_add(str_cstr(&a), 0, s);
    }
    /* Seeds may have been appended out of order: keep the page sorted. */
    for (int i = 1; i < s->n; i++)
        for (int j = i; j > 0 && strcmp(s->v[j - 1].name, s->v[j].name) > 0; j--) {
            struct csnap t = s->v[j];

            s->v[j] = s->v[j - 1];
            s->v[j - 1] = t;
        }
    /* The family is declared even before its first event, so dashboards and alerts find it. */
    add_header(out, families[f].metric, "counter", families[f].help);
    for (int i = 0; i < s->n; i++) {
        const char *name = s->v[i].name, *rest, *dot;

        if (s->v[i].used || strncmp(name, families[f].prefix, plen) != 0 || name[plen] == '\0')
            continue;
        rest = name + plen;
        dot = strchr(rest, '.');
        if (families[f].label2 && (dot == NULL || dot == rest || dot[1] == '\0'))
            continue;
        s->v[i].used = 1;
        if (families[f].label2) {
            str_reset(&a);
            str_add(&a, rest, dot - rest);
            add_sample(out, families[f].metric, families[f].label1, str_cstr(&a), families[f].label2, dot + 1,
                       s->v[i].value);
        } else {
            add_sample(out, families[f].metric, families[f].label1, rest, NULL, NULL, s->v[i].value);
        }
    }
    str_free(&a);
}

/* Every counter: the families, the scanner's failures (rendered with the scanner), the rest as events. */
static void render_counters(str *out, struct csnaps *s)
{
    const char *actions[VERDICT_REJECT + 1];

    for (int a = 0; a <= VERDICT_REJECT; a++)
        actions[a] = verdict_action_name((enum verdict_action) a);
    for (int f = 0; f < (int) NELEM(families); f++)
        render_family(out, s, f, f == 0 ? actions : NULL, f == 0 ? (int) NELEM(actions) : 0);
    add_header(out, "rampart_events_total", "counter", "Other named events.");
    for (int i = 0; i < s->n; i++) {
        if (s->v[i].used || strcmp(s->v[i].name, "av.load.failed") == 0)
            continue;
        add_sample(out, "rampart_events_total", "event", s->v[i].name, NULL, NULL, s->v[i].value);
    }
}

/* ---------------------------------------------------------------- histograms */

struct hsnap {
    char family[METRICS_MAX_NAME + 40];
    char label[METRICS_MAX_NAME];   /* check name, or "" */
    struct metrics_histogram h;
};

/* The family and label of a histogram name (see metrics.h). */
static void hist_family(const char *name, struct hsnap *s)
{
    size_t len = strlen(name);
    str f = STR_INIT;

    s->label[0] = '\0';
    if (strcmp(name, "message.ms") == 0) {
        str_adds(&f, "rampart_message_duration_seconds");
    } else if (strcmp(name, "policy.ms") == 0) {
        str_adds(&f, "rampart_policy_request_duration_seconds");
    } else if (strncmp(name, "check.", 6) == 0 && len > 9 && strcmp(name + len - 3, ".ms") == 0
               && memchr(name + 6, '.', len - 9) == NULL) {
        str_adds(&f, "rampart_check_duration_seconds");
        memcpy(s->label, name + 6, len - 9);
        s->label[len - 9] = '\0';
    } else {
        if (len > 3 && strcmp(name + len - 3, ".ms") == 0)
            len -= 3;
        str_adds(&f, "rampart_");
        for (size_t i = 0; i < len; i++) {
            char c = name[i];

            str_addc(&f, (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_');
        }
        str_adds(&f, "_duration_seconds");
    }
    snprintf(s->family, sizeof(s->family), "%s", str_cstr(&f));
    str_free(&f);
}

static int hsnap_cmp(const void *a, const void *b)
{
    const struct hsnap *x = a, *y = b;
    int c = strcmp(x->family, y->family);

    return c ? c : strcmp(x->label, y->label);
}

/* The le="..." text of bucket b. */
static void add_le(str *out, int b)
{
    if (b == METRICS_NBUCKETS - 1)
        str_adds(out, "+Inf");
    else
        str_addf(out, "%g", (double) metrics_bounds[b] / 1000.0);
}

static void render_histograms(str *out)
{
    int n = __atomic_load_n(&nhists, __ATOMIC_ACQUIRE);
    struct hsnap *s;

    if (n == 0)
        return;
    s = mem_zalloc((ssize_t) sizeof(*s) * n);
    for (int i = 0; i < n; i++) {
        hist_family(hists[i].name, &s[i]);
        hist_copy(&hists[i], &s[i].h);
    }
    qsort(s, (size_t) n, sizeof(*s), hsnap_cmp);
    for (int i = 0; i < n; i++) {
        uint64_t cum = 0;
        str lab = STR_INIT;

        if (i == 0 || strcmp(s[i].family, s[i - 1].family) != 0)
            add_header(out, s[i].family, "histogram",
                       s[i].label[0] ? "Time a check spent per message, from its first hook to its result."
                                     : "Time spent, from start to decision.");
        if (s[i].label[0]) {
            str_adds(&lab, "check=\"");
            add_label_value(&lab, s[i].label);
            str_adds(&lab, "\",");
        }
        for (int b = 0; b < METRICS_NBUCKETS; b++) {
            cum += s[i].h.bucket[b];
            str_addf(out, "%s_bucket{%sle=\"", s[i].family, str_cstr(&lab));
            add_le(out, b);
            str_addf(out, "\"} %llu\n", (unsigned long long) cum);
        }
        if (lab.len)
            str_truncate(&lab, lab.len - 1);   /* the trailing comma */
        str_addf(out, "%s_sum%s%s%s %.3f\n", s[i].family, lab.len ? "{" : "", str_cstr(&lab), lab.len ? "}" : "",
                 (double) s[i].h.sum_ms / 1000.0);
        str_addf(out, "%s_count%s%s%s %llu\n", s[i].family, lab.len ? "{" : "", str_cstr(&lab),
                 lab.len ? "}" : "", (unsigned long long) s[i].h.count);
        str_free(&lab);
    }
    mem_free(s);
}

/* ---------------------------------------------------------------- DNS, lists, scanner, gauges */

static void render_dns(str *out, struct dns_resolver *r)
{
    struct dns_stats st;
    static const char *const status[] = { "answer", "nxdomain", "nodata", "servfail", "timeout", "badanswer" };
    uint64_t v[NELEM(status)];

    dns_stats_get(r, &st);
    v[0] = st.answers;
    v[1] = st.nxdomain;
    v[2] = st.nodata;
    v[3] = st.tempfail;
    v[4] = st.timeouts;
    v[5] = st.badanswer;
    add_header(out, "rampart_dns_queries_total", "counter", "DNS queries asked, all zones together.");
    add_sample(out, "rampart_dns_queries_total", NULL, NULL, NULL, NULL, st.queries);
    add_header(out, "rampart_dns_cache_hits_total", "counter",
               "DNS answers that came back without a network round trip.");
    add_sample(out, "rampart_dns_cache_hits_total", NULL, NULL, NULL, NULL, st.cache_hits);
    add_header(out, "rampart_dns_responses_total", "counter",
               "DNS outcomes: answer, nxdomain, nodata, servfail (also REFUSED and DNSSEC bogus), "
               "timeout (no answer in time), badanswer (unusable).");
    for (size_t i = 0; i < NELEM(status); i++)
        add_sample(out, "rampart_dns_responses_total", "status", status[i], NULL, NULL, v[i]);
}

static void render_dnsbl(str *out, struct dnsbl *d)
{
    int n = dnsbl_zone_count(d);
    struct dnsbl_zone_status *z;
    static const struct {
        const char *name, *help;
        size_t off;
    } per[] = {
        { "rampart_dnsbl_queries_total", "DNS list answers counted, by list.",
          offsetof(struct dnsbl_zone_status, queries) },
        { "rampart_dnsbl_listed_total", "DNS list answers that listed the name asked, by list.",
          offsetof(struct dnsbl_zone_status, listed) },
        { "rampart_dnsbl_errors_total", "DNS list error answers (refusal codes, SERVFAIL, malformed), by list.",
          offsetof(struct dnsbl_zone_status, errors) },
        { "rampart_dnsbl_timeouts_total", "DNS list queries without an answer in time, by list.",
          offsetof(struct dnsbl_zone_status, timeouts) },
        { "rampart_dnsbl_marked_broken_total", "Times a DNS list was found broken and taken out of use.",
          offsetof(struct dnsbl_zone_status, broken_count) },
    };

    if (n <= 0)
        return;
    z = mem_zalloc((ssize_t) sizeof(*z) * n);
    for (int i = 0; i < n; i++)
        dnsbl_zone_status(d, i, &z[i]);
    add_header(out, "rampart_dnsbl_broken", "gauge",
               "1 while a DNS list is out of use (its test points failed, or too many errors); "
               "health says why.");
    for (int i = 0; i < n; i++)
        add_sample(out, "rampart_dnsbl_broken", "list", z[i].zone, "health", dnsbl_health_name(z[i].health),
                   (uint64_t) (z[i].broken != 0));
    for (size_t f = 0; f < NELEM(per); f++) {
        add_header(out, per[f].name, "counter", per[f].help);
        for (int i = 0; i < n; i++)
            add_sample(out, per[f].name, "list", z[i].zone, NULL, NULL,
                       *(const uint64_t *) ((const char *) &z[i] + per[f].off));
    }
    mem_free(z);
}

static void render_av(str *out)
{
    struct av_engine_info info;
    char num[32];

    av_engine_info(&info);
    add_header(out, "rampart_av_database_loaded", "gauge",
               "1 when the scanner has a signature database loaded; 0: scans answer unavailable.");
    add_sample(out, "rampart_av_database_loaded", NULL, NULL, NULL, NULL, (uint64_t) (info.loaded != 0));
    add_header(out, "rampart_av_engine_info", "gauge", "The scanner engine's version and database version.");
    snprintf(num, sizeof(num), "%u", info.db_version);
    add_sample(out, "rampart_av_engine_info", "version", info.version ? info.version : "", "database_version", num,
               1);
    add_header(out, "rampart_av_signatures", "gauge", "Signatures in the loaded database.");
    add_sample(out, "rampart_av_signatures", NULL, NULL, NULL, NULL, info.signatures);
    add_header(out, "rampart_av_database_build_timestamp_seconds", "gauge",
               "Build time of the newest official database loaded (Unix time); 0 when unknown.");
    add_sample(out, "rampart_av_database_build_timestamp_seconds", NULL, NULL, NULL, NULL,
               (uint64_t) (info.db_time > 0 ? info.db_time : 0));
    if (info.loaded_at > 0) {
        add_header(out, "rampart_av_database_load_timestamp_seconds", "gauge",
                   "When the database in use was loaded (Unix time).");
        add_sample(out, "rampart_av_database_load_timestamp_seconds", NULL, NULL, NULL, NULL,
                   (uint64_t) info.loaded_at);
        add_header(out, "rampart_av_database_load_duration_seconds", "gauge",
                   "How long loading and compiling the database in use took.");
        str_addf(out, "rampart_av_database_load_duration_seconds %.3f\n", (double) info.load_ms / 1000.0);
    }
    add_header(out, "rampart_av_loads_total", "counter", "Successful database loads (start and reloads).");
    add_sample(out, "rampart_av_loads_total", NULL, NULL, NULL, NULL, info.generation);
    add_header(out, "rampart_av_load_failures_total", "counter",
               "Database loads that failed (the previous database, if any, stays in use).");
    add_sample(out, "rampart_av_load_failures_total", NULL, NULL, NULL, NULL, counter_get("av.load.failed"));
}

static int gauge_cmp(const void *a, const void *b)
{
    const struct gauge *x = a, *y = b;

    return strcmp(x->name, y->name);
}

static void render_gauges(str *out)
{
    struct gauge g[METRICS_MAX_GAUGES];
    int n;

    pthread_mutex_lock(&gauges_lock);
    n = ngauges;
    memcpy(g, gauges, sizeof(*g) * (size_t) n);
    pthread_mutex_unlock(&gauges_lock);
    /* A stable order: insertion sort keeps registration order within a name. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && gauge_cmp(&g[j - 1], &g[j]) > 0; j--) {
            struct gauge t = g[j];

            g[j] = g[j - 1];
            g[j - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        if (i == 0 || strcmp(g[i].name, g[i - 1].name) != 0)
            add_header(out, g[i].name, "gauge", g[i].help);
        str_adds(out, g[i].name);
        if (g[i].labels && g[i].labels[0])
            str_addf(out, "{%s}", g[i].labels);
        str_addf(out, " %.15g\n", g[i].fn(g[i].arg));
    }
}

/* ---------------------------------------------------------------- the page */

void metrics_render(const struct metrics_sources *src, str *out)
{
    struct csnaps s = { NULL, 0, 0 };

    add_header(out, "rampart_build_info", "gauge", "The running rampart's version.");
    add_sample(out, "rampart_build_info", "version", PACKAGE_VERSION, NULL, NULL, 1);
    counter_each(csnap_add, &s);
    render_counters(out, &s);
    for (int i = 0; i < s.n; i++)
        mem_free(s.v[i].name);
    mem_free(s.v);
    render_histograms(out);
    if (src && src->resolver)
        render_dns(out, src->resolver);
    if (src && src->dnsbl)
        render_dnsbl(out, src->dnsbl);
    if (src && src->av)
        render_av(out);
    render_gauges(out);
}

void metrics_render_core(str *out)
{
    struct config *cfg = config_current();
    struct metrics_sources src;

    src.resolver = core_resolver();
    src.dnsbl = core_dnsbl();
    src.av = cfg->av_mode != CHECK_OFF;
    metrics_render(&src, out);
    if (src.dnsbl)
        dnsbl_unref(src.dnsbl);
    config_unref(cfg);
}
