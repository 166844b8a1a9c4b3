/*
 * uri.c - the hosts of the URLs in a message body, read as it streams.
 *
 * The body goes through four small stages, each with bounded state:
 *   lines    split at LF (a CR before it dropped); a line that may be a
 *            MIME boundary or a header is held up to URI_LINE_HOLD bytes,
 *            a longer one cannot be either and passes through in pieces;
 *   MIME     part headers (bounded), nested multipart boundaries and
 *            message/rfc822 up to max_depth; only text parts are read
 *            (text/plain and any other text subtype as plain, text/html
 *            with HTML entities decoded), attachments are skipped;
 *   decoding quoted-printable (a soft line break joins the URL that it
 *            splits) and base64, both streaming;
 *   scanning text is cut into tokens at white space, quotes and angle
 *            brackets; in each token "http:", "https:", "ftp:" (then any
 *            number of / or \, as browsers accept) and "www." start a
 *            URL; the host is what follows the last '@' of the authority
 *            (userinfo dropped) up to a port, path or other delimiter.
 * Hosts go through uri_host_normalize() (percent escapes, case, IDN to
 * punycode, IPv4 in decimal/hex/octal forms) and are kept once each, in
 * order, up to max_hosts; single-label names and unusable hosts are
 * counted and dropped. The scan stops at the first limit reached
 * (max_text_bytes of decoded text, max_body_bytes of input, max_urls URLs,
 * a new host past max_hosts) and says so in the stats.
 *
 * Not handled (documented limits): URLs without a scheme or "www." (bare
 * "example.com" text), e-mail addresses, protocol-relative "//host" and
 * relative links in HTML, text in UTF-16, base64-encoded message/rfc822
 * parts, RFC 2231 continued boundary parameters.
 *
 * The public suffix table (uri_psl_*) reduces a host to its registered
 * domain: a built-in list of common two-label suffixes, or a Public
 * Suffix List file.
 *
 * Nothing here logs; nothing here blocks.
 */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "str.h"
#include "uri.h"
#include "util.h"

#define URI_LINE_HOLD 1024        /* a held line longer than this is not a boundary */
#define URI_MAX_HEADER (16 * 1024) /* bytes of one part header kept */
#define URI_MAX_BOUNDARY 200      /* RFC 2046 allows 70 */
#define URI_TOKEN_MAX 8192        /* token bytes held before scanning what is there */
#define URI_TOKEN_KEEP 1024       /* ... keeping this tail, so a URL across the cut is found */
#define URI_MAX_HOST_INPUT 1024   /* raw host bytes looked at */
#define URI_MAX_NAME 253

/* ------------------------------------------------------------ punycode */

#define PC_BASE 36u
#define PC_TMIN 1u
#define PC_TMAX 26u
#define PC_SKEW 38u
#define PC_DAMP 700u
#define PC_BIAS 72u
#define PC_N 128u

/* RFC 3492 section 6.1: bias adaptation. */
static unsigned int pc_adapt(unsigned int delta, unsigned int npoints, int first)
{
    unsigned int k = 0;

    delta = first ? delta / PC_DAMP : delta / 2;
    delta += delta / npoints;
    while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
        delta /= PC_BASE - PC_TMIN;
        k += PC_BASE;
    }
    return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

/* One base-36 digit: a-z then 0-9. */
static char pc_digit(unsigned int d)
{
    return (char) (d < 26 ? 'a' + d : '0' + (d - 26));
}

/* Encode n code points (RFC 3492 section 6.3), appending to out. */
int uri_punycode_encode(const unsigned int *cp, int n, str *out)
{
    unsigned int code = PC_N, delta = 0, bias = PC_BIAS, h, b = 0;

    for (int i = 0; i < n; i++)
        if (cp[i] < 0x80) {
            str_addc(out, (int) cp[i]);
            b++;
        }
    h = b;
    if (b > 0)
        str_addc(out, '-');
    while (h < (unsigned int) n) {
        unsigned int m = UINT_MAX;

        for (int i = 0; i < n; i++)
            if (cp[i] >= code && cp[i] < m)
                m = cp[i];
        if ((m - code) > (UINT_MAX - delta) / (h + 1))
            return -1;
        delta += (m - code) * (h + 1);
        code = m;
        for (int i = 0; i < n; i++) {
            if (cp[i] < code && ++delta == 0)
                return -1;
            if (cp[i] != code)
                continue;
            unsigned int q = delta;

            for (unsigned int k = PC_BASE;; k += PC_BASE) {
                unsigned int t = k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;

                if (q < t)
                    break;
                str_addc(out, pc_digit(t + (q - t) % (PC_BASE - t)));
                q = (q - t) / (PC_BASE - t);
            }
            str_addc(out, pc_digit(q));
            bias = pc_adapt(delta, h + 1, h == b);
            delta = 0;
            h++;
        }
        delta++;
        code++;
    }
    return 0;
}

/* Decode one UTF-8 sequence (strict); bytes used, or -1. */
static int utf8_decode(const unsigned char *s, ssize_t n, unsigned int *cp)
{
    unsigned int c = s[0], min;
    int len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2; c &= 0x1f; min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3; c &= 0x0f; min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4; c &= 0x07; min = 0x10000;
    } else {
        return -1;
    }
    if (n < len)
        return -1;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return -1;
    *cp = c;
    return len;
}

/* Append a code point as UTF-8. */
static void utf8_add(str *s, unsigned int cp)
{
    unsigned char b[4];
    int n;

    if (cp < 0x80) {
        b[0] = (unsigned char) cp; n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char) (0xc0 | (cp >> 6)); b[1] = (unsigned char) (0x80 | (cp & 0x3f)); n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char) (0xe0 | (cp >> 12)); b[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char) (0x80 | (cp & 0x3f)); n = 3;
    } else {
        b[0] = (unsigned char) (0xf0 | (cp >> 18)); b[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f)); b[3] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 4;
    }
    str_add(s, b, n);
}

/* ------------------------------------------------------------ hosts */

