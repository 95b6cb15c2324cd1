#include "auth/issuers.h"

#include <stdlib.h>
#include <string.h>

#include "util/format.h"

struct egw_remote_keys {
  struct egw_issuer_set *set;
  struct issuer *issuer;
  const char *uri; /* borrowed from the policy */
  uint64_t refresh_min_ms;
  uint64_t last_fetch_ms; /* when the last fetch started; 0: never */
  int fetching;
  struct egw_authz_waitlist waiters;
};

struct issuer {
  const char *id; /* borrowed from the policy, which outlives the set */
  struct egw_jwk **keys;
  size_t n_keys;
  struct egw_remote_keys *remote; /* jwks_uri issuers only */
  const char *introspection_uri;  /* borrowed from the policy; NULL when none */
};

struct egw_issuer_set {
  struct issuer *issuers;
  size_t n_issuers;
  struct egw_jwk **local_keys; /* the ECS's keys, signing key first */
  size_t n_local_keys;
  egw_remote_keys_fetch_fn fetch;
  void *fetch_arg;
};

static int add_key(struct egw_jwk ***keys, size_t *n, struct egw_jwk *key) {
  struct egw_jwk **grown = realloc(*keys, (*n + 1) * sizeof(*grown));
  if (grown == NULL) {
    egw_jwk_free(key);
    return -1;
  }
  grown[(*n)++] = key;
  *keys = grown;
  return 0;
}

static void free_keys(struct egw_jwk **keys, size_t n) {
  for (size_t i = 0; i < n; i++)
    egw_jwk_free(keys[i]);
  free(keys);
}

/* Loads key files; errors carry the policy's file and line. */
static int load_key_files(const char *file, const char *what,
                          const struct egw_key_file_policy *files, size_t n, struct egw_jwk ***keys,
                          size_t *n_keys, char **out_err) {
  for (size_t i = 0; i < n; i++) {
    char *err = NULL;
    struct egw_jwk *key = egw_jwk_from_pem_file(files[i].file, files[i].kid, &err);
    if (key == NULL) {
      *out_err = egw_format("%s:%d: %s: %s", file, files[i].line, what, err ? err : "bad key");
      free(err);
      return -1;
    }
    if (add_key(keys, n_keys, key) != 0) {
      *out_err = egw_format("%s: out of memory", file);
      return -1;
    }
  }
  return 0;
}

static int load_jwks_file(const char *file, int line, const char *path, struct egw_jwk ***keys,
                          size_t *n_keys, char **out_err) {
  json_error_t jerr;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  json_t *list = doc ? json_object_get(doc, "keys") : NULL;
  if (!json_is_array(list) || json_array_size(list) == 0) {
    *out_err = egw_format("%s:%d: tokens.issuers.jwks_file: %s: %s", file, line, path,
                          doc ? "no \"keys\" array" : jerr.text);
    json_decref(doc);
    return -1;
  }
  size_t i;
  json_t *entry;
  json_array_foreach(list, i, entry) {
    char *err = NULL;
    struct egw_jwk *key = egw_jwk_from_json(entry, &err);
    if (key == NULL || add_key(keys, n_keys, key) != 0) {
      *out_err = egw_format("%s:%d: tokens.issuers.jwks_file: %s: key #%zu: %s", file, line, path,
                            i + 1, err ? err : "out of memory");
      free(err);
      json_decref(doc);
      return -1;
    }
  }
  json_decref(doc);
  return 0;
}

