#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"

static char *patterns_ees[] = {"spiffe://site1/ees/*", "DNS:*.ees.site1.example"};

static struct egw_allow_rule rules[] = {
    {.path_prefix = "/healthz", .allow_any = 1},
    {.path_prefix = "/whoami",
     .methods = EGW_METHOD_GET,
     .patterns = patterns_ees,
     .n_patterns = 2},
};

static struct egw_listener_policy listener = {
    .interface_name = "EDGE-6",
    .authz = {.mode = EGW_AUTHZ_STATIC, .rules = rules, .n_rules = 2},
};

static enum egw_authz_decision check(enum egw_authz_mode mode, enum egw_method m, const char *path,
                                     const struct egw_peer *p, const struct egw_header *headers,
                                     size_t n_headers, struct egw_authz_verdict *v) {
  listener.authz.mode = mode;
  const struct egw_authz_provider *prov = egw_authz_provider_for(mode);
  void *state = NULL;
  char *err = NULL;
  if (prov->init)
    cr_assert_eq(prov->init(&listener, NULL, &state, &err), 0);
  struct egw_request req = {.method = m,
                            .path = path,
                            .peer = p,
                            .headers = headers,
                            .n_headers = n_headers,
                            .method_name = "GET"};
  enum egw_authz_decision d = prov->check(state, &req, NULL, v);
  if (prov->dispose)
    prov->dispose(state);
  return d;
}

static const struct egw_peer ees1 = {.kind = EGW_PEER_URI, .id = "spiffe://site1/ees/ees1"};
static const struct egw_peer eec1 = {.kind = EGW_PEER_URI, .id = "spiffe://site1/eec/eec1"};
static const struct egw_peer anon = {.kind = EGW_PEER_NONE};

Test(authz_static, allowed_peer_passes) {
  struct egw_authz_verdict v;
  cr_assert_eq(check(EGW_AUTHZ_STATIC, EGW_METHOD_GET, "/whoami", &ees1, NULL, 0, &v),
               EGW_AUTHZ_ALLOW);
}

Test(authz_static, other_peer_is_denied_with_403) {
  struct egw_authz_verdict v;
  cr_assert_eq(check(EGW_AUTHZ_STATIC, EGW_METHOD_GET, "/whoami", &eec1, NULL, 0, &v),
               EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 403);
  cr_assert_str_eq(v.cause, "PEER_NOT_ALLOWED");
}

Test(authz_static, method_outside_the_rule_is_denied) {
  struct egw_authz_verdict v;
  cr_assert_eq(check(EGW_AUTHZ_STATIC, EGW_METHOD_POST, "/whoami", &ees1, NULL, 0, &v),
               EGW_AUTHZ_DENY);
  cr_assert_str_eq(v.reason, "no allow rule covers this route");
}

Test(authz_static, uncovered_route_is_denied_fail_closed) {
  struct egw_authz_verdict v;
  cr_assert_eq(check(EGW_AUTHZ_STATIC, EGW_METHOD_GET, "/other", &ees1, NULL, 0, &v),
               EGW_AUTHZ_DENY);
  cr_assert_eq(check(EGW_AUTHZ_STATIC, EGW_METHOD_GET, "/whoamix", &ees1, NULL, 0, &v),
               EGW_AUTHZ_DENY, "prefix must end at a segment boundary");
}

Test(authz_static, allow_any_admits_anonymous) {
  struct egw_authz_verdict v;
  cr_assert_eq(check(EGW_AUTHZ_STATIC, EGW_METHOD_GET, "/healthz", &anon, NULL, 0, &v),
               EGW_AUTHZ_ALLOW);
  cr_assert_eq(check(EGW_AUTHZ_STATIC, EGW_METHOD_GET, "/whoami", &anon, NULL, 0, &v),
               EGW_AUTHZ_DENY);
  cr_assert_str_eq(v.reason, "anonymous peer; the route needs an identity");
}

Test(authz_none, allows_everything) {
  struct egw_authz_verdict v;
  cr_assert_eq(check(EGW_AUTHZ_NONE, EGW_METHOD_POST, "/anything", &anon, NULL, 0, &v),
               EGW_AUTHZ_ALLOW);
}

Test(authz_token, refuses_to_start_without_trusted_issuers) {
  const struct egw_authz_provider *prov = egw_authz_provider_for(EGW_AUTHZ_TOKEN);
  struct egw_listener_policy lp = {.file = "p/edge1.yaml",
                                   .authz = {.mode = EGW_AUTHZ_TOKEN, .line = 9}};
  void *state = NULL;
  char *err = NULL;
  cr_assert_neq(prov->init(&lp, NULL, &state, &err), 0);
  cr_assert_str_eq(err, "p/edge1.yaml:9: authz: token authorization needs trusted issuers "
                        "(site.yaml tokens.issuers)");
  free(err);
}
