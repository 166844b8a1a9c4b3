/*
 * spf_libspf2.c - the SPF interface backed by Debian's libspf2 (1.2.10),
 * for admins who want the library the ecosystem knows (spf_engine =
 * libspf2). rampart's own engine (spf.c) is the default and the one that
 * follows RFC 7208; this one passes fewer of the RFC 7208 test suite's
 * cases (tests/test_spf_suite prints the figure).
 *
 * spf_libspf2_check() is called by spf.c with a normalised request (the
 * identity, <sender> and <domain> decided, RFC 7208 4.3 already applied).
 * Each check builds a small libspf2 server whose only DNS layer is ours:
 * its lookup callback asks lib/dns (dns_start/dns_wait, one deadline for
 * the whole check), so libspf2 shares the resolver, cache and counters
 * of every other check. Query names go through spf_name_escape() as in
 * rampart's engine; record types other than A, AAAA, MX, TXT and PTR
 * (libspf2 may ask for type SPF) are answered "no data" without a query.
 *
 * Results are mapped to enum spf_status. libspf2 leaves some outcomes
 * "invalid" (a record lookup that timed out, a record that does not
 * compile); they become temperror for DNS errors and memory shortage,
 * none for "no record", permerror otherwise, with libspf2's own message
 * as the problem. dns_lookups counts the DNS queries libspf2 made,
 * void_lookups the empty answers it got (it applies no void limit).
 *
 * Known behaviour of libspf2 that this layer does not hide:
 *   - client addresses in 127.0.0.0/8 and ::1 always pass ("localhost is
 *     always allowed"), so tests over loopback pass whatever the record;
 *   - the 10-term limit is checked off by one, PTR names past ten are an
 *     error, /0 CIDRs are refused, there is no void-lookup limit, macro
 *     and domain-spec syntax are not checked, and explanations are
 *     garbled (spaces become '%', macros unexpanded);
 *   - text after a NUL byte in a TXT record is not seen.
 *
 * libspf2's message handlers are process globals, installed once: they go
 * to our log (errors at error level, the rest at debug, escaped). Its
 * error handler must not return (the library aborts after it); ours jumps
 * back to the check in progress, which then answers temperror and leaks
 * that check's libspf2 objects rather than freeing half-built state. No
 * path we use is known to reach it; outside a check it panics.
 *
 * Config: the spf_* parameters of spf.h. Logs: as above.
 */
#include "config.h"

#include <netinet/in.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <string.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "log.h"
#include "mem.h"
#include "spf.h"
#include "util.h"

#define SPF2_TEXT_MAX 256

/* Per-check state seen by the DNS callback. */
struct spf2_ctx {
    struct dns_resolver *r;
    int64_t deadline;
    int queries;
    int voids;
};

/* Everything one check hands to libspf2 and reads back. */
struct spf2_run {
    const struct spf_request *req;
    const struct spf_options *opts;
    const struct spf_result *res;
    SPF_dns_server_t *dns;
    SPF_server_t *server;
    SPF_request_t *request;
    SPF_response_t *response;
    SPF_result_t result;
    SPF_errcode_t err;
    str explanation;
    str problem;
};

static pthread_once_t spf2_once = PTHREAD_ONCE_INIT;
static __thread jmp_buf *spf2_jump;

/* Log one libspf2 message, escaped. */
static void spf2_log(int level, const char *file, int line, const char *msg)
{
    str s = STR_INIT;

    str_add_escaped(&s, msg, (ssize_t) strlen(msg), SPF2_TEXT_MAX);
    log_msg(level, "libspf2: %s (%s:%d)", str_cstr(&s), file, line);
    str_free(&s);
}

/* libspf2 error: log, then leave the check in progress (never return). */
static void spf2_error(const char *file, int line, const char *msg) __attribute__((noreturn));
static void spf2_error(const char *file, int line, const char *msg)
{
    spf2_log(LOG_LVL_ERROR, file, line, msg);
    if (spf2_jump)
        longjmp(*spf2_jump, 1);
    log_panic("libspf2 error outside an SPF check");
}

/* libspf2 warnings, information and debugging: debug level only. */
static void spf2_debug(const char *file, int line, const char *msg)
{
    if (log_get_level() >= LOG_LVL_DEBUG)
        spf2_log(LOG_LVL_DEBUG, file, line, msg);
}

/* Install the message handlers (once per process). */
static void spf2_init(void)
{
    SPF_error_handler = spf2_error;
    SPF_warning_handler = spf2_debug;
    SPF_info_handler = spf2_debug;
    SPF_debug_handler = spf2_debug;
}

/* Our type for a libspf2 query type; 0 for those we do not ask. */
static uint16_t spf2_type(ns_type t)
{
    switch (t) {
    case ns_t_a: return DNS_T_A;
    case ns_t_aaaa: return DNS_T_AAAA;
    case ns_t_mx: return DNS_T_MX;
    case ns_t_txt: return DNS_T_TXT;
    case ns_t_ptr: return DNS_T_PTR;
    default: return 0;
    }
}

