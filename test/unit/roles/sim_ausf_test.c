/* The simulated AUSF without sockets: the subscribers file parser (derivations checked
 * against hand-computed SPEC-NOTES values) and the key request's answers. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "roles/sim/internal.h"

/* SUPI 262019876543210, KAUSF 00 01 .. 1f: values from the Python hmac of the formulas
 * (the same as test/e2e/test_kdf_cli.py computes). */
#define SUPI "262019876543210"
#define KAUSF "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define EXPECTED_KEDGE "aaac5dab22a56f5eeb866997eddc0b6c28b5a753df421d1541d2900edd6c08e0"
#define EXPECTED_KEDGE_ID "0.67b6f8d792467a9c9e612d2ebca3ea56@5gc.mnc001.mcc262.3gppnetwork.org"

static struct egw__sim_subscribers *parse(const char *text, char **err) {
  *err = NULL;
  return egw__sim_subscribers_parse(text, strlen(text), "subs", err);
}

static void hex(char *out, const uint8_t *in, size_t n) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", in[i]);
}

Test(sim_ausf, parses_and_derives) {
  char *err;
  struct egw__sim_subscribers *s = parse("# lab subscribers\n\n" SUPI " " KAUSF "  # comment\n"
                                         "\t001010000000001\t" KAUSF "\r\n",
                                         &err);
  cr_assert_not_null(s, "%s", err);
  cr_assert_eq(s->n, 2);
  cr_expect_str_eq(s->items[0].supi, SUPI);
  cr_expect_str_eq(s->items[0].kedge_id, EXPECTED_KEDGE_ID);
  char h[65];
  hex(h, s->items[0].kedge, 32);
  cr_expect_str_eq(h, EXPECTED_KEDGE);
  /* MCC 001, MNC 01 from the second SUPI. */
  cr_expect(strstr(s->items[1].kedge_id, "@5gc.mnc001.mcc001.3gppnetwork.org") != NULL);
  cr_expect_eq(egw__sim_subscriber_find(s, EXPECTED_KEDGE_ID), &s->items[0]);
  cr_expect_null(egw__sim_subscriber_find(s, "0.00@x"));
  egw__sim_subscribers_free(s);
}

Test(sim_ausf, parse_errors_name_the_line_and_no_key) {
  static const char *const cases[][2] = {
      {"", "subs: no subscribers"},
      {"# only a comment\n", "subs: no subscribers"},
      {SUPI "\n", "subs:1: expected \"<SUPI> <KAUSF hex>\""},
      {SUPI " " KAUSF " extra\n", "subs:1: expected \"<SUPI> <KAUSF hex>\""},
      {"\nimsi-" SUPI " " KAUSF "\n", "subs:2: the SUPI must be 5 to 15 digits"},
      {"1234 " KAUSF "\n", "subs:1: the SUPI must be 5 to 15 digits"},
      {SUPI " 0001\n", "subs:1: KAUSF must be 64 hex digits"},
      {SUPI " " KAUSF "zz\n", "subs:1: KAUSF must be 64 hex digits"},
      {SUPI " " KAUSF "\n" SUPI " " KAUSF "\n", "subs:2: this SUPI is listed twice"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *err;
    cr_expect_null(parse(cases[i][0], &err), "case %zu", i);
    cr_expect_str_eq(err, cases[i][1], "case %zu", i);
    cr_expect_null(strstr(err, "0102030405"), "case %zu leaks key material", i);
    free(err);
  }
}

Test(sim_ausf, load_missing_file) {
  char *err = NULL;
  cr_expect_null(egw__sim_subscribers_load("/nonexistent/subs", &err));
  cr_expect_str_eq(err, "/nonexistent/subs: No such file or directory");
  free(err);
}

#define NOW 1738326896 /* 2025-01-31T12:34:56Z */

static int answer(const char *body_text, json_t **out, const char **cause) {
  char *err;
  struct egw__sim_subscribers *s = parse(SUPI " " KAUSF "\n", &err);
  cr_assert_not_null(s);
  json_t *body = body_text ? json_loads(body_text, 0, NULL) : NULL;
  const char *detail;
  int status = egw__sim_ausf_answer(s, body, NOW, 600, out, cause, &detail);
  if (status != 200)
    cr_expect_not_null(detail);
  json_decref(body);
  egw__sim_subscribers_free(s);
  return status;
}

Test(sim_ausf, answers_a_known_id) {
  json_t *out;
  const char *cause;
  cr_assert_eq(answer("{\"kedgeId\":\"" EXPECTED_KEDGE_ID "\"}", &out, &cause), 200);
  cr_assert_not_null(out);
  cr_expect_str_eq(json_string_value(json_object_get(out, "kedge")), EXPECTED_KEDGE);
  cr_expect_str_eq(json_string_value(json_object_get(out, "expiry")), "2025-01-31T12:44:56Z");
  cr_expect_eq(json_object_size(out), 2);
  json_decref(out);
}

Test(sim_ausf, answers_unknown_and_bad_requests) {
  static const struct {
    const char *body;
    int status;
    const char *cause;
  } cases[] = {
      {"{\"kedgeId\":\"0.00@5gc.mnc001.mcc262.3gppnetwork.org\"}", 404, "KEDGE_ID_NOT_FOUND"},
      {"{}", 400, "MANDATORY_IE_MISSING"},
      {NULL, 400, "MANDATORY_IE_MISSING"},
      {"{\"kedgeId\":7}", 400, "MANDATORY_IE_INCORRECT"},
      {"{\"kedgeId\":\"\"}", 400, "MANDATORY_IE_INCORRECT"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *out = (json_t *)1;
    const char *cause;
    cr_expect_eq(answer(cases[i].body, &out, &cause), cases[i].status, "case %zu", i);
    cr_expect_null(out, "case %zu", i);
    cr_expect_str_eq(cause, cases[i].cause, "case %zu", i);
  }
}
