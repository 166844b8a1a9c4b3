/*
 * milter.c - libmilter callbacks: the milter front door.
 *
 * This file only translates: it gathers what Postfix tells it about a
 * connection and a message (client, HELO, envelope, macros) into a small
 * context and maps rampart's decision back to SMFIS_* codes. It asks
 * Postfix for nothing it does not need (no reply for the stages where the
 * answer is always "continue", no header or body stages until a check
 * wants them), because every round trip costs a Postfix process time.
 *
 * Per connection: a context allocated in xxfi_negotiate, freed in
 * xxfi_close (always called), holding the core's transaction (lib/txn.h).
 * Per message: reset at MAIL FROM, at abort (RSET) and after end of
 * message, so several messages on one connection start clean.
 *
 * Every stage but CONNECT and end of message is negotiated "no reply",
 * so Postfix never waits for rampart before end of message: the checks
 * that start at MAIL FROM or end of headers run while the client is still
 * sending. The verdict comes at end of message; header edits are applied
 * then (forged Authentication-Results deleted from the highest index down,
 * ours inserted at the top).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "listen.h"
#include "log.h"
#include "mem.h"
#include "milter.h"
#include "str.h"
#include "txn.h"
#include "util.h"

struct milter_conn {
    unsigned long noreply;    /* SMFIP_NR_* flags Postfix agreed to */
    int leadspc;              /* header values keep their leading space */
    struct txn txn;
};

static int milter_active;        /* open sessions */
static int milter_busy;          /* callbacks running (atomic) */
static int milter_stopping;      /* set by milter_drain: callbacks touch nothing more (atomic) */
static pthread_mutex_t milter_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t milter_idle = PTHREAD_COND_INITIALIZER;
static char *milter_unix_path;

/* Leave a callback; the last one out after the stop wakes milter_drain. */
static void milter_leave(void)
{
    if (__atomic_sub_fetch(&milter_busy, 1, __ATOMIC_SEQ_CST) == 0
        && __atomic_load_n(&milter_stopping, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&milter_lock);
        pthread_cond_broadcast(&milter_idle);
        pthread_mutex_unlock(&milter_lock);
    }
}

/*
 * Enter a callback that uses the core; 0 once rampartd is stopping, when the
 * core may be gone: the callback must then return at once. Every header
 * comes through here, so no lock: the callback counts itself in, then looks
 * at the flag, while milter_drain sets the flag, then looks at the count
 * (both sequentially consistent), so one of the two sees the other.
 */
static int milter_enter(void)
{
    __atomic_add_fetch(&milter_busy, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&milter_stopping, __ATOMIC_SEQ_CST))
        return 1;
    milter_leave();
    return 0;
}

/* What a stage returns when it has nothing to say. */
static sfsistat milter_continue(SMFICTX *ctx, unsigned long nr_flag)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    return c && (c->noreply & nr_flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* Agree on actions and stages; allocate the connection context. */
static sfsistat milter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                                 unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                                 unsigned long *pf2, unsigned long *pf3)
{
    struct milter_conn *c = mem_zalloc(sizeof(*c));
    /* CONNECT keeps its reply so a trusted client can be let through at once. */
    unsigned long want_nr = SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_DATA
                            | SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY;
    unsigned long skip = SMFIP_NOUNKNOWN | SMFIP_NODATA;

    (void) f2;
    (void) f3;
    txn_init(&c->txn);
    smfi_setpriv(ctx, c);
    pthread_mutex_lock(&milter_lock);
    milter_active++;
    pthread_mutex_unlock(&milter_lock);
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
    c->noreply = f1 & want_nr;
    c->leadspc = (f1 & SMFIP_HDR_LEADSPC) != 0;
    *pf1 = c->noreply | (f1 & skip) | (f1 & SMFIP_HDR_LEADSPC);
    *pf2 = 0;
    *pf3 = 0;
    if (f0 & SMFIF_SETSYMLIST) {
        smfi_setsymlist(ctx, SMFIM_CONNECT, "j {daemon_name} {client_addr} {client_name}");
        smfi_setsymlist(ctx, SMFIM_ENVFROM, "{auth_authen} {auth_type}");
        smfi_setsymlist(ctx, SMFIM_EOH, "i");
        smfi_setsymlist(ctx, SMFIM_EOM, "i");
    }
    return SMFIS_CONTINUE;
}

/* A client connected to Postfix. */
static sfsistat milter_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    sfsistat rc = SMFIS_CONTINUE;

    (void) sa;
    if (c == NULL || !milter_enter())
        return SMFIS_TEMPFAIL;
    /* Postfix names a client without a verified name "[address]", as Sendmail does. */
    if (hostname == NULL || hostname[0] == '[')
        hostname = "unknown";
    txn_set_client(&c->txn, smfi_getsymval(ctx, "{client_addr}"), hostname);
    if (c->txn.trusted)
        rc = SMFIS_ACCEPT;
    milter_leave();
    return rc;
}

/* HELO/EHLO. */
static sfsistat milter_helo(SMFICTX *ctx, char *helo)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (!milter_enter())
        return SMFIS_TEMPFAIL;
    if (c)
        txn_set_helo(&c->txn, helo);
    milter_leave();
    return milter_continue(ctx, SMFIP_NR_HELO);
}

