/*
 * dnsbl.h - DNS block and allow lists: client address, domains, URL hosts.
 *
 * Set up once from the configuration (dnsbl_new), shared by every thread;
 * per transaction a dnsbl_check starts lookups as soon as an identity is
 * known (client address at connect, HELO, MAIL FROM, From, URL hosts at
 * end of body), all lists in parallel, and collects them against the
 * message's DNS deadline into a result: a score (sum of list weights,
 * negative for allow lists), the hits, and how many answers were unknown.
 * The caller compares the score with its thresholds; this module decides
 * no action.
 *
 * List entries (one configuration word each), after Postfix's
 * postscreen_dnsbl_sites:
 *
 *     [kind[+kind...]:]zone[=filter|&mask][*weight]
 *
 *   kind    ip (default), helo, mailfrom, from, client_name, uri, uri_ip;
 *           "domain" = helo+mailfrom+from+client_name
 *   filter  =d.d.d.d where each d is a number or [n;n..m;...] (Postfix),
 *           e.g. =127.0.0.2  =127.0.0.[2..11]  =127.0.[0..255].[2;4;8]
 *   mask    &0x04 or &4: listed when (answer & mask) != 0, the answer
 *           read as a 32-bit number (so small masks test the last octet)
 *   weight  an integer, default 1; negative for allow lists (DNSWL)
 *
 * Local list files ([kind[+kind...]:]path; default kinds ip+domain) hold
 * CIDR networks and domain names, are checked before DNS and re-read when
 * they change; see dnsbl.c.
 */
#ifndef RAMPART_DNSBL_H
#define RAMPART_DNSBL_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "dns.h"
#include "str.h"
#include "uri.h"

/* Which identity a list is asked about. */
enum dnsbl_kind {
    DNSBL_IP = 1 << 0,           /* the client's address */
    DNSBL_HELO = 1 << 1,         /* the HELO/EHLO name */
    DNSBL_MAILFROM = 1 << 2,     /* the MAIL FROM domain */
    DNSBL_FROM = 1 << 3,         /* the From header's domain */
    DNSBL_CLIENT_NAME = 1 << 4,  /* the client's verified host name */
    DNSBL_URI = 1 << 5,          /* host names of URLs in the body */
    DNSBL_URI_IP = 1 << 6,       /* addresses of URLs in the body */
};
#define DNSBL_DOMAIN_KINDS (DNSBL_HELO | DNSBL_MAILFROM | DNSBL_FROM | DNSBL_CLIENT_NAME)
#define DNSBL_ALL_KINDS 0x7f

/* A return-code filter. */
enum dnsbl_filter_type { DNSBL_FILTER_ANY, DNSBL_FILTER_OCTETS, DNSBL_FILTER_MASK };

struct dnsbl_filter {
    enum dnsbl_filter_type type;
    uint32_t mask;               /* MASK */
    uint8_t octet[4][32];        /* OCTETS: a bitmap of the values allowed per octet */
};

/* One parsed list entry. */
struct dnsbl_spec {
    char *zone;                  /* lower case, no trailing dot */
    unsigned kinds;              /* DNSBL_* bits */
    struct dnsbl_filter filter;
    int weight;
    char *text;                  /* the entry as written */
};

#define DNSBL_MAX_WEIGHT 100000

/*
 * Parse one list entry. On error returns -1 and appends one line to err
 * naming the entry and what is wrong with it; out is then empty.
 */
int dnsbl_spec_parse(const char *text, struct dnsbl_spec *out, str *err);
void dnsbl_spec_clear(struct dnsbl_spec *s);
/* Does the answer addr (network order) pass the filter? */
int dnsbl_filter_match(const struct dnsbl_filter *f, struct in_addr addr);
/* Parse "ip+helo" style kind names into DNSBL_* bits; -1 if a name is unknown. */
int dnsbl_kinds_parse(const char *text, ssize_t len, unsigned *kinds);
/* "ip", "helo", ... for one kind bit. */
const char *dnsbl_kind_name(unsigned kind);

/*
 * The DNS name for an address: "2.0.0.192" for 192.0.2.1, 32 nibbles for
 * IPv6 (RFC 5782); an IPv4-mapped IPv6 address counts as IPv4. Accepts
 * what cidr_addr_parse accepts ("[...]" and "IPv6:" forms too). Returns 4
 * or 6, or 0 (out empty) if addr is not an address.
 */
