/* Module ees-eec, EDGE-1 (TS24558_Eees_EECRegistration.yaml): EEC registration create,
 * replace, merge-patch and delete, and (discovery.c) EAS discovery.
 *
 * Who may act: with token authorization the token's sub must be the eecId of the
 * registration (403 otherwise); on a listener with static (or no) authorization its
 * rules alone decide. The answer (201 + Location, 200, 204) is sent once the change is
 * durable. The registration answered is the one stored: expTime as granted (at most
 * ees.eec_registration_max_s ahead) and eecCntxId, the id of the EEC context held here
 * (the registration id; a later EES pulls it with it).
 *
 * Context relocation (EDGE-9): a POST naming srcEesId and eecCntxId takes over that
 * context (acProfs, ueId, ueMobilityReq, eecSvcContSupp the request lacks): from a
 * context the source pushed here earlier, or pulled from it now (reloc_client.c). The
 * answer then keeps srcEesId; when the context cannot be had, the EEC is registered
 * without it and the answer has no srcEesId.
 *
 * Push (project choice): EECRegistration and EECRegistrationPatch have no member naming
 * a target EES, so the trigger is the deregistration: DELETE /registrations/{id}
 * ?target-ees-id=<eesId> first pushes the context to that peer (EECContextPush) and
 * deletes the registration only once the peer took it (503 and nothing deleted when it
 * did not). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roles/ees/internal.h"
#include "util/log.h"

static const struct egw_route eec_routes[] = {
    {.methods = EGW_METHOD_POST | EGW_METHOD_PUT | EGW_METHOD_PATCH | EGW_METHOD_DELETE,
     .prefix = EGW__EES_EEC_BASE},
    {.methods = EGW_METHOD_POST, .prefix = EGW__EES_DISCOVERY_PATH},
    {.prefix = NULL},
};

/* Answers an exchange held asynchronously when the write could not even start. */
static void answer_failed(struct egw_exchange *x) {
  egw_exchange_response(x)->status = 0; /* finish answers 500 ProblemDetails */
  egw_exchange_finish(x);
}

/* ---- create ------------------------------------------------------------------------------ */

struct reg_op {
  struct egw__ees *e;
  struct egw_exchange *x; /* NULL once the client went away */
  json_t *doc;            /* the registration to store */
  char id[EGW_RESOURCE_ID_LEN + 1];
  int64_t exp_s;
  char *src;
};

static void reg_op_free(struct reg_op *op) {
  json_decref(op->doc);
  free(op->src);
  free(op);
}

static void on_reg_abort(void *arg) { ((struct reg_op *)arg)->x = NULL; }

/* take_context fills what the registration lacks from EECContext |ctx| of |src|. */
static void take_context(json_t *doc, const json_t *ctx, const char *src) {
  static const struct {
    const char *reg, *ctx;
  } same[] = {{"acProfs", "acProfs"}, {"ueId", "ueId"}, {"ueMobilityReq", "ueMobSuppInd"}};
  for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
    const json_t *v = json_object_get(ctx, same[i].ctx);
    if (v && json_object_get(doc, same[i].reg) == NULL)
      json_object_set_new(doc, same[i].reg, json_deep_copy(v));
  }
  const json_t *acr = json_object_get(json_object_get(ctx, "eecSrvContSupp"), "acrScenarios");
  if (acr && json_object_get(doc, "eecSvcContSupp") == NULL)
    json_object_set_new(doc, "eecSvcContSupp", json_deep_copy(acr));
  json_object_set_new(doc, "srcEesId", json_string(src));
}

/* store_registration writes op->doc and answers 201 when durable; frees |op|. */
static enum egw_handler_result store_registration(struct reg_op *op) {
  struct egw_records_commit c = {
      .new_id = op->id,
      .doc = op->doc,
      .exp_s = op->exp_s,
      .location_base = EGW__EES_EEC_BASE,
  };
  op->doc = NULL;
  enum egw_handler_result r = egw__ees_commit(op->e, EGW__EES_EEC, op->x, &c);
  reg_op_free(op);
  return r;
}

static void on_pulled(void *arg, const json_t *ctx, const char *why) {
  struct reg_op *op = arg;
  if (op->x == NULL) {
    reg_op_free(op);
    return;
  }
  if (ctx)
    take_context(op->doc, ctx, op->src);
  struct egw_exchange *x = op->x;
  if (store_registration(op) != EGW_AGAIN)
    answer_failed(x);
}

