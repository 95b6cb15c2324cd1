/* HTTP/1.1 framing: keep-alive, pipelining, splitting, bodies, connection handling. */
#include "harness.h"

Test(h1, simple_get_keep_alive) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cr_assert_eq(cap_feed(&c, "GET /x?a=1&b HTTP/1.1\r\nHost: gw\r\n\r\n"), EGW_H1_IDLE);
  cr_assert_str_eq(c.last, "GET /x?a=1&b ");
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\nhello /x");
  cr_assert_eq(c.sends, 1, "one send per response");
  /* The connection stays open for the next request. */
  cr_assert_eq(cap_feed(&c, "GET /y HTTP/1.1\r\nHost: gw\r\n\r\n"), EGW_H1_IDLE);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\nhello /y");
  cr_assert_eq(egw_h1_requests_served(c.h), 2);
  cap_free(&c);
}

Test(h1, request_fields_are_filled) {
  struct cap c;
  cap_init(&c);
  c.async = 1;
  cap_feed(&c, "OPTIONS * HTTP/1.1\r\nHost: gw\r\nX-Mixed-Case:  v1 \r\nX-Empty:\r\n\r\n");
  cr_assert_eq(c.n_pending, 1);
  const struct egw_request *req = egw_exchange_request(c.pending[0]);
  cr_assert_eq(req->method, EGW_METHOD_OPTIONS);
  cr_assert_str_eq(req->method_name, "OPTIONS");
  cr_assert_str_eq(req->path, "*");
  cr_assert_str_eq(req->query, "");
  cr_assert_str_eq(req->interface_name, "EDGE-1");
  cr_assert_eq(req->peer, &c.peer);
  cr_assert_null(req->body);
  cr_assert_eq(req->n_headers, 3);
  cr_assert_str_eq(req->headers[1].name, "x-mixed-case");
  size_t n;
  cr_assert_str_eq(egw_request_header(req, "x-mixed-case", &n), "v1");
  cr_assert_eq(n, 2);
  cr_assert_str_eq(egw_request_header(req, "x-empty", &n), "");
  cr_assert_null(egw_request_header(req, "absent", &n));
  cap_finish_one(&c);
  cap_free(&c);
}

Test(h1, pipelined_requests_answered_in_order) {
  struct cap c;
  cap_init(&c);
  cap_feed(&c, "GET /a HTTP/1.1\r\nHost: gw\r\n\r\nGET /b HTTP/1.1\r\nHost: gw\r\n\r\n");
  cr_assert_eq(c.requests, 2);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\nhello /a" OK_HEAD
                         "Content-Length: 8\r\n\r\nhello /b");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cap_free(&c);
}

Test(h1, pipelined_requests_async_one_at_a_time) {
  struct cap c;
  cap_init(&c);
  c.async = 1;
  cr_assert_eq(cap_feed(&c, "GET /a HTTP/1.1\r\nHost: gw\r\n\r\nGET /b HTTP/1.1\r\nHost: gw\r\n\r\n"
                            "GET /c HTTP/1.1\r\nHost: gw\r\n\r\nGET /d HTTP/1.1\r\n"),
               EGW_H1_BUSY);
  cr_assert_eq(c.requests, 1, "the second request waits for the first response");
  cr_assert_eq(c.out.len, 0);
  cap_finish_one(&c); /* sends /a, then parses /b and hands it over */
  cr_assert_eq(c.requests, 2);
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_BUSY);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\nhello /a");
  c.async = 0;
  /* /b finishes later; /c is then answered at once, /d is still incomplete. */
  cap_finish_one(&c);
  cr_assert_eq(c.requests, 3);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\nhello /b" OK_HEAD
                         "Content-Length: 8\r\n\r\nhello /c");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_READING_HEADERS);
  cr_assert_eq(cap_feed(&c, "Host: gw\r\n\r\n"), EGW_H1_IDLE);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\nhello /d");
  cap_free(&c);
}

