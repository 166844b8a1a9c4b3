/*
 * dmarc.c - DMARC evaluation (RFC 9989 by default, RFC 7489 on request).
 *
 * Flow. dmarc_begin() parses the From field(s) with addr.c, settles the
 * Author Domain (exactly one From field, and one domain among its
 * mailboxes; several domains are a DMARC_BAD_FROM unless
 * evaluate_multiple_domains is set, RFC 9989 11.5), converts U-labels to
 * A-labels, and starts the _dmarc TXT queries through lib/dns (with
 * prefetch, every name of the tree walk at once: at most 8 names, the
 * walk still reads them in order). dmarc_finish() then:
 *   1. discovers the policy: RFC 9989 4.10 / 4.10.1 (record at the Author
 *      Domain, else the DNS Tree Walk, psd=y/n stop the walk, the
 *      Organizational Domain's record, else the PSD's record); RFC 7489
 *      6.6.3 (_dmarc.<from>, then _dmarc.<PSL org domain>);
 *   2. validates the record: v=DMARC1 first (white space around it and
 *      an upper-case V tolerated) or it is not a DMARC record;
 *      several DMARC records at one name are all discarded; unknown tags
 *      and bad values of optional tags are ignored; a bad p/sp/np (or, in
 *      RFC 7489 mode, no p) falls back to p=none when rua= has a valid URI,
 *      else PERMERROR (RFC 9989 4.10.1 / RFC 7489 6.6.3 step 6); a record
 *      over DMARC_MAX_RECORD_LEN is a PERMERROR;
 *   3. computes Identifier Alignment itself (libopendmarc 1.4.2's strict
 *      mode is wrong): strict = equal names (ASCII case-insensitive),
 *      relaxed = equal Organizational Domains (RFC 9989: tree walk of each
 *      identifier, pruned when the Author's Organizational Domain is not a
 *      suffix of it; RFC 7489: Public Suffix List);
 *   4. pass if an SPF (MAIL FROM identity) or DKIM pass aligns; otherwise
 *      TEMPERROR if an identifier that would align has a temporary error
 *      or an alignment walk hit a DNS temporary error; else FAIL;
 *   5. for a fail, the policy: p at the Author Domain's own record, else
 *      np when the Author Domain does not exist (NXDOMAIN for A, AAAA and
 *      MX, asked only then), else sp, else p; the disposition is that
 *      policy one level lower under t=y (RFC 9989) or when pct= sampling
 *      leaves the message out (RFC 7489).
 * Any DNS temporary failure on the way to a conclusion gives TEMPERROR,
 * never a fail; a malformed DNS answer gives PERMERROR.
 *
 * What comes from where: record parsing, the tree walk, alignment and
 * policy selection are rampart's own (libopendmarc 1.4.2's parser cannot
 * represent np/t/psd, takes "v" anywhere, accepts prefixes such as "p=r",
 * reads pct=junk as 0 and silently truncates long records). In RFC 7489
 * mode the Public Suffix List is loaded and matched by libopendmarc
 * (opendmarc_tld_read_file, opendmarc_get_tld); a name the list does not
 * cover gets the PSL default rule ("*": the last two labels).
 * XXX libopendmarc treats a wildcard rule "*.ck" like "ck" and cannot
 * match Unicode rules against A-labels, so those org domains are one label
 * short in RFC 7489 mode.
 *
 * Contract: dmarc_engine_new() copies the options; in RFC 7489 mode it
 * (re)loads the process-global PSL table and fails if the file cannot be
 * read. An evaluation belongs to one thread. Results own their strings
 * (dmarc_result_free). U-labels are converted with a built-in RFC 3492
 * encoder without IDNA2008 mapping (XXX: no NFC or Unicode case folding).
 *
 * Configuration (struct dmarc_options; names in dmarc.h):
 *   dmarc_spec                    rfc9989 | rfc7489 (rfc9989)
 *   dmarc_public_suffix_list      PSL path for rfc7489
 *   dmarc_timeout                 total wait in dmarc_finish (10s)
 *   dmarc_max_lookups             _dmarc names per message (32, min 8)
 *   dmarc_max_dkim_signatures     DKIM results looked at (10)
 *   dmarc_multiple_author_domains bad_from | evaluate (bad_from)
 *   dmarc_prefetch                start all walk names at once (yes)
 * Logging: debug lines for each lookup; nothing above debug (the summary
 * line is the caller's, from the result).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "addr.h"
#include "dmarc.h"
#include "log.h"
#include "mem.h"
#include "util.h"

/*
 * libopendmarc 1.4.2's PSL functions. Declared here rather than through
 * <opendmarc/dmarc.h>, whose DMARC_POLICY_* macros clash with our enums;
 * opendmarc_get_tld is exported but not declared there anyway.
 */
int opendmarc_tld_read_file(char *path_fname, char *commentstring, char *drop, char *except);
void opendmarc_tld_shutdown(void);
int opendmarc_get_tld(unsigned char *domain, unsigned char *tld, size_t tld_len);

/* ------------------------------------------------------------------ names */

static const char *const status_names[] = {
    "none", "pass", "fail", "temperror", "permerror", "bad_from",
};
static const char *const policy_names[] = { "-", "none", "quarantine", "reject" };
static const char *const tag_names[] = { "-", "p", "sp", "np" };
static const char *const from_names[] = {
    "ok", "missing", "multiple_fields", "syntax", "no_address", "no_domain", "bad_domain",
    "multiple_domains",
};
static const char *const spf_names[] = {
    "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
};
static const char *const dkim_names[] = {
    "none", "pass", "fail", "neutral", "policy", "temperror", "permerror",
};

#define NAME_OF(table, v) ((unsigned) (v) < NELEM(table) ? table[v] : "unknown")

const char *dmarc_status_name(enum dmarc_status s) { return NAME_OF(status_names, s); }
const char *dmarc_policy_name(enum dmarc_policy p) { return NAME_OF(policy_names, p); }
const char *dmarc_policy_tag_name(enum dmarc_policy_tag t) { return NAME_OF(tag_names, t); }
const char *dmarc_from_problem_name(enum dmarc_from_problem f) { return NAME_OF(from_names, f); }
const char *dmarc_spf_result_name(enum dmarc_spf_result r) { return NAME_OF(spf_names, r); }
const char *dmarc_dkim_result_name(enum dmarc_dkim_result r) { return NAME_OF(dkim_names, r); }

