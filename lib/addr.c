/*
 * addr.c - RFC 5322 address-list and RFC 5321 path parsing.
 *
 * addr_parse() works in two passes over one header value: a tokenizer
 * turns the bytes into words (atoms, quoted strings, domain literals) and
 * specials, dropping white space, folds and comments (nested up to
 * ADDR_MAX_COMMENT_DEPTH); a small recursive-descent parser then reads
 * address-list = address *("," address), where address is a mailbox
 * (addr-spec or [display-name] "<" [obs-route] addr-spec ">") or a group
 * (display-name ":" [mailbox-list] ";"). Obsolete forms accepted: empty
 * list elements (obs-addr-list), routes in angle addresses, phrases with
 * dots, CFWS around the dots of a local-part or domain, and local-parts
 * with empty dot-separated parts (seen in the wild; the local-part is not
 * what DMARC looks at). A mailbox without "@domain" is kept with a NULL
 * domain so the caller can tell "no domain" from a syntax error.
 *
 * Contract: the value is bounded (ADDR_MAX_LEN), at most
 * ADDR_MAX_ADDRESSES mailboxes are kept, NUL / control bytes / invalid
 * UTF-8 are ADDR_BAD_BYTE. On error the list is left as it was. Nothing is
 * logged here; the caller reports l->error.
 */
#include "config.h"

#include <string.h>

#include "addr.h"
#include "mem.h"
#include "util.h"

enum tok_type {
    T_END,
    T_ATOM,      /* run of atext (and UTF-8) */
    T_QSTRING,   /* "..." (value unescaped) */
    T_DLITERAL,  /* [...] (value with brackets) */
    T_DOT, T_AT, T_LT, T_GT, T_COMMA, T_COLON, T_SEMI,
};

struct token {
    enum tok_type type;
    ssize_t off;        /* value in the tokenizer's text buffer */
    ssize_t len;
    ssize_t pos;        /* byte offset in the input, for errors */
    int space_before;   /* white space or a comment came before it */
};

struct lexer {
    struct token *t;
    int n, cap;
    str text;           /* token values, each NUL-terminated */
};

struct parser {
    struct lexer *lx;
    int i;
    struct addr_list *out;   /* mailboxes found so far in this value */
    enum addr_status status;
    const char *error;
    ssize_t error_pos;
};

static const char *const status_names[] = {
    "ok", "empty", "syntax", "bad-byte", "too-long", "too-many", "too-deep", "no-domain",
};

/* Name of a status, for logs. */
const char *addr_status_name(enum addr_status s)
{
    if ((unsigned) s < NELEM(status_names))
        return status_names[s];
    return "unknown";
}

/* RFC 5322 atext (ASCII part). */
static int is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Offset of the first byte that is not valid UTF-8 (or NUL), or -1 if none. */
static ssize_t utf8_bad_at(const char *s, ssize_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    ssize_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        int n;
        unsigned int cp, min;

        if (c == 0)
            return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (len - i <= n)
            return i;
        for (int k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n + 1;
    }
    return -1;
}

/* 1 if s is valid UTF-8 without NUL (no overlongs, no surrogates, <= U+10FFFF). */
int addr_utf8_valid(const char *s, ssize_t len)
{
    return utf8_bad_at(s, len) < 0;
}

/* Reject NUL, control bytes other than folding white space, and bad UTF-8. */
static int bytes_ok(const char *s, ssize_t len, ssize_t *bad)
{
    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f) {
            *bad = i;
            return 0;
        }
    }
    if ((*bad = utf8_bad_at(s, len)) >= 0)
        return 0;
    return 1;
}

/* Append a token whose value will be added to lx->text by the caller. */
static struct token *lex_push(struct lexer *lx, enum tok_type type, ssize_t pos, int space)
{
    struct token *t;

    if (lx->n == lx->cap) {
        lx->cap = lx->cap ? lx->cap * 2 : 32;
        lx->t = mem_realloc(lx->t, (ssize_t) sizeof(*lx->t) * lx->cap);
    }
    t = &lx->t[lx->n++];
    t->type = type;
    t->off = lx->text.len;
    t->len = 0;
    t->pos = pos;
    t->space_before = space;
    return t;
}

