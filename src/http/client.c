/* The outbound HTTP client: calls, connections, the keep-alive pool, and the two
 * transports a connection may run (TLS over memory BIOs, or plain bytes).
 *
 * A call (egw_http_call) owns a deadline timer, its serialized request and the response
 * being read; it borrows a connection while it runs. A connection (struct conn) owns its
 * socket, its llhttp parser and, over TLS, its session over two memory BIOs (the same
 * shape as core/conn.c, client side); it serves one call at a time and then goes back to
 * the pool or is closed. The transport is a table chosen once per connection from the
 * URL's scheme; everything above it (pool, retry, parsing, errors) is the same for both.
 *
 * Life cycle, after libuv's rules: memory is freed only in close callbacks, and close
 * callbacks touch nothing but the object they free, so the client itself may be freed
 * while its handles are still closing. A completion callback may free the client or start
 * new calls, so it always runs last: every decision about the connection (pool it, close
 * it) is taken before it, and nothing is touched after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http/client_internal.h"
#include "util/errors.h"
#include "util/format.h"

/* Addresses tried, in resolver order, for one connection. */
#define MAX_ADDRS 8
#define READ_BUF_BYTES 65536

enum conn_state {
  CONN_RESOLVING,
  CONN_CONNECTING,
  CONN_HANDSHAKE,
  CONN_ACTIVE, /* request sent or being sent, response being read */
  CONN_IDLE,   /* in the pool */
};

struct conn;

/* A connection's transport (after Redis's connection types). Failures are reported with
 * conn_lost or call_finish, except where a function returns a code. */
struct transport {
  /* setup readies a new connection to |t| (TLS: the session and the name to verify);
   * returns 0 or -1 (out of memory). */
  int (*setup)(struct conn *conn, const struct egw__client_target *t);
  /* connected runs once the socket is connected and being read: TLS starts its
   * handshake, plain bytes send the request. */
  void (*connected)(struct conn *conn);
  /* send writes the current call's request on a ready connection; 0 or a negative code. */
  int (*send)(struct conn *conn);
  /* received takes |len| bytes read from the socket. */
  void (*received)(struct conn *conn, const uint8_t *data, size_t len);
  /* teardown frees what setup made, at close. */
  void (*teardown)(struct conn *conn);
};

static const struct transport tls_transport, plain_transport;

/* A socket and its connect request: one per address tried, freed in its close callback. */
struct sock {
  uv_tcp_t tcp;
  uv_connect_t connect;
  struct conn *conn;
};

/* A name resolution, detached from its connection (conn == NULL) when that closes first. */
struct resolve {
  uv_getaddrinfo_t req;
  struct conn *conn;
};

struct conn {
  uv_timer_t timer; /* idle expiry while pooled */
  struct egw_http_client *client;
  const struct transport *transport;
  struct egw_http_call *call; /* the call being served, NULL while idle */
  struct sock *sock;
  struct resolve *resolve;
  SSL *ssl;         /* TLS only */
  BIO *rbio, *wbio; /* owned by |ssl| */
  llhttp_t parser;
  enum conn_state state;
  int handles_open;
  int closing;
  int reused;         /* served a call before the current one */
  int writes_pending; /* a response that overtakes its request leaves it unusable */
  struct sockaddr_storage addrs[MAX_ADDRS];
  size_t n_addrs, next_addr;
  char origin[EGW__CLIENT_MAX_ORIGIN]; /* the pool key */
  struct conn *prev, *next;            /* the idle list */
};

struct write_req {
  uv_write_t req;
  struct conn *conn;
  uint8_t *data; /* owned, or NULL when the bytes are the call's */
};

struct egw_http_call {
  uv_timer_t timer; /* the deadline */
  struct egw_http_client *client;
  egw_http_client_done_fn done;
  void *arg;
  struct conn *conn;
  struct egw_http_call *prev, *next; /* the client's calls in flight */
  struct egw_buf req;                /* the serialized request (with the body if copied) */
  const uint8_t *body;               /* a borrowed body, sent after |req| */
  size_t body_len;
  struct egw__client_target target;
  int idempotent;
  int retried;
  int finished;
  int got_bytes; /* any byte of a response arrived on the current connection */
  struct egw__client_msg msg;
  char error_buf[160];
};

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
  struct conn *idle; /* most recently pooled first */
  struct egw_buf plain;
  char read_buf[READ_BUF_BYTES];
};

