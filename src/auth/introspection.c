#include "auth/introspection.h"

#include <openssl/mem.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "auth/tokcache.h"
#include "auth/token_verify.h"

struct egw_introspection_call {
  struct egw_introspection *in;
  struct egw_introspection_call *next;
  uint8_t digest[SHA256_DIGEST_LENGTH]; /* of the token: the token itself is not kept */
  char *token; /* kept only until the answer, to cache it under the token text */
  size_t len;
  char *issuer;
  uint32_t cache_s;
  struct egw_authz_waitlist waiters;
};

struct egw_introspection {
  struct egw_tokcache *answers;
  struct egw_introspection_call *calls; /* in flight */
  egw_introspection_caller_fn caller;
  void *caller_arg;
};

struct egw_introspection *egw_introspection_new(size_t max_entries, uint32_t negative_ttl_ms) {
  struct egw_introspection *in = calloc(1, sizeof(*in));
  if (in == NULL)
    return NULL;
  in->answers = egw_tokcache_new(max_entries, negative_ttl_ms);
  if (in->answers == NULL) {
    free(in);
    return NULL;
  }
  return in;
}

static void free_call(struct egw_introspection_call *call) {
  if (call->token) {
    OPENSSL_cleanse(call->token, call->len);
    free(call->token);
  }
  free(call->issuer);
  free(call);
}

void egw_introspection_free(struct egw_introspection *in) {
  if (in == NULL)
    return;
  /* Calls still in flight belong to the caller, which cancels them (and so ends them
   * through egw_introspection_done) before the site goes away. */
  egw_tokcache_free(in->answers);
  free(in);
}

void egw_introspection_set_caller(struct egw_introspection *in, egw_introspection_caller_fn fn,
                                  void *arg) {
  in->caller = fn;
  in->caller_arg = arg;
}

static struct egw_introspection_call *find_call(struct egw_introspection *in,
                                                const uint8_t *digest) {
  for (struct egw_introspection_call *c = in->calls; c; c = c->next) {
    if (CRYPTO_memcmp(c->digest, digest, sizeof(c->digest)) == 0)
      return c;
  }
  return NULL;
}

enum egw_introspection_result egw_introspection_check(struct egw_introspection *in,
                                                      const char *issuer, const char *uri,
                                                      const char *token, size_t len,
                                                      uint32_t cache_s, struct egw_authz_wait *wait,
                                                      struct egw_token_claims **out_claims,
                                                      const char **out_reason) {
  struct egw_token_claims *claims = NULL;
  switch (
      egw_tokcache_get(in->answers, token, len, egw_token_now_s(), egw_token_now_ms(), &claims)) {
  case EGW_TOKCACHE_HIT:
    if (strcmp(claims->iss, issuer) != 0) {
      egw_token_claims_free(claims);
      *out_reason = "the token's issuer is not trusted here";
      return EGW_INTROSPECTION_INACTIVE;
    }
    *out_claims = claims;
    return EGW_INTROSPECTION_ACTIVE;
  case EGW_TOKCACHE_NEGATIVE:
  case EGW_TOKCACHE_REVOKED:
    *out_reason = "the issuer does not confirm the token";
    return EGW_INTROSPECTION_INACTIVE;
  case EGW_TOKCACHE_MISS:
    break;
  }
  if (wait == NULL || in->caller == NULL) {
    *out_reason = "the issuer cannot be asked";
    return EGW_INTROSPECTION_INACTIVE;
  }
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256((const uint8_t *)token, len, digest);
  struct egw_introspection_call *call = find_call(in, digest);
  if (call == NULL) {
    call = calloc(1, sizeof(*call));
    if (call)
      call->token = malloc(len + 1);
    if (call)
      call->issuer = strdup(issuer);
    if (call == NULL || call->token == NULL || call->issuer == NULL) {
      if (call)
        free_call(call);
      *out_reason = "out of memory";
      return EGW_INTROSPECTION_INACTIVE;
    }
    memcpy(call->token, token, len);
    call->token[len] = '\0';
    call->len = len;
    call->in = in;
    call->cache_s = cache_s;
    memcpy(call->digest, digest, sizeof(digest));
    if (in->caller(in->caller_arg, call, uri, call->token, len) != 0) {
      free_call(call);
      *out_reason = "the issuer cannot be asked";
      return EGW_INTROSPECTION_INACTIVE;
    }
    call->next = in->calls;
    in->calls = call;
  }
  egw_authz_waitlist_add(&call->waiters, wait);
  return EGW_INTROSPECTION_WAIT;
}

void egw_introspection_done(struct egw_introspection_call *call, const json_t *answer) {
  struct egw_introspection *in = call->in;
  struct egw_introspection_call **p = &in->calls;
  while (*p && *p != call)
    p = &(*p)->next;
  if (*p)
    *p = call->next;
  const char *reason = NULL;
  struct egw_token_claims *claims = NULL;
  int64_t now = egw_token_now_s();
  if (answer && json_is_true(json_object_get(answer, "active")))
    claims = egw_token_claims_from_json(answer, &reason);
  if (claims && strcmp(claims->iss, call->issuer) == 0 && claims->exp > now) {
    /* Reused until exp, at most cache_s: the entry leaves the cache at its exp. */
    if (claims->exp > now + (int64_t)call->cache_s)
      claims->exp = now + (int64_t)call->cache_s;
    egw_tokcache_put(in->answers, call->token, call->len, claims, now);
  } else {
    /* Inactive, unusable or not answered: refused for the negative time, then asked
     * again. Failing closed costs a retry; failing open would admit anything. */
    egw_tokcache_put_negative(in->answers, call->token, call->len, egw_token_now_ms());
  }
  egw_token_claims_free(claims);
  egw_authz_waitlist_wake(&call->waiters);
  free_call(call);
}
