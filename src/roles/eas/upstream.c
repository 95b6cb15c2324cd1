/* The proxy's client for the application behind it: the loop's HTTP client
 * (http/client.h) in plain HTTP to one address on this host, with kept-alive
 * connections. What is the proxy's own is small: the request head it built goes out as
 * it is (the client adds nothing), the body is borrowed from the exchange rather than
 * copied, and the client's outcomes fold into the few the proxy answers differently. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"
#include "roles/eas/internal.h"
#include "util/errors.h"

struct egw__eas_upstream {
  struct egw_http_client *http;
  char url[64]; /* "http://127.0.0.1:8480", "http://[::1]:8480": the origin only */
};

/* A call in flight: the proxy's completion, freed as it starts. */
struct egw__eas_call {
  struct egw_http_call *call;
  egw__eas_upstream_done_fn done;
  egw__eas_upstream_head_fn on_head;
  egw__eas_upstream_data_fn on_data;
  void (*on_body_drain)(void *arg);
  void *arg;
};

static void on_body_drain(void *arg) {
  struct egw__eas_call *ec = arg;
  if (ec->on_body_drain)
    ec->on_body_drain(ec->arg);
}

static int write_status(enum egw_http_body_write st) {
  return st == EGW_HTTP_BODY_OK ? 0 : st == EGW_HTTP_BODY_FULL ? 1 : -1;
}

int egw__eas_call_write(struct egw__eas_call *call, const uint8_t *data, size_t len) {
  return call ? write_status(egw_http_call_write(call->call, data, len)) : -1;
}

int egw__eas_call_end_body(struct egw__eas_call *call) {
  return call ? write_status(egw_http_call_end_body(call->call)) : -1;
}

static enum egw__eas_upstream_result result_of(enum egw_http_client_result r) {
  switch (r) {
  case EGW_HTTP_CLIENT_OK:
    return EGW_EAS_UP_OK;
  case EGW_HTTP_CLIENT_CANCELLED:
    return EGW_EAS_UP_CANCELLED;
  case EGW_HTTP_CLIENT_TIMEOUT:
    return EGW_EAS_UP_TIMEOUT;
  case EGW_HTTP_CLIENT_MALFORMED:
    return EGW_EAS_UP_MALFORMED;
  case EGW_HTTP_CLIENT_TOO_LARGE:
    return EGW_EAS_UP_TOO_LARGE;
  case EGW_HTTP_CLIENT_NOMEM:
    return EGW_EAS_UP_NOMEM;
  case EGW_HTTP_CLIENT_UNREACHABLE:
  case EGW_HTTP_CLIENT_CLOSED:
  case EGW_HTTP_CLIENT_TLS:
    break;
  }
  return EGW_EAS_UP_UNAVAILABLE;
}

static void on_done(void *arg, const struct egw_http_client_response *resp) {
  struct egw__eas_call *ec = arg;
  egw__eas_upstream_done_fn done = ec->done;
  void *done_arg = ec->arg;
  free(ec);
  struct egw__eas_upstream_response up = {
      .result = result_of(resp->result),
      .reason = resp->error,
      .status = resp->status,
      .headers = resp->headers,
      .n_headers = resp->n_headers,
      .body = resp->body,
      .body_len = resp->body_len,
  };
  done(done_arg, &up); /* last: it may free the upstream */
}

static int on_head(void *arg, const struct egw_http_client_response *resp) {
  struct egw__eas_call *ec = arg;
  struct egw__eas_upstream_response up = {
      .result = EGW_EAS_UP_OK,
      .status = resp->status,
      .headers = resp->headers,
      .n_headers = resp->n_headers,
  };
  return ec->on_head(ec->arg, &up);
}

static int on_data(void *arg, const uint8_t *data, size_t len) {
  struct egw__eas_call *ec = arg;
  return ec->on_data(ec->arg, data, len);
}

static const struct egw_http_client_stream streamed = {
    .on_head = on_head,
    .on_data = on_data,
};

int egw__eas_upstream_call(struct egw__eas_upstream *up,
                           const struct egw__eas_upstream_request *req,
                           egw__eas_upstream_done_fn done, void *arg,
                           struct egw__eas_call **out_call) {
  if (up == NULL || req == NULL || req->head == NULL || done == NULL ||
      (req->on_head == NULL) != (req->on_data == NULL))
    return UV_EINVAL;
  struct egw__eas_call *ec = malloc(sizeof(*ec));
  if (ec == NULL)
    return EGW_ERR_NOMEM;
  *ec = (struct egw__eas_call){.done = done,
                               .on_head = req->on_head,
                               .on_data = req->on_data,
                               .on_body_drain = req->on_body_drain,
                               .arg = arg};
  struct egw_http_client_request hr = {
      .method = req->method,
      .url = up->url,
      .head = (const char *)req->head->data,
      .head_len = req->head->len,
      .body = req->body,
      .body_len = req->body_len,
      .borrow_body = 1,
      .stream = req->on_head ? &streamed : NULL,
      .body_stream = req->body_stream,
      .body_chunked = req->body_chunked,
      .on_body_drain = req->body_stream ? on_body_drain : NULL,
  };
  int rc = egw_http_client_request(up->http, &hr, on_done, ec, &ec->call);
  if (rc != 0) {
    free(ec);
    return rc;
  }
  egw_buf_free(req->head); /* the client has its copy */
  if (out_call)
    *out_call = ec;
  return 0;
}

void egw__eas_call_cancel(struct egw__eas_call *call) {
  if (call)
    egw_http_call_cancel(call->call);
}

void egw__eas_call_pause(struct egw__eas_call *call) {
  if (call)
    egw_http_call_pause(call->call);
}

void egw__eas_call_resume(struct egw__eas_call *call) {
  if (call)
    egw_http_call_resume(call->call);
}

struct egw__eas_upstream *egw__eas_upstream_new(uv_loop_t *loop,
                                                const struct egw__eas_upstream_config *cfg) {
  struct egw__eas_upstream *up = calloc(1, sizeof(*up));
  if (up == NULL)
    return NULL;
  char ip[INET6_ADDRSTRLEN] = "";
  if (cfg->addr.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&cfg->addr;
    uv_ip6_name(a, ip, sizeof(ip));
    snprintf(up->url, sizeof(up->url), "http://[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&cfg->addr;
    uv_ip4_name(a, ip, sizeof(ip));
    snprintf(up->url, sizeof(up->url), "http://%s:%u", ip, (unsigned)ntohs(a->sin_port));
  }
  struct egw_http_client_config hc = {
      .allow_plain_http = 1, /* the application is on this host */
      .timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : EGW_EAS_DEFAULT_TIMEOUT_MS,
      .max_body_bytes = cfg->max_body_bytes ? cfg->max_body_bytes : EGW_EAS_MIN_RESPONSE_BYTES,
      .max_idle_per_origin = cfg->max_idle ? cfg->max_idle : EGW_EAS_UPSTREAM_MAX_IDLE,
      .idle_ms = cfg->idle_ms ? cfg->idle_ms : EGW_EAS_UPSTREAM_IDLE_MS,
  };
  up->http = egw_http_client_new(loop, &hc, NULL);
  if (up->http == NULL) {
    free(up);
    return NULL;
  }
  return up;
}

void egw__eas_upstream_shutdown(struct egw__eas_upstream *up) {
  if (up)
    egw_http_client_shutdown(up->http);
}

void egw__eas_upstream_free(struct egw__eas_upstream *up) {
  if (up == NULL)
    return;
  egw_http_client_free(up->http); /* the calls in flight complete first, cancelled */
  free(up);
}
