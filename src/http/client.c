/* The outbound HTTPS client: calls, connections and the keep-alive pool.
 *
 * A call (egw_http_call) owns a deadline timer and its serialized request; it borrows a
 * connection while it runs. A connection (struct conn) owns its socket, its TLS session
 * over two memory BIOs (the same shape as core/conn.c, client side) and its llhttp
 * parser; it serves one call at a time and then goes back to the pool or is closed.
 *
 * Life cycle, after libuv's rules: memory is freed only in close callbacks, and close
 * callbacks touch nothing but the object they free, so the client itself may be freed
 * while its handles are still closing. A completion callback may free the client or start
 * new calls, so it always runs last: every decision about the connection (pool it, close
 * it) is taken before it, and nothing is touched after it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http/client.h"
#include "util/buf.h"
#include "util/errors.h"
#include "util/format.h"

/* A response head (status line, fields, trailer fields) larger than this is refused. */
#define MAX_HEAD_BYTES 65536
#define MAX_HEADERS 100
/* Addresses tried, in resolver order, for one connection. */
#define MAX_ADDRS 8
#define MAX_HOST 253
#define READ_BUF_BYTES 65536

enum conn_state {
  CONN_RESOLVING,
  CONN_CONNECTING,
  CONN_HANDSHAKE,
  CONN_ACTIVE, /* request sent or being sent, response being read */
  CONN_IDLE,   /* in the pool */
};

struct conn;

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
  struct egw_http_call *call; /* the call being served, NULL while idle */
  struct sock *sock;
  struct resolve *resolve;
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by |ssl| */
  llhttp_t parser;
  enum conn_state state;
  int handles_open;
  int closing;
  int reused; /* served a call before the current one */
  struct sockaddr_storage addrs[MAX_ADDRS];
  size_t n_addrs, next_addr;
  char origin[MAX_HOST + 8]; /* "host:port", the pool key */
  struct conn *prev, *next;  /* the idle list */
};

struct write_req {
  uv_write_t req;
  struct conn *conn;
  uint8_t *data;
};

/* Where a response field lives in call->head (offsets: the buffer may move). */
struct field {
  size_t name_off, name_len, value_off, value_len;
};

struct egw_http_call {
  uv_timer_t timer; /* the deadline */
  struct egw_http_client *client;
  egw_http_client_done_fn done;
  void *arg;
  struct conn *conn;
  struct egw_http_call *prev, *next; /* the client's calls in flight */
  struct egw_buf req;                /* the serialized request */
  char host[MAX_HOST + 1];           /* no brackets, lower case */
  char origin[MAX_HOST + 8];
  uint16_t port;
  int host_is_ip;
  int idempotent;
  int is_head;
  int retried;
  int finished;
  /* The response. */
  int got_bytes; /* any byte of a response arrived on the current connection */
  int interim;   /* the message being parsed is a 1xx */
  int head_done; /* later header callbacks are trailer fields */
  int in_name;   /* a field name is being collected */
  size_t trailer_bytes;
  int complete;   /* the final response is complete */
  int keep_alive; /* ...and the connection may serve another */
  int status;
  const char *error; /* set by a parser callback that refuses the response */
  struct egw_buf head;
  struct field fields[MAX_HEADERS];
  size_t n_fields;
  struct egw_buf body;
  char error_buf[160];
};

struct egw_http_client {
  uv_loop_t *loop;
  SSL_CTX *ssl_ctx;
  uint32_t timeout_ms;
  size_t max_body_bytes;
  uint32_t max_idle_per_origin;
  uint32_t idle_ms;
  int freeing;
  struct egw_http_call *calls;
  struct conn *idle; /* most recently pooled first */
  struct egw_buf plain;
  char read_buf[READ_BUF_BYTES];
};

