/*
 * sender.c - envelope sender validation: syntax, domain, disposable
 * domains, callout.
 *
 * sender_syntax() takes the address the way Postfix hands it over in the
 * internal (unquoted) form. A local part that holds characters only a
 * quoted string can carry (space, '"', '(', ...) is taken to have been
 * quoted; one made of atext with a leading, trailing or doubled dot is
 * not, because that is almost always a broken client, not a quoted string.
 * Address literals must be IPv4 or "IPv6:"; a bare dotted quad as the
 * domain is refused with a hint to bracket it. Bytes >= 0x80 must be
 * UTF-8 (RFC 6531); a non-ASCII domain is not looked up (no IDNA here).
 *
 * sender_check_start() starts MX, A and AAAA at once; the result prefers
 * MX (RFC 5321 5.1): any null MX record makes SENDER_NULL_MX (RFC 7505
 * says a null MX stands alone), hosts are kept by preference; with no MX,
 * an A or AAAA record makes the domain itself the mail host. A temporary
 * failure or an unusable answer never becomes a negative result.
 *
 * The disposable list is a sorted array swapped under a mutex when the
 * file changes (stat at most once a check interval): cheap per message.
 *
 * The callout speaks just enough SMTP: greeting, EHLO (HELO if EHLO is
 * refused), MAIL FROM, RCPT TO, QUIT, each reply bounded (4 KiB, 100
 * lines), everything under one deadline. Only a 5xx to RCPT says the
 * address is invalid; anything else that is not a 2xx is "unknown".
 *
 * Logs only a failure to read the disposable list (through
 * sender_list_error, for the caller to log).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "sender.h"
#include "util.h"

static const char *const sender_names[] = {
    [SENDER_OK] = "ok",
    [SENDER_NULL] = "null",
    [SENDER_SYNTAX] = "syntax",
    [SENDER_NO_DOMAIN] = "nodomain",
    [SENDER_NO_MAIL] = "nomail",
    [SENDER_NULL_MX] = "nullmx",
    [SENDER_TEMPFAIL] = "tempfail",
};

const char *sender_status_name(enum sender_status s)
{
    return (unsigned) s < NELEM(sender_names) ? sender_names[s] : "unknown";
}

const char *sender_callout_status_name(enum sender_callout_status s)
{
    return s == SENDER_CALLOUT_VALID ? "valid" : s == SENDER_CALLOUT_INVALID ? "invalid" : "unknown";
}

/* ---------------------------------------------------------------- syntax */

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if not valid UTF-8. */
static int sender_utf8_len(const unsigned char *s, ssize_t n)
{
    int len;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond Unicode */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff
        || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* RFC 5322 atext (ASCII), as RFC 5321 uses it. */
static int sender_atext(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int sender_letdig(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The local part: a dot-string, or something only a quoted string carries. */
static int sender_local(const char *s, ssize_t len, str *why)
{
    int quoted = 0;

    if (len == 0) {
        str_adds(why, "the local part is empty");
        return -1;
    }
    if (len > SENDER_MAX_LOCAL) {
        str_addf(why, "the local part is longer than %d octets", SENDER_MAX_LOCAL);
        return -1;
    }
    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c != '.' && c < 0x80 && !sender_atext(c))
            quoted = 1;
    }
    if (quoted)
        return 0;
    if (s[0] == '.' || s[len - 1] == '.' || memmem(s, (size_t) len, "..", 2) != NULL) {
        str_adds(why, "the local part has a leading, trailing or double dot");
        return -1;
    }
    return 0;
}

/* Is text[0..len) an IPv4 dotted quad? */
static int sender_is_ipv4(const char *text, ssize_t len)
{
    char buf[INET_ADDRSTRLEN];
    struct in_addr a;

    if (len <= 0 || len >= (ssize_t) sizeof(buf))
        return 0;
    memcpy(buf, text, (size_t) len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, &a) == 1;
}

/* An address literal "[...]". */
static int sender_literal(const char *s, ssize_t len, str *why)
{
    char buf[64];
    struct in6_addr a6;

    if (len < 3 || s[len - 1] != ']') {
        str_adds(why, "the address literal has no closing bracket");
        return -1;
    }
    s++;
    len -= 2;
    if (len > 5 && ascii_tolower((unsigned char) s[0]) == 'i' && ascii_tolower((unsigned char) s[1]) == 'p'
        && ascii_tolower((unsigned char) s[2]) == 'v' && s[3] == '6' && s[4] == ':') {
        if (len - 5 < (ssize_t) sizeof(buf)) {
            memcpy(buf, s + 5, (size_t) (len - 5));
            buf[len - 5] = '\0';
            if (inet_pton(AF_INET6, buf, &a6) == 1)
                return 0;
        }
        str_adds(why, "the IPv6 address literal is not an IPv6 address");
        return -1;
    }
    if (sender_is_ipv4(s, len))
        return 0;
    str_adds(why, "the address literal is not an IPv4 or IPv6 address");
    return -1;
}

/* A domain name: LDH labels (UTF-8 allowed), 1..63 octets each, at most 253 in all. */
static int sender_domain_syntax(const char *s, ssize_t len, str *why)
{
    ssize_t label = 0;

    if (len == 0) {
        str_adds(why, "the domain after @ is empty");
        return -1;
    }
    if (s[0] == '[')
        return sender_literal(s, len, why);
    if (s[len - 1] == '.') {
        str_adds(why, "the domain ends with a dot");
        return -1;
    }
    if (len > 253) {
        str_adds(why, "the domain is longer than 253 octets");
        return -1;
    }
    if (sender_is_ipv4(s, len)) {
        str_adds(why, "an address as domain must be written in brackets: [192.0.2.1]");
        return -1;
    }
    for (ssize_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char) s[i] : '.';

        if (c == '.') {
            if (label == 0) {
                str_adds(why, "the domain has an empty label");
                return -1;
            }
            if (s[i - 1] == '-' || s[i - label] == '-') {
                str_adds(why, "a domain label starts or ends with a hyphen");
                return -1;
            }
            label = 0;
            continue;
        }
        if (++label > 63) {
            str_adds(why, "a domain label is longer than 63 octets");
            return -1;
        }
        if (!sender_letdig(c) && c != '-' && c < 0x80) {
            str_addf(why, "the domain has an invalid character '%c'", c);
            return -1;
        }
    }
    return 0;
}