static void call_finish(struct egw_http_call *call, enum egw_http_client_result result,
                        const char *error);
static int connect_call(struct egw_http_call *call, int may_pool);
static int conn_connect_next(struct conn *conn);

/* ---- connections: closing and the pool -------------------------------------------- */

static void conn_handle_closed(struct conn *conn) {
  if (--conn->handles_open == 0)
    free(conn);
}

static void on_sock_closed(uv_handle_t *h) {
  struct sock *s = h->data;
  if (s->conn)
    conn_handle_closed(s->conn);
  free(s);
}

static void on_conn_timer_closed(uv_handle_t *h) { conn_handle_closed(h->data); }

static void idle_unlink(struct conn *conn) {
  struct egw_http_client *c = conn->client;
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    c->idle = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  conn->prev = conn->next = NULL;
}

/* conn_close closes |conn| at once (no close_notify: what is left to say is nothing).
 * The call it served, if any, must have been detached. */
static void conn_close(struct conn *conn) {
  if (conn->closing)
    return;
  conn->closing = 1;
  if (conn->state == CONN_IDLE)
    idle_unlink(conn);
  if (conn->resolve) {
    conn->resolve->conn = NULL;
    uv_cancel((uv_req_t *)&conn->resolve->req); /* best effort: it may be running */
    conn->resolve = NULL;
  }
  if (conn->sock) {
    uv_read_stop((uv_stream_t *)&conn->sock->tcp);
    uv_close((uv_handle_t *)&conn->sock->tcp, on_sock_closed);
    conn->sock = NULL;
  }
  uv_close((uv_handle_t *)&conn->timer, on_conn_timer_closed);
  conn->transport->teardown(conn);
}

static void on_idle_timeout(uv_timer_t *t) { conn_close(t->data); }

/* conn_release ends |conn|'s current call: back to the pool when |reuse| and there is
 * room, closed otherwise. */
static void conn_release(struct conn *conn, int reuse) {
  struct egw_http_client *c = conn->client;
  struct egw_http_call *call = conn->call;
  if (call)
    call->conn = NULL;
  conn->call = NULL;
  if (!reuse || c->shut) {
    conn_close(conn);
    return;
  }
  uint32_t n = 0;
  for (struct conn *o = c->idle; o; o = o->next)
    n += strcmp(o->origin, conn->origin) == 0;
  if (n >= c->max_idle_per_origin) {
    conn_close(conn);
    return;
  }
  conn->state = CONN_IDLE;
  conn->reused = 1;
  conn->prev = NULL;
  conn->next = c->idle;
  if (c->idle)
    c->idle->prev = conn;
  c->idle = conn;
  uv_timer_start(&conn->timer, on_idle_timeout, c->idle_ms, 0);
}

/* pool_take returns the most recently pooled connection to |origin|, or NULL. */
static struct conn *pool_take(struct egw_http_client *c, const char *origin) {
  for (struct conn *conn = c->idle; conn; conn = conn->next) {
    if (strcmp(conn->origin, origin) != 0)
      continue;
    idle_unlink(conn);
    uv_timer_stop(&conn->timer);
    conn->state = CONN_ACTIVE;
    return conn;
  }
  return NULL;
}

/* ---- connections: how a call ends on one ------------------------------------------- */

static const char *connect_error(int code) {
  if (code == UV_ECONNREFUSED)
    return "connection refused";
  if (code == EGW_ERR_NOMEM || code == UV_ENOMEM)
    return "out of memory";
  return "connection failed";
}

static enum egw_http_client_result connect_result(int code) {
  return code == EGW_ERR_NOMEM || code == UV_ENOMEM ? EGW_HTTP_CLIENT_NOMEM
                                                    : EGW_HTTP_CLIENT_UNREACHABLE;
}

/* complete hands the finished response to the call. The connection goes back to the
 * pool only when the response allows it, nothing followed it, and the request was
 * written in full. */
static void complete(struct conn *conn, int reuse) {
  struct egw_http_call *call = conn->call;
  conn_release(conn, reuse && call->msg.keep_alive && conn->writes_pending == 0);
  call_finish(call, EGW_HTTP_CLIENT_OK, NULL);
}

