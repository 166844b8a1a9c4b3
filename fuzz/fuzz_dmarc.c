/*
 * fuzz_dmarc.c - a whole DMARC evaluation (dmarc_begin, dmarc_finish)
 * against fixture DNS whose _dmarc records are the input: From parsing,
 * record validation and tag parsing, the DNS Tree Walk (RFC 9989) or the
 * Public Suffix List (RFC 7489), alignment, policy selection, and the
 * aggregate-report line.
 *
 * Parts ("%%" lines between them): 0 the From field value; 1, 2, 3 the TXT
 * records (one per line) of _dmarc.example.com, _dmarc.sub.example.com and
 * _dmarc.com; 4 the rest: byte 0 flags (RFC 7489, two From fields, none,
 * null MAIL FROM, no selectors, SERVFAIL at _dmarc.example.com, several
 * Author Domains evaluated), byte 1 the SPF result, byte 2 the SPF domain,
 * then two bytes per DKIM signature (domain, result). The RFC 7489 engine
 * uses the Public Suffix List in $RAMPART_FUZZ_PSL or Debian's.
 * Checked: the result is consistent (a pass is aligned, a bad From names
 * its problem, a disposition only for a fail), its texts escaped, the
 * report line is one line of encoded values, and in RFC 9989 mode the
 * conclusion is the same without prefetching.
 */
#include "config.h"

#include "dmarc.h"
#include "dns.h"
#include "fuzz.h"
#include "str.h"
#include "util.h"

static const char *const txt_names[] = { NULL, "_dmarc.example.com", "_dmarc.sub.example.com", "_dmarc.com" };
static const char *const domains[] = { "example.com", "sub.example.com", "a.sub.example.com", "other.example",
                                       "EXAMPLE.COM", "xn--bcher-kva.example.com", "", "com" };
static struct dmarc_engine *e9989, *e9989_multi, *e7489, *e9989_lazy, *e9989_multi_lazy;

static uint32_t fuzz_random_value;

/* The pct= sampling source: one value per input. */
static uint32_t fixed_random(void *arg)
{
    (void) arg;
    return fuzz_random_value;
}

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct dmarc_options o;
    const char *psl = getenv("RAMPART_FUZZ_PSL");
    str err = STR_INIT;

    (void) argc;
    (void) argv;
    fuzz_quiet();
    dmarc_options_default(&o);
    o.timeout_ms = 2000;
    o.random = fixed_random;
    e9989 = dmarc_engine_new(&o, &err);
    o.evaluate_multiple_domains = 1;
    e9989_multi = dmarc_engine_new(&o, &err);
    o.prefetch = 0;
    e9989_multi_lazy = dmarc_engine_new(&o, &err);
    o.evaluate_multiple_domains = 0;
    e9989_lazy = dmarc_engine_new(&o, &err);
    o.prefetch = 1;
    o.spec = DMARC_SPEC_RFC7489;
    o.psl_file = psl && *psl ? psl : DEF_DMARC_PSL_FILE;
    e7489 = dmarc_engine_new(&o, &err);
    if (e7489 == NULL)
        fprintf(stderr, "fuzz_dmarc: no RFC 7489 engine (%s): RFC 9989 only\n", str_cstr(&err));
    FUZZ_ASSERT(e9989 != NULL && e9989_multi != NULL && e9989_lazy != NULL && e9989_multi_lazy != NULL);
    str_free(&err);
    return 0;
}

