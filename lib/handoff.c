/*
 * handoff.c - the table of results the policy service hands to the milter.
 *
 * One hash table under one mutex; entries also sit on a list in the order
 * they were last written, so expired entries are at its head and the
 * oldest is dropped first when the table is full. Keys are normalised so
 * that both front doors' spellings meet: the client address parsed and
 * printed again (IPv6 in one canonical form, "IPv6:" and brackets gone),
 * the HELO name in lower case, the sender without angle brackets and with
 * its domain in lower case.
 *
 * A result with a temporary error (an SPF temperror, a DNS list that did
 * not answer) is not kept: the milter then computes it itself. For the DNS
 * lists such a result also drops an earlier one under the same key, which
 * would tell the milter that this transaction's lists were looked up (and
 * perhaps acted upon) when they were not.
 *
 * Results are deep-copied in and out; a DNS list result points into the
 * lists that produced it (zone names, entries), so the entry holds a
 * reference on them, and so does every copy handed out.
 *
 * Reads handoff_configure()'s values (the policy service passes
 * policy_cache_time); logs nothing.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "cidr.h"
#include "handoff.h"
#include "mem.h"
#include "util.h"

#define HO_BUCKETS 4096

struct ho_entry {
    char *key;
    uint64_t hash;
    int64_t expires;                /* monotonic ms */
    int have_spf, have_helo, spf_acted;
    int64_t spf_put_ms, dnsbl_put_ms;  /* when they were put, monotonic ms */
    struct spf_result mailfrom, helo;
    int have_dnsbl;
    struct handoff_dnsbl dnsbl;
    struct ho_entry *hnext;
    struct ho_entry *prev, *next;   /* write order */
};

static struct {
    pthread_mutex_t lock;
    struct ho_entry *bucket[HO_BUCKETS];
    struct ho_entry *head, *tail;
    int n, max;
    int64_t ttl_ms;
} ho = { .lock = PTHREAD_MUTEX_INITIALIZER, .max = HANDOFF_DEFAULT_MAX, .ttl_ms = HANDOFF_DEFAULT_TTL_MS };

void handoff_configure(int max_entries, int64_t ttl_ms)
{
    pthread_mutex_lock(&ho.lock);
    ho.max = max_entries > 0 ? max_entries : HANDOFF_DEFAULT_MAX;
    ho.ttl_ms = ttl_ms > 0 ? ttl_ms : HANDOFF_DEFAULT_TTL_MS;
    pthread_mutex_unlock(&ho.lock);
}

/* The normalised key text: client \n helo \n sender. */
static void ho_key(const struct handoff_key *k, str *out)
{
    struct cidr_addr a;
    const char *s = k->sender ? k->sender : "", *at;
    size_t len = strlen(s);

    if (k->client && cidr_addr_parse(k->client, &a) == 0)
        cidr_addr_format(&a, out);
    else
        for (const char *c = k->client ? k->client : ""; *c; c++)
            str_addc(out, ascii_tolower((unsigned char) *c));
    str_addc(out, '\n');
    for (const char *c = k->helo ? k->helo : ""; *c; c++)
        str_addc(out, ascii_tolower((unsigned char) *c));
    str_addc(out, '\n');
    if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
        s++;
        len -= 2;
    }
    at = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '@')
            at = s + i;
    for (size_t i = 0; i < len; i++)
        str_addc(out, at && s + i > at ? ascii_tolower((unsigned char) s[i]) : s[i]);
}

