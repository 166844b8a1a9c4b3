/*
 * fuzz_dns.c - DNS answers: dns_answer_from_wire (a response in wire
 * format, as libunbound hands one over, into our answer: header, question,
 * compressed names, the CNAME chain, rdata of A, AAAA, MX, TXT with its
 * character-strings joined, PTR, CNAME, NS, anything else, the negative
 * TTL from an SOA) and dns_answer_add_text (presentation form, as the
 * test fixture and local data use).
 *
 * Input: byte 0 the query type (an index into the types rampart asks for,
 * or a raw type), byte 1 flags (0x01: presentation mode), byte 2 the
 * length of the query name that follows (cut at a NUL); the rest is the
 * packet, or in presentation mode one record per line. Checked: the
 * answer is to the name and type asked; with records it holds
 * 1..DNS_MAX_RRS of the asked type within their limits (TXT length and
 * NUL, names that may be asked); any other status has no records; an
 * error says why, and nothing else does; the rcode is the header's and
 * agrees with the status.
 */
#include "config.h"

#include "dns.h"
#include "dns_wire.h"
#include "fuzz.h"
#include "util.h"

#define MAX_RECORDS (DNS_MAX_RRS + 8)

static const uint16_t types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR,
                                  DNS_T_CNAME, DNS_T_NS, DNS_T_SOA };

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    return 0;
}

/* A name in an answer: "" (the root) or one that may be asked. */
static void check_name(const char *name)
{
    FUZZ_ASSERT(name != NULL);
    FUZZ_ASSERT(strlen(name) <= DNS_MAX_NAME_LEN);
    FUZZ_ASSERT(name[0] == '\0' || dns_name_valid(name));
}

/* The records of an answer: of the asked type, within their limits (names only checked from the wire). */
static void check_records(const struct dns_answer *a, uint16_t qtype, int from_wire)
{
    for (int i = 0; i < a->count; i++) {
        const struct dns_rr *rr = &a->rr[i];

        FUZZ_ASSERT(rr->type == qtype);
        switch (rr->type) {
        case DNS_T_TXT:
            FUZZ_ASSERT(rr->u.txt.len >= 0 && rr->u.txt.len <= DNS_MAX_TXT_LEN);
            FUZZ_ASSERT(rr->u.txt.data[rr->u.txt.len] == '\0');
            break;
        case DNS_T_MX:
            if (from_wire)
                check_name(rr->u.mx.host);
            break;
        case DNS_T_PTR:
        case DNS_T_CNAME:
        case DNS_T_NS:
            if (from_wire)
                check_name(rr->u.name);
            break;
        default:
            break;
        }
    }
}

/* The promises of dns_answer_from_wire for (qname, qtype) and the packet it read. */
static void check_wire_answer(const struct dns_answer *a, const char *qname, uint16_t qtype,
                              const unsigned char *pkt, size_t len)
{
    FUZZ_ASSERT(a != NULL && a->qname != NULL);
    FUZZ_ASSERT(strcmp(a->qname, qname) == 0);
    FUZZ_ASSERT(a->qtype == qtype);
    FUZZ_ASSERT(dns_status_name(a->status) != NULL);
    FUZZ_ASSERT(a->secure == DNS_SEC_INSECURE && a->timed_out == 0);
    FUZZ_ASSERT((a->why != NULL) == (a->status == DNS_TEMPFAIL || a->status == DNS_BADANSWER));
    if (len < 12) {
        FUZZ_ASSERT(a->status == DNS_BADANSWER && a->rcode == -1);
    } else {
        int rcode = pkt[3] & 0x0f, tc = (pkt[2] & 0x02) != 0;

        FUZZ_ASSERT(a->rcode == rcode);
        /* Any rcode but NOERROR and NXDOMAIN, or the TC bit, is a temporary failure, whatever follows. */
        FUZZ_ASSERT((rcode != 0 && rcode != 3) || tc ? a->status == DNS_TEMPFAIL : a->status != DNS_TEMPFAIL);
    }
    switch (a->status) {
    case DNS_ANSWER:
        FUZZ_ASSERT(a->rcode == 0);
        FUZZ_ASSERT(a->count >= 1 && a->count <= DNS_MAX_RRS);
        check_records(a, qtype, 1);
        return;
    case DNS_NODATA:
        FUZZ_ASSERT(a->rcode == 0);
        break;
    case DNS_NXDOMAIN:
        FUZZ_ASSERT(a->rcode == 3);
        break;
    default:
        break;
    }
    FUZZ_ASSERT(a->count == 0);
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part in = { (const char *) data, size };
    unsigned sel = fuzz_byte(&in), flags = fuzz_byte(&in), qlen = fuzz_byte(&in);
    unsigned char *pkt;
    char qname[256];
    struct dns_answer *a;
    uint16_t qtype;

    qtype = sel < NELEM(types) * 16 ? types[sel % NELEM(types)] : (uint16_t) (sel * 7);
    if (qlen > in.n)
        qlen = (unsigned) in.n;
    memcpy(qname, in.p, qlen);
    qname[qlen] = '\0';
    in.p += qlen;
    in.n -= qlen;

    if (flags & 0x01) {
        /* Presentation form, one record per line. */
        a = dns_answer_new(qname, qtype, DNS_ANSWER);
        while (in.n > 0 && a->count < MAX_RECORDS) {
            const char *nl = memchr(in.p, '\n', in.n);
            size_t l = nl ? (size_t) (nl - in.p) : in.n;

            (void) dns_answer_add_text(a, qtype, 300, in.p, (ssize_t) l);
            in.p += l + (nl != NULL);
            in.n -= l + (nl != NULL);
        }
        FUZZ_ASSERT(a->status == DNS_ANSWER && a->count <= MAX_RECORDS);
        check_records(a, qtype, 0);
        dns_answer_free(a);
        return 0;
    }

    /* The packet in its own allocation of its exact size, so ASan sees a read past its end. */
    pkt = malloc(in.n);
    if (pkt == NULL && in.n > 0)
        abort();
    memcpy(pkt, in.p, in.n);
    a = dns_answer_from_wire(qname, qtype, pkt, in.n);
    check_wire_answer(a, qname, qtype, pkt, in.n);
    dns_answer_free(a);
    free(pkt);
    /* No packet at all. */
    a = dns_answer_from_wire(qname, qtype, NULL, 0);
    FUZZ_ASSERT(a->status == DNS_BADANSWER && a->why != NULL && a->count == 0);
    dns_answer_free(a);
    return 0;
}
