/* The PSK resolver on a real loop, with a fake provider that claims "fake:" identities
 * and answers when the test says so. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "keys/keystore.h"
#include "keys/psk_resolver.h"
#include "util/errors.h"

#define MAX_FETCHES 8

struct fake {
  int starts, cancels, attaches, detaches, disposes;
  int fail_start;
  struct egw_psk_fetch *fetches[MAX_FETCHES];
  char identities[MAX_FETCHES][160];
  uint16_t suites[MAX_FETCHES];
};

static int fake_claims(void *state, const struct egw_psk_query *q) {
  return strncmp(q->identity, "fake:", 5) == 0 || strncmp(q->identity, "3GPP-AKMA", 9) == 0;
}

static int fake_start(void *state, struct egw_psk_fetch *f, const struct egw_psk_query *q) {
  struct fake *fk = state;
  if (fk->fail_start)
    return EGW_ERR_IO;
  cr_assert_lt(fk->starts, MAX_FETCHES);
  fk->fetches[fk->starts] = f;
  strcpy(fk->identities[fk->starts], q->identity);
  fk->suites[fk->starts] = q->cipher_suite;
  fk->starts++;
  return 0;
}

static void fake_cancel(void *state, struct egw_psk_fetch *f) {
  struct fake *fk = state;
  fk->cancels++;
  for (int i = 0; i < fk->starts; i++) {
    if (fk->fetches[i] == f)
      fk->fetches[i] = NULL;
  }
}

static int fake_attach(void *state, struct uv_loop_s *loop) {
  ((struct fake *)state)->attaches++;
  return 0;
}
static void fake_detach(void *state) { ((struct fake *)state)->detaches++; }
static void fake_dispose(void *state) { ((struct fake *)state)->disposes++; }

static const struct egw_psk_provider_ops fake_ops = {
    .name = "fake",
    .claims = fake_claims,
    .start = fake_start,
    .cancel = fake_cancel,
    .attach = fake_attach,
    .detach = fake_detach,
    .dispose = fake_dispose,
};

/* What the waiters were told. */
struct answer {
  int calls;
  enum egw_psk_result r;
  enum egw_psk_failure why;
  struct egw_psk_resolver *res;
};

static void on_answer(void *arg, enum egw_psk_result r) {
  struct answer *a = arg;
  a->calls++;
  a->r = r;
  a->why = egw_psk_resolver_failure(a->res, NULL);
}

static uv_loop_t loop;
static struct egw_keystore *keys;
static struct egw_psk_resolver *res;
static struct fake fk;

static void setup_with(uint64_t timeout_ms, uint64_t negative_ttl_ms) {
  memset(&fk, 0, sizeof(fk));
  cr_assert_eq(uv_loop_init(&loop), 0);
  keys = egw_keystore_new();
  res = egw_psk_resolver_new(keys);
  cr_assert_not_null(res);
  cr_assert_not(egw_psk_resolver_has_providers(res));
  struct egw_psk_provider_limits lim = {.timeout_ms = timeout_ms,
                                        .negative_ttl_ms = negative_ttl_ms};
  cr_assert_eq(egw_psk_resolver_add_provider(res, &fake_ops, &fk, &lim), 0);
  cr_assert(egw_psk_resolver_has_providers(res));
  cr_assert_eq(egw_psk_resolver_start(res, &loop), 0);
  cr_assert_eq(fk.attaches, 1);
}

