/* The table of EESes registered with this ECS (EDGE-6): one egw_records table of kind
 * "ecs.ees" (documents: EESRegistration, owner: eesProf.eesId), shared by the
 * ecs-registration and ecs-provisioning modules of a site, and what the rest of the ECS
 * (multi-ECS forwarding) asks of it. */
#include <stdlib.h>
#include <string.h>

#include "auth/token_verify.h"
#include "roles/ecs/edge.h"
#include "roles/ecs/internal.h"
#include "util/format.h"

const char *egw__ecs_reg_owner(const json_t *doc) {
  const char *id = json_string_value(json_object_get(json_object_get(doc, "eesProf"), "eesId"));
  return id && id[0] ? id : NULL;
}

static void table_destroy(void *obj) {
  struct egw_records *t = obj;
  if (t == NULL)
    return;
  egw__records_cleanup(t);
  free(t);
}

static void *table_create(struct egw_site *site, char **out_err) {
  if (site->store == NULL) {
    *out_err = egw_format("the ECS's EES table needs the site's store (state_dir)");
    return NULL;
  }
  struct egw_records *t = malloc(sizeof(*t));
  if (t == NULL) {
    *out_err = egw_format("out of memory");
    return NULL;
  }
  if (egw__records_init(t, site, EGW_ECS_EES_KIND, egw__ecs_reg_owner, out_err) != 0) {
    free(t);
    return NULL;
  }
  return t;
}

struct egw_records *egw__ecs_ees_table(struct egw_site *site, char **out_err) {
  return egw_site_shared(site, EGW_ECS_EES_TABLE, table_create, table_destroy, out_err);
}

/* The table if a module made it; egw_site_shared would make one, and is for init only. */
static struct egw_records *table_find(struct egw_site *site) {
  for (struct egw_site_shared *s = site->shared; s; s = s->next) {
    if (strcmp(s->name, EGW_ECS_EES_TABLE) == 0)
      return s->obj;
  }
  return NULL;
}

int egw__ecs_ees_is_registered(struct egw_site *site, const char *ees_id) {
  struct egw_records *t = table_find(site);
  return t != NULL && ees_id != NULL && egw__records_newest(t, ees_id, egw_token_now_s()) != NULL;
}

const json_t *egw__ecs_ees_profile(struct egw_site *site, const char *ees_id) {
  struct egw_records *t = table_find(site);
  const struct egw_record *r =
      t && ees_id ? egw__records_newest(t, ees_id, egw_token_now_s()) : NULL;
  return r ? json_object_get(r->doc, "eesProf") : NULL;
}
