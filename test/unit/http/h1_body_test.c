/* HTTP/1.1 framing of streamed request bodies: the exchange is dispatched at the end of
 * the head, the body reaches the role in pieces (de-chunked) only once it started
 * reading, pause and resume, 100-continue sent when the role starts reading, an early
 * answer that closes instead of reading the body, and the body limit as a cut-off. */
#include "harness.h"

struct body_cap {
  struct cap c; /* first: the owner pointer is both */
  struct egw_buf got;
  int pieces;
  int ended;
  enum egw_body_status status;
  int wakes;
  int pause_in_data; /* pause after each piece */
  struct egw_exchange *x;
};

static int bc_streams(void *owner, struct egw_exchange *x) {
  return strncmp(egw_exchange_request(x)->path, "/up", 3) == 0;
}

static void bc_wake(void *owner) { ((struct body_cap *)owner)->wakes++; }

static void bc_data(void *arg, const uint8_t *data, size_t len) {
  struct body_cap *b = arg;
  cr_assert_gt(len, 0);
  cr_assert_eq(egw_buf_append(&b->got, data, len), 0);
  b->pieces++;
  if (b->pause_in_data)
    egw_exchange_body_pause(b->x);
}

static void bc_end(void *arg, enum egw_body_status st) {
  struct body_cap *b = arg;
  b->ended++;
  b->status = st;
}

static const struct egw_h1_callbacks bc_callbacks = {
    .on_request = cap_on_request,
    .send = cap_send,
    .streams_body = bc_streams,
    .wake = bc_wake,
};

static void bc_init(struct body_cap *b, uint64_t body_bytes) {
  memset(b, 0, sizeof(*b));
  struct egw_h1_limits lim = {.header_bytes = 8192, .body_bytes = body_bytes};
  b->c.h = egw_h1_new(&lim, &bc_callbacks, b, &b->c.peer, "app");
  cr_assert_not_null(b->c.h);
  b->c.async = 1;
}

static void bc_free(struct body_cap *b) {
  cap_free(&b->c);
  egw_buf_free(&b->got);
}

/* The exchange the role holds after the head of a streamed request. */
static struct egw_exchange *bc_take(struct body_cap *b) {
  cr_assert_eq(b->c.n_pending, 1, "dispatched at the end of the head");
  b->x = b->c.pending[0];
  b->c.n_pending = 0;
  return b->x;
}

static void bc_start(struct body_cap *b) {
  cr_assert_eq(egw_exchange_body_start(b->x, bc_data, bc_end, b), 0);
}

static void bc_answer(struct body_cap *b, int status) {
  cr_assert_eq(egw_response_set_body(egw_exchange_response(b->x), status, "text/plain", "ok", 2),
               0);
  egw_exchange_finish(b->x);
}

Test(h1_body, the_body_reaches_the_role_in_pieces_after_it_started) {
  struct body_cap b;
  bc_init(&b, 1 << 20);
  cap_feed(&b.c, "POST /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nhel");
  struct egw_exchange *x = bc_take(&b);
  cr_assert_null(egw_exchange_request(x)->body);
  cr_assert(egw_exchange_body_pending(x));
  cr_assert_eq(b.pieces, 0, "nothing is handed over before the role starts reading");
  bc_start(&b);
  cr_assert_eq(b.wakes, 1, "the owner is asked to pump");
  cr_assert_eq(b.pieces, 0, "never from inside egw_exchange_body_start");
  cr_assert_not(egw_exchange_body_pending(x));
  egw_h1_pump(b.c.h);
  cr_assert_eq(b.pieces, 1);
  cap_feed(&b.c, "lo");
  cap_feed(&b.c, "world");
  cr_assert_eq(b.pieces, 3, "each arrival is handed over as it comes");
  cr_assert_eq(b.ended, 1);
  cr_assert_eq(b.status, EGW_BODY_COMPLETE);
  cr_assert_eq(b.got.len, 10);
  cr_assert_eq(memcmp(b.got.data, "helloworld", 10), 0);
  bc_answer(&b, 200);
  expect_out(&b.c, OK_HEAD "Content-Length: 2\r\n\r\nok");
  cr_assert_eq(egw_h1_state(b.c.h), EGW_H1_IDLE, "a body read whole keeps the connection");
  /* A route that does not stream still gets its body whole. */
  cap_feed(&b.c, "POST /other HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc");
  cr_assert_eq(b.c.n_pending, 1);
  cr_assert_str_eq(b.c.last, "POST /other abc");
  cr_assert_not(egw_exchange_body_pending(b.c.pending[0]));
  cap_finish_one(&b.c);
  bc_free(&b);
}

