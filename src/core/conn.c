/* A connection: one socket, its TLS session and its HTTP framing, and nothing else.
 *
 * Life cycle, after libuv's rules: the connection is freed only in the close callback of
 * its last handle; every path to the end goes through close_handles() once. A graceful
 * end (after an error response, a timeout, close_notify or drain) flushes what is
 * queued, shuts down the write side and lingers, discarding input, so that the client
 * reads our last response instead of a reset. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/conn_psk.h"
#include "core/internal.h"
#include "http/exchange.h"
#include "http/h1.h"
#include "http/router.h"
#include "tls/tls.h"
#include "util/buf.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/metrics.h"

/* How long a closing connection waits for the client to go away. */
#define LINGER_MS 2000

/* Bytes of request body that re-arm its timer (idle_timeout_ms): below this rate (1 KiB
 * per idle_timeout_ms) a body is cut off with 408. */
#define BODY_PROGRESS_BYTES 1024

enum conn_phase {
  PHASE_HANDSHAKE, /* TLS handshake in progress: header timeout applies */
  PHASE_HTTP,      /* requests flow */
  PHASE_LINGER,    /* write side shut; reading and discarding until EOF */
};

struct egw_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t shutdown_req;
  struct egw_server *server;
  struct egw_listener *listener;
  struct egw_site *site; /* the snapshot this connection started with */
  const struct egw_listener_cfg *cfg;
  struct egw_tls_conn *tls;
  struct egw_h1 *h1;
  struct egw_buf plain; /* decrypted input not yet given to framing */
  struct egw_buf out;   /* ciphertext not yet handed to uv_write */
  size_t queued;        /* bytes handed to uv_write and not yet written */
  enum conn_phase phase;
  enum egw_h1_state last_state; /* to arm the header timer once per request */
  size_t body_progress; /* plaintext fed since the body timer was last armed */
  int handles_open;
  int pending_writes;
  int in_read;     /* inside on_read: output is flushed once at its end */
  int finishing;   /* close once the queued output is written */
  int closing;     /* handles are being closed */
  int deferred;    /* on the server's deferred list */
  int pump;        /* framing has a streamed request body to go on with (cb.wake) */
  int read_paused; /* reading stopped: a streamed request body waits for its role */
  int peer_closed; /* the client sent close_notify: nothing more will come from it */
  struct egw_conn *deferred_next;
  /* On the server's list of connections whose output goes out before the loop waits
   * (flush_later); flush_pprev is NULL when not on it. */
  struct egw_conn *flush_next, **flush_pprev;
  struct egw_conn *prev, *next;
  /* A request whose authorization waits for asynchronous work (EGW_AUTHZ_RETRY); at
   * most one, since framing hands over one exchange at a time. */
  struct egw_authz_wait authz_wait;
  struct egw_exchange *authz_x;
  struct egw_route_target authz_target;
  int authz_rounds;
  struct egw__conn_psk psk; /* a direct PSK handshake waiting for its key (conn_psk.c) */
  char peer_addr[64];
};

struct write_req {
  uv_write_t req;
  struct egw_conn *conn;
  struct egw_buf buf;
};