/* The value of a hex digit, or -1. */
/* A label character once lower-cased. */
static int label_char(unsigned int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Dots that IDNA treats as '.'. */
static int unicode_dot(unsigned int cp)
{
    return cp == 0x3002 || cp == 0xff0e || cp == 0xff61;
}

/* Unicode punctuation that ends a host written in text (quotes, spaces, brackets). */
static int unicode_punct(unsigned int cp)
{
    return cp == 0xa0 || (cp >= 0x2000 && cp <= 0x206f) || cp == 0x3000 || cp == 0x3001
        || (cp >= 0x3008 && cp <= 0x3011) || cp == 0xfeff || cp == 0xff08 || cp == 0xff09
        || cp == 0xff0c || cp == 0xfffd;
}

/* Append one label (code points) to out, punycoded if not ASCII. */
static int add_label(const unsigned int *cp, int n, str *out)
{
    ssize_t start = out->len;
    int ascii = 1;

    if (n == 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (cp[i] >= 0x80) {
            /* Controls, spaces and punctuation are never part of a name. */
            if (cp[i] < 0xa0 || unicode_punct(cp[i]))
                return -1;
            ascii = 0;
        } else if (!label_char(cp[i])) {
            return -1;
        }
    }
    if (ascii) {
        for (int i = 0; i < n; i++)
            str_addc(out, (int) cp[i]);
    } else {
        str_adds(out, "xn--");
        if (uri_punycode_encode(cp, n, out) != 0)
            return -1;
    }
    return out->len - start > 63 ? -1 : 0;
}

/* Parse one IPv4 number part the way browsers do; -1 if not a number. */
static int64_t ipv4_part(const char *s, ssize_t n, int loose)
{
    int base = 10;
    int64_t v = 0;

    if (n == 0)
        return -1;
    if (loose && n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16; s += 2; n -= 2;
    } else if (loose && n >= 2 && s[0] == '0') {
        base = 8; s++; n--;
    } else if (!loose && n > 3) {
        return -1;
    }
    for (ssize_t i = 0; i < n; i++) {
        int d = ascii_hexval((unsigned char) s[i]);

        if (d < 0 || d >= base)
            return -1;
        v = v * base + d;
        if (v > 0xffffffffLL)
            return -1;
    }
    return v;
}

/*
 * If name (lower case ASCII, labels checked) is an IPv4 address, write it
 * as a dotted quad and return 1; 0 if it is a domain name; -1 if it looks
 * numeric but is no address (a numeric last label is never a TLD).
 */
static int ipv4_form(const char *name, ssize_t len, int loose, str *out)
{
    const char *last = name, *p;
    int64_t part[4];
    int n = 0, numeric = 1, hex;
    uint32_t addr;

    for (p = name; p < name + len; p++)
        if (*p == '.')
            last = p + 1;
    /* "Ends in a number": all digits, or (as browsers read it) 0x and hex digits. */
    hex = loose && name + len - last >= 2 && last[0] == '0' && last[1] == 'x';
    for (p = last + (hex ? 2 : 0); p < name + len; p++)
        if (hex ? ascii_hexval((unsigned char) *p) < 0 : !(*p >= '0' && *p <= '9'))
            numeric = 0;
    if (!numeric)
        return 0;
    for (p = name; p <= name + len; ) {
        const char *e = memchr(p, '.', (size_t) (name + len - p));

        if (e == NULL)
            e = name + len;
        if (n == 4 || (part[n] = ipv4_part(p, e - p, loose)) < 0)
            return -1;
        n++;
        p = e + 1;
    }
    if (!loose && n != 4)
        return -1;
    addr = 0;
    for (int i = 0; i < n - 1; i++) {
        if (part[i] > 255)
            return -1;
        addr |= (uint32_t) part[i] << (24 - 8 * i);
    }
    if (part[n - 1] >= (int64_t) 1 << (8 * (5 - n)))
        return -1;
    addr |= (uint32_t) part[n - 1];
    str_reset(out);
    str_addf(out, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255, addr & 255);
    return 1;
}

/* An address literal "[...]": IPv4, "IPv6:" tagged or bare IPv6. */
static enum uri_host_kind host_literal(const char *s, ssize_t n, str *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    struct in6_addr a6;
    struct in_addr a4;

    if (n >= 5 && ascii_tolower(s[0]) == 'i' && ascii_tolower(s[1]) == 'p' && ascii_tolower(s[2]) == 'v'
        && s[3] == '6' && s[4] == ':') {
        s += 5;
        n -= 5;
    }
    if (n <= 0 || (size_t) n >= sizeof(buf) || memchr(s, '\0', (size_t) n))
        return URI_HOST_BAD;
    memcpy(buf, s, (size_t) n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        str_set(out, buf);
        return URI_HOST_IPV4;
    }
    if (inet_pton(AF_INET6, buf, &a6) != 1)
        return URI_HOST_BAD;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        const uint8_t *b = a6.s6_addr;

        str_reset(out);
        str_addf(out, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
        return URI_HOST_IPV4;
    }
    inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
    str_set(out, buf);
    return URI_HOST_IPV6;
}

/* The work of uri_host_normalize on decoded bytes. */
static enum uri_host_kind host_norm(const unsigned char *s, ssize_t n, int flags, str *out)
{
    unsigned int cp[URI_MAX_HOST_INPUT];
    int ncp = 0, r;
    ssize_t i = 0;

    if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
        return host_literal((const char *) s + 1, n - 2, out);
    while (i <= n) {
        unsigned int c = 0;
        int k = 1, sep = i == n;

        if (!sep) {
            k = utf8_decode(s + i, n - i, &c);
            if (k < 0)
                return URI_HOST_BAD;
            c = (unsigned int) ascii_tolower((int) c);
            sep = c == '.' || unicode_dot(c);
        }
        if (sep && i == n && ncp == 0 && out->len > 0)
            break;                      /* one trailing dot: the root */
        if (sep) {
            if (out->len > 0)
                str_addc(out, '.');
            if (add_label(cp, ncp, out) != 0 || out->len > URI_MAX_NAME)
                return URI_HOST_BAD;
            ncp = 0;
        } else {
            cp[ncp++] = c;     /* ncp <= n <= URI_MAX_HOST_INPUT */
        }
        i += k;
    }
    r = ipv4_form(out->data, out->len, flags & URI_HOST_LOOSE_IPV4, out);
    return r < 0 ? URI_HOST_BAD : r ? URI_HOST_IPV4 : URI_HOST_DOMAIN;
}

/* Normalise a host name or address (see uri.h). */
enum uri_host_kind uri_host_normalize(const char *in, ssize_t len, int flags, str *out)
{
    str dec = STR_INIT;
    enum uri_host_kind k;

    str_reset(out);
    if (len <= 0 || len > URI_MAX_HOST_INPUT)
        return URI_HOST_BAD;
    if ((flags & URI_HOST_PCT) && memchr(in, '%', (size_t) len)) {
        for (ssize_t i = 0; i < len; i++) {
            int hi, lo;

            if (in[i] != '%') {
                str_addc(&dec, in[i]);
                continue;
            }
            if (i + 2 >= len) {
                str_free(&dec);
                return URI_HOST_BAD;
            }
            hi = ascii_hexval((unsigned char) in[i + 1]);
            lo = ascii_hexval((unsigned char) in[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                str_free(&dec);
                return URI_HOST_BAD;
            }
            str_addc(&dec, hi * 16 + lo);
            i += 2;
        }
        k = host_norm((const unsigned char *) dec.data, dec.len, flags, out);
        str_free(&dec);
    } else {
        if (memchr(in, '\0', (size_t) len))
            return URI_HOST_BAD;
        k = host_norm((const unsigned char *) in, len, flags, out);
    }
    if (k == URI_HOST_BAD)
        str_reset(out);
    return k;
}

/* ------------------------------------------------------------ parser */

enum part_mode { M_HEADER, M_BODY, M_SKIP };
enum part_cte { CTE_NONE, CTE_QP, CTE_B64 };

struct boundary {
    char *text;
    int nested;          /* message nesting when the multipart began */
};

struct uri_parser {
    struct uri_limits lim;
    int ended;
    int done;            /* a limit was reached: ignore the rest */
    /* MIME */
    enum part_mode mode;
    enum part_cte cte;
    int html;
    struct boundary *bound;
    int nbound;
    int nested;          /* message/rfc822 depth */
    str line;            /* the held start of the current line */
    int line_pass;       /* the rest of this line is content */
    int cr_held;         /* a piece ended in CR: content, or half of a CRLF? */
    str hdr;             /* the current part header, unfolded */
    /* decoders */
    int qp_state;
    int qp_hex;
    unsigned int b64_acc;
    int b64_n;
    char ent[16];
    int ent_n;
    /* scanner */
    str tok;
    str norm;
    /* hosts */
    struct uri_host *hosts;
    int nhosts;
    int *slots;
    int nslots;
    struct uri_stats st;
};

static void text_out(struct uri_parser *p, const char *s, ssize_t n);
static void scan(struct uri_parser *p, const char *s, ssize_t n);

/* FNV-1a, for the host set. */
static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;

    while (*s)
        h = (h ^ (unsigned char) *s++) * 16777619u;
    return h;
}

/* Keep a host once; stop the scan when a new one does not fit. */
static void host_add(struct uri_parser *p, const str *name, enum uri_host_kind kind)
{
    uint32_t i = hash_str(name->data) & (uint32_t) (p->nslots - 1);
    struct uri_host *h;

    while (p->slots[i]) {
        h = &p->hosts[p->slots[i] - 1];
        if (strcmp(h->name, name->data) == 0) {
            h->count++;
            return;
        }
        i = (i + 1) & (uint32_t) (p->nslots - 1);
    }
    if (p->nhosts >= p->lim.max_hosts) {
        p->st.dropped_hosts++;
        p->st.truncated = 1;
        p->done = 1;
        return;
    }
    h = &p->hosts[p->nhosts++];
    h->name = mem_strndup(name->data, name->len);
    h->kind = kind;
    h->count = 1;
    p->slots[i] = p->nhosts;
    p->st.hosts = p->nhosts;
}

/* Token separators: white space, controls, quotes, angle brackets. */
static const unsigned char sep_table[256] = {
    [0 ... 0x20] = 1, [0x7f] = 1, ['"'] = 1, ['\''] = 1, ['<'] = 1, ['>'] = 1, ['`'] = 1,
};

/* Does c end a token? */
static int is_sep(unsigned char c)
{
    return sep_table[c];
}

/* Characters that may appear in an authority (userinfo, host, port). */
static int auth_char(unsigned char c)
{
    return c != 0 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || strchr("-._~%!$&()*+,;=:@[]", c) != NULL);
}

