/* One proxied exchange: the client's request goes to the upstream application once the
 * listener's token authorization accepted it, and the application's answer comes back.
 *
 * The response API (include/edgegw/http.h) takes a complete body, so the upstream's
 * response is buffered (bounded by eas->max_response_bytes) and sent when complete;
 * the request body arrives complete from framing and is written upstream as it is. */
#include <string.h>

#include "roles/eas/internal.h"
#include "util/arena.h"
#include "util/errors.h"
#include "util/log.h"

/* What one exchange keeps while its upstream call runs; exchange arena memory. */
struct proxied {
  struct eas *eas;
  struct egw_exchange *x;
  struct egw__eas_call *call;
  uint64_t started_ms;
  int aborted; /* the client went away: the exchange is not ours to touch */
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

static void on_upstream_done(void *arg, const struct egw__eas_upstream_response *up) {
  struct proxied *p = arg;
  if (p->aborted)
    return;
  struct eas *eas = p->eas;
  struct egw_exchange *x = p->x;
  uint64_t elapsed = uv_now(eas->loop) - p->started_ms;
  egw_exchange_set_abort(x, NULL, NULL);
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
  switch (egw__eas_build_request(eas, req, &head)) {
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
  };
  int rc = egw__eas_upstream_call(eas->upstream, &up, on_upstream_done, p, &p->call);
  if (rc != 0) {
    egw_buf_free(&head);
    answer_failure(eas, x, 502, "UPSTREAM_UNAVAILABLE", egw_strerror(rc), 0);
    return EGW_DONE;
  }
  egw_exchange_set_abort(x, on_client_gone, p);
  return EGW_AGAIN;
}