static void call_finish(struct egw_http_call *call, const char *error);
static int conn_connect_next(struct conn *conn);
static void conn_lost(struct conn *conn, const char *error);
static const llhttp_settings_t parser_settings;

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
  SSL_free(conn->ssl);
  conn->ssl = NULL;
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
  if (!reuse || c->freeing) {
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

/* ---- connections: output ----------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  struct write_req *wr = (struct write_req *)req;
  struct conn *conn = wr->conn;
  free(wr->data);
  free(wr);
  if (status < 0 && !conn->closing)
    conn_lost(conn, "connection closed");
}

/* flush hands whatever BoringSSL wrote to the socket. Returns 0 or a negative code. */
static int flush(struct conn *conn) {
  const uint8_t *data = NULL;
  size_t len = 0;
  if (!BIO_mem_contents(conn->wbio, &data, &len) || len == 0)
    return 0;
  struct write_req *wr = malloc(sizeof(*wr));
  uint8_t *copy = malloc(len);
  if (wr == NULL || copy == NULL) {
    free(wr);
    free(copy);
    return EGW_ERR_NOMEM;
  }
  memcpy(copy, data, len);
  BIO_reset(conn->wbio);
  wr->conn = conn;
  wr->data = copy;
  uv_buf_t b = uv_buf_init((char *)copy, (unsigned)len);
  int rc = uv_write(&wr->req, (uv_stream_t *)&conn->sock->tcp, &b, 1, on_write);
  if (rc != 0) {
    free(copy);
    free(wr);
  }
  return rc;
}

/* send_request encrypts the current call's request and writes it. */
static int send_request(struct conn *conn) {
  const struct egw_buf *r = &conn->call->req;
  ERR_clear_error();
  if (SSL_write(conn->ssl, r->data, (int)r->len) != (int)r->len) {
    ERR_clear_error();
    return EGW_ERR_TLS;
  }
  return flush(conn);
}

/* ---- response parsing -------------------------------------------------------------- */

static struct egw_http_call *parsing(llhttp_t *p) { return ((struct conn *)p->data)->call; }

static int refuse(struct egw_http_call *call, const char *error) {
  if (call->error == NULL)
    call->error = error;
  return HPE_USER;
}

static int on_message_begin(llhttp_t *p) {
  struct egw_http_call *call = parsing(p);
  call->head.len = 0;
  call->n_fields = 0;
  call->body.len = 0;
  call->head_done = 0;
  call->in_name = 0;
  call->trailer_bytes = 0;
  call->interim = 0;
  return 0;
}

static int collect(struct egw_http_call *call, const char *at, size_t len) {
  if (len > MAX_HEAD_BYTES - call->head.len)
    return refuse(call, "response too large");
  if (egw_buf_append(&call->head, at, len) != 0)
    return refuse(call, "out of memory");
  return 0;
}

/* Trailer fields of a chunked body count against the head limit, then are dropped. */
static int trailer(struct egw_http_call *call, size_t len) {
  call->trailer_bytes += len;
  return call->trailer_bytes > MAX_HEAD_BYTES ? refuse(call, "response too large") : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  struct egw_http_call *call = parsing(p);
  if (call->head_done)
    return trailer(call, len);
  if (!call->in_name) {
    if (call->n_fields == MAX_HEADERS)
      return refuse(call, "response too large");
    call->fields[call->n_fields] = (struct field){.name_off = call->head.len};
    call->in_name = 1;
  }
  return collect(call, at, len);
}

static int on_header_field_complete(llhttp_t *p) {
  struct egw_http_call *call = parsing(p);
  if (call->head_done)
    return 0;
  struct field *f = &call->fields[call->n_fields];
  call->in_name = 0;
  f->name_len = call->head.len - f->name_off;
  for (size_t i = 0; i < f->name_len; i++) {
    uint8_t *ch = &call->head.data[f->name_off + i];
    if (*ch >= 'A' && *ch <= 'Z')
      *ch = (uint8_t)(*ch - 'A' + 'a');
  }
  if (collect(call, "", 1) != 0) /* the NUL after the name */
    return HPE_USER;
  f->value_off = call->head.len;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  struct egw_http_call *call = parsing(p);
  if (call->head_done)
    return trailer(call, len);
  return collect(call, at, len);
}

static int on_header_value_complete(llhttp_t *p) {
  struct egw_http_call *call = parsing(p);
  if (call->head_done)
    return 0;
  struct field *f = &call->fields[call->n_fields];
  const uint8_t *v = call->head.data + f->value_off;
  size_t n = call->head.len - f->value_off;
  size_t start = 0;
  while (start < n && (v[start] == ' ' || v[start] == '\t'))
    start++;
  while (n > start && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  f->value_off += start;
  f->value_len = n - start;
  call->head.len = f->value_off + f->value_len;
  if (collect(call, "", 1) != 0)
    return HPE_USER;
  call->n_fields++;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  struct egw_http_call *call = parsing(p);
  call->head_done = 1;
  if (p->http_major != 1 || p->status_code == 101)
    return refuse(call, "malformed response"), -1;
  if (p->status_code < 200) {
    call->interim = 1;
    return 0;
  }
  call->status = p->status_code;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > call->client->max_body_bytes)
    return refuse(call, "response too large"), -1;
  return call->is_head ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  struct egw_http_call *call = parsing(p);
  if (len > call->client->max_body_bytes - call->body.len)
    return refuse(call, "response too large");
  if (egw_buf_append(&call->body, at, len) != 0)
    return refuse(call, "out of memory");
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  struct egw_http_call *call = parsing(p);
  if (call->interim)
    return 0; /* 1xx: the final response follows */
  call->complete = 1;
  call->keep_alive = llhttp_should_keep_alive(p);
  return HPE_PAUSED; /* anything after the response is not ours */
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- connections: the call's life on a connection ----------------------------------- */

/* complete hands the finished response to the call; the connection goes back to the
 * pool when the response allows it and nothing followed it. */
static void complete(struct conn *conn, int reuse) {
  struct egw_http_call *call = conn->call;
  conn_release(conn, reuse && call->keep_alive);
  call_finish(call, NULL);
}

static int start_call_on(struct conn *conn, struct egw_http_call *call) {
  conn->call = call;
  call->conn = conn;
  call->got_bytes = 0;
  call->complete = 0;
  call->error = NULL;
  llhttp_init(&conn->parser, HTTP_RESPONSE, &parser_settings);
  conn->parser.data = conn;
  return 0;
}

static const char *connect_error(int code) {
  if (code == UV_ECONNREFUSED)
    return "connection refused";
  if (code == EGW_ERR_NOMEM || code == UV_ENOMEM)
    return "out of memory";
  return "connection failed";
}

/* connect_call starts |call| on a new connection; with |may_pool|, on an idle one to the
 * same origin when there is one. Returns 0 or a negative code (the call is untouched:
 * no connection attached). */
static int connect_call(struct egw_http_call *call, int may_pool);

/* conn_lost: the connection failed or ended before the response was complete. A call
 * sent on a reused connection that got no byte back is retried once on a fresh one when
 * its method is idempotent: the server may have closed the idle connection as we sent. */
static void conn_lost(struct conn *conn, const char *error) {
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
      call_finish(call, connect_error(rc));
    return;
  }
  call_finish(call, error);
}

static void handshake_failed(struct conn *conn) {
  struct egw_http_call *call = conn->call;
  long vr = SSL_get_verify_result(conn->ssl);
  ERR_clear_error();
  if (vr != X509_V_OK) {
    snprintf(call->error_buf, sizeof(call->error_buf), "certificate verify failed: %s",
             X509_verify_cert_error_string(vr));
    conn_release(conn, 0);
    call_finish(call, call->error_buf);
    return;
  }
  conn_release(conn, 0);
  call_finish(call, "TLS handshake failed");
}

/* end_of_stream: the server closed. A response delimited by the close ends here. */
static void end_of_stream(struct conn *conn) {
  struct egw_http_call *call = conn->call;
  if (call && call->got_bytes) {
    llhttp_errno_t err = llhttp_finish(&conn->parser);
    if ((err == HPE_OK || err == HPE_PAUSED) && call->complete) {
      complete(conn, 0);
      return;
    }
    if (call->error) {
      conn_lost(conn, call->error);
      return;
    }
  }
  conn_lost(conn, conn->state == CONN_HANDSHAKE ? "TLS handshake failed" : "connection closed");
}

/* parse feeds plaintext to the parser; returns 1 when the call was finished. */
static int parse(struct conn *conn, const uint8_t *data, size_t len, int eof) {
  struct egw_http_call *call = conn->call;
  call->got_bytes = 1;
  llhttp_errno_t err = llhttp_execute(&conn->parser, (const char *)data, len);
  if (err == HPE_PAUSED && call->complete) {
    size_t used = (size_t)(llhttp_get_error_pos(&conn->parser) - (const char *)data);
    complete(conn, used == len && !eof);
    return 1;
  }
  if (call->error) {
    conn_release(conn, 0);
    call_finish(call, call->error);
    return 1;
  }
  if (err != HPE_OK) {
    conn_release(conn, 0);
    call_finish(call, "malformed response");
    return 1;
  }
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
  if (nread < 0) {
    if (conn->state == CONN_IDLE)
      conn_close(conn); /* the server closed an idle connection */
    else
      end_of_stream(conn);
    return;
  }
  if (BIO_write(conn->rbio, buf->base, (int)nread) != (int)nread) {
    conn_lost(conn, "out of memory");
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
      if (flush(conn) != 0)
        conn_lost(conn, "connection closed");
      return;
    }
    conn->state = CONN_ACTIVE;
    int rc = send_request(conn);
    if (rc != 0) {
      conn_lost(conn, connect_error(rc));
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
  if (conn->state == CONN_IDLE) {
    if (plain->len > 0 || eof || failed)
      conn_close(conn); /* closed, or sent something nobody asked for */
    return;
  }
  if (plain->len > 0 && parse(conn, plain->data, plain->len, eof || failed))
    return;
  if (failed)
    conn_lost(conn, "TLS failure");
  else if (eof)
    end_of_stream(conn);
}

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
      conn_lost(conn, connect_error(status == UV_ECONNREFUSED ? status : rc));
    return;
  }
  uv_tcp_nodelay(&s->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
  if (rc != 0) {
    conn_lost(conn, connect_error(rc));
    return;
  }
  conn->state = CONN_HANDSHAKE;
  ERR_clear_error();
  int r = SSL_do_handshake(conn->ssl); /* writes the ClientHello */
  if (r != 1 && SSL_get_error(conn->ssl, r) != SSL_ERROR_WANT_READ) {
    handshake_failed(conn);
    return;
  }
  ERR_clear_error();
  rc = flush(conn);
  if (rc != 0)
    conn_lost(conn, connect_error(rc));
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
    conn_lost(conn, "name resolution failed");
    return;
  }
  int rc = conn_connect_next(conn);
  if (rc != 0)
    conn_lost(conn, connect_error(rc));
}

