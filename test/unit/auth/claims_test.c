#include <criterion/criterion.h>
#include <string.h>

#include "auth/jwt.h"

/* 32 bytes 0x00..0x1f in base64url without padding. */
#define X5T_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

static const char *valid_json =
    "{\"iss\":\"ecs1\",\"sub\":\"eec1\",\"aud\":\"ees1\",\"exp\":2000,\"nbf\":1000,"
    "\"iat\":1000,\"scope\":\"eees-eecregistration eees-easdiscovery\",\"jti\":\"j1\"}";

static struct egw_token_claims *parse(const char *text, const char **out_reason) {
  json_error_t err;
  json_t *j = json_loads(text, 0, &err);
  cr_assert_not_null(j, "bad test JSON: %s", err.text);
  *out_reason = NULL;
  struct egw_token_claims *c = egw_token_claims_from_json(j, out_reason);
  json_decref(j);
  return c;
}

/* Parses |text| with |key| removed or replaced by |value| (a JSON text; NULL removes). */
static struct egw_token_claims *parse_with(const char *key, const char *value,
                                           const char **out_reason) {
  json_t *j = json_loads(valid_json, 0, NULL);
  cr_assert_not_null(j);
  if (value == NULL) {
    json_object_del(j, key);
  } else {
    json_t *v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    cr_assert_not_null(v, "bad test value %s", value);
    json_object_set_new(j, key, v);
  }
  *out_reason = NULL;
  struct egw_token_claims *c = egw_token_claims_from_json(j, out_reason);
  json_decref(j);
  return c;
}

Test(claims, valid_token_is_copied) {
  const char *reason;
  struct egw_token_claims *c = parse(valid_json, &reason);
  cr_assert_not_null(c, "%s", reason);
  cr_assert_str_eq(c->iss, "ecs1");
  cr_assert_str_eq(c->sub, "eec1");
  cr_assert_eq(c->n_aud, 1);
  cr_assert_str_eq(c->aud[0], "ees1");
  cr_assert_str_eq(c->scope, "eees-eecregistration eees-easdiscovery");
  cr_assert_str_eq(c->jti, "j1");
  cr_assert_null(c->eec_id);
  cr_assert_eq(c->exp, 2000);
  cr_assert_eq(c->nbf, 1000);
  cr_assert_eq(c->iat, 1000);
  cr_assert_eq(c->has_cnf, 0);
  cr_assert_eq(c->refs, 1);
  egw_token_claims_free(c);
}

Test(claims, optional_claims_absent_are_zero_or_null) {
  const char *reason;
  struct egw_token_claims *c =
      parse("{\"iss\":\"i\",\"sub\":\"s\",\"aud\":\"a\",\"exp\":5,\"scope\":\"\"}", &reason);
  cr_assert_not_null(c, "%s", reason);
  cr_assert_null(c->jti);
  cr_assert_null(c->eec_id);
  cr_assert_eq(c->nbf, 0);
  cr_assert_eq(c->iat, 0);
  cr_assert_str_eq(c->scope, "");
  egw_token_claims_free(c);
}

Test(claims, each_required_claim_missing) {
  const char *names[] = {"iss", "sub", "aud", "exp", "scope"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *reason;
    struct egw_token_claims *c = parse_with(names[i], NULL, &reason);
    cr_assert_null(c, "missing %s accepted", names[i]);
    cr_assert_not_null(reason);
    cr_assert(strstr(reason, names[i]) != NULL, "reason '%s' names %s", reason, names[i]);
    cr_assert(strstr(reason, "missing") != NULL, "%s", reason);
  }
}

