/*
 * counters.c - a small table of named counters under one mutex. Counting
 * happens a few times per message, so a lock is cheap enough and keeps
 * the table simple; the table grows as new names appear, up to
 * COUNTERS_MAX names (more is a bug: names are not built from input).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "log.h"
#include "mem.h"

#define COUNTERS_MAX 4096

struct counter {
    char *name;
    uint64_t value;
};

static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;
static struct counter *counters;
static int ncounters, capcounters;

/* Binary search; returns the index or the insertion point as -(i+1). */
static int counter_find(const char *name)
{
    int lo = 0, hi = ncounters - 1;

    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(counters[mid].name, name);

        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -(lo + 1);
}

void counter_add(const char *name, uint64_t n)
{
    int i;

    pthread_mutex_lock(&counters_lock);
    i = counter_find(name);
    if (i < 0) {
        i = -i - 1;
        if (ncounters >= COUNTERS_MAX)
            log_panic("more than %d counters (last: %s)", COUNTERS_MAX, name);
        if (ncounters == capcounters) {
            capcounters = capcounters ? capcounters * 2 : 64;
            counters = mem_realloc(counters, (ssize_t) sizeof(*counters) * capcounters);
        }
        memmove(&counters[i + 1], &counters[i], sizeof(*counters) * (size_t) (ncounters - i));
        counters[i].name = mem_strdup(name);
        counters[i].value = 0;
        ncounters++;
    }
    counters[i].value += n;
    pthread_mutex_unlock(&counters_lock);
}

uint64_t counter_get(const char *name)
{
    uint64_t v = 0;
    int i;

    pthread_mutex_lock(&counters_lock);
    if ((i = counter_find(name)) >= 0)
        v = counters[i].value;
    pthread_mutex_unlock(&counters_lock);
    return v;
}

void counter_each(void (*fn)(const char *name, uint64_t value, void *arg), void *arg)
{
    pthread_mutex_lock(&counters_lock);
    for (int i = 0; i < ncounters; i++)
        fn(counters[i].name, counters[i].value, arg);
    pthread_mutex_unlock(&counters_lock);
}

void counter_reset_all(void)
{
    pthread_mutex_lock(&counters_lock);
    for (int i = 0; i < ncounters; i++)
        mem_free(counters[i].name);
    mem_free(counters);
    counters = NULL;
    ncounters = capcounters = 0;
    pthread_mutex_unlock(&counters_lock);
}
