/*
 * ratelimit.c - sliding-window counters in memory or in Redis.
 *
 * ratelimit_new() builds a backend from options; ratelimit_hit() counts
 * events under a limit in one atomic step; ratelimit_list() and
 * ratelimit_reset() let an admin see and clear counters (rampartctl).
 *
 * Memory: a hash table of keys under one mutex, each key a ring of
 * RATELIMIT_BUCKETS + 1 sub-window counters stamped with their sub-window
 * number. At most max_entries keys: a new key beyond that drops the least
 * recently hit one (a doubly linked list in hit order), so an attacker who
 * invents senders costs memory up to the bound, and never a scan.
 *
 * Redis: each key is a hash of sub-window number -> count plus "w" (the
 * window, so a changed window starts the key afresh), expiring one window
 * and one sub-window after its last hit. One Lua script (loaded once per
 * connection, run with EVALSHA) drops stale sub-windows, sums the rest,
 * and adds the hit if it fits: atomic on the server, so several MX hosts
 * share exact counters. Connections come from a small pool; after a
 * connection error no new connection is tried for a second, so a dead
 * Redis costs each request one quick error, not a timeout. Callers decide
 * what an error means (fail open or closed). Times are wall-clock
 * milliseconds passed in by the caller, so hosts must keep their clocks in
 * step (NTP) to a fraction of a sub-window.
 *
 * Logs nothing itself; errors come back in err.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif

#include "mem.h"
#include "ratelimit.h"
#include "util.h"

#define RL_SLOTS (RATELIMIT_BUCKETS + 1)
#define RL_RETRY_MS 1000

struct rl_mem_entry {
    char *key;
    uint64_t hash;
    int64_t window_ms;
    int64_t stamp[RL_SLOTS];       /* sub-window number of each slot */
    int64_t count[RL_SLOTS];
    struct rl_mem_entry *hnext;    /* hash chain */
    struct rl_mem_entry *lprev, *lnext;  /* hit order: head = most recent */
};

struct ratelimit {
    int redis;                     /* 0: memory */
    /* memory */
    pthread_mutex_t lock;
    struct rl_mem_entry **table;
    uint64_t mask;
    int n, max;
    struct rl_mem_entry *head, *tail;
    /* Redis */
#ifdef HAVE_HIREDIS
    char *host, *path, *prefix;
    int port;
    int64_t timeout_ms;
    pthread_cond_t cond;
    redisContext **idle;
    int nidle, nopen, pool;
    int64_t retry_at;              /* monotonic ms: no new connection before */
    char sha[64];
#endif
};

/* Wall-clock milliseconds. */
int64_t ratelimit_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Width of one sub-window. */
static int64_t rl_width(int64_t window_ms)
{
    int64_t w = (window_ms + RATELIMIT_BUCKETS - 1) / RATELIMIT_BUCKETS;

    return w > 0 ? w : 1;
}

/* The sub-window number of a time. */
static int64_t rl_bucket(int64_t now_ms, int64_t window_ms)
{
    return (now_ms < 0 ? 0 : now_ms) / rl_width(window_ms);
}

/* ---------------------------------------------------------------- memory */

