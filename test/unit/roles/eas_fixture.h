/* The EAS role in one process without sockets on the client side: a hand-built site
 * and eas policy, the role's init/start/stop/dispose, and HTTP/1.1 framing fed with a
 * client's bytes (the loopback of test/unit/http/harness.h) whose requests go through
 * the role as the connection would dispatch them after token authorization. */
#ifndef EGW_TEST_ROLES_EAS_FIXTURE_H
#define EGW_TEST_ROLES_EAS_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/site.h"
#include "http/exchange.h"
#include "http/h1.h"
#include "roles/eas/internal.h"
#include "util/buf.h"
#include "util/log.h"

extern const struct egw_role_ops egw_role_eas;

struct eas_fx {
  uv_loop_t loop;
  struct egw_site_policy sp;
  struct egw_eas_policy ep;
  struct egw_site site;
  void *state;
  struct egw_h1 *h1;
  struct egw_peer peer;
  struct egw_buf out; /* what the client read */
  /* What token authorization would have set on each request. */
  const char *token_sub;
  const char *token_eec_id;
  const char *peer_addr;
  int requests;
  /* With model_queue, what the client has not read (out) counts as the connection's
   * write queue: streamed answers see backpressure until the test reads. */
  int model_queue;
  /* With stream_bodies (set before fx_start), request bodies stream to the role as the
   * connection would hand them over (streams_request_body); |wake| records framing's
   * wake callback, fx_pump answers it. */
  int stream_bodies;
  int wake;
  /* The log, captured. */
  char *log_text;
  size_t log_len;
  FILE *log;
};

static inline void fx_on_request(void *owner, struct egw_exchange *x) {
  struct eas_fx *f = owner;
  f->requests++;
  x->req.token_sub = f->token_sub;
  x->req.token_eec_id = f->token_eec_id;
  x->req.peer_addr = f->peer_addr;
  switch (egw_role_eas.on_request(f->state, x)) {
  case EGW_DONE:
    egw_exchange_finish(x);
    return;
  case EGW_AGAIN:
    return;
  case EGW_DECLINED:
  case EGW_FAILED:
    break;
  }
  egw_response_problem(&x->resp, 500, NULL, "failed", "SYSTEM_FAILURE");
  egw_exchange_finish(x);
}

static inline int fx_send(void *owner, const uint8_t *data, size_t len) {
  return egw_buf_append(&((struct eas_fx *)owner)->out, data, len);
}

static inline size_t fx_queued(void *owner) {
  struct eas_fx *f = owner;
  return f->model_queue ? f->out.len : 0;
}

static const struct egw_h1_callbacks fx_callbacks = {
    .on_request = fx_on_request,
    .send = fx_send,
    .queued = fx_queued,
};

static inline int fx_streams_body(void *owner, struct egw_exchange *x) {
  return ((struct eas_fx *)owner)->stream_bodies;
}

static inline void fx_wake(void *owner) { ((struct eas_fx *)owner)->wake = 1; }

static const struct egw_h1_callbacks fx_stream_callbacks = {
    .on_request = fx_on_request,
    .send = fx_send,
    .queued = fx_queued,
    .streams_body = fx_streams_body,
    .wake = fx_wake,
};

/* fx_pump does what the connection does after framing's wake callback. */
static inline void fx_pump(struct eas_fx *f) {
  while (f->wake) {
    f->wake = 0;
    egw_h1_pump(f->h1);
  }
}

/* fx_policy fills a site with an eas section for an upstream on 127.0.0.1:|port|. */
static inline void fx_policy(struct eas_fx *f, uint16_t port, uint32_t timeout_ms) {
  memset(f, 0, sizeof(*f));
  f->ep = (struct egw_eas_policy){
      .id = "eas1.site1.example",
      .endpoint_uri = "https://127.0.0.1:8450",
      .upstream_host = "127.0.0.1",
      .upstream_port = port,
      .upstream_timeout_ms = timeout_ms,
  };
  f->sp = (struct egw_site_policy){.site_file = "test/site.yaml", .site_id = "t", .eas = &f->ep};
  f->site.policy = &f->sp;
  f->peer_addr = "127.0.0.1:40000";
  f->log = open_memstream(&f->log_text, &f->log_len);
  egw_log_set_stream(f->log);
}

/* fx_start runs init and start on a fresh loop and opens the client's framing. */
static inline void fx_start(struct eas_fx *f) {
  cr_assert_eq(uv_loop_init(&f->loop), 0);
  f->site.loop = &f->loop;
  char *err = NULL;
  cr_assert_eq(egw_role_eas.init(&f->site, &f->state, &err), 0, "%s", err ? err : "");
  cr_assert_eq(egw_role_eas.start(f->state, &f->loop), 0);
  struct egw_h1_limits lim = {.header_bytes = 16384, .body_bytes = 4u << 20};
  f->h1 =
      egw_h1_new(&lim, f->stream_bodies ? &fx_stream_callbacks : &fx_callbacks, f, &f->peer, "app");
  cr_assert_not_null(f->h1);
}

