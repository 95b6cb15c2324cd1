/* authz: token (TS 33.501 13.4.1). A route covered by a rule with scopes needs a Bearer
 * access token from a trusted issuer, signed with an accepted algorithm, whose sub is the
 * TLS peer (where the policy asks), whose aud is this server, whose scope covers the
 * rule, that has not expired or been revoked, and that is presented on the connection it
 * is bound to (RFC 8705). Verification is cached site-wide (auth/tokcache.h); the
 * per-request checks run every time. Refusals follow RFC 6750: 401 invalid_token, 403
 * insufficient_scope; the token's text never reaches a log line or a response. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/authz.h"
#include "auth/issuers.h"
#include "auth/token_verify.h"
#include "util/arena.h"
#include "util/format.h"

/* Tokens are at most 16 KiB (auth/jwt.h); anything longer is refused unparsed. */
#define MAX_TOKEN_LEN (16 * 1024)

struct token_state {
  const struct egw_authz_policy *policy;
  const struct egw_token_env *env;
  struct egw_token_accept accept;
};

static int token_init(const struct egw_listener_policy *lp, const struct egw_token_env *tokens,
                      void **out_state, char **out_err) {
  if (tokens == NULL || tokens->issuers == NULL) {
    *out_err = egw_format("%s:%d: authz: token authorization needs trusted issuers "
                          "(site.yaml tokens.issuers)",
                          lp->file, lp->authz.line);
    return -1;
  }
  if ((lp->authz.token.remote || lp->authz.token.opaque_issuer) && tokens->introspection == NULL) {
    *out_err = egw_format("%s:%d: authz: introspection needs issuers with introspection_uri",
                          lp->file, lp->authz.line);
    return -1;
  }
  struct token_state *st = calloc(1, sizeof(*st));
  if (st == NULL) {
    *out_err = egw_format("%s:%d: authz: out of memory", lp->file, lp->authz.line);
    return -1;
  }
  st->policy = &lp->authz;
  st->env = tokens;
  st->accept.algs = lp->authz.token.algs;
  st->accept.issuers = (const char *const *)lp->authz.token.issuers;
  st->accept.n_issuers = lp->authz.token.n_issuers;
  *out_state = st;
  return 0;
}

static void token_dispose(void *state) { free(state); }

/* The header is looked up here rather than with egw_request_header so that auth links
 * without the HTTP layer (the policy parser links auth for pattern checks). */
static const char *find_authorization(const struct egw_request *req, size_t *out_len) {
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    if (h->name_len == 13 && memcmp(h->name, "authorization", 13) == 0) {
      *out_len = h->value_len;
      return h->value;
    }
  }
  return NULL;
}

/* RFC 6750 2.1: "Bearer" 1*SP token68. Returns the token or NULL. */
static const char *bearer_token(const struct egw_request *req, size_t *out_len) {
  size_t len = 0;
  const char *v = find_authorization(req, &len);
  if (v == NULL || len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
    return NULL;
  v += 7;
  len -= 7;
  while (len > 0 && *v == ' ') {
    v++;
    len--;
  }
  if (len == 0 || len > MAX_TOKEN_LEN)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    char c = v[i];
    int token68 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
    if (!token68)
      return NULL;
  }
  *out_len = len;
  return v;
}

/* The challenge carries the reason for the client's developer (static text only). */
static const char *challenge(const struct egw_request *req, const char *error,
                             const char *description, const char *scope) {
  if (req->arena == NULL) /* only where no request memory exists (unit tests) */
    return scope ? "Bearer realm=\"edgegw\", error=\"insufficient_scope\""
                 : "Bearer realm=\"edgegw\", error=\"invalid_token\"";
  if (scope)
    return egw_arena_sprintf(req->arena,
                             "Bearer realm=\"edgegw\", error=\"%s\", error_description=\"%s\", "
                             "scope=\"%s\"",
                             error, description, scope);
  return egw_arena_sprintf(req->arena,
                           "Bearer realm=\"edgegw\", error=\"%s\", error_description=\"%s\"", error,
                           description);
}

static enum egw_authz_decision deny_invalid(const struct egw_request *req, const char *cause,
                                            const char *reason, struct egw_authz_verdict *out) {
  *out = (struct egw_authz_verdict){
      .status = 401,
      .cause = cause,
      .reason = reason,
      .www_authenticate = challenge(req, "invalid_token", reason, NULL),
  };
  return EGW_AUTHZ_DENY;
}

static const char *joined_scopes(const struct egw_request *req, const struct egw_allow_rule *r) {
  if (req->arena == NULL || r->n_scopes == 0)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < r->n_scopes; i++)
    n += strlen(r->scopes[i]) + 1;
  char *s = egw_arena_alloc(req->arena, n);
  if (s == NULL)
    return NULL;
  s[0] = '\0';
  for (size_t i = 0; i < r->n_scopes; i++) {
    if (i)
      strcat(s, " ");
    strcat(s, r->scopes[i]);
  }
  return s;
}

/* A JWS compact token has exactly two dots; anything else is opaque to us. */
static int looks_like_jws(const char *token, size_t len) {
  size_t dots = 0;
  for (size_t i = 0; i < len; i++)
    dots += token[i] == '.';
  return dots == 2;
}

/* The issuer (by the unverified iss) whose introspection endpoint decides, in remote
 * mode; the issuer itself then vouches for every claim, iss included. */
