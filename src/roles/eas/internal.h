/* Private to the EAS role: its state, the client for the upstream application
 * (upstream.c: the loop's HTTP client, in plain HTTP), the translation between the client's
 * exchange and the upstream call (proxy.c, headers.c) and the registration at an EES over EDGE-3
 * (registration.c). */
#ifndef EGW_ROLES_EAS_INTERNAL_H
#define EGW_ROLES_EAS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/policy.h"
#include "edgegw/http.h"
#include "edgegw/role.h"
#include "util/buf.h"

struct egw_site;
struct egw__eas_upstream;
struct egw__eas_registration;

/* Defaults for policy fields left at zero (a hand-built policy in tests). */
#define EGW_EAS_DEFAULT_IDENTITY_HEADER "x-eec-id"
#define EGW_EAS_DEFAULT_TIMEOUT_MS 30000
#define EGW_EAS_DEFAULT_REGISTRATION_TTL_S 3600
/* The least a buffered upstream answer (a call without on_head) may grow to; a listener
 * that accepts larger request bodies raises it to its own body_bytes. The proxy streams,
 * so its answers have no such bound (memory is bounded by EGW_STREAM_HIGH_WATER). */
#define EGW_EAS_MIN_RESPONSE_BYTES (8u * 1024 * 1024)

/* The role's state: one per site, shared by every listener that mounts "eas". */
struct eas {
  struct egw_site *site;
  const struct egw_eas_policy *policy;
  const char *identity_header; /* lower case */
  struct sockaddr_storage upstream_addr;
  char upstream_authority[64]; /* "127.0.0.1:8480", "[::1]:8480": Host when none came */
  uint32_t timeout_ms;
  size_t max_response_bytes;
  uv_loop_t *loop;                    /* from start */
  struct egw__eas_upstream *upstream; /* from start to dispose */
  struct egw__eas_registration *reg;  /* from start to stop; NULL without ees_url */
  int stopped;                        /* stop ran: new requests get 503 */
};

/* ---- the upstream request (headers.c) ----------------------------------------------- */

enum egw__eas_build_result {
  EGW_EAS_BUILD_OK = 0,
  /* The token's eecId (or sub) cannot travel as a header value (control characters). */
  EGW_EAS_BUILD_BAD_IDENTITY,
  EGW_EAS_BUILD_NOMEM,
};

/* egw__eas_build_request appends to |out| the request head the upstream receives for
 * |req|: the same method and target; the client's header fields except the hop-by-hop
 * ones (Connection and the fields it names, Keep-Alive, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade), Authorization, Expect, Content-Length and any copy of
 * the identity header, X-Forwarded-For or X-Forwarded-Proto; Host when the client sent
 * none; the identity header set to the token's eecId (else its sub; absent without a
 * token); X-Forwarded-For (the client's address) and X-Forwarded-Proto: https; and
 * Content-Length for a body (and for POST, PUT, PATCH). The body itself is not added. */
enum egw__eas_build_result
egw__eas_build_request(const struct eas *eas, const struct egw_request *req, struct egw_buf *out);

/* egw__eas_build_request_streamed is egw__eas_build_request for a request whose body
 * streams (egw_exchange_body_pending): the framing is the client's Content-Length when
 * it gave one, else Transfer-Encoding: chunked (the upstream client chunks the pieces). */
enum egw__eas_build_result egw__eas_build_request_streamed(const struct eas *eas,
                                                           const struct egw_request *req,
                                                           struct egw_buf *out);

/* egw__eas_copy_response_fields adds to |resp| the upstream's response fields |hs| (|n|
 * of them, NUL-terminated names and values) that go back to the client: all but the
 * hop-by-hop ones (as above, and those the response's own Connection names) and those
 * framing sets itself (Content-Length, Date, Server). Returns 0 or EGW_ERR_NOMEM. */
