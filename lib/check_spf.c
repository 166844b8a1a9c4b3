/*
 * check_spf.c - SPF in the pipeline.
 *
 * At MAIL FROM the HELO identity and the MAIL FROM identity are evaluated
 * (lib/spf.c, on the shared resolver) in a thread of its own (one of
 * lib/workers.c's, kept from message to message): the
 * milter negotiates no reply for that stage, but libmilter handles one
 * connection's events in order, so an evaluation in the callback would
 * hold back the headers, and with them the DKIM key and DMARC lookups,
 * by two DNS round trips or more. The thread runs while the SMTP dialogue
 * goes on; end of message (or the end of the transaction) joins it. A
 * thread that cannot be created means the evaluation runs in the caller.
 * At end of message each identity's result maps to an action through
 * spf_mailfrom_actions / spf_helo_actions, both failing maps to
 * spf_both_fail_action, and the results go to Authentication-Results
 * (spf=... smtp.mailfrom=... and spf=... smtp.helo=...) and, if asked, a
 * Received-SPF header. Mail from a client whose verified host name is in
 * spf_allow_forwarders is reported but never acted upon.
 *
 * One transaction, one evaluation (lib/handoff.h): when this rampartd's
 * policy service evaluates SPF at RCPT time (policy_listen set,
 * policy_spf_mode not off), MAIL FROM only looks for a result already
 * handed over (an earlier message with the same client, HELO and sender)
 * and otherwise waits: the policy request comes after the milter's MAIL
 * FROM stage. End of message takes the policy service's result, or
 * evaluates then if there is none. A result the policy service already
 * enforced at RCPT is reported, not acted upon again.
 *
 * check_spf_options() and check_spf_verdict() are the decisions shared
 * with the policy service, so both front doors map results alike.
 *
 * Replies: fail 550 5.7.23, permerror 550 5.7.24, temperror 451 4.7.24
 * (RFC 7372), with the sender and the explanation, sanitised.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "check.h"
#include "core.h"
#include "counters.h"
#include "dns.h"
#include "handoff.h"
#include "log.h"
#include "mem.h"
#include "spf.h"
#include "util.h"
#include "workers.h"

struct spf_state {
    struct spf_request req;
    struct spf_options opts;
    struct dns_resolver *resolver;
    struct worker_job job;   /* the evaluation, started at MAIL FROM */
    int running;             /* started and not yet joined */
    int64_t ms;              /* how long it took */
    int64_t since_ms;        /* the transaction's t->since_ms, for the handoff */
    struct spf_result helo;
    struct spf_result mailfrom;
    int have_helo;
    int have_mailfrom;
    int deferred;            /* waiting for the policy service's result */
    int acted;               /* the policy service enforced this result at RCPT */
    int from_policy;         /* the results came from the policy service */
    str client;              /* client address as text */
    str sender;              /* MAIL FROM without <> */
    str helo_name;
    str receiver;            /* %{r}: our name */
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

/* Fill SPF options from the configuration. */
void check_spf_options(const struct config *cfg, struct spf_options *o)
{
    spf_options_init(o);
    o->engine = cfg->spf_engine == 0 ? SPF_ENGINE_RAMPART : SPF_ENGINE_LIBSPF2;
    o->max_dns_mechanisms = (int) cfg->spf_max_dns_mechanisms;
    o->max_void_lookups = (int) cfg->spf_max_void_lookups;
    o->timeout_ms = (int) cfg->spf_timeout;
}

/*
 * Both identities, one after the other. The HELO name's TXT record is
 * asked first without waiting, so both first lookups are in flight at
 * once and the HELO check usually finds its record answered; one thread
 * per message rather than two costs half as much.
 */
