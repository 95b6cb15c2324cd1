/* The request head the application receives and the response fields the client gets
 * back, as exact text: no loop, no sockets. */
#include <criterion/criterion.h>
#include <string.h>

#include "roles/eas/internal.h"
#include "util/arena.h"

#define H(n, v)                                                                                    \
  { .name = n, .name_len = sizeof(n) - 1, .value = v, .value_len = sizeof(v) - 1 }

static struct eas eas_for_test(void) {
  struct eas e = {.identity_header = "x-eec-id"};
  strcpy(e.upstream_authority, "127.0.0.1:8480");
  return e;
}

static char *build(const struct eas *e, const struct egw_request *req) {
  struct egw_buf out = {0};
  cr_assert_eq(egw__eas_build_request(e, req, &out), EGW_EAS_BUILD_OK);
  char *s = strndup((const char *)out.data, out.len);
  egw_buf_free(&out);
  return s;
}

Test(eas_headers, request_head_exactly) {
  struct eas e = eas_for_test();
  const struct egw_header hs[] = {
      H("host", "eas.example"),
      H("connection", "close, X-Secret"),
      H("x-secret", "1"),
      H("x-kept", "a, b"),
      H("authorization", "Bearer abc"),
      H("proxy-authorization", "Basic x"),
      H("proxy-connection", "keep-alive"),
      H("x-eec-id", "forged"),
      H("transfer-encoding", "chunked"),
      H("upgrade", "websocket"),
      H("trailer", "x-t"),
      H("expect", "100-continue"),
      H("content-length", "3"),
      H("x-forwarded-proto", "http"),
  };
  struct egw_request req = {
      .method = EGW_METHOD_POST,
      .method_name = "POST",
      .path = "/p",
      .path_len = 2,
      .query = "a=1&b=2",
      .headers = hs,
      .n_headers = sizeof(hs) / sizeof(hs[0]),
      .body = (const uint8_t *)"abc",
      .body_len = 3,
      .peer_addr = "192.0.2.7:4444",
      .token_sub = "ees1.site1.example",
      .token_eec_id = "spiffe://site1/eec/eec1",
  };
  char *s = build(&e, &req);
  cr_assert_str_eq(s, "POST /p?a=1&b=2 HTTP/1.1\r\n"
                      "host: eas.example\r\n"
                      "x-kept: a, b\r\n"
                      "x-eec-id: spiffe://site1/eec/eec1\r\n"
                      "X-Forwarded-For: 192.0.2.7\r\n"
                      "X-Forwarded-Proto: https\r\n"
                      "Content-Length: 3\r\n"
                      "\r\n");
  free(s);
}

Test(eas_headers, host_added_and_no_identity_without_a_token) {
  struct eas e = eas_for_test();
  const struct egw_header hs[] = {H("connection", "host"), H("host", "a"), H("x-eec-id", "me")};
  struct egw_request req = {
      .method = EGW_METHOD_GET,
      .method_name = "GET",
      .path = "/",
      .path_len = 1,
      .query = "",
      .headers = hs,
      .n_headers = 3,
      .peer_addr = "?",
  };
  char *s = build(&e, &req);
  cr_assert_str_eq(s, "GET / HTTP/1.1\r\nHost: 127.0.0.1:8480\r\nX-Forwarded-Proto: https\r\n\r\n");
  free(s);
}

Test(eas_headers, empty_put_gets_a_zero_length) {
  struct eas e = eas_for_test();
  struct egw_request req = {
      .method = EGW_METHOD_PUT,
      .method_name = "PUT",
      .path = "/x",
      .path_len = 2,
      .query = "",
      .peer_addr = "[2001:db8::1]:9",
      .token_sub = "eec2",
  };
  char *s = build(&e, &req);
  cr_assert_str_eq(s, "PUT /x HTTP/1.1\r\nHost: 127.0.0.1:8480\r\nx-eec-id: eec2\r\n"
                      "X-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: https\r\n"
                      "Content-Length: 0\r\n\r\n");
  free(s);
}

Test(eas_headers, identity_with_a_line_break_is_refused) {
  struct eas e = eas_for_test();
  struct egw_request req = {
      .method = EGW_METHOD_GET,
      .method_name = "GET",
      .path = "/",
      .path_len = 1,
      .query = "",
      .token_sub = "eec\r\nx-admin: 1",
  };
  struct egw_buf out = {0};
  cr_assert_eq(egw__eas_build_request(&e, &req, &out), EGW_EAS_BUILD_BAD_IDENTITY);
  egw_buf_free(&out);
}

Test(eas_headers, response_fields_that_pass) {
  const struct egw_header hs[] = {
      H("content-type", "text/plain"),
      H("connection", "keep-alive,  X-Hop ,x-other"),
      H("set-cookie", "a=b"),
      H("x-hop", "1"),
      H("x-other", "1"),
      H("x-hop-not", "1"),
      H("keep-alive", "5"),
      H("transfer-encoding", "chunked"),
      H("content-length", "5"),
      H("date", "x"),
      H("server", "app/1"),
      H("proxy-authenticate", "x"),
      H("upgrade", "h2c"),
      H("trailer", "x"),
      H("te", "x"),
      H("set-cookie", "c=d"),
  };
  struct egw_arena arena;
  egw_arena_init(&arena, 4096);
  struct egw_response resp = {.arena = &arena};
  cr_assert_eq(egw__eas_copy_response_fields(hs, sizeof(hs) / sizeof(hs[0]), &resp), 0);
  const char *want[][2] = {{"content-type", "text/plain"},
                           {"set-cookie", "a=b"},
                           {"x-hop-not", "1"},
                           {"set-cookie", "c=d"}};
  cr_assert_eq(resp.n_headers, 4);
  for (size_t i = 0; i < 4; i++) {
    cr_expect_str_eq(resp.headers[i].name, want[i][0]);
    cr_expect_str_eq(resp.headers[i].value, want[i][1]);
  }
  egw_arena_cleanup(&arena);
}