/* relocate looks for the context the EEC names: one of ours, one pushed here, or one to
 * pull from the source EES. Returns EGW_AGAIN while pulling, else stores at once. */
static enum egw_handler_result relocate(struct reg_op *op, const char *cntx_id,
                                        const char *eec_id) {
  struct egw__ees *e = op->e;
  const json_t *ctx = NULL;
  json_t *own = NULL;
  if (strcmp(op->src, e->policy->id) == 0) {
    struct egw_record *r = egw__ees_find(e, EGW__EES_EEC, cntx_id);
    const char *owner = r ? json_string_value(json_object_get(r->doc, "eecId")) : NULL;
    if (owner && strcmp(owner, eec_id) == 0)
      ctx = own = egw__ees_context_of(r);
  } else {
    size_t n = strlen(op->src) + strlen(cntx_id) + 2;
    char *key = malloc(n);
    if (key == NULL) {
      reg_op_free(op);
      return EGW_FAILED;
    }
    snprintf(key, n, "%s|%s", op->src, cntx_id);
    struct egw_record *r = egw__ees_find(e, EGW__EES_CTX, key);
    const json_t *pushed = r ? json_object_get(r->doc, "eecCntx") : NULL;
    const char *owner = json_string_value(json_object_get(pushed, "eecId"));
    if (owner && strcmp(owner, eec_id) == 0) {
      take_context(op->doc, pushed, op->src);
      /* Consumed: the registration now holds it. */
      struct egw_records_commit del = {.rec = r};
      egw__ees_commit(e, EGW__EES_CTX, NULL, &del);
      free(key);
      return store_registration(op);
    }
    free(key);
    const char *why = NULL;
    if (egw__ees_ctx_pull(e, op->src, cntx_id, eec_id, on_pulled, op, &why) == 0) {
      egw_exchange_set_abort(op->x, on_reg_abort, op);
      return EGW_AGAIN;
    }
  }
  if (ctx)
    take_context(op->doc, ctx, op->src);
  json_decref(own);
  return store_registration(op);
}

static enum egw_handler_result create(struct egw__ees *e, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  enum egw_handler_result r;
  int64_t exp_s;
  json_t *body = egw__ees_read_registration(e, x, egw__ees_check_eec_registration, &exp_s, &r);
  if (body == NULL)
    return r;
  const char *eec_id = json_string_value(json_object_get(body, "eecId"));
  if (egw__ees_token_sub_mismatch(req, eec_id)) {
    r = egw__roles_identity_mismatch(x, "the access token was not issued to this eecId");
    goto end;
  }
  struct reg_op *op = calloc(1, sizeof(*op));
  if (op == NULL) {
    r = EGW_FAILED;
    goto end;
  }
  egw__roles_new_id(op->id);
  op->e = e;
  op->x = x;
  op->exp_s = exp_s;
  op->doc = json_deep_copy(body);
  const char *src = json_string_value(json_object_get(body, "srcEesId"));
  const char *cntx_id = json_string_value(json_object_get(body, "eecCntxId"));
  if (op->doc == NULL || (src && (op->src = strdup(src)) == NULL) ||
      json_object_set_new(op->doc, "expTime", egw__ees_time(exp_s)) ||
      json_object_set_new(op->doc, "eecCntxId", json_string(op->id))) {
    reg_op_free(op);
    r = EGW_FAILED;
    goto end;
  }
  /* srcEesId in the answer says the context was relocated; it is set again if it is. */
  json_object_del(op->doc, "srcEesId");
  r = src && cntx_id ? relocate(op, cntx_id, eec_id) : store_registration(op);
end:
  json_decref(body);
  return r;
}

/* ---- replace, patch ----------------------------------------------------------------------- */

/* owned_registration finds registration |id| and checks that the token's sub (if any) is
 * its eecId. Returns it, or NULL after answering 404 or 403. */