Test(claims, wrong_types_are_refused_with_reason) {
  struct {
    const char *key, *value, *reason;
  } cases[] = {
      {"exp", "\"2000\"", "claim 'exp' must be an integer"},
      {"exp", "2000.5", "claim 'exp' must be an integer"},
      {"exp", "null", "claim 'exp' must be an integer"},
      {"nbf", "true", "claim 'nbf' must be an integer"},
      {"iat", "\"1\"", "claim 'iat' must be an integer"},
      {"iss", "42", NULL},
      {"sub", "[\"eec1\"]", NULL},
      {"scope", "[\"a\",\"b\"]", NULL},
      {"jti", "7", NULL},
      {"jti", "null", NULL},
      {"eecId", "{}", NULL},
      {"aud", "42", NULL},
      {"aud", "[]", NULL},
      {"aud", "[\"ees1\",3]", NULL},
      {"sub", "\"eec\\u0000x\"", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *reason;
    struct egw_token_claims *c = parse_with(cases[i].key, cases[i].value, &reason);
    cr_assert_null(c, "%s=%s accepted", cases[i].key, cases[i].value);
    cr_assert_not_null(reason);
    if (cases[i].reason != NULL)
      cr_assert_str_eq(reason, cases[i].reason);
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", cases[i].key);
    cr_assert(strstr(reason, quoted) != NULL, "reason '%s' names %s", reason, quoted);
  }
}

Test(claims, not_an_object) {
  const char *reason = NULL;
  json_t *j = json_array();
  cr_assert_null(egw_token_claims_from_json(j, &reason));
  cr_assert_not_null(reason);
  json_decref(j);
}

Test(claims, aud_array) {
  const char *reason;
  struct egw_token_claims *c = parse_with("aud", "[\"ees1\",\"ees2\",\"ees3\"]", &reason);
  cr_assert_not_null(c, "%s", reason);
  cr_assert_eq(c->n_aud, 3);
  cr_assert_str_eq(c->aud[0], "ees1");
  cr_assert_str_eq(c->aud[2], "ees3");
  egw_token_claims_free(c);
}

Test(claims, aud_array_of_16_accepted_17_refused) {
  char buf[512] = "[";
  for (int i = 0; i < 17; i++) {
    char one[16];
    snprintf(one, sizeof one, "%s\"a%d\"", i ? "," : "", i);
    strcat(buf, one);
    if (i == 15) {
      const char *reason;
      char sixteen[512];
      snprintf(sixteen, sizeof sixteen, "%s]", buf);
      struct egw_token_claims *c = parse_with("aud", sixteen, &reason);
      cr_assert_not_null(c, "%s", reason);
      cr_assert_eq(c->n_aud, 16);
      cr_assert_str_eq(c->aud[15], "a15");
      egw_token_claims_free(c);
    }
  }
  strcat(buf, "]");
  const char *reason;
  cr_assert_null(parse_with("aud", buf, &reason));
}

Test(claims, string_of_1024_accepted_1025_refused) {
  char value[1100];
  value[0] = '"';
  memset(value + 1, 'x', 1024);
  strcpy(value + 1025, "\"");
  const char *reason;
  struct egw_token_claims *c = parse_with("sub", value, &reason);
  cr_assert_not_null(c, "%s", reason);
  cr_assert_eq(strlen(c->sub), 1024);
  egw_token_claims_free(c);
  memset(value + 1, 'x', 1025);
  strcpy(value + 1026, "\"");
  cr_assert_null(parse_with("sub", value, &reason));
  cr_assert_str_eq(reason, "claim 'sub' must be a string of at most 1024 bytes");
}

Test(claims, eec_id_is_kept) {
  const char *reason;
  struct egw_token_claims *c = parse_with("eecId", "\"eec-9\"", &reason);
  cr_assert_not_null(c, "%s", reason);
  cr_assert_str_eq(c->eec_id, "eec-9");
  egw_token_claims_free(c);
}

Test(claims, cnf_good) {
  const char *reason;
  struct egw_token_claims *c = parse_with("cnf", "{\"x5t#S256\":\"" X5T_B64 "\"}", &reason);
  cr_assert_not_null(c, "%s", reason);
  cr_assert_eq(c->has_cnf, 1);
  for (int i = 0; i < 32; i++)
    cr_assert_eq(c->x5t_s256[i], i);
  egw_token_claims_free(c);
}

Test(claims, cnf_bad) {
  const char *bad[] = {
      "\"" X5T_B64 "\"",                                                /* not an object */
      "{}",                                                             /* no x5t#S256 */
      "{\"x5t#S256\":42}",                                              /* not a string */
      "{\"x5t#S256\":\"" X5T_B64 "=\"}",                                /* padding */
      "{\"x5t#S256\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh\"}",  /* 31 bytes */
      "{\"x5t#S256\":\"" X5T_B64 "AA\"}",                               /* 33 bytes */
      "{\"x5t#S256\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+\"}", /* base64, not url */
      "{\"x5t#S256\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9\"}", /* trailing bits */
      "{\"x5t#S256\":\"\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *reason;
    cr_assert_null(parse_with("cnf", bad[i], &reason), "cnf %s accepted", bad[i]);
    cr_assert(strstr(reason, "'cnf'") != NULL, "%s", reason);
  }
}

Test(claims, refcount) {
  const char *reason;
  struct egw_token_claims *c = parse(valid_json, &reason);
  egw_token_claims_up_ref(c);
  cr_assert_eq(c->refs, 2);
  egw_token_claims_free(c);
  cr_assert_eq(c->refs, 1);
  cr_assert_str_eq(c->sub, "eec1");
  egw_token_claims_free(c);
  egw_token_claims_free(NULL);
}

/* Checks. */

static struct egw_token_claims *claims;
static const char *const default_scopes[] = {"eees-easdiscovery"};
static struct egw_token_expect expect;

static void setup_checks(void) {
  const char *reason;
  claims = parse(valid_json, &reason);
  expect = (struct egw_token_expect){
      .peer_id = "eec1",
      .audience = "ees1",
      .scopes = default_scopes,
      .n_scopes = 1,
      .now_s = 1500,
      .leeway_s = 30,
  };
}

static void teardown_checks(void) { egw_token_claims_free(claims); }

TestSuite(check, .init = setup_checks, .fini = teardown_checks);

Test(check, valid) {
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_VALID);
  expect.peer_id = NULL;
  expect.n_scopes = 0;
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_VALID);
}

