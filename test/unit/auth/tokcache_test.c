#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/tokcache.h"
#include "util/errors.h"

static struct egw_token_claims *make_claims(int64_t exp, const char *jti) {
  json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s}", "iss", "ecs1", "sub", "eec1", "aud", "ees1",
                        "exp", (json_int_t)exp, "scope", "eees-easdiscovery");
  cr_assert_not_null(j);
  if (jti != NULL)
    json_object_set_new(j, "jti", json_string(jti));
  const char *reason = NULL;
  struct egw_token_claims *c = egw_token_claims_from_json(j, &reason);
  json_decref(j);
  cr_assert_not_null(c, "%s", reason);
  return c;
}

/* Stores claims (exp, jti) for |token| and drops the test's own reference. */
static void put(struct egw_tokcache *tc, const char *token, int64_t exp, const char *jti,
                int64_t now_s) {
  struct egw_token_claims *c = make_claims(exp, jti);
  cr_assert_eq(egw_tokcache_put(tc, token, strlen(token), c, now_s), 0);
  egw_token_claims_free(c);
}

static enum egw_tokcache_result get(struct egw_tokcache *tc, const char *token, int64_t now_s,
                                    uint64_t now_ms, struct egw_token_claims **out) {
  struct egw_token_claims *tmp;
  enum egw_tokcache_result r =
      egw_tokcache_get(tc, token, strlen(token), now_s, now_ms, out ? out : &tmp);
  if (out == NULL && r == EGW_TOKCACHE_HIT)
    egw_token_claims_free(tmp);
  return r;
}

static struct egw_tokcache_stats stats(struct egw_tokcache *tc) {
  struct egw_tokcache_stats s;
  egw_tokcache_stats(tc, &s);
  return s;
}

Test(tokcache, miss_then_hit) {
  struct egw_tokcache *tc = egw_tokcache_new(8, 1000);
  cr_assert_not_null(tc);
  struct egw_token_claims *out = (void *)1;
  cr_assert_eq(get(tc, "tok-a", 100, 0, &out), EGW_TOKCACHE_MISS);
  cr_assert_null(out);
  put(tc, "tok-a", 200, "j1", 100);
  cr_assert_eq(get(tc, "tok-a", 100, 0, &out), EGW_TOKCACHE_HIT);
  cr_assert_not_null(out);
  cr_assert_str_eq(out->jti, "j1");
  cr_assert_eq(out->exp, 200);
  egw_token_claims_free(out);
  cr_assert_eq(get(tc, "tok-b", 100, 0, NULL), EGW_TOKCACHE_MISS);
  cr_assert_eq(get(tc, "tok-", 100, 0, NULL), EGW_TOKCACHE_MISS, "prefix of a cached token");
  struct egw_tokcache_stats s = stats(tc);
  cr_assert_eq(s.entries, 1);
  cr_assert_eq(s.hits, 1);
  cr_assert_eq(s.misses, 3);
  egw_tokcache_free(tc);
  egw_tokcache_free(NULL);
}

Test(tokcache, put_same_token_replaces_claims) {
  struct egw_tokcache *tc = egw_tokcache_new(8, 0);
  put(tc, "tok", 200, "old", 100);
  put(tc, "tok", 300, "new", 100);
  struct egw_token_claims *out;
  cr_assert_eq(get(tc, "tok", 250, 0, &out), EGW_TOKCACHE_HIT);
  cr_assert_str_eq(out->jti, "new");
  egw_token_claims_free(out);
  cr_assert_eq(stats(tc).entries, 1);
  egw_tokcache_free(tc);
}

