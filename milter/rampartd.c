/*
 * rampartd.c - the daemon: command line, configuration, listeners,
 * privileges, signals, shutdown.
 *
 * Start-up order: read and check the configuration (refuse to start on any
 * error), make the directories of unix sockets and remove stale socket
 * files (listen_prepare_unix), open the listeners while still privileged,
 * detach unless -f, write the pid file, drop to the configured user, start
 * the threads.
 *
 * Signals. libmilter's own signal thread waits for SIGHUP, SIGTERM and
 * SIGINT and treats SIGHUP and SIGTERM as "stop" and SIGINT as "abort", so
 * rampartd cannot use SIGHUP for a reload. SIGUSR1 reloads the
 * configuration (as OpenDKIM does): a file that does not load is logged and
 * the old configuration stays. SIGTERM, SIGHUP, SIGINT stop: no new
 * connections; transactions in flight get shutdown_timeout to finish;
 * whatever is still open then is dropped, and Postfix's
 * milter_default_action = tempfail keeps that mail in the sender's queue.
 * Without the milter listener, rampartd handles the same signals the same
 * way itself.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "mem.h"
#include "milter.h"
#include "policy.h"
#include "rconfig.h"
#include "str.h"
#include "util.h"

struct options {
    const char *config_path;
    int foreground;            /* -f */
    int check_only;            /* -t */
    int print_changed;         /* -n */
    int print_defaults;        /* -d */
};

static struct options opt;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rampartd [-f] [-c FILE] [-p SPEC] [-P SPEC] [-t | -n | -d] [-V]\n"
            "  -c FILE  configuration file (default %s)\n"
            "  -f       stay in the foreground and log to standard error\n"
            "  -p SPEC  milter listener, overrides milter_listen\n"
            "  -P SPEC  policy listener, overrides policy_listen\n"
            "  -t       check the configuration and exit\n"
            "  -n       print the settings that differ from the defaults\n"
            "  -d       print the default of every setting\n"
            "  -V       print the version\n",
            RAMPART_DEFAULT_CONFIG);
}

/* The -p/-P overrides as name=value strings. */
static const char *overrides[2];
static int n_overrides;
static str override_text[2];

/* Record a command-line override. */
static void add_override(const char *name, const char *value)
{
    str_init(&override_text[n_overrides]);
    str_addf(&override_text[n_overrides], "%s=%s", name, value);
    overrides[n_overrides] = str_cstr(&override_text[n_overrides]);
    n_overrides++;
}

/* Load the file and apply command-line overrides; NULL with errors in err. */
static struct config *load_config(str *err)
{
    struct config *c;

    if (config_reload(opt.config_path, overrides, n_overrides, err) != 0)
        return NULL;
    c = config_current();
    return c;
}

/* Log each line of a multi-line error text. */
static void log_lines(int level, const char *prefix, const str *text)
{
    const char *s = str_cstr(text);

    while (*s) {
        size_t n = strcspn(s, "\n");

        log_msg(level, "%s%.*s", prefix, (int) n, s);
        s += n + (s[n] == '\n');
    }
}

/* SIGUSR1: reload the configuration, keeping the old one if the new one is bad. */
static void reload(void)
{
    str err = STR_INIT;
    struct config *old = config_current(), *c;

    if (config_reload(opt.config_path, overrides, n_overrides, &err) != 0) {
        log_lines(LOG_LVL_ERROR, "reload failed, keeping the running configuration: ", &err);
        str_free(&err);
        config_unref(old);
        return;
    }
    c = config_current();
    {
        static const char *const restart_only[] = {
            "milter_listen", "policy_listen", "user", "pid_file", "dns_forwarders", "dns_timeout", "dns_trust_anchor_file", "dns_cache_size",
            "dmarc_spec", "dmarc_public_suffix_list", "dmarc_timeout", "dmarc_max_lookups",
            "av_mode", "av_database_dir", "av_temp_dir", "av_max_scan_size", "av_max_file_size",
            "av_max_recursion", "av_max_files", "av_max_scan_time", "av_self_check_interval",
            "av_concurrent_reload", "av_spill_threshold", "metrics_listen", "metrics_allow",
            "policy_ratelimit_redis", "policy_control_socket",
        };
        str a = STR_INIT, b = STR_INIT;

        for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
            str_reset(&a);
            str_reset(&b);
            config_format(old, restart_only[i], &a);
            config_format(c, restart_only[i], &b);
            if (strcmp(str_cstr(&a), str_cstr(&b)) != 0)
                log_warning("reload: the change of %s takes effect at the next restart", restart_only[i]);
        }
        str_free(&a);
        str_free(&b);
    }
    log_set_level(c->log_level);
    if (core_reload(c, &err) != 0)
        log_lines(LOG_LVL_ERROR, "reload: keeping the old DNS lists: ", &err);
    log_notice("configuration reloaded from %s", opt.config_path);
    config_unref(c);
    config_unref(old);
    str_free(&err);
}

