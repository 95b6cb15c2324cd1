#include "roles/api.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/arena.h"
#include "util/encoding.h"

/* ---- ProblemDetails ------------------------------------------------------------------ */

void egw__roles_param_error(struct egw_param_errors *errs, const char *param, const char *reason,
                            const char *cause) {
  if (errs->cause == NULL)
    errs->cause = cause;
  if (errs->n < EGW_PARAM_ERRORS_MAX)
    errs->items[errs->n++] = (struct egw_invalid_param){.param = param, .reason = reason};
}

const char *egw__roles_string_member(const json_t *obj, const char *name, const char *pointer,
                                     size_t max_len, const char *reason,
                                     struct egw_param_errors *errs) {
  const json_t *v = json_object_get(obj, name);
  if (v == NULL) {
    egw__roles_param_error(errs, pointer, "missing", "MANDATORY_IE_MISSING");
    return NULL;
  }
  if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max_len ||
      strlen(json_string_value(v)) != json_string_length(v)) {
    egw__roles_param_error(errs, pointer, reason, "MANDATORY_IE_INCORRECT");
    return NULL;
  }
  return json_string_value(v);
}

enum egw_handler_result egw__roles_problem(struct egw_exchange *x, int status, const char *detail,
                                           const char *cause,
                                           const struct egw_invalid_param *params,
                                           size_t n_params) {
  enum egw_handler_result result = EGW_FAILED;
  char *text = NULL;
  json_t *o = json_pack("{s:s, s:i}", "title", egw_status_reason(status), "status", status);
  if (o == NULL)
    goto end;
  if (detail && json_object_set_new(o, "detail", json_string(detail)) != 0)
    goto end;
  if (cause && json_object_set_new(o, "cause", json_string(cause)) != 0)
    goto end;
  if (n_params > 0) {
    json_t *list = json_array();
    if (json_object_set_new(o, "invalidParams", list) != 0)
      goto end;
    for (size_t i = 0; i < n_params; i++) {
      json_t *p = json_pack("{s:s, s:s?}", "param", params[i].param, "reason", params[i].reason);
      if (json_array_append_new(list, p) != 0)
        goto end;
    }
  }
  text = json_dumps(o, JSON_COMPACT);
  if (text && egw_response_set_body(egw_exchange_response(x), status, "application/problem+json",
                                    text, strlen(text)) == 0)
    result = EGW_DONE;
end:
  free(text);
  json_decref(o);
  return result;
}

enum egw_handler_result egw__roles_problem_params(struct egw_exchange *x, const char *detail,
                                                  const struct egw_param_errors *errs) {
  return egw__roles_problem(x, 400, detail, errs->cause ? errs->cause : "INVALID_MSG_FORMAT",
                            errs->items, errs->n);
}

enum egw_handler_result egw__roles_not_allowed(struct egw_exchange *x, const char *allow) {
  if (egw__roles_problem(x, 405, "method not allowed on this resource", NULL, NULL, 0) != EGW_DONE)
    return EGW_FAILED;
  return egw_response_add_header(egw_exchange_response(x), "Allow", allow) == 0 ? EGW_DONE
                                                                                : EGW_FAILED;
}

enum egw_handler_result egw__roles_identity_mismatch(struct egw_exchange *x, const char *detail) {
  return egw__roles_problem(x, 403, detail, "IDENTITY_MISMATCH", NULL, 0);
}

/* ---- bodies -------------------------------------------------------------------------- */

/* Whether Content-Type |ct| (|len| bytes) is |type|, parameters aside. */
static int media_type_is(const char *ct, size_t len, const char *type) {
  size_t tl = strlen(type);
  if (ct == NULL || len < tl || strncasecmp(ct, type, tl) != 0)
    return 0;
  return len == tl || ct[tl] == ';' || ct[tl] == ' ';
}

json_t *egw__roles_read_json(struct egw_exchange *x, const char *media_type,
                             enum egw_handler_result *out_result) {
  const struct egw_request *req = egw_exchange_request(x);
  size_t ct_len = 0;
  const char *ct = egw_request_header(req, "content-type", &ct_len);
  if (!media_type_is(ct, ct_len, media_type)) {
    const char *detail = strcmp(media_type, "application/json") == 0
                             ? "the body must be application/json"
                             : "the body must be application/merge-patch+json";
    *out_result = egw__roles_problem(x, 415, detail, NULL, NULL, 0);
    return NULL;
  }
  json_error_t jerr;
  json_t *doc = req->body_len ? json_loadb((const char *)req->body, req->body_len,
                                           JSON_REJECT_DUPLICATES, &jerr)
                              : NULL;
  if (doc == NULL || !json_is_object(doc)) {
    json_decref(doc);
    static const struct egw_invalid_param body = {.param = "/",
                                                  .reason = "the body is not a JSON object"};
    *out_result =
        egw__roles_problem(x, 400, "the body is not a JSON object", "INVALID_MSG_FORMAT", &body, 1);
    return NULL;
  }
  return doc;
}

json_t *egw__roles_read_doc(struct egw_exchange *x, const json_t *current, json_t **out_patch,
                            enum egw_handler_result *out_result) {
  if (out_patch)
    *out_patch = NULL;
  json_t *body = egw__roles_read_json(
      x, current ? "application/merge-patch+json" : "application/json", out_result);
  if (body == NULL || current == NULL)
    return body;
  json_t *doc = egw__roles_merge_patch(current, body);
  if (doc == NULL)
    *out_result = EGW_FAILED;
  if (doc && out_patch)
    *out_patch = body;
  else
    json_decref(body);
  return doc;
}

