/* GET /eecs-targeteesdiscovery/v1/ees-profiles (TS 29.558 Eecs_TargetEESDiscovery): a
 * source EES asks which other registered EESes serve an EAS. The answer is an
 * ECSServProvResp (the yaml's 200 schema) without access tokens: the S-EES gets those
 * from /oauth2/token. ees-id (the S-EES) and eas-id are required; target-dnai narrows
 * the result; the UE-related parameters are accepted and not used (the ECS keeps no
 * per-UE policy). No candidate: 404. */
#include <string.h>

#include "auth/token_verify.h"
#include "roles/ecs/edge.h"

enum egw_handler_result egw__ecs_target_discovery(struct egw_records *t,
                                                  const struct egw_ecs_policy *p,
                                                  struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  int bad = 0;
  const char *ees_id = egw__roles_query_get(req, "ees-id", &bad);
  const char *eas_id = egw__roles_query_get(req, "eas-id", &bad);
  const char *dnai = egw__roles_query_get(req, "target-dnai", &bad);
  struct egw_param_errors errs = {0};
  if (bad)
    egw__roles_param_error(&errs, "query", "malformed query string", "INVALID_QUERY_PARAM");
  if (ees_id == NULL || ees_id[0] == '\0')
    egw__roles_param_error(&errs, "ees-id", "is required", "MANDATORY_QUERY_PARAM_MISSING");
  if (eas_id == NULL || eas_id[0] == '\0')
    egw__roles_param_error(&errs, "eas-id", "is required", "MANDATORY_QUERY_PARAM_MISSING");
  if (errs.n > 0 || ees_id == NULL || eas_id == NULL)
    return egw__roles_problem_params(x, "the query is invalid", &errs);
  const char *who = egw__ecs_ees_identity(req);
  if (who && strcmp(who, ees_id) != 0)
    return egw__roles_identity_mismatch(x, "ees-id is not the identity the EES authenticated with");
  struct egw_ecs_edn_filter f = {.eas_id = eas_id, .exclude_ees = ees_id, .dnai = dnai};
  json_t *edn = egw__ecs_edn_config(t, p, &f, egw_token_now_s(), NULL, NULL);
  if (edn == NULL)
    return EGW_FAILED;
  if (json_array_size(edn) == 0) {
    json_decref(edn);
    return egw__roles_problem(x, 404, "no other registered EES serves this EAS",
                              "TARGET_EES_NOT_FOUND", NULL, 0);
  }
  json_t *body = json_pack("{s:o}", "ednCnfgInfo", edn);
  enum egw_handler_result r = body ? egw__roles_answer_json(x, 200, body) : EGW_FAILED;
  json_decref(body);
  return r;
}
