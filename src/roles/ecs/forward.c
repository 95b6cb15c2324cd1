/* Multi-ECS (SPEC-NOTES "Multi-ECS", TR 33.739 solution 27): a token request whose
 * target EES is held by a peer ECS is sent on to that peer over mutual TLS, and the
 * peer's answer is relayed to the client. The peer trusts this ECS by static
 * authorization (its TLS identity is one of the peer's ecs.peers), so the request
 * carries what the peer cannot see for itself: the original requester
 * (sourceNfInstanceId), the ECSes it went through (forwardedBy, for loop detection) and
 * the requester's certificate thumbprint (cnfX5tS256, for RFC 8705 binding).
 *
 * Which peer holds which EES comes from policy (ecs.peers[].ees); nothing is learned
 * from the peers at run time yet. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "auth/allowlist.h"
#include "auth/token_verify.h"
#include "http/client.h"
#include "keys/truststore.h"
#include "roles/ecs/internal.h"
#include "util/buf.h"
#include "util/encoding.h"
#include "util/errors.h"
#include "util/log.h"

/* One call bounds resolution, connect, handshake and the answer; the peer may forward
 * again, so this is the budget of the whole chain behind it. */
#define FORWARD_TIMEOUT_MS 5000
/* ecs.max_hops when the policy left it 0 (the parser's default is the same). */
#define DEFAULT_MAX_HOPS 3

/* ---- start and stop ------------------------------------------------------------------ */

int egw__ecs_start(void *state, struct uv_loop_s *loop) {
  struct ecs *ecs = state;
  const struct egw_ecs_policy *p = ecs->policy;
  /* A peer that holds no EES (as far as policy knows) is only ever a caller. */
  int forwards = 0;
  for (size_t i = 0; i < p->n_peers; i++)
    forwards |= p->peers[i].n_ees_ids > 0;
  if (!forwards)
    return 0;
  if (ecs->site->trust == NULL || p->client_cert == NULL) {
    egw_log_msg(EGW_LOG_ERROR, "ecs_peers_failed",
                "forwarding to ecs.peers needs the site's CA certificates (site.trust.ca) "
                "and ecs.client (cert, key): peers are called over mutual TLS");
    return -1;
  }
  struct egw_http_client_config cfg = {
      .trust = egw_truststore_get0_store(ecs->site->trust),
      .client_cert_file = p->client_cert,
      .client_key_file = p->client_key,
      .timeout_ms = FORWARD_TIMEOUT_MS,
  };
  char *err = NULL;
  ecs->peers_http = egw_http_client_new(loop, &cfg, &err);
  if (ecs->peers_http == NULL) {
    egw_log_msg(EGW_LOG_ERROR, "ecs_peers_failed", "%s", err ? err : "out of memory");
    free(err);
    return -1;
  }
  return 0;
}

void egw__ecs_stop(void *state) {
  struct ecs *ecs = state;
  struct egw_http_client *c = ecs->peers_http;
  /* Cleared first: the cancelled calls answer their clients from inside the free. */
  ecs->peers_http = NULL;
  egw_http_client_free(c);
}

/* ---- peers and hop lists ------------------------------------------------------------- */

const struct egw_ecs_peer_policy *egw__ecs_peer_holding(const struct egw_ecs_policy *p,
                                                        const char *ees_id) {
  for (size_t i = 0; i < p->n_peers; i++) {
    for (size_t k = 0; k < p->peers[i].n_ees_ids; k++) {
      if (strcmp(p->peers[i].ees_ids[k], ees_id) == 0)
        return &p->peers[i];
    }
  }
  return NULL;
}

const struct egw_ecs_peer_policy *egw__ecs_calling_peer(const struct egw_ecs_policy *p,
                                                        const struct egw_peer *peer,
                                                        const char *last_hop) {
  for (size_t i = 0; i < p->n_peers; i++) {
    const struct egw_ecs_peer_policy *pp = &p->peers[i];
    if ((last_hop == NULL || strcmp(pp->id, last_hop) == 0) &&
        egw_allowlist_match(pp->identity, peer))
      return pp;
  }
  return NULL;
}

/* Steps over one id of a hop list: returns its length (0 at the end) and moves *p past
 * it and one separating space; -1 when the list is malformed (an empty id, a leading,
 * trailing or doubled space, a control character). */
static int next_hop(const char **p, const char **out_id) {
  const char *s = *p;
  if (*s == '\0')
    return 0;
  size_t len = 0;
  while (s[len] != '\0' && s[len] != ' ') {
    if ((unsigned char)s[len] < 0x21)
      return -1;
    len++;
  }
  if (len == 0 || (s[len] == ' ' && s[len + 1] == '\0'))
    return -1;
  *out_id = s;
  *p = s[len] == ' ' ? s + len + 1 : s + len;
  return (int)len;
}

static uint32_t max_hops(const struct egw_ecs_policy *p) {
  return p->max_hops ? p->max_hops : DEFAULT_MAX_HOPS;
}

