/*
 * dns.c - the backend-independent part of the resolver: query objects,
 * waiting with deadlines, answers, counters, name checks.
 *
 * A query is shared by its caller and its backend: the caller drops its
 * reference in dns_query_free(), the backend in dns_query_done(). When a
 * caller stops waiting (deadline), the query is marked abandoned, gets a
 * timeout answer at once, and the backend is asked to cancel; a late
 * answer is then dropped. So a slow server never holds a caller past its
 * deadline, and nothing is freed twice.
 *
 * Answers come from the backend complete; this file only owns them.
 * Logs nothing; counters are kept per resolver (dns_stats_get).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns.h"
#include "log.h"
#include "mem.h"
#include "util.h"

#define DNS_DEFAULT_TIMEOUT_MS 5000

struct dns_query {
    struct dns_resolver *r;
    char *name;
    uint16_t type;
    int64_t started_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;               /* caller + backend */
    int done;               /* answer present (real or synthesized) */
    int abandoned;          /* caller gave up; drop a late answer */
    struct dns_answer *answer;
    void *backend_data;
};

/* Set up the common part of a resolver. */
void dns_resolver_init(struct dns_resolver *r, const struct dns_backend_ops *ops)
{
    memset(r, 0, sizeof(*r));
    r->ops = ops;
    r->timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
}

/* Per-query timeout for dns_wait(q, 0). */
void dns_set_timeout(struct dns_resolver *r, int timeout_ms)
{
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
}

/* Current per-query timeout. */
int dns_get_timeout(const struct dns_resolver *r)
{
    return r->timeout_ms;
}