/* conn_lost: the connection failed or ended before the response was complete. A call
 * sent on a reused connection that got no byte back is retried once on a fresh one when
 * its method is idempotent: the server may have closed the idle connection as we sent. */
static void conn_lost(struct conn *conn, enum egw_http_client_result result, const char *error) {
  struct egw_http_call *call = conn->call;
  if (call == NULL) {
    conn_close(conn);
    return;
  }
  int retry = conn->reused && !call->got_bytes && call->idempotent && !call->retried;
  conn_release(conn, 0);
  if (retry) {
    call->retried = 1;
    int rc = connect_call(call, 0);
    if (rc != 0)
      call_finish(call, connect_result(rc), connect_error(rc));
    return;
  }
  call_finish(call, result, error);
}

/* conn_failed: opening |conn| or sending on it failed with |code|. */
static void conn_failed(struct conn *conn, int code) {
  conn_lost(conn, connect_result(code), connect_error(code));
}

/* ended says why |conn| ended before its response was complete: closed (|clean|) or
 * reset. On a kept-alive connection with nothing received, a reset is our request
 * meeting the server's close of what it took for idle: a close all the same (which of
 * the two the kernel reports is a matter of timing). */
static const char *ended(const struct conn *conn, int clean) {
  if (conn->call && conn->call->got_bytes)
    return "connection closed mid-response";
  return clean || conn->reused ? "connection closed" : "connection reset";
}

/* end_of_stream: the server closed (|clean|) or reset the connection. A response
 * delimited by the close ends here. */
static void end_of_stream(struct conn *conn, int clean) {
  struct egw_http_call *call = conn->call;
  if (call && call->got_bytes) {
    if (clean) {
      llhttp_errno_t err = llhttp_finish(&conn->parser);
      if ((err == HPE_OK || err == HPE_PAUSED) && call->msg.complete) {
        complete(conn, 0);
        return;
      }
    }
    if (call->msg.error)
      conn_lost(conn, call->msg.result, call->msg.error);
    else
      conn_lost(conn, EGW_HTTP_CLIENT_CLOSED, ended(conn, clean));
    return;
  }
  if (conn->state == CONN_HANDSHAKE)
    conn_lost(conn, EGW_HTTP_CLIENT_TLS, "TLS handshake failed");
  else
    conn_lost(conn, EGW_HTTP_CLIENT_CLOSED, ended(conn, clean));
}

/* parse feeds response bytes to the parser; returns 1 when the call was finished. */
static int parse(struct conn *conn, const uint8_t *data, size_t len, int eof) {
  struct egw_http_call *call = conn->call;
  call->got_bytes = 1;
  llhttp_errno_t err = llhttp_execute(&conn->parser, (const char *)data, len);
  if (err == HPE_PAUSED && call->msg.complete) {
    size_t used = (size_t)(llhttp_get_error_pos(&conn->parser) - (const char *)data);
    complete(conn, used == len && !eof);
    return 1;
  }
  if (call->msg.error) {
    conn_release(conn, 0);
    call_finish(call, call->msg.result, call->msg.error);
    return 1;
  }
  if (err != HPE_OK) {
    conn_release(conn, 0);
    call_finish(call, EGW_HTTP_CLIENT_MALFORMED, "malformed response");
    return 1;
  }
  return 0;
}

/* deliver takes the response bytes a transport read (plaintext), and whether the stream
 * ended cleanly (|eof|) or broke (|failed|) after them. */
static void deliver(struct conn *conn, const uint8_t *data, size_t len, int eof, int failed) {
  if (conn->state == CONN_IDLE) {
    if (len > 0 || eof || failed)
      conn_close(conn); /* closed, or sent something nobody asked for */
    return;
  }
  if (len > 0 && parse(conn, data, len, eof || failed))
    return;
  if (failed)
    conn_lost(conn, EGW_HTTP_CLIENT_TLS, "TLS failure");
  else if (eof)
    end_of_stream(conn, 1);
}

