/* The token issuers a site trusts and their verification keys, built once from the
 * policy (site.yaml "tokens.issuers" and "ecs.signing_keys"); immutable afterwards, so a
 * reload builds a new set. The local ECS's keys live here too: the first signs, all of
 * them verify, and all of them are published in its JWKS. */
#ifndef EGW_AUTH_ISSUERS_H
#define EGW_AUTH_ISSUERS_H

#include <jansson.h>
#include <stddef.h>

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

/* egw_issuers_signing_key returns the local ECS's current signing key (borrowed), or
 * NULL when the site has no ECS. */
const struct egw_jwk *egw_issuers_signing_key(const struct egw_issuer_set *set);
/* egw_issuers_local_jwks returns a new {"keys":[...]} with the public part of every
 * local ECS key, or NULL when out of memory. */
json_t *egw_issuers_local_jwks(const struct egw_issuer_set *set);

#endif