/* Count one finished answer. */
void dns_stats_count(struct dns_resolver *r, const struct dns_answer *a)
{
    uint64_t *c;

    switch (a->status) {
    case DNS_ANSWER: c = &r->stats.answers; break;
    case DNS_NXDOMAIN: c = &r->stats.nxdomain; break;
    case DNS_NODATA: c = &r->stats.nodata; break;
    case DNS_TEMPFAIL: c = a->timed_out ? &r->stats.timeouts : &r->stats.tempfail; break;
    default: c = &r->stats.badanswer; break;
    }
    __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* Copy the counters. */
void dns_stats_get(struct dns_resolver *r, struct dns_stats *out)
{
    uint64_t *src = (uint64_t *) &r->stats;
    uint64_t *dst = (uint64_t *) out;

    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* Free a resolver (its backend's destroy does the work). */
void dns_resolver_free(struct dns_resolver *r)
{
    if (r)
        r->ops->destroy(r);
}

/* A name that may be asked: 1..253 characters, labels 1..63, no trailing dot needed. */
int dns_name_valid(const char *name)
{
    size_t len = strlen(name), label = 0;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_MAX_NAME_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];

        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (c <= 0x20 || c >= 0x7f || ++label > 63) {
            return 0;
        }
    }
    return label > 0;
}

/* A new empty answer. */
struct dns_answer *dns_answer_new(const char *qname, uint16_t qtype, enum dns_status status)
{
    struct dns_answer *a = mem_zalloc(sizeof(*a));

    a->qname = mem_strdup(qname);
    a->qtype = qtype;
    a->status = status;
    a->rcode = status == DNS_NXDOMAIN ? 3 : status == DNS_TEMPFAIL ? 2 : 0;
    return a;
}

/* Append a zeroed record; the caller fills the union. */
struct dns_rr *dns_answer_add_rr(struct dns_answer *a, uint16_t type, uint32_t ttl)
{
    struct dns_rr *rr;

    a->rr = mem_realloc(a->rr, (ssize_t) sizeof(*a->rr) * (a->count + 1));
    rr = &a->rr[a->count++];
    memset(rr, 0, sizeof(*rr));
    rr->type = type;
    rr->ttl = ttl;
    if (a->count == 1 || ttl < a->ttl)
        a->ttl = ttl;
    return rr;
}

/* Copy a host name, dropping one trailing dot. */
static char *dns_copy_host(const char *s, ssize_t len)
{
    if (len > 0 && s[len - 1] == '.')
        len--;
    return mem_strndup(s, len);
}

/* Parse presentation-form rdata into a new record; -1 if it does not parse. */
int dns_answer_add_text(struct dns_answer *a, uint16_t type, uint32_t ttl, const char *text, ssize_t len)
{
    char buf[DNS_MAX_NAME_LEN + 16];
    struct dns_rr *rr;
    struct in_addr v4;
    struct in6_addr v6;

    if (type == DNS_T_TXT) {
        if (len < 0 || len > DNS_MAX_TXT_LEN)
            return -1;
        rr = dns_answer_add_rr(a, type, ttl);
        rr->u.txt.data = mem_alloc(len + 1);
        memcpy(rr->u.txt.data, text, (size_t) len);
        rr->u.txt.data[len] = '\0';
        rr->u.txt.len = len;
        return 0;
    }
    if (len < 0 || (size_t) len >= sizeof(buf) || memchr(text, '\0', (size_t) len))
        return -1;
    memcpy(buf, text, (size_t) len);
    buf[len] = '\0';
    switch (type) {
    case DNS_T_A:
        if (inet_pton(AF_INET, buf, &v4) != 1)
            return -1;
        dns_answer_add_rr(a, type, ttl)->u.a = v4;
        return 0;
    case DNS_T_AAAA:
        if (inet_pton(AF_INET6, buf, &v6) != 1)
            return -1;
        dns_answer_add_rr(a, type, ttl)->u.aaaa = v6;
        return 0;
    case DNS_T_MX: {
        char *end;
        long pref = strtol(buf, &end, 10);

        if (end == buf || *end != ' ' || pref < 0 || pref > 65535)
            return -1;
        while (*end == ' ')
            end++;
        rr = dns_answer_add_rr(a, type, ttl);
        rr->u.mx.pref = (uint16_t) pref;
        rr->u.mx.host = dns_copy_host(end, (ssize_t) strlen(end));
        return 0;
    }
    case DNS_T_PTR:
    case DNS_T_CNAME:
    case DNS_T_NS:
        dns_answer_add_rr(a, type, ttl)->u.name = dns_copy_host(buf, len);
        return 0;
    default:
        return -1;
    }
}

/* Free an answer and its records. */
void dns_answer_free(struct dns_answer *a)
{
    if (a == NULL)
        return;
    for (int i = 0; i < a->count; i++) {
        struct dns_rr *rr = &a->rr[i];

        switch (rr->type) {
        case DNS_T_MX: mem_free(rr->u.mx.host); break;
        case DNS_T_TXT: mem_free(rr->u.txt.data); break;
        case DNS_T_PTR: case DNS_T_CNAME: case DNS_T_NS: mem_free(rr->u.name); break;
        default: break;
        }
    }
    mem_free(a->rr);
    mem_free(a->qname);
    mem_free(a);
}

/* A deep copy of an answer. */
struct dns_answer *dns_answer_copy(const struct dns_answer *a)
{
    struct dns_answer *c = dns_answer_new(a->qname ? a->qname : "", a->qtype, a->status);

    for (int i = 0; i < a->count; i++) {
        const struct dns_rr *src = &a->rr[i];
        struct dns_rr *rr = dns_answer_add_rr(c, src->type, src->ttl);

        rr->u = src->u;
        switch (src->type) {
        case DNS_T_MX: rr->u.mx.host = mem_strdup(src->u.mx.host); break;
        case DNS_T_TXT:
            rr->u.txt.data = mem_alloc(src->u.txt.len + 1);
            memcpy(rr->u.txt.data, src->u.txt.data, (size_t) src->u.txt.len + 1);
            break;
        case DNS_T_PTR: case DNS_T_CNAME: case DNS_T_NS: rr->u.name = mem_strdup(src->u.name); break;
        default: break;
        }
    }
    c->rcode = a->rcode;
    c->ttl = a->ttl;
    c->secure = a->secure;
    c->timed_out = a->timed_out;
    c->why = a->why;
    return c;
}

/* Drop one reference; the last one frees the query. */
static void dns_query_unref(struct dns_query *q)
{
    int last;

    pthread_mutex_lock(&q->lock);
    last = --q->refs == 0;
    pthread_mutex_unlock(&q->lock);
    if (!last)
        return;
    dns_answer_free(q->answer);
    mem_free(q->name);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    mem_free(q);
}

/* Start a query. */
struct dns_query *dns_start(struct dns_resolver *r, const char *name, uint16_t qtype)
{
    struct dns_query *q = mem_zalloc(sizeof(*q));
    pthread_condattr_t ca;
    size_t len = strlen(name);

    q->r = r;
    /* One canonical form: no trailing dot. */
    q->name = mem_strndup(name, (ssize_t) (len > 1 && name[len - 1] == '.' ? len - 1 : len));
    q->type = qtype;
    q->started_ms = clock_now_ms();
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &ca);
    pthread_condattr_destroy(&ca);
    q->refs = 2;
    __atomic_add_fetch(&r->stats.queries, 1, __ATOMIC_RELAXED);
    if (!dns_name_valid(q->name)) {
        struct dns_answer *a = dns_answer_new(q->name, qtype, DNS_BADANSWER);

        a->why = "invalid query name";
        dns_query_done(q, a);
        return q;
    }
    r->ops->start(r, q);
    return q;
}

