/* The EAS proxy streams the client's request body: the application sees the first bytes
 * while the client is still sending, and the whole body arrives with the client's
 * length. */
#include <criterion/criterion.h>
#include <string.h>

#include "eas_fixture.h"
#include "eas_upstream_srv.h"

static void on_tick(uv_timer_t *t) { (*(uint64_t *)t->data)++; }

/* Runs the loop (answering framing's wake) until |done| or |ms| passed; a 5 ms tick keeps
 * the loop from sleeping while the application's thread makes progress. */
static void run_until(struct eas_fx *f, int (*done)(struct eas_fx *, struct up_srv *),
                      struct up_srv *srv, uint64_t ms) {
  uv_timer_t t;
  uint64_t ticks = 0;
  uv_timer_init(&f->loop, &t);
  t.data = &ticks;
  uv_timer_start(&t, on_tick, 5, 5);
  fx_pump(f);
  while (ticks * 5 < ms && !done(f, srv)) {
    uv_run(&f->loop, UV_RUN_ONCE);
    fx_pump(f);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

static int app_saw_body(struct eas_fx *f, struct up_srv *srv) { return srv->body_seen > 0; }

static int answered(struct eas_fx *f, struct up_srv *srv) {
  return egw_h1_state(f->h1) == EGW_H1_IDLE;
}

Test(eas_body, the_application_sees_the_body_before_the_client_finished, .timeout = 30) {
  struct eas_fx f;
  struct up_srv srv;
  up_srv_start(&srv, UP_ECHO);
  fx_policy(&f, srv.port, 5000);
  f.token_sub = "ees1.site1.example";
  f.stream_bodies = 1;
  fx_start(&f);
  size_t n = 1u << 20, first = 65536;
  char *body = malloc(n);
  for (size_t i = 0; i < n; i++)
    body[i] = (char)('a' + i % 26);
  char head[256];
  snprintf(head, sizeof(head),
           "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n"
           "Expect: 100-continue\r\n\r\n",
           n);
  uint64_t t0 = uv_hrtime();
  fx_send_str(&f, head);
  fx_pump(&f);
  cr_assert(f.out.len >= 25 && memcmp(f.out.data, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0,
            "100 Continue once the proxy reads the body");
  f.out.len = 0;
  fx_feed(&f, body, first);
  run_until(&f, app_saw_body, &srv, 5000);
  uint64_t first_ms = (uv_hrtime() - t0) / 1000000;
  cr_assert_gt(srv.body_seen, 0, "the application saw no byte of the body");
  cr_assert_leq(srv.body_seen, first, "only what the client sent so far");
  cr_assert_eq(srv.n_requests, 0, "the request is not complete at the application yet");
  printf("eas_body: first body bytes at the application after %llu ms\n",
         (unsigned long long)first_ms);
  /* The rest, in pieces. */
  for (size_t off = first; off < n; off += 100000) {
    fx_feed(&f, body + off, off + 100000 <= n ? 100000 : n - off);
    fx_pump(&f);
    uv_run(&f.loop, UV_RUN_NOWAIT);
  }
  run_until(&f, answered, &srv, 10000);
  struct fx_resp r;
  fx_read(&f, &r);
  cr_assert_eq(r.status, 201, "%s", r.head); /* the echo application */
  /* The echo is the request head the application received, then the body. */
  const char *end = memmem(r.body, r.body_len, "\r\n\r\n", 4);
  cr_assert_not_null(end);
  size_t head_len = (size_t)(end + 4 - r.body);
  char *up_head = strndup(r.body, head_len);
  cr_assert_not_null(strstr(up_head, "\r\nContent-Length: 1048576\r\n"), "%s", up_head);
  cr_assert_null(strstr(up_head, "Transfer-Encoding"), "%s", up_head);
  cr_assert_null(strcasestr(up_head, "expect"), "%s", up_head);
  cr_assert_eq(r.body_len - head_len, n);
  cr_assert_eq(memcmp(r.body + head_len, body, n), 0, "the body arrived intact");
  free(up_head);
  free(r.body);
  free(body);
  fx_finish(&f);
  up_srv_stop(&srv);
  cr_assert_eq(srv.last_body_len, n);
  fx_log_free(&f);
}
