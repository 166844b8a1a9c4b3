/*
 * smtp-load.c - the benchmark's SMTP client: sends a fixed number of
 * messages to an MTA over a number of concurrent sessions, claiming each
 * message's client with XCLIENT, and measures per message the latency
 * from the end of DATA (the final ".") to the final reply, and the whole
 * session (connect to the reply to QUIT).
 *
 * Usage: smtp-load -m MANIFEST [-s HOST:PORT] [-c SESSIONS] [-n COUNT]
 *                  [-k KIND,...] [-o FILE] [-H HOLD_MS] [-T TIMEOUT_S]
 *
 *   -m  the messages, one a line, fields separated by tabs:
 *         kind client_addr client_name helo mail_from rcpt file
 *       (lines starting with # are comments). A file holds one message as
 *       sent; line ends become CRLF and lines starting with "." are
 *       dot-stuffed here.
 *   -s  the server (default 127.0.0.1:25)
 *   -c  concurrent sessions (default 20)
 *   -n  messages to send (default: one per manifest line), taken from the
 *       manifest in order, round and round; one message per session
 *   -k  only the manifest lines of these kinds
 *   -o  one line per message: "index kind code eod_us session_us"
 *       (code 0: the session failed before an end-of-data reply)
 *   -H  every session waits HOLD_MS before sending the final "." (to see
 *       what many open sessions cost a filter)
 *   -T  seconds any one reply may take (default 60)
 *
 * Prints "key=value" lines: messages, the counts of 2xx, 4xx and 5xx
 * replies to the end of DATA, failed sessions, wall seconds, messages
 * per second, and percentiles of both latencies in microseconds. Exits 1
 * if a session failed (no reply, a refused stage before DATA), 2 on a
 * usage or set-up error; a 4xx or 5xx reply to DATA is counted, not an
 * error.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOAD_MAX_LINE 4096          /* bytes of a manifest line or a reply line */
#define LOAD_MAX_FIELD 1024         /* bytes of one manifest field */
#define LOAD_MAX_MESSAGE (64L << 20) /* bytes of one message file */

struct entry {
    char kind[64];
    char addr[LOAD_MAX_FIELD];
    char name[LOAD_MAX_FIELD];
    char helo[LOAD_MAX_FIELD];
    char from[LOAD_MAX_FIELD];
    char rcpt[LOAD_MAX_FIELD];
    char *data;                     /* wire form: CRLF, dot-stuffed, ends in CRLF */
    size_t len;
};

struct result {
    int code;                       /* reply to the end of DATA; 0: none */
    int64_t eod_us;
    int64_t session_us;
};

