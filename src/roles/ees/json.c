/* What every EES handler needs: JSON bodies in, JSON and ProblemDetails out (TS 29.122
 * ProblemDetails with invalidParams), RFC 3339 times, ids, RFC 7396 merge patch, paths
 * and queries. */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "roles/ees/internal.h"
#include "util/arena.h"
#include "util/encoding.h"

int egw__ees_invalid_set(struct egw__ees_invalid *inv, const char *param, const char *fmt, ...) {
  snprintf(inv->param, sizeof(inv->param), "%s", param);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(inv->reason, sizeof(inv->reason), fmt, ap);
  va_end(ap);
  return -1;
}

int egw__ees_set_problem(struct egw_response *resp, int status, const char *detail,
                         const char *cause, const struct egw__ees_invalid *inv) {
  json_t *o = json_pack("{s:s, s:i}", "title", egw_status_reason(status), "status", status);
  if (o && detail)
    json_object_set_new(o, "detail", json_string(detail));
  if (o && cause)
    json_object_set_new(o, "cause", json_string(cause));
  if (o && inv)
    json_object_set_new(o, "invalidParams",
                        json_pack("[{s:s, s:s}]", "param", inv->param, "reason", inv->reason));
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  resp->n_headers = 0;
  int rc = text
               ? egw_response_set_body(resp, status, "application/problem+json", text, strlen(text))
               : -1;
  free(text);
  return rc == 0 ? 0 : -1;
}

int egw__ees_set_json(struct egw_response *resp, int status, const json_t *doc) {
  if (doc == NULL) {
    resp->status = status;
    return 0;
  }
  char *text = json_dumps(doc, JSON_COMPACT);
  int rc = text ? egw_response_json(resp, status, text) : -1;
  free(text);
  return rc == 0 ? 0 : -1;
}

enum egw_handler_result egw__ees_problem(struct egw_exchange *x, int status, const char *detail,
                                         const char *cause) {
  return egw__ees_set_problem(egw_exchange_response(x), status, detail, cause, NULL) == 0
             ? EGW_DONE
             : EGW_FAILED;
}

enum egw_handler_result egw__ees_bad_request(struct egw_exchange *x,
                                             const struct egw__ees_invalid *inv) {
  char detail[300];
  snprintf(detail, sizeof(detail), "%s: %s", inv->param, inv->reason);
  return egw__ees_set_problem(egw_exchange_response(x), 400, detail, "INVALID_MSG_FORMAT", inv) == 0
             ? EGW_DONE
             : EGW_FAILED;
}

enum egw_handler_result egw__ees_json(struct egw_exchange *x, int status, const json_t *doc) {
  return egw__ees_set_json(egw_exchange_response(x), status, doc) == 0 ? EGW_DONE : EGW_FAILED;
}

enum egw_handler_result egw__ees_method_not_allowed(struct egw_exchange *x, const char *allow) {
  if (egw__ees_problem(x, 405, "method not allowed on this resource", NULL) != EGW_DONE)
    return EGW_FAILED;
  return egw_response_add_header(egw_exchange_response(x), "Allow", allow) == 0 ? EGW_DONE
                                                                                : EGW_FAILED;
}

/* media_type_is: the Content-Type's type/subtype (parameters ignored) is |want|. */
static int media_type_is(const char *value, size_t len, const char *want) {
  size_t n = 0;
  while (n < len && value[n] != ';' && value[n] != ' ' && value[n] != '\t')
    n++;
  return n == strlen(want) && strncasecmp(value, want, n) == 0;
}