int egw__eas_copy_response_fields(const struct egw_header *hs, size_t n, struct egw_response *resp);

/* ---- the upstream client (upstream.c) ----------------------------------------------- */

/* A thin layer over http/client.h (created with allow_plain_http): the proxy's own head
 * and a borrowed body go out as they are, and the client's outcomes fold into the few
 * below, which the proxy answers differently. */

/* Idle connections kept to the upstream, and for how long. Short enough to leave an idle
 * connection before a typical application server does (Node.js: 5 s). */
#define EGW_EAS_UPSTREAM_MAX_IDLE 16
#define EGW_EAS_UPSTREAM_IDLE_MS 4000

/* How a call ended. */
enum egw__eas_upstream_result {
  EGW_EAS_UP_OK = 0,      /* a complete response */
  EGW_EAS_UP_UNAVAILABLE, /* refused, reset, or closed before the response was complete */
  EGW_EAS_UP_TIMEOUT,     /* the deadline passed first */
  EGW_EAS_UP_MALFORMED,   /* not a well-framed HTTP/1.x response */
  EGW_EAS_UP_TOO_LARGE,   /* head or body over the bounds */
  EGW_EAS_UP_NOMEM,
  EGW_EAS_UP_CANCELLED, /* egw__eas_call_cancel or egw__eas_upstream_free */
};

/* egw__eas_upstream_config: |addr| is where the application listens; a call has
 * |timeout_ms| from its start to its complete response; bodies over |max_body_bytes| are
 * refused; |max_idle| connections are kept |idle_ms| (zero: the defaults above). */
struct egw__eas_upstream_config {
  struct sockaddr_storage addr;
  uint32_t timeout_ms;
  size_t max_body_bytes;
  uint32_t max_idle;
  uint32_t idle_ms;
};

struct egw__eas_upstream_response;

/* A streamed answer (on_head set in the request): the head as soon as it arrives (result
 * OK, status, headers; valid during the callback only), then the body in pieces, then
 * the completion (without a body). Both answer 0 to go on, non-zero to stop the call
 * (its completion then says EGW_EAS_UP_CANCELLED); neither may cancel the call. The body
 * is not bounded by max_body_bytes, and after the head timeout_ms bounds the gaps in it. */
typedef int (*egw__eas_upstream_head_fn)(void *arg, const struct egw__eas_upstream_response *head);
typedef int (*egw__eas_upstream_data_fn)(void *arg, const uint8_t *data, size_t len);

/* egw__eas_upstream_request is one call. |head| is the serialized request line and
 * header fields (see egw__eas_build_request); |body| is borrowed until the completion
 * fires (the exchange keeps it). |method| decides idempotency and HEAD framing.
 * |on_head| and |on_data| (both or neither) stream the answer; without them it is
 * buffered. */
struct egw__eas_upstream_request {
  const char *method;
  struct egw_buf *head;
  const uint8_t *body;
  size_t body_len;
  egw__eas_upstream_head_fn on_head;
  egw__eas_upstream_data_fn on_data;
  /* body_stream: the body follows with egw__eas_call_write and _end_body (|body| is
   * empty), chunked when |body_chunked| (the head says so); on_body_drain runs after a
   * write answered EGW_HTTP_BODY_FULL, once the upstream took enough. */
  int body_stream;
  int body_chunked;
  void (*on_body_drain)(void *arg);
};

/* egw__eas_upstream_response is what a call ended with; it and everything it points to
 * belong to the client and live during the completion only. */
struct egw__eas_upstream_response {
  enum egw__eas_upstream_result result;
  const char *reason; /* static text for logs: "connection refused", ...; NULL when OK */
  int status;         /* the final status (1xx skipped); 0 unless OK */
  /* Header fields, names lower-cased, values trimmed; both NUL-terminated. */
  const struct egw_header *headers;
  size_t n_headers;
  const uint8_t *body; /* de-chunked; NULL when empty */
  size_t body_len;
};

