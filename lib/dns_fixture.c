/*
 * dns_fixture.c - the resolver's test double: answers from an in-memory
 * table, synchronously, with no network.
 *
 * dns_fixture_add() adds one record in presentation form; a name that has
 * records of some type answers NODATA for other types and every other
 * name answers NXDOMAIN, as a real zone would. dns_fixture_fail() makes a
 * (name, type) answer SERVFAIL, a bad answer, or nothing at all (the
 * caller's deadline then gives a timeout). Not thread-safe while records
 * are being added; lookups may run from several threads.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "dns.h"
#include "log.h"
#include "mem.h"
#include "util.h"

struct fixture_entry {
    char *name;
    uint16_t type;
    int fail;                  /* 0, or a dns_status to answer with */
    int timeout;
    struct dns_answer *records;
    struct fixture_entry *next;
};

struct fixture {
    struct dns_resolver base;  /* first: the resolver is the fixture */
    struct fixture_entry *entries;
    pthread_mutex_t lock;
    int queries;
};

/* Find the entry for (name, type); type 0 matches any type. */
static struct fixture_entry *fixture_find(struct fixture *f, const char *name, uint16_t type)
{
    for (struct fixture_entry *e = f->entries; e; e = e->next)
        if ((type == 0 || e->type == type) && ascii_casecmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* Find or create the entry for (name, type). */
static struct fixture_entry *fixture_entry(struct fixture *f, const char *name, uint16_t type)
{
    struct fixture_entry *e = fixture_find(f, name, type), **tail;

    if (e)
        return e;
    e = mem_zalloc(sizeof(*e));
    e->name = mem_strdup(name);
    e->type = type;
    e->records = dns_answer_new(name, type, DNS_ANSWER);
    /* Keep insertion order: records come back in the order they were added. */
    for (tail = &f->entries; *tail; tail = &(*tail)->next)
        ;
    *tail = e;
    return e;
}

/* Copy the records of an entry into a fresh answer for qname. */
static struct dns_answer *fixture_copy(const struct fixture_entry *e, const char *qname)
{
    struct dns_answer *a = dns_answer_copy(e->records);

    mem_free(a->qname);
    a->qname = mem_strdup(qname);
    return a;
}

/* Answer a query at once (or never, for a timeout). */
static void fixture_start(struct dns_resolver *r, struct dns_query *q)
{
    struct fixture *f = (struct fixture *) r;
    const char *name = dns_query_name(q);
    uint16_t type = dns_query_type(q);
    struct fixture_entry *e;
    struct dns_answer *a;

    pthread_mutex_lock(&f->lock);
    f->queries++;
    e = fixture_find(f, name, type);
    if (e && e->timeout) {
        pthread_mutex_unlock(&f->lock);
        return;                /* no answer; the waiter's deadline ends it */
    }
    if (e && e->fail) {
        a = dns_answer_new(name, type, (enum dns_status) e->fail);
        a->why = e->fail == DNS_TEMPFAIL ? "SERVFAIL" : "malformed answer";
    } else if (e && e->records->count > 0) {
        a = fixture_copy(e, name);
    } else if (fixture_find(f, name, 0)) {
        a = dns_answer_new(name, type, DNS_NODATA);
        a->ttl = 300;
    } else {
        a = dns_answer_new(name, type, DNS_NXDOMAIN);
        a->ttl = 300;
    }
    pthread_mutex_unlock(&f->lock);
    dns_query_done(q, a);
}

/* A timed-out query is released here: the fixture never answers it. */
static void fixture_cancel(struct dns_resolver *r, struct dns_query *q)
{
    struct fixture *f = (struct fixture *) r;
    struct fixture_entry *e;
    int timeout;

    pthread_mutex_lock(&f->lock);
    e = fixture_find(f, dns_query_name(q), dns_query_type(q));
    timeout = e && e->timeout;
    pthread_mutex_unlock(&f->lock);
    if (timeout)
        dns_query_done(q, NULL);
}

/* Forget all entries. */
void dns_fixture_clear(struct dns_resolver *r)
{
    struct fixture *f = (struct fixture *) r;
    struct fixture_entry *e, *next;

    pthread_mutex_lock(&f->lock);
    for (e = f->entries; e; e = next) {
        next = e->next;
        dns_answer_free(e->records);
        mem_free(e->name);
        mem_free(e);
    }
    f->entries = NULL;
    f->queries = 0;
    memset(&f->base.stats, 0, sizeof(f->base.stats));
    pthread_mutex_unlock(&f->lock);
}

static void fixture_destroy(struct dns_resolver *r)
{
    struct fixture *f = (struct fixture *) r;

    dns_fixture_clear(r);
    pthread_mutex_destroy(&f->lock);
    mem_free(f);
}

static const struct dns_backend_ops fixture_ops = {
    fixture_start, fixture_cancel, fixture_destroy,
};

/* A new, empty fixture resolver. */
struct dns_resolver *dns_fixture_new(void)
{
    struct fixture *f = mem_zalloc(sizeof(*f));

    dns_resolver_init(&f->base, &fixture_ops);
    pthread_mutex_init(&f->lock, NULL);
    return &f->base;
}

/* Add one record in presentation form; -1 if the rdata does not parse. */
int dns_fixture_add(struct dns_resolver *r, const char *name, uint16_t type, const char *rdata)
{
    struct fixture *f = (struct fixture *) r;
    int rc;

    pthread_mutex_lock(&f->lock);
    rc = dns_answer_add_text(fixture_entry(f, name, type)->records, type, 300, rdata,
                             (ssize_t) strlen(rdata));
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* Add a TXT record with arbitrary bytes. */
void dns_fixture_add_txt(struct dns_resolver *r, const char *name, const char *data, ssize_t len)
{
    struct fixture *f = (struct fixture *) r;

    pthread_mutex_lock(&f->lock);
    if (dns_answer_add_text(fixture_entry(f, name, DNS_T_TXT)->records, DNS_T_TXT, 300, data, len) != 0)
        log_panic("dns_fixture_add_txt: TXT record over %d bytes", DNS_MAX_TXT_LEN);
    pthread_mutex_unlock(&f->lock);
}

/* Make (name, type) fail. */
void dns_fixture_fail(struct dns_resolver *r, const char *name, uint16_t type, enum dns_status status,
                      int timeout)
{
    struct fixture *f = (struct fixture *) r;
    struct fixture_entry *e;

    pthread_mutex_lock(&f->lock);
    e = fixture_entry(f, name, type);
    e->fail = timeout ? 0 : (int) status;
    e->timeout = timeout;
    pthread_mutex_unlock(&f->lock);
}

/* Queries asked so far. */
int dns_fixture_queries(struct dns_resolver *r)
{
    struct fixture *f = (struct fixture *) r;
    int n;

    pthread_mutex_lock(&f->lock);
    n = f->queries;
    pthread_mutex_unlock(&f->lock);
    return n;
}