/* ---- connections: the socket ------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  struct write_req *wr = (struct write_req *)req;
  struct conn *conn = wr->conn;
  free(wr->data);
  free(wr);
  conn->writes_pending--;
  if (status < 0 && !conn->closing)
    conn_lost(conn, EGW_HTTP_CLIENT_CLOSED, ended(conn, 0));
}

/* conn_write writes |bufs|; |owned| (may be NULL) is freed once written. Returns 0 or a
 * negative code (|owned| is freed then too). */
static int conn_write(struct conn *conn, const uv_buf_t *bufs, unsigned n, uint8_t *owned) {
  struct write_req *wr = malloc(sizeof(*wr));
  if (wr == NULL) {
    free(owned);
    return EGW_ERR_NOMEM;
  }
  wr->conn = conn;
  wr->data = owned;
  int rc = uv_write(&wr->req, (uv_stream_t *)&conn->sock->tcp, bufs, n, on_write);
  if (rc != 0) {
    free(owned);
    free(wr);
    return rc;
  }
  conn->writes_pending++;
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct sock *s = h->data;
  struct egw_http_client *c = s->conn->client;
  *buf = uv_buf_init(c->read_buf, sizeof(c->read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct sock *s = stream->data;
  struct conn *conn = s->conn;
  if (nread == 0 || conn->closing)
    return;
  if (nread > 0)
    conn->transport->received(conn, (const uint8_t *)buf->base, (size_t)nread);
  else if (conn->state == CONN_IDLE)
    conn_close(conn); /* the server closed an idle connection */
  else
    end_of_stream(conn, nread == UV_EOF);
}

/* ---- the plain transport ----------------------------------------------------------- */

static int plain_setup(struct conn *conn, const struct egw__client_target *t) { return 0; }

/* The request goes out from the call's own buffers: a connection is pooled only once
 * its writes are done, and closing it cancels them. */
static int plain_send(struct conn *conn) {
  const struct egw_http_call *call = conn->call;
  uv_buf_t bufs[2] = {
      uv_buf_init((char *)call->req.data, (unsigned)call->req.len),
      uv_buf_init((char *)call->body, (unsigned)call->body_len),
  };
  return conn_write(conn, bufs, call->body ? 2 : 1, NULL);
}

static void plain_connected(struct conn *conn) {
  conn->state = CONN_ACTIVE;
  int rc = plain_send(conn);
  if (rc != 0)
    conn_failed(conn, rc);
}

static void plain_received(struct conn *conn, const uint8_t *data, size_t len) {
  deliver(conn, data, len, 0, 0);
}

static void plain_teardown(struct conn *conn) {}

static const struct transport plain_transport = {
    .setup = plain_setup,
    .connected = plain_connected,
    .send = plain_send,
    .received = plain_received,
    .teardown = plain_teardown,
};

/* ---- the TLS transport ------------------------------------------------------------- */

/* flush hands whatever BoringSSL wrote to the socket. Returns 0 or a negative code. */
static int flush(struct conn *conn) {
  const uint8_t *data = NULL;
  size_t len = 0;
  if (!BIO_mem_contents(conn->wbio, &data, &len) || len == 0)
    return 0;
  uint8_t *copy = malloc(len);
  if (copy == NULL)
    return EGW_ERR_NOMEM;
  memcpy(copy, data, len);
  BIO_reset(conn->wbio);
  uv_buf_t b = uv_buf_init((char *)copy, (unsigned)len);
  return conn_write(conn, &b, 1, copy);
}

/* tls_send encrypts the current call's request and writes it. */
static int tls_send(struct conn *conn) {
  const struct egw_http_call *call = conn->call;
  ERR_clear_error();
  if (SSL_write(conn->ssl, call->req.data, (int)call->req.len) != (int)call->req.len ||
      (call->body &&
       SSL_write(conn->ssl, call->body, (int)call->body_len) != (int)call->body_len)) {
    ERR_clear_error();
    return EGW_ERR_TLS;
  }
  return flush(conn);
}

static void handshake_failed(struct conn *conn) {
  struct egw_http_call *call = conn->call;
  long vr = SSL_get_verify_result(conn->ssl);
  ERR_clear_error();
  const char *error = "TLS handshake failed";
  if (vr != X509_V_OK) {
    snprintf(call->error_buf, sizeof(call->error_buf), "certificate verify failed: %s",
             X509_verify_cert_error_string(vr));
    error = call->error_buf;
  }
  conn_release(conn, 0);
  call_finish(call, EGW_HTTP_CLIENT_TLS, error);
}

static void tls_connected(struct conn *conn) {
  conn->state = CONN_HANDSHAKE;
  ERR_clear_error();
  int r = SSL_do_handshake(conn->ssl); /* writes the ClientHello */
  if (r != 1 && SSL_get_error(conn->ssl, r) != SSL_ERROR_WANT_READ) {
    handshake_failed(conn);
    return;
  }
  ERR_clear_error();
  int rc = flush(conn);
  if (rc != 0)
    conn_failed(conn, rc);
}

static void tls_received(struct conn *conn, const uint8_t *data, size_t len) {
  if (BIO_write(conn->rbio, data, (int)len) != (int)len) {
    conn_lost(conn, EGW_HTTP_CLIENT_NOMEM, "out of memory");
    return;
  }
  ERR_clear_error();
  if (conn->state == CONN_HANDSHAKE) {
    int r = SSL_do_handshake(conn->ssl);
    if (r != 1) {
      if (SSL_get_error(conn->ssl, r) != SSL_ERROR_WANT_READ) {
        handshake_failed(conn);
        return;
      }
      int rc = flush(conn);
      if (rc != 0)
        conn_failed(conn, rc);
      return;
    }
    conn->state = CONN_ACTIVE;
    int rc = tls_send(conn);
    if (rc != 0) {
      conn_failed(conn, rc);
      return;
    }
  }
  /* All the plaintext there is, then the parser: what follows a response decides
   * whether the connection can be reused. */
  struct egw_buf *plain = &conn->client->plain;
  plain->len = 0;
  int eof = 0, failed = 0;
  for (;;) {
    uint8_t chunk[16384];
    int r = SSL_read(conn->ssl, chunk, sizeof(chunk));
    if (r > 0) {
      if (egw_buf_append(plain, chunk, (size_t)r) != 0) {
        failed = 1;
        break;
      }
      continue;
    }
    int e = SSL_get_error(conn->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
      eof = 1;
    else if (e != SSL_ERROR_WANT_READ)
      failed = 1;
    break;
  }
  ERR_clear_error();
  if (flush(conn) != 0)
    failed = 1;
  deliver(conn, plain->data, plain->len, eof, failed);
}

static int tls_setup(struct conn *conn, const struct egw__client_target *t) {
  conn->ssl = SSL_new(conn->client->ssl_ctx);
  conn->rbio = BIO_new(BIO_s_mem());
  conn->wbio = BIO_new(BIO_s_mem());
  if (conn->ssl == NULL || conn->rbio == NULL || conn->wbio == NULL) {
    BIO_free(conn->rbio);
    BIO_free(conn->wbio);
    goto err;
  }
  SSL_set_bio(conn->ssl, conn->rbio, conn->wbio); /* |ssl| owns both now */
  SSL_set_connect_state(conn->ssl);
  /* The server's name: the URL host, checked against the certificate by the verifier. */
  X509_VERIFY_PARAM *param = SSL_get0_param(conn->ssl);
  if (t->host_is_ip) {
    if (!X509_VERIFY_PARAM_set1_ip_asc(param, t->host))
      goto err;
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!X509_VERIFY_PARAM_set1_host(param, t->host, strlen(t->host)) ||
        !SSL_set_tlsext_host_name(conn->ssl, t->host))
      goto err;
  }
  return 0;
err:
  SSL_free(conn->ssl);
  conn->ssl = NULL;
  ERR_clear_error();
  return -1;
}

static void tls_teardown(struct conn *conn) {
  SSL_free(conn->ssl);
  conn->ssl = NULL;
}

static const struct transport tls_transport = {
    .setup = tls_setup,
    .connected = tls_connected,
    .send = tls_send,
    .received = tls_received,
    .teardown = tls_teardown,
};

/* ---- connections: opening ---------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status) {
  struct sock *s = req->data;
  struct conn *conn = s->conn;
  if (conn->closing || s != conn->sock)
    return;
  if (status < 0) {
    /* Next address, on a new socket: a socket whose connect failed is not reusable. */
    conn->sock = NULL;
    uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
    int rc = conn->next_addr < conn->n_addrs ? conn_connect_next(conn) : status;
    if (rc != 0)
      conn_failed(conn, status == UV_ECONNREFUSED ? status : rc);
    return;
  }
  uv_tcp_nodelay(&s->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
  if (rc != 0) {
    conn_failed(conn, rc);
    return;
  }
  conn->transport->connected(conn);
}

/* conn_connect_next connects to the next address; on a synchronous failure tries the
 * following ones. Returns 0 (a connect is under way) or the last error. */
static int conn_connect_next(struct conn *conn) {
  int rc = UV_EINVAL;
  while (conn->next_addr < conn->n_addrs) {
    const struct sockaddr *addr = (const struct sockaddr *)&conn->addrs[conn->next_addr++];
    struct sock *s = calloc(1, sizeof(*s));
    if (s == NULL)
      return EGW_ERR_NOMEM;
    rc = uv_tcp_init(conn->client->loop, &s->tcp);
    if (rc != 0) {
      free(s);
      return rc;
    }
    s->conn = conn;
    s->tcp.data = s;
    s->connect.data = s;
    conn->handles_open++;
    rc = uv_tcp_connect(&s->connect, &s->tcp, addr, on_connect);
    if (rc == 0) {
      conn->sock = s;
      conn->state = CONN_CONNECTING;
      return 0;
    }
    uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
  }
  return rc;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct resolve *r = (struct resolve *)req;
  struct conn *conn = r->conn;
  free(r);
  if (conn == NULL) { /* closed meanwhile */
    uv_freeaddrinfo(res);
    return;
  }
  conn->resolve = NULL;
  for (struct addrinfo *ai = res; status == 0 && ai && conn->n_addrs < MAX_ADDRS;
       ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(conn->addrs[0]))
      continue;
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    memcpy(&conn->addrs[conn->n_addrs++], ai->ai_addr, ai->ai_addrlen);
  }
  uv_freeaddrinfo(res);
  if (conn->n_addrs == 0) {
    conn_lost(conn, EGW_HTTP_CLIENT_UNREACHABLE, "name resolution failed");
    return;
  }
  int rc = conn_connect_next(conn);
  if (rc != 0)
    conn_failed(conn, rc);
}

