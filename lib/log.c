/*
 * log.c - logging.
 *
 * log_open_stderr() logs to stderr with a time stamp (foreground mode,
 * tests); log_open_syslog() logs to syslog with the configured facility.
 * Lines above the configured level are dropped before formatting where the
 * caller uses log_debug(). log_fatal() exits with status 1; log_panic()
 * aborts (a bug in rampart). A test hook sees every line that is emitted.
 *
 * The summary line (log_line_*) is the one line per message or policy
 * request that admins grep for: "what key=value key=value ...". Untrusted
 * values are escaped with str_add_escaped() and quoted when they contain
 * white space, '=' or '"', and bounded to LOG_VALUE_MAX bytes each.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LOG_VALUE_MAX 512

static int log_level = LOG_LVL_INFO;
static int log_use_syslog;
static const char *log_progname = "rampart";
static log_hook_fn log_hook;
static void *log_hook_arg;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct {
    const char *name;
    int level;
} log_levels[] = {
    { "error", LOG_LVL_ERROR },
    { "warning", LOG_LVL_WARNING },
    { "notice", LOG_LVL_NOTICE },
    { "info", LOG_LVL_INFO },
    { "debug", LOG_LVL_DEBUG },
};

static const struct {
    const char *name;
    int facility;
} log_facilities[] = {
    { "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
    { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};


/* Log to stderr from now on. */
void log_open_stderr(const char *progname)
{
    log_progname = progname;
    if (log_use_syslog)
        closelog();
    log_use_syslog = 0;
}

/* Log to syslog from now on. */
void log_open_syslog(const char *ident, int facility)
{
    log_progname = ident;
    openlog(ident, LOG_PID | LOG_NDELAY, facility);
    log_use_syslog = 1;
}

/* Set the most verbose level that is logged. */
void log_set_level(int level)
{
    log_level = level;
}

/* The most verbose level that is logged. */
int log_get_level(void)
{
    return log_level;
}

/* Map a level name to its value; -1 if unknown. */
int log_level_from_name(const char *name)
{
    for (size_t i = 0; i < NELEM(log_levels); i++)
        if (strcasecmp(name, log_levels[i].name) == 0)
            return log_levels[i].level;
    return -1;
}

/* Map a level to its name. */
const char *log_level_name(int level)
{
    for (size_t i = 0; i < NELEM(log_levels); i++)
        if (log_levels[i].level == level)
            return log_levels[i].name;
    return "unknown";
}

/* Map a syslog facility name to its value; -1 if unknown. */
int log_facility_from_name(const char *name)
{
    for (size_t i = 0; i < NELEM(log_facilities); i++)
        if (strcasecmp(name, log_facilities[i].name) == 0)
            return log_facilities[i].facility;
    return -1;
}

/* Map a syslog facility to its name. */
const char *log_facility_name(int facility)
{
    for (size_t i = 0; i < NELEM(log_facilities); i++)
        if (log_facilities[i].facility == facility)
            return log_facilities[i].name;
    return "unknown";
}

/* Install a hook that sees every emitted line (tests). */
void log_set_hook(log_hook_fn fn, void *arg)
{
    pthread_mutex_lock(&log_lock);
    log_hook = fn;
    log_hook_arg = arg;
    pthread_mutex_unlock(&log_lock);
}

/* Emit one formatted line. */
static void log_emit(int level, const char *line)
{
    pthread_mutex_lock(&log_lock);
    if (log_hook)
        log_hook(level, line, log_hook_arg);
    if (log_use_syslog) {
        syslog(level, "%s", line);
    } else {
        struct timespec ts;
        struct tm tm;
        char stamp[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ld %s[%ld]: %s: %s\n", stamp, ts.tv_nsec / 1000000L,
                log_progname, (long) getpid(), log_level_name(level), line);
    }
    pthread_mutex_unlock(&log_lock);
}

/* Log a line at level. */
void log_vmsg(int level, const char *fmt, va_list ap)
{
    str line = STR_INIT;

    if (level > log_level)
        return;
    str_addvf(&line, fmt, ap);
    log_emit(level, str_cstr(&line));
    str_free(&line);
}

/* Log a line at level. */
void log_msg(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

/* Log and exit: the environment is unusable. */
void log_fatal(const char *fmt, ...)
{
    va_list ap;
    str line = STR_INIT;

    va_start(ap, fmt);
    str_adds(&line, "fatal: ");
    str_addvf(&line, fmt, ap);
    va_end(ap);
    log_emit(LOG_LVL_ERROR, str_cstr(&line));
    str_free(&line);
    exit(1);
}

/* Log and abort: one of rampart's own invariants broke. */
void log_panic(const char *fmt, ...)
{
    va_list ap;
    char buf[512];

    /* No allocation here: the heap may be what broke. */
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_emit(LOG_LVL_ERROR, "panic: see next line");
    log_emit(LOG_LVL_ERROR, buf);
    abort();
}

/* Start a summary line. */
void log_line_init(log_line *l, const char *what)
{
    str_init(&l->buf);
    str_adds(&l->buf, what);
}

/* Add key=value with the value escaped and quoted when needed. */
void log_line_addn(log_line *l, const char *key, const char *value, ssize_t len)
{
    int quote = len == 0;

    for (ssize_t i = 0; i < len && !quote; i++)
        if (value[i] == ' ' || value[i] == '=' || value[i] == '"' || value[i] == '\t')
            quote = 1;
    str_addc(&l->buf, ' ');
    str_adds(&l->buf, key);
    str_addc(&l->buf, '=');
    if (quote)
        str_addc(&l->buf, '"');
    str_add_escaped(&l->buf, value, len, LOG_VALUE_MAX);
    if (quote)
        str_addc(&l->buf, '"');
}

/* Add key=value from a C string (NULL is logged as empty). */
void log_line_add(log_line *l, const char *key, const char *value)
{
    if (value == NULL)
        value = "";
    log_line_addn(l, key, value, (ssize_t) strlen(value));
}

/* Add key=formatted value. */
void log_line_addf(log_line *l, const char *key, const char *fmt, ...)
{
    va_list ap;
    str v = STR_INIT;

    va_start(ap, fmt);
    str_addvf(&v, fmt, ap);
    va_end(ap);
    log_line_addn(l, key, str_cstr(&v), v.len);
    str_free(&v);
}

/* Emit the summary line once and free it. */
void log_line_emit(log_line *l, int level)
{
    if (level <= log_level)
        log_emit(level, str_cstr(&l->buf));
    log_line_free(l);
}

/* Free a summary line without emitting it. */
void log_line_free(log_line *l)
{
    str_free(&l->buf);
}
