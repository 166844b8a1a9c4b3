/*
 * verdict.h - from check results to one action and its SMTP reply.
 *
 * Every check that ran adds one entry: its name, its result word (as it
 * appears in logs and headers), the action its configuration maps that
 * result to, whether the result is a temporary error, whether the check is
 * in monitor mode, and the reply text for a reject or tempfail.
 * verdict_decide() picks the winner.
 */
#ifndef RAMPART_VERDICT_H
#define RAMPART_VERDICT_H

#include "str.h"

/* In rising strength: the strongest action wins. */
enum verdict_action {
    VERDICT_ACCEPT,
    VERDICT_TAG,
    VERDICT_QUARANTINE,
    VERDICT_TEMPFAIL,
    VERDICT_DISCARD,
    VERDICT_REJECT,
};

#define VERDICT_MAX_ENTRIES 32

struct verdict_entry {
    const char *check;          /* static: "spf", "dkim", "limits", ... */
    char *result;               /* "fail", "pass", "temperror", ... */
    enum verdict_action action; /* what the configuration asks for */
    int temporary;              /* the result is a temporary error */
    int monitor;                /* log and count only */
    char rcode[4];              /* "550", "451", ... for reject/tempfail */
    char xcode[16];             /* "5.7.23", ... */
    char *reason;               /* reply text, sanitised, bounded */
};

struct verdict {
    int n;
    struct verdict_entry e[VERDICT_MAX_ENTRIES];
    enum verdict_action action; /* after verdict_decide */
    int winner;                 /* index of the deciding entry, -1 for plain accept */
};

void verdict_init(struct verdict *v);
void verdict_free(struct verdict *v);

/*
 * Add a check's outcome. A temporary result can only map to tempfail or
 * accept: anything stronger is lowered to tempfail here, whatever the
 * caller asked, so a DNS timeout never rejects. rcode/xcode may be NULL
 * for the defaults of the action (550 5.7.1, 451 4.7.1). The reason is
 * sanitised (printable ASCII, no CR/LF, at most VERDICT_REASON_MAX bytes).
 */
void verdict_add(struct verdict *v, const char *check, const char *result, enum verdict_action action,
                 int temporary, int monitor, const char *rcode, const char *xcode, const char *reason);

/* Choose the action: the strongest among entries not in monitor mode. */
void verdict_decide(struct verdict *v);

/* The deciding entry, or NULL when nothing asked for more than accept. */
const struct verdict_entry *verdict_winner(const struct verdict *v);

const char *verdict_action_name(enum verdict_action a);
/* Parse an action name; -1 if unknown. */
int verdict_action_from_name(const char *name);

#define VERDICT_REASON_MAX 200

/* Append s sanitised for an SMTP reply or a header: printable ASCII, at most max bytes. */
void verdict_sanitize(str *out, const char *s, ssize_t len, ssize_t max);

#endif