typedef void (*egw__eas_upstream_done_fn)(void *arg, const struct egw__eas_upstream_response *resp);

struct egw__eas_call;

/* egw__eas_upstream_new creates a client on |loop|; NULL when out of memory. */
struct egw__eas_upstream *egw__eas_upstream_new(uv_loop_t *loop,
                                                const struct egw__eas_upstream_config *cfg);

/* egw__eas_upstream_call starts |req|. On success returns 0, takes the memory of
 * *req->head (leaving it empty), and |done| fires exactly once later, on the loop
 * thread, never from inside this call; *out_call (when not NULL) stays valid until
 * |done| starts. On failure returns a negative code (UV_ECANCELED after shutdown,
 * EGW_ERR_NOMEM, a libuv code), *req->head stays the caller's and |done| never fires. A
 * call on an idle connection that the upstream closed before answering is retried once
 * on a fresh connection when its method is idempotent. */
int egw__eas_upstream_call(struct egw__eas_upstream *up,
                           const struct egw__eas_upstream_request *req,
                           egw__eas_upstream_done_fn done, void *arg,
                           struct egw__eas_call **out_call);

/* egw__eas_call_cancel ends |call| now: its completion fires before this returns, with
 * EGW_EAS_UP_CANCELLED, and its connection is closed. Not from inside the completion. */
void egw__eas_call_cancel(struct egw__eas_call *call);

/* egw__eas_call_pause stops reading a streamed answer (bytes already read are still
 * delivered); egw__eas_call_resume reads on. Not after the completion started. */
void egw__eas_call_pause(struct egw__eas_call *call);
void egw__eas_call_resume(struct egw__eas_call *call);

/* egw__eas_call_write passes |len| bytes of a streamed request body on (see
 * egw_http_call_write: 0 OK, 1 FULL: wait for on_body_drain, -1 closed); and
 * egw__eas_call_end_body ends it. */
int egw__eas_call_write(struct egw__eas_call *call, const uint8_t *data, size_t len);
int egw__eas_call_end_body(struct egw__eas_call *call);

/* egw__eas_upstream_shutdown refuses new calls and closes the idle connections; calls in
 * flight run to their end, and their connections close after them. */
void egw__eas_upstream_shutdown(struct egw__eas_upstream *up);

/* egw__eas_upstream_free shuts |up| down, cancels the calls still in flight (their
 * completions fire first) and frees it; the handles it closes finish closing on the
 * next loop iteration. NULL is accepted. */
void egw__eas_upstream_free(struct egw__eas_upstream *up);

/* ---- the proxy (proxy.c) ------------------------------------------------------------ */

/* egw__eas_proxy runs one exchange: EGW_AGAIN while the upstream call runs, or EGW_DONE
 * with an error answer (503 while stopping, 403 for an identity that cannot be passed
 * on, 502 when no call could start). */
enum egw_handler_result egw__eas_proxy(struct eas *eas, struct egw_exchange *x);

/* ---- registration at an EES (registration.c) ---------------------------------------- */

/* egw__eas_registration_body returns the EASRegistration JSON text (malloc'd) for
 * |p|, with expTime |now_s| + the registration TTL; NULL when out of memory. */
char *egw__eas_registration_body(const struct egw_eas_policy *p, int64_t now_s);

/* egw__eas_registration_start registers |eas| at policy->ees_url now and keeps the
 * registration renewed (or retried) until stop. Returns NULL and sets *out_err
 * (malloc'd) when the HTTPS client cannot be built (certificate or key files). */
struct egw__eas_registration *egw__eas_registration_start(struct eas *eas, uv_loop_t *loop,
                                                          char **out_err);

/* egw__eas_registration_stop cancels the call in flight and the timer; the memory is
 * freed once the timer's close callback ran. NULL is accepted. */
void egw__eas_registration_stop(struct egw__eas_registration *r);

#endif
