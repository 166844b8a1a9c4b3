/*
 * util.c - small helpers: the monotonic clock and locale-free ASCII case
 * folding (DNS names and header names compare case-insensitively in ASCII
 * only, whatever the process locale says).
 */
#include "config.h"

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