static void after_io(struct egw_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_timer(uv_timer_t *t);
static void authorize_and_run(struct egw_conn *c, struct egw_exchange *x,
                              const struct egw_route_target *route);

/* ---- closing ---------------------------------------------------------------------- */

static void unlink_deferred(struct egw_conn *c) {
  if (!c->deferred)
    return;
  struct egw_conn **p = &c->server->deferred_head;
  while (*p && *p != c)
    p = &(*p)->deferred_next;
  if (*p)
    *p = c->deferred_next;
  c->deferred = 0;
}

static void unlink_flush(struct egw_conn *c) {
  if (c->flush_pprev == NULL)
    return;
  *c->flush_pprev = c->flush_next;
  if (c->flush_next)
    c->flush_next->flush_pprev = c->flush_pprev;
  c->flush_next = NULL;
  c->flush_pprev = NULL;
}

static void conn_free(struct egw_conn *c) {
  struct egw_server *s = c->server;
  /* Framing first: an exchange still with a role is told (on_abort) while the TLS
   * session and the site it may look at are still alive. */
  egw_h1_free(c->h1);
  egw_tls_conn_free(c->tls);
  egw_buf_free(&c->plain);
  egw_buf_free(&c->out);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->listener->n_conns--;
  egw_metrics_connections(c->cfg->policy->interface_name, -1);
  s->n_conns--;
  egw_site_unref(c->site);
  free(c);
  egw__server_conn_closed(s);
}

static void on_handle_closed(uv_handle_t *h) {
  struct egw_conn *c = h->data;
  if (--c->handles_open == 0)
    conn_free(c);
}

static void close_handles(struct egw_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  egw__conn_psk_cancel(&c->psk);
  unlink_deferred(c);
  unlink_flush(c);
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct egw_conn *c = req->data;
  if (status < 0 && !c->closing)
    close_handles(c);
}

static void start_linger(struct egw_conn *c) {
  if (c->closing || c->phase == PHASE_LINGER)
    return;
  /* After close_notify the client sends nothing, so closing cannot reset our last
   * bytes: no half-close and no wait for its FIN (three syscalls and a loop turn less
   * per connection). */
  if (c->peer_closed) {
    close_handles(c);
    return;
  }
  c->phase = PHASE_LINGER;
  if (c->read_paused) { /* lingering discards input: read it */
    c->read_paused = 0;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    close_handles(c);
    return;
  }
  uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
}

/* Ends the connection gracefully once everything queued has been written. */
static void finish(struct egw_conn *c) {
  c->finishing = 1;
  if (c->pending_writes == 0 && c->out.len == 0)
    start_linger(c);
}

/* ---- output ----------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  struct write_req *wr = (struct write_req *)req;
  struct egw_conn *c = wr->conn;
  c->queued -= wr->buf.len;
  egw_buf_free(&wr->buf);
  free(wr);
  c->pending_writes--;
  if (c->closing)
    return;
  if (status < 0) {
    close_handles(c);
    return;
  }
  if (c->finishing && c->pending_writes == 0 && c->out.len == 0) {
    start_linger(c);
    return;
  }
  /* A streamed response waits for the queue to go down (backpressure). */
  if (c->h1 && c->queued + c->out.len <= EGW_STREAM_LOW_WATER)
    egw_h1_drained(c->h1);
}

/* write_now writes what it can of |c->out| without a write request: most answers fit
 * the socket buffer, and a request would cost libuv an epoll_ctl and a trip through its
 * pending queue for every one of them. Only when nothing is queued (bytes stay in order)
 * and the output is under the stream low-water mark: then no streamed response can be
 * waiting for a drain that only on_write would announce. Returns -1 when the connection
 * failed. */
static int write_now(struct egw_conn *c) {
  if (c->pending_writes != 0 || c->out.len > EGW_STREAM_LOW_WATER)
    return 0;
  uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == UV_EAGAIN)
    return 0;
  if (n < 0) {
    close_handles(c);
    return -1;
  }
  if ((size_t)n < c->out.len) {
    egw_buf_consume(&c->out, (size_t)n);
    return 0;
  }
  /* An idle connection keeps no output buffer. */
  egw_buf_free(&c->out);
  if (c->finishing)
    start_linger(c);
  return 0;
}

/* write_queued hands all of |c->out| to uv_write. */
static void write_queued(struct egw_conn *c) {
  struct write_req *wr = malloc(sizeof(*wr));
  if (wr == NULL) {
    close_handles(c);
    return;
  }
  wr->conn = c;
  wr->buf = c->out; /* the queued bytes move to the request; c->out starts afresh */
  c->out = (struct egw_buf){0};
  uv_buf_t b = uv_buf_init((char *)wr->buf.data, (unsigned)wr->buf.len);
  if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    egw_buf_free(&wr->buf);
    free(wr);
    close_handles(c);
    return;
  }
  c->pending_writes++;
  c->queued += wr->buf.len;
}

