/* Policy of the TLS-PSK key path through an AUSF (SPEC-NOTES "Keys for TLS-PSK"): the
 * simulated AUSF of site.yaml "sim.ausf" and the ECS's own "ecs.ausf" (where it asks
 * for Kedge). Both are small and live together so the feature stays in one file. */
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- sim.ausf -------------------------------------------------------------------------- */

static int set_subscribers(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_ausf_policy *a = obj;
  return egw__cfg_path(f, at->path, at->value, &a->subscribers_file);
}

static const struct egw__cfg_key sim_ausf_keys[] = {
    {.name = "subscribers", .set = set_subscribers, .required = 1},
    {.name = "kedge_ttl_s",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_sim_ausf_policy, kedge_ttl_s),
     .min = 60,
     .max = 86400},
};

static int set_sim_ausf(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_sim_ausf_policy *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return egw__cfg_nomem(f);
  sx->p->sim_ausf = a;
  a->kedge_ttl_s = 3600;
  a->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, sim_ausf_keys, ARRAY_LEN(sim_ausf_keys), a);
}

/* ---- sim.nef --------------------------------------------------------------------------- */

static int set_nef_ausf_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_nef_policy *n = obj;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_BASE, &n->ausf_url);
}

static int set_nef_client(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_nef_policy *n = obj;
  return egw__cfg_client_pair(f, at, &n->client_cert, &n->client_key);
}

static int set_nef_af_ids(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_nef_policy *n = obj;
  return egw__cfg_ids(f, at->path, at->value, &n->allowed_af_ids, &n->n_allowed_af_ids);
}

static const struct egw__cfg_key sim_nef_keys[] = {
    {.name = "ausf_url", .set = set_nef_ausf_url, .required = 1},
    {.name = "client", .set = set_nef_client, .required = 1},
    {.name = "allowed_af_ids", .set = set_nef_af_ids, .required = 1},
    {.name = "timeout_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_sim_nef_policy, timeout_ms),
     .min = 100,
     .max = 60000},
};

static int set_sim_nef(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_sim_nef_policy *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return egw__cfg_nomem(f);
  sx->p->sim_nef = n;
  n->timeout_ms = 2000;
  n->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, sim_nef_keys, ARRAY_LEN(sim_nef_keys), n);
}

/* ---- sim.aanf -------------------------------------------------------------------------- */

static int set_aanf_subscribers(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                                void *obj) {
  struct egw_sim_aanf_policy *a = obj;
  return egw__cfg_path(f, at->path, at->value, &a->subscribers_file);
}

static const struct egw__cfg_key sim_aanf_keys[] = {
    {.name = "subscribers", .set = set_aanf_subscribers, .required = 1},
    {.name = "kaf_ttl_s",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_sim_aanf_policy, kaf_ttl_s),
     .min = 60,
     .max = 86400},
};

static int set_sim_aanf(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_sim_aanf_policy *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return egw__cfg_nomem(f);
  sx->p->sim_aanf = a;
  a->kaf_ttl_s = 3600;
  a->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, sim_aanf_keys, ARRAY_LEN(sim_aanf_keys), a);
}

/* ---- sim.dnaaa ------------------------------------------------------------------------- */

static int set_dnaaa_msk_file(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_sim_dnaaa_policy *d = obj;
  return egw__cfg_path(f, at->path, at->value, &d->msk_file);
}

static const struct egw__cfg_key sim_dnaaa_keys[] = {
    {.name = "msk_file", .set = set_dnaaa_msk_file, .required = 1},
    {.name = "msk_ttl_s",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_sim_dnaaa_policy, msk_ttl_s),
     .min = 60,
     .max = 86400},
};

static int set_sim_dnaaa(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_sim_dnaaa_policy *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return egw__cfg_nomem(f);
  sx->p->sim_dnaaa = d;
  d->msk_ttl_s = 3600;
  d->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, sim_dnaaa_keys, ARRAY_LEN(sim_dnaaa_keys), d);
}

/* sim.entitlement lives in sim_entitlement.c. */
int egw__sim_entitlement_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
void egw__sim_entitlement_cleanup(struct egw_site_policy *p);

static const struct egw__cfg_key sim_keys[] = {
    {.name = "ausf", .set = set_sim_ausf},
    {.name = "entitlement", .set = egw__sim_entitlement_set},
    {.name = "nef", .set = set_sim_nef},
    {.name = "aanf", .set = set_sim_aanf},
    {.name = "dnaaa", .set = set_sim_dnaaa},
};

int egw__sim_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_walk(f, at->path, at->value, sim_keys, ARRAY_LEN(sim_keys), obj);
}

/* ---- ecs.ausf -------------------------------------------------------------------------- */

static int set_ausf_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_ausf_policy *a = obj;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_BASE, &a->url);
}

static const struct egw__cfg_key ecs_ausf_keys[] = {
    {.name = "url", .set = set_ausf_url, .required = 1},
    {.name = "timeout_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_ausf_policy, timeout_ms),
     .min = 100,
     .max = 60000},
    {.name = "negative_ttl_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_ausf_policy, negative_ttl_ms),
     .min = 0,
     .max = 600000},
};

int egw__ecs_ausf_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  struct egw_ecs_ausf_policy *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return egw__cfg_nomem(f);
  ex->e->ausf = a;
  a->timeout_ms = 2000;
  a->negative_ttl_ms = 5000;
  a->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, ecs_ausf_keys, ARRAY_LEN(ecs_ausf_keys), a);
}

