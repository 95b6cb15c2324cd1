/* util/encoding: percent-encoding for form bodies and queries. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "util/encoding.h"

Test(encoding, pct_encode_keeps_unreserved_and_escapes_the_rest) {
  const char in[] = "aZ09-._~ +/:=&%\xc3\xa9";
  char out[3 * sizeof(in)];
  size_t n = egw_pct_encode(out, in, strlen(in));
  cr_assert_eq(n, strlen("aZ09-._~%20%2B%2F%3A%3D%26%25%C3%A9"));
  cr_assert(memcmp(out, "aZ09-._~%20%2B%2F%3A%3D%26%25%C3%A9", n) == 0, "%.*s", (int)n, out);
}

Test(encoding, pct_encode_str_is_nul_terminated) {
  char *s = egw_pct_encode_str("spiffe://site1/eec/eec1");
  cr_assert_str_eq(s, "spiffe%3A%2F%2Fsite1%2Feec%2Feec1");
  free(s);
  s = egw_pct_encode_str("");
  cr_assert_str_eq(s, "");
  free(s);
}
