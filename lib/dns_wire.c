/*
 * dns_wire.c - a DNS response in wire format made into a struct
 * dns_answer (the contract is in dns_wire.h).
 *
 * Every read goes through the bounds-checked getters below; a name is
 * read into a fixed buffer of uncompressed wire form (at most 255 bytes,
 * labels at most 63), following only compression pointers that point
 * before themselves and at most DNS_WIRE_MAX_POINTERS of them, so a
 * packet can neither loop for ever nor read outside itself (a name that
 * points back into its own labels ends at the pointer or the length
 * limit). The record
 * headers of the answer and authority sections are read in one pass (a
 * count the packet cannot hold is refused before anything is allocated);
 * the CNAME chain is then followed over them, owner names read again from
 * the packet as they are compared.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "dns.h"
#include "dns_wire.h"
#include "mem.h"
#include "str.h"
#include "util.h"

#define WIRE_HEADER_LEN 12
#define WIRE_NAME_MAX 255       /* wire form, root label included (RFC 1035 3.1) */
#define WIRE_LABEL_MAX 63
#define WIRE_CLASS_IN 1
#define WIRE_MIN_RR_LEN 11      /* a record with the root as owner and no rdata */
#define WIRE_FLAG_TC 0x0200

/* A bounds-checked reader over the packet. */
struct wire {
    const unsigned char *p;
    size_t len;
    size_t off;
};

/* One record of the answer or authority section; rdata points into the packet. */
struct wire_rr {
    size_t owner_off;           /* the owner name, read again when compared */
    uint16_t type, class;
    uint32_t ttl;
    size_t rdata_off, rdlen;
};

/* Read one byte; -1 past the end. */
static int wire_u8(struct wire *w, unsigned *v)
{
    if (w->len - w->off < 1)
        return -1;
    *v = w->p[w->off++];
    return 0;
}

/* Read a 16-bit big-endian number; -1 past the end. */
static int wire_u16(struct wire *w, unsigned *v)
{
    if (w->len - w->off < 2)
        return -1;
    *v = (unsigned) w->p[w->off] << 8 | w->p[w->off + 1];
    w->off += 2;
    return 0;
}

/* Read a 32-bit big-endian number; -1 past the end. */
static int wire_u32(struct wire *w, uint32_t *v)
{
    if (w->len - w->off < 4)
        return -1;
    *v = (uint32_t) w->p[w->off] << 24 | (uint32_t) w->p[w->off + 1] << 16
         | (uint32_t) w->p[w->off + 2] << 8 | w->p[w->off + 3];
    w->off += 4;
    return 0;
}

/* Point at the next n bytes; -1 past the end. */
static int wire_bytes(struct wire *w, size_t n, const unsigned char **out)
{
    if (w->len - w->off < n)
        return -1;
    *out = w->p + w->off;
    w->off += n;
    return 0;
}

/*
 * Read a possibly compressed name at the reader's position into out
 * (uncompressed wire form, root label included; *out_len its length) and
 * move past it. A pointer must point before itself, so every hop goes
 * backwards; one back into the name's own labels ends at
 * DNS_WIRE_MAX_POINTERS or WIRE_NAME_MAX. -1 if bad.
 */
static int wire_name(struct wire *w, unsigned char out[WIRE_NAME_MAX], size_t *out_len)
{
    size_t pos = w->off, n_out = 0, after = 0;
    int hops = 0;

    for (;;) {
        unsigned n;

        if (pos >= w->len)
            return -1;
        n = w->p[pos];
        if ((n & 0xc0) == 0xc0) {
            size_t target;

            if (w->len - pos < 2 || ++hops > DNS_WIRE_MAX_POINTERS)
                return -1;
            target = (size_t) (n & 0x3f) << 8 | w->p[pos + 1];
            if (after == 0)
                after = pos + 2;
            if (target >= pos)
                return -1;
            pos = target;
            continue;
        }
        if ((n & 0xc0) != 0 || n > WIRE_LABEL_MAX)
            return -1;
        if (w->len - pos - 1 < n || n_out + 1 + n > WIRE_NAME_MAX)
            return -1;
        memcpy(out + n_out, w->p + pos, n + 1);
        n_out += n + 1;
        pos += n + 1;
        if (n == 0)
            break;
    }
    w->off = after != 0 ? after : pos;
    *out_len = n_out;
    return 0;
}

