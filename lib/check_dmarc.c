/*
 * check_dmarc.c - DMARC in the pipeline.
 *
 * At end of headers the From fields are parsed and the _dmarc lookups
 * start (lib/dmarc.c); at end of message the SPF and DKIM results of the
 * other checks go in and the result maps to an action: a failure by the
 * disposition the domain asks for (dmarc_reject_action,
 * dmarc_quarantine_action, dmarc_none_action); a message without exactly
 * one usable author domain by dmarc_bad_from_action; errors by
 * dmarc_permerror_action and dmarc_temperror_action. A client whose
 * verified host name or HELO name is in dmarc_override (a mailing list
 * host, a trusted forwarder) gets at most a tag for a failure, and the
 * override shows in Authentication-Results and in the log.
 *
 * Authentication-Results: dmarc=pass|fail|none|temperror|permerror
 * header.from=DOMAIN policy.dmarc=reject|quarantine|none. With
 * dmarc_report_file set, one line per message is appended for aggregate
 * reports (format in lib/dmarc.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core.h"
#include "dkim.h"
#include "dmarc.h"
#include "log.h"
#include "mem.h"
#include "spf.h"
#include "util.h"

static int dmarc_mode(const struct config *cfg)
{
    return cfg->dmarc_mode;
}

/* End of headers: parse From, start the lookups. */
static void dmarc_eoh(struct txn *t, int idx)
{
    if (core_dmarc() == NULL || core_resolver() == NULL)
        return;
    t->check_state[idx] = dmarc_begin_headers(core_dmarc(), core_resolver(), &t->headers);
}

/* Is name equal to, or under, one of the domains? */
static int dmarc_name_in(const char *name, const struct config_list *domains)
{
    size_t nl = strlen(name);

    for (int i = 0; i < domains->n && nl > 0; i++) {
        size_t dl = strlen(domains->v[i]);

        if ((nl == dl && ascii_casecmp(name, domains->v[i]) == 0)
            || (nl > dl && name[nl - dl - 1] == '.' && ascii_casecmp(name + nl - dl, domains->v[i]) == 0))
            return 1;
    }
    return 0;
}

/* Append the report line to dmarc_report_file (one write: lines do not interleave). */
static void dmarc_report(const struct txn *t, const struct dmarc_result *res)
{
    str line = STR_INIT, ip = STR_INIT;
    int fd;

    if (t->client_ip_valid)
        cidr_addr_format(&t->client_ip, &ip);
    dmarc_report_line(res, time(NULL), str_cstr(&ip), &line);
    str_addc(&line, '\n');
    fd = open(t->cfg->dmarc_report_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, line.data, (size_t) line.len) != line.len)
        log_warning("dmarc_report_file %s: %s", t->cfg->dmarc_report_file, strerror(errno));
    if (fd >= 0)
        close(fd);
    str_free(&line);
    str_free(&ip);
}