static struct conn *conn_new(struct egw_http_client *c, const struct egw_http_call *call) {
  struct conn *conn = calloc(1, sizeof(*conn));
  if (conn == NULL)
    return NULL;
  conn->client = c;
  conn->state = CONN_RESOLVING;
  memcpy(conn->origin, call->origin, sizeof(conn->origin));
  conn->ssl = SSL_new(c->ssl_ctx);
  conn->rbio = BIO_new(BIO_s_mem());
  conn->wbio = BIO_new(BIO_s_mem());
  if (conn->ssl == NULL || conn->rbio == NULL || conn->wbio == NULL)
    goto err;
  SSL_set_bio(conn->ssl, conn->rbio, conn->wbio); /* |ssl| owns both now */
  SSL_set_connect_state(conn->ssl);
  /* The server's name: the URL host, checked against the certificate by the verifier. */
  X509_VERIFY_PARAM *param = SSL_get0_param(conn->ssl);
  if (call->host_is_ip) {
    if (!X509_VERIFY_PARAM_set1_ip_asc(param, call->host))
      goto err;
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!X509_VERIFY_PARAM_set1_host(param, call->host, strlen(call->host)) ||
        !SSL_set_tlsext_host_name(conn->ssl, call->host))
      goto err;
  }
  if (uv_timer_init(c->loop, &conn->timer) != 0)
    goto err;
  conn->timer.data = conn;
  conn->handles_open = 1;
  return conn;
