/*
 * metrics_http.h - the HTTP listener that serves /metrics (libmicrohttpd).
 *
 * Off unless metrics_listen is set. Serves GET (and HEAD) /metrics with
 * metrics_render_core(); everything else is 404 or 405. Clients outside
 * metrics_allow (when set) are refused at accept.
 */
#ifndef RAMPART_METRICS_HTTP_H
#define RAMPART_METRICS_HTTP_H

#include "rconfig.h"
#include "str.h"

/* Most connections served at once, and seconds an idle connection is kept. */
#define METRICS_HTTP_MAX_CONNECTIONS 16
#define METRICS_HTTP_TIMEOUT_S 10

/*
 * Bind cfg->metrics_listen and start serving in a thread of its own.
 * Returns 0 (also when metrics_listen is empty: nothing to do), or -1
 * with the reason in err: a bad spec or metrics_allow, the address in
 * use, or a rampartd built without libmicrohttpd while metrics_listen is
 * set. Starts a thread: call after daemonizing.
 */
int metrics_http_start(const struct config *cfg, str *err);
/* Stop serving and close the socket; nothing if not started. */
void metrics_http_stop(void);

#endif
