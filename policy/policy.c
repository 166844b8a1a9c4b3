/*
 * policy.c - the Postfix SMTP access policy delegation service.
 *
 * Protocol (Postfix SMTPD_POLICY_README): the client sends name=value lines
 * and an empty line; we answer "action=..." and an empty line; the
 * connection stays open for more requests.
 *
 * One event thread owns the listening socket and every connection, with
 * epoll in one-shot mode: a readable connection is handed to a worker,
 * which reads what is there, and either re-arms the connection (request not
 * complete) or answers the complete request and re-arms it. So a slow check
 * never holds the event loop, and a client that stalls mid-request costs a
 * descriptor, not a thread. The event thread closes connections that are
 * idle past policy_idle_timeout or that started a request and did not
 * finish it within policy_request_timeout, and refuses connections past
 * policy_max_connections.
 *
 * Limits: a request over policy_max_request_size bytes, a line without '=',
 * a NUL byte or more than POLICY_MAX_ATTRS attributes is a protocol error:
 * logged (escaped) and the connection is closed, which makes Postfix apply
 * its smtpd_policy_service_default_action (a temporary error by default).
 *
 * Logs one summary line per request ("policy: ..." with each check's
 * result, the action and the time), protocol errors, and refused
 * connections (one line per second at most, with a count).
 *
 * The checks are in policy_checks.c, the control socket (rampartctl) in
 * policy_control.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "mem.h"
#include "policy.h"
#include "util.h"

struct policy_conn {
    int fd;
    int busy;                 /* a worker has it */
    int closing;
    int64_t last_ms;          /* last activity */
    int64_t request_start_ms; /* first byte of the pending request, 0 if none */
    int64_t ready_ms;         /* when the event loop found it readable and queued it */
    str in;                   /* bytes of the pending request */
    char peer[64];
    struct policy_conn *prev, *next;
    struct policy_conn *qnext; /* work queue */
};

static struct {
    int listen_fd;
    int epfd;
    int stop_pipe[2];
    char *unix_path;
    int max_conns, nconns, workers;
    int64_t idle_ms, request_ms, max_request;
    pthread_t loop_thread;
    pthread_t *worker_threads;
    pthread_mutex_t lock;
    pthread_cond_t work_cond, idle_cond;
    struct policy_conn *conns;            /* all connections */
    struct policy_conn *qhead, *qtail;    /* ready for a worker */
    int active;                           /* workers handling a connection */
    int stopping;
    int started;
    long long refused;                    /* connections refused since the last report */
    int64_t refused_logged;
} pol = { .listen_fd = -1, .epfd = -1, .stop_pipe = { -1, -1 },
          .lock = PTHREAD_MUTEX_INITIALIZER, .work_cond = PTHREAD_COND_INITIALIZER,
          .idle_cond = PTHREAD_COND_INITIALIZER };

/* The value of an attribute, or "". */
const char *policy_attr(const struct policy_request *req, const char *name)
{
    for (int i = 0; i < req->n; i++)
        if (strcmp(req->name[i], name) == 0)
            return req->value[i];
    return "";
}

/* Free a parsed request. */
void policy_request_free(struct policy_request *req)
{
    for (int i = 0; i < req->n; i++) {
        mem_free(req->name[i]);
        mem_free(req->value[i]);
    }
    req->n = 0;
}

/* Parse name=value lines. */
int policy_parse(const char *data, ssize_t len, struct policy_request *req, str *why)
{
    ssize_t pos = 0;

    req->n = 0;
    req->arrived_ms = 0;
    if (memchr(data, '\0', (size_t) len) != NULL) {
        str_adds(why, "NUL byte in request");
        return -1;
    }
    while (pos < len) {
        const char *line = data + pos, *nl = memchr(line, '\n', (size_t) (len - pos));
        ssize_t llen = nl ? nl - line : len - pos;
        const char *eq = memchr(line, '=', (size_t) llen);

        pos += llen + 1;
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (eq == NULL || eq == line) {
            str_adds(why, "line is not name=value: \"");
            str_add_escaped(why, line, llen, 64);
            str_addc(why, '"');
            policy_request_free(req);
            return -1;
        }
        if (req->n >= POLICY_MAX_ATTRS) {
            str_addf(why, "more than %d attributes", POLICY_MAX_ATTRS);
            policy_request_free(req);
            return -1;
        }
        req->name[req->n] = mem_strndup(line, eq - line);
        req->value[req->n] = mem_strndup(eq + 1, llen - (eq + 1 - line));
        req->n++;
    }
    return 0;
}

