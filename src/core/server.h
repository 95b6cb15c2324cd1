/* The server: one libuv loop running a site's listeners until SIGTERM or SIGINT. */
#ifndef EGW_CORE_SERVER_H
#define EGW_CORE_SERVER_H

#include "core/site.h"

/* egw_server_run binds every listener of |site|, logs one "listening" line per listener
 * and a "ready" line, and runs the loop. SIGTERM/SIGINT stop accepting, let requests in
 * flight finish (at most the site's drain_timeout_ms), then the loop ends. Takes a
 * reference on |site| for the run. Returns 0 after a clean stop, 1 when a listener could
 * not be bound (logged as "listen_failed"). */
int egw_server_run(struct egw_site *site);

#endif
