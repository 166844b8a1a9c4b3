/*
 * msg.c - header field lists. Limits are the collector's business (the
 * milter checks max_header_count and max_header_size before adding).
 */
#include "config.h"

#include <string.h>

#include "mem.h"
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
