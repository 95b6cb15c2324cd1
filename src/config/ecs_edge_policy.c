/* site.yaml "ecs" keys for the EDGE flows: EDGE-4 provisioning (lifetime and scopes of
 * what it hands out, the auth methods it announces per EES), EDGE-6 registration (the
 * longest expTime, the CAs returned to EESes) and multi-ECS (peers, the certificate
 * presented to them, the hop limit). The token part of "ecs" is in token_policy.c,
 * whose key table lists these handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/allowlist.h"
#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void egw__ecs_edge_defaults(struct egw_ecs_policy *e) {
  e->provisioning_lifetime_s = 3600;
  e->registration_max_s = 86400;
  e->max_hops = 3;
}

/* ---- provisioning ---------------------------------------------------------------------- */

static int set_eec_scopes(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_policy *e = obj;
  return egw__cfg_scopes(f, at->path, at->value, &e->eec_scopes, &e->n_eec_scopes);
}

static const struct egw__cfg_key provisioning_keys[] = {
    {.name = "lifetime_s",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_policy, provisioning_lifetime_s),
     .min = 60,
     .max = 86400},
    {.name = "eec_scopes", .set = set_eec_scopes},
};

int egw__ecs_provisioning_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  return egw__cfg_walk(f, at->path, at->value, provisioning_keys, ARRAY_LEN(provisioning_keys),
                       ex->e);
}

/* ---- ees_auth -------------------------------------------------------------------------- */

/* TS 24.558 EESInfo.eesAuthMethods values (the AuthMethod enumeration). */
static const char *const auth_methods[] = {
    "TLS_CLIENT_SERVER_CERTIFICATE",
    "TLS_WITH_AKMA",
    "TLS_WITH_GBA",
    "SERVER_SIDE_CERTIFICATE_BASED",
};

struct aparse {
  struct egw_ees_auth_policy *a;
  int ees_line;
};

static int set_auth_ees(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct aparse *ax = obj;
  ax->ees_line = egw__cfg_line(at->value);
  if (egw__cfg_string(f, at->path, at->value, &ax->a->ees) != 0)
    return -1;
  if (strcmp(ax->a->ees, "*") != 0 && strchr(ax->a->ees, '*') != NULL)
    return egw__cfg_error(f, ax->ees_line, at->path,
                          "'%s': an exact EES id or \"*\" for every EES (no other patterns)",
                          ax->a->ees);
  return 0;
}

static int set_auth_methods(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ees_auth_policy *a = ((struct aparse *)obj)->a;
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  a->methods = calloc(n, sizeof(char *));
  if (a->methods == NULL)
    return egw__cfg_nomem(f);
  a->n_methods = n;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    int line = egw__cfg_line(item);
    const char *v = egw__cfg_scalar(f, at->path, item);
    size_t m = 0;
    if (v == NULL)
      return -1;
    while (m < ARRAY_LEN(auth_methods) && strcmp(auth_methods[m], v) != 0)
      m++;
    if (m == ARRAY_LEN(auth_methods))
      return egw__cfg_error(f, line, at->path,
                            "unknown method '%s' (expected TLS_CLIENT_SERVER_CERTIFICATE, "
                            "TLS_WITH_AKMA, TLS_WITH_GBA, SERVER_SIDE_CERTIFICATE_BASED)",
                            v);
    for (size_t k = 0; k < i; k++) {
      if (strcmp(a->methods[k], v) == 0)
        return egw__cfg_error(f, line, at->path, "'%s' is listed twice", v);
    }
    a->methods[i] = strdup(v);
    if (a->methods[i] == NULL)
      return egw__cfg_nomem(f);
  }
  return 0;
}

static const struct egw__cfg_key ees_auth_keys[] = {
    {.name = "ees", .set = set_auth_ees, .required = 1},
    {.name = "methods", .set = set_auth_methods, .required = 1},
};

/* The first entry whose ees matches wins, so a second entry for the same ees would
 * never apply: refused. */
int egw__ecs_ees_auth_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_policy *e = ((struct egw__ecs_parse *)obj)->e;
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  e->ees_auth = calloc(n, sizeof(*e->ees_auth));
  if (e->ees_auth == NULL)
    return egw__cfg_nomem(f);
  e->n_ees_auth = n;
  for (size_t i = 0; i < n; i++) {
    char path[224], key[240];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    struct aparse ax = {.a = &e->ees_auth[i]};
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    ax.a->line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, ees_auth_keys, ARRAY_LEN(ees_auth_keys), &ax) != 0)
      return -1;
    for (size_t k = 0; k < i; k++) {
      if (strcmp(e->ees_auth[k].ees, ax.a->ees) == 0) {
        snprintf(key, sizeof(key), "%s.ees", path);
        return egw__cfg_error(f, ax.ees_line, key,
                              "'%s' is already used by %s[%zu] (line %d), which always wins",
                              ax.a->ees, at->path, k, e->ees_auth[k].line);
      }
    }
  }
  return 0;
}

/* ---- registration ---------------------------------------------------------------------- */

static int set_eec_ca(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_policy *e = obj;
  return egw__cfg_paths(f, at->path, at->value, &e->eec_ca_files, &e->n_eec_ca_files);
}

static const struct egw__cfg_key registration_keys[] = {
    {.name = "max_s",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_policy, registration_max_s),
     .min = 60,
     .max = 31536000},
    {.name = "eec_ca", .set = set_eec_ca},
};