/* Counts the ids of |hops| and whether |id| is one of them; -1 when malformed. */
static int scan_hops(const char *hops, const char *id, int *out_found, const char **out_last,
                     size_t *out_last_len) {
  const char *p = hops, *hop = NULL;
  int n = 0, len;
  *out_found = 0;
  while ((len = next_hop(&p, &hop)) > 0) {
    n++;
    if (strlen(id) == (size_t)len && memcmp(hop, id, (size_t)len) == 0)
      *out_found = 1;
    if (out_last) {
      *out_last = hop;
      *out_last_len = (size_t)len;
    }
  }
  return len < 0 || n == 0 ? -1 : n;
}

const char *egw__ecs_hops_check(const struct ecs *ecs, struct egw_arena *arena, const char *hops,
                                const char **out_last) {
  const char *last = NULL;
  size_t last_len = 0;
  int found;
  int n = scan_hops(hops, ecs->policy->id, &found, &last, &last_len);
  *out_last = NULL;
  if (n < 0)
    return "forwardedBy must be ECS ids separated by single spaces";
  if (found)
    return "forwarding loop";
  if ((uint32_t)n > max_hops(ecs->policy))
    return "too many hops";
  *out_last = egw_arena_strndup(arena, last, last_len);
  return *out_last ? NULL : "out of memory";
}

/* ---- the call ------------------------------------------------------------------------ */

struct forward {
  struct ecs *ecs;
  struct egw_exchange *x; /* NULL once the client went away */
  struct egw_http_call *call;
  const struct egw_ecs_peer_policy *to;
  const char *target; /* arena of x */
  const char *source;
  uint64_t started_ms;
};

/* application/x-www-form-urlencoded (egw_pct_encode). */
static int append_encoded(struct egw_buf *b, const char *s) {
  char *enc = egw_pct_encode_str(s);
  int rc = enc ? egw_buf_append(b, enc, strlen(enc)) : -1;
  free(enc);
  return rc;
}

static int append_field(struct egw_buf *b, const char *name, const char *value) {
  if (b->len && egw_buf_append(b, "&", 1) != 0)
    return -1;
  if (append_encoded(b, name) != 0 || egw_buf_append(b, "=", 1) != 0)
    return -1;
  return append_encoded(b, value);
}

static int is_forwarding_field(const char *name) {
  return strcmp(name, EGW_ECS_FORM_SOURCE) == 0 || strcmp(name, EGW_ECS_FORM_HOPS) == 0 ||
         strcmp(name, EGW_ECS_FORM_CNF) == 0;
}

/* The client's form as it came, then the forwarding fields with this ECS's values. */
static int build_body(struct egw_buf *b, const struct egw_ecs_forward *f, const char *hops) {
  for (size_t i = 0; i < f->form->n_fields; i++) {
    const struct egw_form_field *ff = &f->form->fields[i];
    if (!is_forwarding_field(ff->name) && append_field(b, ff->name, ff->value) != 0)
      return -1;
  }
  if (append_field(b, EGW_ECS_FORM_SOURCE, f->source) != 0 ||
      append_field(b, EGW_ECS_FORM_HOPS, hops) != 0)
    return -1;
  return f->cnf_x5t ? append_field(b, EGW_ECS_FORM_CNF, f->cnf_x5t) : 0;
}

static void log_failed(const struct forward *fw, const char *error, int status) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "ecs_forward_failed");
  egw_log_str(&rec, "peer", fw->to->id);
  egw_log_str(&rec, "target", fw->target);
  egw_log_str(&rec, "source", fw->source);
  egw_log_str(&rec, "error", error);
  if (status)
    egw_log_int(&rec, "status", status);
  egw_log_int(&rec, "ms", (int64_t)(egw_token_now_ms() - fw->started_ms));
  egw_log_end(&rec);
}

/* The peer's answer as it is: status, JSON body and the caching headers (RFC 6749 5.1:
 * a token response is never stored, so they are added if the peer left them out). */
static int relay(struct egw_exchange *x, const struct egw_http_client_response *r) {
  struct egw_arena *arena = egw_exchange_request(x)->arena;
  struct egw_response *resp = egw_exchange_response(x);
  if (egw_response_set_body(resp, r->status, "application/json", r->body, r->body_len) != 0)
    return -1;
  static const char *const names[] = {"Cache-Control", "Pragma", "WWW-Authenticate"};
  static const char *const fallback[] = {"no-store", "no-cache", NULL};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    size_t len = 0;
    const char *v = egw_http_client_response_header(r, names[i], &len);
    const char *value = v ? egw_arena_strndup(arena, v, len) : fallback[i];
    if (v && value == NULL)
      return -1;
    if (value && egw_response_add_header(resp, names[i], value) != 0)
      return -1;
  }
  return 0;
}

/* What the client may be given as is: an OAuth answer (RFC 6749 5.1, 5.2) in JSON. The
 * body is not parsed: on a 200 it holds a token, and copies of it are kept to a minimum. */
