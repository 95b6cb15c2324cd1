#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "util/json_write.h"

Test(json_write, object_parses_back_to_the_same_members) {
  char out[256];
  struct egw_json_writer w;
  egw_jw_begin(&w, out, sizeof(out));
  egw_jw_str(&w, "sub", "spiffe://site1/eec/\"q\"\\x\n\x01");
  egw_jw_str(&w, "eecId", "caf\xc3\xa9-\xf0\x9f\x93\xb1"); /* UTF-8 passes through */
  egw_jw_int(&w, "exp", -9007199254740993LL);
  egw_jw_raw(&w, "cnf", "{\"x5t#S256\":\"abc\"}");
  long n = egw_jw_end(&w);
  cr_assert_gt(n, 0);
  cr_assert_eq(strlen(out), (size_t)n);
  json_error_t err;
  json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &err);
  cr_assert_not_null(j, "%s: %s", out, err.text);
  cr_assert_str_eq(json_string_value(json_object_get(j, "sub")), "spiffe://site1/eec/\"q\"\\x\n\x01");
  cr_assert_str_eq(json_string_value(json_object_get(j, "eecId")), "caf\xc3\xa9-\xf0\x9f\x93\xb1");
  cr_assert_eq(json_integer_value(json_object_get(j, "exp")), -9007199254740993LL);
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "cnf"), "x5t#S256")), "abc");
  json_decref(j);
}

Test(json_write, empty_object) {
  char out[8];
  struct egw_json_writer w;
  egw_jw_begin(&w, out, sizeof(out));
  cr_assert_eq(egw_jw_end(&w), 2);
  cr_assert_str_eq(out, "{}");
}

Test(json_write, no_room_fails_instead_of_truncating) {
  char out[16];
  struct egw_json_writer w;
  egw_jw_begin(&w, out, sizeof(out));
  egw_jw_str(&w, "k", "0123456789");
  cr_assert_eq(egw_jw_end(&w), -1);
  /* exactly full: {"k":"01234567"} is 16 bytes, no room for the NUL */
  egw_jw_begin(&w, out, sizeof(out));
  egw_jw_str(&w, "k", "01234567");
  cr_assert_eq(egw_jw_end(&w), -1);
  egw_jw_begin(&w, out, sizeof(out));
  egw_jw_str(&w, "k", "0123456");
  cr_assert_eq(egw_jw_end(&w), 15);
}

Test(json_write, invalid_utf8_is_refused) {
  static const char *const bad[] = {
      "\xc3",             /* truncated */
      "\xc0\xaf",         /* overlong '/' */
      "\xed\xa0\x80",     /* surrogate */
      "\xf4\x90\x80\x80", /* above U+10FFFF */
      "\x80",             /* stray continuation */
      "a\xffz",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char out[64];
    struct egw_json_writer w;
    egw_jw_begin(&w, out, sizeof(out));
    egw_jw_str(&w, "sub", bad[i]);
    cr_assert_eq(egw_jw_end(&w), -1, "case %zu accepted", i);
  }
}
