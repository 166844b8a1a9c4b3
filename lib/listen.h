/* listen.h - socket specifications in the spellings admins know. */
#ifndef RAMPART_LISTEN_H
#define RAMPART_LISTEN_H

#include "str.h"

enum listen_kind { LISTEN_UNIX, LISTEN_INET, LISTEN_INET6 };

struct listen_spec {
    enum listen_kind kind;
    char path[108];     /* LISTEN_UNIX: sun_path */
    char host[256];     /* LISTEN_INET*: address or host name, no brackets; "" = any */
    int port;
};

/*
 * Parse a spec. Accepted: libmilter's "unix:/path", "local:/path",
 * "inet:PORT@HOST", "inet6:PORT@HOST" and "inet6:PORT@[HOST]"; Postfix's
 * "inet:HOST:PORT", "inet:[HOST]:PORT", "unix:/path". Returns 0, or -1
 * with a reason in err.
 */
int listen_parse(const char *spec, struct listen_spec *out, str *err);
/* The spec as libmilter's smfi_setconn() wants it. */
void listen_format_milter(const struct listen_spec *l, str *out);
/* The spec as Postfix main.cf wants it (smtpd_milters, check_policy_service). */
void listen_format_postfix(const struct listen_spec *l, str *out);

/*
 * Give a unix socket the configured owner, group (names; "" = leave) and
 * mode. Returns 0, or -1 with a reason in err.
 */
int listen_set_perms(const char *path, const char *owner, const char *group, int mode, str *err);

/* What listen_prepare_unix() did or found. */
#define LISTEN_MADE_DIR 1       /* created the socket's directory */
#define LISTEN_REMOVED_STALE 2  /* removed a socket file nobody listened on */
#define LISTEN_DIR_CLOSED 4     /* the directory exists and lets neither group nor others in */

/*
 * Before a unix socket is bound (as root, before privileges are dropped):
 * create its directory if missing, only the last component (owner
 * dir_user, group `group`, names, "" = as created; mode 0750, or 0755 when
 * group is ""), and remove a socket file that nobody listens on (left by a
 * process that was killed). Refuses a path that exists and is not a
 * socket, and a socket another process listens on. Returns LISTEN_* flags,
 * or -1 with a reason in err.
 */
int listen_prepare_unix(const char *path, const char *dir_user, const char *group, str *err);

#endif
