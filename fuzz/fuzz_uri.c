/*
 * fuzz_uri.c - URL extraction from message bodies (uri_parser_*) and host
 * normalisation (uri_host_normalize, uri_registered_domain).
 *
 * Byte 0 is flags (whole message, type from header fields, small limits),
 * bytes 1..4 the limits and the seed of the chunking. Then, for a whole
 * message, the rest is the message; with header fields, the rest is a
 * message whose fields msg_split finds; otherwise the rest has parts
 * ("%%" lines between them): Content-Type, Content-Transfer-Encoding and
 * the body. The same input is read in one piece and in random pieces
 * (single bytes, lines cut anywhere): both must find the same hosts and
 * count the same (but for the bytes after a limit stopped the scan).
 * Every host must be normalised already (normalising it again changes
 * nothing), within its limits, and have a registered domain inside it.
 */
#include "config.h"

#include <arpa/inet.h>

#include "dns.h"
#include "fuzz.h"
#include "msg.h"
#include "str.h"
#include "uri.h"
#include "util.h"

static struct uri_psl *psl;

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    str err = STR_INIT;

    (void) argc;
    (void) argv;
    fuzz_quiet();
    psl = uri_psl_load(NULL, &err);
    FUZZ_ASSERT(psl != NULL);
    str_free(&err);
    return 0;
}

/* msg_split's callback: keep the field. */
static void field(const char *name, const char *value, ssize_t value_len, void *arg)
{
    msg_headers_add(arg, name, value, value_len);
}

