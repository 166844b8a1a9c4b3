/*
 * dns_unbound.c - the resolver backend on libunbound.
 *
 * One libunbound context per resolver (rampartd makes one per process),
 * shared by every thread, so there is one cache. The context runs on
 * libunbound's event interface in our dispatcher thread, which owns it:
 * every ub_* call after the start is made there. A caller's query goes on
 * a start queue (and an eventfd wakes the dispatcher when the queue was
 * empty); the dispatcher hands it to ub_resolve_event(), libunbound
 * resolves it on the dispatcher's libevent loop and calls
 * unbound_callback() there with the answer in wire format, which
 * dns_answer_from_wire (dns_wire.c) converts and dns_query_done() hands to
 * the caller. One thread hop each way; libunbound's own worker thread and
 * its two pipes (ub_resolve_async) cost about 45 us of CPU more per
 * lookup (measured: 131 against 87 us per cold lookup).
 *
 * Contract (dns.h, struct dns_backend_ops): exactly one dns_query_done()
 * per start; NULL after a successful cancel. Every started query has a
 * struct ubq (its backend data) whose q the resolver's lock guards. A
 * cancel detaches the ubq from its query (and always succeeds): the
 * lookup goes on in libunbound and its answer is dropped, or, not yet
 * started, it is never started. ub_cancel() is not used: the query
 * would have to be found by id from another thread.
 *
 * dns_unbound_new(cfg, err): NULL and a message in err on a bad forwarder,
 * an unreadable resolv.conf or trust anchor, or a libunbound failure (the
 * context is finalised at once, so bad settings show up here and not at
 * the first query).
 *
 * Settings (struct dns_unbound_config): forwarders or resolv.conf, trust
 * anchor, per-query timeout, cache size and TTL caps, queries in flight.
 * libunbound's own retries are capped so a dead server does not keep it
 * busy for 17 s per query (measured): at most DNS_UNBOUND_MSG_RETRY
 * retries per server, no single wait longer than our timeout, and a dead
 * forwarder is marked down for DNS_UNBOUND_HOST_TTL seconds (queries then
 * get SERVFAIL at once) before it is probed again. With a silent
 * forwarder a query now gives up after about 2.3 s, and a forwarder that
 * comes back is used again within about 5 s. The caller's deadline
 * (dns_wait) bounds a caller anyway. libunbound's library defaults are
 * raised for a daemon: 16 queries in flight becomes max_outgoing (512),
 * 2 TCP queries 16. The names libunbound answers NXDOMAIN by itself
 * except localhost., onion. and invalid. (test., home.arpa., private
 * address PTRs) go to the forwarder.
 *
 * Cache hits: libunbound does not say whether an answer came from its
 * cache. An answer (not a failure) that came back within cache_hit_us of
 * its start (default 1 ms) is counted as one; a network round trip, even
 * to a forwarder on the same host, takes longer, except a loopback
 * forwarder answering from its own cache, which is counted as a hit too.
 * Under load a real cache hit can queue past the threshold and is then
 * not counted: the counter is a lower bound.
 *
 * Answers kept in front of libunbound: every query libunbound answers
 * goes through the dispatcher thread and back, about 30 us even for an
 * answer from its cache.
 * So the last answers (NOERROR with records, NXDOMAIN, NODATA; never a
 * failure or a DNSSEC-bogus one, never one of more than UNBOUND_MEMO_RRS
 * records or UNBOUND_MEMO_BYTES bytes) are also kept here, in a table of
 * UNBOUND_MEMO_SLOTS entries indexed by a hash of name and type (a new
 * answer replaces whatever was in its slot), for their TTL as libunbound
 * reports it (already capped by cache_max_ttl and cache_max_negative_ttl
 * when parsed), at most DNS_UNBOUND_KEPT_MAX_TTL seconds, and answered in the
 * caller's thread with TTLs lowered by the time kept. Those count as
 * cache hits.
 *
 * Logs: a warning for every DNSSEC-bogus answer (with libunbound's
 * reason), an error if the dispatcher's loop fails. libunbound itself
 * logs its errors on stderr.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <unbound.h>
#include <unbound-event.h>

#include "dns.h"
#include "dns_unbound.h"
#include "dns_wire.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "util.h"

#define UNBOUND_CLASS_IN 1
#define UNBOUND_MAX_RTT_MIN_MS 1000
#define UNBOUND_MAX_RTT_MAX_MS 120000
#define UNBOUND_MAX_QUERIES 4096      /* in libunbound at once; more are dropped */
#define UNBOUND_MAX_TCP 16            /* TCP queries at once (truncated answers); libunbound's is 2 */
#define UNBOUND_DEF_MAX_TTL 86400        /* libunbound's cache-max-ttl */
#define UNBOUND_DEF_MAX_NEGATIVE_TTL 3600 /* libunbound's cache-max-negative-ttl */
#define UNBOUND_MEMO_SLOTS 1024       /* answers kept in front of libunbound (a power of 2) */
#define UNBOUND_MEMO_RRS 16           /* larger answers are not kept ... */
#define UNBOUND_MEMO_BYTES 4096       /* ... nor ones with more text than this */

