/*
 * dmarc.h - DMARC evaluation: RFC 9989 (the default) or RFC 7489.
 *
 * A message is evaluated in two steps so that DNS overlaps other work:
 * dmarc_begin() at end of headers parses the From field(s), settles the
 * Author Domain and starts its DMARC lookups; dmarc_finish() at end of
 * message takes the SPF and DKIM results (struct dmarc_auth, filled by the
 * caller from whatever computed them), finishes policy discovery and
 * Identifier Alignment, and fills a struct dmarc_result. The check decides
 * no action: the verdict engine maps the status (and, for a fail, the
 * disposition the Domain Owner asks for) to an action.
 *
 * RFC 9989: policy and Organizational Domain discovery by the DNS Tree
 * Walk (at most 8 queries per walk, psd=y|n|u), p/sp/np with the domain
 * existence test, t=y, pct/rf/ri ignored. RFC 7489 (option): _dmarc.<from>
 * then _dmarc.<org>, Organizational Domains from the Public Suffix List,
 * sp, pct sampled with a caller-supplied random source.
 */
#ifndef RAMPART_DMARC_H
#define RAMPART_DMARC_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "dns.h"
#include "msg.h"
#include "str.h"

/* Configuration names and defaults (see the documentation of each in dmarc.c). */
#define VAR_DMARC_SPEC "dmarc_spec"
#define DEF_DMARC_SPEC "rfc9989"                 /* or "rfc7489" */
#define VAR_DMARC_PSL_FILE "dmarc_public_suffix_list"
#define DEF_DMARC_PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat"
#define VAR_DMARC_TIMEOUT "dmarc_timeout"
#define DEF_DMARC_TIMEOUT_MS 10000               /* finishing one message's lookups */
#define VAR_DMARC_MAX_LOOKUPS "dmarc_max_lookups"
#define DEF_DMARC_MAX_LOOKUPS 32                 /* _dmarc TXT names per message */
#define VAR_DMARC_MAX_DKIM_SIGNATURES "dmarc_max_dkim_signatures"
#define DEF_DMARC_MAX_DKIM_SIGNATURES 10         /* DKIM results considered */
#define VAR_DMARC_MULTIPLE_AUTHOR_DOMAINS "dmarc_multiple_author_domains"
#define DEF_DMARC_MULTIPLE_AUTHOR_DOMAINS "bad_from"   /* or "evaluate" */
#define VAR_DMARC_PREFETCH "dmarc_prefetch"
#define DEF_DMARC_PREFETCH 1                     /* start all tree-walk queries at once */

/* Limits that are not configurable. */
#define DMARC_WALK_MAX_QUERIES 8        /* RFC 9989 4.10: queries per DNS Tree Walk */
#define DMARC_MAX_RECORD_LEN 2048       /* bytes of one record; longer is a permerror */
#define DMARC_MAX_TAGS 32               /* tags read per record; the rest are ignored */
#define DMARC_MAX_AUTHOR_DOMAINS 4      /* domains evaluated in "evaluate" mode */
#define DMARC_MAX_DKIM_SIGNATURES 64    /* upper bound for dmarc_max_dkim_signatures */
#define DMARC_MAX_REASON 512            /* bytes of reason text kept */

enum dmarc_spec {
    DMARC_SPEC_RFC9989,
    DMARC_SPEC_RFC7489,
};

/* SPF results as the SPF check gives them (RFC 7208 2.6). */
enum dmarc_spf_result {
    DMARC_SPF_NONE,
    DMARC_SPF_NEUTRAL,
    DMARC_SPF_PASS,
    DMARC_SPF_FAIL,
    DMARC_SPF_SOFTFAIL,
    DMARC_SPF_TEMPERROR,
    DMARC_SPF_PERMERROR,
};

/* DKIM results per signature (RFC 8601 2.7.1). */
enum dmarc_dkim_result {
    DMARC_DKIM_NONE,
    DMARC_DKIM_PASS,
    DMARC_DKIM_FAIL,
    DMARC_DKIM_NEUTRAL,
    DMARC_DKIM_POLICY,
    DMARC_DKIM_TEMPERROR,
    DMARC_DKIM_PERMERROR,
};