/* Close the value of the last token. */
static void lex_end(struct lexer *lx, struct token *t)
{
    t->len = lx->text.len - t->off;
    str_addc(&lx->text, '\0');
}

/* Skip a comment starting at s[*i] == '('; 0 on success. */
static enum addr_status skip_comment(const char *s, ssize_t len, ssize_t *i, const char **why)
{
    int depth = 0;

    while (*i < len) {
        char c = s[*i];

        if (c == '\\') {
            if (*i + 1 >= len) {
                *why = "quoted-pair at end of comment";
                return ADDR_SYNTAX;
            }
            *i += 2;
            continue;
        }
        (*i)++;
        if (c == '(') {
            if (++depth > ADDR_MAX_COMMENT_DEPTH) {
                *why = "comments nested too deep";
                return ADDR_TOO_DEEP;
            }
        } else if (c == ')') {
            if (--depth == 0)
                return ADDR_OK;
        }
    }
    *why = "unterminated comment";
    return ADDR_SYNTAX;
}

/* Split the value into tokens. */
static enum addr_status lex(struct lexer *lx, const char *s, ssize_t len, const char **why, ssize_t *where)
{
    ssize_t i = 0;
    int space = 0;
    enum addr_status st;

    while (i < len) {
        unsigned char c = (unsigned char) s[i];
        struct token *t;
        enum tok_type single = T_END;

        *where = i;
        if (is_wsp(c)) {
            space = 1;
            i++;
            continue;
        }
        if (c == '(') {
            if ((st = skip_comment(s, len, &i, why)) != ADDR_OK)
                return st;
            space = 1;
            continue;
        }
        switch (c) {
        case '.': single = T_DOT; break;
        case '@': single = T_AT; break;
        case '<': single = T_LT; break;
        case '>': single = T_GT; break;
        case ',': single = T_COMMA; break;
        case ':': single = T_COLON; break;
        case ';': single = T_SEMI; break;
        default: break;
        }
        if (single != T_END) {
            t = lex_push(lx, single, i, space);
            str_addc(&lx->text, (char) c);
            lex_end(lx, t);
            i++;
        } else if (c == '"') {
            t = lex_push(lx, T_QSTRING, i, space);
            for (i++;; i++) {
                if (i >= len) {
                    *why = "unterminated quoted string";
                    return ADDR_SYNTAX;
                }
                if (s[i] == '"')
                    break;
                if (s[i] == '\\') {
                    if (++i >= len) {
                        *why = "quoted-pair at end of quoted string";
                        return ADDR_SYNTAX;
                    }
                    /*
                     * Obsolete "\" CR / "\" LF is unfolded like a bare one:
                     * a line end must not reach a display name or local-part
                     * (found by fuzzing).
                     */
                    if (s[i] == '\r' || s[i] == '\n')
                        continue;
                } else if (s[i] == '\r' || s[i] == '\n') {
                    continue;       /* a fold inside the quotes: unfold */
                }
                str_addc(&lx->text, s[i]);
            }
            i++;
            lex_end(lx, t);
        } else if (c == '[') {
            t = lex_push(lx, T_DLITERAL, i, space);
            str_addc(&lx->text, '[');
            for (i++;; i++) {
                if (i >= len) {
                    *why = "unterminated domain literal";
                    return ADDR_SYNTAX;
                }
                if (s[i] == ']')
                    break;
                if (s[i] == '[' || s[i] == '\\' || is_wsp((unsigned char) s[i])) {
                    *why = "bad character in domain literal";
                    return ADDR_SYNTAX;
                }
                str_addc(&lx->text, s[i]);
            }
            str_addc(&lx->text, ']');
            i++;
            lex_end(lx, t);
        } else if (is_atext(c) || c >= 0x80) {
            t = lex_push(lx, T_ATOM, i, space);
            while (i < len && (is_atext((unsigned char) s[i]) || (unsigned char) s[i] >= 0x80))
                str_addc(&lx->text, s[i++]);
            lex_end(lx, t);
        } else {
            *why = "unexpected character";
            return ADDR_SYNTAX;
        }
        space = 0;
    }
    *where = len;
    lex_push(lx, T_END, len, space);
    return ADDR_OK;
}

