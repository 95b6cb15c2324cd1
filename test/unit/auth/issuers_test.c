/* Keys of a jwks_uri issuer: when a lookup fetches, waits, or refuses at once. The fetch
 * itself is a stand-in that records calls; the test reports its outcome. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth/issuers.h"

static struct egw_issuer_policy remote_issuer[] = {
    {.id = "peer", .jwks_uri = "https://127.0.0.1:1/jwks", .jwks_refresh_min_s = 30}};
static struct egw_site_policy policy = {
    .site_file = "t/site.yaml", .issuers = remote_issuer, .n_issuers = 1};

static struct egw_issuer_set *set;
static int fetches;
static struct egw_remote_keys *fetching;

static int fake_fetch(void *arg, struct egw_remote_keys *rk, const char *uri) {
  fetches++;
  fetching = rk;
  cr_assert_str_eq(uri, "https://127.0.0.1:1/jwks");
  return 0;
}

struct waiter {
  struct egw_authz_wait wait;
  int resumed;
};

static void on_resume(struct egw_authz_wait *w) {
  ((struct waiter *)((char *)w - offsetof(struct waiter, wait)))->resumed++;
}

static json_t *jwks_with(const char *kid) {
  if (access("certs/out/jwt-es256-k1.pub.pem", R_OK) != 0)
    cr_assert_eq(system("certs/gen.sh"), 0);
  char *err = NULL;
  struct egw_jwk *k = egw_jwk_from_pem_file("certs/out/jwt-es256-k1.pub.pem", kid, &err);
  cr_assert_not_null(k, "%s", err);
  json_t *doc = json_pack("{s:[o]}", "keys", egw_jwk_public_json(k));
  egw_jwk_free(k);
  return doc;
}

static void setup(void) {
  char *err = NULL;
  set = egw_issuers_new(&policy, &err);
  cr_assert_not_null(set, "%s", err);
  fetches = 0;
  fetching = NULL;
}

static void teardown(void) { egw_issuers_free(set); }

TestSuite(issuers, .init = setup, .fini = teardown);

Test(issuers, unknown_kid_fetches_once_and_waiters_are_woken) {
  egw_issuers_set_fetcher(set, fake_fetch, NULL);
  const struct egw_jwk *key = NULL;
  struct waiter w1 = {.wait.resume = on_resume}, w2 = {.wait.resume = on_resume};
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "a", 1000, &w1.wait, &key), EGW_KEY_WAIT);
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "a", 1001, &w2.wait, &key), EGW_KEY_WAIT);
  cr_assert_eq(fetches, 1, "a second request joins the fetch under way");
  json_t *doc = jwks_with("a");
  const char *err = NULL;
  cr_assert_eq(egw_remote_keys_fetched(fetching, doc, &err), 0, "%s", err);
  json_decref(doc);
  cr_assert_eq(w1.resumed, 1);
  cr_assert_eq(w2.resumed, 1);
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "a", 1002, NULL, &key), EGW_KEY_FOUND);
  cr_assert_str_eq(egw_jwk_kid(key), "a");
}

Test(issuers, refetch_at_most_once_per_interval) {
  egw_issuers_set_fetcher(set, fake_fetch, NULL);
  const struct egw_jwk *key = NULL;
  struct waiter w = {.wait.resume = on_resume};
  egw_issuers_fetch_all(set, 1000);
  cr_assert_eq(fetches, 1);
  json_t *doc = jwks_with("a");
  const char *err = NULL;
  egw_remote_keys_fetched(fetching, doc, &err);
  json_decref(doc);
  /* 29.999 s later a made-up kid is refused at once, without a fetch. */
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "zz", 30999, &w.wait, &key), EGW_KEY_UNKNOWN);
  cr_assert_eq(fetches, 1);
  /* 30 s after the last fetch started, one refetch is allowed. */
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "zz", 31000, &w.wait, &key), EGW_KEY_WAIT);
  cr_assert_eq(fetches, 2);
}

Test(issuers, failed_fetch_keeps_the_keys_and_wakes_the_waiters) {
  egw_issuers_set_fetcher(set, fake_fetch, NULL);
  const struct egw_jwk *key = NULL;
  egw_issuers_fetch_all(set, 1000);
  json_t *doc = jwks_with("a");
  const char *err = NULL;
  egw_remote_keys_fetched(fetching, doc, &err);
  json_decref(doc);
  struct waiter w = {.wait.resume = on_resume};
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "b", 40000, &w.wait, &key), EGW_KEY_WAIT);
  cr_assert_eq(egw_remote_keys_fetched(fetching, NULL, &err), -1);
  cr_assert_eq(w.resumed, 1);
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "a", 40001, NULL, &key), EGW_KEY_FOUND);
  json_t *empty = json_pack("{s:[]}", "keys");
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "c", 80000, &w.wait, &key), EGW_KEY_WAIT);
  cr_assert_eq(egw_remote_keys_fetched(fetching, empty, &err), -1);
  cr_assert_str_eq(err, "the document has no usable signing key");
  json_decref(empty);
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "a", 80001, NULL, &key), EGW_KEY_FOUND);
}

Test(issuers, without_a_fetcher_or_a_wait_nothing_waits) {
  const struct egw_jwk *key = NULL;
  struct waiter w = {.wait.resume = on_resume};
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "a", 1000, &w.wait, &key), EGW_KEY_UNKNOWN);
  egw_issuers_set_fetcher(set, fake_fetch, NULL);
  cr_assert_eq(egw_issuers_lookup_key(set, "peer", "a", 1000, NULL, &key), EGW_KEY_UNKNOWN);
  cr_assert_eq(egw_issuers_lookup_key(set, "nobody", "a", 1000, &w.wait, &key), EGW_KEY_UNKNOWN);
  cr_assert_eq(fetches, 0);
}
