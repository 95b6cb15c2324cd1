/* Tokens checked by their issuer (RFC 7662) instead of locally: listeners in remote mode,
 * and opaque tokens (entitlement tokens, TR 33.739 solution 25). One call per token in
 * flight; requests with the same token join it and wait (auth/authz.h wait lists). The
 * answers are kept in a token cache of their own, so that a remote answer never stands
 * in for a local verification with other accepted algorithms. The HTTP call itself is
 * the site's: it registers a caller and reports with egw_introspection_done. */
#ifndef EGW_AUTH_INTROSPECTION_H
#define EGW_AUTH_INTROSPECTION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/authz.h"
#include "auth/jwt.h"

struct egw_introspection;
struct egw_introspection_call;

/* egw_introspection_caller_fn starts POSTing |token| to |uri|; it must end, on the loop
 * thread and never from inside this call, with exactly one egw_introspection_done.
 * Returns 0, or non-zero when it cannot start. */
typedef int (*egw_introspection_caller_fn)(void *arg, struct egw_introspection_call *call,
                                           const char *uri, const char *token, size_t len);

struct egw_introspection *egw_introspection_new(size_t max_entries, uint32_t negative_ttl_ms);
void egw_introspection_free(struct egw_introspection *in);
void egw_introspection_set_caller(struct egw_introspection *in, egw_introspection_caller_fn fn,
                                  void *arg);

enum egw_introspection_result {
  EGW_INTROSPECTION_ACTIVE,   /* *out_claims set (a new reference) */
  EGW_INTROSPECTION_INACTIVE, /* the issuer said no, or could not be asked: refuse */
  EGW_INTROSPECTION_WAIT,     /* |wait| is on the call's wait list */
};

/* egw_introspection_check answers from the cache, or starts (or joins) a call to |uri|
 * and puts |wait| on it. |issuer| is the id the answer's iss must equal. An answer is
 * reused until the token's exp, at most |cache_s| seconds. */
enum egw_introspection_result egw_introspection_check(struct egw_introspection *in,
                                                      const char *issuer, const char *uri,
                                                      const char *token, size_t len,
                                                      uint32_t cache_s, struct egw_authz_wait *wait,
                                                      struct egw_token_claims **out_claims,
                                                      const char **out_reason);

/* egw_introspection_done ends |call| with the issuer's JSON answer (borrowed), or NULL
 * when the call failed; every waiting request is woken. */
void egw_introspection_done(struct egw_introspection_call *call, const json_t *answer);

#endif