Test(tokcache, expiry_at_exp) {
  struct egw_tokcache *tc = egw_tokcache_new(8, 0);
  put(tc, "tok", 200, NULL, 100);
  cr_assert_eq(get(tc, "tok", 200, 0, NULL), EGW_TOKCACHE_HIT, "exp itself is not past");
  cr_assert_eq(get(tc, "tok", 201, 0, NULL), EGW_TOKCACHE_MISS);
  struct egw_tokcache_stats s = stats(tc);
  cr_assert_eq(s.entries, 0);
  cr_assert_eq(s.expirations, 1);
  cr_assert_eq(get(tc, "tok", 150, 0, NULL), EGW_TOKCACHE_MISS, "dropped, not hidden");
  egw_tokcache_free(tc);
}

Test(tokcache, expired_claims_are_not_stored) {
  struct egw_tokcache *tc = egw_tokcache_new(8, 0);
  put(tc, "tok", 99, NULL, 100);
  cr_assert_eq(stats(tc).entries, 0);
  cr_assert_eq(get(tc, "tok", 100, 0, NULL), EGW_TOKCACHE_MISS);
  egw_tokcache_free(tc);
}

Test(tokcache, put_drops_expired_entries) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 0);
  put(tc, "a", 110, NULL, 100);
  put(tc, "b", 120, NULL, 100);
  put(tc, "c", 500, NULL, 100);
  put(tc, "d", 500, NULL, 130);
  struct egw_tokcache_stats s = stats(tc);
  cr_assert_eq(s.entries, 2);
  cr_assert_eq(s.expirations, 2);
  cr_assert_eq(s.evictions, 0);
  egw_tokcache_free(tc);
}

Test(tokcache, full_cache_evicts_soonest_expiring) {
  struct egw_tokcache *tc = egw_tokcache_new(4, 0);
  put(tc, "t300", 300, NULL, 100);
  put(tc, "t150", 150, NULL, 100);
  put(tc, "t400", 400, NULL, 100);
  put(tc, "t200", 200, NULL, 100);
  put(tc, "t500", 500, NULL, 100); /* evicts t150 */
  cr_assert_eq(get(tc, "t150", 100, 0, NULL), EGW_TOKCACHE_MISS);
  put(tc, "t150", 150, NULL, 100); /* evicts t200, the soonest now (t150 is newest) */
  cr_assert_eq(get(tc, "t200", 100, 0, NULL), EGW_TOKCACHE_MISS);
  cr_assert_eq(get(tc, "t150", 100, 0, NULL), EGW_TOKCACHE_HIT);
  cr_assert_eq(get(tc, "t300", 100, 0, NULL), EGW_TOKCACHE_HIT);
  cr_assert_eq(get(tc, "t400", 100, 0, NULL), EGW_TOKCACHE_HIT);
  cr_assert_eq(get(tc, "t500", 100, 0, NULL), EGW_TOKCACHE_HIT);
  struct egw_tokcache_stats s = stats(tc);
  cr_assert_eq(s.entries, 4);
  cr_assert_eq(s.evictions, 2);
  cr_assert_eq(s.expirations, 0);
  egw_tokcache_free(tc);
}

Test(tokcache, max_entries_one) {
  struct egw_tokcache *tc = egw_tokcache_new(1, 1000);
  put(tc, "a", 300, NULL, 100);
  put(tc, "b", 200, NULL, 100);
  cr_assert_eq(get(tc, "a", 100, 0, NULL), EGW_TOKCACHE_MISS);
  cr_assert_eq(get(tc, "b", 100, 0, NULL), EGW_TOKCACHE_HIT);
  egw_tokcache_put_negative(tc, "x", 1, 0);
  egw_tokcache_put_negative(tc, "y", 1, 0);
  cr_assert_eq(stats(tc).negative_entries, 1);
  cr_assert_eq(get(tc, "y", 100, 1, NULL), EGW_TOKCACHE_NEGATIVE);
  egw_tokcache_free(tc);
}

