/* authz: token. The interface of bearer-token authorization (TS 33.501 13.4.1). Token
 * verification (issuers, signatures, claims, the shared cache) is not built yet, so this
 * provider trusts no issuer and refuses every request, with the RFC 6750 challenge a
 * client needs to see why. It never lets a request through. */
#include <string.h>
#include <strings.h>

#include "auth/authz.h"

/* The header is looked up here rather than with egw_request_header so that auth links
 * without the HTTP layer (the policy parser links auth for pattern checks). */
static const char *find_authorization(const struct egw_request *req, size_t *out_len) {
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    if (h->name_len == 13 && memcmp(h->name, "authorization", 13) == 0) {
      *out_len = h->value_len;
      return h->value;
    }
  }
  return NULL;
}

static enum egw_authz_decision token_check(void *state, const struct egw_request *req,
                                           struct egw_authz_verdict *out) {
  size_t len = 0;
  const char *auth = find_authorization(req, &len);
  if (auth == NULL || len < 7 || strncasecmp(auth, "Bearer ", 7) != 0) {
    *out = (struct egw_authz_verdict){
        .status = 401,
        .cause = "TOKEN_MISSING",
        .reason = "a Bearer access token is required",
        .www_authenticate = "Bearer realm=\"edgegw\"",
    };
    return EGW_AUTHZ_DENY;
  }
  *out = (struct egw_authz_verdict){
      .status = 401,
      .cause = "TOKEN_ISSUER_UNTRUSTED",
      .reason = "no trusted token issuer is configured on this listener",
      .www_authenticate = "Bearer realm=\"edgegw\", error=\"invalid_token\"",
  };
  return EGW_AUTHZ_DENY;
}

const struct egw_authz_provider egw__authz_token = {
    .name = "token",
    .check = token_check,
};
