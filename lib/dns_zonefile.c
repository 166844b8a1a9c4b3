/*
 * dns_zonefile.c - answers from zone files (see dns_zonefile.h for the
 * format and the answers).
 *
 * A file is read whole (at most DNS_ZONEFILE_MAX_BYTES), cut into logical
 * lines (comments dropped, parentheses joined, each at most
 * DNS_ZONEFILE_MAX_LINE bytes), each line into tokens (quoted strings
 * kept whole, \X and \DDD decoded). Records are checked by parsing their
 * rdata into a scratch answer, so whatever loads also answers. A file
 * with any error adds nothing.
 *
 * The entries of every file sit in one array sorted by (name, type, kind,
 * order of appearance); a query is a binary search. Every proper
 * ancestor of a record's owner gets an "exists" entry, so a name with
 * names below it answers NODATA, not NXDOMAIN, as in a real zone.
 * Queries are answered at once, from any thread, once loading is done.
 * Logs nothing.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dns_zonefile.h"
#include "mem.h"
#include "util.h"

#define ZF_MAX_ERRORS 20
#define ZF_MAX_TTL 2147483647L

enum zf_kind { ZF_RECORD, ZF_STATUS, ZF_EXISTS };

struct zf_entry {
    char *name;                 /* lower case, no final dot */
    uint16_t type;              /* 0 for EXISTS and $NXDOMAIN */
    int kind;
    int seq;                    /* order of appearance */
    uint32_t ttl;
    int status;                 /* ZF_STATUS: a dns_status */
    int timeout;                /* ZF_STATUS: a $TIMEOUT */
    char *rdata;                /* ZF_RECORD: presentation text for dns_answer_add_text */
    ssize_t rdata_len;
};

struct zonefile {
    struct dns_resolver base;   /* first: the resolver is the zone file set */
    struct zf_entry *e;
    int n, cap, seq;
    int records;                /* entries but the "exists" ones */
    uint32_t neg_ttl;
    int misses;
};

/* One file being parsed. */
struct zf_parse {
    struct zonefile *z;
    const char *label;
    int line;
    str *err;
    int nerr;
    str origin;                 /* no final dot; "" = root */
    uint32_t ttl;
    int have_owner;
    str owner;
    struct zf_entry *e;         /* this file's entries */
    int n, cap;
    int records;                /* entries but the "exists" ones */
};

struct zf_token {
    str text;
    int quoted;
};

#define ZF_MAX_TOKENS 512

/* ---------------------------------------------------------------- entries */

static int zf_cmp(const void *a, const void *b)
{
    const struct zf_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void zf_entry_free(struct zf_entry *e)
{
    mem_free(e->name);
    mem_free(e->rdata);
}

/* Append an entry to the file being parsed (takes over name and rdata). */
static void zf_push(struct zf_parse *p, char *name, uint16_t type, int kind, uint32_t ttl, int status, int timeout,
                    char *rdata, ssize_t rdata_len)
{
    struct zf_entry *e;

    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->e = mem_realloc(p->e, (ssize_t) sizeof(*p->e) * p->cap);
    }
    e = &p->e[p->n++];
    p->records += kind != ZF_EXISTS;
    e->name = name;
    e->type = type;
    e->kind = kind;
    e->seq = p->z->seq++;
    e->ttl = ttl;
    e->status = status;
    e->timeout = timeout;
    e->rdata = rdata;
    e->rdata_len = rdata_len;
}

