/* The HTTP client sending a request body as the caller produces it (body_stream): pieces
 * written before the connection is up go with the head, later ones follow it (TLS and
 * plain), chunked framing by the client, and backpressure (FULL, then on_body_drain). */
#include "client_env.h"

struct drain {
  int drained;
  struct result done;
};

static void on_drain(void *arg) { ((struct drain *)arg)->drained++; }

static void on_done_drain(void *arg, const struct egw_http_client_response *resp) {
  on_done(&((struct drain *)arg)->done, resp);
}

/* Runs the loop once, or until the call's head went out (the server then waits). */
static void run_a_little(struct env *e) {
  for (int i = 0; i < 20; i++)
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static void streamed_echo(struct env *e, int chunked) {
  char head[256];
  snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: x\r\n%s\r\n",
           chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 11\r\n");
  struct drain d = {0};
  d.done.loop = &e->loop;
  struct egw_http_client_request req = {.method = "POST",
                                        .url = e->url,
                                        .head = head,
                                        .head_len = strlen(head),
                                        .body_stream = 1,
                                        .body_chunked = chunked,
                                        .on_body_drain = on_drain};
  struct egw_http_call *call = NULL;
  cr_assert_eq(egw_http_client_request(e->client, &req, on_done_drain, &d, &call), 0);
  cr_assert_eq(egw_http_call_write(call, "hello ", 6), EGW_HTTP_BODY_OK, "kept with the head");
  run_a_little(e);
  cr_assert_eq(d.done.fired, 0, "the server waits for the rest of the body");
  cr_assert_eq(egw_http_call_write(call, "world", 5), EGW_HTTP_BODY_OK);
  cr_assert_eq(egw_http_call_end_body(call), EGW_HTTP_BODY_OK);
  cr_assert_eq(egw_http_call_write(call, "late", 4), EGW_HTTP_BODY_CLOSED, "nothing after the end");
  run_until(e, &d.done.fired);
  cr_assert_eq(d.done.result, EGW_HTTP_CLIENT_OK, "%s", d.done.error);
  cr_assert_eq(d.done.status, 200);
  cr_assert_str_eq(d.done.body, "hello world");
}

Test(http_client_body, a_streamed_body_follows_the_head_over_tls, .timeout = 20) {
  struct env e;
  env_init(&e, SRV_ECHO, defaults);
  streamed_echo(&e, 0);
  env_finish(&e);
  cr_assert_eq(e.srv.body_len, 11);
  cr_assert_str_eq(e.srv.method, "POST");
}

Test(http_client_body, a_streamed_body_follows_the_head_in_plain_http, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_ECHO, defaults);
  streamed_echo(&e, 0);
  env_finish(&e);
  cr_assert_eq(e.srv.body_len, 11);
}

Test(http_client_body, a_full_queue_answers_full_then_drains, .timeout = 20) {
  struct env e;
  env_init_plain(&e, SRV_SILENT, defaults); /* reads everything, never answers */
  static const char head[] = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  struct drain d = {0};
  d.done.loop = &e.loop;
  struct egw_http_client_request req = {.method = "POST",
                                        .url = e.url,
                                        .head = head,
                                        .head_len = sizeof(head) - 1,
                                        .body_stream = 1,
                                        .body_chunked = 1,
                                        .on_body_drain = on_drain};
  struct egw_http_call *call = NULL;
  cr_assert_eq(egw_http_client_request(e.client, &req, on_done_drain, &d, &call), 0);
  static char block[65536];
  memset(block, 'b', sizeof(block));
  enum egw_http_body_write st = EGW_HTTP_BODY_OK;
  int writes = 0;
  while (st == EGW_HTTP_BODY_OK) {
    st = egw_http_call_write(call, block, sizeof(block));
    writes++;
  }
  cr_assert_eq(st, EGW_HTTP_BODY_FULL);
  cr_assert_eq(writes, 4, "four 64 KiB chunks with their framing cross the high-water mark");
  cr_assert_eq(d.drained, 0, "never from inside a write");
  while (d.drained == 0)
    cr_assert(uv_run(&e.loop, UV_RUN_ONCE), "the loop ran dry");
  cr_assert_eq(d.drained, 1, "once the server took the bytes");
  cr_assert_eq(egw_http_call_write(call, block, 10), EGW_HTTP_BODY_OK);
  egw_http_call_cancel(call);
  cr_assert_eq(d.done.fired, 1);
  cr_assert_eq(d.done.result, EGW_HTTP_CLIENT_CANCELLED);
  env_finish(&e);
}

Test(http_client_body, a_streamed_body_needs_a_head_and_no_body) {
  struct env e;
  env_init_plain(&e, SRV_FIXED, defaults);
  struct result r = {0};
  struct egw_http_client_request req = {.method = "POST", .url = e.url, .body_stream = 1};
  cr_assert_eq(egw_http_client_request(e.client, &req, on_done, &r, NULL), UV_EINVAL);
  static const char head[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n";
  req.head = head;
  req.head_len = sizeof(head) - 1;
  req.body = "x";
  req.body_len = 1;
  cr_assert_eq(egw_http_client_request(e.client, &req, on_done, &r, NULL), UV_EINVAL);
  cr_assert_eq(r.fired, 0);
  env_finish(&e);
}