struct egw_issuer_set *egw_issuers_new(const struct egw_site_policy *policy, char **out_err) {
  struct egw_issuer_set *set = calloc(1, sizeof(*set));
  if (set == NULL)
    goto nomem;
  if (policy->ecs && load_key_files(policy->site_file, "ecs.signing_keys",
                                    policy->ecs->signing_keys, policy->ecs->n_signing_keys,
                                    &set->local_keys, &set->n_local_keys, out_err) != 0)
    goto fail;
  set->issuers = calloc(policy->n_issuers ? policy->n_issuers : 1, sizeof(*set->issuers));
  if (set->issuers == NULL)
    goto nomem;
  for (size_t i = 0; i < policy->n_issuers; i++) {
    const struct egw_issuer_policy *ip = &policy->issuers[i];
    struct issuer *is = &set->issuers[set->n_issuers++];
    is->id = ip->id;
    is->introspection_uri = ip->introspection_uri;
    int rc = 0;
    if (ip->local) {
      for (size_t k = 0; k < set->n_local_keys && rc == 0; k++) {
        egw_jwk_up_ref(set->local_keys[k]);
        rc = add_key(&is->keys, &is->n_keys, set->local_keys[k]);
      }
      if (rc != 0)
        goto nomem;
    } else if (ip->jwks_uri) {
      is->remote = calloc(1, sizeof(*is->remote));
      if (is->remote == NULL)
        goto nomem;
      is->remote->set = set;
      is->remote->issuer = is;
      is->remote->uri = ip->jwks_uri;
      is->remote->refresh_min_ms = (uint64_t)ip->jwks_refresh_min_s * 1000;
    } else if (ip->jwks_file) {
      rc = load_jwks_file(policy->site_file, ip->line, ip->jwks_file, &is->keys, &is->n_keys,
                          out_err);
    } else if (ip->n_keys > 0) {
      rc = load_key_files(policy->site_file, "tokens.issuers.keys", ip->keys, ip->n_keys, &is->keys,
                          &is->n_keys, out_err);
    }
    if (rc != 0)
      goto fail;
  }
  return set;
nomem:
  *out_err = egw_format("%s: out of memory", policy->site_file);
fail:
  egw_issuers_free(set);
  return NULL;
}

void egw_issuers_free(struct egw_issuer_set *set) {
  if (set == NULL)
    return;
  for (size_t i = 0; i < set->n_issuers; i++) {
    free_keys(set->issuers[i].keys, set->issuers[i].n_keys);
    if (set->issuers[i].remote) {
      /* Nobody waits any more: connections are gone before the site is freed. */
      free(set->issuers[i].remote);
    }
  }
  free(set->issuers);
  free_keys(set->local_keys, set->n_local_keys);
  free(set);
}

static const struct issuer *find_issuer(const struct egw_issuer_set *set, const char *iss) {
  for (size_t i = 0; set && iss && i < set->n_issuers; i++) {
    if (strcmp(set->issuers[i].id, iss) == 0)
      return &set->issuers[i];
  }
  return NULL;
}

int egw_issuers_is_trusted(const struct egw_issuer_set *set, const char *iss) {
  return find_issuer(set, iss) != NULL;
}

const struct egw_jwk *egw_issuers_find_key(const struct egw_issuer_set *set, const char *iss,
                                           const char *kid) {
  const struct issuer *is = find_issuer(set, iss);
  if (is == NULL)
    return NULL;
  if (kid == NULL || kid[0] == '\0')
    return is->n_keys == 1 ? is->keys[0] : NULL;
  for (size_t i = 0; i < is->n_keys; i++) {
    if (strcmp(egw_jwk_kid(is->keys[i]), kid) == 0)
      return is->keys[i];
  }
  return NULL;
}

const struct egw_jwk *egw_issuers_signing_key(const struct egw_issuer_set *set) {
  return set && set->n_local_keys ? set->local_keys[0] : NULL;
}

json_t *egw_issuers_local_jwks(const struct egw_issuer_set *set) {
  json_t *keys = json_array();
  for (size_t i = 0; keys && set && i < set->n_local_keys; i++) {
    if (json_array_append_new(keys, egw_jwk_public_json(set->local_keys[i])) != 0) {
      json_decref(keys);
      return NULL;
    }
  }
  return keys ? json_pack("{s:o}", "keys", keys) : NULL;
}

