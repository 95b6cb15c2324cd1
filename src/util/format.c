#include "util/format.h"

#include <stdarg.h>
#include <stdio.h>

char *egw_format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *out = NULL;
  if (vasprintf(&out, fmt, ap) < 0)
    out = NULL;
  va_end(ap);
  return out;
}

size_t egw_format_uint(char *out, uint64_t value) {
  char digits[EGW_INT_TEXT_MAX];
  size_t n = 0, len = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0)
    out[len++] = digits[--n];
  return len;
}

size_t egw_format_int(char *out, int64_t value) {
  if (value >= 0)
    return egw_format_uint(out, (uint64_t)value);
  out[0] = '-';
  /* Negated as uint64_t so that INT64_MIN does not overflow. */
  return 1 + egw_format_uint(out + 1, 0 - (uint64_t)value);
}