static const char *remote_issuer(const struct token_state *st, const char *token, size_t len) {
  struct egw_jws jws;
  memset(&jws, 0, sizeof(jws));
  const char *issuer = NULL;
  if (egw_jws_decode(token, len, &jws) == EGW_JWS_OK) {
    const char *iss = json_string_value(json_object_get(jws.payload, "iss"));
    /* The id returned must outlive |jws|: the policy's or the issuer set's copy. */
    const struct egw_token_authz_policy *tp = &st->policy->token;
    for (size_t i = 0; iss && i < tp->n_issuers; i++) {
      if (strcmp(tp->issuers[i], iss) == 0)
        issuer = tp->issuers[i];
    }
    if (iss && tp->n_issuers == 0)
      issuer = egw_issuers_canonical_id(st->env->issuers, iss);
  }
  egw_jws_cleanup(&jws);
  return issuer;
}

/* Claims of |token|: verified here, or vouched for by the issuer's introspection
 * endpoint (remote mode, opaque tokens). Returns 0, 1 (wait), or -1 with a reason. */
static int obtain_claims(const struct token_state *st, const char *token, size_t len,
                         struct egw_authz_wait *wait, struct egw_token_claims **out,
                         const char **out_reason) {
  const struct egw_token_authz_policy *tp = &st->policy->token;
  const char *issuer = NULL;
  if (!looks_like_jws(token, len)) {
    issuer = tp->opaque_issuer;
    if (issuer == NULL) {
      *out_reason = "the token is not a well-formed JWS";
      return -1;
    }
  } else if (tp->remote) {
    issuer = remote_issuer(st, token, len);
    if (issuer == NULL) {
      *out_reason = "the token's issuer is not trusted here";
      return -1;
    }
  }
  if (issuer == NULL)
    return egw_token_verify(st->env, &st->accept, token, len, wait, out, out_reason);
  const char *uri = egw_issuers_introspection_uri(st->env->issuers, issuer);
  if (uri == NULL) {
    *out_reason = "the token's issuer has no introspection endpoint";
    return -1;
  }
  switch (egw_introspection_check(st->env->introspection, issuer, uri, token, len,
                                  tp->remote_cache_s ? tp->remote_cache_s : 60, wait, out,
                                  out_reason)) {
  case EGW_INTROSPECTION_ACTIVE:
    return 0;
  case EGW_INTROSPECTION_WAIT:
    return 1;
  case EGW_INTROSPECTION_INACTIVE:
    break;
  }
  return -1;
}

static enum egw_authz_decision token_check(void *state, const struct egw_request *req,
                                           struct egw_authz_wait *wait,
                                           struct egw_authz_verdict *out) {
  const struct token_state *st = state;
  const struct egw_allow_rule *rule = egw__authz_find_rule(st->policy, req);
  if (rule == NULL) {
    *out = (struct egw_authz_verdict){
        .status = 403,
        .cause = "PEER_NOT_ALLOWED",
        .reason = "no rule covers this route",
    };
    return EGW_AUTHZ_DENY;
  }
  if (rule->allow_any) {
    *out = (struct egw_authz_verdict){.reason = "rule needs no token"};
    return EGW_AUTHZ_ALLOW;
  }
  size_t len = 0;
  const char *token = bearer_token(req, &len);
  if (token == NULL) {
    *out = (struct egw_authz_verdict){
        .status = 401,
        .cause = "TOKEN_MISSING",
        .reason = "a Bearer access token is required",
        .www_authenticate = "Bearer realm=\"edgegw\"",
    };
    return EGW_AUTHZ_DENY;
  }
  struct egw_token_claims *claims = NULL;
  const char *reason = NULL;
  switch (obtain_claims(st, token, len, wait, &claims, &reason)) {
  case 0:
    break;
  case 1:
    *out = (struct egw_authz_verdict){.reason = "waiting for the token's issuer"};
    return EGW_AUTHZ_RETRY;
  default:
    return deny_invalid(req, "INVALID_TOKEN", reason, out);
  }

  const struct egw_token_authz_policy *tp = &st->policy->token;
  if (tp->sub_is_peer && req->peer->id == NULL) {
    egw_token_claims_free(claims);
    return deny_invalid(req, "INVALID_TOKEN", "the connection has no peer identity", out);
  }
  struct egw_token_expect expect = {
      .peer_id = tp->sub_is_peer ? req->peer->id : NULL,
      .audience = tp->audience,
      .scopes = (const char *const *)rule->scopes,
      .n_scopes = rule->n_scopes,
      .peer_cert_sha256 = req->peer->has_cert_sha256 ? req->peer->cert_sha256 : NULL,
      .now_s = egw_token_now_s(),
      .leeway_s = tp->leeway_s,
  };
  enum egw_token_check result = egw_token_check_claims(claims, &expect);
  if (result == EGW_TOKEN_VALID) {
    *out = (struct egw_authz_verdict){.reason = "token valid for this route"};
    if (req->arena) { /* roles check what the token says against the body (EDGE-1 eecId) */
      out->token_sub = egw_arena_strdup(req->arena, claims->sub);
      out->token_eec_id = claims->eec_id ? egw_arena_strdup(req->arena, claims->eec_id) : NULL;
      out->token_scope = egw_arena_strdup(req->arena, claims->scope);
    }
    egw_token_claims_free(claims);
    return EGW_AUTHZ_ALLOW;
  }
  egw_token_claims_free(claims);
  const char *why = egw_token_check_reason(result);
  if (result == EGW_TOKEN_INSUFFICIENT_SCOPE) {
    *out = (struct egw_authz_verdict){
        .status = 403,
        .cause = "INSUFFICIENT_SCOPE",
        .reason = why,
        .www_authenticate = challenge(req, "insufficient_scope", why, joined_scopes(req, rule)),
    };
    return EGW_AUTHZ_DENY;
  }
  return deny_invalid(req, "INVALID_TOKEN", why, out);
}

const struct egw_authz_provider egw__authz_token = {
    .name = "token",
    .init = token_init,
    .check = token_check,
    .dispose = token_dispose,
};