static int relayable(const struct egw_http_client_response *r) {
  if (r->status != 200 && r->status != 400 && r->status != 401)
    return 0;
  if (!egw_http_client_response_is_json(r))
    return 0;
  return r->body_len >= 2 && r->body[0] == '{' && r->body[r->body_len - 1] == '}';
}

static void on_peer_answer(void *arg, const struct egw_http_client_response *r) {
  struct forward *fw = arg;
  struct egw_exchange *x = fw->x;
  if (x == NULL) { /* cancelled because the client went away: nobody to answer */
    free(fw);
    return;
  }
  egw_exchange_set_abort(x, NULL, NULL);
  if (r->error == NULL && relayable(r)) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_INFO, "ecs_forwarded");
    egw_log_str(&rec, "peer", fw->to->id);
    egw_log_str(&rec, "target", fw->target);
    egw_log_str(&rec, "source", fw->source);
    egw_log_int(&rec, "status", r->status);
    egw_log_int(&rec, "ms", (int64_t)(egw_token_now_ms() - fw->started_ms));
    egw_log_end(&rec);
    if (relay(x, r) != 0)
      egw_exchange_response(x)->status = 0; /* finish answers 500 */
  } else {
    int status = 502;
    const char *why = "the ECS holding the target answered with an error";
    /* A peer that timed out further down the chain is a timeout here too. */
    if ((r->error && strcmp(r->error, "timeout") == 0) || (!r->error && r->status == 504)) {
      status = 504;
      why = "the ECS holding the target did not answer in time";
    } else if (r->error && strcmp(r->error, "cancelled") == 0) {
      status = 503;
      why = "the server is shutting down";
    } else if (r->error) {
      why = "the ECS holding the target cannot be reached";
    }
    log_failed(fw, r->error ? r->error : "unexpected answer", r->status);
    if (egw__ecs_oauth_error(x, status, "server_error", why) != EGW_DONE)
      egw_exchange_response(x)->status = 0;
  }
  free(fw);
  egw_exchange_finish(x);
}

static void on_client_gone(void *arg) {
  struct forward *fw = arg;
  fw->x = NULL;
  egw_http_call_cancel(fw->call); /* runs on_peer_answer, which frees fw */
}

static enum egw_handler_result refuse(struct egw_exchange *x, const struct egw_ecs_forward *f,
                                      const char *hops, const char *why) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "ecs_forward_refused");
  egw_log_str(&rec, "reason", why);
  egw_log_str(&rec, "peer", f->to->id);
  egw_log_str(&rec, "target", f->target);
  egw_log_str(&rec, "source", f->source);
  egw_log_str(&rec, "hops", hops);
  egw_log_end(&rec);
  return egw__ecs_oauth_error(x, 400, "invalid_request", why);
}

enum egw_handler_result egw__ecs_forward(struct ecs *ecs, struct egw_exchange *x,
                                         const struct egw_ecs_forward *f) {
  struct egw_arena *arena = egw_exchange_request(x)->arena;
  const char *own = ecs->policy->id;
  const char *hops = f->hops ? egw_arena_sprintf(arena, "%s %s", f->hops, own) : own;
  if (hops == NULL)
    return EGW_FAILED;
  int to_seen;
  int n = scan_hops(hops, f->to->id, &to_seen, NULL, NULL);
  if (to_seen || strcmp(f->to->id, own) == 0)
    return refuse(x, f, hops, "forwarding loop");
  if (n < 0 || (uint32_t)n > max_hops(ecs->policy))
    return refuse(x, f, hops, "too many hops");
  if (ecs->peers_http == NULL)
    return egw__ecs_oauth_error(x, 503, "server_error", "the server is shutting down");

  struct forward *fw = calloc(1, sizeof(*fw));
  struct egw_buf body = {0};
  if (fw == NULL || build_body(&body, f, hops) != 0) {
    free(fw);
    egw_buf_free(&body);
    return EGW_FAILED;
  }
  *fw = (struct forward){
      .ecs = ecs,
      .x = x,
      .to = f->to,
      .target = f->target,
      .source = f->source,
      .started_ms = egw_token_now_ms(),
  };
  static const struct egw_header accept = {.name = "Accept", .value = "application/json"};
  struct egw_http_client_request req = {
      .method = "POST",
      .url = f->to->token_url,
      .headers = &accept,
      .n_headers = 1,
      .body = body.data,
      .body_len = body.len,
      .content_type = "application/x-www-form-urlencoded",
  };
  int rc = egw_http_client_request(ecs->peers_http, &req, on_peer_answer, fw, &fw->call);
  egw_buf_free(&body);
  if (rc != 0) {
    log_failed(fw, egw_strerror(rc), 0);
    free(fw);
    return egw__ecs_oauth_error(x, 502, "server_error",
                                "the ECS holding the target cannot be reached");
  }
  egw_exchange_set_abort(x, on_client_gone, fw);
  return EGW_AGAIN;
}
