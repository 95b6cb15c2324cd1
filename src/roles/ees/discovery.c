/* EDGE-1 EAS discovery (TS24558_Eees_EASDiscovery.yaml): POST
 * /eees-easdiscovery/v1/eas-profiles/request-discovery with EasDiscoveryReq answers
 * EasDiscoveryResp {discoveredEas [{eas: EASProfile, lifeTime}]} with the registered,
 * unexpired EASes that match the request's easDiscoveryFilter (filter.c), one per easId,
 * sorted by easId.
 *
 * When the requestor is an EEC (requestorId.eecId, which must be the token's sub) and the
 * EES has an ECS, every DiscoveredEas also carries "easAccessToken" {access_token,
 * token_type, expires_in, scope} (project choice; the schema allows extra members): a
 * token from the ECS with aud = the EAS and an eecId claim, fetched for all EASes in
 * parallel and cached per (EAS, EEC). If the ECS cannot give one, the answer is 503 (no
 * partial list). An EAS or EES requestor gets the profiles without tokens. */
#include <openssl/mem.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token_verify.h"
#include "roles/ees/internal.h"
#include "util/log.h"

struct disc_item {
  struct disc_op *op;
  char *eas_id;
  json_t *profile; /* a reference to the registration's easProf */
  int64_t exp_s;
  char *token; /* wiped when freed */
  char *scope;
  int64_t token_exp_ms;
};

struct disc_op {
  struct egw__ees *e;
  struct egw_exchange *x; /* NULL once the client went away */
  char *eec_id;
  size_t pending;
  enum egw__ees_fetch worst;
  size_t n;
  struct disc_item items[];
};

static void op_free(struct disc_op *op) {
  for (size_t i = 0; i < op->n; i++) {
    struct disc_item *it = &op->items[i];
    json_decref(it->profile);
    free(it->eas_id);
    if (it->token) {
      OPENSSL_cleanse(it->token, strlen(it->token));
      free(it->token);
    }
    free(it->scope);
  }
  free(op->eec_id);
  free(op);
}

static void on_abort(void *arg) { ((struct disc_op *)arg)->x = NULL; }

static int cmp_item(const void *a, const void *b) {
  return strcmp(((const struct disc_item *)a)->eas_id, ((const struct disc_item *)b)->eas_id);
}

/* select_eases returns an op holding the matching EASes (the newest registration of each
 * easId), or NULL when out of memory. */
static struct disc_op *select_eases(struct egw__ees *e, const json_t *filter) {
  struct egw_records *t = &e->tables[EGW__EES_EAS];
  int64_t now = egw__ees_now_s();
  size_t n = 0;
  for (const struct egw_record *r = t->head; r; r = r->next)
    n++;
  struct disc_op *op = calloc(1, sizeof(*op) + (n ? n : 1) * sizeof(struct disc_item));
  if (op == NULL)
    return NULL;
  op->e = e;
  for (const struct egw_record *r = t->head; r; r = r->next) {
    json_t *prof = json_object_get(r->doc, "easProf");
    if (!egw__record_live(r, now) || egw__record_shadowed(r, now) ||
        !egw__ees_filter_match(filter, prof))
      continue;
    struct disc_item *it = &op->items[op->n++];
    it->op = op;
    it->eas_id = strdup(r->owner); /* the record may go while tokens are fetched */
    it->profile = json_incref(prof);
    it->exp_s = r->exp_s;
  }
  for (size_t i = 0; i < op->n; i++) {
    if (op->items[i].eas_id == NULL) {
      op_free(op);
      return NULL;
    }
  }
  qsort(op->items, op->n, sizeof(op->items[0]), cmp_item);
  for (size_t i = 0; i < op->n; i++)
    op->items[i].op = op;
  return op;
}

static json_t *response_body(const struct disc_op *op) {
  json_t *list = json_array();
  for (size_t i = 0; list && i < op->n; i++) {
    const struct disc_item *it = &op->items[i];
    json_t *d = json_pack("{s:O}", "eas", it->profile);
    if (d && it->exp_s)
      json_object_set_new(d, "lifeTime", egw__ees_time(it->exp_s));
    if (d && it->token) {
      int64_t left_ms = it->token_exp_ms - (int64_t)egw_token_now_ms();
      json_object_set_new(d, "easAccessToken",
                          json_pack("{s:s, s:s, s:I, s:s}", "access_token", it->token, "token_type",
                                    "Bearer", "expires_in",
                                    (json_int_t)(left_ms > 0 ? left_ms / 1000 : 0), "scope",
                                    it->scope));
    }
    if (d == NULL || json_array_append_new(list, d) != 0) {
      json_decref(list);
      return NULL;
    }
  }
  return list ? json_pack("{s:o}", "discoveredEas", list) : NULL;
}

