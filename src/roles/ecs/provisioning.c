/* Module "ecs-provisioning": EDGE-4 at the ECS (TS 24.558 Eecs_ServiceProvisioning).
 * POST /request answers ECSServProvResp with the EDN configuration built from the EESes
 * registered here (edn_config.c: acProfs and location filters, expired registrations
 * left out), or 204 when none matches; /subscriptions is subscriptions.c.
 *
 * Each EESInfo carries "eesAccessToken" {access_token, token_type, expires_in, scope}
 * (project choice, an extension member: the schemas allow others): an EDGE-1 token
 * signed by this ECS with sub = eecId, aud = that EES, scope = ecs.provisioning
 * .eec_scopes, valid for ecs.provisioning.lifetime_s, not certificate-bound (the EEC
 * uses it on its own connections). EDNConInfo.dnn is the EES's ednInfoSets.dnn, else
 * "edge" (project choice; the policy has no DNN).
 *
 * Who may ask for whom: an EEC that authenticated with a certificate (mTLS) or a token
 * must ask for its own eecId (403 otherwise). Tokens are minted only for such an EEC: an
 * anonymous request (server-cert TLS) or one whose only identity is a PSK name (Kedge-ID,
 * A-KID: a key name, not an EEC id) proves no eecId, so it gets the EDN configuration
 * without eesAccessToken — otherwise anyone could obtain EDGE-1 tokens for any eecId and
 * act as that EEC at the EES and, through its EAS tokens, at the application.
 *
 * With ecs.kecs, an EEC that proved its eecId with its certificate also gets
 * "kecsCounter" (extension member of ECSServProvResp; SPEC-NOTES "Keys for TLS-PSK"): the
 * counter of KECS-PSK, valid for ecs.provisioning.lifetime_s (kecs_provider.c). */
#include <openssl/mem.h>
#include <stdlib.h>
#include <string.h>

#include "auth/issuers.h"
#include "auth/token_verify.h"
#include "roles/ecs/edge.h"
#include "roles/ecs/internal.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define PROV_REQUEST "/eecs-serviceprovisioning/v1/request"
#define PROV_SUBS "/eecs-serviceprovisioning/v1/subscriptions"

static const struct egw_route provisioning_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = PROV_REQUEST},
    {.methods =
         EGW_METHOD_POST | EGW_METHOD_GET | EGW_METHOD_PUT | EGW_METHOD_PATCH | EGW_METHOD_DELETE,
     .prefix = PROV_SUBS},
    {.prefix = NULL},
};

struct ecs_provisioning {
  struct egw_site *site;
  const struct egw_ecs_policy *policy;
  struct egw_records *table;
  struct egw_ecs_subs *subs;
  char *scope; /* of the EDGE-1 tokens */
  struct egw__kecs_counters *kecs; /* with ecs.kecs: counters for provisioned EECs */
};

const char *egw__ecs_eec_identity(const struct egw_request *req) {
  const struct egw_peer *peer = req->peer;
  if (peer->id && peer->kind != EGW_PEER_PSK)
    return peer->id;
  return req->token_eec_id ? req->token_eec_id : req->token_sub;
}

static void provisioning_dispose(void *state) {
  struct ecs_provisioning *m = state;
  if (m == NULL)
    return;
  egw__ecs_subs_free(m->subs);
  free(m->scope);
  free(m);
}

static int provisioning_init(struct egw_site *site, void **out_state, char **out_err) {
  if (site->policy->ecs == NULL || egw_issuers_signing_key(site->tokens.issuers) == NULL) {
    *out_err = egw_format("the ecs-provisioning module needs the \"ecs\" section of %s (id, "
                          "signing_keys)",
                          site->policy->site_file);
    return -1;
  }
  struct ecs_provisioning *m = calloc(1, sizeof(*m));
  if (m == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  m->site = site;
  m->policy = site->policy->ecs;
  m->scope = egw__ecs_eec_scope(m->policy);
  m->table = m->scope ? egw__ecs_ees_table(site, out_err) : NULL;
  m->subs = m->table ? egw__ecs_subs_new(site, m->table, out_err) : NULL;
  if (m->subs != NULL && m->policy->kecs != NULL) {
    m->kecs = egw__ecs_kecs_counters(site, out_err);
    if (m->kecs == NULL) {
      provisioning_dispose(m);
      return -1;
    }
  }
  if (m->subs == NULL) {
    if (*out_err == NULL)
      *out_err = egw_format("out of memory");
    provisioning_dispose(m);
    return -1;
  }
  *out_state = m;
  return 0;
}

static int provisioning_start(void *state, uv_loop_t *loop) {
  struct ecs_provisioning *m = state;
  int rc = egw__ecs_subs_start(m->subs, loop);
  if (rc == 0)
    rc = egw__records_start(m->table, loop);
  if (rc != 0)
    egw_log_msg(EGW_LOG_ERROR, "ecs_provisioning_start_failed", "%s", egw_strerror(rc));
  return rc;
}

static void provisioning_stop(void *state) {
  struct ecs_provisioning *m = state;
  egw__ecs_subs_stop(m->subs);
  egw__records_stop(m->table);
}

/* ---- POST /request ------------------------------------------------------------------- */

struct minting {
  struct ecs_provisioning *m;
  const char *eec_id;
  int proven; /* the EEC authenticated as eec_id */
  size_t n_tokens;
};

/* Adds eesAccessToken for |ees_id| to an EESInfo. */
static int add_token(void *arg, json_t *ees_info, const char *ees_id) {
  struct minting *c = arg;
  if (!c->proven) /* see the file comment: no token for an eecId nobody proved */
    return 0;
  uint32_t ttl_s = egw__ecs_lifetime_s(c->m->policy);
  struct egw_ecs_mint mint = {
      .sub = c->eec_id, .aud = ees_id, .scope = c->m->scope, .ttl_s = ttl_s};
  char *token = egw__ecs_mint(c->m->site, &mint);
  if (token == NULL)
    return -1;
  json_t *t = json_pack("{s:s, s:s, s:I, s:s}", "access_token", token, "token_type", "Bearer",
                        "expires_in", (json_int_t)ttl_s, "scope", c->m->scope);
  OPENSSL_cleanse(token, strlen(token));
  free(token);
  if (json_object_set_new(ees_info, "eesAccessToken", t) != 0)
    return -1;
  c->n_tokens++;
  return 0;
}

static void log_unproven(const char *eec_id) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "ecs_provisioned_without_tokens");
  egw_log_str(&rec, "eec", eec_id);
  egw_log_str(&rec, "reason", "the EEC did not prove its eecId (certificate or token)");
  egw_log_end(&rec);
}

