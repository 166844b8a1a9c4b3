/*
 * authres.c - Authentication-Results headers (RFC 8601).
 *
 * authres_format() renders our header from results the checks produced;
 * every value that came from outside (addresses, domains, selectors) is
 * reduced to printable ASCII without CR/LF and quoted when it is not a
 * plain token, and bounded, so no header injection is possible.
 *
 * Line length (RFC 5322 2.1.1: 998 characters at most, 78 recommended):
 * the header is cut into units, the authserv-id, "method=result", each
 * word of a reason comment and each "property=value", and folded with
 * "\n\t" only where white space already separates two units. A result
 * that fits on the current line stays there whole; otherwise it starts a
 * line of its own, and inside it a fold goes before every unit that would
 * pass column 78 (the ';' that follows counted). A unit is never split,
 * so only a unit longer than a line makes a line pass 78, and every unit
 * is bounded: the authserv-id and a result word are cut at
 * AUTHRES_WORD_MAX bytes and a reason at AUTHRES_COMMENT_MAX, each with
 * "..." added; a property value longer than AUTHRES_PROP_MAX is not kept
 * at all (authres_prop), since a domain or address cut short would name
 * another one. Method and property names are ours: keyword characters
 * only, at most AUTHRES_NAME_MAX. The longest possible line is checked at
 * compile time against 998.
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

#define AUTHRES_WORD_MAX 256      /* bytes of the authserv-id or a result word, "..." past it */
#define AUTHRES_COMMENT_MAX 256   /* bytes of a reason, "..." past it */
#define AUTHRES_NAME_MAX 64       /* bytes of a method or property name */
#define AUTHRES_FOLD_COLUMN 78    /* RFC 5322 2.1.1: SHOULD NOT pass */
#define AUTHRES_LINE_MAX 998      /* RFC 5322 2.1.1: MUST NOT pass */
#define AUTHRES_COMMENT_DEPTH 8
/* Units of one result: "method=result", the words of a reason (one per two bytes at most), properties. */
#define AUTHRES_UNITS_MAX (1 + (AUTHRES_COMMENT_MAX + 3) / 2 + 1 + AUTHRES_MAX_PROPS)

/* The longest quoted value: every byte escaped, "..." added, the quotes. */
#define AUTHRES_QUOTED(n) (2 * ((n) + 3) + 2)
/* The longest unit on a line of its own: tab, unit, ';' (the first line: the field name and the id). */
_Static_assert(1 + AUTHRES_NAME_MAX + 1 + AUTHRES_QUOTED(AUTHRES_PROP_MAX) + 1 <= AUTHRES_LINE_MAX,
               "a property can pass 998 characters");
_Static_assert(1 + AUTHRES_NAME_MAX + 1 + AUTHRES_QUOTED(AUTHRES_WORD_MAX) + 1 <= AUTHRES_LINE_MAX,
               "a method=result can pass 998 characters");
_Static_assert(1 + AUTHRES_QUOTED(AUTHRES_COMMENT_MAX) + 1 <= AUTHRES_LINE_MAX,
               "a reason can pass 998 characters");
_Static_assert(sizeof("Authentication-Results: ") + AUTHRES_QUOTED(AUTHRES_WORD_MAX) + 1 <= AUTHRES_LINE_MAX,
               "the authserv-id can pass 998 characters");

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