/* Parse a spec name. */
int dmarc_spec_from_name(const char *name, enum dmarc_spec *out)
{
    if (ascii_casecmp(name, "rfc9989") == 0)
        *out = DMARC_SPEC_RFC9989;
    else if (ascii_casecmp(name, "rfc7489") == 0)
        *out = DMARC_SPEC_RFC7489;
    else
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- engine */

struct dmarc_engine {
    struct dmarc_options o;
    char *psl_file;
};

/* libopendmarc's PSL table is process-global: count its users. */
static pthread_mutex_t psl_lock = PTHREAD_MUTEX_INITIALIZER;
static int psl_users;

/* The defaults of dmarc.h. */
void dmarc_options_default(struct dmarc_options *o)
{
    memset(o, 0, sizeof(*o));
    o->spec = DMARC_SPEC_RFC9989;
    o->psl_file = DEF_DMARC_PSL_FILE;
    o->timeout_ms = DEF_DMARC_TIMEOUT_MS;
    o->max_lookups = DEF_DMARC_MAX_LOOKUPS;
    o->max_dkim_signatures = DEF_DMARC_MAX_DKIM_SIGNATURES;
    o->evaluate_multiple_domains = 0;
    o->prefetch = DEF_DMARC_PREFETCH;
}

/* Set up an engine; RFC 7489 mode loads the PSL. NULL and err on error. */
struct dmarc_engine *dmarc_engine_new(const struct dmarc_options *o, str *err)
{
    struct dmarc_engine *e;

    if (o->max_lookups < DMARC_WALK_MAX_QUERIES || o->max_dkim_signatures < 0
        || o->max_dkim_signatures > DMARC_MAX_DKIM_SIGNATURES || o->timeout_ms <= 0) {
        str_addf(err, "dmarc: bad limits (max_lookups >= %d, max_dkim_signatures 0..%d, timeout > 0)",
                 DMARC_WALK_MAX_QUERIES, DMARC_MAX_DKIM_SIGNATURES);
        return NULL;
    }
    e = mem_zalloc(sizeof(*e));
    e->o = *o;
    if (o->spec == DMARC_SPEC_RFC7489) {
        FILE *f;
        int rc;

        if (!o->psl_file || !*o->psl_file) {
            str_adds(err, "dmarc: rfc7489 needs a public suffix list file");
            mem_free(e);
            return NULL;
        }
        /* Check first: the library leaks and says little when it cannot open it. */
        if (!(f = fopen(o->psl_file, "r"))) {
            str_addf(err, "dmarc: public suffix list %s: %s", o->psl_file, strerror(errno));
            mem_free(e);
            return NULL;
        }
        fclose(f);
        e->psl_file = mem_strdup(o->psl_file);
        e->o.psl_file = e->psl_file;
        pthread_mutex_lock(&psl_lock);
        rc = opendmarc_tld_read_file(e->psl_file, "//", "*.", "!");
        if (rc == 0)
            psl_users++;
        pthread_mutex_unlock(&psl_lock);
        if (rc != 0) {
            str_addf(err, "dmarc: cannot load public suffix list %s", o->psl_file);
            mem_free(e->psl_file);
            mem_free(e);
            return NULL;
        }
    } else {
        e->o.psl_file = NULL;
    }
    return e;
}

/* Free an engine; the last RFC 7489 engine unloads the PSL. */
void dmarc_engine_free(struct dmarc_engine *e)
{
    if (!e)
        return;
    if (e->psl_file) {
        pthread_mutex_lock(&psl_lock);
        if (--psl_users == 0)
            opendmarc_tld_shutdown();
        pthread_mutex_unlock(&psl_lock);
        mem_free(e->psl_file);
    }
    mem_free(e);
}

/* --------------------------------------------------------------- domains */

/* Number of labels of a name. */
static int label_count(const char *d)
{
    int n = *d ? 1 : 0;

    for (; *d; d++)
        if (*d == '.')
            n++;
    return n;
}

/* The suffix of d with n labels (d itself if it has n or fewer). */
static const char *suffix_labels(const char *d, int n)
{
    int skip = label_count(d) - n;

    while (skip-- > 0) {
        const char *dot = strchr(d, '.');

        if (!dot)
            break;
        d = dot + 1;
    }
    return d;
}

/* 1 if s equals d or is a label-wise suffix of it (case-insensitive). */
static int is_label_suffix(const char *s, const char *d)
{
    size_t ls = strlen(s), ld = strlen(d);

    if (ls > ld)
        return 0;
    if (ascii_casecmp(s, d + (ld - ls)) != 0)
        return 0;
    return ls == ld || d[ld - ls - 1] == '.';
}

/* RFC 3492 bias adaptation. */
static uint32_t puny_adapt(uint32_t delta, uint32_t numpoints, int first)
{
    uint32_t k = 0;

    delta = first ? delta / 700 : delta / 2;
    delta += delta / numpoints;
    while (delta > ((36 - 1) * 26) / 2) {
        delta /= 36 - 1;
        k += 36;
    }
    return k + (36 - 1 + 1) * delta / (delta + 38);
}

static char puny_digit(uint32_t d)
{
    return (char) (d < 26 ? 'a' + d : '0' + (d - 26));
}

/* Encode one UTF-8 label as "xn--..." (RFC 3492); -1 if it cannot be. */
static int puny_label(const unsigned char *s, ssize_t len, str *out)
{
    uint32_t cp[64], n = 128, delta = 0, bias = 72, h, b = 0;
    int ncp = 0;

    for (ssize_t i = 0; i < len;) {
        unsigned char c = s[i];
        int extra = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
        uint32_t v = extra == 0 ? c : extra == 1 ? (c & 0x1fu) : extra == 2 ? (c & 0x0fu) : (c & 0x07u);

        if (ncp == (int) NELEM(cp) || i + extra >= len)
            return -1;
        for (int k = 1; k <= extra; k++)
            v = (v << 6) | (s[i + k] & 0x3fu);
        cp[ncp++] = v < 0x80 ? (uint32_t) ascii_tolower((int) v) : v;
        i += extra + 1;
    }
    str_adds(out, "xn--");
    for (int k = 0; k < ncp; k++)
        if (cp[k] < 0x80) {
            str_addc(out, (char) cp[k]);
            b++;
        }
    if (b > 0)
        str_addc(out, '-');
    for (h = b; h < (uint32_t) ncp;) {
        uint32_t m = UINT32_MAX;

        for (int k = 0; k < ncp; k++)
            if (cp[k] >= n && cp[k] < m)
                m = cp[k];
        if ((m - n) > (UINT32_MAX - delta) / (h + 1))
            return -1;
        delta += (m - n) * (h + 1);
        n = m;
        for (int k = 0; k < ncp; k++) {
            if (cp[k] < n)
                delta++;
            if (cp[k] == n) {
                uint32_t q = delta;

                for (uint32_t kk = 36;; kk += 36) {
                    uint32_t t = kk <= bias ? 1 : kk >= bias + 26 ? 26 : kk - bias;

                    if (q < t)
                        break;
                    str_addc(out, puny_digit(t + (q - t) % (36 - t)));
                    q = (q - t) / (36 - t);
                }
                str_addc(out, puny_digit(q));
                bias = puny_adapt(delta, h + 1, h == b);
                delta = 0;
                h++;
            }
        }
        delta++;
        n++;
    }
    return 0;
}

/*
 * Normalise a domain for lookups and comparisons: ASCII lowercase, one
 * trailing dot dropped, U-labels to A-labels, then letters, digits, '-'
 * and '_' only, and a valid DNS name. -1 if unusable.
 */
static int domain_normalize(const char *in, str *out)
{
    size_t len;
    const char *p;

    str_reset(out);
    if (!in)
        return -1;
    len = strlen(in);
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0 || len > 1024 || !addr_utf8_valid(in, (ssize_t) len))
        return -1;
    for (p = in; p < in + len;) {
        const char *dot = memchr(p, '.', (size_t) (in + len - p));
        const char *end = dot ? dot : in + len;
        int ascii = 1;

        for (const char *q = p; q < end; q++)
            if ((unsigned char) *q >= 0x80)
                ascii = 0;
        if (ascii) {
            for (const char *q = p; q < end; q++)
                str_addc(out, (char) ascii_tolower((unsigned char) *q));
        } else if (puny_label((const unsigned char *) p, end - p, out) < 0) {
            return -1;
        }
        if (!dot)
            break;
        str_addc(out, '.');
        p = dot + 1;
    }
    for (ssize_t k = 0; k < out->len; k++) {
        char c = out->data[k];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return -1;
    }
    return dns_name_valid(out->data) ? 0 : -1;
}

/* Organizational Domain from the Public Suffix List (libopendmarc). */
static void psl_org(const char *domain, str *out)
{
    unsigned char buf[DNS_MAX_NAME_LEN + 3];
    const char *org;

    buf[0] = '\0';
    (void) opendmarc_get_tld((unsigned char *) domain, buf, sizeof(buf));
    org = (const char *) buf;
    if (buf[0] == '\0' || !is_label_suffix(org, domain)) {
        /* Not covered by the list: the default rule "*" (public suffix = TLD). */
        org = suffix_labels(domain, 2);
    } else {
        org = domain + (strlen(domain) - strlen(org));
    }
    str_set(out, org);
}