/* Characters of a host before normalisation (non-ASCII checked later). */
static int host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '-' || c == '.' || c == '_' || c == '%' || c >= 0x80;
}

/* A URL's authority starts at a in t: take its host. */
static void url_at(struct uri_parser *p, const char *t, ssize_t len, ssize_t a)
{
    const unsigned char *u = (const unsigned char *) t;
    ssize_t e = a, h, he;
    enum uri_host_kind kind;

    if (++p->st.urls > p->lim.max_urls) {
        p->st.urls = p->lim.max_urls;
        p->st.truncated = 1;
        p->done = 1;
        return;
    }
    while (e < len && e - a < URI_MAX_HOST_INPUT * 2) {
        unsigned int cp;
        int k;

        if (u[e] < 0x80) {
            if (!auth_char(u[e]))
                break;
            e++;
            continue;
        }
        k = utf8_decode(u + e, len - e, &cp);
        if (k < 0)
            k = 1;                      /* kept: the host is then unusable */
        else if (unicode_punct(cp))
            break;
        e += k;
    }
    h = a;
    for (ssize_t i = a; i < e; i++)
        if (t[i] == '@')
            h = i + 1;
    if (h < e && t[h] == '[') {
        const char *close = memchr(t + h, ']', (size_t) (e - h));

        he = close ? close - t + 1 : h;
    } else {
        for (he = h; he < e && host_char(u[he]); he++)
            ;
    }
    kind = uri_host_normalize(t + h, he - h, URI_HOST_PCT | URI_HOST_LOOSE_IPV4, &p->norm);
    if (kind == URI_HOST_BAD || (kind == URI_HOST_DOMAIN && !strchr(p->norm.data, '.'))) {
        p->st.bad_hosts++;
        return;
    }
    host_add(p, &p->norm, kind);
}

/* Where a scheme ("http:", "https:", "ftp:" and slashes) at t ends; 0 if none. */
static ssize_t scheme_end(const char *t, ssize_t len)
{
    static const char *const schemes[] = { "http:", "https:", "ftp:" };

    for (size_t s = 0; s < NELEM(schemes); s++) {
        ssize_t n = (ssize_t) strlen(schemes[s]), i;

        if (len < n)
            continue;
        for (i = 0; i < n && ascii_tolower(t[i]) == schemes[s][i]; i++)
            ;
        if (i < n)
            continue;
        while (i < len && (t[i] == '/' || t[i] == '\\'))
            i++;
        return i > n ? i : 0;
    }
    return 0;
}

/* What may come before "www." that still starts a URL there. */
static int www_ok_before(unsigned char c)
{
    return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
             || strchr(".-_@/\\%:", c) != NULL || c >= 0x80);
}

/* Look for URLs starting before limit in token t. */
static void tok_scan(struct uri_parser *p, const char *t, ssize_t len, ssize_t limit)
{
    for (ssize_t i = 0; i < limit && !p->done; i++) {
        int c = ascii_tolower((unsigned char) t[i]);
        ssize_t j;

        if (c == 'h' || c == 'f') {
            if (i > 0 && ascii_tolower((unsigned char) t[i - 1]) >= 'a'
                && ascii_tolower((unsigned char) t[i - 1]) <= 'z')
                continue;
            j = scheme_end(t + i, len - i);
            if (j) {
                url_at(p, t, len, i + j);
                i += j - 1;
            }
        } else if (c == 'w' && len - i >= 5 && ascii_tolower(t[i + 1]) == 'w'
                   && ascii_tolower(t[i + 2]) == 'w' && t[i + 3] == '.'
                   && (i == 0 || www_ok_before((unsigned char) t[i - 1]))) {
            url_at(p, t, len, i);
            i += 3;
        }
    }
}

