/*
 * fuzz_dns.c - DNS answers: dns_answer_from_ub (libunbound's result into
 * our answer: rdata of A, AAAA, MX, TXT with its character-strings joined,
 * PTR, CNAME, NS, anything else) and dns_answer_add_text (presentation
 * form, as the test fixture and local data use).
 *
 * Input: byte 0 the query type (an index into the types rampart asks for,
 * or a raw type), byte 1 flags (havedata, nxdomain, secure, bogus, data
 * NULL, len NULL, presentation mode), byte 2 the rcode, bytes 3..6 the TTL,
 * byte 7 the length of the query name that follows; then records, each a
 * 16-bit length (0xffff: a negative length) and its bytes. In
 * presentation mode the rest is one record per line instead. Checked: an
 * answer with records holds 1..DNS_MAX_RRS of the asked type within their
 * limits (TXT length and NUL, names that may be asked); any other status
 * has no records, and an error says why.
 */
#include "config.h"

#include <unbound.h>

#include "dns.h"
#include "dns_unbound.h"
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

/* The promises of struct dns_answer. */
static void check_answer(const struct dns_answer *a, uint16_t qtype, int from_ub)
{
    FUZZ_ASSERT(a != NULL && a->qname != NULL);
    FUZZ_ASSERT(dns_status_name(a->status) != NULL);
    if (a->status != DNS_ANSWER || !from_ub) {
        if (from_ub)
            FUZZ_ASSERT(a->count == 0);
        if (a->status == DNS_TEMPFAIL || a->status == DNS_BADANSWER)
            FUZZ_ASSERT(a->why != NULL);
        if (a->status != DNS_ANSWER)
            return;
    }
    FUZZ_ASSERT(!from_ub || (a->count >= 1 && a->count <= DNS_MAX_RRS));
    for (int i = 0; i < a->count; i++) {
        const struct dns_rr *rr = &a->rr[i];

        FUZZ_ASSERT(rr->type == qtype);
        switch (rr->type) {
        case DNS_T_TXT:
            FUZZ_ASSERT(rr->u.txt.len >= 0 && rr->u.txt.len <= DNS_MAX_TXT_LEN);
            FUZZ_ASSERT(rr->u.txt.data[rr->u.txt.len] == '\0');
            break;
        case DNS_T_MX:
            if (from_ub)
                check_name(rr->u.mx.host);
            break;
        case DNS_T_PTR:
        case DNS_T_CNAME:
        case DNS_T_NS:
            if (from_ub)
                check_name(rr->u.name);
            break;
        default:
            break;
        }
    }
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part in = { (const char *) data, size };
    unsigned sel = fuzz_byte(&in), flags = fuzz_byte(&in), rcode = fuzz_byte(&in), qlen;
    char *rdata[MAX_RECORDS + 1];
    int lens[MAX_RECORDS + 1];
    char qname[256];
    struct ub_result res;
    struct dns_answer *a;
    uint16_t qtype;
    int32_t ttl = 0;
    int n = 0;

    qtype = sel < NELEM(types) * 16 ? types[sel % NELEM(types)] : (uint16_t) (sel * 7);
    for (int i = 0; i < 4; i++)
        ttl = (int32_t) ((uint32_t) ttl << 8 | fuzz_byte(&in));
    qlen = fuzz_byte(&in) % 80;
    if (qlen > in.n)
        qlen = (unsigned) in.n;
    memcpy(qname, in.p, qlen);
    qname[qlen] = '\0';
    in.p += qlen;
    in.n -= qlen;

    if (flags & 0x40) {
        /* Presentation form, one record per line. */
        a = dns_answer_new(qname, qtype, DNS_ANSWER);
        while (in.n > 0 && a->count < MAX_RECORDS) {
            const char *nl = memchr(in.p, '\n', in.n);
            size_t l = nl ? (size_t) (nl - in.p) : in.n;

            (void) dns_answer_add_text(a, qtype, (uint32_t) ttl, in.p, (ssize_t) l);
            in.p += l + (nl != NULL);
            in.n -= l + (nl != NULL);
        }
        check_answer(a, qtype, 0);
        dns_answer_free(a);
        return 0;
    }

    while (in.n > 0 && n < MAX_RECORDS) {
        unsigned l = fuzz_byte(&in) << 8;

        l |= fuzz_byte(&in);
        if (l == 0xffff) {
            lens[n] = -1;
            rdata[n++] = (char *) in.p;
            continue;
        }
        if (l > in.n)
            l = (unsigned) in.n;
        /* Each record in its own allocation, so ASan sees a read past its end. */
        rdata[n] = malloc(l ? l : 1);
        memcpy(rdata[n], in.p, l);
        lens[n++] = (int) l;
        in.p += l;
        in.n -= l;
    }
    rdata[n] = NULL;
    lens[n] = 0;

    memset(&res, 0, sizeof(res));
    res.qname = qname;
    res.qtype = qtype;
    res.qclass = 1;
    res.data = (flags & 0x10) ? NULL : rdata;
    res.len = (flags & 0x20) ? NULL : lens;
    res.rcode = (int) (rcode & 0x80 ? rcode : rcode % 6);
    res.havedata = flags & 0x01;
    res.nxdomain = (flags & 0x02) != 0;
    res.secure = (flags & 0x04) != 0;
    res.bogus = (flags & 0x08) != 0;
    res.ttl = ttl;
    a = dns_answer_from_ub(&res);
    check_answer(a, qtype, 1);
    dns_answer_free(a);
    for (int i = 0; i < n; i++)
        if (lens[i] >= 0)
            free(rdata[i]);
    /* The null result of a failed call. */
    a = dns_answer_from_ub(NULL);
    FUZZ_ASSERT(a->status == DNS_TEMPFAIL);
    dns_answer_free(a);
    return 0;
}