Test(check, sub_mismatch) {
  expect.peer_id = "eec2";
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_SUB_MISMATCH);
  expect.peer_id = "eec";
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_SUB_MISMATCH);
}

Test(check, aud_mismatch_and_array) {
  expect.audience = "ees2";
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_AUD_MISMATCH);
  expect.audience = NULL;
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_AUD_MISMATCH);
  const char *reason;
  struct egw_token_claims *c = parse_with("aud", "[\"ees0\",\"ees2\"]", &reason);
  expect.audience = "ees2";
  cr_assert_eq(egw_token_check_claims(c, &expect), EGW_TOKEN_VALID);
  expect.audience = "ees1";
  cr_assert_eq(egw_token_check_claims(c, &expect), EGW_TOKEN_AUD_MISMATCH);
  egw_token_claims_free(c);
}

Test(check, order_is_sub_aud_scope_exp_nbf_cnf) {
  const char *reason;
  struct egw_token_claims *c = parse_with("cnf", "{\"x5t#S256\":\"" X5T_B64 "\"}", &reason);
  static const char *const other[] = {"eees-other"};
  struct egw_token_expect e = {.peer_id = "x",
                               .audience = "y",
                               .scopes = other,
                               .n_scopes = 1,
                               .now_s = 5000,
                               .leeway_s = 0};
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_SUB_MISMATCH);
  e.peer_id = "eec1";
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_AUD_MISMATCH);
  e.audience = "ees1";
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_INSUFFICIENT_SCOPE);
  e.n_scopes = 0;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_EXPIRED);
  e.now_s = 10;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_NOT_YET_VALID);
  e.now_s = 1500;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_CNF_MISMATCH);
  egw_token_claims_free(c);
}