/* answer fills the response of op->x: the list, or 503/500 when a token is missing.
 * Returns 0 or -1 (out of memory). */
static int answer(struct disc_op *op) {
  if (op->worst != EGW__EES_FETCH_OK) {
    const char *why = op->worst == EGW__EES_FETCH_UNREACHABLE
                          ? "the ECS cannot be reached for EAS access tokens"
                          : "the ECS refused an EAS access token";
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_WARN, "ees_discovery_failed");
    egw_log_str(&rec, "eec_id", op->eec_id);
    egw_log_str(&rec, "error", why);
    egw_log_end(&rec);
    int status = op->worst == EGW__EES_FETCH_UNREACHABLE ? 503 : 500;
    return egw__ees_problem(op->x, status, why, "SYSTEM_FAILURE") == EGW_DONE ? 0 : -1;
  }
  struct egw_response *resp = egw_exchange_response(op->x);
  json_t *body = response_body(op);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  int rc = text ? egw_response_json(resp, 200, text) : -1;
  if (text) { /* it holds live tokens: the response has its own copy */
    OPENSSL_cleanse(text, strlen(text));
    free(text);
  }
  if (rc == 0 && op->eec_id)
    rc = egw_response_add_header(resp, "Cache-Control", "no-store");
  return rc == 0 ? 0 : -1;
}

static void set_token(struct disc_item *it, const struct egw__ees_token *tok) {
  it->token = strdup(tok->access_token);
  it->scope = strdup(tok->scope);
  it->token_exp_ms = tok->exp_ms;
  if (it->token == NULL || it->scope == NULL)
    it->op->worst = EGW__EES_FETCH_REFUSED;
}

static void on_token(void *arg, enum egw__ees_fetch result, const struct egw__ees_token *tok) {
  struct disc_item *it = arg;
  struct disc_op *op = it->op;
  if (result == EGW__EES_FETCH_OK)
    set_token(it, tok);
  else if (op->worst != EGW__EES_FETCH_UNREACHABLE)
    op->worst = result;
  if (--op->pending > 0)
    return;
  if (op->x) {
    if (answer(op) != 0)
      egw_exchange_response(op->x)->status = 0; /* finish answers 500 ProblemDetails */
    egw_exchange_finish(op->x);
  }
  op_free(op);
}

enum egw_handler_result egw__ees_discovery(struct egw__ees *e, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  enum egw_handler_result r;
  json_t *body = egw__roles_read_json(x, "application/json", &r);
  if (body == NULL)
    return r;
  struct egw__ees_invalid inv;
  struct disc_op *op = NULL;
  char *scope = NULL;
  if (egw__ees_check_discovery_req(body, &inv) != 0) {
    r = egw__ees_bad_request(x, &inv);
    goto end;
  }
  const json_t *rid = json_object_get(body, "requestorId");
  const char *eec_id = json_string_value(json_object_get(rid, "eecId"));
  const char *requestor = eec_id ? eec_id
                          : json_string_value(json_object_get(rid, "easId"))
                              ? json_string_value(json_object_get(rid, "easId"))
                              : json_string_value(json_object_get(rid, "eesId"));
  if (egw__ees_token_sub_mismatch(req, requestor)) {
    r = egw__roles_identity_mismatch(x, "the access token was not issued to the requestor");
    goto end;
  }
  op = select_eases(e, json_object_get(body, "easDiscoveryFilter"));
  if (op == NULL || (eec_id && (op->eec_id = strdup(eec_id)) == NULL)) {
    r = EGW_FAILED;
    goto end;
  }
  int tokens = eec_id != NULL && e->policy->ecs_url != NULL;
  /* ees.eas_token_scopes, default "eas-app" */
  if (tokens && (scope = egw__roles_scope_join(e->policy->eas_token_scopes,
                                               e->policy->n_eas_token_scopes, "eas-app")) == NULL) {
    r = EGW_FAILED;
    goto end;
  }
  for (size_t i = 0; tokens && i < op->n; i++) {
    struct disc_item *it = &op->items[i];
    const struct egw__ees_token *tok = egw__ees_token_cached(e, it->eas_id, eec_id, scope);
    if (tok) {
      set_token(it, tok);
    } else if (egw__ees_token_fetch(e, it->eas_id, eec_id, scope, on_token, it) == 0) {
      op->pending++;
    } else {
      op->worst = EGW__EES_FETCH_UNREACHABLE;
      break;
    }
  }
  if (op->pending > 0) {
    /* The fetches under way report to the op; it answers (or just frees itself). */
    op->x = x;
    egw_exchange_set_abort(x, on_abort, op);
    op = NULL;
    r = EGW_AGAIN;
    goto end;
  }
  op->x = x;
  r = answer(op) == 0 ? EGW_DONE : EGW_FAILED;
end:
  if (op)
    op_free(op);
  free(scope);
  json_decref(body);
  return r;
}
