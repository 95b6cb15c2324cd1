/* The admin module's answers, on a hand-made site: /readyz says what is not ready. */
#include <criterion/criterion.h>

#include <string.h>

#include "config/policy.h"
#include "core/site.h"
#include "http/exchange.h"
#include "util/arena.h"

extern const struct egw_role_ops egw_role_admin;

static int ask(struct egw_site *site, const char *path, char *body, size_t cap) {
  struct egw_exchange x = {0};
  egw_arena_init(&x.arena, 1024);
  x.req = (struct egw_request){
      .method = EGW_METHOD_GET, .method_name = "GET", .path = path, .query = "", .arena = &x.arena};
  x.resp = (struct egw_response){.arena = &x.arena};
  void *state = NULL;
  char *err = NULL;
  cr_assert_eq(egw_role_admin.init(site, &state, &err), 0);
  cr_assert_eq(egw_role_admin.on_request(state, &x), EGW_DONE);
  int status = x.resp.status;
  size_t n = x.resp.body_len < cap - 1 ? x.resp.body_len : cap - 1;
  memcpy(body, x.resp.body, n);
  body[n] = '\0';
  egw_arena_cleanup(&x.arena);
  return status;
}

Test(admin, readyz_names_what_is_not_ready) {
  struct egw_site_policy policy = {.site_id = "t"};
  struct egw_ees_policy ees = {.id = "ees"};
  struct egw_site site = {.policy = &policy};
  char body[1024];

  cr_assert_eq(ask(&site, "/readyz", body, sizeof(body)), 503);
  cr_assert(strstr(body, "\"cause\":\"NOT_READY\"") != NULL, "%s", body);
  cr_assert(strstr(body, "listeners") != NULL, "%s", body);
  cr_assert_eq(ask(&site, "/healthz", body, sizeof(body)), 200);

  site.ready = 1;
  policy.ees = &ees; /* an EES keeps state: no store, not ready */
  cr_assert_eq(ask(&site, "/readyz", body, sizeof(body)), 503);
  cr_assert(strstr(body, "store") != NULL, "%s", body);

  policy.ees = NULL;
  cr_assert_eq(ask(&site, "/readyz", body, sizeof(body)), 200);
  cr_assert_str_eq(body, "{\"status\":\"ready\"}");
}

Test(admin, metrics_renders_the_registry) {
  struct egw_site_policy policy = {.site_id = "t"};
  struct egw_site site = {.policy = &policy, .ready = 1};
  char body[16384];
  cr_assert_eq(ask(&site, "/metrics", body, sizeof(body)), 200);
  cr_assert(strstr(body, "# TYPE edgegw_http_requests_total counter\n") != NULL);
}
