/* sim-entitlement: a simulated entitlement server (TR 33.739 solution 25) for labs and
 * tests. An EEC authenticates with its client certificate (mutual TLS; the simple
 * authentication: the certificate identity must equal the eecId it asks for) and gets a
 * JWT it then presents to EES/EAS listeners that trust this issuer (tokens.issuers with
 * the issuer's certificate):
 *   POST /entitlement/v1/tokens {"eecId", "scope"?} -> 200 {"access_token", "token_type":
 *   "Bearer", "expires_in"}; claims iss, sub = eecId, aud, scope, iat, exp, jti;
 *   403 when the certificate does not prove the eecId; 400 for a malformed body.
 * The wire shape is the project's. Enabled by site.yaml "sim.entitlement". */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/mem.h>
#include <openssl/rand.h>

#include "auth/jwt.h"
#include "core/site.h"
#include "roles/api.h"
#include "util/format.h"
#include "util/log.h"

#define ROUTE "/entitlement/v1/tokens"

static const struct egw_route ent_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = ROUTE},
    {.prefix = NULL},
};

struct entitlement {
  const struct egw_sim_entitlement_policy *policy;
  struct egw_jwk *key;
};

static int ent_init(struct egw_site *site, void **out_state, char **out_err) {
  const struct egw_sim_entitlement_policy *p = site->policy->sim_entitlement;
  if (p == NULL) {
    *out_err = egw_format("the sim-entitlement module needs \"sim.entitlement\" (issuer, key, "
                          "kid, audience) in %s",
                          site->policy->site_file);
    return -1;
  }
  struct entitlement *e = calloc(1, sizeof(*e));
  if (e == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  e->policy = p;
  e->key = egw_jwk_from_pem_file(p->key_file, p->kid, out_err);
  if (e->key == NULL || !egw_jwk_is_private(e->key)) {
    if (e->key != NULL)
      *out_err = egw_format("%s:%d: sim.entitlement.key: %s is not a private key",
                            site->policy->site_file, p->line, p->key_file);
    egw_jwk_free(e->key);
    free(e);
    return -1;
  }
  *out_state = e;
  return 0;
}

static void ent_dispose(void *state) {
  struct entitlement *e = state;
  if (e == NULL)
    return;
  egw_jwk_free(e->key);
  free(e);
}

static enum egw_handler_result ent_on_request(void *state, struct egw_exchange *x) {
  struct entitlement *e = state;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, ROUTE) != 0)
    return EGW_DECLINED;
  enum egw_handler_result res;
  json_t *body = egw__roles_read_json(x, "application/json", &res);
  if (body == NULL)
    return res;
  const char *eec_id = json_string_value(json_object_get(body, "eecId"));
  const json_t *scope_v = json_object_get(body, "scope");
  const char *scope = json_string_value(scope_v);
  const struct egw_peer *peer = req->peer;
  int status = 200;
  json_t *claims = NULL, *answer = NULL;
  char *token = NULL;
  if (eec_id == NULL || eec_id[0] == '\0' || (scope_v != NULL && scope == NULL)) {
    status = 400;
    res = egw__roles_problem(x, 400, "eecId (and scope, when given) must be strings",
                             "MANDATORY_IE_INCORRECT", NULL, 0);
  } else if (peer == NULL || peer->id == NULL || peer->kind == EGW_PEER_PSK ||
             !peer->has_cert_sha256 || strcmp(peer->id, eec_id) != 0) {
    status = 403;
    res = egw__roles_problem(x, 403, "the client certificate does not prove this eecId",
                             "REQUEST_NOT_AUTHORIZED", NULL, 0);
  } else {
    uint8_t raw[16];
    char jti[33];
    RAND_bytes(raw, sizeof(raw));
    for (size_t i = 0; i < sizeof(raw); i++)
      snprintf(jti + 2 * i, 3, "%02x", raw[i]);
    json_int_t now = (json_int_t)time(NULL);
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", e->policy->issuer, "sub", eec_id,
                       "aud", e->policy->audience, "iat", now, "exp",
                       now + (json_int_t)e->policy->token_ttl_s, "jti", jti);
    if (claims && scope)
      json_object_set_new(claims, "scope", json_string(scope));
    token = claims ? egw_jws_sign(e->key, claims) : NULL;
    answer = token ? json_pack("{s:s, s:s, s:I}", "access_token", token, "token_type", "Bearer",
                               "expires_in", (json_int_t)e->policy->token_ttl_s)
                   : NULL;
    res = answer ? egw__roles_answer_json(x, 200, answer) : EGW_FAILED;
    if (res == EGW_DONE &&
        egw_response_add_header(egw_exchange_response(x), "Cache-Control", "no-store") != 0)
      res = EGW_FAILED;
  }
  struct egw_log_record rec;
  egw_log_begin(&rec, status == 200 ? EGW_LOG_INFO : EGW_LOG_WARN, "entitlement_token");
  if (eec_id)
    egw_log_str(&rec, "eecId", eec_id);
  egw_log_int(&rec, "status", status);
  egw_log_end(&rec);
  if (token) {
    OPENSSL_cleanse(token, strlen(token));
    free(token);
  }
  json_decref(answer);
  json_decref(claims);
  json_decref(body);
  return res;
}

const struct egw_role_ops egw_role_sim_entitlement = {
    .name = "sim-entitlement",
    .routes = ent_routes,
    .init = ent_init,
    .on_request = ent_on_request,
    .dispose = ent_dispose,
};