/* A token ended: scan it. */
static void tok_end(struct uri_parser *p)
{
    if (p->tok.len > 0)
        tok_scan(p, p->tok.data, p->tok.len, p->tok.len);
    str_reset(&p->tok);
}

/* Add token bytes; a long token is scanned in overlapping windows. */
static void tok_add(struct uri_parser *p, const char *s, ssize_t n)
{
    while (n > 0 && !p->done) {
        ssize_t room = URI_TOKEN_MAX - p->tok.len, k = n < room ? n : room;

        str_add(&p->tok, s, k);
        s += k;
        n -= k;
        if (p->tok.len >= URI_TOKEN_MAX) {
            /* URLs starting in the kept tail are found in the next window. */
            tok_scan(p, p->tok.data, p->tok.len, URI_TOKEN_MAX - URI_TOKEN_KEEP);
            memmove(p->tok.data, p->tok.data + URI_TOKEN_MAX - URI_TOKEN_KEEP, URI_TOKEN_KEEP);
            str_truncate(&p->tok, URI_TOKEN_KEEP);
        }
    }
}

/* Decoded text into the scanner, within max_text_bytes. */
static void scan(struct uri_parser *p, const char *s, ssize_t n)
{
    ssize_t i = 0;
    int over = 0;

    if (p->done)
        return;
    if (n > p->lim.max_text_bytes - p->st.text_bytes) {
        n = p->lim.max_text_bytes - p->st.text_bytes;
        over = 1;
    }
    p->st.text_bytes += n;
    while (i < n && !p->done) {
        ssize_t j = i;

        while (j < n && !is_sep((unsigned char) s[j]))
            j++;
        if (j < n && p->tok.len == 0 && j - i < URI_TOKEN_MAX) {
            /* A whole token in this piece: scan it where it is. */
            tok_scan(p, s + i, j - i, j - i);
        } else {
            if (j > i)
                tok_add(p, s + i, j - i);
            if (j < n)
                tok_end(p);
        }
        i = j + (j < n);
    }
    if (over) {
        /* The token cut by the limit is incomplete: a wrong host is worse than none. */
        str_reset(&p->tok);
        p->st.truncated = 1;
        p->done = 1;
    }
}

/* Named HTML character references that matter for URLs. */
static const struct {
    const char *name;
    unsigned int cp;
    int legacy;          /* browsers also take it without the ';' */
} html_entities[] = {
    { "amp", '&', 1 }, { "lt", '<', 1 }, { "gt", '>', 1 }, { "quot", '"', 1 }, { "nbsp", ' ', 1 },
    { "AMP", '&', 1 }, { "LT", '<', 1 }, { "GT", '>', 1 }, { "QUOT", '"', 1 },
    { "apos", '\'', 0 }, { "colon", ':', 0 }, { "sol", '/', 0 }, { "bsol", '\\', 0 }, { "period", '.', 0 },
    { "commat", '@', 0 }, { "num", '#', 0 }, { "percnt", '%', 0 }, { "quest", '?', 0 }, { "equals", '=', 0 },
    { "lpar", '(', 0 }, { "rpar", ')', 0 }, { "lowbar", '_', 0 }, { "hyphen", '-', 0 }, { "dash", '-', 0 },
    { "tilde", '~', 0 }, { "plus", '+', 0 }, { "semi", ';', 0 }, { "comma", ',', 0 }, { "excl", '!', 0 },
    { "Tab", '\t', 0 }, { "NewLine", '\n', 0 }, { "ensp", ' ', 0 }, { "emsp", ' ', 0 }, { "thinsp", ' ', 0 },
};

/* Decode the reference name (after '&', without ';'); 1 with *cp, or 0. */
static int entity_decode(const char *name, int n, int semi, unsigned int *cp)
{
    if (n >= 2 && name[0] == '#') {
        int hex = name[1] == 'x' || name[1] == 'X', i = hex ? 2 : 1, digits = 0;
        unsigned int v = 0;

        for (; i < n; i++) {
            int d = ascii_hexval((unsigned char) name[i]);

            if (d < 0 || d >= (hex ? 16 : 10))
                return 0;
            if (v <= 0x10ffff)
                v = v * (hex ? 16u : 10u) + (unsigned int) d;
            digits++;
        }
        if (digits == 0)
            return 0;
        /* As browsers do: no code point, surrogates, NUL are U+FFFD. */
        *cp = v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ? 0xfffd : v;
        return 1;
    }
    for (size_t i = 0; i < NELEM(html_entities); i++) {
        /* Without ';' browsers only take the legacy few. */
        if ((int) strlen(html_entities[i].name) == n && memcmp(html_entities[i].name, name, (size_t) n) == 0
            && (semi || html_entities[i].legacy)) {
            *cp = html_entities[i].cp;
            return 1;
        }
    }
    return 0;
}

/* HTML text: decode character references, then scan. */
static void html_text(struct uri_parser *p, const char *s, ssize_t n)
{
    str out = STR_INIT;
    const char *amp;

    /* Most text has no reference: hand it on as it is. */
    if (p->ent_n == 0 && (amp = memchr(s, '&', (size_t) n)) == NULL) {
        scan(p, s, n);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned int cp;

        if (p->ent_n > 0) {
            int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'), more;

            /* A numeric reference takes digits only (then ';' or not); a named one letters and digits. */
            if (p->ent_n >= 2 && p->ent[1] == '#') {
                int hex = p->ent_n >= 3 && (p->ent[2] == 'x' || p->ent[2] == 'X');

                if (p->ent_n == 2)
                    more = (c >= '0' && c <= '9') || c == 'x' || c == 'X';
                else
                    more = hex ? ascii_hexval((unsigned char) c) >= 0 : c >= '0' && c <= '9';
            } else {
                more = alnum || (c == '#' && p->ent_n == 1);
            }
            if (more && p->ent_n < (int) sizeof(p->ent) - 1) {
                p->ent[p->ent_n++] = c;
                continue;
            }
            if (c == ';' && entity_decode(p->ent + 1, p->ent_n - 1, 1, &cp)) {
                utf8_add(&out, cp);
                p->ent_n = 0;
                continue;
            }
            if (entity_decode(p->ent + 1, p->ent_n - 1, 0, &cp))
                utf8_add(&out, cp);
            else
                str_add(&out, p->ent, p->ent_n);
            p->ent_n = 0;
        }
        if (c == '&') {
            p->ent[0] = '&';
            p->ent_n = 1;
            continue;
        }
        /* Copy up to the next reference in one go. */
        amp = memchr(s + i, '&', (size_t) (n - i));
        str_add(&out, s + i, (amp ? amp - s : n) - i);
        i = (amp ? amp - s : n) - 1;
    }
    scan(p, out.data, out.len);
    str_free(&out);
}

