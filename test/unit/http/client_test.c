/* The HTTPS client against a scripted server on 127.0.0.1: what a caller sees (status,
 * headers, body, error), what the server received, and that every test leaves the loop
 * with nothing open. */
#include "client_env.h"

/* ---- responses --------------------------------------------------------------------- */

Test(http_client, get_200_with_body, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_FIXED, defaults);
  struct result r = {0};
  char url[160];
  snprintf(url, sizeof(url), "%s/a/b?x=1#frag", e.url);
  cr_assert_eq(start(&e, "GET", url, &r, NULL), 0);
  cr_assert_eq(r.fired, 0, "done never fires inside request");
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.fired, 1);
  cr_assert_str_eq(r.error, "");
  cr_assert_eq(r.status, 200);
  cr_assert_str_eq(r.body, "hello /a/b?x=1");
  cr_assert_eq(r.body_len, strlen("hello /a/b?x=1"));
  cr_assert_str_eq(r.x_test, "yes", "names lower-cased, values trimmed");
  cr_assert_str_eq(r.content_type, "text/plain");
  cr_assert_str_eq(e.srv.method, "GET");
  cr_assert_str_eq(e.srv.target, "/a/b?x=1", "the fragment is not sent");
  char host[64];
  snprintf(host, sizeof(host), "127.0.0.1:%u", e.srv.port);
  cr_assert_str_eq(e.srv.host, host);
}

static void on_done_post(void *arg, const struct egw_http_client_response *resp) {
  on_done(arg, resp);
}

Test(http_client, post_form_body_reaches_server, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_ECHO, defaults);
  struct result r = {.loop = &e.loop};
  static const char form[] = "grant_type=client_credentials&scope=a%20b";
  const struct egw_header hdrs[] = {
      {.name = "X-Req", .value = "v1"},
      {.name = "Content-Length", .value = "999"}, /* the client's own: dropped */
  };
  struct egw_http_client_request req = {
      .method = "POST",
      .url = e.url,
      .headers = hdrs,
      .n_headers = 2,
      .body = form,
      .body_len = sizeof(form) - 1,
      .content_type = "application/x-www-form-urlencoded",
  };
  cr_assert_eq(egw_http_client_request(e.client, &req, on_done_post, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_str_eq(r.body, form);
  cr_assert_str_eq(e.srv.method, "POST");
  cr_assert_str_eq(e.srv.target, "/");
  cr_assert_str_eq(e.srv.content_type, "application/x-www-form-urlencoded");
  cr_assert_str_eq(e.srv.x_req, "v1");
  cr_assert_eq(e.srv.body_len, sizeof(form) - 1);
  cr_assert_eq(memcmp(e.srv.body, form, sizeof(form) - 1), 0);
}

Test(http_client, keep_alive_reuses_one_connection, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_FIXED, defaults);
  struct result r[3] = {{0}};
  for (int i = 0; i < 3; i++) {
    char url[160];
    snprintf(url, sizeof(url), "%s/n%d", e.url, i);
    cr_assert_eq(start(&e, "GET", url, &r[i], NULL), 0);
    run_until(&e, &r[i].fired);
    cr_assert_eq(r[i].status, 200, "%s", r[i].error);
    char want[32];
    snprintf(want, sizeof(want), "hello /n%d", i);
    cr_assert_str_eq(r[i].body, want);
  }
  env_finish(&e);
  cr_assert_eq(e.srv.n_conns, 1);
  cr_assert_eq(e.srv.n_requests, 3);
}

Test(http_client, chunked_response, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_CHUNKED, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_str_eq(r.body, "hello world");
  cr_assert_eq(r.n_headers, 1, "trailer fields are not headers");
  /* The chunked response was complete: the connection is reused. */
  struct result r2 = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r2, NULL), 0);
  run_until(&e, &r2.fired);
  env_finish(&e);
  cr_assert_eq(r2.status, 200);
  cr_assert_eq(e.srv.n_conns, 1);
}

Test(http_client, interim_responses_are_skipped, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_CONTINUE, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_str_eq(r.body, "hello /");
  cr_assert_str_eq(r.x_test, "yes");
}

Test(http_client, body_delimited_by_close, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_EOF_BODY, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_str_eq(r.body, "until the end");
}

Test(http_client, body_over_limit_content_length, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_HUGE_CL, (struct egw_http_client_config){.max_body_bytes = 65536});
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 0);
  cr_assert_str_eq(r.error, "response too large");
}

Test(http_client, body_over_limit_chunked, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_HUGE_CHUNK, (struct egw_http_client_config){.max_body_bytes = 65536});
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 0);
  cr_assert_str_eq(r.error, "response too large");
}

