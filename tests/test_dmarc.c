/*
 * test_dmarc.c - DMARC evaluation against the DNS fixture: a table of
 * messages (From fields, SPF and DKIM results, DNS data, options) with the
 * expected status, policy, disposition and alignment, covering RFC 9989
 * (tree walk, psd, np, sp, t, strict/relaxed alignment, DNS errors), RFC
 * 7489 mode (PSL, sp, pct sampling), bad records and bad From fields; then
 * the limits, the aggregate-report line and the header-list entry point.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dmarc.h"
#include "dns.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

#define T DNS_T_TXT
#define MAX_RECS 12

struct rec { const char *name; uint16_t type; const char *data; };
struct dfail { const char *name; uint16_t type; enum dns_status status; int timeout; };
struct sig { const char *d; enum dmarc_dkim_result r; };

struct dcase {
    const char *name;
    int rfc7489;
    const char *from[3];             /* From field values, NULL-terminated */
    const char *mailfrom;
    enum dmarc_spf_result spf;
    const char *helo;
    enum dmarc_spf_result helo_spf;
    struct sig dkim[5];              /* terminated by d == NULL */
    struct rec dns[MAX_RECS];        /* terminated by name == NULL */
    struct dfail fail[3];
    uint32_t rnd;                    /* the random source's value (pct) */
    int multi;                       /* evaluate several Author Domains */
    int max_lookups, max_dkim, timeout_ms, no_prefetch;
    /* expected */
    enum dmarc_status status;
    enum dmarc_policy policy;
    enum dmarc_policy_tag tag;
    enum dmarc_policy disposition;
    int spf_aligned, dkim_aligned;
    const char *policy_domain;       /* NULL: not checked */
    const char *org;                 /* NULL: not checked */
    enum dmarc_from_problem fromp;
    const char *reason;              /* a substring of the reason, NULL: not checked */
    int queries;                     /* DNS queries asked, 0: not checked */
};

#define PASS_SPF(d) .mailfrom = d, .spf = DMARC_SPF_PASS
#define REJ DMARC_POLICY_REJECT
#define QUA DMARC_POLICY_QUARANTINE
#define NON DMARC_POLICY_NONE