static void teardown_all(void) {
  egw_psk_resolver_stop(res);
  cr_assert_eq(fk.detaches, 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  egw_psk_resolver_free(res);
  cr_assert_eq(fk.disposes, 1);
  egw_keystore_free(keys);
  cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open");
}

static int resolve(const char *id, uint16_t suite, struct answer *a, struct egw_psk_wait **w) {
  struct egw_psk_query q = {.identity = id, .cipher_suite = suite};
  a->res = res;
  return egw_psk_resolve(res, &q, on_answer, a, w);
}

static const uint8_t key1[32] = {1, 2, 3};

static void on_slept(uv_timer_t *t) { uv_timer_stop(t); }

static void sleep_loop(uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_slept, ms, 0);
  while (uv_is_active((uv_handle_t *)&t))
    uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

Test(psk_resolver, waiters_join_one_fetch_and_the_key_lands_in_the_store) {
  setup_with(5000, 1000);
  struct answer a = {0}, b = {0};
  struct egw_psk_wait *wa, *wb;
  cr_assert_eq(resolve("fake:1", 0, &a, &wa), -1);
  cr_assert_eq(resolve("fake:1", 0xCCAC, &b, &wb), -1);
  cr_assert_not_null(wa);
  cr_assert_not_null(wb);
  cr_assert_eq(fk.starts, 1, "one fetch for one identity");
  cr_assert_str_eq(fk.identities[0], "fake:1");
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_READY, key1, sizeof(key1), 0);
  cr_assert_eq(a.calls, 1);
  cr_assert_eq(b.calls, 1);
  cr_assert_eq(a.r, EGW_PSK_READY);
  cr_assert_eq(b.r, EGW_PSK_READY);
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(keys, NULL, "fake:1", out, sizeof(out), 0), sizeof(key1));
  cr_assert_arr_eq(out, key1, sizeof(key1));
  /* A listener's own realm sees the site-wide key too. */
  cr_assert_eq(egw_keystore_get(keys, "some.psk", "fake:1", out, sizeof(out), 0), sizeof(key1));
  /* Now answered at once, without the provider. */
  struct answer c = {0};
  struct egw_psk_wait *wc = (void *)1;
  cr_assert_eq(resolve("fake:1", 0, &c, &wc), EGW_PSK_READY);
  cr_assert_null(wc);
  cr_assert_eq(fk.starts, 1);
  cr_assert_eq(c.calls, 0);
  teardown_all();
}

Test(psk_resolver, an_expired_key_is_fetched_again) {
  setup_with(5000, 1000);
  struct answer a = {0};
  struct egw_psk_wait *w;
  cr_assert_eq(resolve("fake:e", 0, &a, &w), -1);
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_READY, key1, sizeof(key1), uv_now(&loop) + 20);
  sleep_loop(40);
  cr_assert_eq(resolve("fake:e", 0, &a, &w), -1);
  cr_assert_eq(fk.starts, 2);
  teardown_all();
}

Test(psk_resolver, unknown_identities_are_remembered_until_the_negative_ttl) {
  setup_with(5000, 50);
  struct answer a = {0};
  struct egw_psk_wait *w;
  cr_assert_eq(resolve("fake:nobody", 0, &a, &w), -1);
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_UNKNOWN, NULL, 0, 0);
  cr_assert_eq(a.calls, 1);
  cr_assert_eq(a.r, EGW_PSK_UNKNOWN);
  cr_assert_eq(resolve("fake:nobody", 0, &a, &w), EGW_PSK_UNKNOWN);
  cr_assert_null(w);
  cr_assert_eq(fk.starts, 1, "answered from the negative cache");
  sleep_loop(70);
  cr_assert_eq(resolve("fake:nobody", 0, &a, &w), -1, "forgotten after the TTL");
  cr_assert_eq(fk.starts, 2);
  teardown_all();
}

Test(psk_resolver, a_zero_negative_ttl_remembers_nothing) {
  setup_with(5000, 0);
  struct answer a = {0};
  struct egw_psk_wait *w;
  cr_assert_eq(resolve("fake:nobody", 0, &a, &w), -1);
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_UNKNOWN, NULL, 0, 0);
  cr_assert_eq(resolve("fake:nobody", 0, &a, &w), -1);
  cr_assert_eq(fk.starts, 2);
  teardown_all();
}