Test(tokcache, negative_entry_and_ttl) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 500);
  egw_tokcache_put_negative(tc, "forged", 6, 1000);
  cr_assert_eq(stats(tc).negative_entries, 1);
  cr_assert_eq(get(tc, "forged", 1, 1000, NULL), EGW_TOKCACHE_NEGATIVE);
  cr_assert_eq(get(tc, "forged", 1, 1499, NULL), EGW_TOKCACHE_NEGATIVE);
  cr_assert_eq(get(tc, "other", 1, 1499, NULL), EGW_TOKCACHE_MISS);
  cr_assert_eq(get(tc, "forged", 1, 1500, NULL), EGW_TOKCACHE_MISS, "TTL passed");
  cr_assert_eq(stats(tc).negative_entries, 0);
  /* Seen again: the TTL starts over. */
  egw_tokcache_put_negative(tc, "forged", 6, 2000);
  egw_tokcache_put_negative(tc, "forged", 6, 2400);
  cr_assert_eq(stats(tc).negative_entries, 1);
  cr_assert_eq(get(tc, "forged", 1, 2800, NULL), EGW_TOKCACHE_NEGATIVE);
  egw_tokcache_free(tc);
}

Test(tokcache, negative_ttl_zero_disables) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 0);
  egw_tokcache_put_negative(tc, "forged", 6, 1000);
  cr_assert_eq(get(tc, "forged", 1, 1000, NULL), EGW_TOKCACHE_MISS);
  cr_assert_eq(stats(tc).negative_entries, 0);
  egw_tokcache_free(tc);
}

Test(tokcache, negative_bound_drops_oldest) {
  struct egw_tokcache *tc = egw_tokcache_new(40, 60000); /* bound: 10 */
  char name[16];
  for (int i = 0; i < 25; i++) {
    snprintf(name, sizeof name, "bad%d", i);
    egw_tokcache_put_negative(tc, name, strlen(name), 1000 + (uint64_t)i);
  }
  cr_assert_eq(stats(tc).negative_entries, 10);
  for (int i = 0; i < 25; i++) {
    snprintf(name, sizeof name, "bad%d", i);
    enum egw_tokcache_result want = i >= 15 ? EGW_TOKCACHE_NEGATIVE : EGW_TOKCACHE_MISS;
    cr_assert_eq(get(tc, name, 1, 2000, NULL), want, "%s", name);
  }
  /* Refreshing one makes it the youngest: it survives the next 9. */
  egw_tokcache_put_negative(tc, "bad15", 5, 3000);
  for (int i = 100; i < 109; i++) {
    snprintf(name, sizeof name, "bad%d", i);
    egw_tokcache_put_negative(tc, name, strlen(name), 3001);
  }
  cr_assert_eq(get(tc, "bad15", 1, 3002, NULL), EGW_TOKCACHE_NEGATIVE);
  cr_assert_eq(get(tc, "bad16", 1, 3002, NULL), EGW_TOKCACHE_MISS);
  cr_assert_eq(stats(tc).negative_entries, 10);
  egw_tokcache_free(tc);
}

Test(tokcache, put_clears_negative_entry) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 60000);
  egw_tokcache_put_negative(tc, "tok", 3, 1000);
  put(tc, "tok", 500, NULL, 100);
  cr_assert_eq(stats(tc).negative_entries, 0);
  cr_assert_eq(get(tc, "tok", 100, 1001, NULL), EGW_TOKCACHE_HIT);
  egw_tokcache_free(tc);
}