/* flush sends |c->out|. A small answer with nothing queued before it waits until the
 * loop is about to wait for I/O (egw__conns_flush_pending, after the log records of
 * the iteration are written): no client sees an answer before its audit line, and the
 * records of many requests go out in one write. Larger or queued-behind output goes to
 * uv_write at once. */
static void flush(struct egw_conn *c) {
  if (c->out.len == 0 || c->closing)
    return;
  if (c->pending_writes != 0 || c->out.len > EGW_STREAM_LOW_WATER) {
    write_queued(c);
    return;
  }
  if (c->flush_pprev != NULL)
    return;
  struct egw_server *s = c->server;
  c->flush_next = s->flush_head;
  if (s->flush_head)
    s->flush_head->flush_pprev = &c->flush_next;
  s->flush_head = c;
  c->flush_pprev = &s->flush_head;
}

void egw__conns_flush_pending(struct egw_server *s) {
  while (s->flush_head) {
    struct egw_conn *c = s->flush_head;
    unlink_flush(c);
    if (c->closing || c->out.len == 0)
      continue;
    if (write_now(c) != 0 || c->out.len == 0)
      continue;
    write_queued(c);
  }
}

static void on_deferred(uv_idle_t *idle) { egw__conn_run_deferred(idle->data); }

static void defer(struct egw_conn *c) {
  if (c->deferred || c->closing)
    return;
  c->deferred = 1;
  c->deferred_next = c->server->deferred_head;
  c->server->deferred_head = c;
  uv_idle_start(&c->server->deferred, on_deferred);
}

/* A streamed request body that its role does not take stops the reading of the socket
 * (what was read and decrypted stays with framing); it reads on once framing can take
 * more. */
static void update_reading(struct egw_conn *c) {
  if (c->closing || c->h1 == NULL || c->phase != PHASE_HTTP)
    return;
  int full = egw_h1_input_full(c->h1);
  if (full && !c->read_paused) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->read_paused = 1;
  } else if (!full && c->read_paused) {
    c->read_paused = 0;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
      close_handles(c);
  }
}

/* h1 wake callback: a role started or resumed a streamed request body. */
static void conn_wake(void *owner) {
  struct egw_conn *c = owner;
  c->pump = 1;
  defer(c);
}

/* h1 send callback: plaintext to encrypt and queue. */
static int conn_send(void *owner, const uint8_t *data, size_t len) {
  struct egw_conn *c = owner;
  if (c->closing)
    return EGW_ERR_CLOSED;
  int rc = egw_tls_conn_write(c->tls, data, len, &c->out);
  if (rc != 0)
    return rc;
  if (!c->in_read) {
    /* A role finished asynchronously: write now, look at the framing state once the
     * role's stack has unwound. */
    flush(c);
    defer(c);
  }
  return 0;
}

/* h1 queued callback: what a streamed response has waiting to be written. */
static size_t conn_queued(void *owner) {
  const struct egw_conn *c = owner;
  return c->queued + c->out.len;
}

void egw__conn_run_deferred(struct egw_server *s) {
  while (s->deferred_head) {
    struct egw_conn *c = s->deferred_head;
    s->deferred_head = c->deferred_next;
    c->deferred = 0;
    if (c->pump && !c->closing && c->h1) {
      c->pump = 0;
      c->in_read = 1; /* output of the role's callbacks is flushed once, below */
      c->body_progress = BODY_PROGRESS_BYTES; /* the role took body: that is progress */
      egw_h1_pump(c->h1);
      c->in_read = 0;
      flush(c);
      update_reading(c);
    }
    after_io(c);
  }
  uv_idle_stop(&s->deferred);
}

