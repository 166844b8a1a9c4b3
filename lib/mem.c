/*
 * mem.c - memory allocation wrappers.
 *
 * mem_alloc(), mem_zalloc(), mem_realloc(), mem_strdup() and mem_strndup()
 * either return usable memory or end the process with a fatal log line.
 * Lengths are signed so that an overflowed computation shows up as a
 * negative request, which is a bug in the caller (panic), not a memory
 * shortage.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

/* Check a requested length; negative or zero-size requests are bugs. */
static size_t mem_check(ssize_t len, const char *who)
{
    if (len < 0)
        log_panic("%s: bad length %zd", who, len);
    return len == 0 ? 1 : (size_t) len;
}

/* Allocate len bytes. */
void *mem_alloc(ssize_t len)
{
    void *p = malloc(mem_check(len, "mem_alloc"));

    if (p == NULL)
        log_fatal("out of memory allocating %zd bytes", len);
    return p;
}

/* Allocate len zeroed bytes. */
void *mem_zalloc(ssize_t len)
{
    void *p = calloc(1, mem_check(len, "mem_zalloc"));

    if (p == NULL)
        log_fatal("out of memory allocating %zd bytes", len);
    return p;
}

/* Resize ptr to len bytes. */
void *mem_realloc(void *ptr, ssize_t len)
{
    void *p = realloc(ptr, mem_check(len, "mem_realloc"));

    if (p == NULL)
        log_fatal("out of memory allocating %zd bytes", len);
    return p;
}

/* Copy a NUL-terminated string. */
char *mem_strdup(const char *s)
{
    return mem_strndup(s, (ssize_t) strlen(s));
}

/* Copy at most len bytes of s and terminate the copy. */
char *mem_strndup(const char *s, ssize_t len)
{
    char *p;
    size_t n;

    if (len < 0)
        log_panic("mem_strndup: bad length %zd", len);
    n = strnlen(s, (size_t) len);

    p = mem_alloc((ssize_t) n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Free memory from this module; NULL is allowed. */
void mem_free(void *ptr)
{
    free(ptr);
}
