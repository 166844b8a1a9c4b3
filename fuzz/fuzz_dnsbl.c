/*
 * fuzz_dnsbl.c - DNS lists: list entries (dnsbl_spec_parse, with
 * dnsbl_kinds_parse and dnsbl_filter_match), address reversal
 * (dnsbl_reverse_ip), and one whole check whose every A and TXT answer
 * comes from the input, rendered for the header and the log.
 *
 * Parts ("%%" lines between them): 0 the list entry; 1 its lines are the
 * client address, a domain (HELO, MAIL FROM, From) and body text with
 * URLs; 2 byte 0 picks the answer status per name, then 4-byte answer
 * codes; 3 the TXT reason. Checked: a refused entry says why; a parsed one
 * has a zone that may be asked and a weight within bounds; reversed
 * addresses have the right shape; the score is the sum of the hits'
 * weights; the header rendering is printable ASCII within its maximum.
 */
#include "config.h"

#include <arpa/inet.h>

#include "dns.h"
#include "dnsbl.h"
#include "fuzz.h"
#include "mem.h"
#include "uri.h"
#include "util.h"

/* A resolver that answers every name from the input. */
struct catchall {
    struct dns_resolver base;
    unsigned status;
    struct fuzz_part codes;
    struct fuzz_part txt;
};

/* Answer at once: the status depends on the name, the records on the input. */
static void catchall_start(struct dns_resolver *r, struct dns_query *q)
{
    struct catchall *c = (struct catchall *) r;
    const char *name = dns_query_name(q);
    uint16_t type = dns_query_type(q);
    unsigned pick = (c->status + (unsigned) strlen(name)) % 8;
    struct dns_answer *a;

    if (pick == 5) {
        a = dns_answer_new(name, type, DNS_NXDOMAIN);
    } else if (pick == 6) {
        a = dns_answer_new(name, type, DNS_TEMPFAIL);
        a->why = "SERVFAIL";
    } else if (pick == 7) {
        a = dns_answer_new(name, type, DNS_BADANSWER);
        a->why = "malformed answer";
    } else {
        a = dns_answer_new(name, type, DNS_ANSWER);
        if (type == DNS_T_A) {
            for (size_t i = 0; i + 4 <= c->codes.n && a->count < DNS_MAX_RRS; i += 4)
                memcpy(&dns_answer_add_rr(a, type, 300)->u.a, c->codes.p + i, 4);
        } else if (type == DNS_T_TXT && c->txt.n <= DNS_MAX_TXT_LEN) {
            (void) dns_answer_add_text(a, type, 300, c->txt.p, (ssize_t) c->txt.n);
        }
        if (a->count == 0)
            a->status = DNS_NODATA;
    }
    dns_query_done(q, a);
}

/* Nothing is ever pending. */
static void catchall_cancel(struct dns_resolver *r, struct dns_query *q)
{
    (void) r;
    (void) q;
}

/* Free the resolver. */
static void catchall_destroy(struct dns_resolver *r)
{
    mem_free(r);
}

static const struct dns_backend_ops catchall_ops = { catchall_start, catchall_cancel, catchall_destroy };

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    return 0;
}

/* The line k of a part, as a C string (free it); "" past the end. */
static char *line_of(const struct fuzz_part *part, int k, struct fuzz_part *rest)
{
    struct fuzz_part p = *part;

    for (int i = 0; i < k; i++) {
        const char *nl = memchr(p.p, '\n', p.n);

        if (nl == NULL) {
            p.n = 0;
            break;
        }
        p.n -= (size_t) (nl + 1 - p.p);
        p.p = nl + 1;
    }
    if (rest)
        *rest = p;
    {
        const char *nl = memchr(p.p, '\n', p.n);

        if (nl)
            p.n = (size_t) (nl - p.p);
    }
    return fuzz_cstr(&p);
}

