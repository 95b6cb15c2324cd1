/* authz: static (TS 33.501 13.3.0). Per-route allow-lists of peer identities from the
 * listener's policy. The first rule whose path prefix and methods match the request
 * decides; a request no rule covers is denied (fail closed). */
#include <string.h>

#include "auth/allowlist.h"
#include "auth/authz.h"

static int static_init(const struct egw_listener_policy *lp, const struct egw_token_env *tokens,
                       void **out_state, char **out_err) {
  *out_state = (void *)&lp->authz;
  return 0;
}

static enum egw_authz_decision static_check(void *state, const struct egw_request *req,
                                            struct egw_authz_wait *wait,
                                            struct egw_authz_verdict *out) {
  const struct egw_allow_rule *rule = egw__authz_find_rule(state, req);
  if (rule != NULL) {
    if (rule->allow_any) {
      *out = (struct egw_authz_verdict){.reason = "rule allows any peer"};
      return EGW_AUTHZ_ALLOW;
    }
    for (size_t k = 0; k < rule->n_patterns; k++) {
      if (egw_allowlist_match(rule->patterns[k], req->peer)) {
        *out = (struct egw_authz_verdict){.reason = "peer matches the allow-list"};
        return EGW_AUTHZ_ALLOW;
      }
    }
    *out = (struct egw_authz_verdict){
        .status = 403,
        .cause = "PEER_NOT_ALLOWED",
        .reason = req->peer->kind == EGW_PEER_NONE ? "anonymous peer; the route needs an identity"
                                                   : "peer is not in the route's allow-list",
    };
    return EGW_AUTHZ_DENY;
  }
  *out = (struct egw_authz_verdict){
      .status = 403,
      .cause = "PEER_NOT_ALLOWED",
      .reason = "no allow rule covers this route",
  };
  return EGW_AUTHZ_DENY;
}

const struct egw_authz_provider egw__authz_static = {
    .name = "static",
    .init = static_init,
    .check = static_check,
};
