/*
 * spf.h - SPF (RFC 7208) for the MAIL FROM and HELO identities.
 *
 * A check takes the client address, the HELO name and the envelope sender
 * (struct spf_request), a resolver and options, and returns one of the
 * seven RFC 7208 results with what explains it (struct spf_result). It
 * decides no action and formats no SMTP reply; spf_received_spf() renders
 * the RFC 7208 9.1 Received-SPF value for whoever adds the header.
 *
 * Two engines answer the same interface: rampart's own evaluator on
 * lib/dns (the default), and Debian's libspf2 with its DNS routed through
 * the same resolver (spf_libspf2.c), for admins who want the library the
 * ecosystem knows. Pick one with spf_options.engine.
 */
#ifndef RAMPART_SPF_H
#define RAMPART_SPF_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "dns.h"
#include "str.h"

/* The results of RFC 7208 section 2.6. */
enum spf_status {
    SPF_STATUS_NONE,
    SPF_STATUS_NEUTRAL,
    SPF_STATUS_PASS,
    SPF_STATUS_FAIL,
    SPF_STATUS_SOFTFAIL,
    SPF_STATUS_TEMPERROR,
    SPF_STATUS_PERMERROR,
};

/* Which identity was checked (RFC 7208 section 2.3, 2.4). */
enum spf_identity {
    SPF_IDENTITY_MAILFROM,
    SPF_IDENTITY_HELO,
};

enum spf_engine {
    SPF_ENGINE_RAMPART,     /* rampart's own RFC 7208 evaluator */
    SPF_ENGINE_LIBSPF2,     /* libspf2 1.2.10 through lib/dns; always passes 127.0.0.0/8
                               and ::1, and deviates from RFC 7208: see spf_libspf2.c */
};

/* What a check looks at. The strings are borrowed for the call only. */
struct spf_request {
    int family;               /* AF_INET or AF_INET6 */
    struct in_addr addr4;     /* the client, when family is AF_INET */
    struct in6_addr addr6;    /* the client, when AF_INET6; IPv4-mapped is checked as IPv4 */
    const char *helo;         /* HELO/EHLO argument, or NULL */
    const char *mail_from;    /* MAIL FROM address without <>; "" for the null sender */
    const char *receiver;     /* our host name, for %{r} and Received-SPF; NULL: "unknown" */
};

/* Defaults of the spf_* parameters (rampart.conf names in the comments). */
#define DEF_SPF_MAX_DNS_MECHANISMS 10       /* spf_max_dns_mechanisms, RFC 7208 4.6.4 */
#define DEF_SPF_MAX_VOID_LOOKUPS 2          /* spf_max_void_lookups, RFC 7208 4.6.4 */
#define DEF_SPF_TIMEOUT_MS 20000            /* spf_timeout: one whole check (RFC: >= 20 s) */
#define DEF_SPF_MAX_EXPANSION_SIZE 8192     /* spf_max_expansion_size: bytes of one expansion */
#define DEF_SPF_MAX_EXPLANATION_SIZE 512    /* spf_max_explanation_size: bytes kept */

/* Limits that are not configurable. */
#define SPF_MAX_MX_NAMES 10       /* MX names looked up per mx mechanism (4.6.4) */
#define SPF_MAX_PTR_NAMES 10      /* PTR names looked at per ptr mechanism / %{p} (4.6.4) */
#define SPF_MAX_DEPTH 32          /* include/redirect nesting, whatever the lookup limit */

/* Options; a number left at 0 takes its default. */
struct spf_options {
    enum spf_engine engine;
    int max_dns_mechanisms;   /* include a mx ptr exists redirect per check; over: permerror */
    int max_void_lookups;     /* NXDOMAIN / empty answers per check; over: permerror */
    int64_t deadline_ms;      /* absolute, on clock_now_ms(); 0: now + timeout_ms */
    int timeout_ms;           /* budget for the whole check when deadline_ms is 0 */
    int max_expansion_size;   /* a longer domain-spec expansion names nothing (no match) */
    int max_explanation_size; /* the explanation is cut there */
    const char *default_explanation; /* explain-string (macros allowed) for a fail without
                                        a usable exp=; NULL: no explanation */
};

/* What a check found. Strings are owned by the result (spf_result_free). */
struct spf_result {
    enum spf_status status;
    enum spf_identity identity;
    enum spf_engine engine;
    char *domain;             /* the domain checked: sender domain or HELO name */
    char *sender;             /* <sender> as evaluated, e.g. postmaster@HELO for MAIL FROM:<> */
    char *mechanism;          /* the term that matched ("-all", "include:x"), or NULL */
    char *explanation;        /* fail only: exp= text or the default, printable ASCII, or NULL */
    char *problem;            /* temperror/permerror: a short reason, or NULL */
    int dns_lookups;          /* DNS-querying terms counted against the limit */
    int void_lookups;         /* void lookups counted against the limit */
};

/* Fill opts with the defaults above (engine rampart, no default explanation). */
void spf_options_init(struct spf_options *opts);

/* Set req's client address from text (IPv4 or IPv6); -1 if it does not parse. */
int spf_request_set_ip(struct spf_request *req, const char *text);

