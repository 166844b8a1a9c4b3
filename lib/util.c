/*
 * util.c - small helpers: the monotonic clock and locale-free ASCII case
 * folding (DNS names and header names compare case-insensitively in ASCII
 * only, whatever the process locale says).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>

#include "util.h"

/* Milliseconds on the monotonic clock. */
int64_t clock_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lower-case one ASCII letter; other bytes unchanged. */
int ascii_tolower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int ascii_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = ascii_tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int base64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Compare two strings ignoring ASCII case; <0, 0, >0 like strcmp. */
int ascii_casecmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *) a;
    const unsigned char *y = (const unsigned char *) b;

    while (*x && ascii_tolower(*x) == ascii_tolower(*y)) {
        x++;
        y++;
    }
    return ascii_tolower(*x) - ascii_tolower(*y);
}

int random_hex(char *out, size_t n_bytes)
{
    unsigned char rnd[64];

    while (n_bytes > 0) {
        size_t want = n_bytes < sizeof(rnd) ? n_bytes : sizeof(rnd), got = 0;

        while (got < want) {
            ssize_t n = getrandom(rnd + got, want - got, 0);

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -1;
            got += (size_t) n;
        }
        for (size_t i = 0; i < want; i++) {
            *out++ = "0123456789abcdef"[rnd[i] >> 4];
            *out++ = "0123456789abcdef"[rnd[i] & 15];
        }
        n_bytes -= want;
    }
    *out = '\0';
    return 0;
}

void thread_name(const char *name)
{
    (void) pthread_setname_np(pthread_self(), name);
}
