/*
 * check_spf.c - SPF in the pipeline.
 *
 * At MAIL FROM the HELO identity and the MAIL FROM identity are evaluated
 * (lib/spf.c, on the shared resolver). The milter negotiates no reply for
 * that stage, so the lookups overlap with the rest of the SMTP dialogue.
 * At end of message each identity's result maps to an action through
 * spf_mailfrom_actions / spf_helo_actions, both failing maps to
 * spf_both_fail_action, and the results go to Authentication-Results
 * (spf=... smtp.mailfrom=... and spf=... smtp.helo=...) and, if asked, a
 * Received-SPF header. Mail from a client whose verified host name is in
 * spf_allow_forwarders is reported but never acted upon.
 *
 * Replies: fail 550 5.7.23, permerror 550 5.7.24, temperror 451 4.7.24
 * (RFC 7372), with the sender and the explanation, sanitised.
 */
#include "config.h"

#include <string.h>

#include "check.h"
#include "core.h"
#include "counters.h"
#include "log.h"
#include "mem.h"
#include "spf.h"
#include "util.h"

struct spf_state {
    struct spf_request req;
    struct spf_result helo;
    struct spf_result mailfrom;
    int have_helo;
    int have_mailfrom;
    str sender;              /* MAIL FROM without <> */
    str helo_name;
    str receiver;            /* %{r}: our name */
    int64_t ms;              /* time the checks took */
};

static int spf_mode(const struct config *cfg)
{
    return cfg->spf_mode;
}

/* The address without its angle brackets. */
static void spf_strip_brackets(str *out, const char *addr)
{
    size_t len = strlen(addr);

    if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>')
        str_add(out, addr + 1, (ssize_t) len - 2);
    else
        str_add(out, addr, (ssize_t) len);
}

/* Is name equal to, or under, one of the domains? */
static int spf_name_in(const char *name, const struct config_list *domains)
{
    size_t nl = strlen(name);

    for (int i = 0; i < domains->n; i++) {
        size_t dl = strlen(domains->v[i]);

        if (nl == dl && ascii_casecmp(name, domains->v[i]) == 0)
            return 1;
        if (nl > dl && name[nl - dl - 1] == '.' && ascii_casecmp(name + nl - dl, domains->v[i]) == 0)
            return 1;
    }
    return 0;
}

/* MAIL FROM: evaluate both identities. */
static void spf_mail(struct txn *t, int idx)
{
    struct spf_state *s = mem_zalloc(sizeof(*s));
    struct spf_options o;
    char host[256];
    str addr = STR_INIT;
    int64_t t0 = clock_now_ms();

    t->check_state[idx] = s;
    if (!t->client_ip_valid || core_resolver() == NULL)
        return;
    cidr_addr_format(&t->client_ip, &addr);
    if (spf_request_set_ip(&s->req, str_cstr(&addr)) != 0) {
        str_free(&addr);
        return;
    }
    str_free(&addr);
    spf_options_init(&o);
    o.engine = t->cfg->spf_engine == 0 ? SPF_ENGINE_RAMPART : SPF_ENGINE_LIBSPF2;
    o.max_dns_mechanisms = (int) t->cfg->spf_max_dns_mechanisms;
    o.max_void_lookups = (int) t->cfg->spf_max_void_lookups;
    o.timeout_ms = (int) t->cfg->spf_timeout;
    spf_strip_brackets(&s->sender, str_cstr(&t->mail_from));
    str_set(&s->helo_name, str_cstr(&t->helo));
    s->req.helo = t->helo.len ? str_cstr(&s->helo_name) : NULL;
    s->req.mail_from = str_cstr(&s->sender);
    str_set(&s->receiver, core_hostname(t->cfg, host, sizeof(host)));
    s->req.receiver = str_cstr(&s->receiver);
    if (s->req.helo) {
        spf_check_helo(core_resolver(), &s->req, &o, &s->helo);
        s->have_helo = 1;
    }
    spf_check_mailfrom(core_resolver(), &s->req, &o, &s->mailfrom);
    s->have_mailfrom = 1;
    s->ms = clock_now_ms() - t0;
}

/* One identity's result into A-R. */
static void spf_authres(struct txn *t, const struct spf_result *r, const char *prop, const char *value)
{
    struct authres_result *a = authres_add(&t->authres, "spf", spf_status_name(r->status), r->problem);

    authres_prop(a, prop, value);
}