int sender_syntax(const char *addr, ssize_t len, str *why)
{
    const char *at = NULL;

    if (len == 0)
        return 0;
    if (len > SENDER_MAX_PATH) {
        str_addf(why, "the address is longer than %d octets", SENDER_MAX_PATH);
        return -1;
    }
    for (ssize_t i = 0; i < len;) {
        unsigned char c = (unsigned char) addr[i];
        int n;

        if (c < 0x20 || c == 0x7f) {
            str_adds(why, "the address contains control characters");
            return -1;
        }
        if ((n = sender_utf8_len((const unsigned char *) addr + i, len - i)) == 0) {
            str_adds(why, "the address is not valid UTF-8");
            return -1;
        }
        if (c == '@')
            at = addr + i;
        i += n;
    }
    if (at == NULL) {
        str_adds(why, "the address has no @domain part");
        return -1;
    }
    if (sender_local(addr, at - addr, why) != 0)
        return -1;
    return sender_domain_syntax(at + 1, len - (at + 1 - addr), why);
}

const char *sender_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');

    return at && at[1] ? at + 1 : NULL;
}

/* ---------------------------------------------------------------- domain */

struct sender_check {
    enum sender_status status;     /* decided early (syntax, null) or SENDER_OK */
    str why;
    char *domain;
    int literal, not_ascii;
    struct dns_query *mx, *a, *aaaa;
};

void sender_result_free(struct sender_result *r)
{
    str_free(&r->why);
    for (int i = 0; i < r->nmx; i++)
        mem_free(r->mx[i]);
    r->nmx = 0;
}

struct sender_check *sender_check_start(struct dns_resolver *r, const char *addr)
{
    struct sender_check *c = mem_zalloc(sizeof(*c));
    ssize_t len = (ssize_t) strnlen(addr, SENDER_MAX_PATH + 2);
    const char *d;

