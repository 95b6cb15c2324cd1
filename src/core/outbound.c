/* The server's outbound calls on behalf of the site's services: today the JWKS of token
 * issuers that publish one (tokens.issuers[].jwks_uri). The issuer set decides when to
 * fetch (auth/issuers.h); this file does the HTTPS and reports back. */
#include <jansson.h>
#include <openssl/mem.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth/introspection.h"
#include "auth/issuers.h"
#include "auth/token_verify.h"
#include "core/internal.h"
#include "http/client.h"
#include "keys/truststore.h"
#include "util/encoding.h"
#include "util/log.h"

static int site_needs_outbound(const struct egw_site_policy *p) {
  for (size_t i = 0; i < p->n_issuers; i++) {
    if (egw_issuer_policy_is_remote(&p->issuers[i]))
      return 1;
  }
  return 0;
}

static void on_introspected(void *arg, const struct egw_http_client_response *resp) {
  json_t *answer = NULL;
  if (resp->error == NULL && resp->status == 200)
    answer = json_loadb((const char *)resp->body, resp->body_len, JSON_REJECT_DUPLICATES, NULL);
  if (answer == NULL) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_WARN, "introspection_failed");
    egw_log_str(&rec, "error", resp->error ? resp->error : "unusable answer");
    if (resp->status)
      egw_log_int(&rec, "status", resp->status);
    egw_log_end(&rec);
  }
  egw_introspection_done(arg, answer);
  json_decref(answer);
}

/* RFC 7662 2.1: the token as a form parameter (percent-encoded: opaque tokens may hold
 * any token68 character). */
static int introspect(void *arg, struct egw_introspection_call *call, const char *uri,
                      const char *token, size_t len) {
  struct egw_server *s = arg;
  if (s->http == NULL)
    return -1;
  size_t cap = len * 3 + 64;
  char *body = malloc(cap);
  if (body == NULL)
    return -1;
  size_t n = (size_t)snprintf(body, cap, "token_type_hint=access_token&token=");
  n += egw_pct_encode(body + n, token, len);
  struct egw_http_client_request req = {
      .method = "POST",
      .url = uri,
      .body = body,
      .body_len = n,
      .content_type = "application/x-www-form-urlencoded",
  };
  int rc = egw_http_client_request(s->http, &req, on_introspected, call, NULL);
  OPENSSL_cleanse(body, n);
  free(body);
  return rc == 0 ? 0 : -1;
}

static void on_jwks(void *arg, const struct egw_http_client_response *resp) {
  struct egw_remote_keys *rk = arg;
  json_t *doc = NULL;
  const char *why = resp->error;
  if (why == NULL && resp->status != 200)
    why = "unexpected status";
  if (why == NULL) {
    json_error_t jerr;
    doc = json_loadb((const char *)resp->body, resp->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
      why = "the body is not JSON";
  }
  const char *err = NULL;
  int rc = egw_remote_keys_fetched(rk, doc, &err);
  json_decref(doc);
  struct egw_log_record rec;
  egw_log_begin(&rec, rc == 0 ? EGW_LOG_INFO : EGW_LOG_WARN,
                rc == 0 ? "jwks_fetched" : "jwks_fetch_failed");
  egw_log_str(&rec, "issuer", egw_remote_keys_issuer(rk));
  if (rc != 0) {
    egw_log_str(&rec, "error", why ? why : err);
    if (resp->status)
      egw_log_int(&rec, "status", resp->status);
  }
  egw_log_end(&rec);
}

static int fetch_jwks(void *arg, struct egw_remote_keys *rk, const char *uri) {
  struct egw_server *s = arg;
  if (s->http == NULL)
    return -1;
  static const struct egw_header accept = {.name = "Accept", .value = "application/json"};
  struct egw_http_client_request req = {
      .method = "GET", .url = uri, .headers = &accept, .n_headers = 1};
  return egw_http_client_request(s->http, &req, on_jwks, rk, NULL) == 0 ? 0 : -1;
}

int egw__outbound_start(struct egw_server *s) {
  struct egw_site *site = s->site;
  if (!site_needs_outbound(site->policy))
    return 0;
  /* site.c refused a jwks_uri issuer without the site's CA certificates. */
  struct egw_http_client_config cfg = {
      .trust = egw_truststore_get0_store(site->trust),
      .client_cert_file = site->policy->token_client_cert,
      .client_key_file = site->policy->token_client_key,
  };
  char *err = NULL;
  s->http = egw_http_client_new(&s->loop, &cfg, &err);
  if (s->http == NULL) {
    egw_log_msg(EGW_LOG_ERROR, "outbound_failed", "%s", err ? err : "out of memory");
    free(err);
    return -1;
  }
  egw_issuers_set_fetcher(site->tokens.issuers, fetch_jwks, s);
  if (site->tokens.introspection)
    egw_introspection_set_caller(site->tokens.introspection, introspect, s);
  egw_issuers_fetch_all(site->tokens.issuers, egw_token_now_ms());
  return 0;
}

int egw__outbound_adopt(struct egw_server *s) {
  if (s->http == NULL)
    return egw__outbound_start(s);
  egw_issuers_set_fetcher(s->site->tokens.issuers, fetch_jwks, s);
  egw_issuers_fetch_all(s->site->tokens.issuers, egw_token_now_ms());
  return 0;
}

void egw__outbound_stop(struct egw_server *s) {
  if (s->http == NULL)
    return;
  /* Cancelled fetches report failure, which wakes any request still waiting. */
  egw_http_client_free(s->http);
  s->http = NULL;
  egw_issuers_set_fetcher(s->site->tokens.issuers, NULL, NULL);
  if (s->site->tokens.introspection)
    egw_introspection_set_caller(s->site->tokens.introspection, NULL, NULL);
}
