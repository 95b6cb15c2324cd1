#include "roles/registry.h"

#include <stdio.h>
#include <string.h>

extern const struct egw_role_ops egw_role_admin;
extern const struct egw_role_ops egw_role_eas;
extern const struct egw_role_ops egw_role_ecs;
extern const struct egw_role_ops egw_role_ecs_provisioning;
extern const struct egw_role_ops egw_role_ecs_psk_auth;
extern const struct egw_role_ops egw_role_ecs_registration;
extern const struct egw_role_ops egw_role_ees_eas;
extern const struct egw_role_ops egw_role_ees_eec;
extern const struct egw_role_ops egw_role_ees_reloc;
extern const struct egw_role_ops egw_role_health;
extern const struct egw_role_ops egw_role_sim_ausf;
extern const struct egw_role_ops egw_role_whoami;

static const struct egw_role_ops *const builtin_roles[] = {
    &egw_role_admin, /* operations: /metrics, /healthz, /readyz */
    &egw_role_eas,
    &egw_role_ecs,
    &egw_role_ecs_provisioning,
    &egw_role_ecs_psk_auth,
    &egw_role_ecs_registration,
    &egw_role_ees_eas,
    &egw_role_ees_eec,
    &egw_role_ees_reloc,
    &egw_role_health,
    &egw_role_sim_ausf,
    &egw_role_whoami,
};

#define N_BUILTIN (sizeof(builtin_roles) / sizeof(builtin_roles[0]))

const struct egw_role_ops *egw_role_find(const char *name) {
  for (size_t i = 0; i < N_BUILTIN; i++) {
    if (strcmp(builtin_roles[i]->name, name) == 0)
      return builtin_roles[i];
  }
  return NULL;
}

void egw_role_names(char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < N_BUILTIN && used < cap; i++) {
    int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", builtin_roles[i]->name);
    if (n < 0)
      break;
    used += (size_t)n;
  }
}
