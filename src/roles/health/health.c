/* The health role: liveness (/healthz: the loop answers) and readiness (/readyz: every
 * listener of the site is up). Mount it on any listener; it holds no state. */
#include "edgegw/role.h"

#include <string.h>

static const struct egw_route health_routes[] = {
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD, .prefix = "/healthz"},
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD, .prefix = "/readyz"},
    {.prefix = NULL},
};

static int health_init(struct egw_site *site, void **out_state, char **out_err) {
  *out_state = site;
  return 0;
}

static enum egw_handler_result health_on_request(void *state, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_response *resp = egw_exchange_response(x);
  int rc;
  if (strcmp(req->path, "/healthz") == 0)
    rc = egw_response_json(resp, 200, "{\"status\":\"ok\"}");
  else if (strcmp(req->path, "/readyz") == 0)
    rc = egw_site_ready(state) ? egw_response_json(resp, 200, "{\"status\":\"ready\"}")
                               : egw_response_json(resp, 503, "{\"status\":\"starting\"}");
  else
    return EGW_DECLINED;
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

const struct egw_role_ops egw_role_health = {
    .name = "health",
    .routes = health_routes,
    .init = health_init,
    .on_request = health_on_request,
};