/* 1 if two uncompressed wire names are equal, ignoring ASCII case. */
static int wire_name_eq(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (ascii_tolower(a[i]) != ascii_tolower(b[i]))
            return 0;
    return 1;
}

/* The query name (text, no trailing dot) in uncompressed wire form; -1 if it has none. */
static int wire_from_text(const char *name, unsigned char out[WIRE_NAME_MAX], size_t *out_len)
{
    size_t n_out = 0;
    const char *p = name;

    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t) (dot - p) : strlen(p);

        if (n == 0 || n > WIRE_LABEL_MAX || n_out + 1 + n + 1 > WIRE_NAME_MAX)
            return -1;
        out[n_out++] = (unsigned char) n;
        memcpy(out + n_out, p, n);
        n_out += n;
        p += n;
        if (*p == '.')
            p++;
    }
    out[n_out++] = 0;
    *out_len = n_out;
    return 0;
}

/*
 * A name in rdata as text without the trailing dot, into buf (size >
 * DNS_MAX_NAME_LEN); the root is "". Labels must hold bytes a query name
 * may hold and no dot, so the text means one thing. -1 if bad.
 */
static int wire_name_text(struct wire *w, char *buf, size_t size)
{
    unsigned char name[WIRE_NAME_MAX];
    size_t name_len, in = 0, out = 0;

    if (wire_name(w, name, &name_len) != 0)
        return -1;
    while (name[in] != 0) {
        size_t n = name[in++];

        /* A separator, the label, and the NUL must fit. */
        if (out + (out > 0) + n > DNS_MAX_NAME_LEN || out + (out > 0) + n >= size)
            return -1;
        if (out > 0)
            buf[out++] = '.';
        for (size_t i = 0; i < n; i++) {
            unsigned char c = name[in + i];

            if (c <= 0x20 || c >= 0x7f || c == '.')
                return -1;
            buf[out++] = (char) c;
        }
        in += n;
    }
    buf[out] = '\0';
    return 0;
}

/* Parse one record's rdata (at rr->rdata_off in the packet) into a new record of a; the reason if bad. */
static const char *wire_add_rdata(struct dns_answer *a, const struct wire *pkt, const struct wire_rr *rr)
{
    struct wire w = { pkt->p, rr->rdata_off + rr->rdlen, rr->rdata_off };
    const unsigned char *data = pkt->p + rr->rdata_off;
    char name[DNS_MAX_NAME_LEN + 1];
    struct dns_rr *out;
    unsigned pref;

    switch (rr->type) {
    case DNS_T_A:
        if (rr->rdlen != sizeof(struct in_addr))
            return "bad A record length";
        memcpy(&dns_answer_add_rr(a, rr->type, rr->ttl)->u.a, data, rr->rdlen);
        return NULL;
    case DNS_T_AAAA:
        if (rr->rdlen != sizeof(struct in6_addr))
            return "bad AAAA record length";
        memcpy(&dns_answer_add_rr(a, rr->type, rr->ttl)->u.aaaa, data, rr->rdlen);
        return NULL;
    case DNS_T_MX:
        /* A compression pointer may point anywhere before it in the packet, not past the rdata. */
        if (wire_u16(&w, &pref) != 0 || wire_name_text(&w, name, sizeof(name)) != 0 || w.off != w.len)
            return "malformed MX record";
        out = dns_answer_add_rr(a, rr->type, rr->ttl);
        out->u.mx.pref = (uint16_t) pref;
        out->u.mx.host = mem_strdup(name);
        return NULL;
    case DNS_T_PTR:
    case DNS_T_CNAME:
    case DNS_T_NS:
        if (wire_name_text(&w, name, sizeof(name)) != 0 || w.off != w.len)
            return "malformed name in record";
        dns_answer_add_rr(a, rr->type, rr->ttl)->u.name = mem_strdup(name);
        return NULL;
    case DNS_T_TXT: {
        str txt = STR_INIT;

        /* One or more character-strings, joined with no separator. */
        if (rr->rdlen == 0)
            return "empty TXT record";
        while (w.off < w.len) {
            const unsigned char *s;
            unsigned n;

            if (wire_u8(&w, &n) != 0 || wire_bytes(&w, n, &s) != 0) {
                str_free(&txt);
                return "malformed TXT record";
            }
            if (txt.len + (ssize_t) n > DNS_MAX_TXT_LEN) {
                str_free(&txt);
                return "TXT record too long";
            }
            str_add(&txt, s, (ssize_t) n);
        }
        out = dns_answer_add_rr(a, rr->type, rr->ttl);
        out->u.txt.len = txt.len;
        out->u.txt.data = str_steal(&txt);   /* "" when every string was empty */
        return NULL;
    }
    default:
        /* A type we do not parse (SOA...): the record is counted, its content not kept. */
        dns_answer_add_rr(a, rr->type, rr->ttl);
        return NULL;
    }
}