static const struct token *peek(struct parser *p)
{
    return &p->lx->t[p->i];
}

static const char *tok_text(struct parser *p, const struct token *t)
{
    return p->lx->text.data + t->off;
}

static void fail(struct parser *p, enum addr_status st, const char *why)
{
    if (p->status == ADDR_OK) {
        p->status = st;
        p->error = why;
        p->error_pos = peek(p)->pos;
    }
}

/*
 * Decode an RFC 2047 encoded word "=?charset?B|Q?text?=" into out; 0 if
 * w is one, -1 (out untouched) if not. The charset is not converted.
 */
static int decode_eword(const char *w, ssize_t len, str *out)
{
    const char *q1, *q2, *text, *end;
    str tmp = STR_INIT;
    char enc;

    if (len < 8 || w[0] != '=' || w[1] != '?' || w[len - 2] != '?' || w[len - 1] != '=')
        return -1;
    end = w + len - 2;
    q1 = memchr(w + 2, '?', (size_t) (end - (w + 2)));
    if (!q1 || q1 == w + 2 || q1 + 2 >= end || q1[2] != '?')
        return -1;
    enc = (char) ascii_tolower((unsigned char) q1[1]);
    text = q1 + 3;
    q2 = text;
    if (memchr(text, '?', (size_t) (end - text)))
        return -1;
    if (enc == 'q') {
        for (; q2 < end; q2++) {
            if (*q2 == '_') {
                str_addc(&tmp, ' ');
            } else if (*q2 == '=') {
                int h, l;

                if (end - q2 < 3 || (h = ascii_hexval(q2[1])) < 0 || (l = ascii_hexval(q2[2])) < 0)
                    goto bad;
                str_addc(&tmp, (char) (h * 16 + l));
                q2 += 2;
            } else {
                str_addc(&tmp, *q2);
            }
        }
    } else if (enc == 'b') {
        unsigned int acc = 0;
        int bits = 0;

        for (; q2 < end && *q2 != '='; q2++) {
            int v = base64_value((unsigned char) *q2);

            if (v < 0)
                goto bad;
            acc = (acc << 6) | (unsigned int) v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                str_addc(&tmp, (char) ((acc >> bits) & 0xff));
            }
        }
        for (; q2 < end; q2++)
            if (*q2 != '=')
                goto bad;
    } else {
        return -1;
    }
    for (ssize_t k = 0; k < tmp.len; k++) {
        unsigned char c = (unsigned char) tmp.data[k];

        str_addc(out, (c < 0x20 || c == 0x7f) ? '?' : (char) c);
    }
    str_free(&tmp);
    return 0;
bad:
    str_free(&tmp);
    return -1;
}

/* Render the phrase tokens [from, to) as a display name. */
static char *display_name(struct parser *p, int from, int to)
{
    str d = STR_INIT;
    int prev_eword = 0;

    for (int k = from; k < to; k++) {
        const struct token *t = &p->lx->t[k];
        const char *w = p->lx->text.data + t->off;
        int eword = 0;
        ssize_t mark = d.len;

        if (k > from && t->space_before)
            str_addc(&d, ' ');
        if (t->type == T_ATOM) {
            ssize_t before = d.len;

            if (decode_eword(w, t->len, &d) == 0) {
                eword = 1;
                /* White space between two encoded words is not displayed. */
                if (prev_eword && mark < before) {
                    memmove(d.data + mark, d.data + before, (size_t) (d.len - before));
                    str_truncate(&d, d.len - (before - mark));
                }
            } else {
                str_add(&d, w, t->len);
            }
        } else {
            str_add(&d, w, t->len);
        }
        prev_eword = eword;
    }
    {
        char *r = str_steal(&d);

        return r ? r : mem_strdup("");
    }
}

