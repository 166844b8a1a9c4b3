/* policy.h - the Postfix SMTP access policy delegation listener. */
#ifndef RAMPART_POLICY_H
#define RAMPART_POLICY_H

#include "rconfig.h"
#include "str.h"

/* One parsed request: attribute=value pairs in arrival order. */
#define POLICY_MAX_ATTRS 128

struct policy_request {
    int n;
    char *name[POLICY_MAX_ATTRS];
    char *value[POLICY_MAX_ATTRS];
    int64_t arrived_ms;     /* when it was there to be read (clock_now_ms); 0: now.
                               policy_check_timeout counts from here, time spent
                               waiting for a free worker included */
};

/* The value of an attribute, or "" if absent. */
const char *policy_attr(const struct policy_request *req, const char *name);

/*
 * Parse one request (the bytes before the empty line, without it).
 * Returns 0, or -1 with a reason in why (a line without '=', NUL bytes,
 * too many attributes).
 */
int policy_parse(const char *data, ssize_t len, struct policy_request *req, str *why);
void policy_request_free(struct policy_request *req);

/*
 * The checks (policy_checks.c). Set up from the configuration at
 * policy_open (rate-limit backend, disposable list, callout cache); -1
 * with the reason in err (a Redis backend without hiredis, ...).
 */
int policy_checks_init(const struct config *cfg, str *err);
void policy_checks_shutdown(void);

/*
 * Answer a request: appends "action=..." (without the final empty line)
 * to action and the request's results to line (the summary log line).
 * Takes the current configuration and the core's resolver and DNS lists.
 * What each protocol_state gets:
 *   CONNECT       the client's DNS lists (ip, client_name)
 *   EHLO, HELO    the same and the HELO name's
 *   MAIL, RCPT, DATA   the transaction's checks, once per transaction
 *                 (a MAIL request begins one; RCPT and DATA find it by
 *                 Postfix's instance attribute, or take over the MAIL
 *                 request's by client address and port, HELO and
 *                 sender): rate limits per client, network, sender and
 *                 SASL user, SPF, DNS lists, sender validation; the same
 *                 refusal for every recipient, a PREPEND or HOLD once
 *   RCPT          also the recipient rate limit, per recipient
 *   END-OF-MESSAGE, VRFY, ETRN, others: DUNNO
 */
struct log_line;
void policy_decide(const struct policy_request *req, str *action, struct log_line *line);

/*
 * The control socket (policy_control.c): policy_control_socket, a unix
 * socket of mode 0600 owned by the daemon's user; only root and that user
 * may talk to it (peer credentials are checked too). One command line in,
 * the answer out, then the connection closes. Open before dropping
 * privileges (0 if none is configured, -1 on error, logged).
 */
int policy_control_open(const struct config *cfg);
int policy_control_start(void);
void policy_control_stop(void);
/* One control command (policy_checks.c): the answer text, "error: ..." on failure. */
void policy_control_command(const char *cmd, str *out);
/* Counts for the "status" command. */
void policy_checks_status(str *out);

/* Open the listening socket (before dropping privileges); -1 on error (logged). */
int policy_open(const struct config *cfg, const char *spec);
/* Start the event loop and workers; returns at once. */
int policy_start(void);
/* Stop accepting, let in-flight requests finish for up to timeout_ms, close
   everything; returns how many requests still run (their workers still use the core). */
int policy_stop(int64_t timeout_ms);

#endif
