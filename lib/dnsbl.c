/*
 * dnsbl.c - DNS block and allow lists.
 *
 * dnsbl_new() parses the list entries (dnsbl_spec_parse, syntax in
 * dnsbl.h), groups them by zone for health tracking, loads the local
 * files and the public suffix table. The object is immutable apart from
 * per-zone health counters (a mutex each) and local file tables (swapped
 * under a mutex, reference counted), so every thread shares it.
 *
 * A dnsbl_check belongs to one transaction and one thread. Each identity
 * is first looked up in the local files (allow files, then block files);
 * a hit is recorded and stops further DNS for the check (lookups already
 * in flight are dropped at collect, without waiting). Otherwise one A
 * query per (name, zone) is started at once; entries sharing a zone and
 * name share the query. Domain identities and URL hosts are looked up as
 * given and as their registered domain (public suffix plus one label).
 * dnsbl_check_collect() waits for them against one absolute deadline:
 *   NXDOMAIN, NODATA       not listed;
 *   A records in 127/8     listed for each entry whose filter passes one;
 *   127.255.255.0/24, any  an error (the list refused the query, or a
 *   answer outside 127/8,  resolver rewrote NXDOMAIN), never a listing:
 *   no A record, malformed logged at error level, once per zone per
 *                          log interval with a count of the rest;
 *   SERVFAIL, timeout      unknown, never listed.
 * The score is the sum of the weights of the hits; one hit per (entry,
 * kind): more names of that kind listed by the same entry (several URL
 * hosts) are counted in hit->more, not scored again.
 *
 * Health: errors and SERVFAILs (not our own deadline's timeouts) count
 * against a zone; when at least broken_min_answers answers came in since
 * the last health check and broken_error_percent of them were errors, the
 * zone is marked broken. dnsbl_health_check() asks every zone's RFC 5782
 * test points; a zone that lists 127.0.0.1 ("answers everything"), does
 * not list 127.0.0.2 (nor ::FFFF:7F00:2, for IPv6-only lists), or
 * refuses, is marked broken too. Zones configured as having no test
 * points are not asked; only the error share can break them. A broken zone is
 * logged at error level once when it breaks, counted, skipped by every
 * check (result.skipped), and restored by the next health check that
 * passes. The caller runs the health check at start and periodically: no
 * thread of our own.
 *
 * Local files: one entry per line, '#' starts a comment; an entry is an
 * IPv4 or IPv6 address or CIDR network (host bits are cleared), or a
 * domain name, which matches itself and every name below it (a leading
 * "." or "*." is accepted and means the same). Bad lines are logged
 * (the first ten per load) and skipped. A file is stat()ed at most once
 * per local_check_interval_ms and re-read when its inode, size or mtime
 * changed; if it cannot be read then, the previous contents stay. Replace
 * a file atomically (write a new one, rename it over the old): a file read
 * while half-written is used as read until its next change. Limits:
 * 64 MiB per file, 1024 bytes per line.
 *
 * Configuration read: struct dnsbl_options (dnsbl.h). Logs: broken and
 * recovered zones, rate-limited error answers, local file (re)loads and
 * their bad lines.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cidr.h"
#include "dnsbl.h"
#include "log.h"
#include "mem.h"
#include "util.h"

#define LOCAL_MAX_FILE (64 * 1024 * 1024)
#define LOCAL_MAX_LINE 1024
#define LOCAL_MAX_WARNINGS 10
#define RENDER_DEFAULT_MAX 900

static const struct {
    const char *name;
    unsigned kinds;
} kind_names[] = {
    { "ip", DNSBL_IP },
    { "helo", DNSBL_HELO },
    { "mailfrom", DNSBL_MAILFROM },
    { "from", DNSBL_FROM },
    { "client_name", DNSBL_CLIENT_NAME },
    { "uri", DNSBL_URI },
    { "uri_ip", DNSBL_URI_IP },
    { "domain", DNSBL_DOMAIN_KINDS },
};

/* The name of one kind bit. */
const char *dnsbl_kind_name(unsigned kind)
{
    for (size_t i = 0; i + 1 < NELEM(kind_names); i++)
        if (kind_names[i].kinds == kind)
            return kind_names[i].name;
    return "?";
}

/* "ip+helo" into bits. */
int dnsbl_kinds_parse(const char *text, ssize_t len, unsigned *kinds)
{
    const char *s = text, *end = text + len;

    *kinds = 0;
    if (len <= 0)
        return -1;
    while (s <= end) {
        const char *e = memchr(s, '+', (size_t) (end - s));
        size_t i;

        if (e == NULL)
            e = end;
        for (i = 0; i < NELEM(kind_names); i++)
            if ((ssize_t) strlen(kind_names[i].name) == e - s
                && memcmp(kind_names[i].name, s, (size_t) (e - s)) == 0)
                break;
        if (i == NELEM(kind_names))
            return -1;
        *kinds |= kind_names[i].kinds;
        s = e + 1;
    }
    return 0;
}

/* ------------------------------------------------------------ entries */

/* One error line about an entry; out is emptied. */
static int spec_error(str *err, const char *text, const char *what, struct dnsbl_spec *out, str *zone)
{
    str_free(zone);
    memset(out, 0, sizeof(*out));
    str_adds(err, "dnsbl entry \"");
    str_add_escaped(err, text, (ssize_t) strlen(text), 200);
    str_addf(err, "\": %s\n", what);
    return -1;
}

/* An unsigned decimal of at most max; the end in *end; -1 if none. */
static long parse_num(const char *s, const char **end, long max)
{
    long v = 0;
    const char *p = s;

    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > max)
            return -1;
        p++;
    }
    *end = p;
    return p == s ? -1 : v;
}

/* Postfix's d.d.d.d filter with [n;n..m] sets; NULL on error with why. */
static const char *parse_octets(const char *s, struct dnsbl_filter *f, const char **why)
{
    memset(f->octet, 0, sizeof(f->octet));
    for (int o = 0; o < 4; o++) {
        const char *e;
        long lo, hi;

        if (o > 0) {
            if (*s != '.') {
                *why = "filter needs four octets separated by dots";
                return NULL;
            }
            s++;
        }
        if (*s != '[') {
            if ((lo = parse_num(s, &e, 255)) < 0) {
                *why = "filter octet is not a number from 0 to 255";
                return NULL;
            }
            f->octet[o][lo >> 3] |= (uint8_t) (1u << (lo & 7));
            s = e;
            continue;
        }
        s++;
        for (;;) {
            if ((lo = parse_num(s, &e, 255)) < 0) {
                *why = "filter set item is not a number from 0 to 255";
                return NULL;
            }
            hi = lo;
            s = e;
            if (s[0] == '.' && s[1] == '.') {
                if ((hi = parse_num(s + 2, &e, 255)) < 0 || hi < lo) {
                    *why = "filter range is not n..m with n <= m <= 255";
                    return NULL;
                }
                s = e;
            }
            for (long v = lo; v <= hi; v++)
                f->octet[o][v >> 3] |= (uint8_t) (1u << (v & 7));
            if (*s == ';') {
                s++;
                continue;
            }
            if (*s == ']') {
                s++;
                break;
            }
            *why = "filter set needs ';' between items and a closing ']'";
            return NULL;
        }
    }
    f->type = DNSBL_FILTER_OCTETS;
    return s;
}