static uint64_t rl_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s; s++) {
        h ^= (unsigned char) *s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Unlink e from the hit-order list. */
static void rl_lru_unlink(struct ratelimit *rl, struct rl_mem_entry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        rl->head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        rl->tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void rl_lru_push(struct ratelimit *rl, struct rl_mem_entry *e)
{
    e->lprev = NULL;
    e->lnext = rl->head;
    if (rl->head)
        rl->head->lprev = e;
    rl->head = e;
    if (rl->tail == NULL)
        rl->tail = e;
}

/* Remove e from the table and free it. Lock held. */
static void rl_mem_remove(struct ratelimit *rl, struct rl_mem_entry *e)
{
    struct rl_mem_entry **pp = &rl->table[e->hash & rl->mask];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    rl_lru_unlink(rl, e);
    rl->n--;
    mem_free(e->key);
    mem_free(e);
}

static struct rl_mem_entry *rl_mem_find(struct ratelimit *rl, const char *key, uint64_t h)
{
    for (struct rl_mem_entry *e = rl->table[h & rl->mask]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Events in the window ending at sub-window cur. */
static int64_t rl_mem_sum(const struct rl_mem_entry *e, int64_t cur)
{
    int64_t sum = 0;

    for (int i = 0; i < RL_SLOTS; i++)
        if (e->count[i] > 0 && e->stamp[i] >= cur - RATELIMIT_BUCKETS)
            sum += e->count[i];
    return sum;
}

static enum ratelimit_result rl_mem_hit(struct ratelimit *rl, const char *key, int64_t limit, int64_t window_ms,
                                        int64_t n, int64_t now_ms, int64_t *count)
{
    uint64_t h = rl_hash(key);
    int64_t cur = rl_bucket(now_ms, window_ms), sum;
    struct rl_mem_entry *e;
    int slot = (int) (cur % RL_SLOTS);

    pthread_mutex_lock(&rl->lock);
    e = rl_mem_find(rl, key, h);
    if (e && e->window_ms != window_ms) {
        /* The window changed (a reload): start afresh. */
        memset(e->stamp, 0, sizeof(e->stamp));
        memset(e->count, 0, sizeof(e->count));
        e->window_ms = window_ms;
    }
    sum = e ? rl_mem_sum(e, cur) : 0;
    if (limit > 0 && sum + n > limit) {
        pthread_mutex_unlock(&rl->lock);
        if (count)
            *count = sum;
        return RATELIMIT_OVER;
    }
    if (e == NULL) {
        if (rl->n >= rl->max && rl->tail)
            rl_mem_remove(rl, rl->tail);
        e = mem_zalloc(sizeof(*e));
        e->key = mem_strdup(key);
        e->hash = h;
        e->window_ms = window_ms;
        e->hnext = rl->table[h & rl->mask];
        rl->table[h & rl->mask] = e;
        rl->n++;
    } else {
        rl_lru_unlink(rl, e);
    }
    rl_lru_push(rl, e);
    if (e->stamp[slot] != cur) {
        e->stamp[slot] = cur;
        e->count[slot] = 0;
    }
    e->count[slot] += n;
    pthread_mutex_unlock(&rl->lock);
    if (count)
        *count = sum + n;
    return RATELIMIT_OK;
}

static int rl_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ratelimit_entry *) a)->key, ((const struct ratelimit_entry *) b)->key);
}

static int rl_mem_list(struct ratelimit *rl, const char *pattern, int64_t now_ms, struct ratelimit_entry **out)
{
    struct ratelimit_entry *v = NULL;
    int n = 0, cap = 0;

    pthread_mutex_lock(&rl->lock);
    for (struct rl_mem_entry *e = rl->head; e && n < RATELIMIT_MAX_LIST; e = e->lnext) {
        int64_t sum = rl_mem_sum(e, rl_bucket(now_ms, e->window_ms));

        if (sum == 0 || (pattern && pattern[0] && fnmatch(pattern, e->key, 0) != 0))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = mem_realloc(v, (ssize_t) sizeof(*v) * cap);
        }
        v[n].key = mem_strdup(e->key);
        v[n].count = sum;
        v[n].window_ms = e->window_ms;
        n++;
    }
    pthread_mutex_unlock(&rl->lock);
    if (n > 1)
        qsort(v, (size_t) n, sizeof(*v), rl_entry_cmp);
    *out = v;
    return n;
}

static int rl_mem_reset(struct ratelimit *rl, const char *pattern)
{
    int removed = 0;
    struct rl_mem_entry *e, *next;

    pthread_mutex_lock(&rl->lock);
    for (e = rl->head; e; e = next) {
        next = e->lnext;
        if (pattern == NULL || pattern[0] == '\0' || fnmatch(pattern, e->key, 0) == 0) {
            rl_mem_remove(rl, e);
            removed++;
        }
    }
    pthread_mutex_unlock(&rl->lock);
    return removed;
}

/* ---------------------------------------------------------------- Redis */

#ifdef HAVE_HIREDIS