/* The PSL org domain, for tools and tests (RFC 7489 engines only). */
int dmarc_psl_org_domain(const struct dmarc_engine *e, const char *domain, str *out)
{
    str norm = STR_INIT;

    if (!e->psl_file || domain_normalize(domain, &norm) < 0) {
        str_free(&norm);
        return -1;
    }
    psl_org(norm.data, out);
    str_free(&norm);
    return 0;
}

/* ---------------------------------------------------------------- record */

struct record {
    enum dmarc_policy p, sp, np;
    int p_bad, sp_bad, np_bad;   /* present with a value that is not a policy */
    char adkim, aspf, psd;
    int t;                       /* t=y */
    int pct;
    int rua_valid;               /* at least one syntactically valid rua URI */
    int too_long;
};

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* A record that starts with "v=DMARC1": *after is where its tags begin. */
static int record_is_dmarc(const char *s, ssize_t len, ssize_t *after)
{
    ssize_t i = 0;

    while (i < len && is_wsp(s[i]))
        i++;
    if (i >= len || (s[i] != 'v' && s[i] != 'V'))
        return 0;
    for (i++; i < len && is_wsp(s[i]); i++)
        ;
    if (i >= len || s[i] != '=')
        return 0;
    for (i++; i < len && is_wsp(s[i]); i++)
        ;
    if (len - i < 6 || memcmp(s + i, "DMARC1", 6) != 0)
        return 0;
    for (i += 6; i < len && is_wsp(s[i]); i++)
        ;
    if (i < len && s[i] != ';')
        return 0;
    *after = i;
    return 1;
}

/* dmarc-request: "none" / "quarantine" / "reject" (case-insensitive). */
static enum dmarc_policy parse_policy(const char *v, ssize_t n)
{
    static const struct { const char *name; enum dmarc_policy p; } map[] = {
        { "none", DMARC_POLICY_NONE },
        { "quarantine", DMARC_POLICY_QUARANTINE },
        { "reject", DMARC_POLICY_REJECT },
    };

    for (size_t k = 0; k < NELEM(map); k++)
        if ((size_t) n == strlen(map[k].name) && strncasecmp(v, map[k].name, (size_t) n) == 0)
            return map[k].p;
    return DMARC_POLICY_UNSET;
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One DMARC reporting URI (RFC 3986 syntax, commas and '!' encoded, optional "!size"). */
static int uri_valid(const char *u, ssize_t n)
{
    const char *bang = memchr(u, '!', (size_t) n);
    ssize_t k, colon = -1;

    if (bang) {
        ssize_t b = bang - u + 1;

        if (b >= n || !is_digit(u[b]))
            return 0;
        while (b < n && is_digit(u[b]))
            b++;
        if (b < n && u[b] != '\0' && strchr("kmgtKMGT", u[b]))
            b++;
        if (b != n)
            return 0;
        n = bang - u;
    }
    if (n < 3 || !is_alpha(u[0]))
        return 0;
    for (k = 1; k < n; k++) {
        if (u[k] == ':') {
            colon = k;
            break;
        }
        if (!is_alpha(u[k]) && !is_digit(u[k]) && u[k] != '+' && u[k] != '-' && u[k] != '.')
            return 0;
    }
    if (colon < 0 || colon + 1 >= n)
        return 0;
    for (k = colon + 1; k < n; k++) {
        char c = u[k];

        if (c == '%') {
            if (k + 2 >= n || !is_hex(u[k + 1]) || !is_hex(u[k + 2]))
                return 0;
            k += 2;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && !strchr("-._~:/?#[]@$&'()*+;=", c))
            return 0;
    }
    if (colon == 6 && strncasecmp(u, "mailto", 6) == 0) {
        const char *at = memchr(u + 7, '@', (size_t) (n - 7));

        if (!at || at == u + 7 || at + 1 >= u + n || at[1] == '?')
            return 0;
    }
    return 1;
}

/* rua: a comma-separated list; 1 if at least one URI is valid. */
static int urilist_has_valid(const char *v, ssize_t n)
{
    ssize_t b = 0;

    while (b <= n) {
        const char *comma = memchr(v + b, ',', (size_t) (n - b));
        ssize_t e = comma ? comma - v : n, s = b, t = e;

        while (s < t && is_wsp(v[s]))
            s++;
        while (t > s && is_wsp(v[t - 1]))
            t--;
        if (t > s && uri_valid(v + s, t - s))
            return 1;
        b = e + 1;
    }
    return 0;
}

enum { TAG_P, TAG_SP, TAG_NP, TAG_ADKIM, TAG_ASPF, TAG_T, TAG_PSD, TAG_PCT, TAG_RUA, TAG_OTHER };

/* Which known tag a name is (case-insensitive); TAG_OTHER for the rest. */
static int tag_index(const char *name, ssize_t n)
{
    static const char *const names[] = { "p", "sp", "np", "adkim", "aspf", "t", "psd", "pct", "rua" };

    for (size_t k = 0; k < NELEM(names); k++)
        if ((size_t) n == strlen(names[k]) && strncasecmp(name, names[k], (size_t) n) == 0)
            return (int) k;
    return TAG_OTHER;
}

/*
 * Parse the tags of a DMARC record (the "v=DMARC1" already checked; tags
 * start at s[start], which is ';' or the end). Unknown tags, syntax
 * errors, repeated tags and bad values of optional tags are ignored.
 */
static void record_parse(const char *s, ssize_t len, ssize_t start, enum dmarc_spec spec,
                         struct record *r)
{
    unsigned seen = 0;
    int ntags = 0;
    ssize_t i = start;

