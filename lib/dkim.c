/*
 * dkim.c - DKIM verification of every signature of a message, with
 * libopendkim doing canonicalization and cryptography and lib/dns
 * fetching the keys.
 *
 * dkim_startup() makes the one DKIM_LIB of the process. Its settings never
 * change afterwards (libopendkim does not lock them), so everything that
 * is configurable is applied here, per message, around the library:
 * RSA key size, rsa-sha1, l=, clock skew and the signature limit. The
 * library verifies with DELAYSIGPROC (keys are needed only at end of
 * message) and BADSIGHANDLES (one library signature per DKIM-Signature
 * field it is given, in order), and with FIXCRLF only when dkim_startup()
 * is asked for it: that repair of bare LF and bare CR in the body copies
 * the body byte by byte once per body canonicalization (some 40% more
 * CPU on a 280 KB message), and Postfix hands a milter the body with CRLF
 * line ends anyway. Without it a bare LF is an ordinary byte: a body sent
 * that way does not verify (body hash mismatch), it is never an error.
 * Either way header fields are given to the library with CRLF line ends
 * and no NUL (lib_begin), and a body that does not end with a line end
 * gets one at end of message (body_close), as RFC 6376 3.4.3 and 3.4.4
 * say; libopendkim would otherwise leave it out of simple
 * canonicalization and, without FIXCRLF, refuse relaxed canonicalization
 * of the whole message (no signature verified: temperror).
 *
 * dkim_msg_start() parses each DKIM-Signature itself (RFC 6376 3.2 tag
 * lists, strictly, bounded by DKIM_MAX_TAGS and the field's size), so a
 * malformed one is answered without the library and a valid one yields
 * d= and s= at once: the key query "s._domainkey.d" starts there, and runs
 * while the body is received. Only the first max_signatures valid
 * signatures are verified. The library is not even shown the others: it
 * would hash headers and body once per signature whatever it is told to
 * ignore. Hiding a DKIM-Signature field from the library changes nothing
 * for the verified signatures unless their h= names DKIM-Signature; a
 * signature naming it k times covers the k bottom-most such fields, so the
 * bottom-most K (K the largest such k) are given to the library as well, marked "ignore" by the prescreen callback. A
 * signature covering more than DKIM_MAX_COVERED of them is not verified,
 * so the library never sees more than max_signatures + DKIM_MAX_COVERED.
 * Nor is one covering a field the library would read past the end of
 * (lib_can_read: its i= decoder); that field is withheld.
 *
 * libopendkim 2.11 writes one pointer past an array of as many entries as
 * it was given header fields when h= names every one of them and then
 * another (dkim_canon_selecthdrs at end of headers: heap corruption on a
 * crafted message, found by fuzz_dkim). So after the message's fields the
 * library is given one more, "X-Rampart-Pad-" and 32 random hexadecimal
 * digits made by dkim_startup(): h= can never name it (nobody outside the
 * process knows it), it is never hashed, and no h= list can use up every
 * field the library holds.
 *
 * Keys reach the library through dkim_set_key_lookup(): the callback runs
 * inside dkim_eom(), finds the message through dkim_get_user_context(), and
 * waits for the query started at end of headers until the message's
 * deadline. It checks the key record (v=, k= against a=, h=, s=, p=) and
 * writes it into the library's buffer. Why not the library's DNS hooks:
 * they expect a wire-format reply (lib/dns gives parsed records), and they
 * only see a query name, not the message whose queries are already running.
 *
 * Results map to RFC 8601 2.7.1 as in sig_parse() (signature problems) and
 * sig_judge() (verification); reasons are short static or formatted texts,
 * never copied from the message.
 *
 * Configuration: struct dkim_options (dkim.h), filled by the caller and
 * copied per message, so a reload takes effect at the next message.
 *
 * Logs: errors for library failures and internal inconsistencies; one
 * debug line per signature.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <opendkim/dkim.h>

#include "dkim.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "util.h"

#define SIGNATURE_FIELD "DKIM-Signature"

/* What became of an entry's key. */
enum key_state {
    KEY_UNKNOWN,    /* not asked yet (or the library reused another signature's key) */
    KEY_OK,         /* record handed to the library */
    KEY_TEMP,       /* timeout, SERVFAIL: temperror */
    KEY_NOKEY,      /* NXDOMAIN, no TXT: permerror */
    KEY_BAD,        /* unusable record: permerror */
};

/* One DKIM-Signature field. */
struct entry {
    int hdr;                  /* index in the message's header list */
    int eval;                 /* to be verified */
    int fed;                  /* given to the library */
    int hlist_dkimsig;        /* DKIM-Signature fields its h= covers */
    int lookup;               /* index in m->queries, or -1 */
    enum dkim_alg alg;
    /* parsed values, as offsets into m->arena (-1: absent) */
    ssize_t d, s, i, a;
    DKIM_SIGINFO *si;         /* the library's signature, when fed */
    enum key_state key;
    const char *key_why;      /* static reason for KEY_TEMP/NOKEY/BAD */
    int testing;              /* key t=y */
    const char *why;          /* static reason, or NULL */
    str why_buf;              /* formatted reason (used when non-empty) */
};

struct dkim_msg {
    struct dkim_options opts;
    struct dns_resolver *r;
    int64_t deadline_ms;
    int n;                    /* entries */
    struct entry *e;
    struct dkim_sig_result *res;
    str arena;                /* d=, s=, i=, a= of every entry, NUL-separated */
    int nfed;
    int *fed;                 /* entry indexes given to the library, in header order */
    int nqueries;
    struct dns_query **queries;
    DKIM *d;                  /* library handle while verifying */
    int lib_error;            /* the library failed for this message */
    unsigned char tail[2];    /* the last two body bytes, last in tail[1] */
    int finished;
    struct dkim_results results;
};

static DKIM_LIB *dkim_lib;
static int dkim_fix_crlf;     /* dkim_lib repairs bare LF and CR in bodies */
static pthread_mutex_t dkim_lib_lock = PTHREAD_MUTEX_INITIALIZER;

static const unsigned char dkim_job_id[] = "rampart";

/* Fill opts with the defaults. */
void dkim_options_init(struct dkim_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->allow_sha1 = DEF_DKIM_ALLOW_SHA1;
    opts->min_rsa_bits = DEF_DKIM_MIN_RSA_BITS;
    opts->max_signatures = DEF_DKIM_MAX_SIGNATURES;
    opts->ignore_length_tag = DEF_DKIM_IGNORE_LENGTH_TAG;
    opts->clock_skew_s = DEF_DKIM_CLOCK_SKEW_S;
    opts->timeout_ms = DEF_DKIM_TIMEOUT_MS;
}