static struct conn *conn_new(struct egw_http_client *c, const struct egw__client_target *t) {
  struct conn *conn = calloc(1, sizeof(*conn));
  if (conn == NULL)
    return NULL;
  conn->client = c;
  conn->transport = t->tls ? &tls_transport : &plain_transport;
  conn->state = CONN_RESOLVING;
  memcpy(conn->origin, t->origin, sizeof(conn->origin));
  if (conn->transport->setup(conn, t) != 0) {
    free(conn);
    return NULL;
  }
  if (uv_timer_init(c->loop, &conn->timer) != 0) {
    conn->transport->teardown(conn);
    free(conn);
    return NULL;
  }
  conn->timer.data = conn;
  conn->handles_open = 1;
  return conn;
}

static void start_call_on(struct conn *conn, struct egw_http_call *call) {
  conn->call = call;
  call->conn = conn;
  call->got_bytes = 0;
  egw__client_msg_start(&call->msg, &conn->parser);
}

/* connect_call starts |call| on a new connection; with |may_pool|, on an idle one to the
 * same origin when there is one. Returns 0 or a negative code (the call is untouched:
 * no connection attached). */
static int connect_call(struct egw_http_call *call, int may_pool) {
  struct egw_http_client *c = call->client;
  const struct egw__client_target *t = &call->target;
  struct conn *conn = may_pool ? pool_take(c, t->origin) : NULL;
  if (conn) {
    start_call_on(conn, call);
    if (conn->transport->send(conn) == 0)
      return 0;
    conn_release(conn, 0);
    return connect_call(call, 0);
  }
  conn = conn_new(c, t);
  if (conn == NULL)
    return EGW_ERR_NOMEM;
  int rc;
  if (t->host_is_ip) {
    struct sockaddr_storage *ss = &conn->addrs[0];
    rc = strchr(t->host, ':') ? uv_ip6_addr(t->host, t->port, (struct sockaddr_in6 *)ss)
                              : uv_ip4_addr(t->host, t->port, (struct sockaddr_in *)ss);
    conn->n_addrs = 1;
    if (rc == 0)
      rc = conn_connect_next(conn);
  } else {
    struct resolve *r = calloc(1, sizeof(*r));
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    rc = r ? uv_getaddrinfo(c->loop, &r->req, on_resolved, t->host, port, &hints) : EGW_ERR_NOMEM;
    if (rc == 0) {
      r->conn = conn;
      conn->resolve = r;
    } else {
      free(r);
    }
  }
  if (rc != 0) {
    conn_close(conn);
    return rc;
  }
  start_call_on(conn, call);
  return 0;
}

