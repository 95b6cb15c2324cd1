/* The HTTP client in plain HTTP (allow_plain_http) against a scripted server on
 * 127.0.0.1, and what both transports share that a proxy leans on: a head the caller
 * serialized, a borrowed body, repeated field names, the head limit, refused versus
 * reset, a response cut short, a response that overtakes its request, shutdown. */
#include "client_env.h"

/* ---- who may speak plain HTTP ------------------------------------------------------- */

static void never(void *arg, const struct egw_http_client_response *resp) {
  cr_assert_fail("done fired for a refused request");
}

Test(http_client_plain, only_a_client_that_allows_it_takes_http_urls) {
  ensure_certs();
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  env_client(&e, CERTS "ca.pem", defaults);
  struct egw_http_client_request req = {.method = "GET", .url = "http://127.0.0.1:1/"};
  cr_assert_eq(egw_http_client_request(e.client, &req, never, NULL, NULL), UV_EINVAL);
  env_finish(&e);

  /* A plain client without a trust store has no TLS: https:// is refused. */
  memset(&e, 0, sizeof(e));
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  struct egw_http_client_config cfg = {.allow_plain_http = 1};
  e.client = egw_http_client_new(&e.loop, &cfg, NULL);
  cr_assert_not_null(e.client);
  req.url = "https://127.0.0.1:1/";
  cr_assert_eq(egw_http_client_request(e.client, &req, never, NULL, NULL), UV_EINVAL);
  env_finish(&e);
}

Test(http_client_plain, a_client_certificate_needs_tls) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *err = NULL;
  struct egw_http_client_config cfg = {.allow_plain_http = 1,
                                       .client_cert_file = CERTS "eec1.pem",
                                       .client_key_file = CERTS "eec1.key"};
  cr_assert_null(egw_http_client_new(&loop, &cfg, &err));
  cr_assert_not_null(strstr(err, "trust store"), "%s", err);
  free(err);
  cr_assert_eq(uv_loop_close(&loop), 0);
}

/* ---- responses --------------------------------------------------------------------- */

Test(http_client_plain, get_keeps_one_connection_alive, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_FIXED, defaults);
  struct result r[3] = {{0}};
  for (int i = 0; i < 3; i++) {
    char url[160];
    snprintf(url, sizeof(url), "%s/n%d?q=1", e.url, i);
    cr_assert_eq(start(&e, "GET", url, &r[i], NULL), 0);
    cr_assert_eq(r[i].fired, 0, "done never fires inside request");
    run_until(&e, &r[i].fired);
    cr_assert_eq(r[i].result, EGW_HTTP_CLIENT_OK, "%s", r[i].error);
    cr_assert_eq(r[i].status, 200);
    char want[32];
    snprintf(want, sizeof(want), "hello /n%d?q=1", i);
    cr_assert_str_eq(r[i].body, want);
    cr_assert_str_eq(r[i].x_test, "yes");
  }
  env_finish(&e);
  char host[64];
  snprintf(host, sizeof(host), "127.0.0.1:%u", e.srv.port);
  cr_assert_str_eq(e.srv.host, host);
  cr_assert_eq(e.srv.n_conns, 1);
  cr_assert_eq(e.srv.n_requests, 3);
}

Test(http_client_plain, repeated_field_names_are_kept_in_order, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_REPEATED, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_str_eq(r.fields, "set-cookie=a=1;x-test=yes;set-cookie=b=2;content-length=2;");
  cr_assert_str_eq(r.body, "ok");
}

Test(http_client_plain, chunked_and_interim_and_close_delimited, .timeout = 20) {
  enum client_srv_mode modes[] = {SRV_CHUNKED, SRV_CONTINUE, SRV_EOF_BODY};
  const char *bodies[] = {"hello world", "hello /", "until the end"};
  for (size_t i = 0; i < 3; i++) {
    struct env e;
    env_init_plain(&e, modes[i], defaults);
    struct result r = {0};
    cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
    run_until(&e, &r.fired);
    env_finish(&e);
    cr_assert_eq(r.result, EGW_HTTP_CLIENT_OK, "mode %d: %s", (int)modes[i], r.error);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, bodies[i]);
  }
}

/* ---- how a connection fails -------------------------------------------------------- */

Test(http_client_plain, refused_is_unreachable, .timeout = 20) {
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  struct egw_http_client_config cfg = {.allow_plain_http = 1};
  e.client = egw_http_client_new(&e.loop, &cfg, NULL);
  snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%u/", unused_port());
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.result, EGW_HTTP_CLIENT_UNREACHABLE);
  cr_assert_str_eq(r.error, "connection refused");
}

