/* Policy of the simulated entitlement server (site.yaml "sim.entitlement", module
 * sim-entitlement): who it is (issuer, signing key), whom it knows (secrets file) and what
 * its tokens say (audience, scope, lifetime). */
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

int egw__sim_entitlement_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
void egw__sim_entitlement_cleanup(struct egw_site_policy *p);

static int set_issuer(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_entitlement_policy *e = obj;
  return egw__cfg_string(f, at->path, at->value, &e->issuer);
}

static int set_key(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_entitlement_policy *e = obj;
  return egw__cfg_path(f, at->path, at->value, &e->key_file);
}

static int set_kid(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_entitlement_policy *e = obj;
  return egw__cfg_string(f, at->path, at->value, &e->kid);
}

static int set_secrets(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_entitlement_policy *e = obj;
  return egw__cfg_path(f, at->path, at->value, &e->secrets_file);
}

static int set_audience(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_entitlement_policy *e = obj;
  return egw__cfg_string(f, at->path, at->value, &e->audience);
}

static int set_scope(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_entitlement_policy *e = obj;
  /* Read as scope-tokens (syntax checked) and kept as the claim's one string. */
  char **v = NULL;
  size_t n = 0;
  int rc = egw__cfg_scopes(f, at->path, at->value, &v, &n);
  size_t len = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    len += strlen(v[i]) + 1;
  if (rc == 0 && n > 0) {
    e->scope = malloc(len);
    if (e->scope == NULL) {
      rc = egw__cfg_nomem(f);
    } else {
      e->scope[0] = '\0';
      for (size_t i = 0; i < n; i++) {
        if (i > 0)
          strcat(e->scope, " ");
        strcat(e->scope, v[i]);
      }
    }
  }
  egw__cfg_free_strings(v, n);
  return rc;
}

static const struct egw__cfg_key entitlement_keys[] = {
    {.name = "issuer", .set = set_issuer, .required = 1},
    {.name = "key", .set = set_key, .required = 1},
    {.name = "kid", .set = set_kid},
    {.name = "secrets", .set = set_secrets},
    {.name = "audience", .set = set_audience, .required = 1},
    {.name = "scope", .set = set_scope},
    {.name = "token_ttl_s",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_sim_entitlement_policy, token_ttl_s),
     .min = 30,
     .max = 86400},
};

int egw__sim_entitlement_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_sim_entitlement_policy *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return egw__cfg_nomem(f);
  sx->p->sim_entitlement = e;
  e->token_ttl_s = 300;
  e->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, entitlement_keys, ARRAY_LEN(entitlement_keys), e);
}

void egw__sim_entitlement_cleanup(struct egw_site_policy *p) {
  struct egw_sim_entitlement_policy *e = p->sim_entitlement;
  if (e == NULL)
    return;
  free(e->issuer);
  free(e->key_file);
  free(e->kid);
  free(e->secrets_file);
  free(e->audience);
  free(e->scope);
  free(e);
  p->sim_entitlement = NULL;
}
