/* The EAS proxy's upstream client against a scripted application on 127.0.0.1: what the
 * proxy gets back (result, status, fields, body), what the application received, and
 * that every test leaves the loop with nothing open. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eas_upstream_srv.h"
#include "roles/eas/internal.h"

struct result {
  int fired;
  enum egw__eas_upstream_result result;
  char reason[128];
  int status;
  char *body; /* malloc'd copy */
  size_t body_len;
  char x_app[32];
  size_t n_headers;
  uint64_t at;
  uv_loop_t *loop;
};

struct env {
  uv_loop_t loop;
  struct egw__eas_upstream *up;
  struct up_srv srv;
  int srv_running;
};

static void env_init(struct env *e, enum up_mode mode, uint32_t timeout_ms, size_t max_body) {
  memset(e, 0, sizeof(*e));
  cr_assert_eq(uv_loop_init(&e->loop), 0);
  up_srv_start(&e->srv, mode);
  e->srv_running = 1;
  struct egw__eas_upstream_config cfg = {.timeout_ms = timeout_ms, .max_body_bytes = max_body};
  cr_assert_eq(uv_ip4_addr("127.0.0.1", e->srv.port, (struct sockaddr_in *)&cfg.addr), 0);
  e->up = egw__eas_upstream_new(&e->loop, &cfg);
  cr_assert_not_null(e->up);
}

/* Frees the client, runs the loop to its end and checks that it closes. */
static void env_finish(struct env *e) {
  egw__eas_upstream_free(e->up);
  cr_assert_eq(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
  cr_assert_eq(uv_loop_close(&e->loop), 0, "a handle was left open");
  if (e->srv_running)
    up_srv_stop(&e->srv);
}

static void on_done(void *arg, const struct egw__eas_upstream_response *resp) {
  struct result *r = arg;
  r->fired++;
  r->result = resp->result;
  snprintf(r->reason, sizeof(r->reason), "%s", resp->reason ? resp->reason : "");
  r->status = resp->status;
  r->body_len = resp->body_len;
  free(r->body);
  r->body = malloc(resp->body_len + 1);
  if (resp->body_len)
    memcpy(r->body, resp->body, resp->body_len);
  r->body[resp->body_len] = '\0';
  r->n_headers = resp->n_headers;
  for (size_t i = 0; i < resp->n_headers; i++) {
    if (strcmp(resp->headers[i].name, "x-app") == 0)
      snprintf(r->x_app, sizeof(r->x_app), "%s", resp->headers[i].value);
  }
  if (r->loop)
    r->at = uv_now(r->loop);
}

static int start_body(struct env *e, const char *method, const char *target, const void *body,
                      size_t body_len, struct result *r, struct egw__eas_call **out_call) {
  struct egw_buf head = {0};
  char text[256];
  int n = snprintf(text, sizeof(text), "%s %s HTTP/1.1\r\nHost: app\r\n", method, target);
  cr_assert_eq(egw_buf_append(&head, text, (size_t)n), 0);
  if (body_len) {
    n = snprintf(text, sizeof(text), "Content-Length: %zu\r\n", body_len);
    cr_assert_eq(egw_buf_append(&head, text, (size_t)n), 0);
  }
  cr_assert_eq(egw_buf_append(&head, "\r\n", 2), 0);
  r->loop = &e->loop;
  struct egw__eas_upstream_request req = {
      .method = method, .head = &head, .body = body, .body_len = body_len};
  int rc = egw__eas_upstream_call(e->up, &req, on_done, r, out_call);
  if (rc == 0)
    cr_assert_null(head.data, "the client took the head");
  egw_buf_free(&head);
  return rc;
}

static int start(struct env *e, const char *method, const char *target, struct result *r) {
  return start_body(e, method, target, NULL, 0, r, NULL);
}

static void run_until(struct env *e, const int *flag) {
  while (!*flag) {
    int alive = uv_run(&e->loop, UV_RUN_ONCE);
    cr_assert(alive || *flag, "the loop ran dry before completion");
  }
}

static void result_free(struct result *r) { free(r->body); }

/* ---- responses --------------------------------------------------------------------- */

Test(eas_upstream, get_passes_status_fields_and_body, .timeout = 20) {
  struct env e;
  env_init(&e, UP_ECHO, 5000, 0);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "/a/b?x=1", &r), 0);
  cr_assert_eq(r.fired, 0, "done never fires inside the call");
  run_until(&e, &r.fired);
  cr_assert_eq(r.result, EGW_EAS_UP_OK, "%s", r.reason);
  cr_assert_eq(r.status, 201);
  cr_assert_str_eq(r.x_app, "yes", "names lower-cased, values trimmed");
  cr_assert_str_eq(r.body, "GET /a/b?x=1 HTTP/1.1\r\nHost: app\r\n\r\n");
  env_finish(&e);
  cr_assert_eq(e.srv.n_requests, 1);
  result_free(&r);
}