/* Parse one list entry. */
int dnsbl_spec_parse(const char *text, struct dnsbl_spec *out, str *err)
{
    const char *s = text, *zone_end, *colon;
    str zone = STR_INIT, raw = STR_INIT;
    const char *why = NULL;
    long w;

    memset(out, 0, sizeof(*out));
    out->kinds = DNSBL_IP;
    out->weight = 1;
    zone_end = s + strcspn(s, "=&*");
    colon = memchr(s, ':', (size_t) (zone_end - s));
    if (colon) {
        if (dnsbl_kinds_parse(s, colon - s, &out->kinds) != 0)
            return spec_error(err, text, "unknown kind before ':' (ip, helo, mailfrom, from, "
                              "client_name, uri, uri_ip, domain, joined with '+')", out, &zone);
        s = colon + 1;
    }
    str_add(&raw, s, zone_end - s);
    if (raw.len == 0 || uri_host_normalize(raw.data, raw.len, 0, &zone) != URI_HOST_DOMAIN
        || zone.len > DNS_MAX_NAME_LEN - 10) {
        str_free(&raw);
        return spec_error(err, text, "bad zone name", out, &zone);
    }
    str_free(&raw);
    s = zone_end;
    if (*s == '=') {
        s = parse_octets(s + 1, &out->filter, &why);
        if (s == NULL)
            return spec_error(err, text, why, out, &zone);
    } else if (*s == '&') {
        char *e;
        unsigned long m;

        errno = 0;
        m = strtoul(s + 1, &e, 0);
        if (e == s + 1 || *(s + 1) == '-' || *(s + 1) == '+' || *(s + 1) == ' ' || errno || m == 0
            || m > 0xffffffffUL)
            return spec_error(err, text, "bad mask after '&' (a non-zero 32-bit number, e.g. 0x04)", out, &zone);
        out->filter.type = DNSBL_FILTER_MASK;
        out->filter.mask = (uint32_t) m;
        s = e;
    }
    if (*s == '*') {
        const char *e;
        int neg = 0;

        s++;
        if (*s == '-' || *s == '+')
            neg = *s++ == '-';
        if ((w = parse_num(s, &e, DNSBL_MAX_WEIGHT)) < 0)
            return spec_error(err, text, "bad weight after '*' (an integer, at most 100000 either way)", out,
                              &zone);
        out->weight = neg ? (int) -w : (int) w;
        s = e;
    }
    if (*s != '\0')
        return spec_error(err, text, "unexpected text after the entry", out, &zone);
    out->zone = str_steal(&zone);
    out->text = mem_strdup(text);
    return 0;
}

/* Free what a parsed entry holds. */
void dnsbl_spec_clear(struct dnsbl_spec *s)
{
    mem_free(s->zone);
    mem_free(s->text);
    memset(s, 0, sizeof(*s));
}

/* Does an answer pass the filter? */
int dnsbl_filter_match(const struct dnsbl_filter *f, struct in_addr addr)
{
    uint32_t a = ntohl(addr.s_addr);

    switch (f->type) {
    case DNSBL_FILTER_MASK:
        return (a & f->mask) != 0;
    case DNSBL_FILTER_OCTETS:
        for (int o = 0; o < 4; o++) {
            unsigned v = (a >> (24 - 8 * o)) & 255;

            if (!(f->octet[o][v >> 3] & (1u << (v & 7))))
                return 0;
        }
        return 1;
    default:
        return 1;
    }
}

/* ------------------------------------------------------------ addresses */

/* Parse an address (as cidr_addr_parse); 4 or 6 with its bytes, 0 if it is none. */
static int parse_addr(const char *addr, uint8_t bytes[16])
{
    struct cidr_addr a;

    if (cidr_addr_parse(addr, &a) != 0)
        return 0;
    memcpy(bytes, a.b, a.family == AF_INET ? 4 : 16);
    return a.family == AF_INET ? 4 : 6;
}

/* The reversed DNS form of an address's bytes. */
static void reverse_bytes(int fam, const uint8_t *b, str *out)
{
    static const char hex[] = "0123456789abcdef";

    str_reset(out);
    if (fam == 4) {
        str_addf(out, "%u.%u.%u.%u", b[3], b[2], b[1], b[0]);
        return;
    }
    for (int i = 15; i >= 0; i--) {
        str_addc(out, hex[b[i] & 15]);
        str_addc(out, '.');
        str_addc(out, hex[b[i] >> 4]);
        if (i > 0)
            str_addc(out, '.');
    }
}

/* Reverse an address for a DNS list query. */
int dnsbl_reverse_ip(const char *addr, str *out)
{
    uint8_t b[16];
    int fam = parse_addr(addr, b);

    str_reset(out);
    if (fam)
        reverse_bytes(fam, b, out);
    return fam;
}

/* ------------------------------------------------------------ local files */

struct cidr4 {
    uint32_t addr;
    uint8_t len;
};

struct cidr6 {
    uint8_t a[16];
    uint8_t len;
};

struct local_table {
    int refs;
    struct cidr4 *v4;
    int n4;
    struct cidr6 *v6;
    int n6;
    char **dom;
    int nd;
    int grp4[34];        /* entries of prefix length l: [grp4[l], grp4[l+1]) */
    int grp6[130];
};

struct local_file {
    char *path;
    unsigned kinds;
    enum dnsbl_local role;
    pthread_mutex_t lock;
    struct local_table *t;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int64_t checked_ms;
    int warned;          /* the file went missing and it was said */
};

