/* POST /oauth2/token: client credentials grant in the shape of Nnrf_AccessToken
 * (TS 29.510). The client is the TLS peer (certificate or PSK identity) and must be the
 * nfInstanceId it names; what it may ask for is ECS policy (site.yaml ecs.clients).
 *
 * Multi-ECS: a request for an EES that is not registered here but that a peer ECS holds
 * (ecs.peers[].ees) is checked exactly as a local one, then forwarded (forward.c). A
 * request forwarded by a peer ECS (its TLS identity matches the peer's pattern) is
 * trusted to have authenticated sourceNfInstanceId; this ECS applies its own client
 * policy to that id and signs, or forwards once more. */
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
#include "util/json_write.h"
#include "util/log.h"

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

/* The original requester of a forwarded request as a peer, for the allow-list patterns
 * of ecs.clients: an id with a scheme is a URI SAN identity, anything else a DNS name
 * (the two forms EES ids take). */
static const struct egw_peer *source_peer(struct egw_arena *arena, const char *id) {
  struct egw_peer *p = egw_arena_alloc(arena, sizeof(*p));
  if (p == NULL)
    return NULL;
  *p = (struct egw_peer){
      .kind = strstr(id, "://") ? EGW_PEER_URI : EGW_PEER_DNS,
      .id = egw_arena_strdup(arena, id),
  };
  return p->id ? p : NULL;
}

static enum egw_handler_result refuse_forwarded(struct egw_exchange *x, const char *why,
                                                const char *hops) {
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "ecs_forward_refused");
  egw_log_str(&rec, "reason", why);
  egw_log_str(&rec, "caller", req->peer->id);
  egw_log_str(&rec, "hops", hops);
  egw_log_end(&rec);
  return egw__ecs_oauth_error(x, 400, "invalid_request", why);
}

/* What a forwarded request adds to the form, once checked. */
struct forwarded {
  const char *source; /* sourceNfInstanceId; NULL: the request is the client's own */
  const char *hops;
  const char *cnf_x5t;
  uint8_t cnf[32];
  int has_cnf;
  const struct egw_ecs_peer_policy *via;
};

/* Checks the forwarding parameters. Returns 0 (f->source NULL when there are none), or
 * -1 after answering the refusal. */
