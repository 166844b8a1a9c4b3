/*
 * spf_macro.c - SPF macros (RFC 7208 section 7) and the name rules around
 * them.
 *
 * spf_macro_check() validates a macro-string: a domain-spec (no c/r/t,
 * must end in a macro or ".toplabel"), an explanation (spaces and c/r/t
 * allowed) or the value of an unknown modifier. spf_macro_expand()
 * expands one; the values come from struct spf_macro_env, %{p} through a
 * callback so the PTR lookups happen only when a record asks for them.
 * An expansion is bounded by the caller's max: a sender with a huge local
 * part meets a record full of %{l} in linear time and bounded memory.
 *
 * spf_name_finish() applies the 253-byte left truncation and label checks
 * to an expanded name, spf_name_escape() writes it in presentation form
 * for lib/dns (a label may legally hold a space or 8-bit bytes, RFC 2181
 * 11; see the XXX in spf.h about lib/dns reading names literally),
 * spf_domain_checkable() is the RFC 7208 4.3 test of <domain>, and
 * spf_sanitize() makes untrusted text safe for replies and headers.
 *
 * Nothing here logs or allocates beyond the str it appends to (and one
 * scratch array per transformed macro); nothing keeps state.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "mem.h"
#include "spf.h"
#include "util.h"

#define SPF_NAME_MAX 253
#define SPF_LABEL_MAX 63
#define SPF_MACRO_WORK 16     /* bytes of macro values scanned per byte of allowed output */
#define SPF_MACRO_WORK_MIN (256 * 1024)

/* True for an ASCII letter. */
static int spf_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* True for an ASCII digit. */
static int spf_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* True for a macro delimiter (RFC 7208 7.1). */
static int spf_delimiter(int c)
{
    return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

/* True for a macro letter; c/r/t only where flags allow them. */
static int spf_macro_letter(int c, int flags)
{
    c = ascii_tolower(c);
    if (c == 'c' || c == 'r' || c == 't')
        return !(flags & SPF_MACRO_DOMAIN);
    return c != '\0' && strchr("slodiphv", c) != NULL;
}

/* A toplabel (RFC 7208 7.1): alphanumerics and '-', not at the ends, and not all digits. */
static int spf_toplabel(const char *s, ssize_t len)
{
    int alpha = 0, dash = 0;

    if (len <= 0 || s[0] == '-' || s[len - 1] == '-')
        return 0;
    for (ssize_t i = 0; i < len; i++) {
        if (spf_alpha((unsigned char) s[i]))
            alpha = 1;
        else if (s[i] == '-')
            dash = 1;
        else if (!spf_digit((unsigned char) s[i]))
            return 0;
    }
    return alpha || dash;
}

/* One parsed macro-expand. */
struct spf_macro_tok {
    int kind;                 /* '%', '_', '-' or '{' */
    int letter;               /* as written (upper case: URL-escape) */
    int keep;                 /* number of right-hand parts, 0 = all */
    int reverse;
    const char *delims;       /* delimiter characters, or NULL for "." */
    ssize_t ndelims;
};

/*
 * Parse the macro-expand at text[*pos] ('%' seen). On success *pos moves
 * past it and the fields describe it; -1 on a syntax error.
 */
static int spf_macro_token(const char *text, ssize_t len, ssize_t *pos, int flags,
                           struct spf_macro_tok *tok)
{
    ssize_t i = *pos + 1;
    int digits = 0;

    memset(tok, 0, sizeof(*tok));
    if (i >= len)
        return -1;
    if (text[i] == '%' || text[i] == '_' || text[i] == '-') {
        tok->kind = text[i];
        *pos = i + 1;
        return 0;
    }
    if (text[i] != '{')
        return -1;
    tok->kind = '{';
    if (++i >= len || !spf_macro_letter((unsigned char) text[i], flags))
        return -1;
    tok->letter = (unsigned char) text[i++];
    while (i < len && spf_digit((unsigned char) text[i])) {
        /* More parts than any name has mean "all"; saturate instead of overflowing. */
        if (tok->keep < 100000)
            tok->keep = tok->keep * 10 + (text[i] - '0');
        digits = 1;
        i++;
    }
    if (digits && tok->keep == 0)
        return -1;            /* RFC 7208 7.3: a DIGIT transformer must be nonzero */
    if (i < len && (text[i] == 'r' || text[i] == 'R')) {
        tok->reverse = 1;
        i++;
    }
    tok->delims = text + i;
    while (i < len && spf_delimiter((unsigned char) text[i]))
        i++;
    tok->ndelims = (text + i) - tok->delims;
    if (tok->ndelims == 0)
        tok->delims = NULL;
    if (i >= len || text[i] != '}')
        return -1;
    *pos = i + 1;
    return 0;
}

/* Check the syntax of a macro-string. */
int spf_macro_check(const char *text, ssize_t len, int flags)
{
    ssize_t i = 0, tail = 0;
    int last_macro = 0;
    struct spf_macro_tok tok;

    if (flags & SPF_MACRO_DOMAIN && len <= 0)
        return -1;
    while (i < len) {
        unsigned char c = (unsigned char) text[i];

        if (c == '%') {
            if (spf_macro_token(text, len, &i, flags, &tok) != 0)
                return -1;
            last_macro = 1;
            tail = i;
            continue;
        }
        /* macro-literal = %x21-24 / %x26-7E; an explanation also allows SP. */
        if (!((c >= 0x21 && c <= 0x7e) || (c == ' ' && (flags & SPF_MACRO_EXPLAIN))))
            return -1;
        last_macro = 0;
        i++;
    }
    if (!(flags & SPF_MACRO_DOMAIN) || last_macro)
        return 0;
    /* domain-end = ( "." toplabel [ "." ] ) / macro-expand, from the literal tail. */
    {
        const char *t = text + tail;
        ssize_t n = len - tail, dot;

        if (n > 0 && t[n - 1] == '.')
            n--;
        for (dot = n - 1; dot >= 0 && t[dot] != '.'; dot--)
            ;
        if (dot < 0)
            return -1;
        return spf_toplabel(t + dot + 1, n - dot - 1) ? 0 : -1;
    }
}

/* True for an RFC 3986 unreserved character. */
static int spf_unreserved(int c)
{
    return spf_alpha(c) || spf_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Append the URL-escaped form of s (RFC 7208 7.3: upper-case macros). */
static void spf_url_escape(str *out, const char *s, ssize_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (spf_unreserved(c)) {
            str_addc(out, c);
        } else {
            char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

            str_add(out, esc, 3);
        }
    }
}

/* The value of one macro letter, into v. */
static void spf_macro_value(const struct spf_macro_env *env, int letter, str *v)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[INET6_ADDRSTRLEN];
    const char *s = NULL;

    switch (ascii_tolower(letter)) {
    case 's': s = env->sender; break;
    case 'l': s = env->local; break;
    case 'o': s = env->sender_domain; break;
    case 'd': s = env->domain; break;
    case 'h': s = env->helo; break;
    case 'r': s = env->receiver; break;
    case 'v': s = env->family == AF_INET6 ? "ip6" : "in-addr"; break;
    case 'p':
        s = env->ptr_name ? env->ptr_name(env->ptr_arg, env->domain) : NULL;
        break;
    case 't':
        str_addf(v, "%lld", (long long) time(NULL));
        return;
    case 'i':
        if (env->family == AF_INET6) {
            /*
             * Dot-separated nibbles. XXX: upper-case hex, as the RFC 7208
             * test suite expects in explanations; names compare without case.
             */
            for (int i = 0; i < 16; i++) {
                char nib[4] = { hex[env->ip[i] >> 4], '.', hex[env->ip[i] & 15], '.' };

                str_add(v, nib, i == 15 ? 3 : 4);
            }
            return;
        }
        /* FALLTHROUGH */
    case 'c':
        if (inet_ntop(env->family, env->ip, buf, sizeof(buf)) != NULL)
            str_adds(v, buf);
        return;
    default:
        break;
    }
    str_adds(v, s ? s : "unknown");
}