enum ubq_state {
    UBQ_QUEUED,     /* on the start queue */
    UBQ_STARTING,   /* in ub_resolve_event(), which may answer before it returns */
    UBQ_PENDING,    /* in libunbound's hands */
    UBQ_ANSWERED,   /* answered inside ub_resolve_event(): the starter frees it */
};

/* One query on its way through libunbound. */
struct ubq {
    struct unbound *u;
    struct dns_query *q;        /* NULL once cancelled or answered (lock) */
    char *name;                 /* as asked */
    uint16_t type;
    enum ubq_state state;       /* dispatcher thread only */
    int64_t started_us;
    struct ubq *prev, *next;    /* the start queue, then the pending list (lock) */
};

/* One kept answer. */
struct unbound_memo {
    struct dns_answer *a;       /* NULL: empty */
    int64_t stored_ms, expires_ms;
};

struct unbound {
    struct dns_resolver base;   /* first: the resolver is the backend */
    struct ub_ctx *ctx;
    struct event_base *evb;
    struct event *wake_ev;
    int wake_fd;                /* eventfd: queued starts, or the stop */
    pthread_mutex_t lock;       /* start queue, pending list, ubq->q, stopping */
    struct ubq *queue_head, *queue_tail;
    struct ubq *pending;        /* handed to libunbound, not answered */
    int stopping;               /* no more starts: a stop, or the loop failed */
    int deleting;               /* libunbound's context is being deleted (destroying thread only) */
    pthread_t dispatcher;
    int have_dispatcher;
    int cache_hit_us;
    int no_kept_answers;
    uint32_t max_ttl, max_negative_ttl;   /* libunbound's caps, applied to local data too */
    pthread_mutex_t memo_lock;
    uint64_t kept_hits;         /* queries answered from memo (atomic) */
    struct unbound_memo memo[UNBOUND_MEMO_SLOTS];
};

/* Microseconds on the monotonic clock. */
static int64_t unbound_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --------------------------------------------------------------- backend */

/* Unlink uq from the pending list. Lock held. */
static void unbound_unlink(struct unbound *u, struct ubq *uq)
{
    if (uq->prev)
        uq->prev->next = uq->next;
    else
        u->pending = uq->next;
    if (uq->next)
        uq->next->prev = uq->prev;
    uq->prev = uq->next = NULL;
}

/* Free a query's backend data. */
static void unbound_ubq_free(struct ubq *uq)
{
    mem_free(uq->name);
    mem_free(uq);
}

/* Log a DNSSEC failure with libunbound's reason, escaped. */
static void unbound_log_bogus(const struct ubq *uq, const char *why_bogus)
{
    str line = STR_INIT;

    str_adds(&line, "dns: DNSSEC validation failed for ");
    str_add_escaped(&line, uq->name, (ssize_t) strlen(uq->name), DNS_MAX_NAME_LEN + 1);
    str_addf(&line, "/%s: ", dns_type_name(uq->type));
    if (why_bogus)
        str_add_escaped(&line, why_bogus, (ssize_t) strlen(why_bogus), 512);
    log_warning("%s", str_cstr(&line));
    str_free(&line);
}

/* ---------------------------------------------------------- kept answers */

/* The slot of (name, type): FNV-1a over the name in lower case and the type. */
static struct unbound_memo *unbound_memo_slot(struct unbound *u, const char *name, uint16_t type)
{
    uint32_t h = 2166136261u;

    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char) ascii_tolower((unsigned char) *p)) * 16777619u;
    h = (h ^ type) * 16777619u;
    return &u->memo[h & (UNBOUND_MEMO_SLOTS - 1)];
}

/* A copy of the kept answer to (name, type), TTLs lowered by its age; NULL if none. */
static struct dns_answer *unbound_memo_get(struct unbound *u, const char *name, uint16_t type)
{
    struct unbound_memo *m = unbound_memo_slot(u, name, type);
    struct dns_answer *a = NULL;
    int64_t now = clock_now_ms();

