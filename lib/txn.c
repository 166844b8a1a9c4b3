/*
 * txn.c - the pipeline: a transaction's stages, the collector's limits, and
 * end of message (verdict, Authentication-Results, header edits, reply).
 *
 * The front door calls txn_set_client/txn_set_helo for the connection and
 * txn_mail .. txn_eom for each message, then applies t->edits,
 * t->quarantine_reason and the verdict, then txn_reset_message (also on
 * abort). A message takes the configuration current at MAIL FROM and keeps
 * it to the end, so a reload never mixes two configurations in one message.
 *
 * Limits (max_header_count, max_header_size, max_headers_size,
 * max_message_size): past one, nothing more is stored, the first limit
 * broken is remembered, and the "limits" check turns it into its action at
 * end of message. Authentication-Results fields are examined whatever the
 * limits, so a forged one is removed even from an oversized message.
 *
 * Mail from trusted_networks, and from authenticated clients when
 * skip_authenticated is set, runs no checks.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "counters.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "txn.h"
#include "util.h"

/* Forged Authentication-Results fields one message may carry. Postfix reads
   the header again for every field removed, so past this many the message is
   refused rather than cleaned. */
#define TXN_MAX_AR_REMOVE 1000

void txn_init(struct txn *t)
{
    memset(t, 0, sizeof(*t));
    msg_headers_init(&t->headers);
    verdict_init(&t->verdict);
    authres_init(&t->authres);
}

/* Keep at most TXN_MAX_VALUE bytes of an untrusted value. */
static void txn_keep(str *dst, const char *value)
{
    str_reset(dst);
    if (value)
        str_add(dst, value, (ssize_t) strnlen(value, TXN_MAX_VALUE));
}

/* Forget the current message. */
void txn_reset_message(struct txn *t)
{
    if (t->in_message)
        t->since_ms = clock_now_ms();
    for (int i = 0; i < check_count && t->cfg; i++)
        if (check_table[i]->reset && t->check_state[i])
            check_table[i]->reset(t, i);
    memset(t->check_state, 0, sizeof(t->check_state));
    memset(t->check_ms, 0, sizeof(t->check_ms));
    for (int i = 0; i < t->nedits; i++) {
        mem_free(t->edits[i].name);
        mem_free(t->edits[i].value);
    }
    mem_free(t->edits);
    t->edits = NULL;
    t->nedits = 0;
    mem_free(t->ar_remove);
    t->ar_remove = NULL;
    t->n_ar_remove = 0;
    t->ar_removed = 0;
    t->ar_flood = 0;
    t->ar_seen = 0;
    mem_free(t->quarantine_reason);
    t->quarantine_reason = NULL;
    msg_headers_free(&t->headers);
    verdict_free(&t->verdict);
    authres_free(&t->authres);
    str_free(&t->queue_id);
    str_free(&t->mail_from);
    str_free(&t->auth_user);
    str_free(&t->reply);
    t->nrcpt = 0;
    t->body_bytes = 0;
    t->limit = TXN_LIMIT_NONE;
    t->skip = 0;
    t->in_message = 0;
    t->mail_ms = 0;
    t->dns_ms = 0;
    config_unref(t->cfg);
    t->cfg = NULL;
}

void txn_free(struct txn *t)
{
    txn_reset_message(t);
    str_free(&t->client_addr);
    str_free(&t->client_name);
    str_free(&t->helo);
}

/* The connecting client. */
void txn_set_client(struct txn *t, const char *addr, const char *name)
{
    struct config *cfg = config_current();
    struct cidr_list trusted;
    str err = STR_INIT;

    t->since_ms = clock_now_ms();
    txn_keep(&t->client_addr, addr);
    txn_keep(&t->client_name, name);
    t->client_ip_valid = addr && cidr_addr_parse(addr, &t->client_ip) == 0;
    t->trusted = 0;
    if (t->client_ip_valid
        && cidr_list_parse(&trusted, cfg->trusted_networks.v, cfg->trusted_networks.n, &err) == 0) {
        t->trusted = cidr_list_match(&trusted, &t->client_ip);
        cidr_list_free(&trusted);
    }
    str_free(&err);
    config_unref(cfg);
}