Test(psk_resolver, a_fetch_times_out_as_unavailable_and_is_cancelled) {
  setup_with(30, 1000);
  struct answer a = {0}, b = {0};
  struct egw_psk_wait *w;
  uv_update_time(&loop); /* the timer counts from the loop's time: make it now */
  uint64_t t0 = uv_hrtime();
  cr_assert_eq(resolve("fake:slow", 0, &a, &w), -1);
  cr_assert_eq(resolve("fake:slow", 0, &b, &w), -1);
  while (a.calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  uint64_t took_ms = (uv_hrtime() - t0) / 1000000;
  cr_assert_geq(took_ms, 25);
  cr_assert_lt(took_ms, 1000);
  cr_assert_eq(a.r, EGW_PSK_UNAVAILABLE);
  cr_assert_eq(a.why, EGW_PSK_FAIL_TIMEOUT);
  cr_assert_eq(b.calls, 1);
  cr_assert_eq(b.why, EGW_PSK_FAIL_TIMEOUT);
  cr_assert_eq(fk.cancels, 1);
  const char *prov = NULL;
  egw_psk_resolver_failure(res, &prov);
  cr_assert_str_eq(prov, "fake");
  /* A failure is not remembered: the next query fetches again. */
  cr_assert_eq(resolve("fake:slow", 0, &a, &w), -1);
  cr_assert_eq(fk.starts, 2);
  teardown_all();
}

Test(psk_resolver, provider_failure_reason_reaches_the_waiters) {
  setup_with(5000, 1000);
  struct answer a = {0};
  struct egw_psk_wait *w;
  cr_assert_eq(resolve("fake:x", 0, &a, &w), -1);
  egw_psk_fetch_set_failure(fk.fetches[0], EGW_PSK_FAIL_UNREACHABLE);
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_UNAVAILABLE, NULL, 0, 0);
  cr_assert_eq(a.r, EGW_PSK_UNAVAILABLE);
  cr_assert_eq(a.why, EGW_PSK_FAIL_UNREACHABLE);
  /* A provider that cannot even start fails the query at once. */
  fk.fail_start = 1;
  cr_assert_eq(resolve("fake:y", 0, &a, &w), EGW_PSK_UNAVAILABLE);
  cr_assert_null(w);
  cr_assert_eq(egw_psk_resolver_failure(res, NULL), EGW_PSK_FAIL_UNREACHABLE);
  /* Nobody claims it: at once. */
  cr_assert_eq(resolve("other:1", 0, &a, &w), EGW_PSK_UNAVAILABLE);
  cr_assert_eq(egw_psk_resolver_failure(res, NULL), EGW_PSK_FAIL_NO_PROVIDER);
  struct egw_psk_query q = {.identity = "other:1"};
  cr_assert_not(egw_psk_resolver_claims(res, &q));
  q.identity = "fake:1";
  cr_assert(egw_psk_resolver_claims(res, &q));
  teardown_all();
}

Test(psk_resolver, a_cancelled_waiter_is_not_called_and_the_fetch_goes_on) {
  setup_with(5000, 1000);
  struct answer a = {0}, b = {0};
  struct egw_psk_wait *wa, *wb;
  cr_assert_eq(resolve("fake:c", 0, &a, &wa), -1);
  cr_assert_eq(resolve("fake:c", 0, &b, &wb), -1);
  egw_psk_wait_cancel(wa);
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_READY, key1, sizeof(key1), 0);
  cr_assert_eq(a.calls, 0);
  cr_assert_eq(b.calls, 1);
  /* Every waiter gone: the key still lands in the store. */
  cr_assert_eq(resolve("fake:d", 0, &a, &wa), -1);
  egw_psk_wait_cancel(wa);
  egw_psk_fetch_done(fk.fetches[1], EGW_PSK_READY, key1, sizeof(key1), 0);
  cr_assert_eq(a.calls, 0);
  cr_assert_eq(resolve("fake:d", 0, &a, &wa), EGW_PSK_READY);
  teardown_all();
}

/* A waiter that cancels the other waiter of the same fetch from its callback. */
struct pair {
  struct answer a;
  struct egw_psk_wait *other;
};
static void cancel_other(void *arg, enum egw_psk_result r) {
  struct pair *p = arg;
  p->a.calls++;
  egw_psk_wait_cancel(p->other);
}

Test(psk_resolver, a_waiter_may_cancel_another_from_its_callback) {
  setup_with(5000, 1000);
  struct pair p1 = {0}, p2 = {0};
  struct egw_psk_query q = {.identity = "fake:p"};
  struct egw_psk_wait *w1, *w2;
  cr_assert_eq(egw_psk_resolve(res, &q, cancel_other, &p1, &w1), -1);
  cr_assert_eq(egw_psk_resolve(res, &q, cancel_other, &p2, &w2), -1);
  p1.other = w2;
  p2.other = w1;
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_READY, key1, sizeof(key1), 0);
  cr_assert_eq(p1.a.calls + p2.a.calls, 1);
  teardown_all();
}

