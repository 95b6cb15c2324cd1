/* Streamed responses on HTTP/1.1 framing: the head goes out at egw_exchange_stream_begin,
 * the body as the role writes it, delimited by what the role knows: a Content-Length it
 * gave, else chunks (HTTP/1.1) or the close of the connection (HTTP/1.0). Roles never see
 * the chunking: the exchange API is the same for a future HTTP/2 framing.
 *
 * Backpressure is the connection's: framing asks it how much is queued (cb.queued) after
 * each write and answers EGW_STREAM_FULL over EGW_STREAM_HIGH_WATER; the connection calls
 * egw_h1_drained from its write completions, which runs the role's drain callback. */
#include <stdio.h>
#include <time.h>

#include "http/h1_internal.h"
#include "util/errors.h"
#include "util/metrics.h"

/* ---- response heads (also of the whole responses of h1.c) ----------------------- */

static const char fallback_500[] = "HTTP/1.1 500 Internal Server Error\r\nServer: edgegw\r\n"
                                   "Content-Length: 0\r\nConnection: close\r\n\r\n";

void egw__h1_release_big(struct egw_buf *b) {
  if (b->cap > KEEP_BUF_BYTES)
    egw_buf_free(b);
  else
    b->len = 0;
}

int egw__h1_send_head(struct egw_h1 *h, const struct egw_response *resp, int close, int stream,
                      int chunked, int *out_fallback) {
  struct egw__h1_framing f = {
      .date = egw__http_date(&h->date, time(NULL)),
      .head = h->is_head,
      .close = close,
      .keep_alive_10 = h->keep_alive_10,
      .stream = stream,
      .chunked = chunked,
  };
  h->out.len = 0;
  int rc;
  *out_fallback = 0;
  if (egw__h1_serialize(&h->out, resp, &f) == 0) {
    rc = h->cb.send(h->owner, h->out.data, h->out.len);
  } else {
    *out_fallback = 1;
    rc = h->cb.send(h->owner, (const uint8_t *)fallback_500, sizeof(fallback_500) - 1);
  }
  egw__h1_release_big(&h->out);
  egw_metrics_http_request(h->interface_name, h->x.owner_data, resp->status);
  h->served++;
  return rc;
}

/* ---- streamed bodies -------------------------------------------------------------- */

static const char last_chunk[] = "0\r\n\r\n";

/* An exchange that is streaming and still the role's. */
static struct egw_h1 *open_stream(struct egw_exchange *x) {
  struct egw_h1 *h = x->h1;
  if (h->phase != PHASE_BUSY || h->finished || !h->streaming)
    return NULL;
  return h;
}

static enum egw_stream_status queue_status(struct egw_h1 *h) {
  if (h->stream_failed)
    return EGW_STREAM_CLOSED;
  if (h->cb.queued && h->cb.queued(h->owner) > EGW_STREAM_HIGH_WATER) {
    h->drain_wanted = 1;
    return EGW_STREAM_FULL;
  }
  return EGW_STREAM_OK;
}