Test(tokcache, revoke_then_hit_is_revoked) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 0);
  put(tc, "tok1", 500, "jti-1", 100);
  put(tc, "tok2", 500, "jti-1", 100); /* same jti, another token text */
  put(tc, "tok3", 500, "jti-2", 100);
  put(tc, "tok4", 500, NULL, 100);
  cr_assert_eq(egw_tokcache_revoke(tc, "jti-1", 500), 0);
  struct egw_token_claims *out = (void *)1;
  cr_assert_eq(get(tc, "tok1", 100, 0, &out), EGW_TOKCACHE_REVOKED);
  cr_assert_null(out);
  cr_assert_eq(get(tc, "tok2", 100, 0, NULL), EGW_TOKCACHE_REVOKED);
  cr_assert_eq(get(tc, "tok3", 100, 0, NULL), EGW_TOKCACHE_HIT);
  cr_assert_eq(get(tc, "tok4", 100, 0, NULL), EGW_TOKCACHE_HIT);
  struct egw_tokcache_stats s = stats(tc);
  cr_assert_eq(s.entries, 2, "revoked entries no longer hold claims");
  cr_assert_eq(s.revoked, 1);
  cr_assert(egw_tokcache_is_revoked(tc, "jti-1", 100));
  cr_assert_not(egw_tokcache_is_revoked(tc, "jti-2", 100));
  cr_assert_not(egw_tokcache_is_revoked(tc, "jti-", 100));
  /* Past exp the token is a plain miss (verification reports it expired). */
  cr_assert_eq(get(tc, "tok1", 501, 0, NULL), EGW_TOKCACHE_MISS);
  egw_tokcache_free(tc);
}

Test(tokcache, revoked_claims_stay_valid_while_referenced) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 0);
  put(tc, "tok", 500, "jti-1", 100);
  struct egw_token_claims *held;
  cr_assert_eq(get(tc, "tok", 100, 0, &held), EGW_TOKCACHE_HIT);
  egw_tokcache_revoke(tc, "jti-1", 500);
  cr_assert_eq(held->refs, 1);
  cr_assert_str_eq(held->jti, "jti-1");
  egw_token_claims_free(held);
  egw_tokcache_free(tc);
}

Test(tokcache, revoked_jti_is_not_stored) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 0);
  cr_assert_eq(egw_tokcache_revoke(tc, "jti-9", 500), 0);
  put(tc, "tok", 500, "jti-9", 100);
  cr_assert_eq(stats(tc).entries, 0);
  cr_assert_eq(get(tc, "tok", 100, 0, NULL), EGW_TOKCACHE_MISS);
  egw_tokcache_free(tc);
}

Test(tokcache, deny_list_checked_on_every_hit) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 0);
  put(tc, "tok", 900, "jti-1", 100);
  /* The deny-list alone decides, whatever revoke did to the entries. */
  cr_assert_eq(egw_tokcache_revoke(tc, "jti-1", 300), 0);
  cr_assert_eq(get(tc, "tok", 100, 0, NULL), EGW_TOKCACHE_REVOKED);
  cr_assert_eq(get(tc, "tok", 300, 0, NULL), EGW_TOKCACHE_REVOKED);
  egw_tokcache_free(tc);
}

Test(tokcache, revoke_purged_after_exp) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 0);
  cr_assert_eq(egw_tokcache_revoke(tc, "jti-1", 500), 0);
  cr_assert_eq(egw_tokcache_revoke(tc, "jti-1", 400), 0, "a shorter exp does not shorten");
  cr_assert_eq(stats(tc).revoked, 1);
  cr_assert(egw_tokcache_is_revoked(tc, "jti-1", 500));
  cr_assert_not(egw_tokcache_is_revoked(tc, "jti-1", 501));
  cr_assert_eq(stats(tc).revoked, 0);
  /* Once purged, a token with that jti (re-issued with a new exp) may be cached. */
  put(tc, "tok", 900, "jti-1", 501);
  cr_assert_eq(get(tc, "tok", 502, 0, NULL), EGW_TOKCACHE_HIT);
  egw_tokcache_free(tc);
}

