/* The proxy's client for the application behind it: plain HTTP/1.1 over TCP to one
 * address on this host, with kept-alive connections.
 *
 * The shape of the HTTPS client (http/client.c) without TLS or name resolution: a call
 * owns its deadline timer and its serialized request head; it borrows a connection while
 * it runs; a connection owns its socket, an idle timer and its llhttp parser, serves one
 * call at a time and then goes back to the pool or is closed. Memory is freed only in
 * close callbacks, which touch nothing but the object they free; a completion runs last,
 * after every decision about the connection was taken. */
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "roles/eas/internal.h"
#include "util/errors.h"

/* A response head (status line, fields, trailer fields) larger than this is refused. */
#define MAX_HEAD_BYTES 65536
#define MAX_HEADERS 100

enum conn_state {
  CONN_CONNECTING,
  CONN_ACTIVE, /* request being sent, response being read */
  CONN_IDLE,   /* in the pool */
};

struct conn {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_timer_t timer; /* idle expiry while pooled */
  struct egw__eas_upstream *up;
  struct egw__eas_call *call; /* NULL while idle */
  llhttp_t parser;
  enum conn_state state;
  int handles_open;
  int closing;
  int reused;               /* served a call before the current one */
  int writes_pending;       /* a response that overtakes its request leaves the socket unusable */
  struct conn *prev, *next; /* the idle list */
};

struct write_req {
  uv_write_t req;
  struct conn *conn;
};

/* Where a response field lives in call->head (offsets: the buffer may move). */
struct field {
  size_t name_off, name_len, value_off, value_len;
};

struct egw__eas_call {
  uv_timer_t timer; /* the deadline */
  struct egw__eas_upstream *up;
  egw__eas_upstream_done_fn done;
  void *arg;
  struct conn *conn;
  struct egw__eas_call *prev, *next; /* calls in flight */
  struct egw_buf req_head;           /* owned */
  const uint8_t *body;               /* borrowed */
  size_t body_len;
  int idempotent;
  int is_head;
  int retried;
  int finished;
  /* The response. */
  int got_bytes; /* a byte of a response arrived on the current connection */
  int interim;   /* the message being parsed is a 1xx */
  int head_done; /* later header callbacks are trailer fields */
  int in_name;
  size_t trailer_bytes;
  int complete;
  int keep_alive;
  int status;
  enum egw__eas_upstream_result fail; /* set by a parser callback that refuses */
  const char *fail_reason;
  struct egw_buf head;
  struct field fields[MAX_HEADERS];
  size_t n_fields;
  struct egw_buf body_in;
};

struct egw__eas_upstream {
  uv_loop_t *loop;
  struct sockaddr_storage addr;
  uint32_t timeout_ms;
  size_t max_body_bytes;
  uint32_t max_idle;
  uint32_t idle_ms;
  int shut; /* no new calls, nothing back into the pool */
  struct egw__eas_call *calls;
  struct conn *idle; /* most recently pooled first */
  uint32_t n_idle;
  char read_buf[65536];
};

static void call_finish(struct egw__eas_call *call, enum egw__eas_upstream_result result,
                        const char *reason);
static int connect_call(struct egw__eas_call *call, int may_pool);
static const llhttp_settings_t parser_settings;

/* ---- connections: closing and the pool -------------------------------------------- */

static void on_conn_handle_closed(uv_handle_t *h) {
  struct conn *conn = h->data;
  if (--conn->handles_open == 0)
    free(conn);
}

static void idle_unlink(struct conn *conn) {
  struct egw__eas_upstream *up = conn->up;
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    up->idle = conn->next;
  if (conn->next)
    conn->next->prev = conn->prev;
  conn->prev = conn->next = NULL;
  up->n_idle--;
}

/* conn_close closes |conn| at once; the call it served, if any, must be detached. */
static void conn_close(struct conn *conn) {
  if (conn->closing)
    return;
  conn->closing = 1;
  if (conn->state == CONN_IDLE)
    idle_unlink(conn);
  uv_close((uv_handle_t *)&conn->tcp, on_conn_handle_closed);
  uv_close((uv_handle_t *)&conn->timer, on_conn_handle_closed);
}

