/* milter.h - the milter listener (libmilter). */
#ifndef RAMPART_MILTER_H
#define RAMPART_MILTER_H

#include <stdint.h>

#include "rconfig.h"

/* Register callbacks and open the socket (before dropping privileges); -1 on error (logged). */
int milter_open(const struct config *cfg, const char *spec);
/* Run libmilter's loop until it is told to stop (SIGTERM, SIGHUP, SIGINT); returns then. */
int milter_run(void);
/* Milter sessions currently open. */
int milter_sessions(void);
/*
 * After libmilter stopped: from now on callbacks return at once, touching
 * nothing (Debian's libmilter serves no session after a stop anyway; their
 * mail is deferred by Postfix's milter_default_action). Waits up to
 * timeout_ms for the callbacks running to end; returns how many still run
 * (the core must then be left as it is) and sets *open to the sessions
 * still open.
 */
int milter_drain(int64_t timeout_ms, int *open);

#endif
