/*
 * core.h - the process-wide services the checks share: the one DNS
 * resolver (and its cache), the DMARC engine, the scanner engine, ...
 * rampartd and rampart-check set them up once from the configuration.
 */
#ifndef RAMPART_CORE_H
#define RAMPART_CORE_H

#include "dns.h"
#include "rconfig.h"
#include "str.h"

struct dmarc_engine;
struct dnsbl;

/* Build every service from cfg; -1 with the reason in err. Starts threads: call after daemonizing. */
int core_init(const struct config *cfg, str *err);
/* Start the background work (scanner database watch, DNS list health checks); after core_init. */
void core_start(const struct config *cfg);
/* A reload: rebuild the DNS lists and ask the scanner to reload its database. Old state stays on error. */
int core_reload(const struct config *cfg, str *err);
/* Stop and free every service. */
void core_shutdown(void);

struct dns_resolver *core_resolver(void);
const struct dmarc_engine *core_dmarc(void);
/* The DNS lists in force, with a reference the caller drops (dnsbl_unref); NULL if none configured. */
struct dnsbl *core_dnsbl(void);
/* Rebuild the DNS lists from cfg (a reload); on error the old lists stay and err says why. */
int core_reload_dnsbl(const struct config *cfg, str *err);

/* The name rampart calls itself by: authserv_id, or the host name. */
const char *core_hostname(const struct config *cfg, char *buf, size_t size);

/* Tests: use r as the resolver (the caller keeps ownership), build the rest from cfg. */
int core_init_with_resolver(const struct config *cfg, struct dns_resolver *r, str *err);

#endif
