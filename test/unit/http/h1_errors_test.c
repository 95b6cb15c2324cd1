/* HTTP/1.1 framing: every malformed or refused request is answered with ProblemDetails,
 * Connection: close, and the state CLOSING. */
#include <jansson.h>

#include "harness.h"

/* Feeds |req| and asserts that the client read |status| with a ProblemDetails body and
 * Connection: close, that no request reached the role, and that the state is CLOSING. */
static void expect_refused(struct cap *c, const char *req, int status) {
  cr_assert_eq(cap_feed(c, req), EGW_H1_CLOSING, "request: %s", req);
  cr_assert_eq(c->requests, 0);
  char *got = cap_take(c);
  char line[64];
  snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, egw_status_reason(status));
  cr_assert(strncmp(got, line, strlen(line)) == 0, "want %s got %s", line, got);
  cr_assert_not_null(strstr(got, "\r\nContent-Type: application/problem+json\r\n"), "%s", got);
  cr_assert_not_null(strstr(got, "\r\nConnection: close\r\n\r\n"), "%s", got);
  const char *body = strstr(got, "\r\n\r\n") + 4;
  json_error_t err;
  json_t *j = json_loads(body, 0, &err);
  cr_assert_not_null(j, "body: %s", body);
  cr_assert_eq(json_integer_value(json_object_get(j, "status")), status);
  cr_assert_not_null(json_string_value(json_object_get(j, "title")));
  cr_assert_not_null(json_string_value(json_object_get(j, "detail")));
  json_decref(j);
  free(got);
  /* Anything after is ignored. */
  cr_assert_eq(cap_feed(c, "GET / HTTP/1.1\r\nHost: gw\r\n\r\n"), EGW_H1_CLOSING);
  cr_assert_eq(c->out.len, 0);
}

#define REFUSED_TEST(name, req, status)                                                            \
  Test(h1_errors, name) {                                                                          \
    struct cap c;                                                                                  \
    cap_init_limits(&c, 256, 64, 0);                                                               \
    expect_refused(&c, req, status);                                                               \
    cap_free(&c);                                                                                  \
  }

REFUSED_TEST(bad_chunk_size_400,
             "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n", 400)
REFUSED_TEST(cl_and_te_400,
             "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n"
             "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
             400)
REFUSED_TEST(te_and_cl_400,
             "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n"
             "Content-Length: 3\r\n\r\nabc",
             400)
REFUSED_TEST(te_gzip_501, "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\n\r\n", 501)
REFUSED_TEST(te_gzip_chunked_501,
             "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
             501)
REFUSED_TEST(duplicate_differing_cl_400,
             "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
             400)
