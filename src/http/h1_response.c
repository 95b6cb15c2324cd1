/* HTTP/1.1 response serialization: status line, framing headers, the role's headers and
 * the body, into one buffer so that the connection sends (and encrypts) it at once. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"
#include "util/errors.h"
#include "util/format.h"

const char *egw__http_date(struct egw__date_cache *c, time_t now) {
  if (c->text[0] != '\0' && c->sec == now)
    return c->text;
  /* By hand rather than strftime: %a and %b follow the locale. */
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm tm;
  if (gmtime_r(&now, &tm) == NULL)
    memset(&tm, 0, sizeof(tm));
  snprintf(c->text, sizeof(c->text), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
           tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  c->sec = now;
  return c->text;
}

static int framing_header(const struct egw_header *h) {
  static const char *const owned[] = {"content-length", "transfer-encoding", "connection", "date",
                                      "server"};
  for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
    if (h->name_len == strlen(owned[i]) && strncasecmp(h->name, owned[i], h->name_len) == 0)
      return 1;
  }
  return 0;
}

static int unsafe(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
      return 1;
  }
  return 0;
}

static int put(struct egw_buf *out, const char *s, size_t n) { return egw_buf_append(out, s, n); }

static int puts_(struct egw_buf *out, const char *s) { return put(out, s, strlen(s)); }

int egw__h1_bodiless(int status) { return status < 200 || status == 204 || status == 304; }

int egw__h1_serialize(struct egw_buf *out, const struct egw_response *resp,
                      const struct egw__h1_framing *f) {
  int status = resp->status;
  /* Pieces rather than snprintf: this runs for every response. */
  char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                  (char)('0' + status % 10), ' '};
  if (put(out, "HTTP/1.1 ", 9) || put(out, code, 4) || puts_(out, egw_status_reason(status)) ||
      put(out, "\r\nDate: ", 8) || puts_(out, f->date) ||
      put(out, "\r\nServer: edgegw\r\n", 18))
    return EGW_ERR_NOMEM;
  for (size_t i = 0; i < resp->n_headers; i++) {
    const struct egw_header *h = &resp->headers[i];
    if (h->name_len == 0 || framing_header(h) || unsafe(h->name, h->name_len) ||
        unsafe(h->value, h->value_len))
      continue;
    if (put(out, h->name, h->name_len) || put(out, ": ", 2) || put(out, h->value, h->value_len) ||
        put(out, "\r\n", 2))
      return EGW_ERR_NOMEM;
  }
  int bodiless = egw__h1_bodiless(status);
  int length_known =
      resp->length == EGW_RESPONSE_LENGTH_GIVEN || resp->length == EGW_RESPONSE_LENGTH_BODY;
  if (!bodiless && f->chunked) {
    if (puts_(out, "Transfer-Encoding: chunked\r\n") != 0)
      return EGW_ERR_NOMEM;
  } else if (!bodiless && length_known) {
    char num[EGW_INT_TEXT_MAX];
    uint64_t length = resp->length == EGW_RESPONSE_LENGTH_GIVEN ? (uint64_t)resp->content_length
                                                                : (uint64_t)resp->body_len;
    size_t n = egw_format_uint(num, length);
    if (put(out, "Content-Length: ", 16) || put(out, num, n) || put(out, "\r\n", 2))
      return EGW_ERR_NOMEM;
  }
  if (f->close && puts_(out, "Connection: close\r\n") != 0)
    return EGW_ERR_NOMEM;
  if (!f->close && f->keep_alive_10 && puts_(out, "Connection: keep-alive\r\n") != 0)
    return EGW_ERR_NOMEM;
  if (put(out, "\r\n", 2) != 0)
    return EGW_ERR_NOMEM;
  if (!bodiless && !f->head && !f->stream && resp->body_len > 0 &&
      egw_buf_append(out, resp->body, resp->body_len) != 0)
    return EGW_ERR_NOMEM;
  return 0;
}
