/*
 * uri.h - host names and addresses of the URLs in a message body.
 *
 * A uri_parser reads a message body as it streams in (MIME parts, nested
 * multiparts and message/rfc822, quoted-printable and base64, HTML
 * entities) and keeps the distinct hosts of the URLs it finds, in the
 * order found, within limits on bytes, URLs and hosts. It keeps no copy
 * of the body. The DNS list module looks the hosts up in URI lists.
 *
 * uri_host_normalize() is the one place where a host name from untrusted
 * input (a URL, a HELO name, a mail domain) becomes something that may be
 * asked of DNS; uri_psl_* reduce a host to its registered domain.
 */
#ifndef RAMPART_URI_H
#define RAMPART_URI_H

#include <sys/types.h>

#include "msg.h"
#include "str.h"

/* What a host turned out to be. */
enum uri_host_kind {
    URI_HOST_BAD = 0,     /* not a usable host name or address */
    URI_HOST_DOMAIN,      /* a domain name: lower case, ASCII (IDN labels in xn-- form) */
    URI_HOST_IPV4,        /* an IPv4 address, dotted quad */
    URI_HOST_IPV6,        /* an IPv6 address, RFC 5952 text (inet_ntop) */
};

/* Flags for uri_host_normalize. */
#define URI_HOST_PCT 0x1         /* decode %XX escapes first (URL hosts) */
#define URI_HOST_LOOSE_IPV4 0x2  /* IPv4 as browsers read it: 0x.., 0.., 1 to 4 parts */

/*
 * Normalise len bytes of in into out (reset first): percent-decoding if
 * asked, ASCII lower case, one trailing dot dropped, labels in Unicode
 * (UTF-8; U+3002, U+FF0E, U+FF61 count as dots) converted to punycode,
 * "[a.b.c.d]", "[IPv6:...]" and "[v6]" literals and bare IPv4 recognised.
 * Labels are 1..63 characters of [a-z0-9_-], names at most 253.
 * XXX: Unicode labels are not case-folded or NFC-normalised (no IDNA
 * tables here); an upper-case non-ASCII letter yields a name that simply
 * does not match.
 */
enum uri_host_kind uri_host_normalize(const char *in, ssize_t len, int flags, str *out);

/* Punycode (RFC 3492) of one label given as code points; -1 on overflow. */
int uri_punycode_encode(const unsigned int *cp, int n, str *out);

/* Limits of one parser; zero fields take the defaults below. */
struct uri_limits {
    int max_hosts;            /* distinct hosts kept */
    int max_urls;             /* URLs examined; the scan stops after that many */
    ssize_t max_text_bytes;   /* decoded text bytes examined */
    ssize_t max_body_bytes;   /* raw body bytes read */
    int max_depth;            /* nested multiparts and messages */
};

#define URI_DEFAULT_MAX_HOSTS 100
#define URI_DEFAULT_MAX_URLS 10000
#define URI_DEFAULT_MAX_TEXT_BYTES (1024 * 1024)
#define URI_DEFAULT_MAX_BODY_BYTES (32 * 1024 * 1024)
#define URI_DEFAULT_MAX_DEPTH 8

/* One distinct host. */
struct uri_host {
    char *name;               /* normalised (see uri_host_normalize) */
    enum uri_host_kind kind;  /* DOMAIN, IPV4 or IPV6 */
    int count;                /* URLs seen with this host */
};

/* What a parser saw; for logs and tests. */
struct uri_stats {
    int urls;                 /* URLs examined */
    int hosts;                /* distinct hosts kept */
    int dropped_hosts;        /* distinct hosts past max_hosts, not kept */
    int bad_hosts;            /* URLs whose host was not usable */
    int parts;                /* MIME parts whose text was scanned */
    ssize_t text_bytes;       /* decoded text bytes examined */
    ssize_t body_bytes;       /* raw bytes read */
    int truncated;            /* a limit stopped the scan */
};

struct uri_parser;

/* Flags for uri_parser_new. */
#define URI_WHOLE_MESSAGE 0x1    /* input starts with the message header, not the body */

/* A new parser; lim may be NULL for the defaults. */
struct uri_parser *uri_parser_new(const struct uri_limits *lim, int flags);

/*
 * The message's top-level Content-Type and Content-Transfer-Encoding
 * (either may be NULL: text/plain, 7bit), before the first feed. Without
 * this, the body is read as text/plain.
 */
void uri_parser_set_type(struct uri_parser *p, const char *content_type, const char *cte);
/* The same, from the message's header fields. */
void uri_parser_set_headers(struct uri_parser *p, const struct msg_headers *hs);

/* Feed body bytes, in chunks of any size. */
void uri_parser_feed(struct uri_parser *p, const char *data, ssize_t len);
/* End of the body: flush what is held. Feeding after this is ignored. */
void uri_parser_end(struct uri_parser *p);

/* The distinct hosts found so far, in order of discovery. */
int uri_parser_count(const struct uri_parser *p);
const struct uri_host *uri_parser_host(const struct uri_parser *p, int i);
void uri_parser_stats(const struct uri_parser *p, struct uri_stats *out);

void uri_parser_free(struct uri_parser *p);

/*
 * Public suffixes. uri_psl_load(NULL) gives a small built-in table
 * (generic suffixes are one label; a list of common two-label ones such
 * as co.uk); a path loads a file in the Public Suffix List format
 * (publicsuffix.org: rules, "*." wildcards, "!" exceptions, "//" comments).
 * Returns NULL and a message in err if the file cannot be read.
 */
struct uri_psl;
struct uri_psl *uri_psl_load(const char *path, str *err);
/* Rules loaded. */
int uri_psl_count(const struct uri_psl *psl);
/*
 * The registered domain of a normalised host (its public suffix plus one
 * label), as a pointer into host; NULL if host is a public suffix itself.
 */
const char *uri_registered_domain(const struct uri_psl *psl, const char *host);
void uri_psl_free(struct uri_psl *psl);

#endif
