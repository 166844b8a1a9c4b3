/*
 * config.c - rampart.conf.
 *
 * Syntax (Postfix main.cf): "name = value" on a logical line; a line that
 * starts with white space continues the previous logical line; a line whose
 * first non-blank character is '#' is a comment, as are blank lines, and
 * neither ends a logical line (as in Postfix). Values
 * are literal ($name is not expanded). Lists are separated by commas and/or
 * white space.
 *
 * config_load() reads a file and returns a new configuration, or NULL with
 * one "FILE:LINE: KEY: problem" line per error in err: unknown keys, bad
 * values, duplicates, lines that are not "name = value", overlong lines or
 * files. It never logs and never exits: the caller decides (the daemon
 * refuses to start; a reload keeps the old configuration).
 *
 * The current configuration is a refcounted pointer swapped atomically under
 * a mutex: config_current() hands out a reference, so a reload never frees a
 * configuration a transaction still uses.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cidr.h"
#include "dnsbl.h"
#include "listen.h"
#include "log.h"
#include "mem.h"
#include "rconfig.h"
#include "util.h"
#include "verdict.h"

enum config_type {
    CT_STR, CT_LISTEN, CT_BOOL, CT_INT, CT_TIME, CT_SIZE, CT_MODE, CT_FACILITY, CT_LEVEL, CT_LIST,
    CT_NETS, CT_ACTION, CT_TEMPACTION, CT_CHECKMODE, CT_ENUM, CT_ACTIONMAP,
};

/* The words of each ENUM parameter, in the order of their values. */
static const char *const enum_spf_engine[] = { "rampart", "libspf2", NULL };
static const char *const enum_dmarc_spec[] = { "rfc9989", "rfc7489", NULL };

static const struct {
    const char *param;
    const char *const *words;
} config_enums[] = {
    { "spf_engine", enum_spf_engine },
    { "dmarc_spec", enum_dmarc_spec },
};

/* The result words of each ACTIONMAP parameter; a leading '~' marks a temporary one. */
static const char *const map_spf[] = { "none", "neutral", "pass", "fail", "softfail", "~temperror",
                                       "permerror", NULL };

static const char *const map_dkim[] = { "none", "pass", "fail", "neutral", "policy", "permerror", "~temperror",
                                        NULL };

static const struct {
    const char *param;
    const char *const *words;
} config_maps[] = {
    { "dkim_actions", map_dkim },
    { "spf_mailfrom_actions", map_spf },
    { "spf_helo_actions", map_spf },
};
static const char *const config_checkmodes[] = { "enforce", "monitor", "off" };

/* The name of a CHECKMODE value. */
const char *config_checkmode_name(int mode)
{
    return mode >= 0 && mode < (int) NELEM(config_checkmodes) ? config_checkmodes[mode] : "unknown";
}

struct config_param {
    const char *name;
    enum config_type type;
    const char *def;
    int64_t min, max;
    size_t offset;
};

#define CONFIG_ROW(name, type, def, min, max) \
    { #name, CT_##type, def, min, max, offsetof(struct config, name) },
static const struct config_param config_params[] = { CONFIG_PARAMS(CONFIG_ROW) };
#undef CONFIG_ROW

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *config_cur;

/* Find a parameter by name. */
static const struct config_param *config_find(const char *name)
{
    for (size_t i = 0; i < NELEM(config_params); i++)
        if (strcmp(config_params[i].name, name) == 0)
            return &config_params[i];
    return NULL;
}

int config_param_count(void)
{
    return (int) NELEM(config_params);
}

const char *config_param_name(int i)
{
    return i >= 0 && i < (int) NELEM(config_params) ? config_params[i].name : NULL;
}

/* Parse a number with an optional unit from units[]; the whole string must be used. */
static int config_parse_scaled(const char *s, int64_t *out, const char *const *names,
                               const int64_t *scale, int64_t def_scale)
{
    char *end;
    long long v;
    int64_t mult = def_scale;

    if (!isdigit((unsigned char) s[0]))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end != '\0') {
        int found = 0;

        for (int i = 0; names[i]; i++)
            if (ascii_casecmp(end, names[i]) == 0) {
                mult = scale[i];
                found = 1;
                break;
            }
        if (!found)
            return -1;
    }
    if (v > INT64_MAX / mult)
        return -1;
    *out = (int64_t) v * mult;
    return 0;
}