static struct entry *entries;
static int n_entries;
static struct result *results;
static int count;
static int next_index;
static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_storage server;
static socklen_t server_len;
static int timeout_s = 60;
static int hold_ms;
static int quiet_errors;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("smtp-load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        die("out of memory");
    return p;
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Copy a field, bounded; -1 if it does not fit. */
static int copy_field(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Read a message file into wire form. */
static void load_message(struct entry *e, const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 8192, len = 0, i;
    char *raw, *out;
    long n;
    int bol = 1;

    if (f == NULL)
        die("%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > LOAD_MAX_MESSAGE)
        die("%s: cannot size it, or larger than %ld bytes", path, LOAD_MAX_MESSAGE);
    rewind(f);
    raw = xmalloc((size_t) n + 1);
    if (fread(raw, 1, (size_t) n, f) != (size_t) n)
        die("%s: short read", path);
    fclose(f);
    /* Worst case: every byte a LF (2 bytes) after a dot (one more), plus a final CRLF. */
    cap = (size_t) n * 3 + 3;
    out = xmalloc(cap);
    for (i = 0; i < (size_t) n; i++) {
        char c = raw[i];

        if (bol && c == '.')
            out[len++] = '.';
        if (c == '\r' && i + 1 < (size_t) n && raw[i + 1] == '\n')
            continue;               /* the LF that follows writes CRLF */
        if (c == '\n') {
            out[len++] = '\r';
            out[len++] = '\n';
            bol = 1;
            continue;
        }
        out[len++] = c;
        bol = 0;
    }
    if (!bol) {
        out[len++] = '\r';
        out[len++] = '\n';
    }
    free(raw);
    e->data = out;
    e->len = len;
}

/* Read the manifest, keeping the lines of the wanted kinds (NULL: all). */
static void load_manifest(const char *path, const char *kinds)
{
    FILE *f = fopen(path, "r");
    char line[LOAD_MAX_LINE];
    int cap = 0, lineno = 0;

    if (f == NULL)
        die("%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        char *field[7], *p = line, *dir_end;
        char file[LOAD_MAX_LINE];
        struct entry *e;
        int nf = 0;

        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f))
            die("%s:%d: line too long", path, lineno);
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        while (nf < 7) {
            field[nf++] = p;
            p = strchr(p, '\t');
            if (p == NULL)
                break;
            *p++ = '\0';
        }
        if (nf != 7 || p != NULL)
            die("%s:%d: want 7 tab-separated fields", path, lineno);
        if (kinds) {
            size_t kl = strlen(field[0]);
            const char *k = kinds;
            int found = 0;

            while (*k) {
                size_t n = strcspn(k, ",");

                if (n == kl && strncmp(k, field[0], n) == 0)
                    found = 1;
                k += n;
                if (*k == ',')
                    k++;
            }
            if (!found)
                continue;
        }
        if (n_entries == cap) {
            cap = cap ? cap * 2 : 64;
            entries = realloc(entries, (size_t) cap * sizeof(*entries));
            if (entries == NULL)
                die("out of memory");
        }
        e = &entries[n_entries++];
        memset(e, 0, sizeof(*e));
        if (copy_field(e->kind, sizeof(e->kind), field[0]) || copy_field(e->addr, sizeof(e->addr), field[1])
            || copy_field(e->name, sizeof(e->name), field[2]) || copy_field(e->helo, sizeof(e->helo), field[3])
            || copy_field(e->from, sizeof(e->from), field[4]) || copy_field(e->rcpt, sizeof(e->rcpt), field[5]))
            die("%s:%d: a field is too long", path, lineno);
        /* A relative file name is relative to the manifest. */
        if (field[6][0] != '/' && (dir_end = strrchr(path, '/')) != NULL) {
            int w = snprintf(file, sizeof(file), "%.*s/%s", (int) (dir_end - path), path, field[6]);

            if (w < 0 || (size_t) w >= sizeof(file))
                die("%s:%d: file name too long", path, lineno);
        } else if (copy_field(file, sizeof(file), field[6])) {
            die("%s:%d: file name too long", path, lineno);
        }
        load_message(e, file);
    }
    fclose(f);
    if (n_entries == 0)
        die("%s: no messages%s", path, kinds ? " of those kinds" : "");
}

/* ---------------------------------------------------------------- one session */

struct conn {
    int fd;
    char buf[LOAD_MAX_LINE];
    size_t have, used;
    char last[256];                 /* the last reply line, for error messages */
};

static int send_all(struct conn *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t) n;
    }
    return 0;
}

/* One line of a reply, without CRLF; -1 on error or timeout. */
static int read_line(struct conn *c, char *line, size_t size)
{
    size_t n = 0;

    for (;;) {
        if (c->used == c->have) {
            ssize_t r = recv(c->fd, c->buf, sizeof(c->buf), 0);

            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return -1;
            c->have = (size_t) r;
            c->used = 0;
        }
        while (c->used < c->have) {
            char ch = c->buf[c->used++];

            if (ch == '\n') {
                if (n > 0 && line[n - 1] == '\r')
                    n--;
                line[n] = '\0';
                return 0;
            }
            if (n + 1 < size)
                line[n++] = ch;
        }
    }
}

/* A whole (possibly multi-line) reply; its code, or -1. */
static int read_reply(struct conn *c)
{
    char line[LOAD_MAX_LINE];

    for (;;) {
        if (read_line(c, line, sizeof(line)) != 0)
            return -1;
        if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9'
            || line[2] < '0' || line[2] > '9')
            return -1;
        if (line[3] != '-') {
            size_t n = strnlen(line, sizeof(c->last) - 1);

            memcpy(c->last, line, n);
            c->last[n] = '\0';
            return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        }
    }
}

/* Send a command line and read the reply code; -1 on error. */
static int command(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int command(struct conn *c, const char *fmt, ...)
{
    char line[LOAD_MAX_LINE];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(line) - 2)
        return -1;
    line[n++] = '\r';
    line[n++] = '\n';
    if (send_all(c, line, (size_t) n) != 0)
        return -1;
    return read_reply(c);
}