static void on_idle_timeout(uv_timer_t *t) { conn_close(t->data); }

/* conn_release ends |conn|'s current call: back to the pool when |reuse| and there is
 * room, closed otherwise. */
static void conn_release(struct conn *conn, int reuse) {
  struct egw__eas_upstream *up = conn->up;
  if (conn->call)
    conn->call->conn = NULL;
  conn->call = NULL;
  if (!reuse || up->shut || up->n_idle >= up->max_idle) {
    conn_close(conn);
    return;
  }
  conn->state = CONN_IDLE;
  conn->reused = 1;
  conn->prev = NULL;
  conn->next = up->idle;
  if (up->idle)
    up->idle->prev = conn;
  up->idle = conn;
  up->n_idle++;
  uv_timer_start(&conn->timer, on_idle_timeout, up->idle_ms, 0);
}

static struct conn *pool_take(struct egw__eas_upstream *up) {
  struct conn *conn = up->idle;
  if (conn == NULL)
    return NULL;
  idle_unlink(conn);
  uv_timer_stop(&conn->timer);
  conn->state = CONN_ACTIVE;
  return conn;
}

/* conn_lost: the connection failed or ended before the response was complete. A call
 * sent on a reused connection that got no byte back is retried once on a fresh one when
 * its method is idempotent: the application may have closed the idle connection as we
 * sent on it. */
static void conn_lost(struct conn *conn, enum egw__eas_upstream_result result, const char *reason) {
  struct egw__eas_call *call = conn->call;
  if (call == NULL) {
    conn_close(conn);
    return;
  }
  int retry = conn->reused && !call->got_bytes && call->idempotent && !call->retried;
  conn_release(conn, 0);
  if (retry) {
    call->retried = 1;
    if (connect_call(call, 0) == 0)
      return;
    reason = "connection failed";
  }
  call_finish(call, result, reason);
}

/* ---- connections: output ----------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  struct write_req *wr = (struct write_req *)req;
  struct conn *conn = wr->conn;
  free(wr);
  conn->writes_pending--;
  if (status < 0 && !conn->closing)
    conn_lost(conn, EGW_EAS_UP_UNAVAILABLE, "connection reset");
}

static int send_request(struct conn *conn) {
  struct egw__eas_call *call = conn->call;
  struct write_req *wr = malloc(sizeof(*wr));
  if (wr == NULL)
    return EGW_ERR_NOMEM;
  wr->conn = conn;
  uv_buf_t bufs[2] = {
      uv_buf_init((char *)call->req_head.data, (unsigned)call->req_head.len),
      uv_buf_init((char *)call->body, (unsigned)call->body_len),
  };
  int rc = uv_write(&wr->req, (uv_stream_t *)&conn->tcp, bufs, call->body_len ? 2 : 1, on_write);
  if (rc != 0) {
    free(wr);
    return rc;
  }
  conn->writes_pending++;
  return 0;
}

/* ---- response parsing -------------------------------------------------------------- */

static struct egw__eas_call *parsing(llhttp_t *p) { return ((struct conn *)p->data)->call; }

static int refuse(struct egw__eas_call *call, enum egw__eas_upstream_result result,
                  const char *reason) {
  if (call->fail == EGW_EAS_UP_OK) {
    call->fail = result;
    call->fail_reason = reason;
  }
  return HPE_USER;
}

static int on_message_begin(llhttp_t *p) {
  struct egw__eas_call *call = parsing(p);
  call->head.len = 0;
  call->n_fields = 0;
  call->body_in.len = 0;
  call->head_done = 0;
  call->in_name = 0;
  call->trailer_bytes = 0;
  call->interim = 0;
  return 0;
}

static int collect(struct egw__eas_call *call, const char *at, size_t len) {
  if (len > MAX_HEAD_BYTES - call->head.len)
    return refuse(call, EGW_EAS_UP_TOO_LARGE, "response head too large");
  if (egw_buf_append(&call->head, at, len) != 0)
    return refuse(call, EGW_EAS_UP_NOMEM, "out of memory");
  return 0;
}

