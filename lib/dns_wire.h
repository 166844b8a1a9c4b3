/*
 * dns_wire.h - a DNS response in wire format (RFC 1035 section 4) made
 * into a struct dns_answer, as libunbound's event interface hands one
 * over. Pure: no I/O, no logging, no allocation beyond the answer.
 *
 * dns_answer_from_wire(qname, qtype, pkt, len): the answer to (qname,
 * qtype), qname as asked (no trailing dot). Only the header, the question
 * and the answer and authority sections are read; the additional section
 * is not. The answer's qname is a copy of qname, its secure field
 * DNS_SEC_INSECURE (the caller knows better), its rcode the header's.
 *
 *  - rcode 0: the records of qtype owned by qname, or by the end of the
 *    CNAME chain that starts at qname (at most DNS_WIRE_MAX_CNAMES links;
 *    a longer chain or a loop is DNS_BADANSWER), in packet order: DNS_ANSWER
 *    with ttl the smallest TTL of those records and of the CNAMEs followed.
 *    None: DNS_NODATA. A query of type CNAME follows no chain. Records of
 *    another class than IN, and of other names, are passed over.
 *  - rcode 3: DNS_NXDOMAIN (also at the end of a CNAME chain).
 *  - NXDOMAIN and NODATA take as ttl the smaller of the TTL and the
 *    MINIMUM field of the first SOA record of the authority section, 0
 *    without one (RFC 2308).
 *  - any other rcode: DNS_TEMPFAIL, why naming it ("SERVFAIL"...), the
 *    rest unread. The TC bit: DNS_TEMPFAIL "truncated answer" (records
 *    may be missing).
 *  - DNS_BADANSWER, with why: a packet that runs out before a count or a
 *    length says (counts the packet cannot hold are refused before any
 *    record is read), a name with a label over 63 bytes, over 255 bytes
 *    in all, a compression pointer that does not point before itself, or
 *    more than DNS_WIRE_MAX_POINTERS of them in one name ("malformed
 *    answer"); more than one
 *    question, one that is not (qname, qtype, IN), or a qname that is no
 *    DNS name ("answer to another question"); more than DNS_MAX_RRS
 *    records of qtype at the end of the chain ("too many records"); any
 *    of those records with bad rdata ("bad A record length", "bad AAAA
 *    record length", "malformed MX record", "malformed name in record",
 *    "malformed TXT record", "empty TXT record", "TXT record too long":
 *    names in rdata may be compressed, must fit DNS_MAX_NAME_LEN as text
 *    and hold only printable ASCII other than "."; TXT strings joined
 *    within DNS_MAX_TXT_LEN), or a CNAME followed whose target cannot be
 *    read ("malformed name in record"). Records of other names or types
 *    are not parsed. A malformed SOA gives a negative TTL of 0.
 *
 * A TTL with the top bit set counts as 0 (RFC 2181 section 8). Names
 * compare case-insensitively (ASCII).
 */
#ifndef RAMPART_DNS_WIRE_H
#define RAMPART_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "dns.h"

/* CNAME links followed from the query name at most (libunbound follows 8). */
#define DNS_WIRE_MAX_CNAMES 16
/* Compression pointers followed in one name at most. */
#define DNS_WIRE_MAX_POINTERS 64

struct dns_answer *dns_answer_from_wire(const char *qname, uint16_t qtype, const unsigned char *pkt,
                                        size_t len);

/* The reason a DNS_TEMPFAIL answer gives for rcode ("SERVFAIL"...; "server error" for the rest). */
const char *dns_wire_rcode_why(int rcode);

#endif