/* RFC 3030 xtext, as XCLIENT wants its values. */
static void xtext(char *out, size_t size, const char *in)
{
    size_t n = 0;

    for (; *in && n + 4 < size; in++) {
        unsigned char ch = (unsigned char) *in;

        if (ch < 33 || ch > 126 || ch == '+' || ch == '=')
            n += (size_t) snprintf(out + n, size - n, "+%02X", ch);
        else
            out[n++] = (char) ch;
    }
    out[n] = '\0';
}

static void session_error(int idx, const char *stage, struct conn *c)
{
    if (!quiet_errors)
        fprintf(stderr, "smtp-load: message %d: %s: %s\n", idx, stage,
                c->last[0] ? c->last : (errno ? strerror(errno) : "connection closed"));
}

/* One message in one session; fills r. */
static void session(int idx, const struct entry *e, struct result *r)
{
    struct conn c;
    char a[LOAD_MAX_FIELD * 3], nm[LOAD_MAX_FIELD * 3], h[LOAD_MAX_FIELD * 3];
    struct timeval tv = { .tv_sec = timeout_s };
    int64_t t0 = now_us(), t_eod;
    int code, one = 1;

    memset(&c, 0, sizeof(c));
    r->code = 0;
    errno = 0;
    c.fd = socket(server.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        session_error(idx, "socket", &c);
        return;
    }
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c.fd, (struct sockaddr *) &server, server_len) != 0) {
        session_error(idx, "connect", &c);
        goto out;
    }
    if (read_reply(&c) != 220) {
        session_error(idx, "banner", &c);
        goto out;
    }
    if (command(&c, "EHLO bench-client.lab.example") != 250) {
        session_error(idx, "EHLO", &c);
        goto out;
    }
    xtext(a, sizeof(a), e->addr);
    xtext(nm, sizeof(nm), e->name);
    xtext(h, sizeof(h), e->helo);
    if (command(&c, "XCLIENT ADDR=%s NAME=%s HELO=%s PROTO=ESMTP", a, nm, h) != 220) {
        session_error(idx, "XCLIENT", &c);
        goto out;
    }
    if (command(&c, "EHLO %s", e->helo) != 250) {
        session_error(idx, "EHLO after XCLIENT", &c);
        goto out;
    }
    if (command(&c, "MAIL FROM:<%s>", e->from) != 250) {
        session_error(idx, "MAIL FROM", &c);
        goto out;
    }
    code = command(&c, "RCPT TO:<%s>", e->rcpt);
    if (code != 250 && code != 251) {
        session_error(idx, "RCPT TO", &c);
        goto out;
    }
    if (command(&c, "DATA") != 354) {
        session_error(idx, "DATA", &c);
        goto out;
    }
    if (send_all(&c, e->data, e->len) != 0) {
        session_error(idx, "message", &c);
        goto out;
    }
    if (hold_ms > 0) {
        struct timespec ts = { .tv_sec = hold_ms / 1000, .tv_nsec = (long) (hold_ms % 1000) * 1000000 };

        nanosleep(&ts, NULL);
    }
    if (send_all(&c, ".\r\n", 3) != 0) {
        session_error(idx, "end of data", &c);
        goto out;
    }
    t_eod = now_us();
    code = read_reply(&c);
    r->eod_us = now_us() - t_eod;
    if (code < 0) {
        session_error(idx, "reply to end of data", &c);
        goto out;
    }
    r->code = code;
    if (command(&c, "QUIT") != 221)
        session_error(idx, "QUIT", &c);
    r->session_us = now_us() - t0;
out:
    close(c.fd);
}

static void *worker(void *arg)
{
    (void) arg;
    for (;;) {
        int i;

        pthread_mutex_lock(&next_lock);
        i = next_index < count ? next_index++ : -1;
        pthread_mutex_unlock(&next_lock);
        if (i < 0)
            return NULL;
        session(i, &entries[i % n_entries], &results[i]);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}

/* Percentile p (0..100) of sorted v[n], nearest rank. */
static int64_t percentile(const int64_t *v, int n, double p)
{
    int k;

    if (n == 0)
        return 0;
    k = (int) (p / 100.0 * n + 0.999999) - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return v[k];
}

static void parse_server(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints, *res;
    int rc;

    if (colon == NULL || (size_t) (colon - spec) >= sizeof(host))
        die("-s %s: want HOST:PORT", spec);
    memcpy(host, spec, (size_t) (colon - spec));
    host[colon - spec] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0)
        die("-s %s: %s", spec, gai_strerror(rc));
    memcpy(&server, res->ai_addr, res->ai_addrlen);
    server_len = res->ai_addrlen;
    freeaddrinfo(res);
}