/* Make room for record i of len bytes. */
static void spf2_rr_room(SPF_dns_rr_t *rr, int i, size_t len)
{
    if (SPF_dns_rr_buf_realloc(rr, i, len) != SPF_E_SUCCESS)
        log_fatal("libspf2: out of memory");
}

/* Copy the records of type from an answer into a libspf2 RR set. */
static void spf2_fill(SPF_dns_rr_t *rr, const struct dns_answer *a, uint16_t type)
{
    int n = 0;

    for (int i = 0; i < a->count; i++) {
        const struct dns_rr *src = &a->rr[i];
        const char *s = NULL;
        size_t len = 0;

        if (src->type != type)
            continue;
        switch (type) {
        case DNS_T_A:
            spf2_rr_room(rr, n, sizeof(struct in_addr));
            rr->rr[n]->a = src->u.a;
            break;
        case DNS_T_AAAA:
            spf2_rr_room(rr, n, sizeof(struct in6_addr));
            rr->rr[n]->aaaa = src->u.aaaa;
            break;
        case DNS_T_TXT:
            s = src->u.txt.data;
            len = (size_t) src->u.txt.len;
            break;
        case DNS_T_MX:
            s = src->u.mx.host;   /* libspf2 keeps only the exchange */
            len = strlen(s);
            break;
        default:
            s = src->u.name;
            len = strlen(s);
            break;
        }
        if (s != NULL) {
            spf2_rr_room(rr, n, len + 1);
            memcpy(rr->rr[n]->txt, s, len);
            rr->rr[n]->txt[len] = '\0';
        }
        n++;
    }
    rr->num_rr = n;
    if (n == 0 && rr->herrno == NETDB_SUCCESS)
        rr->herrno = NO_DATA;
}

/* The DNS layer's lookup: ask lib/dns, answer with a fresh RR set (libspf2 frees it). */
static SPF_dns_rr_t *spf2_lookup(SPF_dns_server_t *srv, const char *domain, ns_type t, int should_cache)
{
    struct spf2_ctx *c = srv->hook;
    uint16_t type = spf2_type(t);
    str name = STR_INIT;
    struct dns_query *q = NULL;
    const struct dns_answer *a = NULL;
    SPF_dns_stat_t herrno = NO_DATA;
    SPF_dns_rr_t *rr;

    (void) should_cache;
    if (type != 0 && spf_name_escape(&name, domain, (ssize_t) strlen(domain)) != 0) {
        herrno = HOST_NOT_FOUND;
    } else if (type != 0 && clock_now_ms() >= c->deadline) {
        herrno = TRY_AGAIN;
    } else if (type != 0) {
        c->queries++;
        q = dns_start(c->r, str_cstr(&name), type);
        a = dns_wait(q, c->deadline);
        switch (a->status) {
        case DNS_ANSWER: herrno = NETDB_SUCCESS; break;
        case DNS_NXDOMAIN: herrno = HOST_NOT_FOUND; break;
        case DNS_NODATA: herrno = NO_DATA; break;
        case DNS_TEMPFAIL: herrno = TRY_AGAIN; break;
        case DNS_BADANSWER: herrno = NO_RECOVERY; break;
        }
    }
    rr = SPF_dns_rr_new_init(srv, domain, t, a ? (int) a->ttl : 0, herrno);
    if (rr == NULL)
        log_fatal("libspf2: out of memory");
    if (a && a->status == DNS_ANSWER)
        spf2_fill(rr, a, type);
    if (rr->herrno == HOST_NOT_FOUND || rr->herrno == NO_DATA)
        c->voids++;
    dns_query_free(q);
    str_free(&name);
    return rr;
}

/* The DNS layer's destructor (SPF_dns_free). */
static void spf2_destroy(SPF_dns_server_t *srv)
{
    mem_free(srv);
}

/*
 * Keep libspf2's first error (the cause; later ones are consequences such
 * as "Failed to compile") in run->err and its text in run->problem.
 */
static void spf2_problem(struct spf2_run *run)
{
    const char *msg = NULL;

    for (int i = 0; i < SPF_response_messages(run->response) && msg == NULL; i++) {
        SPF_error_t *m = SPF_response_message(run->response, i);

        if (SPF_error_errorp(m)) {
            msg = SPF_error_message(m);
            run->err = SPF_error_code(m);
        }
    }
    if (msg == NULL && run->err != SPF_E_SUCCESS)
        msg = SPF_strerror(run->err);
    if (msg != NULL)
        spf_sanitize(&run->problem, msg, (ssize_t) strlen(msg), SPF2_TEXT_MAX);
}

/*
 * All libspf2 calls of one check. Returns 0, or -1 if libspf2 raised an
 * error (its objects are then left to leak; see the file comment).
 */
