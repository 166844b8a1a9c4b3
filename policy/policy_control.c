/*
 * policy_control.c - the control socket: rampartctl's way in.
 *
 * policy_control_socket names a unix socket, created at start-up (while
 * still privileged) with mode 0600 and given to the configured user, so
 * that only root and rampartd's own user can connect; the peer's
 * credentials are checked as well (SO_PEERCRED: uid 0 or ours). One thread
 * serves one client at a time: a command line (at most 4 KiB, within 5
 * seconds), the answer (policy_control_command), close. Commands:
 *
 *   status                     backend, transactions and handoff entries
 *   ratelimit list [PATTERN]   counters matching a glob, with their counts
 *   ratelimit reset PATTERN    forget matching counters (logged)
 *
 * Logs the socket's set-up errors and refused peers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "policy.h"
#include "util.h"

#define CONTROL_MAX_LINE 4096
#define CONTROL_TIMEOUT_MS 5000

static struct {
    int fd;
    int stop[2];
    char *path;
    pthread_t thread;
    int running;
} ctl = { .fd = -1, .stop = { -1, -1 } };

int policy_control_open(const struct config *cfg)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    const char *path = cfg->policy_control_socket;
    size_t len = strlen(path);

    if (len == 0)
        return 0;
    if (path[0] != '/' || len >= sizeof(sun.sun_path)) {
        log_error("policy_control_socket: %s: expected an absolute path of at most %zu bytes", path,
                  sizeof(sun.sun_path) - 1);
        return -1;
    }
    memcpy(sun.sun_path, path, len + 1);
    if ((ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        log_error("policy_control_socket: %s", strerror(errno));
        return -1;
    }
    unlink(path);
    if (bind(ctl.fd, (struct sockaddr *) &sun, sizeof(sun)) != 0 || chmod(path, 0600) != 0
        || listen(ctl.fd, 16) != 0) {
        log_error("policy_control_socket: cannot listen on %s: %s", path, strerror(errno));
        close(ctl.fd);
        ctl.fd = -1;
        return -1;
    }
    if (cfg->user[0] && geteuid() == 0) {
        struct passwd *pw = getpwnam(cfg->user);

        if (pw == NULL || chown(path, pw->pw_uid, pw->pw_gid) != 0)
            log_warning("policy_control_socket: cannot give %s to user %s", path, cfg->user);
    }
    ctl.path = mem_strdup(path);
    return 0;
}

/* Serve one client. */
static void control_serve(int fd)
{
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    str line = STR_INIT, out = STR_INIT;
    int64_t until = clock_now_ms() + CONTROL_TIMEOUT_MS;
    char buf[512];

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0
        || (cred.uid != 0 && cred.uid != geteuid())) {
        log_warning("policy: control socket: refusing uid %ld", (long) cred.uid);
        return;
    }
    while (memchr(line.data ? line.data : "", '\n', (size_t) line.len) == NULL) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left = until - clock_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&p, 1, (int) left) <= 0)
            break;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        str_add(&line, buf, n);
        if (line.len > CONTROL_MAX_LINE)
            break;
    }
    if (line.len == 0 || line.len > CONTROL_MAX_LINE || memchr(line.data, '\0', (size_t) line.len))
        str_adds(&out, "error: expected one command line\n");
    else {
        ssize_t nl = (char *) memchr(line.data, '\n', (size_t) line.len) - line.data;

        if (nl >= 0 && nl < line.len)
            str_truncate(&line, nl);
        policy_control_command(str_cstr(&line), &out);
    }
    for (ssize_t off = 0; off < out.len;) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        ssize_t n = send(fd, out.data + off, (size_t) (out.len - off), MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0)
            off += n;
        else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (poll(&p, 1, CONTROL_TIMEOUT_MS) <= 0)
                break;
        } else
            break;
    }
    str_free(&line);
    str_free(&out);
}

static void *control_loop(void *arg)
{
    thread_name("rampart-control");
    (void) arg;
    for (;;) {
        struct pollfd p[2] = { { .fd = ctl.fd, .events = POLLIN }, { .fd = ctl.stop[0], .events = POLLIN } };
        int fd;

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("policy: control socket: poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        if ((fd = accept4(ctl.fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
            continue;
        control_serve(fd);
        close(fd);
    }
    return NULL;
}

int policy_control_start(void)
{
    if (ctl.fd < 0)
        return 0;
    if (pipe2(ctl.stop, O_CLOEXEC) != 0)
        return -1;
    if (pthread_create(&ctl.thread, NULL, control_loop, NULL) != 0)
        return -1;
    ctl.running = 1;
    return 0;
}

void policy_control_stop(void)
{
    if (ctl.running) {
        if (write(ctl.stop[1], "x", 1) != 1)
            log_warning("policy: cannot stop the control thread");
        pthread_join(ctl.thread, NULL);
        ctl.running = 0;
    }
    for (int i = 0; i < 2; i++)
        if (ctl.stop[i] >= 0) {
            close(ctl.stop[i]);
            ctl.stop[i] = -1;
        }
    if (ctl.fd >= 0) {
        close(ctl.fd);
        ctl.fd = -1;
    }
    if (ctl.path) {
        unlink(ctl.path);
        mem_free(ctl.path);
        ctl.path = NULL;
    }
}