void txn_set_helo(struct txn *t, const char *helo)
{
    txn_keep(&t->helo, helo);
}

/* MAIL FROM: a new message. */
void txn_mail(struct txn *t, const char *mail_from, const char *auth_user)
{
    if (t->in_message)
        txn_reset_message(t);
    t->cfg = config_current();
    t->in_message = 1;
    t->mail_ms = clock_now_ms();
    txn_keep(&t->mail_from, mail_from ? mail_from : "");
    txn_keep(&t->auth_user, auth_user ? auth_user : "");
    t->skip = t->trusted || (t->auth_user.len > 0 && t->cfg->skip_authenticated);
    if (t->skip)
        return;
    for (int i = 0; i < check_count; i++)
        if (check_table[i]->mail && check_table[i]->mode(t->cfg) != CHECK_OFF) {
            int64_t t0 = clock_now_ms();

            check_table[i]->mail(t, i);
            t->check_ms[i] += clock_now_ms() - t0;
        }
}

/* RCPT TO: counted, not kept (thousands of recipients cost nothing). */
void txn_rcpt(struct txn *t, const char *rcpt)
{
    (void) rcpt;
    t->nrcpt++;
}

/* Note the first limit broken. */
static void txn_limit(struct txn *t, enum txn_limit l)
{
    if (t->limit == TXN_LIMIT_NONE)
        t->limit = l;
}

/* One header field, as received. */
void txn_header(struct txn *t, const char *name, const char *value, ssize_t value_len)
{
    ssize_t size = (ssize_t) strlen(name) + value_len;

    if (!t->in_message)
        return;
    if (ascii_casecmp(name, "Authentication-Results") == 0) {
        const char *id = t->cfg->authserv_id;
        char host[256];

        t->ar_seen++;
        if (id[0] == '\0') {
            if (gethostname(host, sizeof(host)) != 0)
                host[0] = '\0';
            host[sizeof(host) - 1] = '\0';
            id = host;
        }
        if (authres_is_ours_or_bad(value, value_len, id)) {
            if (t->n_ar_remove < TXN_MAX_AR_REMOVE) {
                t->ar_remove = mem_realloc(t->ar_remove, (ssize_t) sizeof(int) * (t->n_ar_remove + 1));
                t->ar_remove[t->n_ar_remove++] = t->ar_seen;
            } else {
                t->ar_flood = 1;
            }
        }
    }
    if (t->limit != TXN_LIMIT_NONE)
        return;
    if (t->headers.n + 1 > t->cfg->max_header_count)
        txn_limit(t, TXN_LIMIT_HEADER_COUNT);
    else if (size > t->cfg->max_header_size)
        txn_limit(t, TXN_LIMIT_HEADER_SIZE);
    else if (t->headers.bytes + size > t->cfg->max_headers_size)
        txn_limit(t, TXN_LIMIT_HEADERS_SIZE);
    else
        msg_headers_add(&t->headers, name, value, value_len);
}

/* Whether a header limit left header fields out. */
static int txn_headers_cut(const struct txn *t)
{
    return t->limit == TXN_LIMIT_HEADER_COUNT || t->limit == TXN_LIMIT_HEADER_SIZE
           || t->limit == TXN_LIMIT_HEADERS_SIZE;
}

/* A check that judges header fields, when some were left out: not run, and said so. */
static void txn_not_checked(struct txn *t, int idx, int monitor)
{
    const char *name = check_table[idx]->name;

    authres_add(&t->authres, name, "permerror", "header fields over the limit, not checked");
    verdict_add(&t->verdict, name, "not_checked", VERDICT_ACCEPT, 0, monitor, NULL, NULL,
                "header fields over the limit");
}

/* End of headers: checks that need the headers start their work. */
void txn_eoh(struct txn *t)
{
    if (!t->in_message || t->skip)
        return;
    for (int i = 0; i < check_count; i++)
        if (check_table[i]->eoh && check_table[i]->mode(t->cfg) != CHECK_OFF
            && !(check_table[i]->needs_headers && txn_headers_cut(t))) {
            int64_t t0 = clock_now_ms();

            check_table[i]->eoh(t, i);
            t->check_ms[i] += clock_now_ms() - t0;
        }
}

