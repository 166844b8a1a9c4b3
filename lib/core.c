/*
 * core.c - the shared services. One resolver per process (libunbound,
 * forwarders from dns_forwarders or /etc/resolv.conf), one DMARC engine.
 * They are built at start-up; a reload does not rebuild them (the
 * daemon warns when dns_* or dmarc_spec/dmarc_public_suffix_list change):
 * the resolver's cache and the Public Suffix List table are process-wide
 * state that is only safe to replace when nothing uses it.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <time.h>

#include "av.h"
#include "core.h"
#include "dkim.h"
#include "dmarc.h"
#include "dnsbl.h"
#include "util.h"
#include "workers.h"
#include "dns_unbound.h"
#include "log.h"
#include "mem.h"

static struct {
    struct dns_resolver *resolver;
    int own_resolver;
    struct dmarc_engine *dmarc;
    struct dnsbl *dnsbl;         /* under lock: swapped by a reload */
    pthread_mutex_t lock;
    int dkim_up, av_up;
    /* DNS list health: a thread that checks the lists' test points */
    pthread_t health_thread;
    int health_running;
    int64_t health_interval_ms;
    pthread_cond_t health_cond;
} core = { .lock = PTHREAD_MUTEX_INITIALIZER, .health_cond = PTHREAD_COND_INITIALIZER };

/* Scanner options from the configuration. */
static void core_av_options(const struct config *cfg, struct av_options *o)
{
    av_options_defaults(o);
    o->database_dir = cfg->av_database_dir;
    o->temp_dir = cfg->av_temp_dir;
    o->max_scan_size = cfg->av_max_scan_size;
    o->max_file_size = cfg->av_max_file_size;
    o->max_recursion = (int) cfg->av_max_recursion;
    o->max_files = (int) cfg->av_max_files;
    o->max_scan_time_ms = (int) cfg->av_max_scan_time;
    o->concurrent_reload = cfg->av_concurrent_reload;
    o->spill_threshold = cfg->av_spill_threshold;
}

