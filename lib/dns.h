/*
 * dns.h - the one DNS resolver every check uses.
 *
 * A caller starts queries (dns_start), does other work, and collects the
 * answers (dns_wait) before a deadline; dns_lookup() is the blocking
 * convenience for one query. The resolver behind it is a backend: the real
 * one wraps libunbound (dns_unbound_new), the test double answers from an
 * in-memory table (dns_fixture_new). Checks never know which.
 */
#ifndef RAMPART_DNS_H
#define RAMPART_DNS_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

/* RR types rampart asks for (values as on the wire). */
enum {
    DNS_T_A = 1,
    DNS_T_NS = 2,
    DNS_T_CNAME = 5,
    DNS_T_SOA = 6,
    DNS_T_PTR = 12,
    DNS_T_MX = 15,
    DNS_T_TXT = 16,
    DNS_T_AAAA = 28,
};

/* What became of a query. */
enum dns_status {
    DNS_ANSWER,     /* records in rr[] (count >= 1) */
    DNS_NXDOMAIN,   /* the name does not exist */
    DNS_NODATA,     /* the name exists, no records of this type */
    DNS_TEMPFAIL,   /* SERVFAIL, REFUSED, timeout, DNSSEC bogus: try again later */
    DNS_BADANSWER,  /* an answer that cannot be used: malformed, over limits, bad query name */
};

enum dns_secure {
    DNS_SEC_INSECURE, /* not validated, or no trust anchor covers it */
    DNS_SEC_SECURE,   /* validated by DNSSEC */
    DNS_SEC_BOGUS,    /* validation failed (status is then DNS_TEMPFAIL) */
};

/* One resource record, parsed. */
struct dns_rr {
    uint16_t type;
    uint32_t ttl;
    union {
        struct in_addr a;
        struct in6_addr aaaa;
        struct {
            uint16_t pref;
            char *host;       /* exchange, no trailing dot; "" for a null MX "." */
        } mx;
        char *name;           /* PTR, CNAME, NS target; no trailing dot */
        struct {
            char *data;       /* character-strings joined with no separator; NUL-terminated */
            ssize_t len;      /* may contain NUL bytes: len is the truth */
        } txt;
    } u;
};

/* The answer to one query; owned by its query (or by the caller of dns_lookup). */
struct dns_answer {
    char *qname;
    uint16_t qtype;
    enum dns_status status;
    int rcode;                /* DNS rcode as received, or -1 if none (timeout) */
    uint32_t ttl;             /* smallest TTL of the answer (negative TTL for NXDOMAIN/NODATA) */
    enum dns_secure secure;
    int timed_out;            /* status is DNS_TEMPFAIL because no answer came in time */
    const char *why;          /* static text for TEMPFAIL/BADANSWER, or NULL */
    int count;
    struct dns_rr *rr;
};

/* Limits applied to every answer (a longer or larger one is DNS_BADANSWER). */
#define DNS_MAX_RRS 64            /* records per answer */
#define DNS_MAX_TXT_LEN 4096      /* bytes of one joined TXT record */
#define DNS_MAX_NAME_LEN 253      /* characters of a name, without the trailing dot */

/* Counters, for the metrics and the summary line. Read with dns_stats_get. */
struct dns_stats {
    uint64_t queries;
    uint64_t answers;
    uint64_t nxdomain;
    uint64_t nodata;
    uint64_t tempfail;
    uint64_t timeouts;
    uint64_t badanswer;
    uint64_t cache_hits;      /* answers that came back without a network round trip */
};

struct dns_resolver;
struct dns_query;

/*
 * Backend contract. start() begins resolving q and arranges for exactly one
 * dns_query_done(q, answer) later, from any thread (answer may be NULL after
 * a successful cancel). cancel() is best effort: called when nobody waits
 * for q any more. destroy() frees the backend after all queries are done.
 */
struct dns_backend_ops {
    void (*start)(struct dns_resolver *r, struct dns_query *q);
    void (*cancel)(struct dns_resolver *r, struct dns_query *q);
    void (*destroy)(struct dns_resolver *r);
};