Test(h1, request_split_byte_by_byte) {
  struct cap c;
  cap_init(&c);
  const char *req = "POST /p?q HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nabcde"
                    "GET /g HTTP/1.1\r\nHost: gw\r\n\r\n";
  size_t n = strlen(req);
  for (size_t i = 0; i < n; i++) {
    enum egw_h1_state st = egw_h1_feed(c.h, (const uint8_t *)req + i, 1);
    if (i == 0)
      cr_assert_eq(st, EGW_H1_READING_HEADERS);
    if (i == 50)
      cr_assert_eq(st, EGW_H1_READING_BODY);
  }
  cr_assert_eq(c.requests, 2);
  cr_assert_str_eq(c.last, "GET /g ");
  expect_out(&c, OK_HEAD "Content-Length: 10\r\n\r\necho abcde" OK_HEAD
                         "Content-Length: 8\r\n\r\nhello /g");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cap_free(&c);
}

Test(h1, chunked_body_is_dechunked) {
  struct cap c;
  cap_init(&c);
  cap_feed(&c, "POST /c HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_READING_BODY);
  cap_feed(&c, "a;ext=1\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
  cr_assert_str_eq(c.last, "POST /c abc0123456789");
  expect_out(&c, OK_HEAD "Content-Length: 18\r\n\r\necho abc0123456789");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cap_free(&c);
}

Test(h1, http10_closes_by_default) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(cap_feed(&c, "GET /x HTTP/1.0\r\n\r\nGET /y HTTP/1.0\r\n\r\n"), EGW_H1_CLOSING);
  cr_assert_eq(c.requests, 1, "bytes after the last response are ignored");
  expect_out(&c, OK_HEAD "Content-Length: 8\r\nConnection: close\r\n\r\nhello /x");
  cap_free(&c);
}

Test(h1, http10_keep_alive_when_asked) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(cap_feed(&c, "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), EGW_H1_IDLE);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\nConnection: keep-alive\r\n\r\nhello /x");
  cap_free(&c);
}

Test(h1, connection_close_honoured) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
                            "GET /y HTTP/1.1\r\nHost: gw\r\n\r\n"),
               EGW_H1_CLOSING);
  cr_assert_eq(c.requests, 1);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\nConnection: close\r\n\r\nhello /x");
  cr_assert_eq(cap_feed(&c, "GET /z HTTP/1.1\r\nHost: gw\r\n\r\n"), EGW_H1_CLOSING);
  cr_assert_eq(c.out.len, 0);
  cap_free(&c);
}

Test(h1, requests_per_connection_limit) {
  struct cap c;
  cap_init_limits(&c, 8192, 1024, 2);
  cr_assert_eq(cap_feed(&c, "GET /1 HTTP/1.1\r\nHost: gw\r\n\r\n"), EGW_H1_IDLE);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\nhello /1");
  cr_assert_eq(
      cap_feed(&c, "GET /2 HTTP/1.1\r\nHost: gw\r\n\r\nGET /3 HTTP/1.1\r\nHost: gw\r\n\r\n"),
      EGW_H1_CLOSING);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\nConnection: close\r\n\r\nhello /2");
  cr_assert_eq(c.requests, 2);
  cap_free(&c);
}

Test(h1, head_has_no_body) {
  struct cap c;
  cap_init(&c);
  cap_feed(&c, "HEAD /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cap_free(&c);
}

Test(h1, no_content_has_no_length) {
  struct cap c;
  cap_init(&c);
  cap_feed(&c, "GET /204 HTTP/1.1\r\nHost: gw\r\n\r\n");
  expect_out(&c, "HTTP/1.1 204 No Content\r\nDate: D\r\nServer: edgegw\r\n\r\n");
  cap_free(&c);
}

Test(h1, date_is_imf_fixdate) {
  struct cap c;
  cap_init(&c);
  cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  cr_assert_not_null(memmem(c.out.data, c.out.len, "\r\nDate: ", 8));
  const char *d = (const char *)memmem(c.out.data, c.out.len, "\r\nDate: ", 8) + 8;
  /* "Sun, 06 Nov 1994 08:49:37 GMT" */
  cr_assert_eq(d[3], ',');
  cr_assert_eq(memcmp(d + 25, " GMT\r\n", 6), 0);
  cap_free(&c);
}

Test(h1, expect_100_continue) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(cap_feed(&c, "PUT /e HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n"
                            "Content-Length: 3\r\n\r\n"),
               EGW_H1_READING_BODY);
  expect_out(&c, "HTTP/1.1 100 Continue\r\n\r\n");
  cap_feed(&c, "xyz");
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\necho xyz");
  cap_free(&c);
}