/*
 * Check the MAIL FROM identity (RFC 7208 2.4; the null sender is checked
 * as postmaster@HELO). res is always filled and must be freed with
 * spf_result_free(); the return value is res->status. opts may be NULL
 * for the defaults.
 */
enum spf_status spf_check_mailfrom(struct dns_resolver *r, const struct spf_request *req,
                                   const struct spf_options *opts, struct spf_result *res);

/* Check the HELO identity (RFC 7208 2.3): <domain> is the HELO name. Same contract. */
enum spf_status spf_check_helo(struct dns_resolver *r, const struct spf_request *req,
                               const struct spf_options *opts, struct spf_result *res);

/* Release what a result owns; the result is zeroed. */
void spf_result_free(struct spf_result *res);

/* "pass", "fail", ... as in Received-SPF and Authentication-Results. */
const char *spf_status_name(enum spf_status s);
/* The status for a name (case-insensitive), or -1. */
int spf_status_from_name(const char *name);
/* "mailfrom" or "helo". */
const char *spf_identity_name(enum spf_identity id);
/* "rampart" or "libspf2". */
const char *spf_engine_name(enum spf_engine e);
/* The engine for a name, or -1. */
int spf_engine_from_name(const char *name);

/*
 * Append the value of a Received-SPF header field (RFC 7208 9.1) for res:
 * result, comment, client-ip, envelope-from, helo, receiver, identity,
 * mechanism and problem. Every value is sanitised (printable ASCII, quoted
 * when not a dot-atom, bounded). The text has no CR, and LF only in
 * folds: "\n\t" in place of the space before a "key=value;" pair that
 * would pass column 78 ("Received-SPF: " counted, a tab as 8 columns). The
 * result and its comment are never folded. A caller that needs one line
 * (the policy service's PREPEND action) unfolds it.
 */
void spf_received_spf(str *out, const struct spf_request *req, const struct spf_result *res);

/* --- macros (RFC 7208 section 7), spf_macro.c --- */

/* What a macro text may contain. */
#define SPF_MACRO_DOMAIN  1   /* a domain-spec: no c/r/t, must end in a macro or ".toplabel" */
#define SPF_MACRO_EXPLAIN 2   /* an explanation string: spaces and c/r/t allowed */

/* The values the macro letters stand for; strings may hold any bytes but NUL. */
struct spf_macro_env {
    const char *sender;       /* s */
    const char *local;        /* l */
    const char *sender_domain;/* o */
    const char *domain;       /* d: the current domain */
    const char *helo;         /* h */
    const char *receiver;     /* r */
    int family;               /* AF_INET or AF_INET6: i, c, v */
    const unsigned char *ip;  /* 4 or 16 bytes */
    /* p: a validated name of the client for domain, looked up on first use */
    const char *(*ptr_name)(void *arg, const char *domain);
    void *ptr_arg;
};

/* Check the syntax of a macro-string of len bytes; 0 if valid, -1 if not. */
int spf_macro_check(const char *text, ssize_t len, int flags);

/*
 * Expand a macro-string into out (appended). Returns 0, or -1 on a syntax
 * error, or -2 when the expansion would pass max bytes; with truncate set,
 * the output is cut at max and 0 is returned instead.
 */
int spf_macro_expand(const struct spf_macro_env *env, const char *text, ssize_t len, int flags,
                     ssize_t max, int truncate, str *out);

/*
 * Turn an expanded domain-spec into a query name in place: drop one
 * trailing dot, drop left labels until it fits 253 bytes (RFC 7208 7.3),
 * check label lengths. 0 if the result can be a name, -1 if not.
 */
int spf_name_finish(str *name);

/*
 * Write name in RFC 1035 (5.1) presentation form for lib/dns: bytes a
 * presentation name cannot carry literally (space, controls, 8-bit) and
 * '\' become \DDD; a macro may put such bytes into a name and RFC 7208
 * still asks for it. 0, or -1 if the result is not a name lib/dns would ask.
 * XXX: lib/dns reads names literally today (its libunbound backend doubles
 * '\'), so only these rare names are asked wrongly there: they come back
 * NXDOMAIN, a no-match. Ordinary names are passed through unchanged.
 */
int spf_name_escape(str *out, const char *name, ssize_t len);

/* True if domain can be checked at all (RFC 7208 4.3): labels, length, multi-label, ASCII. */
int spf_domain_checkable(const char *domain);

/* Append text made safe for an SMTP reply or a header: printable ASCII, cut at max. */
void spf_sanitize(str *out, const char *text, ssize_t len, ssize_t max);

/* --- the libspf2 engine, spf_libspf2.c (called by spf.c) --- */

/*
 * Evaluate with libspf2. req is normalised (IPv4-mapped already IPv4),
 * res has identity, domain and sender set and the domain passed
 * spf_domain_checkable(). Fills the rest of res and returns its status.
 */
enum spf_status spf_libspf2_check(struct dns_resolver *r, const struct spf_request *req,
                                  const struct spf_options *opts, struct spf_result *res);

#endif