/* ---- dispatch: route, authorize, run the role ------------------------------------- */

/* One line per decision (core/audit.h): to the listener's audit sink, else the log. */
static void audit(struct egw_conn *c, const struct egw_request *req, const char *route,
                  enum egw_authz_decision decision, const struct egw_authz_verdict *v) {
  if (c->cfg->audit_off)
    return;
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "authz");
  egw_log_str(&rec, "decision", decision == EGW_AUTHZ_ALLOW ? "allow" : "deny");
  egw_log_str(&rec, "interface", req->interface_name);
  egw_log_str(&rec, "provider", c->cfg->authz->name);
  egw_log_str(&rec, "peer", req->peer->id);
  egw_log_str(&rec, "peer_kind", egw_peer_kind_name(req->peer->kind));
  egw_log_str(&rec, "method", req->method_name);
  egw_log_str(&rec, "path", req->path);
  egw_log_str(&rec, "reason", v->reason);
  if (decision != EGW_AUTHZ_ALLOW)
    egw_log_int(&rec, "status", v->status);
  egw_log_str(&rec, "peer_addr", c->peer_addr);
  egw_log_str(&rec, "route", route);
  if (v->token_sub)
    egw_log_str(&rec, "subject", v->token_sub);
  if (c->cfg->audit)
    egw_audit_append(c->cfg->audit, &c->server->loop, &rec);
  else
    egw_log_end(&rec);
}

static void answer_problem(struct egw_exchange *x, int status, const char *detail,
                           const char *cause) {
  struct egw_response *resp = &x->resp;
  resp->n_headers = 0;
  resp->body = NULL;
  resp->body_len = 0;
  egw_response_problem(resp, status, egw_status_reason(status), detail, cause);
}

static void add_allow_header(struct egw_exchange *x, unsigned methods) {
  static const enum egw_method order[] = {EGW_METHOD_GET,    EGW_METHOD_HEAD,  EGW_METHOD_POST,
                                          EGW_METHOD_PUT,    EGW_METHOD_PATCH, EGW_METHOD_DELETE,
                                          EGW_METHOD_OPTIONS};
  char allow[96] = "";
  size_t used = 0;
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    if ((methods & (unsigned)order[i]) == 0)
      continue;
    const char *name = egw_method_name(order[i]);
    size_t n = strlen(name);
    if (used + n + 3 > sizeof(allow))
      break;
    if (used) {
      memcpy(allow + used, ", ", 2);
      used += 2;
    }
    memcpy(allow + used, name, n + 1);
    used += n;
  }
  egw_response_add_header(&x->resp, "Allow", allow);
}

/* h1 streams_body callback: the route's module reads request bodies as they arrive. A
 * path with no route or the wrong method is dispatched now too (its 404/405 needs no
 * body). */
static int conn_streams_body(void *owner, struct egw_exchange *x) {
  struct egw_conn *c = owner;
  struct egw_route_target target;
  unsigned allowed = 0;
  const struct egw_request *req = &x->req;
  if (egw_router_match(c->cfg->router, req->method, req->path, &target, &allowed) !=
      EGW_ROUTE_FOUND)
    return 0;
  return target.ops->streams_request_body != 0;
}

static void conn_on_request(void *owner, struct egw_exchange *x) {
  struct egw_conn *c = owner;
  const struct egw_listener_policy *lp = c->cfg->policy;
  struct egw_request *req = &x->req;
  req->role_name = lp->role;
  req->tls_mode = egw_tls_mode_name(lp->tls.mode);
  req->peer_addr = c->peer_addr;

  struct egw_route_target target;
  unsigned allowed = 0;
  switch (egw_router_match(c->cfg->router, req->method, req->path, &target, &allowed)) {
  case EGW_ROUTE_NOT_FOUND:
    answer_problem(x, 404, "no resource at this path", NULL);
    egw_exchange_finish(x);
    return;
  case EGW_ROUTE_METHOD_NOT_ALLOWED:
    answer_problem(x, 405, "method not allowed on this resource", NULL);
    add_allow_header(x, allowed);
    egw_exchange_finish(x);
    return;
  case EGW_ROUTE_FOUND:
    break;
  }
  x->owner_data = (void *)target.prefix; /* the route label of the request metrics */

  c->authz_rounds = 0;
  authorize_and_run(c, x, &target);
}

