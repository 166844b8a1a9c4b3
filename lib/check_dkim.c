/*
 * check_dkim.c - DKIM in the pipeline.
 *
 * At end of headers every DKIM-Signature is parsed and its key lookup
 * starts (lib/dkim.c); the body streams in as it arrives; at end of
 * message each signature's result goes to Authentication-Results
 * (dkim=RESULT header.d= header.i= header.s= header.a= header.b=, so
 * several signatures can be told apart) and to DMARC, and the message's
 * overall result maps to an action through dkim_actions (all accept by
 * default: an unsigned or badly signed message is for DMARC to judge).
 */
#include "config.h"

#include <string.h>

#include "check.h"
#include "core.h"
#include "dkim.h"
#include "log.h"
#include "util.h"

static int dkim_mode(const struct config *cfg)
{
    return cfg->dkim_mode;
}

/* End of headers: start verifying, and the key lookups. */
static void dkim_eoh(struct txn *t, int idx)
{
    struct dkim_options o;

    if (core_resolver() == NULL)
        return;
    dkim_options_init(&o);
    o.allow_sha1 = t->cfg->dkim_allow_sha1;
    o.min_rsa_bits = (int) t->cfg->dkim_min_rsa_bits;
    o.max_signatures = (int) t->cfg->dkim_max_signatures;
    o.ignore_length_tag = t->cfg->dkim_ignore_length_tag;
    o.clock_skew_s = (int) (t->cfg->dkim_clock_skew / 1000);
    o.timeout_ms = (int) t->cfg->dkim_timeout;
    t->check_state[idx] = dkim_msg_start(core_resolver(), &t->headers, &o, 0);
}

static void dkim_body(struct txn *t, int idx, const unsigned char *data, ssize_t len)
{
    if (t->check_state[idx])
        dkim_msg_body(t->check_state[idx], data, (size_t) len);
}

/* End of message: results. */
static void dkim_eom(struct txn *t, int idx, int monitor)
{
    const struct dkim_results *r;
    int64_t t0 = clock_now_ms();
    str reason = STR_INIT;

    if (t->check_state[idx] == NULL)
        return;
    r = dkim_msg_finish(t->check_state[idx]);
    t->dns_ms += clock_now_ms() - t0;
    if (r->count == 0)
        authres_add(&t->authres, "dkim", "none", NULL);
    for (int i = 0; i < r->count; i++) {
        const struct dkim_sig_result *s = &r->sig[i];
        struct authres_result *a = authres_add(&t->authres, "dkim", dkim_result_name(s->result), s->reason);

        if (s->domain)
            authres_prop(a, "header.d", s->domain);
        if (s->identity)
            authres_prop(a, "header.i", s->identity);
        if (s->selector)
            authres_prop(a, "header.s", s->selector);
        if (s->algorithm)
            authres_prop(a, "header.a", s->algorithm);
        if (s->b[0])
            authres_prop(a, "header.b", s->b);
    }
    str_addf(&reason, "DKIM %s", dkim_result_name(r->result));
    for (int i = 0; i < r->count; i++)
        if (r->sig[i].result == r->result && r->sig[i].domain) {
            str_addf(&reason, " for %s", r->sig[i].domain);
            if (r->sig[i].reason)
                str_addf(&reason, ": %s", r->sig[i].reason);
            break;
        }
    verdict_add(&t->verdict, "dkim", dkim_result_name(r->result),
                (enum verdict_action) config_map_action(&t->cfg->dkim_actions, dkim_result_name(r->result)),
                r->result == DKIM_RESULT_TEMPERROR, monitor, NULL, NULL, str_cstr(&reason));
    str_free(&reason);
}

static void dkim_reset(struct txn *t, int idx)
{
    dkim_msg_free(t->check_state[idx]);
    t->check_state[idx] = NULL;
}

const struct check check_dkim = {
    .name = "dkim",
    .needs_headers = 1,
    .mode = dkim_mode,
    .eoh = dkim_eoh,
    .body = dkim_body,
    .eom = dkim_eom,
    .reset = dkim_reset,
};

/* This message's DKIM results for DMARC, once finished; NULL if not verified. */
const struct dkim_results *check_dkim_results(const struct txn *t)
{
    for (int i = 0; i < check_count; i++)
        if (check_table[i] == &check_dkim && t->check_state[i])
            return dkim_msg_finish(t->check_state[i]);
    return NULL;
}