json_t *egw__ees_read_json(struct egw_exchange *x, const char *media_type) {
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_response *resp = egw_exchange_response(x);
  size_t len = 0;
  const char *ct = egw_request_header(req, "content-type", &len);
  if (ct == NULL || !media_type_is(ct, len, media_type)) {
    char detail[128];
    snprintf(detail, sizeof(detail), "the body must be %s", media_type);
    egw__ees_set_problem(resp, 415, detail, NULL, NULL);
    return NULL;
  }
  if (req->body_len == 0) {
    egw__ees_set_problem(resp, 400, "the request body is empty", "INVALID_MSG_FORMAT", NULL);
    return NULL;
  }
  json_error_t jerr;
  json_t *doc = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL) {
    char detail[256];
    snprintf(detail, sizeof(detail), "the body is not valid JSON: %s (line %d, column %d)",
             jerr.text, jerr.line, jerr.column);
    egw__ees_set_problem(resp, 400, detail, "INVALID_MSG_FORMAT", NULL);
    return NULL;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    egw__ees_set_problem(resp, 400, "the body must be a JSON object", "INVALID_MSG_FORMAT", NULL);
    return NULL;
  }
  return doc;
}

/* ---- times ---------------------------------------------------------------------------- */

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int egw__ees_parse_time(const char *s, int64_t *out_s) {
  int y, mo, d, h, mi, sec;
  if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
      digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
      s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
    return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
    return -1;
  const char *p = s + 19;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return -1;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  int offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
      return -1;
    offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return -1;
  }
  if (*p != '\0')
    return -1;
  struct tm tm = {.tm_year = y - 1900,
                  .tm_mon = mo - 1,
                  .tm_mday = d,
                  .tm_hour = h,
                  .tm_min = mi,
                  .tm_sec = sec > 59 ? 59 : sec};
  *out_s = (int64_t)timegm(&tm) - offset;
  return 0;
}

char *egw__ees_format_time(int64_t s, char *out, size_t cap) {
  time_t t = (time_t)s;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

int egw__ees_new_id(char *out) {
  uint8_t raw[16];
  if (!RAND_bytes(raw, sizeof(raw)))
    return -1;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof(raw); i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[32] = '\0';
  return 0;
}

/* ---- RFC 7396 ------------------------------------------------------------------------- */

json_t *egw__ees_merge_patch(const json_t *target, const json_t *patch) {
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
    json_t *merged = egw__ees_merge_patch(json_object_get(out, key), value);
    if (merged == NULL || json_object_set_new(out, key, merged) != 0) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}

/* ---- paths, queries, URLs ------------------------------------------------------------- */

char *egw__ees_location(const struct egw_request *req, const char *base, const char *id) {
  size_t host_len = 0;
  const char *host = egw_request_header(req, "host", &host_len);
  if (host == NULL || host_len == 0 || memchr(host, '/', host_len) != NULL)
    return egw_arena_sprintf(req->arena, "%s/%s", base, id);
  return egw_arena_sprintf(req->arena, "https://%.*s%s/%s", (int)host_len, host, base, id);
}

char *egw__ees_path_id(const struct egw_request *req, const char *base) {
  size_t n = strlen(base);
  if (req->path_len <= n + 1 || strncmp(req->path, base, n) != 0 || req->path[n] != '/')
    return NULL;
  const char *id = req->path + n + 1;
  if (strchr(id, '/') != NULL)
    return NULL;
  return egw_arena_strdup(req->arena, id);
}

/* decode percent-decodes |n| bytes of |s| ('+' is a space) into the arena. */
static char *decode(struct egw_arena *a, const char *s, size_t n) {
  char *out = egw_arena_alloc(a, n + 1);
  if (out == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      if (i + 2 >= n)
        return NULL;
      int hi = egw_hex_digit(s[i + 1]);
      int lo = egw_hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) /* no NUL inside a value */
        return NULL;
      out[k++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[k++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  out[k] = '\0';
  return out;
}

char *egw__ees_query_get(const struct egw_request *req, const char *name, int *out_bad) {
  const char *q = req->query ? req->query : "";
  size_t name_len = strlen(name);
  while (*q) {
    size_t len = strcspn(q, "&");
    const char *eq = memchr(q, '=', len);
    size_t key_len = eq ? (size_t)(eq - q) : len;
    if (key_len == name_len && memcmp(q, name, name_len) == 0) {
      if (eq == NULL)
        return egw_arena_strdup(req->arena, "");
      char *v = decode(req->arena, eq + 1, len - key_len - 1);
      if (v == NULL)
        *out_bad = 1;
      return v;
    }
    q += len;
    if (*q == '&')
      q++;
  }
  return NULL;
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