/* How often one request may be told to wait: a provider wakes it when its work is done,
 * so a second wait means something keeps failing. */
#define MAX_AUTHZ_ROUNDS 2

static void cancel_authz_wait(void *arg) {
  struct egw_conn *c = arg;
  egw_authz_wait_cancel(&c->authz_wait);
  c->authz_x = NULL;
}

static void resume_authz(struct egw_authz_wait *w) {
  struct egw_conn *c = (struct egw_conn *)((char *)w - offsetof(struct egw_conn, authz_wait));
  struct egw_exchange *x = c->authz_x;
  c->authz_x = NULL;
  egw_exchange_set_abort(x, NULL, NULL);
  authorize_and_run(c, x, &c->authz_target);
}

static void authorize_and_run(struct egw_conn *c, struct egw_exchange *x,
                              const struct egw_route_target *route) {
  const struct egw_listener_policy *lp = c->cfg->policy;
  struct egw_request *req = &x->req;
  struct egw_route_target target = *route;
  struct egw_authz_verdict verdict = {0};
  c->authz_wait.resume = resume_authz;
  enum egw_authz_decision decision =
      c->cfg->authz->check(c->cfg->authz_state, req, &c->authz_wait, &verdict);
  if (decision == EGW_AUTHZ_RETRY) {
    if (++c->authz_rounds > MAX_AUTHZ_ROUNDS) {
      egw_authz_wait_cancel(&c->authz_wait);
      answer_problem(x, 503, "authorization is not available", "AUTHZ_UNAVAILABLE");
      egw_exchange_finish(x);
      return;
    }
    c->authz_x = x;
    c->authz_target = target;
    egw_exchange_set_abort(x, cancel_authz_wait, c);
    return;
  }
  if (lp->authz.mode != EGW_AUTHZ_NONE)
    audit(c, req, target.prefix, decision, &verdict);
  egw_metrics_authz(lp->interface_name, c->cfg->authz->name,
                    decision == EGW_AUTHZ_ALLOW ? "allow" : "deny",
                    decision == EGW_AUTHZ_ALLOW ? "ok" : verdict.cause);
  if (decision == EGW_AUTHZ_DENY) {
    answer_problem(x, verdict.status, verdict.reason, verdict.cause);
    if (verdict.www_authenticate)
      egw_response_add_header(&x->resp, "WWW-Authenticate", verdict.www_authenticate);
    egw_exchange_finish(x);
    return;
  }

  req->token_sub = verdict.token_sub;
  req->token_eec_id = verdict.token_eec_id;
  req->token_scope = verdict.token_scope;
  switch (target.ops->on_request(target.state, x)) {
  case EGW_DONE:
    egw_exchange_finish(x);
    return;
  case EGW_AGAIN:
    return;
  case EGW_DECLINED:
    answer_problem(x, 404, "no resource at this path", NULL);
    egw_exchange_finish(x);
    return;
  case EGW_FAILED:
    break;
  }
  egw_log_msg(EGW_LOG_ERROR, "handler_failed", "%s failed on %s %s", target.ops->name,
              req->method_name, req->path);
  answer_problem(x, 500, "the request could not be processed", "SYSTEM_FAILURE");
  egw_exchange_finish(x);
}

/* ---- input ------------------------------------------------------------------------ */