int dnsbl_reverse_ip(const char *addr, str *out);

/* Configuration, filled by the caller. Zero fields take the defaults. */
struct dnsbl_options {
    const char *const *sites;    /* list entries (see above) */
    int n_sites;
    const char *const *local_block;  /* [kinds:]path of local block files */
    int n_local_block;
    const char *const *local_allow;  /* [kinds:]path of local allow files */
    int n_local_allow;
    const char *public_suffix_file;  /* NULL/"": built-in table of common suffixes */
    const char *const *no_testpoints;    /* zones that implement no RFC 5782 test points */
    int n_no_testpoints;
    int uri_max_names;           /* distinct URL names looked up per message (100) */
    int fetch_txt;               /* ask TXT for listed names (an extra round trip) */
    int broken_error_percent;    /* error share that marks a list broken (50) */
    int broken_min_answers;      /* ... over at least this many answers (20) */
    int64_t local_check_interval_ms; /* how often a local file's mtime is looked at (1000; -1 = always) */
    int64_t log_interval_ms;     /* one error line per list per interval (60000) */
};

#define DNSBL_DEFAULT_URI_MAX_NAMES 100
#define DNSBL_DEFAULT_ERROR_PERCENT 50
#define DNSBL_DEFAULT_MIN_ANSWERS 20
#define DNSBL_DEFAULT_LOCAL_CHECK_MS 1000
#define DNSBL_DEFAULT_LOG_INTERVAL_MS 60000
#define DNSBL_MAX_CODES 8            /* answer codes kept per hit */
#define DNSBL_MAX_TXT 255            /* bytes of TXT reason kept */

struct dnsbl;

/*
 * Build the lists from options. Returns NULL and one line per problem in
 * err if an entry does not parse or a local file or suffix list cannot be
 * read. The result is shared (reference counted, thread-safe).
 */
struct dnsbl *dnsbl_new(const struct dnsbl_options *o, str *err);
struct dnsbl *dnsbl_ref(struct dnsbl *d);
void dnsbl_unref(struct dnsbl *d);
/* Number of list entries, and entry i. */
int dnsbl_count(const struct dnsbl *d);
const struct dnsbl_spec *dnsbl_entry(const struct dnsbl *d, int i);
/* The suffix table in use (for callers that want registered domains too). */
const struct uri_psl *dnsbl_psl(const struct dnsbl *d);

/* --- list health --- */

enum dnsbl_health {
    DNSBL_HEALTH_OK,             /* test points right (or not checked yet) */
    DNSBL_HEALTH_NO_TESTPOINT,   /* the "listed" test point is not listed: zone dead or wrong */
    DNSBL_HEALTH_LISTS_ALL,      /* the "not listed" test point is listed: the list answers everything */
    DNSBL_HEALTH_REFUSED,        /* test points answered with error codes (query refused) */
    DNSBL_HEALTH_ERRORS,         /* too many error answers in traffic */
};

struct dnsbl_zone_status {
    const char *zone;
    unsigned kinds;              /* union of its entries' kinds */
    int broken;
    enum dnsbl_health health;    /* why broken (or OK) */
    int ipv6_testpoint;          /* ::FFFF:7F00:2 listed at the last check (-1 not checked) */
    uint64_t queries;            /* answers counted (not skipped) */
    uint64_t listed;
    uint64_t errors;             /* refused codes, answers outside 127/8, malformed, SERVFAIL */
    uint64_t timeouts;
    uint64_t broken_count;       /* times it was marked broken */
};

/*
 * Check every zone's RFC 5782 test points, all in parallel, until
 * deadline_ms (absolute; 0 = the resolver's timeout). IP zones: 127.0.0.2
 * (or, for an IPv6-only list, ::FFFF:7F00:2) must be listed, 127.0.0.1 and
 * ::FFFF:7F00:1 not; domain and URI zones: "test" listed, "invalid" not;
 * zones in no_testpoints are not asked. A zone that fails is marked broken (logged
 * once, counted) and skipped by every check until a later health check
 * passes; a zone without any answer keeps its state. Also resets the
 * error-share window. Run it at start and then periodically (every few
 * minutes); thread-safe. Returns the number of zones broken afterwards.
 */