/* The index of the first entry not less than (name, type, kind 0), and whether it matches name (and type). */
static int zf_lower(const struct zonefile *z, const char *name, uint16_t type)
{
    int lo = 0, hi = z->n;

    while (lo < hi) {
        int mid = (lo + hi) / 2, c = strcmp(z->e[mid].name, name);

        if (c < 0 || (c == 0 && z->e[mid].type < type))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---------------------------------------------------------------- parsing */

__attribute__((format(printf, 2, 3))) static void zf_error(struct zf_parse *p, const char *fmt, ...)
{
    va_list ap;

    p->nerr++;
    if (p->nerr > ZF_MAX_ERRORS)
        return;
    str_addf(p->err, "%s:%d: ", p->label, p->line);
    va_start(ap, fmt);
    str_addvf(p->err, fmt, ap);
    va_end(ap);
    str_addc(p->err, '\n');
}

/* A TTL: seconds, or a sum of numbers with units s m h d w. */
static int zf_parse_ttl(const char *s, uint32_t *out)
{
    long long total = 0, cur = 0;
    int digits = 0;

    if (!isdigit((unsigned char) s[0]))
        return -1;
    for (; *s; s++) {
        int c = ascii_tolower((unsigned char) *s);

        if (isdigit(c)) {
            cur = cur * 10 + (c - '0');
            digits = 1;
            if (cur > ZF_MAX_TTL)
                return -1;
            continue;
        }
        if (!digits)
            return -1;
        switch (c) {
        case 's': break;
        case 'm': cur *= 60; break;
        case 'h': cur *= 3600; break;
        case 'd': cur *= 86400; break;
        case 'w': cur *= 604800; break;
        default: return -1;
        }
        total += cur;
        cur = 0;
        digits = 0;
        if (total > ZF_MAX_TTL)
            return -1;
    }
    if (digits)
        total += cur;                 /* a trailing bare number counts as seconds */
    if (total > ZF_MAX_TTL)
        return -1;
    *out = (uint32_t) total;
    return 0;
}

/* A name as written, resolved against the origin: lower case, no final dot. NULL if bad. */
static char *zf_name(struct zf_parse *p, const struct zf_token *t)
{
    str n = STR_INIT;
    const char *s = str_cstr(&t->text);
    ssize_t len = t->text.len;

    if (t->quoted || len == 0)
        return NULL;
    if (strcmp(s, "@") == 0) {
        str_add(&n, p->origin.data ? p->origin.data : "", p->origin.len);
    } else if (s[len - 1] == '.') {
        str_add(&n, s, len - 1);
    } else {
        str_add(&n, s, len);
        if (p->origin.len) {
            str_addc(&n, '.');
            str_add(&n, p->origin.data, p->origin.len);
        }
    }
    for (ssize_t i = 0; i < n.len; i++)
        n.data[i] = (char) ascii_tolower((unsigned char) n.data[i]);
    if (n.len == 0 || memchr(n.data, '\0', (size_t) n.len) || !dns_name_valid(str_cstr(&n))) {
        str_free(&n);
        return NULL;
    }
    return str_steal(&n);
}

/* A type name: its number, 0 if it is a type name rampart does not answer, -1 if not a type name. */
static int zf_type(const struct zf_token *t)
{
    static const struct {
        const char *name;
        uint16_t type;
    } types[] = {
        { "A", DNS_T_A }, { "AAAA", DNS_T_AAAA }, { "MX", DNS_T_MX }, { "TXT", DNS_T_TXT },
        { "PTR", DNS_T_PTR }, { "CNAME", DNS_T_CNAME }, { "NS", DNS_T_NS },
    };
    const char *s = str_cstr(&t->text);

    if (t->quoted || !isalpha((unsigned char) s[0]))
        return -1;
    for (size_t i = 0; i < NELEM(types); i++)
        if (ascii_casecmp(s, types[i].name) == 0)
            return types[i].type;
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char) *c) && *c != '-')
            return -1;
    return 0;
}

/* Add a proper-ancestor "exists" entry for every level above name. */
static void zf_ancestors(struct zf_parse *p, const char *name)
{
    for (const char *d = strchr(name, '.'); d; d = strchr(d + 1, '.'))
        zf_push(p, mem_strdup(d + 1), 0, ZF_EXISTS, 0, 0, 0, NULL, 0);
}

/* Check rdata by parsing it as an answer would. */
static int zf_rdata_ok(uint16_t type, const char *text, ssize_t len)
{
    struct dns_answer *a = dns_answer_new("check", type, DNS_ANSWER);
    int rc = dns_answer_add_text(a, type, 0, text, len);

    dns_answer_free(a);
    return rc;
}