/* Parse "word *('.' word)" (lenient about empty parts); -1 on error. */
static int parse_local(struct parser *p, str *local)
{
    int words = 0, prev_word = 0;

    for (;;) {
        const struct token *t = peek(p);

        if ((t->type == T_ATOM || t->type == T_QSTRING) && !prev_word) {
            str_add(local, tok_text(p, t), t->len);
            words++;
            prev_word = 1;
            p->i++;
        } else if (t->type == T_DOT) {
            str_addc(local, '.');
            prev_word = 0;
            p->i++;
        } else {
            break;
        }
    }
    if (words == 0) {
        fail(p, ADDR_SYNTAX, "expected a local-part");
        return -1;
    }
    return 0;
}

/* Parse a domain: a domain literal or atom *("." atom); lowercased into dom. */
static int parse_domain(struct parser *p, str *dom, int *literal)
{
    const struct token *t = peek(p);

    *literal = 0;
    if (t->type == T_DLITERAL) {
        str_add(dom, tok_text(p, t), t->len);
        *literal = 1;
        p->i++;
        return 0;
    }
    for (;;) {
        t = peek(p);
        if (t->type != T_ATOM) {
            fail(p, ADDR_SYNTAX, "expected a domain label");
            return -1;
        }
        for (ssize_t k = 0; k < t->len; k++)
            str_addc(dom, (char) ascii_tolower((unsigned char) tok_text(p, t)[k]));
        p->i++;
        if (peek(p)->type != T_DOT)
            return 0;
        str_addc(dom, '.');
        p->i++;
    }
}

/* Append one mailbox to the output. */
static void add_mailbox(struct parser *p, char *display, str *local, str *dom, int has_domain,
                        int literal, int group)
{
    struct addr_list *l = p->out;
    struct addr *a;

    if (l->n >= ADDR_MAX_ADDRESSES) {
        mem_free(display);
        fail(p, ADDR_TOO_MANY, "too many addresses");
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->a = mem_realloc(l->a, (ssize_t) sizeof(*l->a) * l->cap);
    }
    a = &l->a[l->n++];
    a->display = display;
    a->local = str_steal(local);
    if (!a->local)
        a->local = mem_strdup("");
    a->domain = has_domain ? str_steal(dom) : NULL;
    a->literal = literal;
    a->group = group;
}

/* addr-spec = local-part ["@" domain]; the domain may be missing (kept as NULL). */
static int parse_addr_spec(struct parser *p, char *display, int group)
{
    str local = STR_INIT, dom = STR_INIT;
    int literal = 0, has_domain = 0;

    if (parse_local(p, &local) < 0)
        goto bad;
    if (peek(p)->type == T_AT) {
        p->i++;
        if (parse_domain(p, &dom, &literal) < 0)
            goto bad;
        has_domain = 1;
    }
    add_mailbox(p, display, &local, &dom, has_domain, literal, group);
    str_free(&local);
    str_free(&dom);
    return p->status == ADDR_OK ? 0 : -1;
bad:
    mem_free(display);
    str_free(&local);
    str_free(&dom);
    return -1;
}

/* The index of the first token of one of the given types at or after p->i. */
static int find_first(struct parser *p, const enum tok_type *types, int ntypes)
{
    for (int k = p->i;; k++) {
        enum tok_type ty = p->lx->t[k].type;

        if (ty == T_END)
            return k;
        for (int j = 0; j < ntypes; j++)
            if (ty == types[j])
                return k;
    }
}

/* A phrase (display name) is words and, obsolete, dots. */
static int is_phrase(struct parser *p, int from, int to)
{
    for (int k = from; k < to; k++) {
        enum tok_type ty = p->lx->t[k].type;

        if (ty != T_ATOM && ty != T_QSTRING && ty != T_DOT)
            return 0;
    }
    return 1;
}

