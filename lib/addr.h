/*
 * addr.h - RFC 5322 address lists (the From field) and RFC 5321 paths.
 *
 * addr_parse() reads one header field value (everything after the colon,
 * folds included) as an RFC 5322 address-list: display names, comments,
 * quoted strings, groups, angle addresses, obsolete routes and phrases,
 * RFC 2047 encoded words in display names, RFC 6532 UTF-8. It appends
 * every mailbox it finds to a list, so a caller with several From fields
 * calls it once per field and decides what their number means.
 *
 * addr_path_domain() extracts the domain of an RFC 5321 reverse-path
 * (the MAIL FROM argument, with or without angle brackets).
 *
 * Input is hostile: both are bounded (ADDR_MAX_*), reject NUL, control
 * bytes and invalid UTF-8 with an error, and never read past len.
 */
#ifndef RAMPART_ADDR_H
#define RAMPART_ADDR_H

#include <sys/types.h>

#include "str.h"

/* Limits; input over a limit is an error, never truncated. */
#define ADDR_MAX_LEN 8192          /* bytes of one header value or path */
#define ADDR_MAX_ADDRESSES 32      /* mailboxes in one list (all fields added) */
#define ADDR_MAX_COMMENT_DEPTH 16  /* nesting of RFC 5322 comments */

enum addr_status {
    ADDR_OK = 0,
    ADDR_EMPTY,        /* syntactically fine but no mailbox (empty, or only an empty group) */
    ADDR_SYNTAX,       /* not an RFC 5322 address-list / RFC 5321 path */
    ADDR_BAD_BYTE,     /* NUL, a control byte, or invalid UTF-8 ("8-bit junk") */
    ADDR_TOO_LONG,     /* over ADDR_MAX_LEN */
    ADDR_TOO_MANY,     /* over ADDR_MAX_ADDRESSES */
    ADDR_TOO_DEEP,     /* comments nested deeper than ADDR_MAX_COMMENT_DEPTH */
    ADDR_NO_DOMAIN,    /* addr_path_domain: a non-null path without a domain */
};

/* One mailbox. Strings are NUL-terminated and owned by the list. */
struct addr {
    char *display;     /* display name, RFC 2047 words decoded (bytes as sent, any
                          charset; control bytes replaced by '?'); "" if none */
    char *local;       /* local-part, quoted-pairs resolved */
    char *domain;      /* ASCII lowercased; "[...]" for a domain literal; NULL if the
                          mailbox had no "@domain" (obsolete or broken) */
    int literal;       /* domain is a domain literal */
    int group;         /* the mailbox was inside a group */
};

struct addr_list {
    int n;
    int cap;
    struct addr *a;
    const char *error; /* static text after an error, else NULL */
    ssize_t error_pos; /* byte offset in the value where the error was seen */
};

void addr_list_init(struct addr_list *l);
void addr_list_free(struct addr_list *l);

/*
 * Parse one header field value (value_len bytes, may contain NUL) as an
 * address-list and append its mailboxes to l. On any error nothing is
 * appended, l->error says why, and the status is returned.
 */
enum addr_status addr_parse(struct addr_list *l, const char *value, ssize_t value_len);

/*
 * The domain of an RFC 5321 reverse-path such as "<user@Example.COM>",
 * "user@example.com", "<@relay.example:user@example.com>" or "<>". On
 * ADDR_OK, domain holds the ASCII-lowercased domain ("" for the null path
 * "<>" or ""; "[...]" for an address literal). why (may be NULL) gets a
 * static explanation on error.
 */
enum addr_status addr_path_domain(const char *path, ssize_t len, str *domain, const char **why);

const char *addr_status_name(enum addr_status s);

/* 1 if s (len bytes) is valid UTF-8 with no NUL (shortest forms, no surrogates). */
int addr_utf8_valid(const char *s, ssize_t len);

#endif
