/*
 * msg.c - header field lists. Limits are the collector's business (the
 * milter checks max_header_count and max_header_size before adding).
 */
#include "config.h"

#include <string.h>

#include "mem.h"
#include "str.h"
#include "msg.h"
#include "util.h"

void msg_headers_init(struct msg_headers *hs)
{
    memset(hs, 0, sizeof(*hs));
}

/* Free every field. */
void msg_headers_free(struct msg_headers *hs)
{
    for (int i = 0; i < hs->n; i++) {
        mem_free(hs->h[i].name);
        mem_free(hs->h[i].value);
    }
    mem_free(hs->h);
    msg_headers_init(hs);
}

/* Append a field (copies name and value). */
void msg_headers_add(struct msg_headers *hs, const char *name, const char *value, ssize_t value_len)
{
    struct msg_header *h;

    if (hs->n == hs->cap) {
        hs->cap = hs->cap ? hs->cap * 2 : 32;
        hs->h = mem_realloc(hs->h, (ssize_t) sizeof(*hs->h) * hs->cap);
    }
    h = &hs->h[hs->n++];
    h->name = mem_strdup(name);
    h->value = mem_alloc(value_len + 1);
    memcpy(h->value, value, (size_t) value_len);
    h->value[value_len] = '\0';
    h->value_len = value_len;
    hs->bytes += (ssize_t) strlen(name) + value_len;
}

/* The i-th field with this name. */
const struct msg_header *msg_headers_find(const struct msg_headers *hs, const char *name, int i)
{
    for (int k = 0; k < hs->n; k++)
        if (ascii_casecmp(hs->h[k].name, name) == 0 && i-- == 0)
            return &hs->h[k];
    return NULL;
}

/* Number of fields with this name. */
int msg_headers_count(const struct msg_headers *hs, const char *name)
{
    int n = 0;

    for (int k = 0; k < hs->n; k++)
        n += ascii_casecmp(hs->h[k].name, name) == 0;
    return n;
}

/* Length of the line at p (without its LF), and whether an LF ends it. */
static ssize_t msg_line(const char *p, ssize_t left, int *has_nl)
{
    const char *nl = memchr(p, '\n', (size_t) left);

    *has_nl = nl != NULL;
    return nl ? nl - p : left;
}

/* Split a message into header fields and body. */
ssize_t msg_split(const char *data, ssize_t len, msg_field_fn fn, void *arg)
{
    ssize_t pos = 0;
    str name = STR_INIT, value = STR_INIT;
    int have = 0;

    while (pos < len) {
        int nl;
        ssize_t l = msg_line(data + pos, len - pos, &nl), content = l;
        const char *line = data + pos;

        if (content > 0 && line[content - 1] == '\r')
            content--;
        if (content == 0) {            /* the empty line: the body follows */
            pos += l + nl;
            break;
        }
        if ((line[0] == ' ' || line[0] == '\t') && have) {
            str_addc(&value, '\n');
            str_add(&value, line, content);
            pos += l + nl;
            continue;
        }
        {
            const char *colon = memchr(line, ':', (size_t) content);
            ssize_t n = colon ? colon - line : 0;
            int ok = n > 0;

            for (ssize_t i = 0; i < n && ok; i++)
                ok = line[i] > 0x20 && line[i] < 0x7f;
            if (!ok)
                break;                 /* not a header field: the body starts here */
            if (have)
                fn(str_cstr(&name), str_cstr(&value), value.len, arg);
            str_reset(&name);
            str_reset(&value);
            str_add(&name, line, n);
            str_add(&value, colon + 1, content - n - 1);
            have = 1;
        }
        pos += l + nl;
    }
    if (have)
        fn(str_cstr(&name), str_cstr(&value), value.len, arg);
    str_free(&name);
    str_free(&value);
    return pos;
}
