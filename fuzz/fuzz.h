/*
 * fuzz.h - what every libFuzzer harness shares: splitting one input into
 * parts, taking bytes off its front, keeping the library quiet, and
 * checking invariants.
 *
 * An input of several parts separates them with the line "%%":
 * "part0\n%%\npart1\n%%\npart2". Parts may hold any bytes, NUL included,
 * and the seeds stay readable. Each harness documents what its parts are.
 */
#ifndef RAMPART_FUZZ_H
#define RAMPART_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define FUZZ_SEP "\n%%\n"
#define FUZZ_SEP_LEN 4
#define FUZZ_MAX_PARTS 16

/* One piece of the input; not NUL-terminated. */
struct fuzz_part {
    const char *p;
    size_t n;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Abort (a crash libFuzzer records) when an invariant does not hold. */
#define FUZZ_ASSERT(cond)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* Split the input at FUZZ_SEP into at most max parts (the last takes the rest); the count. */
static inline int fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts, int max)
{
    const char *p = (const char *) data, *end = p + size;
    int n = 0;

    while (n < max - 1) {
        const char *s = NULL;

        for (const char *q = p; end - q >= FUZZ_SEP_LEN; q++)
            if (memcmp(q, FUZZ_SEP, FUZZ_SEP_LEN) == 0) {
                s = q;
                break;
            }
        if (s == NULL)
            break;
        parts[n].p = p;
        parts[n].n = (size_t) (s - p);
        n++;
        p = s + FUZZ_SEP_LEN;
    }
    parts[n].p = p;
    parts[n].n = (size_t) (end - p);
    return n + 1;
}

/* Take one byte off the front of a part (0 when it is empty). */
static inline unsigned fuzz_byte(struct fuzz_part *part)
{
    unsigned c;

    if (part->n == 0)
        return 0;
    c = (unsigned char) part->p[0];
    part->p++;
    part->n--;
    return c;
}

/* A NUL-terminated copy of a part (cut at its first NUL), freed with free(). */
static inline char *fuzz_cstr(const struct fuzz_part *part)
{
    char *s = malloc(part->n + 1);

    if (s == NULL)
        abort();
    memcpy(s, part->p, part->n);
    s[part->n] = '\0';
    return s;
}

/* Nothing below a panic is logged: the library must not flood the fuzzer's output. */
static inline void fuzz_quiet(void)
{
    log_open_stderr("fuzz");
    log_set_level(LOG_CRIT);
}

/* 1 if s (len bytes) holds only printable ASCII. */
static inline int fuzz_printable(const char *s, ssize_t len)
{
    for (ssize_t i = 0; i < len; i++)
        if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e)
            return 0;
    return 1;
}

#endif
