/* The pure parts of a reload: which listeners stay, which role sections changed, and the
 * token cache forgetting verifications but not revocations. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/tokcache.h"
#include "core/reload.h"

static struct egw_listener_policy lp(const char *host, uint16_t port) {
  return (struct egw_listener_policy){.listen_host = (char *)host, .listen_port = port};
}

Test(reload_match, kept_added_and_removed) {
  struct egw_listener_policy a = lp("127.0.0.1", 1000), b = lp("127.0.0.1", 1001),
                             c = lp("::1", 1000);
  const struct egw_listener_policy *cur[] = {&a, &b, &c};
  struct egw_listener_policy next[] = {lp("::1", 1000), lp("127.0.0.1", 1002),
                                       lp("127.0.0.1", 1000)};
  long old[3];
  size_t removed = 99;
  egw__reload_match(cur, 3, next, 3, old, &removed);
  cr_assert_eq(old[0], 2, "same host and port: kept");
  cr_assert_eq(old[1], -1, "a new port: added");
  cr_assert_eq(old[2], 0, "the order of files does not matter");
  cr_assert_eq(removed, 1, "127.0.0.1:1001 is gone");
}

Test(reload_match, same_port_other_host_is_another_listener) {
  struct egw_listener_policy a = lp("127.0.0.1", 1000);
  const struct egw_listener_policy *cur[] = {&a, NULL};
  struct egw_listener_policy next[] = {lp("::1", 1000)};
  long old[1];
  size_t removed = 0;
  egw__reload_match(cur, 2, next, 1, old, &removed);
  cr_assert_eq(old[0], -1);
  cr_assert_eq(removed, 1, "NULL entries are not counted");
}

Test(reload_match, nothing_before_or_after) {
  size_t removed = 7;
  egw__reload_match(NULL, 0, NULL, 0, NULL, &removed);
  cr_assert_eq(removed, 0);
}

static char *write_tmp(const char *text) {
  char *path = strdup("/tmp/egw-reload-XXXXXX");
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

static char *compare(const char *before, const char *after) {
  char *p1 = write_tmp(before), *p2 = write_tmp(after), *err = NULL;
  struct egw_role_digests d1, d2;
  cr_assert_eq(egw__reload_digest_roles(p1, &d1, &err), 0, "%s", err ? err : "");
  cr_assert_eq(egw__reload_digest_roles(p2, &d2, &err), 0, "%s", err ? err : "");
  char *diff = egw__reload_compare_roles(&d1, &d2, p2);
  unlink(p1);
  unlink(p2);
  free(p1);
  free(p2);
  return diff;
}

#define SITE "site:\n  id: s\n  trust:\n    ca: a.pem\n"
#define ECS                                                                                        \
  "ecs:\n  id: e\n  signing_keys:\n    - kid: k1\n      key: k1.pem\n  token_ttl_s: 600\n"         \
  "  clients:\n    - id: x\n      scopes: [a, b]\n"

Test(reload_roles, layout_comments_and_other_sections_do_not_count) {
  cr_assert_null(compare(SITE ECS, "# a comment\n" ECS "site: {id: t, trust: {ca: b.pem}}\n"));
}

Test(reload_roles, signing_keys_may_change) {
  cr_assert_null(compare(SITE ECS,
                         SITE "ecs:\n  id: e\n  signing_keys:\n    - kid: k2\n      key: k2.pem\n"
                              "    - kid: k1\n      key: k1.pem\n  token_ttl_s: 600\n"
                              "  clients:\n    - id: x\n      scopes: [a, b]\n"));
}

Test(reload_roles, a_changed_value_names_the_section_and_line) {
  char *diff = compare(SITE ECS, SITE "ecs:\n  id: e\n  signing_keys:\n    - kid: k1\n"
                                      "      key: k1.pem\n  token_ttl_s: 601\n"
                                      "  clients:\n    - id: x\n      scopes: [a, b]\n");
  cr_assert_not_null(diff);
  cr_assert(strstr(diff, ":5: ecs: the section was changed") != NULL, "%s", diff);
  free(diff);
}

Test(reload_roles, a_scope_list_change_counts) {
  char *diff = compare(SITE ECS, SITE "ecs:\n  id: e\n  signing_keys:\n    - kid: k1\n"
                                      "      key: k1.pem\n  token_ttl_s: 600\n"
                                      "  clients:\n    - id: x\n      scopes: [a, b, c]\n");
  cr_assert_not_null(diff);
  free(diff);
}

Test(reload_roles, sections_added_or_removed) {
  char *diff = compare(SITE, SITE "ees:\n  id: x\n");
  cr_assert_not_null(diff);
  cr_assert(strstr(diff, ":5: ees: the section was added") != NULL, "%s", diff);
  free(diff);
  diff = compare(SITE "sim:\n  ausf: {subscribers: f}\n", SITE);
  cr_assert_not_null(diff);
  cr_assert(strstr(diff, ":1: sim: the section was removed") != NULL, "%s", diff);
  free(diff);
}

Test(reload_roles, a_key_moved_between_sections_counts) {
  /* The same events in another section must not digest alike. */
  char *diff =
      compare(SITE "ees:\n  id: x\neas:\n  id: y\n", SITE "ees:\n  id: y\neas:\n  id: x\n");
  cr_assert_not_null(diff);
  free(diff);
}

