/* The EAS role as a client sees it: requests that token authorization accepted go to a
 * real application on 127.0.0.1 and its answers come back; the token stays at the
 * gateway, the identity header is the gateway's, failures are ProblemDetails. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "eas_fixture.h"
#include "eas_upstream_srv.h"

#define EEC "spiffe://site1/eec/eec1"
#define EES "ees1.site1.example"

static void start_with(struct eas_fx *f, struct up_srv *srv, enum up_mode mode,
                       uint32_t timeout_ms) {
  up_srv_start(srv, mode);
  fx_policy(f, srv->port, timeout_ms);
  f->token_sub = EES;
  f->token_eec_id = EEC;
  fx_start(f);
}

/* The value of response field |name| in |head| ("" when absent); counts occurrences. */
static int field(const char *head, const char *name, char *out, size_t cap) {
  int n = 0;
  size_t len = strlen(name);
  out[0] = '\0';
  for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
    if (strncasecmp(p + 2, name, len) == 0 && p[2 + len] == ':') {
      const char *v = p + 3 + len;
      while (*v == ' ')
        v++;
      snprintf(out, cap, "%.*s", (int)strcspn(v, "\r"), v);
      n++;
    }
  }
  return n;
}

static json_t *problem(const struct fx_resp *r) {
  char ct[64];
  field(r->head, "content-type", ct, sizeof(ct));
  cr_assert_str_eq(ct, "application/problem+json");
  json_t *doc = json_loads(r->body, 0, NULL);
  cr_assert_not_null(doc, "%s", r->body);
  return doc;
}

Test(eas_proxy, request_reaches_the_application_with_the_gateways_identity, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_ECHO, 5000);
  fx_send_str(&f, "GET /app/items?color=red HTTP/1.1\r\nHost: app.example\r\n"
                  "Authorization: Bearer secret-token\r\nx-eec-id: forged\r\n"
                  "Connection: keep-alive, x-drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
                  "Proxy-Authorization: Basic eA==\r\nX-Forwarded-For: 6.6.6.6\r\n"
                  "Accept: text/plain\r\n\r\n");
  struct fx_resp r;
  fx_read(&f, &r);
  cr_assert_eq(r.status, 201, "%s", r.head);
  /* What the application received (echoed back). */
  const char *up = r.body;
  cr_assert(strncmp(up, "GET /app/items?color=red HTTP/1.1\r\n", 35) == 0, "%s", up);
  cr_assert_not_null(strstr(up, "\r\nhost: app.example\r\n"), "%s", up);
  cr_assert_not_null(strstr(up, "\r\naccept: text/plain\r\n"), "%s", up);
  cr_assert_not_null(strstr(up, "\r\nx-eec-id: " EEC "\r\n"), "%s", up);
  cr_assert_null(strstr(up, "forged"), "the client's identity header is replaced");
  cr_assert_null(strstr(up, "secret-token"), "the token stays at the gateway");
  cr_assert_null(strcasestr(up, "authorization"), "%s", up);
  cr_assert_null(strcasestr(up, "x-drop"), "fields named by Connection are hop-by-hop");
  cr_assert_null(strcasestr(up, "keep-alive"), "%s", up);
  cr_assert_null(strcasestr(up, "\r\nte:"), "%s", up);
  cr_assert_null(strcasestr(up, "\r\nconnection:"), "%s", up);
  cr_assert_null(strstr(up, "6.6.6.6"), "X-Forwarded-For is the gateway's");
  cr_assert_not_null(strstr(up, "\r\nX-Forwarded-For: 127.0.0.1\r\n"), "%s", up);
  cr_assert_not_null(strstr(up, "\r\nX-Forwarded-Proto: https\r\n"), "%s", up);
  /* What the client got back. */
  char v[128];
  cr_assert_eq(field(r.head, "x-app", v, sizeof(v)), 1);
  cr_assert_str_eq(v, "yes");
  cr_assert_eq(field(r.head, "content-type", v, sizeof(v)), 1);
  cr_assert_str_eq(v, "text/plain");
  cr_assert_eq(field(r.head, "x-hop", v, sizeof(v)), 0, "named by the upstream's Connection");
  cr_assert_eq(field(r.head, "keep-alive", v, sizeof(v)), 0);
  cr_assert_eq(field(r.head, "proxy-authenticate", v, sizeof(v)), 0);
  cr_assert_eq(field(r.head, "date", v, sizeof(v)), 1, "framing's Date only");
  cr_assert_neq(strcmp(v, "yesterday"), 0);
  cr_assert_eq(field(r.head, "connection", v, sizeof(v)), 0);
  cr_assert_null(strstr(fx_log(&f), "secret-token"));
  free(r.body);
  fx_finish(&f);
  up_srv_stop(&srv);
  fx_log_free(&f);
}