static const char rl_script[] =
    "local key = KEYS[1]\n"
    "local limit = tonumber(ARGV[1])\n"
    "local nb = tonumber(ARGV[2])\n"
    "local cur = tonumber(ARGV[3])\n"
    "local n = tonumber(ARGV[4])\n"
    "local h = redis.call('HGETALL', key)\n"
    "local sum, stale, w = 0, {}, nil\n"
    "for i = 1, #h, 2 do\n"
    "  if h[i] == 'w' then\n"
    "    w = h[i + 1]\n"
    "  else\n"
    "    local b = tonumber(h[i])\n"
    "    if b == nil or b < cur - nb then\n"
    "      stale[#stale + 1] = h[i]\n"
    "    else\n"
    "      sum = sum + tonumber(h[i + 1])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if w ~= nil and w ~= ARGV[6] then\n"
    "  redis.call('DEL', key)\n"
    "  sum = 0\n"
    "  stale = {}\n"
    "end\n"
    "if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end\n"
    "if limit > 0 and sum + n > limit then return {0, sum} end\n"
    "redis.call('HINCRBY', key, ARGV[3], n)\n"
    "redis.call('HSET', key, 'w', ARGV[6])\n"
    "redis.call('PEXPIRE', key, ARGV[5])\n"
    "return {1, sum + n}\n";

static struct timeval rl_tv(int64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t) (ms / 1000), .tv_usec = (suseconds_t) (ms % 1000) * 1000 };

    return tv;
}

/* Parse "unix:/path", "host:port", "[v6]:port" or "host". */
static int rl_redis_parse(struct ratelimit *rl, const char *spec, str *err)
{
    const char *colon;
    char *end;
    long port = 6379;

    if (strncmp(spec, "unix:", 5) == 0) {
        if (spec[5] != '/') {
            str_addf(err, "Redis address %s: expected unix:/path", spec);
            return -1;
        }
        rl->path = mem_strdup(spec + 5);
        return 0;
    }
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');

        if (rb == NULL || rb == spec + 1 || (rb[1] != '\0' && rb[1] != ':')) {
            str_addf(err, "Redis address %s: expected [address]:port", spec);
            return -1;
        }
        rl->host = mem_strndup(spec + 1, rb - spec - 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = strrchr(spec, ':');
        if (colon && strchr(spec, ':') != colon) {
            str_addf(err, "Redis address %s: write an IPv6 address as [address]:port", spec);
            return -1;
        }
        rl->host = colon ? mem_strndup(spec, colon - spec) : mem_strdup(spec);
    }
    if (rl->host[0] == '\0') {
        str_addf(err, "Redis address %s: no host", spec);
        return -1;
    }
    if (colon) {
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535) {
            str_addf(err, "Redis address %s: bad port", spec);
            return -1;
        }
    }
    rl->port = (int) port;
    return 0;
}

/* A connection's error, in words: hiredis reports its read timeout as EAGAIN. */
static const char *rl_errstr(const redisContext *c)
{
    if (c->err == REDIS_ERR_IO
        && (strcmp(c->errstr, strerror(EAGAIN)) == 0 || strcmp(c->errstr, strerror(ETIMEDOUT)) == 0))
        return "timed out";
    return c->errstr;
}

