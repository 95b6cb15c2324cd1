/* One proxied exchange: the client's request goes to the upstream application once the
 * listener's token authorization accepted it, and the application's answer comes back.
 *
 * The answer streams: its head is passed on as soon as it arrives (with the application's
 * Content-Length when it gave one, else framing delimits the body), then each piece of
 * the body as it is read. When the client's connection has too much queued
 * (EGW_STREAM_FULL), reading the application pauses until it drained, so memory stays
 * bounded whatever the body's size. A failure after the head went out cannot change the
 * status any more: it is logged and the client's connection closes mid-body.
 *
 * The request body streams too (the module sets streams_request_body): the call starts
 * when the head is authorized, with the client's Content-Length or else chunked, and each
 * piece of the body is written upstream as framing hands it over; when the upstream
 * connection has too much queued, reading the client pauses until it drained. A body cut
 * off by the listener's body_bytes cancels the call and answers 413 (or aborts the
 * response when its head went out already). */
#include <stdlib.h>
#include <string.h>

#include "roles/eas/internal.h"
#include "util/arena.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/metrics.h"

/* What one exchange keeps while its upstream call runs; exchange arena memory. */
struct proxied {
  struct eas *eas;
  struct egw_exchange *x;
  struct egw__eas_call *call;
  uint64_t started_ms;
  int aborted;     /* the client went away: the exchange is not ours to touch */
  int streaming;   /* the head went to the client: only the body can follow */
  int paused;      /* reading the application waits for the client's queue to drain */
  int nomem;       /* the head could not be passed on */
  int body_paused; /* reading the client's body waits for the upstream to drain */
  int body_cut;    /* the client's body broke (413, 400): the call was cancelled */
  enum egw_body_status body_status;
};

static void log_upstream_error(const struct eas *eas, const struct egw_request *req, int status,
                               const char *reason, uint64_t elapsed_ms) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "upstream_error");
  egw_log_str(&rec, "interface", req->interface_name);
  egw_log_str(&rec, "upstream", eas->upstream_authority);
  egw_log_str(&rec, "method", req->method_name);
  egw_log_str(&rec, "path", req->path); /* not the query: it may carry anything */
  egw_log_str(&rec, "reason", reason);
  egw_log_int(&rec, "status", status);
  egw_log_int(&rec, "elapsed_ms", (int64_t)elapsed_ms);
  egw_log_end(&rec);
}

/* Answers the client with a ProblemDetails for an upstream failure and logs it. */
static void answer_failure(const struct eas *eas, struct egw_exchange *x, int status,
                           const char *cause, const char *reason, uint64_t elapsed_ms) {
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_response *resp = egw_exchange_response(x);
  log_upstream_error(eas, req, status, reason, elapsed_ms);
  egw_metrics_upstream_error(req->interface_name, status == 504 ? "timeout" : "bad_gateway");
  resp->n_headers = 0;
  const char *detail = status == 504 ? "the application did not answer in time"
                                     : "the application could not be reached or answered badly";
  egw_response_problem(resp, status, egw_status_reason(status), detail, cause);
}

/* Copies the upstream's answer into the exchange's response. Returns 0 or -1 (memory). */
static int copy_response(const struct egw__eas_upstream_response *up, struct egw_response *resp) {
  if (egw__eas_copy_response_fields(up->headers, up->n_headers, resp) != 0)
    return -1;
  return egw_response_set_body(resp, up->status, NULL, up->body, up->body_len) == 0 ? 0 : -1;
}

/* The client's queue went down: read the application on. */
static void on_client_drained(void *arg) {
  struct proxied *p = arg;
  if (p->paused && p->call) {
    p->paused = 0;
    egw__eas_call_resume(p->call);
  }
}

/* The length the application announced, when it gave a valid one. */
static int content_length(const struct egw__eas_upstream_response *up, uint64_t *out) {
  for (size_t i = 0; i < up->n_headers; i++) {
    const struct egw_header *h = &up->headers[i];
    if (h->name_len != 14 || memcmp(h->name, "content-length", 14) != 0)
      continue;
    if (h->value_len == 0 || h->value_len > 19 || strspn(h->value, "0123456789") != h->value_len)
      return 0;
    *out = strtoull(h->value, NULL, 10);
    return 1;
  }
  return 0;
}