/* Read one record header and step over its rdata; -1 if it runs past the end. */
static int wire_rr_read(struct wire *w, struct wire_rr *rr)
{
    const unsigned char *rdata;
    unsigned type, class, rdlen;
    uint32_t ttl;

    unsigned char owner[WIRE_NAME_MAX];
    size_t owner_len;

    rr->owner_off = w->off;
    if (wire_name(w, owner, &owner_len) != 0 || wire_u16(w, &type) != 0 || wire_u16(w, &class) != 0
        || wire_u32(w, &ttl) != 0 || wire_u16(w, &rdlen) != 0)
        return -1;
    rr->rdata_off = w->off;
    if (wire_bytes(w, rdlen, &rdata) != 0)
        return -1;
    rr->type = (uint16_t) type;
    rr->class = (uint16_t) class;
    rr->ttl = (ttl & 0x80000000u) ? 0 : ttl;
    rr->rdlen = rdlen;
    return 0;
}

/* 1 if rr's owner is name (uncompressed wire form); the owner was read once already. */
static int wire_owner_is(const struct wire *pkt, const struct wire_rr *rr, const unsigned char *name,
                         size_t name_len)
{
    struct wire w = { pkt->p, pkt->len, rr->owner_off };
    unsigned char owner[WIRE_NAME_MAX];
    size_t owner_len;

    return wire_name(&w, owner, &owner_len) == 0 && wire_name_eq(owner, owner_len, name, name_len);
}

/* Static text for an rcode that means "try later"; see dns_wire.h. */
const char *dns_wire_rcode_why(int rcode)
{
    switch (rcode) {
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    default: return "server error";
    }
}

/* The negative TTL from the first SOA of the authority records (RFC 2308 section 5); 0 without one. */
static uint32_t wire_negative_ttl(const struct wire *pkt, const struct wire_rr *auth, int n_auth)
{
    for (int i = 0; i < n_auth; i++) {
        struct wire w = { pkt->p, auth[i].rdata_off + auth[i].rdlen, auth[i].rdata_off };
        unsigned char name[WIRE_NAME_MAX];
        size_t name_len;
        uint32_t serial, refresh, retry, expire, minimum;

        if (auth[i].type != DNS_T_SOA || auth[i].class != WIRE_CLASS_IN)
            continue;
        if (wire_name(&w, name, &name_len) != 0 || wire_name(&w, name, &name_len) != 0
            || wire_u32(&w, &serial) != 0 || wire_u32(&w, &refresh) != 0 || wire_u32(&w, &retry) != 0
            || wire_u32(&w, &expire) != 0 || wire_u32(&w, &minimum) != 0 || w.off != w.len)
            return 0;
        if (minimum & 0x80000000u)
            minimum = 0;
        return auth[i].ttl < minimum ? auth[i].ttl : minimum;
    }
    return 0;
}

/* Make a a DNS_BADANSWER with reason why (records dropped). */
static struct dns_answer *wire_bad(struct dns_answer *a, const char *why)
{
    struct dns_answer *bad = dns_answer_new(a->qname, a->qtype, DNS_BADANSWER);

    bad->rcode = a->rcode;
    bad->why = why;
    dns_answer_free(a);
    return bad;
}

/* Convert a wire-format response into a new answer. */
struct dns_answer *dns_answer_from_wire(const char *qname, uint16_t qtype, const unsigned char *pkt, size_t len)
{
    struct wire w = { pkt, pkt != NULL ? len : 0, 0 };
    struct dns_answer *a = dns_answer_new(qname, qtype, DNS_ANSWER);
    unsigned char want[WIRE_NAME_MAX];
    size_t want_len;
    unsigned id, flags, qdcount, ancount, nscount, arcount;
    struct wire_rr *rrs = NULL;
    int n_an = 0, n_ns = 0, cnames = 0;
    uint32_t ttl = UINT32_MAX;
    const char *why = NULL;

