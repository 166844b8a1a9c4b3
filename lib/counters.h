/*
 * counters.h - named event counters (messages by action, results per
 * check, monitor-mode decisions, ...), for the log, rampart-check and the
 * metrics listener. Names are static strings such as "milter.action.reject"
 * or "monitor.spf.reject".
 */
#ifndef RAMPART_COUNTERS_H
#define RAMPART_COUNTERS_H

#include <stdint.h>

void counter_add(const char *name, uint64_t n);
#define counter_inc(name) counter_add((name), 1)
uint64_t counter_get(const char *name);
/* Call fn for every counter, in name order. */
void counter_each(void (*fn)(const char *name, uint64_t value, void *arg), void *arg);
/* Forget every counter (tests). */
void counter_reset_all(void);

#endif