static void pause_if_full(struct proxied *p, enum egw_stream_status st) {
  if (st == EGW_STREAM_FULL && !p->paused) {
    p->paused = 1;
    egw__eas_call_pause(p->call);
  }
}

static int on_upstream_head(void *arg, const struct egw__eas_upstream_response *up) {
  struct proxied *p = arg;
  if (p->aborted)
    return 1;
  struct egw_exchange *x = p->x;
  struct egw_response *resp = egw_exchange_response(x);
  if (egw__eas_copy_response_fields(up->headers, up->n_headers, resp) != 0) {
    p->nomem = 1;
    return 1;
  }
  resp->status = up->status;
  /* Also for HEAD: the client learns the length a GET would have (or none). */
  resp->length = content_length(up, &resp->content_length) ? EGW_RESPONSE_LENGTH_GIVEN
                                                           : EGW_RESPONSE_LENGTH_UNKNOWN;
  p->streaming = 1;
  egw_exchange_stream_set_drain(x, on_client_drained, p);
  enum egw_stream_status st = egw_exchange_stream_begin(x);
  if (st == EGW_STREAM_CLOSED)
    return 1;
  pause_if_full(p, st);
  return 0;
}

static int on_upstream_data(void *arg, const uint8_t *data, size_t len) {
  struct proxied *p = arg;
  if (p->aborted)
    return 1;
  enum egw_stream_status st = egw_exchange_stream_write(p->x, data, len);
  if (st == EGW_STREAM_CLOSED)
    return 1;
  pause_if_full(p, st);
  return 0;
}

static void on_upstream_done(void *arg, const struct egw__eas_upstream_response *up) {
  struct proxied *p = arg;
  p->call = NULL; /* freed as the completion starts */
  if (p->aborted)
    return;
  struct eas *eas = p->eas;
  struct egw_exchange *x = p->x;
  uint64_t elapsed = uv_now(eas->loop) - p->started_ms;
  egw_exchange_set_abort(x, NULL, NULL);
  if (p->streaming) {
    egw_exchange_stream_set_drain(x, NULL, NULL);
    if (up->result == EGW_EAS_UP_OK) {
      egw_exchange_stream_end(x);
      return;
    }
    /* Too late for a status: the client sees the body cut short. */
    log_upstream_error(eas, egw_exchange_request(x), egw_exchange_response(x)->status,
                       up->reason ? up->reason : "the client connection failed", elapsed);
    egw_metrics_upstream_error(egw_exchange_request(x)->interface_name, "cut");
    egw_exchange_stream_abort(x);
    return;
  }
  if (p->body_cut) {
    int status = p->body_status == EGW_BODY_TOO_LARGE ? 413 : 400;
    struct egw_response *resp = egw_exchange_response(x);
    resp->n_headers = 0;
    egw_response_problem(
        resp, status, egw_status_reason(status),
        status == 413 ? "the request body is too large" : "the request body is malformed", NULL);
    egw_exchange_finish(x);
    return;
  }
  if (p->nomem) {
    answer_failure(eas, x, 500, "SYSTEM_FAILURE", "out of memory", elapsed);
    egw_exchange_finish(x);
    return;
  }
  switch (up->result) {
  case EGW_EAS_UP_OK:
    if (copy_response(up, egw_exchange_response(x)) != 0)
      answer_failure(eas, x, 500, "SYSTEM_FAILURE", "out of memory", elapsed);
    break;
  case EGW_EAS_UP_NOMEM:
    answer_failure(eas, x, 500, "SYSTEM_FAILURE", "out of memory", elapsed);
    break;
  case EGW_EAS_UP_UNAVAILABLE:
    answer_failure(eas, x, 502, "UPSTREAM_UNAVAILABLE", up->reason, elapsed);
    break;
  case EGW_EAS_UP_TIMEOUT:
    answer_failure(eas, x, 504, "UPSTREAM_TIMEOUT", up->reason, elapsed);
    break;
  case EGW_EAS_UP_MALFORMED:
    answer_failure(eas, x, 502, "UPSTREAM_INVALID_RESPONSE", up->reason, elapsed);
    break;
  case EGW_EAS_UP_TOO_LARGE:
    answer_failure(eas, x, 502, "UPSTREAM_RESPONSE_TOO_LARGE", up->reason, elapsed);
    break;
  case EGW_EAS_UP_CANCELLED: /* the client is still there: the gateway is stopping */
    answer_failure(eas, x, 503, "SERVICE_UNAVAILABLE", "cancelled", elapsed);
    break;
  }
  egw_exchange_finish(x);
}

