/*
 * rampart-check - run rampart's pipeline on a message file with a given
 * envelope and print what rampartd would decide and why.
 *
 * It reads the same configuration file as rampartd (-c), refuses a bad one
 * the same way, builds the same services (core_init_with_resolver), feeds
 * the message through the same pipeline (lib/txn.c) the milter uses, and
 * prints every check's result, the DNS questions asked with their answers
 * and TTLs, the DNS list hits with their weights, the scanner's result,
 * the action with the setting that produced it, the header edits, and the
 * summary line rampartd would log. --json prints the same as one JSON
 * object.
 *
 * DNS goes through a recording resolver (lib/dns_trace.c) in front of
 * either the real resolver, set up from the configuration as rampartd
 * sets it up, or, with --zone, zone files (lib/dns_zonefile.c): the
 * offline mode, which replays a message with the DNS of another moment.
 * --record-zone writes the answers of this run in that form. DNS
 * questions are attributed to checks by the name asked (_dmarc., a
 * _domainkey. label, a DNS list's zone; the rest to SPF).
 *
 * Input is a message file, or the output of Postfix's `postcat -q`
 * (recognised by its "*** ENVELOPE RECORDS" line), whose envelope
 * (client, HELO, sender, recipients, SASL login, queue id) is used unless
 * an option says otherwise; header fields rampart itself added when the
 * message was queued (its Authentication-Results, X-Rampart-*, and the
 * X-Virus-Scanned and Received-SPF fields that name this host) are left
 * out. The input is read whole, up to RAMPART_CHECK_MAX_MESSAGE
 * bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "authres.h"
#include "av.h"
#include "core.h"
#include "dns_trace.h"
#include "dns_unbound.h"
#include "dns_zonefile.h"
#include "dnsbl.h"
#include "log.h"
#include "mem.h"
#include "msg.h"
#include "rconfig.h"
#include "str.h"
#include "txn.h"
#include "util.h"

#define RAMPART_CHECK_MAX_MESSAGE (64 * 1024 * 1024)
#define RAMPART_CHECK_MAX_ZONES 32
#define RAMPART_CHECK_MAX_LOG 1000          /* log lines kept for the report */

struct envelope {
    const char *client_ip, *client_name, *helo, *from, *auth, *queue_id;
    const char **rcpt;
    int n_rcpt, cap_rcpt;
};

struct options {
    const char *config_path, *msg_path, *record_zone;
    const char *zones[RAMPART_CHECK_MAX_ZONES];
    int n_zones;
    int json;
    struct envelope cmd;      /* what the command line set (NULL: not set) */
};

/* What a run produced, for the report. */
struct run {
    struct config *cfg;
    struct envelope env;
    int postcat;
    str postcat_store;        /* the envelope strings parsed from postcat output */
    const char *msg_path;
    struct txn t;
    ssize_t body_bytes;
    int ignored_fields;       /* rampart's own fields left out of postcat input */
    const char *authserv_id;
    char host[256];
    struct dns_resolver *inner, *trace;
    int offline;
    struct dnsbl *lists;
    int64_t ms;
    str *log;                 /* captured log lines */
    int nlog;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rampart-check [-c FILE] [--client-ip ADDR] [--client-name NAME] [--helo NAME]\n"
            "                     [--from ADDR] [--rcpt ADDR]... [--auth USER] [--queue-id ID]\n"
            "                     [--zone FILE]... [--record-zone FILE] [--json] [MESSAGE-FILE | -]\n");
}

/* ---------------------------------------------------------------- input */

/* Read the input, bounded. */
static int read_input(const char *path, str *msg)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char buf[65536];
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "rampart-check: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (msg->len + (ssize_t) n > RAMPART_CHECK_MAX_MESSAGE) {
            fprintf(stderr, "rampart-check: %s: larger than %d bytes\n", path, RAMPART_CHECK_MAX_MESSAGE);
            if (f != stdin)
                fclose(f);
            return -1;
        }
        str_add(msg, buf, (ssize_t) n);
    }
    if (f != stdin)
        fclose(f);
    return 0;
}

/* Keep a copy of a postcat value in store; returns its offset. */
static ssize_t keep(str *store, const char *s, ssize_t len)
{
    ssize_t off = store->len;

    str_add(store, s, len);
    str_addc(store, '\0');
    return off;
}

/*
 * Parse `postcat -q` output: the envelope records, then the message
 * contents up to the next "*** " section line. The message replaces msg.
 */
static void parse_postcat(struct run *r, str *msg)
{
    enum { F_IP, F_NAME, F_HELO, F_FROM, F_AUTH, F_QID, F_N };
    ssize_t off[F_N], *rcpt = NULL;
    int nrcpt = 0;
    str content = STR_INIT;
    const char *p = msg->data, *end = msg->data + msg->len;
    int in_content = 0;

    for (int i = 0; i < F_N; i++)
        off[i] = -1;
    str_reset(&r->postcat_store);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        const char *le = nl ? nl : end;
        ssize_t len = le - p;

        if (len >= 4 && memcmp(p, "*** ", 4) == 0) {
            if (len >= 21 && memcmp(p, "*** ENVELOPE RECORDS ", 21) == 0) {
                /* "*** ENVELOPE RECORDS deferred/ABC123 ***": the queue id is the last path part. */
                const char *a = p + 21, *b = le;

                while (b > a && (b[-1] == '*' || b[-1] == ' ' || b[-1] == '\r'))
                    b--;
                for (const char *s = a; s < b; s++)
                    if (*s == '/')
                        a = s + 1;
                if (b > a)
                    off[F_QID] = keep(&r->postcat_store, a, b - a);
            }
            in_content = len >= 21 && memcmp(p, "*** MESSAGE CONTENTS ", 21) == 0;
        } else if (in_content) {
            str_add(&content, p, len);
            str_addc(&content, '\n');
        } else {
            static const struct {
                const char *prefix;
                int field;
            } env[] = {
                { "named_attribute: client_address=", F_IP },
                { "named_attribute: client_name=", F_NAME },
                { "named_attribute: helo_name=", F_HELO },
                { "named_attribute: sasl_username=", F_AUTH },
                { "sender: ", F_FROM },
                { "sender:", F_FROM },
            };

            if ((len > 11 && memcmp(p, "recipient: ", 11) == 0)
                || (len > 16 && memcmp(p, "done_recipient: ", 16) == 0)) {
                ssize_t skip = p[0] == 'r' ? 11 : 16;

                rcpt = mem_realloc(rcpt, (ssize_t) sizeof(*rcpt) * (nrcpt + 1));
                rcpt[nrcpt++] = keep(&r->postcat_store, p + skip, len - skip);
            }
            for (size_t i = 0; i < NELEM(env); i++) {
                ssize_t pl = (ssize_t) strlen(env[i].prefix);

                if (len >= pl && memcmp(p, env[i].prefix, (size_t) pl) == 0 && off[env[i].field] < 0) {
                    off[env[i].field] = keep(&r->postcat_store, p + pl, len - pl);
                    break;
                }
            }
        }
        p = nl ? nl + 1 : end;
    }
    /* Offsets become pointers now that the store no longer grows. */
