/*
 * spf.c - SPF checks (RFC 7208): requests, results, the engine choice,
 * rampart's own evaluator on lib/dns, and the Received-SPF value.
 *
 * spf_check_mailfrom() and spf_check_helo() normalise the request (an
 * IPv4-mapped IPv6 client is IPv4; the null sender is postmaster@HELO; an
 * empty local part is postmaster), apply RFC 7208 4.3 to <domain> and hand
 * the evaluation to the configured engine. They always fill the result,
 * which the caller frees with spf_result_free(). DNS failures and the
 * deadline give temperror, bad records and exceeded limits give permerror;
 * nothing here picks an action.
 *
 * The evaluator is check_host() of RFC 7208 sections 4 to 6. A record is
 * parsed whole before anything is evaluated (a syntax error anywhere is a
 * permerror), then its terms run left to right. include and redirect
 * recurse, bounded by the DNS-term limit (spf_max_dns_mechanisms) and by
 * SPF_MAX_DEPTH whatever that limit says. The address lookups of one mx
 * or ptr term are started together and collected in order, so a term
 * costs about one round trip. Every lookup shares one deadline for the
 * whole check (spf_timeout / spf_options.deadline_ms). The explanation of
 * a fail is fetched only for the record that failed on the top-level
 * chain (includes never explain), expanded, and cut to printable ASCII.
 *
 * Query names are written in presentation form (spf_name_escape), so a
 * macro that puts a space or 8-bit bytes into a name asks for that name
 * instead of failing (see the XXX at spf_name_escape in spf.h).
 *
 * Config: the spf_* parameters of spf.h, passed in struct spf_options.
 * Logs: debug lines only (lookups and why a check erred), escaped.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "spf.h"
#include "util.h"

#define SPF_VALUE_MAX 256     /* bytes of one value in results and Received-SPF */
#define SPF_COMMENT_MAX 128   /* bytes of the receiver name in the Received-SPF comment */
#define SPF_FOLD_COLUMN 78
#define SPF_MAX_RECORD 4096   /* bytes of one SPF record (lib/dns joins TXT up to this too) */    /* Received-SPF folds before a pair that would pass it */

/* ---------------------------------------------------------------- records */

enum spf_mech_type {
    SPF_MECH_ALL,
    SPF_MECH_INCLUDE,
    SPF_MECH_A,
    SPF_MECH_MX,
    SPF_MECH_PTR,
    SPF_MECH_IP4,
    SPF_MECH_IP6,
    SPF_MECH_EXISTS,
};

static const struct {
    const char *name;
    enum spf_mech_type type;
} spf_mechs[] = {
    { "all", SPF_MECH_ALL },
    { "include", SPF_MECH_INCLUDE },
    { "a", SPF_MECH_A },
    { "mx", SPF_MECH_MX },
    { "ptr", SPF_MECH_PTR },
    { "ip4", SPF_MECH_IP4 },
    { "ip6", SPF_MECH_IP6 },
    { "exists", SPF_MECH_EXISTS },
};

/* One directive. Pointers point into the record's text. */
struct spf_term {
    enum spf_mech_type type;
    enum spf_status qualifier;    /* the result when it matches */
    const char *text;             /* the term as written */
    ssize_t text_len;
    const char *spec;             /* domain-spec, or NULL: the current domain */
    ssize_t spec_len;
    int cidr4, cidr6;             /* prefix lengths */
    unsigned char net[16];        /* ip4 / ip6 network */
};

/* A parsed record. */
struct spf_record {
    char *text;                   /* owned copy of the TXT record */
    ssize_t len;
    struct spf_term *terms;
    int nterms;
    const char *redirect;         /* domain-spec of redirect=, or NULL */
    ssize_t redirect_len;
    const char *exp;              /* domain-spec of exp=, or NULL */
    ssize_t exp_len;
    int has_all;
};

/* True for a record that selects itself: "v=spf1" then a space or the end (RFC 7208 4.5). */
static int spf_is_record(const char *s, ssize_t len)
{
    static const char v[] = "v=spf1";

    if (len < 6)
        return 0;
    for (int i = 0; i < 6; i++)
        if (ascii_tolower((unsigned char) s[i]) != v[i])
            return 0;
    return len == 6 || s[6] == ' ';
}

/* True if a[0..n) equals the lower-case ASCII word w, ignoring case. */
static int spf_word_eq(const char *a, ssize_t n, const char *w)
{
    if ((size_t) n != strlen(w))
        return 0;
    for (ssize_t i = 0; i < n; i++)
        if (ascii_tolower((unsigned char) a[i]) != w[i])
            return 0;
    return 1;
}

/* Free what a record owns. */
static void spf_record_free(struct spf_record *rec)
{
    mem_free(rec->text);
    mem_free(rec->terms);
    memset(rec, 0, sizeof(*rec));
}

