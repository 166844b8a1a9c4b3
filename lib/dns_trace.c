/*
 * dns_trace.c - the recording resolver backend.
 *
 * start() asks the inner resolver and, if the answer is there at once (a
 * fixture, a zone file, a cached answer), delivers a copy and records
 * another. Otherwise the query joins a pending list that one worker
 * thread polls (dns_peek, every millisecond while anything is pending):
 * dns.h offers no completion callback, and polling keeps every inner
 * query in flight at once, so lookups still overlap as they do in the
 * daemon. cancel() marks the pending query; the worker then releases the
 * inner query (which cancels it there) and records a timeout, which is
 * what the caller saw.
 *
 * Entries are allocated one by one so a pointer to one stays valid while
 * more are added. Logs nothing.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "dns_trace.h"
#include "mem.h"
#include "util.h"

struct trace_pending {
    struct dns_query *outer, *inner;
    int idx;                    /* entry, or -1 when not recorded */
    int cancelled;
    struct trace_pending *next;
};

struct trace {
    struct dns_resolver base;   /* first: the resolver is the trace */
    struct dns_resolver *inner;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct dns_trace_entry **entries;
    int n, cap, dropped;
    const char *context;
    int64_t t0;
    struct trace_pending *pending;
    pthread_t thread;
    int thread_started, stop;
};

/* This thread's label (dns_trace_set_thread_context). */
static __thread const char *trace_thread_context;

/* ---------------------------------------------------------------- answers */

/* A name in zone-file form: special characters escaped, with the final dot. */
static void zone_name(const char *name, str *out)
{
    for (const char *p = name; *p; p++) {
        if (strchr(";()\"\\@$", *p))
            str_addc(out, '\\');
        str_addc(out, *p);
    }
    str_addc(out, '.');
}

/* TXT data as quoted character-strings of at most 255 bytes. */
static void zone_txt(const char *data, ssize_t len, str *out)
{
    ssize_t i = 0;

    do {
        ssize_t end = i + 255 < len ? i + 255 : len;

        if (i > 0)
            str_addc(out, ' ');
        str_addc(out, '"');
        for (; i < end; i++) {
            unsigned char c = (unsigned char) data[i];

            if (c == '"' || c == '\\')
                str_addf(out, "\\%c", c);
            else if (c < 0x20 || c >= 0x7f)
                str_addf(out, "\\%03u", c);
            else
                str_addc(out, (char) c);
        }
        str_addc(out, '"');
    } while (i < len);
}

void dns_rdata_format(const struct dns_rr *rr, str *out)
{
    char buf[INET6_ADDRSTRLEN];

    switch (rr->type) {
    case DNS_T_A:
        str_adds(out, inet_ntop(AF_INET, &rr->u.a, buf, sizeof(buf)) ? buf : "?");
        break;
    case DNS_T_AAAA:
        str_adds(out, inet_ntop(AF_INET6, &rr->u.aaaa, buf, sizeof(buf)) ? buf : "?");
        break;
    case DNS_T_MX:
        str_addf(out, "%u ", rr->u.mx.pref);
        if (rr->u.mx.host[0])
            zone_name(rr->u.mx.host, out);
        else
            str_addc(out, '.');
        break;
    case DNS_T_TXT:
        zone_txt(rr->u.txt.data, rr->u.txt.len, out);
        break;
    case DNS_T_PTR:
    case DNS_T_CNAME:
    case DNS_T_NS:
        zone_name(rr->u.name, out);
        break;
    default:
        str_adds(out, "?");
        break;
    }
}

/* ---------------------------------------------------------------- recording */

/* A new entry for a query; its index, or -1 when the table is full. */
static int trace_record_start(struct trace *t, const char *name, uint16_t type)
{
    struct dns_trace_entry *e;
    int idx;

    pthread_mutex_lock(&t->lock);
    if (t->n >= DNS_TRACE_MAX_ENTRIES) {
        t->dropped++;
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 32;
        t->entries = mem_realloc(t->entries, (ssize_t) sizeof(*t->entries) * t->cap);
    }
    e = mem_zalloc(sizeof(*e));
    e->seq = t->n;
    e->name = mem_strdup(name);
    e->type = type;
    e->context = trace_thread_context ? trace_thread_context : t->context;
    e->start_ms = clock_now_ms() - t->t0;
    e->elapsed_ms = -1;
    idx = t->n;
    t->entries[t->n++] = e;
    pthread_mutex_unlock(&t->lock);
    return idx;
}

