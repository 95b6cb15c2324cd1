/* Process-wide metrics (Prometheus text exposition, version 0.0.4).
 *
 * The registry is one per process, not per site: counters keep counting across a site
 * reload. It is used from the loop thread only and takes no lock. Label values are
 * copied when a series is first seen; later updates of the same series allocate nothing.
 * Each family holds at most EGW_METRICS_MAX_SERIES series: updates of further label
 * combinations are dropped and counted in edgegw_metrics_series_dropped_total (callers
 * pass bounded values: interface names, route prefixes, causes, never paths or ids).
 * Hooks are one-line calls at the place where the fact is known. */
#ifndef EGW_UTIL_METRICS_H
#define EGW_UTIL_METRICS_H

#include <stdint.h>

#include "util/buf.h"

#define EGW_METRICS_MAX_SERIES 512

/* egw_metrics_tls_handshake counts a server-side handshake that ended on listener
 * |iface| in TLS |mode|: |result| "ok" or "failed". */
void egw_metrics_tls_handshake(const char *iface, const char *mode, const char *result);

/* egw_metrics_http_request counts a response head sent with |status|; |route| is the
 * matched route prefix, or NULL when none matched (rendered "none"). */
void egw_metrics_http_request(const char *iface, const char *route, int status);

/* egw_metrics_authz counts an authorization decision ("allow" or "deny"); |reason| is a
 * bounded code (the ProblemDetails cause on deny, "ok" on allow). */
void egw_metrics_authz(const char *iface, const char *provider, const char *decision,
                       const char *reason);

/* Token cache outcomes (auth/tokcache.c). */
void egw_metrics_token_cache_hit(void);
void egw_metrics_token_cache_miss(void);
void egw_metrics_token_cache_eviction(void);
/* egw_metrics_token_cache_entries sets the size gauge (read at scrape time). */
void egw_metrics_token_cache_entries(int64_t n);

/* egw_metrics_key_fetch counts one key fetch of |provider| ("ausf", "nef", "aanf",
 * "kecs", "jwks"...) with |result| ("ok", "unknown", "timeout", "error") and observes its
 * duration |ms| in edgegw_key_fetch_duration_seconds{provider}. */
void egw_metrics_key_fetch(const char *provider, const char *result, double ms);

/* egw_metrics_upstream_error counts an EAS proxy failure: |kind| "bad_gateway" (502),
 * "timeout" (504) or "cut" (the application's answer broke off). */
void egw_metrics_upstream_error(const char *iface, const char *kind);

/* egw_metrics_connections adds |delta| (+1 on accept, -1 on close) to the open
 * connections gauge of |iface|. */
void egw_metrics_connections(const char *iface, int delta);

/* egw_metrics_registrations adds |delta| to the gauge of registrations (records) of
 * store |kind| held in memory. Deltas, not a set: during a reload the old site's tables
 * leave and the new site's load, in either order. */
void egw_metrics_registrations(const char *kind, int delta);

/* egw_metrics_audit_dropped counts audit lines lost to a full buffer or a failed write. */
void egw_metrics_audit_dropped(void);

/* egw_metrics_render appends the whole registry to |out| in the Prometheus text format:
 * families sorted by name, each with HELP and TYPE, series sorted by label values, label
 * values escaped. Returns 0 or EGW_ERR_NOMEM. */
int egw_metrics_render(struct egw_buf *out);

/* egw_metrics_value returns the value of one counter or gauge series (|labels|: the
 * values in the family's label order, |n| of them), or -1 when the series does not
 * exist. For tests and for the admin listener's own checks. */
double egw_metrics_value(const char *family, const char *const *labels, int n);

/* egw_metrics_reset drops every series (tests). */
void egw_metrics_reset(void);

#endif
