/*
 * str.c - growable byte strings.
 *
 * Every function either succeeds or ends the process (through mem.c) on
 * memory exhaustion; lengths are signed and checked so that an overflowed
 * computation panics instead of writing past a buffer.
 * str_add_escaped() renders untrusted bytes for logs and replies: printable
 * ASCII stays, everything else (control bytes, 8-bit, '\\' and '"') becomes
 * a \xNN escape, and output stops after max input bytes with "...".
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "str.h"

/* Initialise an empty string. */
void str_init(str *s)
{
    s->data = NULL;
    s->len = 0;
    s->cap = 0;
}

/* Release the buffer; the string is empty and usable afterwards. */
void str_free(str *s)
{
    mem_free(s->data);
    str_init(s);
}

/* Empty the string, keeping its buffer. */
void str_reset(str *s)
{
    s->len = 0;
    if (s->data)
        s->data[0] = '\0';
}

/* Make room for more bytes plus the terminating NUL. */
void str_reserve(str *s, ssize_t more)
{
    ssize_t need;

    if (more < 0 || s->len > SSIZE_MAX - more - 1)
        log_panic("str_reserve: bad length %zd", more);
    need = s->len + more + 1;
    if (need <= s->cap)
        return;
    if (s->cap < 64)
        s->cap = 64;
    while (s->cap < need)
        s->cap = s->cap > SSIZE_MAX / 2 ? need : s->cap * 2;
    s->data = mem_realloc(s->data, s->cap);
}

/* Append len bytes. */
void str_add(str *s, const void *data, ssize_t len)
{
    str_reserve(s, len);
    if (len > 0)
        memcpy(s->data + s->len, data, (size_t) len);
    s->len += len;
    s->data[s->len] = '\0';
}

/* Append a NUL-terminated string. */
void str_adds(str *s, const char *cstr)
{
    str_add(s, cstr, (ssize_t) strlen(cstr));
}

/* Append one byte. */
void str_addc(str *s, int c)
{
    char ch = (char) c;

    str_add(s, &ch, 1);
}

/* Append formatted text. */
void str_addvf(str *s, const char *fmt, va_list ap)
{
    va_list aq;
    int n;

    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        log_panic("str_addvf: bad format");
    str_reserve(s, n);
    vsnprintf(s->data + s->len, (size_t) n + 1, fmt, ap);
    s->len += n;
}

/* Append formatted text. */
void str_addf(str *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    str_addvf(s, fmt, ap);
    va_end(ap);
}

/* Replace the content with a NUL-terminated string. */
void str_set(str *s, const char *cstr)
{
    str_reset(s);
    str_adds(s, cstr);
}

/* Shorten to len bytes (no-op if already shorter). */
void str_truncate(str *s, ssize_t len)
{
    if (len < 0)
        log_panic("str_truncate: bad length %zd", len);
    if (len < s->len) {
        s->len = len;
        s->data[len] = '\0';
    }
}

/* A C string view of s; never NULL. */
const char *str_cstr(const str *s)
{
    return s->data ? s->data : "";
}

/* Hand the buffer to the caller (free with mem_free) and empty s. */
char *str_steal(str *s)
{
    char *p = s->data ? s->data : mem_strdup("");

    str_init(s);
    return p;
}

/* Append untrusted bytes escaped for a log line or a reply; at most max input bytes. */
void str_add_escaped(str *s, const char *data, ssize_t len, ssize_t max)
{
    static const char hex[] = "0123456789abcdef";
    ssize_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) data[i];

        if (max >= 0 && i >= max) {
            str_adds(s, "...");
            return;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            str_addc(s, c);
        } else {
            char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

            str_add(s, esc, 4);
        }
    }
}