/* A record line: tokens after the owner. */
static void zf_record(struct zf_parse *p, char *owner, struct zf_token *tok, int ntok)
{
    uint32_t ttl = p->ttl;
    int i = 0, type = -1;
    str rd = STR_INIT;

    for (int k = 0; k < 2 && i < ntok; k++) {
        const char *s = str_cstr(&tok[i].text);

        if (!tok[i].quoted && ascii_casecmp(s, "IN") == 0) {
            i++;
        } else if (!tok[i].quoted && (ascii_casecmp(s, "CH") == 0 || ascii_casecmp(s, "HS") == 0)) {
            zf_error(p, "only class IN is supported");
            mem_free(owner);
            return;
        } else if (!tok[i].quoted && isdigit((unsigned char) s[0])) {
            if (zf_parse_ttl(s, &ttl) != 0) {
                zf_error(p, "bad TTL %s", s);
                mem_free(owner);
                return;
            }
            i++;
        }
    }
    if (i >= ntok || (type = zf_type(&tok[i])) < 0) {
        zf_error(p, "expected a record type");
        mem_free(owner);
        return;
    }
    i++;
    if (type == 0) {            /* SOA, SRV, ...: not answered, but the name exists */
        zf_ancestors(p, owner);
        zf_push(p, owner, 0, ZF_EXISTS, 0, 0, 0, NULL, 0);
        return;
    }
    if (type == DNS_T_TXT) {
        if (i >= ntok) {
            zf_error(p, "TXT without text");
            goto bad;
        }
        for (; i < ntok; i++)
            str_add(&rd, tok[i].text.data ? tok[i].text.data : "", tok[i].text.len);
    } else if (type == DNS_T_MX) {
        char *host;

        if (ntok - i != 2) {
            zf_error(p, "MX wants a preference and a host");
            goto bad;
        }
        str_add(&rd, tok[i].text.data, tok[i].text.len);
        str_addc(&rd, ' ');
        if (strcmp(str_cstr(&tok[i + 1].text), ".") == 0) {
            str_addc(&rd, '.');
        } else if ((host = zf_name(p, &tok[i + 1])) != NULL) {
            str_adds(&rd, host);
            mem_free(host);
        } else {
            zf_error(p, "bad MX host");
            goto bad;
        }
    } else if (type == DNS_T_PTR || type == DNS_T_CNAME || type == DNS_T_NS) {
        char *target;

        if (ntok - i != 1 || (target = zf_name(p, &tok[i])) == NULL) {
            zf_error(p, "expected one host name");
            goto bad;
        }
        str_adds(&rd, target);
        mem_free(target);
    } else {
        if (ntok - i != 1 || tok[i].quoted) {
            zf_error(p, "expected one address");
            goto bad;
        }
        str_add(&rd, tok[i].text.data, tok[i].text.len);
    }
    if (zf_rdata_ok((uint16_t) type, rd.data ? rd.data : "", rd.len) != 0) {
        zf_error(p, "bad %s rdata", dns_type_name((uint16_t) type));
        goto bad;
    }
    zf_ancestors(p, owner);
    {
        ssize_t len = rd.len;

        zf_push(p, owner, (uint16_t) type, ZF_RECORD, ttl, 0, 0, rd.data ? str_steal(&rd) : mem_strdup(""), len);
    }
    return;
bad:
    str_free(&rd);
    mem_free(owner);
}