static uint64_t ho_hash(const str *k)
{
    uint64_t h = 14695981039346656037ULL;

    for (ssize_t i = 0; i < k->len; i++) {
        h ^= (unsigned char) k->data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static char *ho_dup(const char *s)
{
    return s ? mem_strdup(s) : NULL;
}

static void ho_spf_copy(struct spf_result *dst, const struct spf_result *src)
{
    *dst = *src;
    dst->domain = ho_dup(src->domain);
    dst->sender = ho_dup(src->sender);
    dst->mechanism = ho_dup(src->mechanism);
    dst->explanation = ho_dup(src->explanation);
    dst->problem = ho_dup(src->problem);
}

static void ho_dnsbl_copy(struct handoff_dnsbl *dst, const struct handoff_dnsbl *src)
{
    *dst = *src;
    dst->lists = src->lists ? dnsbl_ref(src->lists) : NULL;
    dst->result.hits = NULL;
    if (src->result.nhits > 0) {
        dst->result.hits = mem_zalloc((ssize_t) sizeof(struct dnsbl_hit) * src->result.nhits);
        for (int i = 0; i < src->result.nhits; i++) {
            struct dnsbl_hit *d = &dst->result.hits[i];
            const struct dnsbl_hit *s = &src->result.hits[i];

            *d = *s;
            d->identity = ho_dup(s->identity);
            d->qname = ho_dup(s->qname);
            d->txt = ho_dup(s->txt);
        }
    }
}

void handoff_dnsbl_clear(struct handoff_dnsbl *h)
{
    for (int i = 0; i < h->result.nhits; i++) {
        mem_free(h->result.hits[i].identity);
        mem_free(h->result.hits[i].qname);
        mem_free(h->result.hits[i].txt);
    }
    mem_free(h->result.hits);
    if (h->lists)
        dnsbl_unref(h->lists);
    memset(h, 0, sizeof(*h));
}

/* Unlink from the write-order list. Lock held. */
static void ho_unlink(struct ho_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        ho.head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        ho.tail = e->prev;
    e->prev = e->next = NULL;
}

static void ho_append(struct ho_entry *e)
{
    e->prev = ho.tail;
    e->next = NULL;
    if (ho.tail)
        ho.tail->next = e;
    else
        ho.head = e;
    ho.tail = e;
}

/* Remove and free an entry. Lock held. */
static void ho_remove(struct ho_entry *e)
{
    struct ho_entry **pp = &ho.bucket[e->hash % HO_BUCKETS];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    ho_unlink(e);
    ho.n--;
    spf_result_free(&e->mailfrom);
    spf_result_free(&e->helo);
    handoff_dnsbl_clear(&e->dnsbl);
    mem_free(e->key);
    mem_free(e);
}

/* Drop expired entries (they are at the head). Lock held. */
static void ho_expire(int64_t now)
{
    while (ho.head && ho.head->expires <= now)
        ho_remove(ho.head);
}

static struct ho_entry *ho_find(const str *k, uint64_t h)
{
    for (struct ho_entry *e = ho.bucket[h % HO_BUCKETS]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, k->data) == 0)
            return e;
    return NULL;
}

/* The entry for k, created if needed, its lifetime renewed. Lock held. */
static struct ho_entry *ho_get(const struct handoff_key *k)
{
    str key = STR_INIT;
    uint64_t h;
    struct ho_entry *e;
    int64_t now = clock_now_ms();

    ho_key(k, &key);
    h = ho_hash(&key);
    ho_expire(now);
    if ((e = ho_find(&key, h)) != NULL) {
        ho_unlink(e);
        str_free(&key);
    } else {
        while (ho.n >= ho.max && ho.head)
            ho_remove(ho.head);
        e = mem_zalloc(sizeof(*e));
        e->key = str_steal(&key);
        e->hash = h;
        e->hnext = ho.bucket[h % HO_BUCKETS];
        ho.bucket[h % HO_BUCKETS] = e;
        ho.n++;
    }
    e->expires = now + ho.ttl_ms;
    ho_append(e);
    return e;
}

/* The live entry for k, or NULL. Lock held. */
static struct ho_entry *ho_lookup(const struct handoff_key *k)
{
    str key = STR_INIT;
    struct ho_entry *e;

    ho_key(k, &key);
    ho_expire(clock_now_ms());
    e = ho_find(&key, ho_hash(&key));
    str_free(&key);
    return e;
}

void handoff_put_spf(const struct handoff_key *k, const struct spf_result *mailfrom,
                     const struct spf_result *helo, int acted)
{
    struct ho_entry *e;

    if (mailfrom == NULL || mailfrom->status == SPF_STATUS_TEMPERROR
        || (helo && helo->status == SPF_STATUS_TEMPERROR))
        return;
    pthread_mutex_lock(&ho.lock);
    e = ho_get(k);
    spf_result_free(&e->mailfrom);
    spf_result_free(&e->helo);
    ho_spf_copy(&e->mailfrom, mailfrom);
    e->have_helo = helo != NULL;
    if (helo)
        ho_spf_copy(&e->helo, helo);
    e->have_spf = 1;
    e->spf_acted = acted;
    e->spf_put_ms = clock_now_ms();
    pthread_mutex_unlock(&ho.lock);
}

int handoff_take_spf(const struct handoff_key *k, struct spf_result *mailfrom, struct spf_result *helo,
                     int *have_helo, int *acted)
{
    struct ho_entry *e;
    int found = 0;

    pthread_mutex_lock(&ho.lock);
    e = ho_lookup(k);
    if (e && e->have_spf) {
        ho_spf_copy(mailfrom, &e->mailfrom);
        if (e->have_helo)
            ho_spf_copy(helo, &e->helo);
        else
            memset(helo, 0, sizeof(*helo));
        *have_helo = e->have_helo;
        *acted = e->spf_acted && e->spf_put_ms >= k->since_ms;
        found = 1;
    }
    pthread_mutex_unlock(&ho.lock);
    return found;
}

void handoff_put_dnsbl(const struct handoff_key *k, struct dnsbl *lists, unsigned kinds,
                       const struct dnsbl_result *r, int acted)
{
    struct handoff_dnsbl h;
    struct ho_entry *e;

    if (lists == NULL || r == NULL)
        return;
    if (r->unknown > 0) {
        /*
         * A list that did not answer may list the envelope: the milter
         * looks it up itself, so an earlier transaction's result under
         * this key must not stand in for it either.
         */
        pthread_mutex_lock(&ho.lock);
        if ((e = ho_lookup(k)) != NULL && e->have_dnsbl) {
            handoff_dnsbl_clear(&e->dnsbl);
            e->have_dnsbl = 0;
            if (!e->have_spf)
                ho_remove(e);
        }
        pthread_mutex_unlock(&ho.lock);
        return;
    }
    h.lists = lists;
    h.kinds = kinds;
    h.acted = acted;
    h.result = *r;
    pthread_mutex_lock(&ho.lock);
    e = ho_get(k);
    handoff_dnsbl_clear(&e->dnsbl);
    ho_dnsbl_copy(&e->dnsbl, &h);
    e->have_dnsbl = 1;
    e->dnsbl_put_ms = clock_now_ms();
    pthread_mutex_unlock(&ho.lock);
}

int handoff_take_dnsbl(const struct handoff_key *k, struct handoff_dnsbl *out)
{
    struct ho_entry *e;
    int found = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&ho.lock);
    e = ho_lookup(k);
    if (e && e->have_dnsbl) {
        ho_dnsbl_copy(out, &e->dnsbl);
        out->acted = out->acted && e->dnsbl_put_ms >= k->since_ms;
        found = 1;
    }
    pthread_mutex_unlock(&ho.lock);
    return found;
}

int handoff_expect_spf(const struct config *cfg)
{
    return cfg->policy_listen[0] != '\0' && cfg->policy_spf_mode != CHECK_OFF;
}

int handoff_expect_dnsbl(const struct config *cfg)
{
    return cfg->policy_listen[0] != '\0' && cfg->policy_dnsbl_mode != CHECK_OFF;
}

int handoff_count(void)
{
    int n;

    pthread_mutex_lock(&ho.lock);
    ho_expire(clock_now_ms());
    n = ho.n;
    pthread_mutex_unlock(&ho.lock);
    return n;
}

void handoff_flush(void)
{
    pthread_mutex_lock(&ho.lock);
    while (ho.head)
        ho_remove(ho.head);
    pthread_mutex_unlock(&ho.lock);
}