/* Decoded part text to the right scanner. */
static void text_out(struct uri_parser *p, const char *s, ssize_t n)
{
    if (n <= 0 || p->done)
        return;
    if (p->html)
        html_text(p, s, n);
    else
        scan(p, s, n);
}

/* Quoted-printable, streaming; a soft line break joins lines. */
static void qp_decode(struct uri_parser *p, const char *s, ssize_t n, int eol)
{
    str out = STR_INIT;

    for (ssize_t i = 0; i < n; i++) {
        char c = s[i];

again:
        switch (p->qp_state) {
        case 0:
            if (c == '=') {
                p->qp_state = 1;
            } else {
                /* Copy up to the next '=' in one go. */
                const char *eq = memchr(s + i, '=', (size_t) (n - i));
                ssize_t end = eq ? eq - s : n;

                str_add(&out, s + i, end - i);
                i = end - 1;
            }
            break;
        case 1:
            if (ascii_hexval((unsigned char) c) >= 0) {
                p->qp_hex = c;
                p->qp_state = 2;
            } else if (c == ' ' || c == '\t' || c == '\r') {
                p->qp_state = 3;
            } else {
                str_addc(&out, '=');
                p->qp_state = 0;
                goto again;
            }
            break;
        case 2:
            p->qp_state = 0;
            if (ascii_hexval((unsigned char) c) >= 0) {
                str_addc(&out, ascii_hexval(p->qp_hex) * 16 + ascii_hexval((unsigned char) c));
            } else {
                str_addc(&out, '=');
                str_addc(&out, p->qp_hex);
                goto again;
            }
            break;
        default:           /* '=' then white space: a soft break if the line ends */
            if (c != ' ' && c != '\t' && c != '\r') {
                str_addc(&out, '=');
                p->qp_state = 0;
                goto again;
            }
            break;
        }
    }
    if (eol) {
        if (p->qp_state == 2) {
            str_addc(&out, '=');
            str_addc(&out, p->qp_hex);
        }
        if (p->qp_state == 0 || p->qp_state == 2)
            str_addc(&out, '\n');
        p->qp_state = 0;
    }
    text_out(p, out.data, out.len);
    str_free(&out);
}

/* The value of a base64 character, or -1. */
/* Emit the bytes of a partial base64 group ('=' or end of part). */
static void b64_flush(struct uri_parser *p, str *out)
{
    if (p->b64_n == 2) {
        str_addc(out, (int) (p->b64_acc >> 4) & 0xff);
    } else if (p->b64_n == 3) {
        str_addc(out, (int) (p->b64_acc >> 10) & 0xff);
        str_addc(out, (int) (p->b64_acc >> 2) & 0xff);
    }
    p->b64_n = 0;
    p->b64_acc = 0;
}

/* Base64, streaming; other characters are ignored, '=' ends a group. */
static void b64_decode(struct uri_parser *p, const char *s, ssize_t n)
{
    str out = STR_INIT;

    for (ssize_t i = 0; i < n; i++) {
        int v = base64_value((unsigned char) s[i]);

        if (v < 0) {
            if (s[i] == '=')
                b64_flush(p, &out);
            continue;
        }
        p->b64_acc = (p->b64_acc << 6) | (unsigned int) v;
        if (++p->b64_n == 4) {
            str_addc(&out, (int) (p->b64_acc >> 16) & 0xff);
            str_addc(&out, (int) (p->b64_acc >> 8) & 0xff);
            str_addc(&out, (int) p->b64_acc & 0xff);
            p->b64_n = 0;
            p->b64_acc = 0;
        }
    }
    text_out(p, out.data, out.len);
    str_free(&out);
}

/* A piece of a body line of a text part (eol: the line ends here). */
static void content(struct uri_parser *p, const char *s, ssize_t n, int eol)
{
    if (p->mode != M_BODY || p->done)
        return;
    switch (p->cte) {
    case CTE_QP:
        qp_decode(p, s, n, eol);
        break;
    case CTE_B64:
        b64_decode(p, s, n);
        break;
    default:
        text_out(p, s, n);
        if (eol)
            text_out(p, "\n", 1);
        break;
    }
}

/* The current part ends: flush the decoders and the token. */
static void part_end(struct uri_parser *p)
{
    if (p->mode == M_BODY) {
        if (p->cte == CTE_B64) {
            str out = STR_INIT;

            b64_flush(p, &out);
            text_out(p, out.data, out.len);
            str_free(&out);
        } else if (p->cte == CTE_QP && p->qp_state != 0) {
            qp_decode(p, "", 0, 1);
        }
        if (p->ent_n > 0) {
            int n = p->ent_n;

            p->ent_n = 0;
            p->html = 0;       /* flush the held reference as it was */
            text_out(p, p->ent, n);
        }
        tok_end(p);
    }
    p->qp_state = 0;
    p->b64_n = 0;
    p->b64_acc = 0;
    p->ent_n = 0;
    p->html = 0;
    p->cte = CTE_NONE;
}