static struct egw_record *owned_registration(struct egw__ees *e, struct egw_exchange *x,
                                             const char *id, enum egw_handler_result *out) {
  struct egw_record *rec = egw__ees_find(e, EGW__EES_EEC, id);
  if (rec == NULL) {
    *out = egw__ees_problem(x, 404, "no EEC registration with this id", "RESOURCE_NOT_FOUND");
    return NULL;
  }
  const char *eec_id = json_string_value(json_object_get(rec->doc, "eecId"));
  if (egw__ees_token_sub_mismatch(egw_exchange_request(x), eec_id)) {
    *out = egw__roles_identity_mismatch(x, "the registration belongs to another EEC");
    return NULL;
  }
  return rec;
}

static enum egw_handler_result store_update(struct egw__ees *e, struct egw_exchange *x,
                                            struct egw_record *rec, json_t *doc, int64_t exp_s) {
  json_object_set_new(doc, "expTime", egw__ees_time(exp_s));
  json_object_set_new(doc, "eecCntxId", json_string(rec->id));
  struct egw_records_commit c = {.rec = rec, .doc = doc, .exp_s = exp_s};
  return egw__ees_commit(e, EGW__EES_EEC, x, &c);
}

static enum egw_handler_result replace(struct egw__ees *e, struct egw_exchange *x, const char *id) {
  enum egw_handler_result r;
  json_t *body = egw__roles_read_json(x, "application/json", &r);
  if (body == NULL)
    return r;
  struct egw_record *rec = owned_registration(e, x, id, &r);
  struct egw__ees_invalid inv;
  int64_t exp_s;
  if (rec == NULL)
    goto end;
  if (egw__ees_check_registration(e, body, egw__ees_check_eec_registration, &exp_s, &inv) != 0) {
    r = egw__ees_bad_request(x, &inv);
    goto end;
  }
  if (!json_equal(json_object_get(body, "eecId"), json_object_get(rec->doc, "eecId"))) {
    r = egw__roles_identity_mismatch(
        x, "eecId cannot change: the registration belongs to another EEC");
    goto end;
  }
  /* Where the context came from stays as registered. */
  json_object_del(body, "srcEesId");
  json_t *src = json_object_get(rec->doc, "srcEesId");
  if (src)
    json_object_set(body, "srcEesId", src);
  r = store_update(e, x, rec, body, exp_s);
  body = NULL;
end:
  json_decref(body);
  return r;
}

static enum egw_handler_result patch(struct egw__ees *e, struct egw_exchange *x, const char *id) {
  enum egw_handler_result r;
  json_t *body = egw__roles_read_json(x, "application/merge-patch+json", &r);
  if (body == NULL)
    return r;
  json_t *doc = NULL;
  struct egw__ees_invalid inv;
  struct egw_record *rec = owned_registration(e, x, id, &r);
  if (rec == NULL)
    goto end;
  if (egw__ees_check_eec_registration_patch(body, &inv) != 0) {
    r = egw__ees_bad_request(x, &inv);
    goto end;
  }
  int64_t exp_s = rec->exp_s;
  json_t *exp_time = json_object_get(body, "expTime");
  if (exp_time && egw__ees_grant_exp(exp_time, egw__ees_now_s(), e->policy->eec_registration_max_s,
                                     &exp_s, &inv) != 0) {
    r = egw__ees_bad_request(x, &inv);
    goto end;
  }
  doc = egw__roles_merge_patch(rec->doc, body);
  if (doc == NULL) {
    r = EGW_FAILED;
    goto end;
  }
  if (egw__ees_check_eec_registration(doc, &inv) != 0) {
    r = egw__ees_bad_request(x, &inv);
    goto end;
  }
  r = store_update(e, x, rec, doc, exp_s);
  doc = NULL;
end:
  json_decref(doc);
  json_decref(body);
  return r;
}

/* ---- delete, push --------------------------------------------------------------------------- */

struct push_op {
  struct egw__ees *e;
  struct egw_exchange *x;
  char *id;
  char *target;
};

static void push_op_free(struct push_op *op) {
  free(op->id);
  free(op->target);
  free(op);
}

static void on_push_abort(void *arg) { ((struct push_op *)arg)->x = NULL; }

static enum egw_handler_result delete_now(struct egw__ees *e, struct egw_exchange *x,
                                          struct egw_record *rec) {
  struct egw_records_commit c = {.rec = rec};
  return egw__ees_commit(e, EGW__EES_EEC, x, &c);
}