Test(eas_upstream, keep_alive_reuses_one_connection, .timeout = 20) {
  struct env e;
  env_init(&e, UP_ECHO, 5000, 0);
  struct result r[3] = {0};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(start(&e, i == 1 ? "DELETE" : "GET", "/k", &r[i]), 0);
    run_until(&e, &r[i].fired);
    cr_assert_eq(r[i].result, EGW_EAS_UP_OK, "%s", r[i].reason);
    cr_assert_eq(r[i].status, 201);
  }
  env_finish(&e);
  cr_assert_eq(e.srv.n_conns, 1);
  cr_assert_eq(e.srv.n_requests, 3);
  for (int i = 0; i < 3; i++)
    result_free(&r[i]);
}

Test(eas_upstream, a_large_body_goes_up_and_comes_back_intact, .timeout = 30) {
  struct env e;
  env_init(&e, UP_ECHO, 10000, 0);
  size_t n = 1024 * 1024;
  uint8_t *body = malloc(n);
  for (size_t i = 0; i < n; i++)
    body[i] = (uint8_t)(i * 7 + i / 251);
  struct result r = {0};
  cr_assert_eq(start_body(&e, "POST", "/upload", body, n, &r, NULL), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.result, EGW_EAS_UP_OK, "%s", r.reason);
  cr_assert_gt(r.body_len, n);
  cr_assert_eq(memcmp(r.body + r.body_len - n, body, n), 0, "the echo ends with our body");
  env_finish(&e);
  cr_assert_eq(e.srv.last_body_len, n);
  free(body);
  result_free(&r);
}

Test(eas_upstream, chunked_response_is_dechunked, .timeout = 20) {
  struct env e;
  env_init(&e, UP_CHUNKED, 5000, 0);
  struct result r[2] = {0};
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(start(&e, "GET", "/c", &r[i]), 0);
    run_until(&e, &r[i].fired);
    cr_assert_eq(r[i].result, EGW_EAS_UP_OK, "%s", r[i].reason);
    cr_assert_str_eq(r[i].body, "hello world");
  }
  env_finish(&e);
  cr_assert_eq(e.srv.n_conns, 1, "a chunked response keeps the connection");
  result_free(&r[0]);
  result_free(&r[1]);
}

Test(eas_upstream, close_delimited_body, .timeout = 20) {
  struct env e;
  env_init(&e, UP_EOF_BODY, 5000, 0);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "/eof", &r), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.result, EGW_EAS_UP_OK, "%s", r.reason);
  cr_assert_str_eq(r.body, "until the end");
  env_finish(&e);
  result_free(&r);
}

Test(eas_upstream, interim_responses_are_skipped, .timeout = 20) {
  struct env e;
  env_init(&e, UP_CONTINUE, 5000, 0);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "/i", &r), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.result, EGW_EAS_UP_OK, "%s", r.reason);
  cr_assert_eq(r.status, 201);
  env_finish(&e);
  result_free(&r);
}

Test(eas_upstream, head_response_has_no_body_and_keeps_the_connection, .timeout = 20) {
  struct env e;
  env_init(&e, UP_HEAD_LENGTH, 5000, 0);
  struct result r[2] = {0};
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(start(&e, "HEAD", "/h", &r[i]), 0);
    run_until(&e, &r[i].fired);
    cr_assert_eq(r[i].result, EGW_EAS_UP_OK, "%s", r[i].reason);
    cr_assert_eq(r[i].status, 200);
    cr_assert_eq(r[i].body_len, 0);
  }
  env_finish(&e);
  cr_assert_eq(e.srv.n_conns, 1);
  result_free(&r[0]);
  result_free(&r[1]);
}

Test(eas_upstream, a_closed_connection_is_not_reused, .timeout = 20) {
  struct env e;
  env_init(&e, UP_CLOSE_AFTER, 5000, 0);
  struct result r[2] = {0};
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(start(&e, "GET", "/x", &r[i]), 0);
    run_until(&e, &r[i].fired);
    cr_assert_eq(r[i].result, EGW_EAS_UP_OK, "call %d: %s", i, r[i].reason);
  }
  env_finish(&e);
  cr_assert_eq(e.srv.n_conns, 2);
  result_free(&r[0]);
  result_free(&r[1]);
}