/* Note what the caller got (a takes over; NULL: nothing). */
static void trace_record_end(struct trace *t, int idx, struct dns_answer *a, int abandoned)
{
    if (idx < 0) {
        dns_answer_free(a);
        return;
    }
    pthread_mutex_lock(&t->lock);
    t->entries[idx]->answer = a;
    t->entries[idx]->abandoned = abandoned;
    t->entries[idx]->elapsed_ms = clock_now_ms() - t->t0 - t->entries[idx]->start_ms;
    pthread_mutex_unlock(&t->lock);
}

/* Hand inner's answer to the caller and keep a copy. */
static void trace_deliver(struct trace *t, struct dns_query *outer, struct dns_query *inner, int idx,
                          const struct dns_answer *a)
{
    struct dns_answer *give = dns_answer_copy(a);

    trace_record_end(t, idx, idx >= 0 ? dns_answer_copy(a) : NULL, 0);
    dns_query_free(inner);
    dns_query_done(outer, give);
}

/* The caller gave up: record the timeout it saw, release both queries. */
static void trace_abandon(struct trace *t, struct trace_pending *p)
{
    struct dns_answer *a = dns_answer_new(dns_query_name(p->outer), dns_query_type(p->outer), DNS_TEMPFAIL);

    a->timed_out = 1;
    a->rcode = -1;
    a->why = "timeout";
    trace_record_end(t, p->idx, a, 1);
    dns_query_free(p->inner);
    dns_query_done(p->outer, NULL);
}

