/* EDGE-9 client (TS29558_Eees_EECContextRelocation.yaml): this EES pulls an EEC context
 * from the EES an EEC comes from, or pushes one to the EES it goes to. Each call carries
 * an EDGE-9 token from this EES's ECS: nfInstanceId = this EES, targetNfInstanceId = the
 * peer, scope eees-eeccontextreloc, eecId = the EEC whose context moves. */
#include <openssl/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"
#include "roles/ees/internal.h"
#include "util/encoding.h"
#include "util/log.h"

json_t *egw__ees_context_of(const struct egw_record *eec) {
  const json_t *doc = eec->doc;
  json_t *ctx = json_pack("{s:O, s:s}", "eecId", json_object_get(doc, "eecId"), "cntxId", eec->id);
  if (ctx == NULL)
    return NULL;
  const json_t *v = json_object_get(doc, "ueId");
  if (json_is_string(v))
    json_object_set(ctx, "ueId", (json_t *)v);
  v = json_object_get(doc, "acProfs");
  if (json_is_array(v) && json_array_size(v) > 0) /* minItems 1 */
    json_object_set_new(ctx, "acProfs", json_deep_copy(v));
  v = json_object_get(doc, "ueMobilityReq");
  if (json_is_boolean(v))
    json_object_set(ctx, "ueMobSuppInd", (json_t *)v);
  v = json_object_get(doc, "eecSvcContSupp");
  if (json_is_array(v) && json_array_size(v) > 0)
    json_object_set_new(ctx, "eecSrvContSupp",
                        json_pack("{s:b, s:O}", "srvContSupp", 1, "acrScenarios", v));
  return ctx;
}

struct peer_call {
  struct egw__ees *e;
  int push;
  char *url;
  char *peer;
  char *eec_id;
  char *cntx_id; /* pull: the context asked for */
  char *body;    /* push: EECContextPush */
  egw__ees_pull_cb pull_cb;
  egw__ees_push_cb push_cb;
  void *arg;
};

static void call_free(struct peer_call *c) {
  free(c->url);
  free(c->peer);
  free(c->eec_id);
  free(c->cntx_id);
  free(c->body);
  free(c);
}

static void log_outcome(struct peer_call *c, int status, const char *why) {
  struct egw_log_record rec;
  const char *event = c->push ? (why ? "ees_context_push_failed" : "ees_context_pushed")
                              : (why ? "ees_context_pull_failed" : "ees_context_pulled");
  egw_log_begin(&rec, why ? EGW_LOG_WARN : EGW_LOG_INFO, event);
  egw_log_str(&rec, "peer", c->peer);
  egw_log_str(&rec, "eec_id", c->eec_id);
  if (status)
    egw_log_int(&rec, "status", status);
  if (why)
    egw_log_str(&rec, "error", why);
  egw_log_end(&rec);
}

/* finish reports to the caller and frees |c|. */
static void finish(struct peer_call *c, const json_t *ctx, int status, const char *why) {
  log_outcome(c, status, why);
  if (c->push)
    c->push_cb(c->arg, why == NULL, why);
  else
    c->pull_cb(c->arg, why ? NULL : ctx, why);
  call_free(c);
}

static void on_peer_answer(void *arg, const struct egw_http_client_response *resp) {
  struct peer_call *c = arg;
  if (resp->status == 0) {
    finish(c, NULL, 0, resp->error);
    return;
  }
  if (c->push) {
    finish(c, NULL, resp->status,
           resp->status == 200 || resp->status == 204 ? NULL : "the peer refused the context");
    return;
  }
  if (resp->status != 200) {
    finish(c, NULL, resp->status,
           resp->status == 404 ? "the peer has no such context" : "the peer refused the pull");
    return;
  }
  json_t *ctx = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
  struct egw__ees_invalid inv;
  const char *why = NULL;
  if (egw__ees_check_context(ctx, "", &inv) != 0)
    why = "the answer is not an EECContext";
  else if (strcmp(json_string_value(json_object_get(ctx, "eecId")), c->eec_id) != 0 ||
           strcmp(json_string_value(json_object_get(ctx, "cntxId")), c->cntx_id) != 0)
    why = "the answer is the context of another EEC";
  finish(c, ctx, 200, why);
  json_decref(ctx);
}

/* send_call sends |c| with |tok|; returns 0 (on_peer_answer will run) or -1. */
static int send_call(struct peer_call *c, const struct egw__ees_token *tok) {
  size_t n = strlen(tok->access_token) + 8;
  char *bearer = malloc(n);
  if (bearer == NULL)
    return -1;
  snprintf(bearer, n, "Bearer %s", tok->access_token);
  struct egw_header headers[] = {
      {.name = "Authorization", .value = bearer},
      {.name = "Accept", .value = "application/json"},
  };
  struct egw_http_client_request req = {
      .method = c->push ? "POST" : "GET",
      .url = c->url,
      .headers = headers,
      .n_headers = 2,
      .body = c->body,
      .body_len = c->body ? strlen(c->body) : 0,
      .content_type = c->push ? "application/json" : NULL,
  };
  int rc = c->e->http ? egw_http_client_request(c->e->http, &req, on_peer_answer, c, NULL) : -1;
  OPENSSL_cleanse(bearer, n);
  free(bearer);
  return rc == 0 ? 0 : -1;
}