/* A time: 500ms, 10s, 5m, 1h, 1d, 1w; no unit = seconds. */
int config_parse_time(const char *s, int64_t *ms)
{
    static const char *const names[] = { "ms", "s", "m", "h", "d", "w", NULL };
    static const int64_t scale[] = { 1, 1000, 60000, 3600000, 86400000, 604800000 };

    return config_parse_scaled(s, ms, names, scale, 1000);
}

/* A size: bytes, or k/m/g (powers of 1024). */
int config_parse_size(const char *s, int64_t *bytes)
{
    static const char *const names[] = { "k", "kb", "m", "mb", "g", "gb", NULL };
    static const int64_t scale[] = { 1024, 1024, 1048576, 1048576, 1073741824, 1073741824 };

    return config_parse_scaled(s, bytes, names, scale, 1);
}

/* yes/no, true/false, on/off, 1/0. */
int config_parse_bool(const char *s, int *b)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < NELEM(yes); i++) {
        if (ascii_casecmp(s, yes[i]) == 0) {
            *b = 1;
            return 0;
        }
        if (ascii_casecmp(s, no[i]) == 0) {
            *b = 0;
            return 0;
        }
    }
    return -1;
}

/* Extra checks of single list words, for parameters whose words have a syntax. */
static int config_check_dnsbl_site(const char *word, str *why)
{
    struct dnsbl_spec spec;
    int rc = dnsbl_spec_parse(word, &spec, why);

    if (rc == 0)
        dnsbl_spec_clear(&spec);
    while (why->len > 0 && why->data[why->len - 1] == '\n')
        str_truncate(why, why->len - 1);
    return rc;
}

static const struct {
    const char *param;
    int (*check)(const char *word, str *why);
} config_word_checks[] = {
    { "dnsbl_sites", config_check_dnsbl_site },
};

/*
 * ACTION parameters that take only some actions. The recipient rate limit
 * answers for one recipient: discard would drop the whole message, and a
 * hold or a header is the message's, not the recipient's.
 */
static const struct {
    const char *param;
    unsigned actions;            /* 1 << VERDICT_* */
    const char *words;
} config_action_subsets[] = {
    { "policy_ratelimit_recipient_action", (1u << VERDICT_ACCEPT) | (1u << VERDICT_TEMPFAIL) | (1u << VERDICT_REJECT),
      "for one recipient the action can only be accept, tempfail or reject" },
};

/* The words of an ENUM or ACTIONMAP parameter. */
static const char *const *config_words(const struct config_param *p)
{
    if (p->type == CT_ENUM) {
        for (size_t i = 0; i < NELEM(config_enums); i++)
            if (strcmp(config_enums[i].param, p->name) == 0)
                return config_enums[i].words;
    } else {
        for (size_t i = 0; i < NELEM(config_maps); i++)
            if (strcmp(config_maps[i].param, p->name) == 0)
                return config_maps[i].words;
    }
    log_panic("config: no words for %s", p->name);
}

/* A word of a list without its temporary mark. */
static const char *config_word(const char *w)
{
    return w[0] == '~' ? w + 1 : w;
}

/* The action for a result word. */
int config_map_action(const struct config_actionmap *m, const char *word)
{
    for (int i = 0; m->words && m->words[i]; i++)
        if (ascii_casecmp(config_word(m->words[i]), word) == 0)
            return m->action[i];
    return VERDICT_ACCEPT;
}

