/*
 * policy_checks.c - what the policy service decides, and how it says it
 * in Postfix's words.
 *
 * Every request takes the current configuration; the rate-limit backend,
 * the disposable-domain list and the callout cache are built at
 * policy_checks_init (the backend's place, Redis or memory, takes effect
 * at restart; limits, windows, actions and modes at reload).
 *
 * One transaction, one evaluation. The transaction's checks run once, at
 * the first MAIL, RCPT or DATA request of a transaction, and their outcome
 * is kept for policy_cache_time. A MAIL request (Postfix has not set the
 * instance attribute yet) always begins a new transaction, filed under
 * client address and port, HELO name and sender; the transaction's first
 * RCPT or DATA request takes it over under Postfix's instance attribute,
 * which keys every later request (pol_key). A refusal is repeated for every
 * recipient; a PREPEND or HOLD is given once, to the first recipient that
 * is not refused, because Postfix applies it to the message (a PREPEND
 * for every recipient would add the header once per recipient). A second
 * request for a transaction still being evaluated waits for it. SPF and
 * DNS list results also go to lib/handoff for the milter (not those with a
 * temporary error or an unknown list: the milter looks them up itself).
 *
 * Order: rate limits first (cheap, and a flood is deferred before it costs
 * DNS), counted once per transaction and only when within the limit, under
 * "kind:identity" names (a sender's domain in lower case); then
 * the sender's and the DNS lists' lookups are started, SPF runs, and the
 * rest is collected, all against policy_check_timeout. The verdict engine
 * picks the strongest action among checks in enforce mode (monitor-mode
 * checks are logged as "check=result(monitor:action)"); its action becomes
 * the reply:
 *   reject      REJECT <x.y.z> <reason>
 *   tempfail    DEFER_IF_PERMIT <x.y.z> <reason> for a temporary error
 *               (DNS), DEFER <x.y.z> <reason> for a limit
 *   discard     DISCARD <reason>
 *   quarantine  HOLD <reason>
 *   tag         PREPEND X-Rampart-Action: tag (<check>=<result>)
 *   accept      PREPEND Received-SPF: ... (policy_spf_mode = enforce and
 *               policy_spf_header = yes), or DUNNO
 * Postfix takes one action per answer, so a tag or a hold replaces the
 * Received-SPF header (XXX: the milter's Authentication-Results still
 * carries the SPF result when the milter runs too).
 *
 * Trusted clients (trusted_networks) and, with skip_authenticated, SASL
 * clients get no SPF, DNS list or sender checks; client and network
 * limits spare trusted clients; SASL user limits apply to everyone.
 *
 * Logs (through the caller's summary line) each check's result, and a
 * warning when the rate-limit backend fails (at most every 10 s) or the
 * disposable list cannot be read.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "core.h"
#include "dnsbl.h"
#include "handoff.h"
#include "log.h"
#include "mem.h"
#include "policy.h"
#include "ratelimit.h"
#include "sender.h"
#include "spf.h"
#include "util.h"
#include "verdict.h"

#define PTXN_BUCKETS 4096
#define PTXN_MAX 20000
#define PTXN_MAX_LOG 24

/* One transaction's outcome. */
struct ptxn {
    char *key;
    uint64_t hash;
    int64_t expires;
    int refs;                     /* the table's and each request's that holds it */
    int linked;
    int done;
    str refuse;                   /* repeated for every recipient */
    str once;                     /* given once */
    int nlog;
    char *log_k[PTXN_MAX_LOG], *log_v[PTXN_MAX_LOG];
    struct ptxn *hnext, *prev, *next;
};

/* A disposable list shared by requests; replaced when the path changes. */
struct pol_list {
    struct sender_list *list;
    int refs;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct ratelimit *rl;
    struct pol_list *disposable;
    struct sender_cache *callouts;
    struct ptxn *bucket[PTXN_BUCKETS];
    struct ptxn *head, *tail;
    int n;
    int64_t last_rl_warning;
} ps = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* What one request is about. */
struct pol_ctx {
    const struct config *cfg;
    const struct policy_request *req;
    const char *client, *client_name, *helo, *sender, *sasl, *rcpt;
    struct cidr_addr ip;
    int ip_valid, trusted, skip, stress;
    int64_t deadline;
    struct verdict v;
    str prepend;                  /* a header for an accepted transaction */
    int nlog;
    char *log_k[PTXN_MAX_LOG], *log_v[PTXN_MAX_LOG];
};

/* ---------------------------------------------------------------- set-up */

static struct pol_list *pol_list_get(const char *path)
{
    struct pol_list *l = NULL;

    pthread_mutex_lock(&ps.lock);
    if (path[0] == '\0') {
        if (ps.disposable && --ps.disposable->refs == 0) {
            sender_list_free(ps.disposable->list);
            mem_free(ps.disposable);
        }
        ps.disposable = NULL;
    } else {
        if (ps.disposable == NULL || strcmp(sender_list_path(ps.disposable->list), path) != 0) {
            if (ps.disposable && --ps.disposable->refs == 0) {
                sender_list_free(ps.disposable->list);
                mem_free(ps.disposable);
            }
            ps.disposable = mem_zalloc(sizeof(*ps.disposable));
            ps.disposable->list = sender_list_new(path, 1000);
            ps.disposable->refs = 1;
        }
        l = ps.disposable;
        l->refs++;
    }
    pthread_mutex_unlock(&ps.lock);
    return l;
}

static void pol_list_put(struct pol_list *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&ps.lock);
    if (--l->refs == 0) {
        sender_list_free(l->list);
        mem_free(l);
    }
    pthread_mutex_unlock(&ps.lock);
}