/* The RFC 8601 name of a result. */
const char *dkim_result_name(enum dkim_result r)
{
    switch (r) {
    case DKIM_RESULT_NONE: return "none";
    case DKIM_RESULT_PASS: return "pass";
    case DKIM_RESULT_FAIL: return "fail";
    case DKIM_RESULT_NEUTRAL: return "neutral";
    case DKIM_RESULT_POLICY: return "policy";
    case DKIM_RESULT_TEMPERROR: return "temperror";
    case DKIM_RESULT_PERMERROR: return "permerror";
    }
    return "unknown";
}

/* The a= name of an algorithm. */
const char *dkim_alg_name(enum dkim_alg a)
{
    switch (a) {
    case DKIM_ALG_RSA_SHA1: return "rsa-sha1";
    case DKIM_ALG_RSA_SHA256: return "rsa-sha256";
    case DKIM_ALG_ED25519_SHA256: return "ed25519-sha256";
    default: return "unknown";
    }
}

/* ------------------------------------------------------------ tag lists */

struct tag {
    const char *name;
    ssize_t name_len;
    const char *val;          /* leading and trailing white space removed */
    ssize_t val_len;          /* internal white space kept */
};

static int is_wsp(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_b64(int c)
{
    return is_alpha(c) || is_digit(c) || c == '+' || c == '/';
}

/* Case-insensitive comparison of a counted string with a C string. */
static int span_eq(const char *p, ssize_t len, const char *s)
{
    ssize_t i;

    for (i = 0; i < len; i++)
        if (s[i] == '\0' || ascii_tolower((unsigned char) p[i]) != ascii_tolower((unsigned char) s[i]))
            return 0;
    return s[i] == '\0';
}

/* Case-insensitive comparison of two counted strings. */
static int span_caseeq(const char *a, ssize_t alen, const char *b, ssize_t blen)
{
    if (alen != blen)
        return 0;
    for (ssize_t i = 0; i < alen; i++)
        if (ascii_tolower((unsigned char) a[i]) != ascii_tolower((unsigned char) b[i]))
            return 0;
    return 1;
}

/*
 * Parse an RFC 6376 3.2 tag-list. Values are VALCHARs and folding white
 * space; a tag name is ALPHA *(ALNUM / "_"); names may not repeat (compared
 * case-insensitively, as libopendkim does). Returns the number of tags, or
 * -1 on a syntax error or more than max tags.
 */
static int taglist_parse(const char *s, ssize_t len, struct tag *tags, int max)
{
    ssize_t i = 0;
    int n = 0;

    for (;;) {
        struct tag *t;
        ssize_t end;

        while (i < len && is_wsp((unsigned char) s[i]))
            i++;
        if (i == len)
            return n;
        if (!is_alpha((unsigned char) s[i]) || n == max)
            return -1;
        t = &tags[n];
        t->name = s + i;
        while (i < len && (is_alpha((unsigned char) s[i]) || is_digit((unsigned char) s[i]) || s[i] == '_'))
            i++;
        t->name_len = (s + i) - t->name;
        while (i < len && is_wsp((unsigned char) s[i]))
            i++;
        if (i == len || s[i] != '=')
            return -1;
        i++;
        while (i < len && is_wsp((unsigned char) s[i]))
            i++;
        t->val = s + i;
        end = i;
        for (; i < len && s[i] != ';'; i++) {
            unsigned char c = (unsigned char) s[i];

            if (c >= 0x21 && c <= 0x7e)
                end = i + 1;
            else if (!is_wsp(c))
                return -1;
        }
        t->val_len = (s + end) - t->val;
        for (int k = 0; k < n; k++)
            if (span_caseeq(tags[k].name, tags[k].name_len, t->name, t->name_len))
                return -1;
        n++;
        if (i == len)
            return n;
        i++;    /* the ';' */
    }
}

/* The tag named name (case-insensitive), or NULL. */
static const struct tag *tag_get(const struct tag *tags, int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (span_eq(tags[k].name, tags[k].name_len, name))
            return &tags[k];
    return NULL;
}

/* Does the value contain white space? */
static int val_has_wsp(const struct tag *t)
{
    for (ssize_t k = 0; k < t->val_len; k++)
        if (is_wsp((unsigned char) t->val[k]))
            return 1;
    return 0;
}

/*
 * Can the library be given this DKIM-Signature field without being asked
 * to verify it? libopendkim 2.11 parses every field it gets and decodes
 * i= (dkim_qp_decode, from dkim_eoh) past the end of the text when it
 * ends in "=" or "=X", and past its 257-byte buffer when longer. So every
 * "i=" item of the field, read as loosely as the library might (split at
 * ";", the name compared in any case, a list rampart would refuse too),
 * must have at most DKIM_MAX_IDENTITY_LEN bytes once white space is
 * removed (as the library does), and each "=" in it must start "=XX" with
 * two hexadecimal digits.
 */
static int lib_can_read(const char *value, ssize_t len)
{
    const char *p = value, *end = value + len;

    while (p < end) {
        const char *semi = memchr(p, ';', (size_t) (end - p)), *item_end = semi ? semi : end;
        const char *eq = memchr(p, '=', (size_t) (item_end - p)), *a = p, *b = eq;
        char id[DKIM_MAX_IDENTITY_LEN + 1];
        ssize_t il = 0;

        p = semi ? semi + 1 : end;
        if (eq == NULL)
            continue;
        while (a < b && is_wsp((unsigned char) *a))
            a++;
        while (b > a && is_wsp((unsigned char) b[-1]))
            b--;
        if (b - a != 1 || (*a != 'i' && *a != 'I'))
            continue;
        for (const char *c = eq + 1; c < item_end; c++) {
            if (is_wsp((unsigned char) *c))
                continue;
            if (il == DKIM_MAX_IDENTITY_LEN)
                return 0;
            id[il++] = *c;
        }
        for (ssize_t k = 0; k < il; k++)
            if (id[k] == '=' && (k + 2 >= il || ascii_hexval((unsigned char) id[k + 1]) < 0
                                 || ascii_hexval((unsigned char) id[k + 2]) < 0))
                return 0;
    }
    return 1;
}

/*
 * Check base64 text with white space: alphabet, then at most two '='.
 * Returns the decoded length, or -1. With padded set, the length must be
 * a multiple of 4 (bh= is compared as text by libopendkim).
 */
static ssize_t b64_check(const struct tag *t, int padded)
{
    ssize_t chars = 0, pad = 0;

    for (ssize_t k = 0; k < t->val_len; k++) {
        int c = (unsigned char) t->val[k];

        if (is_wsp(c))
            continue;
        if (c == '=') {
            if (++pad > 2)
                return -1;
        } else if (is_b64(c) && pad == 0) {
            chars++;
        } else {
            return -1;
        }
    }
    if (chars % 4 == 1 || (padded && (chars + pad) % 4 != 0) || (pad > 0 && (chars + pad) % 4 != 0))
        return -1;
    return chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1);
}

