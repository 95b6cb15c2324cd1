/* The token issuers a site trusts and their verification keys, built once from the
 * policy (site.yaml "tokens.issuers" and "ecs.signing_keys"); immutable afterwards, so a
 * reload builds a new set. The local ECS's keys live here too: the first signs, all of
 * them verify, and all of them are published in its JWKS. */
#ifndef EGW_AUTH_ISSUERS_H
#define EGW_AUTH_ISSUERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/authz.h"
#include "auth/jwt.h"
#include "config/policy.h"

struct egw_issuer_set;

/* egw_issuers_new loads every key the policy names. On error returns NULL with *out_err
 * (malloc'd, "file:line: key: message"). */
struct egw_issuer_set *egw_issuers_new(const struct egw_site_policy *policy, char **out_err);
void egw_issuers_free(struct egw_issuer_set *set);

/* egw_issuers_find_key returns the key of issuer |iss| with id |kid| (borrowed), or
 * NULL when the issuer is not trusted or has no such key. An empty |kid| finds the
 * issuer's key only when it has exactly one. */
const struct egw_jwk *egw_issuers_find_key(const struct egw_issuer_set *set, const char *iss,
                                           const char *kid);
/* egw_issuers_is_trusted says whether |iss| is one of the site's issuers. */
int egw_issuers_is_trusted(const struct egw_issuer_set *set, const char *iss);

/* Keys an issuer publishes at a jwks_uri: fetched at start and again, at most every
 * refresh interval, when a token names a kid the set does not hold. The fetching itself
 * (HTTP) is the site's: it registers a fetch function with egw_issuers_set_fetcher and
 * reports each outcome with egw_remote_keys_fetched. Requests that need the new keys
 * wait on the source's wait list (auth/authz.h). */
struct egw_remote_keys;

/* egw_remote_keys_fetch_fn starts fetching |rk|'s uri; it must end, on the loop
 * thread and not from inside this call, with exactly one egw_remote_keys_fetched. It
 * returns 0, or non-zero when it cannot start (then no egw_remote_keys_fetched). */
typedef int (*egw_remote_keys_fetch_fn)(void *arg, struct egw_remote_keys *rk, const char *uri);

/* egw_issuers_set_fetcher registers the fetch function (NULL: remote keys are never
 * fetched and tokens that need them are refused). */
void egw_issuers_set_fetcher(struct egw_issuer_set *set, egw_remote_keys_fetch_fn fetch, void *arg);
/* egw_issuers_fetch_all starts a fetch for every jwks_uri issuer (at start-up). */
void egw_issuers_fetch_all(struct egw_issuer_set *set, uint64_t now_ms);

/* egw_remote_keys_fetched ends a fetch: |jwks| is the document received (borrowed), or
 * NULL when the fetch failed (|why| says why, for the log). A usable document replaces
 * the source's keys; either way every waiting request is woken. Returns 0 when the keys
 * were replaced, else -1 and sets *out_err to a static reason. */
int egw_remote_keys_fetched(struct egw_remote_keys *rk, const json_t *jwks, const char **out_err);
const char *egw_remote_keys_issuer(const struct egw_remote_keys *rk);

enum egw_key_lookup {
  EGW_KEY_FOUND,
  EGW_KEY_UNKNOWN, /* no such issuer or kid, and no fetch to wait for */
  EGW_KEY_WAIT,    /* |wait| was put on the issuer's wait list: a fetch is under way */
};

/* egw_issuers_lookup_key is egw_issuers_find_key that can wait: for an issuer with a
 * jwks_uri and a kid it does not hold, it starts a fetch (unless one ran less than the
 * refresh interval ago) and puts |wait| on the issuer's wait list. |wait| NULL: never
 * waits. */
enum egw_key_lookup egw_issuers_lookup_key(struct egw_issuer_set *set, const char *iss,
                                           const char *kid, uint64_t now_ms,
                                           struct egw_authz_wait *wait,
                                           const struct egw_jwk **out_key);

/* egw_issuers_introspection_uri returns the RFC 7662 endpoint of issuer |iss|, or NULL
 * when it has none or is not trusted. */
const char *egw_issuers_introspection_uri(const struct egw_issuer_set *set, const char *iss);

/* egw_issuers_canonical_id returns the set's own copy of issuer id |iss| (it lives as
 * long as the set), or NULL when the issuer is not trusted. */
const char *egw_issuers_canonical_id(const struct egw_issuer_set *set, const char *iss);

/* egw_issuers_signing_key returns the local ECS's current signing key (borrowed), or
 * NULL when the site has no ECS. */
const struct egw_jwk *egw_issuers_signing_key(const struct egw_issuer_set *set);
/* egw_issuers_local_jwks returns a new {"keys":[...]} with the public part of every
 * local ECS key, or NULL when out of memory. */
json_t *egw_issuers_local_jwks(const struct egw_issuer_set *set);

#endif