Test(eas_proxy, identity_is_the_sub_without_an_eecid_claim, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  up_srv_start(&srv, UP_ECHO);
  fx_policy(&f, srv.port, 5000);
  f.ep.identity_header = "x-app-user";
  f.token_sub = EEC;
  f.peer_addr = "[::1]:5555";
  fx_start(&f);
  fx_send_str(&f, "GET / HTTP/1.1\r\nHost: a\r\nx-app-user: mallory\r\n\r\n");
  struct fx_resp r;
  fx_read(&f, &r);
  cr_assert_eq(r.status, 201);
  cr_assert_not_null(strstr(r.body, "\r\nx-app-user: " EEC "\r\n"), "%s", r.body);
  cr_assert_null(strstr(r.body, "mallory"));
  cr_assert_not_null(strstr(r.body, "\r\nX-Forwarded-For: ::1\r\n"), "%s", r.body);
  free(r.body);
  fx_finish(&f);
  up_srv_stop(&srv);
  fx_log_free(&f);
}

Test(eas_proxy, post_body_and_keep_alive_on_both_sides, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_ECHO, 5000);
  for (int i = 0; i < 3; i++) {
    char req[256];
    snprintf(req, sizeof(req),
             "POST /orders HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
             "Content-Length: 13\r\n\r\n{\"n\": %6d}",
             i);
    fx_send_str(&f, req);
    struct fx_resp r;
    fx_read(&f, &r);
    cr_assert_eq(r.status, 201, "%s", r.head);
    char want[64];
    snprintf(want, sizeof(want), "Content-Length: 13\r\n\r\n{\"n\": %6d}", i);
    cr_assert_not_null(strstr(r.body, want), "%s", r.body);
    free(r.body);
  }
  fx_finish(&f);
  up_srv_stop(&srv);
  cr_assert_eq(srv.n_conns, 1, "one kept-alive upstream connection served all three");
  cr_assert_eq(srv.n_requests, 3);
  fx_log_free(&f);
}

Test(eas_proxy, upstream_down_is_502, .timeout = 20) {
  struct eas_fx f;
  fx_policy(&f, up_free_port(), 5000);
  f.token_sub = EEC;
  fx_start(&f);
  fx_send_str(&f, "GET /x?token=abc HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t0ken\r\n\r\n");
  struct fx_resp r;
  fx_read(&f, &r);
  cr_assert_eq(r.status, 502);
  json_t *doc = problem(&r);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "cause")), "UPSTREAM_UNAVAILABLE");
  cr_assert_eq(json_integer_value(json_object_get(doc, "status")), 502);
  json_decref(doc);
  const char *log = fx_log(&f);
  cr_assert_not_null(strstr(log, "\"event\":\"upstream_error\""), "%s", log);
  cr_assert_not_null(strstr(log, "\"reason\":\"connection refused\""), "%s", log);
  cr_assert_null(strstr(log, "t0ken"));
  cr_assert_null(strstr(log, "token=abc"), "the query is not logged");
  free(r.body);
  fx_finish(&f);
  fx_log_free(&f);
}

Test(eas_proxy, silent_upstream_is_504, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_SILENT, 300);
  fx_send_str(&f, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
  struct fx_resp r;
  fx_read(&f, &r);
  cr_assert_eq(r.status, 504);
  json_t *doc = problem(&r);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "cause")), "UPSTREAM_TIMEOUT");
  json_decref(doc);
  cr_assert_not_null(strstr(fx_log(&f), "\"status\":504"));
  free(r.body);
  fx_finish(&f);
  up_srv_stop(&srv);
  fx_log_free(&f);
}

