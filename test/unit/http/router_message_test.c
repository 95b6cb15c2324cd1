/* Routing, and the request/response helpers roles use. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "edgegw/http.h"
#include "edgegw/role.h"
#include "http/exchange.h"
#include "http/router.h"
#include "util/arena.h"
#include "util/errors.h"

static enum egw_handler_result nop(void *state, struct egw_exchange *x) { return EGW_DONE; }

static const struct egw_route health_routes[] = {
    {.methods = EGW_METHOD_GET | EGW_METHOD_HEAD, .prefix = "/healthz"},
    {.methods = EGW_METHOD_GET, .prefix = "/a/"},
    {.prefix = NULL},
};
static const struct egw_role_ops health = {
    .name = "health", .routes = health_routes, .on_request = nop};

static const struct egw_route api_routes[] = {
    {.methods = EGW_METHOD_POST | EGW_METHOD_DELETE, .prefix = "/healthz/deep"},
    {.methods = EGW_METHOD_GET | EGW_METHOD_POST, .prefix = "/"},
    {.prefix = NULL},
};
static const struct egw_role_ops api = {.name = "api", .routes = api_routes, .on_request = nop};

static const struct egw_route clash_routes[] = {
    {.methods = EGW_METHOD_PUT, .prefix = "/x"},
    {.methods = EGW_METHOD_HEAD | EGW_METHOD_PUT, .prefix = "/healthz"},
    {.prefix = NULL},
};
static const struct egw_role_ops clash = {
    .name = "clash", .routes = clash_routes, .on_request = nop};

static const struct egw_route disjoint_routes[] = {
    {.methods = EGW_METHOD_PUT, .prefix = "/healthz"},
    {.prefix = NULL},
};
static const struct egw_role_ops disjoint = {
    .name = "disjoint", .routes = disjoint_routes, .on_request = nop};

static int state_h, state_a, state_d;

static struct egw_router *make(void) {
  struct egw_router *r = egw_router_new();
  cr_assert_not_null(r);
  cr_assert_eq(egw_router_add(r, &health, &state_h, NULL), 0);
  return r;
}

static enum egw_route_result match(struct egw_router *r, enum egw_method m, const char *path,
                                   const struct egw_role_ops **out_ops, unsigned *out_allowed) {
  struct egw_route_target t = {0};
  unsigned allowed = 0;
  enum egw_route_result res = egw_router_match(r, m, path, &t, &allowed);
  *out_ops = t.ops;
  *out_allowed = allowed;
  return res;
}

Test(router, segment_boundary) {
  struct egw_router *r = make();
  const struct egw_role_ops *ops;
  unsigned allowed;
  cr_assert_eq(match(r, EGW_METHOD_GET, "/healthz", &ops, &allowed), EGW_ROUTE_FOUND);
  cr_assert_eq(ops, &health);
  cr_assert_eq(match(r, EGW_METHOD_GET, "/healthz/x", &ops, &allowed), EGW_ROUTE_FOUND);
  cr_assert_eq(match(r, EGW_METHOD_GET, "/healthzz", &ops, &allowed), EGW_ROUTE_NOT_FOUND);
  cr_assert_eq(match(r, EGW_METHOD_GET, "/health", &ops, &allowed), EGW_ROUTE_NOT_FOUND);
  cr_assert_eq(match(r, EGW_METHOD_GET, "/a/b", &ops, &allowed), EGW_ROUTE_FOUND);
  cr_assert_eq(match(r, EGW_METHOD_GET, "/a/", &ops, &allowed), EGW_ROUTE_FOUND);
  cr_assert_eq(match(r, EGW_METHOD_GET, "/a", &ops, &allowed), EGW_ROUTE_NOT_FOUND);
  cr_assert_eq(match(r, EGW_METHOD_GET, "/ab", &ops, &allowed), EGW_ROUTE_NOT_FOUND);
  egw_router_free(r);
}

Test(router, longest_prefix_wins) {
  struct egw_router *r = make();
  cr_assert_eq(egw_router_add(r, &api, &state_a, NULL), 0);
  struct egw_route_target t;
  unsigned allowed = 0;
  cr_assert_eq(egw_router_match(r, EGW_METHOD_POST, "/healthz/deep/1", &t, &allowed),
               EGW_ROUTE_FOUND);
  cr_assert_eq(t.ops, &api);
  cr_assert_eq(t.state, &state_a);
  cr_assert_eq(egw_router_match(r, EGW_METHOD_GET, "/healthz", &t, &allowed), EGW_ROUTE_FOUND);
  cr_assert_eq(t.ops, &health);
  cr_assert_eq(t.state, &state_h);
  cr_assert_eq(egw_router_match(r, EGW_METHOD_GET, "/other", &t, &allowed), EGW_ROUTE_FOUND);
  cr_assert_eq(t.ops, &api);
  egw_router_free(r);
}

Test(router, method_not_allowed_bits) {
  struct egw_router *r = make();
  const struct egw_role_ops *ops;
  unsigned allowed;
  cr_assert_eq(match(r, EGW_METHOD_DELETE, "/healthz/x", &ops, &allowed),
               EGW_ROUTE_METHOD_NOT_ALLOWED);
  cr_assert_eq(allowed, EGW_METHOD_GET | EGW_METHOD_HEAD);
  cr_assert_eq(match(r, EGW_METHOD_OTHER, "/healthz", &ops, &allowed),
               EGW_ROUTE_METHOD_NOT_ALLOWED);
  /* With a catch-all beside it, the bits are those of the longest prefix that matched. */
  cr_assert_eq(egw_router_add(r, &api, &state_a, NULL), 0);
  cr_assert_eq(match(r, EGW_METHOD_PUT, "/healthz/deep", &ops, &allowed),
               EGW_ROUTE_METHOD_NOT_ALLOWED);
  cr_assert_eq(allowed, EGW_METHOD_POST | EGW_METHOD_DELETE);
  egw_router_free(r);
}

