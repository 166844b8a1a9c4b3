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

/* Answer a request: appends "action=..." (without the final empty line). */
void policy_decide(const struct policy_request *req, str *action);

/* Open the listening socket (before dropping privileges); -1 on error (logged). */
int policy_open(const struct config *cfg, const char *spec);
/* Start the event loop and workers; returns at once. */
int policy_start(void);
/* Stop accepting, let in-flight requests finish for up to timeout_ms, close everything. */
void policy_stop(int64_t timeout_ms);

#endif