    memset(r, 0, sizeof(*r));
    r->adkim = r->aspf = 'r';
    r->psd = 'u';
    r->pct = 100;
    if (len > DMARC_MAX_RECORD_LEN) {
        r->too_long = 1;
        return;
    }
    while (i < len) {
        const char *semi, *eq;
        ssize_t b = i + 1, e, nb, ne, vb, ve;
        int tag, vok = 1;
        const char *v;
        ssize_t vn;

        semi = b < len ? memchr(s + b, ';', (size_t) (len - b)) : NULL;
        e = semi ? semi - s : len;
        i = e;
        while (b < e && is_wsp(s[b]))
            b++;
        while (e > b && is_wsp(s[e - 1]))
            e--;
        if (b == e)
            continue;
        if (++ntags > DMARC_MAX_TAGS)
            break;
        eq = memchr(s + b, '=', (size_t) (e - b));
        if (!eq)
            continue;
        nb = b;
        ne = eq - s;
        while (ne > nb && is_wsp(s[ne - 1]))
            ne--;
        vb = (eq - s) + 1;
        while (vb < e && is_wsp(s[vb]))
            vb++;
        ve = e;
        if (ne == nb)
            continue;
        for (ssize_t k = nb; k < ne; k++)
            if (!is_alpha(s[k]))
                goto next;
        tag = tag_index(s + nb, ne - nb);
        if (tag == TAG_OTHER || (seen & (1u << tag)))
            continue;                       /* unknown or repeated: ignored */
        seen |= 1u << tag;
        v = s + vb;
        vn = ve - vb;
        if (vn <= 0)
            vok = 0;
        for (ssize_t k = 0; k < vn; k++)
            if ((unsigned char) v[k] < 0x20 || (unsigned char) v[k] > 0x7e)
                vok = 0;
        switch (tag) {
        case TAG_P:
            r->p = vok ? parse_policy(v, vn) : DMARC_POLICY_UNSET;
            r->p_bad = r->p == DMARC_POLICY_UNSET;
            break;
        case TAG_SP:
            r->sp = vok ? parse_policy(v, vn) : DMARC_POLICY_UNSET;
            r->sp_bad = r->sp == DMARC_POLICY_UNSET;
            break;
        case TAG_NP:
            if (spec != DMARC_SPEC_RFC9989)
                break;                      /* not an RFC 7489 tag */
            r->np = vok ? parse_policy(v, vn) : DMARC_POLICY_UNSET;
            r->np_bad = r->np == DMARC_POLICY_UNSET;
            break;
        case TAG_ADKIM:
        case TAG_ASPF:
            if (vok && vn == 1 && strchr("rRsS", v[0])) {
                char m = (char) ascii_tolower((unsigned char) v[0]);

                if (tag == TAG_ADKIM)
                    r->adkim = m;
                else
                    r->aspf = m;
            }
            break;
        case TAG_T:
            if (spec == DMARC_SPEC_RFC9989 && vok && vn == 1 && strchr("yYnN", v[0]))
                r->t = ascii_tolower((unsigned char) v[0]) == 'y';
            break;
        case TAG_PSD:
            if (spec == DMARC_SPEC_RFC9989 && vok && vn == 1 && strchr("yYnNuU", v[0]))
                r->psd = (char) ascii_tolower((unsigned char) v[0]);
            break;
        case TAG_PCT:
            /* RFC 9989 removed pct: ignored there. */
            if (spec == DMARC_SPEC_RFC7489 && vok && vn >= 1 && vn <= 3) {
                int val = 0, ok = 1;

                for (ssize_t k = 0; k < vn; k++) {
                    if (!is_digit(v[k]))
                        ok = 0;
                    else
                        val = val * 10 + (v[k] - '0');
                }
                if (ok && val <= 100)
                    r->pct = val;
            }
            break;
        case TAG_RUA:
            r->rua_valid = vok && urilist_has_valid(v, vn);
            break;
        default:
            break;
        }
next:
        ;
    }
}

/* --------------------------------------------------------------- lookups */

enum lk_state { LK_PENDING, LK_NONE, LK_RECORD, LK_TEMPFAIL, LK_ERROR };

/* One _dmarc.<domain> TXT lookup, shared by every walk of a message. */
struct lookup {
    char *domain;
    struct dns_query *q;
    enum lk_state state;
    int multiple;              /* several DMARC records: all discarded */
    struct record rec;
    char *raw;                 /* the record, when state is LK_RECORD */
    ssize_t raw_len;
    const char *why;           /* static text for TEMPFAIL / ERROR */
    struct lookup *next;
};

struct dmarc_eval {
    const struct dmarc_engine *e;
    struct dns_resolver *r;
    enum dmarc_from_problem from_problem;
    str from_reason;
    int n_authors;
    char *authors[DMARC_MAX_AUTHOR_DOMAINS];
    struct lookup *lookups;
    int n_lookups;
    int limit_hit;
    int64_t deadline;
    int finished;
};

/* Find or start the lookup of _dmarc.<domain>; NULL past max_lookups. */
static struct lookup *lookup_get(struct dmarc_eval *ev, const char *domain)
{
    struct lookup *lk, **tail;
    str name = STR_INIT;