int main(int argc, char **argv)
{
    const char *manifest = NULL, *kinds = NULL, *outfile = NULL;
    int sessions = 20, opt, i, n_ok = 0, n_4 = 0, n_5 = 0, n_fail = 0, n_lat = 0;
    int64_t t0, wall_us, *eod, *sess;
    pthread_t *tids;

    parse_server("127.0.0.1:25");
    count = -1;
    while ((opt = getopt(argc, argv, "m:s:c:n:k:o:H:T:q")) != -1) {
        switch (opt) {
        case 'm': manifest = optarg; break;
        case 's': parse_server(optarg); break;
        case 'c': sessions = atoi(optarg); break;
        case 'n': count = atoi(optarg); break;
        case 'k': kinds = optarg; break;
        case 'o': outfile = optarg; break;
        case 'H': hold_ms = atoi(optarg); break;
        case 'T': timeout_s = atoi(optarg); break;
        case 'q': quiet_errors = 1; break;
        default:
            die("usage: smtp-load -m MANIFEST [-s HOST:PORT] [-c SESSIONS] [-n COUNT] [-k KINDS] "
                "[-o FILE] [-H HOLD_MS] [-T TIMEOUT_S] [-q]");
        }
    }
    if (manifest == NULL)
        die("-m MANIFEST is required");
    if (sessions < 1 || sessions > 10000 || timeout_s < 1 || hold_ms < 0)
        die("bad -c, -T or -H");
    load_manifest(manifest, kinds);
    if (count < 0)
        count = n_entries;
    results = xmalloc((size_t) (count ? count : 1) * sizeof(*results));
    memset(results, 0, (size_t) (count ? count : 1) * sizeof(*results));
    if (sessions > count && count > 0)
        sessions = count;
    tids = xmalloc((size_t) sessions * sizeof(*tids));
    t0 = now_us();
    for (i = 0; i < sessions; i++)
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0)
            die("cannot start a thread");
    for (i = 0; i < sessions; i++)
        pthread_join(tids[i], NULL);
    wall_us = now_us() - t0;

    eod = xmalloc((size_t) (count ? count : 1) * sizeof(*eod));
    sess = xmalloc((size_t) (count ? count : 1) * sizeof(*sess));
    for (i = 0; i < count; i++) {
        const struct result *r = &results[i];

        if (r->code == 0) {
            n_fail++;
            continue;
        }
        if (r->code / 100 == 2)
            n_ok++;
        else if (r->code / 100 == 4)
            n_4++;
        else
            n_5++;
        eod[n_lat] = r->eod_us;
        sess[n_lat++] = r->session_us;
    }
    if (outfile) {
        FILE *f = fopen(outfile, "w");

        if (f == NULL)
            die("%s: %s", outfile, strerror(errno));
        for (i = 0; i < count; i++)
            fprintf(f, "%d %s %d %lld %lld\n", i, entries[i % n_entries].kind, results[i].code,
                    (long long) results[i].eod_us, (long long) results[i].session_us);
        if (fclose(f) != 0)
            die("%s: %s", outfile, strerror(errno));
    }
    qsort(eod, (size_t) n_lat, sizeof(*eod), cmp_i64);
    qsort(sess, (size_t) n_lat, sizeof(*sess), cmp_i64);
    printf("messages=%d\nsessions=%d\nok=%d\ntempfail=%d\nreject=%d\nfailed=%d\n", count, sessions, n_ok, n_4,
           n_5, n_fail);
    printf("wall_s=%.3f\nrate=%.2f\n", (double) wall_us / 1e6,
           wall_us > 0 ? (double) (count - n_fail) * 1e6 / (double) wall_us : 0.0);
    printf("eod_p50_us=%lld\neod_p90_us=%lld\neod_p99_us=%lld\neod_max_us=%lld\n",
           (long long) percentile(eod, n_lat, 50), (long long) percentile(eod, n_lat, 90),
           (long long) percentile(eod, n_lat, 99), (long long) (n_lat ? eod[n_lat - 1] : 0));
    printf("session_p50_us=%lld\nsession_p99_us=%lld\n", (long long) percentile(sess, n_lat, 50),
           (long long) percentile(sess, n_lat, 99));
    for (i = 0; i < n_entries; i++)
        free(entries[i].data);
    free(entries);
    free(results);
    free(eod);
    free(sess);
    free(tids);
    return n_fail ? 1 : 0;
}