Test(psk_resolver, stop_cancels_every_fetch) {
  setup_with(5000, 1000);
  struct answer a = {0}, b = {0}, n = {0};
  struct egw_psk_wait *w;
  cr_assert_eq(resolve("fake:s1", 0, &a, &w), -1);
  cr_assert_eq(resolve("fake:s2", 0, &b, &w), -1);
  cr_assert_eq(resolve("fake:neg", 0, &n, &w), -1);
  egw_psk_fetch_done(fk.fetches[2], EGW_PSK_UNKNOWN, NULL, 0, 0);
  egw_psk_resolver_stop(res);
  cr_assert_eq(a.calls, 1);
  cr_assert_eq(b.calls, 1);
  cr_assert_eq(a.r, EGW_PSK_UNAVAILABLE);
  cr_assert_eq(a.why, EGW_PSK_FAIL_STOPPED);
  cr_assert_eq(fk.cancels, 2);
  cr_assert_eq(fk.detaches, 1);
  cr_assert_eq(resolve("fake:s3", 0, &a, &w), EGW_PSK_UNAVAILABLE);
  cr_assert_eq(egw_psk_resolver_failure(res, NULL), EGW_PSK_FAIL_STOPPED);
  cr_assert_eq(fk.starts, 3);
  teardown_all(); /* stop again is a no-op; the loop closes clean */
}

Test(psk_resolver, akma_keys_are_stored_per_cipher_suite) {
  char name[64];
  struct egw_psk_query q = {.identity = "3GPP-AKMAtid@example.org", .cipher_suite = 0xCCAC};
  cr_assert_eq(egw_psk_store_name(&q, name, sizeof(name)), 0);
  cr_assert_str_eq(name, "3GPP-AKMAtid@example.org#ccac");
  q.cipher_suite = 0xC035;
  cr_assert_eq(egw_psk_store_name(&q, name, sizeof(name)), 0);
  cr_assert_str_eq(name, "3GPP-AKMAtid@example.org#c035");
  q.identity = "0.abcd@5gc.mnc001.mcc262.3gppnetwork.org";
  cr_assert_eq(egw_psk_store_name(&q, name, sizeof(name)), 0);
  cr_assert_str_eq(name, q.identity, "other identities are stored as they are");
  cr_assert_eq(egw_psk_store_name(&q, name, 10), -1);
  q.identity = "3GPP-AKMAx";
  cr_assert_eq(egw_psk_store_name(&q, name, 11), -1, "no room for the suite");
  q.identity = "";
  cr_assert_eq(egw_psk_store_name(&q, name, sizeof(name)), -1);

  /* Two suites, two fetches, two keys. */
  setup_with(5000, 1000);
  struct answer a = {0}, b = {0};
  struct egw_psk_wait *w;
  cr_assert_eq(resolve("3GPP-AKMAk@x", 0xCCAC, &a, &w), -1);
  cr_assert_eq(resolve("3GPP-AKMAk@x", 0xC035, &b, &w), -1);
  cr_assert_eq(fk.starts, 2);
  cr_assert_eq(fk.suites[0], 0xCCAC);
  cr_assert_eq(fk.suites[1], 0xC035);
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_READY, key1, sizeof(key1), 0);
  uint8_t out[EGW_PSK_MAX_LEN];
  cr_assert_eq(egw_keystore_get(keys, NULL, "3GPP-AKMAk@x#ccac", out, sizeof(out), 0), 32);
  cr_assert_eq(egw_keystore_get(keys, NULL, "3GPP-AKMAk@x", out, sizeof(out), 0), 0);
  cr_assert_eq(resolve("3GPP-AKMAk@x", 0xCCAC, &a, &w), EGW_PSK_READY);
  teardown_all();
}

Test(psk_resolver, a_flood_of_identities_is_capped) {
  setup_with(5000, 40);
  egw_psk_resolver_set_max_entries(res, 2);
  struct answer a = {0}, b = {0}, c = {0};
  struct egw_psk_wait *w;
  cr_assert_eq(resolve("fake:f1", 0, &a, &w), -1);
  cr_assert_eq(resolve("fake:f2", 0, &b, &w), -1);
  cr_assert_eq(resolve("fake:f3", 0, &c, &w), EGW_PSK_UNAVAILABLE);
  cr_assert_eq(egw_psk_resolver_failure(res, NULL), EGW_PSK_FAIL_FULL);
  cr_assert_eq(fk.starts, 2);
  /* Joining a fetch in flight costs no entry. */
  cr_assert_eq(resolve("fake:f1", 0, &c, &w), -1);
  /* A key that arrived frees its entry; an unknown one holds it until its TTL. */
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_READY, key1, sizeof(key1), 0);
  egw_psk_fetch_done(fk.fetches[1], EGW_PSK_UNKNOWN, NULL, 0, 0);
  cr_assert_eq(resolve("fake:f3", 0, &c, &w), -1);
  cr_assert_eq(resolve("fake:f4", 0, &c, &w), EGW_PSK_UNAVAILABLE);
  sleep_loop(60);
  cr_assert_eq(resolve("fake:f4", 0, &c, &w), -1, "the expired negative entry was swept");
  teardown_all();
}