    if (len == 0) {
        c->status = SENDER_NULL;
        return c;
    }
    if (sender_syntax(addr, len, &c->why) != 0) {
        c->status = SENDER_SYNTAX;
        return c;
    }
    d = sender_domain(addr);
    c->domain = mem_strdup(d);
    for (char *p = c->domain; *p; p++) {
        if ((unsigned char) *p >= 0x80)
            c->not_ascii = 1;
        *p = (char) ascii_tolower((unsigned char) *p);
    }
    c->literal = d[0] == '[';
    if (c->literal || c->not_ascii || r == NULL)
        return c;
    c->mx = dns_start(r, c->domain, DNS_T_MX);
    c->a = dns_start(r, c->domain, DNS_T_A);
    c->aaaa = dns_start(r, c->domain, DNS_T_AAAA);
    return c;
}

static int sender_mx_cmp(const void *a, const void *b)
{
    const struct dns_rr *x = *(const struct dns_rr *const *) a, *y = *(const struct dns_rr *const *) b;

    return (int) x->u.mx.pref - (int) y->u.mx.pref;
}

enum sender_status sender_check_finish(struct sender_check *c, int64_t deadline_ms, struct sender_result *res)
{
    const struct dns_answer *mx, *a, *aaaa;

    memset(res, 0, sizeof(*res));
    res->status = c->status;
    str_add(&res->why, c->why.data ? c->why.data : "", c->why.len);
    if (c->status != SENDER_OK)
        return res->status;
    res->is_literal = c->literal;
    if (c->mx == NULL) {
        if (c->not_ascii)
            str_adds(&res->why, "internationalised domain not looked up");
        return res->status;
    }
    mx = dns_wait(c->mx, deadline_ms);
    if (mx->status == DNS_ANSWER) {
        const struct dns_rr *sorted[DNS_MAX_RRS];
        int n = 0;

        for (int i = 0; i < mx->count && n < DNS_MAX_RRS; i++)
            if (mx->rr[i].type == DNS_T_MX)
                sorted[n++] = &mx->rr[i];
        for (int i = 0; i < n; i++)
            if (sorted[i]->u.mx.host[0] == '\0') {
                res->status = SENDER_NULL_MX;
                str_addf(&res->why, "the domain %s accepts no mail (null MX)", c->domain);
                return res->status;
            }
        if (n > 0) {
            qsort(sorted, (size_t) n, sizeof(sorted[0]), sender_mx_cmp);
            for (int i = 0; i < n && res->nmx < SENDER_MAX_MX; i++)
                res->mx[res->nmx++] = mem_strdup(sorted[i]->u.mx.host);
            return res->status;
        }
    }
    if (mx->status == DNS_NXDOMAIN) {
        res->status = SENDER_NO_DOMAIN;
        str_addf(&res->why, "the domain %s does not exist", c->domain);
        return res->status;
    }
    if (mx->status == DNS_TEMPFAIL || mx->status == DNS_BADANSWER) {
        res->status = SENDER_TEMPFAIL;
        str_addf(&res->why, "the MX records of %s could not be looked up (%s)", c->domain,
                 mx->timed_out ? "timeout" : dns_status_name(mx->status));
        return res->status;
    }
    /* No MX: the domain itself, if it has an address (RFC 5321 5.1). */
    a = dns_wait(c->a, deadline_ms);
    aaaa = dns_wait(c->aaaa, deadline_ms);
    if (a->status == DNS_ANSWER || aaaa->status == DNS_ANSWER) {
        res->mx[res->nmx++] = mem_strdup(c->domain);
        return res->status;
    }
    if (a->status == DNS_TEMPFAIL || a->status == DNS_BADANSWER || aaaa->status == DNS_TEMPFAIL
        || aaaa->status == DNS_BADANSWER) {
        res->status = SENDER_TEMPFAIL;
        str_addf(&res->why, "the addresses of %s could not be looked up", c->domain);
        return res->status;
    }
    res->status = SENDER_NO_MAIL;
    str_addf(&res->why, "the domain %s has no mail server (no MX, A or AAAA record)", c->domain);
    return res->status;
}

void sender_check_free(struct sender_check *c)
{
    if (c == NULL)
        return;
    dns_query_free(c->mx);
    dns_query_free(c->a);
    dns_query_free(c->aaaa);
    str_free(&c->why);
    mem_free(c->domain);
    mem_free(c);
}

/* ---------------------------------------------------------------- disposable list */

#define SENDER_LIST_MAX_SIZE (64 * 1024 * 1024)

