/*
 * check.h - the contract every built-in check follows, and the one table
 * that lists them (check.c). A check is called at the stages where its
 * inputs become known; it keeps per-message state in
 * t->check_state[its index], reports at end of message through
 * verdict_add() and authres_add(), and frees its state in reset().
 * Every hook is optional. Adding a check touches its module, its
 * configuration keys, its tests and one row of the table.
 */
#ifndef RAMPART_CHECK_H
#define RAMPART_CHECK_H

#include "txn.h"

struct check {
    const char *name;
    /* Judges header fields that may be among those a header limit left out:
       not run when one was broken; its result is then "not checked". */
    int needs_headers;
    /* enforce, monitor or off for this configuration */
    int (*mode)(const struct config *cfg);
    void (*mail)(struct txn *t, int idx);
    void (*eoh)(struct txn *t, int idx);
    void (*body)(struct txn *t, int idx, const unsigned char *data, ssize_t len);
    /* End of message, before any check's eom: work that waits for no DNS
       answer and no other check (the virus scan), done while the answers
       the other checks asked for at end of headers are on their way. */
    void (*eom_first)(struct txn *t, int idx);
    void (*eom)(struct txn *t, int idx, int monitor);
    void (*reset)(struct txn *t, int idx);
};

extern const struct check *const check_table[];
extern const int check_count;

/* The built-in checks. */
extern const struct check check_limits;
extern const struct check check_spf;
extern const struct check check_dmarc;
extern const struct check check_dkim;
extern const struct check check_av;
extern const struct check check_dnsbl;

struct dkim_results;
/* This message's DKIM results for DMARC (NULL if not verified). */
const struct dkim_results *check_dkim_results(const struct txn *t);

struct spf_result;
/* The SPF results of this message for DMARC (NULL if not evaluated). */
const struct spf_result *check_spf_mailfrom(const struct txn *t, const struct spf_result **helo);

#endif