static void log_provisioned(const char *eec_id, int status, size_t n_ees) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "ecs_provisioned");
  egw_log_str(&rec, "eec", eec_id);
  egw_log_int(&rec, "status", status);
  egw_log_int(&rec, "ees", (int64_t)n_ees);
  egw_log_end(&rec);
}

/* Answers 200 with |body|, which holds live tokens: no-store, and the serialized copy
 * is wiped once the response has its own. */
static enum egw_handler_result answer_with_tokens(struct egw_exchange *x, const json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT);
  if (text == NULL)
    return EGW_FAILED;
  struct egw_response *resp = egw_exchange_response(x);
  int rc = egw_response_json(resp, 200, text);
  OPENSSL_cleanse(text, strlen(text));
  free(text);
  if (rc == 0)
    rc = egw__ecs_no_store(resp);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

/* Adds kecsCounter to |body| for an EEC whose certificate is |eec_id| when ecs.kecs is
 * set (a token or a PSK name is not enough: the counter is keying material). */
static int add_kecs_counter(struct ecs_provisioning *m, const struct egw_request *req,
                            const char *eec_id, json_t *body) {
  const struct egw_peer *peer = req->peer;
  if (m->kecs == NULL || peer == NULL || peer->id == NULL ||
      peer->kind == EGW_PEER_PSK || !peer->has_cert_sha256 || strcmp(peer->id, eec_id) != 0)
    return 0;
  uint32_t counter;
  if (egw__ecs_kecs_issue(m->kecs, m->policy, eec_id, &counter) != 0)
    return 0; /* an eecId too long for a KECS identity: provisioned without a counter */
  return json_object_set_new(body, "kecsCounter", json_integer((json_int_t)counter));
}

static enum egw_handler_result provision(struct ecs_provisioning *m, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  enum egw_handler_result result;
  json_t *doc = egw__roles_read_json(x, "application/json", &result);
  if (doc == NULL)
    return result;
  struct egw_param_errors errs = {0};
  egw__ecs_check_eec_request(doc, &errs);
  if (errs.n > 0) {
    result = egw__roles_problem_params(x, "the ECSServProvReq is invalid", &errs);
    goto end;
  }
  const char *eec_id = json_string_value(json_object_get(doc, "eecId"));
  const char *who = egw__ecs_eec_identity(req);
  if (who && strcmp(who, eec_id) != 0) {
    result =
        egw__roles_identity_mismatch(x, "eecId is not the identity the EEC authenticated with");
    goto end;
  }
  struct egw_ecs_edn_filter f = {.ac_profs = json_object_get(doc, "acProfs"),
                                 .loc_inf = json_object_get(doc, "locInf")};
  struct minting c = {.m = m, .eec_id = eec_id, .proven = who != NULL};
  if (who == NULL)
    log_unproven(eec_id);
  json_t *edn = egw__ecs_edn_config(m->table, m->policy, &f, egw_token_now_s(), add_token, &c);
  if (edn == NULL) {
    result = EGW_FAILED;
    goto end;
  }
  if (json_array_size(edn) == 0) {
    json_decref(edn);
    log_provisioned(eec_id, 204, 0);
    egw_exchange_response(x)->status = 204;
    result = EGW_DONE;
    goto end;
  }
  json_t *body = json_pack("{s:o}", "ednCnfgInfo", edn);
  if (body != NULL && add_kecs_counter(m, req, eec_id, body) != 0) {
    json_decref(body);
    body = NULL;
  }
  result = body ? answer_with_tokens(x, body) : EGW_FAILED;
  json_decref(body);
  log_provisioned(eec_id, 200, c.n_tokens);
end:
  json_decref(doc);
  return result;
}

static enum egw_handler_result provisioning_on_request(void *state, struct egw_exchange *x) {
  struct ecs_provisioning *m = state;
  const char *path = egw_exchange_request(x)->path;
  if (strcmp(path, PROV_REQUEST) == 0)
    return provision(m, x);
  return egw__ecs_subs_request(m->subs, x);
}

const struct egw_role_ops egw_role_ecs_provisioning = {
    .name = "ecs-provisioning",
    .routes = provisioning_routes,
    .init = provisioning_init,
    .start = provisioning_start,
    .on_request = provisioning_on_request,
    .stop = provisioning_stop,
    .dispose = provisioning_dispose,
};
