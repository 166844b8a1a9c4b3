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

#include "core.h"
#include "dmarc.h"
#include "dnsbl.h"
#include "dns_unbound.h"
#include "log.h"
#include "mem.h"

static struct {
    struct dns_resolver *resolver;
    int own_resolver;
    struct dmarc_engine *dmarc;
    struct dnsbl *dnsbl;         /* under lock: swapped by a reload */
    pthread_mutex_t lock;
} core = { .lock = PTHREAD_MUTEX_INITIALIZER };

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
    if (core_dmarc_init(cfg, err) != 0)
        return -1;
    if (core_reload_dnsbl(cfg, err) != 0)
        return -1;
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
    if ((core.resolver = dns_unbound_new(&uc, err)) == NULL)
        return -1;
    core.own_resolver = 1;
    return core_init_rest(cfg, err);
}

void core_shutdown(void)
{
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
