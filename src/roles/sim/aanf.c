/* sim-aanf: a simulated AAnF answering the AKMA application key request (TS 29.535
 * Naanf_AKMA, field names of AkmaAfKeyRequest / AkmaAfKeyData):
 *   POST /naanf-akma/v1/retrieve-applicationkey {"afId", "aKId"}
 *     -> 200 {"kaf": hex, "expiry"}, K_AF = KDF(K_AKMA, 0x82, AF_ID) (TS 33.535 A.4);
 *     -> 404 ProblemDetails (cause "AKID_NOT_FOUND") for an unknown A-KID;
 *     -> 400 for a malformed body or afId.
 * AF_ID = AF FQDN || Ua* protocol id; on the wire afId is "<fqdn>:<10 hex digits of the
 * Ua* id>" (the project's text form, see roles/ecs/aanf_provider.c). The subscribers file
 * is sim-ausf's (SUPI, KAUSF); A-KID and K_AKMA are derived at load, KAUSF wiped.
 * Enabled by site.yaml "sim.aanf"; for labs and tests. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include <openssl/mem.h>

#include "core/site.h"
#include "roles/api.h"
#include "roles/sim/internal.h"
#include "util/encoding.h"

#define ROUTE "/naanf-akma/v1/retrieve-applicationkey"

static const struct egw_route aanf_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = ROUTE},
    {.prefix = NULL},
};

static int aanf_init(struct egw_site *site, void **out_state, char **out_err) {
  const struct egw_sim_aanf_policy *p = site->policy->sim_aanf;
  return egw__sim_subscribers_role_init("sim-aanf", "sim.aanf", site->policy->site_file, p,
                                        p ? p->subscribers_file : NULL, out_state, out_err);
}

/* Splits afId "<fqdn>:<10 hex>" into |fqdn| (capacity 256) and the Ua* id. */
static int parse_af_id(const char *af_id, char fqdn[256], uint8_t ua[EGW_KDF_UA_ID_LEN]) {
  const char *colon = strrchr(af_id, ':');
  if (colon == NULL || colon == af_id || colon - af_id > 255 ||
      strlen(colon + 1) != 2 * EGW_KDF_UA_ID_LEN)
    return -1;
  for (size_t i = 0; i < EGW_KDF_UA_ID_LEN; i++) {
    int hi = egw_hex_digit(colon[1 + 2 * i]), lo = egw_hex_digit(colon[2 + 2 * i]);
    if (hi < 0 || lo < 0)
      return -1;
    ua[i] = (uint8_t)(hi << 4 | lo);
  }
  memcpy(fqdn, af_id, (size_t)(colon - af_id));
  fqdn[colon - af_id] = '\0';
  return 0;
}

static enum egw_handler_result aanf_on_request(void *state, struct egw_exchange *x) {
  const struct egw__sim_subscribers_role *a = state;
  const struct egw_sim_aanf_policy *policy = a->policy;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, ROUTE) != 0)
    return EGW_DECLINED;
  enum egw_handler_result res;
  json_t *body = egw__roles_read_json(x, "application/json", &res);
  if (body == NULL)
    return res;
  const char *af_id = json_string_value(json_object_get(body, "afId"));
  const char *akid = json_string_value(json_object_get(body, "aKId"));
  char fqdn[256];
  uint8_t ua[EGW_KDF_UA_ID_LEN];
  int status = 200;
  const struct egw__sim_subscriber *sub = NULL;
  if (af_id == NULL || akid == NULL) {
    status = 400;
    res = egw__roles_problem(x, 400, "afId and aKId are required strings",
                             "MANDATORY_IE_MISSING", NULL, 0);
  } else if (parse_af_id(af_id, fqdn, ua) != 0) {
    status = 400;
    res = egw__roles_problem(x, 400, "afId must be \"<fqdn>:<Ua* protocol id, 10 hex digits>\"",
                             "MANDATORY_IE_INCORRECT", NULL, 0);
  } else if ((sub = egw__sim_subscriber_find_akid(a->subs, akid)) == NULL) {
    status = 404;
    res = egw__roles_problem(x, 404, "no AKMA context for this A-KID", "AKID_NOT_FOUND", NULL, 0);
  } else {
    uint8_t kaf[EGW_KDF_LEN];
    char hex[2 * EGW_KDF_LEN + 1];
    char expiry[EGW_DATETIME_LEN + 1];
    if (!egw_kdf_k_af(kaf, sub->k_akma, sizeof(sub->k_akma), fqdn, ua)) {
      status = 400;
      res = egw__roles_problem(x, 400, "the AF FQDN is not usable", "MANDATORY_IE_INCORRECT",
                               NULL, 0);
    } else {
      egw__sim_hex(hex, kaf, sizeof(kaf));
      egw__roles_datetime_format((int64_t)time(NULL) + policy->kaf_ttl_s, expiry);
      res = (enum egw_handler_result)egw__sim_answer_key(
          x, json_pack("{s:s, s:s}", "kaf", hex, "expiry", expiry));
    }
    OPENSSL_cleanse(kaf, sizeof(kaf));
    OPENSSL_cleanse(hex, sizeof(hex));
  }
  egw__sim_log_request("aanf_key_request", req->peer_addr, "afId", af_id, status);
  json_decref(body);
  return res;
}

const struct egw_role_ops egw_role_sim_aanf = {
    .name = "sim-aanf",
    .routes = aanf_routes,
    .init = aanf_init,
    .on_request = aanf_on_request,
    .dispose = egw__sim_subscribers_role_dispose,
};