/* Trailer fields of a chunked body count against the head limit, then are dropped. */
static int trailer(struct egw__eas_call *call, size_t len) {
  call->trailer_bytes += len;
  if (call->trailer_bytes > MAX_HEAD_BYTES)
    return refuse(call, EGW_EAS_UP_TOO_LARGE, "response trailer too large");
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  struct egw__eas_call *call = parsing(p);
  if (call->head_done)
    return trailer(call, len);
  if (!call->in_name) {
    if (call->n_fields == MAX_HEADERS)
      return refuse(call, EGW_EAS_UP_TOO_LARGE, "too many response header fields");
    call->fields[call->n_fields] = (struct field){.name_off = call->head.len};
    call->in_name = 1;
  }
  return collect(call, at, len);
}

static int on_header_field_complete(llhttp_t *p) {
  struct egw__eas_call *call = parsing(p);
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
  struct egw__eas_call *call = parsing(p);
  if (call->head_done)
    return trailer(call, len);
  return collect(call, at, len);
}

static int on_header_value_complete(llhttp_t *p) {
  struct egw__eas_call *call = parsing(p);
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
  struct egw__eas_call *call = parsing(p);
  call->head_done = 1;
  if (p->http_major != 1 || p->status_code == 101 || p->upgrade)
    return refuse(call, EGW_EAS_UP_MALFORMED, "not an HTTP/1.x response"), -1;
  if (p->status_code < 200) {
    call->interim = 1;
    return 0;
  }
  call->status = p->status_code;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > call->up->max_body_bytes)
    return refuse(call, EGW_EAS_UP_TOO_LARGE, "response body too large"), -1;
  return call->is_head ? 1 : 0; /* 1: no body follows */
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  struct egw__eas_call *call = parsing(p);
  if (len > call->up->max_body_bytes - call->body_in.len)
    return refuse(call, EGW_EAS_UP_TOO_LARGE, "response body too large");
  if (egw_buf_append(&call->body_in, at, len) != 0)
    return refuse(call, EGW_EAS_UP_NOMEM, "out of memory");
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  struct egw__eas_call *call = parsing(p);
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

/* ---- connections: input ------------------------------------------------------------ */

/* complete hands the finished response to the call. The connection is reused only when
 * the response allows it, nothing followed it, and the request was written in full. */
static void complete(struct conn *conn, int reuse) {
  struct egw__eas_call *call = conn->call;
  conn_release(conn, reuse && call->keep_alive && conn->writes_pending == 0);
  call_finish(call, EGW_EAS_UP_OK, NULL);
}

/* The application closed (|clean|) or reset the connection. A response delimited by the
 * close ends here. */
static void end_of_stream(struct conn *conn, int clean) {
  struct egw__eas_call *call = conn->call;
  if (call && call->got_bytes && clean) {
    llhttp_errno_t err = llhttp_finish(&conn->parser);
    if ((err == HPE_OK || err == HPE_PAUSED) && call->complete) {
      complete(conn, 0);
      return;
    }
  }
  if (call && call->fail != EGW_EAS_UP_OK) {
    conn_lost(conn, call->fail, call->fail_reason);
    return;
  }
  if (call && call->got_bytes)
    conn_lost(conn, EGW_EAS_UP_UNAVAILABLE, "connection closed mid-response");
  else
    conn_lost(conn, EGW_EAS_UP_UNAVAILABLE, clean ? "connection closed" : "connection reset");
}