int policy_checks_init(const struct config *cfg, str *err)
{
    struct ratelimit_options o;

    policy_checks_shutdown();
    memset(&o, 0, sizeof(o));
    o.redis = cfg->policy_ratelimit_redis;
    o.redis_prefix = cfg->policy_ratelimit_redis_prefix;
    o.redis_timeout_ms = cfg->policy_ratelimit_redis_timeout;
    o.pool_size = (int) cfg->policy_workers;
    o.max_entries = (int) cfg->policy_ratelimit_max_entries;
    if ((ps.rl = ratelimit_new(&o, err)) == NULL)
        return -1;
    ps.callouts = sender_cache_new(10000);
    handoff_configure(HANDOFF_DEFAULT_MAX, cfg->policy_cache_time);
    return 0;
}

/* Drop the table's reference on a transaction. Lock held. */
static void ptxn_unref(struct ptxn *e)
{
    if (--e->refs > 0)
        return;
    str_free(&e->refuse);
    str_free(&e->once);
    for (int i = 0; i < e->nlog; i++) {
        mem_free(e->log_k[i]);
        mem_free(e->log_v[i]);
    }
    mem_free(e->key);
    mem_free(e);
}

/* Take a transaction out of the table. Lock held. */
static void ptxn_unlink(struct ptxn *e)
{
    struct ptxn **pp = &ps.bucket[e->hash % PTXN_BUCKETS];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        ps.head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        ps.tail = e->prev;
    e->linked = 0;
    ps.n--;
    ptxn_unref(e);
}

void policy_checks_shutdown(void)
{
    pthread_mutex_lock(&ps.lock);
    while (ps.head)
        ptxn_unlink(ps.head);
    if (ps.disposable && --ps.disposable->refs == 0) {
        sender_list_free(ps.disposable->list);
        mem_free(ps.disposable);
    }
    ps.disposable = NULL;
    pthread_mutex_unlock(&ps.lock);
    ratelimit_free(ps.rl);
    ps.rl = NULL;
    sender_cache_free(ps.callouts);
    ps.callouts = NULL;
    handoff_flush();
}

/* ---------------------------------------------------------------- transactions */

static uint64_t ptxn_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s; s++) {
        h ^= (unsigned char) *s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* The transaction under key, or NULL. Lock held. */
static struct ptxn *ptxn_find(const char *key, uint64_t h)
{
    struct ptxn *e;

    for (e = ps.bucket[h % PTXN_BUCKETS]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            break;
    return e;
}

/* File a transaction under another key; its place in the expiry order stays. Lock held. */
static void ptxn_rekey(struct ptxn *e, const char *key, uint64_t h)
{
    struct ptxn **pp = &ps.bucket[e->hash % PTXN_BUCKETS];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    mem_free(e->key);
    e->key = mem_strdup(key);
    e->hash = h;
    e->hnext = ps.bucket[h % PTXN_BUCKETS];
    ps.bucket[h % PTXN_BUCKETS] = e;
}

/*
 * The transaction for key, referenced: *fresh set if this request must
 * evaluate it. With renew, a transaction already under key is dropped
 * and a new one begins. Otherwise, when nothing is under key, the
 * transaction under adopt (if not NULL) is taken over and filed under
 * key. A transaction another request is evaluating is waited for (until
 * the deadline).
 */
static struct ptxn *ptxn_begin(const char *key, const char *adopt, int renew, int64_t ttl, int64_t deadline,
                               int *fresh)
{
    uint64_t h = ptxn_hash(key);
    int64_t now = clock_now_ms();
    struct ptxn *e;

    pthread_mutex_lock(&ps.lock);
    while (ps.head && ps.head->expires <= now)
        ptxn_unlink(ps.head);
    e = ptxn_find(key, h);
    if (e && renew) {
        ptxn_unlink(e);
        e = NULL;
    }
    if (e == NULL && adopt && (e = ptxn_find(adopt, ptxn_hash(adopt))) != NULL)
        ptxn_rekey(e, key, h);
    if (e) {
        e->refs++;
        while (!e->done && clock_now_ms() < deadline) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&ps.cond, &ps.lock, &ts);
        }
        pthread_mutex_unlock(&ps.lock);
        *fresh = 0;
        return e;
    }
    while (ps.n >= PTXN_MAX && ps.head)
        ptxn_unlink(ps.head);
    e = mem_zalloc(sizeof(*e));
    e->key = mem_strdup(key);
    e->hash = h;
    e->expires = now + ttl;
    e->refs = 2;
    e->linked = 1;
    e->hnext = ps.bucket[h % PTXN_BUCKETS];
    ps.bucket[h % PTXN_BUCKETS] = e;
    e->prev = ps.tail;
    if (ps.tail)
        ps.tail->next = e;
    else
        ps.head = e;
    ps.tail = e;
    ps.n++;
    pthread_mutex_unlock(&ps.lock);
    *fresh = 1;
    return e;
}

static void ptxn_release(struct ptxn *e)
{
    pthread_mutex_lock(&ps.lock);
    ptxn_unref(e);
    pthread_mutex_unlock(&ps.lock);
}

/* ---------------------------------------------------------------- helpers */

