/* Authorization providers: the access phase that runs between routing and the role.
 * A listener's policy picks one (none, static, token); each is a table. */
#ifndef EGW_AUTH_AUTHZ_H
#define EGW_AUTH_AUTHZ_H

#include "config/policy.h"
#include "edgegw/http.h"

struct egw_token_env; /* auth/token_verify.h: the site's token cache and issuers */

enum egw_authz_decision {
  EGW_AUTHZ_ALLOW,
  EGW_AUTHZ_DENY,
  /* EGW_AUTHZ_RETRY: the provider needs asynchronous work (an issuer's keys); it will
   * decide later. Reserved for the token provider; the dispatcher answers 503 until
   * that provider exists. */
  EGW_AUTHZ_RETRY,
};

/* egw_authz_verdict explains a decision, for the response and the audit line. All
 * strings are static or live in the request's arena. */
struct egw_authz_verdict {
  int status;                   /* on DENY: 401 or 403 */
  const char *cause;            /* ProblemDetails cause: "PEER_NOT_ALLOWED", ... */
  const char *reason;           /* for the audit line and the problem detail */
  const char *www_authenticate; /* on 401: the challenge, else NULL */
};

/* egw_authz_provider is one provider's table. Return contract: init returns 0 or a
 * negative code with *out_err (malloc'd, "file:line: authz: message"); check fills
 * *out on every call and never blocks; dispose accepts NULL. */
struct egw_authz_provider {
  const char *name;
  int (*init)(const struct egw_listener_policy *lp, const struct egw_token_env *tokens,
              void **out_state, char **out_err);
  enum egw_authz_decision (*check)(void *state, const struct egw_request *req,
                                   struct egw_authz_verdict *out);
  void (*dispose)(void *state);
};

/* egw_authz_provider_for returns the provider of |mode|; never NULL. */
const struct egw_authz_provider *egw_authz_provider_for(enum egw_authz_mode mode);

/* egw__authz_find_rule returns the first rule of |policy| whose path prefix (whole path,
 * or continued at a '/') and methods match |req|, or NULL. Shared by static and token. */
const struct egw_allow_rule *egw__authz_find_rule(const struct egw_authz_policy *policy,
                                                  const struct egw_request *req);

#endif
