/* The token authorization provider with real keys, a real issuer set and the shared
 * cache: what a client sees (decision, status, challenge) for valid and refused tokens. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/authz.h"
#include "auth/issuers.h"
#include "auth/tokcache.h"
#include "auth/token_verify.h"
#include "util/arena.h"

static struct egw_key_file_policy signing[] = {
    {.kid = "k1", .file = "certs/out/jwt-es256-k1.key"},
};
static struct egw_issuer_policy issuer_policies[] = {{.id = "ecs.test", .local = 1}};
static struct egw_ecs_policy ecs_policy = {
    .id = "ecs.test", .signing_keys = signing, .n_signing_keys = 1, .token_ttl_s = 600};
static struct egw_site_policy site_policy = {
    .site_file = "t/site.yaml",
    .issuers = issuer_policies,
    .n_issuers = 1,
    .ecs = &ecs_policy,
};

static char *scope_read[] = {"eees-read"};
static struct egw_allow_rule rules[] = {
    {.path_prefix = "/open", .allow_any = 1},
    {.path_prefix = "/data", .scopes = scope_read, .n_scopes = 1},
};
static struct egw_listener_policy listener = {
    .file = "t/edge9.yaml",
    .authz =
        {.mode = EGW_AUTHZ_TOKEN,
         .rules = rules,
         .n_rules = 2,
         .token = {.audience = "ees9", .algs = EGW_JWS_ES256, .leeway_s = 30, .sub_is_peer = 1}},
};

static struct egw_issuer_set *issuers;
static struct egw_tokcache *cache;
static struct egw_token_env env;
static const struct egw_authz_provider *prov;
static void *state;
static struct egw_arena arena;

static void setup(void) {
  if (access("certs/out/jwt-es256-k1.key", R_OK) != 0)
    cr_assert_eq(system("certs/gen.sh"), 0);
  char *err = NULL;
  issuers = egw_issuers_new(&site_policy, &err);
  cr_assert_not_null(issuers, "%s", err);
  cache = egw_tokcache_new(100, 5000);
  env = (struct egw_token_env){.cache = cache, .issuers = issuers};
  prov = egw_authz_provider_for(EGW_AUTHZ_TOKEN);
  cr_assert_eq(prov->init(&listener, &env, &state, &err), 0, "%s", err);
  egw_arena_init(&arena, 4096);
}

static void teardown(void) {
  prov->dispose(state);
  egw_tokcache_free(cache);
  egw_issuers_free(issuers);
  egw_arena_cleanup(&arena);
}

static char *token(const char *sub, const char *aud, const char *scope, long exp_in) {
  long now = (long)time(NULL);
  json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "iss", "ecs.test", "sub", sub, "aud",
                        aud, "scope", scope, "iat", (json_int_t)now, "exp",
                        (json_int_t)(now + exp_in), "jti", sub);
  char *t = egw_jws_sign(egw_issuers_signing_key(issuers), c);
  json_decref(c);
  cr_assert_not_null(t);
  return t;
}

static enum egw_authz_decision call(const char *path, const char *tok, const char *peer_id,
                                    struct egw_authz_verdict *v) {
  static char value[20000];
  snprintf(value, sizeof(value), "Bearer %s", tok ? tok : "");
  struct egw_header h = {
      .name = "authorization", .name_len = 13, .value = value, .value_len = strlen(value)};
  struct egw_peer peer = {.kind = peer_id ? EGW_PEER_URI : EGW_PEER_NONE, .id = (char *)peer_id};
  struct egw_request req = {.method = EGW_METHOD_GET,
                            .method_name = "GET",
                            .path = path,
                            .peer = &peer,
                            .headers = &h,
                            .n_headers = tok ? 1 : 0,
                            .arena = &arena};
  return prov->check(state, &req, NULL, v);
}

TestSuite(authz_token, .init = setup, .fini = teardown);

Test(authz_token, valid_token_allowed_then_served_from_the_cache) {
  char *t = token("ees1", "ees9", "eees-read eees-write", 300);
  struct egw_authz_verdict v;
  cr_assert_eq(call("/data/x", t, "ees1", &v), EGW_AUTHZ_ALLOW, "%s", v.reason);
  cr_assert_eq(call("/data/x", t, "ees1", &v), EGW_AUTHZ_ALLOW);
  struct egw_tokcache_stats st;
  egw_tokcache_stats(cache, &st);
  cr_assert_eq(st.hits, 1);
  cr_assert_eq(st.entries, 1);
  free(t);
}

Test(authz_token, open_route_needs_no_token_and_uncovered_route_is_403) {
  struct egw_authz_verdict v;
  cr_assert_eq(call("/open", NULL, NULL, &v), EGW_AUTHZ_ALLOW);
  cr_assert_eq(call("/elsewhere", NULL, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 403);
}

Test(authz_token, missing_token_is_401_with_bare_challenge) {
  struct egw_authz_verdict v;
  cr_assert_eq(call("/data", NULL, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 401);
  cr_assert_str_eq(v.www_authenticate, "Bearer realm=\"edgegw\"");
}

Test(authz_token, insufficient_scope_is_403_naming_the_scope) {
  char *t = token("ees1", "ees9", "eees-write", 300);
  struct egw_authz_verdict v;
  cr_assert_eq(call("/data", t, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 403);
  cr_assert(strstr(v.www_authenticate, "error=\"insufficient_scope\"") != NULL);
  cr_assert(strstr(v.www_authenticate, "scope=\"eees-read\"") != NULL, "%s", v.www_authenticate);
  free(t);
}

Test(authz_token, wrong_sub_aud_expired_are_401_invalid_token) {
  struct egw_authz_verdict v;
  char *t = token("ees2", "ees9", "eees-read", 300);
  cr_assert_eq(call("/data", t, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 401);
  cr_assert(strstr(v.www_authenticate, "error=\"invalid_token\"") != NULL);
  free(t);
  t = token("ees1", "ees8", "eees-read", 300);
  cr_assert_eq(call("/data", t, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 401);
  free(t);
  t = token("ees1", "ees9", "eees-read", -100);
  cr_assert_eq(call("/data", t, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 401);
  free(t);
}

Test(authz_token, revoked_token_is_refused_on_a_cache_hit) {
  char *t = token("ees1", "ees9", "eees-read", 300);
  struct egw_authz_verdict v;
  cr_assert_eq(call("/data", t, "ees1", &v), EGW_AUTHZ_ALLOW);
  cr_assert_eq(egw_tokcache_revoke(cache, "ees1", (int64_t)time(NULL) + 300), 0);
  cr_assert_eq(call("/data", t, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 401);
  free(t);
}

Test(authz_token, forged_token_is_remembered_as_bad) {
  char *t = token("ees1", "ees9", "eees-read", 300);
  size_t n = strlen(t);
  t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
  struct egw_authz_verdict v;
  cr_assert_eq(call("/data", t, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(call("/data", t, "ees1", &v), EGW_AUTHZ_DENY);
  cr_assert_eq(v.status, 401);
  struct egw_tokcache_stats st;
  egw_tokcache_stats(cache, &st);
  cr_assert_eq(st.negative_entries, 1);
  free(t);
}

Test(authz_token, token_header_is_never_echoed) {
  char *t = token("ees2", "ees9", "eees-read", 300);
  struct egw_authz_verdict v;
  call("/data", t, "ees1", &v);
  cr_assert(strstr(v.www_authenticate, t) == NULL);
  cr_assert(strstr(v.reason, "ey") == NULL);
  free(t);
}

Test(authz_token, remote_mode_needs_an_introspection_endpoint) {
  struct egw_listener_policy lp = listener;
  lp.authz.token.remote = 1;
  void *st = NULL;
  char *err = NULL;
  cr_assert_neq(prov->init(&lp, &env, &st, &err), 0);
  cr_assert_str_eq(err, "t/edge9.yaml:0: authz: introspection needs issuers with "
                        "introspection_uri");
  free(err);
}