/* Load the script on a new connection; the SHA1 is the same for every connection. */
static int rl_redis_load(struct ratelimit *rl, redisContext *c, str *err)
{
    redisReply *r = redisCommand(c, "SCRIPT LOAD %s", rl_script);
    int rc = -1;

    if (r == NULL)
        str_addf(err, "Redis: %s", rl_errstr(c));
    else if (r->type != REDIS_REPLY_STRING || r->len <= 0 || (size_t) r->len >= sizeof(rl->sha))
        str_addf(err, "Redis: SCRIPT LOAD: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    else {
        pthread_mutex_lock(&rl->lock);
        memcpy(rl->sha, r->str, (size_t) r->len + 1);
        pthread_mutex_unlock(&rl->lock);
        rc = 0;
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

/* Borrow a connection (connecting if the pool has room); NULL with err. */
static redisContext *rl_redis_get(struct ratelimit *rl, str *err)
{
    redisContext *c = NULL;
    int64_t until = clock_now_ms() + rl->timeout_ms;

    pthread_mutex_lock(&rl->lock);
    for (;;) {
        if (rl->nidle > 0) {
            c = rl->idle[--rl->nidle];
            pthread_mutex_unlock(&rl->lock);
            return c;
        }
        if (rl->nopen < rl->pool)
            break;
        {
            struct timespec ts;
            int64_t left = until - clock_now_ms();

            if (left <= 0) {
                pthread_mutex_unlock(&rl->lock);
                str_adds(err, "Redis: no free connection in time");
                return NULL;
            }
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t) (left / 1000);
            ts.tv_nsec += (long) (left % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&rl->cond, &rl->lock, &ts);
        }
    }
    if (clock_now_ms() < rl->retry_at) {
        pthread_mutex_unlock(&rl->lock);
        str_adds(err, "Redis unreachable (retrying once a second)");
        return NULL;
    }
    rl->nopen++;
    pthread_mutex_unlock(&rl->lock);
    c = rl->path ? redisConnectUnixWithTimeout(rl->path, rl_tv(rl->timeout_ms))
                 : redisConnectWithTimeout(rl->host, rl->port, rl_tv(rl->timeout_ms));
    if (c == NULL || c->err) {
        if (rl->path)
            str_addf(err, "Redis %s: cannot connect: %s", rl->path, c ? c->errstr : "out of memory");
        else
            str_addf(err, "Redis %s port %d: cannot connect: %s", rl->host, rl->port,
                     c ? c->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(c, rl_tv(rl->timeout_ms)) != REDIS_OK || rl_redis_load(rl, c, err) != 0)
        goto fail;
    return c;
fail:
    if (c)
        redisFree(c);
    pthread_mutex_lock(&rl->lock);
    rl->nopen--;
    rl->retry_at = clock_now_ms() + RL_RETRY_MS;
    pthread_cond_signal(&rl->cond);
    pthread_mutex_unlock(&rl->lock);
    return NULL;
}

/* Give a connection back; a broken one is closed. */
static void rl_redis_put(struct ratelimit *rl, redisContext *c)
{
    pthread_mutex_lock(&rl->lock);
    if (c->err) {
        redisFree(c);
        rl->nopen--;
        rl->retry_at = clock_now_ms() + RL_RETRY_MS;
    } else {
        rl->idle[rl->nidle++] = c;
    }
    pthread_cond_signal(&rl->cond);
    pthread_mutex_unlock(&rl->lock);
}

/* The Redis key for a key. */
static void rl_redis_key(const struct ratelimit *rl, const char *key, str *out)
{
    str_adds(out, rl->prefix);
    str_adds(out, key);
}

static enum ratelimit_result rl_redis_hit(struct ratelimit *rl, const char *key, int64_t limit, int64_t window_ms,
                                          int64_t n, int64_t now_ms, int64_t *count, str *err)
{
    redisContext *c = rl_redis_get(rl, err);
    redisReply *r = NULL;
    enum ratelimit_result res = RATELIMIT_ERROR;
    char a_limit[24], a_nb[8], a_cur[24], a_n[24], a_ttl[24], a_win[24], sha[64];
    str k = STR_INIT;

    if (c == NULL)
        return RATELIMIT_ERROR;
    rl_redis_key(rl, key, &k);
    snprintf(a_limit, sizeof(a_limit), "%lld", (long long) limit);
    snprintf(a_nb, sizeof(a_nb), "%d", RATELIMIT_BUCKETS);
    snprintf(a_cur, sizeof(a_cur), "%lld", (long long) rl_bucket(now_ms, window_ms));
    snprintf(a_n, sizeof(a_n), "%lld", (long long) n);
    snprintf(a_ttl, sizeof(a_ttl), "%lld", (long long) (window_ms + 2 * rl_width(window_ms)));
    snprintf(a_win, sizeof(a_win), "%lld", (long long) window_ms);
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *argv[10];
        size_t argvlen[10];

        pthread_mutex_lock(&rl->lock);
        memcpy(sha, rl->sha, sizeof(sha));
        pthread_mutex_unlock(&rl->lock);
        argv[0] = "EVALSHA", argv[1] = sha, argv[2] = "1", argv[3] = str_cstr(&k);
        argv[4] = a_limit, argv[5] = a_nb, argv[6] = a_cur, argv[7] = a_n, argv[8] = a_ttl, argv[9] = a_win;
        for (int i = 0; i < 10; i++)
            argvlen[i] = i == 3 ? (size_t) k.len : strlen(argv[i]);
        r = redisCommandArgv(c, 10, argv, argvlen);
        if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 && attempt == 0) {
            /* Redis restarted and forgot the script. */
            freeReplyObject(r);
            r = NULL;
            if (rl_redis_load(rl, c, err) != 0)
                break;
            continue;
        }
        break;
    }
    if (r == NULL) {
        if (err->len == 0)
            str_addf(err, "Redis: %s", c->err ? rl_errstr(c) : "no reply");
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER
               && r->element[1]->type == REDIS_REPLY_INTEGER) {
        res = r->element[0]->integer ? RATELIMIT_OK : RATELIMIT_OVER;
        if (count)
            *count = r->element[1]->integer;
    } else {
        str_addf(err, "Redis: unexpected reply%s%s", r->type == REDIS_REPLY_ERROR ? ": " : "",
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    }
    if (r)
        freeReplyObject(r);
    rl_redis_put(rl, c);
    str_free(&k);
    return res;
}

/* Append s with the glob characters escaped. */
static void rl_glob_escape(str *out, const char *s)
{
    for (; *s; s++) {
        if (strchr("*?[]\\", *s))
            str_addc(out, '\\');
        str_addc(out, *s);
    }
}

/* The count of one Redis hash (field -> count, plus "w"). */
static int64_t rl_redis_sum(const redisReply *h, int64_t now_ms, int64_t *window)
{
    int64_t sum = 0, cur;

    *window = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, "w") == 0)
            *window = strtoll(h->element[i + 1]->str, NULL, 10);
    if (*window <= 0)
        return 0;
    cur = rl_bucket(now_ms, *window);
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        char *end;
        long long b;

        if (h->element[i]->type != REDIS_REPLY_STRING || h->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        b = strtoll(h->element[i]->str, &end, 10);
        if (*end == '\0' && end != h->element[i]->str && b >= cur - RATELIMIT_BUCKETS)
            sum += strtoll(h->element[i + 1]->str, NULL, 10);
    }
    return sum;
}