/* Start a query; never fails (a bad name gives a DNS_BADANSWER answer). */
struct dns_query *dns_start(struct dns_resolver *r, const char *name, uint16_t qtype);

/*
 * Wait for the answer until deadline_ms (absolute, clock_now_ms()); 0 means
 * the resolver's per-query timeout from when the query started. Always
 * returns an answer: on timeout a DNS_TEMPFAIL one with timed_out set.
 * The answer stays owned by q.
 */
const struct dns_answer *dns_wait(struct dns_query *q, int64_t deadline_ms);

/* Wait for several queries against one deadline. */
void dns_wait_all(struct dns_query **qs, int n, int64_t deadline_ms);

/* The answer if already there, else NULL; never blocks. */
const struct dns_answer *dns_peek(struct dns_query *q);

/* Release a query, waited for or not. NULL is allowed. */
void dns_query_free(struct dns_query *q);

/* Start, wait (per-query timeout) and detach the answer; free with dns_answer_free. */
struct dns_answer *dns_lookup(struct dns_resolver *r, const char *name, uint16_t qtype);

void dns_answer_free(struct dns_answer *a);
/* A deep copy of an answer (free with dns_answer_free). */
struct dns_answer *dns_answer_copy(const struct dns_answer *a);

/* A name (without trailing dot) that may be asked: length, label lengths, no empty labels. */
int dns_name_valid(const char *name);

const char *dns_status_name(enum dns_status s);
const char *dns_type_name(uint16_t type);

/* Per-query timeout in milliseconds used when dns_wait gets deadline 0. */
void dns_set_timeout(struct dns_resolver *r, int timeout_ms);
int dns_get_timeout(const struct dns_resolver *r);

void dns_stats_get(struct dns_resolver *r, struct dns_stats *out);

/* Stop a resolver and free it; no query may be outstanding. */
void dns_resolver_free(struct dns_resolver *r);

/* --- for backends --- */

/* The resolver object every backend embeds first. */
struct dns_resolver {
    const struct dns_backend_ops *ops;
    int timeout_ms;
    struct dns_stats stats;   /* updated with atomic builtins */
};

void dns_resolver_init(struct dns_resolver *r, const struct dns_backend_ops *ops);
const char *dns_query_name(const struct dns_query *q);
uint16_t dns_query_type(const struct dns_query *q);
void *dns_query_backend_data(const struct dns_query *q);
void dns_query_set_backend_data(struct dns_query *q, void *data);
void dns_query_done(struct dns_query *q, struct dns_answer *a);
void dns_stats_count(struct dns_resolver *r, const struct dns_answer *a);

/* Build answers (backends, fixtures). */
struct dns_answer *dns_answer_new(const char *qname, uint16_t qtype, enum dns_status status);
struct dns_rr *dns_answer_add_rr(struct dns_answer *a, uint16_t type, uint32_t ttl);
/* Parse presentation-form rdata ("192.0.2.1", "10 mx.example", TXT text as is); -1 if bad. */
int dns_answer_add_text(struct dns_answer *a, uint16_t type, uint32_t ttl, const char *text, ssize_t len);

/* --- backends --- */

/* The in-memory test double. Names compare case-insensitively. */
struct dns_resolver *dns_fixture_new(void);
/* Add one record; a name with records of some type answers NODATA for the others. */
int dns_fixture_add(struct dns_resolver *r, const char *name, uint16_t type, const char *rdata);
/* Add a TXT record whose rdata may contain NUL bytes. */
void dns_fixture_add_txt(struct dns_resolver *r, const char *name, const char *data, ssize_t len);
/* Make (name, type) fail: DNS_TEMPFAIL (SERVFAIL), DNS_BADANSWER, or timeout when timeout is set. */
void dns_fixture_fail(struct dns_resolver *r, const char *name, uint16_t type, enum dns_status status, int timeout);
/* Number of queries asked so far (all names). */
int dns_fixture_queries(struct dns_resolver *r);
/* Forget every record and counter. */
void dns_fixture_clear(struct dns_resolver *r);

#endif
