/*
 * null-milter.c - a milter that accepts everything: the upper bound of
 * what Postfix plus the milter protocol cost, against which rampartd is
 * measured. It keeps nothing and looks at nothing, but it takes every
 * stage rampartd takes (connect, HELO, MAIL, RCPT, headers, end of
 * headers, body, end of message), so the same milter messages cross the
 * socket.
 *
 * Usage: null-milter -p SOCKET [-n] [-b BACKLOG]
 *
 *   -p  libmilter socket spec: inet:PORT@HOST, unix:/path
 *   -n  negotiate "no reply" for every stage Postfix allows it for (as
 *       rampartd does for all but CONNECT and end of message): Postfix
 *       then waits for this milter only at end of message
 *   -b  listen backlog (default 128)
 *
 * Stops on SIGTERM or SIGINT (libmilter's own handling).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

static int no_reply;

/* Flags this milter asks for: all the no-reply flags Postfix offers, with -n. */
static const unsigned long null_nr_flags = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT
                                           | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH
                                           | SMFIP_NR_BODY;

struct null_conn {
    unsigned long nr;         /* no-reply flags agreed */
};

static sfsistat null_continue(SMFICTX *ctx, unsigned long flag)
{
    struct null_conn *c = smfi_getpriv(ctx);

    return c && (c->nr & flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat null_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                               unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
                               unsigned long *pf3)
{
    struct null_conn *c = calloc(1, sizeof(*c));

    (void) f0;
    (void) f2;
    (void) f3;
    if (c == NULL)
        return SMFIS_TEMPFAIL;
    c->nr = no_reply ? (f1 & null_nr_flags) : 0;
    smfi_setpriv(ctx, c);
    *pf0 = 0;
    /* Like rampartd: no DATA and no unknown-command stage. */
    *pf1 = c->nr | (f1 & (SMFIP_NOUNKNOWN | SMFIP_NODATA));
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat null_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
    (void) host;
    (void) sa;
    return null_continue(ctx, SMFIP_NR_CONN);
}

static sfsistat null_helo(SMFICTX *ctx, char *helo)
{
    (void) helo;
    return null_continue(ctx, SMFIP_NR_HELO);
}

static sfsistat null_envfrom(SMFICTX *ctx, char **argv)
{
    (void) argv;
    return null_continue(ctx, SMFIP_NR_MAIL);
}

static sfsistat null_envrcpt(SMFICTX *ctx, char **argv)
{
    (void) argv;
    return null_continue(ctx, SMFIP_NR_RCPT);
}

static sfsistat null_header(SMFICTX *ctx, char *name, char *value)
{
    (void) name;
    (void) value;
    return null_continue(ctx, SMFIP_NR_HDR);
}

static sfsistat null_eoh(SMFICTX *ctx)
{
    return null_continue(ctx, SMFIP_NR_EOH);
}

static sfsistat null_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
    (void) data;
    (void) len;
    return null_continue(ctx, SMFIP_NR_BODY);
}

static sfsistat null_eom(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_CONTINUE;
}

static sfsistat null_abort(SMFICTX *ctx)
{
    (void) ctx;
    return SMFIS_CONTINUE;
}

static sfsistat null_close(SMFICTX *ctx)
{
    free(smfi_getpriv(ctx));
    smfi_setpriv(ctx, NULL);
    return SMFIS_CONTINUE;
}

static struct smfiDesc null_desc = {
    .xxfi_name = "null-milter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = 0,
    .xxfi_connect = null_connect,
    .xxfi_helo = null_helo,
    .xxfi_envfrom = null_envfrom,
    .xxfi_envrcpt = null_envrcpt,
    .xxfi_header = null_header,
    .xxfi_eoh = null_eoh,
    .xxfi_body = null_body,
    .xxfi_eom = null_eom,
    .xxfi_abort = null_abort,
    .xxfi_close = null_close,
    .xxfi_negotiate = null_negotiate,
};

int main(int argc, char **argv)
{
    const char *spec = NULL;
    int opt, backlog = 128;

    while ((opt = getopt(argc, argv, "p:nb:")) != -1) {
        switch (opt) {
        case 'p': spec = optarg; break;
        case 'n': no_reply = 1; break;
        case 'b': backlog = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: null-milter -p SOCKET [-n] [-b BACKLOG]\n");
            return 2;
        }
    }
    if (spec == NULL) {
        fprintf(stderr, "null-milter: -p SOCKET is required\n");
        return 2;
    }
    if (smfi_setconn((char *) spec) != MI_SUCCESS || smfi_setbacklog(backlog) != MI_SUCCESS
        || smfi_register(null_desc) != MI_SUCCESS || smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "null-milter: cannot set up %s\n", spec);
        return 1;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
