/* Module ees-reloc, EDGE-9 (TS29558_Eees_EECContextRelocation.yaml), the target side of
 * EEC context relocation between EESes:
 *  - POST /eec-contexts (push): a source EES hands over an EEC context (EECContextPush).
 *    It is stored as "ees.ctx" (key "<eesId>|<cntxId>") until the EEC registers here
 *    naming it (eec.c), and answered 204 once durable (no implicit registration).
 *  - GET /eec-contexts?ees-id=&eec-cntx-id= (pull): the EECContext of an EEC registered
 *    here, whose eecCntxId (the registration id) is eec-cntx-id.
 * The caller is a configured peer (ees.peers): the token's sub (the listener's token
 * authorization checked aud and the eees-eeccontextreloc scope) must be that peer and
 * the eesId / ees-id it names; a token's eecId claim, when present, must be the EEC whose
 * context moves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roles/ees/internal.h"

static const struct egw_route reloc_routes[] = {
    {.methods = EGW_METHOD_POST | EGW_METHOD_GET, .prefix = EGW__EES_CTX_PATH},
    {.prefix = NULL},
};

/* caller_may checks that |ees_id| is a configured peer and the caller's token (if any)
 * speaks for it and, with an eecId claim, for |eec_id|. Returns NULL or why not. */
static const char *caller_may(const struct egw__ees *e, const struct egw_request *req,
                              const char *ees_id, const char *eec_id) {
  if (egw__ees_peer(e, ees_id) == NULL)
    return "the EES is not a peer of this EES";
  if (egw__ees_token_sub_mismatch(req, ees_id))
    return "the access token was not issued to this EES";
  if (req->token_eec_id && eec_id && strcmp(req->token_eec_id, eec_id) != 0)
    return "the access token was issued for another EEC";
  return NULL;
}

static enum egw_handler_result push(struct egw__ees *e, struct egw_exchange *x) {
  enum egw_handler_result r;
  json_t *body = egw__roles_read_json(x, "application/json", &r);
  if (body == NULL)
    return r;
  struct egw__ees_invalid inv;
  char *key = NULL;
  if (egw__ees_check_context_push(body, &inv) != 0) {
    r = egw__ees_bad_request(x, &inv);
    goto end;
  }
  const char *ees_id = json_string_value(json_object_get(body, "eesId"));
  const json_t *ctx = json_object_get(body, "eecCntx");
  const char *eec_id = json_string_value(json_object_get(ctx, "eecId"));
  const char *cntx_id = json_string_value(json_object_get(ctx, "cntxId"));
  const char *why = caller_may(e, egw_exchange_request(x), ees_id, eec_id);
  if (why) {
    r = egw__roles_identity_mismatch(x, why);
    goto end;
  }
  size_t n = strlen(ees_id) + strlen(cntx_id) + 2;
  if ((key = malloc(n)) == NULL) {
    r = EGW_FAILED;
    goto end;
  }
  snprintf(key, n, "%s|%s", ees_id, cntx_id);
  /* Pushed again: the newer context replaces the older. */
  struct egw_records_commit c = {
      .rec = egw__ees_find(e, EGW__EES_CTX, key),
      .new_id = key,
      .doc = body,
      .exp_s = egw__ees_now_s() + (int64_t)e->policy->eec_registration_max_s,
      .status = 204,
  };
  body = NULL;
  r = egw__ees_commit(e, EGW__EES_CTX, x, &c);
end:
  free(key);
  json_decref(body);
  return r;
}

static enum egw_handler_result pull(struct egw__ees *e, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  int bad = 0;
  const char *ees_id = egw__roles_query_get(req, "ees-id", &bad);
  const char *cntx_id = egw__roles_query_get(req, "eec-cntx-id", &bad);
  struct egw__ees_invalid inv;
  if (bad)
    return egw__ees_problem(x, 400, "the query string is malformed", "INVALID_QUERY_PARAM");
  if (ees_id == NULL || cntx_id == NULL || !ees_id[0] || !cntx_id[0]) {
    egw__ees_invalid_set(&inv, "MANDATORY_QUERY_PARAM_MISSING",
                         ees_id && ees_id[0] ? "eec-cntx-id" : "ees-id", "is required");
    return egw__ees_bad_request(x, &inv);
  }
  const char *why = caller_may(e, req, ees_id, NULL);
  if (why)
    return egw__roles_identity_mismatch(x, why);
  struct egw_record *rec = egw__ees_find(e, EGW__EES_EEC, cntx_id);
  if (rec == NULL)
    return egw__ees_problem(x, 404, "no EEC context with this id", "CONTEXT_NOT_FOUND");
  const char *eec_id = json_string_value(json_object_get(rec->doc, "eecId"));
  if (req->token_eec_id && strcmp(req->token_eec_id, eec_id) != 0)
    return egw__roles_identity_mismatch(x, "the access token was issued for another EEC");
  json_t *ctx = egw__ees_context_of(rec);
  enum egw_handler_result r = ctx ? egw__roles_answer_json(x, 200, ctx) : EGW_FAILED;
  json_decref(ctx);
  return r;
}

static enum egw_handler_result reloc_on_request(void *state, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, EGW__EES_CTX_PATH) != 0)
    return egw__ees_problem(x, 404, "no resource at this path", NULL);
  return req->method == EGW_METHOD_POST ? push(state, x) : pull(state, x);
}

const struct egw_role_ops egw_role_ees_reloc = {
    .name = "ees-reloc",
    .routes = reloc_routes,
    .init = egw__ees_module_init,
    .start = egw__ees_module_start,
    .on_request = reloc_on_request,
    .stop = egw__ees_module_stop,
};
