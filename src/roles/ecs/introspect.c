/* POST /oauth2/introspect (RFC 7662), the ECS's token validation service, and
 * POST /oauth2/revoke (RFC 7009). Both verify the token with the site's issuers; the
 * listener's authorization decides who may call them. A revocation is answered once it
 * is durable, and takes effect in the shared token cache at the same moment. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token_verify.h"
#include "roles/ecs/internal.h"
#include "store/store.h"
#include "util/log.h"

static const struct egw_token_accept any_site_token = {
    .algs = EGW_JWS_ES256 | EGW_JWS_ES384 | EGW_JWS_RS256 | EGW_JWS_PS256,
};

/* Reads the "token" parameter and verifies it with the site's issuers. Returns -1 when
 * the request was answered (a bad form), else 0 with *out the token's claims, or NULL
 * when it is not a valid token. */
static int form_token_claims(struct ecs *ecs, struct egw_exchange *x,
                             struct egw_token_claims **out) {
  struct egw_form form;
  *out = NULL;
  if (egw__ecs_read_form(x, &form) != 0)
    return -1;
  const char *token = egw_form_get(&form, "token");
  if (token == NULL || token[0] == '\0') {
    egw__ecs_oauth_error(x, 400, "invalid_request", "the token parameter is required");
    return -1;
  }
  const char *reason = NULL;
  if (egw_token_verify(&ecs->site->tokens, &any_site_token, token, strlen(token), NULL, out,
                       &reason) != 0)
    *out = NULL;
  return 0;
}

static enum egw_handler_result json_reply(struct egw_exchange *x, json_t *body) {
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  struct egw_response *resp = egw_exchange_response(x);
  int rc = text ? egw_response_json(resp, 200, text) : -1;
  free(text);
  if (rc == 0)
    rc = egw__ecs_no_store(resp);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

static json_t *active_response(const struct egw_token_claims *c) {
  json_t *aud = json_array();
  for (size_t i = 0; aud && i < c->n_aud; i++)
    json_array_append_new(aud, json_string(c->aud[i]));
  json_t *r =
      json_pack("{s:b, s:s, s:s, s:s, s:o, s:s, s:I}", "active", 1, "token_type", "Bearer", "iss",
                c->iss, "sub", c->sub, "aud", aud, "scope", c->scope, "exp", (json_int_t)c->exp);
  if (r && c->iat)
    json_object_set_new(r, "iat", json_integer(c->iat));
  if (r && c->jti)
    json_object_set_new(r, "jti", json_string(c->jti));
  return r;
}

enum egw_handler_result egw__ecs_introspect(struct ecs *ecs, struct egw_exchange *x) {
  struct egw_token_claims *claims = NULL;
  if (form_token_claims(ecs, x, &claims) != 0)
    return EGW_DONE;
  int valid = claims != NULL;
  /* RFC 7662 2.2: an expired token is inactive; no reason is given to the caller. */
  if (valid && claims->exp < egw_token_now_s()) {
    egw_token_claims_free(claims);
    valid = 0;
  }
  if (!valid)
    return json_reply(x, json_pack("{s:b}", "active", 0));
  json_t *body = active_response(claims);
  egw_token_claims_free(claims);
  return json_reply(x, body);
}

/* A revocation waiting for its row to be durable. */
struct revocation {
  struct ecs *ecs;
  struct egw_exchange *x; /* NULL once the client went away */
  char *jti;
  int64_t exp;
};

static void on_revoke_abort(void *arg) {
  struct revocation *r = arg;
  r->x = NULL;
}

static void on_revoked(void *arg, int status) {
  struct revocation *r = arg;
  if (status == 0)
    egw_tokcache_revoke(r->ecs->site->tokens.cache, r->jti, r->exp);
  struct egw_log_record rec;
  egw_log_begin(&rec, status == 0 ? EGW_LOG_INFO : EGW_LOG_ERROR, "token_revoked");
  egw_log_str(&rec, "jti", r->jti);
  egw_log_bool(&rec, "durable", status == 0);
  egw_log_end(&rec);
  if (r->x) {
    struct egw_response *resp = egw_exchange_response(r->x);
    if (status == 0)
      resp->status = 200;
    else
      egw_response_problem(resp, 503, "Service Unavailable", "the revocation was not stored",
                           "SYSTEM_FAILURE");
    egw_exchange_finish(r->x);
  }
  free(r->jti);
  free(r);
}

enum egw_handler_result egw__ecs_revoke(struct ecs *ecs, struct egw_exchange *x) {
  struct egw_token_claims *claims = NULL;
  if (form_token_claims(ecs, x, &claims) != 0)
    return EGW_DONE;
  /* RFC 7009 2.2: an invalid token is answered 200 too; there is nothing to revoke. */
  if (claims == NULL || claims->jti == NULL) {
    egw_token_claims_free(claims);
    egw_exchange_response(x)->status = 200;
    return EGW_DONE;
  }
  struct revocation *r = calloc(1, sizeof(*r));
  if (r)
    r->jti = strdup(claims->jti);
  if (r == NULL || r->jti == NULL) {
    egw_token_claims_free(claims);
    free(r);
    return EGW_FAILED;
  }
  r->ecs = ecs;
  r->x = x;
  r->exp = claims->exp;
  egw_token_claims_free(claims);
  if (egw_store_revoke(ecs->site->store, ecs->site->loop, r->jti, r->exp, on_revoked, r) != 0) {
    free(r->jti);
    free(r);
    return EGW_FAILED;
  }
  egw_exchange_set_abort(x, on_revoke_abort, r);
  return EGW_AGAIN;
}