Test(h1, close_after_current_while_busy) {
  struct cap c;
  cap_init(&c);
  c.async = 1;
  cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\nGET /y HTTP/1.1\r\nHost: gw\r\n\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_BUSY);
  egw_h1_close_after_current(c.h);
  egw_h1_fail(c.h, 503, NULL, "draining"); /* busy: nothing sent */
  cr_assert_eq(c.out.len, 0);
  cap_finish_one(&c);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\nConnection: close\r\n\r\nhello /x");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_CLOSING);
  cr_assert_eq(c.requests, 1);
  cap_free(&c);
}

static void on_abort(void *arg) { (*(int *)arg)++; }

Test(h1, free_while_busy_calls_abort) {
  struct cap c;
  cap_init(&c);
  c.async = 1;
  cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  cr_assert_eq(c.n_pending, 1);
  egw_exchange_set_abort(c.pending[0], on_abort, &c.aborted);
  cap_free(&c);
  cr_assert_eq(c.aborted, 1);
}

Test(h1, free_after_finish_does_not_abort) {
  struct cap c;
  cap_init(&c);
  c.async = 1;
  cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  egw_exchange_set_abort(c.pending[0], on_abort, &c.aborted);
  cap_finish_one(&c);
  cap_free(&c);
  cr_assert_eq(c.aborted, 0);
}

Test(h1, missing_status_is_500) {
  struct cap c;
  cap_init(&c);
  c.async = 1;
  cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  egw_exchange_finish(c.pending[0]); /* the role filled nothing */
  char *got = cap_take(&c);
  cr_assert(strncmp(got, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0, "%s", got);
  free(got);
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cap_free(&c);
}

Test(h1, role_headers_framing_ones_dropped) {
  struct cap c;
  cap_init(&c);
  c.async = 1;
  cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  struct egw_response *resp = egw_exchange_response(c.pending[0]);
  cr_assert_eq(egw_response_json(resp, 201, "{}"), 0);
  cr_assert_eq(egw_response_add_header(resp, "Location", "/x/1"), 0);
  cr_assert_eq(egw_response_add_header(resp, "Content-Length", "99"), 0);
  cr_assert_eq(egw_response_add_header(resp, "X-Evil", "a\r\nSet-Cookie: b"), 0);
  egw_exchange_finish(c.pending[0]);
  expect_out(&c, "HTTP/1.1 201 Created\r\nDate: D\r\nServer: edgegw\r\n"
                 "Content-Type: application/json\r\nLocation: /x/1\r\nContent-Length: 2\r\n\r\n{}");
  cap_free(&c);
}

Test(h1, upgrade_request_answered_then_closed) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(cap_feed(&c, "GET /ws HTTP/1.1\r\nHost: gw\r\nConnection: upgrade\r\n"
                            "Upgrade: websocket\r\n\r\n\x81\x05hello"),
               EGW_H1_CLOSING);
  cr_assert_eq(c.requests, 1);
  expect_out(&c, OK_HEAD "Content-Length: 9\r\nConnection: close\r\n\r\nhello /ws");
  cap_free(&c);
}

Test(h1, pipelined_input_beyond_cap_closes_after_current) {
  struct cap c;
  cap_init_limits(&c, 256, 64, 0);
  c.async = 1;
  cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_BUSY);
  static char flood[40000];
  memset(flood, 'A', sizeof(flood) - 1);
  cr_assert_eq(cap_feed(&c, flood), EGW_H1_BUSY);
  cap_finish_one(&c);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\nConnection: close\r\n\r\nhello /x");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_CLOSING);
  cap_free(&c);
}

Test(h1, send_failure_closes) {
  struct cap c;
  cap_init(&c);
  c.fail_send = 1;
  cr_assert_eq(
      cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\nGET /y HTTP/1.1\r\nHost: gw\r\n\r\n"),
      EGW_H1_CLOSING);
  cr_assert_eq(c.requests, 1);
  cr_assert_eq(c.sends, 1);
  cap_free(&c);
}