Test(tokcache, many_revocations_purge_expired_when_growing) {
  struct egw_tokcache *tc = egw_tokcache_new(100, 0);
  char jti[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(jti, sizeof jti, "old-%d", i);
    cr_assert_eq(egw_tokcache_revoke(tc, jti, 100 + i), 0);
  }
  cr_assert_eq(stats(tc).revoked, 1000);
  for (int i = 0; i < 1000; i++) {
    snprintf(jti, sizeof jti, "old-%d", i);
    cr_assert(egw_tokcache_is_revoked(tc, jti, 100), "%s", jti);
  }
  cr_assert_not(egw_tokcache_is_revoked(tc, "none", 5000)); /* the cache learns the time */
  for (int i = 0; i < 1000; i++) {
    snprintf(jti, sizeof jti, "new-%d", i);
    cr_assert_eq(egw_tokcache_revoke(tc, jti, 9000), 0);
  }
  cr_assert_eq(stats(tc).revoked, 1000, "the expired ones were swept");
  for (int i = 0; i < 1000; i++) {
    snprintf(jti, sizeof jti, "new-%d", i);
    cr_assert(egw_tokcache_is_revoked(tc, jti, 5000), "%s", jti);
  }
  egw_tokcache_free(tc);
}

Test(tokcache, stats_counters) {
  struct egw_tokcache *tc = egw_tokcache_new(8, 1000);
  put(tc, "a", 200, "ja", 100);
  put(tc, "b", 300, NULL, 100);
  get(tc, "a", 100, 0, NULL);  /* hit */
  get(tc, "b", 100, 0, NULL);  /* hit */
  get(tc, "zz", 100, 0, NULL); /* miss */
  get(tc, "a", 201, 0, NULL);  /* expired: miss */
  egw_tokcache_put_negative(tc, "n1", 2, 0);
  egw_tokcache_revoke(tc, "jx", 1000);
  struct egw_tokcache_stats s = stats(tc);
  cr_assert_eq(s.entries, 1);
  cr_assert_eq(s.negative_entries, 1);
  cr_assert_eq(s.revoked, 1);
  cr_assert_eq(s.hits, 2);
  cr_assert_eq(s.misses, 2);
  cr_assert_eq(s.evictions, 0);
  cr_assert_eq(s.expirations, 1);
  egw_tokcache_free(tc);
}

Test(tokcache, claims_survive_eviction_while_referenced) {
  struct egw_tokcache *tc = egw_tokcache_new(1, 0);
  put(tc, "a", 200, "ja", 100);
  struct egw_token_claims *held;
  cr_assert_eq(get(tc, "a", 100, 0, &held), EGW_TOKCACHE_HIT);
  cr_assert_eq(held->refs, 2);
  put(tc, "b", 300, NULL, 100); /* evicts a */
  cr_assert_eq(stats(tc).evictions, 1);
  cr_assert_eq(held->refs, 1);
  cr_assert_str_eq(held->jti, "ja");
  egw_token_claims_free(held);
  egw_tokcache_free(tc);
}

Test(tokcache, put_takes_its_own_reference) {
  struct egw_tokcache *tc = egw_tokcache_new(4, 0);
  struct egw_token_claims *c = make_claims(200, NULL);
  cr_assert_eq(egw_tokcache_put(tc, "a", 1, c, 100), 0);
  cr_assert_eq(egw_tokcache_put(tc, "b", 1, c, 100), 0);
  cr_assert_eq(c->refs, 3);
  egw_tokcache_free(tc);
  cr_assert_eq(c->refs, 1);
  egw_token_claims_free(c);
}

