/* site.yaml "tokens" (the shared token cache and the issuers whose tokens listeners may
 * accept) and "ecs" (the site's ECS as OAuth 2.0 authorization server). The checks that
 * need more than one section (a local issuer against ecs.id, the issuers a listener
 * names) are made in egw_policy_load_dir once every file is read. The ecs keys of the
 * EDGE flows (provisioning, registration, peers...) are parsed in ecs_edge_policy.c; the
 * ecs key table below lists their handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/allowlist.h"
#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- key files (issuer keys, ECS signing keys) ---------------------------------------- */

struct kparse {
  struct egw_key_file_policy *k;
  int kid_line;
};

static int set_key_kid(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct kparse *kx = obj;
  kx->kid_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &kx->k->kid);
}

static int set_key_file(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_path(f, at->path, at->value, &((struct kparse *)obj)->k->file);
}

/* tokens.issuers[].keys[]: a PEM file, kid optional (the RFC 7638 thumbprint). */
static const struct egw__cfg_key issuer_key_keys[] = {
    {.name = "file", .set = set_key_file, .required = 1},
    {.name = "kid", .set = set_key_kid},
};

/* ecs.signing_keys[]: the kid is required, tokens name it and rollover depends on it. */
static const struct egw__cfg_key signing_key_keys[] = {
    {.name = "kid", .set = set_key_kid, .required = 1},
    {.name = "key", .set = set_key_file, .required = 1},
};

/* Reads a non-empty list of key files into *out (counted before it is filled, so the
 * caller's free handles a failure part way); kids that are given must be unique. */
static int key_list(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                    const struct egw__cfg_key *keys, size_t n_keys,
                    struct egw_key_file_policy **out, size_t *out_n) {
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  *out = calloc(n, sizeof(**out));
  if (*out == NULL)
    return egw__cfg_nomem(f);
  *out_n = n;
  for (size_t i = 0; i < n; i++) {
    char path[224];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    struct kparse kx = {.k = &(*out)[i]};
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    kx.k->line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, keys, n_keys, &kx) != 0)
      return -1;
    for (size_t k = 0; kx.k->kid != NULL && k < i; k++) {
      if ((*out)[k].kid != NULL && strcmp((*out)[k].kid, kx.k->kid) == 0) {
        snprintf(path, sizeof(path), "%s[%zu].kid", at->path, i);
        return egw__cfg_error(f, kx.kid_line, path, "'%s' is already used by %s[%zu] (line %d)",
                              kx.k->kid, at->path, k, (*out)[k].line);
      }
    }
  }
  return 0;
}

/* ---- tokens --------------------------------------------------------------------------- */

struct iparse {
  struct egw_issuer_policy *ip;
  int id_line;
  int local_line, keys_line, jwks_line, jwks_uri_line, refresh_line;
};

static int set_issuer_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->id_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &ix->ip->id);
}

static int set_issuer_local(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->local_line = at->line;
  return egw__cfg_bool(f, at->path, at->value, &ix->ip->local);
}

static int set_issuer_keys(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->keys_line = at->line;
  return key_list(f, at, issuer_key_keys, ARRAY_LEN(issuer_key_keys), &ix->ip->keys,
                  &ix->ip->n_keys);
}

static int set_issuer_jwks(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->jwks_line = at->line;
  return egw__cfg_path(f, at->path, at->value, &ix->ip->jwks_file);
}

static int set_issuer_jwks_uri(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->jwks_uri_line = at->line;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_ENDPOINT, &ix->ip->jwks_uri);
}

static int set_issuer_refresh(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  uint64_t v = 0;
  ix->refresh_line = at->line;
  if (egw__cfg_uint(f, at->path, at->value, 1, 3600, &v) != 0)
    return -1;
  ix->ip->jwks_refresh_min_s = (uint32_t)v;
  return 0;
}

static int set_issuer_introspection(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                                    void *obj) {
  struct iparse *ix = obj;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_ENDPOINT, &ix->ip->introspection_uri);
}

static const struct egw__cfg_key issuer_keys[] = {
    {.name = "id", .set = set_issuer_id, .required = 1},
    {.name = "local", .set = set_issuer_local},
    {.name = "keys", .set = set_issuer_keys},
    {.name = "jwks_file", .set = set_issuer_jwks},
    {.name = "jwks_uri", .set = set_issuer_jwks_uri},
    {.name = "jwks_refresh_min_s", .set = set_issuer_refresh},
    {.name = "introspection_uri", .set = set_issuer_introspection},
};

/* At most one source of keys; "local: false" is the same as no local key. None is
 * allowed only with an introspection_uri (an issuer of opaque tokens, asked about every
 * token). When two are given, the second in the file is the one reported. */
