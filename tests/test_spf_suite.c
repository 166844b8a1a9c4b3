/*
 * test_spf_suite.c - the RFC 7208 test suite (openspf.org, YAML) run
 * through the fixture resolver against both SPF engines.
 *
 * Usage: test_spf_suite [-v] [--dump] [suite.yml ...]
 * Without a file it reads $RAMPART_SPF_SUITE, else SPF_SUITE_DEFAULT
 * (../shared/conformance/rfc7208-tests.yml next to the source tree), and
 * fails loudly (exit 99) if that is missing. For each scenario the zone
 * data becomes fixture records the way the suite's reference driver reads
 * it: type SPF records are copied to TXT unless the name lists its own TXT
 * ("TXT: NONE" lists none), TIMEOUT makes every query type with no record
 * listed before it time out, and CNAMEs are followed as a resolver would.
 * Each test's host, helo and mailfrom go to spf_check_mailfrom() with the
 * default explanation "DEFAULT"; the result must be the expected one (any
 * of them when the suite lists several) and so must the explanation when
 * the suite gives one.
 *
 * Prints "rampart engine: N passed, M failed" and the same for libspf2;
 * rampart's failures are always listed, libspf2's with -v. The exit status
 * is non-zero if rampart's engine fails any test; libspf2's figure is
 * information. --dump prints the parsed YAML instead (to check the reader).
 *
 * The YAML reader below handles the subset the suite files use: block
 * mappings and sequences, compact "- key: value" items, plain, single- and
 * double-quoted scalars (with \x, \0 and the usual escapes), flow
 * sequences of scalars, block scalars (| and >), comments and "---".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "log.h"
#include "mem.h"
#include "spf.h"
#include "str.h"
#include "util.h"

/* ---------------------------------------------------------------- YAML subset */

enum { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
    int type;
    str s;                        /* scalar value (may hold NUL bytes) */
    int n;
    struct ynode **v;             /* items, or values of a map */
    char **k;                     /* keys of a map */
};

struct yparser {
    const char *file;
    char **line;                  /* lines without their newline */
    int nlines;
    int cur;
    int error;
};

/* A new node. */
static struct ynode *ynew(int type)
{
    struct ynode *n = mem_zalloc(sizeof(*n));

    n->type = type;
    str_init(&n->s);
    return n;
}

/* Free a node tree. */
static void yfree(struct ynode *n)
{
    if (n == NULL)
        return;
    for (int i = 0; i < n->n; i++) {
        yfree(n->v[i]);
        if (n->k)
            mem_free(n->k[i]);
    }
    mem_free(n->v);
    mem_free(n->k);
    str_free(&n->s);
    mem_free(n);
}

/* Append a child (and key, for maps). */
static void yadd(struct ynode *n, const char *key, struct ynode *child)
{
    n->v = mem_realloc(n->v, (ssize_t) sizeof(*n->v) * (n->n + 1));
    if (n->type == Y_MAP) {
        n->k = mem_realloc(n->k, (ssize_t) sizeof(*n->k) * (n->n + 1));
        n->k[n->n] = mem_strdup(key);
    }
    n->v[n->n++] = child;
}

/* Value of key in a map, or NULL. */
static const struct ynode *yget(const struct ynode *n, const char *key)
{
    if (n == NULL || n->type != Y_MAP)
        return NULL;
    for (int i = 0; i < n->n; i++)
        if (strcmp(n->k[i], key) == 0)
            return n->v[i];
    return NULL;
}

/* Report a parse error once. */
static void yerror(struct yparser *p, const char *what)
{
    if (!p->error)
        fprintf(stderr, "%s:%d: YAML: %s\n", p->file, p->cur + 1, what);
    p->error = 1;
}

/* Leading spaces of a line. */
static int yindent(const char *l)
{
    int i = 0;

    while (l[i] == ' ')
        i++;
    return i;
}

/* True for a blank or comment-only line. */
static int yblank(const char *l)
{
    l += yindent(l);
    return *l == '\0' || *l == '#';
}

/* True for a document separator. */
static int ydocsep(const char *l)
{
    return strncmp(l, "---", 3) == 0 && (l[3] == '\0' || l[3] == ' ');
}

