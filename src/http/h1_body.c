/* Streamed request bodies on HTTP/1.1 framing: for a role that reads the body as it
 * arrives (egw_role_ops.streams_request_body), the exchange is dispatched when the head is
 * complete and the body is parsed only while the role takes it (started, not paused), one
 * slice at a time, so that a pause takes effect within RB_SLICE bytes. What the role does
 * not take stays in the framing's input; the owner stops reading the socket once
 * EGW_H1_STREAM_INPUT_BYTES are kept (egw_h1_input_full), and reads on after cb.wake.
 *
 * The role's callbacks never run inside llhttp: a slice's de-chunked bytes are collected
 * in |body| and handed over after llhttp_execute returned, so a role that finishes the
 * exchange from on_data finds framing in a consistent state. */
#include "http/h1_internal.h"
#include "util/errors.h"

/* The exchange is still the role's and its body is still open. */
static int body_open(const struct egw_h1 *h) {
  return h->rb_active && h->phase == PHASE_BUSY && !h->finished && !h->rb_ended;
}

int egw_exchange_body_pending(const struct egw_exchange *x) {
  const struct egw_h1 *h = x->h1;
  return body_open(h) && !h->rb_started;
}

int egw_exchange_body_start(struct egw_exchange *x,
                            void (*on_data)(void *arg, const uint8_t *data, size_t len),
                            void (*on_end)(void *arg, enum egw_body_status status), void *arg) {
  struct egw_h1 *h = x->h1;
  if (!egw_exchange_body_pending(x) || on_data == NULL || on_end == NULL)
    return -1;
  x->on_body_data = on_data;
  x->on_body_end = on_end;
  x->body_arg = arg;
  h->rb_started = 1;
  if (h->rb_continue) {
    h->rb_continue = 0;
    egw__h1_send_continue(h);
  }
  if (h->cb.wake)
    h->cb.wake(h->owner);
  return 0;
}

void egw_exchange_body_pause(struct egw_exchange *x) { x->h1->rb_paused = 1; }

void egw_exchange_body_resume(struct egw_exchange *x) {
  struct egw_h1 *h = x->h1;
  if (!h->rb_paused)
    return;
  h->rb_paused = 0;
  if (body_open(h) && h->cb.wake)
    h->cb.wake(h->owner);
}

int egw_h1_input_full(const struct egw_h1 *h) {
  if (!h->rb_active || h->rb_complete || h->phase != PHASE_BUSY)
    return 0;
  return h->in.len >= EGW_H1_STREAM_INPUT_BYTES;
}

void egw__h1_body_failed(struct egw_h1 *h, int status) {
  struct egw_exchange *x = &h->x;
  h->rb_ended = 1;
  h->close_after = 1;
  h->input_dropped = 1; /* what follows is not read any more */
  egw_buf_free(&h->in);
  h->body.len = 0;
  if (x->on_body_end)
    x->on_body_end(x->body_arg, status == 413 ? EGW_BODY_TOO_LARGE : EGW_BODY_MALFORMED);
}

int egw__h1_body_step(struct egw_h1 *h) {
  struct egw_exchange *x = &h->x;
  if (!body_open(h) || !h->rb_started || h->rb_paused)
    return 0;
  if (h->rb_complete) {
    /* Every byte went to the role: the exchange now waits like a buffered one, and
     * later (pipelined) input stays in |in|. */
    h->rb_ended = 1;
    h->rb_active = 0;
    x->on_body_end(x->body_arg, EGW_BODY_COMPLETE);
    return 1; /* the role may have finished: process() looks at the next request */
  }
  if (h->in.len == 0)
    return 0;
  size_t n = h->in.len < RB_SLICE ? h->in.len : RB_SLICE;
  h->exec_base = (const char *)h->in.data;
  h->body.len = 0;
  llhttp_errno_t err = llhttp_execute(&h->parser, h->exec_base, n);
  size_t used = n;
  if (err == HPE_PAUSED && h->rb_complete) {
    used = (size_t)(llhttp_get_error_pos(&h->parser) - h->exec_base);
  } else if (err != HPE_OK) {
    const char *detail;
    int status = egw__h1_fail_status(h, err, &detail);
    egw__h1_body_failed(h, status == 413 ? 413 : 400);
    return 0;
  }
  egw_buf_consume(&h->in, used);
  if (h->body.len > 0) {
    h->rb_total += h->body.len;
    x->on_body_data(x->body_arg, h->body.data, h->body.len);
  }
  return 1;
}