/* Parse "word=action, word=action" over the current map. */
static int config_parse_map(struct config_actionmap *m, const char *value, str *why)
{
    const char *s = value;

    while (*s) {
        char item[64], *eq;
        size_t len;
        int w, a;

        while (*s == ',' || *s == ' ' || *s == '\t')
            s++;
        len = strcspn(s, ", \t");
        if (len == 0)
            break;
        if (len >= sizeof(item)) {
            str_adds(why, "expected result=action pairs");
            return -1;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        s += len;
        if ((eq = strchr(item, '=')) == NULL) {
            str_addf(why, "expected result=action, not \"%s\"", item);
            return -1;
        }
        *eq = '\0';
        for (w = 0; m->words[w]; w++)
            if (ascii_casecmp(config_word(m->words[w]), item) == 0)
                break;
        if (m->words[w] == NULL) {
            str_addf(why, "unknown result \"%s\" (one of:", item);
            for (int k = 0; m->words[k]; k++)
                str_addf(why, " %s", config_word(m->words[k]));
            str_addc(why, ')');
            return -1;
        }
        if ((a = verdict_action_from_name(eq + 1)) < 0) {
            str_addf(why, "unknown action \"%s\"", eq + 1);
            return -1;
        }
        if (m->words[w][0] == '~' && a != VERDICT_TEMPFAIL && a != VERDICT_ACCEPT) {
            str_addf(why, "%s is a temporary error: it can only mean tempfail or accept", item);
            return -1;
        }
        m->action[w] = a;
    }
    return 0;
}

/* Free what a parameter's slot owns. */
static void config_clear_value(struct config *c, const struct config_param *p)
{
    void *slot = (char *) c + p->offset;

    if (p->type == CT_STR || p->type == CT_LISTEN) {
        mem_free(*(char **) slot);
        *(char **) slot = NULL;
    } else if (p->type == CT_LIST || p->type == CT_NETS) {
        struct config_list *l = slot;

        for (int i = 0; i < l->n; i++)
            mem_free(l->v[i]);
        mem_free(l->v);
        l->v = NULL;
        l->n = 0;
    }
}

/* Check and store one value; on error append the reason (no location) to why. */
static int config_store(struct config *c, const struct config_param *p, const char *value, str *why)
{
    void *slot = (char *) c + p->offset;
    int64_t n = 0;
    int i;

    switch (p->type) {
    case CT_STR:
        config_clear_value(c, p);
        *(char **) slot = mem_strdup(value);
        return 0;
    case CT_LISTEN: {
        struct listen_spec ls;

        if (value[0] != '\0' && listen_parse(value, &ls, why) != 0)
            return -1;
        config_clear_value(c, p);
        *(char **) slot = mem_strdup(value);
        return 0;
    }
    case CT_BOOL:
        if (config_parse_bool(value, &i) != 0) {
            str_adds(why, "expected yes or no");
            return -1;
        }
        *(int *) slot = i;
        return 0;
    case CT_INT:
    case CT_TIME:
    case CT_SIZE: {
        int rc;
        char *end;

        if (p->type == CT_TIME)
            rc = config_parse_time(value, &n);
        else if (p->type == CT_SIZE)
            rc = config_parse_size(value, &n);
        else {
            errno = 0;
            n = strtoll(value, &end, 10);
            rc = (errno != 0 || end == value || *end != '\0') ? -1 : 0;
        }
        if (rc != 0) {
            str_adds(why, p->type == CT_TIME ? "expected a time such as 30s, 5m or 500ms"
                          : p->type == CT_SIZE ? "expected a size such as 65536, 64k or 10m"
                          : "expected a whole number");
            return -1;
        }
        if (n < p->min || n > p->max) {
            if (p->type == CT_TIME)
                str_addf(why, "value out of range (%lldms..%lldms)", (long long) p->min,
                         (long long) p->max);
            else
                str_addf(why, "value out of range (%lld..%lld)", (long long) p->min, (long long) p->max);
            return -1;
        }
        *(int64_t *) slot = n;
        return 0;
    }
    case CT_MODE: {
        char *end;
        long m;

        errno = 0;
        m = strtol(value, &end, 8);
        if (errno != 0 || end == value || *end != '\0' || m < 0 || m > p->max) {
            str_adds(why, "expected an octal file mode such as 0660");
            return -1;
        }
        *(int *) slot = (int) m;
        return 0;
    }
    case CT_FACILITY:
        if ((i = log_facility_from_name(value)) < 0) {
            str_adds(why, "unknown syslog facility (mail, daemon, user, local0..local7)");
            return -1;
        }
        *(int *) slot = i;
        return 0;
    case CT_LEVEL:
        if ((i = log_level_from_name(value)) < 0) {
            str_adds(why, "unknown log level (error, warning, notice, info, debug)");
            return -1;
        }
        *(int *) slot = i;
        return 0;
    case CT_ACTION:
    case CT_TEMPACTION:
        i = verdict_action_from_name(value);
        if (p->type == CT_TEMPACTION && i != VERDICT_TEMPFAIL && i != VERDICT_ACCEPT) {
            str_adds(why, "a temporary error can only mean tempfail or accept");
            return -1;
        }
        if (i < 0) {
            str_adds(why, "expected accept, tag, quarantine, tempfail, discard or reject");
            return -1;
        }
        for (size_t k = 0; k < NELEM(config_action_subsets); k++)
            if (strcmp(config_action_subsets[k].param, p->name) == 0
                && !(config_action_subsets[k].actions & (1u << i))) {
                str_adds(why, config_action_subsets[k].words);
                return -1;
            }
        *(int *) slot = i;
        return 0;
    case CT_ENUM: {
        const char *const *words = config_words(p);

        for (i = 0; words[i]; i++)
            if (ascii_casecmp(value, words[i]) == 0)
                break;
        if (words[i] == NULL) {
            str_adds(why, "expected");
            for (int k = 0; words[k]; k++)
                str_addf(why, "%s %s", k == 0 ? "" : (words[k + 1] ? "," : " or"), words[k]);
            return -1;
        }
        *(int *) slot = i;
        return 0;
    }
    case CT_ACTIONMAP: {
        struct config_actionmap *m = slot;

        if (m->words == NULL) {
            /* First the default, so results the admin does not name keep theirs. */
            m->words = config_words(p);
            for (i = 0; i < CONFIG_MAP_MAX; i++)
                m->action[i] = VERDICT_ACCEPT;
            if (value != p->def && config_parse_map(m, p->def, why) != 0)
                return -1;
        }
        return config_parse_map(m, value, why);
    }
    case CT_CHECKMODE:
        for (i = 0; i < (int) NELEM(config_checkmodes); i++)
            if (ascii_casecmp(value, config_checkmodes[i]) == 0)
                break;
        if (i == (int) NELEM(config_checkmodes)) {
            str_adds(why, "expected enforce, monitor or off");
            return -1;
        }
        *(int *) slot = i;
        return 0;
    case CT_NETS:
    case CT_LIST: {
        struct config_list *l = slot;
        const char *s = value;

        config_clear_value(c, p);
        while (*s) {
            size_t len;

            while (*s == ',' || *s == ' ' || *s == '\t')
                s++;
            len = strcspn(s, ", \t");
            if (len == 0)
                break;
            l->v = mem_realloc(l->v, (ssize_t) sizeof(char *) * (l->n + 1));
            l->v[l->n++] = mem_strndup(s, (ssize_t) len);
            s += len;
            if (p->type == CT_NETS) {
                struct cidr_net net;

                if (cidr_net_parse(l->v[l->n - 1], &net) != 0) {
                    str_addf(why, "not an address or network: %s", l->v[l->n - 1]);
                    return -1;
                }
            }
            for (size_t k = 0; k < NELEM(config_word_checks); k++)
                if (strcmp(config_word_checks[k].param, p->name) == 0
                    && config_word_checks[k].check(l->v[l->n - 1], why) != 0)
                    return -1;
        }
        return 0;
    }
    }
    log_panic("config_store: bad type %d", (int) p->type);
}

/* A configuration with every default. */
struct config *config_defaults(void)
{
    struct config *c = mem_zalloc(sizeof(*c));
    str why = STR_INIT;

    c->refs = 1;
    for (size_t i = 0; i < NELEM(config_params); i++)
        if (config_store(c, &config_params[i], config_params[i].def, &why) != 0)
            log_panic("default of %s does not parse: %s", config_params[i].name, str_cstr(&why));
    str_free(&why);
    return c;
}

/* Set one parameter from a name and a value (command line). */
int config_set(struct config *c, const char *name, const char *value, const char *origin, str *err)
{
    const struct config_param *p = config_find(name);
    str why = STR_INIT;
    int rc = 0;

    if (p == NULL) {
        str_addf(err, "%s: %s: unknown parameter\n", origin, name);
        return -1;
    }
    if (config_store(c, p, value, &why) != 0) {
        str_addf(err, "%s: %s: %s\n", origin, name, str_cstr(&why));
        rc = -1;
    }
    str_free(&why);
    return rc;
}

/* Read a whole file (bounded) into buf. */
static int config_read_file(const char *path, str *buf, str *err)
{
    FILE *f = fopen(path, "r");
    char chunk[8192];
    size_t n;

    if (f == NULL) {
        str_addf(err, "%s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf->len + (ssize_t) n > CONFIG_MAX_FILE_SIZE) {
            str_addf(err, "%s: file larger than %d bytes\n", path, CONFIG_MAX_FILE_SIZE);
            fclose(f);
            return -1;
        }
        str_add(buf, chunk, (ssize_t) n);
    }
    if (ferror(f)) {
        str_addf(err, "%s: read error: %s\n", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

/* Strip white space at both ends of s (in place). */
static char *config_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Handle one logical line that started on line lineno. */
static void config_line(struct config *c, const char *path, int lineno, char *line,
                        unsigned char *seen, int *lines_seen, str *err)
{
    char *eq = strchr(line, '='), *name, *value;
    const struct config_param *p;
    str why = STR_INIT;

    if (eq == NULL) {
        str_addf(err, "%s:%d: expected \"name = value\"\n", path, lineno);
        return;
    }
    *eq = '\0';
    name = config_trim(line);
    value = config_trim(eq + 1);
    if (*name == '\0' || strcspn(name, " \t") != strlen(name)) {
        str_addf(err, "%s:%d: expected \"name = value\"\n", path, lineno);
        return;
    }
    if ((p = config_find(name)) == NULL) {
        str_addf(err, "%s:%d: %s: unknown parameter\n", path, lineno, name);
        return;
    }
    if (seen[p - config_params]) {
        str_addf(err, "%s:%d: %s: duplicate parameter (first set on line %d)\n", path, lineno,
                 name, lines_seen[p - config_params]);
        return;
    }
    seen[p - config_params] = 1;
    lines_seen[p - config_params] = lineno;
    if (config_store(c, p, value, &why) != 0)
        str_addf(err, "%s:%d: %s: %s\n", path, lineno, name, str_cstr(&why));
    str_free(&why);
}

/* Load and validate a configuration file. */
struct config *config_load(const char *path, str *err)
{
    struct config *c;
    str buf = STR_INIT, logical = STR_INIT;
    unsigned char seen[NELEM(config_params)] = { 0 };
    int lines_seen[NELEM(config_params)] = { 0 };
    ssize_t start_err = err->len, pos = 0;
    int lineno = 0, logical_line = 0;

    if (config_read_file(path, &buf, err) != 0) {
        str_free(&buf);
        return NULL;
    }
    if (memchr(buf.data ? buf.data : "", '\0', (size_t) buf.len) != NULL) {
        str_addf(err, "%s: file contains a NUL byte\n", path);
        str_free(&buf);
        return NULL;
    }
    c = config_defaults();
    c->path = mem_strdup(path);
    while (pos < buf.len || logical.len > 0) {
        const char *ln = buf.data + pos;
        ssize_t len = 0;
        int at_end = pos >= buf.len;

        if (!at_end) {
            const char *nl = memchr(ln, '\n', (size_t) (buf.len - pos));

            len = nl ? nl - ln : buf.len - pos;
            pos += len + (nl ? 1 : 0);
            lineno++;
            if (len > 0 && ln[len - 1] == '\r')
                len--;
            if (len > CONFIG_MAX_LINE_LEN) {
                str_addf(err, "%s:%d: line longer than %d bytes\n", path, lineno, CONFIG_MAX_LINE_LEN);
                continue;
            }
        }
        /* Blank and comment lines are skipped; they do not end a logical line (as in Postfix). */
        if (!at_end) {
            ssize_t i = 0;

            while (i < len && (ln[i] == ' ' || ln[i] == '\t'))
                i++;
            if (i == len || ln[i] == '#')
                continue;
        }
        /* A continuation line extends the current logical line. */
        if (!at_end && (ln[0] == ' ' || ln[0] == '\t')) {
            ssize_t i = 0;

            while (i < len && (ln[i] == ' ' || ln[i] == '\t'))
                i++;
            if (logical.len == 0) {
                str_addf(err, "%s:%d: continuation line without a parameter before it\n", path, lineno);
                continue;
            }
            if (logical.len + len > CONFIG_MAX_LINE_LEN) {
                str_addf(err, "%s:%d: logical line longer than %d bytes\n", path, lineno,
                         CONFIG_MAX_LINE_LEN);
                str_reset(&logical);
                continue;
            }
            str_addc(&logical, ' ');
            str_add(&logical, ln + i, len - i);
            continue;
        }
        /* Anything else ends the current logical line. */
        if (logical.len > 0) {
            config_line(c, path, logical_line, logical.data, seen, lines_seen, err);
            str_reset(&logical);
        }
        if (at_end)
            continue;
        str_add(&logical, ln, len);
        logical_line = lineno;
    }
    str_free(&logical);
    str_free(&buf);
    if (err->len > start_err) {
        config_unref(c);
        return NULL;
    }
    return c;
}

/* Take a reference. */
struct config *config_ref(struct config *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
    return c;
}

/* Drop a reference; the last one frees. NULL is allowed. */
void config_unref(struct config *c)
{
    if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < NELEM(config_params); i++)
        config_clear_value(c, &config_params[i]);
    mem_free(c->path);
    mem_free(c);
}

/* A reference to the current configuration (defaults if none installed). */
struct config *config_current(void)
{
    struct config *c;

    pthread_mutex_lock(&config_lock);
    if (config_cur == NULL)
        config_cur = config_defaults();
    c = config_ref(config_cur);
    pthread_mutex_unlock(&config_lock);
    return c;
}

/* Make c current; the previous one dies with its last user. */
void config_install(struct config *c)
{
    struct config *old;

    pthread_mutex_lock(&config_lock);
    old = config_cur;
    config_cur = c;
    pthread_mutex_unlock(&config_lock);
    config_unref(old);
}

/* Render a parameter's value as it would be written in the file. */
static void config_render(const struct config *c, const struct config_param *p, str *out)
{
    const void *slot = (const char *) c + p->offset;
    int64_t n;

    switch (p->type) {
    case CT_STR:
    case CT_LISTEN:
        str_adds(out, *(char *const *) slot ? *(char *const *) slot : "");
        break;
    case CT_BOOL:
        str_adds(out, *(const int *) slot ? "yes" : "no");
        break;
    case CT_INT:
        str_addf(out, "%lld", (long long) *(const int64_t *) slot);
        break;
    case CT_TIME:
        n = *(const int64_t *) slot;
        if (n % 1000 != 0)
            str_addf(out, "%lldms", (long long) n);
        else
            str_addf(out, "%llds", (long long) (n / 1000));
        break;
    case CT_SIZE:
        n = *(const int64_t *) slot;
        if (n != 0 && n % 1048576 == 0)
            str_addf(out, "%lldm", (long long) (n / 1048576));
        else if (n != 0 && n % 1024 == 0)
            str_addf(out, "%lldk", (long long) (n / 1024));
        else
            str_addf(out, "%lld", (long long) n);
        break;
    case CT_MODE:
        str_addf(out, "%04o", *(const int *) slot);
        break;
    case CT_FACILITY:
        str_adds(out, log_facility_name(*(const int *) slot));
        break;
    case CT_LEVEL:
        str_adds(out, log_level_name(*(const int *) slot));
        break;
    case CT_ACTION:
    case CT_TEMPACTION:
        str_adds(out, verdict_action_name(*(const int *) slot));
        break;
    case CT_CHECKMODE:
        str_adds(out, config_checkmode_name(*(const int *) slot));
        break;
    case CT_ENUM:
        str_adds(out, config_words(p)[*(const int *) slot]);
        break;
    case CT_ACTIONMAP: {
        const struct config_actionmap *m = slot;

        for (int i = 0; m->words[i]; i++)
            str_addf(out, "%s%s=%s", i ? ", " : "", config_word(m->words[i]),
                     verdict_action_name(m->action[i]));
        break;
    }
    case CT_NETS:
    case CT_LIST: {
        const struct config_list *l = slot;

        for (int i = 0; i < l->n; i++) {
            if (i)
                str_adds(out, ", ");
            str_adds(out, l->v[i]);
        }
        break;
    }
    }
}

/* The value of one parameter as it would be written; -1 if unknown. */
int config_format(const struct config *c, const char *name, str *out)
{
    const struct config_param *p = config_find(name);

    if (p == NULL)
        return -1;
    config_render(c, p, out);
    return 0;
}

/* Print every parameter's default (rampartd -d). */
void config_print_defaults(FILE *out)
{
    struct config *d = config_defaults();
    str v = STR_INIT;

    for (size_t i = 0; i < NELEM(config_params); i++) {
        str_reset(&v);
        config_render(d, &config_params[i], &v);
        fprintf(out, "%s = %s\n", config_params[i].name, str_cstr(&v));
    }
    str_free(&v);
    config_unref(d);
}

/* Print the parameters whose value differs from the default (rampartd -n). */
void config_print_changed(const struct config *c, FILE *out)
{
    struct config *d = config_defaults();
    str v = STR_INIT, dv = STR_INIT;

    for (size_t i = 0; i < NELEM(config_params); i++) {
        str_reset(&v);
        str_reset(&dv);
        config_render(c, &config_params[i], &v);
        config_render(d, &config_params[i], &dv);
        if (v.len != dv.len || memcmp(str_cstr(&v), str_cstr(&dv), (size_t) v.len) != 0)
            fprintf(out, "%s = %s\n", config_params[i].name, str_cstr(&v));
    }
    str_free(&v);
    str_free(&dv);
    config_unref(d);
}

/* Load, override, install; the running configuration stays on error. */
int config_reload(const char *path, const char *const *overrides, int n_overrides, str *err)
{
    struct config *c = config_load(path, err);

    if (c == NULL)
        return -1;
    for (int i = 0; i < n_overrides; i++) {
        const char *eq = strchr(overrides[i], '=');
        char *name;
        int rc;

        if (eq == NULL) {
            str_addf(err, "override \"%s\": expected name=value\n", overrides[i]);
            config_unref(c);
            return -1;
        }
        name = mem_strndup(overrides[i], eq - overrides[i]);
        rc = config_set(c, name, eq + 1, "command line", err);
        mem_free(name);
        if (rc != 0) {
            config_unref(c);
            return -1;
        }
    }
    config_install(c);
    return 0;
}
