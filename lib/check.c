/*
 * check.c - the table of built-in checks, in the order they report at end
 * of message (a check that uses another's result comes after it), and the
 * "limits" check: header count and size, message size.
 */
#include "config.h"

#include "check.h"
#include "util.h"

/* limits: the collector in txn.c notes the first limit a message breaks. */
static int limits_mode(const struct config *cfg)
{
    return cfg->limits_mode;
}

static void limits_eom(struct txn *t, int idx, int monitor)
{
    static const struct {
        const char *result, *rcode, *xcode, *text;
    } what[] = {
        [TXN_LIMIT_HEADER_COUNT] = { "header_count", "552", "5.3.4", "Too many header fields" },
        [TXN_LIMIT_HEADER_SIZE] = { "header_size", "552", "5.3.4", "A header field is too long" },
        [TXN_LIMIT_HEADERS_SIZE] = { "headers_size", "552", "5.3.4", "Message header too large" },
        [TXN_LIMIT_MESSAGE_SIZE] = { "message_size", "552", "5.3.4", "Message too big" },
    };

    (void) idx;
    if (t->limit == TXN_LIMIT_NONE || (size_t) t->limit >= NELEM(what))
        return;
    verdict_add(&t->verdict, "limits", what[t->limit].result, (enum verdict_action) t->cfg->limits_action,
                0, monitor, what[t->limit].rcode, what[t->limit].xcode, what[t->limit].text);
}

const struct check check_limits = {
    .name = "limits",
    .mode = limits_mode,
    .eom = limits_eom,
};

const struct check *const check_table[] = {
    &check_limits,
    &check_dnsbl,
    &check_spf,
    &check_dkim,
    &check_dmarc,    /* after spf and dkim: it uses their results */
    &check_av,
};

const int check_count = (int) NELEM(check_table);