Test(check, scope_whole_words) {
  const char *reason;
  struct egw_token_claims *c = parse_with("scope", "\"eees-a  eees-b\"", &reason);
  struct egw_token_expect e = expect;
  const char *const want_eees[] = {"eees"};
  const char *const want_b[] = {"eees-b"};
  const char *const want_both[] = {"eees-a", "eees-b"};
  const char *const want_ab[] = {"eees-a eees-b"};
  const char *const want_empty[] = {""};
  const char *const want_missing[] = {"eees-a", "eees-c"};
  e.scopes = want_eees, e.n_scopes = 1;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_INSUFFICIENT_SCOPE, "eees-a is not eees");
  e.scopes = want_b;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_VALID);
  e.scopes = want_both, e.n_scopes = 2;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_VALID);
  e.scopes = want_missing;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_INSUFFICIENT_SCOPE);
  e.scopes = want_ab, e.n_scopes = 1;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_INSUFFICIENT_SCOPE);
  e.scopes = want_empty;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_INSUFFICIENT_SCOPE);
  egw_token_claims_free(c);
  c = parse_with("scope", "\"eees-ab\"", &reason);
  const char *const want_a[] = {"eees-a"};
  e.scopes = want_a;
  cr_assert_eq(egw_token_check_claims(c, &e), EGW_TOKEN_INSUFFICIENT_SCOPE, "prefix");
  egw_token_claims_free(c);
}

Test(check, exp_leeway_edges) {
  expect.now_s = 2000 + 30; /* exactly exp + leeway */
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_VALID);
  expect.now_s = 2000 + 31;
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_EXPIRED);
  expect.leeway_s = 0;
  expect.now_s = 2000;
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_VALID);
  expect.now_s = 2001;
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_EXPIRED);
}

Test(check, nbf_leeway_edges) {
  expect.now_s = 1000 - 30; /* now + leeway == nbf */
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_VALID);
  expect.now_s = 1000 - 31;
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_NOT_YET_VALID);
}

Test(check, exp_near_int64_max_does_not_wrap) {
  const char *reason;
  struct egw_token_claims *c = parse_with("exp", "9223372036854775807", &reason);
  cr_assert_not_null(c, "%s", reason);
  expect.leeway_s = UINT32_MAX;
  cr_assert_eq(egw_token_check_claims(c, &expect), EGW_TOKEN_VALID);
  egw_token_claims_free(c);
}

Test(check, cnf_binding) {
  const char *reason;
  struct egw_token_claims *c = parse_with("cnf", "{\"x5t#S256\":\"" X5T_B64 "\"}", &reason);
  uint8_t good[32], bad[32];
  for (int i = 0; i < 32; i++)
    good[i] = bad[i] = (uint8_t)i;
  bad[31] ^= 1;
  cr_assert_eq(egw_token_check_claims(c, &expect), EGW_TOKEN_CNF_MISMATCH, "no client cert");
  expect.peer_cert_sha256 = bad;
  cr_assert_eq(egw_token_check_claims(c, &expect), EGW_TOKEN_CNF_MISMATCH);
  expect.peer_cert_sha256 = good;
  cr_assert_eq(egw_token_check_claims(c, &expect), EGW_TOKEN_VALID);
  /* An unbound token does not care about the certificate. */
  cr_assert_eq(egw_token_check_claims(claims, &expect), EGW_TOKEN_VALID);
  egw_token_claims_free(c);
}

Test(check, reasons_are_distinct_text) {
  const char *seen[7];
  for (int r = EGW_TOKEN_VALID; r <= EGW_TOKEN_CNF_MISMATCH; r++) {
    seen[r] = egw_token_check_reason((enum egw_token_check)r);
    cr_assert_not_null(seen[r]);
    cr_assert_gt(strlen(seen[r]), 0);
    for (int k = 0; k < r; k++)
      cr_assert_str_neq(seen[k], seen[r]);
  }
  cr_assert_str_eq(egw_token_check_reason(EGW_TOKEN_EXPIRED), "token expired");
}