Test(http_client, default_limit_is_one_mebibyte, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_HUGE_CHUNK, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_str_eq(r.error, "response too large");
}

Test(http_client, garbage_is_malformed, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_GARBAGE, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 0);
  cr_assert_str_eq(r.error, "malformed response");
}

/* ---- transport failures ------------------------------------------------------------ */

Test(http_client, silent_server_times_out, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_SILENT, (struct egw_http_client_config){.timeout_ms = 300});
  struct result r = {0};
  uv_update_time(&e.loop);
  uint64_t t0 = uv_now(&e.loop);
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.fired, 1);
  cr_assert_eq(r.status, 0);
  cr_assert_str_eq(r.error, "timeout");
  cr_assert_geq(r.at - t0, 300);
  cr_assert_lt(r.at - t0, 1500);
}

Test(http_client, connection_refused, .timeout = 20) {
  ensure_certs();
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  env_client(&e, CERTS "ca.pem", defaults);
  snprintf(e.url, sizeof(e.url), "https://127.0.0.1:%u/", unused_port());
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.fired, 1);
  cr_assert_eq(r.status, 0);
  cr_assert_str_eq(r.error, "connection refused");
  cr_assert_eq(r.result, EGW_HTTP_CLIENT_UNREACHABLE);
}

Test(http_client, server_from_another_ca_fails_verification, .timeout = 20) {
  ensure_certs();
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  client_srv_start(&e.srv, SRV_FIXED, CERTS "ecs.pem", CERTS "ecs.key", NULL);
  e.srv_running = 1;
  snprintf(e.url, sizeof(e.url), "https://127.0.0.1:%u/", e.srv.port);
  env_client(&e, CERTS "rogue-ca.pem", defaults); /* trusts only the rogue CA */
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 0);
  cr_assert(strncmp(r.error, "certificate verify failed: ", 27) == 0, "%s", r.error);
  cr_assert_eq(r.result, EGW_HTTP_CLIENT_TLS);
  cr_assert_eq(e.srv.n_requests, 0, "nothing was sent to an unverified server");
}

Test(http_client, name_mismatch_fails_verification, .timeout = 20) {
  ensure_certs();
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  /* Signed by the site CA, but named issuer.entitlement.example only. */
  client_srv_start(&e.srv, SRV_FIXED, CERTS "jwt-issuer.pem", CERTS "jwt-issuer.key", NULL);
  e.srv_running = 1;
  snprintf(e.url, sizeof(e.url), "https://127.0.0.1:%u/", e.srv.port);
  env_client(&e, CERTS "ca.pem", defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 0);
  cr_assert(strncmp(r.error, "certificate verify failed: ", 27) == 0, "%s", r.error);
  cr_assert(strstr(r.error, "mismatch") != NULL, "%s", r.error);
}

Test(http_client, dns_name_resolved_and_verified, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_FIXED, defaults);
  char url[128];
  snprintf(url, sizeof(url), "https://LocalHost:%u/dns", e.srv.port);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_str_eq(r.body, "hello /dns");
}

Test(http_client, unknown_name_fails_resolution, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_FIXED, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", "https://no-such-host.invalid/", &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 0);
  cr_assert_str_eq(r.error, "name resolution failed");
}

/* ---- mutual TLS -------------------------------------------------------------------- */

Test(http_client, mtls_client_certificate_presented, .timeout = 20) {
  ensure_certs();
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  client_srv_start(&e.srv, SRV_FIXED, CERTS "ecs.pem", CERTS "ecs.key", CERTS "ca.pem");
  e.srv_running = 1;
  snprintf(e.url, sizeof(e.url), "https://127.0.0.1:%u/m", e.srv.port);
  env_client(&e, CERTS "ca.pem",
             (struct egw_http_client_config){.client_cert_file = CERTS "eec1.pem",
                                             .client_key_file = CERTS "eec1.key"});
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_str_eq(e.srv.peer_cn, "eec1");
  cr_assert_str_eq(e.srv.peer_uri, "spiffe://site1/eec/eec1");
}

Test(http_client, mtls_without_client_certificate_fails, .timeout = 20) {
  ensure_certs();
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  client_srv_start(&e.srv, SRV_FIXED, CERTS "ecs.pem", CERTS "ecs.key", CERTS "ca.pem");
  e.srv_running = 1;
  snprintf(e.url, sizeof(e.url), "https://127.0.0.1:%u/m", e.srv.port);
  env_client(&e, CERTS "ca.pem", defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 0);
  cr_assert(r.has_error);
  cr_assert_eq(e.srv.n_requests, 0);
  cr_assert_eq(e.srv.handshakes_failed, 1);
}