struct dmarc_spf_input {
    enum dmarc_spf_result result;
    const char *domain;         /* the domain SPF was evaluated for; NULL or "" if none */
};

struct dmarc_dkim_input {
    const char *domain;         /* d= */
    const char *selector;       /* s= (reports only) */
    enum dmarc_dkim_result result;
};

/*
 * What SPF and DKIM found. Only the MAIL FROM identity counts for DMARC;
 * for the null reverse-path (mailfrom.domain NULL or "") the MAIL FROM
 * identity is postmaster@<HELO> (RFC 7208 2.4), so helo is used instead.
 * Borrowed for the dmarc_finish() call only.
 */
struct dmarc_auth {
    struct dmarc_spf_input mailfrom;
    struct dmarc_spf_input helo;
    const struct dmarc_dkim_input *dkim;
    int n_dkim;
};

enum dmarc_status {
    DMARC_NONE,        /* no DMARC Policy Record applies */
    DMARC_PASS,
    DMARC_FAIL,
    DMARC_TEMPERROR,   /* a DNS lookup needed for a conclusion failed temporarily */
    DMARC_PERMERROR,   /* unusable record or answer; evaluation limit */
    DMARC_BAD_FROM,    /* not exactly one usable Author Domain (RFC 9989 5.3.1, 11.5) */
};

/* Why the From field(s) could not give one Author Domain. */
enum dmarc_from_problem {
    DMARC_FROM_OK,
    DMARC_FROM_MISSING,            /* no From field */
    DMARC_FROM_MULTIPLE_FIELDS,    /* more than one From field */
    DMARC_FROM_SYNTAX,             /* not an address list (incl. 8-bit junk, limits) */
    DMARC_FROM_NO_ADDRESS,         /* no mailbox (e.g. an empty group) */
    DMARC_FROM_NO_DOMAIN,          /* a mailbox without @domain */
    DMARC_FROM_BAD_DOMAIN,         /* domain literal, or not a usable DNS name */
    DMARC_FROM_MULTIPLE_DOMAINS,   /* several Author Domains (and not evaluated) */
};

enum dmarc_policy {
    DMARC_POLICY_UNSET,
    DMARC_POLICY_NONE,
    DMARC_POLICY_QUARANTINE,
    DMARC_POLICY_REJECT,
};

/* Which tag of the record gave the policy. */
enum dmarc_policy_tag {
    DMARC_TAG_NONE,
    DMARC_TAG_P,
    DMARC_TAG_SP,
    DMARC_TAG_NP,
};

struct dmarc_options {
    enum dmarc_spec spec;
    const char *psl_file;           /* RFC 7489 mode: Public Suffix List path */
    int timeout_ms;                 /* dmarc_finish waits at most this long in all */
    int max_lookups;                /* distinct _dmarc TXT names per message (>= 8) */
    int max_dkim_signatures;        /* DKIM results looked at (the first ones) */
    int evaluate_multiple_domains;  /* several Author Domains: evaluate each, strictest wins */
    int prefetch;                   /* start every name of a tree walk at once */
    /* Random source for pct= sampling (RFC 7489 mode); NULL: getrandom(2). */
    uint32_t (*random)(void *arg);
    void *random_arg;
};

/* One DKIM signature as reported. */
struct dmarc_dkim_report {
    char *domain;
    char *selector;
    enum dmarc_dkim_result result;
    int aligned;                    /* a passing signature aligned with the Author Domain */
};