/* Append the problem text once (the first cause is the one reported). */
static void spf_problem(str *problem, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void spf_problem(str *problem, const char *fmt, ...)
{
    va_list ap;

    if (problem->len > 0)
        return;
    va_start(ap, fmt);
    str_addvf(problem, fmt, ap);
    va_end(ap);
}

/* A term or domain as a short C string for problem texts (sanitised later). */
static const char *spf_excerpt(str *buf, const char *s, ssize_t len)
{
    str_reset(buf);
    spf_sanitize(buf, s, len, 64);
    return str_cstr(buf);
}

/* Parse a CIDR length of 1 to 3 digits without a leading zero; -1 if malformed or over max. */
static int spf_cidr_value(const char *s, ssize_t len, int max)
{
    int v = 0;

    if (len < 1 || len > 3 || (len > 1 && s[0] == '0'))
        return -1;
    for (ssize_t i = 0; i < len; i++)
        v = v * 10 + (s[i] - '0');
    return v <= max ? v : -1;
}

/*
 * Take a trailing "/digits" off s[0..*len) into *cidr; with dual set,
 * "//digits". 1 if taken, 0 if there is none, -1 if malformed or too long.
 */
static int spf_cidr_suffix(const char *s, ssize_t *len, int dual, int max, int *cidr)
{
    ssize_t j = *len, slashes = dual ? 2 : 1;

    while (j > 0 && s[j - 1] >= '0' && s[j - 1] <= '9')
        j--;
    if (j == *len || j < slashes || s[j - 1] != '/' || (dual && s[j - 2] != '/'))
        return 0;
    if (!dual && j >= 2 && s[j - 2] == '/')
        return 0;             /* that is the dual form: not ours */
    if ((*cidr = spf_cidr_value(s + j, *len - j, max)) < 0)
        return -1;
    *len = j - slashes;
    return 1;
}

/* Parse a dotted quad without leading zeros (RFC 7208 ip4-network). */
static int spf_parse_ip4(const char *s, ssize_t len, unsigned char out[4])
{
    ssize_t i = 0;

    for (int part = 0; part < 4; part++) {
        int v = 0, n = 0;

        if (part > 0) {
            if (i >= len || s[i] != '.')
                return -1;
            i++;
        }
        while (i < len && s[i] >= '0' && s[i] <= '9' && n < 4) {
            v = v * 10 + (s[i++] - '0');
            n++;
        }
        if (n == 0 || n > 3 || v > 255 || (n > 1 && s[i - n] == '0'))
            return -1;
        out[part] = (unsigned char) v;
    }
    return i == len ? 0 : -1;
}

/* Parse an IPv6 address (RFC 4291 2.2 text forms). */
static int spf_parse_ip6(const char *s, ssize_t len, unsigned char out[16])
{
    char buf[64];

    if (len <= 0 || (size_t) len >= sizeof(buf) || memchr(s, '\0', (size_t) len))
        return -1;
    memcpy(buf, s, (size_t) len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

/* True for a character of a modifier name after the first (RFC 7208 name). */
static int spf_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

/* Parse a modifier name=value; 0, or -1 with problem set. */
static int spf_parse_modifier(struct spf_record *rec, const char *t, ssize_t n, ssize_t eq,
                              str *problem)
{
    const char *v = t + eq + 1;
    ssize_t vlen = n - eq - 1;
    const char **slot = NULL;
    ssize_t *slot_len = NULL;
    str ex = STR_INIT;

    if (spf_word_eq(t, eq, "redirect")) {
        slot = &rec->redirect;
        slot_len = &rec->redirect_len;
    } else if (spf_word_eq(t, eq, "exp")) {
        slot = &rec->exp;
        slot_len = &rec->exp_len;
    }
    if (slot == NULL) {
        /* RFC 7208 6: unknown modifiers are ignored, but must be well formed. */
        if (spf_macro_check(v, vlen, 0) == 0)
            return 0;
        spf_problem(problem, "bad modifier '%s'", spf_excerpt(&ex, t, n));
    } else if (*slot != NULL) {
        spf_problem(problem, "modifier given twice: '%s'", spf_excerpt(&ex, t, n));
    } else if (spf_macro_check(v, vlen, SPF_MACRO_DOMAIN) != 0) {
        spf_problem(problem, "bad domain-spec in '%s'", spf_excerpt(&ex, t, n));
    } else {
        *slot = v;
        *slot_len = vlen;
        return 0;
    }
    str_free(&ex);
    return -1;
}

/* Parse the argument part of a mechanism (after its name); 0, or -1. */
static int spf_parse_args(struct spf_term *term, const char *r, ssize_t rlen)
{
    int rc;

    term->cidr4 = 32;
    term->cidr6 = 128;
    switch (term->type) {
    case SPF_MECH_ALL:
        return rlen == 0 ? 0 : -1;
    case SPF_MECH_INCLUDE:
    case SPF_MECH_EXISTS:
    case SPF_MECH_PTR:
        if (rlen == 0)
            return term->type == SPF_MECH_PTR ? 0 : -1;
        break;
    case SPF_MECH_A:
    case SPF_MECH_MX:
        if (spf_cidr_suffix(r, &rlen, 1, 128, &term->cidr6) < 0 ||
            spf_cidr_suffix(r, &rlen, 0, 32, &term->cidr4) < 0)
            return -1;
        if (rlen == 0)
            return 0;
        break;
    case SPF_MECH_IP4:
    case SPF_MECH_IP6:
        if (rlen < 1 || r[0] != ':')
            return -1;
        r++;
        rlen--;
        /* ip4 and ip6 take one CIDR length, never the dual form. */
        if (spf_cidr_suffix(r, &rlen, 1, 128, &rc) != 0)
            return -1;
        if (term->type == SPF_MECH_IP4) {
            if (spf_cidr_suffix(r, &rlen, 0, 32, &term->cidr4) < 0)
                return -1;
            return spf_parse_ip4(r, rlen, term->net);
        }
        if (spf_cidr_suffix(r, &rlen, 0, 128, &term->cidr6) < 0)
            return -1;
        return spf_parse_ip6(r, rlen, term->net);
    }
    /* ":" domain-spec */
    if (rlen < 2 || r[0] != ':' || spf_macro_check(r + 1, rlen - 1, SPF_MACRO_DOMAIN) != 0)
        return -1;
    term->spec = r + 1;
    term->spec_len = rlen - 1;
    return 0;
}

/* Parse one term into rec; 0, or -1 with problem set. */
static int spf_parse_term(struct spf_record *rec, const char *t, ssize_t n, str *problem)
{
    struct spf_term term;
    ssize_t i = 0, name_len;
    str ex = STR_INIT;

    /* A modifier is name "=" ...; anything else must be a directive. */
    if ((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')) {
        ssize_t k = 1;

        while (k < n && spf_name_char((unsigned char) t[k]))
            k++;
        if (k < n && t[k] == '=')
            return spf_parse_modifier(rec, t, n, k, problem);
    }
    memset(&term, 0, sizeof(term));
    term.text = t;
    term.text_len = n;
    term.qualifier = SPF_STATUS_PASS;
    switch (t[0]) {
    case '+': term.qualifier = SPF_STATUS_PASS; i = 1; break;
    case '-': term.qualifier = SPF_STATUS_FAIL; i = 1; break;
    case '~': term.qualifier = SPF_STATUS_SOFTFAIL; i = 1; break;
    case '?': term.qualifier = SPF_STATUS_NEUTRAL; i = 1; break;
    default: break;
    }
    for (name_len = 0; i + name_len < n && t[i + name_len] != ':' && t[i + name_len] != '/'; name_len++)
        ;
    for (size_t m = 0; m < NELEM(spf_mechs); m++) {
        if (spf_word_eq(t + i, name_len, spf_mechs[m].name)) {
            term.type = spf_mechs[m].type;
            if (spf_parse_args(&term, t + i + name_len, n - i - name_len) != 0) {
                spf_problem(problem, "bad mechanism '%s'", spf_excerpt(&ex, t, n));
                str_free(&ex);
                return -1;
            }
            if (term.type == SPF_MECH_ALL)
                rec->has_all = 1;
            rec->terms[rec->nterms++] = term;
            return 0;
        }
    }
    spf_problem(problem, "unknown mechanism '%s'", spf_excerpt(&ex, t, n));
    str_free(&ex);
    return -1;
}

/* Parse a whole record (RFC 7208 4.6, 12); 0, or -1 with problem set. */
static int spf_record_parse(struct spf_record *rec, str *problem)
{
    const char *s = rec->text, *end = rec->text + rec->len, *p = s + 6;
    int maxterms = (int) (rec->len / 2) + 1;

    /* Terms are separated by spaces only; any other byte belongs to a term. */
    rec->terms = mem_alloc((ssize_t) sizeof(*rec->terms) * maxterms);
    while (p < end) {
        const char *t;

        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        for (t = p; p < end && *p != ' '; p++)
            ;
        if (spf_parse_term(rec, t, p - t, problem) != 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- evaluation */

struct spf_eval {
    struct dns_resolver *r;
    const struct spf_options *opt;
    int64_t deadline;
    int family;
    unsigned char ip[16];
    struct spf_macro_env env;     /* env.domain follows the record being evaluated */
    int terms;                    /* DNS-querying terms so far */
    int voids;
    str problem;
    char *mechanism;
    char *explanation;
    int ptr_done;                 /* %{p}: validated names looked up */
    int nptr;
    char *ptr[SPF_MAX_PTR_NAMES];
};

/* What evaluating one mechanism gave. */
enum {
    SPF_NOMATCH,
    SPF_MATCH,
    SPF_TEMP,
    SPF_PERM,
};

/* The answer used when the deadline has passed before a query could start. */
static const struct dns_answer spf_expired = {
    .status = DNS_TEMPFAIL, .rcode = -1, .timed_out = 1, .why = "deadline",
};

/* Debug line for one lookup. */
static void spf_debug_dns(const char *name, uint16_t type, const struct dns_answer *a)
{
    str s = STR_INIT;

    if (log_get_level() < LOG_LVL_DEBUG)
        return;
    str_add_escaped(&s, name, (ssize_t) strlen(name), 256);
    log_debug("spf: %s %s: %s%s%s", dns_type_name(type), str_cstr(&s), dns_status_name(a->status),
              a->why ? " " : "", a->why ? a->why : "");
    str_free(&s);
}

/* Start a query (name in presentation form) unless the deadline has passed. */
static struct dns_query *spf_start(struct spf_eval *e, const char *name, uint16_t type)
{
    if (clock_now_ms() >= e->deadline)
        return NULL;
    return dns_start(e->r, name, type);
}

/* Wait for a query started by spf_start() within the deadline. */
static const struct dns_answer *spf_wait(struct spf_eval *e, struct dns_query *q, const char *name,
                                         uint16_t type)
{
    const struct dns_answer *a = q ? dns_wait(q, e->deadline) : &spf_expired;

    spf_debug_dns(name, type, a);
    return a;
}

/* Number of records of type in an answer. */
static int spf_count(const struct dns_answer *a, uint16_t type)
{
    int n = 0;

    if (a->status != DNS_ANSWER)
        return 0;
    for (int i = 0; i < a->count; i++)
        n += a->rr[i].type == type;
    return n;
}

/* Count one DNS-querying term (RFC 7208 4.6.4); -1 over the limit. */
static int spf_count_term(struct spf_eval *e)
{
    if (++e->terms <= e->opt->max_dns_mechanisms)
        return 0;
    spf_problem(&e->problem, "more than %d DNS-querying terms", e->opt->max_dns_mechanisms);
    return -1;
}

/* Count one void lookup (RFC 7208 4.6.4); -1 over the limit. */
static int spf_count_void(struct spf_eval *e)
{
    if (++e->voids <= e->opt->max_void_lookups)
        return 0;
    spf_problem(&e->problem, "more than %d void lookups", e->opt->max_void_lookups);
    return -1;
}

/* Map a failed lookup to a term result, noting why. */
static int spf_dns_error(struct spf_eval *e, const struct dns_answer *a, const char *name, uint16_t type)
{
    spf_problem(&e->problem, "%s %s lookup for %s", a->status == DNS_TEMPFAIL ? "failed" : "unusable",
                dns_type_name(type), name);
    return a->status == DNS_TEMPFAIL ? SPF_TEMP : SPF_PERM;
}

/*
 * Expand a term's domain-spec (NULL: the current domain) into a finished
 * name in raw (for %{d}, comparisons) and query (presentation) forms.
 * 1 if it is a name, 0 if the expansion names nothing that can exist.
 */
static int spf_target(struct spf_eval *e, const char *spec, ssize_t len, str *raw, str *query)
{
    int rc;

    str_reset(raw);
    str_reset(query);
    if (spec == NULL) {
        str_adds(raw, e->env.domain);
    } else if ((rc = spf_macro_expand(&e->env, spec, len, SPF_MACRO_DOMAIN,
                                      e->opt->max_expansion_size, 0, raw)) != 0) {
        if (rc == -2)
            log_debug("spf: macro expansion over %d bytes", e->opt->max_expansion_size);
        return 0;
    }
    if (spf_name_finish(raw) != 0 || spf_name_escape(query, str_cstr(raw), raw->len) != 0)
        return 0;
    return 1;
}

/* True if the client address is within bits of addr (4 or 16 bytes as the family says). */
static int spf_ip_match(const struct spf_eval *e, const unsigned char *addr, int bits)
{
    int bytes = bits / 8, rem = bits % 8;

    if (memcmp(e->ip, addr, (size_t) bytes) != 0)
        return 0;
    if (rem == 0)
        return 1;
    return ((e->ip[bytes] ^ addr[bytes]) & (0xff00 >> rem) & 0xff) == 0;
}

/* True if an A/AAAA answer holds an address matching the client within bits. */
static int spf_answer_match(const struct spf_eval *e, const struct dns_answer *a, int bits)
{
    if (a->status != DNS_ANSWER)
        return 0;
    for (int i = 0; i < a->count; i++) {
        const struct dns_rr *rr = &a->rr[i];

        if (e->family == AF_INET && rr->type == DNS_T_A &&
            spf_ip_match(e, (const unsigned char *) &rr->u.a, bits))
            return 1;
        if (e->family == AF_INET6 && rr->type == DNS_T_AAAA &&
            spf_ip_match(e, rr->u.aaaa.s6_addr, bits))
            return 1;
    }
    return 0;
}

/* The address record type for the client's family. */
static uint16_t spf_addr_type(const struct spf_eval *e)
{
    return e->family == AF_INET6 ? DNS_T_AAAA : DNS_T_A;
}

/* The term's prefix length for the client's family. */
static int spf_bits(const struct spf_eval *e, const struct spf_term *t)
{
    return e->family == AF_INET6 ? t->cidr6 : t->cidr4;
}

/* a, exists: one address lookup. */
static int spf_mech_addr(struct spf_eval *e, const char *name, uint16_t type, int bits, int exists)
{
    struct dns_query *q = spf_start(e, name, type);
    const struct dns_answer *a = spf_wait(e, q, name, type);
    int rc = SPF_NOMATCH;

    if (a->status == DNS_TEMPFAIL || a->status == DNS_BADANSWER)
        rc = spf_dns_error(e, a, name, type);
    else if (spf_count(a, type) == 0)
        rc = spf_count_void(e) == 0 ? SPF_NOMATCH : SPF_PERM;
    else if (exists || spf_answer_match(e, a, bits))
        rc = SPF_MATCH;
    dns_query_free(q);
    return rc;
}

/* mx: the MX names (at most 10, else permerror), their addresses asked together. */
static int spf_mech_mx(struct spf_eval *e, const char *name, int bits)
{
    struct dns_query *q = spf_start(e, name, DNS_T_MX), *qs[SPF_MAX_MX_NAMES];
    const struct dns_answer *a = spf_wait(e, q, name, DNS_T_MX);
    const char *hosts[SPF_MAX_MX_NAMES];
    uint16_t type = spf_addr_type(e);
    int n = 0, rc = SPF_NOMATCH;

    if (a->status == DNS_TEMPFAIL || a->status == DNS_BADANSWER) {
        rc = spf_dns_error(e, a, name, DNS_T_MX);
    } else if (spf_count(a, DNS_T_MX) == 0) {
        rc = spf_count_void(e) == 0 ? SPF_NOMATCH : SPF_PERM;
    } else if (spf_count(a, DNS_T_MX) > SPF_MAX_MX_NAMES) {
        spf_problem(&e->problem, "more than %d MX names for %s", SPF_MAX_MX_NAMES, name);
        rc = SPF_PERM;
    } else {
        for (int i = 0; i < a->count; i++)
            if (a->rr[i].type == DNS_T_MX)
                hosts[n++] = a->rr[i].u.mx.host;
        /* A null MX ("") or a name lib/dns would refuse cannot hold the client. */
        for (int i = 0; i < n; i++)
            qs[i] = hosts[i][0] && dns_name_valid(hosts[i]) ? spf_start(e, hosts[i], type) : NULL;
        for (int i = 0; i < n && rc == SPF_NOMATCH; i++) {
            const struct dns_answer *b;

            if (!hosts[i][0] || !dns_name_valid(hosts[i]))
                continue;
            b = spf_wait(e, qs[i], hosts[i], type);
            if (b->status == DNS_TEMPFAIL || b->status == DNS_BADANSWER)
                rc = spf_dns_error(e, b, hosts[i], type);
            else if (spf_answer_match(e, b, bits))
                rc = SPF_MATCH;
        }
        for (int i = 0; i < n; i++)
            dns_query_free(qs[i]);
    }
    dns_query_free(q);
    return rc;
}

/* The reverse name of the client (in-addr.arpa / ip6.arpa). */
static void spf_reverse_name(const struct spf_eval *e, str *out)
{
    static const char hex[] = "0123456789abcdef";

    if (e->family == AF_INET) {
        str_addf(out, "%u.%u.%u.%u.in-addr.arpa", e->ip[3], e->ip[2], e->ip[1], e->ip[0]);
        return;
    }
    for (int i = 15; i >= 0; i--) {
        char nib[4] = { hex[e->ip[i] & 15], '.', hex[e->ip[i] >> 4], '.' };

        str_add(out, nib, 4);
    }
    str_adds(out, "ip6.arpa");
}

/* True if name is suffix or a subdomain of it (ASCII case-insensitive). */
static int spf_name_under(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);

    if (n < s || ascii_casecmp(name + (n - s), suffix) != 0)
        return 0;
    return n == s || name[n - s - 1] == '.';
}

/*
 * Validated names of the client (RFC 7208 5.5): the first 10 PTR names
 * (under suffix, if given) whose addresses include the client. With
 * first_only, stop at the first one. Returns the number found (copies in
 * names[], owned by the caller), or -1 if the PTR lookup was void and
 * count_void says that matters and the limit is exceeded. DNS errors only
 * make names fail to validate.
 */
static int spf_validated(struct spf_eval *e, const char *suffix, int first_only, int count_void,
                         char **names)
{
    str rev = STR_INIT;
    struct dns_query *q, *qs[SPF_MAX_PTR_NAMES];
    const struct dns_answer *a;
    const char *cand[SPF_MAX_PTR_NAMES];
    uint16_t type = spf_addr_type(e);
    int n = 0, found = 0;

    spf_reverse_name(e, &rev);
    q = spf_start(e, str_cstr(&rev), DNS_T_PTR);
    a = spf_wait(e, q, str_cstr(&rev), DNS_T_PTR);
    if (a->status != DNS_TEMPFAIL && a->status != DNS_BADANSWER && spf_count(a, DNS_T_PTR) == 0 &&
        count_void && spf_count_void(e) != 0) {
        found = -1;
        goto out;
    }
    for (int i = 0, seen = 0; a->status == DNS_ANSWER && i < a->count && seen < SPF_MAX_PTR_NAMES; i++) {
        const char *name = a->rr[i].u.name;

        if (a->rr[i].type != DNS_T_PTR)
            continue;
        seen++;               /* names past the tenth are ignored (RFC 7208 4.6.4) */
        if ((suffix == NULL || spf_name_under(name, suffix)) && dns_name_valid(name))
            cand[n++] = name;
    }
    for (int i = 0; i < n; i++)
        qs[i] = spf_start(e, cand[i], type);
    for (int i = 0; i < n && !(first_only && found > 0); i++) {
        const struct dns_answer *b = spf_wait(e, qs[i], cand[i], type);

        if (spf_answer_match(e, b, e->family == AF_INET6 ? 128 : 32))
            names[found++] = mem_strdup(cand[i]);
    }
    for (int i = 0; i < n; i++)
        dns_query_free(qs[i]);
out:
    dns_query_free(q);
    str_free(&rev);
    return found;
}

/* ptr: match if a validated name is the target or under it. */
static int spf_mech_ptr(struct spf_eval *e, const char *target)
{
    char *names[SPF_MAX_PTR_NAMES];
    int n = spf_validated(e, target, 1, 1, names);

    if (n < 0)
        return SPF_PERM;
    for (int i = 0; i < n; i++)
        mem_free(names[i]);
    return n > 0 ? SPF_MATCH : SPF_NOMATCH;
}

/* %{p}: the validated name for domain, "unknown" if none (RFC 7208 7.3). */
static const char *spf_ptr_macro(void *arg, const char *domain)
{
    struct spf_eval *e = arg;

    if (!e->ptr_done) {
        e->ptr_done = 1;
        e->nptr = spf_validated(e, NULL, 0, 0, e->ptr);
        if (e->nptr < 0)
            e->nptr = 0;
    }
    for (int i = 0; i < e->nptr; i++)
        if (ascii_casecmp(e->ptr[i], domain) == 0)
            return e->ptr[i];
    for (int i = 0; i < e->nptr; i++)
        if (spf_name_under(e->ptr[i], domain))
            return e->ptr[i];
    return e->nptr > 0 ? e->ptr[0] : "unknown";
}

/* Expand an explain-string into e->explanation; 0, or -1 if it cannot be used. */
static int spf_explain_text(struct spf_eval *e, const char *text, ssize_t len)
{
    str x = STR_INIT, clean = STR_INIT;
    int rc = -1;

    if (spf_macro_expand(&e->env, text, len, SPF_MACRO_EXPLAIN, e->opt->max_explanation_size, 1,
                         &x) == 0 &&
        x.len > 0) {
        spf_sanitize(&clean, str_cstr(&x), x.len, e->opt->max_explanation_size);
        e->explanation = str_steal(&clean);
        rc = 0;
    }
    str_free(&x);
    str_free(&clean);
    return rc;
}

/*
 * The explanation of a fail in rec (RFC 7208 6.2): the one TXT record at
 * the exp= target, expanded; on any trouble the configured default.
 */
static void spf_explain(struct spf_eval *e, const struct spf_record *rec)
{
    str raw = STR_INIT, query = STR_INIT;

    mem_free(e->explanation);
    e->explanation = NULL;
    if (rec->exp && spf_target(e, rec->exp, rec->exp_len, &raw, &query)) {
        struct dns_query *q = spf_start(e, str_cstr(&query), DNS_T_TXT);
        const struct dns_answer *a = spf_wait(e, q, str_cstr(&query), DNS_T_TXT);

        if (spf_count(a, DNS_T_TXT) == 1) {
            for (int i = 0; i < a->count; i++)
                if (a->rr[i].type == DNS_T_TXT)
                    spf_explain_text(e, a->rr[i].u.txt.data, a->rr[i].u.txt.len);
        }
        dns_query_free(q);
    }
    if (e->explanation == NULL && e->opt->default_explanation)
        spf_explain_text(e, e->opt->default_explanation, (ssize_t) strlen(e->opt->default_explanation));
    str_free(&raw);
    str_free(&query);
}

/* Fetch and select the record of domain (RFC 7208 4.4, 4.5): 1 found, or a status. */
static int spf_fetch(struct spf_eval *e, const char *domain, struct spf_record *rec,
                     enum spf_status *st)
{
    str query = STR_INIT;
    struct dns_query *q;
    const struct dns_answer *a;
    int found = 0, idx = -1;

    *st = SPF_STATUS_NONE;
    if (spf_name_escape(&query, domain, (ssize_t) strlen(domain)) != 0) {
        str_free(&query);
        return 0;
    }
    q = spf_start(e, str_cstr(&query), DNS_T_TXT);
    a = spf_wait(e, q, str_cstr(&query), DNS_T_TXT);
    if (a->status == DNS_TEMPFAIL || a->status == DNS_BADANSWER) {
        *st = spf_dns_error(e, a, domain, DNS_T_TXT) == SPF_TEMP ? SPF_STATUS_TEMPERROR
                                                                 : SPF_STATUS_PERMERROR;
    } else if (a->status == DNS_ANSWER) {
        for (int i = 0; i < a->count; i++) {
            if (a->rr[i].type == DNS_T_TXT && spf_is_record(a->rr[i].u.txt.data, a->rr[i].u.txt.len)) {
                found++;
                idx = i;
            }
        }
        if (found > 1) {
            spf_problem(&e->problem, "%d SPF records for %s", found, domain);
            *st = SPF_STATUS_PERMERROR;
        } else if (found == 1 && a->rr[idx].u.txt.len > SPF_MAX_RECORD) {
            /* Longer than 450 bytes is only advice to publishers; this is our parser's bound. */
            spf_problem(&e->problem, "SPF record of %s over %d bytes", domain, SPF_MAX_RECORD);
            *st = SPF_STATUS_PERMERROR;
            found = 0;
        } else if (found == 1) {
            rec->len = a->rr[idx].u.txt.len;
            rec->text = mem_alloc(rec->len + 1);
            memcpy(rec->text, a->rr[idx].u.txt.data, (size_t) rec->len);
            rec->text[rec->len] = '\0';
        }
    }
    dns_query_free(q);
    str_free(&query);
    return found == 1;
}

static enum spf_status spf_host(struct spf_eval *e, const char *domain, int depth, int top);

/* include: the included domain's result decides a match (RFC 7208 5.2). */
static int spf_mech_include(struct spf_eval *e, const char *target, int depth)
{
    switch (spf_host(e, target, depth + 1, 0)) {
    case SPF_STATUS_PASS:
        return SPF_MATCH;
    case SPF_STATUS_FAIL:
    case SPF_STATUS_SOFTFAIL:
    case SPF_STATUS_NEUTRAL:
        return SPF_NOMATCH;
    case SPF_STATUS_TEMPERROR:
        return SPF_TEMP;
    case SPF_STATUS_NONE:
        spf_problem(&e->problem, "included domain %s has no SPF record", target);
        return SPF_PERM;
    case SPF_STATUS_PERMERROR:
        break;
    }
    return SPF_PERM;
}

/* Evaluate one directive. */
static int spf_mech(struct spf_eval *e, const struct spf_term *t, int depth)
{
    str raw = STR_INIT, query = STR_INIT;
    int rc = SPF_NOMATCH, named;

    switch (t->type) {
    case SPF_MECH_ALL:
        return SPF_MATCH;
    case SPF_MECH_IP4:
        return e->family == AF_INET && spf_ip_match(e, t->net, t->cidr4) ? SPF_MATCH : SPF_NOMATCH;
    case SPF_MECH_IP6:
        return e->family == AF_INET6 && spf_ip_match(e, t->net, t->cidr6) ? SPF_MATCH : SPF_NOMATCH;
    default:
        break;
    }
    if (spf_count_term(e) != 0)
        return SPF_PERM;
    named = spf_target(e, t->spec, t->spec_len, &raw, &query);
    switch (t->type) {
    case SPF_MECH_INCLUDE:
        if (named) {
            rc = spf_mech_include(e, str_cstr(&raw), depth);
        } else {
            spf_problem(&e->problem, "include of a name that cannot exist");
            rc = SPF_PERM;
        }
        break;
    case SPF_MECH_A:
        /* A target that cannot be a name does not exist: no match. */
        if (named)
            rc = spf_mech_addr(e, str_cstr(&query), spf_addr_type(e), spf_bits(e, t), 0);
        break;
    case SPF_MECH_MX:
        if (named)
            rc = spf_mech_mx(e, str_cstr(&query), spf_bits(e, t));
        break;
    case SPF_MECH_PTR:
        if (named)
            rc = spf_mech_ptr(e, str_cstr(&query));
        break;
    case SPF_MECH_EXISTS:
        /* exists always asks for A, whatever the client's family (RFC 7208 5.7). */
        if (named)
            rc = spf_mech_addr(e, str_cstr(&query), DNS_T_A, 0, 1);
        break;
    default:
        break;
    }
    str_free(&raw);
    str_free(&query);
    return rc;
}

/* Remember the matching term on the top-level chain, for mechanism=. */
static void spf_set_mechanism(struct spf_eval *e, const struct spf_term *t)
{
    str s = STR_INIT;

    spf_sanitize(&s, t->text, t->text_len, SPF_VALUE_MAX);
    mem_free(e->mechanism);
    e->mechanism = str_steal(&s);
}

/* check_host() for domain (RFC 7208 4): top is set on the chain whose fail is explained. */
static enum spf_status spf_host(struct spf_eval *e, const char *domain, int depth, int top)
{
    struct spf_record rec;
    const char *saved = e->env.domain;
    enum spf_status st;

    memset(&rec, 0, sizeof(rec));
    if (depth > SPF_MAX_DEPTH) {
        spf_problem(&e->problem, "include/redirect nested more than %d deep", SPF_MAX_DEPTH);
        return SPF_STATUS_PERMERROR;
    }
    if (!spf_fetch(e, domain, &rec, &st))
        return st;
    if (spf_record_parse(&rec, &e->problem) != 0) {
        spf_record_free(&rec);
        return SPF_STATUS_PERMERROR;
    }
    e->env.domain = domain;
    st = SPF_STATUS_NEUTRAL;
    for (int i = 0; i < rec.nterms; i++) {
        int rc = spf_mech(e, &rec.terms[i], depth);

        if (rc == SPF_NOMATCH)
            continue;
        if (rc == SPF_TEMP || rc == SPF_PERM) {
            st = rc == SPF_TEMP ? SPF_STATUS_TEMPERROR : SPF_STATUS_PERMERROR;
            goto done;
        }
        st = rec.terms[i].qualifier;
        if (top) {
            spf_set_mechanism(e, &rec.terms[i]);
            if (st == SPF_STATUS_FAIL)
                spf_explain(e, &rec);
        }
        goto done;
    }
    /* No match: redirect= if there is one and no "all" (RFC 7208 6.1). */
    if (rec.redirect && !rec.has_all) {
        str raw = STR_INIT, query = STR_INIT;

        if (spf_count_term(e) != 0) {
            st = SPF_STATUS_PERMERROR;
        } else if (!spf_target(e, rec.redirect, rec.redirect_len, &raw, &query)) {
            spf_problem(&e->problem, "redirect to a name that cannot exist");
            st = SPF_STATUS_PERMERROR;
        } else {
            st = spf_host(e, str_cstr(&raw), depth + 1, top);
            if (st == SPF_STATUS_NONE) {
                spf_problem(&e->problem, "redirect target %s has no SPF record", str_cstr(&raw));
                st = SPF_STATUS_PERMERROR;
            }
        }
        str_free(&raw);
        str_free(&query);
    }
done:
    e->env.domain = saved;
    spf_record_free(&rec);
    return st;
}

/* Run rampart's evaluator for a normalised request; fills res. */
static enum spf_status spf_rampart_check(struct dns_resolver *r, const struct spf_request *req,
                                         const struct spf_options *opts, struct spf_result *res,
                                         const char *local)
{
    struct spf_eval e;
    enum spf_status st;

    memset(&e, 0, sizeof(e));
    e.r = r;
    e.opt = opts;
    e.deadline = opts->deadline_ms > 0 ? opts->deadline_ms : clock_now_ms() + opts->timeout_ms;
    e.family = req->family;
    if (req->family == AF_INET)
        memcpy(e.ip, &req->addr4, 4);
    else
        memcpy(e.ip, &req->addr6, 16);
    e.env.sender = res->sender;
    e.env.local = local;
    e.env.sender_domain = res->domain;
    e.env.domain = res->domain;
    e.env.helo = req->helo && req->helo[0] ? req->helo : "unknown";
    e.env.receiver = req->receiver ? req->receiver : "unknown";
    e.env.family = e.family;
    e.env.ip = e.ip;
    e.env.ptr_name = spf_ptr_macro;
    e.env.ptr_arg = &e;

    st = spf_host(&e, res->domain, 0, 1);
    res->status = st;
    res->mechanism = e.mechanism;
    if (st == SPF_STATUS_FAIL) {
        res->explanation = e.explanation;
        e.explanation = NULL;
    }
    if ((st == SPF_STATUS_TEMPERROR || st == SPF_STATUS_PERMERROR) && e.problem.len > 0) {
        str p = STR_INIT;

        spf_sanitize(&p, str_cstr(&e.problem), e.problem.len, SPF_VALUE_MAX);
        res->problem = str_steal(&p);
    }
    res->dns_lookups = e.terms;
    res->void_lookups = e.voids;
    mem_free(e.explanation);
    for (int i = 0; i < e.nptr; i++)
        mem_free(e.ptr[i]);
    str_free(&e.problem);
    return st;
}

/* ---------------------------------------------------------------- interface */

/* Defaults. */
void spf_options_init(struct spf_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->engine = SPF_ENGINE_RAMPART;
    opts->max_dns_mechanisms = DEF_SPF_MAX_DNS_MECHANISMS;
    opts->max_void_lookups = DEF_SPF_MAX_VOID_LOOKUPS;
    opts->timeout_ms = DEF_SPF_TIMEOUT_MS;
    opts->max_expansion_size = DEF_SPF_MAX_EXPANSION_SIZE;
    opts->max_explanation_size = DEF_SPF_MAX_EXPLANATION_SIZE;
}

/* Parse the client address. */
int spf_request_set_ip(struct spf_request *req, const char *text)
{
    if (inet_pton(AF_INET, text, &req->addr4) == 1) {
        req->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &req->addr6) == 1) {
        req->family = AF_INET6;
        return 0;
    }
    return -1;
}

/* Copy s without one trailing dot. */
static char *spf_strip_dot(const char *s, ssize_t len)
{
    if (len > 0 && s[len - 1] == '.')
        len--;
    return mem_strndup(s, len);
}

/* Normalise, check <domain>, dispatch to the engine. */
static enum spf_status spf_check(struct dns_resolver *r, const struct spf_request *req,
                                 const struct spf_options *opts, enum spf_identity id,
                                 struct spf_result *res)
{
    struct spf_options o;
    struct spf_request n = *req;
    const char *helo = req->helo ? req->helo : "";
    const char *from = req->mail_from ? req->mail_from : "";
    const char *at = strrchr(from, '@');
    char *local;
    str sender = STR_INIT;

    /* Options left at zero take their defaults. */
    spf_options_init(&o);
    if (opts != NULL) {
        o.engine = opts->engine;
        o.deadline_ms = opts->deadline_ms;
        o.default_explanation = opts->default_explanation;
        if (opts->max_dns_mechanisms > 0)
            o.max_dns_mechanisms = opts->max_dns_mechanisms;
        if (opts->max_void_lookups > 0)
            o.max_void_lookups = opts->max_void_lookups;
        if (opts->timeout_ms > 0)
            o.timeout_ms = opts->timeout_ms;
        if (opts->max_expansion_size > 0)
            o.max_expansion_size = opts->max_expansion_size;
        if (opts->max_explanation_size > 0)
            o.max_explanation_size = opts->max_explanation_size;
    }
    opts = &o;
    memset(res, 0, sizeof(*res));
    res->identity = id;
    res->engine = opts->engine;
    /* RFC 7208 2.3, 2.4, 4.3: who is <sender>, what is <domain>. */
    if (id == SPF_IDENTITY_HELO || from[0] == '\0') {
        local = mem_strdup("postmaster");
        res->domain = spf_strip_dot(helo, (ssize_t) strlen(helo));
    } else if (at == NULL) {
        local = mem_strdup("postmaster");
        res->domain = spf_strip_dot(from, (ssize_t) strlen(from));
    } else {
        local = at == from ? mem_strdup("postmaster") : mem_strndup(from, at - from);
        res->domain = spf_strip_dot(at + 1, (ssize_t) strlen(at + 1));
    }
    str_addf(&sender, "%s@%s", local, res->domain);
    res->sender = str_steal(&sender);

    if (n.family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&n.addr6)) {
        n.family = AF_INET;
        memcpy(&n.addr4, &n.addr6.s6_addr[12], 4);
    }
    if (n.family != AF_INET && n.family != AF_INET6) {
        res->status = SPF_STATUS_NONE;
        res->problem = mem_strdup("no client IP address");
    } else if (!spf_domain_checkable(res->domain)) {
        res->status = SPF_STATUS_NONE;
    } else if (opts->engine == SPF_ENGINE_LIBSPF2) {
        spf_libspf2_check(r, &n, opts, res);
    } else {
        spf_rampart_check(r, &n, opts, res, local);
    }
    if (log_get_level() >= LOG_LVL_DEBUG) {
        str s = STR_INIT;

        str_add_escaped(&s, res->sender, (ssize_t) strlen(res->sender), 256);
        log_debug("spf: %s %s engine=%s result=%s lookups=%d voids=%d", spf_identity_name(id),
                  str_cstr(&s), spf_engine_name(res->engine), spf_status_name(res->status),
                  res->dns_lookups, res->void_lookups);
        str_free(&s);
    }
    mem_free(local);
    return res->status;
}

/* Check the MAIL FROM identity. */
enum spf_status spf_check_mailfrom(struct dns_resolver *r, const struct spf_request *req,
                                   const struct spf_options *opts, struct spf_result *res)
{
    return spf_check(r, req, opts, SPF_IDENTITY_MAILFROM, res);
}

/* Check the HELO identity. */
enum spf_status spf_check_helo(struct dns_resolver *r, const struct spf_request *req,
                               const struct spf_options *opts, struct spf_result *res)
{
    return spf_check(r, req, opts, SPF_IDENTITY_HELO, res);
}

/* Free a result's strings. */
void spf_result_free(struct spf_result *res)
{
    if (res == NULL)
        return;
    mem_free(res->domain);
    mem_free(res->sender);
    mem_free(res->mechanism);
    mem_free(res->explanation);
    mem_free(res->problem);
    memset(res, 0, sizeof(*res));
}

static const char *const spf_status_names[] = {
    [SPF_STATUS_NONE] = "none",
    [SPF_STATUS_NEUTRAL] = "neutral",
    [SPF_STATUS_PASS] = "pass",
    [SPF_STATUS_FAIL] = "fail",
    [SPF_STATUS_SOFTFAIL] = "softfail",
    [SPF_STATUS_TEMPERROR] = "temperror",
    [SPF_STATUS_PERMERROR] = "permerror",
};

/* Result name. */
const char *spf_status_name(enum spf_status s)
{
    return (unsigned) s < NELEM(spf_status_names) ? spf_status_names[s] : "unknown";
}

/* Result for a name, or -1. */
int spf_status_from_name(const char *name)
{
    for (size_t i = 0; i < NELEM(spf_status_names); i++)
        if (ascii_casecmp(name, spf_status_names[i]) == 0)
            return (int) i;
    return -1;
}

/* Identity name. */
const char *spf_identity_name(enum spf_identity id)
{
    return id == SPF_IDENTITY_HELO ? "helo" : "mailfrom";
}

/* Engine name. */
const char *spf_engine_name(enum spf_engine e)
{
    return e == SPF_ENGINE_LIBSPF2 ? "libspf2" : "rampart";
}

/* Engine for a name, or -1. */
int spf_engine_from_name(const char *name)
{
    if (ascii_casecmp(name, "rampart") == 0)
        return SPF_ENGINE_RAMPART;
    if (ascii_casecmp(name, "libspf2") == 0)
        return SPF_ENGINE_LIBSPF2;
    return -1;
}

/* ---------------------------------------------------------------- Received-SPF */

/* True for an RFC 5322 atext character. */
static int spf_atext(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* True if s can be written as a dot-atom. */
static int spf_dot_atom(const char *s, size_t len)
{
    if (len == 0 || len > SPF_VALUE_MAX || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.' ? s[i + 1] == '.' : !spf_atext((unsigned char) s[i]))
            return 0;
    }
    return 1;
}

/*
 * Append " key=value;" with value as a dot-atom or a sanitised
 * quoted-string, folding ("\n\t") first if the line would pass column 78.
 */
static void spf_kv(str *out, ssize_t *col, const char *key, const char *value)
{
    size_t len = strlen(value);
    str kv = STR_INIT;

    str_addf(&kv, "%s=", key);
    if (spf_dot_atom(value, len)) {
        str_add(&kv, value, (ssize_t) len);
    } else {
        str_addc(&kv, '"');
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char) value[i];

            if (i >= SPF_VALUE_MAX) {
                str_adds(&kv, "...");
                break;
            }
            if (c == '"' || c == '\\')
                str_addc(&kv, '\\');
            str_addc(&kv, c >= 0x20 && c < 0x7f ? c : '?');
        }
        str_addc(&kv, '"');
    }
    str_addc(&kv, ';');
    if (*col + 1 + kv.len > SPF_FOLD_COLUMN) {
        str_adds(out, "\n\t");
        *col = 8 + kv.len;
    } else {
        str_addc(out, ' ');
        *col += 1 + kv.len;
    }
    str_add(out, str_cstr(&kv), kv.len);
    str_free(&kv);
}

/* Append untrusted text to a comment: printable ASCII, ( ) \ quoted, bounded. */
static void spf_comment(str *out, const char *s, size_t max)
{
    size_t len = strlen(s);

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (i >= max) {
            str_adds(out, "...");
            return;
        }
        if (c == '(' || c == ')' || c == '\\')
            str_addc(out, '\\');
        str_addc(out, c >= 0x20 && c < 0x7f ? c : '?');
    }
}

/* Render the Received-SPF value. */
void spf_received_spf(str *out, const struct spf_request *req, const struct spf_result *res)
{
    char ip[INET6_ADDRSTRLEN] = "unknown";
    const char *receiver = req->receiver ? req->receiver : "unknown";
    const char *sender = res->sender ? res->sender : "";
    struct in_addr v4;
    ssize_t start = out->len, col;

    if (req->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&req->addr6)) {
        memcpy(&v4, &req->addr6.s6_addr[12], 4);
        inet_ntop(AF_INET, &v4, ip, sizeof(ip));
    } else if (req->family == AF_INET) {
        inet_ntop(AF_INET, &req->addr4, ip, sizeof(ip));
    } else if (req->family == AF_INET6) {
        inet_ntop(AF_INET6, &req->addr6, ip, sizeof(ip));
    }
    str_adds(out, spf_status_name(res->status));
    str_adds(out, " (");
    spf_comment(out, receiver, SPF_COMMENT_MAX);
    str_adds(out, ": ");
    switch (res->status) {
    case SPF_STATUS_PASS:
        str_adds(out, "domain of ");
        spf_comment(out, sender, SPF_VALUE_MAX);
        str_addf(out, " designates %s as permitted sender", ip);
        break;
    case SPF_STATUS_FAIL:
        str_adds(out, "domain of ");
        spf_comment(out, sender, SPF_VALUE_MAX);
        str_addf(out, " does not designate %s as permitted sender", ip);
        break;
    case SPF_STATUS_SOFTFAIL:
        str_adds(out, "transitioning domain of ");
        spf_comment(out, sender, SPF_VALUE_MAX);
        str_addf(out, " does not designate %s as permitted sender", ip);
        break;
    case SPF_STATUS_NEUTRAL:
        str_addf(out, "%s is neither permitted nor denied by domain of ", ip);
        spf_comment(out, sender, SPF_VALUE_MAX);
        break;
    case SPF_STATUS_NONE:
        str_adds(out, "domain of ");
        spf_comment(out, sender, SPF_VALUE_MAX);
        str_adds(out, " does not designate permitted sender hosts");
        break;
    case SPF_STATUS_TEMPERROR:
        str_adds(out, "temporary error in processing during lookup of ");
        spf_comment(out, sender, SPF_VALUE_MAX);
        break;
    case SPF_STATUS_PERMERROR:
        str_adds(out, "permanent error in processing domain of ");
        spf_comment(out, sender, SPF_VALUE_MAX);
        break;
    }
    str_addc(out, ')');
    col = (ssize_t) strlen("Received-SPF: ") + out->len - start;
    spf_kv(out, &col, "client-ip", ip);
    spf_kv(out, &col, "envelope-from", req->mail_from ? req->mail_from : "");
    if (req->helo && req->helo[0])
        spf_kv(out, &col, "helo", req->helo);
    spf_kv(out, &col, "receiver", receiver);
    spf_kv(out, &col, "identity", spf_identity_name(res->identity));
    if (res->mechanism)
        spf_kv(out, &col, "mechanism", res->mechanism);
    if (res->problem && (res->status == SPF_STATUS_TEMPERROR || res->status == SPF_STATUS_PERMERROR))
        spf_kv(out, &col, "problem", res->problem);
}
