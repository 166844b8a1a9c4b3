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

#include "core.h"
#include "dmarc.h"
#include "dns_unbound.h"
#include "log.h"
#include "mem.h"

static struct {
    struct dns_resolver *resolver;
    int own_resolver;
    struct dmarc_engine *dmarc;
} core;

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
