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