static int check_issuer_source(struct egw__cfg_file *f, const char *path, struct iparse *ix) {
  struct {
    const char *name;
    int line;
  } src[4], set[4];
  size_t n = 0;
  char key[224];
  src[0].name = "local";
  src[0].line = ix->ip->local ? ix->local_line : 0;
  src[1].name = "keys";
  src[1].line = ix->keys_line;
  src[2].name = "jwks_file";
  src[2].line = ix->jwks_line;
  src[3].name = "jwks_uri";
  src[3].line = ix->jwks_uri_line;
  for (size_t i = 0; i < ARRAY_LEN(src); i++) {
    if (src[i].line == 0)
      continue;
    size_t k = n++;
    while (k > 0 && set[k - 1].line > src[i].line) {
      set[k] = set[k - 1];
      k--;
    }
    set[k] = src[i];
  }
  if (n == 0 && ix->ip->introspection_uri == NULL)
    return egw__cfg_error(f, ix->ip->line, path,
                          "needs one of local: true, keys, jwks_file, jwks_uri, or an "
                          "introspection_uri");
  if (n > 1) {
    snprintf(key, sizeof(key), "%s.%s", path, set[1].name);
    return egw__cfg_error(f, set[1].line, key,
                          "not allowed with '%s' (one of local, keys, jwks_file, jwks_uri per "
                          "issuer)",
                          set[0].name);
  }
  if (ix->refresh_line && !ix->jwks_uri_line) {
    snprintf(key, sizeof(key), "%s.jwks_refresh_min_s", path);
    return egw__cfg_error(f, ix->refresh_line, key, "only allowed with jwks_uri");
  }
  if (ix->jwks_uri_line && !ix->refresh_line)
    ix->ip->jwks_refresh_min_s = 30;
  return 0;
}

static int set_tokens_issuers(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_site_policy *p = sx->p;
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  p->issuers = calloc(n, sizeof(*p->issuers));
  sx->places.issuer_local_lines = calloc(n, sizeof(int));
  if (p->issuers == NULL || sx->places.issuer_local_lines == NULL)
    return egw__cfg_nomem(f);
  p->n_issuers = n;
  for (size_t i = 0; i < n; i++) {
    char path[224], key[240];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    struct iparse ix = {.ip = &p->issuers[i]};
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    ix.ip->line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, issuer_keys, ARRAY_LEN(issuer_keys), &ix) != 0)
      return -1;
    for (size_t k = 0; k < i; k++) {
      if (strcmp(p->issuers[k].id, ix.ip->id) == 0) {
        snprintf(key, sizeof(key), "%s.id", path);
        return egw__cfg_error(f, ix.id_line, key, "'%s' is already used by %s[%zu] (line %d)",
                              ix.ip->id, at->path, k, p->issuers[k].line);
      }
    }
    if (check_issuer_source(f, path, &ix) != 0)
      return -1;
    sx->places.issuer_local_lines[i] = ix.ip->local ? ix.local_line : 0;
  }
  return 0;
}

static const struct egw__cfg_key cache_keys[] = {
    {.name = "max_entries",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_site_policy, token_cache_entries),
     .min = 1,
     .max = 10000000},
    {.name = "negative_ttl_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_site_policy, token_negative_ttl_ms),
     .min = 0,
     .max = 60000},
};

static int set_tokens_cache(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  return egw__cfg_walk(f, at->path, at->value, cache_keys, ARRAY_LEN(cache_keys), sx->p);
}

/* tokens.client: both files or no section at all. */
static int set_tokens_client(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_site_policy *p = ((struct egw__site_parse *)obj)->p;
  return egw__cfg_client_pair(f, at, &p->token_client_cert, &p->token_client_key);
}

static const struct egw__cfg_key tokens_keys[] = {
    {.name = "cache", .set = set_tokens_cache},
    {.name = "client", .set = set_tokens_client},
    {.name = "issuers", .set = set_tokens_issuers},
};

int egw__tokens_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_walk(f, at->path, at->value, tokens_keys, ARRAY_LEN(tokens_keys), obj);
}

/* ---- ecs ------------------------------------------------------------------------------ */

static int set_client_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_token_client_policy *c = obj;
  const char *reason = NULL;
  int line = egw__cfg_line(at->value);
  if (egw__cfg_string(f, at->path, at->value, &c->pattern) != 0)
    return -1;
  if (strcmp(c->pattern, "any") == 0)
    return egw__cfg_error(f, line, at->path,
                          "must be a pattern of client identities ('any' is not one)");
  if (!egw_allowlist_pattern_valid(c->pattern, &reason))
    return egw__cfg_error(f, line, at->path, "invalid pattern '%s': %s", c->pattern,
                          reason ? reason : "invalid");
  return 0;
}

static int set_client_scopes(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_token_client_policy *c = obj;
  return egw__cfg_scopes(f, at->path, at->value, &c->scopes, &c->n_scopes);
}

static int set_client_audiences(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_token_client_policy *c = obj;
  yaml_node_item_t *items;
  size_t n;
  if (at->value->type == YAML_SCALAR_NODE) {
    if (strcmp((const char *)at->value->data.scalar.value, "any") == 0) {
      c->allow_any_audience = 1;
      return 0;
    }
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "must be a list of target ids or the word any");
  }
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  c->audiences = calloc(n, sizeof(char *));
  if (c->audiences == NULL)
    return egw__cfg_nomem(f);
  c->n_audiences = n;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    if (egw__cfg_string(f, at->path, item, &c->audiences[i]) != 0)
      return -1;
    if (strcmp(c->audiences[i], "any") == 0)
      return egw__cfg_error(f, egw__cfg_line(item), at->path,
                            "'any' stands alone (audiences: any), not in a list");
  }
  return 0;
}