static void log_handshake_failure(const struct egw_conn *c) {
  const char *reason = NULL, *alert = NULL, *psk_identity = NULL;
  egw_tls_conn_failure(c->tls, &reason, &alert, &psk_identity);
  egw_metrics_tls_handshake(c->cfg->policy->interface_name,
                            egw_tls_mode_name(c->cfg->policy->tls.mode), "failed");
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "tls_handshake_failed");
  egw_log_str(&rec, "interface", c->cfg->policy->interface_name);
  egw_log_str(&rec, "tls", egw_tls_mode_name(c->cfg->policy->tls.mode));
  egw_log_str(&rec, "peer_addr", c->peer_addr);
  egw_log_str(&rec, "reason", reason ? reason : "handshake failed");
  egw_log_str(&rec, "alert", alert);
  if (psk_identity)
    egw_log_str(&rec, "psk_identity", psk_identity);
  egw_log_end(&rec);
}

static int start_http(struct egw_conn *c) {
  const struct egw_limits *lim = &c->cfg->policy->limits;
  struct egw_h1_limits h1_limits = {
      .header_bytes = lim->header_bytes,
      .body_bytes = lim->body_bytes,
      .requests_per_connection = lim->requests_per_connection,
  };
  static const struct egw_h1_callbacks callbacks = {
      .on_request = conn_on_request,
      .send = conn_send,
      .queued = conn_queued,
      .streams_body = conn_streams_body,
      .wake = conn_wake,
  };
  c->h1 = egw_h1_new(&h1_limits, &callbacks, c, egw_tls_conn_peer(c->tls),
                     c->cfg->policy->interface_name);
  if (c->h1 == NULL)
    return EGW_ERR_NOMEM;
  c->phase = PHASE_HTTP;
  c->last_state = EGW_H1_IDLE;
  egw_metrics_tls_handshake(c->cfg->policy->interface_name,
                            egw_tls_mode_name(c->cfg->policy->tls.mode), "ok");
  return 0;
}

static void on_tls_status(struct egw_conn *c, enum egw_tls_status st);

/* The PSK key arrived (or will not): the held ClientKeyExchange goes to TLS, and the
 * connection reads again (also when it failed: lingering reads and discards). */
