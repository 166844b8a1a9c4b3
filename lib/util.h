/* util.h - small helpers shared by every module. */
#ifndef RAMPART_UTIL_H
#define RAMPART_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Milliseconds on the monotonic clock. */
int64_t clock_now_ms(void);

/* Case-insensitive ASCII comparison of two NUL-terminated strings (locale-free). */
int ascii_casecmp(const char *a, const char *b);
int ascii_tolower(int c);
/* The value of a hexadecimal digit (either case), of a base64 character
   (RFC 4648 alphabet); -1 for any other character. */
int ascii_hexval(int c);
int base64_value(int c);

/* 2 * n_bytes random lower-case hexadecimal digits (getrandom) and a NUL
   into out; 0, or -1 with errno set. */
int random_hex(char *out, size_t n_bytes);

/* Name the calling thread (at most 15 bytes) for ps -L, top -H and perf;
   failure is ignored. */
void thread_name(const char *name);

#endif
