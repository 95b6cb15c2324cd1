/* sim-ausf: a simulated AUSF answering the key request of the TLS-PSK proposal
 * (Nausf_UEAuthentication_keyrequest; wire shape in SPEC-NOTES "Keys for TLS-PSK"):
 * POST /nausf-auth/v1/kedge-requests {"kedgeId"} -> 200 {"kedge", "expiry"}, or 404
 * ProblemDetails with cause KEDGE_ID_NOT_FOUND. Enabled by site.yaml "sim.ausf"; mount
 * it on an mTLS listener whose authorization admits the ECS. For labs and tests. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include <openssl/mem.h>

#include "core/site.h"
#include "roles/api.h"
#include "roles/sim/internal.h"

static const struct egw_route ausf_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = "/nausf-auth/v1/kedge-requests"},
    {.prefix = NULL},
};

int egw__sim_ausf_answer(const struct egw__sim_subscribers *s, const json_t *body, int64_t now_s,
                         uint32_t ttl_s, json_t **out_body, const char **out_cause,
                         const char **out_detail) {
  *out_body = NULL;
  *out_cause = NULL;
  *out_detail = NULL;
  const json_t *id = body ? json_object_get(body, "kedgeId") : NULL;
  if (id == NULL) {
    *out_cause = "MANDATORY_IE_MISSING";
    *out_detail = "kedgeId is missing";
    return 400;
  }
  if (!json_is_string(id) || json_string_length(id) == 0 ||
      json_string_length(id) >= EGW_KDF_ID_MAX) {
    *out_cause = "MANDATORY_IE_INCORRECT";
    *out_detail = "kedgeId must be a non-empty string";
    return 400;
  }
  const struct egw__sim_subscriber *sub = egw__sim_subscriber_find(s, json_string_value(id));
  if (sub == NULL) {
    *out_cause = "KEDGE_ID_NOT_FOUND";
    *out_detail = "no key for this Kedge-ID";
    return 404;
  }
  char hex[2 * EGW_KDF_LEN + 1];
  egw__sim_hex(hex, sub->kedge, EGW_KDF_LEN);
  char expiry[EGW_DATETIME_LEN + 1];
  egw__roles_datetime_format(now_s + ttl_s, expiry);
  *out_body = json_pack("{s:s, s:s}", "kedge", hex, "expiry", expiry);
  OPENSSL_cleanse(hex, sizeof(hex));
  return 200;
}

static int ausf_init(struct egw_site *site, void **out_state, char **out_err) {
  const struct egw_sim_ausf_policy *p = site->policy->sim_ausf;
  return egw__sim_subscribers_role_init("sim-ausf", "sim.ausf", site->policy->site_file, p,
                                        p ? p->subscribers_file : NULL, out_state, out_err);
}

static enum egw_handler_result ausf_on_request(void *state, struct egw_exchange *x) {
  const struct egw__sim_subscribers_role *a = state;
  const struct egw_sim_ausf_policy *policy = a->policy;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, "/nausf-auth/v1/kedge-requests") != 0)
    return EGW_DECLINED;
  enum egw_handler_result res;
  json_t *body = egw__roles_read_json(x, "application/json", &res);
  if (body == NULL)
    return res;
  json_t *answer = NULL;
  const char *cause, *detail;
  int status = egw__sim_ausf_answer(a->subs, body, (int64_t)time(NULL), policy->kedge_ttl_s,
                                    &answer, &cause, &detail);
  json_decref(body);
  egw__sim_log_request("ausf_key_request", req->peer_addr, NULL, NULL, status);
  if (status != 200)
    return egw__roles_problem(x, status, detail, cause, NULL, 0);
  if (answer == NULL)
    return EGW_FAILED;
  return (enum egw_handler_result)egw__sim_answer_key(x, answer);
}

const struct egw_role_ops egw_role_sim_ausf = {
    .name = "sim-ausf",
    .routes = ausf_routes,
    .init = ausf_init,
    .on_request = ausf_on_request,
    .dispose = egw__sim_subscribers_role_dispose,
};