    pthread_mutex_lock(&u->memo_lock);
    if (m->a != NULL && m->a->qtype == type && ascii_casecmp(m->a->qname, name) == 0) {
        if (now < m->expires_ms) {
            uint32_t age = (uint32_t) ((now - m->stored_ms) / 1000);

            a = dns_answer_copy(m->a);
            a->ttl = a->ttl > age ? a->ttl - age : 0;
            for (int i = 0; i < a->count; i++)
                a->rr[i].ttl = a->rr[i].ttl > age ? a->rr[i].ttl - age : 0;
        } else {
            dns_answer_free(m->a);
            m->a = NULL;
        }
    }
    pthread_mutex_unlock(&u->memo_lock);
    return a;
}

/* Keep a copy of a fresh answer, if it is one to keep. */
static void unbound_memo_put(struct unbound *u, const struct dns_answer *a)
{
    struct unbound_memo *m;
    uint32_t ttl = a->ttl < DNS_UNBOUND_KEPT_MAX_TTL ? a->ttl : DNS_UNBOUND_KEPT_MAX_TTL;
    ssize_t bytes = 0;
    struct dns_answer *copy;

    if ((a->status != DNS_ANSWER && a->status != DNS_NXDOMAIN && a->status != DNS_NODATA)
        || a->secure == DNS_SEC_BOGUS || a->count > UNBOUND_MEMO_RRS || ttl == 0)
        return;
    for (int i = 0; i < a->count; i++)
        if (a->rr[i].type == DNS_T_TXT)
            bytes += a->rr[i].u.txt.len;
    if (bytes > UNBOUND_MEMO_BYTES)
        return;
    copy = dns_answer_copy(a);
    m = unbound_memo_slot(u, a->qname, a->qtype);
    pthread_mutex_lock(&u->memo_lock);
    dns_answer_free(m->a);
    m->a = copy;
    m->stored_ms = clock_now_ms();
    m->expires_ms = m->stored_ms + (int64_t) ttl * 1000;
    pthread_mutex_unlock(&u->memo_lock);
}

uint64_t dns_unbound_kept_answers(struct dns_resolver *r)
{
    struct unbound *u = (struct unbound *) r;

    return __atomic_load_n(&u->kept_hits, __ATOMIC_RELAXED);
}

/* Make a's name the one q asked (a copy only when they differ). */
static void unbound_answer_name(struct dns_answer *a, const struct dns_query *q)
{
    if (strcmp(a->qname, dns_query_name(q)) != 0) {
        mem_free(a->qname);
        a->qname = mem_strdup(dns_query_name(q));
    }
}


/* Hand an answer to the query, unless it was cancelled: then drop it. 1 if handed. Any thread. */
static int unbound_deliver(struct unbound *u, struct ubq *uq, struct dns_answer *a)
{
    struct dns_query *q;

    pthread_mutex_lock(&u->lock);
    q = uq->q;
    uq->q = NULL;
    if (q != NULL)
        dns_query_set_backend_data(q, NULL);
    pthread_mutex_unlock(&u->lock);
    /* q is alive until dns_query_done: that drops the backend's reference. */
    if (q != NULL)
        dns_query_done(q, a);
    else
        dns_answer_free(a);
    return q != NULL;
}

/* A new DNS_TEMPFAIL answer for uq, with static reason why. */
static struct dns_answer *unbound_tempfail(const struct ubq *uq, const char *why)
{
    struct dns_answer *a = dns_answer_new(uq->name, uq->type, DNS_TEMPFAIL);

    a->rcode = -1;
    a->why = why;
    return a;
}

/*
 * Cap the TTLs as libunbound caps what it caches: answers from its cache
 * come capped, local data (local-data, /etc/hosts) does not.
 */
static void unbound_cap_ttl(const struct unbound *u, struct dns_answer *a)
{
    uint32_t cap = a->status == DNS_ANSWER ? u->max_ttl : u->max_negative_ttl;

    if (a->ttl > cap)
        a->ttl = cap;
    for (int i = 0; i < a->count; i++)
        if (a->rr[i].ttl > cap)
            a->rr[i].ttl = cap;
}

/*
 * libunbound's answer for one query; runs in the dispatcher thread (or in
 * the thread deleting the context, with SERVFAIL and no packet, for the
 * queries still in its hands). rcode non-zero: no answer (the packet is
 * not to be read); else the packet holds it, NXDOMAIN included.
 */