/* Skip white space and (nested) comments in a header value. */
static const char *skip_cfws(const char *s, const char *end)
{
    int depth = 0;

    while (s < end) {
        if (*s == '(') {
            depth++;
        } else if (*s == ')' && depth > 0) {
            depth--;
        } else if (depth == 0 && !(*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
            break;
        } else if (*s == '\\' && depth > 0 && s + 1 < end) {
            s++;
        }
        s++;
    }
    return s;
}

/* Does s (n bytes) equal the lower-case word w, ignoring case? */
static int word_is(const char *s, ssize_t n, const char *w)
{
    ssize_t wl = (ssize_t) strlen(w);

    if (n != wl)
        return 0;
    for (ssize_t i = 0; i < n; i++)
        if (ascii_tolower((unsigned char) s[i]) != w[i])
            return 0;
    return 1;
}

/* A token in a header value (RFC 2045 tspecials end it). */
static const char *token_end(const char *s, const char *end)
{
    while (s < end && (unsigned char) *s > 0x20 && (unsigned char) *s < 0x7f
           && !strchr("()<>@,;:\\\"/[]?=", *s))
        s++;
    return s;
}

/* The boundary parameter of a Content-Type value, into b; 0 if none or bad. */
static int ct_boundary(const char *s, const char *end, str *b)
{
    while (s < end) {
        const char *semi = s, *name, *name_end;

        /* Find the next ';' outside quotes. */
        while (semi < end && *semi != ';') {
            if (*semi == '"') {
                for (semi++; semi < end && *semi != '"'; semi++)
                    if (*semi == '\\' && semi + 1 < end)
                        semi++;
            }
            if (semi < end)
                semi++;
        }
        if (semi >= end)
            return 0;
        name = skip_cfws(semi + 1, end);
        name_end = token_end(name, end);
        s = skip_cfws(name_end, end);
        if (s >= end || *s != '=') {
            s = name_end > name ? name_end : name + 1;
            continue;
        }
        s = skip_cfws(s + 1, end);
        if (!word_is(name, name_end - name, "boundary"))
            continue;
        str_reset(b);
        if (s < end && *s == '"') {
            for (s++; s < end && *s != '"'; s++) {
                if (*s == '\\' && s + 1 < end)
                    s++;
                str_addc(b, *s);
            }
        } else {
            const char *e = token_end(s, end);

            str_add(b, s, e - s);
        }
        return b->len > 0 && b->len <= URI_MAX_BOUNDARY && !memchr(b->data, '\0', (size_t) b->len)
            && !memchr(b->data, '\n', (size_t) b->len);
    }
    return 0;
}

/* Set up the part that a Content-Type / Content-Transfer-Encoding describe. */
static void apply_type(struct uri_parser *p, const char *ct, ssize_t ctlen, const char *cte, ssize_t ctelen)
{
    const char *end, *t, *te, *sub = NULL, *sube = NULL;
    str b = STR_INIT;

    part_end(p);
    if (cte) {
        const char *ce = cte + ctelen, *s = skip_cfws(cte, ce), *e = token_end(s, ce);

        if (word_is(s, e - s, "quoted-printable"))
            p->cte = CTE_QP;
        else if (word_is(s, e - s, "base64"))
            p->cte = CTE_B64;
    }
    if (ct == NULL) {
        ct = "";
        ctlen = 0;
    }
    end = ct + ctlen;
    t = skip_cfws(ct, end);
    te = token_end(t, end);
    if (te < end && *te == '/') {
        sub = skip_cfws(te + 1, end);
        sube = token_end(sub, end);
    }
    if (word_is(t, te - t, "multipart")) {
        if (!ct_boundary(te, end, &b)) {
            p->mode = M_BODY;           /* no usable boundary: read it as text */
            p->st.parts++;
        } else if (p->nbound + p->nested >= p->lim.max_depth) {
            p->mode = M_SKIP;
            p->st.truncated = 1;
        } else {
            p->bound[p->nbound].text = str_steal(&b);
            p->bound[p->nbound].nested = p->nested;
            p->nbound++;
            p->mode = M_SKIP;           /* the preamble */
            p->cte = CTE_NONE;
        }
    } else if (word_is(t, te - t, "message") && sub
               && (word_is(sub, sube - sub, "rfc822") || word_is(sub, sube - sub, "global"))) {
        if (p->cte != CTE_NONE) {
            p->mode = M_SKIP;           /* XXX: an encoded message is not decoded and re-read */
        } else if (p->nbound + p->nested >= p->lim.max_depth) {
            p->mode = M_SKIP;
            p->st.truncated = 1;
        } else {
            p->nested++;
            p->mode = M_HEADER;
            str_reset(&p->hdr);
        }
    } else if (te == t || word_is(t, te - t, "text")) {
        p->mode = M_BODY;
        p->html = sub && word_is(sub, sube - sub, "html");
        p->st.parts++;
    } else {
        p->mode = M_SKIP;
    }
    str_free(&b);
}

/* Find a field in the unfolded part header; its value and length. */
static const char *hdr_field(const str *hdr, const char *name, ssize_t *vlen)
{
    ssize_t nl = (ssize_t) strlen(name);
    /* A part without any header field has no buffer yet: no arithmetic on NULL (found by fuzzing). */
    const char *s = hdr->data ? hdr->data : "", *end = s + hdr->len;

    while (s < end) {
        const char *e = memchr(s, '\n', (size_t) (end - s)), *c;

        if (e == NULL)
            e = end;
        if (e - s > nl && word_is(s, nl, name)) {
            c = s + nl;
            while (c < e && (*c == ' ' || *c == '\t'))
                c++;
            if (c < e && *c == ':') {
                *vlen = e - c - 1;
                return c + 1;
            }
        }
        s = e + 1;
    }
    return NULL;
}

/* The part header ended. */
static void headers_done(struct uri_parser *p)
{
    ssize_t ctlen = 0, ctelen = 0;
    const char *ct = hdr_field(&p->hdr, "content-type", &ctlen);
    const char *cte = hdr_field(&p->hdr, "content-transfer-encoding", &ctelen);

    apply_type(p, ct, ctlen, cte, ctelen);
    str_reset(&p->hdr);
}

/* A line starting "--": a boundary of an open multipart? */
static int boundary_line(struct uri_parser *p, const char *s, ssize_t n)
{
    for (int d = p->nbound - 1; d >= 0; d--) {
        ssize_t bl = (ssize_t) strlen(p->bound[d].text), r;
        int closing;

        if (n - 2 < bl || memcmp(s + 2, p->bound[d].text, (size_t) bl) != 0)
            continue;
        r = 2 + bl;
        closing = n - r >= 2 && s[r] == '-' && s[r + 1] == '-';
        if (closing)
            r += 2;
        while (r < n && (s[r] == ' ' || s[r] == '\t'))
            r++;
        if (r < n)
            continue;
        part_end(p);
        /* An outer boundary also closes the inner multiparts left open. */
        while (p->nbound > d + 1)
            mem_free(p->bound[--p->nbound].text);
        p->nested = p->bound[d].nested;
        if (closing) {
            mem_free(p->bound[--p->nbound].text);
            p->mode = M_SKIP;
        } else {
            p->mode = M_HEADER;
            str_reset(&p->hdr);
        }
        return 1;
    }
    return 0;
}

/* A held line is complete. */
static void line_end(struct uri_parser *p, int eol)
{
    const char *s = p->line.data ? p->line.data : "";
    ssize_t n = p->line.len;

    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (p->mode == M_HEADER) {
        if (n == 0) {
            headers_done(p);
        } else if (p->hdr.len < URI_MAX_HEADER) {
            ssize_t room = URI_MAX_HEADER - p->hdr.len;

            /* A continuation line joins its field: unfolding. */
            if (s[0] != ' ' && s[0] != '\t')
                str_addc(&p->hdr, '\n');
            str_add(&p->hdr, s, n < room ? n : room);
        }
    } else if (!(p->nbound > 0 && n >= 2 && s[0] == '-' && s[1] == '-' && boundary_line(p, s, n))) {
        content(p, s, n, eol);
    }
    str_reset(&p->line);
}

/* A piece of a line (eol: a LF followed it). */
static void line_piece(struct uri_parser *p, const char *s, ssize_t n, int eol)
{
    ssize_t cn = eol && n > 0 && s[n - 1] == '\r' ? n - 1 : n;

    if (p->nbound == 0 && p->mode == M_SKIP)
        return;                         /* a single non-text part: nothing to read */
    if (p->nbound == 0 && p->mode == M_BODY) {
        content(p, s, cn, eol);
        return;
    }
    if (p->line_pass) {
        content(p, s, cn, eol);
        p->line_pass = !eol;
        return;
    }
    /* Only a line starting with '-' can be a boundary; headers are always held. */
    if (p->mode != M_HEADER && p->line.len == 0 && n > 0 && s[0] != '-') {
        content(p, s, cn, eol);
        p->line_pass = !eol;
        return;
    }
    if (p->line.len + n > URI_LINE_HOLD) {
        if (p->mode == M_HEADER) {
            str_add(&p->line, s, URI_LINE_HOLD - p->line.len);   /* the rest is dropped */
        } else {
            content(p, p->line.data, p->line.len, 0);
            content(p, s, cn, eol);
            str_reset(&p->line);
            p->line_pass = !eol;
            return;
        }
    } else {
        str_add(&p->line, s, n);
    }
    if (eol)
        line_end(p, 1);
}

/* A new parser. */
struct uri_parser *uri_parser_new(const struct uri_limits *lim, int flags)
{
    struct uri_parser *p = mem_zalloc(sizeof(*p));

    if (lim)
        p->lim = *lim;
    if (p->lim.max_hosts <= 0)
        p->lim.max_hosts = URI_DEFAULT_MAX_HOSTS;
    if (p->lim.max_urls <= 0)
        p->lim.max_urls = URI_DEFAULT_MAX_URLS;
    if (p->lim.max_text_bytes <= 0)
        p->lim.max_text_bytes = URI_DEFAULT_MAX_TEXT_BYTES;
    if (p->lim.max_body_bytes <= 0)
        p->lim.max_body_bytes = URI_DEFAULT_MAX_BODY_BYTES;
    if (p->lim.max_depth <= 0)
        p->lim.max_depth = URI_DEFAULT_MAX_DEPTH;
    p->bound = mem_zalloc((ssize_t) sizeof(*p->bound) * p->lim.max_depth);
    p->hosts = mem_zalloc((ssize_t) sizeof(*p->hosts) * p->lim.max_hosts);
    for (p->nslots = 16; p->nslots < 2 * p->lim.max_hosts; p->nslots *= 2)
        ;
    p->slots = mem_zalloc((ssize_t) sizeof(*p->slots) * p->nslots);
    if (flags & URI_WHOLE_MESSAGE) {
        p->mode = M_HEADER;
    } else {
        p->mode = M_BODY;
        p->st.parts = 1;
    }
    return p;
}

/* The top-level type, before the body. */
void uri_parser_set_type(struct uri_parser *p, const char *content_type, const char *cte)
{
    if (p->st.body_bytes > 0 || p->ended)
        return;
    p->st.parts = 0;
    apply_type(p, content_type, content_type ? (ssize_t) strlen(content_type) : 0,
               cte, cte ? (ssize_t) strlen(cte) : 0);
}

/* The top-level type from the message's header fields. */
void uri_parser_set_headers(struct uri_parser *p, const struct msg_headers *hs)
{
    const struct msg_header *ct = msg_headers_find(hs, "Content-Type", 0);
    const struct msg_header *cte = msg_headers_find(hs, "Content-Transfer-Encoding", 0);

    if (p->st.body_bytes > 0 || p->ended)
        return;
    p->st.parts = 0;
    apply_type(p, ct ? ct->value : NULL, ct ? ct->value_len : 0,
               cte ? cte->value : NULL, cte ? cte->value_len : 0);
}

/* Feed body bytes. */
void uri_parser_feed(struct uri_parser *p, const char *data, ssize_t len)
{
    int over = 0;

    if (p->ended || p->done || len <= 0)
        return;
    if (len > p->lim.max_body_bytes - p->st.body_bytes) {
        len = p->lim.max_body_bytes - p->st.body_bytes;
        over = 1;
    }
    p->st.body_bytes += len;
    while (len > 0 && !p->done) {
        const char *nl = memchr(data, '\n', (size_t) len);
        ssize_t n = nl ? nl - data : len, used = n + (nl != NULL);

        /*
         * A CR that ended the previous piece is content, unless this piece
         * starts with its LF: then the line ends as if it had come in one
         * piece. Holding it keeps the result independent of where the
         * pieces are cut (a CRLF split across two feeds used to count the
         * CR as text; found by fuzzing).
         */
        if (p->cr_held) {
            p->cr_held = 0;
            if (n == 0 && nl != NULL) {
                line_piece(p, "\r", 1, 1);
                data += used;
                len -= used;
                continue;
            }
            line_piece(p, "\r", 1, 0);
        }
        if (nl == NULL && data[n - 1] == '\r') {
            p->cr_held = 1;
            n--;
        }
        if (n > 0 || nl != NULL)
            line_piece(p, data, n, nl != NULL);
        data += used;
        len -= used;
    }
    if (over) {
        /* The input was cut: the held line and the token are incomplete; drop them. */
        str_reset(&p->line);
        p->line_pass = 0;
        str_reset(&p->tok);
        p->done = 1;
        p->st.truncated = 1;
        p->cr_held = 0;
    }
}

/* End of the body. */
void uri_parser_end(struct uri_parser *p)
{
    if (p->ended)
        return;
    if (!p->done) {
        if (p->cr_held)
            line_piece(p, "\r", 1, 0);   /* a CR at the very end is content */
        p->cr_held = 0;
        if (p->line.len > 0)
            line_end(p, 0);
        part_end(p);
    }
    p->ended = 1;
    str_free(&p->line);
    str_free(&p->hdr);
    str_free(&p->tok);
}

/* Number of distinct hosts kept. */
int uri_parser_count(const struct uri_parser *p)
{
    return p->nhosts;
}

/* Host i, or NULL. */
const struct uri_host *uri_parser_host(const struct uri_parser *p, int i)
{
    return i >= 0 && i < p->nhosts ? &p->hosts[i] : NULL;
}

/* What the parser saw. */
void uri_parser_stats(const struct uri_parser *p, struct uri_stats *out)
{
    *out = p->st;
}

/* Free a parser and its hosts. */
void uri_parser_free(struct uri_parser *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->nhosts; i++)
        mem_free(p->hosts[i].name);
    for (int i = 0; i < p->nbound; i++)
        mem_free(p->bound[i].text);
    mem_free(p->bound);
    mem_free(p->hosts);
    mem_free(p->slots);
    str_free(&p->line);
    str_free(&p->hdr);
    str_free(&p->tok);
    str_free(&p->norm);
    mem_free(p);
}