/* mailbox = name-addr / addr-spec */
static int parse_mailbox(struct parser *p, int group)
{
    static const enum tok_type stop[] = { T_LT, T_COMMA, T_SEMI, T_COLON, T_GT };
    int k = find_first(p, stop, NELEM(stop));

    if (p->lx->t[k].type == T_LT) {
        char *display;

        if (!is_phrase(p, p->i, k)) {
            p->i = k;
            fail(p, ADDR_SYNTAX, "bad display name");
            return -1;
        }
        display = display_name(p, p->i, k);
        p->i = k + 1;
        if (peek(p)->type == T_AT) {
            /* obs-route: "@a.example,@b.example:" before the addr-spec */
            static const enum tok_type colon[] = { T_COLON, T_GT };
            int c = find_first(p, colon, NELEM(colon));

            if (p->lx->t[c].type != T_COLON) {
                mem_free(display);
                fail(p, ADDR_SYNTAX, "bad route in angle address");
                return -1;
            }
            p->i = c + 1;
        }
        if (parse_addr_spec(p, display, group) < 0)
            return -1;
        if (peek(p)->type != T_GT) {
            fail(p, ADDR_SYNTAX, "expected '>'");
            return -1;
        }
        p->i++;
        return 0;
    }
    return parse_addr_spec(p, mem_strdup(""), group);
}

/* address = mailbox / group */
static int parse_address(struct parser *p)
{
    static const enum tok_type stop[] = { T_COLON, T_LT, T_AT, T_COMMA, T_SEMI };
    int k = find_first(p, stop, NELEM(stop));

    if (p->lx->t[k].type == T_COLON) {
        if (k == p->i || !is_phrase(p, p->i, k)) {
            fail(p, ADDR_SYNTAX, "bad group name");
            return -1;
        }
        p->i = k + 1;
        for (;;) {
            enum tok_type ty = peek(p)->type;

            if (ty == T_SEMI) {
                p->i++;
                return 0;
            }
            if (ty == T_COMMA) {        /* obs-mbox-list: empty elements */
                p->i++;
                continue;
            }
            if (ty == T_END) {
                fail(p, ADDR_SYNTAX, "group without ';'");
                return -1;
            }
            if (parse_mailbox(p, 1) < 0)
                return -1;
            ty = peek(p)->type;
            if (ty != T_COMMA && ty != T_SEMI) {
                fail(p, ADDR_SYNTAX, "expected ',' or ';' in group");
                return -1;
            }
        }
    }
    return parse_mailbox(p, 0);
}

static void addr_free_one(struct addr *a)
{
    mem_free(a->display);
    mem_free(a->local);
    mem_free(a->domain);
}

/* An empty list. */
void addr_list_init(struct addr_list *l)
{
    memset(l, 0, sizeof(*l));
}

/* Free every mailbox; the list is empty and usable afterwards. */
void addr_list_free(struct addr_list *l)
{
    for (int k = 0; k < l->n; k++)
        addr_free_one(&l->a[k]);
    mem_free(l->a);
    addr_list_init(l);
}

/* Parse one header value as an address-list and append its mailboxes to l. */
enum addr_status addr_parse(struct addr_list *l, const char *value, ssize_t value_len)
{
    struct lexer lx = { NULL, 0, 0, STR_INIT };
    struct parser p;
    int first = l->n;
    ssize_t bad = 0;

    l->error = NULL;
    l->error_pos = 0;
    if (value_len < 0 || !value) {
        l->error = "no value";
        return ADDR_SYNTAX;
    }
    if (value_len > ADDR_MAX_LEN) {
        l->error = "header value too long";
        l->error_pos = ADDR_MAX_LEN;
        return ADDR_TOO_LONG;
    }
    if (!bytes_ok(value, value_len, &bad)) {
        l->error = "NUL, control byte or invalid UTF-8";
        l->error_pos = bad;
        return ADDR_BAD_BYTE;
    }
    memset(&p, 0, sizeof(p));
    p.lx = &lx;
    p.out = l;
    p.status = lex(&lx, value, value_len, &p.error, &p.error_pos);
    if (p.status == ADDR_OK) {
        for (;;) {
            enum tok_type ty = peek(&p)->type;

            if (ty == T_END)
                break;
            if (ty == T_COMMA) {      /* obs-addr-list: empty elements */
                p.i++;
                continue;
            }
            if (parse_address(&p) < 0)
                break;
            ty = peek(&p)->type;
            if (ty != T_COMMA && ty != T_END) {
                fail(&p, ADDR_SYNTAX, "expected ',' between addresses");
                break;
            }
        }
    }
    mem_free(lx.t);
    str_free(&lx.text);
    if (p.status != ADDR_OK) {
        while (l->n > first)
            addr_free_one(&l->a[--l->n]);
        l->error = p.error;
        l->error_pos = p.error_pos;
        return p.status;
    }
    if (l->n == first) {
        l->error = "no address";
        return ADDR_EMPTY;
    }
    return ADDR_OK;
}