Test(reload_roles, syntax_error_is_reported_with_the_line) {
  char *p = write_tmp("ecs:\n  id: [x\n"), *err = NULL;
  struct egw_role_digests d;
  cr_assert_eq(egw__reload_digest_roles(p, &d, &err), -1);
  cr_assert(strstr(err, p) != NULL && strstr(err, "YAML syntax") != NULL, "%s", err);
  free(err);
  unlink(p);
  free(p);
}

static void put(struct egw_tokcache *tc, const char *token, const char *jti) {
  json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "iss", "i", "sub", "s", "aud", "a", "exp",
                        (json_int_t)2000, "scope", "x", "jti", jti);
  const char *reason = NULL;
  struct egw_token_claims *c = egw_token_claims_from_json(j, &reason);
  cr_assert_not_null(c, "%s", reason);
  cr_assert_eq(egw_tokcache_put(tc, token, strlen(token), c, 1000), 0);
  egw_token_claims_free(c);
  json_decref(j);
}

Test(reload_tokcache, forgets_verifications_keeps_revocations) {
  struct egw_tokcache *tc = egw_tokcache_new(16, 5000);
  struct egw_token_claims *out = NULL;
  put(tc, "tok-a", "a");
  put(tc, "tok-b", "b");
  cr_assert_eq(egw_tokcache_revoke(tc, "b", 2000), 0);
  egw_tokcache_put_negative(tc, "forged", 6, 1000);
  cr_assert_eq(egw_tokcache_get(tc, "forged", 6, 1000, 1000, &out), EGW_TOKCACHE_NEGATIVE);
  egw_tokcache_forget_verified(tc);
  cr_assert_eq(egw_tokcache_get(tc, "tok-a", 5, 1000, 1000, &out), EGW_TOKCACHE_MISS,
               "a verified token is checked again");
  cr_assert_eq(egw_tokcache_get(tc, "tok-b", 5, 1000, 1000, &out), EGW_TOKCACHE_MISS);
  cr_assert_eq(egw_tokcache_get(tc, "forged", 6, 1000, 1001, &out), EGW_TOKCACHE_MISS,
               "a token refused under the old keys may verify under the new ones");
  cr_assert(egw_tokcache_is_revoked(tc, "b", 1000), "the deny-list stays");
  put(tc, "tok-a", "a");
  cr_assert_eq(egw_tokcache_get(tc, "tok-a", 5, 1000, 1000, &out), EGW_TOKCACHE_HIT,
               "the cache works after forgetting");
  egw_token_claims_free(out);
  struct egw_tokcache_stats st;
  egw_tokcache_stats(tc, &st);
  cr_assert_eq(st.entries, 1);
  cr_assert_eq(st.negative_entries, 0);
  egw_tokcache_free(tc);
}