static const struct dcase cases[] = {
    /* ---------------------------------------------------- RFC 9989: pass / fail */
    { .name = "pass through aligned SPF only", .from = { "a@example.com" }, PASS_SPF("bounce.example.com"),
      .dkim = { { "other.example.net", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .spf_aligned = 1,
      .policy_domain = "example.com", .org = "example.com" },
    { .name = "pass through aligned DKIM only", .from = { "a@example.com" }, PASS_SPF("other.example.net"),
      .dkim = { { "other.example.net", DMARC_DKIM_PASS }, { "mail.example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .dkim_aligned = 1 },
    { .name = "fail with p=reject", .from = { "a@example.com" }, PASS_SPF("other.example.net"),
      .dkim = { { "other.example.net", DMARC_DKIM_PASS }, { "example.com", DMARC_DKIM_FAIL } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ,
      .policy_domain = "example.com", .org = "example.com" },
    { .name = "fail with p=quarantine", .from = { "a@example.com" }, .mailfrom = "example.com",
      .spf = DMARC_SPF_FAIL, .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=quarantine" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = QUA },
    { .name = "fail with p=none", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=none" } },
      .status = DMARC_FAIL, .policy = NON, .tag = DMARC_TAG_P, .disposition = NON },
    { .name = "SPF softfail does not count", .from = { "a@example.com" }, .mailfrom = "example.com",
      .spf = DMARC_SPF_SOFTFAIL, .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "null sender: the HELO identity", .from = { "a@example.com" }, .mailfrom = "",
      .helo = "mx.example.com", .helo_spf = DMARC_SPF_PASS,
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .spf_aligned = 1 },
    { .name = "t=y: reject becomes quarantine", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; t=y" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = QUA, .reason = "t=y" },
    { .name = "t=y: quarantine becomes none", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=quarantine; t=Y" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = NON },
    { .name = "t=n applies the policy", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; t=n" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    /* ---------------------------------------------------- sp / np */
    { .name = "np=reject for a non-existent subdomain", .from = { "a@nosuch.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=none; sp=quarantine; np=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_NP, .disposition = REJ,
      .policy_domain = "example.com", .org = "example.com" },
    { .name = "np: an existing subdomain gets sp", .from = { "a@mail.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=none; sp=quarantine; np=reject" },
               { "mail.example.com", DNS_T_A, "192.0.2.1" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_SP, .disposition = QUA },
    { .name = "np: a subdomain with only MX exists", .from = { "a@mail.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=quarantine; np=reject" },
               { "mail.example.com", DNS_T_MX, "10 mx.example.com" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = QUA },
    { .name = "np: existence unknown is a temperror", .from = { "a@nosuch.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=none; np=reject" } },
      .fail = { { "nosuch.example.com", DNS_T_A, DNS_TEMPFAIL, 0 },
                { "nosuch.example.com", DNS_T_AAAA, DNS_TEMPFAIL, 0 },
                { "nosuch.example.com", DNS_T_MX, DNS_TEMPFAIL, 0 } },
      .status = DMARC_TEMPERROR, .policy = NON, .tag = DMARC_TAG_P, .reason = "exists" },
    { .name = "np does not apply to the domain itself", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=quarantine; np=reject" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = QUA },
    { .name = "sp= for a subdomain", .from = { "a@sub.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=none; sp=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_SP, .disposition = REJ },
    { .name = "no sp: p applies to a subdomain", .from = { "a@sub.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=quarantine" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = QUA },
    { .name = "sp is not used at the domain's own record", .from = { "a@sub.example.com" },
      .dns = { { "_dmarc.sub.example.com", T, "v=DMARC1; p=none; sp=reject" } },
      .status = DMARC_FAIL, .policy = NON, .tag = DMARC_TAG_P, .disposition = NON,
      .policy_domain = "sub.example.com", .org = "sub.example.com" },
    /* ---------------------------------------------------- tree walk and psd */
    { .name = "policy found by the tree walk several labels up", .from = { "a@x.y.z.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ,
      .policy_domain = "example.com", .org = "example.com", .queries = 5 },
    { .name = "long name: at most 8 queries, intermediate names skipped",
      .from = { "a@a.b.c.d.e.f.g.h.i.j.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" },
               { "_dmarc.c.d.e.f.g.h.i.j.example.com", T, "v=DMARC1; p=none" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ,
      .policy_domain = "example.com", .org = "example.com", .queries = 8 },
    { .name = "long name, sequential walk: 8 queries too", .no_prefetch = 1,
      .from = { "a@a.b.c.d.e.f.g.h.i.j.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ, .queries = 8 },
    { .name = "records at two levels: the shortest is the org domain", .from = { "a@a.mail.example.com" },
      .dns = { { "_dmarc.mail.example.com", T, "v=DMARC1; p=none" },
               { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ,
      .policy_domain = "example.com", .org = "example.com" },
    { .name = "psd=n stops the walk", .from = { "a@a.mail.example.com" },
      .dkim = { { "example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.mail.example.com", T, "v=DMARC1; p=quarantine; psd=n" },
               { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = QUA,
      .policy_domain = "mail.example.com", .org = "mail.example.com" },
    { .name = "psd=y at a public-suffix-like parent", .from = { "a@mail.giant.bank.example" },
      PASS_SPF("mega.bank.example"),
      .dns = { { "_dmarc.bank.example", T, "v=DMARC1; p=reject; psd=y" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ,
      .policy_domain = "bank.example", .org = "giant.bank.example" },
    { .name = "psd=y: the PSD's sp applies below it", .from = { "a@mail.giant.bank.example" },
      .dns = { { "_dmarc.bank.example", T, "v=DMARC1; p=none; sp=quarantine; psd=y" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_SP, .disposition = QUA,
      .policy_domain = "bank.example", .org = "giant.bank.example" },
    { .name = "RFC 9989 B.4.3: psd=y example", .from = { "a@giant.bank.example" },
      PASS_SPF("mail.giant.bank.example"), .dkim = { { "mail.mega.bank.example", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.giant.bank.example", T, "v=DMARC1; p=reject" },
               { "_dmarc.bank.example", T, "v=DMARC1; p=reject; psd=y" } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .spf_aligned = 1,
      .policy_domain = "giant.bank.example", .org = "giant.bank.example" },
    { .name = "without psd=y the shortest record is the org domain", .from = { "a@giant.bank.example" },
      .dkim = { { "mail.mega.bank.example", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.giant.bank.example", T, "v=DMARC1; p=reject" },
               { "_dmarc.bank.example", T, "v=DMARC1; p=reject" } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .dkim_aligned = 1,
      .org = "bank.example" },
    /* ---------------------------------------------------- alignment modes */
    { .name = "strict DKIM alignment fails where relaxed passes", .from = { "a@example.com" },
      .dkim = { { "mail.example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; adkim=s" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "strict SPF alignment fails where relaxed passes", .from = { "a@example.com" },
      PASS_SPF("bounce.example.com"), .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; aspf=s" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "strict alignment is case-insensitive", .from = { "a@Example.COM" },
      .dkim = { { "EXAMPLE.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; adkim=s; aspf=s" } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .dkim_aligned = 1 },
    { .name = "relaxed: a sibling with its own psd=n org is not aligned", .from = { "a@example.com" },
      .dkim = { { "shop.example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" },
               { "_dmarc.shop.example.com", T, "v=DMARC1; p=none; psd=n" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "U-label From domain is looked up as A-label", .from = { "a@b\xc3\xbc" "cher.example" },
      .dns = { { "_dmarc.xn--bcher-kva.example", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ,
      .policy_domain = "xn--bcher-kva.example" },
    { .name = "U-labels: CJK label and mixed ASCII", .from = { "a@\xe4\xbe\x8b\xe3\x81\x88.M\xc3\xbcnchen.example" },
      PASS_SPF("xn--r8jz45g.xn--mnchen-3ya.example"),
      .dns = { { "_dmarc.xn--r8jz45g.xn--mnchen-3ya.example", T, "v=DMARC1; p=reject; aspf=s" } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .spf_aligned = 1 },
    /* ---------------------------------------------------- DNS errors */
    { .name = "tempfail at _dmarc.<from> is a temperror", .from = { "a@example.com" },
      .fail = { { "_dmarc.example.com", T, DNS_TEMPFAIL, 0 } },
      .status = DMARC_TEMPERROR, .reason = "_dmarc.example.com" },
    { .name = "timeout at _dmarc.<from> is a temperror", .from = { "a@example.com" }, .timeout_ms = 100,
      .fail = { { "_dmarc.example.com", T, DNS_TEMPFAIL, 1 } },
      .status = DMARC_TEMPERROR, .reason = "timeout" },
    { .name = "tempfail higher in the walk is a temperror", .from = { "a@sub.example.com" },
      .fail = { { "_dmarc.example.com", T, DNS_TEMPFAIL, 0 } },
      .status = DMARC_TEMPERROR },
    { .name = "tempfail above the author's own record does not matter", .from = { "a@example.com" },
      PASS_SPF("example.com"), .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .fail = { { "_dmarc.com", T, DNS_TEMPFAIL, 0 } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .spf_aligned = 1 },
    { .name = "tempfail above the author's record: relaxed alignment unknown", .from = { "a@example.com" },
      PASS_SPF("bounce.example.com"), .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .fail = { { "_dmarc.com", T, DNS_TEMPFAIL, 0 } },
      .status = DMARC_TEMPERROR, .policy = REJ, .tag = DMARC_TAG_P },
    { .name = "malformed answer is a permerror", .from = { "a@example.com" },
      .fail = { { "_dmarc.example.com", T, DNS_BADANSWER, 0 } },
      .status = DMARC_PERMERROR },
    { .name = "alignment walk tempfail without another pass: temperror", .from = { "a@example.com" },
      .dkim = { { "mail.example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .fail = { { "_dmarc.mail.example.com", T, DNS_TEMPFAIL, 0 } },
      .status = DMARC_TEMPERROR, .policy = REJ, .tag = DMARC_TAG_P },
    { .name = "alignment walk tempfail with aligned SPF: pass", .from = { "a@example.com" },
      PASS_SPF("example.com"), .dkim = { { "mail.example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .fail = { { "_dmarc.mail.example.com", T, DNS_TEMPFAIL, 0 } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .spf_aligned = 1 },
    { .name = "DKIM temperror on an aligned domain: temperror", .from = { "a@example.com" },
      .dkim = { { "example.com", DMARC_DKIM_TEMPERROR } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_TEMPERROR, .policy = REJ, .tag = DMARC_TAG_P },
    { .name = "SPF temperror on an unrelated domain: fail", .from = { "a@example.com" },
      .mailfrom = "other.example.net", .spf = DMARC_SPF_TEMPERROR,
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    /* ---------------------------------------------------- bad records */
    { .name = "no record: none", .from = { "a@example.com" }, .status = DMARC_NONE, .reason = "no DMARC" },
    { .name = "syntax errors in the record are ignored", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1;p=reject; adkim=x; junk; =bad; aspf; 9x=1; p=none;;" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "unknown tags are ignored", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; foo=bar; p=quarantine; xyz=1; rf=afrf; ri=3600" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = QUA },
    { .name = "white space around tags and values", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "  v = DMARC1 ;\tp = Reject ; sp=none ;" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "several records at one name are discarded: none", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" },
               { "_dmarc.example.com", T, "v=DMARC1; p=none" } },
      .status = DMARC_NONE, .reason = "several" },
    { .name = "several records at the author: the walk goes on", .from = { "a@sub.example.com" },
      .dns = { { "_dmarc.sub.example.com", T, "v=DMARC1; p=none" },
               { "_dmarc.sub.example.com", T, "v=DMARC1; p=none" },
               { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ,
      .policy_domain = "example.com" },
    { .name = "other TXT records next to the record", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=spf1 -all" }, { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "invalid p and rua junk: permerror", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=bogus; rua=junk" } },
      .status = DMARC_PERMERROR, .reason = "invalid p=" },
    { .name = "invalid p with a valid rua: p=none", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=bogus; rua=mailto:dmarc@example.com" } },
      .status = DMARC_FAIL, .policy = NON, .tag = DMARC_TAG_P, .disposition = NON, .reason = "p=none" },
    { .name = "prefix of a policy is not a policy", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=rej" } },
      .status = DMARC_PERMERROR },
    { .name = "invalid sp without rua: permerror", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; sp=never" } },
      .status = DMARC_PERMERROR, .reason = "sp=" },
    { .name = "invalid np, rua with size and junk entries: p=none", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; np=x; rua=junk, mailto:d@example.com!10m" } },
      .status = DMARC_FAIL, .policy = NON, .tag = DMARC_TAG_P, .disposition = NON },
    { .name = "rua junk only: ignored when p is valid", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; rua=mailto:, :x, %zz, ,,, http" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "v=DMARC1 not first: not a record", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "p=reject; v=DMARC1" } }, .status = DMARC_NONE },
    { .name = "v=DMARC1 glued to a tag: not a record", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1p=reject" } }, .status = DMARC_NONE },
    { .name = "version is case-sensitive", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=dmarc1; p=reject" } }, .status = DMARC_NONE },
    { .name = "no p (RFC 9989): p=none", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1" } },
      .status = DMARC_FAIL, .policy = NON, .tag = DMARC_TAG_P, .disposition = NON },
    { .name = "pct is ignored in RFC 9989", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; pct=0" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "8-bit bytes in a value are a syntax error of that tag", .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; adkim=\xc3\xa9; rua=mailto:\xff@x.example" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    /* ---------------------------------------------------- RFC 7489 mode */
    { .name = "7489: pct=0 lowers the disposition", .rfc7489 = 1, .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; pct=0" } }, .rnd = 0,
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = QUA, .reason = "pct" },
    { .name = "7489: pct=50, drawn in", .rfc7489 = 1, .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; pct=50" } }, .rnd = 210,
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "7489: pct=50, drawn out", .rfc7489 = 1, .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=quarantine; pct=50" } }, .rnd = 270,
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = NON },
    { .name = "7489: bad pct means 100", .rfc7489 = 1, .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; pct=abc" } }, .rnd = 99,
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "7489: org domain record and sp", .rfc7489 = 1, .from = { "a@mail.example.co.uk" },
      .dns = { { "_dmarc.example.co.uk", T, "v=DMARC1; p=reject; sp=quarantine" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_SP, .disposition = QUA,
      .policy_domain = "example.co.uk", .org = "example.co.uk", .queries = 2 },
    { .name = "7489: np and t are not tags", .rfc7489 = 1, .from = { "a@nosuch.example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; np=none; t=y" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "7489: no p and no rua: permerror", .rfc7489 = 1, .from = { "a@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; sp=none" } },
      .status = DMARC_PERMERROR, .reason = "no p=" },
    { .name = "7489: relaxed alignment by the PSL", .rfc7489 = 1, .from = { "a@example.co.uk" },
      .dkim = { { "mail.example.co.uk", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.co.uk", T, "v=DMARC1; p=reject" } },
      .status = DMARC_PASS, .policy = REJ, .tag = DMARC_TAG_P, .disposition = NON, .dkim_aligned = 1 },
    { .name = "7489: no org alignment across a public suffix", .rfc7489 = 1, .from = { "a@example.co.uk" },
      .dkim = { { "other.co.uk", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.co.uk", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "7489: strict alignment", .rfc7489 = 1, .from = { "a@example.com" },
      .dkim = { { "mail.example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject; adkim=s" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "7489: no walk between the author and the org domain", .rfc7489 = 1,
      .from = { "a@a.b.example.com" }, .dns = { { "_dmarc.b.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_NONE, .queries = 2 },
    { .name = "7489: tempfail at the org domain", .rfc7489 = 1, .from = { "a@a.example.com" },
      .fail = { { "_dmarc.example.com", T, DNS_TEMPFAIL, 0 } }, .status = DMARC_TEMPERROR },
    /* ---------------------------------------------------- From fields */
    { .name = "two From fields", .from = { "a@example.com", "b@example.com" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_MULTIPLE_FIELDS, .reason = "2 From" },
    { .name = "one From with two domains", .from = { "a@example.com, b@example.org" },
      .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_MULTIPLE_DOMAINS },
    { .name = "one From with two addresses in one domain", .from = { "a@example.com, B <b@EXAMPLE.com>" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ },
    { .name = "missing From", .from = { NULL }, .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_MISSING },
    { .name = "From without a domain", .from = { "Someone <someone>" },
      .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_NO_DOMAIN },
    { .name = "From with 8-bit junk", .from = { "a@ex\xff" "ample.com" },
      .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_SYNTAX, .reason = "UTF-8" },
    { .name = "From with an empty group", .from = { "undisclosed-recipients:;" },
      .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_NO_ADDRESS },
    { .name = "From with a domain literal", .from = { "a@[192.0.2.1]" },
      .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_BAD_DOMAIN },
    { .name = "From domain not a DNS name", .from = { "a@exa$mple.com" },
      .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_BAD_DOMAIN },
    { .name = "evaluate several domains: the strictest fail wins", .multi = 1,
      .from = { "a@example.com, b@example.org" },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=none" }, { "_dmarc.example.org", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ,
      .policy_domain = "example.org", .reason = "2 Author Domains" },
    { .name = "evaluate several domains: pass only if all pass", .multi = 1,
      .from = { "a@example.com, b@example.org" }, .dkim = { { "example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" }, { "_dmarc.example.org", T, "v=DMARC1; p=quarantine" } },
      .status = DMARC_FAIL, .policy = QUA, .tag = DMARC_TAG_P, .disposition = QUA },
    { .name = "evaluate several domains: too many", .multi = 1,
      .from = { "a@a.example, b@b.example, c@c.example, d@d.example, e@e.example" },
      .status = DMARC_BAD_FROM, .fromp = DMARC_FROM_MULTIPLE_DOMAINS },
    /* ---------------------------------------------------- limits */
    { .name = "lookup limit: permerror, never a fail", .max_lookups = 8, .from = { "a@example.com" },
      .dkim = { { "x1.a.b.c.example.com", DMARC_DKIM_PASS }, { "x2.a.b.c.example.com", DMARC_DKIM_PASS },
                { "x3.a.b.c.example.com", DMARC_DKIM_PASS }, { "x4.a.b.c.example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" },
               { "_dmarc.c.example.com", T, "v=DMARC1; p=none; psd=n" } },
      .status = DMARC_PERMERROR, .policy = REJ, .tag = DMARC_TAG_P, .reason = "too many", .queries = 8 },
    { .name = "unrelated DKIM domains cost no lookups", .max_lookups = 8, .from = { "a@example.com" },
      .dkim = { { "a.b.c.d.e.f.one.example", DMARC_DKIM_PASS }, { "a.b.c.d.e.f.two.example", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ, .queries = 2 },
    { .name = "max_dkim_signatures: later signatures ignored", .max_dkim = 1, .from = { "a@example.com" },
      .dkim = { { "other.example.net", DMARC_DKIM_PASS }, { "example.com", DMARC_DKIM_PASS } },
      .dns = { { "_dmarc.example.com", T, "v=DMARC1; p=reject" } },
      .status = DMARC_FAIL, .policy = REJ, .tag = DMARC_TAG_P, .disposition = REJ, .reason = "first 1 of 2" },
};

static const char *psl_path(void)
{
    static char path[4096];
    const char *top = getenv("top_srcdir");

    snprintf(path, sizeof(path), "%s/tests/dmarc/public_suffix_list.dat", top ? top : ".");
    return path;
}

static uint32_t fixed_random(void *arg)
{
    return *(const uint32_t *) arg;
}

static struct dmarc_engine *new_engine(int rfc7489, const struct dcase *c)
{
    struct dmarc_options o;
    struct dmarc_engine *e;
    str err = STR_INIT;

    dmarc_options_default(&o);
    if (rfc7489) {
        o.spec = DMARC_SPEC_RFC7489;
        o.psl_file = psl_path();
    }
    if (c) {
        o.random = fixed_random;
        o.random_arg = (void *) &c->rnd;
        o.evaluate_multiple_domains = c->multi;
        if (c->max_lookups)
            o.max_lookups = c->max_lookups;
        if (c->max_dkim)
            o.max_dkim_signatures = c->max_dkim;
        if (c->timeout_ms)
            o.timeout_ms = c->timeout_ms;
        if (c->no_prefetch)
            o.prefetch = 0;
    }
    e = dmarc_engine_new(&o, &err);
    if (!e)
        fail_msg("engine: %s", err.data);
    str_free(&err);
    return e;
}

/* Run one case, filling res; returns the fixture's query count. */
static int run_case(const struct dcase *c, struct dmarc_result *res)
{
    struct dmarc_engine *e = new_engine(c->rfc7489, c);
    struct dns_resolver *r = dns_fixture_new();
    struct dmarc_dkim_input dk[5];
    struct dmarc_auth auth;
    const char *values[3];
    ssize_t lens[3];
    struct dmarc_eval *ev;
    int n = 0, nd = 0, queries;

    for (int k = 0; k < MAX_RECS && c->dns[k].name; k++)
        if (c->dns[k].type == DNS_T_TXT)
            dns_fixture_add_txt(r, c->dns[k].name, c->dns[k].data, (ssize_t) strlen(c->dns[k].data));
        else
            assert_int_equal(dns_fixture_add(r, c->dns[k].name, c->dns[k].type, c->dns[k].data), 0);
    for (int k = 0; k < 3 && c->fail[k].name; k++)
        dns_fixture_fail(r, c->fail[k].name, c->fail[k].type, c->fail[k].status, c->fail[k].timeout);
    while (n < 3 && c->from[n]) {
        values[n] = c->from[n];
        lens[n] = (ssize_t) strlen(c->from[n]);
        n++;
    }
    memset(&auth, 0, sizeof(auth));
    auth.mailfrom.domain = c->mailfrom;
    auth.mailfrom.result = c->spf;
    auth.helo.domain = c->helo;
    auth.helo.result = c->helo_spf;
    while (nd < 5 && c->dkim[nd].d) {
        dk[nd].domain = c->dkim[nd].d;
        dk[nd].selector = "sel";
        dk[nd].result = c->dkim[nd].r;
        nd++;
    }
    auth.dkim = dk;
    auth.n_dkim = nd;
    ev = dmarc_begin(e, r, values, lens, n);
    dmarc_finish(ev, &auth, res);
    queries = dns_fixture_queries(r);
    dmarc_eval_free(ev);
    dns_resolver_free(r);
    dmarc_engine_free(e);
    return queries;
}

/* Every row of the table. */
static void test_table(void **state)
{
    int failures = 0;

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct dcase *c = &cases[i];
        struct dmarc_result res;
        int queries, bad = 0;

        dmarc_result_init(&res);
        queries = run_case(c, &res);
        bad |= res.status != c->status;
        bad |= res.status != DMARC_BAD_FROM && c->status != DMARC_NONE && c->status != DMARC_PERMERROR
               && c->status != DMARC_TEMPERROR && (res.policy != c->policy || res.policy_tag != c->tag);
        bad |= (c->status == DMARC_TEMPERROR || c->status == DMARC_PERMERROR) && c->policy != DMARC_POLICY_UNSET
               && (res.policy != c->policy || res.policy_tag != c->tag);
        bad |= (c->status == DMARC_FAIL || c->status == DMARC_PASS) && res.disposition != c->disposition;
        bad |= res.spf_aligned != c->spf_aligned || res.dkim_aligned != c->dkim_aligned;
        bad |= c->policy_domain && strcmp(res.policy_domain.len ? res.policy_domain.data : "", c->policy_domain) != 0;
        bad |= c->org && strcmp(res.org_domain.len ? res.org_domain.data : "", c->org) != 0;
        bad |= res.from_problem != c->fromp;
        bad |= c->reason && (!res.reason.data || !strstr(res.reason.data, c->reason));
        bad |= c->queries && queries != c->queries;
        bad |= res.reason.len == 0;
        if (getenv("DMARC_TEST_VERBOSE")) {
            str line = STR_INIT;

            dmarc_report_line(&res, 0, "192.0.2.1", &line);
            print_message("%s: queries=%d\n  %s\n", c->name, queries, line.data);
            str_free(&line);
        }
        if (bad) {
            failures++;
            print_error("case \"%s\": got %s policy=%s tag=%s disposition=%s spf_aligned=%d dkim_aligned=%d "
                        "policy_domain=%s org=%s from=%s queries=%d reason=[%s]\n", c->name,
                        dmarc_status_name(res.status), dmarc_policy_name(res.policy),
                        dmarc_policy_tag_name(res.policy_tag), dmarc_policy_name(res.disposition),
                        res.spf_aligned, res.dkim_aligned, res.policy_domain.len ? res.policy_domain.data : "",
                        res.org_domain.len ? res.org_domain.data : "", dmarc_from_problem_name(res.from_problem),
                        queries, res.reason.len ? res.reason.data : "");
        }
        dmarc_result_free(&res);
    }
    assert_int_equal(failures, 0);
}

/* A record over DMARC_MAX_RECORD_LEN is a permerror; one at the limit is used. */
static void test_limit_record_length(void **state)
{
    (void) state;
    for (int over = 0; over <= 1; over++) {
        struct dmarc_engine *e = new_engine(0, NULL);
        struct dns_resolver *r = dns_fixture_new();
        str rec = STR_INIT;
        const char *from = "a@example.com";
        ssize_t flen = (ssize_t) strlen(from);
        struct dmarc_eval *ev;
        struct dmarc_result res;

        str_adds(&rec, "v=DMARC1; p=reject; rua=mailto:dmarc@example.com; x=");
        while (rec.len < DMARC_MAX_RECORD_LEN + over)
            str_addc(&rec, 'a');
        dns_fixture_add_txt(r, "_dmarc.example.com", rec.data, rec.len);
        ev = dmarc_begin(e, r, &from, &flen, 1);
        dmarc_result_init(&res);
        dmarc_finish(ev, NULL, &res);
        assert_int_equal(res.status, over ? DMARC_PERMERROR : DMARC_FAIL);
        if (over)
            assert_non_null(strstr(res.reason.data, "longer than"));
        else
            assert_int_equal(res.disposition, DMARC_POLICY_REJECT);
        dmarc_result_free(&res);
        dmarc_eval_free(ev);
        dns_resolver_free(r);
        dmarc_engine_free(e);
        str_free(&rec);
    }
}

/* Tags past DMARC_MAX_TAGS are ignored. */
static void test_limit_tags(void **state)
{
    (void) state;
    for (int extra = 0; extra <= 1; extra++) {
        struct dmarc_engine *e = new_engine(0, NULL);
        struct dns_resolver *r = dns_fixture_new();
        str rec = STR_INIT;
        const char *from = "a@example.com";
        ssize_t flen = (ssize_t) strlen(from);
        struct dmarc_eval *ev;
        struct dmarc_result res;

        str_adds(&rec, "v=DMARC1");
        for (int k = 0; k < DMARC_MAX_TAGS - 1 + extra; k++)
            str_addf(&rec, "; x%c=1", 'a' + k % 26);
        str_adds(&rec, "; p=reject");
        dns_fixture_add_txt(r, "_dmarc.example.com", rec.data, rec.len);
        ev = dmarc_begin(e, r, &from, &flen, 1);
        dmarc_result_init(&res);
        dmarc_finish(ev, NULL, &res);
        assert_int_equal(res.status, DMARC_FAIL);
        assert_int_equal(res.policy, extra ? DMARC_POLICY_NONE : DMARC_POLICY_REJECT);
        dmarc_result_free(&res);
        dmarc_eval_free(ev);
        dns_resolver_free(r);
        dmarc_engine_free(e);
        str_free(&rec);
    }
}

/* Random records (and random bytes in them) never crash the evaluation. */
static void test_random_records(void **state)
{
    static const char *const pieces[] = {
        "v=DMARC1", ";", " ", "p=", "sp=", "np=", "reject", "quarantine", "none", "psd=", "y", "n", "u",
        "t=", "adkim=", "aspf=", "s", "r", "pct=", "100", "rua=", "mailto:a@b.example", ",", "!", "=",
        "\xff", "\t", "%", "x", "V=DMARC1", "\x01",
    };
    struct dmarc_engine *e9 = new_engine(0, NULL), *e7 = new_engine(1, NULL);
    unsigned int seed = 4242;

    (void) state;
    for (int round = 0; round < 400; round++) {
        struct dns_resolver *r = dns_fixture_new();
        str rec = STR_INIT;
        const char *from = "a@x.sub.example.com";
        ssize_t flen = (ssize_t) strlen(from);
        struct dmarc_dkim_input dk = { "y.example.com", "s", DMARC_DKIM_PASS };
        struct dmarc_auth auth;
        struct dmarc_eval *ev;
        struct dmarc_result res;
        int n;

        seed = seed * 1103515245u + 12345u;
        n = (int) ((seed >> 16) % 24);
        str_adds(&rec, (seed >> 8) % 4 ? "v=DMARC1" : "");
        for (int k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            str_adds(&rec, pieces[(seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]))]);
        }
        dns_fixture_add_txt(r, round % 2 ? "_dmarc.example.com" : "_dmarc.x.sub.example.com", rec.data, rec.len);
        dns_fixture_add_txt(r, "_dmarc.sub.example.com", rec.data, rec.len);
        memset(&auth, 0, sizeof(auth));
        auth.dkim = &dk;
        auth.n_dkim = 1;
        ev = dmarc_begin(round % 3 ? e9 : e7, r, &from, &flen, 1);
        dmarc_result_init(&res);
        dmarc_finish(ev, &auth, &res);
        assert_true(res.status <= DMARC_PERMERROR);
        assert_true(res.reason.len > 0);
        dmarc_result_free(&res);
        dmarc_eval_free(ev);
        dns_resolver_free(r);
        str_free(&rec);
    }
    dmarc_engine_free(e9);
    dmarc_engine_free(e7);
}

/* The aggregate-report line of a known case. */
static void test_report_line(void **state)
{
    const struct dcase *c = NULL;
    struct dmarc_result res;
    str line = STR_INIT;
    const char *want = "v=1 time=1700000000 ip=192.0.2.7 from=example.com result=fail policy_domain=example.com "
                       "org=example.com p=reject sp=- np=- adkim=r aspf=r t=n pct=- policy=reject policy_tag=p "
                       "disposition=reject sampled_out=n spf=other.example.net/pass/mfrom spf_aligned=n "
                       "dkim=other.example.net/sel/pass/n,example.com/sel/fail/n dkim_aligned=n reason=";

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (strcmp(cases[i].name, "fail with p=reject") == 0)
            c = &cases[i];
    assert_non_null(c);
    dmarc_result_init(&res);
    run_case(c, &res);
    dmarc_report_line(&res, 1700000000, "192.0.2.7", &line);
    if (strncmp(line.data, want, strlen(want)) != 0)
        fail_msg("report line\n got: %s\nwant: %s...", line.data, want);
    /* one line, values never hold a space or a newline */
    assert_null(strchr(line.data, '\n'));
    assert_int_equal(strchr(line.data + strlen(want), ' ') == NULL, 1);
    dmarc_result_free(&res);

    /* A bad From still gives a line. */
    str_reset(&line);
    dmarc_result_init(&res);
    {
        struct dmarc_engine *e = new_engine(0, NULL);
        struct dns_resolver *r = dns_fixture_new();
        struct dmarc_eval *ev = dmarc_begin(e, r, NULL, NULL, 0);

        dmarc_finish(ev, NULL, &res);
        dmarc_report_line(&res, 5, NULL, &line);
        assert_non_null(strstr(line.data, " ip=- from=- result=bad_from "));
        assert_non_null(strstr(line.data, " reason=no%20From%20header%20field"));
        dmarc_eval_free(ev);
        dns_resolver_free(r);
        dmarc_engine_free(e);
    }
    dmarc_result_free(&res);
    str_free(&line);
}

/* From fields taken from a header list, and an unfinished evaluation freed. */
static void test_headers_entry(void **state)
{
    struct msg_headers hs;
    struct dmarc_engine *e = new_engine(0, NULL);
    struct dns_resolver *r = dns_fixture_new();
    struct dmarc_eval *ev;
    struct dmarc_result res;
    struct dmarc_dkim_input dk = { "example.com", "s1", DMARC_DKIM_PASS };
    struct dmarc_auth auth;

    (void) state;
    memset(&auth, 0, sizeof(auth));
    auth.dkim = &dk;
    auth.n_dkim = 1;
    dns_fixture_add_txt(r, "_dmarc.example.com", "v=DMARC1; p=reject", 18);
    msg_headers_init(&hs);
    msg_headers_add(&hs, "Subject", " hi", 3);
    msg_headers_add(&hs, "from", " \"A\" <a@example.com>", 20);
    ev = dmarc_begin_headers(e, r, &hs);
    dmarc_result_init(&res);
    assert_int_equal(dmarc_finish(ev, &auth, &res), DMARC_PASS);
    assert_string_equal(res.header_from.data, "example.com");
    assert_int_equal(res.dkim_aligned, 1);
    assert_int_equal(res.dkim[0].aligned, 1);
    assert_int_equal(res.disposition, DMARC_POLICY_NONE);
    assert_int_equal(res.effective, DMARC_POLICY_REJECT);     /* policy.dmarc=reject */
    dmarc_result_free(&res);
    dmarc_eval_free(ev);

    /* Begun, never finished: its queries are released. */
    msg_headers_add(&hs, "From", " b@example.org", 14);
    ev = dmarc_begin_headers(e, r, &hs);
    dmarc_eval_free(ev);
    ev = dmarc_begin(e, r, (const char *const[]) { "x@a.b.c.example.net" }, (const ssize_t[]) { 19 }, 1);
    dmarc_eval_free(ev);
    msg_headers_free(&hs);
    dns_resolver_free(r);
    dmarc_engine_free(e);
}

/* RFC 7489 Organizational Domains from the PSL, and engine errors. */
static void test_psl_and_engine(void **state)
{
    static const struct { const char *in, *org; } orgs[] = {
        { "mail.example.co.uk", "example.co.uk" },
        { "A.B.Example.ORG", "example.org" },
        { "foo.github.io", "foo.github.io" },
        { "x.foo.github.io", "foo.github.io" },
        { "city.kawasaki.jp", "city.kawasaki.jp" },
        { "a.b.unlisted-tld", "b.unlisted-tld" },
        { "com", "com" },
        { "co.uk", "co.uk" },
    };
    struct dmarc_engine *e = new_engine(1, NULL), *e9;
    struct dmarc_options o;
    str out = STR_INIT, err = STR_INIT;
    enum dmarc_spec spec;

    (void) state;
    for (size_t i = 0; i < sizeof(orgs) / sizeof(orgs[0]); i++) {
        str_reset(&out);
        assert_int_equal(dmarc_psl_org_domain(e, orgs[i].in, &out), 0);
        if (strcmp(out.data, orgs[i].org) != 0)
            fail_msg("org(%s) = %s, want %s", orgs[i].in, out.data, orgs[i].org);
    }
    assert_int_equal(dmarc_psl_org_domain(e, "bad..name", &out), -1);
    e9 = new_engine(0, NULL);
    assert_int_equal(dmarc_psl_org_domain(e9, "example.com", &out), -1);
    dmarc_engine_free(e9);
    dmarc_engine_free(e);

    dmarc_options_default(&o);
    o.spec = DMARC_SPEC_RFC7489;
    o.psl_file = "/nonexistent/psl.dat";
    assert_null(dmarc_engine_new(&o, &err));
    assert_non_null(strstr(err.data, "/nonexistent/psl.dat"));
    str_reset(&err);
    dmarc_options_default(&o);
    o.max_lookups = 7;
    assert_null(dmarc_engine_new(&o, &err));
    assert_true(err.len > 0);

    assert_int_equal(dmarc_spec_from_name("RFC9989", &spec), 0);
    assert_int_equal(spec, DMARC_SPEC_RFC9989);
    assert_int_equal(dmarc_spec_from_name("rfc7489", &spec), 0);
    assert_int_equal(spec, DMARC_SPEC_RFC7489);
    assert_int_equal(dmarc_spec_from_name("dmarcbis", &spec), -1);
    assert_string_equal(dmarc_status_name(DMARC_BAD_FROM), "bad_from");
    assert_string_equal(dmarc_policy_name(DMARC_POLICY_UNSET), "-");
    str_free(&out);
    str_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_limit_record_length),
        cmocka_unit_test(test_limit_tags),
        cmocka_unit_test(test_random_records),
        cmocka_unit_test(test_report_line),
        cmocka_unit_test(test_headers_entry),
        cmocka_unit_test(test_psl_and_engine),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
