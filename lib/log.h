/* log.h - logging to syslog or stderr, levels, one summary line per message. */
#ifndef RAMPART_LOG_H
#define RAMPART_LOG_H

#include <stdarg.h>
#include <syslog.h>

#include "str.h"

/* Levels, in syslog's order; the configured log_level is the most verbose shown. */
enum log_level {
    LOG_LVL_ERROR = LOG_ERR,
    LOG_LVL_WARNING = LOG_WARNING,
    LOG_LVL_NOTICE = LOG_NOTICE,
    LOG_LVL_INFO = LOG_INFO,
    LOG_LVL_DEBUG = LOG_DEBUG,
};

void log_open_stderr(const char *progname);
void log_open_syslog(const char *ident, int facility);
void log_set_level(int level);
int log_get_level(void);
int log_level_from_name(const char *name);
const char *log_level_name(int level);
int log_facility_from_name(const char *name);
const char *log_facility_name(int facility);

/* Hook for tests: every formatted line also goes to fn, if set. */
typedef void (*log_hook_fn)(int level, const char *line, void *arg);
void log_set_hook(log_hook_fn fn, void *arg);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
    do { if (log_get_level() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

/* The environment is unusable: log and exit(1). */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Our own invariant broke: log and abort(). */
void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * A key=value summary line, built up as checks run and emitted once.
 * Values are escaped; a value with a space, '=' or '"' is quoted.
 */
typedef struct log_line {
    str buf;
} log_line;

void log_line_init(log_line *l, const char *what);
void log_line_add(log_line *l, const char *key, const char *value);
void log_line_addn(log_line *l, const char *key, const char *value, ssize_t len);
void log_line_addf(log_line *l, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_line_emit(log_line *l, int level);
void log_line_free(log_line *l);

#endif