/* A decimal number of at most 18 digits (no sign, no white space); -1 if not. */
static int64_t parse_decimal(const struct tag *t)
{
    int64_t v = 0;

    if (t->val_len < 1 || t->val_len > 18)
        return -1;
    for (ssize_t k = 0; k < t->val_len; k++) {
        if (!is_digit((unsigned char) t->val[k]))
            return -1;
        v = v * 10 + (t->val[k] - '0');
    }
    return v;
}

/* A domain name for d= or s=: labels of letters, digits, '-', '_', 1..63 each, 1..253 in all. */
static int valid_dname(const struct tag *t)
{
    ssize_t label = 0;

    if (t->val_len < 1 || t->val_len > DNS_MAX_NAME_LEN)
        return 0;
    for (ssize_t k = 0; k < t->val_len; k++) {
        int c = (unsigned char) t->val[k];

        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

/* Does the colon-separated list in t contain word (case-insensitive, items trimmed)? */
static int list_has(const struct tag *t, const char *word)
{
    const char *p = t->val, *end = t->val + t->val_len;

    while (p <= end) {
        const char *q = memchr(p, ':', (size_t) (end - p));
        const char *a = p, *b = q ? q : end;

        while (a < b && is_wsp((unsigned char) *a))
            a++;
        while (b > a && is_wsp((unsigned char) b[-1]))
            b--;
        if (span_eq(a, b - a, word))
            return 1;
        if (q == NULL)
            break;
        p = q + 1;
    }
    return 0;
}

/*
 * Check h=: a colon-separated list of field names (no empty item, no white
 * space inside a name) naming From. Sets *dkimsig to the number of
 * DKIM-Signature items. Returns 0, or -1 if malformed, -2 if From is missing.
 */
static int hlist_check(const struct tag *t, int *dkimsig)
{
    const char *p = t->val, *end = t->val + t->val_len;
    int from = 0;

    *dkimsig = 0;
    for (;;) {
        const char *q = memchr(p, ':', (size_t) (end - p));
        const char *a = p, *b = q ? q : end;

        while (a < b && is_wsp((unsigned char) *a))
            a++;
        while (b > a && is_wsp((unsigned char) b[-1]))
            b--;
        if (a == b)
            return -1;
        for (const char *c = a; c < b; c++)
            if (*c <= 0x20 || *c >= 0x7f)
                return -1;
        from |= span_eq(a, b - a, "from");
        *dkimsig += span_eq(a, b - a, SIGNATURE_FIELD);
        if (q == NULL)
            break;
        p = q + 1;
    }
    return from ? 0 : -2;
}

/* ------------------------------------------------------------ entries */

/*
 * Is this a DKIM-Signature field? As libopendkim decides it: the name with
 * trailing white space removed ("DKIM-Signature :" is one too), any case.
 */
static int is_sig_field(const char *name)
{
    size_t len = strlen(name);

    while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t' || name[len - 1] == '\r' ||
                       name[len - 1] == '\n' || name[len - 1] == '\v' || name[len - 1] == '\f'))
        len--;
    return span_eq(name, (ssize_t) len, SIGNATURE_FIELD);
}

/* Set an entry's reason to static text. */
static void entry_why(struct entry *e, const char *why)
{
    e->why = why;
    str_reset(&e->why_buf);
}