static void unbound_callback(void *arg, int rcode, void *packet, int packet_len, int sec, char *why_bogus,
                             int was_ratelimited)
{
    struct ubq *uq = arg;
    struct unbound *u = uq->u;
    int64_t elapsed_us = unbound_now_us() - uq->started_us;
    struct dns_answer *a;

    (void) was_ratelimited;
    if (u->deleting) {
        /* ub_ctx_delete() answers what it still holds with SERVFAIL: say what happened. */
        a = unbound_tempfail(uq, "resolver stopped");
    } else if (rcode != 0) {
        a = unbound_tempfail(uq, dns_wire_rcode_why(rcode));
        a->rcode = rcode;
    } else if (sec == 1) {
        /* The data (if any) cannot be trusted; RFC practice: a temporary error. */
        unbound_log_bogus(uq, why_bogus);
        a = unbound_tempfail(uq, "DNSSEC validation failed");
        a->secure = DNS_SEC_BOGUS;
    } else {
        a = dns_answer_from_wire(uq->name, uq->type, packet, packet_len > 0 ? (size_t) packet_len : 0);
        a->secure = sec == 2 ? DNS_SEC_SECURE : DNS_SEC_INSECURE;
        unbound_cap_ttl(u, a);
    }
    if (elapsed_us < u->cache_hit_us
        && (a->status == DNS_ANSWER || a->status == DNS_NXDOMAIN || a->status == DNS_NODATA))
        __atomic_add_fetch(&u->base.stats.cache_hits, 1, __ATOMIC_RELAXED);
    if (!u->no_kept_answers)
        unbound_memo_put(u, a);

    pthread_mutex_lock(&u->lock);
    unbound_unlink(u, uq);
    pthread_mutex_unlock(&u->lock);
    unbound_deliver(u, uq, a);
    if (uq->state == UBQ_STARTING)
        uq->state = UBQ_ANSWERED;   /* inside ub_resolve_event(): unbound_resolve frees it */
    else
        unbound_ubq_free(uq);
}

/* Copy a query name for libunbound, which reads '\' as an escape: ours are literal. */
static void unbound_qname(str *out, const char *name)
{
    for (const char *p = name; *p; p++) {
        if (*p == '\\')
            str_addc(out, '\\');
        str_addc(out, *p);
    }
}

/* Hand one queued query to libunbound; dispatcher thread. */
static void unbound_resolve(struct unbound *u, struct ubq *uq)
{
    str name = STR_INIT;
    int rc, cancelled;

    pthread_mutex_lock(&u->lock);
    cancelled = uq->q == NULL;
    if (!cancelled) {
        /* On the pending list before libunbound has it, so a stop finds it. */
        uq->next = u->pending;
        if (u->pending)
            u->pending->prev = uq;
        u->pending = uq;
    }
    uq->state = UBQ_STARTING;
    pthread_mutex_unlock(&u->lock);
    if (cancelled) {
        unbound_ubq_free(uq);
        return;
    }
    unbound_qname(&name, uq->name);
    rc = ub_resolve_event(u->ctx, str_cstr(&name), uq->type, UNBOUND_CLASS_IN, uq, unbound_callback, NULL);
    str_free(&name);
    if (uq->state == UBQ_ANSWERED) {
        unbound_ubq_free(uq);
        return;
    }
    if (rc != 0) {
        struct dns_answer *a = dns_answer_new(uq->name, uq->type,
                                              rc == UB_SYNTAX ? DNS_BADANSWER : DNS_TEMPFAIL);

        a->rcode = -1;
        a->why = ub_strerror(rc);
        pthread_mutex_lock(&u->lock);
        unbound_unlink(u, uq);
        pthread_mutex_unlock(&u->lock);
        unbound_deliver(u, uq, a);
        unbound_ubq_free(uq);
        return;
    }
    uq->state = UBQ_PENDING;
}

