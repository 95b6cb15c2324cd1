/* The whoami role: tells a client how this listener sees it (interface, role, TLS mode,
 * peer identity). For operators checking certificates and PSK set-ups, and for tests. */
#include "edgegw/role.h"

#include <jansson.h>
#include <stdlib.h>

static const struct egw_route whoami_routes[] = {
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD, .prefix = "/whoami"},
    {.prefix = NULL},
};

static enum egw_handler_result whoami_on_request(void *state, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  const struct egw_peer *peer = req->peer;
  json_t *body = json_pack("{s:s, s:s, s:s, s:{s:s, s:s?}}", "interface", req->interface_name,
                           "role", req->role_name, "tls", req->tls_mode, "peer", "kind",
                           egw_peer_kind_name(peer->kind), "id", peer->id);
  if (body == NULL)
    return EGW_FAILED;
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (text == NULL)
    return EGW_FAILED;
  int rc = egw_response_json(egw_exchange_response(x), 200, text);
  free(text);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

const struct egw_role_ops egw_role_whoami = {
    .name = "whoami",
    .routes = whoami_routes,
    .on_request = whoami_on_request,
};
