/*
 * fuzz_dkim.c - DKIM verification of a whole message (dkim_msg_start,
 * dkim_msg_body, dkim_msg_finish): rampart's own parsing of
 * DKIM-Signature tag lists and key records, the choice of signatures,
 * the key lookups, and libopendkim's verification, set up as rampartd sets
 * it up (dkim_startup(0): no line end repair, so bare LF and bare CR in
 * the body are ordinary bytes).
 *
 * Parts ("%%" lines between them): 0 the message (header fields as
 * msg_split finds them, then the body); 1 and 2 the TXT records (one per
 * line) of brisbane._domainkey.football.example.com and
 * test._domainkey.football.example.com (the selectors of RFC 8463's
 * example); 3 byte 0 options (rsa-sha1 allowed, l= refused, at most one
 * signature, 2048-bit minimum), byte 1 the body chunk size. Checked: one
 * result per DKIM-Signature field, each with a reason and identifiers of
 * the promised characters, at most max_signatures verified, the message's
 * result summarising the signatures' as documented, the body counted.
 */
#include "config.h"

#include "dkim.h"
#include "dns.h"
#include "fuzz.h"
#include "msg.h"
#include "str.h"
#include "util.h"

static const char *const key_names[] = { NULL, "brisbane._domainkey.football.example.com",
                                          "test._domainkey.football.example.com" };

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    FUZZ_ASSERT(dkim_startup(0) == 0);
    return 0;
}

/* msg_split's callback: keep the field. */
static void field(const char *name, const char *value, ssize_t value_len, void *arg)
{
    msg_headers_add(arg, name, value, value_len);
}

/* d= and s= characters. */
static void check_dname(const char *s)
{
    if (s == NULL)
        return;
    FUZZ_ASSERT(*s != '\0');
    for (; *s; s++)
        FUZZ_ASSERT((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
                    || *s == '-' || *s == '_' || *s == '.');
}

/* The message's result from its signatures', as dkim.h says. */
static enum dkim_result summary(const struct dkim_results *rs)
{
    static const enum dkim_result order[] = {
        DKIM_RESULT_PASS, DKIM_RESULT_TEMPERROR, DKIM_RESULT_FAIL,
        DKIM_RESULT_POLICY, DKIM_RESULT_PERMERROR, DKIM_RESULT_NEUTRAL,
    };

    if (rs->count == 0)
        return DKIM_RESULT_NONE;
    for (size_t k = 0; k < NELEM(order); k++)
        for (int i = 0; i < rs->count; i++)
            if (rs->sig[i].result == order[k])
                return order[k];
    return DKIM_RESULT_NONE;
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[4] = { { "", 0 }, { "", 0 }, { "", 0 }, { "", 0 } };
    int np = fuzz_split(data, size, parts, 4);
    struct fuzz_part opt = parts[3];
    unsigned flags = fuzz_byte(&opt), chunk = fuzz_byte(&opt) + 1;
    struct dns_resolver *r = dns_fixture_new();
    struct dkim_options o;
    struct msg_headers hs;
    const struct dkim_results *rs;
    struct dkim_msg *m;
    ssize_t body;
    size_t off;

    dns_set_timeout(r, 1000);
    for (int k = 1; k < np && k < 3; k++) {
        const char *s = parts[k].p, *end = parts[k].p + parts[k].n;

        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t) (end - s));
            size_t l = nl ? (size_t) (nl - s) : (size_t) (end - s);

            if (l <= DNS_MAX_TXT_LEN)
                dns_fixture_add_txt(r, key_names[k], s, (ssize_t) l);
            s += l + (nl != NULL);
        }
    }
    dkim_options_init(&o);
    o.allow_sha1 = flags & 1;
    o.ignore_length_tag = (flags & 2) != 0;
    if (flags & 4)
        o.max_signatures = 1;
    if (flags & 8)
        o.min_rsa_bits = 2048;
    /* The RFC 8463 example was signed in 2018 and has no x=: no clock skew matters. */

    msg_headers_init(&hs);
    body = msg_split(parts[0].p, (ssize_t) parts[0].n, field, &hs);
    m = dkim_msg_start(r, &hs, &o, 0);
    for (off = (size_t) body; off < parts[0].n; off += chunk)
        dkim_msg_body(m, parts[0].p + off, parts[0].n - off < chunk ? parts[0].n - off : chunk);
    rs = dkim_msg_finish(m);
    FUZZ_ASSERT(rs == dkim_msg_finish(m));
    FUZZ_ASSERT(rs->count == msg_headers_count(&hs, "DKIM-Signature"));
    FUZZ_ASSERT(rs->evaluated >= 0 && rs->evaluated <= rs->count && rs->evaluated <= o.max_signatures);
    FUZZ_ASSERT(rs->body_length == (int64_t) (parts[0].n - (size_t) body));
    FUZZ_ASSERT(rs->result == summary(rs));
    FUZZ_ASSERT(dkim_result_name(rs->result) != NULL);
    for (int i = 0; i < rs->count; i++) {
        const struct dkim_sig_result *s = &rs->sig[i];

        FUZZ_ASSERT(s->result > DKIM_RESULT_NONE && s->result <= DKIM_RESULT_PERMERROR);
        FUZZ_ASSERT(s->reason != NULL);
        FUZZ_ASSERT(s->result != DKIM_RESULT_PASS || s->reason[0] == '\0');
        check_dname(s->domain);
        check_dname(s->selector);
        if (s->identity)
            FUZZ_ASSERT(fuzz_printable(s->identity, (ssize_t) strlen(s->identity)));
        FUZZ_ASSERT(strlen(s->b) <= DKIM_B_PREFIX_LEN);
        for (const char *c = s->b; *c; c++)
            FUZZ_ASSERT((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                        || *c == '+' || *c == '/' || *c == '=');
        FUZZ_ASSERT(dkim_alg_name(s->alg) != NULL);
    }
    dkim_msg_free(m);
    msg_headers_free(&hs);
    dns_resolver_free(r);
    return 0;
}