/* Drop a reference on a local table; the last frees it. */
static void table_unref(struct local_table *t)
{
    if (t == NULL || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (int i = 0; i < t->nd; i++)
        mem_free(t->dom[i]);
    mem_free(t->dom);
    mem_free(t->v4);
    mem_free(t->v6);
    mem_free(t);
}

/* Order IPv4 networks by prefix length, then address. */
static int cmp4(const void *x, const void *y)
{
    const struct cidr4 *a = x, *b = y;

    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Order IPv6 networks by prefix length, then address. */
static int cmp6(const void *x, const void *y)
{
    const struct cidr6 *a = x, *b = y;

    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(a->a, b->a, 16);
}

/* Order domain names (qsort and bsearch on char *). */
static int cmpstr(const void *x, const void *y)
{
    return strcmp(*(char *const *) x, *(char *const *) y);
}

/* Clear the bits past len of a 16-byte address. */
static void mask6(uint8_t *a, int len)
{
    for (int i = 0; i < 16; i++) {
        int keep = len - 8 * i;

        if (keep <= 0)
            a[i] = 0;
        else if (keep < 8)
            a[i] &= (uint8_t) (0xff << (8 - keep));
    }
}

/* Clear the bits past len of an IPv4 address (host order). */
static uint32_t mask4(uint32_t a, int len)
{
    return len == 0 ? 0 : a & (0xffffffffu << (32 - len));
}

/* One entry of a local file into t; a reason if it is bad. */
static const char *local_entry(struct local_table *t, char *tok, str *tmp)
{
    char *slash = strchr(tok, '/');
    uint8_t b[16];
    long len = -1;
    int fam;

    if (strchr(tok, ':') || (tok[0] >= '0' && tok[0] <= '9' && strspn(tok, "0123456789./") == strlen(tok))) {
        if (slash) {
            const char *e;

            *slash = '\0';
            if ((len = parse_num(slash + 1, &e, 128)) < 0 || *e)
                return "bad prefix length";
        }
        fam = parse_addr(tok, b);
        if (fam == 0)
            return "not an address";
        if (fam == 4 && strchr(tok, ':')) {
            /* An IPv4-mapped network: its length counts from bit 96. */
            if (len >= 0 && len < 96)
                return "IPv4-mapped prefix shorter than 96";
            if (len >= 0)
                len -= 96;
        }
        if (fam == 4) {
            if (len > 32)
                return "prefix length over 32";
            t->v4 = mem_realloc(t->v4, (ssize_t) sizeof(*t->v4) * (t->n4 + 1));
            t->v4[t->n4].len = (uint8_t) (len < 0 ? 32 : len);
            t->v4[t->n4].addr = mask4(((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16)
                                      | ((uint32_t) b[2] << 8) | b[3], t->v4[t->n4].len);
            t->n4++;
        } else {
            t->v6 = mem_realloc(t->v6, (ssize_t) sizeof(*t->v6) * (t->n6 + 1));
            t->v6[t->n6].len = (uint8_t) (len < 0 ? 128 : len);
            memcpy(t->v6[t->n6].a, b, 16);
            mask6(t->v6[t->n6].a, t->v6[t->n6].len);
            t->n6++;
        }
        return NULL;
    }
    if (tok[0] == '*' && tok[1] == '.')
        tok += 2;
    else if (tok[0] == '.')
        tok++;
    if (uri_host_normalize(tok, (ssize_t) strlen(tok), 0, tmp) != URI_HOST_DOMAIN)
        return "not an address, network or domain name";
    t->dom = mem_realloc(t->dom, (ssize_t) sizeof(char *) * (t->nd + 1));
    t->dom[t->nd++] = mem_strndup(tmp->data, tmp->len);
    return NULL;
}

/* Read a local file into a new table; NULL with err if it cannot be read. */
static struct local_table *local_load(const char *path, str *err)
{
    struct local_table *t;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, bad = 0;
    str tmp = STR_INIT;
    struct stat st;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        str_addf(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && st.st_size > LOCAL_MAX_FILE) {
        str_addf(err, "%s: larger than %d bytes", path, LOCAL_MAX_FILE);
        fclose(f);
        return NULL;
    }
    t = mem_zalloc(sizeof(*t));
    t->refs = 1;
    while ((n = getline(&line, &cap, f)) >= 0) {
        char *s, *e, *hash;
        const char *why = NULL;

        lineno++;
        if (n > LOCAL_MAX_LINE) {
            why = "line too long";
        } else {
            if ((hash = strchr(line, '#')))
                *hash = '\0';
            s = line + strspn(line, " \t\r\n");
            e = s + strcspn(s, " \t\r\n");
            if (*s == '\0')
                continue;
            if (e[strspn(e, " \t\r\n")] != '\0')
                why = "more than one entry on the line";
            else {
                *e = '\0';
                why = local_entry(t, s, &tmp);
            }
        }
        if (why && ++bad <= LOCAL_MAX_WARNINGS)
            log_warning("dnsbl: %s:%d: %s; line ignored", path, lineno, why);
    }
    if (bad > LOCAL_MAX_WARNINGS)
        log_warning("dnsbl: %s: %d more bad lines ignored", path, bad - LOCAL_MAX_WARNINGS);
    free(line);
    str_free(&tmp);
    if (ferror(f)) {
        str_addf(err, "%s: read error", path);
        fclose(f);
        table_unref(t);
        return NULL;
    }
    fclose(f);
    if (t->n4 > 0)
        qsort(t->v4, (size_t) t->n4, sizeof(*t->v4), cmp4);
    if (t->n6 > 0)
        qsort(t->v6, (size_t) t->n6, sizeof(*t->v6), cmp6);
    if (t->nd > 0)
        qsort(t->dom, (size_t) t->nd, sizeof(*t->dom), cmpstr);
    for (int l = 0, i = 0; l <= 33; l++) {
        while (i < t->n4 && t->v4[i].len < l)
            i++;
        t->grp4[l] = i;
    }
    for (int l = 0, i = 0; l <= 129; l++) {
        while (i < t->n6 && t->v6[i].len < l)
            i++;
        t->grp6[l] = i;
    }
    return t;
}

/* Is the address in the table? */
static int table_has_addr(const struct local_table *t, int fam, const uint8_t *b)
{
    if (fam == 4) {
        uint32_t a = ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) | ((uint32_t) b[2] << 8) | b[3];

        for (int l = 0; l <= 32; l++) {
            struct cidr4 key = { mask4(a, l), (uint8_t) l };
            int lo = t->grp4[l], n = t->grp4[l + 1] - lo;

            if (n > 0 && bsearch(&key, t->v4 + lo, (size_t) n, sizeof(key), cmp4))
                return 1;
        }
        return 0;
    }
    for (int l = 0; l <= 128; l++) {
        struct cidr6 key;
        int lo = t->grp6[l], n = t->grp6[l + 1] - lo;

        if (n <= 0)
            continue;
        memcpy(key.a, b, 16);
        mask6(key.a, l);
        key.len = (uint8_t) l;
        if (bsearch(&key, t->v6 + lo, (size_t) n, sizeof(key), cmp6))
            return 1;
    }
    return 0;
}

/* Is the domain, or a domain above it, in the table? */
static int table_has_domain(const struct local_table *t, const char *name)
{
    for (const char *s = name; s; s = strchr(s, '.') ? strchr(s, '.') + 1 : NULL)
        if (t->nd > 0 && bsearch(&s, t->dom, (size_t) t->nd, sizeof(char *), cmpstr))
            return 1;
    return 0;
}

/* Install a freshly read table and the file state it came from (lock held). */
static void local_set(struct local_file *f, struct local_table *t, const struct stat *st)
{
    table_unref(f->t);
    f->t = t;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->mtime = st->st_mtim;
}

/* Re-read f if it changed (lock held). */
static void local_refresh(struct local_file *f)
{
    struct local_table *t;
    struct stat st;
    str err = STR_INIT;

    if (stat(f->path, &st) != 0) {
        if (!f->warned)
            log_warning("dnsbl: %s: %s; keeping its previous contents", f->path, strerror(errno));
        f->warned = 1;
        return;
    }
    f->warned = 0;
    if (st.st_dev == f->dev && st.st_ino == f->ino && st.st_size == f->size
        && st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec)
        return;
    t = local_load(f->path, &err);
    if (t == NULL) {
        log_warning("dnsbl: %s; keeping its previous contents", str_cstr(&err));
        str_free(&err);
        return;
    }
    local_set(f, t, &st);
    log_info("dnsbl: loaded %s: %d IPv4 networks, %d IPv6 networks, %d domains",
             f->path, t->n4, t->n6, t->nd);
}

/* ------------------------------------------------------------ the lists */

struct dnsbl_zone {
    char *zone;
    unsigned kinds;
    int no_testpoints;   /* configured: the list has none; only traffic errors count */
    pthread_mutex_t lock;
    int broken;
    enum dnsbl_health health;
    int ipv6_testpoint;
    uint64_t queries, listed, errors, timeouts, broken_count;
    uint64_t win_answers, win_errors;
    int64_t last_log_ms;
    uint64_t suppressed;
};

struct dnsbl {
    int refs;
    struct dnsbl_spec *specs;
    int *spec_zone;
    int n;
    struct dnsbl_zone *zones;
    int nzones;
    struct local_file *locals;
    int nlocals;
    struct uri_psl *psl;
    int uri_max_names;
    int fetch_txt;
    int err_percent;
    int min_answers;
    int64_t local_interval;
    int64_t log_interval;
    pthread_mutex_t health_lock;
};

/* The table of a local file, re-read if due; a reference the caller drops. */
static struct local_table *local_get(struct dnsbl *d, struct local_file *f)
{
    int64_t now = clock_now_ms();
    struct local_table *t;

    pthread_mutex_lock(&f->lock);
    if (d->local_interval < 0 || now - f->checked_ms >= d->local_interval) {
        f->checked_ms = now;
        local_refresh(f);
    }
    t = f->t;
    if (t)
        __atomic_add_fetch(&t->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&f->lock);
    return t;
}

/* Add a local file from "[kinds:]path". */
static int local_add(struct dnsbl *d, const char *spec, enum dnsbl_local role, str *err)
{
    struct local_file *f;
    const char *colon = strchr(spec, ':'), *path = spec;
    unsigned kinds = DNSBL_IP | DNSBL_DOMAIN_KINDS;
    str e = STR_INIT;
    struct local_table *t;
    struct stat st;

    if (colon && dnsbl_kinds_parse(spec, colon - spec, &kinds) == 0)
        path = colon + 1;
    else
        kinds = DNSBL_IP | DNSBL_DOMAIN_KINDS;
    if (*path == '\0') {
        str_addf(err, "dnsbl local list \"%s\": no file name\n", spec);
        return -1;
    }
    f = &d->locals[d->nlocals];
    memset(f, 0, sizeof(*f));
    f->path = mem_strdup(path);
    f->kinds = kinds;
    f->role = role;
    pthread_mutex_init(&f->lock, NULL);
    d->nlocals++;
    if (stat(path, &st) != 0) {
        str_addf(err, "dnsbl local list %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((t = local_load(path, &e)) == NULL) {
        str_addf(err, "dnsbl local list %s\n", str_cstr(&e));
        str_free(&e);
        return -1;
    }
    local_set(f, t, &st);
    f->checked_ms = clock_now_ms();
    return 0;
}

/* Build the lists. */
struct dnsbl *dnsbl_new(const struct dnsbl_options *o, str *err)
{
    struct dnsbl *d = mem_zalloc(sizeof(*d));
    int bad = 0;

    d->refs = 1;
    pthread_mutex_init(&d->health_lock, NULL);
    d->uri_max_names = o->uri_max_names > 0 ? o->uri_max_names : DNSBL_DEFAULT_URI_MAX_NAMES;
    d->fetch_txt = o->fetch_txt;
    d->err_percent = o->broken_error_percent > 0 ? o->broken_error_percent : DNSBL_DEFAULT_ERROR_PERCENT;
    d->min_answers = o->broken_min_answers > 0 ? o->broken_min_answers : DNSBL_DEFAULT_MIN_ANSWERS;
    d->local_interval = o->local_check_interval_ms ? o->local_check_interval_ms : DNSBL_DEFAULT_LOCAL_CHECK_MS;
    d->log_interval = o->log_interval_ms > 0 ? o->log_interval_ms : DNSBL_DEFAULT_LOG_INTERVAL_MS;
    d->specs = mem_zalloc((ssize_t) sizeof(*d->specs) * (o->n_sites + 1));
    d->spec_zone = mem_zalloc((ssize_t) sizeof(int) * (o->n_sites + 1));
    d->zones = mem_zalloc((ssize_t) sizeof(*d->zones) * (o->n_sites + 1));
    for (int i = 0; i < o->n_sites; i++) {
        struct dnsbl_spec *s = &d->specs[d->n];
        int z;

        if (dnsbl_spec_parse(o->sites[i], s, err) != 0) {
            bad = 1;
            continue;
        }
        for (z = 0; z < d->nzones && strcmp(d->zones[z].zone, s->zone) != 0; z++)
            ;
        if (z == d->nzones) {
            d->zones[z].zone = mem_strdup(s->zone);
            d->zones[z].ipv6_testpoint = -1;
            pthread_mutex_init(&d->zones[z].lock, NULL);
            d->nzones++;
        }
        d->zones[z].kinds |= s->kinds;
        d->spec_zone[d->n++] = z;
    }
    for (int i = 0; i < o->n_no_testpoints; i++) {
        str zn = STR_INIT;
        int z;

        uri_host_normalize(o->no_testpoints[i], (ssize_t) strlen(o->no_testpoints[i]), 0, &zn);
        for (z = 0; z < d->nzones && strcmp(d->zones[z].zone, str_cstr(&zn)) != 0; z++)
            ;
        if (z == d->nzones) {
            str_adds(err, "dnsbl zone without test points \"");
            str_add_escaped(err, o->no_testpoints[i], (ssize_t) strlen(o->no_testpoints[i]), 200);
            str_adds(err, "\": not the zone of any list entry\n");
            bad = 1;
        } else {
            d->zones[z].no_testpoints = 1;
        }
        str_free(&zn);
    }
    d->locals = mem_zalloc((ssize_t) sizeof(*d->locals) * (o->n_local_block + o->n_local_allow + 1));
    for (int i = 0; i < o->n_local_allow; i++)
        bad |= local_add(d, o->local_allow[i], DNSBL_LOCAL_ALLOW, err) != 0;
    for (int i = 0; i < o->n_local_block; i++)
        bad |= local_add(d, o->local_block[i], DNSBL_LOCAL_BLOCK, err) != 0;
    d->psl = uri_psl_load(o->public_suffix_file, err);
    if (d->psl == NULL) {
        str_addc(err, '\n');
        bad = 1;
    }
    if (bad) {
        dnsbl_unref(d);
        return NULL;
    }
    return d;
}

/* Take a reference. */
struct dnsbl *dnsbl_ref(struct dnsbl *d)
{
    __atomic_add_fetch(&d->refs, 1, __ATOMIC_ACQ_REL);
    return d;
}

/* Drop a reference; the last frees everything. */
void dnsbl_unref(struct dnsbl *d)
{
    if (d == NULL || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (int i = 0; i < d->n; i++)
        dnsbl_spec_clear(&d->specs[i]);
    for (int i = 0; i < d->nzones; i++) {
        mem_free(d->zones[i].zone);
        pthread_mutex_destroy(&d->zones[i].lock);
    }
    for (int i = 0; i < d->nlocals; i++) {
        mem_free(d->locals[i].path);
        table_unref(d->locals[i].t);
        pthread_mutex_destroy(&d->locals[i].lock);
    }
    uri_psl_free(d->psl);
    pthread_mutex_destroy(&d->health_lock);
    mem_free(d->specs);
    mem_free(d->spec_zone);
    mem_free(d->zones);
    mem_free(d->locals);
    mem_free(d);
}

/* Number of list entries. */
int dnsbl_count(const struct dnsbl *d)
{
    return d->n;
}

/* Entry i, or NULL. */
const struct dnsbl_spec *dnsbl_entry(const struct dnsbl *d, int i)
{
    return i >= 0 && i < d->n ? &d->specs[i] : NULL;
}

/* The public suffix table in use. */
const struct uri_psl *dnsbl_psl(const struct dnsbl *d)
{
    return d->psl;
}

/* ------------------------------------------------------------ zone health */

/* Why a zone is broken, for logs. */
const char *dnsbl_health_name(enum dnsbl_health h)
{
    switch (h) {
    case DNSBL_HEALTH_OK: return "ok";
    case DNSBL_HEALTH_NO_TESTPOINT: return "its test point 127.0.0.2 or \"test\" is not listed";
    case DNSBL_HEALTH_LISTS_ALL: return "it lists everything: 127.0.0.1 or \"invalid\" is listed";
    case DNSBL_HEALTH_REFUSED: return "test points answered with errors: query refused or outside 127.0.0.0/8";
    case DNSBL_HEALTH_ERRORS: return "too many error answers";
    }
    return "unknown";
}

/* Mark a zone broken (lock held). */
static void zone_break(struct dnsbl_zone *z, enum dnsbl_health why)
{
    if (z->broken) {
        z->health = why;
        return;
    }
    z->broken = 1;
    z->health = why;
    z->broken_count++;
    log_error("dnsbl: list %s is broken (%s); it is ignored until a health check passes",
              z->zone, dnsbl_health_name(why));
}

/* Count one answer for a zone; error: it was an error answer or SERVFAIL. */
static void zone_count(struct dnsbl *d, struct dnsbl_zone *z, int error, int listed)
{
    pthread_mutex_lock(&z->lock);
    z->queries++;
    z->listed += listed != 0;
    z->errors += error != 0;
    z->win_answers++;
    z->win_errors += error != 0;
    if (!z->broken && z->win_answers >= (uint64_t) d->min_answers
        && z->win_errors * 100 >= (uint64_t) d->err_percent * z->win_answers)
        zone_break(z, DNSBL_HEALTH_ERRORS);
    pthread_mutex_unlock(&z->lock);
}

/* Log an error answer, at most once per zone per log interval. */
static void zone_log(struct dnsbl *d, struct dnsbl_zone *z, const char *qname, const char *what)
{
    int64_t now = clock_now_ms();
    uint64_t more = 0;
    int emit = 0;

    pthread_mutex_lock(&z->lock);
    if (z->last_log_ms == 0 || now - z->last_log_ms >= d->log_interval) {
        emit = 1;
        more = z->suppressed;
        z->suppressed = 0;
        z->last_log_ms = now;
    } else {
        z->suppressed++;
    }
    pthread_mutex_unlock(&z->lock);
    if (emit && more)
        log_error("dnsbl: list %s: %s for %s, not a listing (and %llu more since the last report)",
                  z->zone, what, qname, (unsigned long long) more);
    else if (emit)
        log_error("dnsbl: list %s: %s for %s, not a listing", z->zone, what, qname);
}

/* Is the zone marked broken now? */
static int zone_broken(struct dnsbl_zone *z)
{
    int b;

    pthread_mutex_lock(&z->lock);
    b = z->broken;
    pthread_mutex_unlock(&z->lock);
    return b;
}

/* Number of distinct zones. */
int dnsbl_zone_count(const struct dnsbl *d)
{
    return d->nzones;
}

/* A copy of zone i's state. */
void dnsbl_zone_status(struct dnsbl *d, int i, struct dnsbl_zone_status *out)
{
    struct dnsbl_zone *z;

    memset(out, 0, sizeof(*out));
    if (i < 0 || i >= d->nzones)
        return;
    z = &d->zones[i];
    pthread_mutex_lock(&z->lock);
    out->zone = z->zone;
    out->kinds = z->kinds;
    out->broken = z->broken;
    out->health = z->health;
    out->ipv6_testpoint = z->ipv6_testpoint;
    out->queries = z->queries;
    out->listed = z->listed;
    out->errors = z->errors;
    out->timeouts = z->timeouts;
    out->broken_count = z->broken_count;
    pthread_mutex_unlock(&z->lock);
}

/* What an answer says, before filters. */
enum verdict { V_UNKNOWN, V_NOT_LISTED, V_LISTED, V_ERROR };

/*
 * Read an answer: V_LISTED with the codes (at most max), V_NOT_LISTED,
 * V_ERROR with why (refused, outside 127/8, malformed, SERVFAIL) or
 * V_UNKNOWN (timeout).
 */
static enum verdict answer_verdict(const struct dns_answer *a, struct in_addr *codes, int max, int *ncodes,
                                   const char **why)
{
    int n = 0;

    *ncodes = 0;
    *why = NULL;
    switch (a->status) {
    case DNS_NXDOMAIN:
    case DNS_NODATA:
        return V_NOT_LISTED;
    case DNS_TEMPFAIL:
        if (a->timed_out)
            return V_UNKNOWN;
        *why = "SERVFAIL";
        return V_ERROR;
    case DNS_BADANSWER:
        *why = "malformed answer";
        return V_ERROR;
    case DNS_ANSWER:
        break;
    }
    for (int i = 0; i < a->count; i++) {
        uint32_t v;

        if (a->rr[i].type != DNS_T_A)
            continue;
        v = ntohl(a->rr[i].u.a.s_addr);
        if ((v >> 24) != 127) {
            *why = "answer outside 127.0.0.0/8";
            return V_ERROR;
        }
        if ((v >> 8) == 0x7fffff) {
            *why = "query refused (127.255.255.x)";
            return V_ERROR;
        }
        if (n < max)
            codes[n++] = a->rr[i].u.a;
    }
    if (n == 0) {
        *why = "answer without A records";
        return V_ERROR;
    }
    *ncodes = n;
    return V_LISTED;
}

/* Test points of one zone. */
enum { TP_V4_YES, TP_V4_NO, TP_V6_YES, TP_V6_NO, TP_DOM_YES, TP_DOM_NO, TP_N };

static const char *const testpoint_names[TP_N] = {
    "2.0.0.127", "1.0.0.127",
    "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
    "1.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",
    "test", "invalid",
};

/* The verdict of one test point's answer (V_ERROR: refused or bad codes). */
static enum verdict testpoint_verdict(struct dns_query *q, int64_t deadline_ms)
{
    struct in_addr codes[DNSBL_MAX_CODES];
    const char *why;
    int n;
    enum verdict v;

    if (q == NULL)
        return V_NOT_LISTED;
    v = answer_verdict(dns_wait(q, deadline_ms), codes, DNSBL_MAX_CODES, &n, &why);
    /* SERVFAIL at a test point says nothing about the list's data. */
    if (v == V_ERROR && why && strcmp(why, "SERVFAIL") == 0)
        v = V_UNKNOWN;
    return v;
}

/* Check the RFC 5782 test points of every zone. */
int dnsbl_health_check(struct dnsbl *d, struct dns_resolver *r, int64_t deadline_ms)
{
    struct dns_query **qs = mem_zalloc((ssize_t) sizeof(*qs) * TP_N * (d->nzones + 1));
    str name = STR_INIT;
    int broken = 0;

    pthread_mutex_lock(&d->health_lock);
    for (int z = 0; z < d->nzones; z++) {
        unsigned k = d->zones[z].kinds;

        if (d->zones[z].no_testpoints)
            k = 0;
        for (int t = 0; t < TP_N; t++) {
            int ip = t <= TP_V6_NO;

            if (ip ? !(k & (DNSBL_IP | DNSBL_URI_IP)) : !(k & (DNSBL_DOMAIN_KINDS | DNSBL_URI)))
                continue;
            str_reset(&name);
            str_addf(&name, "%s.%s", testpoint_names[t], d->zones[z].zone);
            qs[z * TP_N + t] = dns_start(r, name.data, DNS_T_A);
        }
    }
    for (int z = 0; z < d->nzones; z++) {
        struct dnsbl_zone *zn = &d->zones[z];
        struct dns_query **q = &qs[z * TP_N];
        enum verdict v[TP_N];
        enum dnsbl_health h = DNSBL_HEALTH_OK;
        int unknown = 0;

        for (int t = 0; t < TP_N; t++)
            v[t] = testpoint_verdict(q[t], deadline_ms);
        for (int t = 0; t < TP_N; t++) {
            if (q[t] == NULL || t == TP_V6_YES)
                continue;
            if (v[t] == V_ERROR)
                h = DNSBL_HEALTH_REFUSED;
            else if (v[t] == V_UNKNOWN)
                unknown = 1;
        }
        if (h == DNSBL_HEALTH_OK) {
            if ((q[TP_V4_NO] && v[TP_V4_NO] == V_LISTED) || (q[TP_V6_NO] && v[TP_V6_NO] == V_LISTED)
                || (q[TP_DOM_NO] && v[TP_DOM_NO] == V_LISTED))
                h = DNSBL_HEALTH_LISTS_ALL;
            /* An IPv6-only list may list ::FFFF:7F00:2 instead of 127.0.0.2. */
            else if ((q[TP_V4_YES] && v[TP_V4_YES] == V_NOT_LISTED && v[TP_V6_YES] != V_LISTED)
                     || (q[TP_DOM_YES] && v[TP_DOM_YES] == V_NOT_LISTED))
                h = DNSBL_HEALTH_NO_TESTPOINT;
        }
        pthread_mutex_lock(&zn->lock);
        zn->win_answers = zn->win_errors = 0;
        if (q[TP_V6_YES] && v[TP_V6_YES] != V_UNKNOWN)
            zn->ipv6_testpoint = v[TP_V6_YES] == V_LISTED;
        if (h != DNSBL_HEALTH_OK) {
            zone_break(zn, h);
        } else if (unknown) {
            log_warning("dnsbl: list %s: no answer for a test point; state kept (%s)",
                        zn->zone, zn->broken ? "broken" : "in use");
        } else if (zn->broken) {
            zn->broken = 0;
            zn->health = DNSBL_HEALTH_OK;
            log_notice("dnsbl: list %s passes its test points again; back in use", zn->zone);
        }
        broken += zn->broken;
        pthread_mutex_unlock(&zn->lock);
        for (int t = 0; t < TP_N; t++)
            dns_query_free(q[t]);
    }
    pthread_mutex_unlock(&d->health_lock);
    str_free(&name);
    mem_free(qs);
    return broken;
}

/* ------------------------------------------------------------ a check */

struct cq_user {
    int entry;
    enum dnsbl_kind kind;
    char *identity;
};

/* One DNS name asked, and the (entry, kind, identity) it answers for. */
struct cq {
    char *qname;
    int zone;
    struct dns_query *q;
    struct cq_user *users;
    int nusers;
};

struct dnsbl_check {
    struct dnsbl *d;
    struct dns_resolver *r;
    struct cq *qs;
    int nq;
    int collected;       /* qs[0..collected) are done */
    char **uri_names;    /* distinct URL names taken */
    int nuri;
    int txt_done;        /* hits[0..txt_done) had their TXT asked */
    int caphits;
    struct dnsbl_result res;
    str tmp;
    str name;
};

/* A check for one transaction. */
struct dnsbl_check *dnsbl_check_new(struct dnsbl *d, struct dns_resolver *r)
{
    struct dnsbl_check *c = mem_zalloc(sizeof(*c));

    c->d = dnsbl_ref(d);
    c->r = r;
    return c;
}

/* Append a hit or count it as one more of an existing (entry, kind) hit. */
static struct dnsbl_hit *add_hit(struct dnsbl_check *c, const char *list, const struct dnsbl_spec *spec,
                                 enum dnsbl_kind kind, enum dnsbl_local local, const char *identity)
{
    struct dnsbl_hit *h;

    for (int i = 0; i < c->res.nhits; i++) {
        h = &c->res.hits[i];
        if (h->kind == kind && h->list == list && h->spec == spec && h->local == local) {
            h->more++;
            return NULL;
        }
    }
    if (c->res.nhits == c->caphits) {
        c->caphits = c->caphits ? c->caphits * 2 : 8;
        c->res.hits = mem_realloc(c->res.hits, (ssize_t) sizeof(*c->res.hits) * c->caphits);
    }
    h = &c->res.hits[c->res.nhits++];
    memset(h, 0, sizeof(*h));
    h->list = list;
    h->spec = spec;
    h->kind = kind;
    h->local = local;
    h->identity = mem_strdup(identity);
    h->weight = spec ? spec->weight : 0;
    c->res.score += h->weight;
    return h;
}

/*
 * Look an identity up in the local files of its kind. Returns the role
 * that matched (ALLOW checked first) or NONE. A hit is recorded, except
 * an allow hit for a URL host, which only keeps that host from DNS.
 */
static enum dnsbl_local local_check(struct dnsbl_check *c, enum dnsbl_kind kind, int fam, const uint8_t *b,
                                    const char *domain, const char *identity)
{
    enum dnsbl_local found = DNSBL_LOCAL_NONE;

    for (int role = DNSBL_LOCAL_ALLOW; role <= DNSBL_LOCAL_BLOCK && !found; role++) {
        for (int i = 0; i < c->d->nlocals && !found; i++) {
            struct local_file *f = &c->d->locals[i];
            struct local_table *t;

            if ((int) f->role != role || !(f->kinds & kind))
                continue;
            t = local_get(c->d, f);
            if (t && (domain ? table_has_domain(t, domain) : table_has_addr(t, fam, b))) {
                found = (enum dnsbl_local) role;
                if (!(found == DNSBL_LOCAL_ALLOW && (kind & (DNSBL_URI | DNSBL_URI_IP))))
                    add_hit(c, f->path, NULL, kind, found, identity);
            }
            table_unref(t);
        }
    }
    if (found == DNSBL_LOCAL_ALLOW && !(kind & (DNSBL_URI | DNSBL_URI_IP)))
        c->res.local = DNSBL_LOCAL_ALLOW;
    else if (found == DNSBL_LOCAL_BLOCK && c->res.local != DNSBL_LOCAL_ALLOW)
        c->res.local = DNSBL_LOCAL_BLOCK;
    return found;
}

/* Ask (or share) the query for name under entry's zone; 1 if a new query started. */
static int start_name(struct dnsbl_check *c, int entry, enum dnsbl_kind kind, const char *name,
                      const char *identity)
{
    const struct dnsbl_spec *s = &c->d->specs[entry];
    int z = c->d->spec_zone[entry], started = 0;
    struct cq *q = NULL;

    if (zone_broken(&c->d->zones[z])) {
        c->res.skipped++;
        return 0;
    }
    str_reset(&c->name);
    str_addf(&c->name, "%s.%s", name, s->zone);
    if (!dns_name_valid(c->name.data)) {
        c->res.invalid++;
        return 0;
    }
    for (int i = c->collected; i < c->nq; i++)
        if (strcmp(c->qs[i].qname, c->name.data) == 0) {
            q = &c->qs[i];
            break;
        }
    if (q == NULL) {
        /* (A name collected earlier is asked again: the cache answers.) */
        c->qs = mem_realloc(c->qs, (ssize_t) sizeof(*c->qs) * (c->nq + 1));
        q = &c->qs[c->nq++];
        memset(q, 0, sizeof(*q));
        q->qname = mem_strndup(c->name.data, c->name.len);
        q->zone = z;
        q->q = dns_start(c->r, q->qname, DNS_T_A);
        c->res.queries++;
        started = 1;
    }
    q->users = mem_realloc(q->users, (ssize_t) sizeof(*q->users) * (q->nusers + 1));
    q->users[q->nusers].entry = entry;
    q->users[q->nusers].kind = kind;
    q->users[q->nusers].identity = mem_strdup(identity);
    q->nusers++;
    return started;
}

/* Start every entry of a kind for one lookup name. */
static int start_entries(struct dnsbl_check *c, enum dnsbl_kind kind, const char *name, const char *identity)
{
    int n = 0;

    for (int i = 0; i < c->d->n; i++)
        if (c->d->specs[i].kinds & kind)
            n += start_name(c, i, kind, name, identity);
    return n;
}

/* Look up the client address. */
int dnsbl_check_ip(struct dnsbl_check *c, const char *addr)
{
    uint8_t b[16];
    char text[INET6_ADDRSTRLEN];
    int fam = parse_addr(addr, b);
    str rev = STR_INIT;
    int n;

    if (fam == 0) {
        c->res.invalid++;
        return -1;
    }
    inet_ntop(fam == 4 ? AF_INET : AF_INET6, b, text, sizeof(text));
    local_check(c, DNSBL_IP, fam, b, NULL, text);
    if (c->res.local != DNSBL_LOCAL_NONE)
        return 0;
    reverse_bytes(fam, b, &rev);
    n = start_entries(c, DNSBL_IP, rev.data, text);
    str_free(&rev);
    return n;
}

/* The names to ask for a domain: itself, and its registered domain if that differs. */
static int domain_names(struct dnsbl_check *c, const char *domain, const char *names[2])
{
    const char *reg = uri_registered_domain(c->d->psl, domain);

    names[0] = domain;
    if (reg == NULL || reg == domain)
        return 1;
    names[1] = reg;
    return 2;
}

/* Look up a domain identity. */
int dnsbl_check_domain(struct dnsbl_check *c, enum dnsbl_kind kind, const char *domain)
{
    const char *at, *names[2];
    int n = 0, nn;
    size_t len;

    if (!(kind & DNSBL_DOMAIN_KINDS) || (kind & (kind - 1)))
        log_panic("dnsbl_check_domain: kind %#x is not one domain kind", (unsigned) kind);
    if (domain == NULL || *domain == '\0') {
        c->res.invalid++;
        return -1;
    }
    at = strrchr(domain, '@');
    if (at)
        domain = at + 1;
    len = strlen(domain);
    /* Address literals and bare addresses are not domains; nor is a single label. */
    if (domain[0] == '['
        || uri_host_normalize(domain, (ssize_t) len, 0, &c->tmp) != URI_HOST_DOMAIN
        || !strchr(c->tmp.data, '.')) {
        c->res.invalid++;
        return -1;
    }
    local_check(c, kind, 0, NULL, c->tmp.data, c->tmp.data);
    if (c->res.local != DNSBL_LOCAL_NONE)
        return 0;
    nn = domain_names(c, c->tmp.data, names);
    for (int i = 0; i < nn; i++)
        n += start_entries(c, kind, names[i], c->tmp.data);
    return n;
}

/* Take a URL name once, within uri_max_names; 0 if taken already or over the limit. */
static int uri_take(struct dnsbl_check *c, const char *name)
{
    for (int i = 0; i < c->nuri; i++)
        if (strcmp(c->uri_names[i], name) == 0)
            return 0;
    if (c->nuri >= c->d->uri_max_names)
        return 0;
    c->uri_names = mem_realloc(c->uri_names, (ssize_t) sizeof(char *) * (c->nuri + 1));
    c->uri_names[c->nuri++] = mem_strdup(name);
    return 1;
}

/* Look up the URL hosts a parser found. */
int dnsbl_check_uris(struct dnsbl_check *c, const struct uri_parser *p)
{
    int n = 0;
    str rev = STR_INIT;

    for (int i = 0; i < uri_parser_count(p) && c->res.local == DNSBL_LOCAL_NONE; i++) {
        const struct uri_host *h = uri_parser_host(p, i);

        if (h->kind == URI_HOST_DOMAIN) {
            const char *names[2];
            int nn;

            if (local_check(c, DNSBL_URI, 0, NULL, h->name, h->name) != DNSBL_LOCAL_NONE)
                continue;
            nn = domain_names(c, h->name, names);
            for (int k = 0; k < nn; k++)
                if (uri_take(c, names[k]))
                    n += start_entries(c, DNSBL_URI, names[k], h->name);
        } else {
            uint8_t b[16];
            int fam = parse_addr(h->name, b);

            if (fam == 0 || local_check(c, DNSBL_URI_IP, fam, b, NULL, h->name) != DNSBL_LOCAL_NONE)
                continue;
            if (!uri_take(c, h->name))
                continue;
            reverse_bytes(fam, b, &rev);
            n += start_entries(c, DNSBL_URI_IP, rev.data, h->name);
        }
    }
    str_free(&rev);
    return n;
}

/* Score one collected query. */
static void collect_one(struct dnsbl_check *c, struct cq *q, const struct dns_answer *a)
{
    struct dnsbl_zone *z = &c->d->zones[q->zone];
    struct in_addr codes[DNS_MAX_RRS];
    const char *why;
    int n, listed = 0;
    enum verdict v = answer_verdict(a, codes, DNS_MAX_RRS, &n, &why);

    switch (v) {
    case V_UNKNOWN:
        pthread_mutex_lock(&z->lock);
        z->timeouts++;
        pthread_mutex_unlock(&z->lock);
        c->res.unknown++;
        return;
    case V_ERROR:
        c->res.unknown++;
        if (a->status != DNS_TEMPFAIL)
            c->res.errors++;
        zone_log(c->d, z, q->qname, why);
        zone_count(c->d, z, 1, 0);
        return;
    case V_NOT_LISTED:
        zone_count(c->d, z, 0, 0);
        return;
    case V_LISTED:
        break;
    }
    for (int u = 0; u < q->nusers; u++) {
        const struct dnsbl_spec *s = &c->d->specs[q->users[u].entry];
        struct in_addr match[DNSBL_MAX_CODES];
        int m = 0;
        struct dnsbl_hit *h;

        for (int i = 0; i < n; i++)
            if (dnsbl_filter_match(&s->filter, codes[i]) && m < DNSBL_MAX_CODES)
                match[m++] = codes[i];
        if (m == 0)
            continue;
        listed = 1;
        h = add_hit(c, s->zone, s, q->users[u].kind, DNSBL_LOCAL_NONE, q->users[u].identity);
        if (h) {
            h->qname = mem_strdup(q->qname);
            h->ncodes = m;
            memcpy(h->codes, match, sizeof(match[0]) * (size_t) m);
        }
    }
    zone_count(c->d, z, 0, listed);
}

/* Keep printable ASCII of a TXT record, bounded. */
static char *txt_clean(const char *s, ssize_t len)
{
    str out = STR_INIT;

    for (ssize_t i = 0; i < len && out.len < DNSBL_MAX_TXT; i++)
        str_addc(&out, (unsigned char) s[i] >= 0x20 && (unsigned char) s[i] < 0x7f ? s[i] : '?');
    return str_steal(&out);
}

/* Ask TXT for the new DNS hits, until the deadline. */
static void collect_txt(struct dnsbl_check *c, int64_t deadline_ms)
{
    int from = c->txt_done, n = c->res.nhits - from;
    struct dns_query **qs;

    if (n <= 0)
        return;
    qs = mem_zalloc((ssize_t) sizeof(*qs) * n);
    for (int i = 0; i < n; i++) {
        const struct dnsbl_hit *h = &c->res.hits[from + i];

        if (h->qname)
            qs[i] = dns_start(c->r, h->qname, DNS_T_TXT);
    }
    for (int i = 0; i < n; i++) {
        const struct dns_answer *a;

        if (qs[i] == NULL)
            continue;
        a = dns_wait(qs[i], deadline_ms);
        if (a->status == DNS_ANSWER)
            for (int k = 0; k < a->count; k++)
                if (a->rr[k].type == DNS_T_TXT) {
                    c->res.hits[from + i].txt = txt_clean(a->rr[k].u.txt.data, a->rr[k].u.txt.len);
                    break;
                }
        dns_query_free(qs[i]);
    }
    mem_free(qs);
    c->txt_done = c->res.nhits;
}

/* Wait for what was started and add it to the result. */
const struct dnsbl_result *dnsbl_check_collect(struct dnsbl_check *c, int64_t deadline_ms)
{
    for (int i = c->collected; i < c->nq; i++) {
        struct cq *q = &c->qs[i];

        /* A local verdict makes DNS moot: do not wait for it. */
        if (c->res.local == DNSBL_LOCAL_NONE)
            collect_one(c, q, dns_wait(q->q, deadline_ms));
        dns_query_free(q->q);
        q->q = NULL;
    }
    c->collected = c->nq;
    if (c->d->fetch_txt && c->res.local == DNSBL_LOCAL_NONE)
        collect_txt(c, deadline_ms);
    c->txt_done = c->res.nhits;
    return &c->res;
}

/* Free a check; queries still in flight are dropped. */
void dnsbl_check_free(struct dnsbl_check *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->nq; i++) {
        dns_query_free(c->qs[i].q);
        for (int u = 0; u < c->qs[i].nusers; u++)
            mem_free(c->qs[i].users[u].identity);
        mem_free(c->qs[i].users);
        mem_free(c->qs[i].qname);
    }
    mem_free(c->qs);
    for (int i = 0; i < c->nuri; i++)
        mem_free(c->uri_names[i]);
    mem_free(c->uri_names);
    for (int i = 0; i < c->res.nhits; i++) {
        mem_free(c->res.hits[i].identity);
        mem_free(c->res.hits[i].qname);
        mem_free(c->res.hits[i].txt);
    }
    mem_free(c->res.hits);
    str_free(&c->tmp);
    str_free(&c->name);
    dnsbl_unref(c->d);
    mem_free(c);
}

/* ------------------------------------------------------------ score and text */

/* The highest threshold the score reaches. */
enum dnsbl_level dnsbl_score_level(int score, const struct dnsbl_thresholds *t)
{
    if (t->reject > 0 && score >= t->reject)
        return DNSBL_LEVEL_REJECT;
    if (t->quarantine > 0 && score >= t->quarantine)
        return DNSBL_LEVEL_QUARANTINE;
    if (t->tag > 0 && score >= t->tag)
        return DNSBL_LEVEL_TAG;
    return DNSBL_LEVEL_NONE;
}

/* A level's name, for logs. */
const char *dnsbl_level_name(enum dnsbl_level l)
{
    switch (l) {
    case DNSBL_LEVEL_NONE: return "none";
    case DNSBL_LEVEL_TAG: return "tag";
    case DNSBL_LEVEL_QUARANTINE: return "quarantine";
    case DNSBL_LEVEL_REJECT: return "reject";
    }
    return "unknown";
}

/* Zone names come from the configuration; still, only name characters pass. */
static void add_safe(str *out, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char) *s;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
            || ch == '.' || ch == '-' || ch == '_';

        str_addc(out, ok ? ch : '?');
    }
}

/* One hit in the compact form. */
static void render_hit(const struct dnsbl_hit *h, str *out, int with_identity)
{
    if (h->local) {
        str_adds(out, "local:");
        str_adds(out, dnsbl_kind_name(h->kind));
    } else {
        add_safe(out, h->list);
        if (h->kind != DNSBL_IP) {
            str_addc(out, ':');
            str_adds(out, dnsbl_kind_name(h->kind));
        }
    }
    if (with_identity) {
        str_addc(out, ':');
        str_add_escaped(out, h->identity, (ssize_t) strlen(h->identity), 100);
    }
    str_addc(out, '=');
    if (h->local) {
        str_adds(out, h->local == DNSBL_LOCAL_ALLOW ? "allow" : "block");
        if (with_identity) {
            str_addc(out, '(');
            str_add_escaped(out, h->list, (ssize_t) strlen(h->list), 200);
            str_addc(out, ')');
        }
        return;
    }
    for (int i = 0; i < h->ncodes; i++) {
        char buf[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &h->codes[i], buf, sizeof(buf));
        if (i > 0)
            str_addc(out, ',');
        str_adds(out, buf);
    }
    str_addf(out, "(%+d", h->weight);
    if (with_identity && h->more)
        str_addf(out, ", %d more", h->more);
    if (with_identity && h->txt) {
        str_adds(out, ": ");
        str_add_escaped(out, h->txt, (ssize_t) strlen(h->txt), DNSBL_MAX_TXT);
    }
    str_addc(out, ')');
}

/* The compact header text. */
void dnsbl_render(const struct dnsbl_result *r, str *out, ssize_t max)
{
    ssize_t start = out->len;
    str one = STR_INIT;

    if (max <= 0)
        max = RENDER_DEFAULT_MAX;
    for (int i = 0; i < r->nhits; i++) {
        str_reset(&one);
        render_hit(&r->hits[i], &one, 0);
        if (out->len - start + (i > 0) + one.len > max - (i + 1 < r->nhits ? 4 : 0)) {
            str_adds(out, i > 0 ? " ..." : "...");
            break;
        }
        if (i > 0)
            str_addc(out, ' ');
        str_add(out, one.data, one.len);
    }
    str_free(&one);
}

/* The log text: hits with identities and reasons, then unknown and skipped counts. */
void dnsbl_render_log(const struct dnsbl_result *r, str *out)
{
    ssize_t start = out->len;

    for (int i = 0; i < r->nhits; i++) {
        if (out->len > start)
            str_addc(out, ' ');
        render_hit(&r->hits[i], out, 1);
    }
    if (r->unknown)
        str_addf(out, "%sunknown=%d", out->len > start ? " " : "", r->unknown);
    if (r->skipped)
        str_addf(out, "%sskipped=%d", out->len > start ? " " : "", r->skipped);
}