err:
  if (conn->ssl == NULL || conn->rbio == NULL || conn->wbio == NULL) {
    BIO_free(conn->rbio);
    BIO_free(conn->wbio);
  }
  SSL_free(conn->ssl);
  ERR_clear_error();
  free(conn);
  return NULL;
}

static int connect_call(struct egw_http_call *call, int may_pool) {
  struct egw_http_client *c = call->client;
  struct conn *conn = may_pool ? pool_take(c, call->origin) : NULL;
  if (conn) {
    start_call_on(conn, call);
    int rc = send_request(conn);
    if (rc != 0) {
      conn_release(conn, 0);
      return connect_call(call, 0);
    }
    return 0;
  }
  conn = conn_new(c, call);
  if (conn == NULL)
    return EGW_ERR_NOMEM;
  int rc;
  if (call->host_is_ip) {
    struct sockaddr_storage *ss = &conn->addrs[0];
    rc = strchr(call->host, ':') ? uv_ip6_addr(call->host, call->port, (struct sockaddr_in6 *)ss)
                                 : uv_ip4_addr(call->host, call->port, (struct sockaddr_in *)ss);
    conn->n_addrs = 1;
    if (rc == 0)
      rc = conn_connect_next(conn);
  } else {
    struct resolve *r = calloc(1, sizeof(*r));
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)call->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    rc =
        r ? uv_getaddrinfo(c->loop, &r->req, on_resolved, call->host, port, &hints) : EGW_ERR_NOMEM;
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
  egw_buf_free(&call->head);
  egw_buf_free(&call->body);
  free(call);
}