/* A piece of the client's body: on to the application. */
static void on_client_body(void *arg, const uint8_t *data, size_t len) {
  struct proxied *p = arg;
  if (p->aborted || p->call == NULL)
    return; /* the call ended: the exchange ends too, and the rest is never read */
  if (egw__eas_call_write(p->call, data, len) == 1 && !p->body_paused) {
    p->body_paused = 1;
    egw_exchange_body_pause(p->x);
  }
}

static void on_client_body_end(void *arg, enum egw_body_status status) {
  struct proxied *p = arg;
  if (p->aborted || p->call == NULL)
    return;
  if (status == EGW_BODY_COMPLETE) {
    egw__eas_call_end_body(p->call);
    return;
  }
  /* Cut off: the application must not take a truncated body for a whole one. */
  p->body_cut = 1;
  p->body_status = status;
  egw__eas_call_cancel(p->call); /* on_upstream_done answers */
}

/* The upstream connection took enough of the body: read the client on. */
static void on_upstream_body_drain(void *arg) {
  struct proxied *p = arg;
  if (p->body_paused && !p->aborted) {
    p->body_paused = 0;
    egw_exchange_body_resume(p->x);
  }
}

static void on_client_gone(void *arg) {
  struct proxied *p = arg;
  p->aborted = 1;
  egw__eas_call_cancel(p->call);
}

static enum egw_handler_result problem(struct egw_exchange *x, int status, const char *detail,
                                       const char *cause) {
  int rc = egw_response_problem(egw_exchange_response(x), status, egw_status_reason(status), detail,
                                cause);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

enum egw_handler_result egw__eas_proxy(struct eas *eas, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  if (eas->stopped || eas->upstream == NULL)
    return problem(x, 503, "the gateway is stopping", "SERVICE_UNAVAILABLE");
  struct proxied *p = egw_arena_alloc(req->arena, sizeof(*p));
  if (p == NULL)
    return EGW_FAILED;
  *p = (struct proxied){.eas = eas, .x = x, .started_ms = uv_now(eas->loop)};
  struct egw_buf head = {0};
  int streamed = egw_exchange_body_pending(x);
  switch (streamed ? egw__eas_build_request_streamed(eas, req, &head)
                   : egw__eas_build_request(eas, req, &head)) {
  case EGW_EAS_BUILD_OK:
    break;
  case EGW_EAS_BUILD_BAD_IDENTITY:
    egw_buf_free(&head);
    return problem(x, 403, "the token's identity cannot be passed to the application",
                   "INVALID_TOKEN");
  case EGW_EAS_BUILD_NOMEM:
    egw_buf_free(&head);
    return EGW_FAILED;
  }
  struct egw__eas_upstream_request up = {
      .method = req->method_name,
      .head = &head,
      .body = req->body,
      .body_len = req->body_len,
      .on_head = on_upstream_head,
      .on_data = on_upstream_data,
      .body_stream = streamed,
      .body_chunked = streamed && egw_request_header(req, "content-length", NULL) == NULL,
      .on_body_drain = on_upstream_body_drain,
  };
  int rc = egw__eas_upstream_call(eas->upstream, &up, on_upstream_done, p, &p->call);
  if (rc != 0) {
    egw_buf_free(&head);
    answer_failure(eas, x, 502, "UPSTREAM_UNAVAILABLE", egw_strerror(rc), 0);
    return EGW_DONE;
  }
  egw_exchange_set_abort(x, on_client_gone, p);
  if (streamed)
    egw_exchange_body_start(x, on_client_body, on_client_body_end, p);
  return EGW_AGAIN;
}
