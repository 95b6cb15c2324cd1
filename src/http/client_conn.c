/* The HTTP client's connections: opening them (resolution, connect, one address after
 * another), the keep-alive pool, reading and writing, how a call ends on one (complete,
 * lost and retried, failed), and the plain transport. The TLS transport is in
 * client_tls.c; a connection's transport is chosen once, from its URL's scheme (after
 * Redis's connection types), and nothing here branches on it.
 *
 * A connection owns its socket, its llhttp parser and its transport's state; it serves
 * one call at a time and then goes back to the pool or is closed. Its memory is freed
 * when the last of its handles has closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/client_internal.h"
#include "util/errors.h"

/* A socket and its connect request: one per address tried, freed in its close callback. */
struct egw__client_sock {
  uv_tcp_t tcp;
  uv_connect_t connect;
  struct egw__client_conn *conn;
};

/* A name resolution, detached from its connection (conn == NULL) when that closes first. */
struct egw__client_resolve {
  uv_getaddrinfo_t req;
  struct egw__client_conn *conn;
};

struct write_req {
  uv_write_t req;
  struct egw__client_conn *conn;
  uint8_t *data; /* owned, or NULL when the bytes are the call's */
  size_t len;
};

static const struct egw__client_transport plain_transport;
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static int conn_connect_next(struct egw__client_conn *conn);

/* ---- connections: closing and the pool -------------------------------------------- */

static void conn_handle_closed(struct egw__client_conn *conn) {
  if (--conn->handles_open == 0)
    free(conn);
}

static void on_sock_closed(uv_handle_t *h) {
  struct egw__client_sock *s = h->data;
  if (s->conn)
    conn_handle_closed(s->conn);
  free(s);
}

static void on_conn_timer_closed(uv_handle_t *h) { conn_handle_closed(h->data); }

static void idle_unlink(struct egw__client_conn *conn) {
  struct egw_http_client *c = conn->client;
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    c->idle = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  conn->prev = conn->next = NULL;
}

