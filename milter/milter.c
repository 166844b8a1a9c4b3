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
 * xxfi_close (always called). Per message: reset at MAIL FROM, at abort
 * (RSET) and after end of message, so several messages on one connection
 * start clean. Untrusted values are bounded (MILTER_MAX_VALUE) and escaped
 * in the log.
 *
 * Logs one summary line per message ("milter: ...").
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
#include "util.h"

#define MILTER_MAX_VALUE 1024   /* bytes kept of a HELO name, address or macro */

struct milter_conn {
    unsigned long noreply;    /* SMFIP_NR_* flags Postfix agreed to */
    str client_addr;
    str client_name;
    str helo;
    str mail_from;
    int rcpts;
    int64_t msg_start_ms;
};

static int milter_active;
static pthread_mutex_t milter_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t milter_idle = PTHREAD_COND_INITIALIZER;
static char *milter_unix_path;

/* Keep at most MILTER_MAX_VALUE bytes of an untrusted value. */
static void milter_keep(str *dst, const char *value)
{
    str_reset(dst);
    if (value)
        str_add(dst, value, (ssize_t) strnlen(value, MILTER_MAX_VALUE));
}

/* What a stage returns when it has nothing to say. */
static sfsistat milter_continue(SMFICTX *ctx, unsigned long nr_flag)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    return c && (c->noreply & nr_flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* Forget the current message. */
static void milter_reset_message(struct milter_conn *c)
{
    str_reset(&c->mail_from);
    c->rcpts = 0;
    c->msg_start_ms = 0;
}

/* Agree on actions and stages; allocate the connection context. */
static sfsistat milter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                                 unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                                 unsigned long *pf2, unsigned long *pf3)
{
    struct milter_conn *c = mem_zalloc(sizeof(*c));
    unsigned long want_nr = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT
                            | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH
                            | SMFIP_NR_BODY;
    unsigned long skip = SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA;

    (void) f2;
    (void) f3;
    smfi_setpriv(ctx, c);
    pthread_mutex_lock(&milter_lock);
    milter_active++;
    pthread_mutex_unlock(&milter_lock);
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
    c->noreply = f1 & want_nr;
    *pf1 = c->noreply | (f1 & skip);
    *pf2 = 0;
    *pf3 = 0;
    if (f0 & SMFIF_SETSYMLIST) {
        smfi_setsymlist(ctx, SMFIM_CONNECT, "j {daemon_name} {client_addr} {client_name}");
        smfi_setsymlist(ctx, SMFIM_ENVFROM, "{auth_authen} {auth_type}");
        smfi_setsymlist(ctx, SMFIM_EOM, "i");
    }
    return SMFIS_CONTINUE;
}

/* A client connected to Postfix. */
static sfsistat milter_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    (void) sa;
    if (c == NULL)
        return SMFIS_TEMPFAIL;
    milter_keep(&c->client_name, hostname);
    milter_keep(&c->client_addr, smfi_getsymval(ctx, "{client_addr}"));
    return milter_continue(ctx, SMFIP_NR_CONN);
}

/* HELO/EHLO. */
static sfsistat milter_helo(SMFICTX *ctx, char *helo)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (c)
        milter_keep(&c->helo, helo);
    return milter_continue(ctx, SMFIP_NR_HELO);
}

/* MAIL FROM: a new message starts. */
static sfsistat milter_envfrom(SMFICTX *ctx, char **argv)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (c) {
        milter_reset_message(c);
        milter_keep(&c->mail_from, argv && argv[0] ? argv[0] : "");
        c->msg_start_ms = clock_now_ms();
    }
    return milter_continue(ctx, SMFIP_NR_MAIL);
}

/* RCPT TO. */
static sfsistat milter_envrcpt(SMFICTX *ctx, char **argv)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    (void) argv;
    if (c)
        c->rcpts++;
    return milter_continue(ctx, SMFIP_NR_RCPT);
}

/* End of message: decide, log, answer. */
static sfsistat milter_eom(SMFICTX *ctx)
{
    struct milter_conn *c = smfi_getpriv(ctx);
    const char *qid = smfi_getsymval(ctx, "i");
    log_line line;

    if (c == NULL)
        return SMFIS_TEMPFAIL;
    log_line_init(&line, "milter:");
    log_line_add(&line, "queue_id", qid ? qid : "");
    log_line_addn(&line, "client", str_cstr(&c->client_addr), c->client_addr.len);
    log_line_addn(&line, "client_name", str_cstr(&c->client_name), c->client_name.len);
    log_line_addn(&line, "helo", str_cstr(&c->helo), c->helo.len);
    log_line_addn(&line, "from", str_cstr(&c->mail_from), c->mail_from.len);
    log_line_addf(&line, "rcpts", "%d", c->rcpts);
    log_line_add(&line, "action", "accept");
    log_line_addf(&line, "time", "%lldms", (long long) (clock_now_ms() - c->msg_start_ms));
    log_line_emit(&line, LOG_LVL_INFO);
    milter_reset_message(c);
    return SMFIS_ACCEPT;
}

/* The message was aborted (RSET, lost connection): forget it. */
static sfsistat milter_abort(SMFICTX *ctx)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (c)
        milter_reset_message(c);
    return SMFIS_CONTINUE;
}

/* The connection ended: free its context. */
static sfsistat milter_close(SMFICTX *ctx)
{
    struct milter_conn *c = smfi_getpriv(ctx);

    if (c == NULL)
        return SMFIS_CONTINUE;
    smfi_setpriv(ctx, NULL);
    str_free(&c->client_addr);
    str_free(&c->client_name);
    str_free(&c->helo);
    str_free(&c->mail_from);
    mem_free(c);
    pthread_mutex_lock(&milter_lock);
    milter_active--;
    pthread_cond_broadcast(&milter_idle);
    pthread_mutex_unlock(&milter_lock);
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
int milter_drain(int64_t timeout_ms)
{
    int64_t until = clock_now_ms() + timeout_ms;
    int n;

    pthread_mutex_lock(&milter_lock);
    while (milter_active > 0 && clock_now_ms() < until) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&milter_idle, &milter_lock, &ts);
    }
    n = milter_active;
    pthread_mutex_unlock(&milter_lock);
    return n;
}
