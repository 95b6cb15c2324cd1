#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/format.h"

static void assert_int_text(int64_t v, const char *want) {
  char out[EGW_INT_TEXT_MAX + 1];
  size_t n = egw_format_int(out, v);
  out[n] = '\0';
  cr_assert_str_eq(out, want);
}

Test(format, int_matches_printf_at_the_edges) {
  assert_int_text(0, "0");
  assert_int_text(7, "7");
  assert_int_text(10, "10");
  assert_int_text(-1, "-1");
  assert_int_text(9443, "9443");
  assert_int_text(INT64_MAX, "9223372036854775807");
  assert_int_text(INT64_MIN, "-9223372036854775808");
}

Test(format, uint_reaches_uint64_max) {
  char out[EGW_INT_TEXT_MAX + 1];
  size_t n = egw_format_uint(out, UINT64_MAX);
  out[n] = '\0';
  cr_assert_str_eq(out, "18446744073709551615");
  n = egw_format_uint(out, 0);
  out[n] = '\0';
  cr_assert_str_eq(out, "0");
}

Test(format, int_agrees_with_printf_across_magnitudes) {
  char ours[EGW_INT_TEXT_MAX + 1], theirs[32];
  for (int64_t v = 1; v > 0 && v < INT64_MAX / 3; v = v * 3 + 1) {
    for (int sign = -1; sign <= 1; sign += 2) {
      size_t n = egw_format_int(ours, sign * v);
      ours[n] = '\0';
      snprintf(theirs, sizeof(theirs), "%lld", (long long)(sign * v));
      cr_assert_str_eq(ours, theirs);
    }
  }
}
