/*
 * authres.h - Authentication-Results (RFC 8601): our header, and the
 * recognition of forged ones.
 */
#ifndef RAMPART_AUTHRES_H
#define RAMPART_AUTHRES_H

#include "str.h"

#define AUTHRES_MAX_RESULTS 32
#define AUTHRES_MAX_PROPS 6
/* Bytes of a property value: a 64-byte local part, '@' and a 255-byte domain. */
#define AUTHRES_PROP_MAX 320

/* One method result: "spf=pass smtp.mailfrom=a@b.example" (reason and properties optional). */
struct authres_result {
    char *method;                     /* "spf", "dkim", "dmarc", ... */
    char *result;                     /* "pass", "fail", ... */
    char *reason;                     /* optional comment text, NULL if none */
    int nprops;
    char *prop_name[AUTHRES_MAX_PROPS];   /* "smtp.mailfrom", "header.d", ... */
    char *prop_value[AUTHRES_MAX_PROPS];
};

struct authres {
    int n;
    struct authres_result r[AUTHRES_MAX_RESULTS];
};

void authres_init(struct authres *ar);
void authres_free(struct authres *ar);
/* Start a result; returns it so properties can be added. Extra results past the maximum are dropped (NULL). */
struct authres_result *authres_add(struct authres *ar, const char *method, const char *result, const char *reason);
/*
 * Add a property; values are sanitised when rendered (quoted if needed).
 * Left out past AUTHRES_MAX_PROPS, and when the value is longer than
 * AUTHRES_PROP_MAX bytes (cut short, a domain or address would name
 * another one).
 */
void authres_prop(struct authres_result *r, const char *name, const char *value);

/*
 * The header value (without "Authentication-Results:"): " id; m=r p=v; ..."
 * or " id; none" when there are no results. Folded with "\n\t" (no CR) in
 * place of a space so that no line, the field name counted on the first,
 * passes column 78: before a result that does not fit on the current line,
 * and inside a result between "method=result", the words of its reason and
 * its properties. A single value longer than a line stays whole on a line
 * of its own; every value is bounded, so no line passes 998 characters.
 */
void authres_format(const struct authres *ar, const char *authserv_id, str *out);

/*
 * The authserv-id of a received Authentication-Results value (comments and
 * folding skipped, an optional version number after it allowed). Returns 0
 * with the id in out, or -1 if the value cannot be parsed.
 */
int authres_parse_id(const char *value, ssize_t len, str *out);

/* Must a received A-R header with this value be removed? Ours (any case), or unparseable. */
int authres_is_ours_or_bad(const char *value, ssize_t len, const char *authserv_id);

#endif