Test(psk_resolver, bad_queries_fail_closed) {
  setup_with(5000, 1000);
  struct answer a = {0};
  struct egw_psk_wait *w;
  cr_assert_eq(resolve("", 0, &a, &w), EGW_PSK_UNAVAILABLE);
  char long_id[200];
  memset(long_id, 'a', sizeof(long_id) - 1);
  memcpy(long_id, "fake:", 5);
  long_id[sizeof(long_id) - 1] = '\0';
  cr_assert_eq(resolve(long_id, 0, &a, &w), EGW_PSK_UNAVAILABLE);
  cr_assert_eq(fk.starts, 0);
  /* A key that does not fit the store is no key. */
  cr_assert_eq(resolve("fake:big", 0, &a, &w), -1);
  uint8_t big[EGW_PSK_MAX_LEN + 1] = {0};
  egw_psk_fetch_done(fk.fetches[0], EGW_PSK_READY, big, sizeof(big), 0);
  cr_assert_eq(a.r, EGW_PSK_UNAVAILABLE);
  teardown_all();
}

Test(psk_resolver, not_started_refuses_and_free_accepts_null) {
  egw_psk_resolver_free(NULL);
  struct egw_keystore *ks = egw_keystore_new();
  struct egw_psk_resolver *r = egw_psk_resolver_new(ks);
  struct fake f = {0};
  struct egw_psk_provider_limits lim = {.timeout_ms = 100};
  cr_assert_eq(egw_psk_resolver_add_provider(r, &fake_ops, &f, &lim), 0);
  struct egw_psk_query q = {.identity = "fake:1"};
  struct egw_psk_wait *w;
  struct answer a = {.res = r};
  cr_assert_eq(egw_psk_resolve(r, &q, on_answer, &a, &w), EGW_PSK_UNAVAILABLE);
  cr_assert_eq(egw_psk_resolver_failure(r, NULL), EGW_PSK_FAIL_STOPPED);
  egw_psk_resolver_stop(r); /* never started: nothing to do */
  egw_psk_resolver_free(r);
  cr_assert_eq(f.disposes, 1);
  egw_keystore_free(ks);
}

Test(psk_resolver, the_expiry_of_a_fetched_key_is_readable) {
  struct egw_keystore *ks = egw_keystore_new();
  uint64_t exp = 1;
  cr_assert_eq(egw_keystore_get_expiry(ks, NULL, "x", 0, &exp), 0);
  cr_assert_eq(egw_keystore_put(ks, NULL, "x", key1, sizeof(key1), 5000), 0);
  cr_assert_eq(egw_keystore_put(ks, "r.psk", "x", key1, sizeof(key1), 7000), 0);
  cr_assert_eq(egw_keystore_put(ks, NULL, "forever", key1, sizeof(key1), 0), 0);
  cr_assert_eq(egw_keystore_get_expiry(ks, NULL, "x", 100, &exp), 1);
  cr_assert_eq(exp, 5000);
  cr_assert_eq(egw_keystore_get_expiry(ks, "r.psk", "x", 100, &exp), 1);
  cr_assert_eq(exp, 7000, "the realm's own key wins");
  cr_assert_eq(egw_keystore_get_expiry(ks, "other.psk", "x", 100, &exp), 1);
  cr_assert_eq(exp, 5000);
  cr_assert_eq(egw_keystore_get_expiry(ks, NULL, "x", 5000, &exp), 0, "expired");
  cr_assert_eq(egw_keystore_get_expiry(ks, NULL, "forever", 1u << 30, &exp), 1);
  cr_assert_eq(exp, 0);
  egw_keystore_free(ks);
}
