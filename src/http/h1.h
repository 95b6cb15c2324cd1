/* HTTP/1.1 server framing on llhttp: plaintext in, exchanges out, responses serialized
 * back. Knows nothing of sockets, TLS or roles: the connection (core/conn.c) feeds it
 * bytes, receives complete requests through on_request, and sends what it is given
 * through send. Keep-alive, pipelining (one exchange at a time, later requests wait in
 * the input buffer), chunked request bodies, Expect: 100-continue, streamed responses
 * (chunked for HTTP/1.1 when the role gives no length, close-delimited for HTTP/1.0),
 * request bodies streamed to roles that ask for it (cb.streams_body),
 * and the limits below. */
#ifndef EGW_HTTP_H1_H
#define EGW_HTTP_H1_H

#include <stddef.h>
#include <stdint.h>

#include "edgegw/http.h"
#include "edgegw/role.h"

struct egw_h1;

struct egw_h1_limits {
  uint32_t header_bytes;            /* request line + headers; over it: 431 and close */
  uint64_t body_bytes;              /* over it: 413 and close (before reading the body
                                       when Content-Length says so) */
  uint32_t requests_per_connection; /* the last one is answered with Connection: close */
};

struct egw_h1_callbacks {
  /* on_request: a complete request is in |x|. The owner routes it, fills the response
   * and calls egw_exchange_finish(x) now or later (exactly once). */
  void (*on_request)(void *owner, struct egw_exchange *x);
  /* send: plaintext to write to the peer, in order. Returns 0 or a negative code. */
  int (*send)(void *owner, const uint8_t *data, size_t len);
  /* queued: bytes handed to send that the peer has not taken yet (the write queue), for
   * the backpressure of streamed responses. May be NULL (nothing is ever queued). */
  size_t (*queued)(void *owner);
  /* streams_body: the head of a request with a body is complete in |x| (method, path,
   * headers): answers 1 when the owner dispatches it now and its role reads the body as
   * it arrives (egw_exchange_body_start), 0 to read the body whole first. May be NULL. */
  int (*streams_body)(void *owner, struct egw_exchange *x);
  /* wake: a streamed request body may go on (the role started or resumed it): the owner
   * calls egw_h1_pump soon, from a callback of its own (never from inside this one),
   * and reads the socket again if egw_h1_input_full made it stop. NULL without
   * streams_body. */
  void (*wake)(void *owner);
};

/* Input kept for a streamed request body that the role does not take (not started, or
 * paused) above which egw_h1_input_full asks the owner to stop reading the socket. */
#define EGW_H1_STREAM_INPUT_BYTES (64u * 1024)

enum egw_h1_state {
  EGW_H1_IDLE,            /* between requests, nothing buffered: idle timeout applies */
  EGW_H1_READING_HEADERS, /* a request started: header timeout applies */
  EGW_H1_READING_BODY,
  EGW_H1_BUSY,    /* an exchange is with a role */
  EGW_H1_CLOSING, /* everything to send was sent; the owner closes the connection */
};

/* egw_h1_new creates framing for one connection. |peer| and |interface_name| must
 * outlive it (they are copied into every request by reference). NULL when out of
 * memory. */
struct egw_h1 *egw_h1_new(const struct egw_h1_limits *limits, const struct egw_h1_callbacks *cb,
                          void *owner, const struct egw_peer *peer, const char *interface_name);

/* egw_h1_free releases |h|. An exchange still with a role gets its abort callback first
 * (see egw_exchange_set_abort). NULL is accepted. */
void egw_h1_free(struct egw_h1 *h);

/* egw_h1_feed parses |len| bytes. Complete requests are handed to on_request one at a
 * time; bytes of later (pipelined) requests are kept until the current exchange
 * finishes. Malformed input is answered with 400 (431 for oversized headers, 413 for an
 * oversized body, 501 for an unsupported Transfer-Encoding, 417 for an Expect other than
 * 100-continue, 505 for a version other than 1.0 and 1.1) with a ProblemDetails body,
 * and the state becomes EGW_H1_CLOSING. While an exchange is with a role, at most
 * header_bytes + body_bytes + 16 KiB of pipelined input is kept; beyond that the input is
 * dropped and the response in progress closes the connection. Returns the state after
 * the call. */
enum egw_h1_state egw_h1_feed(struct egw_h1 *h, const uint8_t *data, size_t len);

/* egw_h1_state returns the current state. */
enum egw_h1_state egw_h1_state(const struct egw_h1 *h);

/* egw_h1_fail answers |status| with a ProblemDetails body (no exchange needs to be in
 * progress; used for 408 on header timeout and 503 while draining) and moves to
 * EGW_H1_CLOSING. If an exchange is with a role, nothing is sent: the owner must wait. */
void egw_h1_fail(struct egw_h1 *h, int status, const char *title, const char *detail);

/* egw_h1_close_after_current asks for Connection: close on the response in progress (or
 * the next one), then EGW_H1_CLOSING; used when the server drains. */
void egw_h1_close_after_current(struct egw_h1 *h);

/* egw_h1_drained tells framing that the write queue fell to EGW_STREAM_LOW_WATER: a
 * streamed response waiting for it runs its drain callback (egw_exchange_stream_set_drain).
 * The owner calls it from its write completions, outside any framing call. */
void egw_h1_drained(struct egw_h1 *h);

/* egw_h1_input_full says whether the owner should stop reading the peer: a streamed
 * request body waits for its role and enough input is kept (EGW_H1_STREAM_INPUT_BYTES). */
int egw_h1_input_full(const struct egw_h1 *h);

/* egw_h1_pump parses the input kept for a streamed request body that the role started or
 * resumed (after cb.wake), handing it over. Returns the state after the call. */
enum egw_h1_state egw_h1_pump(struct egw_h1 *h);

/* egw_h1_requests_served counts responses sent. */
uint32_t egw_h1_requests_served(const struct egw_h1 *h);

#endif