/* ------------------------------------------------------------ public suffixes */

#define PSL_MAX_RULES 200000
#define PSL_MAX_LINE 1024

struct uri_psl {
    char **rules;        /* "a.b", "*.b" or "!a.b" */
    int n;
    int cap;
    int *slots;
    int nslots;
};

/* Common suffixes of two labels, for when no list file is configured. */
static const char *const psl_builtin[] = {
    "ac.uk", "co.uk", "gov.uk", "ltd.uk", "me.uk", "net.uk", "org.uk", "plc.uk", "sch.uk",
    "com.au", "edu.au", "gov.au", "id.au", "net.au", "org.au",
    "co.nz", "net.nz", "org.nz", "ac.nz", "govt.nz",
    "ac.jp", "co.jp", "go.jp", "ne.jp", "or.jp",
    "co.kr", "ne.kr", "or.kr",
    "com.br", "net.br", "org.br", "gov.br",
    "com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn",
    "com.hk", "com.tw", "com.sg", "com.my", "co.id", "or.id", "web.id",
    "co.in", "firm.in", "gen.in", "ind.in", "net.in", "org.in",
    "co.za", "org.za", "web.za",
    "com.mx", "com.ar", "com.co", "com.pe", "com.ve", "com.ec", "com.uy", "com.py",
    "com.tr", "net.tr", "org.tr", "com.ua", "com.pl", "net.pl", "org.pl",
    "co.il", "org.il", "co.th", "in.th", "com.vn", "com.ph", "com.pk", "com.ng",
    "com.eg", "com.sa", "co.ke", "com.bd", "com.np", "com.kh",
};