/* $NXDOMAIN name [TTL], $NODATA name TYPE [TTL], $SERVFAIL/$TIMEOUT/$BADANSWER name TYPE. */
static void zf_status(struct zf_parse *p, const char *what, struct zf_token *tok, int ntok)
{
    int nx = ascii_casecmp(what, "$NXDOMAIN") == 0, nodata = ascii_casecmp(what, "$NODATA") == 0;
    int timeout = ascii_casecmp(what, "$TIMEOUT") == 0;
    int status = nx ? DNS_NXDOMAIN : nodata ? DNS_NODATA
                 : ascii_casecmp(what, "$BADANSWER") == 0 ? DNS_BADANSWER : DNS_TEMPFAIL;
    int type = 0, i = 1;
    uint32_t ttl = p->ttl;
    char *name;

    if (ntok < 1 || (name = zf_name(p, &tok[0])) == NULL) {
        zf_error(p, "%s: expected a name", what);
        return;
    }
    if (!nx) {
        if (ntok < 2 || (type = zf_type(&tok[1])) <= 0) {
            zf_error(p, "%s: expected A, AAAA, MX, TXT, PTR, CNAME or NS", what);
            mem_free(name);
            return;
        }
        i = 2;
    }
    if ((nx || nodata) && i < ntok) {
        if (zf_parse_ttl(str_cstr(&tok[i].text), &ttl) != 0) {
            zf_error(p, "%s: bad TTL", what);
            mem_free(name);
            return;
        }
        i++;
    }
    if (i != ntok) {
        zf_error(p, "%s: too many words", what);
        mem_free(name);
        return;
    }
    if (nodata)
        zf_ancestors(p, name);
    zf_push(p, name, (uint16_t) type, ZF_STATUS, ttl, status, timeout, NULL, 0);
}

/* One logical line, cut into tokens; leading: it started with white space. */
static void zf_line(struct zf_parse *p, struct zf_token *tok, int ntok, int leading)
{
    const char *first;
    char *owner;

    if (ntok == 0)
        return;
    first = str_cstr(&tok[0].text);
    if (!leading && !tok[0].quoted && first[0] == '$') {
        if (ascii_casecmp(first, "$ORIGIN") == 0) {
            char *o;

            if (ntok != 2) {
                zf_error(p, "$ORIGIN wants one name");
            } else if (strcmp(str_cstr(&tok[1].text), ".") == 0) {
                str_reset(&p->origin);
            } else if ((o = zf_name(p, &tok[1])) == NULL) {
                zf_error(p, "$ORIGIN: bad name");
            } else {
                str_set(&p->origin, o);
                mem_free(o);
            }
        } else if (ascii_casecmp(first, "$TTL") == 0) {
            if (ntok != 2 || zf_parse_ttl(str_cstr(&tok[1].text), &p->ttl) != 0)
                zf_error(p, "$TTL wants one TTL");
            else
                p->z->neg_ttl = p->ttl;
        } else if (ascii_casecmp(first, "$NXDOMAIN") == 0 || ascii_casecmp(first, "$NODATA") == 0
                   || ascii_casecmp(first, "$SERVFAIL") == 0 || ascii_casecmp(first, "$TIMEOUT") == 0
                   || ascii_casecmp(first, "$BADANSWER") == 0) {
            zf_status(p, first, tok + 1, ntok - 1);
        } else {
            zf_error(p, "%s is not supported", first);
        }
        return;
    }
    if (leading) {
        if (!p->have_owner) {
            zf_error(p, "a record without a name, and no name before it");
            return;
        }
        zf_record(p, mem_strdup(str_cstr(&p->owner)), tok, ntok);
        return;
    }
    if ((owner = zf_name(p, &tok[0])) == NULL) {
        zf_error(p, "bad name");
        return;
    }
    str_set(&p->owner, owner);
    p->have_owner = 1;
    zf_record(p, owner, tok + 1, ntok - 1);
}

