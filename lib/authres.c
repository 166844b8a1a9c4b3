/*
 * authres.c - Authentication-Results headers (RFC 8601).
 *
 * authres_format() renders our header from results the checks produced;
 * every value that came from outside (addresses, domains, selectors) is
 * reduced to printable ASCII without CR/LF and quoted when it is not a
 * plain token, and bounded, so no header injection is possible.
 *
 * authres_parse_id() reads the authserv-id of a received header: skip
 * CFWS (white space, folds, nested comments up to a depth), read a token
 * (value = token / quoted-string), accept an optional version number, and
 * require ';' or the end after it. The milter removes every received header
 * whose id is ours (case-insensitively) or cannot be parsed, before adding
 * its own, so a forged result never survives.
 */
#include "config.h"

#include <string.h>

#include "authres.h"
#include "mem.h"
#include "util.h"
#include "verdict.h"

#define AUTHRES_VALUE_MAX 256     /* bytes of one property value */
#define AUTHRES_COMMENT_DEPTH 8

void authres_init(struct authres *ar)
{
    memset(ar, 0, sizeof(*ar));
}

void authres_free(struct authres *ar)
{
    for (int i = 0; i < ar->n; i++) {
        struct authres_result *r = &ar->r[i];

        mem_free(r->method);
        mem_free(r->result);
        mem_free(r->reason);
        for (int k = 0; k < r->nprops; k++) {
            mem_free(r->prop_name[k]);
            mem_free(r->prop_value[k]);
        }
    }
    authres_init(ar);
}

/* Start a method result. */
struct authres_result *authres_add(struct authres *ar, const char *method, const char *result, const char *reason)
{
    struct authres_result *r;

    if (ar->n >= AUTHRES_MAX_RESULTS)
        return NULL;
    r = &ar->r[ar->n++];
    memset(r, 0, sizeof(*r));
    r->method = mem_strdup(method);
    r->result = mem_strdup(result);
    r->reason = reason && reason[0] ? mem_strdup(reason) : NULL;
    return r;
}

/* Add a property to a result (dropped past the maximum). */
void authres_prop(struct authres_result *r, const char *name, const char *value)
{
    if (r == NULL || r->nprops >= AUTHRES_MAX_PROPS)
        return;
    r->prop_name[r->nprops] = mem_strdup(name);
    r->prop_value[r->nprops] = mem_strdup(value);
    r->nprops++;
}

/* RFC 2045 token characters (plus '@' and '/', harmless in a pvalue). */
static int authres_tokenchar(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>,;:\\\"[]?=", c);
}

/* Append a value as a token, or as a quoted-string if it is not one. */
static void authres_value(str *out, const char *v)
{
    str clean = STR_INIT;
    int plain = 1;

    verdict_sanitize(&clean, v, (ssize_t) strlen(v), AUTHRES_VALUE_MAX);
    for (ssize_t i = 0; i < clean.len; i++)
        if (!authres_tokenchar((unsigned char) clean.data[i]) && clean.data[i] != '@')
            plain = 0;
    if (clean.len == 0)
        plain = 0;
    if (plain) {
        str_add(out, clean.data, clean.len);
    } else {
        str_addc(out, '"');
        for (ssize_t i = 0; i < clean.len; i++) {
            if (clean.data[i] == '"' || clean.data[i] == '\\')
                str_addc(out, '\\');
            str_addc(out, clean.data[i]);
        }
        str_addc(out, '"');
    }
    str_free(&clean);
}

/* Append a comment "(text)" with parentheses and backslashes escaped. */
static void authres_comment(str *out, const char *text)
{
    str clean = STR_INIT;

    verdict_sanitize(&clean, text, (ssize_t) strlen(text), AUTHRES_VALUE_MAX);
    str_addc(out, '(');
    for (ssize_t i = 0; i < clean.len; i++) {
        char c = clean.data[i];

        if (c == '(' || c == ')' || c == '\\')
            str_addc(out, '\\');
        str_addc(out, c);
    }
    str_addc(out, ')');
    str_free(&clean);
}

