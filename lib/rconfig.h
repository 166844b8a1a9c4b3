/*
 * rconfig.h - rampart.conf: parsing, validation, defaults, reload.
 *
 * (Named rconfig.h because autoconf owns config.h.)
 */
#ifndef RAMPART_RCONFIG_H
#define RAMPART_RCONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "config_params.h"
#include "str.h"

#define RAMPART_DEFAULT_CONFIG SYSCONFDIR "/rampart/rampart.conf"

/* Limits on the file itself: the file is trusted, but not unbounded. */
#define CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define CONFIG_MAX_LINE_LEN (64 * 1024)

struct config_list {
    int n;
    char **v;
};

/* C types of each parameter type. */
#define CONFIG_CTYPE_STR char *
#define CONFIG_CTYPE_LISTEN char *
#define CONFIG_CTYPE_BOOL int
#define CONFIG_CTYPE_INT int64_t
#define CONFIG_CTYPE_TIME int64_t
#define CONFIG_CTYPE_SIZE int64_t
#define CONFIG_CTYPE_MODE int
#define CONFIG_CTYPE_FACILITY int
#define CONFIG_CTYPE_LEVEL int
#define CONFIG_CTYPE_LIST struct config_list
#define CONFIG_CTYPE_NETS struct config_list
#define CONFIG_CTYPE_ACTION int
#define CONFIG_CTYPE_TEMPACTION int
#define CONFIG_CTYPE_CHECKMODE int
#define CONFIG_CTYPE_ENUM int
#define CONFIG_CTYPE_ACTIONMAP struct config_actionmap

/*
 * An ACTIONMAP maps each result word of a check to an action:
 * "fail=reject, softfail=tag". Results not named keep their default. The
 * words a parameter accepts are listed in config.c (config_maps); a word
 * marked temporary there only takes tempfail or accept.
 */
#define CONFIG_MAP_MAX 16
struct config_actionmap {
    const char *const *words;   /* NULL-terminated, static */
    int action[CONFIG_MAP_MAX]; /* enum verdict_action per word */
};
/* The action for a result word; accept for a word the map does not know. */
int config_map_action(const struct config_actionmap *m, const char *word);

/* Values of a CHECKMODE parameter. */
enum config_checkmode { CHECK_ENFORCE, CHECK_MONITOR, CHECK_OFF };
const char *config_checkmode_name(int mode);

/* One loaded configuration; shared read-only between threads, refcounted. */
struct config {
#define CONFIG_MEMBER(name, type, def, min, max) CONFIG_CTYPE_##type name;
    CONFIG_PARAMS(CONFIG_MEMBER)
#undef CONFIG_MEMBER
    char *path;          /* the file it came from, or NULL for defaults only */
    int refs;
};

/* Where a parameter's value came from, for -n. */
enum config_origin { CONFIG_DEFAULT, CONFIG_FILE, CONFIG_COMMAND_LINE };

/*
 * Load a file. On error returns NULL and appends one "file:line: key: what"
 * line per problem to err. A missing file is an error unless missing_ok.
 */
struct config *config_load(const char *path, str *err);
/* Defaults only. */
struct config *config_defaults(void);
/*
 * Reload: load path, apply the overrides ("name=value" strings, e.g. from
 * the command line), and install the result as current. On any error the
 * current configuration stays and err says why; returns 0 or -1.
 */
int config_reload(const char *path, const char *const *overrides, int n_overrides, str *err);
/* Set one parameter as if written in the file (command-line overrides). */
int config_set(struct config *c, const char *name, const char *value, const char *origin, str *err);

struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/* Print "name = value" lines: all defaults (-d) or the ones that differ from them (-n). */
void config_print_defaults(FILE *out);
void config_print_changed(const struct config *c, FILE *out);
/* The value of one parameter as it would be written; NULL if no such parameter. */
int config_format(const struct config *c, const char *name, str *out);
/* Number of parameters and the name of parameter i (for the documentation check). */
int config_param_count(void);
const char *config_param_name(int i);

/* The process-wide current configuration: take a reference, use it, drop it. */
struct config *config_current(void);
/* Install c as current (takes over the caller's reference). */
void config_install(struct config *c);

/* Value parsers, shared with other modules' own syntaxes. */
int config_parse_time(const char *s, int64_t *ms);
int config_parse_size(const char *s, int64_t *bytes);
int config_parse_bool(const char *s, int *b);

#endif