/* ---- calls ------------------------------------------------------------------------- */

static void on_call_closed(uv_handle_t *h) {
  struct egw_http_call *call = h->data;
  egw_buf_free(&call->req);
  egw__client_msg_free(&call->msg);
  free(call);
}

static void on_call_timeout(uv_timer_t *t) {
  call_finish(t->data, EGW_HTTP_CLIENT_TIMEOUT, "timeout");
}

static void call_finish(struct egw_http_call *call, enum egw_http_client_result result,
                        const char *error) {
  if (call->finished)
    return;
  call->finished = 1;
  struct egw_http_client *c = call->client;
  if (call->prev)
    call->prev->next = call->next;
  else
    c->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  uv_timer_stop(&call->timer);
  if (call->conn)
    conn_release(call->conn, 0);

  struct egw__client_msg *m = &call->msg;
  struct egw_http_client_response resp = {.result = result, .error = error};
  struct egw_header *headers = NULL;
  if (result == EGW_HTTP_CLIENT_OK && m->n_fields > 0)
    headers = calloc(m->n_fields, sizeof(*headers));
  if (result == EGW_HTTP_CLIENT_OK &&
      ((m->n_fields > 0 && headers == NULL) || egw_buf_append(&m->body, "", 1) != 0))
    resp = (struct egw_http_client_response){.result = EGW_HTTP_CLIENT_NOMEM,
                                             .error = "out of memory"};
  if (resp.result == EGW_HTTP_CLIENT_OK) {
    resp.status = m->status;
    for (size_t i = 0; i < m->n_fields; i++) {
      const struct egw__client_field *f = &m->fields[i];
      headers[i] = (struct egw_header){
          .name = (const char *)m->head.data + f->name_off,
          .name_len = f->name_len,
          .value = (const char *)m->head.data + f->value_off,
          .value_len = f->value_len,
      };
    }
    resp.headers = headers;
    resp.n_headers = m->n_fields;
    resp.body_len = m->body.len - 1;
    resp.body = resp.body_len ? m->body.data : NULL;
  }
  /* Last: the callback may free the client. */
  call->done(call->arg, &resp);
  free(headers);
  uv_close((uv_handle_t *)&call->timer, on_call_closed);
}

