/*
 * ratelimit.h - event counters over sliding time windows, per key.
 *
 * A key names what is counted ("client:192.0.2.10", "sender:a@b.example");
 * each hit adds n events if that keeps the key within its limit over the
 * window ending now, and says whether it did. The check and the update are
 * one atomic step, so concurrent callers never see a lost update and never
 * get past the limit together.
 *
 * The window is cut into RATELIMIT_BUCKETS sub-windows; a hit counts the
 * events of the current sub-window and of the RATELIMIT_BUCKETS before it,
 * so the count covers between one window and one window plus one
 * sub-window: never more than limit events in any window, and a refused
 * key waits at most a window and a tenth.
 *
 * Two backends answer the same interface: memory (one process, bounded by
 * max_entries, least recently used keys dropped first) and Redis (several
 * hosts share counters; one Lua script per hit, so the update is atomic on
 * the server). Redis needs hiredis at build time (HAVE_HIREDIS).
 */
#ifndef RAMPART_RATELIMIT_H
#define RAMPART_RATELIMIT_H

#include <stdint.h>
#include <sys/types.h>

#include "str.h"

#define RATELIMIT_BUCKETS 10
#define RATELIMIT_MAX_KEY 512            /* bytes of a key; longer keys are cut */
#define RATELIMIT_DEFAULT_MAX_ENTRIES 100000
#define RATELIMIT_MAX_LIST 100000        /* entries one list returns at most */

enum ratelimit_result {
    RATELIMIT_OK,      /* counted: within the limit */
    RATELIMIT_OVER,    /* not counted: the limit is reached */
    RATELIMIT_ERROR,   /* the backend did not answer (Redis down, timeout) */
};

struct ratelimit_options {
    const char *redis;          /* NULL or "": memory; "HOST:PORT", "[V6]:PORT", "unix:/PATH": Redis */
    int64_t redis_timeout_ms;   /* connect and command timeout (1000) */
    const char *redis_prefix;   /* prepended to every Redis key ("rampart:rl:") */
    int pool_size;              /* Redis connections kept (4) */
    int max_entries;            /* memory: keys kept at most (RATELIMIT_DEFAULT_MAX_ENTRIES) */
};

struct ratelimit;

/*
 * Build a backend. NULL with the reason in err if the Redis address does
 * not parse or hiredis is not built in. Redis is connected on first use,
 * not here, and reconnected after an error (at most once a second).
 */
struct ratelimit *ratelimit_new(const struct ratelimit_options *o, str *err);
void ratelimit_free(struct ratelimit *rl);
/* "memory" or "redis". */
const char *ratelimit_backend_name(const struct ratelimit *rl);

/*
 * Count n events for key at now_ms (wall-clock milliseconds: Redis
 * counters are shared between hosts) if the key's count over window_ms
 * plus n stays within limit. *count (may be NULL) gets the count after the
 * hit (OK) or the count that refused it (OVER). limit <= 0 counts without
 * limit. On ERROR, err says why.
 */
enum ratelimit_result ratelimit_hit(struct ratelimit *rl, const char *key, int64_t limit, int64_t window_ms,
                                    int64_t n, int64_t now_ms, int64_t *count, str *err);

struct ratelimit_entry {
    char *key;                  /* without the Redis prefix */
    int64_t count;              /* events in the window ending now */
    int64_t window_ms;
};

/*
 * The keys matching a glob pattern (fnmatch; NULL or "" = all) with their
 * counts now, at most RATELIMIT_MAX_LIST, sorted by key. Keys whose window
 * is empty are left out. Returns the number of entries (*out to free with
 * ratelimit_entries_free), or -1 with err.
 */
int ratelimit_list(struct ratelimit *rl, const char *pattern, int64_t now_ms, struct ratelimit_entry **out,
                   str *err);
void ratelimit_entries_free(struct ratelimit_entry *e, int n);

/* Forget the keys matching a glob pattern; returns how many, or -1 with err. */
int ratelimit_reset(struct ratelimit *rl, const char *pattern, str *err);

/* Wall-clock milliseconds, for now_ms. */
int64_t ratelimit_now_ms(void);

#endif
