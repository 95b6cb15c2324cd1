/* The shared 3GPP API helpers of src/roles/api.c that the ECS modules use: RFC 7396
 * merge patch, RFC 3339 DateTime, resource ids and paths. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_fixture.h"
#include "roles/api.h"
#include "util/arena.h"

/* RFC 7396 appendix A, every example. */
Test(roles_api, merge_patch_rfc7396_examples) {
  static const char *const cases[][3] = {
      {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
      {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
      {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
      {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
      {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
      {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
      {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
      {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
      {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
      {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
      {"{\"a\":\"foo\"}", "null", "null"},
      {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
      {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
      {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
      {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *target = j(cases[i][0]), *patch = j(cases[i][1]), *want = j(cases[i][2]);
    char *before = json_dumps(target, JSON_ENCODE_ANY | JSON_COMPACT);
    json_t *got = egw__roles_merge_patch(target, patch);
    cr_assert_not_null(got);
    char *text = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
    cr_expect(json_equal(got, want), "case %zu: got %s, want %s", i, text, cases[i][2]);
    char *after = json_dumps(target, JSON_ENCODE_ANY | JSON_COMPACT);
    cr_expect_str_eq(after, before, "case %zu changed its target", i);
    free(text);
    free(before);
    free(after);
    json_decref(got);
    json_decref(target);
    json_decref(patch);
    json_decref(want);
  }
}

Test(roles_api, datetime_parse) {
  static const struct {
    const char *text;
    int64_t want;
  } good[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2025-01-31T12:34:56Z", 1738326896},
      {"2025-01-31T12:34:56.789z", 1738326896},
      {"2025-01-31t14:34:56+02:00", 1738326896},
      {"2025-01-31T10:04:56-02:30", 1738326896},
      {"2024-02-29T00:00:00Z", 1709164800},
  };
  int64_t t = 0;
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    cr_assert_eq(egw__roles_datetime_parse(good[i].text, &t), 0, "refused %s", good[i].text);
    cr_expect_eq(t, good[i].want, "%s", good[i].text);
  }
  static const char *const bad[] = {
      "",
      "2025-01-31",
      "2025-01-31 12:34:56Z",
      "2025-01-31T12:34:56",
      "2025-13-01T00:00:00Z",
      "2025-02-29T00:00:00Z",
      "2025-01-32T00:00:00Z",
      "2025-01-31T24:00:00Z",
      "2025-01-31T12:60:00Z",
      "2025-01-31T12:34:56.Z",
      "2025-01-31T12:34:56+0200",
      "2025-01-31T12:34:56Zjunk",
      "tomorrow",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_expect_eq(egw__roles_datetime_parse(bad[i], &t), -1, "accepted %s", bad[i]);
  cr_expect_eq(egw__roles_datetime_parse(NULL, &t), -1);
}

Test(roles_api, datetime_format_round_trips) {
  char out[EGW_DATETIME_LEN + 1];
  egw__roles_datetime_format(1738326896, out);
  cr_expect_str_eq(out, "2025-01-31T12:34:56Z");
  int64_t t = 0;
  cr_assert_eq(egw__roles_datetime_parse(out, &t), 0);
  cr_expect_eq(t, 1738326896);
}

Test(roles_api, ids_are_fresh_base64url) {
  char a[EGW_RESOURCE_ID_LEN + 1], b[EGW_RESOURCE_ID_LEN + 1];
  egw__roles_new_id(a);
  egw__roles_new_id(b);
  cr_expect_eq(strlen(a), EGW_RESOURCE_ID_LEN);
  cr_expect_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
               EGW_RESOURCE_ID_LEN);
  cr_expect_str_neq(a, b);
}

Test(roles_api, path_id) {
  static const char base[] = "/eecs-eesregistration/v1/registrations";
  cr_expect_str_eq(egw__roles_path_id("/eecs-eesregistration/v1/registrations", base), "");
  cr_expect_str_eq(egw__roles_path_id("/eecs-eesregistration/v1/registrations/abc", base), "abc");
  cr_expect_null(egw__roles_path_id("/eecs-eesregistration/v1/registrations/", base));
  cr_expect_null(egw__roles_path_id("/eecs-eesregistration/v1/registrations/a/b", base));
  cr_expect_null(egw__roles_path_id("/eecs-eesregistration/v1/registrationsx", base));
  cr_expect_null(egw__roles_path_id("/other", base));
}

Test(roles_api, query_parameters) {
  struct egw_arena arena;
  egw_arena_init(&arena, 1024);
  struct egw_request req = {.query = "ees-id=ees1.site1.example&eas-id=app%201&x&empty=&p=a+b",
                            .arena = &arena};
  int bad = 0;
  cr_expect_str_eq(egw__roles_query_get(&req, "ees-id", &bad), "ees1.site1.example");
  cr_expect_str_eq(egw__roles_query_get(&req, "eas-id", &bad), "app 1");
  cr_expect_str_eq(egw__roles_query_get(&req, "x", &bad), "");
  cr_expect_str_eq(egw__roles_query_get(&req, "empty", &bad), "");
  cr_expect_str_eq(egw__roles_query_get(&req, "p", &bad), "a b");
  cr_expect_null(egw__roles_query_get(&req, "target-dnai", &bad));
  cr_expect_eq(bad, 0);
  struct egw_request broken = {.query = "a=%zz", .arena = &arena};
  cr_expect_null(egw__roles_query_get(&broken, "a", &bad));
  cr_expect_eq(bad, 1);
  bad = 0;
  struct egw_request cut = {.query = "a=%4", .arena = &arena};
  cr_expect_null(egw__roles_query_get(&cut, "a", &bad));
  cr_expect_eq(bad, 1);
  egw_arena_cleanup(&arena);
}

Test(roles_api, scope_join) {
  char *scopes[] = {"eees-eecregistration", "eees-easdiscovery"};
  char *s = egw__roles_scope_join(scopes, 2, "unused");
  cr_expect_str_eq(s, "eees-eecregistration eees-easdiscovery");
  free(s);
  s = egw__roles_scope_join(scopes, 1, "unused");
  cr_expect_str_eq(s, "eees-eecregistration");
  free(s);
  s = egw__roles_scope_join(NULL, 0, "eas-app");
  cr_expect_str_eq(s, "eas-app");
  free(s);
}