/* ---- ecs.nef, ecs.aanf ---------------------------------------------------------------- */

static int set_nef_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_nef_policy *n = obj;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_BASE, &n->url);
}

static int set_nef_af_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_nef_policy *n = obj;
  return egw__cfg_string(f, at->path, at->value, &n->af_id);
}

static const struct egw__cfg_key ecs_nef_keys[] = {
    {.name = "url", .set = set_nef_url, .required = 1},
    {.name = "af_id", .set = set_nef_af_id, .required = 1},
    {.name = "timeout_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_nef_policy, timeout_ms),
     .min = 100,
     .max = 60000},
    {.name = "negative_ttl_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_nef_policy, negative_ttl_ms),
     .min = 0,
     .max = 600000},
};

int egw__ecs_nef_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  struct egw_ecs_nef_policy *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return egw__cfg_nomem(f);
  ex->e->nef = n;
  n->timeout_ms = 2000;
  n->negative_ttl_ms = 5000;
  n->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, ecs_nef_keys, ARRAY_LEN(ecs_nef_keys), n);
}

static int set_aanf_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_aanf_policy *a = obj;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_BASE, &a->url);
}

static int set_aanf_af_fqdn(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_aanf_policy *a = obj;
  int rc = egw__cfg_string(f, at->path, at->value, &a->af_fqdn);
  if (rc == 0 && (a->af_fqdn[0] == '\0' || strlen(a->af_fqdn) > 255 || strchr(a->af_fqdn, ':')))
    return egw__cfg_error(f, at->line, at->path, "must be an FQDN of 1 to 255 characters");
  return rc;
}

static const struct egw__cfg_key ecs_aanf_keys[] = {
    {.name = "url", .set = set_aanf_url, .required = 1},
    {.name = "af_fqdn", .set = set_aanf_af_fqdn, .required = 1},
    {.name = "timeout_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_aanf_policy, timeout_ms),
     .min = 100,
     .max = 60000},
    {.name = "negative_ttl_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_aanf_policy, negative_ttl_ms),
     .min = 0,
     .max = 600000},
};

int egw__ecs_aanf_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  struct egw_ecs_aanf_policy *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return egw__cfg_nomem(f);
  ex->e->aanf = a;
  a->timeout_ms = 2000;
  a->negative_ttl_ms = 5000;
  a->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, ecs_aanf_keys, ARRAY_LEN(ecs_aanf_keys), a);
}

static int set_kecs_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_kecs_policy *k = obj;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_BASE, &k->dnaaa_url);
}

static const struct egw__cfg_key ecs_kecs_keys[] = {
    {.name = "dnaaa_url", .set = set_kecs_url, .required = 1},
    {.name = "timeout_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_kecs_policy, timeout_ms),
     .min = 100,
     .max = 60000},
    {.name = "negative_ttl_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_ecs_kecs_policy, negative_ttl_ms),
     .min = 0,
     .max = 600000},
};

int egw__ecs_kecs_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__ecs_parse *ex = obj;
  struct egw_ecs_kecs_policy *k = calloc(1, sizeof(*k));
  if (k == NULL)
    return egw__cfg_nomem(f);
  ex->e->kecs = k;
  k->timeout_ms = 2000;
  k->negative_ttl_ms = 5000;
  k->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, ecs_kecs_keys, ARRAY_LEN(ecs_kecs_keys), k);
}

/* ---- free ------------------------------------------------------------------------------ */

void egw__sim_cleanup(struct egw_site_policy *p) {
  egw__sim_entitlement_cleanup(p);
  if (p->sim_ausf != NULL) {
    free(p->sim_ausf->subscribers_file);
    free(p->sim_ausf);
    p->sim_ausf = NULL;
  }
  if (p->sim_nef != NULL) {
    free(p->sim_nef->ausf_url);
    free(p->sim_nef->client_cert);
    free(p->sim_nef->client_key);
    egw__cfg_free_strings(p->sim_nef->allowed_af_ids, p->sim_nef->n_allowed_af_ids);
    free(p->sim_nef);
    p->sim_nef = NULL;
  }
  if (p->sim_aanf != NULL) {
    free(p->sim_aanf->subscribers_file);
    free(p->sim_aanf);
    p->sim_aanf = NULL;
  }
  if (p->sim_dnaaa != NULL) {
    free(p->sim_dnaaa->msk_file);
    free(p->sim_dnaaa);
    p->sim_dnaaa = NULL;
  }
  if (p->ecs != NULL && p->ecs->kecs != NULL) {
    free(p->ecs->kecs->dnaaa_url);
    free(p->ecs->kecs);
    p->ecs->kecs = NULL;
  }
  if (p->ecs != NULL && p->ecs->nef != NULL) {
    free(p->ecs->nef->url);
    free(p->ecs->nef->af_id);
    free(p->ecs->nef);
    p->ecs->nef = NULL;
  }
  if (p->ecs != NULL && p->ecs->aanf != NULL) {
    free(p->ecs->aanf->url);
    free(p->ecs->aanf->af_fqdn);
    free(p->ecs->aanf);
    p->ecs->aanf = NULL;
  }
  if (p->ecs != NULL && p->ecs->ausf != NULL) {
    free(p->ecs->ausf->url);
    free(p->ecs->ausf);
    p->ecs->ausf = NULL;
  }
}