/* fx_finish stops the role, closes the client's framing, runs the loop to its end and
 * checks that nothing was left open. */
static inline void fx_finish(struct eas_fx *f) {
  egw_role_eas.stop(f->state);
  egw_h1_free(f->h1);
  cr_assert_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  cr_assert_eq(uv_loop_close(&f->loop), 0, "a handle was left open");
  egw_role_eas.dispose(f->state);
  egw_buf_free(&f->out);
  egw_log_set_stream(stdout);
  fclose(f->log);
}

static inline void fx_log_free(struct eas_fx *f) { free(f->log_text); }

static inline void fx_feed(struct eas_fx *f, const void *data, size_t len) {
  egw_h1_feed(f->h1, data, len);
}

static inline void fx_send_str(struct eas_fx *f, const char *s) { fx_feed(f, s, strlen(s)); }

/* A response as the client read it. */
struct fx_resp {
  int status;
  char head[8192];
  char *body; /* malloc'd, NUL-terminated (de-chunked) */
  size_t body_len;
  int chunked;   /* it came with Transfer-Encoding: chunked */
  int truncated; /* the connection closed before the body was complete */
};

/* fx_dechunk de-chunks the body that starts at |p| (|n| bytes) into |out|; returns the
 * bytes used up to and with the last chunk, or 0 when it is not complete. */
static inline size_t fx_dechunk(const char *p, size_t n, struct egw_buf *out) {
  size_t i = 0;
  for (;;) {
    const char *eol = memmem(p + i, n - i, "\r\n", 2);
    if (eol == NULL)
      return 0;
    size_t size = strtoul(p + i, NULL, 16);
    size_t data = (size_t)(eol + 2 - p);
    if (size == 0)
      return n - data >= 2 ? data + 2 : 0;
    if (n - data < size + 2)
      return 0;
    egw_buf_append(out, p + data, size);
    i = data + size + 2;
  }
}

/* fx_take takes one complete response (with Content-Length) out of the capture; 0 when
 * none is complete yet. */
static inline int fx_take(struct eas_fx *f, struct fx_resp *r) {
  char *end = f->out.len ? memmem(f->out.data, f->out.len, "\r\n\r\n", 4) : NULL;
  if (end == NULL)
    return 0;
  size_t head_len = (size_t)(end + 4 - (char *)f->out.data);
  snprintf(r->head, sizeof(r->head), "%.*s", (int)head_len, (char *)f->out.data);
  const char *cl = strstr(r->head, "Content-Length: ");
  size_t body_len = cl ? strtoul(cl + 16, NULL, 10) : 0;
  int closed = egw_h1_state(f->h1) == EGW_H1_CLOSING;
  r->chunked = strstr(r->head, "Transfer-Encoding: chunked\r\n") != NULL;
  r->truncated = 0;
  if (r->chunked) {
    struct egw_buf b = {0};
    const char *p = (const char *)f->out.data + head_len;
    size_t used = fx_dechunk(p, f->out.len - head_len, &b);
    if (used == 0 && !closed) {
      egw_buf_free(&b);
      return 0;
    }
    r->truncated = used == 0;
    r->status = atoi(r->head + 9);
    r->body = malloc(b.len + 1);
    if (b.len)
      memcpy(r->body, b.data, b.len);
    r->body[b.len] = '\0';
    r->body_len = b.len;
    egw_buf_free(&b);
    egw_buf_consume(&f->out, used ? head_len + used : f->out.len);
    return 1;
  }
  if (f->out.len < head_len + body_len) {
    if (!closed)
      return 0;
    r->truncated = 1;
    body_len = f->out.len - head_len;
  }
  r->status = atoi(r->head + 9);
  r->body = malloc(body_len + 1);
  memcpy(r->body, f->out.data + head_len, body_len);
  r->body[body_len] = '\0';
  r->body_len = body_len;
  egw_buf_consume(&f->out, head_len + body_len);
  return 1;
}

/* fx_read runs the loop until a complete response was sent and takes it. */
static inline void fx_read(struct eas_fx *f, struct fx_resp *r) {
  while (!fx_take(f, r)) {
    int alive = uv_run(&f->loop, UV_RUN_ONCE);
    cr_assert(alive || fx_take(f, r), "the loop ran dry before a response");
    if (!alive)
      return;
  }
}

/* The log so far, NUL-terminated. */
static inline const char *fx_log(struct eas_fx *f) {
  fflush(f->log);
  return f->log_text ? f->log_text : "";
}

#endif