/* Text that must have been escaped: no control bytes. */
static void check_escaped(const str *s)
{
    for (ssize_t i = 0; i < s->len; i++)
        FUZZ_ASSERT((unsigned char) s->data[i] >= 0x20 && s->data[i] != 0x7f);
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[5] = { { "", 0 }, { "", 0 }, { "", 0 }, { "", 0 }, { "", 0 } };
    int np = fuzz_split(data, size, parts, 5);
    struct fuzz_part rest = parts[4];
    unsigned flags = fuzz_byte(&rest), spf = fuzz_byte(&rest), spfdom = fuzz_byte(&rest);
    const struct dmarc_engine *eng = (flags & 0x80) ? e9989_multi : (flags & 1) && e7489 ? e7489 : e9989;
    struct dns_resolver *r = dns_fixture_new();
    struct dmarc_dkim_input dkim[16];
    const char *values[2] = { parts[0].p, parts[0].p };
    ssize_t lens[2] = { (ssize_t) parts[0].n, (ssize_t) parts[0].n };
    struct dmarc_auth auth;
    struct dmarc_result res;
    struct dmarc_eval *ev;
    enum dmarc_status st;
    str line = STR_INIT;

    fuzz_random_value = (spf << 8 | spfdom) * 2654435761u;
    dns_set_timeout(r, 1000);
    (void) dns_fixture_add(r, "example.com", DNS_T_A, "192.0.2.1");
    (void) dns_fixture_add(r, "sub.example.com", DNS_T_MX, "10 mx.example.com");
    for (int k = 1; k < np && k < 4; k++) {
        const char *s = parts[k].p, *end = parts[k].p + parts[k].n;

        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t) (end - s));
            size_t l = nl ? (size_t) (nl - s) : (size_t) (end - s);

            if (l <= DNS_MAX_TXT_LEN)
                dns_fixture_add_txt(r, txt_names[k], s, (ssize_t) l);
            s += l + (nl != NULL);
        }
    }
    if (flags & 0x20)
        dns_fixture_fail(r, "_dmarc.example.com", DNS_T_TXT, DNS_TEMPFAIL, 0);

    memset(&auth, 0, sizeof(auth));
    auth.mailfrom.result = (enum dmarc_spf_result) (spf % 7);
    auth.mailfrom.domain = (flags & 8) ? "" : domains[spfdom % NELEM(domains)];
    auth.helo.result = (enum dmarc_spf_result) ((spf >> 3) % 7);
    auth.helo.domain = domains[(spfdom >> 3) % NELEM(domains)];
    while (rest.n >= 2 && auth.n_dkim < (int) NELEM(dkim)) {
        unsigned d = fuzz_byte(&rest), result = fuzz_byte(&rest);

        dkim[auth.n_dkim].domain = domains[d % NELEM(domains)];
        dkim[auth.n_dkim].selector = (flags & 0x10) ? NULL : "sel";
        dkim[auth.n_dkim].result = (enum dmarc_dkim_result) (result % 7);
        auth.n_dkim++;
    }
    auth.dkim = dkim;

    ev = dmarc_begin(eng, r, values, lens, (flags & 4) ? 0 : (flags & 2) ? 2 : 1);
    dmarc_result_init(&res);
    st = dmarc_finish(ev, &auth, &res);
    FUZZ_ASSERT(st == res.status && st >= DMARC_NONE && st <= DMARC_BAD_FROM);
    FUZZ_ASSERT((st == DMARC_BAD_FROM) == (res.from_problem != DMARC_FROM_OK));
    if (st == DMARC_PASS)
        FUZZ_ASSERT(res.spf_aligned || res.dkim_aligned);
    if (st != DMARC_FAIL)
        FUZZ_ASSERT(res.disposition == DMARC_POLICY_UNSET || res.disposition == DMARC_POLICY_NONE);
    FUZZ_ASSERT(res.adkim == 'r' || res.adkim == 's' || st == DMARC_BAD_FROM || res.adkim == 0);
    FUZZ_ASSERT(res.lookups >= 0 && res.lookups <= DEF_DMARC_MAX_LOOKUPS);
    FUZZ_ASSERT(res.n_dkim <= auth.n_dkim);
    check_escaped(&res.reason);
    for (ssize_t i = 0; i < res.header_from.len; i++)
        FUZZ_ASSERT(!(res.header_from.data[i] >= 'A' && res.header_from.data[i] <= 'Z'));
    FUZZ_ASSERT(dmarc_status_name(st) && dmarc_policy_name(res.policy)
                && dmarc_from_problem_name(res.from_problem));
    dmarc_report_line(&res, 1700000000, "192.0.2.1", &line);
    FUZZ_ASSERT(fuzz_printable(line.data, line.len));

    /* Prefetching only changes when queries start: the same conclusion without it. */
    if (eng == e9989 || eng == e9989_multi) {
        struct dmarc_result lazy;
        struct dmarc_eval *ev2 = dmarc_begin(eng == e9989 ? e9989_lazy : e9989_multi_lazy, r, values, lens,
                                             (flags & 4) ? 0 : (flags & 2) ? 2 : 1);

        dmarc_result_init(&lazy);
        (void) dmarc_finish(ev2, &auth, &lazy);
        if (lazy.status != res.status || lazy.disposition != res.disposition || lazy.policy != res.policy
            || lazy.spf_aligned != res.spf_aligned || lazy.dkim_aligned != res.dkim_aligned)
            fprintf(stderr, "prefetch: %s %s (%s); without: %s %s (%s)\n", dmarc_status_name(res.status),
                    dmarc_policy_name(res.disposition), str_cstr(&res.reason), dmarc_status_name(lazy.status),
                    dmarc_policy_name(lazy.disposition), str_cstr(&lazy.reason));
        FUZZ_ASSERT(lazy.status == res.status && lazy.disposition == res.disposition
                    && lazy.policy == res.policy);
        FUZZ_ASSERT(lazy.spf_aligned == res.spf_aligned && lazy.dkim_aligned == res.dkim_aligned);
        dmarc_result_free(&lazy);
        dmarc_eval_free(ev2);
    }
    dmarc_result_free(&res);
    dmarc_eval_free(ev);
    dns_resolver_free(r);
    str_free(&line);
    return 0;
}
