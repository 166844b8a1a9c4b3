/*
 * handoff.h - one transaction, one evaluation: what the policy service
 * computed at RCPT time, kept for the milter's session of the same
 * transaction (both listeners live in one rampartd).
 *
 * Both front doors see the client address, the HELO name and the envelope
 * sender, and SPF and the DNS lists of the client, HELO and sender depend
 * on nothing else (not on the connection: the client port is left out on
 * purpose). So (client, helo, sender) is the key, and a result found under
 * it is the result the milter would compute itself, whichever connection
 * computed it: parallel transactions with the same key may share one entry. Lookups copy and leave the entry in place;
 * entries expire after ttl and the table is bounded (oldest dropped first).
 *
 * The milter does not wait for the policy service: the policy request for
 * the first recipient comes after the milter's MAIL FROM stage, so a check
 * that expects a handoff (handoff_expect_*) defers its own work to end of
 * headers or end of message, takes the result then, and computes it itself
 * if none is there (Postfix not configured to ask the policy service, an
 * expired entry, a temporary error, which is never handed over).
 *
 * "acted" means the policy service enforced its verdict for that result:
 * the milter then reports the result (Authentication-Results, log) and does
 * not act on it a second time. Only for its own transaction: the milter
 * asks with the time its previous message on the connection ended (or the
 * connection began), and a result put before that was another
 * transaction's, which may have been refused for a recipient this one
 * does not have.
 */
#ifndef RAMPART_HANDOFF_H
#define RAMPART_HANDOFF_H

#include <stdint.h>

#include "dnsbl.h"
#include "rconfig.h"
#include "spf.h"
#include "verdict.h"

#define HANDOFF_DEFAULT_MAX 10000
#define HANDOFF_DEFAULT_TTL_MS (10 * 60 * 1000)

/* What identifies a transaction to both front doors. Strings as Postfix gives them. */
struct handoff_key {
    const char *client;     /* client address, any spelling cidr_addr_parse takes */
    const char *helo;       /* HELO/EHLO name, or "" */
    const char *sender;     /* envelope sender, with or without <>; "" for the null sender */
    /* Taking: a result put before this time (clock_now_ms) is an earlier
       transaction's, whose "acted" does not hold for this one. 0: any. */
    int64_t since_ms;
};

/* Size and lifetime of entries (defaults above); the policy service sets them from its configuration. */
void handoff_configure(int max_entries, int64_t ttl_ms);

/* --- SPF --- */

/*
 * Keep the SPF results of a transaction (copied). helo may be NULL (no
 * HELO identity checked). Results with a temporary error are not kept.
 */
void handoff_put_spf(const struct handoff_key *k, const struct spf_result *mailfrom,
                     const struct spf_result *helo, int acted);
/*
 * Copy the SPF results for k into mailfrom and helo (free both with
 * spf_result_free; helo is zeroed when *have_helo is 0). Returns 1 if
 * found, 0 if not (nothing filled).
 */
int handoff_take_spf(const struct handoff_key *k, struct spf_result *mailfrom, struct spf_result *helo,
                     int *have_helo, int *acted);

/* --- DNS lists --- */

struct handoff_dnsbl {
    struct dnsbl *lists;          /* referenced: the hits point into it (zone names, entries) */
    unsigned kinds;               /* identities looked up: DNSBL_IP, DNSBL_HELO, DNSBL_MAILFROM,
                                     DNSBL_CLIENT_NAME bits */
    int acted;                    /* the policy service enforced the score's action */
    struct dnsbl_result result;   /* a copy: score, hits, unknown, ... */
};

/*
 * Keep the DNS list result of a transaction (copied; lists is referenced
 * for as long as the entry lives). Nothing is kept if lists is NULL; a
 * result with unknown lists (r->unknown > 0: a timeout, a failure) is not
 * kept and removes an earlier DNS list result under k, so that the milter
 * looks the envelope up itself.
 */
void handoff_put_dnsbl(const struct handoff_key *k, struct dnsbl *lists, unsigned kinds,
                       const struct dnsbl_result *r, int acted);
/*
 * Copy the DNS list result for k into out (release with
 * handoff_dnsbl_clear). Returns 1 if found, 0 if not (out zeroed).
 */
int handoff_take_dnsbl(const struct handoff_key *k, struct handoff_dnsbl *out);
void handoff_dnsbl_clear(struct handoff_dnsbl *h);

/* Does this configuration have the policy service compute SPF / the DNS lists? */
int handoff_expect_spf(const struct config *cfg);
int handoff_expect_dnsbl(const struct config *cfg);

/* Number of entries; forget all of them (tests, shutdown). */
int handoff_count(void);
void handoff_flush(void);

/* --- SPF decisions shared by the milter and the policy service (check_spf.c) --- */

/* Fill SPF options from the spf_* parameters of cfg. */
void check_spf_options(const struct config *cfg, struct spf_options *o);
/*
 * Add the verdict entries "spf" (MAIL FROM identity, with
 * spf_both_fail_action) and "spf_helo" (when helo is not NULL) for these
 * results, as spf_mailfrom_actions and spf_helo_actions map them; a client
 * whose verified name is in spf_allow_forwarders, or acted set, maps
 * everything to accept. sender is the envelope sender as given.
 */
void check_spf_verdict(const struct config *cfg, struct verdict *v, const char *client_name,
                       const char *sender, const char *helo_name, const struct spf_result *mailfrom,
                       const struct spf_result *helo, int monitor, int acted);

#endif
