/* The outbound HTTP client: the client, its calls, and the requests that start them.
 *
 * A call (egw_http_call) owns a deadline timer, its serialized request and the response
 * being read; it borrows a connection (client_conn.c) while it runs. A connection serves
 * one call at a time, over the transport its URL's scheme chose: TLS (client_tls.c) or
 * plain bytes.
 *
 * Life cycle, after libuv's rules: memory is freed only in close callbacks, and close
 * callbacks touch nothing but the object they free, so the client itself may be freed
 * while its handles are still closing. A completion callback may free the client or start
 * new calls, so it always runs last: every decision about the connection (pool it, close
 * it) is taken before it, and nothing is touched after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/client_internal.h"
#include "util/errors.h"
#include "util/format.h"

/* ---- calls ------------------------------------------------------------------------- */

static void on_call_closed(uv_handle_t *h) {
  struct egw_http_call *call = h->data;
  egw_buf_free(&call->req);
  egw__client_msg_free(&call->msg);
  free(call);
}

/* headers_of returns the fields of |m| as egw_header (malloc'd; NULL with none or out of
 * memory: check m->n_fields). */
static struct egw_header *headers_of(const struct egw__client_msg *m) {
  if (m->n_fields == 0)
    return NULL;
  struct egw_header *headers = calloc(m->n_fields, sizeof(*headers));
  if (headers == NULL)
    return NULL;
  for (size_t i = 0; i < m->n_fields; i++) {
    const struct egw__client_field *f = &m->fields[i];
    headers[i] = (struct egw_header){
        .name = (const char *)m->head.data + f->name_off,
        .name_len = f->name_len,
        .value = (const char *)m->head.data + f->value_off,
        .value_len = f->value_len,
    };
  }
  return headers;
}

static void on_call_timeout(uv_timer_t *t) {
  egw__client_call_finish(t->data, EGW_HTTP_CLIENT_TIMEOUT, "timeout");
}