/* No close_notify: what is left to say is nothing. */
void egw__client_conn_close(struct egw__client_conn *conn) {
  if (conn->closing)
    return;
  conn->closing = 1;
  if (conn->state == EGW__CLIENT_IDLE)
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

static void on_idle_timeout(uv_timer_t *t) { egw__client_conn_close(t->data); }

void egw__client_conn_release(struct egw__client_conn *conn, int reuse) {
  struct egw_http_client *c = conn->client;
  struct egw_http_call *call = conn->call;
  if (call)
    call->conn = NULL;
  conn->call = NULL;
  if (!reuse || c->shut) {
    egw__client_conn_close(conn);
    return;
  }
  uint32_t n = 0;
  for (struct egw__client_conn *o = c->idle; o; o = o->next)
    n += strcmp(o->origin, conn->origin) == 0;
  if (n >= c->max_idle_per_origin) {
    egw__client_conn_close(conn);
    return;
  }
  /* A call paused by its consumer as its last piece arrived stopped reading: a pooled
   * connection must read (its next response, or the server's close). */
  if (call && call->paused && conn->sock &&
      uv_read_start((uv_stream_t *)&conn->sock->tcp, on_alloc, on_read) != 0) {
    egw__client_conn_close(conn);
    return;
  }
  conn->state = EGW__CLIENT_IDLE;
  conn->reused = 1;
  conn->prev = NULL;
  conn->next = c->idle;
  if (c->idle)
    c->idle->prev = conn;
  c->idle = conn;
  uv_timer_start(&conn->timer, on_idle_timeout, c->idle_ms, 0);
}

/* pool_take returns the most recently pooled connection to |origin|, or NULL. */
static struct egw__client_conn *pool_take(struct egw_http_client *c, const char *origin) {
  for (struct egw__client_conn *conn = c->idle; conn; conn = conn->next) {
    if (strcmp(conn->origin, origin) != 0)
      continue;
    idle_unlink(conn);
    uv_timer_stop(&conn->timer);
    conn->state = EGW__CLIENT_ACTIVE;
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
static void complete(struct egw__client_conn *conn, int reuse) {
  struct egw_http_call *call = conn->call;
  int body_done = !call->body_stream || call->body_ended;
  egw__client_conn_release(conn,
                           reuse && call->msg.keep_alive && conn->writes_pending == 0 && body_done);
  egw__client_call_finish(call, EGW_HTTP_CLIENT_OK, NULL);
}

/* A call sent on a reused connection that got no byte back is retried once on a fresh
 * one when its method is idempotent: the server may have closed the idle connection as
 * we sent. */
void egw__client_conn_lost(struct egw__client_conn *conn, enum egw_http_client_result result,
                           const char *error) {
  struct egw_http_call *call = conn->call;
  if (call == NULL) {
    egw__client_conn_close(conn);
    return;
  }
  int retry = conn->reused && !call->got_bytes && call->idempotent && !call->retried;
  egw__client_conn_release(conn, 0);
  if (retry) {
    call->retried = 1;
    int rc = egw__client_connect(call, 0);
    if (rc != 0)
      egw__client_call_finish(call, connect_result(rc), connect_error(rc));
    return;
  }
  egw__client_call_finish(call, result, error);
}

void egw__client_conn_failed(struct egw__client_conn *conn, int code) {
  egw__client_conn_lost(conn, connect_result(code), connect_error(code));
}

/* ended says why |conn| ended before its response was complete: closed (|clean|) or
 * reset. On a kept-alive connection with nothing received, a reset is our request
 * meeting the server's close of what it took for idle: a close all the same (which of
 * the two the kernel reports is a matter of timing). */
static const char *ended(const struct egw__client_conn *conn, int clean) {
  if (conn->call && conn->call->got_bytes)
    return "connection closed mid-response";
  return clean || conn->reused ? "connection closed" : "connection reset";
}

/* end_of_stream: the server closed (|clean|) or reset the connection. A response
 * delimited by the close ends here. */
static void end_of_stream(struct egw__client_conn *conn, int clean) {
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
      egw__client_conn_lost(conn, call->msg.result, call->msg.error);
    else
      egw__client_conn_lost(conn, EGW_HTTP_CLIENT_CLOSED, ended(conn, clean));
    return;
  }
  if (conn->state == EGW__CLIENT_HANDSHAKE)
    egw__client_conn_lost(conn, EGW_HTTP_CLIENT_TLS, "TLS handshake failed");
  else
    egw__client_conn_lost(conn, EGW_HTTP_CLIENT_CLOSED, ended(conn, clean));
}

/* parse feeds response bytes to the parser; returns 1 when the call was finished. */
static int parse(struct egw__client_conn *conn, const uint8_t *data, size_t len, int eof) {
  struct egw_http_call *call = conn->call;
  call->got_bytes = 1;
  llhttp_errno_t err = llhttp_execute(&conn->parser, (const char *)data, len);
  if (err == HPE_PAUSED && call->msg.complete) {
    size_t used = (size_t)(llhttp_get_error_pos(&conn->parser) - (const char *)data);
    complete(conn, used == len && !eof);
    return 1;
  }
  if (call->msg.error) {
    egw__client_conn_release(conn, 0);
    egw__client_call_finish(call, call->msg.result, call->msg.error);
    return 1;
  }
  if (err != HPE_OK) {
    egw__client_conn_release(conn, 0);
    egw__client_call_finish(call, EGW_HTTP_CLIENT_MALFORMED, "malformed response");
    return 1;
  }
  return 0;
}

void egw__client_deliver(struct egw__client_conn *conn, const uint8_t *data, size_t len, int eof,
                         int failed) {
  if (conn->state == EGW__CLIENT_IDLE) {
    if (len > 0 || eof || failed)
      egw__client_conn_close(conn); /* closed, or sent something nobody asked for */
    return;
  }
  if (len > 0 && parse(conn, data, len, eof || failed))
    return;
  if (failed)
    egw__client_conn_lost(conn, EGW_HTTP_CLIENT_TLS, "TLS failure");
  else if (eof)
    end_of_stream(conn, 1);
}

/* ---- connections: the socket ------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  struct write_req *wr = (struct write_req *)req;
  struct egw__client_conn *conn = wr->conn;
  conn->queued -= wr->len;
  free(wr->data);
  free(wr);
  conn->writes_pending--;
  if (status < 0 && !conn->closing)
    egw__client_conn_lost(conn, EGW_HTTP_CLIENT_CLOSED, ended(conn, 0));
  else if (!conn->closing)
    egw__client_conn_drained(conn);
}

int egw__client_conn_write(struct egw__client_conn *conn, const uv_buf_t *bufs, unsigned n,
                           uint8_t *owned) {
  struct write_req *wr = malloc(sizeof(*wr));
  if (wr == NULL) {
    free(owned);
    return EGW_ERR_NOMEM;
  }
  wr->conn = conn;
  wr->data = owned;
  wr->len = 0;
  for (unsigned i = 0; i < n; i++)
    wr->len += bufs[i].len;
  int rc = uv_write(&wr->req, (uv_stream_t *)&conn->sock->tcp, bufs, n, on_write);
  if (rc != 0) {
    free(owned);
    free(wr);
    return rc;
  }
  conn->writes_pending++;
  conn->queued += wr->len;
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct egw__client_sock *s = h->data;
  struct egw_http_client *c = s->conn->client;
  *buf = uv_buf_init(c->read_buf, sizeof(c->read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct egw__client_sock *s = stream->data;
  struct egw__client_conn *conn = s->conn;
  if (nread == 0 || conn->closing)
    return;
  if (nread > 0)
    conn->transport->received(conn, (const uint8_t *)buf->base, (size_t)nread);
  else if (conn->state == EGW__CLIENT_IDLE)
    egw__client_conn_close(conn); /* the server closed an idle connection */
  else
    end_of_stream(conn, nread == UV_EOF);
}

void egw_http_call_pause(struct egw_http_call *call) {
  if (call == NULL || call->paused)
    return;
  call->paused = 1;
  struct egw__client_conn *conn = call->conn;
  if (conn && conn->sock && !conn->closing)
    uv_read_stop((uv_stream_t *)&conn->sock->tcp);
}

void egw_http_call_resume(struct egw_http_call *call) {
  if (call == NULL || !call->paused)
    return;
  call->paused = 0;
  struct egw__client_conn *conn = call->conn;
  if (conn == NULL || conn->sock == NULL || conn->closing)
    return;
  int rc = uv_read_start((uv_stream_t *)&conn->sock->tcp, on_alloc, on_read);
  if (rc != 0)
    egw__client_conn_lost(conn, EGW_HTTP_CLIENT_CLOSED, "connection closed mid-response");
}

/* ---- the plain transport ----------------------------------------------------------- */

static int plain_setup(struct egw__client_conn *conn, const struct egw__client_target *t) {
  return 0;
}

/* The request goes out from the call's own buffers: a connection is pooled only once
 * its writes are done, and closing it cancels them. */
static int plain_send(struct egw__client_conn *conn) {
  struct egw_http_call *call = conn->call;
  call->sent = 1;
  uv_buf_t bufs[2] = {
      uv_buf_init((char *)call->req.data, (unsigned)call->req.len),
      uv_buf_init((char *)call->body, (unsigned)call->body_len),
  };
  return egw__client_conn_write(conn, bufs, call->body ? 2 : 1, NULL);
}

static void plain_connected(struct egw__client_conn *conn) {
  conn->state = EGW__CLIENT_ACTIVE;
  int rc = plain_send(conn);
  if (rc != 0)
    egw__client_conn_failed(conn, rc);
}

static int plain_write_more(struct egw__client_conn *conn, const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len);
  if (copy == NULL)
    return EGW_ERR_NOMEM;
  memcpy(copy, data, len);
  uv_buf_t b = uv_buf_init((char *)copy, (unsigned)len);
  return egw__client_conn_write(conn, &b, 1, copy);
}