static void on_call_timeout(uv_timer_t *t) { call_finish(t->data, "timeout"); }

static void call_finish(struct egw_http_call *call, const char *error) {
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

  struct egw_http_client_response resp = {.error = error};
  struct egw_header *headers = NULL;
  if (error == NULL && call->n_fields > 0) {
    headers = calloc(call->n_fields, sizeof(*headers));
    if (headers == NULL)
      resp.error = "out of memory";
  }
  if (resp.error == NULL && egw_buf_append(&call->body, "", 1) != 0)
    resp.error = "out of memory";
  if (resp.error == NULL) {
    resp.status = call->status;
    for (size_t i = 0; i < call->n_fields; i++) {
      const struct field *f = &call->fields[i];
      headers[i] = (struct egw_header){
          .name = (const char *)call->head.data + f->name_off,
          .name_len = f->name_len,
          .value = (const char *)call->head.data + f->value_off,
          .value_len = f->value_len,
      };
    }
    resp.headers = headers;
    resp.n_headers = call->n_fields;
    resp.body_len = call->body.len - 1;
    resp.body = resp.body_len ? call->body.data : NULL;
  }
  /* Last: the callback may free the client. */
  call->done(call->arg, &resp);
  free(headers);
  uv_close((uv_handle_t *)&call->timer, on_call_closed);
}

void egw_http_call_cancel(struct egw_http_call *call) {
  if (call)
    call_finish(call, "cancelled");
}

/* ---- requests: validation and serialization ---------------------------------------- */

static int is_tchar(unsigned char ch) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
    return 1;
  return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_tchar((unsigned char)s[i]))
      return 0;
  }
  return 1;
}

static int is_field_value(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
      return 0;
  }
  return 1;
}

struct url {
  char host[MAX_HOST + 1];
  int host_is_ip;
  uint16_t port;
  const char *authority; /* for Host */
  size_t authority_len;
  const char *target; /* path and query */
  size_t target_len;
};

