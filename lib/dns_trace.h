/*
 * dns_trace.h - a resolver backend that wraps another and records every
 * question and answer, for rampart-check's account of a message.
 *
 * dns_trace_new(inner) returns a resolver used through dns.h like any
 * other: each query is asked of inner, and the answer the caller gets is
 * recorded with its timing. A caller that stops waiting (deadline) is
 * recorded as having seen a timeout, which is what it saw. The trace can
 * be written in the zone-file form dns_zonefile reads, so a message can
 * be judged again later with the DNS of this moment.
 */
#ifndef RAMPART_DNS_TRACE_H
#define RAMPART_DNS_TRACE_H

#include <stdint.h>

#include "dns.h"
#include "str.h"

/* Entries kept; queries past this are answered but not recorded (dns_trace_dropped). */
#define DNS_TRACE_MAX_ENTRIES 10000

struct dns_trace_entry {
    int seq;                    /* 0, 1, ... in the order asked */
    char *name;                 /* as asked, no trailing dot */
    uint16_t type;
    const char *context;        /* dns_trace_set_context() when asked (static), or NULL */
    int64_t start_ms;           /* since the trace was made */
    int64_t elapsed_ms;         /* until answered or given up; -1 while outstanding */
    int abandoned;              /* the caller stopped waiting before the answer came */
    struct dns_answer *answer;  /* what the caller got; NULL while outstanding */
};

/*
 * A tracing resolver in front of inner, which stays the caller's and
 * must outlive it. The per-query timeout is inner's. Starts a thread the
 * first time inner answers later than at once.
 */
struct dns_resolver *dns_trace_new(struct dns_resolver *inner);

/* A label for the queries asked from now on (a static string; NULL for none). */
void dns_trace_set_context(struct dns_resolver *r, const char *context);

/*
 * A label for the queries this thread asks from now on, through any
 * tracing resolver; it wins over the resolver's own (a static string;
 * NULL: none). lib/workers hands it from the thread that submits a job to
 * the thread that runs it, so a check evaluated on a pool thread (SPF) is
 * labelled with the stage that started it.
 */
void dns_trace_set_thread_context(const char *context);
const char *dns_trace_thread_context(void);

/*
 * The entries so far. Entry i stays valid until dns_resolver_free();
 * read an entry's answer only once no query is outstanding (all waited
 * for or freed).
 */
int dns_trace_count(struct dns_resolver *r);
const struct dns_trace_entry *dns_trace_entry(struct dns_resolver *r, int i);
/* Queries not recorded because DNS_TRACE_MAX_ENTRIES were. */
int dns_trace_dropped(struct dns_resolver *r);

/*
 * Append the answers as a zone file for dns_zonefile: records as
 * "name. TTL IN TYPE rdata", and $NXDOMAIN, $NODATA, $SERVFAIL, $TIMEOUT
 * and $BADANSWER lines for the rest. A (name, type) asked twice is
 * written once, as first answered.
 */
void dns_trace_write_zone(struct dns_resolver *r, str *out);

/* Append one record's rdata in zone-file form ("10 mx.example.", "\"text\"", ...). */
void dns_rdata_format(const struct dns_rr *rr, str *out);


#endif