/*
 * Walk the keys matching pattern with SCAN; for each, list it (out != NULL)
 * or delete it. Returns the number handled or -1.
 */
static int rl_redis_walk(struct ratelimit *rl, const char *pattern, int64_t now_ms, struct ratelimit_entry **out,
                         str *err)
{
    redisContext *c = rl_redis_get(rl, err);
    str match = STR_INIT;
    char cursor[32] = "0";
    struct ratelimit_entry *v = NULL;
    int n = 0, cap = 0, rc = -1;
    size_t plen = strlen(rl->prefix);

    if (c == NULL)
        return -1;
    rl_glob_escape(&match, rl->prefix);
    str_adds(&match, pattern && pattern[0] ? pattern : "*");
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %b COUNT 500", cursor, match.data, (size_t) match.len);

        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            str_addf(err, "Redis: SCAN: %s", r == NULL ? rl_errstr(c) : r->type == REDIS_REPLY_ERROR ? r->str
                                                                                              : "unexpected reply");
            if (r)
                freeReplyObject(r);
            goto done;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements && n < RATELIMIT_MAX_LIST; i++) {
            const redisReply *k = r->element[1]->element[i];
            redisReply *h;

            if (k->type != REDIS_REPLY_STRING || (size_t) k->len < plen)
                continue;
            if (out == NULL) {
                h = redisCommand(c, "DEL %b", k->str, (size_t) k->len);
                if (h && h->type == REDIS_REPLY_INTEGER)
                    n += (int) h->integer;
            } else {
                h = redisCommand(c, "HGETALL %b", k->str, (size_t) k->len);
                if (h && h->type == REDIS_REPLY_ARRAY) {
                    int64_t window, sum = rl_redis_sum(h, now_ms, &window);

                    if (sum > 0) {
                        if (n == cap) {
                            cap = cap ? cap * 2 : 64;
                            v = mem_realloc(v, (ssize_t) sizeof(*v) * cap);
                        }
                        v[n].key = mem_strndup(k->str + plen, (ssize_t) ((size_t) k->len - plen));
                        v[n].count = sum;
                        v[n].window_ms = window;
                        n++;
                    }
                }
            }
            if (h == NULL) {
                str_addf(err, "Redis: %s", rl_errstr(c));
                freeReplyObject(r);
                goto done;
            }
            freeReplyObject(h);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && n < RATELIMIT_MAX_LIST);
    rc = n;
