/*
 * rampart-check - run rampart's pipeline on a message file with a given
 * envelope and print what rampartd would decide and why.
 *
 * It reads the same configuration file as rampartd (-c), refuses a bad one
 * the same way, feeds the message through the same pipeline (lib/txn.c)
 * the milter uses, and prints every check's result, the resulting action
 * and the header edits that would be applied. The message is read whole,
 * up to RAMPART_CHECK_MAX_MESSAGE bytes.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "msg.h"
#include "rconfig.h"
#include "str.h"
#include "txn.h"
#include "util.h"

#define RAMPART_CHECK_MAX_MESSAGE (64 * 1024 * 1024)

struct envelope {
    const char *client_ip;
    const char *client_name;
    const char *helo;
    const char *from;
    const char **rcpt;
    int n_rcpt;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: rampart-check [-c FILE] [--client-ip ADDR] [--client-name NAME] [--helo NAME]\n"
                 "                     [--from ADDR] [--rcpt ADDR]... [MESSAGE-FILE | -]\n");
}

/* Read the message, bounded. */
static int read_message(const char *path, str *msg)
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

/* Feed one header field into the transaction. */
static void feed_header(const char *name, const char *value, ssize_t len, void *arg)
{
    txn_header(arg, name, value, len);
}

/* Print a header edit the way it would be applied. */
static void print_edit(const struct txn_edit *e)
{
    str v = STR_INIT;

    if (e->value)
        str_add_escaped(&v, e->value, (ssize_t) strlen(e->value), 2048);
    switch (e->op) {
    case TXN_EDIT_DELETE: printf("  delete %s #%d\n", e->name, e->index); break;
    case TXN_EDIT_CHANGE: printf("  change %s #%d:%s\n", e->name, e->index, str_cstr(&v)); break;
    case TXN_EDIT_INSERT: printf("  insert at %d: %s:%s\n", e->index, e->name, str_cstr(&v)); break;
    case TXN_EDIT_ADD: printf("  add %s: %s\n", e->name, str_cstr(&v)); break;
    }
    str_free(&v);
}

/* Print an untrusted value escaped. */
static void print_value(const char *label, const char *value)
{
    str s = STR_INIT;

    str_add_escaped(&s, value, (ssize_t) strlen(value), 512);
    printf("  %-12s %s\n", label, str_cstr(&s));
    str_free(&s);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "client-ip", required_argument, NULL, 'i' },
        { "client-name", required_argument, NULL, 'N' },
        { "helo", required_argument, NULL, 'H' },
        { "from", required_argument, NULL, 'F' },
        { "rcpt", required_argument, NULL, 'R' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct envelope env = { "127.0.0.1", "unknown", "", "", NULL, 0 };
    const char *config_path = RAMPART_DEFAULT_CONFIG, *msg_path = "-";
    struct config *cfg;
    str err = STR_INIT, msg = STR_INIT;
    int ch;

    env.rcpt = calloc((size_t) argc, sizeof(char *));
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 'i': env.client_ip = optarg; break;
        case 'N': env.client_name = optarg; break;
        case 'H': env.helo = optarg; break;
        case 'F': env.from = optarg; break;
        case 'R': env.rcpt[env.n_rcpt++] = optarg; break;
        case 'h': usage(stdout); free(env.rcpt); return 0;
        default: usage(stderr); free(env.rcpt); return 2;
        }
    }
    if (optind < argc)
        msg_path = argv[optind++];
    if (optind != argc) {
        usage(stderr);
        free(env.rcpt);
        return 2;
    }
    log_open_stderr("rampart-check");
    if ((cfg = config_load(config_path, &err)) == NULL) {
        fprintf(stderr, "%srampart-check: configuration not valid\n", str_cstr(&err));
        str_free(&err);
        free(env.rcpt);
        return 1;
    }
    log_set_level(cfg->log_level);
    if (read_message(msg_path, &msg) != 0) {
        config_unref(cfg);
        free(env.rcpt);
        return 1;
    }
    {
        struct txn t;
        ssize_t body;
        const struct verdict_entry *w;

        config_install(config_ref(cfg));
        if (core_init(cfg, &err) != 0) {
            fprintf(stderr, "rampart-check: %s\n", str_cstr(&err));
            config_install(NULL);
            config_unref(cfg);
            str_free(&msg);
            str_free(&err);
            free(env.rcpt);
            return 1;
        }
        txn_init(&t);
        txn_set_client(&t, env.client_ip, env.client_name);
        txn_set_helo(&t, env.helo);
        txn_mail(&t, env.from, NULL);
        for (int i = 0; i < env.n_rcpt; i++)
            txn_rcpt(&t, env.rcpt[i]);
        body = msg_split(msg.data ? msg.data : "", msg.len, feed_header, &t);
        txn_eoh(&t);
        txn_body(&t, (const unsigned char *) msg.data + body, msg.len - body);
        txn_eom(&t);

        printf("envelope:\n");
        print_value("client", env.client_ip);
        print_value("client name", env.client_name);
        print_value("helo", env.helo);
        print_value("from", env.from);
        for (int i = 0; i < env.n_rcpt; i++)
            print_value("rcpt", env.rcpt[i]);
        printf("message: %d header fields, %zd body bytes\n", t.headers.n, msg.len - body);
        if (t.skip)
            printf("checks: skipped (%s client)\n", t.trusted ? "trusted" : "authenticated");
        printf("checks:\n");
        for (int i = 0; i < t.verdict.n; i++) {
            const struct verdict_entry *e = &t.verdict.e[i];

            printf("  %-10s %-14s -> %s%s%s%s\n", e->check, e->result, verdict_action_name(e->action),
                   e->monitor ? " (monitor)" : "", e->reason[0] ? ": " : "", e->reason);
        }
        if (t.verdict.n == 0)
            printf("  (no check reported)\n");
        w = verdict_winner(&t.verdict);
        printf("action: %s", verdict_action_name(t.verdict.action));
        if (w)
            printf(" (by %s: %s %s %s)", w->check, w->rcode, w->xcode, w->reason);
        printf("\n");
        if (t.quarantine_reason)
            printf("hold: %s\n", t.quarantine_reason);
        printf("header edits:\n");
        for (int i = 0; i < t.nedits; i++)
            print_edit(&t.edits[i]);
        if (t.nedits == 0)
            printf("  none\n");
        txn_free(&t);
        core_shutdown();
        config_install(NULL);
    }
    config_unref(cfg);
    str_free(&msg);
    str_free(&err);
    free(env.rcpt);
    return 0;
}
