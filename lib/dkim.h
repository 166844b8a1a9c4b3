/*
 * dkim.h - DKIM verification (RFC 6376, RFC 8463 Ed25519-SHA256, RFC 8301)
 * of every DKIM-Signature of a message, with libopendkim; the keys come
 * from lib/dns.
 *
 * The work follows the message as the milter sees it:
 *
 *   dkim_msg_start()   at end of headers: parses every DKIM-Signature,
 *                      decides which ones are worth verifying and starts
 *                      their key lookups, so DNS runs while the body comes in;
 *   dkim_msg_body()    any number of times, the body as it arrives, with
 *                      CRLF line ends as Postfix sends it (bare LF only
 *                      if dkim_startup() was asked to repair it), hashed
 *                      once, never kept;
 *   dkim_msg_finish()  at end of message: waits for the keys (until the
 *                      message's DNS deadline), verifies, returns one result
 *                      per DKIM-Signature field.
 *
 * The check decides no action and formats no header: the results carry
 * what Authentication-Results (RFC 8601 2.7.1, RFC 6008) and DMARC need.
 * Call dkim_startup() once per process before any message, from the main
 * thread; messages may then run in any number of threads.
 */
#ifndef RAMPART_DKIM_H
#define RAMPART_DKIM_H

#include <stdint.h>
#include <sys/types.h>

#include "dns.h"
#include "msg.h"

/* RFC 8601 2.7.1 results. NONE is a message-level result only (no signature). */
enum dkim_result {
    DKIM_RESULT_NONE,
    DKIM_RESULT_PASS,       /* signature and body hash verified, key acceptable */
    DKIM_RESULT_FAIL,       /* verification failed (or rsa-sha1 refused, RFC 8301) */
    DKIM_RESULT_NEUTRAL,    /* the signature has syntax errors: nothing to verify */
    DKIM_RESULT_POLICY,     /* verified or not, not acceptable here (key size,
                               l=, over the per-message limit) */
    DKIM_RESULT_TEMPERROR,  /* key lookup timed out or SERVFAIL: try again later */
    DKIM_RESULT_PERMERROR,  /* no key, unusable key record, expired, future t= */
};

/* Signature algorithms (a=). */
enum dkim_alg {
    DKIM_ALG_UNKNOWN,
    DKIM_ALG_RSA_SHA1,
    DKIM_ALG_RSA_SHA256,
    DKIM_ALG_ED25519_SHA256,
};

/* Configuration names, defaults and units (see conf/rampart.conf). */
#define VAR_DKIM_ALLOW_SHA1 "dkim_allow_sha1"
#define DEF_DKIM_ALLOW_SHA1 0               /* RFC 8301 3.1: rsa-sha1 must not pass */
#define VAR_DKIM_MIN_RSA_BITS "dkim_min_rsa_bits"
#define DEF_DKIM_MIN_RSA_BITS 1024          /* RFC 8301 3.2 */
#define VAR_DKIM_MAX_SIGNATURES "dkim_max_signatures"
#define DEF_DKIM_MAX_SIGNATURES 8           /* verified per message */
#define VAR_DKIM_IGNORE_LENGTH_TAG "dkim_ignore_length_tag"
#define DEF_DKIM_IGNORE_LENGTH_TAG 0
#define VAR_DKIM_CLOCK_SKEW "dkim_clock_skew"
#define DEF_DKIM_CLOCK_SKEW_S 300           /* seconds allowed on t= and x= */
#define VAR_DKIM_TIMEOUT "dkim_timeout"
#define DEF_DKIM_TIMEOUT_MS 10000           /* key lookups, from dkim_msg_start */

/* Limits that are not configurable. */
#define DKIM_MAX_CLOCK_SKEW_S 86400   /* largest clock_skew_s accepted */
#define DKIM_MAX_HLIST_LEN 4000       /* bytes of h=; libopendkim keeps 4096 */
#define DKIM_MAX_IDENTITY_LEN 255     /* bytes of i=; libopendkim keeps 256 */
#define DKIM_MAX_KEY_RECORD_LEN 1023  /* bytes of a key record libopendkim can take
                                         (RSA up to 4096 bits fits) */
#define DKIM_MAX_TAGS 64              /* tags in one signature or key record */
#define DKIM_MAX_COVERED 16           /* DKIM-Signature fields a verified signature's
                                         h= may cover; more: policy */
