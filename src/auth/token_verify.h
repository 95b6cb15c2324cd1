/* Bearer token verification shared by the token authz provider and the ECS's
 * introspection and revocation endpoints: the cache first, then issuer, key, algorithm
 * and signature (TS 33.501 13.4.1), then revocation. Per-request checks (sub, aud,
 * scope, exp, binding) are egw_token_check_claims, run by the caller. */
#ifndef EGW_AUTH_TOKEN_VERIFY_H
#define EGW_AUTH_TOKEN_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "auth/introspection.h"
#include "auth/issuers.h"
#include "auth/jwt.h"
#include "auth/tokcache.h"

/* The site's token services, handed to authorization providers and roles. */
struct egw_token_env {
  struct egw_tokcache *cache;
  struct egw_issuer_set *issuers;          /* mutable: keys fetched from jwks_uri issuers */
  struct egw_introspection *introspection; /* NULL when no issuer has introspection_uri */
};

/* Which tokens a verifier accepts. */
struct egw_token_accept {
  unsigned algs;              /* enum egw_jws_alg bits */
  const char *const *issuers; /* trusted issuer ids; n_issuers 0: every site issuer */
  size_t n_issuers;
};

/* egw_token_verify returns 0 and a new reference to the token's claims in *out, -1
 * with *out_reason (static text naming what failed, never the token), or 1 when the
 * issuer's keys are being fetched and |wait| (non-NULL) was put on its wait list: ask
 * again when it is resumed. With |wait| NULL it never returns 1. */
int egw_token_verify(const struct egw_token_env *env, const struct egw_token_accept *accept,
                     const char *token, size_t len, struct egw_authz_wait *wait,
                     struct egw_token_claims **out, const char **out_reason);

/* egw_token_now_s and egw_token_now_ms: wall-clock seconds (token times) and a
 * monotonic millisecond clock (negative cache). */
int64_t egw_token_now_s(void);
uint64_t egw_token_now_ms(void);

#endif