#define FIELD(f) (off[f] >= 0 ? r->postcat_store.data + off[f] : NULL)
    r->env.client_ip = FIELD(F_IP);
    r->env.client_name = FIELD(F_NAME);
    r->env.helo = FIELD(F_HELO);
    r->env.from = FIELD(F_FROM);
    r->env.auth = FIELD(F_AUTH);
    r->env.queue_id = FIELD(F_QID);
#undef FIELD
    for (int i = 0; i < nrcpt; i++) {
        if (r->env.n_rcpt == r->env.cap_rcpt) {
            r->env.cap_rcpt = r->env.cap_rcpt ? r->env.cap_rcpt * 2 : 8;
            r->env.rcpt = mem_realloc(r->env.rcpt, (ssize_t) sizeof(*r->env.rcpt) * r->env.cap_rcpt);
        }
        r->env.rcpt[r->env.n_rcpt++] = r->postcat_store.data + rcpt[i];
    }
    mem_free(rcpt);
    str_free(msg);
    *msg = content;
}

/* Feed one header field, leaving out what rampart added to a queued message. */
static void feed_header(const char *name, const char *value, ssize_t len, void *arg)
{
    struct run *r = arg;

    if (r->postcat) {
        str id = STR_INIT;
        int ours = 0;

        if (ascii_casecmp(name, "Authentication-Results") == 0 && authres_parse_id(value, len, &id) == 0)
            ours = ascii_casecmp(str_cstr(&id), r->authserv_id) == 0;
        /* The scanner's and SPF's own fields name this host. */
        if ((ascii_casecmp(name, "X-Virus-Scanned") == 0 || ascii_casecmp(name, "Received-SPF") == 0)
            && memmem(value, (size_t) len, r->authserv_id, strlen(r->authserv_id)) != NULL)
            ours = 1;
        str_free(&id);
        if (ours || strncasecmp(name, "X-Rampart-", 10) == 0) {
            r->ignored_fields++;
            return;
        }
    }
    txn_header(&r->t, name, value, len);
}

/* ---------------------------------------------------------------- log capture */

static void capture_log(int level, const char *line, void *arg)
{
    struct run *r = arg;

    if (r->nlog >= RAMPART_CHECK_MAX_LOG)
        return;
    r->log = mem_realloc(r->log, (ssize_t) sizeof(*r->log) * (r->nlog + 1));
    str_init(&r->log[r->nlog]);
    str_addf(&r->log[r->nlog], "%s: %s", log_level_name(level), line);
    r->nlog++;
}

/* ---------------------------------------------------------------- the run */

/* The resolver the configuration asks for, as core_init builds it. */
static struct dns_resolver *live_resolver(const struct config *cfg, str *err)
{
    struct dns_unbound_config uc;

    memset(&uc, 0, sizeof(uc));
    uc.forwarders = (const char *const *) cfg->dns_forwarders.v;
    uc.n_forwarders = cfg->dns_forwarders.n;
    uc.timeout_ms = (int) cfg->dns_timeout;
    return dns_unbound_new(&uc, err);
}

/*
 * The body as Postfix hands it to a milter: every bare LF (a message
 * file's, postcat's) made CRLF. DKIM verifies bodies with CRLF line ends
 * only (dkim_startup(0), as in rampartd). At most twice len bytes.
 */
static void body_crlf(const char *s, ssize_t len, str *out)
{
    ssize_t from = 0;

    for (ssize_t i = 0; i < len; i++)
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
            str_add(out, s + from, i - from);
            str_add(out, "\r\n", 2);
            from = i + 1;
        }
    str_add(out, s + from, len - from);
}

/* The stage of the DNS questions asked from now on: this thread's, handed on to the
   pool thread a check starts (SPF), and the trace's for any other thread. */
static void trace_stage(struct run *r, const char *stage)
{
    dns_trace_set_context(r->trace, stage);
    dns_trace_set_thread_context(stage);
}

/* Run the pipeline on the message, as the milter would. */
static void run_pipeline(struct run *r, const str *msg)
{
    ssize_t body;
    int64_t t0 = clock_now_ms();
    str crlf = STR_INIT;

    txn_init(&r->t);
    if (r->lists) {
        /* rampartd skips lists its health checks found broken: check them as it does. */
        trace_stage(r, "health");
        dnsbl_health_check(r->lists, r->trace, 0);
    }
    trace_stage(r, "connect");
    txn_set_client(&r->t, r->env.client_ip, r->env.client_name);
    txn_set_helo(&r->t, r->env.helo);
    trace_stage(r, "mail");
    txn_mail(&r->t, r->env.from, r->env.auth);
    if (r->env.queue_id)
        str_set(&r->t.queue_id, r->env.queue_id);
    for (int i = 0; i < r->env.n_rcpt; i++)
        txn_rcpt(&r->t, r->env.rcpt[i]);
    trace_stage(r, "header");
    body = msg_split(msg->data ? msg->data : "", msg->len, feed_header, r);
    txn_eoh(&r->t);
    trace_stage(r, "body");
    body_crlf(msg->data ? msg->data + body : "", msg->len - body, &crlf);
    txn_body(&r->t, (const unsigned char *) (crlf.data ? crlf.data : ""), crlf.len);
    trace_stage(r, "eom");
    txn_eom(&r->t);
    r->ms = clock_now_ms() - t0;
    txn_log(&r->t, r->ms);
    trace_stage(r, NULL);
    r->body_bytes = crlf.len;
    str_free(&crlf);
}