Test(http_client, bad_client_key_is_a_config_error) {
  ensure_certs();
  X509_STORE *st = load_store(CERTS "ca.pem");
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *err = NULL;
  struct egw_http_client_config cfg = {.trust = st,
                                       .client_cert_file = CERTS "eec1.pem",
                                       .client_key_file = CERTS "ees1-client.key"};
  cr_assert_null(egw_http_client_new(&loop, &cfg, &err));
  cr_assert_not_null(err);
  cr_assert(strncmp(err, "client_key_file: ", 17) == 0, "%s", err);
  free(err);
  cfg.client_key_file = NULL;
  cr_assert_null(egw_http_client_new(&loop, &cfg, &err));
  free(err);
  cfg = (struct egw_http_client_config){0};
  cr_assert_null(egw_http_client_new(&loop, &cfg, &err));
  free(err);
  X509_STORE_free(st);
  cr_assert_eq(uv_loop_close(&loop), 0);
}

/* ---- cancel and free --------------------------------------------------------------- */

struct canceller {
  uv_timer_t timer;
  struct egw_http_call *call;
  struct env *env;
  struct result *r;
  int fired_inside; /* done had fired when cancel returned */
};

static void on_cancel_timer(uv_timer_t *t) {
  struct canceller *k = t->data;
  egw_http_call_cancel(k->call);
  k->fired_inside = k->r->fired;
  uv_close((uv_handle_t *)&k->timer, NULL);
}

Test(http_client, cancel_fires_done_once_with_cancelled, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_SILENT, defaults);
  struct result r = {0};
  struct canceller k = {.env = &e, .r = &r};
  cr_assert_eq(start(&e, "GET", e.url, &r, &k.call), 0);
  uv_timer_init(&e.loop, &k.timer);
  k.timer.data = &k;
  uv_timer_start(&k.timer, on_cancel_timer, 100, 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.fired, 1);
  cr_assert_eq(k.fired_inside, 1);
  cr_assert_eq(r.status, 0);
  cr_assert_str_eq(r.error, "cancelled");
  cr_assert_eq(r.result, EGW_HTTP_CLIENT_CANCELLED);
}

Test(http_client, cancel_before_connecting, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_FIXED, defaults);
  struct result r = {0}, r2 = {0};
  struct egw_http_call *call = NULL, *call2 = NULL;
  cr_assert_eq(start(&e, "GET", e.url, &r, &call), 0);
  char url[128];
  snprintf(url, sizeof(url), "https://localhost:%u/", e.srv.port);
  cr_assert_eq(start(&e, "GET", url, &r2, &call2), 0); /* resolving */
  egw_http_call_cancel(call);
  egw_http_call_cancel(call2);
  cr_assert_eq(r.fired, 1);
  cr_assert_eq(r2.fired, 1);
  cr_assert_str_eq(r.error, "cancelled");
  cr_assert_str_eq(r2.error, "cancelled");
  env_finish(&e);
  cr_assert_eq(r.fired, 1);
  cr_assert_eq(r2.fired, 1);
}

struct freer {
  uv_timer_t timer;
  struct env *env;
};

static void on_free_timer(uv_timer_t *t) {
  struct freer *f = t->data;
  egw_http_client_free(f->env->client);
  f->env->client = NULL;
  uv_close((uv_handle_t *)&f->timer, NULL);
}

Test(http_client, free_with_call_in_flight, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_SILENT, defaults);
  struct result r = {0}, idle = {0};
  /* One pooled connection (to another server) and one call in flight. */
  struct client_srv other;
  client_srv_start(&other, SRV_FIXED, CERTS "ecs.pem", CERTS "ecs.key", NULL);
  char url[128];
  snprintf(url, sizeof(url), "https://127.0.0.1:%u/", other.port);
  cr_assert_eq(start(&e, "GET", url, &idle, NULL), 0);
  run_until(&e, &idle.fired);
  cr_assert_eq(idle.status, 200);
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  struct freer f = {.env = &e};
  uv_timer_init(&e.loop, &f.timer);
  f.timer.data = &f;
  uv_timer_start(&f.timer, on_free_timer, 100, 0);
  cr_assert_eq(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
  cr_assert_eq(r.fired, 1);
  cr_assert_str_eq(r.error, "cancelled");
  env_finish(&e); /* frees NULL, checks the loop closes */
  client_srv_stop(&other);
}

/* ---- the pool and a server that closes --------------------------------------------- */