/* Header rendering: printable ASCII, bounded. */
static void check_render(const struct dnsbl_result *res, ssize_t max)
{
    str out = STR_INIT;

    dnsbl_render(res, &out, max);
    FUZZ_ASSERT(fuzz_printable(out.data, out.len));
    FUZZ_ASSERT(out.len <= (max > 0 ? max : 900));
    FUZZ_ASSERT((out.len == 0) == (res->nhits == 0));
    str_reset(&out);
    dnsbl_render_log(res, &out);
    FUZZ_ASSERT(memchr(out.data ? out.data : "", '\n', (size_t) out.len) == NULL);
    str_free(&out);
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[4] = { { "", 0 }, { "", 0 }, { "", 0 }, { "", 0 } };
    int nparts = fuzz_split(data, size, parts, 4);
    char *entry = fuzz_cstr(&parts[0]);
    char *ip = line_of(&parts[1], 0, NULL), *dom = line_of(&parts[1], 1, NULL), *junk;
    struct fuzz_part body;
    struct dnsbl_spec spec;
    str err = STR_INIT, rev = STR_INIT;
    unsigned kinds;
    int fam, rc;

    (void) nparts;
    junk = line_of(&parts[1], 2, &body);
    free(junk);

    /* Address reversal. */
    fam = dnsbl_reverse_ip(ip, &rev);
    FUZZ_ASSERT(fam == 0 || fam == 4 || fam == 6);
    FUZZ_ASSERT(fam != 0 || rev.len == 0);
    FUZZ_ASSERT(fam != 6 || rev.len == 63);
    FUZZ_ASSERT(fam != 4 || (rev.len >= 7 && rev.len <= 15));
    (void) dnsbl_kinds_parse(parts[0].p, (ssize_t) parts[0].n, &kinds);

    /* The entry. */
    rc = dnsbl_spec_parse(entry, &spec, &err);
    if (rc != 0) {
        FUZZ_ASSERT(err.len > 0 && spec.zone == NULL);
    } else {
        struct dnsbl_options o;
        struct catchall *c = mem_zalloc(sizeof(*c));
        struct dnsbl *d;
        struct dnsbl_check *chk;
        const struct dnsbl_result *res;
        const char *sites[1] = { entry };
        struct uri_parser *up = uri_parser_new(NULL, 0);
        int sum = 0;

        FUZZ_ASSERT(err.len == 0);
        FUZZ_ASSERT(spec.zone != NULL && dns_name_valid(spec.zone));
        FUZZ_ASSERT(spec.weight >= -DNSBL_MAX_WEIGHT && spec.weight <= DNSBL_MAX_WEIGHT);
        FUZZ_ASSERT(spec.kinds != 0 && (spec.kinds & ~(unsigned) DNSBL_ALL_KINDS) == 0);
        for (size_t i = 0; i + 4 <= parts[2].n; i += 4) {
            struct in_addr a;

            memcpy(&a, parts[2].p + i, 4);
            (void) dnsbl_filter_match(&spec.filter, a);
        }

        dns_resolver_init(&c->base, &catchall_ops);
        c->status = parts[2].n ? (unsigned char) parts[2].p[0] : 0;
        c->codes = parts[2];
        if (c->codes.n) {
            c->codes.p++;
            c->codes.n--;
        }
        c->txt = parts[3];
        memset(&o, 0, sizeof(o));
        o.sites = sites;
        o.n_sites = 1;
        o.fetch_txt = c->status & 0x80;
        o.uri_max_names = 8;
        d = dnsbl_new(&o, &err);
        FUZZ_ASSERT(d != NULL);
        chk = dnsbl_check_new(d, &c->base);
        (void) dnsbl_check_ip(chk, ip);
        (void) dnsbl_check_domain(chk, DNSBL_HELO, dom);
        (void) dnsbl_check_domain(chk, DNSBL_MAILFROM, dom);
        (void) dnsbl_check_domain(chk, DNSBL_FROM, dom);
        uri_parser_feed(up, body.p, (ssize_t) body.n);
        uri_parser_end(up);
        (void) dnsbl_check_uris(chk, up);
        res = dnsbl_check_collect(chk, clock_now_ms() + 1000);
        for (int i = 0; i < res->nhits; i++) {
            FUZZ_ASSERT(res->hits[i].ncodes >= 0 && res->hits[i].ncodes <= DNSBL_MAX_CODES);
            FUZZ_ASSERT(res->hits[i].txt == NULL || fuzz_printable(res->hits[i].txt,
                                                                   (ssize_t) strlen(res->hits[i].txt)));
            FUZZ_ASSERT(res->hits[i].txt == NULL || strlen(res->hits[i].txt) <= DNSBL_MAX_TXT);
            sum += res->hits[i].weight;
        }
        FUZZ_ASSERT(sum == res->score);
        check_render(res, 0);
        check_render(res, 40);
        (void) dnsbl_score_level(res->score, &(struct dnsbl_thresholds) { 1, 5, 10 });
        dnsbl_check_free(chk);
        dnsbl_unref(d);
        uri_parser_free(up);
        dns_resolver_free(&c->base);
        dnsbl_spec_clear(&spec);
    }
    str_free(&err);
    str_free(&rev);
    free(entry);
    free(ip);
    free(dom);
    return 0;
}
