/* Private to the HTTP client: its calls and the client itself (client.c), connections,
 * the pool and the plain transport (client_conn.c), the TLS transport (client_tls.c),
 * the request side (client_request.c: URL, checks, serialization) and the response side
 * (client_response.c: the llhttp callbacks that collect one response). */
#ifndef EGW_HTTP_CLIENT_INTERNAL_H
#define EGW_HTTP_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "http/client.h"
#include "util/buf.h"

/* A response head (status line, fields, trailer fields) larger than this is refused. */
#define EGW__CLIENT_MAX_HEAD_BYTES 65536
#define EGW__CLIENT_MAX_HEADERS 100
#define EGW__CLIENT_MAX_HOST 253
/* "https://" host ":" port */
#define EGW__CLIENT_MAX_ORIGIN (EGW__CLIENT_MAX_HOST + 16)
/* Addresses tried, in resolver order, for one connection. */
#define EGW__CLIENT_MAX_ADDRS 8
#define EGW__CLIENT_READ_BUF_BYTES 65536

/* ---- the request (client_request.c) ------------------------------------------------- */

/* egw__client_target is where a request goes. */
struct egw__client_target {
  int tls; /* https:// */
  int host_is_ip;
  uint16_t port;
  char host[EGW__CLIENT_MAX_HOST + 1]; /* no brackets, lower case */
  char origin[EGW__CLIENT_MAX_ORIGIN]; /* "https://host:port": the pool key */
};

/* egw__client_prepare checks |req|, fills |out_target| from its URL (either scheme) and
 * appends to |out| the request as it goes on the wire: the head, then the body unless
 * req->borrow_body. Returns 0, UV_EINVAL or EGW_ERR_NOMEM. */
int egw__client_prepare(const struct egw_http_client_request *req,
                        struct egw__client_target *out_target, struct egw_buf *out);

/* ---- the response (client_response.c) ----------------------------------------------- */

/* Where a response field lives in egw__client_msg.head (offsets: the buffer may move). */
struct egw__client_field {
  size_t name_off, name_len, value_off, value_len;
};

/* egw__client_msg is the response being read for one call on one connection. The
 * parser's data pointer is the message; egw__client_msg_start readies it for a new
 * connection. */
struct egw__client_msg {
  struct egw_http_call *call;                  /* the call it belongs to */
  const struct egw_http_client_stream *stream; /* NULL: the body is buffered */
  size_t max_body_bytes;
  int is_head;   /* answering HEAD: no body follows the head */
  int interim;   /* the message being parsed is a 1xx */
  int head_done; /* later header callbacks are trailer fields */
  int in_name;   /* a field name is being collected */
  size_t trailer_bytes;
  int complete;   /* the final response is complete */
  int keep_alive; /* ...and the connection may serve another */
  int status;
  /* Set by a callback that refused the response (the parser then stops). */
  enum egw_http_client_result result;
  const char *error;
  /* The final response's fields (names lower-cased, values trimmed, each NUL-terminated)
   * and its body. */
  struct egw_buf head;
  struct egw__client_field fields[EGW__CLIENT_MAX_HEADERS];
  size_t n_fields;
  struct egw_buf body;
};

/* egw__client_msg_start initializes |parser| to read a response into |m|, forgetting
 * whatever |m| held from a connection tried before. */
void egw__client_msg_start(struct egw__client_msg *m, llhttp_t *parser);

/* egw__client_msg_free releases the buffers of |m|. */
void egw__client_msg_free(struct egw__client_msg *m);

/* ---- calls, connections, transports (client.c, client_conn.c, client_tls.c) -------- */

enum egw__client_conn_state {
  EGW__CLIENT_RESOLVING,
  EGW__CLIENT_CONNECTING,
  EGW__CLIENT_HANDSHAKE,
  EGW__CLIENT_ACTIVE, /* request sent or being sent, response being read */
  EGW__CLIENT_IDLE,   /* in the pool */
};

struct egw__client_sock;
struct egw__client_resolve;
struct egw__client_conn;

/* A connection's transport (after Redis's connection types). Failures are reported with
 * egw__client_conn_lost or egw__client_call_finish, except where a function returns a code. */
struct egw__client_transport {
  /* setup readies a new connection to |t| (TLS: the session and the name to verify);
   * returns 0 or -1 (out of memory). */
  int (*setup)(struct egw__client_conn *conn, const struct egw__client_target *t);
  /* connected runs once the socket is connected and being read: TLS starts its
   * handshake, plain bytes send the request. */
  void (*connected)(struct egw__client_conn *conn);
  /* send writes the current call's request on a ready connection; 0 or a negative code. */
  int (*send)(struct egw__client_conn *conn);
  /* write_more encrypts (TLS) and writes |len| more bytes (copied) of the current call's
   * request after send; 0 or a negative code. */
  int (*write_more)(struct egw__client_conn *conn, const uint8_t *data, size_t len);
  /* received takes |len| bytes read from the socket. */
  void (*received)(struct egw__client_conn *conn, const uint8_t *data, size_t len);
  /* teardown frees what setup made, at close. */
  void (*teardown)(struct egw__client_conn *conn);
};

/* A connection: its socket, its parser, its transport's state; it serves one call at a
 * time and then goes back to the pool or is closed (client_conn.c). */