static void spf_run(struct spf_state *s)
{
    struct dns_query *prefetch = NULL;
    int64_t t0 = clock_now_ms();

    if (s->have_helo)
        prefetch = dns_start(s->resolver, s->req.helo, DNS_T_TXT);
    spf_check_mailfrom(s->resolver, &s->req, &s->opts, &s->mailfrom);
    if (s->have_helo)
        spf_check_helo(s->resolver, &s->req, &s->opts, &s->helo);
    if (prefetch)
        dns_query_free(prefetch);
    s->ms = clock_now_ms() - t0;
}

static void spf_job(void *arg)
{
    spf_run(arg);
}

/* Wait for the evaluation started at MAIL FROM. */
static void spf_join(struct spf_state *s)
{
    if (!s->running)
        return;
    workers_wait(&s->job);
    s->running = 0;
    log_debug("spf: checked in %lld ms", (long long) s->ms);
}

/* Start the evaluation in a thread of its own (here if no thread can be had); spf_join() waits. */
static void spf_evaluate(struct txn *t, struct spf_state *s)
{
    int rc;

    check_spf_options(t->cfg, &s->opts);
    s->resolver = core_resolver();
    s->have_helo = s->req.helo != NULL;
    s->have_mailfrom = 1;
    s->deferred = 0;
    rc = workers_submit(&s->job, spf_job, s);
    if (rc == 0) {
        s->running = 1;
        return;
    }
    log_warning("spf: cannot start a thread (%s), checking in the milter's thread", strerror(rc));
    spf_run(s);
}

/* Take the policy service's results, if it handed some over. */
static int spf_take_handoff(struct spf_state *s)
{
    struct handoff_key k = { str_cstr(&s->client), str_cstr(&s->helo_name), str_cstr(&s->sender), s->since_ms };
    int have_helo = 0;

    if (!handoff_take_spf(&k, &s->mailfrom, &s->helo, &have_helo, &s->acted))
        return 0;
    s->have_mailfrom = 1;
    /* Ours checks HELO only when there was one; keep the same shape. */
    s->have_helo = have_helo && s->req.helo != NULL;
    if (have_helo && !s->have_helo)
        spf_result_free(&s->helo);
    s->from_policy = 1;
    s->deferred = 0;
    return 1;
}

/* MAIL FROM: evaluate both identities (or wait for the policy service's results). */
static void spf_mail(struct txn *t, int idx)
{
    struct spf_state *s = mem_zalloc(sizeof(*s));
    char host[256];

    t->check_state[idx] = s;
    s->since_ms = t->since_ms;
    if (!t->client_ip_valid || core_resolver() == NULL)
        return;
    cidr_addr_format(&t->client_ip, &s->client);
    if (spf_request_set_ip(&s->req, str_cstr(&s->client)) != 0)
        return;
    spf_strip_brackets(&s->sender, str_cstr(&t->mail_from));
    str_set(&s->helo_name, str_cstr(&t->helo));
    s->req.helo = t->helo.len ? str_cstr(&s->helo_name) : NULL;
    s->req.mail_from = str_cstr(&s->sender);
    str_set(&s->receiver, core_hostname(t->cfg, host, sizeof(host)));
    s->req.receiver = str_cstr(&s->receiver);
    if (spf_take_handoff(s))
        return;
    if (handoff_expect_spf(t->cfg)) {
        s->deferred = 1;
        return;
    }
    spf_evaluate(t, s);
}

/* One identity's result into A-R. */
static void spf_authres(struct txn *t, const struct spf_result *r, const char *prop, const char *value)
{
    struct authres_result *a = authres_add(&t->authres, "spf", spf_status_name(r->status), r->problem);

    authres_prop(a, prop, value);
}