/* ---------------------------------------------------------------- attribution */

/* Does name end with "." zone (or equal it)? */
static int under_zone(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);

    return n > z && name[n - z - 1] == '.' && ascii_casecmp(name + n - z, zone) == 0;
}

/* The check a DNS question belongs to, judged by its name; zone gets a DNS list's zone. */
static const char *dns_owner(const struct run *r, const struct dns_trace_entry *e, const char **zone)
{
    *zone = NULL;
    if (e->context && strcmp(e->context, "health") == 0)
        return "health";
    if (r->lists)
        for (int i = 0; i < dnsbl_count(r->lists); i++)
            if (under_zone(e->name, dnsbl_entry(r->lists, i)->zone)) {
                *zone = dnsbl_entry(r->lists, i)->zone;
                return "dnsbl";
            }
    if (strncasecmp(e->name, "_dmarc.", 7) == 0)
        return "dmarc";
    if (strstr(e->name, "._domainkey."))
        return "dkim";
    return "spf";
}

/* The verdict entries a DNS owner belongs under ("spf" covers "spf_helo"). */
static int owner_matches(const char *owner, const char *check)
{
    return strcmp(owner, check) == 0 || (strcmp(owner, "spf") == 0 && strcmp(check, "spf_helo") == 0);
}

/* ---------------------------------------------------------------- the rule */

/* Which setting turned the winner's result into its action. */
static void find_rule(const struct run *r, const struct verdict_entry *w, str *out)
{
    const char *action = verdict_action_name(w->action);
    str name = STR_INIT, value = STR_INIT, want = STR_INIT;
    const char *base = strcmp(w->check, "spf_helo") == 0 ? "spf" : w->check;

    if (strcmp(base, "dnsbl") == 0 && strcmp(w->result, "listed") == 0) {
        str_addf(&name, "dnsbl_%s_score", action);
        if (config_format(r->cfg, str_cstr(&name), &value) == 0)
            str_addf(out, "%s = %s", str_cstr(&name), str_cstr(&value));
        goto out;
    }
    /* NAME_RESULT_action = ACTION */
    str_addf(&name, "%s_%s_action", base, w->result);
    if (config_format(r->cfg, str_cstr(&name), &value) == 0 && strcmp(str_cstr(&value), action) == 0) {
        str_addf(out, "%s = %s", str_cstr(&name), str_cstr(&value));
        goto out;
    }
    /* NAME_..._actions containing RESULT=ACTION */
    str_addf(&want, "%s=%s", w->result, action);
    for (int i = 0; i < config_param_count(); i++) {
        const char *p = config_param_name(i);
        size_t bl = strlen(base), pl = strlen(p);

        if (strncmp(p, base, bl) != 0 || p[bl] != '_' || pl < 8 || strcmp(p + pl - 8, "_actions") != 0)
            continue;
        if (strcmp(w->check, "spf_helo") == 0 && strstr(p, "helo") == NULL)
            continue;
        if (strcmp(w->check, "spf") == 0 && strstr(p, "helo") != NULL)
            continue;
        str_reset(&value);
        if (config_format(r->cfg, p, &value) != 0)
            continue;
        for (const char *s = str_cstr(&value); (s = strstr(s, str_cstr(&want))) != NULL; s++)
            if ((s == value.data || s[-1] == ' ' || s[-1] == ',') && (s[want.len] == '\0' || s[want.len] == ','
                                                                      || s[want.len] == ' ')) {
                str_addf(out, "%s: %s", p, str_cstr(&want));
                goto out;
            }
    }
    /* NAME_action (limits_action, spf_both_fail_action ...) */
    for (int i = 0; i < config_param_count(); i++) {
        const char *p = config_param_name(i);
        size_t bl = strlen(base), pl = strlen(p);

        if (strncmp(p, base, bl) != 0 || p[bl] != '_' || pl < 7 || strcmp(p + pl - 7, "_action") != 0)
            continue;
        str_reset(&value);
        if (config_format(r->cfg, p, &value) == 0 && strcmp(str_cstr(&value), action) == 0
            && (strcmp(base, "limits") == 0 || strstr(p, w->result) != NULL)) {
            str_addf(out, "%s = %s", p, str_cstr(&value));
            goto out;
        }
    }
    str_addf(out, "%s's own mapping of %s", w->check, w->result);
out:
    str_free(&name);
    str_free(&value);
    str_free(&want);
}

/* ---------------------------------------------------------------- DNS list hits */

struct hit {
    const char *zone, *kind;
    str identity;
    const struct dns_answer *answer;
    int weight;
    const struct dnsbl_spec *spec;
};

/* Is the part before the zone a reversed address (4 numbers, or 32 nibbles)? */
static int reversed_ip(const char *s, size_t len)
{
    int labels = 1, digits_only = 1;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.')
            labels++;
        else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
        else if (!(s[i] >= '0' && s[i] <= '9'))
            digits_only = 0;
    }
    return (labels == 4 && digits_only) || labels == 32;
}

/* The address a reversed name stands for: 4 decimal labels or 32 nibbles, last first. */
static void unreverse(const char *s, size_t len, str *out)
{
    const char *label[32];
    size_t llen[32];
    int n = 0;

    for (size_t i = 0, start = 0; i <= len && n < 32; i++)
        if (i == len || s[i] == '.') {
            label[n] = s + start;
            llen[n++] = i - start;
            start = i + 1;
        }
    for (int i = n - 1; i >= 0; i--) {
        str_add(out, label[i], (ssize_t) llen[i]);
        if (i > 0 && (n == 4 || i % 4 == 0))
            str_addc(out, n == 4 ? '.' : ':');
    }
}

