/* libFuzzer: the JSON request bodies of the APIs, through the validators the roles run
 * on them after json_loadb (with the same flags as egw__roles_read_json): EES
 * EECRegistration and its PATCH, EASRegistration and its PATCH, EasDiscoveryReq, the
 * EEC context push, the discovery filter (checked, then matched against the body as an
 * EAS profile), ECS EESRegistration and the EEC's service-provisioning request. The
 * first byte chooses the validator. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "roles/api.h"
#include "roles/ecs/edge.h"
#include "roles/ees/internal.h"

static const egw__ees_check_fn ees_checks[] = {
    egw__ees_check_eec_registration, egw__ees_check_eec_registration_patch,
    egw__ees_check_eas_registration, egw__ees_check_eas_registration_patch,
    egw__ees_check_discovery_req,    egw__ees_check_context_push,
};
#define N_EES (sizeof(ees_checks) / sizeof(ees_checks[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned which = data[0] % (N_EES + 4);
  json_t *doc = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
  if (!doc || !json_is_object(doc)) {
    json_decref(doc);
    return 0;
  }
  struct egw__ees_invalid inv = {0};
  struct egw_param_errors errs = {0};
  int64_t exp = 0;
  const int64_t now = 1764000000; /* 2025-11-24 */
  if (which < N_EES) {
    (void)ees_checks[which](doc, &inv);
  } else if (which == N_EES) {
    const json_t *filter = json_object_get(doc, "easDiscoveryFilter");
    if (egw__ees_filter_check(filter ? filter : doc, &inv) == 0)
      (void)egw__ees_filter_match(filter ? filter : doc, doc);
  } else if (which == N_EES + 1) {
    (void)egw__ees_grant_exp(json_object_get(doc, "expTime"), now, 86400, &exp, &inv);
  } else if (which == N_EES + 2) {
    (void)egw__ecs_check_registration(doc, now, 86400, &errs, &exp);
  } else {
    egw__ecs_check_eec_request(doc, &errs);
  }
  json_decref(doc);
  return 0;
}