/* End of message: evaluate and map. */
static void dmarc_eom(struct txn *t, int idx, int monitor)
{
    struct dmarc_eval *ev = t->check_state[idx];
    const struct config *cfg = t->cfg;
    const struct spf_result *mf, *helo;
    struct dmarc_auth auth;
    struct dmarc_result res;
    struct authres_result *ar;
    const struct dkim_results *dk = check_dkim_results(t);
    struct dmarc_dkim_input dkin[64];
    const char *arname, *override = NULL;
    str reason = STR_INIT;
    int action = VERDICT_ACCEPT, temporary = 0;
    int64_t t0 = clock_now_ms();

    if (ev == NULL)
        return;
    memset(&auth, 0, sizeof(auth));
    mf = check_spf_mailfrom(t, &helo);
    if (mf) {
        auth.mailfrom.result = (enum dmarc_spf_result) mf->status;
        auth.mailfrom.domain = mf->domain;
    }
    if (helo) {
        auth.helo.result = (enum dmarc_spf_result) helo->status;
        auth.helo.domain = helo->domain;
    }
    for (int i = 0; dk && i < dk->count && auth.n_dkim < (int) NELEM(dkin); i++) {
        if (dk->sig[i].domain == NULL)
            continue;
        dkin[auth.n_dkim].domain = dk->sig[i].domain;
        dkin[auth.n_dkim].selector = dk->sig[i].selector;
        dkin[auth.n_dkim].result = (enum dmarc_dkim_result) dk->sig[i].result;
        auth.n_dkim++;
    }
    auth.dkim = dkin;
    dmarc_result_init(&res);
    dmarc_finish(ev, &auth, &res);
    t->dns_ms += clock_now_ms() - t0;
    if (dmarc_name_in(str_cstr(&t->client_name), &cfg->dmarc_override))
        override = str_cstr(&t->client_name);
    else if (dmarc_name_in(str_cstr(&t->helo), &cfg->dmarc_override))
        override = str_cstr(&t->helo);
    switch (res.status) {
    case DMARC_FAIL:
        action = res.disposition == DMARC_POLICY_REJECT ? cfg->dmarc_reject_action
                 : res.disposition == DMARC_POLICY_QUARANTINE ? cfg->dmarc_quarantine_action
                 : cfg->dmarc_none_action;
        if (override && action > VERDICT_TAG)
            action = VERDICT_TAG;
        str_addf(&reason, "DMARC policy of %s (%s=%s) refuses this message: %s", str_cstr(&res.header_from),
                 dmarc_policy_tag_name(res.policy_tag), dmarc_policy_name(res.policy), str_cstr(&res.reason));
        break;
    case DMARC_BAD_FROM:
        action = cfg->dmarc_bad_from_action;
        str_addf(&reason, "Message must have exactly one author address in From: %s",
                 dmarc_from_problem_name(res.from_problem));
        break;
    case DMARC_PERMERROR:
        action = cfg->dmarc_permerror_action;
        str_addf(&reason, "DMARC record of %s is not usable: %s", str_cstr(&res.header_from), str_cstr(&res.reason));
        break;
    case DMARC_TEMPERROR:
        action = cfg->dmarc_temperror_action;
        temporary = 1;
        str_addf(&reason, "DMARC check of %s could not be completed, try again later", str_cstr(&res.header_from));
        break;
    default:
        break;
    }
    arname = res.status == DMARC_BAD_FROM ? "permerror" : dmarc_status_name(res.status);
    ar = authres_add(&t->authres, "dmarc", arname,
                     override && res.status == DMARC_FAIL ? "local override: trusted forwarder" : NULL);
    if (res.header_from.len)
        authres_prop(ar, "header.from", str_cstr(&res.header_from));
    if (res.effective != DMARC_POLICY_UNSET)
        authres_prop(ar, "policy.dmarc", dmarc_policy_name(res.effective));
    verdict_add(&t->verdict, "dmarc", dmarc_status_name(res.status), (enum verdict_action) action, temporary,
                monitor, temporary ? "451" : "550", temporary ? "4.7.1" : "5.7.1", str_cstr(&reason));
    if (override && res.status == DMARC_FAIL)
        log_info("dmarc: queue_id=%s local override for %s", str_cstr(&t->queue_id), override);
    if (cfg->dmarc_report_file[0] && res.status != DMARC_BAD_FROM)
        dmarc_report(t, &res);
    dmarc_result_free(&res);
    str_free(&reason);
}

static void dmarc_reset(struct txn *t, int idx)
{
    dmarc_eval_free(t->check_state[idx]);
    t->check_state[idx] = NULL;
}

const struct check check_dmarc = {
    .name = "dmarc",
    .needs_headers = 1,
    .mode = dmarc_mode,
    .eoh = dmarc_eoh,
    .eom = dmarc_eom,
    .reset = dmarc_reset,
};