/* Register or re-arm a connection for one readable event. Lock not needed. */
static void policy_arm(struct policy_conn *c, int op)
{
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c };

    if (epoll_ctl(pol.epfd, op, c->fd, &ev) != 0)
        log_warning("policy: epoll_ctl: %s", strerror(errno));
}

/* Close and free a connection. Lock held; the connection is not busy. */
static void policy_close(struct policy_conn *c)
{
    epoll_ctl(pol.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        pol.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pol.nconns--;
    str_free(&c->in);
    mem_free(c);
}

/* Write all of buf, waiting at most timeout_ms in total. */
static int policy_write_all(int fd, const char *buf, ssize_t len, int64_t timeout_ms)
{
    int64_t until = clock_now_ms() + timeout_ms;

    while (len > 0) {
        ssize_t n = send(fd, buf, (size_t) len, MSG_NOSIGNAL);

        if (n > 0) {
            buf += n;
            len -= n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            int64_t left = until - clock_now_ms();

            if (left <= 0 || poll(&p, 1, (int) left) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Answer one complete request and log it. Returns -1 to close the connection. */
static int policy_answer(struct policy_conn *c, const char *data, ssize_t len)
{
    struct policy_request req = { 0 };
    str why = STR_INIT, reply = STR_INIT;
    log_line line;
    int64_t t0 = clock_now_ms();
    int rc;

    if (policy_parse(data, len, &req, &why) != 0) {
        log_warning("policy: protocol error from %s: %s; closing", c->peer, str_cstr(&why));
        str_free(&why);
        return -1;
    }
    /* The first request of this round was there when the connection was queued;
       Postfix sends the next one only after this answer. */
    req.arrived_ms = c->ready_ms && c->ready_ms <= t0 ? c->ready_ms : t0;
    c->ready_ms = 0;
    log_line_init(&line, "policy:");
    log_line_add(&line, "queue_id", policy_attr(&req, "queue_id"));
    log_line_add(&line, "state", policy_attr(&req, "protocol_state"));
    log_line_add(&line, "client", policy_attr(&req, "client_address"));
    log_line_add(&line, "helo", policy_attr(&req, "helo_name"));
    log_line_add(&line, "sender", policy_attr(&req, "sender"));
    log_line_add(&line, "recipient", policy_attr(&req, "recipient"));
    if (policy_attr(&req, "sasl_username")[0])
        log_line_add(&line, "sasl_username", policy_attr(&req, "sasl_username"));
    policy_decide(&req, &reply, &line);
    log_line_add(&line, "action", reply.data + strlen("action="));
    log_line_addf(&line, "time", "%lldms", (long long) (clock_now_ms() - t0));
    if (t0 - req.arrived_ms >= 100)
        log_line_addf(&line, "queued", "%lldms", (long long) (t0 - req.arrived_ms));
    log_line_emit(&line, LOG_LVL_INFO);
    str_adds(&reply, "\n\n");
    rc = policy_write_all(c->fd, reply.data, reply.len, pol.request_ms);
    if (rc != 0)
        log_warning("policy: cannot answer %s: %s", c->peer, strerror(errno));
    policy_request_free(&req);
    str_free(&reply);
    str_free(&why);
    return rc;
}

/* Find the end of a request (an empty line) in buf; returns its length or -1. */
static ssize_t policy_request_end(const str *in, ssize_t *consumed)
{
    for (ssize_t i = 0; i + 1 < in->len; i++) {
        if (in->data[i] != '\n')
            continue;
        if (in->data[i + 1] == '\n') {
            *consumed = i + 2;
            return i;
        }
        if (in->data[i + 1] == '\r' && i + 2 < in->len && in->data[i + 2] == '\n') {
            *consumed = i + 3;
            return i;
        }
    }
    if (in->len >= 1 && in->data[0] == '\n') {  /* an empty request */
        *consumed = 1;
        return 0;
    }
    return -1;
}

/* Worker side: read what is there, answer complete requests. -1 = close. */
static int policy_service(struct policy_conn *c)
{
    char buf[4096];
    int eof = 0;

    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n == 0) {
            eof = 1;
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        if (c->in.len == 0)
            c->request_start_ms = clock_now_ms();
        if (c->in.len + n > pol.max_request) {
            log_warning("policy: request from %s larger than %lld bytes; closing", c->peer,
                        (long long) pol.max_request);
            return -1;
        }
        str_add(&c->in, buf, n);
    }
    for (;;) {
        ssize_t consumed, end = policy_request_end(&c->in, &consumed);

        if (end < 0)
            break;
        if (policy_answer(c, c->in.data, end) != 0)
            return -1;
        memmove(c->in.data, c->in.data + consumed, (size_t) (c->in.len - consumed));
        str_truncate(&c->in, c->in.len - consumed);
        c->request_start_ms = c->in.len ? clock_now_ms() : 0;
    }
    c->last_ms = clock_now_ms();
    return eof ? -1 : 0;
}

/* Worker thread: take ready connections from the queue. */
static void *policy_worker(void *arg)
{
    thread_name("rampart-policy");
    (void) arg;
    pthread_mutex_lock(&pol.lock);
    for (;;) {
        struct policy_conn *c;
        int rc;

        while (pol.qhead == NULL && !pol.stopping)
            pthread_cond_wait(&pol.work_cond, &pol.lock);
        if (pol.qhead == NULL)
            break;
        c = pol.qhead;
        pol.qhead = c->qnext;
        if (pol.qhead == NULL)
            pol.qtail = NULL;
        pol.active++;
        pthread_mutex_unlock(&pol.lock);
        rc = policy_service(c);
        pthread_mutex_lock(&pol.lock);
        pol.active--;
        c->busy = 0;
        if (rc != 0 || c->closing)
            policy_close(c);
        else
            policy_arm(c, EPOLL_CTL_MOD);
        pthread_cond_broadcast(&pol.idle_cond);
    }
    pthread_mutex_unlock(&pol.lock);
    return NULL;
}

/* Accept new connections. */
static void policy_accept(void)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(pol.listen_fd, (struct sockaddr *) &ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct policy_conn *c;

        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warning("policy: accept: %s", strerror(errno));
            return;
        }
        pthread_mutex_lock(&pol.lock);
        if (pol.nconns >= pol.max_conns) {
            int64_t now = clock_now_ms();

            pol.refused++;
            if (now - pol.refused_logged >= 1000) {
                log_warning("policy: %d connections open (policy_max_connections); refused %lld since the last report",
                            pol.max_conns, (long long) pol.refused);
                pol.refused = 0;
                pol.refused_logged = now;
            }
            pthread_mutex_unlock(&pol.lock);
            close(fd);
            continue;
        }
        c = mem_zalloc(sizeof(*c));
        c->fd = fd;
        c->last_ms = clock_now_ms();
        if (ss.ss_family == AF_UNIX ||
            getnameinfo((struct sockaddr *) &ss, sl, c->peer, sizeof(c->peer), NULL, 0, NI_NUMERICHOST) != 0)
            memcpy(c->peer, "local", 6);
        c->next = pol.conns;
        if (pol.conns)
            pol.conns->prev = c;
        pol.conns = c;
        pol.nconns++;
        policy_arm(c, EPOLL_CTL_ADD);
        pthread_mutex_unlock(&pol.lock);
    }
}

/* Close connections idle too long or stalled mid-request. Lock held. */
static void policy_sweep(void)
{
    int64_t now = clock_now_ms();
    struct policy_conn *c, *next;

    for (c = pol.conns; c; c = next) {
        next = c->next;
        if (c->busy)
            continue;
        if (c->request_start_ms && now - c->request_start_ms > pol.request_ms) {
            log_warning("policy: %s sent half a request and stalled; closing", c->peer);
            policy_close(c);
        } else if (now - c->last_ms > pol.idle_ms) {
            log_debug("policy: closing idle connection from %s", c->peer);
            policy_close(c);
        }
    }
}

/* The event thread. */
static void *policy_loop(void *arg)
{
    struct epoll_event evs[64];
    int64_t last_sweep = clock_now_ms();

    thread_name("rampart-polloop");
    (void) arg;
    for (;;) {
        int n = epoll_wait(pol.epfd, evs, (int) NELEM(evs), 1000);

        if (n < 0 && errno != EINTR) {
            log_error("policy: epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            struct policy_conn *c = evs[i].data.ptr;

            if (c == NULL) {
                policy_accept();
                continue;
            }
            if (c == (struct policy_conn *) &pol.stop_pipe)
                return NULL;
            pthread_mutex_lock(&pol.lock);
            c->busy = 1;
            c->ready_ms = clock_now_ms();
            c->qnext = NULL;
            if (pol.qtail)
                pol.qtail->qnext = c;
            else
                pol.qhead = c;
            pol.qtail = c;
            pthread_cond_signal(&pol.work_cond);
            pthread_mutex_unlock(&pol.lock);
        }
        if (clock_now_ms() - last_sweep >= 1000) {
            pthread_mutex_lock(&pol.lock);
            policy_sweep();
            pthread_mutex_unlock(&pol.lock);
            last_sweep = clock_now_ms();
        }
    }
    return NULL;
}

/* Open the listening socket. */
int policy_open(const struct config *cfg, const char *spec)
{
    struct listen_spec ls;
    str err = STR_INIT, pf = STR_INIT;
    int fd = -1, one = 1;

    if (listen_parse(spec, &ls, &err) != 0) {
        log_error("policy_listen: %s: %s", spec, str_cstr(&err));
        goto fail;
    }
    if (ls.kind == LISTEN_UNIX) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        memcpy(sun.sun_path, ls.path, strlen(ls.path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        unlink(ls.path);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
            log_error("policy_listen: cannot bind %s: %s", ls.path, strerror(errno));
            goto fail;
        }
        if (listen_set_perms(ls.path, cfg->socket_owner, cfg->socket_group, cfg->socket_mode,
                             &err) != 0) {
            log_error("policy_listen: %s", str_cstr(&err));
            goto fail;
        }
        pol.unix_path = mem_strdup(ls.path);
    } else {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        char port[8];
        int rc;

        hints.ai_family = ls.kind == LISTEN_INET6 ? AF_INET6 : AF_UNSPEC;
        snprintf(port, sizeof(port), "%d", ls.port);
        if ((rc = getaddrinfo(ls.host[0] ? ls.host : NULL, port, &hints, &ai)) != 0) {
            log_error("policy_listen: %s: %s", spec, gai_strerror(rc));
            goto fail;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            log_error("policy_listen: cannot bind %s: %s", spec, strerror(errno));
            freeaddrinfo(ai);
            goto fail;
        }
        freeaddrinfo(ai);
    }
    if (listen(fd, 256) != 0) {
        log_error("policy_listen: listen %s: %s", spec, strerror(errno));
        goto fail;
    }
    pol.listen_fd = fd;
    pol.max_conns = (int) cfg->policy_max_connections;
    pol.idle_ms = cfg->policy_idle_timeout;
    pol.request_ms = cfg->policy_request_timeout;
    pol.max_request = cfg->policy_max_request_size;
    pol.workers = (int) cfg->policy_workers;
    if (policy_checks_init(cfg, &err) != 0) {
        log_error("policy service: %s", str_cstr(&err));
        goto fail;
    }
    if (policy_control_open(cfg) != 0)
        goto fail;
    listen_format_postfix(&ls, &pf);
    log_notice("policy service listening on %s; in Postfix main.cf: "
               "smtpd_recipient_restrictions = ..., check_policy_service %s", spec, str_cstr(&pf));
    str_free(&pf);
    str_free(&err);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    pol.listen_fd = -1;
    if (pol.unix_path) {
        unlink(pol.unix_path);
        mem_free(pol.unix_path);
        pol.unix_path = NULL;
    }
    policy_checks_shutdown();
    str_free(&pf);
    str_free(&err);
    return -1;
}

/* Start the event thread and the workers. */
int policy_start(void)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

    if ((pol.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || pipe2(pol.stop_pipe, O_CLOEXEC) != 0) {
        log_error("policy: %s", strerror(errno));
        return -1;
    }
    epoll_ctl(pol.epfd, EPOLL_CTL_ADD, pol.listen_fd, &ev);
    ev.data.ptr = &pol.stop_pipe;
    epoll_ctl(pol.epfd, EPOLL_CTL_ADD, pol.stop_pipe[0], &ev);
    pol.worker_threads = mem_zalloc((ssize_t) sizeof(pthread_t) * pol.workers);
    for (int i = 0; i < pol.workers; i++)
        if (pthread_create(&pol.worker_threads[i], NULL, policy_worker, NULL) != 0)
            log_fatal("policy: cannot start worker thread");
    if (pthread_create(&pol.loop_thread, NULL, policy_loop, NULL) != 0)
        log_fatal("policy: cannot start event thread");
    if (policy_control_start() != 0)
        log_fatal("policy: cannot start the control thread");
    pol.started = 1;
    return 0;
}

/* Stop: no new requests; wait for workers busy with one; close all. */
int policy_stop(int64_t timeout_ms)
{
    int64_t until = clock_now_ms() + timeout_ms;
    int left;

    if (!pol.started)
        return 0;
    policy_control_stop();
    if (write(pol.stop_pipe[1], "x", 1) != 1)
        log_warning("policy: cannot signal the event thread");
    pthread_join(pol.loop_thread, NULL);
    close(pol.listen_fd);
    pthread_mutex_lock(&pol.lock);
    while (pol.active > 0 && clock_now_ms() < until) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&pol.idle_cond, &pol.lock, &ts);
    }
    left = pol.active;
    if (left > 0)
        log_warning("policy: %d requests still in progress at shutdown", left);
    pol.stopping = 1;
    pol.qhead = pol.qtail = NULL;
    pthread_cond_broadcast(&pol.work_cond);
    pthread_mutex_unlock(&pol.lock);
    if (left == 0) {
        for (int i = 0; i < pol.workers; i++)
            pthread_join(pol.worker_threads[i], NULL);
        pthread_mutex_lock(&pol.lock);
        while (pol.conns) {
            pol.conns->busy = 0;
            policy_close(pol.conns);
        }
        pthread_mutex_unlock(&pol.lock);
        mem_free(pol.worker_threads);
    }
    close(pol.epfd);
    close(pol.stop_pipe[0]);
    close(pol.stop_pipe[1]);
    if (pol.unix_path) {
        unlink(pol.unix_path);
        mem_free(pol.unix_path);
        pol.unix_path = NULL;
    }
    pol.epfd = -1;
    pol.listen_fd = -1;
    pol.stop_pipe[0] = pol.stop_pipe[1] = -1;
    pol.started = 0;
    if (left == 0) {
        /* Every thread is gone: the service may be opened again (tests do). */
        pol.stopping = 0;
        policy_checks_shutdown();
    }
    return left;
}