/* RFC 5321 Domain = sub-domain *("." sub-domain), letters, digits, hyphens (and UTF-8). */
static int path_domain_ok(const char *d, ssize_t len)
{
    ssize_t label = 0;

    if (len == 0)
        return 0;
    for (ssize_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char) d[k];

        if (c == '.') {
            if (label == 0 || d[k - 1] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                   || c == '_' || c >= 0x80 || (c == '-' && label > 0)) {
            label++;
        } else {
            return 0;
        }
    }
    return label > 0 && d[len - 1] != '-';
}

/* The domain of an RFC 5321 reverse-path. */
enum addr_status addr_path_domain(const char *path, ssize_t len, str *domain, const char **why)
{
    ssize_t b = 0, e = len, k, at = -1;
    const char *dummy;

    if (!why)
        why = &dummy;
    *why = NULL;
    str_reset(domain);
    if (!path || len < 0) {
        *why = "no path";
        return ADDR_SYNTAX;
    }
    if (len > ADDR_MAX_LEN) {
        *why = "path too long";
        return ADDR_TOO_LONG;
    }
    for (k = 0; k < len; k++) {
        unsigned char c = (unsigned char) path[k];

        if (c < 0x20 || c == 0x7f) {
            *why = "NUL or control byte in path";
            return ADDR_BAD_BYTE;
        }
    }
    if (!addr_utf8_valid(path, len)) {
        *why = "invalid UTF-8 in path";
        return ADDR_BAD_BYTE;
    }
    while (b < e && path[b] == ' ')
        b++;
    while (e > b && path[e - 1] == ' ')
        e--;
    if (b < e && path[b] == '<') {
        if (path[e - 1] != '>' || e - b < 2) {
            *why = "unbalanced angle brackets";
            return ADDR_SYNTAX;
        }
        b++;
        e--;
    }
    if (b == e)
        return ADDR_OK;                       /* the null path */
    if (path[b] == '@') {                     /* source route: "@a,@b:" */
        const char *colon = memchr(path + b, ':', (size_t) (e - b));

        if (!colon) {
            *why = "source route without ':'";
            return ADDR_SYNTAX;
        }
        b = colon - path + 1;
    }
    /* Local-part: a quoted string or a dot-string; the domain follows its '@'. */
    k = b;
    if (k < e && path[k] == '"') {
        for (k++; k < e && path[k] != '"'; k++)
            if (path[k] == '\\')
                k++;
        if (k >= e) {
            *why = "unterminated quoted local-part";
            return ADDR_SYNTAX;
        }
        k++;
        if (k < e && path[k] == '@')
            at = k;
    } else {
        for (; k < e && path[k] != '@'; k++) {
            unsigned char c = (unsigned char) path[k];

            if (!is_atext(c) && c != '.' && c < 0x80) {
                *why = "bad character in local-part";
                return ADDR_SYNTAX;
            }
        }
        if (k < e)
            at = k;
    }
    if (at < 0) {
        if (k < e) {
            *why = "junk after local-part";
            return ADDR_SYNTAX;
        }
        *why = "no domain in path";
        return ADDR_NO_DOMAIN;
    }
    if (at == b) {
        *why = "empty local-part";
        return ADDR_SYNTAX;
    }
    b = at + 1;
    if (b < e && path[b] == '[') {
        if (path[e - 1] != ']' || memchr(path + b + 1, ']', (size_t) (e - b - 2))) {
            *why = "bad address literal";
            return ADDR_SYNTAX;
        }
    } else if (!path_domain_ok(path + b, e - b)) {
        *why = b == e ? "no domain in path" : "bad domain in path";
        return b == e ? ADDR_NO_DOMAIN : ADDR_SYNTAX;
    }
    for (k = b; k < e; k++)
        str_addc(domain, (char) ascii_tolower((unsigned char) path[k]));
    return ADDR_OK;
}