static void plain_received(struct egw__client_conn *conn, const uint8_t *data, size_t len) {
  egw__client_deliver(conn, data, len, 0, 0);
}

static void plain_teardown(struct egw__client_conn *conn) {}

static const struct egw__client_transport plain_transport = {
    .setup = plain_setup,
    .connected = plain_connected,
    .send = plain_send,
    .write_more = plain_write_more,
    .received = plain_received,
    .teardown = plain_teardown,
};

/* ---- connections: opening ---------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status) {
  struct egw__client_sock *s = req->data;
  struct egw__client_conn *conn = s->conn;
  if (conn->closing || s != conn->sock)
    return;
  if (status < 0) {
    /* Next address, on a new socket: a socket whose connect failed is not reusable. */
    conn->sock = NULL;
    uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
    int rc = conn->next_addr < conn->n_addrs ? conn_connect_next(conn) : status;
    if (rc != 0)
      egw__client_conn_failed(conn, status == UV_ECONNREFUSED ? status : rc);
    return;
  }
  uv_tcp_nodelay(&s->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
  if (rc != 0) {
    egw__client_conn_failed(conn, rc);
    return;
  }
  conn->transport->connected(conn);
}

/* conn_connect_next connects to the next address; on a synchronous failure tries the
 * following ones. Returns 0 (a connect is under way) or the last error. */
