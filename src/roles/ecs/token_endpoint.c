/* POST /oauth2/token: client credentials grant in the shape of Nnrf_AccessToken
 * (TS 29.510). The client is the TLS peer (certificate or PSK identity) and must be the
 * nfInstanceId it names; what it may ask for is ECS policy (site.yaml ecs.clients). */
#include <jansson.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "auth/allowlist.h"
#include "auth/issuers.h"
#include "auth/token_verify.h"
#include "roles/ecs/internal.h"
#include "util/arena.h"
#include "util/encoding.h"

static const struct egw_token_client_policy *client_policy(const struct egw_ecs_policy *p,
                                                           const struct egw_peer *peer) {
  for (size_t i = 0; i < p->n_clients; i++) {
    if (egw_allowlist_match(p->clients[i].pattern, peer))
      return &p->clients[i];
  }
  return NULL;
}

static int has_word(char *const *list, size_t n, const char *word, size_t len) {
  for (size_t i = 0; i < n; i++) {
    if (strlen(list[i]) == len && memcmp(list[i], word, len) == 0)
      return 1;
  }
  return 0;
}

/* Every space-separated scope asked for must be one the client may get. */
static int scopes_allowed(const struct egw_token_client_policy *cp, const char *scope) {
  const char *p = scope;
  int words = 0;
  while (*p) {
    while (*p == ' ')
      p++;
    size_t len = strcspn(p, " ");
    if (len == 0)
      break;
    if (!has_word(cp->scopes, cp->n_scopes, p, len))
      return 0;
    words++;
    p += len;
  }
  return words > 0;
}

static int audience_allowed(const struct egw_token_client_policy *cp, const char *aud) {
  return cp->allow_any_audience || has_word(cp->audiences, cp->n_audiences, aud, strlen(aud));
}

enum egw_handler_result egw__ecs_token(struct ecs *ecs, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_form form;
  if (egw__ecs_read_form(x, &form) != 0)
    return EGW_DONE;
  const char *grant = egw_form_get(&form, "grant_type");
  const char *sub = egw_form_get(&form, "nfInstanceId");
  const char *scope = egw_form_get(&form, "scope");
  const char *aud = egw_form_get(&form, "targetNfInstanceId");
  const char *eec_id = egw_form_get(&form, "eecId"); /* TR 33.739 sol. 27: optional */
  if (grant == NULL)
    return egw__ecs_oauth_error(x, 400, "invalid_request", "grant_type is required");
  if (strcmp(grant, "client_credentials") != 0)
    return egw__ecs_oauth_error(x, 400, "unsupported_grant_type",
                                "only client_credentials is supported");
  if (sub == NULL || scope == NULL || aud == NULL)
    return egw__ecs_oauth_error(x, 400, "invalid_request",
                                "nfInstanceId, scope and targetNfInstanceId are required");
  if (req->peer->id == NULL)
    return egw__ecs_oauth_error(x, 401, "invalid_client",
                                "the client must authenticate with a certificate or a PSK");
  if (strcmp(req->peer->id, sub) != 0)
    return egw__ecs_oauth_error(x, 401, "invalid_client",
                                "nfInstanceId is not the authenticated client");
  const struct egw_token_client_policy *cp = client_policy(ecs->policy, req->peer);
  if (cp == NULL)
    return egw__ecs_oauth_error(x, 400, "unauthorized_client",
                                "this client may not obtain access tokens");
  if (!scopes_allowed(cp, scope))
    return egw__ecs_oauth_error(x, 400, "invalid_scope", "a requested scope is not allowed");
  if (!audience_allowed(cp, aud))
    return egw__ecs_oauth_error(x, 400, "invalid_scope",
                                "tokens for this targetNfInstanceId are not allowed");

  if (eec_id != NULL && (!cp->may_name_eec || eec_id[0] == '\0'))
    return egw__ecs_oauth_error(x, 400, "invalid_request",
                                "this client may not ask for tokens naming an EEC");
  uint32_t ttl_s = cp->token_ttl_s ? cp->token_ttl_s : ecs->policy->token_ttl_s;
  struct egw_ecs_mint mint = {
      .sub = sub,
      .aud = aud,
      .scope = scope,
      .eec_id = eec_id,
      .ttl_s = ttl_s,
      /* RFC 8705 3.1: bound to the certificate the client authenticated with, unless it
       * names an EEC: such a token is handed on (an EAS token for the EEC) and would be
       * refused on the EEC's own connection. */
      .cnf_sha256 = req->peer->has_cert_sha256 && eec_id == NULL ? req->peer->cert_sha256 : NULL,
  };
  char *token = egw__ecs_mint(ecs->site, &mint);
  if (token == NULL)
    return EGW_FAILED;
  /* Written directly rather than through jansson: the token is base64url and dots, and
   * the scope passed scopes_allowed (policy scopes exclude '"' and '\\'), so nothing
   * needs escaping, and this is the hot path of token issuance. */
  struct egw_response *resp = egw_exchange_response(x);
  char *text =
      egw_arena_sprintf(req->arena,
                        "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":%u,"
                        "\"scope\":\"%s\"}",
                        token, ttl_s, scope);
  OPENSSL_cleanse(token, strlen(token));
  free(token);
  int rc = text ? egw_response_set_body(resp, 200, "application/json", text, strlen(text)) : -1;
  if (text) /* the body holds a live token: the response has its own copy */
    OPENSSL_cleanse(text, strlen(text));
  if (rc == 0)
    rc = egw__ecs_no_store(resp);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}