/* End of message: actions, headers. */
static void spf_eom(struct txn *t, int idx, int monitor)
{
    struct spf_state *s = t->check_state[idx];
    const struct config *cfg = t->cfg;
    int allowed, action;
    str reason = STR_INIT;
    const char *rcode = NULL, *xcode = NULL;

    if (s == NULL || !s->have_mailfrom)
        return;
    allowed = cfg->spf_allow_forwarders.n > 0 && t->client_name.len > 0
              && spf_name_in(str_cstr(&t->client_name), &cfg->spf_allow_forwarders);
    spf_authres(t, &s->mailfrom, "smtp.mailfrom", s->mailfrom.sender ? s->mailfrom.sender : str_cstr(&s->sender));
    if (s->have_helo)
        spf_authres(t, &s->helo, "smtp.helo", str_cstr(&s->helo_name));
    if (cfg->spf_received_spf_header) {
        str v = STR_INIT;

        str_addc(&v, ' ');
        spf_received_spf(&v, &s->req, &s->mailfrom);
        txn_add_edit(t, TXN_EDIT_INSERT, "Received-SPF", 0, str_cstr(&v));
        str_free(&v);
    }
    /* MAIL FROM identity. */
    action = config_map_action(&cfg->spf_mailfrom_actions, spf_status_name(s->mailfrom.status));
    if (s->have_helo && s->helo.status == SPF_STATUS_FAIL && s->mailfrom.status == SPF_STATUS_FAIL
        && cfg->spf_both_fail_action > action)
        action = cfg->spf_both_fail_action;
    switch (s->mailfrom.status) {
    case SPF_STATUS_FAIL:
        rcode = "550", xcode = "5.7.23";
        str_addf(&reason, "SPF check failed for %s", s->mailfrom.sender ? s->mailfrom.sender : "");
        if (s->mailfrom.explanation)
            str_addf(&reason, ": %s", s->mailfrom.explanation);
        break;
    case SPF_STATUS_PERMERROR:
        rcode = "550", xcode = "5.7.24";
        str_addf(&reason, "SPF record of %s is not valid", s->mailfrom.domain ? s->mailfrom.domain : "");
        break;
    case SPF_STATUS_TEMPERROR:
        rcode = "451", xcode = "4.7.24";
        str_addf(&reason, "SPF check of %s could not be completed, try again later",
                 s->mailfrom.domain ? s->mailfrom.domain : "");
        break;
    default:
        str_addf(&reason, "SPF %s for %s", spf_status_name(s->mailfrom.status),
                 s->mailfrom.sender ? s->mailfrom.sender : "");
        break;
    }
    if (allowed && s->mailfrom.status != SPF_STATUS_TEMPERROR)
        action = VERDICT_ACCEPT;
    verdict_add(&t->verdict, "spf", spf_status_name(s->mailfrom.status), (enum verdict_action) action,
                s->mailfrom.status == SPF_STATUS_TEMPERROR, monitor, rcode, xcode, str_cstr(&reason));
    /* HELO identity. */
    if (s->have_helo) {
        str_reset(&reason);
        action = config_map_action(&cfg->spf_helo_actions, spf_status_name(s->helo.status));
        if (allowed && s->helo.status != SPF_STATUS_TEMPERROR)
            action = VERDICT_ACCEPT;
        str_addf(&reason, "SPF %s for HELO %s", spf_status_name(s->helo.status), str_cstr(&s->helo_name));
        verdict_add(&t->verdict, "spf_helo", spf_status_name(s->helo.status), (enum verdict_action) action,
                    s->helo.status == SPF_STATUS_TEMPERROR, monitor,
                    s->helo.status == SPF_STATUS_TEMPERROR ? "451" : "550",
                    s->helo.status == SPF_STATUS_TEMPERROR ? "4.7.24" : "5.7.23", str_cstr(&reason));
    }
    str_free(&reason);
}

static void spf_reset(struct txn *t, int idx)
{
    struct spf_state *s = t->check_state[idx];

    spf_result_free(&s->helo);
    spf_result_free(&s->mailfrom);
    str_free(&s->sender);
    str_free(&s->helo_name);
    str_free(&s->receiver);
    mem_free(s);
    t->check_state[idx] = NULL;
}

const struct check check_spf = {
    .name = "spf",
    .mode = spf_mode,
    .mail = spf_mail,
    .eom = spf_eom,
    .reset = spf_reset,
};

/* The SPF result of the MAIL FROM identity, for DMARC; NULL if not evaluated. */
const struct spf_result *check_spf_mailfrom(const struct txn *t, const struct spf_result **helo)
{
    for (int i = 0; i < check_count; i++) {
        if (check_table[i] == &check_spf && t->check_state[i]) {
            const struct spf_state *s = t->check_state[i];

            *helo = s->have_helo ? &s->helo : NULL;
            return s->have_mailfrom ? &s->mailfrom : NULL;
        }
    }
    *helo = NULL;
    return NULL;
}