/* MAIL FROM: a new message starts. */
static sfsistat milter_envfrom(SMFICTX *ctx, char **argv)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (!milter_enter())
        return SMFIS_TEMPFAIL;
    if (c)
        txn_mail(&c->txn, argv && argv[0] ? argv[0] : "", smfi_getsymval(ctx, "{auth_authen}"));
    milter_leave();
    return milter_continue(ctx, SMFIP_NR_MAIL);
}

/* RCPT TO. */
static sfsistat milter_envrcpt(SMFICTX *ctx, char **argv)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (!milter_enter())
        return SMFIS_TEMPFAIL;
    if (c)
        txn_rcpt(&c->txn, argv && argv[0] ? argv[0] : "");
    milter_leave();
    return milter_continue(ctx, SMFIP_NR_RCPT);
}

/* One header field. */
static sfsistat milter_header(SMFICTX *ctx, char *name, char *value)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (!milter_enter())
        return SMFIS_TEMPFAIL;
    if (c && name && value)
        txn_header(&c->txn, name, value, (ssize_t) strlen(value));
    milter_leave();
    return milter_continue(ctx, SMFIP_NR_HDR);
}

/* End of headers. */
static sfsistat milter_eoh(SMFICTX *ctx)
{
    struct milter_conn *c = smfi_getpriv(ctx);
    const char *qid = smfi_getsymval(ctx, "i");

    if (!milter_enter())
        return SMFIS_TEMPFAIL;
    if (c) {
        /* Known here already, so lines logged by the checks carry it. */
        if (qid)
            str_set(&c->txn.queue_id, qid);
        txn_eoh(&c->txn);
    }
    milter_leave();
    return milter_continue(ctx, SMFIP_NR_EOH);
}

/* A piece of the body. */
static sfsistat milter_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (!milter_enter())
        return SMFIS_TEMPFAIL;
    if (c)
        txn_body(&c->txn, data, (ssize_t) len);
    milter_leave();
    return milter_continue(ctx, SMFIP_NR_BODY);
}

/* A header value as Postfix wants it: with a leading space when it keeps them. */
static char *milter_value(const struct milter_conn *c, const char *v, str *buf)
{
    str_reset(buf);
    if (c->leadspc && v[0] != ' ' && v[0] != '\t')
        str_addc(buf, ' ');
    str_adds(buf, v);
    return buf->data;
}

/* Apply the header edits the core asked for. */
static void milter_apply_edits(SMFICTX *ctx, struct milter_conn *c)
{
    str buf = STR_INIT;

    for (int i = 0; i < c->txn.nedits; i++) {
        const struct txn_edit *e = &c->txn.edits[i];
        int rc = MI_SUCCESS;

        switch (e->op) {
        case TXN_EDIT_DELETE:
            rc = smfi_chgheader(ctx, e->name, e->index, NULL);
            break;
        case TXN_EDIT_CHANGE:
            rc = smfi_chgheader(ctx, e->name, e->index, milter_value(c, e->value, &buf));
            break;
        case TXN_EDIT_INSERT:
            rc = smfi_insheader(ctx, e->index, e->name, milter_value(c, e->value, &buf));
            break;
        case TXN_EDIT_ADD:
            rc = smfi_addheader(ctx, e->name, milter_value(c, e->value, &buf));
            break;
        }
        if (rc != MI_SUCCESS)
            log_warning("milter: header edit of %s failed", e->name);
    }
    str_free(&buf);
}

/* Set the reply text; '%' must be doubled for libmilter. */
static void milter_reply(SMFICTX *ctx, const struct verdict_entry *w, const str *text)
{
    str t = STR_INIT;

    for (ssize_t i = 0; i < text->len; i++) {
        if (text->data[i] == '%')
            str_addc(&t, '%');
        str_addc(&t, text->data[i]);
    }
    if (t.len == 0)
        str_adds(&t, w && w->rcode[0] == '4' ? "Try again later" : "Message refused");
    if (smfi_setreply(ctx, w ? (char *) w->rcode : "550", w ? (char *) w->xcode : "5.7.1", t.data) != MI_SUCCESS)
        log_warning("milter: cannot set the reply text");
    str_free(&t);
}

/* End of message: decide, edit, log, answer. */
static sfsistat milter_eom(SMFICTX *ctx)
{
    struct milter_conn *c = smfi_getpriv(ctx);
    const char *qid = smfi_getsymval(ctx, "i");
    const struct verdict_entry *w;
    sfsistat rc = SMFIS_ACCEPT;
    int64_t start;

    if (c == NULL || !milter_enter())
        return SMFIS_TEMPFAIL;
    start = c->txn.mail_ms ? c->txn.mail_ms : clock_now_ms();
    if (qid)
        str_set(&c->txn.queue_id, qid);
    txn_eom(&c->txn);
    w = verdict_winner(&c->txn.verdict);
    switch (c->txn.verdict.action) {
    case VERDICT_REJECT:
        milter_reply(ctx, w, &c->txn.reply);
        rc = SMFIS_REJECT;
        break;
    case VERDICT_TEMPFAIL:
        milter_reply(ctx, w, &c->txn.reply);
        rc = SMFIS_TEMPFAIL;
        break;
    case VERDICT_DISCARD:
        rc = SMFIS_DISCARD;
        break;
    default:
        milter_apply_edits(ctx, c);
        if (c->txn.quarantine_reason && smfi_quarantine(ctx, c->txn.quarantine_reason) != MI_SUCCESS)
            log_warning("milter: cannot put the message on hold");
        rc = SMFIS_CONTINUE;
        break;
    }
    txn_log(&c->txn, clock_now_ms() - start);
    txn_reset_message(&c->txn);
    milter_leave();
    return rc;
}