    for (tail = &ev->lookups; (lk = *tail); tail = &lk->next)
        if (ascii_casecmp(lk->domain, domain) == 0)
            return lk;
    if (ev->n_lookups >= ev->e->o.max_lookups) {
        ev->limit_hit = 1;
        return NULL;
    }
    lk = mem_zalloc(sizeof(*lk));
    lk->domain = mem_strdup(domain);
    str_addf(&name, "_dmarc.%s", domain);
    if (!dns_name_valid(name.data)) {
        lk->state = LK_NONE;             /* such a name cannot hold a record */
        lk->why = "name too long";
    } else {
        lk->q = dns_start(ev->r, name.data, DNS_T_TXT);
        ev->n_lookups++;
    }
    str_free(&name);
    *tail = lk;
    return lk;
}

/* Wait for a lookup and classify its answer. */
static void lookup_wait(struct dmarc_eval *ev, struct lookup *lk)
{
    const struct dns_answer *a;
    int found = 0, idx = -1;
    ssize_t after = 0;

    if (lk->state != LK_PENDING)
        return;
    a = dns_wait(lk->q, ev->deadline);
    switch (a->status) {
    case DNS_ANSWER:
        for (int k = 0; k < a->count; k++) {
            ssize_t aft;

            if (a->rr[k].type == DNS_T_TXT && record_is_dmarc(a->rr[k].u.txt.data, a->rr[k].u.txt.len, &aft)) {
                found++;
                idx = k;
                after = aft;
            }
        }
        if (found == 1) {
            const struct dns_rr *rr = &a->rr[idx];

            lk->state = LK_RECORD;
            lk->raw = mem_alloc(rr->u.txt.len + 1);
            memcpy(lk->raw, rr->u.txt.data, (size_t) rr->u.txt.len + 1);
            lk->raw_len = rr->u.txt.len;
            record_parse(lk->raw, lk->raw_len, after, ev->e->o.spec, &lk->rec);
        } else {
            lk->state = LK_NONE;
            lk->multiple = found > 1;
        }
        break;
    case DNS_NXDOMAIN:
    case DNS_NODATA:
        lk->state = LK_NONE;
        break;
    case DNS_TEMPFAIL:
        lk->state = LK_TEMPFAIL;
        lk->why = a->timed_out ? "timeout" : a->why ? a->why : "temporary failure";
        break;
    default:
        lk->state = LK_ERROR;
        lk->why = a->why ? a->why : "unusable answer";
        break;
    }
    log_debug("dmarc: _dmarc.%s TXT: %s%s", lk->domain, dns_status_name(a->status),
              lk->multiple ? " (several DMARC records, discarded)" :
              lk->state == LK_RECORD ? " (record)" : "");
    dns_query_free(lk->q);
    lk->q = NULL;
}

/* ------------------------------------------------------------ tree walk */

/* The names of a DNS Tree Walk from domain (RFC 9989 4.10): at most 8. */
static int walk_names(const char *domain, const char *names[DMARC_WALK_MAX_QUERIES])
{
    int x = label_count(domain), n = 0;

    names[n++] = domain;
    for (int m = x - 1 < DMARC_WALK_MAX_QUERIES - 1 ? x - 1 : DMARC_WALK_MAX_QUERIES - 1; m >= 1; m--)
        names[n++] = suffix_labels(domain, m);
    return n;
}

struct walk {
    const char *start;
    int n;
    const char *names[DMARC_WALK_MAX_QUERIES];
    struct lookup *lk[DMARC_WALK_MAX_QUERIES];
    int found[DMARC_WALK_MAX_QUERIES];
    int n_found;
    int stopped;               /* ended on a psd=y/n record (RFC 9989) */
    int done;                  /* walked to the end or to a stop */
    enum dmarc_status error;   /* DMARC_NONE, or TEMPERROR / PERMERROR */
    const char *why;
    const char *why_name;
    const char *org;           /* points into start */
};

/* Start the lookups of a walk (all of them when prefetching). */
static void walk_init(struct dmarc_eval *ev, struct walk *w, const char *start)
{
    memset(w, 0, sizeof(*w));
    w->start = start;
    w->n = walk_names(start, w->names);
    for (int k = 0; k < w->n && (k == 0 || ev->e->o.prefetch); k++)
        lookup_get(ev, w->names[k]);
}

/*
 * Run a walk; with full unset it stops after a record at the start. Sets
 * w->error on a DNS error or the lookup limit, else w->org.
 */
static void walk_run(struct dmarc_eval *ev, struct walk *w, int full)
{
    int last;

    for (int k = 0; k < w->n; k++) {
        struct lookup *lk = lookup_get(ev, w->names[k]);

        if (!lk) {
            w->error = DMARC_PERMERROR;
            w->why = "too many DMARC lookups for one message";
            w->why_name = w->names[k];
            return;
        }
        w->lk[k] = lk;
        lookup_wait(ev, lk);
        if (lk->state == LK_TEMPFAIL || lk->state == LK_ERROR) {
            w->error = lk->state == LK_TEMPFAIL ? DMARC_TEMPERROR : DMARC_PERMERROR;
            w->why = lk->why;
            w->why_name = w->names[k];
            return;
        }
        if (lk->state != LK_RECORD)
            continue;
        w->found[w->n_found++] = k;
        if (ev->e->o.spec == DMARC_SPEC_RFC9989 && (lk->rec.psd == 'y' || lk->rec.psd == 'n')) {
            w->stopped = 1;
            break;
        }
        if (k == 0 && !full)
            return;                        /* org domain not needed */
    }
    w->done = 1;
    /* Organizational Domain selection (RFC 9989 4.10.2). */
    if (w->n_found == 0) {
        w->org = w->start;
        return;
    }
    last = w->found[w->n_found - 1];
    if (w->stopped && w->lk[last]->rec.psd == 'y' && last != 0)
        w->org = suffix_labels(w->start, label_count(w->names[last]) + 1);
    else
        w->org = w->names[last];
}

/* --------------------------------------------------------------- results */

/* A fresh result. */
void dmarc_result_init(struct dmarc_result *res)
{
    memset(res, 0, sizeof(*res));
    str_init(&res->reason);
    res->pct = -1;
    res->adkim = res->aspf = 'r';
    res->author_exists = -1;
}

/* Free a result's strings; it is empty and reusable afterwards. */
void dmarc_result_free(struct dmarc_result *res)
{
    str_free(&res->reason);
    str_free(&res->header_from);
    str_free(&res->policy_domain);
    str_free(&res->org_domain);
    str_free(&res->record);
    str_free(&res->spf_domain);
    for (int k = 0; k < res->n_dkim; k++) {
        mem_free(res->dkim[k].domain);
        mem_free(res->dkim[k].selector);
    }
    mem_free(res->dkim);
    dmarc_result_init(res);
}

/* Append to the reason, bounded. */
static void reason_add(struct dmarc_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason_add(struct dmarc_result *res, const char *fmt, ...)
{
    va_list ap;

    if (res->reason.len >= DMARC_MAX_REASON)
        return;
    if (res->reason.len > 0)
        str_adds(&res->reason, "; ");
    va_start(ap, fmt);
    str_addvf(&res->reason, fmt, ap);
    va_end(ap);
    if (res->reason.len > DMARC_MAX_REASON) {
        str_truncate(&res->reason, DMARC_MAX_REASON);
        str_adds(&res->reason, "...");
    }
}

static enum dmarc_policy policy_lower(enum dmarc_policy p)
{
    return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE
         : p == DMARC_POLICY_QUARANTINE ? DMARC_POLICY_NONE : p;
}

/* A number in [0, 100) from the configured random source. */
static int random_percent(const struct dmarc_engine *e)
{
    uint32_t v;

    if (e->o.random)
        v = e->o.random(e->o.random_arg);
    else if (getrandom(&v, sizeof(v), 0) != (ssize_t) sizeof(v))
        v = (uint32_t) clock_now_ms();
    return (int) (v % 100);
}

/* ------------------------------------------------------------ evaluation */

enum align { AL_NO, AL_YES, AL_TEMP, AL_PERM };

/* What one Author Domain's evaluation knows. */
struct author_ctx {
    const char *author;
    struct walk walk;            /* RFC 9989: the author's tree walk */
    str org;                     /* Organizational Domain of the author */
    int org_known;
    enum dmarc_status org_error; /* why it is not known: TEMPERROR / PERMERROR */
    const char *org_why;
};

/*
 * Is identifier x (normalised) aligned with the author under mode 's' or
 * 'r'? AL_TEMP / AL_PERM when a needed walk failed.
 */
static enum align aligned(struct dmarc_eval *ev, struct author_ctx *ac, const char *x, char mode,
                          const char **why)
{
    struct walk w;

    if (ascii_casecmp(x, ac->author) == 0)
        return AL_YES;
    if (mode == 's')
        return AL_NO;
    if (ev->e->o.spec == DMARC_SPEC_RFC7489) {
        str ox = STR_INIT;
        enum align al;

        psl_org(x, &ox);
        al = ascii_casecmp(ox.data, ac->org.data) == 0 ? AL_YES : AL_NO;
        str_free(&ox);
        return al;
    }
    if (!ac->org_known) {
        *why = ac->org_why ? ac->org_why : "Organizational Domain of the Author Domain unknown";
        return ac->org_error == DMARC_PERMERROR ? AL_PERM : AL_TEMP;
    }
    /* org(x) is a suffix of x: if org(author) is not, they cannot be equal. */
    if (!is_label_suffix(ac->org.data, x))
        return AL_NO;
    walk_init(ev, &w, x);
    walk_run(ev, &w, 1);
    if (w.error != DMARC_NONE) {
        *why = w.why;
        return w.error == DMARC_TEMPERROR ? AL_TEMP : AL_PERM;
    }
    return ascii_casecmp(w.org, ac->org.data) == 0 ? AL_YES : AL_NO;
}

/* Does the author domain exist (RFC 9989 3.2.13, A.4)? 1, 0, or -1 unknown. */
static int author_exists(struct dmarc_eval *ev, const char *domain)
{
    static const uint16_t types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX };
    struct dns_query *q[NELEM(types)];
    int nx = 0, exists = 0;

    for (size_t k = 0; k < NELEM(types); k++)
        q[k] = dns_start(ev->r, domain, types[k]);
    dns_wait_all(q, (int) NELEM(types), ev->deadline);
    for (size_t k = 0; k < NELEM(types); k++) {
        const struct dns_answer *a = dns_wait(q[k], ev->deadline);

        if (a->status == DNS_ANSWER || a->status == DNS_NODATA)
            exists = 1;
        else if (a->status == DNS_NXDOMAIN)
            nx++;
        dns_query_free(q[k]);
    }
    if (exists)
        return 1;
    return nx == (int) NELEM(types) ? 0 : -1;
}

/* Copy the SPF/DKIM inputs into the result and compute alignment. */
static void check_alignment(struct dmarc_eval *ev, struct author_ctx *ac, const struct dmarc_auth *auth,
                            struct dmarc_result *res, int *temp, int *perm)
{
    const struct dmarc_spf_input *spf = NULL;
    str norm = STR_INIT;
    const char *why = NULL;
    int ndk;