static void on_pushed(void *arg, int ok, const char *why) {
  struct push_op *op = arg;
  struct egw_exchange *x = op->x;
  /* Looked up again: it may have expired or gone meanwhile. */
  struct egw_record *rec = x ? egw__ees_find(op->e, EGW__EES_EEC, op->id) : NULL;
  enum egw_handler_result r = EGW_AGAIN;
  if (x && !ok) {
    char detail[256];
    snprintf(detail, sizeof(detail), "the EEC context could not be relocated to %s: %s", op->target,
             why ? why : "failed");
    r = egw__ees_problem(x, 503, detail, "SYSTEM_FAILURE");
  } else if (x && rec == NULL) {
    r = egw__ees_problem(x, 404, "no EEC registration with this id", "RESOURCE_NOT_FOUND");
  } else if (x) {
    r = delete_now(op->e, x, rec);
  }
  if (r == EGW_DONE)
    egw_exchange_finish(x);
  else if (r != EGW_AGAIN)
    answer_failed(x);
  push_op_free(op);
}

static enum egw_handler_result deregister(struct egw__ees *e, struct egw_exchange *x,
                                          const char *id) {
  enum egw_handler_result r;
  struct egw_record *rec = owned_registration(e, x, id, &r);
  if (rec == NULL)
    return r;
  int bad = 0;
  const char *target = egw__roles_query_get(egw_exchange_request(x), "target-ees-id", &bad);
  struct egw__ees_invalid inv;
  if (bad)
    return egw__ees_problem(x, 400, "the query string is malformed", "INVALID_QUERY_PARAM");
  if (target && egw__ees_peer(e, target) == NULL) {
    egw__ees_invalid_set(&inv, "INVALID_QUERY_PARAM", "target-ees-id",
                         "is not a peer EES of this EES");
    return egw__ees_bad_request(x, &inv);
  }
  if (target == NULL)
    return delete_now(e, x, rec);
  json_t *ctx = egw__ees_context_of(rec);
  json_t *push = ctx ? json_pack("{s:s, s:o}", "eesId", e->policy->id, "eecCntx", ctx) : NULL;
  struct push_op *op = push ? calloc(1, sizeof(*op)) : NULL;
  if (op == NULL || (op->id = strdup(id)) == NULL || (op->target = strdup(target)) == NULL) {
    json_decref(push);
    if (op)
      push_op_free(op);
    return EGW_FAILED;
  }
  op->e = e;
  op->x = x;
  const char *why = NULL;
  const char *eec_id = json_string_value(json_object_get(rec->doc, "eecId"));
  int rc = egw__ees_ctx_push(e, target, push, eec_id, on_pushed, op, &why);
  json_decref(push);
  if (rc != 0) {
    char detail[256];
    snprintf(detail, sizeof(detail), "the EEC context could not be relocated to %s: %s", target,
             why);
    push_op_free(op);
    return egw__ees_problem(x, 503, detail, "SYSTEM_FAILURE");
  }
  egw_exchange_set_abort(x, on_push_abort, op);
  return EGW_AGAIN;
}

enum egw_handler_result egw__ees_eec_registration(struct egw__ees *e, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  const char *id = egw__roles_path_id(req->path, EGW__EES_EEC_BASE);
  if (id == NULL)
    return egw__ees_problem(x, 404, "no resource at this path", NULL);
  if (id[0] == '\0')
    return req->method == EGW_METHOD_POST ? create(e, x) : egw__roles_not_allowed(x, "POST");
  switch (req->method) {
  case EGW_METHOD_PUT:
    return replace(e, x, id);
  case EGW_METHOD_PATCH:
    return patch(e, x, id);
  case EGW_METHOD_DELETE:
    return deregister(e, x, id);
  default:
    return egw__roles_not_allowed(x, "PUT, PATCH, DELETE");
  }
}

static enum egw_handler_result eec_on_request(void *state, struct egw_exchange *x) {
  const char *path = egw_exchange_request(x)->path;
  if (strcmp(path, EGW__EES_DISCOVERY_PATH) == 0)
    return egw__ees_discovery(state, x);
  return egw__ees_eec_registration(state, x);
}

const struct egw_role_ops egw_role_ees_eec = {
    .name = "ees-eec",
    .routes = eec_routes,
    .learns_client_cas = 1,
    .init = egw__ees_module_init,
    .start = egw__ees_module_start,
    .on_request = eec_on_request,
    .stop = egw__ees_module_stop,
};