/* Start one query: answer it from the kept answers, or queue it for the dispatcher. */
static void unbound_start(struct dns_resolver *r, struct dns_query *q)
{
    struct unbound *u = (struct unbound *) r;
    struct ubq *uq;
    struct dns_answer *kept = u->no_kept_answers ? NULL
                              : unbound_memo_get(u, dns_query_name(q), dns_query_type(q));
    int wake = 0, stopping;

    if (kept != NULL) {
        /* The name as asked (it may differ in case). */
        unbound_answer_name(kept, q);
        __atomic_add_fetch(&u->base.stats.cache_hits, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&u->kept_hits, 1, __ATOMIC_RELAXED);
        dns_query_done(q, kept);
        return;
    }
    uq = mem_zalloc(sizeof(*uq));
    uq->u = u;
    uq->q = q;
    uq->name = mem_strdup(dns_query_name(q));
    uq->type = dns_query_type(q);
    uq->state = UBQ_QUEUED;
    uq->started_us = unbound_now_us();
    pthread_mutex_lock(&u->lock);
    stopping = u->stopping;
    if (!stopping) {
        dns_query_set_backend_data(q, uq);
        wake = u->queue_head == NULL;
        if (u->queue_tail)
            u->queue_tail->next = uq;
        else
            u->queue_head = uq;
        u->queue_tail = uq;
    }
    pthread_mutex_unlock(&u->lock);
    if (stopping) {
        struct dns_answer *a = unbound_tempfail(uq, "resolver stopped");

        unbound_ubq_free(uq);
        dns_query_done(q, a);
        return;
    }
    if (wake) {
        uint64_t one = 1;

        while (write(u->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
    }
}

/* Give up on a query: detach it, so its answer, if one comes, is dropped. */
static void unbound_cancel(struct dns_resolver *r, struct dns_query *q)
{
    struct unbound *u = (struct unbound *) r;
    struct ubq *uq;

    pthread_mutex_lock(&u->lock);
    uq = dns_query_backend_data(q);
    /* No ubq: already answered (the answer was dropped by dns_query_done, the caller having given up). */
    if (uq != NULL) {
        uq->q = NULL;
        dns_query_set_backend_data(q, NULL);
    }
    pthread_mutex_unlock(&u->lock);
    if (uq != NULL)
        dns_query_done(q, NULL);
}

/* The wake event: start the queued queries, or end the loop. Dispatcher thread. */
static void unbound_wake(evutil_socket_t fd, short what, void *arg)
{
    struct unbound *u = arg;
    struct ubq *list;
    uint64_t n;
    int stopping;

    (void) what;
    while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&u->lock);
    stopping = u->stopping;
    /* Stopping: what is queued is answered by unbound_destroy, never started. */
    list = stopping ? NULL : u->queue_head;
    if (!stopping)
        u->queue_head = u->queue_tail = NULL;
    pthread_mutex_unlock(&u->lock);
    while (list != NULL) {
        struct ubq *next = list->next;

        list->next = NULL;
        unbound_resolve(u, list);
        list = next;
    }
    if (stopping)
        event_base_loopbreak(u->evb);
}

/*
 * Answer every query of a list taken off the resolver (the start queue, or
 * the pending list) with "resolver stopped" and free it; the number that
 * were still waited for.
 */
static int unbound_fail_list(struct unbound *u, struct ubq *list)
{
    int n = 0;

    while (list) {
        struct ubq *next = list->next;

        n += unbound_deliver(u, list, unbound_tempfail(list, "resolver stopped"));
        unbound_ubq_free(list);
        list = next;
    }
    return n;
}

/* The dispatcher thread: run the loop until woken to stop. */
static void *unbound_dispatch(void *arg)
{
    struct unbound *u = arg;
    struct ubq *left;

    thread_name("rampart-dns");
    if (event_base_dispatch(u->evb) >= 0)
        return NULL;
    /* Not a stop: fail what waits, and every query from now on, at once rather than at its deadline. */
    log_error("dns: the event loop failed; no more DNS answers");
    pthread_mutex_lock(&u->lock);
    u->stopping = 1;
    left = u->queue_head;
    u->queue_head = u->queue_tail = NULL;
    pthread_mutex_unlock(&u->lock);
    unbound_fail_list(u, left);
    return NULL;
}

/* Stop the dispatcher thread, if running. */
static void unbound_stop_dispatcher(struct unbound *u)
{
    uint64_t one = 1;

    pthread_mutex_lock(&u->lock);
    u->stopping = 1;
    pthread_mutex_unlock(&u->lock);
    if (!u->have_dispatcher)
        return;
    while (write(u->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    pthread_join(u->dispatcher, NULL);
    u->have_dispatcher = 0;
}

/* Stop everything and free the resolver. */
static void unbound_destroy(struct dns_resolver *r)
{
    struct unbound *u = (struct unbound *) r;
    struct ubq *left;
    int n = 0;

    unbound_stop_dispatcher(u);
    /* Queued and never started. */
    pthread_mutex_lock(&u->lock);
    left = u->queue_head;
    u->queue_head = u->queue_tail = NULL;
    pthread_mutex_unlock(&u->lock);
    n = unbound_fail_list(u, left);
    /* Deleting the context answers what libunbound still holds (unbound_callback). */
    pthread_mutex_lock(&u->lock);
    for (struct ubq *p = u->pending; p != NULL; p = p->next)
        if (p->q != NULL)
            n++;
    pthread_mutex_unlock(&u->lock);
    if (n > 0)
        log_warning("dns: resolver stopped with %d queries outstanding", n);
    u->deleting = 1;
    if (u->ctx)
        ub_ctx_delete(u->ctx);
    /* Whatever libunbound did not answer. */
    pthread_mutex_lock(&u->lock);
    left = u->pending;
    u->pending = NULL;
    pthread_mutex_unlock(&u->lock);
    unbound_fail_list(u, left);
    if (u->wake_ev)
        event_free(u->wake_ev);
    if (u->evb)
        event_base_free(u->evb);
    if (u->wake_fd >= 0)
        close(u->wake_fd);
    for (int i = 0; i < UNBOUND_MEMO_SLOTS; i++)
        dns_answer_free(u->memo[i].a);
    pthread_mutex_destroy(&u->memo_lock);
    pthread_mutex_destroy(&u->lock);
    mem_free(u);
}

static const struct dns_backend_ops unbound_ops = {
    unbound_start, unbound_cancel, unbound_destroy,
};

/* ------------------------------------------------------------- creation */

/* A forwarder is "addr" or "addr@port". */
int dns_unbound_forwarder_valid(const char *spec)
{
    char addr[INET6_ADDRSTRLEN];
    const char *at = strrchr(spec, '@');
    size_t alen = at ? (size_t) (at - spec) : strlen(spec);
    struct in6_addr v6;
    struct in_addr v4;

    if (alen == 0 || alen >= sizeof(addr))
        return 0;
    memcpy(addr, spec, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, &v4) != 1 && inet_pton(AF_INET6, addr, &v6) != 1)
        return 0;
    if (at) {
        const char *p = at + 1;
        long port = 0;

        if (*p == '\0' || strlen(p) > 5)
            return 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return 0;
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return 0;
    }
    return 1;
}

/* Set one libunbound option; -1 with a message in err. */
static int unbound_option(struct unbound *u, const char *name, const char *value, str *err)
{
    int rc = ub_ctx_set_option(u->ctx, name, value);

    if (rc == UB_NOERROR)
        return 0;
    str_addf(err, "libunbound option %s %s: %s", name, value, ub_strerror(rc));
    return -1;
}

/* Set a numeric libunbound option. */
static int unbound_option_num(struct unbound *u, const char *name, long long value, str *err)
{
    str v = STR_INIT;
    int rc;

    str_addf(&v, "%lld", value);
    rc = unbound_option(u, name, str_cstr(&v), err);
    str_free(&v);
    return rc;
}

/* Add a message about a configuration value, escaped. */
static void unbound_err_value(str *err, const char *what, const char *value, const char *reason)
{
    str_addf(err, "%s \"", what);
    str_add_escaped(err, value, (ssize_t) strlen(value), 256);
    str_addf(err, "\": %s", reason);
}

/*
 * Queries in flight to servers at once. libunbound's library default, 16,
 * serialises a burst: measured against a server 50 ms away, 100 queries
 * at once took 370 ms with 16, 75-125 ms with 256 to 4096 (then its one
 * worker thread is the limit). Each takes a socket, so leave half the
 * open-file limit to the rest of the process.
 */
static long long unbound_max_outgoing(const struct dns_unbound_config *cfg)
{
    long long want = cfg->max_outgoing > 0 ? cfg->max_outgoing : DNS_UNBOUND_DEF_MAX_OUTGOING;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
        && (long long) rl.rlim_cur / 2 < want) {
        long long cap = (long long) rl.rlim_cur / 2 > 16 ? (long long) rl.rlim_cur / 2 : 16;

        log_notice("dns: %lld queries in flight at most, for an open-file limit of %lld", cap,
                   (long long) rl.rlim_cur);
        want = cap;
    }
    return want;
}

/* Apply the settings to the fresh context; -1 with a message in err. */
static int unbound_configure(struct unbound *u, const struct dns_unbound_config *cfg, str *err)
{
    int rc, max_rtt;

    /*
     * Forwarders on loopback (ours, or resolv.conf's: a local cache, or
     * 127.0.0.1 when it lists none) are ignored unless this is off.
     */
    if (unbound_option(u, "do-not-query-localhost:", "no", err) != 0)
        return -1;
    /* Measured against a silent server: 17.3 s per query by default, about 2.3 s so. */
    max_rtt = dns_get_timeout(&u->base);
    if (max_rtt < UNBOUND_MAX_RTT_MIN_MS)
        max_rtt = UNBOUND_MAX_RTT_MIN_MS;
    if (max_rtt > UNBOUND_MAX_RTT_MAX_MS)
        max_rtt = UNBOUND_MAX_RTT_MAX_MS;
    if (unbound_option_num(u, "outbound-msg-retry:", DNS_UNBOUND_MSG_RETRY, err) != 0
        || unbound_option_num(u, "infra-cache-max-rtt:", max_rtt, err) != 0
        || unbound_option_num(u, "infra-host-ttl:", DNS_UNBOUND_HOST_TTL, err) != 0)
        return -1;
    /*
     * libunbound answers some names itself (NXDOMAIN) unless told not to.
     * We forward to the site's resolver, which may well serve its own
     * test. (RFC 6761; also our test lab) and home.arpa. names and the
     * PTR records of its private addresses: let it answer them. localhost.,
     * onion. and invalid. stay answered locally. XXX "transparent", not
     * "nodefault": libunbound 1.17 stores a nodefault set this way with
     * its type in the name, so it never matches.
     */
    if (unbound_option(u, "local-zone:", "test. transparent", err) != 0
        || unbound_option(u, "local-zone:", "home.arpa. transparent", err) != 0
        || unbound_option(u, "unblock-lan-zones:", "yes", err) != 0
        || unbound_option(u, "insecure-lan-zones:", "yes", err) != 0)
        return -1;
    if (unbound_option_num(u, "outgoing-range:", unbound_max_outgoing(cfg), err) != 0
        || unbound_option_num(u, "num-queries-per-thread:", UNBOUND_MAX_QUERIES, err) != 0
        || unbound_option_num(u, "outgoing-num-tcp:", UNBOUND_MAX_TCP, err) != 0)
        return -1;
    if (cfg->cache_size_bytes > 0) {
        /* libunbound's own advice: the RRset cache twice the message cache. */
        long long msg = (long long) (cfg->cache_size_bytes / 3);

        if (unbound_option_num(u, "msg-cache-size:", msg, err) != 0
            || unbound_option_num(u, "rrset-cache-size:", (long long) cfg->cache_size_bytes - msg, err) != 0)
            return -1;
    }
    if (cfg->cache_max_ttl > 0 && unbound_option_num(u, "cache-max-ttl:", cfg->cache_max_ttl, err) != 0)
        return -1;
    if (cfg->cache_max_negative_ttl > 0
        && unbound_option_num(u, "cache-max-negative-ttl:", cfg->cache_max_negative_ttl, err) != 0)
        return -1;

    for (int i = 0; i < cfg->n_forwarders; i++) {
        if (!dns_unbound_forwarder_valid(cfg->forwarders[i])) {
            unbound_err_value(err, "bad DNS forwarder", cfg->forwarders[i],
                              "expected an IP address, optionally followed by @port");
            return -1;
        }
        rc = ub_ctx_set_fwd(u->ctx, cfg->forwarders[i]);
        if (rc != UB_NOERROR) {
            unbound_err_value(err, "bad DNS forwarder", cfg->forwarders[i], ub_strerror(rc));
            return -1;
        }
    }
    if (cfg->n_forwarders == 0) {
        const char *file = cfg->resolv_conf ? cfg->resolv_conf : "/etc/resolv.conf";

        rc = ub_ctx_resolvconf(u->ctx, file);
        if (rc != UB_NOERROR) {
            unbound_err_value(err, "cannot use", file, rc == UB_READFILE ? strerror(errno) : ub_strerror(rc));
            return -1;
        }
    }

    /* With validation, test. (absent from the root) would be bogus: it is the forwarder's business. */
    if ((cfg->trust_anchor_file || cfg->auto_trust_anchor_file)
        && unbound_option(u, "domain-insecure:", "test.", err) != 0)
        return -1;
    if (cfg->trust_anchor_file) {
        if (access(cfg->trust_anchor_file, R_OK) != 0) {
            unbound_err_value(err, "trust anchor file", cfg->trust_anchor_file, strerror(errno));
            return -1;
        }
        rc = ub_ctx_add_ta_file(u->ctx, cfg->trust_anchor_file);
        if (rc != UB_NOERROR) {
            unbound_err_value(err, "trust anchor file", cfg->trust_anchor_file, ub_strerror(rc));
            return -1;
        }
    }
    if (cfg->auto_trust_anchor_file) {
        if (access(cfg->auto_trust_anchor_file, R_OK | W_OK) != 0) {
            unbound_err_value(err, "auto trust anchor file", cfg->auto_trust_anchor_file, strerror(errno));
            return -1;
        }
        rc = ub_ctx_add_ta_autr(u->ctx, cfg->auto_trust_anchor_file);
        if (rc != UB_NOERROR) {
            unbound_err_value(err, "auto trust anchor file", cfg->auto_trust_anchor_file, ub_strerror(rc));
            return -1;
        }
    }

    return 0;
}

/* Add local zones and data (before the first query finalises the context). -1 with a message in err. */
static int unbound_add_local(struct unbound *u, const struct dns_unbound_config *cfg, str *err)
{
    int rc;

    for (int i = 0; i < cfg->n_local_zones; i++) {
        char *zone = mem_strdup(cfg->local_zones[i]);
        char *type = strchr(zone, ' ');

        rc = UB_SYNTAX;
        if (type) {
            *type++ = '\0';
            while (*type == ' ')
                type++;
            rc = ub_ctx_zone_add(u->ctx, zone, type);
        }
        mem_free(zone);
        if (rc != UB_NOERROR) {
            unbound_err_value(err, "bad local zone", cfg->local_zones[i], ub_strerror(rc));
            return -1;
        }
    }
    for (int i = 0; i < cfg->n_local_data; i++) {
        rc = ub_ctx_data_add(u->ctx, cfg->local_data[i]);
        if (rc != UB_NOERROR) {
            unbound_err_value(err, "bad local data", cfg->local_data[i], ub_strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* The answer to the first query, which only finalises the context. */
static void unbound_warmup_done(void *arg, int rcode, void *packet, int packet_len, int sec, char *why_bogus,
                                int was_ratelimited)
{
    (void) arg;
    (void) rcode;
    (void) packet;
    (void) packet_len;
    (void) sec;
    (void) why_bogus;
    (void) was_ratelimited;
}

/*
 * Finalise the context with a first query answered locally (localhost., a
 * default local zone, answered inside ub_resolve_event), so libunbound
 * sets itself up on our event base here; then start the dispatcher with
 * asynchronous signals blocked, so signals go to the daemon's own
 * threads. -1 with a message in err.
 */
static int unbound_start_thread(struct unbound *u, str *err)
{
    sigset_t all, old;
    int rc;

    rc = ub_resolve_event(u->ctx, "localhost.", DNS_T_A, UNBOUND_CLASS_IN, NULL, unbound_warmup_done, NULL);
    if (rc != UB_NOERROR) {
        str_addf(err, "libunbound: %s", ub_strerror(rc));
        return -1;
    }
    sigfillset(&all);
    /* Faults stay deliverable: blocked, they would kill without a report. */
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    sigdelset(&all, SIGTRAP);
    sigdelset(&all, SIGSYS);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&u->dispatcher, NULL, unbound_dispatch, u);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        str_addf(err, "cannot start the DNS dispatcher thread: %s", strerror(rc));
        return -1;
    }
    u->have_dispatcher = 1;
    return 0;
}

/* A new libunbound resolver. */
struct dns_resolver *dns_unbound_new(const struct dns_unbound_config *cfg, str *err)
{
    static const struct dns_unbound_config defaults;
    struct unbound *u = mem_zalloc(sizeof(*u));
    str msg = STR_INIT;

    if (cfg == NULL)
        cfg = &defaults;
    dns_resolver_init(&u->base, &unbound_ops);
    dns_set_timeout(&u->base, cfg->timeout_ms);
    u->cache_hit_us = cfg->cache_hit_us > 0 ? cfg->cache_hit_us : DNS_UNBOUND_DEF_CACHE_HIT_US;
    u->no_kept_answers = cfg->no_kept_answers;
    u->max_ttl = cfg->cache_max_ttl > 0 ? (uint32_t) cfg->cache_max_ttl : UNBOUND_DEF_MAX_TTL;
    u->max_negative_ttl = cfg->cache_max_negative_ttl > 0 ? (uint32_t) cfg->cache_max_negative_ttl
                                                          : UNBOUND_DEF_MAX_NEGATIVE_TTL;
    u->wake_fd = -1;
    pthread_mutex_init(&u->lock, NULL);
    pthread_mutex_init(&u->memo_lock, NULL);
    u->evb = event_base_new();
    if (u->evb == NULL) {
        str_adds(&msg, "libevent: cannot create an event base");
        goto fail;
    }
    u->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (u->wake_fd < 0) {
        str_addf(&msg, "eventfd: %s", strerror(errno));
        goto fail;
    }
    u->wake_ev = event_new(u->evb, u->wake_fd, EV_READ | EV_PERSIST, unbound_wake, u);
    if (u->wake_ev == NULL || event_add(u->wake_ev, NULL) != 0) {
        str_adds(&msg, "libevent: cannot watch the wake descriptor");
        goto fail;
    }
    u->ctx = ub_ctx_create_event(u->evb);
    if (u->ctx == NULL) {
        str_adds(&msg, "libunbound: cannot create a context");
        goto fail;
    }
    if (unbound_configure(u, cfg, &msg) != 0 || unbound_add_local(u, cfg, &msg) != 0
        || unbound_start_thread(u, &msg) != 0)
        goto fail;
    return &u->base;

fail:
    if (err) {
        str_reset(err);
        str_add(err, msg.data ? msg.data : "", msg.len);
    }
    str_free(&msg);
    unbound_destroy(&u->base);
    return NULL;
}