    if (auth) {
        if (auth->mailfrom.domain && *auth->mailfrom.domain) {
            spf = &auth->mailfrom;
        } else if (auth->helo.domain && *auth->helo.domain) {
            spf = &auth->helo;
            res->spf_helo = 1;
        }
    }
    if (spf) {
        str_set(&res->spf_domain, spf->domain);
        res->spf_result = spf->result;
        if ((spf->result == DMARC_SPF_PASS || spf->result == DMARC_SPF_TEMPERROR)
            && domain_normalize(spf->domain, &norm) == 0) {
            enum align al = aligned(ev, ac, norm.data, res->aspf, &why);

            if (al == AL_YES && spf->result == DMARC_SPF_PASS)
                res->spf_aligned = 1;
            else if (al == AL_YES || al == AL_TEMP)
                *temp = 1;
            else if (al == AL_PERM)
                *perm = 1;
        }
    }
    ndk = auth && auth->dkim ? auth->n_dkim : 0;
    if (ndk > ev->e->o.max_dkim_signatures) {
        reason_add(res, "only the first %d of %d DKIM signatures looked at", ev->e->o.max_dkim_signatures, ndk);
        ndk = ev->e->o.max_dkim_signatures;
    }
    if (ndk > 0)
        res->dkim = mem_zalloc((ssize_t) sizeof(*res->dkim) * ndk);
    for (int k = 0; k < ndk; k++) {
        const struct dmarc_dkim_input *in = &auth->dkim[k];
        struct dmarc_dkim_report *rep = &res->dkim[res->n_dkim++];

        rep->domain = mem_strdup(in->domain ? in->domain : "");
        rep->selector = mem_strdup(in->selector ? in->selector : "");
        rep->result = in->result;
        if ((in->result == DMARC_DKIM_PASS || in->result == DMARC_DKIM_TEMPERROR)
            && domain_normalize(in->domain, &norm) == 0) {
            enum align al = aligned(ev, ac, norm.data, res->adkim, &why);

            if (al == AL_YES && in->result == DMARC_DKIM_PASS) {
                rep->aligned = 1;
                res->dkim_aligned = 1;
            } else if (al == AL_YES || al == AL_TEMP) {
                *temp = 1;
            } else if (al == AL_PERM) {
                *perm = 1;
            }
        }
    }
    if ((*temp || *perm) && why)
        reason_add(res, "alignment: %s", why);
    str_free(&norm);
}

/* Use the record of a lookup as the policy record. */
static void take_record(struct dmarc_result *res, const struct lookup *lk)
{
    str_set(&res->policy_domain, lk->domain);
    str_reset(&res->record);
    str_add(&res->record, lk->raw, lk->raw_len);
}

/* Evaluate one Author Domain (normalised) into res. */
static void evaluate_domain(struct dmarc_eval *ev, const char *author, const struct dmarc_auth *auth,
                            struct dmarc_result *res)
{
    const struct dmarc_engine *e = ev->e;
    int rfc9989 = e->o.spec == DMARC_SPEC_RFC9989;
    struct author_ctx ac;
    const struct lookup *pol = NULL;
    const struct record *rec;
    struct record eff;
    int at_author = 0, temp = 0, perm = 0, need_full = 0;

    memset(&ac, 0, sizeof(ac));
    ac.author = author;
    str_set(&res->header_from, author);

    /* 1. Policy discovery. */
    if (rfc9989) {
        /* The full walk is needed for relaxed alignment of other names. */
        need_full = e->o.prefetch;
        if (auth && auth->mailfrom.domain && *auth->mailfrom.domain
            && ascii_casecmp(auth->mailfrom.domain, author) != 0)
            need_full = 1;
        if (auth && (!auth->mailfrom.domain || !*auth->mailfrom.domain) && auth->helo.domain
            && ascii_casecmp(auth->helo.domain, author) != 0)
            need_full = 1;
        for (int k = 0; auth && auth->dkim && k < auth->n_dkim; k++)
            if (auth->dkim[k].domain && ascii_casecmp(auth->dkim[k].domain, author) != 0)
                need_full = 1;
        walk_init(ev, &ac.walk, author);
        walk_run(ev, &ac.walk, need_full);
        if (ac.walk.error != DMARC_NONE && ac.walk.n_found > 0 && ac.walk.found[0] == 0) {
            /* The policy is the author's own record; only the org domain is unknown. */
            ac.org_error = ac.walk.error;
            ac.org_why = ac.walk.why;
            reason_add(res, "Organizational Domain unknown: _dmarc.%s: %s", ac.walk.why_name, ac.walk.why);
        } else if (ac.walk.error != DMARC_NONE) {
            res->status = ac.walk.error;
            reason_add(res, "_dmarc.%s: %s", ac.walk.why_name, ac.walk.why);
            goto out;
        }
        /* Not done: stopped at the author's record, no other name to align. */
        if (ac.walk.done) {
            ac.org_known = 1;
            str_set(&ac.org, ac.walk.org);
        }
        if (ac.walk.n_found > 0 && ac.walk.found[0] == 0) {
            pol = ac.walk.lk[0];
            at_author = 1;
        } else if (ac.walk.n_found > 0) {
            int last = ac.walk.found[ac.walk.n_found - 1];

            pol = ac.walk.lk[last];           /* the org domain's, or the PSD's */
            for (int k = 0; k < ac.walk.n_found; k++)
                if (ascii_casecmp(ac.walk.names[ac.walk.found[k]], ac.org.data) == 0)
                    pol = ac.walk.lk[ac.walk.found[k]];
        }
        if (ac.walk.lk[0] && ac.walk.lk[0]->multiple)
            reason_add(res, "several DMARC records at _dmarc.%s: discarded", author);
    } else {
        struct lookup *lk = lookup_get(ev, author);

        psl_org(author, &ac.org);
        ac.org_known = 1;
        lookup_wait(ev, lk);
        if (lk->state == LK_RECORD) {
            pol = lk;
            at_author = 1;
        } else if (lk->state == LK_NONE && ascii_casecmp(ac.org.data, author) != 0) {
            if (lk->multiple)
                reason_add(res, "several DMARC records at _dmarc.%s: discarded", author);
            lk = lookup_get(ev, ac.org.data);
            lookup_wait(ev, lk);
        }
        if (lk->state == LK_TEMPFAIL || lk->state == LK_ERROR) {
            res->status = lk->state == LK_TEMPFAIL ? DMARC_TEMPERROR : DMARC_PERMERROR;
            reason_add(res, "_dmarc.%s: %s", lk->domain, lk->why);
            goto out;
        }
        if (lk->state == LK_RECORD)
            pol = lk;
        else if (lk->multiple)
            reason_add(res, "several DMARC records at _dmarc.%s: discarded", lk->domain);
    }
    str_set(&res->org_domain, ac.org.data ? ac.org.data : "");
    if (!pol) {
        res->status = DMARC_NONE;
        reason_add(res, "no DMARC policy record for %s", author);
        goto out;
    }
    take_record(res, pol);

    /* 2. Record validity. */
    rec = &pol->rec;
    if (rec->too_long) {
        res->status = DMARC_PERMERROR;
        reason_add(res, "record at _dmarc.%s longer than %d bytes", pol->domain, DMARC_MAX_RECORD_LEN);
        goto out;
    }
    eff = *rec;
    if (rec->p_bad || rec->sp_bad || rec->np_bad || (!rfc9989 && rec->p == DMARC_POLICY_UNSET)) {
        const char *what = rec->p_bad || rec->p == DMARC_POLICY_UNSET ? "p" : rec->sp_bad ? "sp" : "np";

        if (!rec->rua_valid) {
            res->status = DMARC_PERMERROR;
            reason_add(res, "record at _dmarc.%s: %s %s= and no valid rua=; DMARC not applied",
                       pol->domain, rec->p == DMARC_POLICY_UNSET && !rec->p_bad ? "no" : "invalid", what);
            goto out;
        }
        reason_add(res, "record at _dmarc.%s: %s %s=, valid rua=: treated as p=none",
                   pol->domain, rec->p == DMARC_POLICY_UNSET && !rec->p_bad ? "no" : "invalid", what);
        eff.p = DMARC_POLICY_NONE;
        eff.sp = eff.np = DMARC_POLICY_UNSET;
    }
    if (eff.p == DMARC_POLICY_UNSET)
        eff.p = DMARC_POLICY_NONE;          /* RFC 9989 4.7: no p is p=none */
    res->p = eff.p;
    res->sp = eff.sp;
    res->np = eff.np;
    res->adkim = eff.adkim;
    res->aspf = eff.aspf;
    res->testing = eff.t;
    res->pct = rfc9989 ? -1 : eff.pct;

