/*
 * dns_zonefile.h - a resolver backend that answers from zone files, with
 * no network: rampart-check's offline mode, and tests.
 *
 * The files use a subset of the RFC 1035 master file format:
 *
 *   $ORIGIN example.                   names without a final dot get this
 *   $TTL 300                           TTL of records that give none
 *   name [TTL] [IN] TYPE rdata         A, AAAA, MX, TXT, PTR, CNAME, NS
 *       [TTL] [IN] TYPE rdata          a line starting with white space: same name
 *   @                                  the origin
 *   ; comment                          to the end of the line
 *   ( ... )                            a record over several lines
 *
 * TTLs are seconds, or with units (1h30m; s m h d w). TXT rdata is one or
 * more character-strings, quoted or not, with \X and \DDD escapes; they
 * are joined with no separator. Other record types (SOA, SRV, ...) are
 * skipped; $INCLUDE and $GENERATE are errors. rampart's own lines say
 * what a name answered besides records:
 *
 *   $NXDOMAIN name [TTL]               the name does not exist
 *   $NODATA name TYPE [TTL]            no records of TYPE
 *   $SERVFAIL name TYPE                a temporary error (SERVFAIL)
 *   $TIMEOUT name TYPE                 a timeout (answered at once, as timed out)
 *   $BADANSWER name TYPE               an unusable answer
 *
 * Answers: the records of (name, type); a CNAME at name is followed (at
 * most DNS_ZONEFILE_MAX_CNAME steps) and the target's records answered;
 * a name that has other records, or names below it, answers NODATA; any
 * other name NXDOMAIN (counted by dns_zonefile_misses unless a $NXDOMAIN
 * line says so). Negative answers carry the $TTL in force at the end of
 * the file unless the line gives one. Names compare case-insensitively.
 */
#ifndef RAMPART_DNS_ZONEFILE_H
#define RAMPART_DNS_ZONEFILE_H

#include <sys/types.h>

#include "dns.h"
#include "str.h"

/* Limits on what is read. */
#define DNS_ZONEFILE_MAX_BYTES (16 * 1024 * 1024)   /* one file */
#define DNS_ZONEFILE_MAX_LINE 65536                 /* one record, parentheses joined */
#define DNS_ZONEFILE_MAX_ENTRIES 100000             /* records and status lines, all files */
#define DNS_ZONEFILE_MAX_CNAME 8
#define DNS_ZONEFILE_DEFAULT_TTL 3600               /* before any $TTL */

/* A new resolver with no data: every name is NXDOMAIN. */
struct dns_resolver *dns_zonefile_new(void);

/*
 * Add a file's records. Returns 0, or -1 with one "FILE:LINE: problem"
 * line per error in err (at most 20) and nothing of that file added.
 * Not thread-safe with queries: load everything first.
 */
int dns_zonefile_load(struct dns_resolver *r, const char *path, str *err);
/* The same for text in memory; label names it in errors. */
int dns_zonefile_load_text(struct dns_resolver *r, const char *text, ssize_t len, const char *label, str *err);

/* Entries loaded (records and status lines). */
int dns_zonefile_entries(struct dns_resolver *r);
/* Queries answered NXDOMAIN only because no file mentioned the name. */
int dns_zonefile_misses(struct dns_resolver *r);

#endif