void egw_http_call_cancel(struct egw_http_call *call) {
  if (call)
    call_finish(call, EGW_HTTP_CLIENT_CANCELLED, "cancelled");
}

static int is_idempotent(const char *m) {
  static const char *const names[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (strcmp(m, names[i]) == 0)
      return 1;
  }
  return 0;
}

int egw_http_client_request(struct egw_http_client *c, const struct egw_http_client_request *req,
                            egw_http_client_done_fn done, void *arg,
                            struct egw_http_call **out_call) {
  if (c == NULL || req == NULL || done == NULL)
    return UV_EINVAL;
  if (c->shut)
    return UV_ECANCELED;
  struct egw_http_call *call = calloc(1, sizeof(*call));
  if (call == NULL)
    return EGW_ERR_NOMEM;
  int rc = egw__client_prepare(req, &call->target, &call->req);
  if (rc == 0 && (call->target.tls ? c->ssl_ctx == NULL : !c->allow_plain_http))
    rc = UV_EINVAL;
  if (rc == 0)
    rc = uv_timer_init(c->loop, &call->timer);
  if (rc != 0) {
    egw_buf_free(&call->req);
    free(call);
    return rc;
  }
  call->client = c;
  call->done = done;
  call->arg = arg;
  if (req->borrow_body && req->body_len > 0) {
    call->body = req->body;
    call->body_len = req->body_len;
  }
  call->idempotent = is_idempotent(req->method);
  call->msg.is_head = strcmp(req->method, "HEAD") == 0;
  call->msg.max_body_bytes = c->max_body_bytes;
  call->timer.data = call;
  rc = connect_call(call, 1);
  if (rc != 0) {
    /* The timer is a handle: it is freed in its close callback; done never fires. */
    call->finished = 1;
    uv_close((uv_handle_t *)&call->timer, on_call_closed);
    return rc;
  }
  uv_timer_start(&call->timer, on_call_timeout, c->timeout_ms, 0);
  call->next = c->calls;
  if (c->calls)
    c->calls->prev = call;
  c->calls = call;
  if (out_call)
    *out_call = call;
  return 0;
}