/* The health thread: check every list's test points now and then. */
static void *core_health_loop(void *arg)
{
    thread_name("rampart-health");
    (void) arg;
    pthread_mutex_lock(&core.lock);
    while (core.health_running) {
        struct timespec ts;
        struct dnsbl *d = core.dnsbl ? dnsbl_ref(core.dnsbl) : NULL;
        int64_t wait = core.health_interval_ms;

        pthread_mutex_unlock(&core.lock);
        if (d) {
            int broken = dnsbl_health_check(d, core.resolver, clock_now_ms() + 10000);

            if (broken > 0)
                log_debug("dnsbl: %d lists broken", broken);
            dnsbl_unref(d);
        }
        pthread_mutex_lock(&core.lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (core.health_running)
            pthread_cond_timedwait(&core.health_cond, &core.lock, &ts);
    }
    pthread_mutex_unlock(&core.lock);
    return NULL;
}

/* Build the DNS lists from the configuration; NULL (no error) when none are configured. */
static int core_dnsbl_build(const struct config *cfg, struct dnsbl **out, str *err)
{
    struct dnsbl_options o;

    *out = NULL;
    if (cfg->dnsbl_sites.n == 0 && cfg->dnsbl_local_block.n == 0 && cfg->dnsbl_local_allow.n == 0)
        return 0;
    memset(&o, 0, sizeof(o));
    o.sites = (const char *const *) cfg->dnsbl_sites.v;
    o.n_sites = cfg->dnsbl_sites.n;
    o.local_block = (const char *const *) cfg->dnsbl_local_block.v;
    o.n_local_block = cfg->dnsbl_local_block.n;
    o.local_allow = (const char *const *) cfg->dnsbl_local_allow.v;
    o.n_local_allow = cfg->dnsbl_local_allow.n;
    o.public_suffix_file = cfg->dnsbl_public_suffix_list;
    o.no_testpoints = (const char *const *) cfg->dnsbl_no_test_points.v;
    o.n_no_testpoints = cfg->dnsbl_no_test_points.n;
    o.uri_max_names = (int) cfg->dnsbl_uri_max_domains;
    o.fetch_txt = cfg->dnsbl_fetch_txt;
    o.broken_error_percent = (int) cfg->dnsbl_broken_error_percent;
    o.broken_min_answers = (int) cfg->dnsbl_broken_min_answers;
    if ((*out = dnsbl_new(&o, err)) == NULL)
        return -1;
    return 0;
}

/* The lists in force, referenced. */
struct dnsbl *core_dnsbl(void)
{
    struct dnsbl *d;

    pthread_mutex_lock(&core.lock);
    d = core.dnsbl ? dnsbl_ref(core.dnsbl) : NULL;
    pthread_mutex_unlock(&core.lock);
    return d;
}

/* Swap in lists built from cfg. */
int core_reload_dnsbl(const struct config *cfg, str *err)
{
    struct dnsbl *d, *old;

    if (core_dnsbl_build(cfg, &d, err) != 0)
        return -1;
    pthread_mutex_lock(&core.lock);
    old = core.dnsbl;
    core.dnsbl = d;
    pthread_mutex_unlock(&core.lock);
    if (old)
        dnsbl_unref(old);
    return 0;
}

/* The DMARC engine from the configuration. */
static int core_dmarc_init(const struct config *cfg, str *err)
{
    struct dmarc_options o;

    dmarc_options_default(&o);
    o.spec = cfg->dmarc_spec == 0 ? DMARC_SPEC_RFC9989 : DMARC_SPEC_RFC7489;
    o.psl_file = cfg->dmarc_public_suffix_list;
    o.timeout_ms = (int) cfg->dmarc_timeout;
    o.max_lookups = (int) cfg->dmarc_max_lookups;
    if ((core.dmarc = dmarc_engine_new(&o, err)) == NULL)
        return -1;
    return 0;
}

/* Everything but the resolver. */
static int core_init_rest(const struct config *cfg, str *err)
{
    if (!core.dkim_up) {
        /* Bodies come with CRLF line ends, as Postfix gives them to a milter (dkim.h). */
        if (dkim_startup(0) != 0) {
            str_adds(err, "cannot set up libopendkim");
            return -1;
        }
        core.dkim_up = 1;
    }
    if (core_dmarc_init(cfg, err) != 0)
        return -1;
    if (core_reload_dnsbl(cfg, err) != 0)
        return -1;
    if (cfg->av_mode != CHECK_OFF) {
        struct av_options o;

        core_av_options(cfg, &o);
        if (av_init(&o) != 0) {
            str_adds(err, "cannot set up libclamav");
            return -1;
        }
        core.av_up = 1;
    }
    return 0;
}

/* Background work. */
void core_start(const struct config *cfg)
{
    if (core.av_up && cfg->av_self_check_interval > 0)
        av_start_watch((int) cfg->av_self_check_interval);
    if (core.dnsbl && cfg->dnsbl_health_check_interval > 0 && !core.health_running) {
        core.health_running = 1;
        core.health_interval_ms = cfg->dnsbl_health_check_interval;
        if (pthread_create(&core.health_thread, NULL, core_health_loop, NULL) != 0) {
            core.health_running = 0;
            log_error("cannot start the DNS list health thread");
        }
    }
}

/* Reload what can be reloaded. */
int core_reload(const struct config *cfg, str *err)
{
    if (core_reload_dnsbl(cfg, err) != 0)
        return -1;
    pthread_mutex_lock(&core.lock);
    core.health_interval_ms = cfg->dnsbl_health_check_interval > 0 ? cfg->dnsbl_health_check_interval : 300000;
    pthread_cond_broadcast(&core.health_cond);
    pthread_mutex_unlock(&core.lock);
    if (core.av_up)
        av_request_reload();
    return 0;
}

int core_init_with_resolver(const struct config *cfg, struct dns_resolver *r, str *err)
{
    core.resolver = r;
    core.own_resolver = 0;
    return core_init_rest(cfg, err);
}

int core_init(const struct config *cfg, str *err)
{
    struct dns_unbound_config uc;

    memset(&uc, 0, sizeof(uc));
    uc.forwarders = (const char *const *) cfg->dns_forwarders.v;
    uc.n_forwarders = cfg->dns_forwarders.n;
    uc.timeout_ms = (int) cfg->dns_timeout;
    uc.trust_anchor_file = cfg->dns_trust_anchor_file[0] ? cfg->dns_trust_anchor_file : NULL;
    uc.cache_size_bytes = (size_t) cfg->dns_cache_size;
    if ((core.resolver = dns_unbound_new(&uc, err)) == NULL)
        return -1;
    core.own_resolver = 1;
    return core_init_rest(cfg, err);
}

void core_shutdown(void)
{
    /* SPF evaluations are joined with their messages: the pool is idle. */
    workers_shutdown();
    if (core.health_running) {
        pthread_mutex_lock(&core.lock);
        core.health_running = 0;
        pthread_cond_broadcast(&core.health_cond);
        pthread_mutex_unlock(&core.lock);
        pthread_join(core.health_thread, NULL);
    }
    if (core.av_up) {
        av_shutdown();
        core.av_up = 0;
    }
    if (core.dkim_up) {
        dkim_shutdown();
        core.dkim_up = 0;
    }
    if (core.dnsbl)
        dnsbl_unref(core.dnsbl);
    core.dnsbl = NULL;
    dmarc_engine_free(core.dmarc);
    core.dmarc = NULL;
    if (core.own_resolver)
        dns_resolver_free(core.resolver);
    core.resolver = NULL;
    core.own_resolver = 0;
}

struct dns_resolver *core_resolver(void)
{
    return core.resolver;
}

const struct dmarc_engine *core_dmarc(void)
{
    return core.dmarc;
}

/* authserv_id, or the host name. */
const char *core_hostname(const struct config *cfg, char *buf, size_t size)
{
    if (cfg->authserv_id[0])
        return cfg->authserv_id;
    if (gethostname(buf, size) != 0 || buf[0] == '\0')
        snprintf(buf, size, "localhost");
    buf[size - 1] = '\0';
    return buf;
}
