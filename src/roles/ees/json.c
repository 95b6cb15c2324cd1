/* What the EES's handlers add to roles/api.h: ProblemDetails from one invalid member,
 * reading a registration, DateTime values, and the URLs and forms of its outbound
 * calls. */
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

int egw__ees_check_registration(const struct egw__ees *e, const json_t *doc,
                                egw__ees_check_fn check, int64_t *out_exp_s,
                                struct egw__ees_invalid *inv) {
  if (check(doc, inv) != 0)
    return -1;
  return egw__ees_grant_exp(json_object_get(doc, "expTime"), egw__ees_now_s(),
                            e->policy->eec_registration_max_s, out_exp_s, inv);
}

json_t *egw__ees_read_registration(const struct egw__ees *e, struct egw_exchange *x,
                                   egw__ees_check_fn check, int64_t *out_exp_s,
                                   enum egw_handler_result *out_result) {
  json_t *body = egw__roles_read_json(x, "application/json", out_result);
  struct egw__ees_invalid inv;
  if (body && egw__ees_check_registration(e, body, check, out_exp_s, &inv) != 0) {
    json_decref(body);
    *out_result = egw__ees_bad_request(x, &inv);
    return NULL;
  }
  return body;
}

json_t *egw__ees_time(int64_t s) {
  char text[EGW_DATETIME_LEN + 1];
  egw__roles_datetime_format(s, text);
  return json_string(text);
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
