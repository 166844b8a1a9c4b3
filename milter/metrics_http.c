/*
 * metrics_http.c - serves the metrics page over HTTP with libmicrohttpd.
 *
 * metrics_http_start() binds metrics_listen itself (inet, inet6 or unix:
 * the spellings of listen.h), hands the socket to libmicrohttpd and lets
 * its own thread serve: GET or HEAD /metrics answers
 * metrics_render_core() as Prometheus text; "/" names the page; any other
 * path is 404 and any other method 405. Connections are capped at
 * METRICS_HTTP_MAX_CONNECTIONS and time out after METRICS_HTTP_TIMEOUT_S
 * seconds; request headers are bounded by a per-connection memory limit.
 * A client outside metrics_allow (when set) is refused at accept.
 *
 * Without libmicrohttpd (configure found none) a set metrics_listen is an
 * error at start. Logs: the address served (notice), libmicrohttpd's own
 * errors (warning).
 */
#include "config.h"

#include <string.h>

#include "metrics_http.h"

#ifdef HAVE_MICROHTTPD

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cidr.h"
#include "listen.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

#define METRICS_HTTP_MEMORY_LIMIT (64 * 1024)

static struct {
    struct MHD_Daemon *daemon;
    struct cidr_list allow;
    int have_allow;
    char *unix_path;
} mh;

/* libmicrohttpd's error messages. */
__attribute__((format(printf, 2, 0))) static void metrics_http_log(void *cls, const char *fmt, va_list ap)
{
    str s = STR_INIT;

    (void) cls;
    str_addvf(&s, fmt, ap);
    while (s.len > 0 && (s.data[s.len - 1] == '\n' || s.data[s.len - 1] == '\r'))
        str_truncate(&s, s.len - 1);
    log_warning("metrics: %s", str_cstr(&s));
    str_free(&s);
}

/* metrics_allow: refuse other clients before reading a byte. */
static enum MHD_Result metrics_http_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
    char text[INET6_ADDRSTRLEN];
    struct cidr_addr a;
    const void *bin;

    (void) cls;
    if (!mh.have_allow || sa->sa_family == AF_UNIX)
        return MHD_YES;
    if (sa->sa_family == AF_INET && len >= (socklen_t) sizeof(struct sockaddr_in))
        bin = &((const struct sockaddr_in *) sa)->sin_addr;
    else if (sa->sa_family == AF_INET6 && len >= (socklen_t) sizeof(struct sockaddr_in6))
        bin = &((const struct sockaddr_in6 *) sa)->sin6_addr;
    else
        return MHD_NO;
    if (inet_ntop(sa->sa_family, bin, text, sizeof(text)) == NULL || cidr_addr_parse(text, &a) != 0)
        return MHD_NO;
    return cidr_list_match(&mh.allow, &a) ? MHD_YES : MHD_NO;
}

/* Queue a response with body text. */
static enum MHD_Result metrics_http_reply(struct MHD_Connection *c, unsigned int status, const char *type,
                                          const char *body, size_t len, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* One request. */
static enum MHD_Result metrics_http_request(void *cls, struct MHD_Connection *c, const char *url,
                                            const char *method, const char *version, const char *upload,
                                            size_t *upload_size, void **con_cls)
{
    static const char index_page[] = "rampart: the metrics are at /metrics\n";
    static const char not_found[] = "not found; the metrics are at /metrics\n";
    static const char not_allowed[] = "only GET and HEAD\n";
    enum MHD_Result rc;
    str page = STR_INIT;

    (void) cls;
    (void) version;
    (void) upload;
    (void) upload_size;
    (void) con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return metrics_http_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
                                  sizeof(not_allowed) - 1, "GET, HEAD");
    if (strcmp(url, "/") == 0)
        return metrics_http_reply(c, MHD_HTTP_OK, "text/plain", index_page, sizeof(index_page) - 1, NULL);
    if (strcmp(url, "/metrics") != 0)
        return metrics_http_reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof(not_found) - 1, NULL);
    metrics_render_core(&page);
    rc = metrics_http_reply(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, page.data ? page.data : "", (size_t) page.len,
                            NULL);
    str_free(&page);
    return rc;
}