int egw__ecs_registration_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  return egw__cfg_walk(f, at->path, at->value, registration_keys, ARRAY_LEN(registration_keys),
                       ex->e);
}

/* ---- client, peers, max_hops ----------------------------------------------------------- */

int egw__ecs_client_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  ex->client_line = at->line;
  return egw__cfg_client_pair(f, at, &ex->e->client_cert, &ex->e->client_key);
}

struct pparse {
  struct egw_ecs_peer_policy *peer;
  int id_line;
};

static int set_peer_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct pparse *px = obj;
  px->id_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &px->peer->id);
}

static int set_peer_token_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct pparse *px = obj;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_ENDPOINT, &px->peer->token_url);
}

static int set_peer_identity(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_peer_policy *peer = ((struct pparse *)obj)->peer;
  const char *reason = NULL;
  int line = egw__cfg_line(at->value);
  if (egw__cfg_string(f, at->path, at->value, &peer->identity) != 0)
    return -1;
  if (strcmp(peer->identity, "any") == 0)
    return egw__cfg_error(f, line, at->path,
                          "must be a pattern of the peer's identity ('any' is not one)");
  if (!egw_allowlist_pattern_valid(peer->identity, &reason))
    return egw__cfg_error(f, line, at->path, "invalid pattern '%s': %s", peer->identity,
                          reason ? reason : "invalid");
  return 0;
}

static int set_peer_ees(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_peer_policy *peer = ((struct pparse *)obj)->peer;
  return egw__cfg_ids(f, at->path, at->value, &peer->ees_ids, &peer->n_ees_ids);
}

static const struct egw__cfg_key peer_keys[] = {
    {.name = "id", .set = set_peer_id, .required = 1},
    {.name = "token_url", .set = set_peer_token_url, .required = 1},
    {.name = "identity", .set = set_peer_identity, .required = 1},
    {.name = "ees", .set = set_peer_ees},
};

int egw__ecs_peers_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  struct egw_ecs_policy *e = ex->e;
  yaml_node_item_t *items;
  size_t n;
  ex->sx->places.ecs_peers_line = at->line;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  e->peers = calloc(n, sizeof(*e->peers));
  ex->peer_id_lines = calloc(n, sizeof(int));
  if (e->peers == NULL || ex->peer_id_lines == NULL)
    return egw__cfg_nomem(f);
  e->n_peers = n;
  for (size_t i = 0; i < n; i++) {
    char path[224], key[240];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    struct pparse px = {.peer = &e->peers[i]};
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    px.peer->line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, peer_keys, ARRAY_LEN(peer_keys), &px) != 0)
      return -1;
    ex->peer_id_lines[i] = px.id_line;
    for (size_t k = 0; k < i; k++) {
      if (strcmp(e->peers[k].id, px.peer->id) == 0) {
        snprintf(key, sizeof(key), "%s.id", path);
        return egw__cfg_error(f, px.id_line, key, "'%s' is already used by %s[%zu] (line %d)",
                              px.peer->id, at->path, k, e->peers[k].line);
      }
    }
  }
  return 0;
}

int egw__ecs_max_hops_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  uint64_t v = 0;
  if (egw__cfg_uint(f, at->path, at->value, 1, 8, &v) != 0)
    return -1;
  ex->e->max_hops = (uint32_t)v;
  return 0;
}

/* ---- after the walk -------------------------------------------------------------------- */

int egw__ecs_edge_finish(struct egw__cfg_file *f, struct egw__ecs_parse *ex) {
  static const char *const default_scopes[] = {"eees-eecregistration", "eees-easdiscovery"};
  struct egw_ecs_policy *e = ex->e;
  if (e->n_eec_scopes == 0 && egw__cfg_copy_strings(f, default_scopes, ARRAY_LEN(default_scopes),
                                                    &e->eec_scopes, &e->n_eec_scopes) != 0)
    return -1;
  /* ecs.id may come after the peers in the file: compared here. */
  for (size_t i = 0; i < e->n_peers; i++) {
    char key[64];
    if (strcmp(e->peers[i].id, e->id) != 0)
      continue;
    snprintf(key, sizeof(key), "ecs.peers[%zu].id", i);
    return egw__cfg_error(f, ex->peer_id_lines[i], key, "'%s' is this ECS (ecs.id, line %d)", e->id,
                          ex->sx->places.ecs_id_line);
  }
  if (e->n_peers > 0 && e->client_cert == NULL)
    return egw__cfg_error(f, ex->sx->places.ecs_peers_line, "ecs.peers",
                          "needs ecs.client (the certificate this ECS presents to its peers)");
  return 0;
}

void egw__ecs_edge_cleanup(struct egw_ecs_policy *e) {
  egw__cfg_free_strings(e->eec_scopes, e->n_eec_scopes);
  for (size_t i = 0; e->ees_auth != NULL && i < e->n_ees_auth; i++) {
    free(e->ees_auth[i].ees);
    egw__cfg_free_strings(e->ees_auth[i].methods, e->ees_auth[i].n_methods);
  }
  free(e->ees_auth);
  egw__cfg_free_strings(e->eec_ca_files, e->n_eec_ca_files);
  for (size_t i = 0; e->peers != NULL && i < e->n_peers; i++) {
    free(e->peers[i].id);
    free(e->peers[i].token_url);
    free(e->peers[i].identity);
    egw__cfg_free_strings(e->peers[i].ees_ids, e->peers[i].n_ees_ids);
  }
  free(e->peers);
  free(e->client_cert);
  free(e->client_key);
}
