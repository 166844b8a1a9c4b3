/*
 * fuzz_spf.c - a whole SPF check (spf_check_mailfrom, spf_check_helo with
 * rampart's engine) against fixture DNS whose TXT records are the input:
 * record parsing, mechanisms, macros, include and redirect, exp=, limits.
 *
 * Byte 0 is flags (IPv6 client, null sender, HELO identity, a default
 * explanation, hostile local part); the rest has parts ("%%" lines between
 * them): the TXT records of example.org, a.example.org, b.example.org and
 * e.example.org, then the sender's local part. The fixture also has
 * addresses, MX and PTR records for those names. Checked: the result is
 * one of the seven, an explanation only for a fail and then printable
 * ASCII within its limit, a reason for temperror and permerror, and the
 * Received-SPF value is printable ASCII folded only with "\n\t".
 */
#include "config.h"

#include "dns.h"
#include "fuzz.h"
#include "spf.h"
#include "str.h"

static const char *const txt_names[] = { "example.org", "a.example.org", "b.example.org", "e.example.org" };

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    return 0;
}

/* The records that are always there. */
static void fixed_zone(struct dns_resolver *r)
{
    static const struct { const char *name; uint16_t type; const char *rdata; } rrs[] = {
        { "example.org", DNS_T_A, "192.0.2.10" },
        { "example.org", DNS_T_AAAA, "2001:db8::10" },
        { "example.org", DNS_T_MX, "10 mx.example.org" },
        { "example.org", DNS_T_MX, "20 ." },
        { "mx.example.org", DNS_T_A, "192.0.2.11" },
        { "mx.example.org", DNS_T_AAAA, "2001:db8::11" },
        { "a.example.org", DNS_T_A, "192.0.2.12" },
        { "a.example.org", DNS_T_MX, "10 b.example.org" },
        { "b.example.org", DNS_T_AAAA, "2001:db8::12" },
        { "10.2.0.192.in-addr.arpa", DNS_T_PTR, "mail.example.org" },
        { "10.2.0.192.in-addr.arpa", DNS_T_PTR, "other.example.net" },
        { "mail.example.org", DNS_T_A, "192.0.2.10" },
        { "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", DNS_T_PTR,
          "mail.example.org" },
        { "mail.example.org", DNS_T_AAAA, "2001:db8::10" },
        { "x.u.example.org", DNS_T_A, "127.0.0.2" },
    };

    for (size_t i = 0; i < sizeof(rrs) / sizeof(rrs[0]); i++)
        if (dns_fixture_add(r, rrs[i].name, rrs[i].type, rrs[i].rdata) != 0)
            abort();
}

/* A string the result promises to be printable ASCII (or absent). */
static void check_text(const char *s, ssize_t max)
{
    if (s == NULL)
        return;
    FUZZ_ASSERT(fuzz_printable(s, (ssize_t) strlen(s)));
    if (max > 0)
        FUZZ_ASSERT((ssize_t) strlen(s) <= max + 3);
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part in = { (const char *) data, size }, parts[5];
    unsigned flags = fuzz_byte(&in);
    int np = fuzz_split((const uint8_t *) in.p, in.n, parts, 5);
    struct dns_resolver *r = dns_fixture_new();
    struct spf_request req;
    struct spf_options opts;
    struct spf_result res;
    str from = STR_INIT, rs = STR_INIT;
    char *local = np > 4 ? fuzz_cstr(&parts[4]) : NULL;

    dns_set_timeout(r, 1000);
    fixed_zone(r);
    for (int k = 0; k < np && k < 4; k++) {
        const struct fuzz_part *p = &parts[k];
        const char *s = p->p, *end = p->p + p->n;

        /* One TXT record per line of the part. */
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t) (end - s));
            size_t l = nl ? (size_t) (nl - s) : (size_t) (end - s);

            if (l <= DNS_MAX_TXT_LEN)
                dns_fixture_add_txt(r, txt_names[k], s, (ssize_t) l);
            s += l + (nl != NULL);
        }
    }

    memset(&req, 0, sizeof(req));
    FUZZ_ASSERT(spf_request_set_ip(&req, flags & 1 ? "2001:db8::10" : "192.0.2.10") == 0);
    req.helo = "a.example.org";
    if (!(flags & 2))
        str_addf(&from, "%s@example.org", local && (flags & 0x10) ? local : "user");
    req.mail_from = str_cstr(&from);
    req.receiver = "mx.example.net";
    spf_options_init(&opts);
    opts.timeout_ms = 2000;
    opts.max_explanation_size = 200;
    if (flags & 8)
        opts.default_explanation = "See https://example.net/why?d=%{d}&ip=%{i}&s=%{S}";

    if (flags & 4)
        (void) spf_check_helo(r, &req, &opts, &res);
    else
        (void) spf_check_mailfrom(r, &req, &opts, &res);
    FUZZ_ASSERT(res.status >= SPF_STATUS_NONE && res.status <= SPF_STATUS_PERMERROR);
    FUZZ_ASSERT(spf_status_name(res.status) != NULL);
    FUZZ_ASSERT(res.explanation == NULL || res.status == SPF_STATUS_FAIL);
    check_text(res.explanation, opts.max_explanation_size);
    if (res.status == SPF_STATUS_TEMPERROR || res.status == SPF_STATUS_PERMERROR)
        FUZZ_ASSERT(res.problem != NULL);
    FUZZ_ASSERT(res.dns_lookups >= 0 && res.void_lookups >= 0);
    spf_received_spf(&rs, &req, &res);
    /* Printable ASCII, folded only as "\n\t". */
    for (ssize_t i = 0; i < rs.len; i++) {
        int fold = (rs.data[i] == '\n' && i + 1 < rs.len && rs.data[i + 1] == '\t')
                   || (rs.data[i] == '\t' && i > 0 && rs.data[i - 1] == '\n');

        FUZZ_ASSERT(fuzz_printable(rs.data + i, 1) || fold);
    }
    spf_result_free(&res);
    dns_resolver_free(r);
    str_free(&from);
    str_free(&rs);
    free(local);
    return 0;
}