static void on_token(void *arg, enum egw__ees_fetch result, const struct egw__ees_token *tok) {
  struct peer_call *c = arg;
  if (result != EGW__EES_FETCH_OK) {
    finish(c, NULL, 0,
           result == EGW__EES_FETCH_UNREACHABLE ? "the ECS cannot be reached for an EDGE-9 token"
                                                : "the ECS refused an EDGE-9 token");
    return;
  }
  if (send_call(c, tok) != 0)
    finish(c, NULL, 0, "the request could not be started");
}

/* start gets a token (cached, or from the ECS) and sends |c|; -1 with *why when it
 * cannot start (then |c| is freed and nothing is called back). */
static int start(struct peer_call *c, const char **why) {
  struct egw__ees *e = c->e;
  const struct egw__ees_token *tok =
      egw__ees_token_cached(e, c->peer, c->eec_id, EGW__EES_RELOC_SCOPE);
  if (tok) {
    /* The answer arrives from the loop later, never from inside this call. */
    if (send_call(c, tok) == 0)
      return 0;
    *why = "the request could not be started";
  } else if (egw__ees_token_fetch(e, c->peer, c->eec_id, EGW__EES_RELOC_SCOPE, on_token, c) == 0) {
    return 0;
  } else {
    *why = e->policy->ecs_url ? "no ECS client (stopping)" : "no ECS to get an EDGE-9 token from";
  }
  log_outcome(c, 0, *why);
  call_free(c);
  return -1;
}

/* refused logs a call that could not even start. */
static void refused(int push, const char *peer, const char *eec_id, const char *why) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, push ? "ees_context_push_failed" : "ees_context_pull_failed");
  egw_log_str(&rec, "peer", peer);
  egw_log_str(&rec, "eec_id", eec_id);
  egw_log_str(&rec, "error", why);
  egw_log_end(&rec);
}

static struct peer_call *new_call(struct egw__ees *e, int push, const char *peer_id,
                                  const char *eec_id, const char **why) {
  const struct egw_ees_peer_policy *peer = egw__ees_peer(e, peer_id);
  struct peer_call *c = NULL;
  if (peer == NULL) {
    *why = "not a configured peer EES";
  } else if (e->http == NULL) {
    *why = "no HTTP client (not started, or stopping)";
  } else if ((c = calloc(1, sizeof(*c))) == NULL || (c->peer = strdup(peer_id)) == NULL ||
             (c->eec_id = strdup(eec_id)) == NULL ||
             (c->url = egw__ees_url(peer->url, EGW__EES_CTX_PATH)) == NULL) {
    *why = "out of memory";
  } else {
    c->e = e;
    c->push = push;
    return c;
  }
  if (c)
    call_free(c);
  refused(push, peer_id, eec_id, *why);
  return NULL;
}

int egw__ees_ctx_pull(struct egw__ees *e, const char *src_ees_id, const char *cntx_id,
                      const char *eec_id, egw__ees_pull_cb cb, void *arg, const char **why) {
  struct peer_call *c = new_call(e, 0, src_ees_id, eec_id, why);
  if (c == NULL)
    return -1;
  c->pull_cb = cb;
  c->arg = arg;
  char *own = egw_pct_encode_str(e->policy->id);
  char *cntx = egw_pct_encode_str(cntx_id);
  c->cntx_id = strdup(cntx_id);
  size_t n = strlen(c->url) + (own ? strlen(own) : 0) + (cntx ? strlen(cntx) : 0) + 32;
  char *url = own && cntx && c->cntx_id ? malloc(n) : NULL;
  if (url)
    snprintf(url, n, "%s?ees-id=%s&eec-cntx-id=%s", c->url, own, cntx);
  free(own);
  free(cntx);
  if (url == NULL) {
    call_free(c);
    *why = "out of memory";
    return -1;
  }
  free(c->url);
  c->url = url;
  return start(c, why);
}

int egw__ees_ctx_push(struct egw__ees *e, const char *tgt_ees_id, const json_t *body,
                      const char *eec_id, egw__ees_push_cb cb, void *arg, const char **why) {
  struct peer_call *c = new_call(e, 1, tgt_ees_id, eec_id, why);
  if (c == NULL)
    return -1;
  c->push_cb = cb;
  c->arg = arg;
  if ((c->body = json_dumps(body, JSON_COMPACT)) == NULL) {
    call_free(c);
    *why = "out of memory";
    return -1;
  }
  return start(c, why);
}