/* parse_url accepts https://host[:port][/path][?query][#fragment]. */
static int parse_url(const char *url, struct url *u) {
  static const char scheme[] = "https://";
  if (url == NULL || strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
    return UV_EINVAL;
  const char *a = url + sizeof(scheme) - 1;
  size_t alen = strcspn(a, "/?#");
  const char *host = a, *port = NULL;
  size_t hlen;
  if (alen > 0 && a[0] == '[') {
    const char *close = memchr(a, ']', alen);
    if (close == NULL)
      return UV_EINVAL;
    host = a + 1;
    hlen = (size_t)(close - host);
    if (close + 1 < a + alen) {
      if (close[1] != ':')
        return UV_EINVAL;
      port = close + 2;
    }
  } else {
    const char *colon = memchr(a, ':', alen);
    hlen = colon ? (size_t)(colon - a) : alen;
    if (colon)
      port = colon + 1;
  }
  if (hlen == 0 || hlen > MAX_HOST)
    return UV_EINVAL;
  memcpy(u->host, host, hlen);
  u->host[hlen] = '\0';
  for (size_t i = 0; i < hlen; i++) {
    char ch = u->host[i];
    if (ch >= 'A' && ch <= 'Z')
      u->host[i] = (char)(ch - 'A' + 'a');
    else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
               ch == '_' || (host != a && ch == ':')))
      return UV_EINVAL;
  }
  unsigned char ip[16];
  if (host != a) {
    if (uv_inet_pton(AF_INET6, u->host, ip) != 0)
      return UV_EINVAL;
    u->host_is_ip = 1;
  } else {
    u->host_is_ip = uv_inet_pton(AF_INET, u->host, ip) == 0;
  }
  u->port = 443;
  if (port) {
    const char *end = a + alen;
    unsigned long v = 0;
    if (port == end || end - port > 5)
      return UV_EINVAL;
    for (const char *p = port; p < end; p++) {
      if (*p < '0' || *p > '9')
        return UV_EINVAL;
      v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535)
      return UV_EINVAL;
    u->port = (uint16_t)v;
  }
  u->authority = a;
  u->authority_len = alen;
  u->target = a + alen;
  u->target_len = strcspn(u->target, "#");
  for (size_t i = 0; i < u->target_len; i++) {
    unsigned char ch = (unsigned char)u->target[i];
    if (ch <= ' ' || ch >= 0x7f)
      return UV_EINVAL;
  }
  return 0;
}

static int append_str(struct egw_buf *b, const char *s) { return egw_buf_append(b, s, strlen(s)); }

/* The client's own header fields: a caller's copy would contradict the framing. */
static int is_framing_header(const char *name, size_t n) {
  static const char *const names[] = {"host", "content-length", "transfer-encoding", "connection"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (strlen(names[i]) == n && strncasecmp(names[i], name, n) == 0)
      return 1;
  }
  return 0;
}

static int serialize(struct egw_buf *b, const struct egw_http_client_request *req,
                     const struct url *u) {
  char line[64];
  int rc = 0;
  rc |= append_str(b, req->method);
  rc |= egw_buf_append(b, " ", 1);
  if (u->target_len == 0 || u->target[0] != '/')
    rc |= egw_buf_append(b, "/", 1);
  rc |= egw_buf_append(b, u->target, u->target_len);
  rc |= append_str(b, " HTTP/1.1\r\nHost: ");
  size_t alen = u->authority_len;
  if (u->port == 443 && alen > 4 && memcmp(u->authority + alen - 4, ":443", 4) == 0)
    alen -= 4;
  rc |= egw_buf_append(b, u->authority, alen);
  rc |= egw_buf_append(b, "\r\n", 2);
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    size_t nlen = h->name_len ? h->name_len : strlen(h->name);
    size_t vlen = h->value_len ? h->value_len : strlen(h->value);
    if (is_framing_header(h->name, nlen))
      continue;
    rc |= egw_buf_append(b, h->name, nlen);
    rc |= egw_buf_append(b, ": ", 2);
    rc |= egw_buf_append(b, h->value, vlen);
    rc |= egw_buf_append(b, "\r\n", 2);
  }
  if (req->content_type) {
    rc |= append_str(b, "Content-Type: ");
    rc |= append_str(b, req->content_type);
    rc |= egw_buf_append(b, "\r\n", 2);
  }
  int wants_length = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
                     strcmp(req->method, "PATCH") == 0;
  if (req->body_len > 0 || wants_length) {
    snprintf(line, sizeof(line), "Content-Length: %zu\r\n", req->body_len);
    rc |= append_str(b, line);
  }
  rc |= egw_buf_append(b, "\r\n", 2);
  if (req->body_len > 0)
    rc |= egw_buf_append(b, req->body, req->body_len);
  return rc == 0 ? 0 : EGW_ERR_NOMEM;
}

