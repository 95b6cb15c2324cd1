/* The HTTP client delivering a response as it arrives (egw_http_client_stream): the head
 * first, then the body in pieces past max_body_bytes, pause and resume of reading, and a
 * consumer that stops the call. */
#include "client_env.h"

struct streamed {
  struct result done;
  int heads;
  int status;
  int data_before_head;
  size_t bytes;
  int calls;
  int paused;       /* pause at the first piece */
  int stop_at_head; /* on_head answers non-zero */
  struct egw_http_call *call;
};

static int on_head(void *arg, const struct egw_http_client_response *head) {
  struct streamed *s = arg;
  s->heads++;
  s->status = head->status;
  cr_assert_eq(head->result, EGW_HTTP_CLIENT_OK);
  cr_assert_null(head->body);
  return s->stop_at_head;
}

static int on_data(void *arg, const uint8_t *data, size_t len) {
  struct streamed *s = arg;
  if (s->heads == 0)
    s->data_before_head = 1;
  s->bytes += len;
  s->calls++;
  if (s->paused == 1) {
    egw_http_call_pause(s->call);
    s->paused = 2;
  }
  return 0;
}

static void on_done_streamed(void *arg, const struct egw_http_client_response *resp) {
  on_done(&((struct streamed *)arg)->done, resp);
}

static const struct egw_http_client_stream table = {.on_head = on_head, .on_data = on_data};

static void start_streamed(struct env *e, struct streamed *s) {
  s->done.loop = &e->loop;
  struct egw_http_client_request req = {.method = "GET", .url = e->url, .stream = &table};
  cr_assert_eq(egw_http_client_request(e->client, &req, on_done_streamed, s, &s->call), 0);
}

static const struct egw_http_client_config small = {.max_body_bytes = 65536};

Test(http_client_stream, a_body_past_max_body_bytes_arrives_in_pieces, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_HUGE_CHUNK, small);
  struct streamed s = {0};
  start_streamed(&e, &s);
  run_until(&e, &s.done.fired);
  env_finish(&e);
  cr_assert_eq(s.done.result, EGW_HTTP_CLIENT_OK, "%s", s.done.error);
  cr_assert_eq(s.heads, 1);
  cr_assert_eq(s.status, 200);
  cr_assert_not(s.data_before_head);
  cr_assert_eq(s.bytes, 2u * 1024 * 1024);
  cr_assert_gt(s.calls, 1, "in pieces");
  cr_assert_eq(s.done.body_len, 0, "the completion carries no body");
}

static void on_tick(uv_timer_t *t) { *(int *)t->data = 1; }

Test(http_client_stream, a_paused_call_reads_nothing_until_resumed, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_HUGE_CL, small);
  struct streamed s = {.paused = 1};
  start_streamed(&e, &s);
  while (s.paused != 2)
    cr_assert(uv_run(&e.loop, UV_RUN_ONCE), "the loop ran dry");
  int calls = s.calls;
  size_t bytes = s.bytes;
  uv_timer_t t;
  int fired = 0;
  uv_timer_init(&e.loop, &t);
  t.data = &fired;
  uv_timer_start(&t, on_tick, 300, 0);
  run_until(&e, &fired);
  cr_assert_eq(s.calls, calls, "nothing delivered while paused");
  cr_assert_lt(bytes, 2u * 1024 * 1024);
  cr_assert_eq(s.done.fired, 0);
  egw_http_call_resume(s.call);
  run_until(&e, &s.done.fired);
  uv_close((uv_handle_t *)&t, NULL);
  env_finish(&e);
  cr_assert_eq(s.done.result, EGW_HTTP_CLIENT_OK, "%s", s.done.error);
  cr_assert_eq(s.bytes, 2u * 1024 * 1024);
}

Test(http_client_stream, a_consumer_that_stops_at_the_head_cancels_the_call, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_HUGE_CL, small);
  struct streamed s = {.stop_at_head = 1};
  start_streamed(&e, &s);
  run_until(&e, &s.done.fired);
  env_finish(&e);
  cr_assert_eq(s.heads, 1);
  cr_assert_eq(s.calls, 0);
  cr_assert_eq(s.done.result, EGW_HTTP_CLIENT_CANCELLED);
  cr_assert_str_eq(s.done.error, "cancelled");
}