/* The hits, from the DNS list answers in the trace and the configured entries. */
static int collect_hits(const struct run *r, struct hit **out)
{
    int n = 0, count = dns_trace_count(r->trace);

    *out = NULL;
    if (r->lists == NULL)
        return 0;
    for (int i = 0; i < count; i++) {
        const struct dns_trace_entry *e = dns_trace_entry(r->trace, i);
        const char *zone;

        if (e->type != DNS_T_A || e->answer == NULL || e->answer->status != DNS_ANSWER
            || strcmp(dns_owner(r, e, &zone), "dnsbl") != 0)
            continue;
        for (int k = 0; k < dnsbl_count(r->lists); k++) {
            const struct dnsbl_spec *s = dnsbl_entry(r->lists, k);
            size_t idlen = strlen(e->name) - strlen(s->zone) - 1;
            int ip, match = 0;

            if (!under_zone(e->name, s->zone))
                continue;
            ip = reversed_ip(e->name, idlen);
            if (ip ? !(s->kinds & (DNSBL_IP | DNSBL_URI_IP)) : !(s->kinds & ~(unsigned) (DNSBL_IP | DNSBL_URI_IP)))
                continue;
            for (int a = 0; a < e->answer->count; a++)
                if (e->answer->rr[a].type == DNS_T_A && dnsbl_filter_match(&s->filter, e->answer->rr[a].u.a))
                    match = 1;
            if (!match)
                continue;
            *out = mem_realloc(*out, (ssize_t) sizeof(**out) * (n + 1));
            memset(&(*out)[n], 0, sizeof(**out));
            (*out)[n].zone = s->zone;
            (*out)[n].kind = ip ? "ip" : "domain";
            if (ip)
                unreverse(e->name, idlen, &(*out)[n].identity);
            else
                str_add(&(*out)[n].identity, e->name, (ssize_t) idlen);
            (*out)[n].answer = e->answer;
            (*out)[n].weight = s->weight;
            (*out)[n].spec = s;
            n++;
        }
    }
    return n;
}

static void free_hits(struct hit *h, int n)
{
    for (int i = 0; i < n; i++)
        str_free(&h[i].identity);
    mem_free(h);
}

/* ---------------------------------------------------------------- text report */

/* Append an untrusted value for the terminal: printable ASCII and tabs as they are, other bytes as \xNN. */
static void esc(str *out, const char *s, ssize_t len, ssize_t max)
{
    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (i >= max) {
            str_adds(out, "...");
            return;
        }
        if ((c >= 0x20 && c < 0x7f) || c == '\t')
            str_addc(out, (char) c);
        else
            str_addf(out, "\\x%02x", c);
    }
}

/* The records of an answer on one line. */
static void answer_text(const struct dns_trace_entry *e, str *out)
{
    const struct dns_answer *a = e->answer;

    if (a == NULL) {
        str_adds(out, "(no answer yet)");
        return;
    }
    if (e->abandoned || a->timed_out) {
        str_addf(out, "timeout, no answer after %lld ms", (long long) e->elapsed_ms);
        return;
    }
    switch (a->status) {
    case DNS_ANSWER:
        for (int i = 0; i < a->count; i++) {
            str rd = STR_INIT;

            if (i)
                str_adds(out, ", ");
            dns_rdata_format(&a->rr[i], &rd);
            esc(out, rd.data, rd.len, 300);
            str_addf(out, " (ttl %u)", a->rr[i].ttl);
            str_free(&rd);
        }
        break;
    case DNS_NXDOMAIN: str_addf(out, "NXDOMAIN (ttl %u)", a->ttl); break;
    case DNS_NODATA: str_addf(out, "no %s records (ttl %u)", dns_type_name(e->type), a->ttl); break;
    case DNS_TEMPFAIL: str_addf(out, "temporary error: %s", a->why ? a->why : "SERVFAIL"); break;
    case DNS_BADANSWER: str_addf(out, "unusable answer: %s", a->why ? a->why : "malformed"); break;
    }
}

/* One DNS question and its answer. */
static void print_question(const struct dns_trace_entry *e, const char *indent)
{
    str s = STR_INIT;

    esc(&s, e->name, (ssize_t) strlen(e->name), 300);
    printf("%s%-5s %s", indent, dns_type_name(e->type), str_cstr(&s));
    str_reset(&s);
    answer_text(e, &s);
    printf("\n%s      -> %s", indent, str_cstr(&s));
    if (e->elapsed_ms >= 0 && !e->abandoned)
        printf("  [%lld ms]", (long long) e->elapsed_ms);
    printf("\n");
    str_free(&s);
}

/* A header field as it would be written: name, colon, value (folded lines kept). */
static void print_field(const char *indent, const char *name, const char *value)
{
    str v = STR_INIT;

    for (const char *p = value; *p; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n') {
            str_addf(&v, "\n%s", indent);
            continue;
        }
        esc(&v, p, 1, 8);
    }
    printf("%s%s:%s%s\n", indent, name, value[0] == ' ' || value[0] == '\t' ? "" : " ", str_cstr(&v));
    str_free(&v);
}

static void print_value(const char *label, const char *value)
{
    str s = STR_INIT;

    if (value)
        esc(&s, value, (ssize_t) strlen(value), 512);
    printf("  %-12s %s\n", label, value ? str_cstr(&s) : "(none)");
    str_free(&s);
}

