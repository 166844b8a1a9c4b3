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
/* Wait up to timeout_ms for open sessions to end; returns how many are left. */
int milter_drain(int64_t timeout_ms);

#endif