REFUSED_TEST(missing_host_400, "GET / HTTP/1.1\r\n\r\n", 400)
REFUSED_TEST(two_hosts_400, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
REFUSED_TEST(absolute_form_400, "GET http://gw/ HTTP/1.1\r\nHost: gw\r\n\r\n", 400)
REFUSED_TEST(asterisk_not_options_400, "GET * HTTP/1.1\r\nHost: gw\r\n\r\n", 400)
REFUSED_TEST(connect_400, "CONNECT gw:443 HTTP/1.1\r\nHost: gw\r\n\r\n", 400)
REFUSED_TEST(lowercase_method_400, "get / HTTP/1.1\r\nHost: gw\r\n\r\n", 400)
REFUSED_TEST(bare_lf_400, "GET / HTTP/1.1\nHost: gw\n\n", 400)
REFUSED_TEST(http2_version_505, "GET / HTTP/2.0\r\nHost: gw\r\n\r\n", 505)
REFUSED_TEST(http12_version_505, "GET / HTTP/1.2\r\nHost: gw\r\n\r\n", 505)
REFUSED_TEST(h2_preface_505, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)
REFUSED_TEST(expect_other_417,
             "PUT / HTTP/1.1\r\nHost: gw\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", 417)
REFUSED_TEST(content_length_over_limit_413,
             "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 65\r\n\r\n", 413)
REFUSED_TEST(expect_100_over_limit_413,
             "POST / HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 65\r\n\r\n",
             413)
REFUSED_TEST(chunked_over_limit_413,
             "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
             "20\r\n0123456789abcdef0123456789abcdef\r\n"
             "20\r\n0123456789abcdef0123456789abcdef\r\n1\r\n",
             413)

Test(h1_errors, oversized_header_431) {
  struct cap c;
  cap_init_limits(&c, 256, 64, 0);
  char req[1024];
  snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: gw\r\nX-Big: %0300d\r\n\r\n", 1);
  expect_refused(&c, req, 431);
  cap_free(&c);
}

Test(h1_errors, oversized_header_trickled_431) {
  struct cap c;
  cap_init_limits(&c, 256, 64, 0);
  cap_feed(&c, "GET / HTTP/1.1\r\nHost: gw\r\nX-Big: ");
  enum egw_h1_state st = EGW_H1_READING_HEADERS;
  for (int i = 0; i < 300 && st == EGW_H1_READING_HEADERS; i++)
    st = cap_feed(&c, "a");
  cr_assert_eq(st, EGW_H1_CLOSING);
  char *got = cap_take(&c);
  cr_assert(strncmp(got, "HTTP/1.1 431 ", 13) == 0, "%s", got);
  free(got);
  cap_free(&c);
}

Test(h1_errors, oversized_whitespace_431) {
  struct cap c;
  cap_init_limits(&c, 256, 64, 0);
  char req[1024];
  snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: gw\r\nX-Ws:%300s\r\n\r\n", "v");
  expect_refused(&c, req, 431);
  cap_free(&c);
}

Test(h1_errors, too_many_headers_431) {
  struct cap c;
  cap_init_limits(&c, 1 << 20, 64, 0);
  char req[8192] = "GET / HTTP/1.1\r\nHost: gw\r\n";
  for (int i = 0; i < 120; i++)
    snprintf(req + strlen(req), sizeof(req) - strlen(req), "X-%d: v\r\n", i);
  strcat(req, "\r\n");
  expect_refused(&c, req, 431);
  cap_free(&c);
}

Test(h1_errors, content_length_over_limit_before_body) {
  struct cap c;
  cap_init_limits(&c, 256, 64, 0);
  /* Headers only: the answer comes before any of the body is sent. */
  cr_assert_eq(cap_feed(&c, "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000\r\n\r\n"),
               EGW_H1_CLOSING);
  char *got = cap_take(&c);
  cr_assert(strncmp(got, "HTTP/1.1 413 Content Too Large\r\n", 32) == 0, "%s", got);
  free(got);
  cap_free(&c);
}

Test(h1_errors, chunked_body_at_limit_is_accepted) {
  struct cap c;
  cap_init_limits(&c, 256, 8, 0);
  cr_assert_eq(cap_feed(&c, "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n"),
               EGW_H1_IDLE);
  expect_out(&c, OK_HEAD "Content-Length: 13\r\n\r\necho abcdefgh");
  cap_free(&c);
}

Test(h1_errors, pipelined_after_bad_request_ignored) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(cap_feed(&c, "GET / HTTP/1.1\r\nHost: gw\r\n\r\nBROKEN\r\n\r\n"
                            "GET /never HTTP/1.1\r\nHost: gw\r\n\r\n"),
               EGW_H1_CLOSING);
  cr_assert_eq(c.requests, 1);
  char *got = cap_take(&c);
  cr_assert(strncmp(got, OK_HEAD, strlen(OK_HEAD)) == 0, "%s", got);
  cr_assert_not_null(strstr(got, "HTTP/1.1 400 Bad Request\r\n"), "%s", got);
  cr_assert_null(strstr(got, "/never"));
  free(got);
  cap_free(&c);
}