static void report_text(struct run *r)
{
    const struct verdict *v = &r->t.verdict;
    const struct verdict_entry *w = verdict_winner(v);
    int count = dns_trace_count(r->trace), nhits, shown_health = 0;
    const char *last_owner = NULL;
    struct hit *hits;
    str s = STR_INIT;

    printf("input: %s%s\n", r->msg_path, r->postcat ? " (postcat output: envelope from the queue file)" : "");
    printf("envelope:\n");
    print_value("client", r->env.client_ip);
    print_value("client name", r->env.client_name);
    print_value("helo", r->env.helo);
    print_value("from", r->env.from);
    for (int i = 0; i < r->env.n_rcpt; i++)
        print_value("rcpt", r->env.rcpt[i]);
    if (r->env.auth)
        print_value("login", r->env.auth);
    if (r->env.queue_id)
        print_value("queue id", r->env.queue_id);
    printf("message: %d header fields, %zd body bytes\n", r->t.headers.n, r->body_bytes);
    if (r->ignored_fields)
        printf("  (%d header fields that rampart added when the message was queued are left out)\n",
               r->ignored_fields);
    printf("DNS: %s%s\n", r->offline ? "offline, from zone files" : "live", r->offline ? "" : " (as rampartd asks)");

    printf("\nchecks:\n");
    if (r->t.skip)
        printf("  skipped: %s client\n", r->t.trusted ? "trusted" : "authenticated");
    for (int i = 0; i < v->n; i++) {
        const struct verdict_entry *e = &v->e[i];

        printf("  %-10s %-12s -> %s%s%s\n", e->check, e->result, verdict_action_name(e->action),
               e->monitor ? " (monitor mode: not enforced)" : "", e->temporary ? " (temporary)" : "");
        if (e->reason[0])
            printf("      reason: %s\n", e->reason);
        if (strcmp(e->check, "spf_helo") == 0)
            continue;
        for (int k = 0; k < count; k++) {
            const struct dns_trace_entry *d = dns_trace_entry(r->trace, k);
            const char *zone;

            if (owner_matches(dns_owner(r, d, &zone), e->check))
                print_question(d, "      ");
        }
    }
    if (v->n == 0)
        printf("  (no check reported)\n");
    /* Questions of checks that reported nothing. */
    for (int k = 0; k < count; k++) {
        const struct dns_trace_entry *d = dns_trace_entry(r->trace, k);
        const char *zone, *owner = dns_owner(r, d, &zone);
        int reported = 0;

        for (int i = 0; i < v->n && !reported; i++)
            reported = owner_matches(owner, v->e[i].check);
        if (reported)
            continue;
        if (!shown_health) {
            printf("  other DNS questions:\n");
            shown_health = 1;
        }
        if (owner != last_owner)
            printf("    %s:\n", strcmp(owner, "health") == 0 ? "DNS list test points" : owner);
        last_owner = owner;
        print_question(d, "      ");
    }

    nhits = collect_hits(r, &hits);
    printf("\nDNS list hits:\n");
    for (int i = 0; i < nhits; i++) {
        str_reset(&s);
        esc(&s, hits[i].identity.data, hits[i].identity.len, 300);
        printf("  %-20s %-6s %-40s weight %d  (%s)\n", hits[i].zone, hits[i].kind, str_cstr(&s), hits[i].weight,
               hits[i].spec->text);
    }
    if (nhits == 0)
        printf("  none\n");
    if (r->lists) {
        for (int i = 0; i < dnsbl_zone_count(r->lists); i++) {
            struct dnsbl_zone_status z;

            dnsbl_zone_status(r->lists, i, &z);
            if (z.broken)
                printf("  list %s is broken (%s): rampartd skips it\n", z.zone, dnsbl_health_name(z.health));
        }
        printf("  thresholds: tag %lld, quarantine %lld, reject %lld (0 = off)\n", (long long) r->cfg->dnsbl_tag_score,
               (long long) r->cfg->dnsbl_quarantine_score, (long long) r->cfg->dnsbl_reject_score);
    }
    free_hits(hits, nhits);

    printf("\nscanner:\n");
    if (r->cfg->av_mode == CHECK_OFF) {
        printf("  off (av_mode = off)\n");
    } else {
        str_reset(&s);
        av_engine_describe(&s);
        printf("  engine: %s\n", str_cstr(&s));
        for (int i = 0; i < v->n; i++)
            if (strcmp(v->e[i].check, "av") == 0)
                printf("  result: %s%s%s\n", v->e[i].result, v->e[i].reason[0] ? ": " : "", v->e[i].reason);
    }

    printf("\naction: %s\n", verdict_action_name(v->action));
    if (w) {
        str_reset(&s);
        find_rule(r, w, &s);
        printf("  decided by: %s = %s\n", w->check, w->result);
        printf("  setting:    %s\n", str_cstr(&s));
        if (v->action == VERDICT_REJECT || v->action == VERDICT_TEMPFAIL)
            printf("  reply:      %s %s %s\n", w->rcode, w->xcode,
                   r->t.reply.len ? str_cstr(&r->t.reply) : w->reason);
    } else {
        printf("  no check asked for more than accept\n");
    }
    if (r->t.quarantine_reason)
        printf("  hold: %s\n", r->t.quarantine_reason);

    printf("\nheaders added:\n");
    {
        int added = 0;

        /* As the milter applies them: inserted fields at the top, added ones at the end of the header. */
        for (int op = TXN_EDIT_INSERT; op <= TXN_EDIT_ADD; op++) {
            int first = 1;

            for (int i = 0; i < r->t.nedits; i++) {
                if ((int) r->t.edits[i].op != op)
                    continue;
                if (first)
                    printf("  %s\n", op == TXN_EDIT_INSERT ? "at the top:" : "at the end of the header:");
                first = 0;
                print_field("    ", r->t.edits[i].name, r->t.edits[i].value);
                added++;
            }
        }
        if (!added)
            printf("  none%s\n", v->action == VERDICT_REJECT || v->action == VERDICT_TEMPFAIL
                                     || v->action == VERDICT_DISCARD ? " (the message is not accepted)" : "");
        for (int i = 0; i < r->t.nedits; i++) {
            const struct txn_edit *e = &r->t.edits[i];

            if (e->op == TXN_EDIT_DELETE)
                printf("  (delete %s #%d: a forged one)\n", e->name, e->index);
            else if (e->op == TXN_EDIT_CHANGE) {
                printf("  (change %s #%d to:)\n", e->name, e->index);
                print_field("    ", e->name, e->value);
            }
        }
    }

    printf("\nlog:\n");
    for (int i = 0; i < r->nlog; i++)
        printf("  %s\n", str_cstr(&r->log[i]));
    {
        int64_t waited = 0;

        for (int k = 0; k < count; k++)
            if (dns_trace_entry(r->trace, k)->elapsed_ms > waited)
                waited = dns_trace_entry(r->trace, k)->elapsed_ms;
        printf("\n%d DNS questions (longest %lld ms), %lld ms in all", count, (long long) waited, (long long) r->ms);
        if (dns_trace_dropped(r->trace))
            printf(", %d more not recorded", dns_trace_dropped(r->trace));
        if (r->offline && dns_zonefile_misses(r->inner))
            printf("; %d questions were not in the zone files and got NXDOMAIN", dns_zonefile_misses(r->inner));
        printf("\n");
    }
    str_free(&s);
}