enum egw_handler_result egw__roles_answer_json(struct egw_exchange *x, int status,
                                               const json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT);
  if (text == NULL)
    return EGW_FAILED;
  int rc = egw_response_json(egw_exchange_response(x), status, text);
  free(text);
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

json_t *egw__roles_merge_patch(const json_t *target, const json_t *patch) {
  if (!json_is_object(patch))
    return json_deep_copy(patch);
  json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
  if (out == NULL)
    return NULL;
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)patch, key, value) {
    if (json_is_null(value)) {
      json_object_del(out, key);
      continue;
    }
    json_t *merged = egw__roles_merge_patch(json_object_get(out, key), value);
    if (json_object_set_new(out, key, merged) != 0) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}

/* ---- DateTime ------------------------------------------------------------------------ */

/* Reads exactly |n| decimal digits at *p. */
static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return -1;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

static int expect(const char **p, char c) {
  if (**p != c)
    return -1;
  (*p)++;
  return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

int egw__roles_datetime_parse(const char *s, int64_t *out_s) {
  int y, mo, d, h, mi, sec;
  const char *p = s;
  if (s == NULL || digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) || expect(&p, '-') ||
      digits(&p, 2, &d))
    return -1;
  if (*p != 'T' && *p != 't')
    return -1;
  p++;
  if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) || expect(&p, ':') ||
      digits(&p, 2, &sec))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
    return -1;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return -1;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  int64_t offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om) || oh > 23 || om > 59)
      return -1;
    offset = (int64_t)sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
  } else {
    return -1;
  }
  if (*p != '\0')
    return -1;
  *out_s = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 +
           (sec > 59 ? 59 : sec) - offset;
  return 0;
}

void egw__roles_datetime_format(int64_t t, char out[EGW_DATETIME_LEN + 1]) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (gmtime_r(&tt, &tm) == NULL ||
      strftime(out, EGW_DATETIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != EGW_DATETIME_LEN)
    memcpy(out, "1970-01-01T00:00:00Z", EGW_DATETIME_LEN + 1);
}

/* ---- ids, paths, queries ------------------------------------------------------------- */

void egw__roles_new_id(char out[EGW_RESOURCE_ID_LEN + 1]) {
  uint8_t raw[16];
  RAND_bytes(raw, sizeof(raw));
  out[egw_b64url_encode(out, raw, sizeof(raw))] = '\0';
}

const char *egw__roles_path_id(const char *path, const char *base) {
  size_t n = strlen(base);
  if (strncmp(path, base, n) != 0)
    return NULL;
  if (path[n] == '\0')
    return "";
  if (path[n] != '/' || path[n + 1] == '\0' || strchr(path + n + 1, '/') != NULL)
    return NULL;
  return path + n + 1;
}

/* Decodes |len| bytes of a query component ('+' is a space, %XX a byte) into arena
 * memory; NULL with *out_bad set on bad input. */
static char *query_decode(struct egw_arena *arena, const char *s, size_t len, int *out_bad) {
  char *out = egw_arena_alloc(arena, len + 1);
  size_t n = 0;
  for (size_t i = 0; out && i < len; i++) {
    char c = s[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      int hi = i + 2 < len ? egw_hex_digit(s[i + 1]) : -1;
      int lo = hi >= 0 ? egw_hex_digit(s[i + 2]) : -1;
      if (lo < 0) {
        *out_bad = 1;
        return NULL;
      }
      c = (char)(hi << 4 | lo);
      i += 2;
    }
    if (c == '\0') {
      *out_bad = 1;
      return NULL;
    }
    out[n++] = c;
  }
  if (out)
    out[n] = '\0';
  return out;
}

const char *egw__roles_query_get(const struct egw_request *req, const char *name, int *out_bad) {
  const char *p = req->query ? req->query : "";
  size_t name_len = strlen(name);
  while (*p) {
    size_t len = strcspn(p, "&");
    const char *eq = memchr(p, '=', len);
    size_t key_len = eq ? (size_t)(eq - p) : len;
    int bad = 0;
    char *key = query_decode(req->arena, p, key_len, &bad);
    if (key == NULL) {
      *out_bad |= bad;
      return NULL;
    }
    if (strlen(key) == name_len && memcmp(key, name, name_len) == 0) {
      const char *v = eq ? eq + 1 : p + len;
      char *value = query_decode(req->arena, v, (size_t)(p + len - v), &bad);
      *out_bad |= bad;
      return value;
    }
    p += len;
    if (*p == '&')
      p++;
  }
  return NULL;
}

char *egw__roles_scope_join(char *const *scopes, size_t n, const char *dflt) {
  if (n == 0)
    return strdup(dflt);
  size_t len = 1;
  for (size_t i = 0; i < n; i++)
    len += strlen(scopes[i]) + 1;
  char *out = malloc(len);
  size_t used = 0;
  for (size_t i = 0; out && i < n; i++) {
    size_t m = strlen(scopes[i]);
    if (i)
      out[used++] = ' ';
    memcpy(out + used, scopes[i], m);
    used += m;
  }
  if (out)
    out[used] = '\0';
  return out;
}

const char *egw__roles_location(const struct egw_request *req, const char *path) {
  size_t host_len = 0;
  const char *host = egw_request_header(req, "host", &host_len);
  if (host == NULL || host_len == 0 || memchr(host, '/', host_len) != NULL)
    return path;
  return egw_arena_sprintf(req->arena, "https://%.*s%s", (int)host_len, host, path);
}
