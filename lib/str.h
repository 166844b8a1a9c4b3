/* str.h - a byte string with an explicit length that grows and never overflows. */
#ifndef RAMPART_STR_H
#define RAMPART_STR_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * The buffer is always NUL-terminated (data[len] == 0) so it can be handed
 * to C APIs, but it may also hold NUL bytes: len is the truth.
 */
typedef struct str {
    char *data;
    ssize_t len;
    ssize_t cap;
} str;

#define STR_INIT { NULL, 0, 0 }

void str_init(str *s);
void str_free(str *s);
void str_reset(str *s);
void str_reserve(str *s, ssize_t more);
void str_add(str *s, const void *data, ssize_t len);
void str_adds(str *s, const char *cstr);
void str_addc(str *s, int c);
void str_addf(str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void str_addvf(str *s, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void str_set(str *s, const char *cstr);
void str_truncate(str *s, ssize_t len);
const char *str_cstr(const str *s);
char *str_steal(str *s);
void str_add_escaped(str *s, const char *data, ssize_t len, ssize_t max);

#endif
