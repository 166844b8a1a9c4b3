/*
 * check_dnsbl.c - DNS block and allow lists in the pipeline.
 *
 * At MAIL FROM the client address, its verified host name, the HELO name
 * and the MAIL FROM domain are looked up in every list configured for
 * them (all at once); at end of headers the From domain; the body's URL
 * hosts are extracted as it streams by and looked up at end of message,
 * before the virus scan, so that their answers arrive while it runs.
 * When the policy service serves the same Postfix, it looks up the
 * envelope identities at RCPT and hands the result over (lib/handoff.c):
 * they are not looked up twice, and what it already enforced is not done
 * again. Answers are collected at end of message within dns_timeout; a list
 * that did not answer is unknown, never a listing. The summed weights are
 * compared with dnsbl_tag_score, dnsbl_quarantine_score and
 * dnsbl_reject_score; a local block file hit rejects, a local allow file
 * hit accepts. Hits go to the log line and to an X-Rampart-DNSBL header.
 */
#include "config.h"

#include <string.h>

#include "check.h"
#include "core.h"
#include "dnsbl.h"
#include "handoff.h"
#include "log.h"
#include "mem.h"
#include "uri.h"
#include "util.h"

struct dnsbl_state {
    struct dnsbl *lists;
    struct dnsbl_check *check;
    struct uri_parser *uris;
    int want_uris;
    int await_policy;    /* the policy service looks up the envelope identities at RCPT */
    int eom_started;     /* dnsbl_eom_first has run */
    int handed;          /* h holds the policy service's results */
    struct handoff_dnsbl h;
};

static int dnsbl_mode(const struct config *cfg)
{
    return cfg->dnsbl_mode;
}

/* Start the lookups of the envelope identities: client, its name, HELO, MAIL FROM domain. */
static void dnsbl_envelope(struct txn *t, struct dnsbl_state *s)
{
    str addr = STR_INIT;

    if (t->client_ip_valid) {
        cidr_addr_format(&t->client_ip, &addr);
        dnsbl_check_ip(s->check, str_cstr(&addr));
    }
    if (t->client_name.len && strcmp(str_cstr(&t->client_name), "unknown") != 0)
        dnsbl_check_domain(s->check, DNSBL_CLIENT_NAME, str_cstr(&t->client_name));
    if (t->helo.len)
        dnsbl_check_domain(s->check, DNSBL_HELO, str_cstr(&t->helo));
    if (t->mail_from.len > 2) {
        str_reset(&addr);
        str_add(&addr, t->mail_from.data, t->mail_from.len);
        if (addr.data[0] == '<' && addr.data[addr.len - 1] == '>') {
            memmove(addr.data, addr.data + 1, (size_t) addr.len - 2);
            str_truncate(&addr, addr.len - 2);
        }
        dnsbl_check_domain(s->check, DNSBL_MAILFROM, str_cstr(&addr));
    }
    str_free(&addr);
}

/* MAIL FROM: the identities known so far (unless the policy service looks them up at RCPT). */
static void dnsbl_mail(struct txn *t, int idx)
{
    struct dnsbl *d = core_dnsbl();
    struct dnsbl_state *s;

    if (d == NULL || core_resolver() == NULL) {
        if (d)
            dnsbl_unref(d);
        return;
    }
    s = mem_zalloc(sizeof(*s));
    s->lists = d;
    s->check = dnsbl_check_new(d, core_resolver());
    for (int i = 0; i < dnsbl_count(d); i++)
        if (dnsbl_entry(d, i)->kinds & (DNSBL_URI | DNSBL_URI_IP))
            s->want_uris = 1;
    t->check_state[idx] = s;
    if (handoff_expect_dnsbl(t->cfg))
        s->await_policy = 1;
    else
        dnsbl_envelope(t, s);
}

/* End of headers: the From domain, and the body's type for URL extraction. */
static void dnsbl_eoh(struct txn *t, int idx)
{
    struct dnsbl_state *s = t->check_state[idx];
    const struct msg_header *from;
    str v = STR_INIT;

    if (s == NULL)
        return;
    if (msg_headers_count(&t->headers, "From") == 1 && (from = msg_headers_find(&t->headers, "From", 0))) {
        const char *at = memchr(from->value, '@', (size_t) from->value_len);

        if (at) {
            /* The domain after the last '@', up to a delimiter. */
            const char *p = at + 1, *end = from->value + from->value_len;

            at = p;
            while (p < end && !strchr(">, \t\r\n;)\"", *p))
                p++;
            str_add(&v, at, p - at);
            if (v.len)
                dnsbl_check_domain(s->check, DNSBL_FROM, str_cstr(&v));
        }
    }
    str_free(&v);
    if (s->want_uris) {
        struct uri_limits lim = { (int) t->cfg->dnsbl_uri_max_domains, URI_DEFAULT_MAX_URLS,
                                  URI_DEFAULT_MAX_TEXT_BYTES, URI_DEFAULT_MAX_BODY_BYTES, URI_DEFAULT_MAX_DEPTH };

        s->uris = uri_parser_new(&lim, 0);
        uri_parser_set_headers(s->uris, &t->headers);
    }
}

static void dnsbl_body(struct txn *t, int idx, const unsigned char *data, ssize_t len)
{
    struct dnsbl_state *s = t->check_state[idx];

    if (s && s->uris)
        uri_parser_feed(s->uris, (const char *) data, len);
}

/*
 * End of message, before the scan: take the policy service's results for
 * the envelope (or look the envelope up now if it has none) and start the
 * URL hosts' lookups, so that their answers arrive while the scanner works.
 */