Test(h1_body, a_chunked_body_arrives_dechunked_and_pauses_until_resumed) {
  struct body_cap b;
  bc_init(&b, 1 << 20);
  cap_feed(&b.c, "POST /up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n");
  bc_take(&b);
  bc_start(&b);
  egw_h1_pump(b.c.h);
  b.pause_in_data = 1;
  cap_feed(&b.c, "5\r\nfirst\r\n");
  cr_assert_eq(b.pieces, 1);
  /* Paused: 100 KiB more in chunks is kept, not handed over, and the owner is told to
   * stop reading. */
  static char chunk[10 + 4096 + 2];
  int n = snprintf(chunk, sizeof(chunk), "1000\r\n");
  memset(chunk + n, 'z', 4096);
  memcpy(chunk + n + 4096, "\r\n", 2);
  for (int i = 0; i < 25; i++)
    egw_h1_feed(b.c.h, (const uint8_t *)chunk, (size_t)n + 4096 + 2);
  cr_assert_eq(b.pieces, 1, "nothing while paused");
  cr_assert(egw_h1_input_full(b.c.h), "the owner stops reading the socket");
  cap_feed(&b.c, "0\r\n\r\n");
  b.pause_in_data = 0;
  egw_exchange_body_resume(b.x);
  cr_assert_eq(b.wakes, 2);
  egw_h1_pump(b.c.h);
  cr_assert_not(egw_h1_input_full(b.c.h));
  cr_assert_eq(b.ended, 1);
  cr_assert_eq(b.status, EGW_BODY_COMPLETE);
  cr_assert_eq(b.got.len, 5 + 25 * 4096, "de-chunked, every byte");
  cr_assert_eq(memcmp(b.got.data, "firstzzz", 8), 0);
  cr_assert_gt(b.pieces, 2, "handed over in slices");
  bc_answer(&b, 201);
  cr_assert_eq(egw_h1_state(b.c.h), EGW_H1_IDLE);
  bc_free(&b);
}

Test(h1_body, expect_100_continue_is_answered_when_the_role_starts_reading) {
  struct body_cap b;
  bc_init(&b, 1 << 20);
  cap_feed(&b.c, "PUT /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n"
                 "Expect: 100-continue\r\n\r\n");
  bc_take(&b);
  expect_out(&b.c, ""); /* the role decides first */
  bc_start(&b);
  expect_out(&b.c, "HTTP/1.1 100 Continue\r\n\r\n");
  egw_h1_pump(b.c.h);
  cap_feed(&b.c, "data");
  cr_assert_eq(b.ended, 1, "once started, input is handed over as it arrives");
  cr_assert_eq(b.got.len, 4);
  bc_answer(&b, 200);
  expect_out(&b.c, OK_HEAD "Content-Length: 2\r\n\r\nok");
  bc_free(&b);
}

Test(h1_body, an_early_answer_closes_instead_of_reading_the_body) {
  struct body_cap b;
  bc_init(&b, 1 << 20);
  cap_feed(&b.c, "POST /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000\r\n"
                 "Expect: 100-continue\r\n\r\nsome of the body");
  bc_take(&b);
  struct egw_response *resp = egw_exchange_response(b.x);
  cr_assert_eq(egw_response_problem(resp, 401, "Unauthorized", "no token", NULL), 0);
  egw_exchange_finish(b.x);
  char *out = cap_take(&b.c);
  cr_expect(strncmp(out, "HTTP/1.1 401 Unauthorized\r\n", 27) == 0, "%s", out);
  cr_expect_not_null(strstr(out, "Connection: close\r\n"), "%s", out);
  cr_expect_null(strstr(out, "100 Continue"), "no 100 for a body nobody reads");
  free(out);
  cr_assert_eq(egw_h1_state(b.c.h), EGW_H1_CLOSING);
  cap_feed(&b.c, "more of the body");
  cr_assert_eq(b.pieces, 0, "the body is discarded");
  cr_assert_eq(b.c.requests, 1);
  bc_free(&b);
}

Test(h1_body, a_chunked_body_past_the_limit_is_cut_off) {
  struct body_cap b;
  bc_init(&b, 8);
  cap_feed(&b.c, "POST /up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n");
  bc_take(&b);
  bc_start(&b);
  egw_h1_pump(b.c.h);
  cap_feed(&b.c, "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n");
  cr_assert_eq(b.ended, 1);
  cr_assert_eq(b.status, EGW_BODY_TOO_LARGE);
  cr_assert_leq(b.got.len, 8, "never more than the limit reaches the role");
  cr_assert_eq(egw_response_problem(egw_exchange_response(b.x), 413, NULL, "too large", NULL), 0);
  egw_exchange_finish(b.x);
  char *out = cap_take(&b.c);
  cr_expect(strncmp(out, "HTTP/1.1 413 ", 13) == 0, "%s", out);
  cr_expect_not_null(strstr(out, "Connection: close\r\n"));
  free(out);
  cr_assert_eq(egw_h1_state(b.c.h), EGW_H1_CLOSING);
  bc_free(&b);
}
