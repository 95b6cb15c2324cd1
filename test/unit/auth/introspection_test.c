/* Introspection calls: one per token in flight, answers cached (bounded), refusals when
 * the issuer says no or cannot be asked. The HTTP call is a stand-in. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "auth/introspection.h"

static struct egw_introspection *in;
static int calls;
static struct egw_introspection_call *last_call;

static int fake_caller(void *arg, struct egw_introspection_call *call, const char *uri,
                       const char *token, size_t len) {
  calls++;
  last_call = call;
  cr_assert_str_eq(uri, "https://issuer/introspect");
  return 0;
}

struct waiter {
  struct egw_authz_wait wait;
  int resumed;
};

static void on_resume(struct egw_authz_wait *w) {
  ((struct waiter *)((char *)w - offsetof(struct waiter, wait)))->resumed++;
}

static void setup(void) {
  in = egw_introspection_new(100, 5000);
  egw_introspection_set_caller(in, fake_caller, NULL);
  calls = 0;
}

static void teardown(void) { egw_introspection_free(in); }

TestSuite(introspection, .init = setup, .fini = teardown);

static enum egw_introspection_result check(const char *token, struct egw_authz_wait *w,
                                           struct egw_token_claims **c, const char **why) {
  return egw_introspection_check(in, "iss1", "https://issuer/introspect", token, strlen(token), 60,
                                 w, c, why);
}

static json_t *active(const char *iss, long exp_in) {
  return json_pack("{s:b, s:s, s:s, s:s, s:s, s:I}", "active", 1, "iss", iss, "sub", "eec1", "aud",
                   "ees1", "scope", "eees-x", "exp", (json_int_t)(time(NULL) + exp_in));
}

Test(introspection, same_token_shares_one_call_and_the_answer_is_cached) {
  struct waiter a = {.wait.resume = on_resume}, b = {.wait.resume = on_resume};
  struct egw_token_claims *c = NULL;
  const char *why = NULL;
  cr_assert_eq(check("tok", &a.wait, &c, &why), EGW_INTROSPECTION_WAIT);
  cr_assert_eq(check("tok", &b.wait, &c, &why), EGW_INTROSPECTION_WAIT);
  cr_assert_eq(calls, 1);
  json_t *answer = active("iss1", 300);
  egw_introspection_done(last_call, answer);
  json_decref(answer);
  cr_assert_eq(a.resumed + b.resumed, 2);
  cr_assert_eq(check("tok", NULL, &c, &why), EGW_INTROSPECTION_ACTIVE);
  cr_assert_str_eq(c->sub, "eec1");
  cr_assert_leq(c->exp, (int64_t)time(NULL) + 60, "kept at most remote_cache_s");
  egw_token_claims_free(c);
  cr_assert_eq(calls, 1);
}

Test(introspection, inactive_wrong_issuer_or_failed_calls_are_refused) {
  const char *tokens[] = {"t-inactive", "t-other-issuer", "t-failed"};
  json_t *answers[] = {json_pack("{s:b}", "active", 0), active("iss2", 300), NULL};
  for (int i = 0; i < 3; i++) {
    struct waiter w = {.wait.resume = on_resume};
    struct egw_token_claims *c = NULL;
    const char *why = NULL;
    cr_assert_eq(check(tokens[i], &w.wait, &c, &why), EGW_INTROSPECTION_WAIT);
    egw_introspection_done(last_call, answers[i]);
    json_decref(answers[i]);
    cr_assert_eq(w.resumed, 1);
    cr_assert_eq(check(tokens[i], &w.wait, &c, &why), EGW_INTROSPECTION_INACTIVE, "%s", tokens[i]);
  }
  cr_assert_eq(calls, 3, "a refused token is not asked again within the negative time");
}

Test(introspection, without_a_caller_nothing_waits) {
  egw_introspection_set_caller(in, NULL, NULL);
  struct waiter w = {.wait.resume = on_resume};
  struct egw_token_claims *c = NULL;
  const char *why = NULL;
  cr_assert_eq(check("tok", &w.wait, &c, &why), EGW_INTROSPECTION_INACTIVE);
  cr_assert_str_eq(why, "the issuer cannot be asked");
}