static void dnsbl_eom_first(struct txn *t, int idx)
{
    struct dnsbl_state *s = t->check_state[idx];

    if (s == NULL || s->eom_started)
        return;
    s->eom_started = 1;
    if (s->await_policy) {
        /* The policy service looked the envelope identities up at RCPT: one evaluation. */
        struct handoff_key k;
        str addr = STR_INIT;

        if (t->client_ip_valid)
            cidr_addr_format(&t->client_ip, &addr);
        k.client = str_cstr(&addr);
        k.helo = str_cstr(&t->helo);
        k.sender = str_cstr(&t->mail_from);
        k.since_ms = t->since_ms;
        s->handed = handoff_take_dnsbl(&k, &s->h);
        if (!s->handed)
            dnsbl_envelope(t, s);
        str_free(&addr);
    }
    if (s->uris) {
        uri_parser_end(s->uris);
        dnsbl_check_uris(s->check, s->uris);
    }
}

/* End of message: collect, score, report. */
static void dnsbl_eom(struct txn *t, int idx, int monitor)
{
    struct dnsbl_state *s = t->check_state[idx];
    const struct config *cfg = t->cfg;
    const struct dnsbl_result *r;
    struct dnsbl_thresholds th;
    enum dnsbl_level level;
    int action = VERDICT_ACCEPT;
    str text = STR_INIT, reason = STR_INIT, addr = STR_INIT;
    int64_t t0 = clock_now_ms();
    const char *result;
    const struct handoff_dnsbl *hp;
    int handed, score, local;
    enum dnsbl_level acted_level;

    if (s == NULL)
        return;
    dnsbl_eom_first(t, idx);
    handed = s->handed;
    hp = &s->h;
    r = dnsbl_check_collect(s->check, t0 + cfg->dns_timeout);
    t->dns_ms += clock_now_ms() - t0;
    score = r->score + (handed ? hp->result.score : 0);
    local = r->local;
    if (handed && (hp->result.local == DNSBL_LOCAL_ALLOW || (hp->result.local == DNSBL_LOCAL_BLOCK && local == DNSBL_LOCAL_NONE)))
        local = hp->result.local;
    th.tag = (int) cfg->dnsbl_tag_score;
    th.quarantine = (int) cfg->dnsbl_quarantine_score;
    th.reject = (int) cfg->dnsbl_reject_score;
    level = dnsbl_score_level(score, &th);
    if (local == DNSBL_LOCAL_BLOCK)
        level = DNSBL_LEVEL_REJECT;
    else if (local == DNSBL_LOCAL_ALLOW)
        level = DNSBL_LEVEL_NONE;
    /* What the policy service already enforced at RCPT is not done twice. */
    if (handed && hp->acted) {
        acted_level = dnsbl_score_level(hp->result.score, &th);
        if (level <= acted_level)
            level = DNSBL_LEVEL_NONE;
    }
    action = level == DNSBL_LEVEL_REJECT ? VERDICT_REJECT
             : level == DNSBL_LEVEL_QUARANTINE ? VERDICT_QUARANTINE
             : level == DNSBL_LEVEL_TAG ? VERDICT_TAG : VERDICT_ACCEPT;
    if (handed) {
        dnsbl_render(&hp->result, &text, 0);
        if (text.len && r->nhits)
            str_addc(&text, ' ');
    }
    dnsbl_render(r, &text, 0);
    if (t->client_ip_valid)
        cidr_addr_format(&t->client_ip, &addr);
    if (local == DNSBL_LOCAL_BLOCK)
        str_addf(&reason, "Blocked by local policy: %s", str_cstr(&text));
    else
        str_addf(&reason, "Listed in DNS lists (score %d): %s", score, str_cstr(&text));
    result = local == DNSBL_LOCAL_BLOCK ? "local_block" : local == DNSBL_LOCAL_ALLOW ? "local_allow"
             : (r->nhits || (handed && hp->result.nhits)) ? "listed"
             : (r->unknown || (handed && hp->result.unknown)) ? "unknown" : "clean";
    verdict_add(&t->verdict, "dnsbl", result, (enum verdict_action) action, 0, monitor, "554", "5.7.1",
                str_cstr(&reason));
    if (cfg->dnsbl_header && text.len) {
        str v = STR_INIT;

        str_addf(&v, " score=%d; %s", score, str_cstr(&text));
        txn_add_edit(t, TXN_EDIT_ADD, "X-Rampart-DNSBL", 0, str_cstr(&v));
        str_free(&v);
    }
    if (r->nhits || r->unknown || r->skipped || (handed && hp->result.nhits)) {
        str l = STR_INIT;

        dnsbl_render_log(r, &l);
        log_info("dnsbl: queue_id=%s client=%s score=%d%s %s", str_cstr(&t->queue_id), str_cstr(&addr), score,
                 handed ? " (envelope from the policy service)" : "", str_cstr(&l));
        str_free(&l);
    }
    str_free(&text);
    str_free(&reason);
    str_free(&addr);
}

static void dnsbl_reset(struct txn *t, int idx)
{
    struct dnsbl_state *s = t->check_state[idx];

    dnsbl_check_free(s->check);
    if (s->handed)
        handoff_dnsbl_clear(&s->h);
    uri_parser_free(s->uris);
    dnsbl_unref(s->lists);
    mem_free(s);
    t->check_state[idx] = NULL;
}

const struct check check_dnsbl = {
    .name = "dnsbl",
    .mode = dnsbl_mode,
    .mail = dnsbl_mail,
    .eoh = dnsbl_eoh,
    .body = dnsbl_body,
    .eom_first = dnsbl_eom_first,
    .eom = dnsbl_eom,
    .reset = dnsbl_reset,
};