/* ---------------------------------------------------------------- JSON report */

struct json {
    str *o;
    int first[32];
    int depth;
};

/* A JSON string: valid UTF-8 passes, invalid bytes become U+FFFD, controls are escaped. */
static void json_string(str *o, const char *s, ssize_t len)
{
    const unsigned char *p = (const unsigned char *) s, *end = p + len;

    str_addc(o, '"');
    while (p < end) {
        unsigned c = *p;
        int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        int ok = n > 0 && end - p >= n;

        for (int i = 1; ok && i < n; i++)
            ok = (p[i] & 0xc0) == 0x80;
        if (ok && n == 2 && c < 0xc2)
            ok = 0;
        if (ok && n == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
            ok = 0;
        if (ok && n == 4 && ((c == 0xf0 && p[1] < 0x90) || c > 0xf4 || (c == 0xf4 && p[1] >= 0x90)))
            ok = 0;
        if (!ok) {
            str_adds(o, "\\ufffd");
            p++;
            continue;
        }
        if (n > 1) {
            str_add(o, p, n);
            p += n;
            continue;
        }
        if (c == '"' || c == '\\')
            str_addf(o, "\\%c", c);
        else if (c == '\n')
            str_adds(o, "\\n");
        else if (c == '\r')
            str_adds(o, "\\r");
        else if (c == '\t')
            str_adds(o, "\\t");
        else if (c < 0x20 || c == 0x7f)
            str_addf(o, "\\u%04x", c);
        else
            str_addc(o, (char) c);
        p++;
    }
    str_addc(o, '"');
}

static void jsep(struct json *j, const char *key)
{
    if (!j->first[j->depth])
        str_addc(j->o, ',');
    j->first[j->depth] = 0;
    if (key) {
        json_string(j->o, key, (ssize_t) strlen(key));
        str_addc(j->o, ':');
    }
}

static void jopen(struct json *j, const char *key, char c)
{
    jsep(j, key);
    str_addc(j->o, c);
    j->first[++j->depth] = 1;
}

static void jclose(struct json *j, char c)
{
    j->depth--;
    str_addc(j->o, c);
}

static void jstr(struct json *j, const char *key, const char *v)
{
    jsep(j, key);
    if (v)
        json_string(j->o, v, (ssize_t) strlen(v));
    else
        str_adds(j->o, "null");
}

static void jstrn(struct json *j, const char *key, const char *v, ssize_t len)
{
    jsep(j, key);
    json_string(j->o, v, len);
}

static void jint(struct json *j, const char *key, long long v)
{
    jsep(j, key);
    str_addf(j->o, "%lld", v);
}

static void jbool(struct json *j, const char *key, int v)
{
    jsep(j, key);
    str_adds(j->o, v ? "true" : "false");
}

static const char *edit_op_name(enum txn_edit_op op)
{
    switch (op) {
    case TXN_EDIT_INSERT: return "insert";
    case TXN_EDIT_ADD: return "add";
    case TXN_EDIT_CHANGE: return "change";
    case TXN_EDIT_DELETE: return "delete";
    }
    return "?";
}

static void json_question(struct json *j, const struct run *r, const struct dns_trace_entry *e)
{
    const struct dns_answer *a = e->answer;
    const char *zone, *owner = dns_owner(r, e, &zone);

    jopen(j, NULL, '{');
    jstr(j, "check", owner);
    if (zone)
        jstr(j, "list", zone);
    jstr(j, "stage", e->context);
    jstr(j, "name", e->name);
    jstr(j, "type", dns_type_name(e->type));
    jint(j, "start_ms", e->start_ms);
    jint(j, "elapsed_ms", e->elapsed_ms);
    if (a == NULL) {
        jstr(j, "status", NULL);
    } else {
        jstr(j, "status", e->abandoned || a->timed_out ? "timeout" : dns_status_name(a->status));
        jint(j, "ttl", a->ttl);
        if (a->why)
            jstr(j, "why", a->why);
        jopen(j, "records", '[');
        for (int i = 0; i < a->count; i++) {
            str rd = STR_INIT;

            jopen(j, NULL, '{');
            jstr(j, "type", dns_type_name(a->rr[i].type));
            jint(j, "ttl", a->rr[i].ttl);
            if (a->rr[i].type == DNS_T_TXT) {
                jstrn(j, "data", a->rr[i].u.txt.data, a->rr[i].u.txt.len);
            } else {
                dns_rdata_format(&a->rr[i], &rd);
                jstrn(j, "data", rd.data, rd.len);
            }
            jclose(j, '}');
            str_free(&rd);
        }
        jclose(j, ']');
    }
    jclose(j, '}');
}

static void report_json(struct run *r)
{
    const struct verdict *v = &r->t.verdict;
    const struct verdict_entry *w = verdict_winner(v);
    str o = STR_INIT, s = STR_INIT;
    struct json j = { &o, { 1 }, 0 };
    struct hit *hits;
    int nhits, count = dns_trace_count(r->trace);

    jopen(&j, NULL, '{');
    jstr(&j, "input", r->msg_path);
    jbool(&j, "postcat", r->postcat);
    jopen(&j, "envelope", '{');
    jstr(&j, "client_ip", r->env.client_ip);
    jstr(&j, "client_name", r->env.client_name);
    jstr(&j, "helo", r->env.helo);
    jstr(&j, "from", r->env.from);
    jopen(&j, "rcpt", '[');
    for (int i = 0; i < r->env.n_rcpt; i++)
        jstr(&j, NULL, r->env.rcpt[i]);
    jclose(&j, ']');
    jstr(&j, "login", r->env.auth);
    jstr(&j, "queue_id", r->env.queue_id);
    jclose(&j, '}');
    jopen(&j, "message", '{');
    jint(&j, "header_fields", r->t.headers.n);
    jint(&j, "body_bytes", r->body_bytes);
    jint(&j, "ignored_fields", r->ignored_fields);
    jclose(&j, '}');
    jbool(&j, "offline", r->offline);
    jstr(&j, "skipped", r->t.skip ? (r->t.trusted ? "trusted" : "authenticated") : NULL);
    jopen(&j, "checks", '[');
    for (int i = 0; i < v->n; i++) {
        const struct verdict_entry *e = &v->e[i];

        jopen(&j, NULL, '{');
        jstr(&j, "check", e->check);
        jstr(&j, "result", e->result);
        jstr(&j, "action", verdict_action_name(e->action));
        jbool(&j, "monitor", e->monitor);
        jbool(&j, "temporary", e->temporary);
        jstr(&j, "reason", e->reason);
        jclose(&j, '}');
    }
    jclose(&j, ']');
    jopen(&j, "dns", '[');
    for (int k = 0; k < count; k++)
        json_question(&j, r, dns_trace_entry(r->trace, k));
    jclose(&j, ']');
    jint(&j, "dns_not_recorded", dns_trace_dropped(r->trace));
    if (r->offline)
        jint(&j, "dns_not_in_zone_files", dns_zonefile_misses(r->inner));
    nhits = collect_hits(r, &hits);
    jopen(&j, "dnsbl_hits", '[');
    for (int i = 0; i < nhits; i++) {
        jopen(&j, NULL, '{');
        jstr(&j, "list", hits[i].zone);
        jstr(&j, "entry", hits[i].spec->text);
        jstr(&j, "kind", hits[i].kind);
        jstrn(&j, "identity", hits[i].identity.data, hits[i].identity.len);
        jint(&j, "weight", hits[i].weight);
        jclose(&j, '}');
    }
    jclose(&j, ']');
    free_hits(hits, nhits);
    if (r->lists) {
        jopen(&j, "dnsbl_broken", '[');
        for (int i = 0; i < dnsbl_zone_count(r->lists); i++) {
            struct dnsbl_zone_status z;

            dnsbl_zone_status(r->lists, i, &z);
            if (z.broken)
                jstr(&j, NULL, z.zone);
        }
        jclose(&j, ']');
    }
    jopen(&j, "scanner", '{');
    jbool(&j, "enabled", r->cfg->av_mode != CHECK_OFF);
    if (r->cfg->av_mode != CHECK_OFF) {
        av_engine_describe(&s);
        jstr(&j, "engine", str_cstr(&s));
        for (int i = 0; i < v->n; i++)
            if (strcmp(v->e[i].check, "av") == 0)
                jstr(&j, "result", v->e[i].result);
    }
    jclose(&j, '}');
    jstr(&j, "action", verdict_action_name(v->action));
    if (w) {
        jopen(&j, "decided_by", '{');
        jstr(&j, "check", w->check);
        jstr(&j, "result", w->result);
        str_reset(&s);
        find_rule(r, w, &s);
        jstr(&j, "setting", str_cstr(&s));
        jstr(&j, "rcode", w->rcode);
        jstr(&j, "xcode", w->xcode);
        jstr(&j, "reply", r->t.reply.len ? str_cstr(&r->t.reply) : w->reason);
        jclose(&j, '}');
    } else {
        jstr(&j, "decided_by", NULL);
    }
    jstr(&j, "hold", r->t.quarantine_reason);
    jopen(&j, "header_edits", '[');
    for (int i = 0; i < r->t.nedits; i++) {
        jopen(&j, NULL, '{');
        jstr(&j, "op", edit_op_name(r->t.edits[i].op));
        jstr(&j, "name", r->t.edits[i].name);
        jint(&j, "index", r->t.edits[i].index);
        jstr(&j, "value", r->t.edits[i].value);
        jclose(&j, '}');
    }
    jclose(&j, ']');
    jopen(&j, "log", '[');
    for (int i = 0; i < r->nlog; i++)
        jstrn(&j, NULL, r->log[i].data, r->log[i].len);
    jclose(&j, ']');
    jint(&j, "time_ms", r->ms);
    jclose(&j, '}');
    printf("%s\n", str_cstr(&o));
    str_free(&o);
    str_free(&s);
}

/* ---------------------------------------------------------------- main */

/* Write the answers of this run as a zone file. */
static int record_zone(struct run *r, const char *path)
{
    str z = STR_INIT;
    FILE *f = fopen(path, "w");
    time_t now = time(NULL);
    char when[64];
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "rampart-check: %s: %s\n", path, strerror(errno));
        return -1;
    }
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", localtime(&now));
    str_addf(&z, "; DNS answers rampart-check used for %s at %s.\n; Replay: rampart-check --zone %s ...\n",
             r->msg_path, when, path);
    dns_trace_write_zone(r->trace, &z);
    if (fwrite(z.data, 1, (size_t) z.len, f) != (size_t) z.len)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "rampart-check: %s: %s\n", path, strerror(errno));
    str_free(&z);
    return rc;
}