enum egw_stream_status egw_exchange_stream_begin(struct egw_exchange *x) {
  struct egw_h1 *h = x->h1;
  if (h->phase != PHASE_BUSY || h->finished || h->streaming)
    return EGW_STREAM_CLOSED;
  struct egw_response *resp = &x->resp;
  int invalid = resp->status < 200 || resp->status > 999;
  if (invalid) {
    /* As egw_exchange_finish does; the role's stream stays open (its bytes dropped)
     * until it ends it, so that it never writes into a later exchange. */
    resp->n_headers = 0;
    resp->length = EGW_RESPONSE_LENGTH_BODY;
    if (egw_response_problem(resp, 500, NULL, "the request could not be processed",
                             "SYSTEM_FAILURE") != 0)
      resp->status = 500;
  } else if (resp->length == EGW_RESPONSE_LENGTH_BODY) {
    resp->length = EGW_RESPONSE_LENGTH_UNKNOWN; /* resp->body is not what goes out */
  }
  int nobody = invalid || h->is_head || egw__h1_bodiless(resp->status);
  int close = egw__h1_wants_close(h);
  int chunked = 0;
  if (!nobody && resp->length == EGW_RESPONSE_LENGTH_UNKNOWN) {
    if (h->http11)
      chunked = 1;
    else
      close = 1; /* HTTP/1.0: the end of the body is the end of the connection */
  }
  int fallback;
  int rc = egw__h1_send_head(h, resp, close, !invalid, chunked, &fallback);
  h->streaming = 1;
  h->stream_chunked = chunked;
  h->stream_nobody = nobody || fallback;
  h->stream_close = close || fallback || invalid;
  h->stream_failed = rc != 0;
  h->stream_counted = resp->length == EGW_RESPONSE_LENGTH_GIVEN;
  h->stream_left = resp->content_length;
  h->drain_wanted = 0;
  if (invalid || fallback)
    return EGW_STREAM_CLOSED;
  return queue_status(h);
}

enum egw_stream_status egw_exchange_stream_write(struct egw_exchange *x, const void *data,
                                                 size_t len) {
  struct egw_h1 *h = open_stream(x);
  if (h == NULL || h->stream_failed)
    return EGW_STREAM_CLOSED;
  if (h->stream_counted) {
    if (len > h->stream_left)
      len = (size_t)h->stream_left; /* the role gave the length: nothing past it */
    h->stream_left -= len;
  }
  if (h->stream_nobody || len == 0)
    return queue_status(h);
  int rc;
  if (h->stream_chunked) {
    /* One send per chunk: size line, data and CRLF go out in one TLS record. */
    char size[24];
    int n = snprintf(size, sizeof(size), "%zx\r\n", len);
    h->out.len = 0;
    rc = egw_buf_append(&h->out, size, (size_t)n) || egw_buf_append(&h->out, data, len) ||
                 egw_buf_append(&h->out, "\r\n", 2)
             ? EGW_ERR_NOMEM
             : h->cb.send(h->owner, h->out.data, h->out.len);
    egw__h1_release_big(&h->out);
  } else {
    rc = h->cb.send(h->owner, data, len);
  }
  if (rc != 0) {
    h->stream_failed = 1;
    return EGW_STREAM_CLOSED;
  }
  return queue_status(h);
}

void egw_exchange_stream_set_drain(struct egw_exchange *x, void (*cb)(void *arg), void *arg) {
  x->on_drain = cb;
  x->drain_arg = arg;
}

void egw_h1_drained(struct egw_h1 *h) {
  struct egw_exchange *x = &h->x;
  if (h->phase != PHASE_BUSY || h->finished || !h->streaming || !h->drain_wanted ||
      x->on_drain == NULL)
    return;
  h->drain_wanted = 0;
  x->on_drain(x->drain_arg);
}

void egw_exchange_stream_end(struct egw_exchange *x) {
  struct egw_h1 *h = open_stream(x);
  if (h == NULL)
    return;
  h->finished = 1;
  x->in_role = 0;
  int close = h->stream_close || h->stream_failed || h->close_after;
  if (h->stream_counted && h->stream_left > 0 && !h->stream_nobody)
    close = 1; /* short of the length announced: the client must see it cut */
  else if (h->stream_chunked && !h->stream_failed &&
           h->cb.send(h->owner, (const uint8_t *)last_chunk, sizeof(last_chunk) - 1) != 0)
    close = 1;
  egw__h1_end_exchange(h, close);
}

void egw_exchange_stream_abort(struct egw_exchange *x) {
  struct egw_h1 *h = open_stream(x);
  if (h == NULL)
    return;
  h->finished = 1;
  x->in_role = 0;
  egw__h1_end_exchange(h, 1); /* no last chunk: the body is seen cut short */
}