static void pol_log(struct pol_ctx *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A key=value for the summary line (kept for the transaction's later requests). */
static void pol_log(struct pol_ctx *c, const char *key, const char *fmt, ...)
{
    str v = STR_INIT;
    va_list ap;

    if (c->nlog >= PTXN_MAX_LOG)
        return;
    va_start(ap, fmt);
    str_addvf(&v, fmt, ap);
    va_end(ap);
    c->log_k[c->nlog] = mem_strdup(key);
    c->log_v[c->nlog] = str_steal(&v);
    c->nlog++;
}

/* "1h", "90s", "1500ms". */
static void pol_duration(str *out, int64_t ms)
{
    if (ms % 86400000 == 0)
        str_addf(out, "%lldd", (long long) (ms / 86400000));
    else if (ms % 3600000 == 0)
        str_addf(out, "%lldh", (long long) (ms / 3600000));
    else if (ms % 60000 == 0)
        str_addf(out, "%lldm", (long long) (ms / 60000));
    else if (ms % 1000 == 0)
        str_addf(out, "%llds", (long long) (ms / 1000));
    else
        str_addf(out, "%lldms", (long long) ms);
}

/* The address without angle brackets, if any. */
static const char *pol_strip(const char *s, str *buf)
{
    size_t len = strlen(s);

    if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
        str_add(buf, s + 1, (ssize_t) len - 2);
        return str_cstr(buf);
    }
    return s;
}

/* ---------------------------------------------------------------- rate limits */

/*
 * An address as a counter's name: the domain (after the last '@') in lower
 * case, the local part as it came (RFC 5321 leaves its case to the
 * receiving host).
 */
static void pol_addr_key(const char *addr, str *out)
{
    const char *at = strrchr(addr, '@');

    for (const char *p = addr; *p; p++)
        str_addc(out, at && p > at ? ascii_tolower((unsigned char) *p) : *p);
}

/*
 * Count n events for one limit. Returns 1 if an enforced limit refused the
 * transaction (or recipient), 0 otherwise.
 */
static int pol_limit(struct pol_ctx *c, const char *kind, const char *ident, int64_t limit, int64_t window,
                     int action, int64_t n, const char *unit)
{
    str key = STR_INIT, err = STR_INIT, why = STR_INIT, win = STR_INIT;
    int64_t count = 0;
    enum ratelimit_result r;
    int monitor = c->cfg->policy_ratelimit_mode == CHECK_MONITOR, refused = 0;

    if (limit <= 0 || ps.rl == NULL || c->cfg->policy_ratelimit_mode == CHECK_OFF)
        return 0;
    str_addf(&key, "%s:%s", kind, ident);
    pol_duration(&win, window);
    r = ratelimit_hit(ps.rl, str_cstr(&key), limit, window, n, ratelimit_now_ms(), &count, &err);
    switch (r) {
    case RATELIMIT_OK:
        pol_log(c, "rate", "%s=%lld/%lld", str_cstr(&key), (long long) count, (long long) limit);
        break;
    case RATELIMIT_OVER:
        str_addf(&why, "Rate limit reached for %s %s: %lld %s per %s, try again later", kind, ident,
                 (long long) limit, unit, str_cstr(&win));
        verdict_add(&c->v, "ratelimit", kind, (enum verdict_action) action, 0, monitor,
                    action == VERDICT_TEMPFAIL ? "450" : "550", action == VERDICT_TEMPFAIL ? "4.7.1" : "5.7.1",
                    str_cstr(&why));
        pol_log(c, "rate", "%s=%lld/%lld(over, per %s)", str_cstr(&key), (long long) count, (long long) limit,
                str_cstr(&win));
        refused = !monitor && action >= VERDICT_TEMPFAIL;
        break;
    case RATELIMIT_ERROR: {
        int64_t now = clock_now_ms();
        int warn;

        pthread_mutex_lock(&ps.lock);
        warn = now - ps.last_rl_warning >= 10000;
        if (warn)
            ps.last_rl_warning = now;
        pthread_mutex_unlock(&ps.lock);
        if (warn)
            log_warning("policy: rate limits unavailable (%s); failing %s (policy_ratelimit_redis_down_action = %s)",
                        str_cstr(&err), c->cfg->policy_ratelimit_redis_down_action == VERDICT_ACCEPT ? "open" : "closed",
                        verdict_action_name((enum verdict_action) c->cfg->policy_ratelimit_redis_down_action));
        pol_log(c, "rate", "%s=error", str_cstr(&key));
        if (c->cfg->policy_ratelimit_redis_down_action != VERDICT_ACCEPT) {
            verdict_add(&c->v, "ratelimit", "error", VERDICT_TEMPFAIL, 1, monitor, "451", "4.3.0",
                        "Rate limit state unavailable, try again later");
            refused = !monitor;
        }
        break;
    }
    }
    str_free(&key);
    str_free(&err);
    str_free(&why);
    str_free(&win);
    return refused;
}

/* The client's network (prefix from the configuration) as "192.0.2.0/24". */
static void pol_network(const struct pol_ctx *c, str *out)
{
    struct cidr_addr a = c->ip;
    int bits = (int) (a.family == AF_INET ? c->cfg->policy_ratelimit_ipv4_prefix
                                          : c->cfg->policy_ratelimit_ipv6_prefix);
    int len = a.family == AF_INET ? 4 : 16;

    for (int i = 0; i < len; i++) {
        int keep = bits - i * 8;

        if (keep <= 0)
            a.b[i] = 0;
        else if (keep < 8)
            a.b[i] &= (unsigned char) (0xff << (8 - keep));
    }
    cidr_addr_format(&a, out);
    str_addf(out, "/%d", bits);
}

/* The transaction's limits. Returns 1 if one refused it. */
static int pol_limits(struct pol_ctx *c)
{
    const struct config *cfg = c->cfg;
    int refused = 0;

    if (c->ip_valid && !c->trusted) {
        str net = STR_INIT, ip = STR_INIT;

        cidr_addr_format(&c->ip, &ip);
        refused |= pol_limit(c, "client", str_cstr(&ip), cfg->policy_ratelimit_client_limit,
                             cfg->policy_ratelimit_client_window, cfg->policy_ratelimit_client_action, 1, "messages");
        if (!refused && cfg->policy_ratelimit_network_limit > 0) {
            pol_network(c, &net);
            refused |= pol_limit(c, "network", str_cstr(&net), cfg->policy_ratelimit_network_limit,
                                 cfg->policy_ratelimit_network_window, cfg->policy_ratelimit_network_action, 1,
                                 "messages");
        }
        str_free(&net);
        str_free(&ip);
    }
    if (!refused && c->sender[0]) {
        str sender = STR_INIT;

        pol_addr_key(c->sender, &sender);
        refused |= pol_limit(c, "sender", str_cstr(&sender), cfg->policy_ratelimit_sender_limit,
                             cfg->policy_ratelimit_sender_window, cfg->policy_ratelimit_sender_action, 1, "messages");
        str_free(&sender);
    }
    if (!refused && c->sasl[0])
        refused |= pol_limit(c, "sasl", c->sasl, cfg->policy_ratelimit_sasl_limit, cfg->policy_ratelimit_sasl_window,
                             cfg->policy_ratelimit_sasl_action, 1, "messages");
    return refused;
}

/* The recipient limit, per SASL user or else per client. Returns 1 if it refused. */
static int pol_recipient_limit(struct pol_ctx *c)
{
    const struct config *cfg = c->cfg;
    str id = STR_INIT;
    int refused = 0;

    if (cfg->policy_ratelimit_recipient_limit <= 0)
        return 0;
    if (c->sasl[0])
        str_addf(&id, "sasl:%s", c->sasl);
    else if (c->ip_valid && !c->trusted)
        cidr_addr_format(&c->ip, &id);
    if (id.len > 0)
        refused = pol_limit(c, "recipient", str_cstr(&id), cfg->policy_ratelimit_recipient_limit,
                            cfg->policy_ratelimit_recipient_window, cfg->policy_ratelimit_recipient_action, 1,
                            "recipients");
    str_free(&id);
    return refused;
}

/* ---------------------------------------------------------------- SPF */

static void pol_spf(struct pol_ctx *c)
{
    const struct config *cfg = c->cfg;
    int monitor = cfg->policy_spf_mode == CHECK_MONITOR, have_helo = 0, acted = 0;
    struct handoff_key k = { c->client, c->helo, c->sender, 0 };
    struct spf_request req;
    struct spf_result mf, helo;
    char host[256];
    int64_t t0 = clock_now_ms();

    memset(&req, 0, sizeof(req));
    memset(&mf, 0, sizeof(mf));
    memset(&helo, 0, sizeof(helo));
    if (!c->ip_valid || core_resolver() == NULL || spf_request_set_ip(&req, c->client) != 0)
        return;
    req.helo = c->helo[0] ? c->helo : NULL;
    req.mail_from = c->sender;
    req.receiver = core_hostname(cfg, host, sizeof(host));
    /* An earlier transaction with the same client, HELO and sender has the answer already. */
    if (!handoff_take_spf(&k, &mf, &helo, &have_helo, &acted) || (req.helo && !have_helo)) {
        struct spf_options o;
        int64_t deadline;

        spf_result_free(&mf);
        spf_result_free(&helo);
        check_spf_options(cfg, &o);
        deadline = t0 + o.timeout_ms;
        o.deadline_ms = deadline < c->deadline ? deadline : c->deadline;
        have_helo = req.helo != NULL;
        if (have_helo)
            spf_check_helo(core_resolver(), &req, &o, &helo);
        spf_check_mailfrom(core_resolver(), &req, &o, &mf);
        handoff_put_spf(&k, &mf, have_helo ? &helo : NULL, cfg->policy_spf_mode == CHECK_ENFORCE);
    } else {
        pol_log(c, "spf_source", "earlier");
    }
    check_spf_verdict(cfg, &c->v, c->client_name, c->sender, c->helo, &mf, have_helo ? &helo : NULL, monitor, 0);
    if (cfg->policy_spf_mode == CHECK_ENFORCE && cfg->policy_spf_header) {
        str_adds(&c->prepend, "Received-SPF: ");
        spf_received_spf(&c->prepend, &req, &mf);
    }
    pol_log(c, "spf_time", "%lldms", (long long) (clock_now_ms() - t0));
    spf_result_free(&mf);
    spf_result_free(&helo);
}

/* ---------------------------------------------------------------- DNS lists */

struct pol_dnsbl {
    struct dnsbl *lists;
    struct dnsbl_check *check;
    unsigned kinds;
};

/* Start the lookups for the identities known at this state. */
static void pol_dnsbl_start(struct pol_ctx *c, struct pol_dnsbl *d, int helo, int sender)
{
    memset(d, 0, sizeof(*d));
    if (c->cfg->policy_dnsbl_mode == CHECK_OFF || c->skip || core_resolver() == NULL
        || (d->lists = core_dnsbl()) == NULL)
        return;
    d->check = dnsbl_check_new(d->lists, core_resolver());
    if (c->ip_valid) {
        dnsbl_check_ip(d->check, c->client);
        d->kinds |= DNSBL_IP;
    }
    if (c->client_name[0]) {
        dnsbl_check_domain(d->check, DNSBL_CLIENT_NAME, c->client_name);
        d->kinds |= DNSBL_CLIENT_NAME;
    }
    if (helo) {
        if (c->helo[0])
            dnsbl_check_domain(d->check, DNSBL_HELO, c->helo);
        d->kinds |= DNSBL_HELO;
    }
    if (sender) {
        if (c->sender[0])
            dnsbl_check_domain(d->check, DNSBL_MAILFROM, c->sender);
        d->kinds |= DNSBL_MAILFROM;
    }
}

/*
 * Append to why what matched: the identities with a local block file hit
 * for DNSBL_LOCAL_BLOCK, else those whose DNS hits add to the score, each
 * once, as "client [192.0.2.1]", "HELO name h.example and sender domain
 * s.example"; the client when none did. Returns how many were named.
 */
static int pol_dnsbl_what(const struct pol_ctx *c, const struct dnsbl_result *r, enum dnsbl_local local, str *why)
{
    static const struct {
        unsigned kind;
        const char *name;
    } kinds[] = {
        { DNSBL_IP, "client" }, { DNSBL_CLIENT_NAME, "client name" }, { DNSBL_HELO, "HELO name" },
        { DNSBL_MAILFROM, "sender domain" },
    };
    const struct dnsbl_hit *named[8];
    int n = 0;

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        for (int i = 0; i < r->nhits && n < (int) (sizeof(named) / sizeof(named[0])); i++) {
            const struct dnsbl_hit *h = &r->hits[i];
            int dup = 0;

            if (h->kind != kinds[k].kind || h->local != local || (local == DNSBL_LOCAL_NONE && h->weight <= 0))
                continue;
            for (int j = 0; j < n; j++)
                dup |= named[j]->kind == h->kind && strcmp(named[j]->identity, h->identity) == 0;
            if (!dup)
                named[n++] = h;
        }
    if (n == 0) {
        str_addf(why, "client [%s]", c->client);
        return 1;
    }
    for (int j = 0; j < n; j++) {
        size_t k = 0;

        while (kinds[k].kind != named[j]->kind)
            k++;
        if (j > 0)
            str_adds(why, j == n - 1 ? " and " : ", ");
        /* The client as Postfix gave it, the way its own replies name it. */
        if (named[j]->kind == DNSBL_IP)
            str_addf(why, "client [%s]", c->client);
        else
            str_addf(why, "%s %s", kinds[k].name, named[j]->identity);
    }
    return n;
}

/* Collect, score, hand over (for a whole transaction). */
static void pol_dnsbl_finish(struct pol_ctx *c, struct pol_dnsbl *d, int handoff)
{
    const struct config *cfg = c->cfg;
    const struct dnsbl_result *r;
    struct dnsbl_thresholds th;
    enum dnsbl_level level;
    int monitor = cfg->policy_dnsbl_mode == CHECK_MONITOR, named;
    enum verdict_action action = VERDICT_ACCEPT;
    str why = STR_INIT, hits = STR_INIT;

    if (d->check == NULL)
        goto done;
    r = dnsbl_check_collect(d->check, c->deadline);
    if (handoff) {
        struct handoff_key k = { c->client, c->helo, c->sender, 0 };

        handoff_put_dnsbl(&k, d->lists, d->kinds, r, cfg->policy_dnsbl_mode == CHECK_ENFORCE);
    }
    th.tag = (int) cfg->dnsbl_tag_score;
    th.quarantine = (int) cfg->dnsbl_quarantine_score;
    th.reject = (int) cfg->dnsbl_reject_score;
    level = r->local == DNSBL_LOCAL_ALLOW ? DNSBL_LEVEL_NONE
            : r->local == DNSBL_LOCAL_BLOCK ? DNSBL_LEVEL_REJECT : dnsbl_score_level(r->score, &th);
    dnsbl_render(r, &hits, 300);
    switch (level) {
    case DNSBL_LEVEL_REJECT: action = VERDICT_REJECT; break;
    case DNSBL_LEVEL_QUARANTINE: action = VERDICT_QUARANTINE; break;
    case DNSBL_LEVEL_TAG: action = VERDICT_TAG; break;
    case DNSBL_LEVEL_NONE: break;
    }
    str_adds(&why, "Service unavailable; ");
    if (r->local == DNSBL_LOCAL_BLOCK) {
        named = pol_dnsbl_what(c, r, DNSBL_LOCAL_BLOCK, &why);
        str_addf(&why, " %s blocked locally", named > 1 ? "are" : "is");
    } else {
        named = pol_dnsbl_what(c, r, DNSBL_LOCAL_NONE, &why);
        str_addf(&why, " %s listed: %s", named > 1 ? "are" : "is", hits.len ? str_cstr(&hits) : "score");
    }
    /* The same result words as the milter's DNS list check. */
    verdict_add(&c->v, "dnsbl",
                r->local == DNSBL_LOCAL_BLOCK ? "local_block" : r->local == DNSBL_LOCAL_ALLOW ? "local_allow"
                : r->nhits ? "listed" : r->unknown ? "unknown" : "clean",
                action, 0, monitor, "554", "5.7.1", str_cstr(&why));
    pol_log(c, "dnsbl_score", "%d", r->score);
    if (r->nhits)
        pol_log(c, "dnsbl_hits", "%s", str_cstr(&hits));
    if (r->unknown)
        pol_log(c, "dnsbl_unknown", "%d", r->unknown);
done:
    dnsbl_check_free(d->check);
    if (d->lists)
        dnsbl_unref(d->lists);
    memset(d, 0, sizeof(*d));
    str_free(&why);
    str_free(&hits);
}

/* ---------------------------------------------------------------- sender */

/* The callout for a sender whose domain has mail hosts. */
static void pol_callout(struct pol_ctx *c, const struct sender_result *res)
{
    const struct config *cfg = c->cfg;
    enum sender_callout_status st;
    str reply = STR_INIT, why = STR_INIT;
    int monitor = cfg->policy_callout_mode == CHECK_MONITOR, cached;
    int64_t now = clock_now_ms();

    if (cfg->policy_callout_mode == CHECK_OFF || res->nmx == 0 || ps.callouts == NULL || c->stress)
        return;
    cached = sender_cache_get(ps.callouts, c->sender, now, &st, &reply);
    if (!cached) {
        struct sender_callout_options o;
        char host[256];
        int64_t deadline = now + cfg->policy_callout_timeout;

        memset(&o, 0, sizeof(o));
        o.port = (int) cfg->policy_callout_port;
        o.helo = core_hostname(cfg, host, sizeof(host));
        o.mail_from = cfg->policy_callout_from;
        o.deadline_ms = deadline < c->deadline ? deadline : c->deadline;
        o.max_hosts = 2;
        st = sender_callout(core_resolver(), res, c->sender, &o, &reply);
        if (st != SENDER_CALLOUT_UNKNOWN && cfg->policy_callout_cache_time > 0)
            sender_cache_put(ps.callouts, c->sender, st, str_cstr(&reply), now + cfg->policy_callout_cache_time);
    }
    pol_log(c, "callout_reply", "%s%s", str_cstr(&reply), cached ? " (cached)" : "");
    str_addf(&why, "Sender <%s> not accepted: undeliverable address (callout: %s)", c->sender, str_cstr(&reply));
    verdict_add(&c->v, "callout", sender_callout_status_name(st),
                st == SENDER_CALLOUT_INVALID ? VERDICT_REJECT : VERDICT_ACCEPT, 0, monitor, "550", "5.1.7",
                str_cstr(&why));
    str_free(&reply);
    str_free(&why);
}

/* Collect the sender check and decide its entries. */
static void pol_sender_finish(struct pol_ctx *c, struct sender_check *sc)
{
    const struct config *cfg = c->cfg;
    struct sender_result res;
    int monitor = cfg->policy_sender_mode == CHECK_MONITOR, action = VERDICT_ACCEPT, temporary = 0;
    const char *rcode = "550", *xcode = "5.1.8";
    str why = STR_INIT;
    const char *domain;

    sender_check_finish(sc, c->deadline, &res);
    switch (res.status) {
    case SENDER_OK:
    case SENDER_NULL:
        str_adds(&why, "Sender address accepted");
        break;
    case SENDER_SYNTAX:
        action = VERDICT_REJECT, xcode = "5.1.7";
        str_addf(&why, "Bad sender address syntax: %s", str_cstr(&res.why));
        break;
    case SENDER_NO_DOMAIN:
    case SENDER_NO_MAIL:
        action = VERDICT_REJECT;
        str_addf(&why, "Sender <%s> not accepted: %s", c->sender, str_cstr(&res.why));
        break;
    case SENDER_NULL_MX:
        action = VERDICT_REJECT, xcode = "5.7.27";
        str_addf(&why, "Sender <%s> not accepted: %s", c->sender, str_cstr(&res.why));
        break;
    case SENDER_TEMPFAIL:
        action = cfg->policy_sender_tempfail_action, temporary = 1, rcode = "450", xcode = "4.1.8";
        str_addf(&why, "Sender <%s> not checked: %s, try again later", c->sender, str_cstr(&res.why));
        break;
    }
    verdict_add(&c->v, "sender", sender_status_name(res.status), (enum verdict_action) action, temporary, monitor,
                rcode, xcode, str_cstr(&why));
    if (res.status != SENDER_OK && res.status != SENDER_NULL)
        pol_log(c, "sender_why", "%s", str_cstr(&res.why));
    /* Disposable domains. */
    domain = res.status != SENDER_SYNTAX && res.status != SENDER_NULL ? sender_domain(c->sender) : NULL;
    if (domain && !res.is_literal) {
        str path = STR_INIT;
        struct pol_list *l;

        /* A relative path is relative to the configuration file's directory. */
        if (cfg->policy_disposable_domains[0] && cfg->policy_disposable_domains[0] != '/' && cfg->path
            && strrchr(cfg->path, '/'))
            str_add(&path, cfg->path, strrchr(cfg->path, '/') - cfg->path + 1);
        str_adds(&path, cfg->policy_disposable_domains);
        l = pol_list_get(str_cstr(&path));
        str_free(&path);

        if (l) {
            str lerr = STR_INIT;

            if (sender_list_match(l->list, domain)) {
                str_reset(&why);
                str_addf(&why, "Sender <%s> not accepted: %s is a disposable address domain", c->sender, domain);
                verdict_add(&c->v, "disposable", "listed", (enum verdict_action) cfg->policy_disposable_action, 0,
                            monitor, "550", "5.7.1", str_cstr(&why));
            }
            if (sender_list_error(l->list, &lerr))
                log_warning("policy_disposable_domains: %s", str_cstr(&lerr));
            str_free(&lerr);
            pol_list_put(l);
        }
    }
    if (res.status == SENDER_OK)
        pol_callout(c, &res);
    sender_result_free(&res);
    str_free(&why);
}

/* ---------------------------------------------------------------- replies */

/* Append text as one line: folds unfolded, other control bytes made '?'. */
static void pol_one_line(str *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            while (p[1] == '\r' || p[1] == '\n' || p[1] == ' ' || p[1] == '\t')
                p++;
            str_addc(out, ' ');
        } else {
            str_addc(out, (unsigned char) *p < 0x20 || *p == 0x7f ? (*p == '\t' ? ' ' : '?') : *p);
        }
    }
}

