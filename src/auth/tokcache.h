/* The token cache shared by every role and listener of a site: a token is verified once,
 * later requests with the same token find its checked claims here.
 *
 *   key   SHA-256 of the token text (the token itself is never stored);
 *   value the checked claims (reference-counted, immutable);
 *   bound at most max_entries; a full cache drops the entry that expires first;
 *   expiry an entry is dropped once its token's exp has passed;
 *   deny  a revocation deny-list on jti, checked on every hit, kept until the revoked
 *         token's exp;
 *   negative  tokens that failed signature verification are remembered for a short time
 *         so that a flood of one forged token costs one verification.
 *
 * Loop thread only. Times are seconds (claims) or milliseconds (negative entries) of the
 * caller's clock, passed in so that tests control time. */
#ifndef EGW_AUTH_TOKCACHE_H
#define EGW_AUTH_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"

struct egw_tokcache;

/* egw_tokcache_new returns an empty cache holding at most |max_entries| verified tokens
 * (>= 1) and remembering failed ones for |negative_ttl_ms| (0: not at all), or NULL when
 * out of memory. */
struct egw_tokcache *egw_tokcache_new(size_t max_entries, uint32_t negative_ttl_ms);
/* egw_tokcache_free drops every entry; NULL is accepted. */
void egw_tokcache_free(struct egw_tokcache *tc);

enum egw_tokcache_result {
  EGW_TOKCACHE_HIT,      /* *out_claims is set (a new reference: free it) */
  EGW_TOKCACHE_MISS,     /* verify the token, then egw_tokcache_put or _put_negative */
  EGW_TOKCACHE_NEGATIVE, /* the token failed verification moments ago: refuse it */
  EGW_TOKCACHE_REVOKED,  /* cached, but its jti is on the deny-list: refuse it */
};

/* egw_tokcache_get looks |token| up. An entry whose exp is before |now_s| is dropped
 * and reported as a miss (verification then fails on exp with the right reason). */
enum egw_tokcache_result egw_tokcache_get(struct egw_tokcache *tc, const char *token, size_t len,
                                          int64_t now_s, uint64_t now_ms,
                                          struct egw_token_claims **out_claims);

/* egw_tokcache_put stores |claims| (takes a reference of its own) for |token|. A token
 * whose jti is revoked, or whose exp is before |now_s|, is not stored (and 0 returned):
 * after verifying a token on a miss, check egw_tokcache_is_revoked before accepting it.
 * Returns 0 or EGW_ERR_NOMEM. */
int egw_tokcache_put(struct egw_tokcache *tc, const char *token, size_t len,
                     struct egw_token_claims *claims, int64_t now_s);

/* egw_tokcache_put_negative remembers that |token| failed verification at |now_ms|. The
 * negative entries are bounded too (max_entries / 4, oldest dropped first). */
void egw_tokcache_put_negative(struct egw_tokcache *tc, const char *token, size_t len,
                               uint64_t now_ms);

/* egw_tokcache_revoke puts |jti| on the deny-list until |exp_s| (the revoked token's
 * exp; after it the token is refused as expired anyway) and drops the claims of cached
 * entries with that jti; those entries stay, answering EGW_TOKCACHE_REVOKED until their
 * exp (or eviction), so that the token is not sent back to verification. Returns 0 or
 * EGW_ERR_NOMEM. */
int egw_tokcache_revoke(struct egw_tokcache *tc, const char *jti, int64_t exp_s);
/* egw_tokcache_is_revoked says whether |jti| is on the deny-list at |now_s|. */
int egw_tokcache_is_revoked(struct egw_tokcache *tc, const char *jti, int64_t now_s);

/* egw_tokcache_forget_verified drops every cached verification, positive and negative,
 * and keeps the deny-list: after a reload changed the issuers' keys, a token is checked
 * again (once) against the new keys, while a revoked jti stays refused. */
void egw_tokcache_forget_verified(struct egw_tokcache *tc);

/* Counters for tests, logs and metrics: entries counts those holding claims (not the
 * revoked ones); hits and misses count HIT and MISS answers; expirations count entries
 * dropped past their exp, evictions those dropped to make room. */
struct egw_tokcache_stats {
  size_t entries, negative_entries, revoked;
  uint64_t hits, misses, evictions, expirations;
};
void egw_tokcache_stats(const struct egw_tokcache *tc, struct egw_tokcache_stats *out);

#endif