static int spf2_run(struct spf2_run *run)
{
    jmp_buf jb;
    jmp_buf *saved = spf2_jump;
    SPF_response_t *errs = NULL;
    const char *exp;

    if (setjmp(jb) != 0) {
        spf2_jump = saved;
        return -1;
    }
    spf2_jump = &jb;
    run->server = SPF_server_new_dns(run->dns, 0);
    SPF_server_set_rec_dom(run->server, run->req->receiver ? run->req->receiver : "unknown");
    /* An empty default lets us tell exp= text from no explanation. */
    SPF_server_set_explanation(run->server,
                               run->opts->default_explanation ? run->opts->default_explanation : "",
                               &errs);
    if (errs)
        SPF_response_free(errs);
    SPF_server_set_max_dns_mech(run->server, run->opts->max_dns_mechanisms);
    SPF_server_set_max_dns_mx(run->server, SPF_MAX_MX_NAMES);
    SPF_server_set_max_dns_ptr(run->server, SPF_MAX_PTR_NAMES);
    run->request = SPF_request_new(run->server);
    if (run->req->family == AF_INET)
        SPF_request_set_ipv4(run->request, run->req->addr4);
    else
        SPF_request_set_ipv6(run->request, run->req->addr6);
    if (run->req->helo && run->req->helo[0])
        SPF_request_set_helo_dom(run->request, run->req->helo);
    /* <sender> is already decided (postmaster@HELO for HELO and the null sender). */
    SPF_request_set_env_from(run->request, run->res->sender);
    run->err = SPF_request_query_mailfrom(run->request, &run->response);
    run->result = SPF_response_result(run->response);
    if (run->err == SPF_E_SUCCESS)
        run->err = SPF_response_errcode(run->response);
    exp = SPF_response_get_explanation(run->response);
    if (run->result == SPF_RESULT_FAIL && exp && exp[0])
        spf_sanitize(&run->explanation, exp, (ssize_t) strlen(exp), run->opts->max_explanation_size);
    spf2_problem(run);
    spf2_jump = saved;
    return 0;
}

/* Map libspf2's result (and, for "invalid", its error code) to ours. */
static enum spf_status spf2_status(SPF_result_t result, SPF_errcode_t err)
{
    switch (result) {
    case SPF_RESULT_PASS: return SPF_STATUS_PASS;
    case SPF_RESULT_FAIL: return SPF_STATUS_FAIL;
    case SPF_RESULT_SOFTFAIL: return SPF_STATUS_SOFTFAIL;
    case SPF_RESULT_NEUTRAL: return SPF_STATUS_NEUTRAL;
    case SPF_RESULT_NONE: return SPF_STATUS_NONE;
    case SPF_RESULT_TEMPERROR: return SPF_STATUS_TEMPERROR;
    case SPF_RESULT_PERMERROR: return SPF_STATUS_PERMERROR;
    default: break;
    }
    switch (err) {
    case SPF_E_DNS_ERROR:
    case SPF_E_NO_MEMORY:
        return SPF_STATUS_TEMPERROR;
    case SPF_E_NOT_SPF:
        return SPF_STATUS_NONE;
    default:
        return SPF_STATUS_PERMERROR;
    }
}

/* Evaluate with libspf2; see spf.h. */
enum spf_status spf_libspf2_check(struct dns_resolver *r, const struct spf_request *req,
                                  const struct spf_options *opts, struct spf_result *res)
{
    struct spf2_ctx ctx;
    struct spf2_run run;

    pthread_once(&spf2_once, spf2_init);
    memset(&ctx, 0, sizeof(ctx));
    ctx.r = r;
    ctx.deadline = opts->deadline_ms > 0 ? opts->deadline_ms : clock_now_ms() + opts->timeout_ms;
    memset(&run, 0, sizeof(run));
    run.req = req;
    run.opts = opts;
    run.res = res;
    str_init(&run.explanation);
    str_init(&run.problem);
    run.dns = mem_zalloc(sizeof(*run.dns));
    run.dns->destroy = spf2_destroy;
    run.dns->lookup = spf2_lookup;
    run.dns->name = "rampart";
    run.dns->hook = &ctx;

    if (spf2_run(&run) != 0) {
        /* XXX: libspf2's objects of this check leak; its state is not trusted. */
        res->status = SPF_STATUS_TEMPERROR;
        res->problem = mem_strdup("libspf2 internal error");
    } else {
        res->status = spf2_status(run.result, run.err);
        if (res->status == SPF_STATUS_FAIL && run.explanation.len > 0)
            res->explanation = str_steal(&run.explanation);
        if ((res->status == SPF_STATUS_TEMPERROR || res->status == SPF_STATUS_PERMERROR) &&
            run.problem.len > 0)
            res->problem = str_steal(&run.problem);
        SPF_response_free(run.response);
        SPF_request_free(run.request);
        SPF_server_free(run.server);
        SPF_dns_free(run.dns);
    }
    res->dns_lookups = ctx.queries;
    res->void_lookups = ctx.voids;
    str_free(&run.explanation);
    str_free(&run.problem);
    return res->status;
}