/* Render the header value, folded. */
void authres_format(const struct authres *ar, const char *authserv_id, str *out)
{
    ssize_t line_start = out->len - (ssize_t) strlen("Authentication-Results:");
    str piece = STR_INIT;

    str_addc(out, ' ');
    authres_value(out, authserv_id);
    if (ar->n == 0) {
        str_adds(out, "; none");
        return;
    }
    for (int i = 0; i < ar->n; i++) {
        const struct authres_result *r = &ar->r[i];

        str_reset(&piece);
        str_adds(&piece, r->method);
        str_addc(&piece, '=');
        authres_value(&piece, r->result);
        if (r->reason) {
            str_addc(&piece, ' ');
            authres_comment(&piece, r->reason);
        }
        for (int k = 0; k < r->nprops; k++) {
            str_addc(&piece, ' ');
            str_adds(&piece, r->prop_name[k]);
            str_addc(&piece, '=');
            authres_value(&piece, r->prop_value[k]);
        }
        str_addc(out, ';');
        /* Fold before a result that would pass column 78. */
        if (out->len - line_start + 1 + piece.len > 78) {
            str_adds(out, "\n\t");
            line_start = out->len - 1;
        } else {
            str_addc(out, ' ');
        }
        str_add(out, piece.data, piece.len);
    }
    str_free(&piece);
}

/* Skip white space, folds and (nested) comments; -1 on an unterminated or too deep comment. */
static int authres_skip_cfws(const char *s, ssize_t len, ssize_t *pos)
{
    ssize_t i = *pos;

    while (i < len) {
        char c = s[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
        } else if (c == '(') {
            int depth = 0;

            do {
                if (s[i] == '\\' && i + 1 < len)
                    i++;
                else if (s[i] == '(' && ++depth > AUTHRES_COMMENT_DEPTH)
                    return -1;
                else if (s[i] == ')')
                    depth--;
                i++;
            } while (i < len && depth > 0);
            if (depth > 0)
                return -1;
        } else {
            break;
        }
    }
    *pos = i;
    return 0;
}

/* The authserv-id of a received header. */
int authres_parse_id(const char *value, ssize_t len, str *out)
{
    ssize_t i = 0, start;

    str_reset(out);
    if (authres_skip_cfws(value, len, &i) != 0 || i >= len)
        return -1;
    if (value[i] == '"') {
        /* quoted-string */
        for (i++; i < len && value[i] != '"'; i++) {
            if (value[i] == '\\' && i + 1 < len)
                i++;
            if ((unsigned char) value[i] < 0x20 && value[i] != '\t')
                return -1;
            str_addc(out, value[i]);
        }
        if (i >= len)
            return -1;
        i++;
    } else {
        start = i;
        while (i < len && authres_tokenchar((unsigned char) value[i]))
            i++;
        if (i == start)
            return -1;
        str_add(out, value + start, i - start);
    }
    if (out->len == 0 || authres_skip_cfws(value, len, &i) != 0)
        return -1;
    /* Optional version number. */
    if (i < len && value[i] >= '0' && value[i] <= '9') {
        while (i < len && value[i] >= '0' && value[i] <= '9')
            i++;
        if (authres_skip_cfws(value, len, &i) != 0)
            return -1;
    }
    if (i < len && value[i] != ';')
        return -1;
    return 0;
}

/* Ours, or not parseable: remove it. */
int authres_is_ours_or_bad(const char *value, ssize_t len, const char *authserv_id)
{
    str id = STR_INIT;
    int remove;

    if (memchr(value, '\0', (size_t) len) != NULL)
        return 1;
    remove = authres_parse_id(value, len, &id) != 0 || ascii_casecmp(str_cstr(&id), authserv_id) == 0;
    str_free(&id);
    return remove;
}