/* Turn the verdict into a refusal (every recipient) or a once-only action. */
static void pol_reply(const struct pol_ctx *c, str *refuse, str *once)
{
    const struct verdict_entry *w = verdict_winner(&c->v);

    switch (c->v.action) {
    case VERDICT_REJECT:
        str_addf(refuse, "REJECT %s %s", w->xcode, w->reason);
        break;
    case VERDICT_TEMPFAIL:
        str_addf(refuse, "%s %s %s", w->temporary ? "DEFER_IF_PERMIT" : "DEFER", w->xcode, w->reason);
        break;
    case VERDICT_DISCARD:
        str_addf(refuse, "DISCARD %s", w->reason);
        break;
    case VERDICT_QUARANTINE:
        str_addf(once, "HOLD %s=%s: %s", w->check, w->result, w->reason);
        break;
    case VERDICT_TAG:
        str_addf(once, "PREPEND X-Rampart-Action: tag (%s=%s)", w->check, w->result);
        break;
    case VERDICT_ACCEPT:
        if (c->prepend.len) {
            str_adds(once, "PREPEND ");
            pol_one_line(once, str_cstr(&c->prepend));
        }
        break;
    }
}

/* Each verdict entry into the log, the way the milter's summary line has them. */
static void pol_log_verdict(struct pol_ctx *c)
{
    const struct verdict_entry *w = verdict_winner(&c->v);

    for (int i = 0; i < c->v.n; i++) {
        const struct verdict_entry *e = &c->v.e[i];

        if (e->monitor)
            pol_log(c, e->check, "%s(monitor:%s)", e->result, verdict_action_name(e->action));
        else
            pol_log(c, e->check, "%s", e->result);
    }
    if (w)
        pol_log(c, "reason", "%s", w->reason);
}

