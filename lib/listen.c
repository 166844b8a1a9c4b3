/*
 * listen.c - socket specifications.
 *
 * listen_parse() reads both spellings an admin may paste: libmilter's
 * (inet:8894@127.0.0.1, inet6:8894@[::1], unix:/run/rampart/milter.sock)
 * and Postfix's (inet:127.0.0.1:8894, inet:[::1]:8894). The formatters give
 * back the libmilter form for smfi_setconn() and the Postfix form for the
 * line the daemon logs for main.cf. listen_set_perms() gives a unix socket
 * its owner, group and mode; listen_prepare_unix() makes its directory and
 * clears a stale socket file before the bind (it only probes with a
 * connect; it never listens).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"

/* Parse a decimal port 1..65535 that spans the whole string. */
static int listen_port(const char *s, int *port)
{
    char *end;
    long v;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (int) v;
    return 0;
}

/* Copy host (len bytes) into out, dropping [brackets]; decide inet vs inet6. */
static int listen_host(struct listen_spec *out, const char *host, size_t len, str *err)
{
    struct in6_addr a6;

    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len >= sizeof(out->host)) {
        str_adds(err, "host name too long");
        return -1;
    }
    memcpy(out->host, host, len);
    out->host[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) out->host[i];

        if (!(c == '.' || c == '-' || c == ':' || c == '_' || (c >= '0' && c <= '9')
              || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            str_adds(err, "bad character in host");
            return -1;
        }
    }
    if (inet_pton(AF_INET6, out->host, &a6) == 1)
        out->kind = LISTEN_INET6;
    return 0;
}

/* Parse a socket spec. */
int listen_parse(const char *spec, struct listen_spec *out, str *err)
{
    const char *rest, *at, *colon;

    memset(out, 0, sizeof(*out));
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
        rest = strchr(spec, ':') + 1;
        if (rest[0] != '/') {
            str_adds(err, "unix socket path must be absolute");
            return -1;
        }
        if (strlen(rest) >= sizeof(out->path)) {
            str_adds(err, "unix socket path too long");
            return -1;
        }
        out->kind = LISTEN_UNIX;
        memcpy(out->path, rest, strlen(rest) + 1);
        return 0;
    }
    if (strncmp(spec, "inet:", 5) == 0)
        rest = spec + 5;
    else if (strncmp(spec, "inet6:", 6) == 0)
        rest = spec + 6;
    else {
        str_adds(err, "expected unix:/path, inet:HOST:PORT or inet:PORT@HOST");
        return -1;
    }
    out->kind = LISTEN_INET;
    if ((at = strchr(rest, '@')) != NULL) {
        /* libmilter: PORT@HOST */
        char port[8];
        size_t plen = (size_t) (at - rest);

        if (plen == 0 || plen >= sizeof(port)) {
            str_adds(err, "bad port");
            return -1;
        }
        memcpy(port, rest, plen);
        port[plen] = '\0';
        if (listen_port(port, &out->port) != 0) {
            str_adds(err, "bad port");
            return -1;
        }
        if (listen_host(out, at + 1, strlen(at + 1), err) != 0)
            return -1;
    } else {
        /* Postfix: HOST:PORT or [HOST]:PORT; the port follows the last colon. */
        colon = strrchr(rest, ':');
        if (colon == NULL || listen_port(colon + 1, &out->port) != 0) {
            str_adds(err, "bad port");
            return -1;
        }
        if (rest[0] != '[' && memchr(rest, ':', (size_t) (colon - rest)) != NULL) {
            str_adds(err, "an IPv6 address needs brackets: inet:[::1]:PORT");
            return -1;
        }
        if (listen_host(out, rest, (size_t) (colon - rest), err) != 0)
            return -1;
    }
    if (strncmp(spec, "inet6:", 6) == 0)
        out->kind = LISTEN_INET6;
    return 0;
}

/* libmilter form. */
void listen_format_milter(const struct listen_spec *l, str *out)
{
    if (l->kind == LISTEN_UNIX)
        str_addf(out, "unix:%s", l->path);
    else
        str_addf(out, "%s:%d@%s", l->kind == LISTEN_INET6 ? "inet6" : "inet", l->port, l->host);
}

/* Postfix main.cf form. */
void listen_format_postfix(const struct listen_spec *l, str *out)
{
    if (l->kind == LISTEN_UNIX)
        str_addf(out, "unix:%s", l->path);
    else if (l->kind == LISTEN_INET6 || strchr(l->host, ':'))
        str_addf(out, "inet:[%s]:%d", l->host, l->port);
    else
        str_addf(out, "inet:%s:%d", l->host[0] ? l->host : "127.0.0.1", l->port);
}