/* Bind and listen; the socket, or -1 with the reason in err. */
static int metrics_http_socket(const char *spec, const struct listen_spec *ls, str *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[16];
    int fd = -1, one = 1, rc;

    if (ls->kind == LISTEN_UNIX) {
        struct sockaddr_un sun;

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(ls->path) >= sizeof(sun.sun_path)) {
            str_addf(err, "metrics_listen: %s: path too long", spec);
            return -1;
        }
        memcpy(sun.sun_path, ls->path, strlen(ls->path) + 1);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
            str_addf(err, "metrics_listen: socket: %s", strerror(errno));
            return -1;
        }
        unlink(ls->path);
        if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0 || listen(fd, 16) != 0) {
            str_addf(err, "metrics_listen: cannot bind %s: %s", ls->path, strerror(errno));
            close(fd);
            return -1;
        }
        mh.unix_path = mem_strdup(ls->path);
        return fd;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = ls->kind == LISTEN_INET6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", ls->port);
    if ((rc = getaddrinfo(ls->host[0] ? ls->host : NULL, port, &hints, &res)) != 0) {
        str_addf(err, "metrics_listen: %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
            break;
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    if (fd < 0)
        str_addf(err, "metrics_listen: cannot bind %s: %s", spec, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

int metrics_http_start(const struct config *cfg, str *err)
{
    struct listen_spec ls;
    int fd;

    if (cfg->metrics_listen == NULL || cfg->metrics_listen[0] == '\0' || mh.daemon)
        return 0;
    if (listen_parse(cfg->metrics_listen, &ls, err) != 0)
        return -1;
    mh.have_allow = cfg->metrics_allow.n > 0;
    if (mh.have_allow && cidr_list_parse(&mh.allow, cfg->metrics_allow.v, cfg->metrics_allow.n, err) != 0) {
        mh.have_allow = 0;
        return -1;
    }
    if ((fd = metrics_http_socket(cfg->metrics_listen, &ls, err)) < 0)
        goto fail;
    mh.daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, metrics_http_accept, NULL,
                                 metrics_http_request, NULL,
                                 MHD_OPTION_EXTERNAL_LOGGER, metrics_http_log, NULL,
                                 MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) METRICS_HTTP_MAX_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) METRICS_HTTP_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) METRICS_HTTP_MEMORY_LIMIT,
                                 MHD_OPTION_END);
    if (mh.daemon == NULL) {
        close(fd);
        str_addf(err, "metrics_listen: libmicrohttpd cannot serve %s", cfg->metrics_listen);
        goto fail;
    }
    log_notice("metrics listening on %s (GET /metrics)", cfg->metrics_listen);
    return 0;
fail:
    if (mh.unix_path) {
        unlink(mh.unix_path);
        mem_free(mh.unix_path);
        mh.unix_path = NULL;
    }
    if (mh.have_allow)
        cidr_list_free(&mh.allow);
    mh.have_allow = 0;
    return -1;
}

void metrics_http_stop(void)
{
    if (mh.daemon == NULL)
        return;
    MHD_stop_daemon(mh.daemon);   /* closes the listening socket too */
    mh.daemon = NULL;
    if (mh.unix_path) {
        unlink(mh.unix_path);
        mem_free(mh.unix_path);
        mh.unix_path = NULL;
    }
    if (mh.have_allow)
        cidr_list_free(&mh.allow);
    mh.have_allow = 0;
}

#else /* !HAVE_MICROHTTPD */

int metrics_http_start(const struct config *cfg, str *err)
{
    if (cfg->metrics_listen == NULL || cfg->metrics_listen[0] == '\0')
        return 0;
    str_addf(err, "metrics_listen = %s, but rampartd was built without libmicrohttpd "
                  "(install libmicrohttpd-dev and run configure again)", cfg->metrics_listen);
    return -1;
}

void metrics_http_stop(void)
{
}

#endif