/* Cut a logical line into tokens: quoted strings whole, \X and \DDD decoded. -1 if malformed. */
static int zf_tokens(struct zf_parse *p, const char *s, ssize_t len, struct zf_token *tok, int *ntok)
{
    ssize_t i = 0;

    *ntok = 0;
    for (;;) {
        struct zf_token *t;
        int quoted = 0;

        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= len)
            return 0;
        if (*ntok >= ZF_MAX_TOKENS) {
            zf_error(p, "more than %d words", ZF_MAX_TOKENS);
            return -1;
        }
        t = &tok[(*ntok)++];
        str_reset(&t->text);
        if (s[i] == '"') {
            quoted = 1;
            i++;
        }
        t->quoted = quoted;
        while (i < len) {
            char c = s[i];

            if (quoted && c == '"') {
                i++;
                quoted = 0;
                break;
            }
            if (!quoted && (c == ' ' || c == '\t'))
                break;
            if (c == '\\') {
                if (i + 3 < len && isdigit((unsigned char) s[i + 1]) && isdigit((unsigned char) s[i + 2])
                    && isdigit((unsigned char) s[i + 3])) {
                    int v = (s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0');

                    if (v > 255) {
                        zf_error(p, "bad escape \\%c%c%c", s[i + 1], s[i + 2], s[i + 3]);
                        return -1;
                    }
                    str_addc(&t->text, v);
                    i += 4;
                    continue;
                }
                if (i + 1 >= len) {
                    zf_error(p, "a backslash at the end of a line");
                    return -1;
                }
                str_addc(&t->text, s[i + 1]);
                i += 2;
                continue;
            }
            str_addc(&t->text, c);
            i++;
        }
        if (quoted) {
            zf_error(p, "a quoted string does not end");
            return -1;
        }
        if (t->text.data == NULL)
            str_adds(&t->text, "");
    }
}

/* Parse a whole text into p's entries. */
static void zf_parse_text(struct zf_parse *p, const char *text, ssize_t len)
{
    struct zf_token *tok = mem_zalloc((ssize_t) sizeof(*tok) * ZF_MAX_TOKENS);
    str line = STR_INIT;
    int depth = 0, quoted = 0, start_line = 1, too_long = 0;
    ssize_t i = 0;

    p->line = 1;
    while (i <= len) {
        char c = i < len ? text[i] : '\n';
        int end = i == len;

        if (c == '\0' && !end) {
            zf_error(p, "a NUL byte");
            break;
        }
        if (quoted) {
            if (c == '\\' && i + 1 < len && text[i + 1] != '\n') {
                str_addc(&line, c);
                str_addc(&line, text[i + 1]);
                i += 2;
                continue;
            }
            if (c == '"')
                quoted = 0;
            if (c == '\n') {
                p->line = start_line;
                zf_error(p, "a quoted string does not end");
                quoted = 0;
                depth = 0;
                str_reset(&line);
                p->line++;
                start_line = p->line;
                i++;
                continue;
            }
            str_addc(&line, c);
            i++;
            continue;
        }
        if (c == '\\' && i + 1 < len && text[i + 1] != '\n') {
            str_addc(&line, c);
            str_addc(&line, text[i + 1]);
            i += 2;
            continue;
        }
        if (c == ';') {
            while (i < len && text[i] != '\n')
                i++;
            continue;
        }
        if (c == '"') {
            quoted = 1;
        } else if (c == '(' || c == ')') {
            depth += c == '(' ? 1 : -1;
            if (depth < 0) {
                p->line = start_line;
                zf_error(p, "a ')' without '('");
                depth = 0;
            }
            c = ' ';
        } else if (c == '\n' || c == '\r') {
            if (c == '\n' && (depth == 0 || end)) {
                int ntok, leading = line.len > 0 && (line.data[0] == ' ' || line.data[0] == '\t');
                int save = p->line;

                p->line = start_line;
                if (depth > 0)
                    zf_error(p, "a '(' without ')'");
                else if (too_long)
                    zf_error(p, "a record longer than %d bytes", DNS_ZONEFILE_MAX_LINE);
                else if (zf_tokens(p, line.data ? line.data : "", line.len, tok, &ntok) == 0)
                    zf_line(p, tok, ntok, leading);
                p->line = save + 1;
                start_line = p->line;
                str_reset(&line);
                too_long = 0;
                depth = 0;
                i++;
                continue;
            }
            if (c == '\n')
                p->line++;
            c = ' ';
        }
        if (line.len >= DNS_ZONEFILE_MAX_LINE)
            too_long = 1;
        else
            str_addc(&line, c);
        i++;
    }
    for (int k = 0; k < ZF_MAX_TOKENS; k++)
        str_free(&tok[k].text);
    mem_free(tok);
    str_free(&line);
}

/* ---------------------------------------------------------------- loading */