/*
 * Apply the transformers of tok to value and append the result: split on
 * the delimiters, reverse if asked, keep the right-hand parts, join with
 * dots. Linear in the value's length.
 */
static void spf_macro_transform(const struct spf_macro_tok *tok, const str *value, str *res)
{
    const char *s = str_cstr(value);
    ssize_t len = value->len, nparts = 1, k = 0, first;
    ssize_t *start;

    if (!tok->reverse && tok->keep == 0 && tok->delims == NULL) {
        str_add(res, s, len);
        return;
    }
    for (ssize_t i = 0; i < len; i++)
        if (tok->delims ? memchr(tok->delims, s[i], (size_t) tok->ndelims) != NULL : s[i] == '.')
            nparts++;
    /* start[j] is where part j begins; part j ends one byte before start[j + 1]. */
    start = mem_alloc((nparts + 1) * (ssize_t) sizeof(*start));
    start[k++] = 0;
    for (ssize_t i = 0; i < len; i++)
        if (tok->delims ? memchr(tok->delims, s[i], (size_t) tok->ndelims) != NULL : s[i] == '.')
            start[k++] = i + 1;
    start[k] = len + 1;
    first = tok->keep > 0 && tok->keep < nparts ? nparts - tok->keep : 0;
    /* Output parts first..nparts-1 of the (possibly reversed) list. */
    for (ssize_t j = first; j < nparts; j++) {
        ssize_t p = tok->reverse ? nparts - 1 - j : j;

        if (j > first)
            str_addc(res, '.');
        str_add(res, s + start[p], start[p + 1] - 1 - start[p]);
    }
    mem_free(start);
}

/* Append n bytes to out within max; 0, or -1 if they do not fit (after cutting when truncate). */
static int spf_macro_put(str *out, const char *s, ssize_t n, ssize_t max, int truncate)
{
    if (out->len + n > max) {
        if (!truncate)
            return -1;
        str_add(out, s, max - out->len);
        return -1;
    }
    str_add(out, s, n);
    return 0;
}

