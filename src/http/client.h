/* An HTTP client on the loop, for the gateway's outbound calls (AUSF, NEF, AAnF, a peer
 * ECS, an EES) and, in plain HTTP, for the application behind an EAS sidecar.
 *
 * One client per loop and per TLS identity. Every call runs on the loop thread and never
 * blocks it: names are resolved with uv_getaddrinfo, TLS runs over memory BIOs fed by
 * uv_read, and each call has one deadline that covers resolution, connect, handshake and
 * the whole response. Connections are kept alive and pooled per origin (scheme, host and
 * port).
 *
 * https:// URLs are the rule, and the server is always verified: its chain against the
 * configured trust store, its name against the URL's host (DNS name or IP address).
 * http:// URLs are refused unless the client was created with allow_plain_http: a
 * connection's transport (TLS, or plain bytes) is chosen once, from its URL's scheme.
 *
 * The completion callback of a call fires exactly once, on the loop thread, and never from
 * inside egw_http_client_request. Request bodies and header values (Authorization carries
 * tokens) are never logged. */
#ifndef EGW_HTTP_CLIENT_H
#define EGW_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <uv.h>

#include "edgegw/http.h"

/* Defaults applied to a zero field of egw_http_client_config. */
#define EGW_HTTP_CLIENT_DEFAULT_TIMEOUT_MS 5000
#define EGW_HTTP_CLIENT_DEFAULT_MAX_BODY_BYTES (1024 * 1024)
#define EGW_HTTP_CLIENT_DEFAULT_MAX_IDLE_PER_ORIGIN 4
#define EGW_HTTP_CLIENT_DEFAULT_IDLE_MS 30000

/* egw_http_client_config configures a client. Zero fields take the defaults above. */
struct egw_http_client_config {
  /* trust is the store servers are verified against (required, unless allow_plain_http
   * is set: a client without one refuses https:// URLs). The client takes its own
   * reference; the caller keeps its own. */
  X509_STORE *trust;
  /* allow_plain_http, when non-zero, lets requests go to http:// URLs, in the clear and
   * to a server nobody verified. Only for an application on the same host (the EAS
   * sidecar's upstream); every other caller leaves it zero. */
  int allow_plain_http;
  /* client_cert_file (a PEM chain, leaf first) and client_key_file (PEM) are the
   * certificate presented to servers that ask for one (mutual TLS). Both or neither,
   * and only with a trust store. */
  const char *client_cert_file;
  const char *client_key_file;
  /* timeout_ms bounds one call from egw_http_client_request to its completion:
   * resolution, connect, TLS handshake, sending, and the whole response. */
  uint32_t timeout_ms;
  /* max_body_bytes bounds a response body (after de-chunking). */
  size_t max_body_bytes;
  /* max_idle_per_origin is how many idle connections are kept per origin. */
  uint32_t max_idle_per_origin;
  /* idle_ms is how long an idle connection is kept before it is closed. */
  uint32_t idle_ms;
};

/* egw_http_client_stream lets a call take its response as it arrives instead of
 * buffered (a proxy passing on a large or slow body): the head first, then the body in
 * pieces, and the completion last. Both callbacks get the call's |arg|, run on the loop
 * thread, and answer 0 to go on or non-zero to stop the call, which then completes with
 * EGW_HTTP_CLIENT_CANCELLED ("cancelled"). They must not cancel the call or free the
 * client themselves; they may pause and resume it (egw_http_call_pause). The body of a
 * streamed response is not bounded by max_body_bytes, and the call's deadline covers the
 * head only: after it, timeout_ms bounds the time between two pieces of the body. */
struct egw_http_client_response;

struct egw_http_client_stream {
  /* on_head: the final response's head: result OK, status and headers (valid during the
   * callback only), no body. */
  int (*on_head)(void *arg, const struct egw_http_client_response *head);
  /* on_data: |len| bytes of the body, de-chunked, valid during the callback only. */
  int (*on_data)(void *arg, const uint8_t *data, size_t len);
};

/* egw_http_client_request is one request. Everything is borrowed for the duration of
 * egw_http_client_request only: the request is serialized before it returns. */