/* Find a rule; its slot (empty or matching). */
static int psl_slot(const struct uri_psl *psl, const char *rule)
{
    uint32_t i = hash_str(rule) & (uint32_t) (psl->nslots - 1);

    while (psl->slots[i] && strcmp(psl->rules[psl->slots[i] - 1], rule) != 0)
        i = (i + 1) & (uint32_t) (psl->nslots - 1);
    return (int) i;
}

/* Is the rule in the table? */
static int psl_has(const struct uri_psl *psl, const char *rule)
{
    return psl->nslots > 0 && psl->slots[psl_slot(psl, rule)] != 0;
}

/* Add a rule (already normalised); duplicates are ignored. */
static void psl_add(struct uri_psl *psl, const char *rule)
{
    int s;

    if (psl->n + 1 > psl->nslots / 2) {
        int old = psl->nslots;

        psl->nslots = old ? old * 2 : 256;
        mem_free(psl->slots);
        psl->slots = mem_zalloc((ssize_t) sizeof(int) * psl->nslots);
        for (int i = 0; i < psl->n; i++)
            psl->slots[psl_slot(psl, psl->rules[i])] = i + 1;
    }
    s = psl_slot(psl, rule);
    if (psl->slots[s])
        return;
    if (psl->n == psl->cap) {
        psl->cap = psl->cap ? psl->cap * 2 : 128;
        psl->rules = mem_realloc(psl->rules, (ssize_t) sizeof(char *) * psl->cap);
    }
    psl->rules[psl->n++] = mem_strdup(rule);
    psl->slots[s] = psl->n;
}

/* One line of a list file: a rule, normalised; 0 if the line holds none. */
static int psl_rule(const char *line, str *rule, str *tmp)
{
    const char *s = line, *e;
    const char *prefix = "";

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0' || (s[0] == '/' && s[1] == '/'))
        return 0;
    for (e = s; *e && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n'; e++)
        ;
    if (*s == '!') {
        prefix = "!";
        s++;
    } else if (s[0] == '*' && s[1] == '.') {
        prefix = "*.";
        s += 2;
    }
    if (uri_host_normalize(s, e - s, 0, tmp) != URI_HOST_DOMAIN)
        return 0;
    str_set(rule, prefix);
    str_add(rule, tmp->data, tmp->len);
    return 1;
}

/* Load the suffix table (NULL: built-in). */
struct uri_psl *uri_psl_load(const char *path, str *err)
{
    struct uri_psl *psl = mem_zalloc(sizeof(*psl));
    str rule = STR_INIT, tmp = STR_INIT;
    char line[PSL_MAX_LINE];
    FILE *f;

    if (path == NULL || *path == '\0') {
        for (size_t i = 0; i < NELEM(psl_builtin); i++)
            psl_add(psl, psl_builtin[i]);
        return psl;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        str_addf(err, "%s: cannot open public suffix list: %m", path);
        mem_free(psl);
        return NULL;
    }
    while (fgets(line, sizeof(line), f)) {
        if (!strchr(line, '\n') && !feof(f)) {
            int c;

            /* An overlong line is no rule: skip the rest of it. */
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        if (psl_rule(line, &rule, &tmp) && psl->n < PSL_MAX_RULES)
            psl_add(psl, rule.data);
    }
    if (ferror(f)) {
        str_addf(err, "%s: read error", path);
        fclose(f);
        str_free(&rule);
        str_free(&tmp);
        uri_psl_free(psl);
        return NULL;
    }
    fclose(f);
    str_free(&rule);
    str_free(&tmp);
    if (psl->n == 0) {
        str_addf(err, "%s: no public suffix rules", path);
        uri_psl_free(psl);
        return NULL;
    }
    return psl;
}

/* Number of rules. */
int uri_psl_count(const struct uri_psl *psl)
{
    return psl ? psl->n : 0;
}

/* The registered domain of host: its public suffix and one more label. */
const char *uri_registered_domain(const struct uri_psl *psl, const char *host)
{
    char key[URI_MAX_NAME + 8];
    const char *suffix = strrchr(host, '.'), *cand, *parent;

    /* No rule matching: the last label alone is the suffix ("*"). */
    suffix = suffix ? suffix + 1 : host;
    for (cand = host; cand && psl; cand = parent) {
        parent = strchr(cand, '.');
        if (parent)
            parent++;
        if (strlen(cand) > URI_MAX_NAME)
            return NULL;
        snprintf(key, sizeof(key), "!%s", cand);
        if (psl_has(psl, key)) {
            suffix = parent ? parent : cand;
            break;
        }
        if (psl_has(psl, cand)) {
            suffix = cand;
            break;
        }
        if (parent) {
            snprintf(key, sizeof(key), "*.%s", parent);
            if (psl_has(psl, key)) {
                suffix = cand;
                break;
            }
        }
    }
    if (suffix == host)
        return NULL;
    /* Back one label from the suffix. */
    for (cand = suffix - 1; cand > host && cand[-1] != '.'; cand--)
        ;
    return cand;
}

/* Free a suffix table. */
void uri_psl_free(struct uri_psl *psl)
{
    if (psl == NULL)
        return;
    for (int i = 0; i < psl->n; i++)
        mem_free(psl->rules[i]);
    mem_free(psl->rules);
    mem_free(psl->slots);
    mem_free(psl);
}