    /* 3. Alignment. */
    check_alignment(ev, &ac, auth, res, &temp, &perm);

    /* 4. The policy that applies. */
    if (at_author) {
        res->policy = eff.p;
        res->policy_tag = DMARC_TAG_P;
    } else if (eff.sp != DMARC_POLICY_UNSET) {
        res->policy = eff.sp;
        res->policy_tag = DMARC_TAG_SP;
    } else {
        res->policy = eff.p;
        res->policy_tag = DMARC_TAG_P;
    }
    res->effective = eff.t && rfc9989 ? policy_lower(res->policy) : res->policy;
    if (res->spf_aligned || res->dkim_aligned) {
        res->status = DMARC_PASS;
        res->disposition = DMARC_POLICY_NONE;
        reason_add(res, "aligned %s%s%s pass", res->spf_aligned ? "SPF" : "",
                   res->spf_aligned && res->dkim_aligned ? " and " : "", res->dkim_aligned ? "DKIM" : "");
        goto out;
    }
    if (temp) {
        res->status = DMARC_TEMPERROR;
        reason_add(res, "no aligned pass, and a temporary error on an identifier that may align");
        goto out;
    }
    if (perm) {
        res->status = DMARC_PERMERROR;
        reason_add(res, "no aligned pass, and alignment could not be evaluated");
        goto out;
    }
    if (!at_author && rfc9989 && eff.np != DMARC_POLICY_UNSET) {
        res->author_exists = author_exists(ev, author);
        if (res->author_exists < 0) {
            res->status = DMARC_TEMPERROR;
            reason_add(res, "cannot tell whether %s exists (np=)", author);
            goto out;
        }
        if (res->author_exists == 0) {
            res->policy = eff.np;
            res->policy_tag = DMARC_TAG_NP;
        }
    }
    res->status = DMARC_FAIL;
    res->disposition = res->policy;
    if (rfc9989 && eff.t) {
        res->disposition = policy_lower(res->policy);
    } else if (!rfc9989 && res->policy != DMARC_POLICY_NONE && eff.pct < 100
               && random_percent(e) >= eff.pct) {
        res->disposition = policy_lower(res->policy);
        res->sampled_out = 1;
    }
    res->effective = res->disposition;
    reason_add(res, "no aligned SPF or DKIM pass; %s=%s from _dmarc.%s%s%s", dmarc_policy_tag_name(res->policy_tag),
               dmarc_policy_name(res->policy), pol->domain, res->testing ? ", t=y" : "",
               res->sampled_out ? ", left out by pct=" : "");
out:
    if (res->org_domain.len == 0 && ac.org.data)
        str_set(&res->org_domain, ac.org.data);
    str_free(&ac.org);
}

/* ------------------------------------------------------------- the API */

/* Record a From problem (the first one wins). */
static void from_problem(struct dmarc_eval *ev, enum dmarc_from_problem p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void from_problem(struct dmarc_eval *ev, enum dmarc_from_problem p, const char *fmt, ...)
{
    va_list ap;

    if (ev->from_problem != DMARC_FROM_OK)
        return;
    ev->from_problem = p;
    va_start(ap, fmt);
    str_addvf(&ev->from_reason, fmt, ap);
    va_end(ap);
}

/* Parse the From fields and start the lookups. */
struct dmarc_eval *dmarc_begin(const struct dmarc_engine *e, struct dns_resolver *r,
                               const char *const *values, const ssize_t *lens, int n_from)
{
    struct dmarc_eval *ev = mem_zalloc(sizeof(*ev));
    struct addr_list l;
    str norm = STR_INIT;
    enum addr_status st;

    ev->e = e;
    ev->r = r;
    str_init(&ev->from_reason);
    addr_list_init(&l);
    if (n_from == 0) {
        from_problem(ev, DMARC_FROM_MISSING, "no From header field");
        return ev;
    }
    if (n_from > 1) {
        from_problem(ev, DMARC_FROM_MULTIPLE_FIELDS, "%d From header fields", n_from);
        return ev;
    }
    st = addr_parse(&l, values[0], lens[0]);
    if (st == ADDR_EMPTY) {
        from_problem(ev, DMARC_FROM_NO_ADDRESS, "From has no address");
    } else if (st != ADDR_OK) {
        from_problem(ev, DMARC_FROM_SYNTAX, "From: %s (%s at byte %zd)", l.error ? l.error : "bad",
                     addr_status_name(st), l.error_pos);
    }
    for (int k = 0; st == ADDR_OK && k < l.n && ev->from_problem == DMARC_FROM_OK; k++) {
        const struct addr *a = &l.a[k];
        int dup = 0;

        if (!a->domain) {
            from_problem(ev, DMARC_FROM_NO_DOMAIN, "From address without a domain");
        } else if (a->literal) {
            from_problem(ev, DMARC_FROM_BAD_DOMAIN, "From domain is a domain literal");
        } else if (domain_normalize(a->domain, &norm) < 0) {
            from_problem(ev, DMARC_FROM_BAD_DOMAIN, "From domain is not a usable DNS name");
        } else {
            for (int j = 0; j < ev->n_authors; j++)
                if (strcmp(ev->authors[j], norm.data) == 0)
                    dup = 1;
            if (dup)
                continue;
            if (ev->n_authors == 1 && !e->o.evaluate_multiple_domains) {
                from_problem(ev, DMARC_FROM_MULTIPLE_DOMAINS, "From has addresses in several domains");
            } else if (ev->n_authors == DMARC_MAX_AUTHOR_DOMAINS) {
                from_problem(ev, DMARC_FROM_MULTIPLE_DOMAINS, "From has more than %d domains",
                             DMARC_MAX_AUTHOR_DOMAINS);
            } else {
                ev->authors[ev->n_authors++] = str_steal(&norm);
            }
        }
    }
    addr_list_free(&l);
    str_free(&norm);
    if (ev->from_problem != DMARC_FROM_OK)
        return ev;
    /* Start the lookups now; the walk reads them in order at finish. */
    for (int k = 0; k < ev->n_authors; k++) {
        if (e->o.spec == DMARC_SPEC_RFC9989) {
            struct walk w;

            walk_init(ev, &w, ev->authors[k]);
        } else {
            str org = STR_INIT;

            lookup_get(ev, ev->authors[k]);
            psl_org(ev->authors[k], &org);
            if (e->o.prefetch && strcmp(org.data, ev->authors[k]) != 0)
                lookup_get(ev, org.data);
            str_free(&org);
        }
    }
    return ev;
}

/* dmarc_begin with the From fields of a header list. */
struct dmarc_eval *dmarc_begin_headers(const struct dmarc_engine *e, struct dns_resolver *r,
                                       const struct msg_headers *hs)
{
    int n = msg_headers_count(hs, "From"), k;
    const char **values = mem_zalloc((ssize_t) sizeof(*values) * (n + 1));
    ssize_t *lens = mem_zalloc((ssize_t) sizeof(*lens) * (n + 1));
    struct dmarc_eval *ev;

    for (k = 0; k < n; k++) {
        const struct msg_header *h = msg_headers_find(hs, "From", k);

        values[k] = h->value;
        lens[k] = h->value_len;
    }
    ev = dmarc_begin(e, r, values, lens, n);
    mem_free(values);
    mem_free(lens);
    return ev;
}

/* Rank of a per-domain result: the message takes the highest. */
static int result_rank(const struct dmarc_result *r)
{
    switch (r->status) {
    case DMARC_FAIL:
        return r->disposition == DMARC_POLICY_REJECT ? 7 : r->disposition == DMARC_POLICY_QUARANTINE ? 6 : 4;
    case DMARC_TEMPERROR: return 5;
    case DMARC_PERMERROR: return 3;
    case DMARC_NONE: return 2;
    default: return 1;
    }
}

/* Finish the evaluation with the SPF and DKIM results. */
enum dmarc_status dmarc_finish(struct dmarc_eval *ev, const struct dmarc_auth *auth, struct dmarc_result *res)
{
    if (ev->finished)
        log_panic("dmarc_finish called twice");
    ev->finished = 1;
    ev->deadline = clock_now_ms() + ev->e->o.timeout_ms;
    if (ev->from_problem != DMARC_FROM_OK) {
        res->status = DMARC_BAD_FROM;
        res->from_problem = ev->from_problem;
        str_add_escaped(&res->reason, ev->from_reason.data, ev->from_reason.len, DMARC_MAX_REASON);
        res->author_domains = ev->n_authors;
        return res->status;
    }
    evaluate_domain(ev, ev->authors[0], auth, res);
    for (int k = 1; k < ev->n_authors; k++) {
        struct dmarc_result other;

        dmarc_result_init(&other);
        evaluate_domain(ev, ev->authors[k], auth, &other);
        if (result_rank(&other) > result_rank(res)) {
            struct dmarc_result tmp = *res;

            *res = other;
            other = tmp;
        }
        dmarc_result_free(&other);
    }
    if (ev->n_authors > 1)
        reason_add(res, "%d Author Domains evaluated; the strictest result is shown", ev->n_authors);
    res->author_domains = ev->n_authors;
    res->lookups = ev->n_lookups;
    return res->status;
}

/* Release an evaluation. */
void dmarc_eval_free(struct dmarc_eval *ev)
{
    struct lookup *lk, *next;

    if (!ev)
        return;
    for (lk = ev->lookups; lk; lk = next) {
        next = lk->next;
        dns_query_free(lk->q);
        mem_free(lk->domain);
        mem_free(lk->raw);
        mem_free(lk);
    }
    for (int k = 0; k < ev->n_authors; k++)
        mem_free(ev->authors[k]);
    str_free(&ev->from_reason);
    mem_free(ev);
}

/* ------------------------------------------------- aggregate-report lines */

/*
 * Aggregate-report lines, format version 1.
 *
 * One line per message, no trailing newline, fields separated by one
 * space, each "key=value", always all keys in this order:
 *
 *   v=1                   format version
 *   time=<unix seconds>   message arrival
 *   ip=<client address>   as given by the caller
 *   from=<domain>         header.from (Author Domain), "-" for a bad From
 *   result=<status>       pass fail none temperror permerror bad_from
 *   policy_domain=<d>     where the applied record was found
 *   org=<d>               Organizational Domain of the Author Domain
 *   p= sp= np=            as published: none quarantine reject, "-" absent
 *   adkim=r|s aspf=r|s
 *   t=y|n                 RFC 9989 test mode
 *   pct=<0..100>|-        RFC 7489 only
 *   policy=<p>            the policy applying to the Author Domain
 *   policy_tag=p|sp|np|-  which tag it came from
 *   disposition=<p>       what the record asks for this message (after t, pct)
 *   sampled_out=y|n       RFC 7489 pct sampling lowered it
 *   spf=<d>/<result>/<mfrom|helo>|-   the SPF identity DMARC used
 *   spf_aligned=y|n
 *   dkim=<d>/<s>/<result>/<y|n>[,...]|-   every signature looked at, y = aligned pass
 *   dkim_aligned=y|n
 *   reason=<text>
 *
 * Every value is encoded: bytes other than letters, digits, '.', '-' and
 * '_' become %XX (upper-case hex), so values never hold a space, '=', ','
 * or '/'; an empty value is "-" ("-" itself is never produced by the
 * encoding of a non-empty string other than "-"). Keys may be added at
 * the end in later versions; existing keys keep their meaning.
 */

/* Append a value encoded as above. */
static void report_value(str *out, const char *v, ssize_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    if (!v || len <= 0) {
        str_addc(out, '-');
        return;
    }
    for (ssize_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char) v[k];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
            || c == '.' || c == '-' || c == '_') {
            str_addc(out, (char) c);
        } else {
            str_addc(out, '%');
            str_addc(out, hex[c >> 4]);
            str_addc(out, hex[c & 15]);
        }
    }
}

