/* HTTP/1.1 framing of streamed responses: chunked when the role gives no length, its
 * Content-Length when it does, close-delimited for HTTP/1.0, HEAD answers, keep-alive
 * after a stream, a stream cut short, and backpressure. */
#include "harness.h"

static struct egw_exchange *stream_request(struct cap *c, const char *req) {
  c->async = 1;
  cap_feed(c, req);
  cr_assert_eq(c->n_pending, 1);
  struct egw_exchange *x = c->pending[0];
  c->n_pending = 0;
  struct egw_response *resp = egw_exchange_response(x);
  resp->status = 200;
  cr_assert_eq(egw_response_add_header(resp, "Content-Type", "text/plain"), 0);
  return x;
}

static enum egw_stream_status put(struct egw_exchange *x, const char *s) {
  return egw_exchange_stream_write(x, s, strlen(s));
}

Test(h1_stream, unknown_length_goes_chunked_and_the_connection_stays_open) {
  struct cap c;
  cap_init(&c);
  struct egw_exchange *x = stream_request(&c, "GET /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  egw_exchange_response(x)->length = EGW_RESPONSE_LENGTH_UNKNOWN;
  cr_assert_eq(egw_exchange_stream_begin(x), EGW_STREAM_OK);
  expect_out(&c, OK_HEAD "Transfer-Encoding: chunked\r\n\r\n");
  cr_assert_eq(put(x, "hello"), EGW_STREAM_OK);
  expect_out(&c, "5\r\nhello\r\n");
  cr_assert_eq(put(x, " streamed world"), EGW_STREAM_OK);
  cr_assert_eq(egw_exchange_stream_write(x, "", 0), EGW_STREAM_OK, "empty writes send nothing");
  expect_out(&c, "f\r\n streamed world\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_BUSY);
  egw_exchange_stream_end(x);
  expect_out(&c, "0\r\n\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cr_assert_eq(put(x, "late"), EGW_STREAM_CLOSED, "nothing after the end");
  /* Keep-alive: the next request on the same connection is served. */
  c.async = 0;
  cap_feed(&c, "GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\nhello /x");
  cr_assert_eq(egw_h1_requests_served(c.h), 2);
  cap_free(&c);
}

Test(h1_stream, a_given_length_is_announced_and_kept) {
  struct cap c;
  cap_init(&c);
  struct egw_exchange *x = stream_request(&c, "GET /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  struct egw_response *resp = egw_exchange_response(x);
  resp->length = EGW_RESPONSE_LENGTH_GIVEN;
  resp->content_length = 8;
  egw_exchange_stream_begin(x);
  expect_out(&c, OK_HEAD "Content-Length: 8\r\n\r\n");
  put(x, "12345");
  put(x, "678 and more"); /* past the length: dropped */
  expect_out(&c, "12345678");
  egw_exchange_stream_end(x);
  expect_out(&c, "");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cap_free(&c);
}

Test(h1_stream, short_of_the_given_length_closes) {
  struct cap c;
  cap_init(&c);
  struct egw_exchange *x = stream_request(&c, "GET /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  struct egw_response *resp = egw_exchange_response(x);
  resp->length = EGW_RESPONSE_LENGTH_GIVEN;
  resp->content_length = 100;
  egw_exchange_stream_begin(x);
  put(x, "only this");
  egw_exchange_stream_end(x);
  expect_out(&c, OK_HEAD "Content-Length: 100\r\n\r\nonly this");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_CLOSING, "the client must see the body cut short");
  cap_free(&c);
}

Test(h1_stream, http10_is_close_delimited) {
  struct cap c;
  cap_init(&c);
  struct egw_exchange *x = stream_request(&c, "GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  egw_exchange_response(x)->length = EGW_RESPONSE_LENGTH_UNKNOWN;
  egw_exchange_stream_begin(x);
  put(x, "raw bytes");
  egw_exchange_stream_end(x);
  expect_out(&c, OK_HEAD "Connection: close\r\n\r\nraw bytes");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_CLOSING);
  cap_free(&c);
}

Test(h1_stream, abort_leaves_the_chunked_body_unterminated) {
  struct cap c;
  cap_init(&c);
  struct egw_exchange *x = stream_request(&c, "GET /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  egw_exchange_stream_begin(x);
  put(x, "part");
  egw_exchange_stream_abort(x);
  expect_out(&c, OK_HEAD "Transfer-Encoding: chunked\r\n\r\n4\r\npart\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_CLOSING);
  cap_free(&c);
}

Test(h1_stream, head_answers_carry_the_given_length_or_none) {
  struct cap c;
  cap_init(&c);
  /* Streamed: the head only, with the length the role gave; body bytes dropped. */
  struct egw_exchange *x = stream_request(&c, "HEAD /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  struct egw_response *resp = egw_exchange_response(x);
  resp->length = EGW_RESPONSE_LENGTH_GIVEN;
  resp->content_length = 42;
  egw_exchange_stream_begin(x);
  put(x, "dropped");
  egw_exchange_stream_end(x);
  expect_out(&c, OK_HEAD "Content-Length: 42\r\n\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  /* Finished at once, with the length given and no body. */
  x = stream_request(&c, "HEAD /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  resp = egw_exchange_response(x);
  resp->length = EGW_RESPONSE_LENGTH_GIVEN;
  resp->content_length = 7;
  egw_exchange_finish(x);
  expect_out(&c, OK_HEAD "Content-Length: 7\r\n\r\n");
  /* No length known: none announced (not Content-Length: 0). */
  x = stream_request(&c, "HEAD /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  egw_exchange_response(x)->length = EGW_RESPONSE_LENGTH_UNKNOWN;
  egw_exchange_finish(x);
  expect_out(&c, OK_HEAD "\r\n");
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  cap_free(&c);
}

Test(h1_stream, no_status_is_a_500_and_the_stream_stays_the_roles_until_it_ends) {
  struct cap c;
  cap_init(&c);
  struct egw_exchange *x = stream_request(&c, "GET /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  egw_exchange_response(x)->status = 0;
  cr_assert_eq(egw_exchange_stream_begin(x), EGW_STREAM_CLOSED);
  char *got = cap_take(&c);
  cr_assert(strncmp(got, "HTTP/1.1 500 ", 13) == 0, "%s", got);
  free(got);
  cr_assert_eq(put(x, "dropped"), EGW_STREAM_OK);
  expect_out(&c, "");
  egw_exchange_stream_end(x);
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_CLOSING);
  cap_free(&c);
}

/* ---- backpressure: what the client has not read counts as queued ------------------ */

static size_t unread(void *owner) { return ((struct cap *)owner)->out.len; }

static int drains;
static void on_drain(void *arg) {
  drains++;
  cr_assert_eq(arg, &drains);
}

Test(h1_stream, over_the_high_water_mark_writes_say_full_until_drained) {
  struct cap c;
  memset(&c, 0, sizeof(c));
  static const struct egw_h1_callbacks cb = {
      .on_request = cap_on_request,
      .send = cap_send,
      .queued = unread,
  };
  struct egw_h1_limits lim = {.header_bytes = 8192, .body_bytes = 1 << 20};
  c.h = egw_h1_new(&lim, &cb, &c, &c.peer, "EDGE-1");
  struct egw_exchange *x = stream_request(&c, "GET /s HTTP/1.1\r\nHost: gw\r\n\r\n");
  drains = 0;
  egw_exchange_stream_set_drain(x, on_drain, &drains);
  cr_assert_eq(egw_exchange_stream_begin(x), EGW_STREAM_OK);
  static char block[64 * 1024];
  memset(block, 'b', sizeof(block));
  int writes = 0;
  enum egw_stream_status st;
  while ((st = egw_exchange_stream_write(x, block, sizeof(block))) == EGW_STREAM_OK)
    writes++;
  cr_assert_eq(st, EGW_STREAM_FULL);
  cr_assert_eq(writes, 3, "three blocks fit under 256 KiB, the fourth goes over");
  cr_assert_gt(c.out.len, EGW_STREAM_HIGH_WATER);
  /* The connection says it drained: the role hears it once. */
  c.out.len = 0;
  egw_h1_drained(c.h);
  cr_assert_eq(drains, 1);
  egw_h1_drained(c.h);
  cr_assert_eq(drains, 1, "once per FULL");
  cr_assert_eq(egw_exchange_stream_write(x, block, 10), EGW_STREAM_OK);
  egw_exchange_stream_end(x);
  cr_assert_eq(egw_h1_state(c.h), EGW_H1_IDLE);
  egw_h1_drained(c.h);
  cr_assert_eq(drains, 1, "not after the end");
  cap_free(&c);
}