Test(tokcache, hundred_thousand_entries, .timeout = 60) {
  enum { N = 100000 };
  struct egw_tokcache *tc = egw_tokcache_new(N, 1000);
  struct egw_token_claims *c[4];
  for (int k = 0; k < 4; k++)
    c[k] = make_claims(1000 + k, NULL);
  char tok[64];
  for (int i = 0; i < N; i++) {
    int len = snprintf(tok, sizeof tok, "eyJhbGciOiJFUzI1NiJ9.token-%d.sig", i);
    cr_assert_eq(egw_tokcache_put(tc, tok, (size_t)len, c[i % 4], 100), 0);
  }
  cr_assert_eq(stats(tc).entries, N);
  for (int i = 0; i < N; i++) {
    int len = snprintf(tok, sizeof tok, "eyJhbGciOiJFUzI1NiJ9.token-%d.sig", i);
    struct egw_token_claims *out;
    cr_assert_eq(egw_tokcache_get(tc, tok, (size_t)len, 100, 0, &out), EGW_TOKCACHE_HIT, "%d", i);
    cr_assert_eq(out, c[i % 4]);
    egw_token_claims_free(out);
  }
  /* Full: 1000 more evict the 1000 soonest-expiring (exp 1000, i % 4 == 0). */
  for (int i = N; i < N + 1000; i++) {
    int len = snprintf(tok, sizeof tok, "eyJhbGciOiJFUzI1NiJ9.token-%d.sig", i);
    cr_assert_eq(egw_tokcache_put(tc, tok, (size_t)len, c[3], 100), 0);
  }
  struct egw_tokcache_stats s = stats(tc);
  cr_assert_eq(s.entries, N);
  cr_assert_eq(s.evictions, 1000);
  int evicted = 0;
  for (int i = 0; i < N; i++) {
    int len = snprintf(tok, sizeof tok, "eyJhbGciOiJFUzI1NiJ9.token-%d.sig", i);
    struct egw_token_claims *out;
    if (egw_tokcache_get(tc, tok, (size_t)len, 100, 0, &out) == EGW_TOKCACHE_HIT) {
      egw_token_claims_free(out);
    } else {
      cr_assert_eq(i % 4, 0, "token %d evicted before a sooner-expiring one", i);
      evicted++;
    }
  }
  cr_assert_eq(evicted, 1000);
  /* Time passes beyond the first two exps: every such entry goes on lookup. */
  int hits = 0;
  for (int i = 0; i < N; i++) {
    int len = snprintf(tok, sizeof tok, "eyJhbGciOiJFUzI1NiJ9.token-%d.sig", i);
    struct egw_token_claims *out;
    if (egw_tokcache_get(tc, tok, (size_t)len, 1002, 0, &out) == EGW_TOKCACHE_HIT) {
      cr_assert_geq(out->exp, 1002);
      egw_token_claims_free(out);
      hits++;
    }
  }
  cr_assert_eq(hits, N / 2);
  egw_tokcache_free(tc);
  for (int k = 0; k < 4; k++) {
    cr_assert_eq(c[k]->refs, 1);
    egw_token_claims_free(c[k]);
  }
}

/* Random puts, gets and revocations against a plain model of the contract: catches any
 * disagreement between the table's moves, the heap and the deny-list. Exps are distinct
 * so that "the entry that expires first" is always one entry. */
enum { MODEL_TOKENS = 200, MODEL_MAX = 50 };
struct model {
  int present[MODEL_TOKENS], revoked_entry[MODEL_TOKENS];
  int64_t exp[MODEL_TOKENS], deny_exp[MODEL_TOKENS]; /* deny_exp -1: none */
  size_t size;
};

static int model_soonest(const struct model *m) {
  int best = -1;
  for (int t = 0; t < MODEL_TOKENS; t++) {
    if (m->present[t] && (best < 0 || m->exp[t] < m->exp[best]))
      best = t;
  }
  return best;
}

static void model_put(struct model *m, int t, int64_t exp, int64_t now) {
  if (exp < now || m->deny_exp[t] >= now)
    return;
  if (m->present[t]) {
    m->exp[t] = exp;
    m->revoked_entry[t] = 0;
    return;
  }
  for (int k = 0; k < 16; k++) {
    int s = model_soonest(m);
    if (s < 0 || m->exp[s] >= now)
      break;
    m->present[s] = 0;
    m->size--;
  }
  if (m->size == MODEL_MAX) {
    m->present[model_soonest(m)] = 0;
    m->size--;
  }
  m->present[t] = 1;
  m->revoked_entry[t] = 0;
  m->exp[t] = exp;
  m->size++;
}