static const struct egw__cfg_key client_keys[] = {
    {.name = "id", .set = set_client_id, .required = 1},
    {.name = "scopes", .set = set_client_scopes, .required = 1},
    {.name = "audiences", .set = set_client_audiences, .required = 1},
    {.name = "token_ttl_s",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_token_client_policy, token_ttl_s),
     .min = 1,
     .max = 86400},
    {.name = "may_name_eec",
     .set = egw__cfg_set_bool,
     .offset = offsetof(struct egw_token_client_policy, may_name_eec)},
};

static int set_ecs_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  ex->sx->places.ecs_id_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &ex->e->id);
}

static int set_ecs_ttl(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  uint64_t v = 0;
  if (egw__cfg_uint(f, at->path, at->value, 60, 86400, &v) != 0)
    return -1;
  ex->e->token_ttl_s = (uint32_t)v;
  return 0;
}

static int set_ecs_signing_keys(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  return key_list(f, at, signing_key_keys, ARRAY_LEN(signing_key_keys), &ex->e->signing_keys,
                  &ex->e->n_signing_keys);
}

static int set_ecs_clients(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_policy *e = ((struct egw__ecs_parse *)obj)->e;
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  e->clients = calloc(n, sizeof(*e->clients));
  if (e->clients == NULL)
    return egw__cfg_nomem(f);
  e->n_clients = n;
  for (size_t i = 0; i < n; i++) {
    char path[224];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    e->clients[i].line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, client_keys, ARRAY_LEN(client_keys), &e->clients[i]) != 0)
      return -1;
  }
  return 0;
}

static const struct egw__cfg_key ecs_keys[] = {
    {.name = "id", .set = set_ecs_id, .required = 1},
    {.name = "token_ttl_s", .set = set_ecs_ttl},
    {.name = "signing_keys", .set = set_ecs_signing_keys, .required = 1},
    {.name = "clients", .set = set_ecs_clients, .required = 1},
    {.name = "provisioning", .set = egw__ecs_provisioning_set},
    {.name = "ees_auth", .set = egw__ecs_ees_auth_set},
    {.name = "registration", .set = egw__ecs_registration_set},
    {.name = "client", .set = egw__ecs_client_set},
    {.name = "peers", .set = egw__ecs_peers_set},
    {.name = "max_hops", .set = egw__ecs_max_hops_set},
    {.name = "ausf", .set = egw__ecs_ausf_set},
    {.name = "nef", .set = egw__ecs_nef_set},
    {.name = "aanf", .set = egw__ecs_aanf_set},
    {.name = "kecs", .set = egw__ecs_kecs_set},
};

int egw__ecs_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw__ecs_parse ex = {.sx = sx};
  sx->p->ecs = calloc(1, sizeof(*sx->p->ecs));
  if (sx->p->ecs == NULL)
    return egw__cfg_nomem(f);
  ex.e = sx->p->ecs;
  ex.e->token_ttl_s = 3600;
  ex.e->line = at->line;
  egw__ecs_edge_defaults(ex.e);
  int ret = egw__cfg_walk(f, at->path, at->value, ecs_keys, ARRAY_LEN(ecs_keys), &ex);
  if (ret == 0)
    ret = egw__ecs_edge_finish(f, &ex);
  free(ex.peer_id_lines);
  return ret;
}

/* ---- free ----------------------------------------------------------------------------- */

static void free_key_files(struct egw_key_file_policy *k, size_t n) {
  for (size_t i = 0; k != NULL && i < n; i++) {
    free(k[i].kid);
    free(k[i].file);
  }
  free(k);
}

void egw__tokens_cleanup(struct egw_site_policy *p) {
  for (size_t i = 0; i < p->n_issuers; i++) {
    free(p->issuers[i].id);
    free_key_files(p->issuers[i].keys, p->issuers[i].n_keys);
    free(p->issuers[i].jwks_file);
    free(p->issuers[i].jwks_uri);
    free(p->issuers[i].introspection_uri);
  }
  free(p->issuers);
  p->issuers = NULL;
  p->n_issuers = 0;
  free(p->token_client_cert);
  free(p->token_client_key);
  p->token_client_cert = NULL;
  p->token_client_key = NULL;
  struct egw_ecs_policy *e = p->ecs;
  if (e == NULL)
    return;
  free(e->id);
  free_key_files(e->signing_keys, e->n_signing_keys);
  for (size_t i = 0; i < e->n_clients; i++) {
    free(e->clients[i].pattern);
    egw__cfg_free_strings(e->clients[i].scopes, e->clients[i].n_scopes);
    egw__cfg_free_strings(e->clients[i].audiences, e->clients[i].n_audiences);
  }
  free(e->clients);
  egw__ecs_edge_cleanup(e);
  free(e);
  p->ecs = NULL;
}
