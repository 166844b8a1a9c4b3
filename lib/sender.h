/*
 * sender.h - is the envelope sender an address mail can go back to?
 *
 * Three questions, each answered from a closed set of results:
 *   - syntax: an RFC 5321 Mailbox (Local-part "@" Domain / address-literal),
 *     as Postfix hands it over (the local part unquoted), with its limits
 *     (local part 64 octets, domain 255, path 256) and UTF-8 (RFC 6531);
 *   - domain: MX records, or failing those A/AAAA (RFC 5321 5.1); a null
 *     MX (RFC 7505) says the domain sends no mail and takes no replies;
 *   - disposable: the domain or a parent of it is on a list of
 *     throw-away address providers (a file, one domain per line);
 * and, optionally, a callout: ask the domain's MX whether it takes RCPT TO
 * for the address.
 *
 * Lookups for one sender start together (MX, A, AAAA) and are collected
 * against a deadline. A check decides no action and formats no SMTP reply;
 * the result carries a short human text of what is wrong.
 */
#ifndef RAMPART_SENDER_H
#define RAMPART_SENDER_H

#include <stdint.h>
#include <sys/types.h>

#include "dns.h"
#include "str.h"

#define SENDER_MAX_LOCAL 64       /* RFC 5321 4.5.3.1.1 */
#define SENDER_MAX_DOMAIN 255     /* RFC 5321 4.5.3.1.2 */
#define SENDER_MAX_PATH 254       /* 256 octets of path, less the angle brackets */
#define SENDER_MAX_MX 10          /* MX hosts kept, lowest preference first */

enum sender_status {
    SENDER_OK,            /* well-formed; the domain takes mail (or was not asked) */
    SENDER_NULL,          /* the null sender <> */
    SENDER_SYNTAX,        /* not an RFC 5321 address */
    SENDER_NO_DOMAIN,     /* the domain does not exist (NXDOMAIN) */
    SENDER_NO_MAIL,       /* the domain exists but has no MX, A or AAAA */
    SENDER_NULL_MX,       /* RFC 7505 null MX: the domain takes no mail */
    SENDER_TEMPFAIL,      /* DNS did not answer usefully: try again later */
};

/* "ok", "null", "syntax", "nodomain", "nomail", "nullmx", "tempfail". */
const char *sender_status_name(enum sender_status s);

/*
 * Check the syntax of an address (without angle brackets). Returns 0, or
 * -1 with a short reason in why ("the domain has an empty label", ...).
 * The null sender "" is valid.
 */
int sender_syntax(const char *addr, ssize_t len, str *why);

/* The domain part of a well-formed address (after the last '@'), or NULL. */
const char *sender_domain(const char *addr);

struct sender_result {
    enum sender_status status;
    str why;                       /* what is wrong, for the reply and the log */
    int is_literal;                /* the domain is an address literal: no DNS asked */
    int nmx;
    char *mx[SENDER_MAX_MX];       /* MX hosts, lowest preference first (or the domain
                                      itself when it has only A/AAAA) */
};

void sender_result_free(struct sender_result *r);

struct sender_check;

/*
 * Start checking addr: syntax now; if that passes, the domain's MX, A and
 * AAAA lookups at once. Never NULL.
 */
struct sender_check *sender_check_start(struct dns_resolver *r, const char *addr);
/* Collect the answers until deadline_ms (absolute; 0 = the resolver's timeout) and fill res. */
enum sender_status sender_check_finish(struct sender_check *c, int64_t deadline_ms, struct sender_result *res);
void sender_check_free(struct sender_check *c);

/* --- disposable address domains --- */

struct sender_list;

/*
 * A list file of domains, one per line ('#' comments, blank lines, a
 * leading "." or "*." allowed). The file is read at the first match and
 * read again when its modification time, size or inode changes, looked at
 * no more than once per check_interval_ms (1000 if 0). A file that cannot
 * be read leaves the list as it was (empty at first) and is reported
 * through sender_list_error(). Thread-safe.
 */
struct sender_list *sender_list_new(const char *path, int64_t check_interval_ms);
void sender_list_free(struct sender_list *l);
/* Is domain, or a parent domain of it, on the list? Case-insensitive. */
int sender_list_match(struct sender_list *l, const char *domain);
/* Number of domains loaded. */
int sender_list_count(struct sender_list *l);
/* The last load error since the previous call (copied into out); 0 if none. */
int sender_list_error(struct sender_list *l, str *out);
const char *sender_list_path(const struct sender_list *l);

/* --- callout --- */

enum sender_callout_status {
    SENDER_CALLOUT_VALID,      /* the MX took RCPT TO for the address */
    SENDER_CALLOUT_INVALID,    /* the MX refused it with a 5xx */
    SENDER_CALLOUT_UNKNOWN,    /* no answer either way: no MX reachable, 4xx, refused greeting */
};

const char *sender_callout_status_name(enum sender_callout_status s);

struct sender_callout_options {
    int port;                  /* 25 */
    const char *helo;          /* our name for EHLO */
    const char *mail_from;     /* MAIL FROM address; "" = the null sender */
    int64_t deadline_ms;       /* absolute; the whole callout, every MX */
    int max_hosts;             /* MX hosts tried at most (2) */
};

/*
 * Ask the MX hosts of res (lowest preference first) whether they take
 * RCPT TO:<addr>. The first host that answers the dialogue decides.
 * reply gets the server's last reply line (sanitised) or what went wrong.
 */
enum sender_callout_status sender_callout(struct dns_resolver *r, const struct sender_result *res, const char *addr,
                                          const struct sender_callout_options *o, str *reply);

/* A bounded cache of callout results, by address (case-insensitive domain). Thread-safe. */
struct sender_cache;

struct sender_cache *sender_cache_new(int max_entries);
void sender_cache_free(struct sender_cache *c);
/* Look up addr; 1 with *status and reply filled if a live entry exists. */
int sender_cache_get(struct sender_cache *c, const char *addr, int64_t now_ms, enum sender_callout_status *status,
                     str *reply);
void sender_cache_put(struct sender_cache *c, const char *addr, enum sender_callout_status status, const char *reply,
                      int64_t expires_ms);

#endif