/* Add a recipient to an envelope. */
static void add_rcpt(struct envelope *e, const char *rcpt)
{
    if (e->n_rcpt == e->cap_rcpt) {
        e->cap_rcpt = e->cap_rcpt ? e->cap_rcpt * 2 : 8;
        e->rcpt = mem_realloc(e->rcpt, (ssize_t) sizeof(*e->rcpt) * e->cap_rcpt);
    }
    e->rcpt[e->n_rcpt++] = rcpt;
}

/* Parse the command line; -1 (usage printed) on error, 1 for --help. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "client-ip", required_argument, NULL, 'i' },
        { "client-name", required_argument, NULL, 'N' },
        { "helo", required_argument, NULL, 'H' },
        { "from", required_argument, NULL, 'F' },
        { "rcpt", required_argument, NULL, 'R' },
        { "auth", required_argument, NULL, 'A' },
        { "queue-id", required_argument, NULL, 'Q' },
        { "zone", required_argument, NULL, 'z' },
        { "record-zone", required_argument, NULL, 'w' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;

    o->config_path = RAMPART_DEFAULT_CONFIG;
    o->msg_path = "-";
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config_path = optarg; break;
        case 'i': o->cmd.client_ip = optarg; break;
        case 'N': o->cmd.client_name = optarg; break;
        case 'H': o->cmd.helo = optarg; break;
        case 'F': o->cmd.from = optarg; break;
        case 'R': add_rcpt(&o->cmd, optarg); break;
        case 'A': o->cmd.auth = optarg; break;
        case 'Q': o->cmd.queue_id = optarg; break;
        case 'z':
            if (o->n_zones >= RAMPART_CHECK_MAX_ZONES) {
                fprintf(stderr, "rampart-check: at most %d --zone files\n", RAMPART_CHECK_MAX_ZONES);
                return -1;
            }
            o->zones[o->n_zones++] = optarg;
            break;
        case 'w': o->record_zone = optarg; break;
        case 'j': o->json = 1; break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc)
        o->msg_path = argv[optind++];
    if (optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* The envelope: postcat's, then the command line's over it, then defaults. */