/* A tiny deterministic generator for the chunk sizes. */
static unsigned next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* One normalised host, as the parser promises it: normalising it again (same flags) changes nothing. */
static void check_host(const char *name, enum uri_host_kind kind, int flags)
{
    str again = STR_INIT;
    unsigned char buf[16];
    const char *reg;

    FUZZ_ASSERT(kind == URI_HOST_DOMAIN || kind == URI_HOST_IPV4 || kind == URI_HOST_IPV6);
    /* An IPv6 address is kept without its brackets; only "[...]" reads as one. */
    if (kind == URI_HOST_IPV6) {
        str lit = STR_INIT;

        str_addf(&lit, "[%s]", name);
        FUZZ_ASSERT(uri_host_normalize(lit.data, lit.len, 0, &again) == kind);
        str_free(&lit);
    } else {
        FUZZ_ASSERT(uri_host_normalize(name, (ssize_t) strlen(name), flags & URI_HOST_LOOSE_IPV4, &again)
                    == kind);
    }
    FUZZ_ASSERT(strcmp(str_cstr(&again), name) == 0);
    switch (kind) {
    case URI_HOST_DOMAIN:
        FUZZ_ASSERT(dns_name_valid(name));
        for (const char *c = name; *c; c++)
            FUZZ_ASSERT((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'
                        || *c == '.');
        reg = uri_registered_domain(psl, name);
        if (reg)
            FUZZ_ASSERT(reg >= name && reg < name + strlen(name));
        break;
    case URI_HOST_IPV4:
        FUZZ_ASSERT(inet_pton(AF_INET, name, buf) == 1);
        break;
    default:
        FUZZ_ASSERT(inet_pton(AF_INET6, name, buf) == 1);
        break;
    }
    str_free(&again);
}

/* What a parser found, for the report of a difference. */
static void print_stats(const char *what, const struct uri_parser *p, const struct uri_stats *s)
{
    fprintf(stderr, "%s: urls %d hosts %d dropped %d bad %d parts %d text %zd body %zd truncated %d:", what,
            s->urls, s->hosts, s->dropped_hosts, s->bad_hosts, s->parts, s->text_bytes, s->body_bytes,
            s->truncated);
    for (int i = 0; i < uri_parser_count(p); i++)
        fprintf(stderr, " %s", uri_parser_host(p, i)->name);
    fprintf(stderr, "\n");
}

/* Run one parser over the input, in one piece (seed 0) or in random pieces. */
static struct uri_parser *run(const struct uri_limits *lim, int flags, const struct msg_headers *hs,
                              const char *ct, const char *cte, const char *body, size_t n, uint32_t seed)
{
    struct uri_parser *p = uri_parser_new(lim, flags);
    size_t off = 0;

    if (hs)
        uri_parser_set_headers(p, hs);
    else if (ct || cte)
        uri_parser_set_type(p, ct, cte);
    while (off < n) {
        size_t k = n - off;

        if (seed) {
            unsigned r = next(&seed);

            k = r % 4 == 0 ? 1 : r % 4 == 1 ? (r >> 8) % 8 + 1 : (r >> 8) % 300 + 1;
            if (k > n - off)
                k = n - off;
        }
        /* Its own allocation, so ASan sees a read past the piece. */
        {
            char *piece = malloc(k);

            memcpy(piece, body + off, k);
            uri_parser_feed(p, piece, (ssize_t) k);
            free(piece);
        }
        off += k;
    }
    uri_parser_end(p);
    uri_parser_feed(p, "http://after.example/", 21);   /* ignored */
    return p;
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part in = { (const char *) data, size };
    unsigned flags = fuzz_byte(&in), b1 = fuzz_byte(&in), b2 = fuzz_byte(&in), b3 = fuzz_byte(&in),
             b4 = fuzz_byte(&in);
    struct uri_limits lim, *limp = NULL;
    struct msg_headers hs, *hsp = NULL;
    char *ct = NULL, *cte = NULL;
    const char *body = in.p;
    size_t n = in.n;
    int pflags = 0;
    struct uri_parser *one, *many;
    struct uri_stats s1, s2;
    str norm = STR_INIT;

    msg_headers_init(&hs);
    if (flags & 1) {
        pflags = URI_WHOLE_MESSAGE;
    } else if (flags & 2) {
        ssize_t off = msg_split(in.p, (ssize_t) in.n, field, &hs);

        hsp = &hs;
        body = in.p + off;
        n = in.n - (size_t) off;
    } else {
        struct fuzz_part parts[3];
        int np = fuzz_split((const uint8_t *) in.p, in.n, parts, 3);

        if (np == 3) {
            ct = fuzz_cstr(&parts[0]);
            cte = fuzz_cstr(&parts[1]);
        }
        body = parts[np - 1].p;
        n = parts[np - 1].n;
    }
    if (flags & 4) {
        memset(&lim, 0, sizeof(lim));
        lim.max_hosts = (int) (b1 % 8) + 1;
        lim.max_urls = (int) (b2 % 32) + 1;
        lim.max_text_bytes = (ssize_t) (b3 * 16) + 1;
        lim.max_body_bytes = (ssize_t) (b4 * 64) + 1;
        lim.max_depth = (int) (b1 >> 5) + 1;
        limp = &lim;
    }

    one = run(limp, pflags, hsp, ct, cte, body, n, 0);
    many = run(limp, pflags, hsp, ct, cte, body, n, (b1 << 24 | b2 << 16 | b3 << 8 | b4) | 1);
    uri_parser_stats(one, &s1);
    uri_parser_stats(many, &s2);
    if (memcmp(&s1, &s2, sizeof(s1)) != 0 || uri_parser_count(one) != uri_parser_count(many)) {
        print_stats("in one piece", one, &s1);
        print_stats("in pieces", many, &s2);
    }
    FUZZ_ASSERT(uri_parser_count(one) == uri_parser_count(many));
    FUZZ_ASSERT(s1.urls == s2.urls && s1.hosts == s2.hosts && s1.bad_hosts == s2.bad_hosts
                && s1.dropped_hosts == s2.dropped_hosts && s1.parts == s2.parts
                && s1.truncated == s2.truncated);
    /* Once a limit stops the scan, the rest of the piece at hand is counted, later ones not. */
    FUZZ_ASSERT((s1.body_bytes == s2.body_bytes && s1.text_bytes == s2.text_bytes) || s1.truncated);
    FUZZ_ASSERT(uri_parser_count(one) <= (limp ? limp->max_hosts : URI_DEFAULT_MAX_HOSTS));
    FUZZ_ASSERT(s1.urls <= (limp ? limp->max_urls : URI_DEFAULT_MAX_URLS));
    FUZZ_ASSERT(s1.body_bytes <= (limp ? limp->max_body_bytes : URI_DEFAULT_MAX_BODY_BYTES));
    for (int i = 0; i < uri_parser_count(one); i++) {
        const struct uri_host *h1 = uri_parser_host(one, i), *h2 = uri_parser_host(many, i);

        FUZZ_ASSERT(strcmp(h1->name, h2->name) == 0 && h1->kind == h2->kind && h1->count == h2->count);
        FUZZ_ASSERT(h1->count >= 1);
        check_host(h1->name, h1->kind, URI_HOST_LOOSE_IPV4);
    }
    FUZZ_ASSERT(uri_parser_host(one, -1) == NULL && uri_parser_host(one, uri_parser_count(one)) == NULL);
    uri_parser_free(one);
    uri_parser_free(many);

    /* The whole input as one host, with each set of flags. */
    for (int f = 0; f < 4; f++) {
        enum uri_host_kind k = uri_host_normalize(in.p, (ssize_t) in.n, f, &norm);

        if (k == URI_HOST_BAD)
            FUZZ_ASSERT(norm.len == 0);
        else
            check_host(str_cstr(&norm), k, f);
    }
    str_free(&norm);
    msg_headers_free(&hs);
    free(ct);
    free(cte);
    return 0;
}