Test(router, conflicts_are_detected) {
  struct egw_router *r = make();
  const char *who = NULL;
  cr_assert_eq(egw_router_add(r, &clash, &state_d, &who), EGW_ERR_POLICY);
  cr_assert_str_eq(who, "health");
  /* Nothing of the refused role was added. */
  struct egw_route_target t;
  unsigned allowed;
  cr_assert_eq(egw_router_match(r, EGW_METHOD_PUT, "/x", &t, &allowed), EGW_ROUTE_NOT_FOUND);
  /* Same prefix, disjoint methods: both serve. */
  cr_assert_eq(egw_router_add(r, &disjoint, &state_d, &who), 0);
  cr_assert_eq(egw_router_match(r, EGW_METHOD_PUT, "/healthz", &t, &allowed), EGW_ROUTE_FOUND);
  cr_assert_eq(t.ops, &disjoint);
  cr_assert_eq(egw_router_match(r, EGW_METHOD_GET, "/healthz", &t, &allowed), EGW_ROUTE_FOUND);
  cr_assert_eq(t.ops, &health);
  egw_router_free(r);
  egw_router_free(NULL);
}

Test(message, methods) {
  cr_assert_eq(egw_method_from_name("GET", 3), EGW_METHOD_GET);
  cr_assert_eq(egw_method_from_name("OPTIONS", 7), EGW_METHOD_OPTIONS);
  cr_assert_eq(egw_method_from_name("get", 3), EGW_METHOD_OTHER);
  cr_assert_eq(egw_method_from_name("GETX", 3), EGW_METHOD_GET);
  cr_assert_eq(egw_method_from_name("TRACE", 5), EGW_METHOD_OTHER);
  cr_assert_str_eq(egw_method_name(EGW_METHOD_PATCH), "PATCH");
  cr_assert_str_eq(egw_method_name(EGW_METHOD_OTHER), "OTHER");
}

Test(message, status_reasons) {
  static const struct {
    int status;
    const char *reason;
  } want[] = {
      {100, "Continue"},
      {200, "OK"},
      {201, "Created"},
      {204, "No Content"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {411, "Length Required"},
      {413, "Content Too Large"},
      {417, "Expectation Failed"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"},
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    cr_expect_str_eq(egw_status_reason(want[i].status), want[i].reason);
  cr_assert_str_eq(egw_status_reason(499), "Client Error");
}

Test(message, problem_details) {
  struct egw_arena a;
  egw_arena_init(&a, 256);
  struct egw_response resp = {.arena = &a};
  cr_assert_eq(egw_response_problem(&resp, 403, "Forbidden", "not on the allow-list \"x\"",
                                    "UNAUTHORIZED_CONSUMER"),
               0);
  cr_assert_eq(resp.status, 403);
  cr_assert_eq(resp.n_headers, 1);
  cr_assert_str_eq(resp.headers[0].name, "Content-Type");
  cr_assert_str_eq(resp.headers[0].value, "application/problem+json");
  json_error_t err;
  json_t *j = json_loadb((const char *)resp.body, resp.body_len, 0, &err);
  cr_assert_not_null(j, "%s", err.text);
  cr_assert_str_eq(json_string_value(json_object_get(j, "title")), "Forbidden");
  cr_assert(json_is_integer(json_object_get(j, "status")));
  cr_assert_eq(json_integer_value(json_object_get(j, "status")), 403);
  cr_assert_str_eq(json_string_value(json_object_get(j, "detail")), "not on the allow-list \"x\"");
  cr_assert_str_eq(json_string_value(json_object_get(j, "cause")), "UNAUTHORIZED_CONSUMER");
  json_decref(j);
  /* Without detail and cause, neither key is present. */
  resp = (struct egw_response){.arena = &a};
  cr_assert_eq(egw_response_problem(&resp, 404, NULL, NULL, NULL), 0);
  cr_assert_eq(resp.body_len, strlen("{\"title\":\"Not Found\",\"status\":404}"));
  cr_assert_eq(memcmp(resp.body, "{\"title\":\"Not Found\",\"status\":404}", resp.body_len), 0);
  egw_arena_cleanup(&a);
}

Test(message, set_body_replaces_content_type) {
  struct egw_arena a;
  egw_arena_init(&a, 64);
  struct egw_response resp = {.arena = &a};
  for (int i = 0; i < 20; i++) /* grows the header array a few times */
    cr_assert_eq(egw_response_add_header(&resp, "X-N", "v"), 0);
  cr_assert_eq(egw_response_json(&resp, 200, "{\"a\":1}"), 0);
  cr_assert_eq(egw_response_set_body(&resp, 202, "text/plain", "hi", 2), 0);
  cr_assert_eq(resp.n_headers, 21);
  cr_assert_str_eq(resp.headers[20].value, "text/plain");
  cr_assert_eq(resp.status, 202);
  cr_assert_eq(resp.body_len, 2);
  cr_assert_eq(memcmp(resp.body, "hi", 2), 0);
  cr_assert_eq(egw_response_set_body(&resp, 204, NULL, NULL, 0), 0);
  cr_assert_null(resp.body);
  egw_arena_cleanup(&a);
}