    a->rcode = -1;
    if (wire_u16(&w, &id) != 0 || wire_u16(&w, &flags) != 0 || wire_u16(&w, &qdcount) != 0
        || wire_u16(&w, &ancount) != 0 || wire_u16(&w, &nscount) != 0 || wire_u16(&w, &arcount) != 0)
        return wire_bad(a, "malformed answer");
    a->rcode = (int) (flags & 0x0f);
    if (a->rcode != 0 && a->rcode != 3) {
        a->status = DNS_TEMPFAIL;
        a->why = dns_wire_rcode_why(a->rcode);
        return a;
    }
    if (flags & WIRE_FLAG_TC) {
        /* Records may be missing: a TXT record left out would read as "no SPF record". */
        a->status = DNS_TEMPFAIL;
        a->why = "truncated answer";
        return a;
    }
    if (wire_from_text(qname, want, &want_len) != 0)
        return wire_bad(a, "answer to another question");
    if (qdcount > 1)
        return wire_bad(a, "answer to another question");
    if (qdcount == 1) {
        unsigned char name[WIRE_NAME_MAX];
        size_t name_len;
        unsigned type, class;

        if (wire_name(&w, name, &name_len) != 0 || wire_u16(&w, &type) != 0 || wire_u16(&w, &class) != 0)
            return wire_bad(a, "malformed answer");
        if (!wire_name_eq(name, name_len, want, want_len) || type != qtype || class != WIRE_CLASS_IN)
            return wire_bad(a, "answer to another question");
    }
    if ((size_t) (ancount + nscount) * WIRE_MIN_RR_LEN > w.len - w.off)
        return wire_bad(a, "malformed answer");
    if (ancount + nscount > 0)
        rrs = mem_alloc((ssize_t) ((ancount + nscount) * sizeof(*rrs)));
    for (unsigned i = 0; i < ancount + nscount; i++) {
        if (wire_rr_read(&w, &rrs[i]) != 0) {
            mem_free(rrs);
            return wire_bad(a, "malformed answer");
        }
    }
    n_an = (int) ancount;
    n_ns = (int) nscount;

    /* Follow the CNAME chain from the query name, then take the records of qtype at its end. */
    for (;;) {
        int next = -1;

        if (qtype == DNS_T_CNAME)
            break;
        for (int i = 0; i < n_an && next < 0; i++)
            if (rrs[i].type == DNS_T_CNAME && rrs[i].class == WIRE_CLASS_IN
                && wire_owner_is(&w, &rrs[i], want, want_len))
                next = i;
        if (next < 0)
            break;
        if (++cnames > DNS_WIRE_MAX_CNAMES) {
            why = "CNAME chain too long";
            break;
        }
        {
            struct wire r = { pkt, rrs[next].rdata_off + rrs[next].rdlen, rrs[next].rdata_off };

            if (wire_name(&r, want, &want_len) != 0 || r.off != r.len) {
                why = "malformed name in record";
                break;
            }
        }
        if (rrs[next].ttl < ttl)
            ttl = rrs[next].ttl;
    }
    for (int i = 0; i < n_an && why == NULL; i++) {
        if (rrs[i].type != qtype || rrs[i].class != WIRE_CLASS_IN
            || !wire_owner_is(&w, &rrs[i], want, want_len))
            continue;
        if (a->count >= DNS_MAX_RRS) {
            why = "too many records";
            break;
        }
        why = wire_add_rdata(a, &w, &rrs[i]);
        if (rrs[i].ttl < ttl)
            ttl = rrs[i].ttl;
    }
    if (why != NULL) {
        mem_free(rrs);
        return wire_bad(a, why);
    }
    if (a->rcode == 3 || a->count == 0) {
        /* NXDOMAIN, or NODATA: no records, whatever the chain held. */
        uint32_t neg = n_ns > 0 ? wire_negative_ttl(&w, rrs + n_an, n_ns) : 0;

        if (a->count > 0) {
            struct dns_answer *empty = dns_answer_new(qname, qtype, DNS_NXDOMAIN);

            empty->rcode = a->rcode;
            dns_answer_free(a);
            a = empty;
        }
        a->status = a->rcode == 3 ? DNS_NXDOMAIN : DNS_NODATA;
        a->ttl = neg;
        mem_free(rrs);
        return a;
    }
    a->ttl = ttl;
    mem_free(rrs);
    return a;
}