static int conn_connect_next(struct egw__client_conn *conn) {
  int rc = UV_EINVAL;
  while (conn->next_addr < conn->n_addrs) {
    const struct sockaddr *addr = (const struct sockaddr *)&conn->addrs[conn->next_addr++];
    struct egw__client_sock *s = calloc(1, sizeof(*s));
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
      conn->state = EGW__CLIENT_CONNECTING;
      return 0;
    }
    uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
  }
  return rc;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct egw__client_resolve *r = (struct egw__client_resolve *)req;
  struct egw__client_conn *conn = r->conn;
  free(r);
  if (conn == NULL) { /* closed meanwhile */
    uv_freeaddrinfo(res);
    return;
  }
  conn->resolve = NULL;
  for (struct addrinfo *ai = res; status == 0 && ai && conn->n_addrs < EGW__CLIENT_MAX_ADDRS;
       ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(conn->addrs[0]))
      continue;
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    memcpy(&conn->addrs[conn->n_addrs++], ai->ai_addr, ai->ai_addrlen);
  }
  uv_freeaddrinfo(res);
  if (conn->n_addrs == 0) {
    egw__client_conn_lost(conn, EGW_HTTP_CLIENT_UNREACHABLE, "name resolution failed");
    return;
  }
  int rc = conn_connect_next(conn);
  if (rc != 0)
    egw__client_conn_failed(conn, rc);
}

static struct egw__client_conn *conn_new(struct egw_http_client *c,
                                         const struct egw__client_target *t) {
  struct egw__client_conn *conn = calloc(1, sizeof(*conn));
  if (conn == NULL)
    return NULL;
  conn->client = c;
  conn->transport = t->tls ? &egw__client_tls_transport : &plain_transport;
  conn->state = EGW__CLIENT_RESOLVING;
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

static void start_call_on(struct egw__client_conn *conn, struct egw_http_call *call) {
  conn->call = call;
  call->conn = conn;
  call->got_bytes = 0;
  call->sent = 0; /* body pieces join the head until the transport sends it */
  egw__client_msg_start(&call->msg, &conn->parser);
}

int egw__client_connect(struct egw_http_call *call, int may_pool) {
  struct egw_http_client *c = call->client;
  const struct egw__client_target *t = &call->target;
  struct egw__client_conn *conn = may_pool ? pool_take(c, t->origin) : NULL;
  if (conn) {
    start_call_on(conn, call);
    if (conn->transport->send(conn) == 0)
      return 0;
    egw__client_conn_release(conn, 0);
    return egw__client_connect(call, 0);
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
    struct egw__client_resolve *r = calloc(1, sizeof(*r));
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
    egw__client_conn_close(conn);
    return rc;
  }
  start_call_on(conn, call);
  return 0;
}