int dns_zonefile_load_text(struct dns_resolver *r, const char *text, ssize_t len, const char *label, str *err)
{
    struct zonefile *z = (struct zonefile *) r;
    struct zf_parse p;

    memset(&p, 0, sizeof(p));
    p.z = z;
    p.label = label;
    p.err = err;
    p.ttl = z->neg_ttl;
    if (len > DNS_ZONEFILE_MAX_BYTES) {
        str_addf(err, "%s: larger than %d bytes\n", label, DNS_ZONEFILE_MAX_BYTES);
        return -1;
    }
    zf_parse_text(&p, text, len);
    if (p.nerr == 0 && z->records + p.records > DNS_ZONEFILE_MAX_ENTRIES) {
        str_addf(err, "%s: more than %d entries\n", label, DNS_ZONEFILE_MAX_ENTRIES);
        p.nerr++;
    }
    if (p.nerr > ZF_MAX_ERRORS)
        str_addf(err, "%s: %d more errors\n", label, p.nerr - ZF_MAX_ERRORS);
    if (p.nerr) {
        for (int i = 0; i < p.n; i++)
            zf_entry_free(&p.e[i]);
        mem_free(p.e);
        str_free(&p.origin);
        str_free(&p.owner);
        return -1;
    }
    if (z->n + p.n > z->cap) {
        z->cap = z->n + p.n;
        z->e = mem_realloc(z->e, (ssize_t) sizeof(*z->e) * (z->cap ? z->cap : 1));
    }
    if (p.n)
        memcpy(z->e + z->n, p.e, sizeof(*p.e) * (size_t) p.n);
    z->n += p.n;
    z->records += p.records;
    qsort(z->e, (size_t) z->n, sizeof(*z->e), zf_cmp);
    /* One "exists" entry per name is enough. */
    {
        int w = 0;

        for (int i = 0; i < z->n; i++) {
            if (w > 0 && z->e[i].kind == ZF_EXISTS && z->e[w - 1].kind == ZF_EXISTS
                && strcmp(z->e[w - 1].name, z->e[i].name) == 0) {
                zf_entry_free(&z->e[i]);
                continue;
            }
            z->e[w++] = z->e[i];
        }
        z->n = w;
    }
    mem_free(p.e);
    str_free(&p.origin);
    str_free(&p.owner);
    return 0;
}