static int check_forwarded(struct ecs *ecs, struct egw_exchange *x, const struct egw_form *form,
                           struct forwarded *f) {
  const struct egw_request *req = egw_exchange_request(x);
  const char *source = egw_form_get(form, EGW_ECS_FORM_SOURCE);
  f->hops = egw_form_get(form, EGW_ECS_FORM_HOPS);
  f->cnf_x5t = egw_form_get(form, EGW_ECS_FORM_CNF);
  if (source == NULL && f->hops == NULL && f->cnf_x5t == NULL)
    return 0;
  if (egw__ecs_calling_peer(ecs->policy, req->peer, NULL) == NULL) {
    refuse_forwarded(x,
                     "only a peer ECS may send " EGW_ECS_FORM_SOURCE ", " EGW_ECS_FORM_HOPS
                     " or " EGW_ECS_FORM_CNF,
                     f->hops);
    return -1;
  }
  if (source == NULL || source[0] == '\0' || f->hops == NULL) {
    refuse_forwarded(x, "a forwarded request needs " EGW_ECS_FORM_SOURCE " and " EGW_ECS_FORM_HOPS,
                     f->hops);
    return -1;
  }
  const char *last = NULL;
  const char *why = egw__ecs_hops_check(ecs, req->arena, f->hops, &last);
  if (why == NULL) {
    f->via = egw__ecs_calling_peer(ecs->policy, req->peer, last);
    if (f->via == NULL)
      why = EGW_ECS_FORM_HOPS " must end with the id of the calling ECS";
  }
  if (why == NULL && strcmp(egw_form_get(form, "nfInstanceId"), source) != 0)
    why = "nfInstanceId is not " EGW_ECS_FORM_SOURCE;
  if (why == NULL && f->cnf_x5t) {
    size_t n = strlen(f->cnf_x5t), len = 0;
    f->has_cnf = n == 43 && egw_b64url_decode(f->cnf, &len, f->cnf_x5t, n) && len == 32;
    if (!f->has_cnf)
      why = EGW_ECS_FORM_CNF " must be a base64url SHA-256 thumbprint";
  }
  if (why) {
    refuse_forwarded(x, why, f->hops);
    return -1;
  }
  f->source = source;
  return 0;
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
  struct forwarded fwd = {0};
  if (check_forwarded(ecs, x, &form, &fwd) != 0)
    return EGW_DONE;
  /* Whose policy applies: the TLS client, or the requester a peer ECS vouches for. */
  const struct egw_peer *client = req->peer;
  if (fwd.source) {
    client = source_peer(req->arena, fwd.source);
    if (client == NULL)
      return EGW_FAILED;
  } else if (strcmp(req->peer->id, sub) != 0) {
    return egw__ecs_oauth_error(x, 401, "invalid_client",
                                "nfInstanceId is not the authenticated client");
  }
  const struct egw_token_client_policy *cp = client_policy(ecs->policy, client);
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

  /* An EES registered here is ours to sign for; one a peer holds is the peer's. Any
   * other target (an EAS, an EES nobody lists) is signed here as before. */
  const struct egw_ecs_peer_policy *holder = NULL;
  if (ecs->policy->n_peers && !egw__ecs_ees_is_registered(ecs->site, aud))
    holder = egw__ecs_peer_holding(ecs->policy, aud);
  if (holder) {
    char thumb[48];
    const char *cnf_x5t = fwd.cnf_x5t;
    if (fwd.source == NULL && req->peer->has_cert_sha256) {
      thumb[egw_b64url_encode(thumb, req->peer->cert_sha256, 32)] = '\0';
      cnf_x5t = thumb;
    }
    struct egw_ecs_forward f = {
        .form = &form,
        .source = fwd.source ? fwd.source : sub,
        .hops = fwd.hops,
        .cnf_x5t = cnf_x5t,
        .to = holder,
        .target = aud,
    };
    return egw__ecs_forward(ecs, x, &f);
  }

  uint32_t ttl_s = cp->token_ttl_s ? cp->token_ttl_s : ecs->policy->token_ttl_s;
  /* RFC 8705 3.1: bound to the certificate the client authenticated with (for a
   * forwarded request, the one the first ECS saw), unless it names an EEC: such a token
   * is handed on (an EAS token for the EEC) and would be refused on the EEC's own
   * connection. */
  const uint8_t *cnf = NULL;
  if (eec_id == NULL && fwd.source)
    cnf = fwd.has_cnf ? fwd.cnf : NULL;
  else if (eec_id == NULL && req->peer->has_cert_sha256)
    cnf = req->peer->cert_sha256;
  struct egw_ecs_mint mint = {
      .sub = fwd.source ? fwd.source : sub,
      .aud = aud,
      .scope = scope,
      .eec_id = eec_id,
      .ttl_s = ttl_s,
      .cnf_sha256 = cnf,
  };
  if (fwd.source) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_INFO, "ecs_token_for_peer");
    egw_log_str(&rec, "via", fwd.via->id);
    egw_log_str(&rec, "source", fwd.source);
    egw_log_str(&rec, "target", aud);
    egw_log_str(&rec, "hops", fwd.hops);
    egw_log_bool(&rec, "bound", cnf != NULL);
    egw_log_end(&rec);
  }
  char *token = egw__ecs_mint(ecs->site, &mint);
  if (token == NULL)
    return EGW_FAILED;
  /* Written with the JSON writer rather than jansson or printf: this is the hot path of
   * token issuance, and printf copies the ~500-byte token a byte at a time. */
  struct egw_response *resp = egw_exchange_response(x);
  size_t cap = strlen(token) + 6 * strlen(scope) + 128;
  char *text = egw_arena_alloc(req->arena, cap);
  long len = -1;
  if (text) {
    struct egw_json_writer w;
    egw_jw_begin(&w, text, cap);
    egw_jw_str(&w, "access_token", token);
    egw_jw_str(&w, "token_type", "Bearer");
    egw_jw_int(&w, "expires_in", ttl_s);
    egw_jw_str(&w, "scope", scope);
    len = egw_jw_end(&w);
  }
  OPENSSL_cleanse(token, strlen(token));
  free(token);
  int rc = len >= 0 ? egw_response_set_body(resp, 200, "application/json", text, (size_t)len) : -1;
  if (text) /* the body holds a live token: the response has its own copy */
    OPENSSL_cleanse(text, cap);
  if (rc == 0)
    rc = egw__ecs_no_store(resp);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}