/* A piece of the body. */
void txn_body(struct txn *t, const unsigned char *data, ssize_t len)
{
    if (!t->in_message)
        return;
    t->body_bytes += len;
    if (t->body_bytes > t->cfg->max_message_size)
        txn_limit(t, TXN_LIMIT_MESSAGE_SIZE);
    if (t->skip)
        return;
    for (int i = 0; i < check_count; i++)
        if (check_table[i]->body && check_table[i]->mode(t->cfg) != CHECK_OFF) {
            int64_t t0 = clock_now_ms();

            check_table[i]->body(t, i, data, len);
            t->check_ms[i] += clock_now_ms() - t0;
        }
}

/* Queue a header edit. */
void txn_add_edit(struct txn *t, enum txn_edit_op op, const char *name, int index, const char *value)
{
    struct txn_edit *e;

    t->edits = mem_realloc(t->edits, (ssize_t) sizeof(*t->edits) * (t->nedits + 1));
    e = &t->edits[t->nedits++];
    e->op = op;
    e->name = mem_strdup(name);
    e->index = index;
    e->value = value ? mem_strdup(value) : NULL;
}

/* Count what each entry decided, monitor-mode ones under their own name. */
static void txn_count(const struct txn *t)
{
    str name = STR_INIT;

    for (int i = 0; i < t->verdict.n; i++) {
        const struct verdict_entry *e = &t->verdict.e[i];

        str_reset(&name);
        str_addf(&name, "%s.%s.%s", e->monitor ? "monitor" : "check", e->check, verdict_action_name(e->action));
        counter_inc(str_cstr(&name));
    }
    str_reset(&name);
    str_addf(&name, "message.action.%s", verdict_action_name(t->verdict.action));
    counter_inc(str_cstr(&name));
    str_free(&name);
}

/* Headers a downstream rule can act on, for tag and quarantine. */
static void txn_action_headers(struct txn *t, const struct verdict_entry *w)
{
    str v = STR_INIT;

    txn_add_edit(t, TXN_EDIT_ADD, "X-Rampart-Action", 0, verdict_action_name(t->verdict.action));
    str_addf(&v, "%s=%s", w->check, w->result);
    if (w->reason[0])
        str_addf(&v, " (%s)", w->reason);
    txn_add_edit(t, TXN_EDIT_ADD, "X-Rampart-Reason", 0, str_cstr(&v));
    if (t->verdict.action == VERDICT_TAG && t->cfg->tag_subject_prefix[0]) {
        const struct msg_header *subj = msg_headers_find(&t->headers, "Subject", 0);

        str_reset(&v);
        str_addf(&v, "%s %s", t->cfg->tag_subject_prefix, subj ? subj->value + (subj->value[0] == ' ') : "");
        /* A Subject may be among the fields a header limit left out: then none is added. */
        if (subj)
            txn_add_edit(t, TXN_EDIT_CHANGE, "Subject", 1, str_cstr(&v));
        else if (!txn_headers_cut(t))
            txn_add_edit(t, TXN_EDIT_ADD, "Subject", 0, str_cstr(&v));
    }
    str_free(&v);
}