/* Set an entry's reason to formatted text (from our own formats only). */
static void entry_whyf(struct entry *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void entry_whyf(struct entry *e, const char *fmt, ...)
{
    va_list ap;

    str_reset(&e->why_buf);
    va_start(ap, fmt);
    str_addvf(&e->why_buf, fmt, ap);
    va_end(ap);
    e->why = NULL;
}

/* Store a tag's value (white space removed, lower-cased if asked) in the arena; its offset. */
static ssize_t arena_add(struct dkim_msg *m, const struct tag *t, int lower)
{
    ssize_t off = m->arena.len;

    for (ssize_t k = 0; k < t->val_len; k++) {
        int c = (unsigned char) t->val[k];

        if (!is_wsp(c))
            str_addc(&m->arena, lower ? ascii_tolower(c) : c);
    }
    str_addc(&m->arena, '\0');
    return off;
}

/* A string stored by arena_add(), or NULL for -1. */
static const char *arena_str(const struct dkim_msg *m, ssize_t off)
{
    return off < 0 ? NULL : m->arena.data + off;
}

/*
 * Parse one DKIM-Signature value into entry e and result res. Returns 1 if
 * the signature may be verified, 0 if its result is already decided.
 */
static int sig_parse(struct dkim_msg *m, struct entry *e, struct dkim_sig_result *res,
                     const char *value, ssize_t len, time_t now)
{
    static const struct { const char *name; enum dkim_alg alg; } algs[] = {
        { "rsa-sha256", DKIM_ALG_RSA_SHA256 },
        { "ed25519-sha256", DKIM_ALG_ED25519_SHA256 },
        { "rsa-sha1", DKIM_ALG_RSA_SHA1 },
    };
    static const char *const required[] = { "v", "a", "b", "bh", "d", "h", "s" };
    struct tag tags[DKIM_MAX_TAGS];
    const struct tag *t, *tt, *tx;
    int n, k;
    ssize_t blen, bhlen;
    int64_t ts = -1, tx_v = -1;

    res->result = DKIM_RESULT_NEUTRAL;
    n = taglist_parse(value, len, tags, DKIM_MAX_TAGS);
    if (n < 0) {
        entry_why(e, "signature syntax error");
        return 0;
    }

    /* Keep what identifies the signature even when it is broken. */
    if ((t = tag_get(tags, n, "d")) && valid_dname(t))
        e->d = arena_add(m, t, 0);
    if ((t = tag_get(tags, n, "s")) && valid_dname(t))
        e->s = arena_add(m, t, 0);
    if ((t = tag_get(tags, n, "a"))) {
        for (size_t j = 0; j < NELEM(algs); j++)
            if (!val_has_wsp(t) && span_eq(t->val, t->val_len, algs[j].name)) {
                e->alg = algs[j].alg;
                e->a = arena_add(m, t, 1);
            }
    }
    if ((t = tag_get(tags, n, "i")) && t->val_len <= DKIM_MAX_IDENTITY_LEN && !val_has_wsp(t))
        e->i = arena_add(m, t, 0);
    if ((t = tag_get(tags, n, "b"))) {
        k = 0;
        for (ssize_t j = 0; j < t->val_len && k < DKIM_B_PREFIX_LEN; j++)
            if (is_b64((unsigned char) t->val[j]) || t->val[j] == '=')
                res->b[k++] = t->val[j];
            else if (!is_wsp((unsigned char) t->val[j]))
                break;
        res->b[k] = '\0';
    }
    if ((t = tag_get(tags, n, "l")) && parse_decimal(t) >= 0) {
        res->has_length = 1;
        res->length = parse_decimal(t);
    }

    for (size_t j = 0; j < NELEM(required); j++)
        if (tag_get(tags, n, required[j]) == NULL) {
            entry_whyf(e, "signature has no %s=", required[j]);
            return 0;
        }
    if (!span_eq(tag_get(tags, n, "v")->val, tag_get(tags, n, "v")->val_len, "1")) {
        entry_why(e, "unknown signature version");
        return 0;
    }
    if (e->alg == DKIM_ALG_UNKNOWN) {
        entry_why(e, "unknown algorithm");
        return 0;
    }
    if (e->d < 0) {
        entry_why(e, "bad d=");
        return 0;
    }
    if (e->s < 0) {
        entry_why(e, "bad s=");
        return 0;
    }
    t = tag_get(tags, n, "h");
    if (t->val_len > DKIM_MAX_HLIST_LEN) {
        entry_why(e, "h= too long");
        return 0;
    }
    switch (hlist_check(t, &e->hlist_dkimsig)) {
    case -1: entry_why(e, "bad h="); return 0;
    case -2: entry_why(e, "From not signed"); return 0;
    default: break;
    }
    bhlen = b64_check(tag_get(tags, n, "bh"), 1);
    if (bhlen != (e->alg == DKIM_ALG_RSA_SHA1 ? 20 : 32)) {
        entry_why(e, "bad bh=");
        return 0;
    }
    blen = b64_check(tag_get(tags, n, "b"), 0);
    if (blen <= 0) {
        entry_why(e, "bad b=");
        return 0;
    }
    if ((t = tag_get(tags, n, "c"))) {
        const char *slash = memchr(t->val, '/', (size_t) t->val_len);
        ssize_t hl = slash ? slash - t->val : t->val_len;

        if ((!span_eq(t->val, hl, "simple") && !span_eq(t->val, hl, "relaxed")) ||
            (slash && !span_eq(slash + 1, t->val_len - hl - 1, "simple") &&
             !span_eq(slash + 1, t->val_len - hl - 1, "relaxed"))) {
            entry_why(e, "unknown canonicalization");
            return 0;
        }
    }
    if ((t = tag_get(tags, n, "q")) && !list_has(t, "dns/txt")) {
        entry_why(e, "unsupported query method");
        return 0;
    }
    if ((t = tag_get(tags, n, "l")) && !res->has_length) {
        entry_why(e, "bad l=");
        return 0;
    }
    if ((t = tag_get(tags, n, "i"))) {
        const char *id = arena_str(m, e->i), *at, *dom = arena_str(m, e->d);
        size_t il, dl = strlen(dom);

        if (id == NULL || (at = strrchr(id, '@')) == NULL) {
            entry_why(e, "bad i=");
            return 0;
        }
        at++;
        il = strlen(at);
        if (!(il == dl && ascii_casecmp(at, dom) == 0) &&
            !(il > dl && at[il - dl - 1] == '.' && ascii_casecmp(at + il - dl, dom) == 0)) {
            entry_why(e, "i= not within d=");
            return 0;
        }
    }
    tt = tag_get(tags, n, "t");
    tx = tag_get(tags, n, "x");
    if ((tt && (ts = parse_decimal(tt)) < 0) || (tx && (tx_v = parse_decimal(tx)) < 0)) {
        entry_why(e, "bad t= or x=");
        return 0;
    }
    if (tt && tx && tx_v <= ts) {
        entry_why(e, "x= not after t=");
        return 0;
    }

    /* Well formed. What follows is not a syntax matter. */
    if (tt && ts > (int64_t) now + m->opts.clock_skew_s) {
        res->result = DKIM_RESULT_PERMERROR;
        entry_why(e, "signature timestamp in the future");
        return 0;
    }
    if (tx && (int64_t) now > tx_v + m->opts.clock_skew_s) {
        res->result = DKIM_RESULT_PERMERROR;
        entry_why(e, "signature expired");
        return 0;
    }
    if (e->alg == DKIM_ALG_RSA_SHA1 && !m->opts.allow_sha1) {
        res->result = DKIM_RESULT_FAIL;
        entry_why(e, "rsa-sha1 not accepted");
        return 0;
    }
    if (res->has_length && m->opts.ignore_length_tag) {
        res->result = DKIM_RESULT_POLICY;
        entry_why(e, "l= not accepted");
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ keys */

/*
 * Check a key record against the signature that will use it (RFC 6376
 * 3.6.1, RFC 8463 4). Returns NULL if usable, else a static reason.
 */
static const char *key_check(struct entry *e, const char *rec, ssize_t len)
{
    struct tag tags[DKIM_MAX_TAGS];
    const struct tag *t;
    int n = taglist_parse(rec, len, tags, DKIM_MAX_TAGS);
    int ed = e->alg == DKIM_ALG_ED25519_SHA256;
    ssize_t plen;

    if (n < 0)
        return "key record syntax error";
    if ((t = tag_get(tags, n, "v"))) {
        if (t != &tags[0] || !span_eq(t->val, t->val_len, "DKIM1"))
            return "key record is not DKIM1";
    }
    if ((t = tag_get(tags, n, "p")) == NULL)
        return "key record has no p=";
    if (t->val_len == 0)
        return "key revoked";
    plen = b64_check(t, 0);
    if (plen <= 0)
        return "key data is not base64";
    if (ed && plen != 32)
        return "bad Ed25519 key";
    if ((t = tag_get(tags, n, "k"))) {
        if (!span_eq(t->val, t->val_len, "rsa") && !span_eq(t->val, t->val_len, "ed25519"))
            return "unknown key type";
        if (span_eq(t->val, t->val_len, "ed25519") != ed)
            return "key type does not match a=";
    } else if (ed) {
        return "key type does not match a=";
    }
    if ((t = tag_get(tags, n, "h")) && !list_has(t, e->alg == DKIM_ALG_RSA_SHA1 ? "sha1" : "sha256"))
        return "key does not allow the hash";
    if ((t = tag_get(tags, n, "s")) && !list_has(t, "*") && !list_has(t, "email"))
        return "key not for email";
    if ((t = tag_get(tags, n, "t")))
        e->testing = list_has(t, "y");
    return NULL;
}

/* Does a TXT record look like a DKIM key (v=DKIM1 first, or a p= tag)? */
static int looks_like_key(const struct dns_rr *rr)
{
    struct tag tags[DKIM_MAX_TAGS];
    int n = taglist_parse(rr->u.txt.data, rr->u.txt.len, tags, DKIM_MAX_TAGS);

    if (n <= 0)
        return 0;
    if (span_eq(tags[0].name, tags[0].name_len, "v"))
        return span_eq(tags[0].val, tags[0].val_len, "DKIM1");
    return tag_get(tags, n, "p") != NULL;
}

/*
 * Turn the answer to an entry's key query into a key record: sets e->key
 * and e->key_why; returns the record (owned by the answer) when KEY_OK.
 */
static const struct dns_rr *key_from_answer(struct entry *e, const struct dns_answer *a)
{
    const struct dns_rr *pick = NULL;
    int keys = 0, txt = 0;
    const char *why;

    switch (a->status) {
    case DNS_ANSWER:
        break;
    case DNS_NXDOMAIN:
        e->key = KEY_NOKEY;
        e->key_why = "no key (NXDOMAIN)";
        return NULL;
    case DNS_NODATA:
        e->key = KEY_NOKEY;
        e->key_why = "no key (no TXT record)";
        return NULL;
    case DNS_TEMPFAIL:
        e->key = KEY_TEMP;
        e->key_why = a->timed_out ? "key lookup timed out" : "key lookup failed";
        return NULL;
    default:
        e->key = KEY_BAD;
        e->key_why = "key lookup: unusable answer";
        return NULL;
    }
    /*
     * RFC 6376 3.6.2.2 leaves several records undefined. Take the one that
     * looks like a key, so a stray TXT record next to it does not matter,
     * but refuse to guess between two keys.
     */
    for (int k = 0; k < a->count; k++) {
        if (a->rr[k].type != DNS_T_TXT)
            continue;
        if (txt++ == 0)
            pick = &a->rr[k];
        if (looks_like_key(&a->rr[k]) && keys++ == 0)
            pick = &a->rr[k];
    }
    if (pick == NULL) {
        e->key = KEY_NOKEY;
        e->key_why = "no key (no TXT record)";
        return NULL;
    }
    if (keys > 1) {
        e->key = KEY_BAD;
        e->key_why = "several key records";
        return NULL;
    }
    if ((ssize_t) strlen(pick->u.txt.data) != pick->u.txt.len) {
        e->key = KEY_BAD;
        e->key_why = "key record syntax error";
        return NULL;
    }
    if (pick->u.txt.len > DKIM_MAX_KEY_RECORD_LEN) {
        e->key = KEY_BAD;
        e->key_why = "key record too long";
        return NULL;
    }
    if ((why = key_check(e, pick->u.txt.data, pick->u.txt.len)) != NULL) {
        e->key = KEY_BAD;
        e->key_why = why;
        return NULL;
    }
    e->key = KEY_OK;
    e->key_why = NULL;
    return pick;
}

/* The entry the library means by si, or NULL. */
static struct entry *entry_of(struct dkim_msg *m, const DKIM_SIGINFO *si)
{
    for (int k = 0; k < m->nfed; k++)
        if (m->e[m->fed[k]].si == si)
            return &m->e[m->fed[k]];
    return NULL;
}

/* Library callback: give the key record of sig (waits for the query started at end of headers). */
static DKIM_CBSTAT key_lookup_cb(DKIM *d, DKIM_SIGINFO *si, u_char *buf, size_t buflen)
{
    struct dkim_msg *m = dkim_get_user_context(d);
    struct entry *e;
    const struct dns_answer *a;
    const struct dns_rr *rr;

    if (m == NULL || (e = entry_of(m, si)) == NULL || e->lookup < 0) {
        log_error("dkim: key asked for a signature that was not prepared");
        return DKIM_CBSTAT_ERROR;
    }
    a = dns_wait(m->queries[e->lookup], m->deadline_ms);
    rr = key_from_answer(e, a);
    if (rr == NULL)
        return e->key == KEY_TEMP ? DKIM_CBSTAT_TRYAGAIN
             : e->key == KEY_NOKEY ? DKIM_CBSTAT_NOTFOUND : DKIM_CBSTAT_ERROR;
    if ((size_t) rr->u.txt.len >= buflen) {
        e->key = KEY_BAD;
        e->key_why = "key record too long";
        return DKIM_CBSTAT_ERROR;
    }
    memcpy(buf, rr->u.txt.data, (size_t) rr->u.txt.len);
    buf[rr->u.txt.len] = '\0';
    return DKIM_CBSTAT_CONTINUE;
}

/* Library callback at end of headers: match its signatures to ours, ignore the unverified. */
static DKIM_CBSTAT prescreen_cb(DKIM *d, DKIM_SIGINFO **sigs, int nsigs)
{
    struct dkim_msg *m = dkim_get_user_context(d);

    if (m == NULL)
        return DKIM_CBSTAT_ERROR;
    if (nsigs != m->nfed) {
        log_error("dkim: library sees %d signatures, %d expected", nsigs, m->nfed);
        m->lib_error = 1;
    }
    for (int k = 0; k < nsigs; k++) {
        struct entry *e = k < m->nfed && !m->lib_error ? &m->e[m->fed[k]] : NULL;
        const char *dom;

        if (e && e->eval && ((dom = (const char *) dkim_sig_getdomain(sigs[k])) == NULL ||
                             ascii_casecmp(dom, arena_str(m, e->d)) != 0)) {
            log_error("dkim: library signature %d does not match d=", k);
            m->lib_error = 1;
        }
        if (e)
            e->si = sigs[k];
        if (e == NULL || !e->eval || m->lib_error)
            dkim_sig_ignore(sigs[k]);
    }
    if (m->lib_error)
        for (int k = 0; k < nsigs; k++)
            dkim_sig_ignore(sigs[k]);
    return DKIM_CBSTAT_CONTINUE;
}

/* ------------------------------------------------------------ library */

/* The field given to the library after the message's (see the top of this file); made by dkim_startup. */
#define PAD_NAME "X-Rampart-Pad-"
static char pad_field[sizeof(PAD_NAME) - 1 + 32 + sizeof(": 1")];
static size_t pad_len;

/* Set up the process's library handle. */
int dkim_startup(int fix_crlf)
{
    DKIM_LIB *lib;
    uint32_t flags = DKIM_LIBFLAGS_DELAYSIGPROC | DKIM_LIBFLAGS_BADSIGHANDLES;
    u_int minbits = 0;            /* the minimum is applied per message */
    uint64_t drift = DKIM_MAX_CLOCK_SKEW_S;   /* t= and x= are checked per message */
    int rc = 0;

    fix_crlf = fix_crlf != 0;
    if (fix_crlf)
        flags |= DKIM_LIBFLAGS_FIXCRLF;
    pthread_mutex_lock(&dkim_lib_lock);
    if (dkim_lib != NULL) {
        /* The library's options cannot change while messages may use it. */
        if (fix_crlf != dkim_fix_crlf) {
            log_error("dkim: libopendkim already set up %s line end repair", dkim_fix_crlf ? "with" : "without");
            rc = -1;
        }
        goto out;
    }
    if (pad_len == 0) {
        memcpy(pad_field, PAD_NAME, sizeof(PAD_NAME) - 1);
        if (random_hex(pad_field + sizeof(PAD_NAME) - 1, 16) != 0) {
            log_error("dkim: getrandom: %s", strerror(errno));
            rc = -1;
            goto out;
        }
        memcpy(pad_field + sizeof(PAD_NAME) - 1 + 32, ": 1", sizeof(": 1"));
        pad_len = strlen(pad_field);
    }
    lib = dkim_init(NULL, NULL);
    if (lib == NULL) {
        log_error("dkim: cannot initialise libopendkim");
        rc = -1;
        goto out;
    }
    if (!dkim_libfeature(lib, DKIM_FEATURE_SHA256) || !dkim_libfeature(lib, DKIM_FEATURE_ED25519)) {
        log_error("dkim: libopendkim lacks rsa-sha256 or ed25519-sha256 support");
        dkim_close(lib);
        rc = -1;
        goto out;
    }
    if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) != DKIM_STAT_OK ||
        dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &minbits, sizeof(minbits)) != DKIM_STAT_OK ||
        dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_CLOCKDRIFT, &drift, sizeof(drift)) != DKIM_STAT_OK ||
        dkim_set_key_lookup(lib, key_lookup_cb) != DKIM_STAT_OK ||
        dkim_set_prescreen(lib, prescreen_cb) != DKIM_STAT_OK) {
        log_error("dkim: cannot set libopendkim options");
        dkim_close(lib);
        rc = -1;
        goto out;
    }
    dkim_lib = lib;
    dkim_fix_crlf = fix_crlf;