struct sender_list {
    char *path;
    int64_t interval_ms;
    pthread_mutex_t lock;
    int64_t checked_ms;            /* last stat */
    int loaded;
    struct timespec mtime;
    off_t size;
    ino_t ino;
    char **domains;                /* sorted, lower case */
    int n;
    str error;
};

struct sender_list *sender_list_new(const char *path, int64_t check_interval_ms)
{
    struct sender_list *l = mem_zalloc(sizeof(*l));

    l->path = mem_strdup(path);
    l->interval_ms = check_interval_ms != 0 ? check_interval_ms : 1000;
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

static void sender_domains_free(char **v, int n)
{
    for (int i = 0; i < n; i++)
        mem_free(v[i]);
    mem_free(v);
}

void sender_list_free(struct sender_list *l)
{
    if (l == NULL)
        return;
    sender_domains_free(l->domains, l->n);
    str_free(&l->error);
    mem_free(l->path);
    pthread_mutex_destroy(&l->lock);
    mem_free(l);
}

static int sender_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Read the file into a new sorted array; -1 with the reason in err. */
static int sender_list_read(const char *path, char ***out, int *nout, str *err)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    char **v = NULL;
    int n = 0, cap = 0, lineno = 0;
    int64_t total = 0;

    if (f == NULL) {
        str_addf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *s = line, *e;
        size_t len = strlen(line);

        lineno++;
        total += (int64_t) len;
        if (total > SENDER_LIST_MAX_SIZE) {
            str_addf(err, "%s: larger than %d bytes", path, SENDER_LIST_MAX_SIZE);
            break;
        }
        if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
            int ch;

            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            continue;       /* an overlong line is no domain */
        }
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\0' || *s == '\n' || *s == '\r')
            continue;
        if (s[0] == '*' && s[1] == '.')
            s += 2;
        else if (s[0] == '.')
            s++;
        for (e = s; *e && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n' && *e != '#'; e++)
            *e = (char) ascii_tolower((unsigned char) *e);
        if (e > s && e[-1] == '.')
            e--;
        if (e == s)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            v = mem_realloc(v, (ssize_t) sizeof(char *) * cap);
        }
        v[n++] = mem_strndup(s, e - s);
    }
    fclose(f);
    if (total > SENDER_LIST_MAX_SIZE) {
        sender_domains_free(v, n);
        return -1;
    }
    if (n > 1)
        qsort(v, (size_t) n, sizeof(char *), sender_strcmp);
    *out = v;
    *nout = n;
    return 0;
}

/* Re-read the file if it changed. Lock held. */
static void sender_list_refresh(struct sender_list *l)
{
    int64_t now = clock_now_ms();
    struct stat st;
    char **v;
    int n;

    if (l->loaded && l->interval_ms > 0 && now - l->checked_ms < l->interval_ms)
        return;
    l->checked_ms = now;
    if (stat(l->path, &st) != 0) {
        if (!l->loaded || l->ino != 0) {
            str_reset(&l->error);
            str_addf(&l->error, "%s: %s", l->path, strerror(errno));
            l->ino = 0;
        }
        l->loaded = 1;
        return;
    }
    if (l->loaded && st.st_mtim.tv_sec == l->mtime.tv_sec && st.st_mtim.tv_nsec == l->mtime.tv_nsec
        && st.st_size == l->size && st.st_ino == l->ino)
        return;
    l->loaded = 1;
    l->mtime = st.st_mtim;
    l->size = st.st_size;
    l->ino = st.st_ino;
    str_reset(&l->error);
    if (sender_list_read(l->path, &v, &n, &l->error) != 0)
        return;
    sender_domains_free(l->domains, l->n);
    l->domains = v;
    l->n = n;
}

int sender_list_match(struct sender_list *l, const char *domain)
{
    char buf[SENDER_MAX_DOMAIN + 1];
    size_t len = strnlen(domain, SENDER_MAX_DOMAIN + 1);
    int found = 0;

    if (len == 0 || len > SENDER_MAX_DOMAIN)
        return 0;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char) ascii_tolower((unsigned char) domain[i]);
    buf[len] = '\0';
    if (len > 0 && buf[len - 1] == '.')
        buf[len - 1] = '\0';
    pthread_mutex_lock(&l->lock);
    sender_list_refresh(l);
    for (char *p = buf; p && *p && !found; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
        char *key = p;

        found = l->n > 0 && bsearch(&key, l->domains, (size_t) l->n, sizeof(char *), sender_strcmp) != NULL;
    }
    pthread_mutex_unlock(&l->lock);
    return found;
}