struct egw_http_client_request {
  /* method is an HTTP token: "GET", "POST", ... */
  const char *method;
  /* url is https://host[:port][/path][?query] (or http://, see allow_plain_http). The
   * host is a DNS name, an IPv4 address or a bracketed IPv6 address; the port defaults
   * to 443 (80 for http); a fragment is dropped. */
  const char *url;
  /* headers are sent as given, after Host. A zero name_len or value_len means the
   * string is NUL-terminated. Host, Content-Length, Transfer-Encoding and Connection
   * are the client's and are dropped from here. */
  const struct egw_header *headers;
  size_t n_headers;
  /* body, of body_len bytes, is sent with Content-Length (also for an empty body when
   * the method is POST, PUT or PATCH). NULL when body_len is 0. */
  const void *body;
  size_t body_len;
  /* borrow_body, when non-zero, makes the client send |body| from where it is instead
   * of copying it: it must then stay valid and unchanged until the completion fires (a
   * proxy passing on a large body it keeps anyway). */
  int borrow_body;
  /* content_type, when not NULL, is sent as Content-Type. */
  const char *content_type;
  /* head, when not NULL, is the request line and header fields exactly as they go on
   * the wire, ending with the empty line, head_len bytes: a proxy's request, which it
   * built from one it parsed and checked itself. The client then writes nothing of its
   * own (no Host, no Content-Length: the head must frame |body|); headers and
   * content_type must be empty, the head must start with |method| and a space, and the
   * URL only names the origin (its path and query are not used). */
  const char *head;
  size_t head_len;
  /* stream, when not NULL, delivers the response as it arrives (see
   * egw_http_client_stream); the table must outlive the call. The completion then carries
   * no body. */
  const struct egw_http_client_stream *stream;
  /* body_stream, when non-zero, says the body is not given here but follows the head as
   * the caller produces it: egw_http_call_write for each piece, egw_http_call_end_body
   * once (a proxy passing on a body as it arrives). Only with |head|, which frames the
   * body (Content-Length, or Transfer-Encoding: chunked with body_chunked), and with no
   * |body|. Such a call is never retried: its body is gone once written. */
  int body_stream;
  /* body_chunked: with body_stream, the client sends each piece as one chunk and ends
   * the body with the last chunk. */
  int body_chunked;
  /* on_body_drain: with body_stream, runs with the call's |arg| after
   * egw_http_call_write answered EGW_HTTP_BODY_FULL, once what is queued for the server
   * fell to EGW_HTTP_CLIENT_BODY_LOW_WATER; from a callback of the connection, never from
   * inside a call of this API. May be NULL. */
  void (*on_body_drain)(void *arg);
};

/* Bytes of a streamed request body queued for the server (not yet written to the
 * socket) above which egw_http_call_write answers EGW_HTTP_BODY_FULL, and the level at
 * which on_body_drain runs. */
#define EGW_HTTP_CLIENT_BODY_HIGH_WATER (256u * 1024)
#define EGW_HTTP_CLIENT_BODY_LOW_WATER (64u * 1024)

/* egw_http_client_result says how a call ended. */
enum egw_http_client_result {
  EGW_HTTP_CLIENT_OK = 0,      /* a complete final response */
  EGW_HTTP_CLIENT_CANCELLED,   /* egw_http_call_cancel, egw_http_client_free */
  EGW_HTTP_CLIENT_TIMEOUT,     /* the deadline passed first */
  EGW_HTTP_CLIENT_UNREACHABLE, /* name resolution failed; connection refused or failed */
  EGW_HTTP_CLIENT_CLOSED,      /* closed or reset before the response was complete */
  EGW_HTTP_CLIENT_TLS,         /* handshake or verification failed, or TLS broke later */
  EGW_HTTP_CLIENT_MALFORMED,   /* not a well-framed HTTP/1.x response */
  EGW_HTTP_CLIENT_TOO_LARGE,   /* head, header count or body over the bounds */
  EGW_HTTP_CLIENT_NOMEM,       /* out of memory */
};

/* egw_http_client_response is what a call ended with. It and everything it points to
 * belong to the client and are valid only during the completion callback. */
struct egw_http_client_response {
  /* result is EGW_HTTP_CLIENT_OK when a complete final response arrived. */
  enum egw_http_client_result result;
  /* status is the final status code (1xx responses are skipped), or 0 when the call
   * failed before a complete response arrived. */
  int status;
  /* error is NULL on success (status != 0), else why the call failed, for logs:
   * "timeout", "cancelled", "connection refused", "connection failed", "connection
   * closed" (before any byte of the response; on a kept-alive connection, also when
   * reset then), "connection reset" (likewise, or while sending), "connection closed
   * mid-response" (closed or reset), "name resolution failed", "certificate
   * verify failed: <reason>", "TLS handshake failed", "TLS failure" (after the
   * handshake, such as an alert from a server that refused our certificate), "response
   * too large", "malformed response", "out of memory". */
  const char *error;
  /* headers of the final response, in the order received (a repeated name repeats);
   * names lower-cased, values trimmed; both NUL-terminated besides their lengths. */
  const struct egw_header *headers;
  size_t n_headers;
  /* body is the de-chunked body, NUL-terminated for convenience (the NUL is not counted
   * in body_len); NULL when empty. */
  const uint8_t *body;
  size_t body_len;
};

/* egw_http_client_response_header returns the value of the first header named |name|
 * (give it in lower case) and its length in |*out_len|, or NULL when there is none. */
const char *egw_http_client_response_header(const struct egw_http_client_response *r,
                                            const char *name, size_t *out_len);