void egw_issuers_set_fetcher(struct egw_issuer_set *set, egw_remote_keys_fetch_fn fetch,
                             void *arg) {
  set->fetch = fetch;
  set->fetch_arg = arg;
}

static int start_fetch(struct egw_remote_keys *rk, uint64_t now_ms) {
  if (rk->fetching)
    return 0;
  if (rk->set->fetch == NULL)
    return -1;
  rk->last_fetch_ms = now_ms ? now_ms : 1;
  if (rk->set->fetch(rk->set->fetch_arg, rk, rk->uri) != 0)
    return -1;
  rk->fetching = 1;
  return 0;
}

void egw_issuers_fetch_all(struct egw_issuer_set *set, uint64_t now_ms) {
  for (size_t i = 0; set && i < set->n_issuers; i++) {
    if (set->issuers[i].remote)
      start_fetch(set->issuers[i].remote, now_ms);
  }
}

const char *egw_remote_keys_issuer(const struct egw_remote_keys *rk) { return rk->issuer->id; }

int egw_remote_keys_fetched(struct egw_remote_keys *rk, const json_t *jwks, const char **out_err) {
  rk->fetching = 0;
  int rc = -1;
  *out_err = "the fetch failed";
  const json_t *list = jwks ? json_object_get(jwks, "keys") : NULL;
  if (jwks && !json_is_array(list))
    *out_err = "the document has no \"keys\" array";
  struct egw_jwk **keys = NULL;
  size_t n = 0;
  size_t i;
  const json_t *entry;
  if (json_is_array(list)) {
    rc = 0;
    json_array_foreach(list, i, entry) {
      char *err = NULL;
      struct egw_jwk *key = egw_jwk_from_json(entry, &err);
      free(err);
      /* One unusable entry (another use, an unknown kty) does not hide the others. */
      if (key != NULL && add_key(&keys, &n, key) != 0) {
        rc = -1;
        *out_err = "out of memory";
        break;
      }
    }
    if (rc == 0 && n == 0) {
      rc = -1;
      *out_err = "the document has no usable signing key";
    }
  }
  if (rc == 0) {
    free_keys(rk->issuer->keys, rk->issuer->n_keys);
    rk->issuer->keys = keys;
    rk->issuer->n_keys = n;
  } else {
    free_keys(keys, n);
  }
  egw_authz_waitlist_wake(&rk->waiters);
  return rc;
}

enum egw_key_lookup egw_issuers_lookup_key(struct egw_issuer_set *set, const char *iss,
                                           const char *kid, uint64_t now_ms,
                                           struct egw_authz_wait *wait,
                                           const struct egw_jwk **out_key) {
  *out_key = egw_issuers_find_key(set, iss, kid);
  if (*out_key != NULL)
    return EGW_KEY_FOUND;
  const struct issuer *is = find_issuer(set, iss);
  struct egw_remote_keys *rk = is ? is->remote : NULL;
  if (rk == NULL || wait == NULL)
    return EGW_KEY_UNKNOWN;
  /* Rate limit: an unknown kid triggers a fetch at most once per refresh interval, so
   * tokens with made-up kids cannot make us hammer the issuer. */
  if (!rk->fetching && rk->last_fetch_ms != 0 && now_ms - rk->last_fetch_ms < rk->refresh_min_ms)
    return EGW_KEY_UNKNOWN;
  if (start_fetch(rk, now_ms) != 0)
    return EGW_KEY_UNKNOWN;
  egw_authz_waitlist_add(&rk->waiters, wait);
  return EGW_KEY_WAIT;
}

const char *egw_issuers_introspection_uri(const struct egw_issuer_set *set, const char *iss) {
  const struct issuer *is = find_issuer(set, iss);
  return is ? is->introspection_uri : NULL;
}

const char *egw_issuers_canonical_id(const struct egw_issuer_set *set, const char *iss) {
  const struct issuer *is = find_issuer(set, iss);
  return is ? is->id : NULL;
}