Test(h1_errors, fail_408_format) {
  struct cap c;
  cap_init(&c);
  cr_assert_eq(cap_feed(&c, "GET / HTTP/1.1\r\nHo"), EGW_H1_READING_HEADERS);
  egw_h1_fail(c.h, 408, "Request Timeout", "the request did not arrive in time");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_CLOSING);
  expect_out(&c, "HTTP/1.1 408 Request Timeout\r\nDate: D\r\nServer: edgegw\r\n"
                 "Content-Type: application/problem+json\r\nContent-Length: 86\r\n"
                 "Connection: close\r\n\r\n"
                 "{\"title\":\"Request Timeout\",\"status\":408,"
                 "\"detail\":\"the request did not arrive in time\"}");
  cr_assert_eq(c.requests, 0);
  cap_free(&c);
}

Test(h1_errors, fail_when_idle_503) {
  struct cap c;
  cap_init(&c);
  egw_h1_fail(c.h, 503, NULL, "draining");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_CLOSING);
  char *got = cap_take(&c);
  cr_assert(strncmp(got, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0, "%s", got);
  free(got);
  cap_free(&c);
}

Test(h1_errors, garbage_input_ends_in_400) {
  unsigned seed = 12345;
  for (int round = 0; round < 200; round++) {
    struct cap c;
    cap_init(&c);
    uint8_t junk[512];
    for (size_t i = 0; i < sizeof(junk); i++) {
      seed = seed * 1103515245u + 12345u;
      junk[i] = (uint8_t)(seed >> 16);
    }
    /* Random bytes, fed in random pieces. */
    size_t off = 0;
    enum egw_h1_state st = EGW_H1_IDLE;
    while (off < sizeof(junk)) {
      seed = seed * 1103515245u + 12345u;
      size_t n = 1 + (seed >> 16) % 64;
      if (n > sizeof(junk) - off)
        n = sizeof(junk) - off;
      st = egw_h1_feed(c.h, junk + off, n);
      off += n;
    }
    cr_assert_eq(st, EGW_H1_CLOSING, "round %d", round);
    cr_assert_eq(c.requests, 0);
    char *got = cap_take(&c);
    cr_assert(strncmp(got, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "round %d: %s", round, got);
    cr_assert_not_null(strstr(got, "Connection: close\r\n"));
    free(got);
    cap_free(&c);
  }
}

REFUSED_TEST(obs_fold_400, "GET / HTTP/1.1\r\nHost: gw\r\nX-A: a\r\n b\r\n\r\n", 400)
REFUSED_TEST(obs_fold_tab_400, "GET / HTTP/1.1\r\nHost: gw\r\nX-A: a\r\n\t\tb\r\n\r\n", 400)

/* A fold split across reads is caught too: the line break ends one read, the blank
 * that starts the continuation line begins the next. */
Test(h1_errors, obs_fold_split_across_reads_400) {
  struct cap c;
  cap_init_limits(&c, 256, 64, 0);
  cr_assert_eq(cap_feed(&c, "GET / HTTP/1.1\r\nHost: gw\r\nX-A: a\r\n"), EGW_H1_READING_HEADERS);
  cr_assert_eq(cap_feed(&c, " b\r\n\r\n"), EGW_H1_CLOSING);
  cr_assert_eq(c.requests, 0);
  char *got = cap_take(&c);
  cr_assert(strncmp(got, "HTTP/1.1 400 ", 13) == 0, "%s", got);
  free(got);
  cap_free(&c);
}

/* Blanks around a value split across reads are not a fold. */
Test(h1_errors, value_after_blanks_split_across_reads_is_served) {
  struct cap c;
  cap_init_limits(&c, 256, 64, 0);
  cr_assert_eq(cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\nX-A:  "), EGW_H1_READING_HEADERS);
  cap_feed(&c, "a\r\n\r\n");
  cr_assert_eq(c.requests, 1);
  char *got = cap_take(&c);
  cr_assert(strncmp(got, "HTTP/1.1 200 ", 13) == 0, "%s", got);
  free(got);
  cap_free(&c);
}