/* Move to the next content line; its index, or -1 at the end of the document. */
static int ynext(struct yparser *p)
{
    while (p->cur < p->nlines && yblank(p->line[p->cur]))
        p->cur++;
    if (p->cur >= p->nlines || ydocsep(p->line[p->cur]))
        return -1;
    return p->cur;
}

/* Append a code point as UTF-8. */
static void yutf8(str *s, unsigned long cp)
{
    if (cp < 0x80) {
        str_addc(s, (int) cp);
    } else if (cp < 0x800) {
        str_addc(s, (int) (0xc0 | (cp >> 6)));
        str_addc(s, (int) (0x80 | (cp & 0x3f)));
    } else {
        str_addc(s, (int) (0xe0 | (cp >> 12)));
        str_addc(s, (int) (0x80 | ((cp >> 6) & 0x3f)));
        str_addc(s, (int) (0x80 | (cp & 0x3f)));
    }
}

/* Value of n hex digits at s, or -1. */
static long yhex(const char *s, int n)
{
    long v = 0;

    for (int i = 0; i < n; i++) {
        int c = ascii_tolower((unsigned char) s[i]);

        if (c >= '0' && c <= '9')
            v = v * 16 + (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (c - 'a' + 10);
        else
            return -1;
    }
    return v;
}

/* Parse a quoted scalar at *t (quote char first) into out; moves *t past it. */
static int yquoted(struct yparser *p, const char **t, str *out)
{
    const char *s = *t;
    char q = *s++;

    for (;;) {
        if (*s == '\0') {
            yerror(p, "unterminated quoted scalar");
            return -1;
        }
        if (*s == q) {
            if (q == '\'' && s[1] == '\'') {
                str_addc(out, '\'');
                s += 2;
                continue;
            }
            s++;
            break;
        }
        if (q == '"' && *s == '\\') {
            long v;

            s++;
            switch (*s) {
            case '0': str_addc(out, '\0'); s++; break;
            case 'a': str_addc(out, '\a'); s++; break;
            case 'b': str_addc(out, '\b'); s++; break;
            case 't': str_addc(out, '\t'); s++; break;
            case 'n': str_addc(out, '\n'); s++; break;
            case 'v': str_addc(out, '\v'); s++; break;
            case 'f': str_addc(out, '\f'); s++; break;
            case 'r': str_addc(out, '\r'); s++; break;
            case 'e': str_addc(out, 0x1b); s++; break;
            case ' ': case '"': case '/': case '\\': str_addc(out, *s); s++; break;
            case 'x':
            case 'u':
                v = yhex(s + 1, *s == 'x' ? 2 : 4);
                if (v < 0) {
                    yerror(p, "bad escape");
                    return -1;
                }
                yutf8(out, (unsigned long) v);
                s += *s == 'x' ? 3 : 5;
                break;
            default:
                yerror(p, "unknown escape");
                return -1;
            }
            continue;
        }
        str_addc(out, *s++);
    }
    *t = s;
    return 0;
}

/* Trim trailing spaces of s[0..*len). */
static void yrtrim(const char *s, ssize_t *len)
{
    while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
}

/* A plain scalar: up to " #" or the end, trimmed. */
static void yplain(const char *t, str *out)
{
    const char *hash = strstr(t, " #");
    ssize_t len = hash ? hash - t : (ssize_t) strlen(t);

    yrtrim(t, &len);
    str_add(out, t, len);
}

/* An inline value: quoted, flow sequence, or plain. */
static struct ynode *yinline(struct yparser *p, const char *t)
{
    struct ynode *n;

    if (*t == '"' || *t == '\'') {
        n = ynew(Y_SCALAR);
        yquoted(p, &t, &n->s);
        return n;
    }
    if (*t != '[') {
        n = ynew(Y_SCALAR);
        yplain(t, &n->s);
        return n;
    }
    n = ynew(Y_SEQ);
    t++;
    for (;;) {
        struct ynode *item;

        while (*t == ' ')
            t++;
        if (*t == ']')
            break;
        if (*t == '\0') {
            yerror(p, "unterminated flow sequence");
            break;
        }
        item = ynew(Y_SCALAR);
        if (*t == '"' || *t == '\'') {
            if (yquoted(p, &t, &item->s) != 0) {
                yfree(item);
                break;
            }
        } else {
            const char *e = t;
            ssize_t len;

            while (*e && *e != ',' && *e != ']')
                e++;
            len = e - t;
            yrtrim(t, &len);
            str_add(&item->s, t, len);
            t = e;
        }
        yadd(n, NULL, item);
        while (*t == ' ')
            t++;
        if (*t == ',')
            t++;
    }
    return n;
}

/*
 * Split "key: rest" at the mapping colon. Returns 1 and fills key and
 * *rest, or 0 if t is not a mapping entry.
 */
static int ykey(struct yparser *p, const char *t, str *key, const char **rest)
{
    const char *s = t;

    str_reset(key);
    if (*s == '"' || *s == '\'') {
        if (yquoted(p, &s, key) != 0)
            return 0;
        if (*s != ':' || (s[1] != '\0' && s[1] != ' '))
            return 0;
    } else {
        if (*s == '[' || *s == '#')
            return 0;
        while (*s && !(*s == ':' && (s[1] == '\0' || s[1] == ' ')))
            s++;
        if (*s != ':')
            return 0;
        str_add(key, t, s - t);
    }
    s++;
    while (*s == ' ')
        s++;
    *rest = s;
    return 1;
}

static struct ynode *ynode_at(struct yparser *p, int indent);

/* A block scalar (| or >, optional - or +) whose key sits at indent. */
static struct ynode *yblock(struct yparser *p, const char *ind, int indent)
{
    struct ynode *n = ynew(Y_SCALAR);
    int folded = ind[0] == '>', chomp = ind[1] == '-' ? -1 : ind[1] == '+' ? 1 : 0;
    int body = -1, blank = 0, first = 1;

    p->cur++;
    for (; p->cur < p->nlines; p->cur++) {
        const char *l = p->line[p->cur];
        int in = yindent(l);

        if (l[in] == '\0') {
            blank++;
            continue;
        }
        if (in <= indent || (body >= 0 && in < body))
            break;
        if (body < 0)
            body = in;
        if (!first) {
            if (folded && blank == 0 && in == body)
                str_addc(&n->s, ' ');
            else
                str_addc(&n->s, '\n');
        }
        for (; blank > 0; blank--)
            str_addc(&n->s, '\n');
        str_adds(&n->s, l + body);
        first = 0;
    }
    if (!first && chomp >= 0)
        str_addc(&n->s, '\n');
    for (; chomp > 0 && blank > 0; blank--)
        str_addc(&n->s, '\n');
    return n;
}

/* The value after "key:" (rest of the line) for a key at indent. */
static struct ynode *yvalue(struct yparser *p, const char *rest, int indent)
{
    struct ynode *n;
    int l;

    if (*rest == '\0' || *rest == '#') {
        p->cur++;
        l = ynext(p);
        if (l >= 0 && yindent(p->line[l]) > indent)
            return ynode_at(p, yindent(p->line[l]));
        if (l >= 0 && yindent(p->line[l]) == indent && p->line[l][indent] == '-')
            return ynode_at(p, indent);
        return ynew(Y_SCALAR);
    }
    if ((rest[0] == '|' || rest[0] == '>') &&
        (rest[1] == '\0' || rest[1] == '-' || rest[1] == '+' || rest[1] == ' '))
        return yblock(p, rest, indent);
    n = yinline(p, rest);
    p->cur++;
    /* A plain scalar may go on over more indented lines, folded with spaces. */
    if (n->type == Y_SCALAR && rest[0] != '"' && rest[0] != '\'') {
        while (p->cur < p->nlines && !yblank(p->line[p->cur]) &&
               yindent(p->line[p->cur]) > indent && !ydocsep(p->line[p->cur])) {
            str_addc(&n->s, ' ');
            yplain(p->line[p->cur] + yindent(p->line[p->cur]), &n->s);
            p->cur++;
        }
    }
    return n;
}

/* A mapping at indent; the first entry may start at first (inside a "- " item). */
static struct ynode *ymap(struct yparser *p, int indent, const char *first)
{
    struct ynode *n = ynew(Y_MAP);
    str key = STR_INIT;
    const char *t = first, *rest;
    int l;

    for (;;) {
        if (t == NULL) {
            l = ynext(p);
            if (l < 0 || yindent(p->line[l]) != indent || p->line[l][indent] == '-')
                break;
            t = p->line[l] + indent;
        }
        if (!ykey(p, t, &key, &rest)) {
            yerror(p, "expected a mapping entry");
            break;
        }
        yadd(n, str_cstr(&key), yvalue(p, rest, indent));
        t = NULL;
        if (p->error)
            break;
    }
    str_free(&key);
    return n;
}

/* A sequence at indent. */
static struct ynode *yseq(struct yparser *p, int indent)
{
    struct ynode *n = ynew(Y_SEQ);
    str key = STR_INIT;
    int l;

    while ((l = ynext(p)) >= 0 && !p->error) {
        const char *t = p->line[l], *item, *rest;
        int col;

        if (yindent(t) != indent || t[indent] != '-' || (t[indent + 1] != ' ' && t[indent + 1] != '\0'))
            break;
        col = indent + 1;
        while (t[col] == ' ')
            col++;
        item = t + col;
        if (*item == '\0') {
            p->cur++;
            l = ynext(p);
            yadd(n, NULL, l >= 0 && yindent(p->line[l]) > indent ? ynode_at(p, yindent(p->line[l]))
                                                                  : ynew(Y_SCALAR));
        } else if (*item != '"' && *item != '\'' && *item != '[' && ykey(p, item, &key, &rest)) {
            yadd(n, NULL, ymap(p, col, item));
        } else {
            yadd(n, NULL, yvalue(p, item, indent));
        }
    }
    str_free(&key);
    return n;
}

/* The node whose first line is the current one, at indent. */
static struct ynode *ynode_at(struct yparser *p, int indent)
{
    const char *t = p->line[p->cur] + indent;

    if (t[0] == '-' && (t[1] == ' ' || t[1] == '\0'))
        return yseq(p, indent);
    return ymap(p, indent, NULL);
}

/* Read a file into lines. */
static int yload(struct yparser *p, const char *file)
{
    FILE *f = fopen(file, "rb");
    str buf = STR_INIT;
    char chunk[8192];
    size_t got;
    const char *s, *nl;

    memset(p, 0, sizeof(*p));
    p->file = file;
    if (f == NULL)
        return -1;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        str_add(&buf, chunk, (ssize_t) got);
    fclose(f);
    for (s = str_cstr(&buf); *s; s = nl + 1) {
        ssize_t len;

        nl = strchr(s, '\n');
        len = nl ? nl - s : (ssize_t) strlen(s);
        if (len > 0 && s[len - 1] == '\r')
            len--;
        p->line = mem_realloc(p->line, (ssize_t) sizeof(*p->line) * (p->nlines + 1));
        p->line[p->nlines++] = mem_strndup(s, len);
        if (nl == NULL)
            break;
    }
    str_free(&buf);
    return 0;
}

/* Free the lines. */
static void yunload(struct yparser *p)
{
    for (int i = 0; i < p->nlines; i++)
        mem_free(p->line[i]);
    mem_free(p->line);
}

/* Parse the next document; NULL at the end of the file. */
static struct ynode *ydocument(struct yparser *p)
{
    int l;

    for (;;) {
        while (p->cur < p->nlines && yblank(p->line[p->cur]))
            p->cur++;
        if (p->cur >= p->nlines)
            return NULL;
        if (!ydocsep(p->line[p->cur]))
            break;
        p->cur++;
    }
    l = ynext(p);
    if (l < 0)
        return NULL;
    return ynode_at(p, yindent(p->line[l]));
}

/* Print a node as JSON-like text (--dump). */
static void ydump(const struct ynode *n, int depth)
{
    str s = STR_INIT;

    switch (n->type) {
    case Y_SCALAR:
        str_add_escaped(&s, n->s.data ? n->s.data : "", n->s.len, -1);
        printf("\"%s\"", str_cstr(&s));
        break;
    case Y_SEQ:
        printf("[");
        for (int i = 0; i < n->n; i++) {
            printf(i ? ", " : "");
            ydump(n->v[i], depth + 1);
        }
        printf("]");
        break;
    default:
        printf("{\n");
        for (int i = 0; i < n->n; i++) {
            str_reset(&s);
            str_add_escaped(&s, n->k[i], (ssize_t) strlen(n->k[i]), -1);
            printf("%*s\"%s\": ", (depth + 1) * 2, "", str_cstr(&s));
            ydump(n->v[i], depth + 1);
            printf(",\n");
        }
        printf("%*s}", depth * 2, "");
        break;
    }
    str_free(&s);
}

/* ---------------------------------------------------------------- zone data */

/* The scalar text of a node, or "" ("~" is not used by the suite). */
static const char *ytext(const struct ynode *n)
{
    return n && n->type == Y_SCALAR ? str_cstr(&n->s) : "";
}

/* One record of a name as the reference driver sees it. */
struct zrec {
    const char *type;             /* "A", "TXT", ...; NULL for TIMEOUT */
    const struct ynode *value;
};

/* The effective records of one name: SPF copied to TXT unless TXT is listed; NONE dropped. */
static int zone_records(const struct ynode *list, struct zrec *out, int max)
{
    int n = 0, gen = 1, ntxt = 0;
    const struct ynode *txt[256];

    for (int i = 0; list && list->type == Y_SEQ && i < list->n; i++) {
        const struct ynode *m = list->v[i];

        if (m->type == Y_SCALAR) {
            if (strcmp(ytext(m), "TIMEOUT") == 0 && n < max)
                out[n++] = (struct zrec) { NULL, NULL };
            continue;
        }
        for (int j = 0; m->type == Y_MAP && j < m->n; j++) {
            const char *t = m->k[j];

            if (strcmp(t, "TXT") == 0)
                gen = 0;
            else if (strcmp(t, "SPF") == 0 && gen && ntxt < (int) NELEM(txt))
                txt[ntxt++] = m->v[j];
            if (!(m->v[j]->type == Y_SCALAR && strcmp(ytext(m->v[j]), "NONE") == 0) && n < max)
                out[n++] = (struct zrec) { t, m->v[j] };
        }
    }
    for (int i = 0; gen && i < ntxt && n < max; i++)
        out[n++] = (struct zrec) { "TXT", txt[i] };
    return n;
}

/* Join a TXT value (a string or a list of strings) into out. */
static void zone_txt(const struct ynode *v, str *out)
{
    if (v->type == Y_SCALAR) {
        str_add(out, v->s.data ? v->s.data : "", v->s.len);
        return;
    }
    for (int i = 0; v->type == Y_SEQ && i < v->n; i++)
        str_add(out, v->v[i]->s.data ? v->v[i]->s.data : "", v->v[i]->s.len);
}

static const struct {
    const char *name;
    uint16_t type;
} zone_types[] = {
    { "A", DNS_T_A }, { "AAAA", DNS_T_AAAA }, { "MX", DNS_T_MX },
    { "TXT", DNS_T_TXT }, { "PTR", DNS_T_PTR }, { "CNAME", DNS_T_CNAME },
};

/* The record list of name in the zone (case-insensitive), or NULL. */
static const struct ynode *zone_find(const struct ynode *zone, const char *name)
{
    for (int i = 0; zone && zone->type == Y_MAP && i < zone->n; i++)
        if (ascii_casecmp(zone->k[i], name) == 0)
            return zone->v[i];
    return NULL;
}

/* Add the records of one type from recs to the fixture under qname; timeouts as the driver does. */
static void zone_add_type(struct dns_resolver *r, const char *qname, const struct zrec *recs, int n,
                          const char *tname, uint16_t type)
{
    int seen = 0;

    for (int i = 0; i < n; i++) {
        const struct ynode *v = recs[i].value;
        str data = STR_INIT;

        if (recs[i].type == NULL) {
            if (!seen)
                dns_fixture_fail(r, qname, type, DNS_TEMPFAIL, 1);
            return;
        }
        if (strcmp(recs[i].type, tname) != 0)
            continue;
        seen = 1;
        if (type == DNS_T_TXT) {
            zone_txt(v, &data);
            dns_fixture_add_txt(r, qname, str_cstr(&data), data.len);
        } else if (type == DNS_T_MX && v->type == Y_SEQ && v->n == 2) {
            const char *host = ytext(v->v[1]);

            str_addf(&data, "%s %s", ytext(v->v[0]), host[0] ? host : ".");
            if (dns_fixture_add(r, qname, type, str_cstr(&data)) != 0)
                fprintf(stderr, "zone: bad MX for %s\n", qname);
        } else if (dns_fixture_add(r, qname, type, ytext(v)) != 0) {
            fprintf(stderr, "zone: bad %s record for %s: %s\n", tname, qname, ytext(v));
        }
        str_free(&data);
    }
}

/* Build a fixture from a scenario's zonedata. */
static struct dns_resolver *zone_load(const struct ynode *zone)
{
    struct dns_resolver *r = dns_fixture_new();
    struct zrec recs[64], target[64];

    dns_set_timeout(r, 50);
    for (int i = 0; zone && zone->type == Y_MAP && i < zone->n; i++) {
        str qname = STR_INIT;
        int n = zone_records(zone->v[i], recs, (int) NELEM(recs));

        if (spf_name_escape(&qname, zone->k[i], (ssize_t) strlen(zone->k[i])) != 0) {
            fprintf(stderr, "zone: bad name %s\n", zone->k[i]);
            str_free(&qname);
            continue;
        }
        for (size_t t = 0; t < NELEM(zone_types); t++)
            zone_add_type(r, str_cstr(&qname), recs, n, zone_types[t].name, zone_types[t].type);
        /* Follow a CNAME chain (at most 8 links) and serve the target's records here too. */
        for (int k = 0; k < n; k++) {
            const struct ynode *to = NULL;
            str tname = STR_INIT;
            int tn = 0;

            if (recs[k].type == NULL || strcmp(recs[k].type, "CNAME") != 0)
                continue;
            str_adds(&tname, ytext(recs[k].value));
            for (int hop = 0; hop < 8; hop++) {
                int m, next = -1;

                if (tname.len > 0 && tname.data[tname.len - 1] == '.')
                    str_truncate(&tname, tname.len - 1);
                to = zone_find(zone, str_cstr(&tname));
                if (to == NULL)
                    break;
                m = zone_records(to, target, (int) NELEM(target));
                for (int j = 0; j < m; j++)
                    if (target[j].type && strcmp(target[j].type, "CNAME") == 0)
                        next = j;
                if (next < 0) {
                    tn = m;
                    break;
                }
                str_set(&tname, ytext(target[next].value));
            }
            for (size_t t = 0; t < NELEM(zone_types); t++)
                if (zone_types[t].type != DNS_T_CNAME)
                    zone_add_type(r, str_cstr(&qname), target, tn, zone_types[t].name,
                                  zone_types[t].type);
            str_free(&tname);
            break;
        }
        str_free(&qname);
    }
    return r;
}

/* ---------------------------------------------------------------- running */

struct tally {
    int passed;
    int failed;
};

/* True if status is the expected result or one of the expected list. */
static int expected(const struct ynode *want, const char *got)
{
    if (want == NULL)
        return 0;
    if (want->type == Y_SCALAR)
        return ascii_casecmp(ytext(want), got) == 0;
    for (int i = 0; want->type == Y_SEQ && i < want->n; i++)
        if (ascii_casecmp(ytext(want->v[i]), got) == 0)
            return 1;
    return 0;
}

/* Render the expected result(s) for a failure line. */
static void expected_text(const struct ynode *want, str *out)
{
    if (want && want->type == Y_SCALAR) {
        str_adds(out, ytext(want));
        return;
    }
    for (int i = 0; want && want->type == Y_SEQ && i < want->n; i++) {
        if (i)
            str_addc(out, '|');
        str_adds(out, ytext(want->v[i]));
    }
}

/* Run one test against one engine; 1 if it passes. */
static int run_test(struct dns_resolver *r, const char *name, const struct ynode *t,
                    enum spf_engine engine, int verbose)
{
    struct spf_request req;
    struct spf_options opts;
    struct spf_result res;
    const struct ynode *want = yget(t, "result"), *exp = yget(t, "explanation");
    int ok;

    memset(&req, 0, sizeof(req));
    if (spf_request_set_ip(&req, ytext(yget(t, "host"))) != 0) {
        fprintf(stderr, "%s: bad host %s\n", name, ytext(yget(t, "host")));
        return 0;
    }
    req.helo = ytext(yget(t, "helo"));
    req.mail_from = ytext(yget(t, "mailfrom"));
    spf_options_init(&opts);
    opts.engine = engine;
    opts.default_explanation = "DEFAULT";
    opts.timeout_ms = 2000;
    spf_check_mailfrom(r, &req, &opts, &res);
    ok = expected(want, spf_status_name(res.status));
    if (ok && exp && (res.explanation == NULL || strcmp(res.explanation, ytext(exp)) != 0))
        ok = 0;
    if (!ok && verbose) {
        str w = STR_INIT;

        expected_text(want, &w);
        printf("  %s engine: FAIL %s: want %s%s%s%s, got %s%s%s%s%s%s\n", spf_engine_name(engine), name,
               str_cstr(&w), exp ? " \"" : "", exp ? ytext(exp) : "", exp ? "\"" : "",
               spf_status_name(res.status), res.explanation ? " \"" : "",
               res.explanation ? res.explanation : "", res.explanation ? "\"" : "",
               res.problem ? " problem: " : "", res.problem ? res.problem : "");
        str_free(&w);
    }
    spf_result_free(&res);
    return ok;
}

/* Run a suite file; -1 if it cannot be read. */
static int run_file(const char *file, int verbose, int dump, struct tally *ours, struct tally *lib)
{
    struct yparser p;
    struct ynode *doc;

    if (yload(&p, file) != 0) {
        fprintf(stderr, "test_spf_suite: cannot read %s (set RAMPART_SPF_SUITE)\n", file);
        return -1;
    }
    while ((doc = ydocument(&p)) != NULL && !p.error) {
        const struct ynode *tests = yget(doc, "tests");
        struct dns_resolver *r;

        if (dump) {
            ydump(doc, 0);
            printf("\n---\n");
            yfree(doc);
            continue;
        }
        r = zone_load(yget(doc, "zonedata"));
        for (int i = 0; tests && tests->type == Y_MAP && i < tests->n; i++) {
            if (run_test(r, tests->k[i], tests->v[i], SPF_ENGINE_RAMPART, 1))
                ours->passed++;
            else
                ours->failed++;
            if (run_test(r, tests->k[i], tests->v[i], SPF_ENGINE_LIBSPF2, verbose))
                lib->passed++;
            else
                lib->failed++;
        }
        dns_resolver_free(r);
        yfree(doc);
    }
    yfree(doc);
    yunload(&p);
    return p.error ? -1 : 0;
}

/* Run the suite file(s) and report per engine. */
int main(int argc, char **argv)
{
    struct tally ours = { 0, 0 }, lib = { 0, 0 };
    const char *env = getenv("RAMPART_SPF_SUITE");
    int verbose = 0, dump = 0, files = 0;

    log_open_stderr("test_spf_suite");
    log_set_level(LOG_LVL_ERROR);
    if (getenv("RAMPART_SPF_SUITE_VERBOSE"))
        verbose = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "--dump") == 0) {
            dump = 1;
        } else {
            if (run_file(argv[i], verbose, dump, &ours, &lib) != 0)
                return 99;
            files++;
        }
    }
    if (files == 0) {
        const char *file = env && env[0] ? env : SPF_SUITE_DEFAULT;

        if (run_file(file, verbose, dump, &ours, &lib) != 0)
            return 99;
    }
    if (dump)
        return 0;
    printf("rampart engine: %d passed, %d failed\n", ours.passed, ours.failed);
    printf("libspf2 engine: %d passed, %d failed%s\n", lib.passed, lib.failed,
           verbose || lib.failed == 0 ? "" : " (-v or RAMPART_SPF_SUITE_VERBOSE=1 lists them)");
    if (ours.passed + ours.failed == 0) {
        fprintf(stderr, "test_spf_suite: no tests found\n");
        return 99;
    }
    return ours.failed == 0 ? 0 : 1;
}
