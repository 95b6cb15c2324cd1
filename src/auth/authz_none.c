/* authz: none. The listener's TLS mode is the only gate. */
#include "auth/authz.h"

static enum egw_authz_decision none_check(void *state, const struct egw_request *req,
                                          struct egw_authz_wait *wait,
                                          struct egw_authz_verdict *out) {
  *out = (struct egw_authz_verdict){.status = 0, .reason = "no authorization required"};
  return EGW_AUTHZ_ALLOW;
}

const struct egw_authz_provider egw__authz_none = {
    .name = "none",
    .check = none_check,
};