/* End of message: decide. */
void txn_eom(struct txn *t)
{
    const struct verdict_entry *w;
    str ar = STR_INIT;
    char host[256];
    const char *id;

    if (!t->in_message)
        txn_mail(t, "", "");
    if (!t->skip) {
        for (int i = 0; i < check_count; i++)
            if (check_table[i]->eom_first && check_table[i]->mode(t->cfg) != CHECK_OFF) {
                int64_t t0 = clock_now_ms();

                check_table[i]->eom_first(t, i);
                t->check_ms[i] += clock_now_ms() - t0;
            }
        for (int i = 0; i < check_count; i++) {
            int mode = check_table[i]->mode(t->cfg);
            int64_t t0 = clock_now_ms();

            if (check_table[i]->eom && mode != CHECK_OFF) {
                if (check_table[i]->needs_headers && txn_headers_cut(t))
                    txn_not_checked(t, i, mode == CHECK_MONITOR);
                else
                    check_table[i]->eom(t, i, mode == CHECK_MONITOR);
                t->check_ms[i] += clock_now_ms() - t0;
            }
            if (mode != CHECK_OFF) {
                char name[64];

                snprintf(name, sizeof(name), "check.%s.ms", check_table[i]->name);
                metrics_observe_ms(name, t->check_ms[i]);
            }
        }
    } else if (t->limit != TXN_LIMIT_NONE && t->cfg->limits_mode != CHECK_OFF) {
        /* Limits protect rampart itself: they hold for trusted clients too. */
        check_limits.eom(t, 0, t->cfg->limits_mode == CHECK_MONITOR);
    }
    if (t->ar_flood)
        verdict_add(&t->verdict, "limits", "forged_authres", VERDICT_REJECT, 0, 0, "554", "5.7.1",
                    "Too many forged Authentication-Results header fields");
    verdict_decide(&t->verdict);
    txn_count(t);
    metrics_observe_ms("message.ms", clock_now_ms() - t->mail_ms);
    w = verdict_winner(&t->verdict);
    if (t->verdict.action == VERDICT_REJECT || t->verdict.action == VERDICT_TEMPFAIL
        || t->verdict.action == VERDICT_DISCARD) {
        str_adds(&t->reply, w->reason);
        return;
    }
    /* Forged Authentication-Results go first, from the highest index down (Postfix
       renumbers), from mail that runs no checks too. */
    for (int i = t->n_ar_remove - 1; i >= 0; i--)
        txn_add_edit(t, TXN_EDIT_DELETE, "Authentication-Results", t->ar_remove[i], NULL);
    t->ar_removed = t->n_ar_remove;
    if (t->skip)
        return;
    id = t->cfg->authserv_id;
    if (id[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0)
            memcpy(host, "localhost", 10);
        host[sizeof(host) - 1] = '\0';
        id = host;
    }
    authres_format(&t->authres, id, &ar);
    txn_add_edit(t, TXN_EDIT_INSERT, "Authentication-Results", 0, str_cstr(&ar));
    str_free(&ar);
    if (w && (t->verdict.action == VERDICT_TAG || t->verdict.action == VERDICT_QUARANTINE))
        txn_action_headers(t, w);
    if (w && t->verdict.action == VERDICT_QUARANTINE) {
        str q = STR_INIT;

        str_addf(&q, "rampart: %s=%s", w->check, w->result);
        if (w->reason[0])
            str_addf(&q, " (%s)", w->reason);
        t->quarantine_reason = str_steal(&q);
    }
}

/* One summary line for the message. */
void txn_log(struct txn *t, int64_t total_ms)
{
    log_line line;
    const struct verdict_entry *w = verdict_winner(&t->verdict);

    log_line_init(&line, "milter:");
    if (t->queue_id.len)
        log_line_add(&line, "queue_id", str_cstr(&t->queue_id));
    log_line_addn(&line, "client", str_cstr(&t->client_addr), t->client_addr.len);
    log_line_addn(&line, "client_name", str_cstr(&t->client_name), t->client_name.len);
    log_line_addn(&line, "helo", str_cstr(&t->helo), t->helo.len);
    log_line_addn(&line, "from", str_cstr(&t->mail_from), t->mail_from.len);
    log_line_addf(&line, "rcpts", "%d", t->nrcpt);
    if (t->skip)
        log_line_add(&line, "skipped", t->trusted ? "trusted" : "authenticated");
    for (int i = 0; i < t->verdict.n; i++) {
        const struct verdict_entry *e = &t->verdict.e[i];

        if (e->monitor)
            log_line_addf(&line, e->check, "%s(monitor:%s)", e->result, verdict_action_name(e->action));
        else
            log_line_add(&line, e->check, e->result);
    }
    if (t->ar_removed)
        log_line_addf(&line, "forged_ar_removed", "%d", t->ar_removed);
    log_line_add(&line, "action", verdict_action_name(t->verdict.action));
    if (w)
        log_line_add(&line, "reason", w->reason);
    log_line_addf(&line, "dns", "%lldms", (long long) t->dns_ms);
    log_line_addf(&line, "time", "%lldms", (long long) total_ms);
    log_line_emit(&line, LOG_LVL_INFO);
}