/* ---------------------------------------------------------------- requests */

/* Fill the context from the request. */
static void pol_ctx_init(struct pol_ctx *c, const struct config *cfg, const struct policy_request *req, str *sender)
{
    struct cidr_list trusted;
    str err = STR_INIT;
    const char *name = policy_attr(req, "client_name");

    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->req = req;
    c->client = policy_attr(req, "client_address");
    c->client_name = strcmp(name, "unknown") == 0 ? "" : name;
    c->helo = policy_attr(req, "helo_name");
    c->sender = pol_strip(policy_attr(req, "sender"), sender);
    c->sasl = policy_attr(req, "sasl_username");
    c->rcpt = policy_attr(req, "recipient");
    c->stress = strcmp(policy_attr(req, "stress"), "yes") == 0;
    c->ip_valid = cidr_addr_parse(c->client, &c->ip) == 0;
    if (c->ip_valid && cidr_list_parse(&trusted, cfg->trusted_networks.v, cfg->trusted_networks.n, &err) == 0) {
        c->trusted = cidr_list_match(&trusted, &c->ip);
        cidr_list_free(&trusted);
    }
    c->skip = c->trusted || (c->sasl[0] && cfg->skip_authenticated);
    c->deadline = (req->arrived_ms ? req->arrived_ms : clock_now_ms()) + cfg->policy_check_timeout;
    verdict_init(&c->v);
    str_free(&err);
}

