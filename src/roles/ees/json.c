/* What the EES's handlers add to roles/api.h: ProblemDetails from one invalid member,
 * DateTime values, and the URLs and forms of its outbound calls. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roles/ees/internal.h"

int egw__ees_invalid_set(struct egw__ees_invalid *inv, const char *cause, const char *param,
                         const char *fmt, ...) {
  inv->cause = cause;
  snprintf(inv->param, sizeof(inv->param), "%s", param);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(inv->reason, sizeof(inv->reason), fmt, ap);
  va_end(ap);
  return -1;
}

enum egw_handler_result egw__ees_bad_request(struct egw_exchange *x,
                                             const struct egw__ees_invalid *inv) {
  char detail[300];
  snprintf(detail, sizeof(detail), "%s %s", inv->param, inv->reason);
  const struct egw_invalid_param p = {.param = inv->param, .reason = inv->reason};
  return egw__roles_problem(x, 400, detail, inv->cause ? inv->cause : "INVALID_MSG_FORMAT", &p, 1);
}

enum egw_handler_result egw__ees_problem(struct egw_exchange *x, int status, const char *detail,
                                         const char *cause) {
  return egw__roles_problem(x, status, detail, cause, NULL, 0);
}

enum egw_handler_result egw__ees_method_not_allowed(struct egw_exchange *x, const char *allow) {
  if (egw__ees_problem(x, 405, "method not allowed on this resource", NULL) != EGW_DONE)
    return EGW_FAILED;
  return egw_response_add_header(egw_exchange_response(x), "Allow", allow) == 0 ? EGW_DONE
                                                                                : EGW_FAILED;
}

json_t *egw__ees_time(int64_t s) {
  char text[EGW_DATETIME_LEN + 1];
  egw__roles_datetime_format(s, text);
  return json_string(text);
}

char *egw__ees_urlencode(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = malloc(n * 3 + 1);
  if (out == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '.' || ch == '_' || ch == '~';
    if (plain) {
      out[k++] = (char)ch;
    } else {
      out[k++] = '%';
      out[k++] = hex[ch >> 4];
      out[k++] = hex[ch & 15];
    }
  }
  out[k] = '\0';
  return out;
}

char *egw__ees_url(const char *base, const char *path) {
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    n--;
  size_t m = strlen(path);
  char *out = malloc(n + m + 1);
  if (out == NULL)
    return NULL;
  memcpy(out, base, n);
  memcpy(out + n, path, m + 1);
  return out;
}

int egw__ees_token_sub_mismatch(const struct egw_request *req, const char *id) {
  return req->token_sub != NULL && strcmp(req->token_sub, id) != 0;
}