int sender_list_count(struct sender_list *l)
{
    int n;

    pthread_mutex_lock(&l->lock);
    sender_list_refresh(l);
    n = l->n;
    pthread_mutex_unlock(&l->lock);
    return n;
}

int sender_list_error(struct sender_list *l, str *out)
{
    int had;

    pthread_mutex_lock(&l->lock);
    had = l->error.len > 0;
    if (had) {
        str_add(out, l->error.data, l->error.len);
        str_reset(&l->error);
    }
    pthread_mutex_unlock(&l->lock);
    return had;
}

const char *sender_list_path(const struct sender_list *l)
{
    return l->path;
}

/* ---------------------------------------------------------------- callout */

#define CALLOUT_MAX_REPLY 4096
#define CALLOUT_MAX_LINES 100

struct callout_conn {
    int fd;
    int64_t deadline;
    char buf[1024];
    ssize_t have, pos;
};

/* Wait for fd to be ready for events until the deadline. 0 ready, -1 not. */
static int callout_wait(const struct callout_conn *c, short events)
{
    for (;;) {
        struct pollfd p = { .fd = c->fd, .events = events };
        int64_t left = c->deadline - clock_now_ms();
        int rc;

        if (left <= 0)
            return -1;
        rc = poll(&p, 1, (int) (left > 60000 ? 60000 : left));
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static int callout_send(struct callout_conn *c, const str *line)
{
    ssize_t off = 0;

    while (off < line->len) {
        ssize_t n = send(c->fd, line->data + off, (size_t) (line->len - off), MSG_NOSIGNAL);

        if (n > 0)
            off += n;
        else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (callout_wait(c, POLLOUT) != 0)
                return -1;
        } else
            return -1;
    }
    return 0;
}

/* One byte from the connection, or -1. */
static int callout_getc(struct callout_conn *c)
{
    while (c->pos >= c->have) {
        ssize_t n;

        if (callout_wait(c, POLLIN) != 0)
            return -1;
        n = recv(c->fd, c->buf, sizeof(c->buf), 0);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            return -1;
        }
        c->have = n;
        c->pos = 0;
    }
    return (unsigned char) c->buf[c->pos++];
}

/* Read a (multi-line) reply; its code, or -1. The last line goes to last (sanitised). */
static int callout_reply(struct callout_conn *c, str *last)
{
    ssize_t total = 0;

    for (int lines = 0; lines < CALLOUT_MAX_LINES; lines++) {
        str line = STR_INIT;
        int ch, code;

        while ((ch = callout_getc(c)) >= 0 && ch != '\n') {
            if (++total > CALLOUT_MAX_REPLY) {
                str_free(&line);
                return -1;
            }
            if (ch != '\r')
                str_addc(&line, ch >= 0x20 && ch < 0x7f ? ch : '?');
        }
        if (ch < 0 || line.len < 3 || line.data[0] < '2' || line.data[0] > '5' || line.data[1] < '0'
            || line.data[1] > '9' || line.data[2] < '0' || line.data[2] > '9'
            || (line.len > 3 && line.data[3] != ' ' && line.data[3] != '-')) {
            str_free(&line);
            return -1;
        }
        code = (line.data[0] - '0') * 100 + (line.data[1] - '0') * 10 + (line.data[2] - '0');
        if (line.len == 3 || line.data[3] == ' ') {
            str_reset(last);
            str_add(last, line.data, line.len > 200 ? 200 : line.len);
            str_free(&line);
            return code;
        }
        str_free(&line);
    }
    return -1;
}

/* Send a command and read its reply code. */
static int callout_cmd(struct callout_conn *c, const char *cmd, const char *arg, str *last)
{
    str line = STR_INIT;
    int rc;

    str_adds(&line, cmd);
    str_adds(&line, arg);
    str_adds(&line, "\r\n");
    rc = callout_send(c, &line) == 0 ? callout_reply(c, last) : -1;
    str_free(&line);
    return rc;
}