static int check_request(const struct egw_http_client_request *req) {
  if (req->method == NULL || !is_token(req->method, strlen(req->method)))
    return UV_EINVAL;
  if ((req->n_headers > 0 && req->headers == NULL) || (req->body_len > 0 && req->body == NULL))
    return UV_EINVAL;
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct egw_header *h = &req->headers[i];
    if (h->name == NULL || h->value == NULL)
      return UV_EINVAL;
    size_t nlen = h->name_len ? h->name_len : strlen(h->name);
    size_t vlen = h->value_len ? h->value_len : strlen(h->value);
    if (!is_token(h->name, nlen) || !is_field_value(h->value, vlen))
      return UV_EINVAL;
  }
  if (req->content_type && !is_field_value(req->content_type, strlen(req->content_type)))
    return UV_EINVAL;
  if (req->body_len > INT_MAX / 2)
    return UV_EINVAL;
  return 0;
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
  if (c->freeing)
    return UV_ECANCELED;
  struct url u;
  int rc = check_request(req);
  if (rc == 0)
    rc = parse_url(req->url, &u);
  if (rc != 0)
    return rc;
  struct egw_http_call *call = calloc(1, sizeof(*call));
  if (call == NULL)
    return EGW_ERR_NOMEM;
  call->client = c;
  call->done = done;
  call->arg = arg;
  memcpy(call->host, u.host, sizeof(call->host));
  call->host_is_ip = u.host_is_ip;
  call->port = u.port;
  snprintf(call->origin, sizeof(call->origin), "%s:%u", u.host, (unsigned)u.port);
  call->idempotent = is_idempotent(req->method);
  call->is_head = strcmp(req->method, "HEAD") == 0;
  rc = serialize(&call->req, req, &u);
  if (rc == 0)
    rc = uv_timer_init(c->loop, &call->timer);
  if (rc != 0) {
    egw_buf_free(&call->req);
    free(call);
    return rc;
  }
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

struct egw_http_client *
egw_http_client_new(uv_loop_t *loop, const struct egw_http_client_config *cfg, char **out_err) {
  char *err = NULL;
  struct egw_http_client *c = NULL;
  if (loop == NULL || cfg == NULL || cfg->trust == NULL) {
    err = egw_format("a loop and a trust store are required");
    goto fail;
  }
  if ((cfg->client_cert_file == NULL) != (cfg->client_key_file == NULL)) {
    err = egw_format("client_cert_file and client_key_file go together");
    goto fail;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    goto fail;
  c->loop = loop;
  c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : EGW_HTTP_CLIENT_DEFAULT_TIMEOUT_MS;
  c->max_body_bytes =
      cfg->max_body_bytes ? cfg->max_body_bytes : EGW_HTTP_CLIENT_DEFAULT_MAX_BODY_BYTES;
  c->max_idle_per_origin = cfg->max_idle_per_origin ? cfg->max_idle_per_origin
                                                    : EGW_HTTP_CLIENT_DEFAULT_MAX_IDLE_PER_ORIGIN;
  c->idle_ms = cfg->idle_ms ? cfg->idle_ms : EGW_HTTP_CLIENT_DEFAULT_IDLE_MS;
  c->ssl_ctx = SSL_CTX_new(TLS_method());
  if (c->ssl_ctx == NULL || !SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set1_verify_cert_store(c->ssl_ctx, cfg->trust)) {
    err = egw_format("cannot set up TLS");
    goto fail;
  }
  SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
  if (cfg->client_cert_file) {
    if (SSL_CTX_use_certificate_chain_file(c->ssl_ctx, cfg->client_cert_file) != 1) {
      err = tls_error("client_cert_file", cfg->client_cert_file);
      goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c->ssl_ctx, cfg->client_key_file, SSL_FILETYPE_PEM) != 1 ||
        !SSL_CTX_check_private_key(c->ssl_ctx)) {
      err = tls_error("client_key_file", cfg->client_key_file);
      goto fail;
    }
  }
  return c;
fail:
  ERR_clear_error();
  if (c)
    SSL_CTX_free(c->ssl_ctx);
  free(c);
  if (out_err)
    *out_err = err ? err : egw_format("out of memory");
  else
    free(err);
  return NULL;
}

void egw_http_client_free(struct egw_http_client *c) {
  if (c == NULL || c->freeing)
    return;
  c->freeing = 1; /* no new calls, nothing back into the pool */
  while (c->calls)
    call_finish(c->calls, "cancelled");
  while (c->idle)
    conn_close(c->idle);
  SSL_CTX_free(c->ssl_ctx);
  egw_buf_free(&c->plain);
  free(c);
}