static void pol_ctx_free(struct pol_ctx *c)
{
    verdict_free(&c->v);
    str_free(&c->prepend);
    for (int i = 0; i < c->nlog; i++) {
        mem_free(c->log_k[i]);
        mem_free(c->log_v[i]);
    }
    c->nlog = 0;
}

/* The transaction's checks, once. */
static void pol_transaction(struct pol_ctx *c, str *refuse, str *once)
{
    const struct config *cfg = c->cfg;
    struct sender_check *sc = NULL;
    struct pol_dnsbl d;

    memset(&d, 0, sizeof(d));
    if (c->skip)
        pol_log(c, "skipped", "%s", c->trusted ? "trusted" : "authenticated");
    if (!pol_limits(c) && !c->skip) {
        /* Start every lookup, then wait: they overlap. */
        if (cfg->policy_sender_mode != CHECK_OFF)
            sc = sender_check_start(core_resolver(), c->sender);
        pol_dnsbl_start(c, &d, 1, 1);
        if (cfg->policy_spf_mode != CHECK_OFF)
            pol_spf(c);
        if (sc)
            pol_sender_finish(c, sc);
        pol_dnsbl_finish(c, &d, 1);
    }
    sender_check_free(sc);
    verdict_decide(&c->v);
    pol_reply(c, refuse, once);
    pol_log_verdict(c);
}