/* The thread that waits for SIGUSR1. */
static void *reload_thread(void *arg)
{
    sigset_t set;
    int sig;

    thread_name("rampart-reload");
    (void) arg;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    for (;;) {
        if (sigwait(&set, &sig) == 0 && sig == SIGUSR1)
            reload();
    }
    return NULL;
}

/* Detach from the terminal. */
static void daemonize(void)
{
    pid_t pid = fork();
    int fd;

    if (pid < 0)
        log_fatal("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    setsid();
    if (chdir("/") != 0)
        log_fatal("chdir /: %s", strerror(errno));
    if ((fd = open("/dev/null", O_RDWR)) >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

/* Write the pid file; a failure is logged, not fatal. */
static void write_pidfile(const char *path)
{
    FILE *f;

    if (path[0] == '\0')
        return;
    if ((f = fopen(path, "w")) == NULL) {
        log_warning("pid_file %s: %s", path, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long) getpid());
    fclose(f);
}

/*
 * Become the configured user. rampartd does not go on as root (started as
 * root without user =, or with a user whose uid is 0) unless allow_root =
 * yes: it removes its pid file and stops.
 */
static void drop_privileges(const char *user)
{
    struct config *c = config_current();
    int allow_root = c->allow_root;
    struct passwd *pw;
    uid_t uid;
    gid_t gid;

    if (user[0] != '\0') {
        if ((pw = getpwnam(user)) == NULL)
            log_fatal("user: unknown user %s", user);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        if (geteuid() != 0 && geteuid() != uid)
            log_fatal("user = %s, but rampartd was started by uid %ld, not root", user, (long) geteuid());
        if (geteuid() == 0 && uid != 0) {
            if (initgroups(user, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
                log_fatal("cannot become user %s: %s", user, strerror(errno));
            if (setuid(0) == 0)
                log_fatal("could regain root after dropping privileges");
        }
    }
    if (geteuid() == 0 || getuid() == 0) {
        if (!allow_root) {
            if (c->pid_file[0])
                unlink(c->pid_file);
            log_fatal("refusing to run as root: set user = rampart (or another unprivileged user), "
                      "or allow_root = yes to run as root anyway");
        }
        log_warning("running as root (allow_root = yes)");
    }
    config_unref(c);
}

/* Postfix's queue directory on Debian, where smtpd and cleanup run chrooted. */
#define POSTFIX_QUEUE_DIR "/var/spool/postfix"

/*
 * Before a unix listener opens: its directory (owner user, group
 * socket_group), and a socket file left by a rampartd that was killed.
 * -1 (logged) when the directory cannot be made or the socket is in use.
 */
static int prepare_unix(const struct config *cfg, const char *key, const char *spec)
{
    struct listen_spec ls;
    str err = STR_INIT;
    int flags;

    /* A spec that does not parse is reported when the listener opens. */
    if (spec[0] == '\0' || listen_parse(spec, &ls, &err) != 0 || ls.kind != LISTEN_UNIX) {
        str_free(&err);
        return 0;
    }
    if ((flags = listen_prepare_unix(ls.path, cfg->user, cfg->socket_group, &err)) < 0) {
        log_error("%s: %s", key, str_cstr(&err));
        str_free(&err);
        return -1;
    }
    if (flags & LISTEN_MADE_DIR)
        log_notice("%s: created the directory of %s (owner %s, group %s)", key, ls.path,
                   cfg->user[0] ? cfg->user : "unchanged", cfg->socket_group[0] ? cfg->socket_group : "unchanged");
    if (flags & LISTEN_REMOVED_STALE)
        log_notice("%s: removed the stale socket %s (nobody listened on it)", key, ls.path);
    if (flags & LISTEN_DIR_CLOSED)
        log_warning("%s: the directory of %s lets neither group %s nor others in; Postfix may not reach the socket",
                    key, ls.path, cfg->socket_group[0] ? cfg->socket_group : "(none)");
    return 0;
}

/* smtpd and cleanup chrooted in the queue directory see a socket there under their root. */
static void chroot_hint(const char *key, const char *spec)
{
    struct listen_spec ls;
    str err = STR_INIT;

    if (spec[0] && listen_parse(spec, &ls, &err) == 0 && ls.kind == LISTEN_UNIX
        && strncmp(ls.path, POSTFIX_QUEUE_DIR "/", sizeof(POSTFIX_QUEUE_DIR)) == 0)
        log_notice("%s: with Postfix chrooted in %s (Debian's default), main.cf names the socket unix:%s",
                   key, POSTFIX_QUEUE_DIR, ls.path + sizeof(POSTFIX_QUEUE_DIR) - 1);
    str_free(&err);
}

/* The milter sessions open now, for the metrics page. */
static double milter_gauge(void *arg)
{
    (void) arg;
    return milter_sessions();
}

/* Without the milter: wait for a stop signal ourselves. */
static void wait_for_stop(void)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    while (sigwait(&set, &sig) != 0)
        ;
    log_notice("signal %d: stopping", sig);
}

int main(int argc, char **argv)
{
    struct config *cfg;
    str err = STR_INIT;
    sigset_t set;
    pthread_t tid;
    int ch, left, busy, rc = 0;

    opt.config_path = RAMPART_DEFAULT_CONFIG;
    while ((ch = getopt(argc, argv, "c:fp:P:tndVh")) != -1) {
        switch (ch) {
        case 'c': opt.config_path = optarg; break;
        case 'f': opt.foreground = 1; break;
        case 'p': add_override("milter_listen", optarg); break;
        case 'P': add_override("policy_listen", optarg); break;
        case 't': opt.check_only = 1; break;
        case 'n': opt.print_changed = 1; break;
        case 'd': opt.print_defaults = 1; break;
        case 'V': printf("rampartd %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_open_stderr("rampartd");
    if (opt.print_defaults) {
        config_print_defaults(stdout);
        return 0;
    }
    if ((cfg = load_config(&err)) == NULL) {
        fprintf(stderr, "%s", str_cstr(&err));
        fprintf(stderr, "rampartd: configuration not valid; not starting\n");
        str_free(&err);
        return 1;
    }
    if (opt.print_changed || opt.check_only) {
        if (opt.print_changed)
            config_print_changed(cfg, stdout);
        else
            printf("%s: configuration OK\n", opt.config_path);
        config_unref(cfg);
        return 0;
    }
    if (cfg->milter_listen[0] == '\0' && cfg->policy_listen[0] == '\0') {
        fprintf(stderr, "%s: neither milter_listen nor policy_listen is set; nothing to do\n",
                opt.config_path);
        config_unref(cfg);
        return 1;
    }
    log_set_level(cfg->log_level);
    if (!opt.foreground)
        log_open_syslog(cfg->syslog_name, cfg->syslog_facility);

    /* Threads started from here on inherit this mask; libmilter sets its own for HUP/TERM/INT. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (prepare_unix(cfg, "milter_listen", cfg->milter_listen) != 0
        || prepare_unix(cfg, "policy_listen", cfg->policy_listen) != 0)
        log_fatal("cannot prepare the listeners' unix sockets; not starting");
    if ((cfg->milter_listen[0] && milter_open(cfg, cfg->milter_listen) != 0)
        || (cfg->policy_listen[0] && policy_open(cfg, cfg->policy_listen) != 0))
        log_fatal("cannot open the listeners; not starting");
    chroot_hint("milter_listen", cfg->milter_listen);
    chroot_hint("policy_listen", cfg->policy_listen);
    if (!opt.foreground)
        daemonize();
    write_pidfile(cfg->pid_file);
    drop_privileges(cfg->user);
    if (core_init(cfg, &err) != 0)
        log_fatal("cannot start: %s", str_cstr(&err));
    core_start(cfg);
    metrics_gauge_add("rampart_connections", "Open connections, by front door.", "frontend=\"milter\"",
                      milter_gauge, NULL);
    if (metrics_http_start(cfg, &err) != 0)
        log_fatal("cannot start: %s", str_cstr(&err));
    if (pthread_create(&tid, NULL, reload_thread, NULL) != 0)
        log_fatal("cannot start the signal thread");
    pthread_detach(tid);
    if (cfg->policy_listen[0] && policy_start() != 0)
        log_fatal("cannot start the policy service");
    log_notice("rampartd %s started (config %s; reload with SIGUSR1)", PACKAGE_VERSION, opt.config_path);

    if (cfg->milter_listen[0]) {
        if (milter_run() != 0) {
            log_error("libmilter stopped with an error");
            rc = 1;
        }
        log_notice("stopping");
    } else {
        wait_for_stop();
    }
    busy = policy_stop(cfg->shutdown_timeout);
    busy += milter_drain(cfg->shutdown_timeout, &left);
    if (left > 0)
        log_warning("%d milter sessions still open at shutdown; Postfix will defer their mail", left);
    if (busy > 0) {
        /* Threads still use the checks, the resolver and the scanner: leave them be. */
        log_warning("%d milter callbacks or policy requests still running at shutdown; "
                    "leaving without waiting for them", busy);
        if (cfg->pid_file[0])
            unlink(cfg->pid_file);
        log_notice("stopped");
        _exit(rc);
    }
    metrics_http_stop();
    core_shutdown();
    if (cfg->pid_file[0])
        unlink(cfg->pid_file);
    log_notice("stopped");
    config_unref(cfg);
    config_install(NULL);
    for (int i = 0; i < n_overrides; i++)
        str_free(&override_text[i]);
    str_free(&err);
    return rc;
}