/* egw_http_client_response_is_json says whether the response's Content-Type is
 * application/json (parameters allowed): an answer is only parsed as JSON when the
 * peer says it is. */
int egw_http_client_response_is_json(const struct egw_http_client_response *r);

/* egw_http_client_done_fn is a call's completion callback. It may start new requests,
 * cancel other calls, or free the client. */
typedef void (*egw_http_client_done_fn)(void *arg, const struct egw_http_client_response *resp);

struct egw_http_client;
struct egw_http_call;

/* egw_http_client_new creates a client on |loop| (borrowed; it must outlive the client's
 * handles, see egw_http_client_free). On error returns NULL and sets *out_err, when
 * |out_err| is not NULL, to a malloc'd message ("client_key_file: path: reason"). */
struct egw_http_client *
egw_http_client_new(uv_loop_t *loop, const struct egw_http_client_config *cfg, char **out_err);

/* egw_http_client_free cancels every call in flight (each completion fires, with
 * "cancelled", before this returns), then closes every connection. It accepts NULL. The
 * handles it closes finish closing in the next loop iteration: after it, uv_run returns
 * once the rest of the caller's handles are closed and uv_loop_close succeeds. Called
 * again from a completion it fires, it does nothing; a request started there is refused
 * with UV_ECANCELED. */
void egw_http_client_free(struct egw_http_client *c);

/* egw_http_client_shutdown refuses new calls from now on (UV_ECANCELED) and closes the
 * idle connections; calls in flight run to their end, and their connections are closed
 * after them. For a server that stops: once they are done, nothing of |c| keeps the
 * loop alive. Accepts NULL. */
void egw_http_client_shutdown(struct egw_http_client *c);

/* egw_http_client_request starts |req| on |c|. On success returns 0, and |done| fires
 * exactly once later on the loop thread with |arg|; when |out_call| is not NULL it
 * receives the call, which stays valid until |done| starts. On failure returns a
 * negative code and |done| never fires: UV_EINVAL for a URL that is not https:// (nor
 * http:// on a client that allows it) or is malformed, a method that is not a token, a
 * header with CR, LF or NUL, or a head that breaks the rules above; UV_ECANCELED after
 * egw_http_client_shutdown or while the client is being freed; EGW_ERR_NOMEM; or a
 * libuv code. A call that finds an idle connection to its origin uses it; if that
 * connection turns out to be closed before any byte of the response, an idempotent
 * request (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) is retried once on a fresh
 * connection, others fail with "connection closed". A connection goes back to the pool
 * only when the response allows it and the whole request was written (a server that
 * answers before reading all of it leaves the rest of it unread). */
int egw_http_client_request(struct egw_http_client *c, const struct egw_http_client_request *req,
                            egw_http_client_done_fn done, void *arg,
                            struct egw_http_call **out_call);

/* egw_http_body_write says what egw_http_call_write and _end_body did. */
enum egw_http_body_write {
  /* EGW_HTTP_BODY_OK: taken; more may follow. */
  EGW_HTTP_BODY_OK = 0,
  /* EGW_HTTP_BODY_FULL: taken, but over EGW_HTTP_CLIENT_BODY_HIGH_WATER is queued: wait
   * for on_body_drain before writing more. */
  EGW_HTTP_BODY_FULL,
  /* EGW_HTTP_BODY_CLOSED: not taken: the call has no streamed body, it ended already, or
   * the connection failed (the completion tells how the call ended). */
  EGW_HTTP_BODY_CLOSED,
};

/* egw_http_call_write sends |len| bytes (copied) of |call|'s streamed body (see
 * body_stream), queued until the connection is ready. Until the response head arrived,
 * each write restarts the call's deadline (a slow client's body is not a slow server). */
enum egw_http_body_write egw_http_call_write(struct egw_http_call *call, const void *data,
                                             size_t len);

/* egw_http_call_end_body ends |call|'s streamed body (with the last chunk when chunked).
 * A body that ends short of the Content-Length in the head leaves the server waiting:
 * cancel the call instead. */
enum egw_http_body_write egw_http_call_end_body(struct egw_http_call *call);

/* egw_http_call_cancel ends |call|: its completion fires before this returns, with
 * status 0 and error "cancelled", and its connection is closed (a response cut short
 * cannot be reused). |call| is invalid afterwards. It must not be called once the
 * completion has started. */
void egw_http_call_cancel(struct egw_http_call *call);

/* egw_http_call_pause stops reading the response of a streamed |call| (the consumer
 * cannot take more): what was already read is still delivered, then nothing until
 * egw_http_call_resume. The deadline keeps running. Both may be called from the stream
 * callbacks; calling either twice is harmless. */
void egw_http_call_pause(struct egw_http_call *call);
void egw_http_call_resume(struct egw_http_call *call);

#endif