/* The verdict entries for the results (shared with the policy service). */
void check_spf_verdict(const struct config *cfg, struct verdict *v, const char *client_name,
                       const char *sender, const char *helo_name, const struct spf_result *mailfrom,
                       const struct spf_result *helo, int monitor, int acted)
{
    int allowed, action;
    str reason = STR_INIT;
    const char *rcode = NULL, *xcode = NULL;
    const char *who = mailfrom->sender ? mailfrom->sender : sender;

    allowed = cfg->spf_allow_forwarders.n > 0 && client_name && client_name[0]
              && spf_name_in(client_name, &cfg->spf_allow_forwarders);
    /* MAIL FROM identity. */
    action = config_map_action(&cfg->spf_mailfrom_actions, spf_status_name(mailfrom->status));
    if (helo && helo->status == SPF_STATUS_FAIL && mailfrom->status == SPF_STATUS_FAIL
        && cfg->spf_both_fail_action > action)
        action = cfg->spf_both_fail_action;
    switch (mailfrom->status) {
    case SPF_STATUS_FAIL:
        rcode = "550", xcode = "5.7.23";
        str_addf(&reason, "SPF check failed for %s", who);
        if (mailfrom->explanation)
            str_addf(&reason, ": %s", mailfrom->explanation);
        break;
    case SPF_STATUS_PERMERROR:
        rcode = "550", xcode = "5.7.24";
        str_addf(&reason, "SPF record of %s is not valid", mailfrom->domain ? mailfrom->domain : "");
        break;
    case SPF_STATUS_TEMPERROR:
        rcode = "451", xcode = "4.7.24";
        str_addf(&reason, "SPF check of %s could not be completed, try again later",
                 mailfrom->domain ? mailfrom->domain : "");
        break;
    default:
        str_addf(&reason, "SPF %s for %s", spf_status_name(mailfrom->status), who);
        break;
    }
    if ((allowed && mailfrom->status != SPF_STATUS_TEMPERROR) || acted)
        action = VERDICT_ACCEPT;
    verdict_add(v, "spf", spf_status_name(mailfrom->status), (enum verdict_action) action,
                mailfrom->status == SPF_STATUS_TEMPERROR, monitor, rcode, xcode, str_cstr(&reason));
    /* HELO identity. */
    if (helo) {
        str_reset(&reason);
        action = config_map_action(&cfg->spf_helo_actions, spf_status_name(helo->status));
        if ((allowed && helo->status != SPF_STATUS_TEMPERROR) || acted)
            action = VERDICT_ACCEPT;
        str_addf(&reason, "SPF %s for HELO %s", spf_status_name(helo->status), helo_name ? helo_name : "");
        verdict_add(v, "spf_helo", spf_status_name(helo->status), (enum verdict_action) action,
                    helo->status == SPF_STATUS_TEMPERROR, monitor,
                    helo->status == SPF_STATUS_TEMPERROR ? "451" : "550",
                    helo->status == SPF_STATUS_TEMPERROR ? "4.7.24" : "5.7.23", str_cstr(&reason));
    }
    str_free(&reason);
}

/* End of message: actions, headers. */
static void spf_eom(struct txn *t, int idx, int monitor)
{
    struct spf_state *s = t->check_state[idx];
    const struct config *cfg = t->cfg;

    if (s == NULL)
        return;
    if (s->deferred && !spf_take_handoff(s))
        spf_evaluate(t, s);
    spf_join(s);
    if (!s->have_mailfrom)
        return;
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
    if (s->from_policy)
        log_debug("spf: results for %s from the policy service%s", str_cstr(&s->sender),
                  s->acted ? " (enforced at RCPT)" : "");
    check_spf_verdict(cfg, &t->verdict, str_cstr(&t->client_name), str_cstr(&s->sender), str_cstr(&s->helo_name),
                      &s->mailfrom, s->have_helo ? &s->helo : NULL, monitor, s->acted);
}

static void spf_reset(struct txn *t, int idx)
{
    struct spf_state *s = t->check_state[idx];

    spf_join(s);
    spf_result_free(&s->helo);
    spf_result_free(&s->mailfrom);
    str_free(&s->sender);
    str_free(&s->helo_name);
    str_free(&s->receiver);
    str_free(&s->client);
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
