/* Regressions found by test/fuzz (fuzz_form, fuzz_h1): inputs that once broke the
 * application/x-www-form-urlencoded parser. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/form.h"
#include "util/arena.h"

static enum egw_form_result parse(const char *body, size_t len, struct egw_arena *a,
                                  struct egw_form *f) {
  static const struct egw_header ct = {"content-type", 12, "application/x-www-form-urlencoded", 33};
  struct egw_request req = {.method = EGW_METHOD_POST, .path = "/oauth2/token", .query = "",
                            .headers = &ct, .n_headers = 1, .body = (const uint8_t *)body,
                            .body_len = len, .arena = a};
  return egw_form_parse(&req, f);
}

/* An empty body (framing gives body NULL) is a form without fields: it once computed
 * NULL + 0, undefined behaviour that UBSan reports. */
Test(form_fuzz, empty_body_has_no_fields) {
  struct egw_arena a;
  egw_arena_init(&a, 1024);
  struct egw_form f;
  cr_assert_eq(parse(NULL, 0, &a, &f), EGW_FORM_OK);
  cr_assert_eq(f.n_fields, 0);
  cr_assert_null(egw_form_get(&f, "grant_type"));
  egw_arena_cleanup(&a);
}

Test(form_fuzz, separators_only_and_percent_nul) {
  struct egw_arena a;
  egw_arena_init(&a, 1024);
  struct egw_form f;
  cr_assert_eq(parse("&&&", 3, &a, &f), EGW_FORM_OK);
  cr_assert_eq(f.n_fields, 0);
  cr_assert_eq(parse("a=%00", 5, &a, &f), EGW_FORM_MALFORMED);
  cr_assert_eq(parse("a=%4", 4, &a, &f), EGW_FORM_MALFORMED);
  egw_arena_cleanup(&a);
}