/* User and group ids by name ("" leaves -1); key names the setting in errors. */
static int listen_ids(const char *user, const char *user_key, const char *group, uid_t *uid, gid_t *gid,
                      str *err)
{
    *uid = (uid_t) -1;
    *gid = (gid_t) -1;
    if (user[0]) {
        struct passwd *pw = getpwnam(user);

        if (pw == NULL) {
            str_addf(err, "%s: unknown user %s", user_key, user);
            return -1;
        }
        *uid = pw->pw_uid;
    }
    if (group[0]) {
        struct group *gr = getgrnam(group);

        if (gr == NULL) {
            str_addf(err, "socket_group: unknown group %s", group);
            return -1;
        }
        *gid = gr->gr_gid;
    }
    return 0;
}

/* chown (where an id is set) and chmod. */
static int listen_chown_chmod(const char *path, uid_t uid, gid_t gid, mode_t mode, str *err)
{
    if ((uid != (uid_t) -1 || gid != (gid_t) -1) && chown(path, uid, gid) != 0) {
        str_addf(err, "chown %s: %s", path, strerror(errno));
        return -1;
    }
    if (chmod(path, mode) != 0) {
        str_addf(err, "chmod %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Set owner, group and mode of a unix socket. */
int listen_set_perms(const char *path, const char *owner, const char *group, int mode, str *err)
{
    uid_t uid;
    gid_t gid;

    if (listen_ids(owner, "socket_owner", group, &uid, &gid, err) != 0)
        return -1;
    return listen_chown_chmod(path, uid, gid, (mode_t) mode, err);
}

/* Whether someone accepts connections on the unix socket path: 1 yes, 0 no, -1 cannot tell. */
static int listen_unix_live(const char *path, int *err_no)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd, rc;

    memcpy(sun.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        *err_no = errno;
        return -1;
    }
    rc = connect(fd, (struct sockaddr *) &sun, sizeof(sun));
    *err_no = errno;
    close(fd);
    /* EAGAIN: the listener's backlog is full, so it is alive. */
    if (rc == 0 || *err_no == EAGAIN || *err_no == EINPROGRESS)
        return 1;
    if (*err_no == ECONNREFUSED || *err_no == ENOENT)
        return 0;
    return -1;
}

/* Make the socket's directory; clear a stale socket. */
int listen_prepare_unix(const char *path, const char *dir_user, const char *group, str *err)
{
    const char *slash = strrchr(path, '/');
    char dir[sizeof(((struct listen_spec *) NULL)->path)];
    uid_t uid;
    gid_t gid;
    struct stat st;
    int flags = 0, e, live;

    if (path[0] != '/' || slash == NULL || strlen(path) >= sizeof(dir)) {
        str_addf(err, "%s: not an absolute path of a usable length", path);
        return -1;
    }
    if (slash == path) {
        dir[0] = '/';
        dir[1] = '\0';
    } else {
        memcpy(dir, path, (size_t) (slash - path));
        dir[slash - path] = '\0';
    }
    if (listen_ids(dir_user, "user", group, &uid, &gid, err) != 0)
        return -1;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT) {
            str_addf(err, "%s: %s", dir, strerror(errno));
            return -1;
        }
        /* 0700 until owner and group are right; umask does not matter then. */
        if (mkdir(dir, 0700) != 0) {
            str_addf(err, "cannot create the socket directory %s: %s", dir,
                     errno == ENOENT ? "its parent directory does not exist" : strerror(errno));
            return -1;
        }
        if (listen_chown_chmod(dir, uid, gid, gid != (gid_t) -1 ? 0750 : 0755, err) != 0)
            return -1;
        flags |= LISTEN_MADE_DIR;
    } else if (!S_ISDIR(st.st_mode)) {
        str_addf(err, "%s exists and is not a directory", dir);
        return -1;
    } else if (!(st.st_mode & S_IXOTH) && !(gid != (gid_t) -1 && st.st_gid == gid && (st.st_mode & S_IXGRP))) {
        flags |= LISTEN_DIR_CLOSED;
    }
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return flags;
        str_addf(err, "%s: %s", path, strerror(errno));
        /* root without CAP_DAC_OVERRIDE is refused a directory owned by another user */
        if (errno == EACCES && geteuid() == 0)
            str_addf(err, " (root needs CAP_DAC_OVERRIDE to enter %s)", dir);
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        str_addf(err, "%s exists and is not a socket; not removing it", path);
        return -1;
    }
    if ((live = listen_unix_live(path, &e)) > 0) {
        str_addf(err, "another process listens on %s (is rampartd already running?)", path);
        return -1;
    }
    if (live < 0) {
        str_addf(err, "cannot tell whether %s is in use: %s", path, strerror(e));
        return -1;
    }
    if (e == ENOENT)
        return flags;   /* gone meanwhile */
    if (unlink(path) != 0 && errno != ENOENT) {
        str_addf(err, "cannot remove the stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    return flags | LISTEN_REMOVED_STALE;
}