/* The message was aborted (RSET, lost connection): forget it. */
static sfsistat milter_abort(SMFICTX *ctx)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (!milter_enter())
        return SMFIS_CONTINUE;
    if (c)
        txn_reset_message(&c->txn);
    milter_leave();
    return SMFIS_CONTINUE;
}

/* The connection ended: free its context. */
static sfsistat milter_close(SMFICTX *ctx)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    /* Once stopping, the session's state stays: freeing it needs the core. */
    if (c == NULL || !milter_enter())
        return SMFIS_CONTINUE;
    smfi_setpriv(ctx, NULL);
    txn_free(&c->txn);
    mem_free(c);
    pthread_mutex_lock(&milter_lock);
    milter_active--;
    pthread_cond_broadcast(&milter_idle);
    pthread_mutex_unlock(&milter_lock);
    milter_leave();
    return SMFIS_CONTINUE;
}

static struct smfiDesc milter_desc = {
    .xxfi_name = "rampart",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST,
    .xxfi_connect = milter_connect,
    .xxfi_helo = milter_helo,
    .xxfi_envfrom = milter_envfrom,
    .xxfi_envrcpt = milter_envrcpt,
    .xxfi_header = milter_header,
    .xxfi_eoh = milter_eoh,
    .xxfi_body = milter_body,
    .xxfi_eom = milter_eom,
    .xxfi_abort = milter_abort,
    .xxfi_close = milter_close,
    .xxfi_negotiate = milter_negotiate,
};

/* Register and open the listening socket. */
int milter_open(const struct config *cfg, const char *spec)
{
    struct listen_spec ls;
    str err = STR_INIT, conn = STR_INIT, pf = STR_INIT;
    int rc = -1;

    if (listen_parse(spec, &ls, &err) != 0) {
        log_error("milter_listen: %s: %s", spec, str_cstr(&err));
        goto out;
    }
    listen_format_milter(&ls, &conn);
    listen_format_postfix(&ls, &pf);
    if (ls.kind == LISTEN_UNIX)
        unlink(ls.path);
    if (smfi_setconn(conn.data) != MI_SUCCESS || smfi_register(milter_desc) != MI_SUCCESS) {
        log_error("milter_listen: libmilter refused %s", str_cstr(&conn));
        goto out;
    }
    smfi_settimeout((int) (cfg->milter_io_timeout / 1000));
    if (smfi_opensocket(true) != MI_SUCCESS) {
        log_error("milter_listen: cannot open %s (in use, or no permission)", spec);
        goto out;
    }
    if (ls.kind == LISTEN_UNIX) {
        if (listen_set_perms(ls.path, cfg->socket_owner, cfg->socket_group, cfg->socket_mode,
                             &err) != 0) {
            log_error("milter_listen: %s", str_cstr(&err));
            goto out;
        }
        milter_unix_path = mem_strdup(ls.path);
    }
    log_notice("milter listening on %s; in Postfix main.cf: smtpd_milters = %s, "
               "non_smtpd_milters = %s, milter_default_action = tempfail",
               str_cstr(&conn), str_cstr(&pf), str_cstr(&pf));
    rc = 0;
out:
    str_free(&err);
    str_free(&conn);
    str_free(&pf);
    return rc;
}

/* Run libmilter until it stops. */
int milter_run(void)
{
    int rc = smfi_main();

    if (milter_unix_path) {
        unlink(milter_unix_path);
        mem_free(milter_unix_path);
        milter_unix_path = NULL;
    }
    return rc == MI_SUCCESS ? 0 : -1;
}

/* Open sessions. */
int milter_sessions(void)
{
    int n;

    pthread_mutex_lock(&milter_lock);
    n = milter_active;
    pthread_mutex_unlock(&milter_lock);
    return n;
}

/* Wait for open sessions to end. */
int milter_drain(int64_t timeout_ms, int *open)
{
    int64_t until = clock_now_ms() + timeout_ms;
    int n;

    pthread_mutex_lock(&milter_lock);
    __atomic_store_n(&milter_stopping, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&milter_busy, __ATOMIC_SEQ_CST) > 0 && clock_now_ms() < until) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&milter_idle, &milter_lock, &ts);
    }
    n = __atomic_load_n(&milter_busy, __ATOMIC_SEQ_CST);
    *open = milter_active;
    pthread_mutex_unlock(&milter_lock);
    return n;
}