/* ---- the client -------------------------------------------------------------------- */

static char *tls_error(const char *what, const char *path) {
  unsigned long e = ERR_peek_last_error();
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  ERR_clear_error();
  return egw_format("%s: %s: %s", what, path, reason ? reason : "cannot load");
}

/* new_ssl_ctx builds the TLS side of a client; NULL and *out_err on failure. */
static SSL_CTX *new_ssl_ctx(const struct egw_http_client_config *cfg, char **out_err) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set1_verify_cert_store(ctx, cfg->trust)) {
    *out_err = egw_format("cannot set up TLS");
    goto fail;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (cfg->client_cert_file) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->client_cert_file) != 1) {
      *out_err = tls_error("client_cert_file", cfg->client_cert_file);
      goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->client_key_file, SSL_FILETYPE_PEM) != 1 ||
        !SSL_CTX_check_private_key(ctx)) {
      *out_err = tls_error("client_key_file", cfg->client_key_file);
      goto fail;
    }
  }
  return ctx;
fail:
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return NULL;
}

struct egw_http_client *
egw_http_client_new(uv_loop_t *loop, const struct egw_http_client_config *cfg, char **out_err) {
  char *err = NULL;
  struct egw_http_client *c = NULL;
  if (loop == NULL || cfg == NULL || (cfg->trust == NULL && !cfg->allow_plain_http)) {
    err = egw_format("a loop and a trust store are required");
    goto fail;
  }
  if ((cfg->client_cert_file == NULL) != (cfg->client_key_file == NULL)) {
    err = egw_format("client_cert_file and client_key_file go together");
    goto fail;
  }
  if (cfg->client_cert_file && cfg->trust == NULL) {
    err = egw_format("client_cert_file is for TLS, which needs a trust store");
    goto fail;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    goto fail;
  c->loop = loop;
  c->allow_plain_http = cfg->allow_plain_http != 0;
  c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : EGW_HTTP_CLIENT_DEFAULT_TIMEOUT_MS;
  c->max_body_bytes =
      cfg->max_body_bytes ? cfg->max_body_bytes : EGW_HTTP_CLIENT_DEFAULT_MAX_BODY_BYTES;
  c->max_idle_per_origin = cfg->max_idle_per_origin ? cfg->max_idle_per_origin
                                                    : EGW_HTTP_CLIENT_DEFAULT_MAX_IDLE_PER_ORIGIN;
  c->idle_ms = cfg->idle_ms ? cfg->idle_ms : EGW_HTTP_CLIENT_DEFAULT_IDLE_MS;
  if (cfg->trust && (c->ssl_ctx = new_ssl_ctx(cfg, &err)) == NULL)
    goto fail;
  return c;
fail:
  free(c);
  if (out_err)
    *out_err = err ? err : egw_format("out of memory");
  else
    free(err);
  return NULL;
}

void egw_http_client_shutdown(struct egw_http_client *c) {
  if (c == NULL)
    return;
  c->shut = 1;
  while (c->idle)
    conn_close(c->idle);
}

void egw_http_client_free(struct egw_http_client *c) {
  if (c == NULL || c->freeing)
    return;
  c->freeing = 1;
  egw_http_client_shutdown(c);
  while (c->calls)
    call_finish(c->calls, EGW_HTTP_CLIENT_CANCELLED, "cancelled");
  SSL_CTX_free(c->ssl_ctx);
  egw_buf_free(&c->plain);
  free(c);
}