/* The backend delivers an answer (or NULL after a cancel). */
void dns_query_done(struct dns_query *q, struct dns_answer *a)
{
    pthread_mutex_lock(&q->lock);
    if (q->done || a == NULL) {
        /* The caller already gave up, or a cancel: drop it. */
        dns_answer_free(a);
    } else {
        a->qtype = q->type;
        q->answer = a;
        q->done = 1;
        dns_stats_count(q->r, a);
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
    dns_query_unref(q);
}

/* Give up on q: synthesize a timeout answer and ask the backend to cancel. Lock held. */
static void dns_query_expire(struct dns_query *q)
{
    struct dns_answer *a = dns_answer_new(q->name, q->type, DNS_TEMPFAIL);

    a->timed_out = 1;
    a->rcode = -1;
    a->why = "timeout";
    q->answer = a;
    q->done = 1;
    q->abandoned = 1;
    dns_stats_count(q->r, a);
}

/* The effective deadline of q for a caller deadline (0 = per-query timeout). */
static int64_t dns_deadline(const struct dns_query *q, int64_t deadline_ms)
{
    int64_t own = q->started_ms + q->r->timeout_ms;

    return deadline_ms > 0 && deadline_ms < own ? deadline_ms : own;
}

/* Wait for the answer until the deadline. */
const struct dns_answer *dns_wait(struct dns_query *q, int64_t deadline_ms)
{
    int64_t until = dns_deadline(q, deadline_ms);
    struct timespec ts = { (time_t) (until / 1000), (long) (until % 1000) * 1000000L };
    int cancel = 0;

    pthread_mutex_lock(&q->lock);
    while (!q->done) {
        if (pthread_cond_timedwait(&q->cond, &q->lock, &ts) == ETIMEDOUT && !q->done) {
            dns_query_expire(q);
            cancel = 1;
        }
    }
    pthread_mutex_unlock(&q->lock);
    if (cancel && q->r->ops->cancel)
        q->r->ops->cancel(q->r, q);
    return q->answer;
}

/* Wait for several queries against one deadline. */
void dns_wait_all(struct dns_query **qs, int n, int64_t deadline_ms)
{
    for (int i = 0; i < n; i++)
        if (qs[i])
            dns_wait(qs[i], deadline_ms);
}

/* The answer if it is there. */
const struct dns_answer *dns_peek(struct dns_query *q)
{
    const struct dns_answer *a;

    pthread_mutex_lock(&q->lock);
    a = q->done ? q->answer : NULL;
    pthread_mutex_unlock(&q->lock);
    return a;
}

/* Release the caller's reference; cancel if nobody got the answer. */
void dns_query_free(struct dns_query *q)
{
    int cancel;

    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    cancel = !q->done;
    if (cancel)
        q->done = q->abandoned = 1;
    pthread_mutex_unlock(&q->lock);
    if (cancel && q->r->ops->cancel)
        q->r->ops->cancel(q->r, q);
    dns_query_unref(q);
}

/* Blocking lookup; the caller owns the answer. */
struct dns_answer *dns_lookup(struct dns_resolver *r, const char *name, uint16_t qtype)
{
    struct dns_query *q = dns_start(r, name, qtype);
    struct dns_answer *a;

    dns_wait(q, 0);
    pthread_mutex_lock(&q->lock);
    a = q->answer;
    q->answer = NULL;
    pthread_mutex_unlock(&q->lock);
    dns_query_unref(q);
    return a;
}

/* Backend accessors. */
const char *dns_query_name(const struct dns_query *q) { return q->name; }
uint16_t dns_query_type(const struct dns_query *q) { return q->type; }
void *dns_query_backend_data(const struct dns_query *q) { return q->backend_data; }
void dns_query_set_backend_data(struct dns_query *q, void *data) { q->backend_data = data; }

/* Names for logs. */
const char *dns_status_name(enum dns_status s)
{
    switch (s) {
    case DNS_ANSWER: return "answer";
    case DNS_NXDOMAIN: return "nxdomain";
    case DNS_NODATA: return "nodata";
    case DNS_TEMPFAIL: return "tempfail";
    case DNS_BADANSWER: return "badanswer";
    }
    return "unknown";
}

const char *dns_type_name(uint16_t type)
{
    switch (type) {
    case DNS_T_A: return "A";
    case DNS_T_NS: return "NS";
    case DNS_T_CNAME: return "CNAME";
    case DNS_T_SOA: return "SOA";
    case DNS_T_PTR: return "PTR";
    case DNS_T_MX: return "MX";
    case DNS_T_TXT: return "TXT";
    case DNS_T_AAAA: return "AAAA";
    }
    return "TYPE?";
}
