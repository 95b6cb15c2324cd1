/* Access tokens the EES gets from its ECS (POST {ecs_url}/oauth2/token, client
 * credentials over mutual TLS, TS 29.510 Nnrf_AccessToken shape): EAS tokens handed to
 * EECs at discovery (targetNfInstanceId = the EAS, eecId = the EEC) and EDGE-9 tokens for
 * a peer EES. Cached per (target, eecId, scope) until shortly before they expire; callers
 * asking for a key already being fetched wait for that fetch. Tokens are wiped when
 * dropped and never logged. */
#include <openssl/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token_verify.h"
#include "http/client.h"
#include "roles/ees/internal.h"
#include "util/encoding.h"
#include "util/log.h"

struct waiter {
  egw__ees_token_cb cb;
  void *arg;
  struct waiter *next;
};

struct egw__ees_token_entry {
  struct egw__ees *e;
  char *key;
  char *target;
  char *eec_id; /* NULL: none */
  char *scope;
  char *access_token; /* NULL until fetched */
  char *granted_scope;
  int64_t exp_ms;
  int64_t fetched_ms;
  int fetching;
  struct waiter *waiters;
  struct egw__ees_token view;
};

static int64_t now_ms(void) { return (int64_t)egw_token_now_ms(); }

static void wipe_free(char *s) {
  if (s) {
    OPENSSL_cleanse(s, strlen(s));
    free(s);
  }
}

static void entry_free(struct egw__ees_token_entry *t) {
  if (t == NULL)
    return;
  free(t->key);
  free(t->target);
  free(t->eec_id);
  free(t->scope);
  wipe_free(t->access_token);
  free(t->granted_scope);
  while (t->waiters) {
    struct waiter *w = t->waiters;
    t->waiters = w->next;
    free(w);
  }
  free(t);
}

static char *make_key(const char *target, const char *eec_id, const char *scope) {
  size_t n = strlen(target) + (eec_id ? strlen(eec_id) : 0) + strlen(scope) + 3;
  char *k = malloc(n);
  if (k)
    snprintf(k, n, "%s\x1f%s\x1f%s", target, eec_id ? eec_id : "", scope);
  return k;
}

/* usable: the token has a tenth of its life left, at least 5 s and at most 60 s. */
static int usable(const struct egw__ees_token_entry *t, int64_t now) {
  if (t->access_token == NULL)
    return 0;
  int64_t margin = (t->exp_ms - t->fetched_ms) / 10;
  margin = margin < 5000 ? 5000 : margin > 60000 ? 60000 : margin;
  return t->exp_ms - now > margin;
}

const struct egw__ees_token *egw__ees_token_cached(struct egw__ees *e, const char *target,
                                                   const char *eec_id, const char *scope) {
  char *key = make_key(target, eec_id, scope);
  struct egw__ees_token_entry *t = key ? egw__ees_map_get(&e->tokens, key) : NULL;
  free(key);
  if (t == NULL || !usable(t, now_ms()))
    return NULL;
  t->view = (struct egw__ees_token){
      .access_token = t->access_token, .scope = t->granted_scope, .exp_ms = t->exp_ms};
  return &t->view;
}

static void log_failure(const struct egw__ees_token_entry *t,
                        const struct egw_http_client_response *resp, const char *why) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "ees_token_failed");
  egw_log_str(&rec, "ecs", t->e->policy->ecs_url);
  egw_log_str(&rec, "target", t->target);
  if (t->eec_id)
    egw_log_str(&rec, "eec_id", t->eec_id);
  egw_log_str(&rec, "scope", t->scope);
  if (resp->status)
    egw_log_int(&rec, "status", resp->status);
  egw_log_str(&rec, "error", why);
  egw_log_end(&rec);
}

/* parse_answer reads a 200 token response into |t|; returns 0 or -1. */
static int parse_answer(struct egw__ees_token_entry *t,
                        const struct egw_http_client_response *resp) {
  json_t *doc = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
  const char *tok = json_string_value(json_object_get(doc, "access_token"));
  json_t *exp = json_object_get(doc, "expires_in");
  const char *scope = json_string_value(json_object_get(doc, "scope"));
  int ok = tok && tok[0] && json_is_integer(exp) && json_integer_value(exp) > 0;
  if (ok) {
    wipe_free(t->access_token);
    free(t->granted_scope);
    t->access_token = strdup(tok);
    t->granted_scope = strdup(scope ? scope : t->scope);
    t->fetched_ms = now_ms();
    t->exp_ms = t->fetched_ms + (int64_t)json_integer_value(exp) * 1000;
    ok = t->access_token && t->granted_scope;
  }
  if (doc && tok) /* the parsed copy of the token */
    OPENSSL_cleanse((char *)tok, strlen(tok));
  json_decref(doc);
  return ok ? 0 : -1;
}