int dns_zonefile_load(struct dns_resolver *r, const char *path, str *err)
{
    FILE *f = fopen(path, "rb");
    str text = STR_INIT;
    char buf[65536];
    size_t n;
    int rc;

    if (f == NULL) {
        str_addf(err, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (text.len + (ssize_t) n > DNS_ZONEFILE_MAX_BYTES) {
            str_addf(err, "%s: larger than %d bytes\n", path, DNS_ZONEFILE_MAX_BYTES);
            fclose(f);
            str_free(&text);
            return -1;
        }
        str_add(&text, buf, (ssize_t) n);
    }
    if (ferror(f)) {
        str_addf(err, "%s: %s\n", path, strerror(errno));
        fclose(f);
        str_free(&text);
        return -1;
    }
    fclose(f);
    rc = dns_zonefile_load_text(r, text.data ? text.data : "", text.len, path, err);
    str_free(&text);
    return rc;
}

/* ---------------------------------------------------------------- answering */

/* Add the records of (name, type) to a; how many. */
static int zf_add_records(const struct zonefile *z, const char *name, uint16_t type, struct dns_answer *a)
{
    int i = zf_lower(z, name, type), added = 0;

    for (; i < z->n && z->e[i].type == type && strcmp(z->e[i].name, name) == 0; i++)
        if (z->e[i].kind == ZF_RECORD && dns_answer_add_text(a, type, z->e[i].ttl, z->e[i].rdata,
                                                             z->e[i].rdata_len) == 0)
            added++;
    return added;
}

/* The status entry of (name, type), or NULL. */
static const struct zf_entry *zf_find_status(const struct zonefile *z, const char *name, uint16_t type)
{
    for (int i = zf_lower(z, name, type); i < z->n && z->e[i].type == type && strcmp(z->e[i].name, name) == 0; i++)
        if (z->e[i].kind == ZF_STATUS)
            return &z->e[i];
    return NULL;
}

/* The first CNAME target of name, or NULL. */
static const char *zf_cname(const struct zonefile *z, const char *name)
{
    int i = zf_lower(z, name, DNS_T_CNAME);

    for (; i < z->n && z->e[i].type == DNS_T_CNAME && strcmp(z->e[i].name, name) == 0; i++)
        if (z->e[i].kind == ZF_RECORD)
            return z->e[i].rdata;
    return NULL;
}

/* Does the name exist: records, names below it, a $NODATA line? */
static int zf_exists(const struct zonefile *z, const char *name)
{
    for (int i = zf_lower(z, name, 0); i < z->n && strcmp(z->e[i].name, name) == 0; i++)
        if (z->e[i].kind != ZF_STATUS || z->e[i].status == DNS_NODATA)
            return 1;
    return 0;
}

static struct dns_answer *zf_answer(struct zonefile *z, const char *qname, uint16_t type)
{
    char *name = mem_strdup(qname);
    const struct zf_entry *st;
    struct dns_answer *a;

    for (char *c = name; *c; c++)
        *c = (char) ascii_tolower((unsigned char) *c);
    for (int hop = 0; hop <= DNS_ZONEFILE_MAX_CNAME; hop++) {
        const char *target;

        if ((st = zf_find_status(z, name, type)) != NULL) {
            a = dns_answer_new(qname, type, (enum dns_status) st->status);
            if (st->status == DNS_NODATA)
                a->ttl = st->ttl;
            if (st->timeout) {
                a->timed_out = 1;
                a->rcode = -1;
                a->why = "timeout";
            } else if (st->status == DNS_TEMPFAIL) {
                a->why = "SERVFAIL";
            } else if (st->status == DNS_BADANSWER) {
                a->why = "malformed answer";
            }
            goto out;
        }
        a = dns_answer_new(qname, type, DNS_ANSWER);
        if (zf_add_records(z, name, type, a) > 0)
            goto out;
        dns_answer_free(a);
        if (type == DNS_T_CNAME || (target = zf_cname(z, name)) == NULL)
            break;
        mem_free(name);
        name = mem_strdup(target);
    }
    if ((st = zf_find_status(z, name, 0)) != NULL && st->status == DNS_NXDOMAIN) {
        a = dns_answer_new(qname, type, DNS_NXDOMAIN);
        a->ttl = st->ttl;
    } else if (zf_exists(z, name)) {
        a = dns_answer_new(qname, type, DNS_NODATA);
        a->ttl = z->neg_ttl;
    } else {
        a = dns_answer_new(qname, type, DNS_NXDOMAIN);
        a->ttl = z->neg_ttl;
        __atomic_add_fetch(&z->misses, 1, __ATOMIC_RELAXED);
    }
out:
    mem_free(name);
    return a;
}

static void zf_start(struct dns_resolver *r, struct dns_query *q)
{
    dns_query_done(q, zf_answer((struct zonefile *) r, dns_query_name(q), dns_query_type(q)));
}

static void zf_destroy(struct dns_resolver *r)
{
    struct zonefile *z = (struct zonefile *) r;

    for (int i = 0; i < z->n; i++)
        zf_entry_free(&z->e[i]);
    mem_free(z->e);
    mem_free(z);
}

static const struct dns_backend_ops zf_ops = {
    zf_start, NULL, zf_destroy,
};

struct dns_resolver *dns_zonefile_new(void)
{
    struct zonefile *z = mem_zalloc(sizeof(*z));

    dns_resolver_init(&z->base, &zf_ops);
    z->neg_ttl = DNS_ZONEFILE_DEFAULT_TTL;
    return &z->base;
}

int dns_zonefile_entries(struct dns_resolver *r)
{
    return ((struct zonefile *) r)->records;
}

int dns_zonefile_misses(struct dns_resolver *r)
{
    return __atomic_load_n(&((struct zonefile *) r)->misses, __ATOMIC_RELAXED);
}