static void parse(struct conn *conn, const char *data, size_t len) {
  struct egw__eas_call *call = conn->call;
  call->got_bytes = 1;
  llhttp_errno_t err = llhttp_execute(&conn->parser, data, len);
  if (err == HPE_PAUSED && call->complete) {
    size_t used = (size_t)(llhttp_get_error_pos(&conn->parser) - data);
    complete(conn, used == len);
    return;
  }
  if (call->fail != EGW_EAS_UP_OK) {
    conn_release(conn, 0);
    call_finish(call, call->fail, call->fail_reason);
    return;
  }
  if (err != HPE_OK) {
    conn_release(conn, 0);
    call_finish(call, EGW_EAS_UP_MALFORMED, "malformed response");
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct conn *conn = h->data;
  *buf = uv_buf_init(conn->up->read_buf, sizeof(conn->up->read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct conn *conn = stream->data;
  if (nread == 0 || conn->closing)
    return;
  if (conn->state == CONN_IDLE) {
    conn_close(conn); /* closed by the application, or bytes nobody asked for */
    return;
  }
  if (nread < 0)
    end_of_stream(conn, nread == UV_EOF);
  else
    parse(conn, buf->base, (size_t)nread);
}

/* ---- connections: opening ---------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status) {
  struct conn *conn = req->data;
  if (conn->closing)
    return;
  if (status < 0) {
    conn_lost(conn, EGW_EAS_UP_UNAVAILABLE,
              status == UV_ECONNREFUSED ? "connection refused" : "connection failed");
    return;
  }
  conn->state = CONN_ACTIVE;
  uv_tcp_nodelay(&conn->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
  if (rc == 0)
    rc = send_request(conn);
  if (rc != 0)
    conn_lost(conn, rc == EGW_ERR_NOMEM ? EGW_EAS_UP_NOMEM : EGW_EAS_UP_UNAVAILABLE,
              "connection failed");
}

static void start_call_on(struct conn *conn, struct egw__eas_call *call) {
  conn->call = call;
  call->conn = conn;
  call->got_bytes = 0;
  call->complete = 0;
  call->fail = EGW_EAS_UP_OK;
  call->fail_reason = NULL;
  llhttp_init(&conn->parser, HTTP_RESPONSE, &parser_settings);
  conn->parser.data = conn;
}

static int connect_call(struct egw__eas_call *call, int may_pool) {
  struct egw__eas_upstream *up = call->up;
  struct conn *conn = may_pool ? pool_take(up) : NULL;
  if (conn) {
    start_call_on(conn, call);
    if (send_request(conn) == 0)
      return 0;
    conn_release(conn, 0);
    return connect_call(call, 0);
  }
  conn = calloc(1, sizeof(*conn));
  if (conn == NULL)
    return EGW_ERR_NOMEM;
  conn->up = up;
  conn->state = CONN_CONNECTING;
  int rc = uv_tcp_init(up->loop, &conn->tcp);
  if (rc != 0) {
    free(conn);
    return rc;
  }
  conn->handles_open = 1;
  conn->tcp.data = conn;
  rc = uv_timer_init(up->loop, &conn->timer);
  if (rc != 0) {
    conn->closing = 1;
    uv_close((uv_handle_t *)&conn->tcp, on_conn_handle_closed);
    return rc;
  }
  conn->handles_open = 2;
  conn->timer.data = conn;
  conn->connect.data = conn;
  rc = uv_tcp_connect(&conn->connect, &conn->tcp, (const struct sockaddr *)&up->addr, on_connect);
  if (rc != 0) {
    conn_close(conn);
    return rc;
  }
  start_call_on(conn, call);
  return 0;
}

/* ---- calls ------------------------------------------------------------------------- */

static void on_call_closed(uv_handle_t *h) {
  struct egw__eas_call *call = h->data;
  egw_buf_free(&call->req_head);
  egw_buf_free(&call->head);
  egw_buf_free(&call->body_in);
  free(call);
}

static void on_call_timeout(uv_timer_t *t) {
  call_finish(t->data, EGW_EAS_UP_TIMEOUT, "no complete response in time");
}

static void call_finish(struct egw__eas_call *call, enum egw__eas_upstream_result result,
                        const char *reason) {
  if (call->finished)
    return;
  call->finished = 1;
  struct egw__eas_upstream *up = call->up;
  if (call->prev)
    call->prev->next = call->next;
  else
    up->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  uv_timer_stop(&call->timer);
  if (call->conn)
    conn_release(call->conn, 0);

  struct egw__eas_upstream_response resp = {.result = result, .reason = reason};
  struct egw_header *headers = NULL;
  if (result == EGW_EAS_UP_OK && call->n_fields > 0) {
    headers = calloc(call->n_fields, sizeof(*headers));
    if (headers == NULL)
      resp = (struct egw__eas_upstream_response){.result = EGW_EAS_UP_NOMEM,
                                                 .reason = "out of memory"};
  }
  if (resp.result == EGW_EAS_UP_OK) {
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
    resp.body = call->body_in.len ? call->body_in.data : NULL;
    resp.body_len = call->body_in.len;
  }
  call->done(call->arg, &resp); /* last: it may cancel other calls or free |up| */
  free(headers);
  uv_close((uv_handle_t *)&call->timer, on_call_closed);
}

void egw__eas_call_cancel(struct egw__eas_call *call) {
  if (call)
    call_finish(call, EGW_EAS_UP_CANCELLED, "cancelled");
}

static int is_idempotent(const char *m) {
  static const char *const names[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (strcmp(m, names[i]) == 0)
      return 1;
  }
  return 0;
}

int egw__eas_upstream_call(struct egw__eas_upstream *up,
                           const struct egw__eas_upstream_request *req,
                           egw__eas_upstream_done_fn done, void *arg,
                           struct egw__eas_call **out_call) {
  if (up == NULL || req == NULL || req->head == NULL || done == NULL)
    return UV_EINVAL;
  if (up->shut)
    return UV_ECANCELED;
  struct egw__eas_call *call = calloc(1, sizeof(*call));
  if (call == NULL)
    return EGW_ERR_NOMEM;
  call->up = up;
  call->done = done;
  call->arg = arg;
  call->req_head = *req->head;
  call->body = req->body;
  call->body_len = req->body_len;
  call->idempotent = is_idempotent(req->method);
  call->is_head = strcmp(req->method, "HEAD") == 0;
  int rc = uv_timer_init(up->loop, &call->timer);
  if (rc != 0) {
    free(call);
    return rc;
  }
  call->timer.data = call;
  rc = connect_call(call, 1);
  if (rc != 0) {
    /* The head goes back to the caller; the timer is freed in its close callback. */
    call->req_head = (struct egw_buf){0};
    call->finished = 1;
    uv_close((uv_handle_t *)&call->timer, on_call_closed);
    return rc;
  }
  *req->head = (struct egw_buf){0};
  uv_timer_start(&call->timer, on_call_timeout, up->timeout_ms, 0);
  call->next = up->calls;
  if (up->calls)
    up->calls->prev = call;
  up->calls = call;
  if (out_call)
    *out_call = call;
  return 0;
}

/* ---- the client -------------------------------------------------------------------- */

struct egw__eas_upstream *egw__eas_upstream_new(uv_loop_t *loop,
                                                const struct egw__eas_upstream_config *cfg) {
  struct egw__eas_upstream *up = calloc(1, sizeof(*up));
  if (up == NULL)
    return NULL;
  up->loop = loop;
  up->addr = cfg->addr;
  up->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : EGW_EAS_DEFAULT_TIMEOUT_MS;
  up->max_body_bytes = cfg->max_body_bytes ? cfg->max_body_bytes : EGW_EAS_MIN_RESPONSE_BYTES;
  up->max_idle = cfg->max_idle ? cfg->max_idle : EGW_EAS_UPSTREAM_MAX_IDLE;
  up->idle_ms = cfg->idle_ms ? cfg->idle_ms : EGW_EAS_UPSTREAM_IDLE_MS;
  return up;
}

void egw__eas_upstream_shutdown(struct egw__eas_upstream *up) {
  if (up == NULL)
    return;
  up->shut = 1;
  while (up->idle)
    conn_close(up->idle);
}

void egw__eas_upstream_free(struct egw__eas_upstream *up) {
  if (up == NULL)
    return;
  egw__eas_upstream_shutdown(up);
  while (up->calls)
    call_finish(up->calls, EGW_EAS_UP_CANCELLED, "cancelled");
  free(up);
}