/* CONNECT and HELO: the DNS lists of what is known so far. */
static void pol_early(struct pol_ctx *c, int helo, str *action)
{
    struct pol_dnsbl d;
    str refuse = STR_INIT, once = STR_INIT;

    if (c->skip)
        pol_log(c, "skipped", "%s", c->trusted ? "trusted" : "authenticated");
    pol_dnsbl_start(c, &d, helo, 0);
    pol_dnsbl_finish(c, &d, 0);
    verdict_decide(&c->v);
    pol_reply(c, &refuse, &once);
    pol_log_verdict(c);
    /* A tag or hold waits for the transaction: here there is no message yet. */
    str_adds(action, refuse.len ? str_cstr(&refuse) : "DUNNO");
    str_free(&refuse);
    str_free(&once);
}

/*
 * The connection's key: client address and port, HELO name and sender.
 * It tells one connection's transaction from another's, not one
 * transaction from the next on the same connection (see pol_key).
 */
static void pol_conn_key(const struct pol_ctx *c, str *key)
{
    str_addf(key, "c:%s\n%s\n%s\n%s", c->client, policy_attr(c->req, "client_port"), c->helo, c->sender);
}

/*
 * The transaction's key, and the key of one it may take over (left
 * empty if none). Postfix sets instance only once the MAIL restrictions
 * have passed, so a MAIL request has none: it always begins a new
 * transaction (the next MAIL on a connection is the next message), filed
 * under the connection's key. The first RCPT or DATA request with an
 * instance takes that evaluation over (same client, port, HELO and
 * sender): the MAIL answer already carried its action, counts and header.
 * A RCPT or DATA request without an instance (no Postfix sends one)
 * shares the connection's.
 */
static void pol_key(const struct pol_ctx *c, int mail, str *key, str *adopt)
{
    const char *instance = policy_attr(c->req, "instance");

    if (mail || instance[0] == '\0') {
        pol_conn_key(c, key);
    } else {
        str_addf(key, "i:%s", instance);
        pol_conn_key(c, adopt);
    }
}