/* The worker: deliver answers as they come in. */
static void *trace_worker(void *arg)
{
    struct trace *t = arg;

    thread_name("rampart-dnslog");
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct trace_pending *ready = NULL, **pp = &t->pending;

        if (t->pending == NULL) {
            pthread_cond_wait(&t->cond, &t->lock);
            continue;
        }
        while (*pp) {
            struct trace_pending *p = *pp;

            if (p->cancelled || dns_peek(p->inner)) {
                *pp = p->next;
                p->next = ready;
                ready = p;
            } else {
                pp = &p->next;
            }
        }
        pthread_mutex_unlock(&t->lock);
        if (ready == NULL) {
            struct timespec ts = { 0, 1000000L };

            nanosleep(&ts, NULL);
        }
        while (ready) {
            struct trace_pending *p = ready;

            ready = p->next;
            if (p->cancelled)
                trace_abandon(t, p);
            else
                trace_deliver(t, p->outer, p->inner, p->idx, dns_peek(p->inner));
            mem_free(p);
        }
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---------------------------------------------------------------- backend */

static void trace_start(struct dns_resolver *r, struct dns_query *q)
{
    struct trace *t = (struct trace *) r;
    /* The clock starts before the question goes out. */
    int idx = trace_record_start(t, dns_query_name(q), dns_query_type(q));
    struct dns_query *inner = dns_start(t->inner, dns_query_name(q), dns_query_type(q));
    const struct dns_answer *a = dns_peek(inner);
    struct trace_pending *p;

    if (a) {
        trace_deliver(t, q, inner, idx, a);
        return;
    }
    p = mem_zalloc(sizeof(*p));
    p->outer = q;
    p->inner = inner;
    p->idx = idx;
    pthread_mutex_lock(&t->lock);
    p->next = t->pending;
    t->pending = p;
    if (!t->thread_started) {
        if (pthread_create(&t->thread, NULL, trace_worker, t) != 0) {
            /* XXX no thread: wait here; the caller's deadline cannot cut this short. */
            t->pending = p->next;
            pthread_mutex_unlock(&t->lock);
            trace_deliver(t, q, inner, idx, dns_wait(inner, 0));
            mem_free(p);
            return;
        }
        t->thread_started = 1;
    }
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

static void trace_cancel(struct dns_resolver *r, struct dns_query *q)
{
    struct trace *t = (struct trace *) r;

    pthread_mutex_lock(&t->lock);
    for (struct trace_pending *p = t->pending; p; p = p->next)
        if (p->outer == q)
            p->cancelled = 1;
    pthread_mutex_unlock(&t->lock);
}

static void trace_destroy(struct dns_resolver *r)
{
    struct trace *t = (struct trace *) r;

    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    if (t->thread_started)
        pthread_join(t->thread, NULL);
    /* Nothing should be pending now; release whatever is. */
    while (t->pending) {
        struct trace_pending *p = t->pending;

        t->pending = p->next;
        trace_abandon(t, p);
        mem_free(p);
    }
    for (int i = 0; i < t->n; i++) {
        dns_answer_free(t->entries[i]->answer);
        mem_free(t->entries[i]->name);
        mem_free(t->entries[i]);
    }
    mem_free(t->entries);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    mem_free(t);
}

static const struct dns_backend_ops trace_ops = {
    trace_start, trace_cancel, trace_destroy,
};

struct dns_resolver *dns_trace_new(struct dns_resolver *inner)
{
    struct trace *t = mem_zalloc(sizeof(*t));

    dns_resolver_init(&t->base, &trace_ops);
    dns_set_timeout(&t->base, dns_get_timeout(inner));
    t->inner = inner;
    t->t0 = clock_now_ms();
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    return &t->base;
}

void dns_trace_set_thread_context(const char *context)
{
    trace_thread_context = context;
}

const char *dns_trace_thread_context(void)
{
    return trace_thread_context;
}

void dns_trace_set_context(struct dns_resolver *r, const char *context)
{
    struct trace *t = (struct trace *) r;

    pthread_mutex_lock(&t->lock);
    t->context = context;
    pthread_mutex_unlock(&t->lock);
}

int dns_trace_count(struct dns_resolver *r)
{
    struct trace *t = (struct trace *) r;
    int n;

    pthread_mutex_lock(&t->lock);
    n = t->n;
    pthread_mutex_unlock(&t->lock);
    return n;
}

const struct dns_trace_entry *dns_trace_entry(struct dns_resolver *r, int i)
{
    struct trace *t = (struct trace *) r;
    const struct dns_trace_entry *e = NULL;

    pthread_mutex_lock(&t->lock);
    if (i >= 0 && i < t->n)
        e = t->entries[i];
    pthread_mutex_unlock(&t->lock);
    return e;
}

int dns_trace_dropped(struct dns_resolver *r)
{
    struct trace *t = (struct trace *) r;
    int n;

    pthread_mutex_lock(&t->lock);
    n = t->dropped;
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* ---------------------------------------------------------------- zone file */

/* The type as a zone file names it. */
static void zone_type(uint16_t type, str *out)
{
    const char *n = dns_type_name(type);

    if (strcmp(n, "TYPE?") == 0)
        str_addf(out, "TYPE%u", type);
    else
        str_adds(out, n);
}

void dns_trace_write_zone(struct dns_resolver *r, str *out)
{
    struct trace *t = (struct trace *) r;

    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->n; i++) {
        const struct dns_trace_entry *e = t->entries[i];
        const struct dns_answer *a = e->answer;
        int seen = 0;

        if (a == NULL)
            continue;
        for (int j = 0; j < i && !seen; j++)
            seen = t->entries[j]->answer && t->entries[j]->type == e->type
                   && ascii_casecmp(t->entries[j]->name, e->name) == 0;
        if (seen)
            continue;
        switch (e->abandoned ? DNS_TEMPFAIL : a->status) {
        case DNS_ANSWER:
            for (int k = 0; k < a->count; k++) {
                if (a->rr[k].type != e->type)
                    continue;   /* XXX only records of the type asked replay faithfully */
                zone_name(e->name, out);
                str_addf(out, " %u IN ", a->rr[k].ttl);
                zone_type(a->rr[k].type, out);
                str_addc(out, ' ');
                dns_rdata_format(&a->rr[k], out);
                str_addc(out, '\n');
            }
            break;
        case DNS_NXDOMAIN:
            str_adds(out, "$NXDOMAIN ");
            zone_name(e->name, out);
            str_addf(out, " %u\n", a->ttl);
            break;
        case DNS_NODATA:
            str_adds(out, "$NODATA ");
            zone_name(e->name, out);
            str_addc(out, ' ');
            zone_type(e->type, out);
            str_addf(out, " %u\n", a->ttl);
            break;
        case DNS_TEMPFAIL:
            str_adds(out, e->abandoned || a->timed_out ? "$TIMEOUT " : "$SERVFAIL ");
            zone_name(e->name, out);
            str_addc(out, ' ');
            zone_type(e->type, out);
            str_addc(out, '\n');
            break;
        case DNS_BADANSWER:
            str_adds(out, "$BADANSWER ");
            zone_name(e->name, out);
            str_addc(out, ' ');
            zone_type(e->type, out);
            str_addc(out, '\n');
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
}
