/* libFuzzer: the HTTP/1.1 request path. The input is split into a few feeds (the first
 * byte chooses where), as a socket would deliver it; every complete request is routed by
 * a router with overlapping prefixes, answered (some at once, some after more input) and
 * the form parser runs on its body. Limits are small so that 413/431 paths run too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edgegw/role.h"
#include "http/exchange.h"
#include "http/form.h"
#include "http/h1.h"
#include "http/router.h"

static enum egw_handler_result noop(void *state, struct egw_exchange *x) { return EGW_DONE; }

static const struct egw_route routes_a[] = {
    {EGW_METHOD_GET | EGW_METHOD_HEAD, "/healthz"},
    {EGW_METHOD_POST, "/oauth2/token"},
    {EGW_METHOD_GET | EGW_METHOD_POST | EGW_METHOD_DELETE | EGW_METHOD_PATCH, "/eees-eecregistration/v1/"},
    {0, NULL}};
static const struct egw_route routes_b[] = {
    {EGW_METHOD_GET | EGW_METHOD_POST | EGW_METHOD_PUT | EGW_METHOD_PATCH | EGW_METHOD_DELETE |
         EGW_METHOD_OPTIONS | EGW_METHOD_HEAD,
     "/"},
    {EGW_METHOD_GET, "/eees-eecregistration/v1/registrations/x"},
    {0, NULL}};
static const struct egw_role_ops ops_a = {.name = "a", .routes = routes_a, .on_request = noop};
static const struct egw_role_ops ops_b = {.name = "b", .routes = routes_b, .on_request = noop};

struct owner {
  struct egw_router *router;
  struct egw_exchange *held; /* finished at the next feed */
  size_t sent;
};

static int on_send(void *o, const uint8_t *data, size_t len) {
  ((struct owner *)o)->sent += len;
  return 0;
}

static void answer(struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_response *resp = egw_exchange_response(x);
  struct egw_form form;
  if (egw_form_parse(req, &form) == EGW_FORM_OK)
    (void)egw_form_get(&form, "grant_type");
  size_t vlen;
  (void)egw_request_header(req, "content-type", &vlen);
  egw_response_json(resp, 200, "{}");
}

static void on_request(void *o, struct egw_exchange *x) {
  struct owner *ow = o;
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_route_target t;
  unsigned allowed = 0;
  enum egw_route_result r = egw_router_match(ow->router, req->method, req->path, &t, &allowed);
  if (r == EGW_ROUTE_FOUND && t.ops == &ops_b && !ow->held) {
    ow->held = x; /* answered later, as an asynchronous role does */
    return;
  }
  if (r == EGW_ROUTE_FOUND)
    answer(x);
  else
    egw_response_problem(egw_exchange_response(x), r == EGW_ROUTE_NOT_FOUND ? 404 : 405,
                         "Not found", req->path, NULL);
  egw_exchange_finish(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct egw_router *router;
  if (!router) {
    router = egw_router_new();
    const char *conflict;
    if (!router || egw_router_add(router, &ops_a, NULL, &conflict) ||
        egw_router_add(router, &ops_b, NULL, &conflict))
      abort();
  }
  if (size < 1)
    return 0;
  struct owner ow = {.router = router};
  struct egw_h1_limits lim = {.header_bytes = 2048, .body_bytes = 4096, .requests_per_connection = 8};
  struct egw_h1_callbacks cb = {.on_request = on_request, .send = on_send};
  struct egw_peer peer = {0};
  struct egw_h1 *h = egw_h1_new(&lim, &cb, &ow, &peer, "EDGE-1");
  if (!h)
    return 0;
  /* The first byte: how many bytes each feed takes (1..256), so that splits land inside
   * request lines, header names, CRLFs and chunk sizes. */
  size_t step = (size_t)data[0] + 1;
  data++, size--;
  size_t off = 0;
  while (off < size) {
    size_t n = size - off < step ? size - off : step;
    enum egw_h1_state st = egw_h1_feed(h, data + off, n);
    off += n;
    if (ow.held) {
      struct egw_exchange *x = ow.held;
      ow.held = NULL;
      answer(x);
      egw_exchange_finish(x);
      st = egw_h1_state(h);
    }
    if (st == EGW_H1_CLOSING)
      break;
  }
  egw_h1_free(h); /* an exchange still held gets its abort */
  return 0;
}
