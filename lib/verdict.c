/*
 * verdict.c - the one place where results become an action.
 *
 * Order of strength: accept < tag < quarantine < tempfail < discard <
 * reject. A temporary failure outranks tag and quarantine because the
 * result it stands for might have been a reject: deferring keeps the mail
 * in the sender's queue until it can be decided. It never becomes a reject
 * (verdict_add lowers it). Entries in monitor mode are logged and counted
 * by the caller but never decide.
 */
#include "config.h"

#include <string.h>

#include "log.h"
#include "mem.h"
#include "util.h"
#include "verdict.h"

static const char *const verdict_names[] = {
    [VERDICT_ACCEPT] = "accept",
    [VERDICT_TAG] = "tag",
    [VERDICT_QUARANTINE] = "quarantine",
    [VERDICT_TEMPFAIL] = "tempfail",
    [VERDICT_DISCARD] = "discard",
    [VERDICT_REJECT] = "reject",
};

const char *verdict_action_name(enum verdict_action a)
{
    return (unsigned) a < NELEM(verdict_names) ? verdict_names[a] : "unknown";
}

int verdict_action_from_name(const char *name)
{
    for (size_t i = 0; i < NELEM(verdict_names); i++)
        if (ascii_casecmp(name, verdict_names[i]) == 0)
            return (int) i;
    return -1;
}

void verdict_init(struct verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->winner = -1;
}

void verdict_free(struct verdict *v)
{
    for (int i = 0; i < v->n; i++) {
        mem_free(v->e[i].result);
        mem_free(v->e[i].reason);
    }
    verdict_init(v);
}

/* Printable ASCII only: control bytes, 8-bit bytes and CR/LF become '?' ; bounded. */
void verdict_sanitize(str *out, const char *s, ssize_t len, ssize_t max)
{
    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (i >= max) {
            str_adds(out, "...");
            return;
        }
        str_addc(out, c >= 0x20 && c < 0x7f ? c : (c == '\t' ? ' ' : '?'));
    }
}

/* Copy a 3-digit reply code or an x.y.z enhanced code if it looks right. */
static void verdict_code(char *dst, size_t size, const char *src, const char *def)
{
    const char *s = src ? src : def;
    size_t n = strlen(s);

    if (n >= size)
        s = def, n = strlen(def);
    memcpy(dst, s, n + 1);
}

/* Add one check's outcome. */
void verdict_add(struct verdict *v, const char *check, const char *result, enum verdict_action action,
                 int temporary, int monitor, const char *rcode, const char *xcode, const char *reason)
{
    struct verdict_entry *e;
    str r = STR_INIT;

    if (v->n >= VERDICT_MAX_ENTRIES)
        log_panic("verdict_add: more than %d entries", VERDICT_MAX_ENTRIES);
    e = &v->e[v->n++];
    memset(e, 0, sizeof(*e));
    if (temporary && action != VERDICT_ACCEPT && action != VERDICT_TEMPFAIL)
        action = VERDICT_TEMPFAIL;
    e->check = check;
    e->result = mem_strdup(result);
    e->action = action;
    e->temporary = temporary;
    e->monitor = monitor;
    if (action == VERDICT_TEMPFAIL) {
        verdict_code(e->rcode, sizeof(e->rcode), rcode && rcode[0] == '4' ? rcode : NULL, "451");
        verdict_code(e->xcode, sizeof(e->xcode), xcode && xcode[0] == '4' ? xcode : NULL, "4.7.1");
    } else {
        verdict_code(e->rcode, sizeof(e->rcode), rcode && rcode[0] == '5' ? rcode : NULL, "550");
        verdict_code(e->xcode, sizeof(e->xcode), xcode && xcode[0] == '5' ? xcode : NULL, "5.7.1");
    }
    if (reason)
        verdict_sanitize(&r, reason, (ssize_t) strlen(reason), VERDICT_REASON_MAX);
    e->reason = str_steal(&r);
}

/* Pick the strongest enforced action; the first entry wins a tie. */
void verdict_decide(struct verdict *v)
{
    v->action = VERDICT_ACCEPT;
    v->winner = -1;
    for (int i = 0; i < v->n; i++) {
        if (v->e[i].monitor)
            continue;
        if (v->e[i].action > v->action) {
            v->action = v->e[i].action;
            v->winner = i;
        }
    }
}

const struct verdict_entry *verdict_winner(const struct verdict *v)
{
    return v->winner >= 0 ? &v->e[v->winner] : NULL;
}