done:
    rl_redis_put(rl, c);
    str_free(&match);
    if (rc < 0) {
        ratelimit_entries_free(v, n);
        v = NULL;
    }
    if (out) {
        if (rc > 1)
            qsort(v, (size_t) rc, sizeof(*v), rl_entry_cmp);
        *out = v;
    }
    return rc;
}

#endif /* HAVE_HIREDIS */

/* ---------------------------------------------------------------- interface */

struct ratelimit *ratelimit_new(const struct ratelimit_options *o, str *err)
{
    struct ratelimit *rl = mem_zalloc(sizeof(*rl));

    pthread_mutex_init(&rl->lock, NULL);
    if (o->redis && o->redis[0]) {
#ifdef HAVE_HIREDIS
        rl->redis = 1;
        pthread_cond_init(&rl->cond, NULL);
        rl->timeout_ms = o->redis_timeout_ms > 0 ? o->redis_timeout_ms : 1000;
        rl->prefix = mem_strdup(o->redis_prefix ? o->redis_prefix : "rampart:rl:");
        rl->pool = o->pool_size > 0 ? o->pool_size : 4;
        rl->idle = mem_zalloc((ssize_t) sizeof(redisContext *) * rl->pool);
        if (rl_redis_parse(rl, o->redis, err) != 0) {
            ratelimit_free(rl);
            return NULL;
        }
        return rl;
#else
        str_addf(err, "Redis backend %s configured, but rampart was built without hiredis", o->redis);
        ratelimit_free(rl);
        return NULL;
#endif
    }
    rl->max = o->max_entries > 0 ? o->max_entries : RATELIMIT_DEFAULT_MAX_ENTRIES;
    rl->mask = 1024;
    while (rl->mask < (uint64_t) rl->max && rl->mask < (1u << 24))
        rl->mask <<= 1;
    rl->table = mem_zalloc((ssize_t) (sizeof(*rl->table) * rl->mask));
    rl->mask--;
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    while (rl->head)
        rl_mem_remove(rl, rl->head);
    mem_free(rl->table);
#ifdef HAVE_HIREDIS
    for (int i = 0; i < rl->nidle; i++)
        redisFree(rl->idle[i]);
    mem_free(rl->idle);
    mem_free(rl->host);
    mem_free(rl->path);
    mem_free(rl->prefix);
    if (rl->redis)
        pthread_cond_destroy(&rl->cond);
#endif
    pthread_mutex_destroy(&rl->lock);
    mem_free(rl);
}

const char *ratelimit_backend_name(const struct ratelimit *rl)
{
    return rl->redis ? "redis" : "memory";
}

enum ratelimit_result ratelimit_hit(struct ratelimit *rl, const char *key, int64_t limit, int64_t window_ms,
                                    int64_t n, int64_t now_ms, int64_t *count, str *err)
{
    char buf[RATELIMIT_MAX_KEY + 1];
    size_t len = strnlen(key, RATELIMIT_MAX_KEY);

    memcpy(buf, key, len);
    buf[len] = '\0';
    if (window_ms <= 0)
        window_ms = 1;
#ifdef HAVE_HIREDIS
    if (rl->redis)
        return rl_redis_hit(rl, buf, limit, window_ms, n, now_ms, count, err);
#else
    (void) err;
#endif
    return rl_mem_hit(rl, buf, limit, window_ms, n, now_ms, count);
}

int ratelimit_list(struct ratelimit *rl, const char *pattern, int64_t now_ms, struct ratelimit_entry **out,
                   str *err)
{
    *out = NULL;
#ifdef HAVE_HIREDIS
    if (rl->redis)
        return rl_redis_walk(rl, pattern, now_ms, out, err);
#else
    (void) err;
#endif
    return rl_mem_list(rl, pattern, now_ms, out);
}

void ratelimit_entries_free(struct ratelimit_entry *e, int n)
{
    for (int i = 0; i < n; i++)
        mem_free(e[i].key);
    mem_free(e);
}

int ratelimit_reset(struct ratelimit *rl, const char *pattern, str *err)
{
#ifdef HAVE_HIREDIS
    if (rl->redis)
        return rl_redis_walk(rl, pattern, 0, NULL, err);
#else
    (void) err;
#endif
    return rl_mem_reset(rl, pattern);
}
