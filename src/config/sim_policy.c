/* Policy of the TLS-PSK key path through an AUSF (SPEC-NOTES "Keys for TLS-PSK"): the
 * simulated AUSF of site.yaml "sim.ausf" and the ECS's own "ecs.ausf" (where it asks
 * for Kedge). Both are small and live together so the feature stays in one file. */
#include <stdlib.h>

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

/* sim.entitlement lives in sim_entitlement.c. */
int egw__sim_entitlement_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj);
void egw__sim_entitlement_cleanup(struct egw_site_policy *p);

static const struct egw__cfg_key sim_keys[] = {
    {.name = "ausf", .set = set_sim_ausf},
    {.name = "entitlement", .set = egw__sim_entitlement_set},
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

/* ---- free ------------------------------------------------------------------------------ */

void egw__sim_cleanup(struct egw_site_policy *p) {
  egw__sim_entitlement_cleanup(p);
  if (p->sim_ausf != NULL) {
    free(p->sim_ausf->subscribers_file);
    free(p->sim_ausf);
    p->sim_ausf = NULL;
  }
  if (p->ecs != NULL && p->ecs->ausf != NULL) {
    free(p->ecs->ausf->url);
    free(p->ecs->ausf);
    p->ecs->ausf = NULL;
  }
}
