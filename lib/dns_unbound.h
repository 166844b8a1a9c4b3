/*
 * dns_unbound.h - the real resolver backend: one libunbound context per
 * process, shared by every thread, one cache.
 *
 * dns_unbound_new() returns a struct dns_resolver used through dns.h like
 * any other backend. It starts a thread (the dispatcher, where libunbound
 * runs on a libevent loop), so create it after daemonizing; free it with
 * dns_resolver_free() once no query is outstanding.
 */
#ifndef RAMPART_DNS_UNBOUND_H
#define RAMPART_DNS_UNBOUND_H

#include <stddef.h>

#include "dns.h"
#include "str.h"

/* An answer faster than this (microseconds) counts as a cache hit. */
#define DNS_UNBOUND_DEF_CACHE_HIT_US 1000
/* Retries libunbound sends to one server for one query (its default is 5). */
#define DNS_UNBOUND_MSG_RETRY 2
/* Seconds a dead forwarder stays marked down before it is probed again. */
#define DNS_UNBOUND_HOST_TTL 5
/* Seconds an answer is kept in front of libunbound at most, whatever its TTL. */
#define DNS_UNBOUND_KEPT_MAX_TTL 300
/* UDP queries to servers in flight at once (libunbound's own default is 16). */
#define DNS_UNBOUND_DEF_MAX_OUTGOING 512

/*
 * Settings. Zero or NULL fields take the default noted. String arrays are
 * read during dns_unbound_new() only.
 */
struct dns_unbound_config {
    /* "addr" or "addr@port" (IPv4 or IPv6); none: the name servers of resolv_conf */
    const char *const *forwarders;
    int n_forwarders;
    const char *resolv_conf;            /* NULL: /etc/resolv.conf */
    /* DNSSEC validation: a file of DS/DNSKEY records, read once ... */
    const char *trust_anchor_file;
    /* ... or an RFC 5011 managed file (unbound-anchor's root.key), kept up to date: must be writable */
    const char *auto_trust_anchor_file;
    int timeout_ms;                     /* per query (dns_set_timeout); 0: 5000 */
    size_t cache_size_bytes;            /* message + RRset caches; 0: libunbound's 1 MB + 1 MB */
    int cache_max_ttl;                  /* seconds; 0: libunbound's 86400 */
    int cache_max_negative_ttl;         /* seconds; 0: libunbound's 3600 */
    int cache_hit_us;                   /* 0: DNS_UNBOUND_DEF_CACHE_HIT_US */
    /* 0: DNS_UNBOUND_DEF_MAX_OUTGOING; each takes a socket: capped at half the open-file limit */
    int max_outgoing;
    /* Local answers, mostly for tests: zones as "name type" ("test. static") ... */
    const char *const *local_zones;
    int n_local_zones;
    /* ... and records in zone-file form ("a.test. 300 IN TXT \"x\"") */
    const char *const *local_data;
    int n_local_data;
    int no_kept_answers;                /* 1: every query goes through libunbound (benchmarks) */
};

/* Queries answered from the answers kept in front of libunbound (see dns_unbound.c). */
uint64_t dns_unbound_kept_answers(struct dns_resolver *r);

/*
 * A new resolver, or NULL with the reason in err (a bad forwarder, an
 * unreadable resolv.conf or trust anchor, a libunbound failure).
 * cfg NULL means all defaults.
 */
struct dns_resolver *dns_unbound_new(const struct dns_unbound_config *cfg, str *err);

/* 1 if spec is a forwarder dns_unbound_new accepts ("addr" or "addr@port"). */
int dns_unbound_forwarder_valid(const char *spec);

#endif