static enum egw_tokcache_result model_get(struct model *m, int t, int64_t now) {
  if (!m->present[t])
    return EGW_TOKCACHE_MISS;
  if (m->exp[t] < now) {
    m->present[t] = 0;
    m->size--;
    return EGW_TOKCACHE_MISS;
  }
  if (m->revoked_entry[t] || m->deny_exp[t] >= now)
    return EGW_TOKCACHE_REVOKED;
  return EGW_TOKCACHE_HIT;
}

Test(tokcache, agrees_with_a_model, .timeout = 60) {
  struct egw_tokcache *tc = egw_tokcache_new(MODEL_MAX, 0);
  static struct model m;
  memset(&m, 0, sizeof m);
  for (int t = 0; t < MODEL_TOKENS; t++)
    m.deny_exp[t] = -1;
  struct egw_token_claims *claims[MODEL_TOKENS] = {0};
  uint64_t rng = 12345;
  int64_t now = 1000000;
  char tok[32], jti[32];
  int seen[4] = {0};
  for (int op = 0; op < 30000; op++) {
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    uint32_t r = (uint32_t)(rng >> 33);
    int t = (int)(r % MODEL_TOKENS);
    snprintf(tok, sizeof tok, "token-%d", t);
    snprintf(jti, sizeof jti, "jti-%d", t);
    now += 1000 * (int64_t)((r >> 8) % 3);
    uint32_t kind = (r >> 12) % 100;
    if (kind < 45) {
      int64_t exp = now + 1000 * (int64_t)((r >> 16) % 300) + t - 100;
      egw_token_claims_free(claims[t]);
      claims[t] = make_claims(exp, jti);
      cr_assert_eq(egw_tokcache_put(tc, tok, strlen(tok), claims[t], now), 0);
      model_put(&m, t, exp, now);
    } else if (kind < 97) {
      struct egw_token_claims *out = NULL;
      enum egw_tokcache_result want = model_get(&m, t, now);
      enum egw_tokcache_result got = egw_tokcache_get(tc, tok, strlen(tok), now, 0, &out);
      cr_assert_eq(got, want, "op %d token %d: got %d want %d", op, t, got, want);
      seen[got]++;
      if (got == EGW_TOKCACHE_HIT) {
        cr_assert_eq(out->exp, m.exp[t]);
        egw_token_claims_free(out);
      }
    } else {
      int64_t dexp = now + 1000 * (int64_t)((r >> 16) % 100);
      cr_assert_eq(egw_tokcache_revoke(tc, jti, dexp), 0);
      m.deny_exp[t] = m.deny_exp[t] > dexp ? m.deny_exp[t] : dexp;
      if (m.present[t])
        m.revoked_entry[t] = 1;
    }
    size_t live = 0;
    for (int k = 0; k < MODEL_TOKENS; k++)
      live += m.present[k] && !m.revoked_entry[k];
    cr_assert_eq(stats(tc).entries, live, "op %d", op);
  }
  /* The run went through every path. */
  struct egw_tokcache_stats s = stats(tc);
  cr_log_info("evictions %llu expirations %llu hit %d miss %d revoked %d",
              (unsigned long long)s.evictions, (unsigned long long)s.expirations,
              seen[EGW_TOKCACHE_HIT], seen[EGW_TOKCACHE_MISS], seen[EGW_TOKCACHE_REVOKED]);
  cr_assert_gt(s.evictions, 100);
  cr_assert_gt(s.expirations, 100);
  cr_assert_gt(seen[EGW_TOKCACHE_HIT], 1000);
  cr_assert_gt(seen[EGW_TOKCACHE_MISS], 1000);
  cr_assert_gt(seen[EGW_TOKCACHE_REVOKED], 20);
  egw_tokcache_free(tc);
  for (int t = 0; t < MODEL_TOKENS; t++) {
    if (claims[t] != NULL)
      cr_assert_eq(claims[t]->refs, 1);
    egw_token_claims_free(claims[t]);
  }
}