/* Each failure with its outcome and what a log says. */
Test(http_client_plain, failures_say_what_happened, .timeout = 30) {
  struct {
    enum client_srv_mode mode;
    struct egw_http_client_config cfg;
    enum egw_http_client_result result;
    const char *error;
  } cases[] = {
      {SRV_HUGE_HEAD, {0}, EGW_HTTP_CLIENT_TOO_LARGE, "response too large"},
      {SRV_HUGE_CL, {.max_body_bytes = 65536}, EGW_HTTP_CLIENT_TOO_LARGE, "response too large"},
      {SRV_GARBAGE, {0}, EGW_HTTP_CLIENT_MALFORMED, "malformed response"},
      {SRV_RESET, {0}, EGW_HTTP_CLIENT_CLOSED, "connection reset"},
      {SRV_TRUNCATED, {0}, EGW_HTTP_CLIENT_CLOSED, "connection closed mid-response"},
      {SRV_SILENT, {.timeout_ms = 200}, EGW_HTTP_CLIENT_TIMEOUT, "timeout"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct env e;
    env_init_plain(&e, cases[i].mode, cases[i].cfg);
    struct result r = {0};
    cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
    run_until(&e, &r.fired);
    env_finish(&e);
    cr_assert_eq(r.result, cases[i].result, "mode %d: %s", (int)cases[i].mode, r.error);
    cr_assert_str_eq(r.error, cases[i].error);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(e.srv.n_requests, 1);
  }
}

Test(http_client_plain, stale_connection_retried_for_get_only, .timeout = 20) {
  const char *methods[] = {"GET", "POST"};
  for (int i = 0; i < 2; i++) {
    struct env e;
    env_init_plain(&e, SRV_CLOSE_AFTER, defaults);
    struct result r1 = {.env = &e, .next_method = methods[i]}, r2 = {0};
    r1.next = &r2;
    cr_assert_eq(start(&e, "GET", e.url, &r1, NULL), 0);
    run_until(&e, &r2.fired);
    env_finish(&e);
    cr_assert_eq(r1.status, 200);
    if (i == 0) {
      cr_assert_eq(r2.result, EGW_HTTP_CLIENT_OK, "%s", r2.error);
      cr_assert_eq(e.srv.n_conns, 2);
    } else {
      cr_assert_eq(r2.result, EGW_HTTP_CLIENT_CLOSED);
      cr_assert_str_eq(r2.error, "connection closed");
    }
  }
}

/* ---- a proxy's request: its own head, a borrowed body ------------------------------ */

static const char proxied_head[] = "POST /orders?x=1 HTTP/1.1\r\nhost: app.example\r\n"
                                   "X-Req: passed\r\nContent-Length: 5\r\n\r\n";

Test(http_client_plain, a_callers_head_and_borrowed_body_go_out_as_they_are, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_ECHO, defaults);
  char body[] = "hello";
  struct egw_http_client_request req = {
      .method = "POST",
      .url = e.url,
      .head = proxied_head,
      .head_len = sizeof(proxied_head) - 1,
      .body = body,
      .body_len = 5,
      .borrow_body = 1,
  };
  struct result r = {.loop = &e.loop};
  cr_assert_eq(egw_http_client_request(e.client, &req, on_done, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_str_eq(r.body, "hello");
  cr_assert_str_eq(e.srv.method, "POST");
  cr_assert_str_eq(e.srv.target, "/orders?x=1", "the head's target, not the URL's");
  cr_assert_str_eq(e.srv.host, "app.example", "the head's Host, no other");
  cr_assert_str_eq(e.srv.x_req, "passed");
}

Test(http_client_plain, a_callers_head_must_be_whole_and_alone) {
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  struct egw_http_client_config cfg = {.allow_plain_http = 1};
  e.client = egw_http_client_new(&e.loop, &cfg, NULL);
  const struct egw_header extra = {.name = "X-A", .value = "1"};
  struct {
    const char *method, *head;
    const struct egw_header *headers;
    const char *content_type;
  } bad[] = {
      {"GET", "POST / HTTP/1.1\r\nHost: a\r\n\r\n", NULL, NULL}, /* another method */
      {"GET", "GET / HTTP/1.1\r\nHost: a\r\n", NULL, NULL},      /* no empty line */
      {"GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &extra, NULL},
      {"GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", NULL, "text/plain"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct egw_http_client_request req = {
        .method = bad[i].method,
        .url = "http://127.0.0.1:1",
        .head = bad[i].head,
        .head_len = strlen(bad[i].head),
        .headers = bad[i].headers,
        .n_headers = bad[i].headers ? 1 : 0,
        .content_type = bad[i].content_type,
    };
    cr_assert_eq(egw_http_client_request(e.client, &req, never, NULL, NULL), UV_EINVAL, "%zu", i);
  }
  env_finish(&e);
}

/* A server that answers before it read the whole request leaves the rest unread: that
 * connection must not serve another request. */
Test(http_client_plain, a_response_that_overtakes_its_request_closes_the_connection,
     .timeout = 30) {
  struct env e;
  env_init_plain(&e, SRV_EARLY, defaults);
  size_t n = 32u << 20; /* more than the socket buffers hold */
  char *body = calloc(1, n);
  struct result r[2] = {{0}};
  for (int i = 0; i < 2; i++) {
    struct egw_http_client_request req = {
        .method = "PUT", .url = e.url, .body = body, .body_len = n, .borrow_body = 1};
    r[i].loop = &e.loop;
    cr_assert_eq(egw_http_client_request(e.client, &req, on_done, &r[i], NULL), 0);
    run_until(&e, &r[i].fired);
    cr_assert_eq(r[i].status, 413, "call %d: %s", i, r[i].error);
  }
  env_finish(&e);
  free(body);
  cr_assert_eq(e.srv.n_conns, 2, "the first connection was not reused");
}

/* ---- shutdown ---------------------------------------------------------------------- */

Test(http_client_plain, shutdown_closes_idle_connections_and_refuses_calls, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_FIXED, defaults);
  struct result r = {0}, r2 = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.status, 200);
  egw_http_client_shutdown(e.client);
  /* Nothing is left to keep the loop alive (the idle connection would for 30 s). */
  cr_assert_eq(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
  cr_assert_eq(start(&e, "GET", e.url, &r2, NULL), UV_ECANCELED);
  cr_assert_eq(r2.fired, 0);
  env_finish(&e);
}

Test(http_client_plain, shutdown_lets_a_call_in_flight_finish, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_FIXED, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  egw_http_client_shutdown(e.client);
  /* The call completes, then its connection closes instead of being pooled. */
  cr_assert_eq(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
  cr_assert_eq(r.fired, 1);
  cr_assert_eq(r.result, EGW_HTTP_CLIENT_OK, "%s", r.error);
  cr_assert_str_eq(r.body, "hello /");
  env_finish(&e);
}
