/* The EAS proxy streams the application's answer: the first bytes reach the client before
 * the application finished, a HEAD answer keeps the application's length, and a client
 * that does not read pauses the application instead of filling the gateway's memory. */
#include <criterion/criterion.h>
#include <string.h>

#include "eas_fixture.h"
#include "eas_upstream_srv.h"

static void start_with(struct eas_fx *f, struct up_srv *srv, enum up_mode mode) {
  up_srv_start(srv, mode);
  fx_policy(f, srv->port, 5000);
  f->token_sub = "ees1.site1.example";
  f->token_eec_id = "spiffe://site1/eec/eec1";
  fx_start(f);
}

static void stop(struct eas_fx *f, struct up_srv *srv) {
  fx_finish(f);
  up_srv_stop(srv);
  fx_log_free(f);
}

Test(eas_stream, the_first_bytes_reach_the_client_before_the_application_finished, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_DRIP);
  uint64_t t0 = uv_hrtime();
  fx_send_str(&f, "GET /drip HTTP/1.1\r\nHost: a\r\n\r\n");
  while (f.out.len == 0 || memmem(f.out.data, f.out.len, "first", 5) == NULL)
    cr_assert(uv_run(&f.loop, UV_RUN_ONCE), "the loop ran dry");
  uint64_t first_ms = (uv_hrtime() - t0) / 1000000;
  cr_assert_lt(first_ms, 500, "first chunk after %llu ms", (unsigned long long)first_ms);
  cr_assert_null(memmem(f.out.data, f.out.len, "rest", 4), "the rest is still to come");
  struct fx_resp r;
  fx_read(&f, &r);
  uint64_t all_ms = (uv_hrtime() - t0) / 1000000;
  cr_assert_eq(r.status, 200);
  cr_assert(r.chunked && !r.truncated, "%s", r.head);
  cr_assert_str_eq(r.body, "first and the rest");
  cr_assert_geq(all_ms, 900, "the application paused 1 s (%llu ms)", (unsigned long long)all_ms);
  cr_assert_eq(egw_h1_state(f.h1), EGW_H1_IDLE, "the connection stays open");
  free(r.body);
  stop(&f, &srv);
}

Test(eas_stream, head_gets_the_applications_content_length, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_HEAD_LENGTH);
  fx_send_str(&f, "HEAD /doc HTTP/1.1\r\nHost: a\r\n\r\n");
  while (f.out.len == 0 || memmem(f.out.data, f.out.len, "\r\n\r\n", 4) == NULL)
    cr_assert(uv_run(&f.loop, UV_RUN_ONCE), "the loop ran dry");
  for (int i = 0; i < 10 && egw_h1_state(f.h1) != EGW_H1_IDLE; i++)
    uv_run(&f.loop, UV_RUN_ONCE);
  char head[1024];
  snprintf(head, sizeof(head), "%.*s", (int)f.out.len, (const char *)f.out.data);
  cr_assert(strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", head);
  cr_assert_not_null(strstr(head, "\r\nContent-Length: 42\r\n"), "%s", head);
  cr_assert_null(strstr(head, "Transfer-Encoding"), "%s", head);
  cr_assert_str_eq(strstr(head, "\r\n\r\n"), "\r\n\r\n", "no body after the head");
  cr_assert_eq(egw_h1_state(f.h1), EGW_H1_IDLE, "the connection stays open");
  stop(&f, &srv);
}

static void on_tick(uv_timer_t *t) { *(int *)t->data = 1; }

/* Runs the loop for |ms| milliseconds. */
static void run_for(struct eas_fx *f, uint64_t ms) {
  uv_timer_t t;
  int fired = 0;
  uv_timer_init(&f->loop, &t);
  t.data = &fired;
  uv_timer_start(&t, on_tick, ms, 0);
  while (!fired)
    uv_run(&f->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

Test(eas_stream, a_client_that_does_not_read_pauses_the_application, .timeout = 30) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_BIG);
  f.model_queue = 1; /* what the client has not read is queued */
  fx_send_str(&f, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
  run_for(&f, 400);
  /* Bounded: the high-water mark, plus what one read of the application brings. */
  size_t bound = EGW_STREAM_HIGH_WATER + 2 * 65536 + 4096;
  cr_assert_gt(f.out.len, EGW_STREAM_HIGH_WATER, "%zu", f.out.len);
  cr_assert_lt(f.out.len, bound, "%zu queued while the client does not read", f.out.len);
  /* The client reads; each time it has read all, the connection says so. */
  struct egw_buf all = {0};
  size_t max_queued = 0;
  while (egw_h1_state(f.h1) == EGW_H1_BUSY) {
    if (f.out.len > max_queued)
      max_queued = f.out.len;
    egw_buf_append(&all, f.out.data, f.out.len);
    f.out.len = 0;
    egw_h1_drained(f.h1);
    uv_run(&f.loop, UV_RUN_ONCE);
  }
  egw_buf_append(&all, f.out.data, f.out.len);
  f.out.len = 0;
  cr_assert_lt(max_queued, bound, "%zu", max_queued);
  const char *end = memmem(all.data, all.len, "\r\n\r\n", 4);
  cr_assert_not_null(end);
  size_t head_len = (size_t)(end + 4 - (const char *)all.data);
  struct egw_buf body = {0};
  size_t used = fx_dechunk((const char *)all.data + head_len, all.len - head_len, &body);
  cr_assert_eq(used, all.len - head_len, "one complete chunked body");
  cr_assert_eq(body.len, UP_BIG_BYTES);
  for (size_t i = 0; i < body.len; i += 4093)
    cr_assert_eq(body.data[i], 'a' + i % 26, "byte %zu", i);
  cr_assert_eq(egw_h1_state(f.h1), EGW_H1_IDLE);
  egw_buf_free(&all);
  egw_buf_free(&body);
  stop(&f, &srv);
}