/* ---- failures ---------------------------------------------------------------------- */

Test(eas_upstream, refused_connection_is_unavailable, .timeout = 20) {
  struct env e;
  memset(&e, 0, sizeof(e));
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  struct egw__eas_upstream_config cfg = {.timeout_ms = 5000};
  cr_assert_eq(uv_ip4_addr("127.0.0.1", up_free_port(), (struct sockaddr_in *)&cfg.addr), 0);
  e.up = egw__eas_upstream_new(&e.loop, &cfg);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "/", &r), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.result, EGW_EAS_UP_UNAVAILABLE);
  cr_assert_str_eq(r.reason, "connection refused");
  env_finish(&e);
  result_free(&r);
}

Test(eas_upstream, silent_application_times_out, .timeout = 20) {
  struct env e;
  env_init(&e, UP_SILENT, 300, 0);
  struct result r = {0};
  uint64_t t0 = uv_now(&e.loop);
  cr_assert_eq(start(&e, "GET", "/slow", &r), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.result, EGW_EAS_UP_TIMEOUT);
  cr_assert_geq(r.at - t0, 290);
  cr_assert_lt(r.at - t0, 2000);
  env_finish(&e);
  result_free(&r);
}

Test(eas_upstream, malformed_responses, .timeout = 20) {
  enum up_mode modes[] = {UP_GARBAGE, UP_BAD_CHUNK};
  for (size_t i = 0; i < 2; i++) {
    struct env e;
    env_init(&e, modes[i], 5000, 0);
    struct result r = {0};
    cr_assert_eq(start(&e, "GET", "/", &r), 0);
    run_until(&e, &r.fired);
    cr_assert_eq(r.result, EGW_EAS_UP_MALFORMED, "mode %d: %s", (int)modes[i], r.reason);
    cr_assert_eq(r.status, 0);
    env_finish(&e);
    result_free(&r);
  }
}

Test(eas_upstream, oversized_body_is_refused, .timeout = 20) {
  struct env e;
  env_init(&e, UP_HUGE, 5000, 1024 * 1024);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "/", &r), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.result, EGW_EAS_UP_TOO_LARGE);
  env_finish(&e);
  result_free(&r);
}

Test(eas_upstream, response_cut_short_is_unavailable, .timeout = 20) {
  struct env e;
  env_init(&e, UP_TRUNCATED, 5000, 0);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "/", &r), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.result, EGW_EAS_UP_UNAVAILABLE);
  cr_assert_str_eq(r.reason, "connection closed mid-response");
  env_finish(&e);
  result_free(&r);
}

/* ---- cancel, shutdown, free -------------------------------------------------------- */

Test(eas_upstream, cancel_fires_at_once_and_closes, .timeout = 20) {
  struct env e;
  env_init(&e, UP_SILENT, 5000, 0);
  struct result r = {0};
  struct egw__eas_call *call = NULL;
  cr_assert_eq(start_body(&e, "GET", "/", NULL, 0, &r, &call), 0);
  for (int i = 0; i < 50 && e.srv.n_requests == 0; i++) {
    uv_run(&e.loop, UV_RUN_NOWAIT);
    usleep(10000);
  }
  egw__eas_call_cancel(call);
  cr_assert_eq(r.fired, 1);
  cr_assert_eq(r.result, EGW_EAS_UP_CANCELLED);
  env_finish(&e);
  result_free(&r);
}

Test(eas_upstream, shutdown_refuses_new_calls, .timeout = 20) {
  struct env e;
  env_init(&e, UP_ECHO, 5000, 0);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "/", &r), 0);
  run_until(&e, &r.fired);
  egw__eas_upstream_shutdown(e.up);
  struct result r2 = {0};
  cr_assert_eq(start(&e, "GET", "/", &r2), UV_ECANCELED);
  cr_assert_eq(r2.fired, 0);
  env_finish(&e);
  result_free(&r);
}

Test(eas_upstream, free_cancels_calls_in_flight, .timeout = 20) {
  struct env e;
  env_init(&e, UP_SILENT, 5000, 0);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "/", &r), 0);
  uv_run(&e.loop, UV_RUN_NOWAIT);
  env_finish(&e);
  cr_assert_eq(r.fired, 1);
  cr_assert_eq(r.result, EGW_EAS_UP_CANCELLED);
  result_free(&r);
}