/* "<addr>", quoting the local part when it is not a dot-string. */
static void callout_path(str *out, const char *addr)
{
    const char *at = strrchr(addr, '@');
    int quote = 0;

    str_addc(out, '<');
    if (at == NULL) {
        str_adds(out, addr);
        str_addc(out, '>');
        return;
    }
    for (const char *p = addr; p < at; p++)
        if ((unsigned char) *p < 0x80 && *p != '.' && !sender_atext((unsigned char) *p))
            quote = 1;
    if (quote) {
        str_addc(out, '"');
        for (const char *p = addr; p < at; p++) {
            if (*p == '"' || *p == '\\')
                str_addc(out, '\\');
            str_addc(out, *p);
        }
        str_addc(out, '"');
    } else {
        str_add(out, addr, at - addr);
    }
    str_adds(out, at);
    str_addc(out, '>');
}

/* Connect to one address until the deadline; the socket or -1. */
static int callout_connect(const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct callout_conn c = { .fd = fd, .deadline = deadline };
    int err = 0;
    socklen_t el = sizeof(err);

    if (fd < 0)
        return -1;
    if (connect(fd, sa, len) == 0)
        return fd;
    if (errno != EINPROGRESS || callout_wait(&c, POLLOUT) != 0
        || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The dialogue with one server. Returns 1 if it decided (status set), 0 to try another host. */
static int callout_dialogue(int fd, int64_t deadline, const char *addr, const struct sender_callout_options *o,
                            enum sender_callout_status *status, str *reply)
{
    struct callout_conn c = { .fd = fd, .deadline = deadline };
    str last = STR_INIT, arg = STR_INIT;
    int code, decided = 0;

    if ((code = callout_reply(&c, &last)) < 0 || code / 100 != 2)
        goto done;
    code = callout_cmd(&c, "EHLO ", o->helo, &last);
    if (code >= 0 && code / 100 != 2)
        code = callout_cmd(&c, "HELO ", o->helo, &last);
    if (code < 0 || code / 100 != 2)
        goto done;
    callout_path(&arg, o->mail_from ? o->mail_from : "");
    code = callout_cmd(&c, "MAIL FROM:", str_cstr(&arg), &last);
    decided = 1;       /* from here on this server has spoken: no other host is asked */
    if (code < 0 || code / 100 != 2) {
        *status = SENDER_CALLOUT_UNKNOWN;
        goto done;
    }
    str_reset(&arg);
    callout_path(&arg, addr);
    code = callout_cmd(&c, "RCPT TO:", str_cstr(&arg), &last);
    *status = code / 100 == 2 ? SENDER_CALLOUT_VALID : code / 100 == 5 ? SENDER_CALLOUT_INVALID
                                                                       : SENDER_CALLOUT_UNKNOWN;
    {
        str quit = STR_INIT;

        str_adds(&quit, "QUIT\r\n");
        (void) callout_send(&c, &quit);
        str_free(&quit);
    }
done:
    str_reset(reply);
    if (last.len)
        str_add(reply, last.data, last.len);
    else
        str_adds(reply, code < 0 ? "no usable reply" : "refused");
    str_free(&last);
    str_free(&arg);
    return decided;
}

enum sender_callout_status sender_callout(struct dns_resolver *r, const struct sender_result *res, const char *addr,
                                          const struct sender_callout_options *o, str *reply)
{
    enum sender_callout_status status = SENDER_CALLOUT_UNKNOWN;
    int max_hosts = o->max_hosts > 0 ? o->max_hosts : 2;
    int port = o->port > 0 ? o->port : 25;

    str_reset(reply);
    str_adds(reply, "no mail server reachable");
    for (int h = 0; h < res->nmx && h < max_hosts; h++) {
        struct dns_query *q4 = dns_start(r, res->mx[h], DNS_T_A);
        struct dns_query *q6 = dns_start(r, res->mx[h], DNS_T_AAAA);
        const struct dns_answer *ans[2];
        int decided = 0;

        ans[0] = dns_wait(q4, o->deadline_ms);
        ans[1] = dns_wait(q6, o->deadline_ms);
        for (int k = 0; k < 2 && !decided; k++) {
            for (int i = 0; i < ans[k]->count && i < 2 && !decided; i++) {
                struct sockaddr_storage ss;
                socklen_t len;
                int fd;

                memset(&ss, 0, sizeof(ss));
                if (ans[k]->rr[i].type == DNS_T_A) {
                    struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

                    sin->sin_family = AF_INET;
                    sin->sin_port = htons((uint16_t) port);
                    sin->sin_addr = ans[k]->rr[i].u.a;
                    len = sizeof(*sin);
                } else if (ans[k]->rr[i].type == DNS_T_AAAA) {
                    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

                    sin6->sin6_family = AF_INET6;
                    sin6->sin6_port = htons((uint16_t) port);
                    sin6->sin6_addr = ans[k]->rr[i].u.aaaa;
                    len = sizeof(*sin6);
                } else {
                    continue;
                }
                if ((fd = callout_connect((struct sockaddr *) &ss, len, o->deadline_ms)) < 0)
                    continue;
                decided = callout_dialogue(fd, o->deadline_ms, addr, o, &status, reply);
                close(fd);
            }
        }
        dns_query_free(q4);
        dns_query_free(q6);
        if (decided || clock_now_ms() >= o->deadline_ms)
            break;
    }
    return status;
}

/* ---------------------------------------------------------------- callout cache */

#define SENDER_CACHE_BUCKETS 1024

struct sender_cache_entry {
    char *addr;
    enum sender_callout_status status;
    char *reply;
    int64_t expires;
    struct sender_cache_entry *hnext, *next;   /* chain; insertion order */
};

struct sender_cache {
    pthread_mutex_t lock;
    struct sender_cache_entry *bucket[SENDER_CACHE_BUCKETS];
    struct sender_cache_entry *head, *tail;
    int n, max;
};

struct sender_cache *sender_cache_new(int max_entries)
{
    struct sender_cache *c = mem_zalloc(sizeof(*c));

    pthread_mutex_init(&c->lock, NULL);
    c->max = max_entries > 0 ? max_entries : 10000;
    return c;
}

/* The address with its domain in lower case. */
static char *sender_cache_key(const char *addr)
{
    char *k = mem_strdup(addr), *at = strrchr(k, '@');

    for (char *p = at; p && *p; p++)
        *p = (char) ascii_tolower((unsigned char) *p);
    return k;
}

static unsigned sender_cache_hash(const char *s)
{
    unsigned h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 16777619u;
    return h % SENDER_CACHE_BUCKETS;
}

/* Drop the oldest entry. Lock held. */
static void sender_cache_drop_head(struct sender_cache *c)
{
    struct sender_cache_entry *e = c->head, **pp = &c->bucket[sender_cache_hash(e->addr)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    c->head = e->next;
    if (c->head == NULL)
        c->tail = NULL;
    c->n--;
    mem_free(e->addr);
    mem_free(e->reply);
    mem_free(e);
}

void sender_cache_free(struct sender_cache *c)
{
    if (c == NULL)
        return;
    while (c->head)
        sender_cache_drop_head(c);
    pthread_mutex_destroy(&c->lock);
    mem_free(c);
}

int sender_cache_get(struct sender_cache *c, const char *addr, int64_t now_ms, enum sender_callout_status *status,
                     str *reply)
{
    char *k = sender_cache_key(addr);
    int found = 0;

    pthread_mutex_lock(&c->lock);
    for (struct sender_cache_entry *e = c->bucket[sender_cache_hash(k)]; e; e = e->hnext)
        if (strcmp(e->addr, k) == 0 && e->expires > now_ms) {
            *status = e->status;
            str_reset(reply);
            str_adds(reply, e->reply);
            found = 1;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    mem_free(k);
    return found;
}

void sender_cache_put(struct sender_cache *c, const char *addr, enum sender_callout_status status, const char *reply,
                      int64_t expires_ms)
{
    struct sender_cache_entry *e = mem_zalloc(sizeof(*e));
    unsigned h;

    e->addr = sender_cache_key(addr);
    e->status = status;
    e->reply = mem_strdup(reply ? reply : "");
    e->expires = expires_ms;
    h = sender_cache_hash(e->addr);
    pthread_mutex_lock(&c->lock);
    /* An older entry for the same address is shadowed by this one (newer entries come first in
       the chain) and leaves with its age. */
    while (c->n >= c->max && c->head)
        sender_cache_drop_head(c);
    e->hnext = c->bucket[h];
    c->bucket[h] = e;
    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    c->n++;
    pthread_mutex_unlock(&c->lock);
}
