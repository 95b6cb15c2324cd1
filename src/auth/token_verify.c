#include "auth/token_verify.h"

#include <string.h>
#include <time.h>

int64_t egw_token_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec;
}

uint64_t egw_token_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int issuer_accepted(const struct egw_token_env *env, const struct egw_token_accept *a,
                           const char *iss) {
  if (!egw_issuers_is_trusted(env->issuers, iss))
    return 0;
  if (a->n_issuers == 0)
    return 1;
  for (size_t i = 0; i < a->n_issuers; i++) {
    if (strcmp(a->issuers[i], iss) == 0)
      return 1;
  }
  return 0;
}

/* A hit was verified by some listener; this one may trust fewer issuers or algorithms. */
static int hit_accepted(const struct egw_token_env *env, const struct egw_token_accept *a,
                        const struct egw_token_claims *c) {
  return (c->alg & a->algs) != 0 && issuer_accepted(env, a, c->iss);
}

/* The full check of a token the cache does not know. */
static struct egw_token_claims *verify_uncached(const struct egw_token_env *env,
                                                const struct egw_token_accept *accept,
                                                const char *token, size_t len, int64_t now_s,
                                                uint64_t now_ms, struct egw_authz_wait *wait,
                                                int *out_wait, const char **out_reason) {
  struct egw_jws jws;
  memset(&jws, 0, sizeof(jws));
  struct egw_token_claims *claims = NULL;
  if (egw_jws_decode(token, len, &jws) != EGW_JWS_OK) {
    *out_reason = "the token is not a well-formed JWS";
    goto end;
  }
  const char *iss = json_string_value(json_object_get(jws.payload, "iss"));
  if (iss == NULL || !issuer_accepted(env, accept, iss)) {
    *out_reason = "the token's issuer is not trusted here";
    goto end;
  }
  const struct egw_jwk *key = NULL;
  switch (egw_issuers_lookup_key(env->issuers, iss, jws.kid, now_ms, wait, &key)) {
  case EGW_KEY_FOUND:
    break;
  case EGW_KEY_WAIT:
    *out_wait = 1;
    goto end;
  case EGW_KEY_UNKNOWN:
    *out_reason = "the issuer has no key with the token's kid";
    goto end;
  }
  enum egw_jws_result r = egw_jws_verify(&jws, key, accept->algs);
  if (r != EGW_JWS_OK) {
    /* A bad signature is remembered: the same forged token again costs a lookup. */
    if (r == EGW_JWS_BAD_SIGNATURE || r == EGW_JWS_KEY_MISMATCH)
      egw_tokcache_put_negative(env->cache, token, len, now_ms);
    *out_reason = r == EGW_JWS_ALG_REFUSED ? "the token's algorithm is not accepted here"
                  : r == EGW_JWS_KEY_MISMATCH
                      ? "the token's algorithm does not match the issuer's key"
                      : "the token's signature does not verify";
    goto end;
  }
  claims = egw_token_claims_from_json(jws.payload, out_reason);
  if (claims == NULL)
    goto end;
  claims->alg = egw_jwk_alg(key);
  if (claims->jti && egw_tokcache_is_revoked(env->cache, claims->jti, now_s)) {
    *out_reason = "the token was revoked";
    egw_token_claims_free(claims);
    claims = NULL;
    goto end;
  }
  /* Cached even if it fails a later per-request check (aud, scope, exp): those depend on
   * the request, the signature does not. An allocation failure only costs the cache. */
  egw_tokcache_put(env->cache, token, len, claims, now_s);
end:
  egw_jws_cleanup(&jws);
  return claims;
}

int egw_token_verify(const struct egw_token_env *env, const struct egw_token_accept *accept,
                     const char *token, size_t len, struct egw_authz_wait *wait,
                     struct egw_token_claims **out, const char **out_reason) {
  int64_t now_s = egw_token_now_s();
  uint64_t now_ms = egw_token_now_ms();
  struct egw_token_claims *claims = NULL;
  switch (egw_tokcache_get(env->cache, token, len, now_s, now_ms, &claims)) {
  case EGW_TOKCACHE_HIT:
    if (!hit_accepted(env, accept, claims)) {
      egw_token_claims_free(claims);
      *out_reason = "the token's issuer or algorithm is not accepted here";
      return -1;
    }
    *out = claims;
    return 0;
  case EGW_TOKCACHE_REVOKED:
    *out_reason = "the token was revoked";
    return -1;
  case EGW_TOKCACHE_NEGATIVE:
    *out_reason = "the token's signature does not verify";
    return -1;
  case EGW_TOKCACHE_MISS:
    break;
  }
  int must_wait = 0;
  claims = verify_uncached(env, accept, token, len, now_s, now_ms, wait, &must_wait, out_reason);
  if (must_wait)
    return 1;
  if (claims == NULL)
    return -1;
  *out = claims;
  return 0;
}