/* Expand a macro-string. */
int spf_macro_expand(const struct spf_macro_env *env, const char *text, ssize_t len, int flags,
                     ssize_t max, int truncate, str *out)
{
    ssize_t i = 0, work = 0, budget = max * SPF_MACRO_WORK;
    str value = STR_INIT, part = STR_INIT;
    struct spf_macro_tok tok;
    int rc = 0;

    if (spf_macro_check(text, len, flags) != 0)
        return -1;
    if (budget < SPF_MACRO_WORK_MIN)
        budget = SPF_MACRO_WORK_MIN;
    max += out->len;
    while (i < len && rc == 0) {
        ssize_t lit = i;

        while (i < len && text[i] != '%')
            i++;
        if (i > lit && spf_macro_put(out, text + lit, i - lit, max, truncate) != 0) {
            rc = -2;
            break;
        }
        if (i >= len)
            break;
        if (spf_macro_token(text, len, &i, flags, &tok) != 0) {
            rc = -1;
            break;
        }
        switch (tok.kind) {
        case '%': rc = spf_macro_put(out, "%", 1, max, truncate) ? -2 : 0; break;
        case '_': rc = spf_macro_put(out, " ", 1, max, truncate) ? -2 : 0; break;
        case '-': rc = spf_macro_put(out, "%20", 3, max, truncate) ? -2 : 0; break;
        default:
            str_reset(&value);
            str_reset(&part);
            spf_macro_value(env, tok.letter, &value);
            /*
             * "%{l1}" a thousand times over a huge local part outputs little
             * but scans a lot: bound the bytes scanned, not only the output.
             */
            if (work > budget) {
                rc = -2;
                break;
            }
            work += value.len;
            spf_macro_transform(&tok, &value, &part);
            if (tok.letter >= 'A' && tok.letter <= 'Z') {
                str_reset(&value);
                spf_url_escape(&value, str_cstr(&part), part.len);
                rc = spf_macro_put(out, str_cstr(&value), value.len, max, truncate) ? -2 : 0;
            } else {
                rc = spf_macro_put(out, str_cstr(&part), part.len, max, truncate) ? -2 : 0;
            }
            break;
        }
    }
    str_free(&value);
    str_free(&part);
    if (rc == -2 && truncate)
        rc = 0;
    return rc;
}

/* Finish an expanded name: trailing dot, left truncation, label checks. */
int spf_name_finish(str *name)
{
    const char *s;
    ssize_t len = name->len, cut = 0, label = 0;

    if (len > 0 && name->data[len - 1] == '.')
        str_truncate(name, --len);
    s = str_cstr(name);
    /* RFC 7208 7.3: remove whole labels from the left until it fits. */
    while (len - cut > SPF_NAME_MAX) {
        const char *dot = memchr(s + cut, '.', (size_t) (len - cut));

        if (dot == NULL)
            return -1;
        cut = dot - s + 1;
    }
    if (cut > 0) {
        memmove(name->data, name->data + cut, (size_t) (len - cut));
        str_truncate(name, len - cut);
        len -= cut;
    }
    if (len == 0)
        return -1;
    for (ssize_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if (s[i] == '\0' || ++label > SPF_LABEL_MAX) {
            return -1;
        }
    }
    return label > 0 ? 0 : -1;
}

/* Write a name in presentation form for lib/dns. */
int spf_name_escape(str *out, const char *name, ssize_t len)
{
    ssize_t base = out->len;

    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];

        if (c <= 0x20 || c >= 0x7f || c == '\\')
            str_addf(out, "\\%03u", (unsigned) c);
        else
            str_addc(out, c);
    }
    /*
     * XXX: lib/dns measures the presentation form, so a name full of
     * escapes can be refused although its wire form would fit.
     */
    return dns_name_valid(str_cstr(out) + base) ? 0 : -1;
}

/* RFC 7208 4.3: can this <domain> be checked at all? */
int spf_domain_checkable(const char *domain)
{
    size_t len = strlen(domain), label = 0, labels = 1;

    if (len > 0 && domain[len - 1] == '.')
        len--;
    if (len == 0 || len > SPF_NAME_MAX || domain[0] == '[')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) domain[i];

        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            labels++;
        } else if (c <= 0x20 || c >= 0x7f || ++label > SPF_LABEL_MAX) {
            /* XXX: an 8-bit (SMTPUTF8) domain would need its A-label form first. */
            return 0;
        }
    }
    return label > 0 && labels > 1;
}

/* Append printable ASCII only; other bytes become '?'; cut at max bytes with "...". */
void spf_sanitize(str *out, const char *text, ssize_t len, ssize_t max)
{
    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];

        if (max >= 0 && i >= max) {
            str_adds(out, "...");
            return;
        }
        str_addc(out, c >= 0x20 && c < 0x7f ? c : '?');
    }
}
