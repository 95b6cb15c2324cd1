/* The admin module: what an operator's tooling scrapes. GET /metrics (the process-wide
 * registry, util/metrics.h, in the Prometheus text format 0.0.4), GET /healthz (the loop
 * answers) and GET /readyz (every listener is bound and the store, when the site has
 * one, is open; else 503 with a ProblemDetails naming what is missing). Mount it on a
 * listener of role "admin", bound to loopback (policies/admin.yaml). */
#include "edgegw/role.h"

#include <stdio.h>
#include <string.h>

#include "auth/tokcache.h"
#include "core/site.h"
#include "util/buf.h"
#include "util/metrics.h"

static const struct egw_route admin_routes[] = {
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD, .prefix = "/metrics"},
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD, .prefix = "/healthz"},
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD, .prefix = "/readyz"},
    {.prefix = NULL},
};

static int admin_init(struct egw_site *site, void **out_state, char **out_err) {
  *out_state = site;
  return 0;
}

/* What keeps the site from being ready, or NULL. */
static const char *not_ready(const struct egw_site *site) {
  if (!egw_site_ready(site))
    return "listeners: not every listener is bound yet";
  if ((site->policy->ecs || site->policy->ees) && site->store == NULL)
    return "store: the state store is not open";
  return NULL;
}

static enum egw_handler_result serve_metrics(struct egw_site *site, struct egw_response *resp) {
  /* Gauges read from the current site at scrape time. */
  if (site->tokens.cache) {
    struct egw_tokcache_stats st;
    egw_tokcache_stats(site->tokens.cache, &st);
    egw_metrics_token_cache_entries((int64_t)st.entries);
  }
  struct egw_buf text = {0};
  int rc = egw_metrics_render(&text);
  if (rc == 0)
    rc = egw_response_set_body(resp, 200, "text/plain; version=0.0.4; charset=utf-8",
                               (const char *)text.data, text.len);
  egw_buf_free(&text);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

static enum egw_handler_result admin_on_request(void *state, struct egw_exchange *x) {
  struct egw_site *site = state;
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_response *resp = egw_exchange_response(x);
  int rc;
  if (strcmp(req->path, "/metrics") == 0)
    return serve_metrics(site, resp);
  if (strcmp(req->path, "/healthz") == 0) {
    rc = egw_response_json(resp, 200, "{\"status\":\"ok\"}");
  } else if (strcmp(req->path, "/readyz") == 0) {
    const char *why = not_ready(site);
    rc = why ? egw_response_problem(resp, 503, "Service Unavailable", why, "NOT_READY")
             : egw_response_json(resp, 200, "{\"status\":\"ready\"}");
  } else {
    return EGW_DECLINED;
  }
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

const struct egw_role_ops egw_role_admin = {
    .name = "admin",
    .routes = admin_routes,
    .init = admin_init,
    .on_request = admin_on_request,
};