static void settle_envelope(struct run *r, const struct options *o)
{
    const struct envelope *c = &o->cmd;

    if (c->client_ip)
        r->env.client_ip = c->client_ip;
    if (c->client_name)
        r->env.client_name = c->client_name;
    if (c->helo)
        r->env.helo = c->helo;
    if (c->from)
        r->env.from = c->from;
    if (c->auth)
        r->env.auth = c->auth;
    if (c->queue_id)
        r->env.queue_id = c->queue_id;
    if (c->n_rcpt) {
        r->env.n_rcpt = 0;
        for (int i = 0; i < c->n_rcpt; i++)
            add_rcpt(&r->env, c->rcpt[i]);
    }
    if (r->env.client_ip == NULL)
        r->env.client_ip = "127.0.0.1";
    if (r->env.client_name == NULL)
        r->env.client_name = "unknown";
    if (r->env.helo == NULL)
        r->env.helo = "";
    if (r->env.from == NULL)
        r->env.from = "";
}

/* Set up DNS and the core; -1 with a message printed. */
static int setup(struct run *r, const struct options *o)
{
    str err = STR_INIT;

    if (o->n_zones) {
        r->offline = 1;
        r->inner = dns_zonefile_new();
        dns_set_timeout(r->inner, (int) r->cfg->dns_timeout);
        for (int i = 0; i < o->n_zones; i++)
            if (dns_zonefile_load(r->inner, o->zones[i], &err) != 0) {
                fprintf(stderr, "%srampart-check: zone file not valid\n", str_cstr(&err));
                str_free(&err);
                return -1;
            }
    } else if ((r->inner = live_resolver(r->cfg, &err)) == NULL) {
        fprintf(stderr, "rampart-check: DNS: %s\n", str_cstr(&err));
        str_free(&err);
        return -1;
    }
    r->trace = dns_trace_new(r->inner);
    if (core_init_with_resolver(r->cfg, r->trace, &err) != 0) {
        fprintf(stderr, "rampart-check: %s\n", str_cstr(&err));
        str_free(&err);
        return -1;
    }
    r->lists = core_dnsbl();
    str_free(&err);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    struct run r;
    str err = STR_INIT, msg = STR_INIT;
    int rc = 1, saved_stderr = -1;

    memset(&o, 0, sizeof(o));
    memset(&r, 0, sizeof(r));
    switch (parse_args(argc, argv, &o)) {
    case 1: mem_free(o.cmd.rcpt); return 0;
    case -1: mem_free(o.cmd.rcpt); return 2;
    default: break;
    }
    r.msg_path = o.msg_path;
    log_open_stderr("rampart-check");
    if ((r.cfg = config_load(o.config_path, &err)) == NULL) {
        fprintf(stderr, "%srampart-check: configuration not valid\n", str_cstr(&err));
        goto out;
    }
    r.authserv_id = core_hostname(r.cfg, r.host, sizeof(r.host));
    if (read_input(o.msg_path, &msg) != 0)
        goto out;
    if (msg.len >= 21 && memcmp(msg.data, "*** ENVELOPE RECORDS ", 21) == 0) {
        r.postcat = 1;
        parse_postcat(&r, &msg);
    }
    settle_envelope(&r, &o);
    config_install(config_ref(r.cfg));
    /* Every line the pipeline logs goes into the report, the summary line included. */
    log_set_level(r.cfg->log_level > LOG_LVL_INFO ? r.cfg->log_level : LOG_LVL_INFO);
    log_set_hook(capture_log, &r);
    fflush(stderr);
    saved_stderr = dup(2);
    {
        int null = open("/dev/null", O_WRONLY);

        if (null >= 0) {
            dup2(null, 2);
            close(null);
        }
    }
    if (setup(&r, &o) != 0) {
        dup2(saved_stderr, 2);
        for (int i = 0; i < r.nlog; i++)
            fprintf(stderr, "rampart-check: %s\n", str_cstr(&r.log[i]));
        goto out_core;
    }
    run_pipeline(&r, &msg);
    fflush(stderr);
    dup2(saved_stderr, 2);
    log_set_hook(NULL, NULL);
    if (o.json)
        report_json(&r);
    else
        report_text(&r);
    fflush(stdout);
    rc = 0;
    if (o.record_zone && record_zone(&r, o.record_zone) != 0)
        rc = 1;
    txn_free(&r.t);
out_core:
    log_set_hook(NULL, NULL);
    if (r.lists)
        dnsbl_unref(r.lists);
    core_shutdown();
    config_install(NULL);
    dns_resolver_free(r.trace);
    dns_resolver_free(r.inner);
out:
    if (saved_stderr >= 0)
        close(saved_stderr);
    for (int i = 0; i < r.nlog; i++)
        str_free(&r.log[i]);
    mem_free(r.log);
    if (r.cfg)
        config_unref(r.cfg);
    str_free(&r.postcat_store);
    mem_free(r.env.rcpt);
    mem_free(o.cmd.rcpt);
    str_free(&msg);
    str_free(&err);
    return rc;
}