static void resume_after_key(struct egw_conn *c, enum egw_psk_result r) {
  on_tls_status(c, egw_tls_conn_resume(c->tls, r, &c->plain, &c->out));
  if (!c->closing && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    close_handles(c);
}

static void on_psk_key(void *owner, enum egw_psk_result r) {
  struct egw_conn *c = owner;
  c->in_read = 1;
  resume_after_key(c, r);
  c->in_read = 0;
  flush(c);
  update_reading(c);
  after_io(c);
}

/* The TLS layer holds the client's ClientKeyExchange until the key of its PSK identity
 * is in the key store: reading stops meanwhile; the handshake timer still runs. */
static void wait_for_key(struct egw_conn *c) {
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->psk.done = on_psk_key;
  c->psk.owner = c;
  int r = egw__conn_psk_resolve(&c->psk, c->site->psk, c->tls);
  if (r >= 0)
    resume_after_key(c, (enum egw_psk_result)r);
}

static void handle_ciphertext(struct egw_conn *c, const uint8_t *data, size_t n) {
  on_tls_status(c, egw_tls_conn_feed(c->tls, data, n, &c->plain, &c->out));
}

static void on_tls_status(struct egw_conn *c, enum egw_tls_status st) {
  if (st == EGW_TLS_NEED_KEY) {
    wait_for_key(c);
    return;
  }
  if (st == EGW_TLS_FAILED) {
    if (c->h1 == NULL)
      log_handshake_failure(c);
    c->plain.len = 0;
    finish(c);
    return;
  }
  if (c->h1 == NULL && egw_tls_conn_handshake_done(c->tls) && start_http(c) != 0) {
    close_handles(c);
    return;
  }
  if (c->h1 && c->plain.len > 0) {
    size_t len = c->plain.len;
    c->plain.len = 0; /* framing keeps what it cannot parse yet */
    c->body_progress += len;
    egw_h1_feed(c->h1, c->plain.data, len);
  }
  if (st == EGW_TLS_CLOSED) {
    /* The client is done sending: answer what is in progress, then send our own
     * close_notify (RFC 8446, 6.1) and close. */
    c->peer_closed = 1;
    if (c->h1 && egw_h1_state(c->h1) == EGW_H1_BUSY) {
      egw_h1_close_after_current(c->h1);
    } else {
      egw_tls_conn_shutdown(c->tls, &c->out);
      finish(c);
    }
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct egw_conn *c = h->data;
  *buf = uv_buf_init(c->server->read_buf, sizeof(c->server->read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct egw_conn *c = stream->data;
  if (nread == 0 || c->closing)
    return;
  if (nread < 0 || c->phase == PHASE_LINGER) {
    if (nread < 0)
      close_handles(c); /* EOF or reset; while lingering, input is discarded */
    return;
  }
  c->in_read = 1;
  handle_ciphertext(c, (const uint8_t *)buf->base, (size_t)nread);
  c->in_read = 0;
  flush(c);
  update_reading(c);
  after_io(c);
}

/* ---- timers and state ------------------------------------------------------------- */

static void on_timer(uv_timer_t *t) {
  struct egw_conn *c = t->data;
  if (c->phase == PHASE_HANDSHAKE) {
    egw_metrics_tls_handshake(c->cfg->policy->interface_name,
                              egw_tls_mode_name(c->cfg->policy->tls.mode), "timeout");
    close_handles(c);
    return;
  }
  if (c->phase == PHASE_LINGER) {
    close_handles(c);
    return;
  }
  switch (egw_h1_state(c->h1)) {
  case EGW_H1_READING_HEADERS:
  case EGW_H1_READING_BODY:
    egw_h1_fail(c->h1, 408, "Request Timeout", "the request did not arrive in time");
    break;
  case EGW_H1_IDLE:
    egw_tls_conn_shutdown(c->tls, &c->out);
    finish(c);
    break;
  case EGW_H1_BUSY:
  case EGW_H1_CLOSING:
    break;
  }
  flush(c);
  after_io(c);
}

/* Looks at the framing state after input or output and sets timers or closes. */
static void after_io(struct egw_conn *c) {
  if (c->closing || c->phase != PHASE_HTTP || c->finishing)
    return;
  const struct egw_limits *lim = &c->cfg->policy->limits;
  enum egw_h1_state st = egw_h1_state(c->h1);
  enum egw_h1_state was = c->last_state;
  c->last_state = st;
  switch (st) {
  case EGW_H1_CLOSING:
    egw_tls_conn_shutdown(c->tls, &c->out);
    flush(c);
    finish(c);
    return;
  case EGW_H1_IDLE:
    if (c->server->draining) {
      egw_tls_conn_shutdown(c->tls, &c->out);
      flush(c);
      finish(c);
      return;
    }
    uv_timer_start(&c->timer, on_timer, lim->idle_timeout_ms, 0);
    return;
  case EGW_H1_READING_HEADERS:
    /* Armed when a request starts, not on every byte: a client that trickles its
     * headers still runs out of time. */
    if (was != EGW_H1_READING_HEADERS)
      uv_timer_start(&c->timer, on_timer, lim->header_timeout_ms, 0);
    return;
  case EGW_H1_READING_BODY:
    /* Re-armed when the body starts and then only after BODY_PROGRESS_BYTES more came
     * in: a client that trickles a byte now and then (a slow body) still runs out of
     * time instead of holding the connection for as long as it likes. */
    if (was != EGW_H1_READING_BODY || c->body_progress >= BODY_PROGRESS_BYTES) {
      c->body_progress = 0;
      uv_timer_start(&c->timer, on_timer, lim->idle_timeout_ms, 0);
    }
    return;
  case EGW_H1_BUSY:
    uv_timer_stop(&c->timer);
    return;
  }
}

/* ---- accept, drain ---------------------------------------------------------------- */

static void format_peer(struct egw_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  strcpy(c->peer_addr, "?");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
    return;
  char ip[48];
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof(ip));
    snprintf(c->peer_addr, sizeof(c->peer_addr), "[%s]:%u", ip, ntohs(a->sin6_port));
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof(ip));
    snprintf(c->peer_addr, sizeof(c->peer_addr), "%s:%u", ip, ntohs(a->sin_port));
  }
}

static void free_refused(uv_handle_t *h) { free(h); }

/* Over max_connections: accept and close at once, so the client is not left waiting
 * in the backlog; log at most once a second with the count. */
static void refuse(struct egw_listener *l) {
  uv_tcp_t *t = malloc(sizeof(*t));
  if (t == NULL)
    return;
  uv_tcp_init(&l->server->loop, t);
  uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)t);
  uv_close((uv_handle_t *)t, free_refused);
  l->refused_unlogged++;
  uint64_t now = uv_now(&l->server->loop);
  if (l->refused_logged_at == 0 || now - l->refused_logged_at >= 1000) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_WARN, "connection_refused");
    egw_log_str(&rec, "interface", l->cfg->policy->interface_name);
    egw_log_str(&rec, "reason", "max_connections");
    egw_log_int(&rec, "limit", l->cfg->policy->limits.max_connections);
    egw_log_int(&rec, "refused", (int64_t)l->refused_unlogged);
    egw_log_end(&rec);
    l->refused_unlogged = 0;
    l->refused_logged_at = now;
  }
}