/* Add a property to a result (dropped past the maximum, or when its value is too long). */
void authres_prop(struct authres_result *r, const char *name, const char *value)
{
    if (r == NULL || r->nprops >= AUTHRES_MAX_PROPS || strlen(value) > AUTHRES_PROP_MAX)
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

/* Append a name of ours (method, property): keyword characters only, bounded. */
static void authres_keyword(str *out, const char *name)
{
    for (size_t i = 0; name[i] != '\0' && i < AUTHRES_NAME_MAX; i++) {
        char c = name[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._", c))
            str_addc(out, c);
    }
}

/* Append a value as a token, or as a quoted-string if it is not one; max bounds it. */
static void authres_value(str *out, const char *v, ssize_t max)
{
    str clean = STR_INIT;
    int plain = 1;

    verdict_sanitize(&clean, v, (ssize_t) strlen(v), max);
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

/*
 * One result as units: text holds them joined by single spaces, end[k]
 * is where unit k ends. A fold may replace any of those spaces.
 */
struct authres_piece {
    str text;
    int n;
    ssize_t end[AUTHRES_UNITS_MAX];
};

/* Start a unit (after a space, unless it is the first). */
static void authres_unit_begin(struct authres_piece *p)
{
    if (p->text.len > 0)
        str_addc(&p->text, ' ');
}

/* End the unit begun last (past the table, which the bounds above rule out, the last unit grows instead). */
static void authres_unit_end(struct authres_piece *p)
{
    if (p->n < AUTHRES_UNITS_MAX)
        p->n++;
    p->end[p->n - 1] = p->text.len;
}

/*
 * Append a comment "(text)" with parentheses and backslashes escaped, one
 * unit per word: runs of white space become one space, a fold point
 * (RFC 5322 allows FWS inside a comment).
 */
static void authres_comment(struct authres_piece *p, const char *text)
{
    str clean = STR_INIT;
    ssize_t i = 0;

    verdict_sanitize(&clean, text, (ssize_t) strlen(text), AUTHRES_COMMENT_MAX);
    while (i < clean.len && clean.data[i] == ' ')
        i++;
    authres_unit_begin(p);
    str_addc(&p->text, '(');
    while (i < clean.len) {
        char c = clean.data[i++];

        if (c == ' ') {
            while (i < clean.len && clean.data[i] == ' ')
                i++;
            if (i < clean.len) {
                authres_unit_end(p);
                authres_unit_begin(p);
            }
            continue;
        }
        if (c == '(' || c == ')' || c == '\\')
            str_addc(&p->text, '\\');
        str_addc(&p->text, c);
    }
    str_addc(&p->text, ')');
    authres_unit_end(p);
    str_free(&clean);
}

/* Cut one result into units. */
static void authres_piece_build(struct authres_piece *p, const struct authres_result *r)
{
    str_reset(&p->text);
    p->n = 0;
    authres_unit_begin(p);
    authres_keyword(&p->text, r->method);
    str_addc(&p->text, '=');
    authres_value(&p->text, r->result, AUTHRES_WORD_MAX);
    authres_unit_end(p);
    if (r->reason)
        authres_comment(p, r->reason);
    for (int k = 0; k < r->nprops; k++) {
        authres_unit_begin(p);
        authres_keyword(&p->text, r->prop_name[k]);
        str_addc(&p->text, '=');
        authres_value(&p->text, r->prop_value[k], AUTHRES_PROP_MAX);
        authres_unit_end(p);
    }
}

/*
 * Append a piece after the ';' that ends the line so far (col: its
 * length). tail is 1 when a ';' will follow the piece. The whole piece
 * stays on this line if it fits; otherwise it starts a new one, folded
 * again before each unit that would pass the fold column.
 */
static void authres_place(str *out, ssize_t *col, const struct authres_piece *p, int tail)
{
    if (*col + 1 + p->text.len + tail <= AUTHRES_FOLD_COLUMN) {
        str_addc(out, ' ');
        str_add(out, p->text.data, p->text.len);
        *col += 1 + p->text.len;
        return;
    }
    str_adds(out, "\n\t");
    *col = 1;
    for (int k = 0; k < p->n; k++) {
        ssize_t start = k == 0 ? 0 : p->end[k - 1] + 1;
        ssize_t len = p->end[k] - start;

        if (k > 0) {
            if (*col + 1 + len + (k == p->n - 1 ? tail : 0) > AUTHRES_FOLD_COLUMN) {
                str_adds(out, "\n\t");
                *col = 1;
            } else {
                str_addc(out, ' ');
                (*col)++;
            }
        }
        str_add(out, p->text.data + start, len);
        *col += len;
    }
}

/* Render the header value, folded. */
void authres_format(const struct authres *ar, const char *authserv_id, str *out)
{
    struct authres_piece *p = mem_zalloc(sizeof(*p));
    ssize_t col, start = out->len;

    str_addc(out, ' ');
    authres_value(out, authserv_id, AUTHRES_WORD_MAX);
    col = (ssize_t) strlen("Authentication-Results:") + out->len - start;
    if (ar->n == 0) {
        str_adds(&p->text, "none");
        authres_unit_end(p);
        str_addc(out, ';');
        col++;
        authres_place(out, &col, p, 0);
    }
    for (int i = 0; i < ar->n; i++) {
        authres_piece_build(p, &ar->r[i]);
        str_addc(out, ';');
        col++;
        authres_place(out, &col, p, i < ar->n - 1);
    }
    str_free(&p->text);
    mem_free(p);
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