struct egw__client_conn {
  uv_timer_t timer; /* idle expiry while pooled */
  struct egw_http_client *client;
  const struct egw__client_transport *transport;
  struct egw_http_call *call; /* the call being served, NULL while idle */
  struct egw__client_sock *sock;
  struct egw__client_resolve *resolve;
  SSL *ssl;         /* TLS only */
  BIO *rbio, *wbio; /* owned by |ssl| */
  llhttp_t parser;
  enum egw__client_conn_state state;
  int handles_open;
  int closing;
  int reused;         /* served a call before the current one */
  int writes_pending; /* a response that overtakes its request leaves it unusable */
  size_t queued;      /* bytes handed to uv_write and not yet written */
  struct sockaddr_storage addrs[EGW__CLIENT_MAX_ADDRS];
  size_t n_addrs, next_addr;
  char origin[EGW__CLIENT_MAX_ORIGIN];  /* the pool key */
  struct egw__client_conn *prev, *next; /* the idle list */
};

/* A call: its deadline, its serialized request and the response being read; it borrows
 * a connection while it runs (client.c). */
struct egw_http_call {
  uv_timer_t timer; /* the deadline */
  struct egw_http_client *client;
  egw_http_client_done_fn done;
  void *arg;
  struct egw__client_conn *conn;
  struct egw_http_call *prev, *next; /* the client's calls in flight */
  struct egw_buf req;                /* the serialized request (with the body if copied) */
  const uint8_t *body;               /* a borrowed body, sent after |req| */
  size_t body_len;
  struct egw__client_target target;
  int idempotent;
  int retried;
  int finished;
  int got_bytes; /* any byte of a response arrived on the current connection */
  int paused;    /* egw_http_call_pause: the connection is not read */
  /* A streamed request body (body_stream): pieces written before the head went out are
   * appended to |req|; after it (|sent|), they go to the connection. */
  int body_stream;
  int body_chunked;
  int body_ended;
  int sent;         /* the transport sent |req|: it must not change any more */
  int drain_wanted; /* a write answered EGW_HTTP_BODY_FULL */
  void (*on_body_drain)(void *arg);
  struct egw__client_msg msg;
  char error_buf[160];
};

/* The client: its configuration, the calls in flight and the idle connections. */
struct egw_http_client {
  uv_loop_t *loop;
  SSL_CTX *ssl_ctx; /* NULL: https:// is refused (a plain-HTTP client) */
  int allow_plain_http;
  uint32_t timeout_ms;
  size_t max_body_bytes;
  uint32_t max_idle_per_origin;
  uint32_t idle_ms;
  int shut;    /* no new calls, nothing back into the pool */
  int freeing; /* egw_http_client_free is running */
  struct egw_http_call *calls;
  struct egw__client_conn *idle; /* most recently pooled first */
  struct egw_buf plain;
  char read_buf[EGW__CLIENT_READ_BUF_BYTES];
};

/* egw__client_call_finish ends |call| (its connection, if any, is closed), then runs its
 * completion with |result| and |error| (NULL when OK): last, as it may free the client.
 * A call already finished is left alone. */
void egw__client_call_finish(struct egw_http_call *call, enum egw_http_client_result result,
                             const char *error);

/* egw__client_connect starts |call| on a new connection; with |may_pool|, on an idle one
 * to the same origin when there is one. Returns 0 or a negative code (the call is
 * untouched: no connection attached). */
int egw__client_connect(struct egw_http_call *call, int may_pool);

/* egw__client_conn_close closes |conn| at once; the call it served, if any, must have
 * been detached. */
void egw__client_conn_close(struct egw__client_conn *conn);

/* egw__client_conn_release ends |conn|'s current call: back to the pool when |reuse| and
 * there is room, closed otherwise. */
void egw__client_conn_release(struct egw__client_conn *conn, int reuse);

/* egw__client_conn_lost: |conn| failed or ended before its response was complete; its
 * call is retried (see egw_http_client_request) or finished with |result| and |error|. */
void egw__client_conn_lost(struct egw__client_conn *conn, enum egw_http_client_result result,
                           const char *error);

/* egw__client_conn_failed: opening |conn| or sending on it failed with |code|. */
void egw__client_conn_failed(struct egw__client_conn *conn, int code);

/* egw__client_conn_write writes |bufs|; |owned| (may be NULL) is freed once written.
 * Returns 0 or a negative code (|owned| is freed then too). */
int egw__client_conn_write(struct egw__client_conn *conn, const uv_buf_t *bufs, unsigned n,
                           uint8_t *owned);

/* egw__client_deliver takes the response bytes a transport read (plaintext), and whether
 * the stream ended cleanly (|eof|) or broke (|failed|) after them. */
void egw__client_deliver(struct egw__client_conn *conn, const uint8_t *data, size_t len, int eof,
                         int failed);

/* egw__client_call_progress restarts |call|'s deadline: a streamed body arrived. */
void egw__client_call_progress(struct egw_http_call *call);

/* egw__client_call_head hands the head of a streamed response to |call|'s on_head;
 * returns its answer. */
int egw__client_call_head(struct egw_http_call *call);

/* egw__client_conn_drained: |conn|'s write queue went down; a streamed request body
 * waiting for it runs its on_body_drain. */
void egw__client_conn_drained(struct egw__client_conn *conn);

/* egw__client_tls_transport runs a connection over TLS (client_tls.c). */
extern const struct egw__client_transport egw__client_tls_transport;

/* egw__client_ssl_ctx_new builds the TLS side of a client from |cfg| (trust store, client
 * certificate); NULL and *out_err (malloc'd) on failure. */
SSL_CTX *egw__client_ssl_ctx_new(const struct egw_http_client_config *cfg, char **out_err);

#endif