out:
    pthread_mutex_unlock(&dkim_lib_lock);
    return rc;
}

/* Release the library handle. */
void dkim_shutdown(void)
{
    pthread_mutex_lock(&dkim_lib_lock);
    if (dkim_lib)
        dkim_close(dkim_lib);
    dkim_lib = NULL;
    pthread_mutex_unlock(&dkim_lib_lock);
}

/* Give the headers to a new library handle and declare end of headers; 0 or -1. */
static int lib_begin(struct dkim_msg *m, const struct msg_headers *hs)
{
    DKIM_STAT st;
    str line = STR_INIT;
    int next_fed = 0;

    if (dkim_lib == NULL)
        log_panic("dkim: dkim_msg_start before dkim_startup");
    m->d = dkim_verify(dkim_lib, dkim_job_id, NULL, &st);
    if (m->d == NULL) {
        log_error("dkim: cannot start verification: %s", dkim_getresultstr(st));
        return -1;
    }
    dkim_set_user_context(m->d, m);
    for (int h = 0; h < hs->n; h++) {
        const struct msg_header *f = &hs->h[h];

        if (f->name[0] == '\0')
            continue;
        if (is_sig_field(f->name)) {
            /* Only the fields chosen for the library, which come in header order. */
            if (next_fed >= m->nfed || m->e[m->fed[next_fed]].hdr != h)
                continue;
            next_fed++;
        }
        str_reset(&line);
        str_adds(&line, f->name);
        str_addc(&line, ':');
        str_reserve(&line, f->value_len + 16);
        /*
         * Folds may come as bare LF (a milter gets them so), and
         * canonicalization wants CRLF. Make every line end CRLF here and
         * replace NUL bytes, with or without FIXCRLF: without it the
         * library takes the field as it is; with it, its repair stops
         * copying at a NUL, or lengthens the field, but keeps the length
         * it was given, and then reads past its copy (seen with ASan on a
         * "Subject: a<NUL>b" field). The replacement is a byte no signer
         * wrote in its place, so such a field can never verify, as
         * cutting it at the NUL could.
         */
        for (ssize_t k = 0; k < f->value_len; k++) {
            char c = f->value[k];

            if (c == '\n' && (k == 0 || f->value[k - 1] != '\r'))
                str_add(&line, "\r\n", 2);
            else if (c == '\r' && (k + 1 == f->value_len || f->value[k + 1] != '\n'))
                str_add(&line, "\r\n", 2);
            else
                str_addc(&line, c == '\0' ? 0xff : c);
        }
        /* A field the library refuses (bad name) cannot be signed for anyway. */
        (void) dkim_header(m->d, (u_char *) line.data, (size_t) line.len);
    }
    str_free(&line);
    st = dkim_header(m->d, (u_char *) pad_field, pad_len);
    if (st != DKIM_STAT_OK) {
        log_error("dkim: end of headers: the library refused a field of its own: %s", dkim_getresultstr(st));
        return -1;
    }
    st = dkim_eoh(m->d);
    if (st != DKIM_STAT_OK || m->lib_error) {
        log_error("dkim: end of headers: %s", m->lib_error ? "signature mismatch" : dkim_getresultstr(st));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ messages */

/* Start a message: parse the signatures, choose, start the key lookups. */
struct dkim_msg *dkim_msg_start(struct dns_resolver *r, const struct msg_headers *hs,
                                const struct dkim_options *opts, int64_t deadline_ms)
{
    struct dkim_msg *m = mem_zalloc(sizeof(*m));
    time_t now = time(NULL);
    int k, nsig = 0, eval = 0, cover = 0;
    str name = STR_INIT;

    for (int h = 0; h < hs->n; h++)
        nsig += is_sig_field(hs->h[h].name);

    if (opts)
        m->opts = *opts;
    else
        dkim_options_init(&m->opts);
    if (m->opts.clock_skew_s < 0)
        m->opts.clock_skew_s = 0;
    if (m->opts.clock_skew_s > DKIM_MAX_CLOCK_SKEW_S)
        m->opts.clock_skew_s = DKIM_MAX_CLOCK_SKEW_S;
    if (m->opts.max_signatures < 0)
        m->opts.max_signatures = 0;
    if (m->opts.timeout_ms <= 0)
        m->opts.timeout_ms = DEF_DKIM_TIMEOUT_MS;
    m->r = r;
    m->deadline_ms = deadline_ms > 0 ? deadline_ms : clock_now_ms() + m->opts.timeout_ms;
    m->n = nsig;
    m->results.count = nsig;
    if (nsig == 0) {
        m->results.result = DKIM_RESULT_NONE;
        return m;
    }
    m->e = mem_zalloc((ssize_t) sizeof(*m->e) * nsig);
    m->res = mem_zalloc((ssize_t) sizeof(*m->res) * nsig);
    m->results.sig = m->res;

    /* Parse every signature; choose the first max_signatures that can be verified. */
    k = 0;
    for (int h = 0; h < hs->n; h++) {
        struct entry *e;
        struct dkim_sig_result *res;

        if (!is_sig_field(hs->h[h].name))
            continue;
        e = &m->e[k];
        res = &m->res[k];
        k++;
        e->hdr = h;
        e->lookup = -1;
        e->d = e->s = e->i = e->a = -1;
        str_init(&e->why_buf);
        if (!sig_parse(m, e, res, hs->h[h].value, hs->h[h].value_len, now))
            continue;
        if (eval >= m->opts.max_signatures) {
            res->result = DKIM_RESULT_POLICY;
            entry_whyf(e, "not evaluated (over %d signatures)", m->opts.max_signatures);
            continue;
        }
        if ((e->hlist_dkimsig < nsig ? e->hlist_dkimsig : nsig) > DKIM_MAX_COVERED) {
            res->result = DKIM_RESULT_POLICY;
            entry_why(e, "signs too many DKIM-Signature fields");
            continue;
        }
        e->eval = 1;
        eval++;
        if (e->hlist_dkimsig > cover)
            cover = e->hlist_dkimsig < nsig ? e->hlist_dkimsig : nsig;
    }
    /*
     * The bottom-most fields the chosen signatures sign go to the library
     * unverified; one it cannot read safely (lib_can_read) is withheld, and
     * the signatures that sign it are not verified. Then again with what
     * the others sign, until every field to be given is readable.
     */
    for (;;) {
        int bad = -1;

        for (k = nsig - cover; k < nsig && bad < 0; k++)
            if (!m->e[k].eval && !lib_can_read(hs->h[m->e[k].hdr].value, hs->h[m->e[k].hdr].value_len))
                bad = k;
        if (bad < 0)
            break;
        cover = 0;
        for (k = 0; k < nsig; k++) {
            struct entry *e = &m->e[k];
            int c = e->hlist_dkimsig < nsig ? e->hlist_dkimsig : nsig;

            if (!e->eval)
                continue;
            if (bad >= nsig - c) {
                e->eval = 0;
                eval--;
                m->res[k].result = DKIM_RESULT_POLICY;
                entry_why(e, "signs a DKIM-Signature field that cannot be read safely");
            } else if (c > cover) {
                cover = c;
            }
        }
    }
    m->results.evaluated = eval;
    if (eval == 0)
        return m;

    /* The library gets the verified fields and the bottom-most ones they sign. */
    m->fed = mem_alloc((ssize_t) sizeof(int) * nsig);
    for (k = 0; k < nsig; k++) {
        m->e[k].fed = m->e[k].eval || k >= nsig - cover;
        if (m->e[k].fed)
            m->fed[m->nfed++] = k;
    }

    /* Key lookups, one per distinct s._domainkey.d. */
    m->queries = mem_alloc((ssize_t) sizeof(*m->queries) * eval);
    for (k = 0; k < nsig; k++) {
        struct entry *e = &m->e[k];

        if (!e->eval)
            continue;
        for (int j = 0; j < k && e->lookup < 0; j++)
            if (m->e[j].eval && ascii_casecmp(arena_str(m, m->e[j].d), arena_str(m, e->d)) == 0 &&
                ascii_casecmp(arena_str(m, m->e[j].s), arena_str(m, e->s)) == 0)
                e->lookup = m->e[j].lookup;
        if (e->lookup >= 0)
            continue;
        str_reset(&name);
        str_addf(&name, "%s._domainkey.%s", arena_str(m, e->s), arena_str(m, e->d));
        e->lookup = m->nqueries;
        m->queries[m->nqueries++] = dns_start(r, name.data, DNS_T_TXT);
    }
    str_free(&name);

    if (lib_begin(m, hs) != 0)
        m->lib_error = 1;
    return m;
}

/* Hash a piece of the body. */
void dkim_msg_body(struct dkim_msg *m, const void *data, size_t len)
{
    const unsigned char *p = data;

    if (m->finished || len == 0)
        return;
    m->results.body_length += (int64_t) len;
    m->tail[0] = len >= 2 ? p[len - 2] : m->tail[1];
    m->tail[1] = p[len - 1];
    if (m->d && !m->lib_error)
        (void) dkim_body(m->d, (u_char *) data, len);
}

/*
 * End the body with a line end if it has none (RFC 6376 3.4.3, 3.4.4).
 * A body sent by Postfix always has one. A bare LF is a line end only to
 * FIXCRLF; otherwise the CRLF added after it closes a last line that
 * holds the LF, which then does not verify.
 */
static void body_close(struct dkim_msg *m)
{
    if (m->results.body_length == 0)
        return;
    if (m->tail[1] == '\r')
        (void) dkim_body(m->d, (u_char *) "\n", 1);
    else if (m->tail[1] != '\n' || (m->tail[0] != '\r' && !dkim_fix_crlf))
        (void) dkim_body(m->d, (u_char *) "\r\n", 2);
}

/* Set an entry's result and static reason. */
static void entry_judge(struct entry *e, struct dkim_sig_result *res, enum dkim_result result, const char *why)
{
    res->result = result;
    entry_why(e, why);
}

/* The library's signature errors that map to one result and reason (RFC 8601 2.7.1). */
static const struct {
    int err;
    enum dkim_result result;
    const char *why;          /* NULL: "key record: " and the library's text */
} sig_errors[] = {
    { DKIM_SIGERROR_BADSIG, DKIM_RESULT_FAIL, "signature verification failed" },
    { DKIM_SIGERROR_TOOLARGE_L, DKIM_RESULT_FAIL, "body shorter than l=" },
    { DKIM_SIGERROR_KEYFAIL, DKIM_RESULT_TEMPERROR, "key lookup failed" },
    { DKIM_SIGERROR_NOKEY, DKIM_RESULT_PERMERROR, "no key" },
    { DKIM_SIGERROR_KEYREVOKED, DKIM_RESULT_PERMERROR, "key revoked" },
    { DKIM_SIGERROR_KEYDECODE, DKIM_RESULT_PERMERROR, "unusable key" },
    { DKIM_SIGERROR_SUBDOMAIN, DKIM_RESULT_PERMERROR, "key forbids a subdomain in i=" },
    { DKIM_SIGERROR_EXPIRED, DKIM_RESULT_PERMERROR, "signature expired" },
    { DKIM_SIGERROR_FUTURE, DKIM_RESULT_PERMERROR, "signature timestamp in the future" },
    { DKIM_SIGERROR_DNSSYNTAX, DKIM_RESULT_PERMERROR, NULL },
    { DKIM_SIGERROR_MULTIREPLY, DKIM_RESULT_PERMERROR, NULL },
    { DKIM_SIGERROR_KEYVERSION, DKIM_RESULT_PERMERROR, NULL },
    { DKIM_SIGERROR_KEYUNKNOWNHASH, DKIM_RESULT_PERMERROR, NULL },
    { DKIM_SIGERROR_KEYHASHMISMATCH, DKIM_RESULT_PERMERROR, NULL },
    { DKIM_SIGERROR_NOTEMAILKEY, DKIM_RESULT_PERMERROR, NULL },
    { DKIM_SIGERROR_KEYTYPEMISSING, DKIM_RESULT_PERMERROR, NULL },
    { DKIM_SIGERROR_KEYTYPEUNKNOWN, DKIM_RESULT_PERMERROR, NULL },
    /* Never verified, and the key lookup said nothing: a library failure. */
    { DKIM_SIGERROR_UNKNOWN, DKIM_RESULT_TEMPERROR, "not verified" },
    { DKIM_SIGERROR_OK, DKIM_RESULT_TEMPERROR, "not verified" },
};

/* The result of a verified entry, from the library's view of it (RFC 8601 2.7.1). */
static void sig_judge(struct dkim_msg *m, struct entry *e, struct dkim_sig_result *res)
{
    DKIM_SIGINFO *si = e->si;
    unsigned flags, bits = 0;
    int err, bh;
    const char *text;

    if (m->lib_error || si == NULL) {
        entry_judge(e, res, DKIM_RESULT_TEMPERROR, "verifier error");
        return;
    }
    flags = dkim_sig_getflags(si);
    err = dkim_sig_geterror(si);
    bh = dkim_sig_getbh(si);

    /* The library reused another signature's key: check it against this one. */
    if (e->key == KEY_UNKNOWN && (flags & DKIM_SIGFLAG_PROCESSED)) {
        const struct dns_answer *a = dns_peek(m->queries[e->lookup]);

        if (a)
            (void) key_from_answer(e, a);
    }
    switch (e->key) {
    case KEY_TEMP:
        entry_judge(e, res, DKIM_RESULT_TEMPERROR, e->key_why);
        return;
    case KEY_NOKEY:
    case KEY_BAD:
        entry_judge(e, res, DKIM_RESULT_PERMERROR, e->key_why);
        return;
    default:
        break;
    }

    if (flags & DKIM_SIGFLAG_PROCESSED) {
        if (e->alg == DKIM_ALG_ED25519_SHA256)
            bits = err == DKIM_SIGERROR_KEYDECODE ? 0 : 256;
        else if (dkim_sig_getkeysize(si, &bits) != DKIM_STAT_OK)
            bits = 0;
    }
    res->key_bits = bits;

    if (DKIM_SIG_CHECK(si) && (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN)) {
        if (e->alg != DKIM_ALG_ED25519_SHA256 && bits < (unsigned) m->opts.min_rsa_bits) {
            res->result = DKIM_RESULT_POLICY;
            entry_whyf(e, "key too small (%u bits)", bits);
        } else {
            entry_judge(e, res, DKIM_RESULT_PASS, "");
        }
        return;
    }
    if ((flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MISMATCH) {
        entry_judge(e, res, DKIM_RESULT_FAIL, "body hash mismatch");
        return;
    }
    text = dkim_sig_geterrorstr(err);
    for (size_t k = 0; k < NELEM(sig_errors); k++) {
        if (sig_errors[k].err != err)
            continue;
        if (sig_errors[k].why) {
            entry_judge(e, res, sig_errors[k].result, sig_errors[k].why);
        } else {
            res->result = sig_errors[k].result;
            entry_whyf(e, "key record: %s", text ? text : "unknown");
        }
        return;
    }
    res->result = DKIM_RESULT_NEUTRAL;
    entry_whyf(e, "signature error: %s", text ? text : "unknown");
}

/* The message's summary result. */
static enum dkim_result summarize(const struct dkim_results *rs)
{
    static const enum dkim_result order[] = {
        DKIM_RESULT_PASS, DKIM_RESULT_TEMPERROR, DKIM_RESULT_FAIL, DKIM_RESULT_POLICY,
        DKIM_RESULT_PERMERROR, DKIM_RESULT_NEUTRAL,
    };

    if (rs->count == 0)
        return DKIM_RESULT_NONE;
    for (size_t k = 0; k < NELEM(order); k++)
        for (int j = 0; j < rs->count; j++)
            if (rs->sig[j].result == order[k])
                return order[k];
    return DKIM_RESULT_NEUTRAL;
}

/* Release the library handle and the key queries (pending ones are cancelled). */
static void msg_release(struct dkim_msg *m)
{
    if (m->d) {
        dkim_free(m->d);
        m->d = NULL;
    }
    for (int k = 0; k < m->nqueries; k++) {
        dns_query_free(m->queries[k]);
        m->queries[k] = NULL;
    }
}

/* End of message: verify and publish. */
const struct dkim_results *dkim_msg_finish(struct dkim_msg *m)
{
    if (m->finished)
        return &m->results;
    m->finished = 1;
    if (m->d && !m->lib_error) {
        body_close(m);
        (void) dkim_eom(m->d, NULL);
    }
    for (int k = 0; k < m->n; k++) {
        struct entry *e = &m->e[k];
        struct dkim_sig_result *res = &m->res[k];

        if (e->eval) {
            res->evaluated = 1;
            sig_judge(m, e, res);
        }
        res->alg = e->alg;
        res->domain = arena_str(m, e->d);
        res->selector = arena_str(m, e->s);
        res->identity = arena_str(m, e->i);
        res->algorithm = arena_str(m, e->a);
        res->testing = e->testing;
        res->reason = e->why_buf.len > 0 ? e->why_buf.data : e->why ? e->why : "";
        /* d=, s= and b= hold only checked characters; the reason is ours. */
        log_debug("dkim: signature %d d=%s s=%s a=%s b=%s result=%s reason=\"%s\"", k,
                  res->domain ? res->domain : "", res->selector ? res->selector : "",
                  dkim_alg_name(res->alg), res->b, dkim_result_name(res->result), res->reason);
    }
    msg_release(m);
    m->results.result = summarize(&m->results);
    return &m->results;
}

/* Free a message. */
void dkim_msg_free(struct dkim_msg *m)
{
    if (m == NULL)
        return;
    msg_release(m);
    for (int k = 0; k < m->n; k++)
        str_free(&m->e[k].why_buf);
    mem_free(m->queries);
    mem_free(m->fed);
    mem_free(m->e);
    mem_free(m->res);
    str_free(&m->arena);
    mem_free(m);
}