void egw__client_call_finish(struct egw_http_call *call, enum egw_http_client_result result,
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
    egw__client_conn_release(call->conn, 0);

  struct egw__client_msg *m = &call->msg;
  struct egw_http_client_response resp = {.result = result, .error = error};
  struct egw_header *headers = NULL;
  if (result == EGW_HTTP_CLIENT_OK)
    headers = headers_of(m);
  if (result == EGW_HTTP_CLIENT_OK &&
      ((m->n_fields > 0 && headers == NULL) || egw_buf_append(&m->body, "", 1) != 0))
    resp = (struct egw_http_client_response){.result = EGW_HTTP_CLIENT_NOMEM,
                                             .error = "out of memory"};
  if (resp.result == EGW_HTTP_CLIENT_OK) {
    resp.status = m->status;
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

void egw__client_call_progress(struct egw_http_call *call) {
  uv_timer_start(&call->timer, on_call_timeout, call->client->timeout_ms, 0);
}

int egw__client_call_head(struct egw_http_call *call) {
  struct egw__client_msg *m = &call->msg;
  struct egw_header *headers = headers_of(m);
  if (m->n_fields > 0 && headers == NULL)
    return -1;
  struct egw_http_client_response head = {
      .result = EGW_HTTP_CLIENT_OK,
      .status = m->status,
      .headers = headers,
      .n_headers = m->n_fields,
  };
  int rc = m->stream->on_head(call->arg, &head);
  free(headers);
  egw__client_call_progress(call); /* the deadline now bounds the gaps in the body */
  return rc;
}

/* ---- streamed request bodies -------------------------------------------------------- */

/* Bytes of the request not yet written to the socket. */
static size_t body_queued(const struct egw_http_call *call) {
  if (!call->sent || call->conn == NULL)
    return call->req.len;
  return call->conn->queued;
}

/* Sends |data| (already framed), or keeps it with the head until the head goes out. */
static enum egw_http_body_write body_send(struct egw_http_call *call, const uint8_t *data,
                                          size_t len) {
  if (!call->sent || call->conn == NULL) {
    if (egw_buf_append(&call->req, data, len) != 0)
      return EGW_HTTP_BODY_CLOSED;
  } else if (call->conn->closing || call->conn->transport->write_more(call->conn, data, len) != 0) {
    return EGW_HTTP_BODY_CLOSED; /* the connection's failure finishes the call */
  }
  if (call->msg.status == 0)
    egw__client_call_progress(call);
  if (body_queued(call) > EGW_HTTP_CLIENT_BODY_HIGH_WATER) {
    call->drain_wanted = 1;
    return EGW_HTTP_BODY_FULL;
  }
  return EGW_HTTP_BODY_OK;
}

enum egw_http_body_write egw_http_call_write(struct egw_http_call *call, const void *data,
                                             size_t len) {
  if (call == NULL || call->finished || !call->body_stream || call->body_ended)
    return EGW_HTTP_BODY_CLOSED;
  if (len == 0)
    return body_queued(call) > EGW_HTTP_CLIENT_BODY_HIGH_WATER ? EGW_HTTP_BODY_FULL
                                                               : EGW_HTTP_BODY_OK;
  if (!call->body_chunked)
    return body_send(call, data, len);
  /* One piece, one chunk: size line, data and CRLF in one write. */
  char line[24];
  int n = snprintf(line, sizeof(line), "%zx\r\n", len);
  struct egw_buf b = {0};
  enum egw_http_body_write st = EGW_HTTP_BODY_CLOSED;
  if (egw_buf_append(&b, line, (size_t)n) == 0 && egw_buf_append(&b, data, len) == 0 &&
      egw_buf_append(&b, "\r\n", 2) == 0)
    st = body_send(call, b.data, b.len);
  egw_buf_free(&b);
  return st;
}

enum egw_http_body_write egw_http_call_end_body(struct egw_http_call *call) {
  if (call == NULL || call->finished || !call->body_stream || call->body_ended)
    return EGW_HTTP_BODY_CLOSED;
  call->body_ended = 1;
  if (!call->body_chunked)
    return EGW_HTTP_BODY_OK;
  static const char last[] = "0\r\n\r\n";
  return body_send(call, (const uint8_t *)last, sizeof(last) - 1);
}

void egw__client_conn_drained(struct egw__client_conn *conn) {
  struct egw_http_call *call = conn->call;
  if (call == NULL || call->finished || !call->drain_wanted ||
      conn->queued > EGW_HTTP_CLIENT_BODY_LOW_WATER)
    return;
  call->drain_wanted = 0;
  if (call->on_body_drain)
    call->on_body_drain(call->arg);
}

void egw_http_call_cancel(struct egw_http_call *call) {
  if (call)
    egw__client_call_finish(call, EGW_HTTP_CLIENT_CANCELLED, "cancelled");
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
  call->idempotent = is_idempotent(req->method) && !req->body_stream;
  call->body_stream = req->body_stream != 0;
  call->body_chunked = req->body_chunked != 0;
  call->on_body_drain = req->on_body_drain;
  call->msg.is_head = strcmp(req->method, "HEAD") == 0;
  call->msg.max_body_bytes = c->max_body_bytes;
  call->msg.call = call;
  call->msg.stream = req->stream;
  call->timer.data = call;
  rc = egw__client_connect(call, 1);
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
  if (cfg->trust && (c->ssl_ctx = egw__client_ssl_ctx_new(cfg, &err)) == NULL)
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
    egw__client_conn_close(c->idle);
}

const char *egw_http_client_response_header(const struct egw_http_client_response *r,
                                            const char *name, size_t *out_len) {
  size_t name_len = strlen(name);
  for (size_t i = 0; i < r->n_headers; i++) {
    const struct egw_header *h = &r->headers[i];
    if (h->name_len == name_len && memcmp(h->name, name, name_len) == 0) {
      *out_len = h->value_len;
      return h->value;
    }
  }
  return NULL;
}

int egw_http_client_response_is_json(const struct egw_http_client_response *r) {
  static const char json[] = "application/json";
  const size_t json_len = sizeof(json) - 1;
  size_t len = 0;
  const char *type = egw_http_client_response_header(r, "content-type", &len);
  return type != NULL && len >= json_len && strncasecmp(type, json, json_len) == 0 &&
         (len == json_len || type[json_len] == ';' || type[json_len] == ' ');
}

void egw_http_client_free(struct egw_http_client *c) {
  if (c == NULL || c->freeing)
    return;
  c->freeing = 1;
  egw_http_client_shutdown(c);
  while (c->calls)
    egw__client_call_finish(c->calls, EGW_HTTP_CLIENT_CANCELLED, "cancelled");
  SSL_CTX_free(c->ssl_ctx);
  egw_buf_free(&c->plain);
  free(c);
}