static void report_field(str *out, const char *key, const char *v, ssize_t len)
{
    str_addc(out, ' ');
    str_adds(out, key);
    str_addc(out, '=');
    report_value(out, v, len);
}

static void report_cfield(str *out, const char *key, const char *v)
{
    report_field(out, key, v, v ? (ssize_t) strlen(v) : 0);
}

/* Append one aggregate-report line. */
void dmarc_report_line(const struct dmarc_result *res, time_t when, const char *client_ip, str *out)
{
    char num[32];

    str_adds(out, "v=1");
    snprintf(num, sizeof(num), "%lld", (long long) when);
    report_cfield(out, "time", num);
    report_cfield(out, "ip", client_ip);
    report_field(out, "from", res->header_from.data, res->header_from.len);
    report_cfield(out, "result", dmarc_status_name(res->status));
    report_field(out, "policy_domain", res->policy_domain.data, res->policy_domain.len);
    report_field(out, "org", res->org_domain.data, res->org_domain.len);
    report_cfield(out, "p", dmarc_policy_name(res->p));
    report_cfield(out, "sp", dmarc_policy_name(res->sp));
    report_cfield(out, "np", dmarc_policy_name(res->np));
    report_cfield(out, "adkim", res->adkim == 's' ? "s" : "r");
    report_cfield(out, "aspf", res->aspf == 's' ? "s" : "r");
    report_cfield(out, "t", res->testing ? "y" : "n");
    if (res->pct >= 0)
        snprintf(num, sizeof(num), "%d", res->pct);
    report_cfield(out, "pct", res->pct >= 0 ? num : NULL);
    report_cfield(out, "policy", dmarc_policy_name(res->policy));
    report_cfield(out, "policy_tag", dmarc_policy_tag_name(res->policy_tag));
    report_cfield(out, "disposition", dmarc_policy_name(res->disposition == DMARC_POLICY_UNSET
                                                        ? DMARC_POLICY_NONE : res->disposition));
    report_cfield(out, "sampled_out", res->sampled_out ? "y" : "n");
    str_adds(out, " spf=");
    if (res->spf_domain.len > 0) {
        report_value(out, res->spf_domain.data, res->spf_domain.len);
        str_addc(out, '/');
        str_adds(out, dmarc_spf_result_name(res->spf_result));
        str_adds(out, res->spf_helo ? "/helo" : "/mfrom");
    } else {
        str_addc(out, '-');
    }
    report_cfield(out, "spf_aligned", res->spf_aligned ? "y" : "n");
    str_adds(out, " dkim=");
    if (res->n_dkim == 0)
        str_addc(out, '-');
    for (int k = 0; k < res->n_dkim; k++) {
        const struct dmarc_dkim_report *d = &res->dkim[k];

        if (k > 0)
            str_addc(out, ',');
        report_value(out, d->domain, (ssize_t) strlen(d->domain));
        str_addc(out, '/');
        report_value(out, d->selector, (ssize_t) strlen(d->selector));
        str_addc(out, '/');
        str_adds(out, dmarc_dkim_result_name(d->result));
        str_adds(out, d->aligned ? "/y" : "/n");
    }
    report_cfield(out, "dkim_aligned", res->dkim_aligned ? "y" : "n");
    report_field(out, "reason", res->reason.data, res->reason.len);
}