struct dmarc_result {
    enum dmarc_status status;
    enum dmarc_from_problem from_problem;
    str reason;                     /* human text; untrusted bytes already escaped */
    str header_from;                /* the Author Domain (A-label, lowercase) */
    str policy_domain;              /* where the applied record was found; "" if none */
    str org_domain;                 /* Organizational Domain of the Author Domain */
    str record;                     /* the applied record, raw (escape before showing) */
    enum dmarc_policy p, sp, np;    /* as published (UNSET when absent or ignored) */
    enum dmarc_policy policy;       /* the policy that applies to this Author Domain */
    enum dmarc_policy_tag policy_tag;   /* which tag gave it */
    enum dmarc_policy disposition;  /* what the Domain Owner asks for this message:
                                       the policy after t=y / pct, NONE unless FAIL */
    enum dmarc_policy effective;    /* Authentication-Results policy.dmarc (RFC 9989 9.1):
                                       the policy after t=y, and for a fail after pct */
    int testing;                    /* t=y (RFC 9989) */
    int pct;                        /* RFC 7489 pct (100 default); -1 in RFC 9989 mode */
    int sampled_out;                /* RFC 7489: pct sampling lowered the disposition */
    char adkim, aspf;               /* 'r' or 's' */
    int author_exists;              /* 1, 0 (NXDOMAIN for A, AAAA and MX), -1 not tested */
    /* SPF identity used (MAIL FROM, or HELO for the null path) and its alignment */
    str spf_domain;
    enum dmarc_spf_result spf_result;
    int spf_helo;                   /* the identity was the HELO name */
    int spf_aligned;
    /* DKIM: every signature looked at, and whether one aligned */
    int n_dkim;
    struct dmarc_dkim_report *dkim;
    int dkim_aligned;
    int author_domains;             /* distinct Author Domains seen */
    int lookups;                    /* _dmarc TXT names asked for this message */
};

/* Fill o with the defaults above. */
void dmarc_options_default(struct dmarc_options *o);

struct dmarc_engine;
struct dmarc_eval;

/*
 * Set up from options (copied). RFC 7489 mode loads the Public Suffix List
 * into libopendmarc's process-global table: create engines only while no
 * evaluation runs. Returns NULL and sets err on error.
 */
struct dmarc_engine *dmarc_engine_new(const struct dmarc_options *o, str *err);
void dmarc_engine_free(struct dmarc_engine *e);

/*
 * Parse the From field values (all of them, in order: n_from may be 0 or
 * more than 1) and start the DMARC lookups for the Author Domain. lens[i]
 * is the length of values[i]. Never fails; a bad From is reported by
 * dmarc_finish. The engine and resolver must outlive the evaluation.
 */
struct dmarc_eval *dmarc_begin(const struct dmarc_engine *e, struct dns_resolver *r,
                               const char *const *values, const ssize_t *lens, int n_from);
/* The same, taking the From fields from a header list. */
struct dmarc_eval *dmarc_begin_headers(const struct dmarc_engine *e, struct dns_resolver *r,
                                       const struct msg_headers *hs);

/*
 * Finish: wait for the lookups (at most timeout_ms from now), evaluate and
 * fill res (initialised with dmarc_result_init). Returns res->status. Call
 * at most once per evaluation.
 */
enum dmarc_status dmarc_finish(struct dmarc_eval *ev, const struct dmarc_auth *auth,
                               struct dmarc_result *res);

/* Release an evaluation (finished or not); NULL is allowed. */
void dmarc_eval_free(struct dmarc_eval *ev);

void dmarc_result_init(struct dmarc_result *res);
void dmarc_result_free(struct dmarc_result *res);

/*
 * Append one aggregate-report line for a finished evaluation (format in
 * dmarc.c, "Aggregate-report lines"); no trailing newline. when is the
 * message's arrival time, client_ip the SMTP client address text (or NULL).
 */
void dmarc_report_line(const struct dmarc_result *res, time_t when, const char *client_ip, str *out);

const char *dmarc_status_name(enum dmarc_status s);        /* "pass", ..., "bad_from" */
const char *dmarc_policy_name(enum dmarc_policy p);        /* "none", ..., "-" when unset */
const char *dmarc_policy_tag_name(enum dmarc_policy_tag t);
const char *dmarc_from_problem_name(enum dmarc_from_problem f);
const char *dmarc_spf_result_name(enum dmarc_spf_result r);
const char *dmarc_dkim_result_name(enum dmarc_dkim_result r);
/* Parse "rfc9989" / "rfc7489"; -1 if neither. */
int dmarc_spec_from_name(const char *name, enum dmarc_spec *out);

/* Organizational Domain of domain under the engine's spec, without DNS
   (RFC 7489 mode only: PSL; RFC 9989 mode returns -1). For tools and tests. */
int dmarc_psl_org_domain(const struct dmarc_engine *e, const char *domain, str *out);

#endif