#define DKIM_B_PREFIX_LEN 8           /* characters of b= kept (RFC 6008 header.b) */

struct dkim_options {
    int allow_sha1;           /* rsa-sha1 may pass; otherwise it is a fail, unverified */
    int min_rsa_bits;         /* a verified signature with a smaller RSA key: policy */
    int max_signatures;       /* signatures verified per message; the others: policy */
    int ignore_length_tag;    /* signatures with l= are not verified: policy */
    int clock_skew_s;         /* t= may be this far in the future, x= this far past */
    int timeout_ms;           /* key lookups may take this long from dkim_msg_start
                                 when no deadline is given */
};

/* What was found about one DKIM-Signature field. Strings belong to the message. */
struct dkim_sig_result {
    enum dkim_result result;
    enum dkim_alg alg;
    int evaluated;            /* verification was attempted (key asked for) */
    const char *domain;       /* d= (letters, digits, '-', '_', '.'), or NULL */
    const char *identity;     /* i= as written, white space removed (printable ASCII,
                                 may need quoting), or NULL when absent */
    const char *selector;     /* s= (same characters as d=), or NULL */
    const char *algorithm;    /* a= in lower case if a known name, else NULL */
    char b[DKIM_B_PREFIX_LEN + 1]; /* first characters of b= (base64), "" if none */
    unsigned key_bits;        /* RSA modulus bits, 256 for Ed25519; 0 if no key */
    int has_length;           /* l= present */
    int64_t length;           /* l= value: body bytes signed (canonicalized) */
    int testing;              /* the key record says t=y (domain is testing DKIM) */
    const char *reason;       /* short text, "" for pass */
};

/* All results of a message, in header order (topmost DKIM-Signature first). */
struct dkim_results {
    enum dkim_result result;  /* none without signatures; otherwise pass if any
                                 passed, else temperror if any, else fail, policy,
                                 permerror, neutral (first present) */
    int count;                /* DKIM-Signature fields, one entry each */
    int evaluated;            /* entries verified (at most max_signatures) */
    int64_t body_length;      /* body bytes received */
    struct dkim_sig_result *sig;
};

struct dkim_msg;

/* Fill opts with the defaults above. */
void dkim_options_init(struct dkim_options *opts);

/*
 * Set up libopendkim for the process (one library handle, its options and
 * callbacks fixed here). fix_crlf: bodies may come with bare LF or bare CR
 * line ends (a message file), and the library turns them into CRLF, at a
 * cost (some 40% more verification CPU on a 280 KB message). 0: every
 * body comes with CRLF (from Postfix); a body with bare LF then does not
 * verify (fail, body hash mismatch); a feeder of message files turns LF
 * into CRLF first. Header fields may fold with either in both cases.
 * Returns 0, or -1 (logged) if the library cannot verify RSA-SHA256 and
 * Ed25519. Call again with the same fix_crlf: no effect; with the other:
 * -1 (logged).
 */
int dkim_startup(int fix_crlf);

/* Release the library handle; no message may be in progress. */
void dkim_shutdown(void);

/*
 * Start a message at end of headers. hs is read during this call only;
 * r must stay until dkim_msg_free(). deadline_ms (absolute, clock_now_ms())
 * bounds the key lookups; 0 means now + opts->timeout_ms. opts is copied;
 * NULL means the defaults. Never fails.
 */
struct dkim_msg *dkim_msg_start(struct dns_resolver *r, const struct msg_headers *hs,
                                const struct dkim_options *opts, int64_t deadline_ms);

/*
 * Feed a piece of the body; any split. Line ends CRLF, or anything if
 * dkim_startup(1) (see there). A last line without a line end gets one
 * (RFC 6376 3.4.3). No-op after finish.
 */
void dkim_msg_body(struct dkim_msg *m, const void *data, size_t len);

/*
 * End of message: wait for the keys, verify, return the results (owned by
 * m, valid until dkim_msg_free). Calling it again returns the same results.
 */
const struct dkim_results *dkim_msg_finish(struct dkim_msg *m);

/* Free a message, finished or not (pending lookups are cancelled). NULL is allowed. */
void dkim_msg_free(struct dkim_msg *m);

/* "none", "pass", "fail", "neutral", "policy", "temperror", "permerror". */
const char *dkim_result_name(enum dkim_result r);

/* "rsa-sha1", "rsa-sha256", "ed25519-sha256", or "unknown". */
const char *dkim_alg_name(enum dkim_alg a);

#endif