/* The head already went to the client when the body turns out bad: the status cannot
 * change, so the client sees the body cut short (no last chunk, or short of the length
 * announced) and the gateway logs why. */
Test(eas_proxy, a_bad_body_after_the_head_cuts_the_response_short, .timeout = 20) {
  struct {
    enum up_mode mode;
    const char *reason;
  } cases[] = {{UP_BAD_CHUNK, "malformed response"}, {UP_HUGE, "connection closed mid-response"}};
  for (size_t i = 0; i < 2; i++) {
    struct eas_fx f;
    struct up_srv srv;
    start_with(&f, &srv, cases[i].mode, 5000);
    fx_send_str(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    struct fx_resp r;
    fx_read(&f, &r);
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_assert(r.truncated, "the client sees the body cut short");
    if (cases[i].mode == UP_HUGE) {
      /* No bound on a streamed body: the application's length passes on. */
      cr_assert_not_null(strstr(r.head, "Content-Length: 10485760\r\n"), "%s", r.head);
      cr_assert_str_eq(r.body, "xxxx");
    } else {
      cr_assert(r.chunked, "%s", r.head);
    }
    cr_assert_eq(egw_h1_state(f.h1), EGW_H1_CLOSING);
    const char *log = fx_log(&f);
    cr_assert_not_null(strstr(log, "\"upstream_error\""), "%s", log);
    cr_assert_not_null(strstr(log, cases[i].reason), "%s", log);
    free(r.body);
    fx_finish(&f);
    up_srv_stop(&srv);
    fx_log_free(&f);
  }
}

Test(eas_proxy, identity_with_control_characters_is_refused, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_ECHO, 5000);
  f.token_eec_id = "eec1\r\nx-admin: yes";
  fx_send_str(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  struct fx_resp r;
  fx_read(&f, &r);
  cr_assert_eq(r.status, 403);
  json_decref(problem(&r));
  free(r.body);
  fx_finish(&f);
  up_srv_stop(&srv);
  cr_assert_eq(srv.n_requests, 0, "nothing reached the application");
  fx_log_free(&f);
}

Test(eas_proxy, client_going_away_cancels_the_upstream_call, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_SILENT, 5000);
  fx_send_str(&f, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
  for (int i = 0; i < 100 && srv.n_requests == 0; i++) {
    uv_run(&f.loop, UV_RUN_NOWAIT);
    usleep(10000);
  }
  cr_assert_eq(srv.n_requests, 1);
  egw_h1_free(f.h1); /* the connection closed: the exchange's abort runs */
  f.h1 = NULL;
  cr_assert_eq(f.out.len, 0, "nothing was answered");
  fx_finish(&f); /* the loop ends: the upstream connection was closed */
  up_srv_stop(&srv);
  fx_log_free(&f);
}

Test(eas_proxy, stopped_role_answers_503, .timeout = 20) {
  struct eas_fx f;
  struct up_srv srv;
  start_with(&f, &srv, UP_ECHO, 5000);
  egw_role_eas.stop(f.state);
  fx_send_str(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  struct fx_resp r;
  fx_read(&f, &r);
  cr_assert_eq(r.status, 503);
  free(r.body);
  fx_finish(&f);
  up_srv_stop(&srv);
  cr_assert_eq(srv.n_requests, 0);
  fx_log_free(&f);
}

Test(eas_proxy, init_refuses_a_policy_it_cannot_serve) {
  struct egw_site_policy sp = {.site_file = "test/site.yaml"};
  struct egw_site site = {.policy = &sp};
  void *state = NULL;
  char *err = NULL;
  cr_assert_neq(egw_role_eas.init(&site, &state, &err), 0);
  cr_assert_not_null(strstr(err, "\"eas\" section"), "%s", err);
  free(err);
  struct egw_eas_policy ep = {.id = "eas1", .upstream_host = "app.example", .upstream_port = 80};
  sp.eas = &ep;
  err = NULL;
  cr_assert_neq(egw_role_eas.init(&site, &state, &err), 0);
  cr_assert_not_null(strstr(err, "not an IP address"), "%s", err);
  free(err);
}