Test(http_client, idle_connection_closed_by_server_is_dropped, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_CLOSE_AFTER, defaults);
  struct result r1 = {0}, r2 = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r1, NULL), 0);
  run_until(&e, &r1.fired);
  cr_assert_eq(r1.status, 200);
  /* Let the close arrive while idle; a POST is not retried, so it succeeds only on a
   * fresh connection. */
  usleep(100 * 1000);
  uv_run(&e.loop, UV_RUN_NOWAIT);
  struct egw_http_client_request req = {.method = "POST", .url = e.url, .body = "x", .body_len = 1};
  cr_assert_eq(egw_http_client_request(e.client, &req, on_done, &r2, NULL), 0);
  run_until(&e, &r2.fired);
  env_finish(&e);
  cr_assert_eq(r2.status, 200, "%s", r2.error);
  cr_assert_eq(e.srv.n_conns, 2);
}

Test(http_client, idempotent_request_retried_once_on_stale_connection, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_CLOSE_AFTER, defaults);
  struct result r1 = {0}, r2 = {0};
  /* The second request starts from the first's completion, on the connection just
   * pooled, before its close is seen. */
  r1.env = &e;
  r1.next = &r2;
  r1.next_method = "GET";
  cr_assert_eq(start(&e, "GET", e.url, &r1, NULL), 0);
  run_until(&e, &r2.fired);
  env_finish(&e);
  cr_assert_eq(r1.status, 200);
  cr_assert_eq(r2.status, 200, "%s", r2.error);
  cr_assert_eq(e.srv.n_conns, 2);
  cr_assert_eq(e.srv.n_requests, 2);
}

Test(http_client, non_idempotent_request_not_retried, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_CLOSE_AFTER, defaults);
  struct result r1 = {0}, r2 = {0};
  r1.env = &e;
  r1.next = &r2;
  r1.next_method = "POST";
  cr_assert_eq(start(&e, "GET", e.url, &r1, NULL), 0);
  run_until(&e, &r2.fired);
  env_finish(&e);
  cr_assert_eq(r1.status, 200);
  cr_assert_eq(r2.status, 0);
  cr_assert_str_eq(r2.error, "connection closed");
  cr_assert_eq(e.srv.n_requests, 1);
}

/* ---- refused requests -------------------------------------------------------------- */

static void never(void *arg, const struct egw_http_client_response *resp) {
  cr_assert_fail("done fired for a refused request");
}

Test(http_client, bad_requests_refused_without_callback) {
  ensure_certs();
  struct env e = {0};
  cr_assert_eq(uv_loop_init(&e.loop), 0);
  env_client(&e, CERTS "ca.pem", defaults);
  static const char *const bad_urls[] = {
      "http://127.0.0.1/", "https://",         "https:///x",    "https://a b/",
      "https://h:0/",      "https://h:65536/", "https://h:x/",  "https://[::1/",
      "https://[nothex]/", "https://u@h/",     "https://h/a b", "ftp://h/",
  };
  for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
    struct egw_http_client_request req = {.method = "GET", .url = bad_urls[i]};
    cr_assert_eq(egw_http_client_request(e.client, &req, never, NULL, NULL), UV_EINVAL, "%s",
                 bad_urls[i]);
  }
  struct egw_http_client_request req = {.method = "GE T", .url = "https://h/"};
  cr_assert_eq(egw_http_client_request(e.client, &req, never, NULL, NULL), UV_EINVAL);
  const struct egw_header split = {.name = "X-A", .value = "v\r\nX-B: w"};
  req = (struct egw_http_client_request){
      .method = "GET", .url = "https://h/", .headers = &split, .n_headers = 1};
  cr_assert_eq(egw_http_client_request(e.client, &req, never, NULL, NULL), UV_EINVAL);
  env_finish(&e);
}

Test(http_client, idle_connection_expires, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_FIXED, (struct egw_http_client_config){.idle_ms = 50});
  struct result r = {0};
  cr_assert_eq(start(&e, "GET", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  cr_assert_eq(r.status, 200);
  /* Only the pooled connection is left: the loop ends when its idle time is up. */
  cr_assert_eq(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
  cr_assert_geq(uv_now(&e.loop) - r.at, 50, "kept for idle_ms after the response");
  env_finish(&e);
}

Test(http_client, head_response_has_no_body, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_FIXED, defaults);
  struct result r = {0};
  cr_assert_eq(start(&e, "HEAD", e.url, &r, NULL), 0);
  run_until(&e, &r.fired);
  env_finish(&e);
  cr_assert_eq(r.status, 200, "%s", r.error);
  cr_assert_eq(r.body_len, 0);
  cr_assert_str_eq(r.x_test, "yes");
}