void policy_decide(const struct policy_request *req, str *action, struct log_line *line)
{
    struct config *cfg = config_current();
    const char *state = policy_attr(req, "protocol_state");
    const char *request = policy_attr(req, "request");
    struct pol_ctx c;
    str sender = STR_INIT;
    int cached = 0;

    str_adds(action, "action=");
    if (strcmp(request, "smtpd_access_policy") != 0) {
        log_line_add(line, "request", request);
        str_adds(action, "DUNNO");
        config_unref(cfg);
        return;
    }
    pol_ctx_init(&c, cfg, req, &sender);
    if (ascii_casecmp(state, "CONNECT") == 0) {
        pol_early(&c, 0, action);
    } else if (ascii_casecmp(state, "EHLO") == 0 || ascii_casecmp(state, "HELO") == 0) {
        pol_early(&c, 1, action);
    } else if (ascii_casecmp(state, "MAIL") == 0 || ascii_casecmp(state, "RCPT") == 0
               || ascii_casecmp(state, "DATA") == 0) {
        str key = STR_INIT, adopt = STR_INIT, reply = STR_INIT;
        int mail = ascii_casecmp(state, "MAIL") == 0, fresh;
        struct ptxn *t;

        pol_key(&c, mail, &key, &adopt);
        t = ptxn_begin(str_cstr(&key), adopt.len ? str_cstr(&adopt) : NULL, mail, cfg->policy_cache_time,
                       c.deadline, &fresh);
        if (fresh) {
            str refuse = STR_INIT, once = STR_INIT;

            pol_transaction(&c, &refuse, &once);
            pthread_mutex_lock(&ps.lock);
            str_add(&t->refuse, refuse.data, refuse.len);
            str_add(&t->once, once.data, once.len);
            for (int i = 0; i < c.nlog; i++) {
                t->log_k[i] = mem_strdup(c.log_k[i]);
                t->log_v[i] = mem_strdup(c.log_v[i]);
            }
            t->nlog = c.nlog;
            t->done = 1;
            pthread_cond_broadcast(&ps.cond);
            pthread_mutex_unlock(&ps.lock);
            str_free(&refuse);
            str_free(&once);
        } else {
            cached = 1;
            pthread_mutex_lock(&ps.lock);
            for (int i = 0; i < t->nlog; i++)
                log_line_add(line, t->log_k[i], t->log_v[i]);
            pthread_mutex_unlock(&ps.lock);
        }
        pthread_mutex_lock(&ps.lock);
        str_add(&reply, t->refuse.data, t->refuse.len);
        pthread_mutex_unlock(&ps.lock);
        if (reply.len == 0 && ascii_casecmp(state, "RCPT") == 0 && pol_recipient_limit(&c)) {
            /* This recipient only: the transaction's once-only action waits for one that is taken. */
            verdict_decide(&c.v);
            pol_reply(&c, &reply, &reply);
        }
        if (reply.len == 0) {
            pthread_mutex_lock(&ps.lock);
            str_add(&reply, t->once.data, t->once.len);
            str_reset(&t->once);
            pthread_mutex_unlock(&ps.lock);
        }
        str_adds(action, reply.len ? str_cstr(&reply) : "DUNNO");
        ptxn_release(t);
        str_free(&key);
        str_free(&adopt);
        str_free(&reply);
        if (cached)
            log_line_add(line, "cached", "yes");
    } else {
        str_adds(action, "DUNNO");
    }
    for (int i = 0; i < c.nlog; i++)
        log_line_add(line, c.log_k[i], c.log_v[i]);
    pol_ctx_free(&c);
    str_free(&sender);
    config_unref(cfg);
}

/* ---------------------------------------------------------------- control */

void policy_checks_status(str *out)
{
    int n;

    pthread_mutex_lock(&ps.lock);
    n = ps.n;
    pthread_mutex_unlock(&ps.lock);
    str_addf(out, "ratelimit_backend=%s transactions=%d handoff=%d\n",
             ps.rl ? ratelimit_backend_name(ps.rl) : "none", n, handoff_count());
}

/* One control command: "ratelimit list [PATTERN]", "ratelimit reset PATTERN", "status". */
void policy_control_command(const char *cmd, str *out)
{
    char *words[4] = { 0 };
    char *copy = mem_strdup(cmd), *save = NULL;
    int n = 0;
    str err = STR_INIT;

    for (char *w = strtok_r(copy, " \t\r\n", &save); w && n < 4; w = strtok_r(NULL, " \t\r\n", &save))
        words[n++] = w;
    if (n == 1 && strcmp(words[0], "status") == 0) {
        policy_checks_status(out);
    } else if (n >= 2 && n <= 3 && strcmp(words[0], "ratelimit") == 0 && strcmp(words[1], "list") == 0) {
        struct ratelimit_entry *e = NULL;
        int k = ps.rl ? ratelimit_list(ps.rl, n == 3 ? words[2] : NULL, ratelimit_now_ms(), &e, &err) : 0;

        if (k < 0) {
            str_addf(out, "error: %s\n", str_cstr(&err));
        } else {
            for (int i = 0; i < k; i++) {
                str win = STR_INIT;

                pol_duration(&win, e[i].window_ms);
                str_add_escaped(out, e[i].key, (ssize_t) strlen(e[i].key), RATELIMIT_MAX_KEY);
                str_addf(out, " %lld per %s\n", (long long) e[i].count, str_cstr(&win));
                str_free(&win);
            }
            ratelimit_entries_free(e, k);
        }
    } else if (n == 3 && strcmp(words[0], "ratelimit") == 0 && strcmp(words[1], "reset") == 0) {
        int k = ps.rl ? ratelimit_reset(ps.rl, words[2], &err) : 0;

        if (k < 0)
            str_addf(out, "error: %s\n", str_cstr(&err));
        else {
            str_addf(out, "reset %d\n", k);
            log_notice("policy: rate-limit counters reset by control command: %s (%d)", words[2], k);
        }
    } else {
        str_adds(out, "error: unknown command; use: status | ratelimit list [PATTERN] | ratelimit reset PATTERN\n");
    }
    mem_free(copy);
    str_free(&err);
}