static void on_answer(void *arg, const struct egw_http_client_response *resp) {
  struct egw__ees_token_entry *t = arg;
  struct egw__ees *e = t->e;
  enum egw__ees_fetch result = EGW__EES_FETCH_OK;
  t->fetching = 0;
  if (resp->status == 0 || resp->status >= 500) {
    result = EGW__EES_FETCH_UNREACHABLE;
    log_failure(t, resp, resp->error ? resp->error : "the ECS failed");
  } else if (resp->status != 200) {
    result = EGW__EES_FETCH_REFUSED;
    json_t *err = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
    const char *code = json_string_value(json_object_get(err, "error"));
    log_failure(t, resp, code ? code : "refused");
    json_decref(err);
  } else if (parse_answer(t, resp) != 0) {
    result = EGW__EES_FETCH_REFUSED;
    log_failure(t, resp, "the token response is not usable");
  }
  struct waiter *w = t->waiters;
  t->waiters = NULL;
  int drop = result != EGW__EES_FETCH_OK && !usable(t, now_ms());
  if (drop) /* out of the map first: a waiter may ask again and must start afresh */
    egw__ees_map_remove(&e->tokens, t->key);
  t->view = (struct egw__ees_token){
      .access_token = t->access_token, .scope = t->granted_scope, .exp_ms = t->exp_ms};
  while (w) {
    struct waiter *next = w->next;
    w->cb(w->arg, result, result == EGW__EES_FETCH_OK ? &t->view : NULL);
    free(w);
    w = next;
  }
  if (drop)
    entry_free(t);
}

static int start_call(struct egw__ees_token_entry *t) {
  struct egw__ees *e = t->e;
  char *url = egw__ees_url(e->policy->ecs_url, "/oauth2/token");
  char *own = egw_pct_encode_str(e->policy->id);
  char *target = egw_pct_encode_str(t->target);
  char *scope = egw_pct_encode_str(t->scope);
  char *eec = t->eec_id ? egw_pct_encode_str(t->eec_id) : NULL;
  char *body = NULL;
  int rc = -1;
  if (url == NULL || own == NULL || target == NULL || scope == NULL || (t->eec_id && eec == NULL))
    goto end;
  size_t n = strlen(own) + strlen(target) + strlen(scope) + (eec ? strlen(eec) : 0) + 128;
  if ((body = malloc(n)) == NULL)
    goto end;
  int len = snprintf(body, n,
                     "grant_type=client_credentials&nfInstanceId=%s&targetNfInstanceId=%s"
                     "&scope=%s%s%s",
                     own, target, scope, eec ? "&eecId=" : "", eec ? eec : "");
  static const struct egw_header accept = {.name = "Accept", .value = "application/json"};
  struct egw_http_client_request req = {
      .method = "POST",
      .url = url,
      .headers = &accept,
      .n_headers = 1,
      .body = body,
      .body_len = (size_t)len,
      .content_type = "application/x-www-form-urlencoded",
  };
  rc = egw_http_client_request(e->http, &req, on_answer, t, NULL) == 0 ? 0 : -1;
end:
  free(url);
  free(own);
  free(target);
  free(scope);
  free(eec);
  free(body);
  return rc;
}

int egw__ees_token_fetch(struct egw__ees *e, const char *target, const char *eec_id,
                         const char *scope, egw__ees_token_cb cb, void *arg) {
  if (e->http == NULL || e->stopped || e->policy->ecs_url == NULL)
    return -1;
  struct waiter *w = calloc(1, sizeof(*w));
  char *key = make_key(target, eec_id, scope);
  if (w == NULL || key == NULL)
    goto fail;
  w->cb = cb;
  w->arg = arg;
  struct egw__ees_token_entry *t = egw__ees_map_get(&e->tokens, key);
  if (t == NULL) {
    t = calloc(1, sizeof(*t));
    if (t == NULL)
      goto fail;
    t->e = e;
    t->key = key;
    key = NULL;
    t->target = strdup(target);
    t->eec_id = eec_id ? strdup(eec_id) : NULL;
    t->scope = strdup(scope);
    if (t->target == NULL || t->scope == NULL || (eec_id && t->eec_id == NULL) ||
        egw__ees_map_put(&e->tokens, t->key, t) != 0) {
      entry_free(t);
      goto fail;
    }
  }
  if (!t->fetching) {
    if (start_call(t) != 0) {
      if (t->access_token == NULL) {
        egw__ees_map_remove(&e->tokens, t->key);
        entry_free(t);
      }
      goto fail;
    }
    t->fetching = 1;
  }
  w->next = t->waiters;
  t->waiters = w;
  free(key);
  return 0;
fail:
  free(w);
  free(key);
  return -1;
}

void egw__ees_tokens_purge(struct egw__ees *e) {
  int64_t now = now_ms();
  struct egw__ees_map_iter it;
  egw__ees_map_iter_init(&e->tokens, &it);
  struct egw__ees_token_entry *t;
  while ((t = egw__ees_map_next(&e->tokens, &it, NULL)) != NULL) {
    if (t->fetching || t->exp_ms > now)
      continue;
    egw__ees_map_remove(&e->tokens, t->key);
    entry_free(t);
  }
}

void egw__ees_tokens_free(struct egw__ees *e) {
  struct egw__ees_map_iter it;
  egw__ees_map_iter_init(&e->tokens, &it);
  struct egw__ees_token_entry *t;
  while ((t = egw__ees_map_next(&e->tokens, &it, NULL)) != NULL)
    entry_free(t);
  egw__ees_map_clear(&e->tokens);
}