void egw__conn_accept(struct egw_listener *l) {
  struct egw_server *s = l->server;
  if (l->n_conns >= l->cfg->policy->limits.max_connections) {
    refuse(l);
    return;
  }
  struct egw_conn *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    refuse(l);
    return;
  }
  c->server = s;
  c->listener = l;
  c->site = s->site;
  egw_site_up_ref(c->site);
  c->cfg = l->cfg;
  c->tcp.data = c;
  c->timer.data = c;
  uv_tcp_init(&s->loop, &c->tcp);
  uv_timer_init(&s->loop, &c->timer);
  c->handles_open = 2;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  l->n_conns++;
  egw_metrics_connections(l->cfg->policy->interface_name, 1);
  if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&c->tcp) != 0) {
    close_handles(c);
    return;
  }
  format_peer(c); /* TCP_NODELAY comes from the listening socket */
  c->tls = egw_tls_conn_new(c->cfg->tls);
  if (c->tls == NULL || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    close_handles(c);
    return;
  }
  c->phase = PHASE_HANDSHAKE;
  uv_timer_start(&c->timer, on_timer, c->cfg->policy->limits.header_timeout_ms, 0);
}

static void conn_drain(struct egw_conn *c) {
  if (c->closing || c->finishing)
    return;
  if (c->phase == PHASE_HANDSHAKE) {
    close_handles(c);
    return;
  }
  if (c->phase != PHASE_HTTP)
    return;
  if (egw_h1_state(c->h1) == EGW_H1_IDLE) {
    egw_tls_conn_shutdown(c->tls, &c->out);
    flush(c);
    finish(c);
    return;
  }
  egw_h1_close_after_current(c->h1);
}

void egw__conns_drain_all(struct egw_server *s) {
  /* Draining may close a connection, but never frees it synchronously (that happens in
   * its close callback), so walking the list is safe. */
  for (struct egw_conn *c = s->conns; c; c = c->next)
    conn_drain(c);
}

void egw__conns_abort_all(struct egw_server *s) {
  for (struct egw_conn *c = s->conns; c; c = c->next)
    close_handles(c);
}
