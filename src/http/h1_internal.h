/* Private to the HTTP/1.1 server framing: the framing state, shared by the parser and
 * exchanges (h1.c), response heads and streamed responses (h1_stream.c) and streamed
 * request bodies (h1_body.c). */
#ifndef EGW_HTTP_H1_INTERNAL_H
#define EGW_HTTP_H1_INTERNAL_H

#include <llhttp.h>
#include <stdint.h>

#include "http/exchange.h"
#include "http/h1.h"
#include "http/internal.h"
#include "util/buf.h"

/* More headers than this is an attack or a bug: 431. */
#define MAX_HEADERS 100
/* While a role holds an exchange, pipelined input is kept up to one more request of
 * the maximum size plus this; beyond it, the connection closes after the response. */
#define INPUT_SLACK 16384
/* Buffers that grew past this are released between requests. */
#define KEEP_BUF_BYTES 65536

enum phase { PHASE_IDLE, PHASE_HEAD, PHASE_BODY, PHASE_BUSY, PHASE_CLOSING };

struct egw_h1 {
  llhttp_t parser;
  struct egw_h1_limits limits;
  struct egw_h1_callbacks cb;
  void *owner;
  const struct egw_peer *peer;
  const char *interface_name;
  struct egw_exchange x;
  struct egw_buf in;   /* input not parsed yet (pipelined requests while busy) */
  struct egw_buf tok;  /* the URL, header name or value being collected */
  struct egw_buf body; /* the de-chunked body of the current request */
  struct egw_buf out;  /* the serialized response */
  enum phase phase;
  /* The current request. */
  size_t head_bytes;     /* bytes of the head consumed by earlier llhttp_execute calls */
  size_t trailer_bytes;  /* trailer fields of a chunked body */
  const char *exec_base; /* start of the data given to the running llhttp_execute */
  int fold_carry;        /* the previous execute ended with a line break */
  struct egw_header *hdrs;
  size_t n_hdrs, cap_hdrs;
  const char *name; /* lower-cased name of the header whose value is being read */
  size_t name_len;
  int err_status; /* set by a callback that rejects the request */
  const char *err_detail;
  int keep_alive;
  int keep_alive_10; /* HTTP/1.0 with Connection: keep-alive */
  int is_head;
  int finished; /* egw_exchange_finish was called */
  /* The connection. */
  int processing;  /* process() is running */
  int close_after; /* Connection: close on the next response */
  int input_dropped;
  uint32_t served;
  struct egw__date_cache date;
  /* A streamed response (h1_stream.c): its head was sent, its body is open. */
  int streaming;
  int http11;         /* the request was HTTP/1.1: an unknown length goes chunked */
  int stream_chunked; /* the body goes in chunks */
  int stream_nobody;  /* HEAD, 204, 304, or a head that failed: body bytes are dropped */
  int stream_close;   /* the connection closes after it */
  int stream_failed;  /* a send failed: nothing more goes out */
  int stream_counted; /* a GIVEN length: stream_left counts it down */
  uint64_t stream_left;
  int drain_wanted; /* a write answered EGW_STREAM_FULL */
  /* A streamed request body (h1_body.c). */
  int rb_active;   /* the body of the current request streams to its role */
  int rb_started;  /* egw_exchange_body_start was called */
  int rb_paused;   /* egw_exchange_body_pause */
  int rb_complete; /* the whole body was parsed */
  int rb_ended;    /* on_end was called */
  int rb_continue; /* Expect: 100-continue waits for egw_exchange_body_start */
  uint64_t rb_total;
};

/* Bytes of input parsed at a time for a streamed request body, so that a pause takes
 * effect soon. */
#define RB_SLICE 16384

/* egw__h1_body_step parses one slice of a streamed request body and hands it to the
 * role; returns 1 when it made progress (call again), 0 when it must wait. Runs inside
 * process(). */
int egw__h1_body_step(struct egw_h1 *h);

/* egw__h1_body_failed ends a streamed request body on a framing error (|status| 413 or
 * 400): no more input is read, the connection closes after the response, the role's
 * on_end learns why. */
void egw__h1_body_failed(struct egw_h1 *h, int status);

/* egw__h1_send_continue sends the interim 100 Continue. */
void egw__h1_send_continue(struct egw_h1 *h);

/* egw__h1_fail_status maps a parse error of the current request to the status it is
 * answered with (the reason a callback gave, else from |err|). */
int egw__h1_fail_status(struct egw_h1 *h, llhttp_errno_t err, const char **out_detail);

/* egw__h1_wants_close says whether the response in progress must close the connection
 * (no keep-alive, draining, or the last request allowed). */
int egw__h1_wants_close(const struct egw_h1 *h);

/* egw__h1_send_head serializes |resp| (a complete response, or with |stream| the head of
 * a streamed one, |chunked| or not) and sends it; counts it as served. On a serialization
 * failure sends a bare 500 instead and sets *out_fallback. Returns 0 or the send error. */
int egw__h1_send_head(struct egw_h1 *h, const struct egw_response *resp, int close, int stream,
                      int chunked, int *out_fallback);

/* egw__h1_end_exchange forgets the exchange whose response went out, then closes (moves
 * to CLOSING) when |close|, else reads the next request. */
void egw__h1_end_exchange(struct egw_h1 *h, int close);

/* egw__h1_release_big empties |b|, freeing its memory when it grew large. */
void egw__h1_release_big(struct egw_buf *b);

#endif
