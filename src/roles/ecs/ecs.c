/* The ECS role as OAuth 2.0 authorization server (SPEC-NOTES "OAuth 2.0"): token
 * issuance (client credentials, Nnrf_AccessToken shape), its JWKS, introspection
 * (RFC 7662) and revocation (RFC 7009). Mount it on the listeners where clients reach
 * the ECS; the listener's TLS mode authenticates them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "auth/issuers.h"
#include "roles/ecs/internal.h"
#include "util/format.h"

static const struct egw_route ecs_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = "/oauth2/token"},
    {.methods = EGW_METHOD_POST, .prefix = "/oauth2/introspect"},
    {.methods = EGW_METHOD_POST, .prefix = "/oauth2/revoke"},
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD, .prefix = "/.well-known/jwks.json"},
    {.prefix = NULL},
};

static int ecs_init(struct egw_site *site, void **out_state, char **out_err) {
  if (site->policy->ecs == NULL || egw_issuers_signing_key(site->tokens.issuers) == NULL) {
    *out_err = egw_format("the ecs module needs the \"ecs\" section of %s (id, signing_keys, "
                          "clients)",
                          site->policy->site_file);
    return -1;
  }
  struct ecs *ecs = calloc(1, sizeof(*ecs));
  if (ecs == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  ecs->site = site;
  ecs->policy = site->policy->ecs;
  *out_state = ecs;
  return 0;
}

static void ecs_dispose(void *state) { free(state); }

int egw__ecs_no_store(struct egw_response *resp) {
  if (egw_response_add_header(resp, "Cache-Control", "no-store") != 0)
    return -1;
  return egw_response_add_header(resp, "Pragma", "no-cache");
}

enum egw_handler_result egw__ecs_oauth_error(struct egw_exchange *x, int status, const char *error,
                                             const char *description) {
  struct egw_response *resp = egw_exchange_response(x);
  json_t *body = json_pack("{s:s, s:s}", "error", error, "error_description", description);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  int rc = text ? egw_response_json(resp, status, text) : -1;
  free(text);
  if (rc == 0 && status == 401)
    rc = egw_response_add_header(resp, "WWW-Authenticate", "Bearer realm=\"edgegw\"");
  if (rc == 0)
    rc = egw__ecs_no_store(resp);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

int egw__ecs_read_form(struct egw_exchange *x, struct egw_form *form) {
  switch (egw_form_parse(egw_exchange_request(x), form)) {
  case EGW_FORM_OK:
    return 0;
  case EGW_FORM_NOT_FORM:
    egw__ecs_oauth_error(x, 400, "invalid_request",
                         "the body must be application/x-www-form-urlencoded");
    return -1;
  case EGW_FORM_DUPLICATE:
    egw__ecs_oauth_error(x, 400, "invalid_request", "a parameter is repeated");
    return -1;
  case EGW_FORM_MALFORMED:
    egw__ecs_oauth_error(x, 400, "invalid_request", "the form body is malformed");
    return -1;
  case EGW_FORM_NOMEM:
    break;
  }
  return -1;
}

static enum egw_handler_result jwks(struct ecs *ecs, struct egw_exchange *x) {
  json_t *doc = egw_issuers_local_jwks(ecs->site->tokens.issuers);
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  struct egw_response *resp = egw_exchange_response(x);
  int rc =
      text ? egw_response_set_body(resp, 200, "application/jwk-set+json", text, strlen(text)) : -1;
  free(text);
  if (rc == 0)
    rc = egw_response_add_header(resp, "Cache-Control", "max-age=300");
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

static enum egw_handler_result ecs_on_request(void *state, struct egw_exchange *x) {
  struct ecs *ecs = state;
  const char *path = egw_exchange_request(x)->path;
  if (strcmp(path, "/oauth2/token") == 0)
    return egw__ecs_token(ecs, x);
  if (strcmp(path, "/oauth2/introspect") == 0)
    return egw__ecs_introspect(ecs, x);
  if (strcmp(path, "/oauth2/revoke") == 0)
    return egw__ecs_revoke(ecs, x);
  if (strcmp(path, "/.well-known/jwks.json") == 0)
    return jwks(ecs, x);
  return EGW_DECLINED;
}

const struct egw_role_ops egw_role_ecs = {
    .name = "ecs",
    .routes = ecs_routes,
    .init = ecs_init,
    .start = egw__ecs_start,
    .on_request = ecs_on_request,
    .stop = egw__ecs_stop,
    .dispose = ecs_dispose,
};
