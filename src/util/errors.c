#include "util/errors.h"

#include <uv.h>

const char *egw_strerror(int code) {
  switch (code) {
  case 0:
    return "ok";
#define EGW_X_CASE(name, text)                                                                     \
  case EGW_ERR_##name:                                                                             \
    return text;
    EGW_ERRORS(EGW_X_CASE)
#undef EGW_X_CASE
  default:
    break;
  }
  if (code < 0 && code > EGW_ERR_BASE)
    return uv_strerror(code);
  return "unknown error";
}