int dnsbl_health_check(struct dnsbl *d, struct dns_resolver *r, int64_t deadline_ms);
int dnsbl_zone_count(const struct dnsbl *d);
void dnsbl_zone_status(struct dnsbl *d, int i, struct dnsbl_zone_status *out);
const char *dnsbl_health_name(enum dnsbl_health h);

/* --- one transaction --- */

enum dnsbl_local { DNSBL_LOCAL_NONE, DNSBL_LOCAL_ALLOW, DNSBL_LOCAL_BLOCK };

struct dnsbl_hit {
    const char *list;            /* the zone, or the local file's path */
    const struct dnsbl_spec *spec;  /* the entry; NULL for a local hit */
    enum dnsbl_kind kind;        /* the identity that hit */
    char *identity;              /* normalised address, domain or URL host */
    char *qname;                 /* name asked; NULL for a local hit */
    int ncodes;
    struct in_addr codes[DNSBL_MAX_CODES];  /* codes that passed the filter */
    int weight;                  /* what this hit adds to the score */
    char *txt;                   /* TXT reason (printable ASCII) or NULL */
    enum dnsbl_local local;      /* NONE for a DNS hit */
    int more;                    /* further names of the same kind that hit this entry (not scored) */
};

struct dnsbl_result {
    int score;                   /* sum of the hits' weights */
    enum dnsbl_local local;      /* a local file decided: ALLOW wins over BLOCK */
    int nhits;
    struct dnsbl_hit *hits;
    int queries;                 /* DNS queries asked */
    int unknown;                 /* names with no usable answer (timeout, SERVFAIL, errors) */
    int errors;                  /* of which error answers */
    int skipped;                 /* entries not asked because their zone is broken */
    int invalid;                 /* identities not looked up (bad or literal names) */
};

struct dnsbl_check;

/* A check for one transaction; holds a reference on d. */
struct dnsbl_check *dnsbl_check_new(struct dnsbl *d, struct dns_resolver *r);
/*
 * Start looking up an identity. Each checks the local files first; a
 * local hit stops further DNS lookups for this check. Returns the number
 * of DNS queries started, or -1 if the identity is not usable (counted as
 * invalid): not an address; a HELO address literal, a single-label or
 * overlong name. dnsbl_check_domain accepts "local@domain" too.
 */
int dnsbl_check_ip(struct dnsbl_check *c, const char *addr);
int dnsbl_check_domain(struct dnsbl_check *c, enum dnsbl_kind kind, const char *domain);
/*
 * URL hosts: each host and its registered domain, at most uri_max_names
 * distinct names; hosts in a local allow file are not looked up, a host
 * in a local block file is a local block.
 */
int dnsbl_check_uris(struct dnsbl_check *c, const struct uri_parser *p);
/*
 * Wait for every query started so far, until deadline_ms (absolute, of
 * clock_now_ms(); 0 = the resolver's per-query timeout), and add them to
 * the result. An answer not in by then is unknown, never listed. May be
 * called again after more identities were started; the result is
 * cumulative and owned by c.
 */
const struct dnsbl_result *dnsbl_check_collect(struct dnsbl_check *c, int64_t deadline_ms);
void dnsbl_check_free(struct dnsbl_check *c);

/* --- scoring and rendering --- */

struct dnsbl_thresholds {
    int tag;                     /* 0 = off */
    int quarantine;
    int reject;
};

enum dnsbl_level { DNSBL_LEVEL_NONE, DNSBL_LEVEL_TAG, DNSBL_LEVEL_QUARANTINE, DNSBL_LEVEL_REJECT };

/* The highest threshold that score reaches (score >= threshold). */
enum dnsbl_level dnsbl_score_level(int score, const struct dnsbl_thresholds *t);
const char *dnsbl_level_name(enum dnsbl_level l);

/*
 * Append a compact, header-safe text of the hits to out:
 * "bl.test=127.0.0.2(+5) dbl.test:mailfrom=127.0.1.2(+3) local:ip=allow"
 * (printable ASCII only, no identities, at most max bytes with "..." if
 * cut; max <= 0 means 900). Nothing is appended if there are no hits.
 */
void dnsbl_render(const struct dnsbl_result *r, str *out, ssize_t max);
/* The same with the identities and TXT reasons, escaped: for the log line. */
void dnsbl_render_log(const struct dnsbl_result *r, str *out);

#endif
