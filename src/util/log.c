#include "util/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "util/format.h"

static FILE *log_stream;
static enum egw_log_level min_level = EGW_LOG_INFO;
static int held;

static const char *const level_names[] = {
    [EGW_LOG_DEBUG] = "debug",
    [EGW_LOG_INFO] = "info",
    [EGW_LOG_WARN] = "warn",
    [EGW_LOG_ERROR] = "error",
};

void egw_log_set_stream(FILE *stream) { log_stream = stream; }

void egw_log_flush(void) { fflush(log_stream ? log_stream : stdout); }

void egw_log_hold(int on) {
  held = on;
  if (!on)
    egw_log_flush();
}

void egw_log_set_min_level(enum egw_log_level level) { min_level = level; }

/* Appends raw bytes; refuses (and marks truncated) rather than cut a field in half.
 * Room for the closing fields is kept in reserve by the callers' budget below. */
static int append(struct egw_log_record *rec, const char *s, size_t n) {
  /* 96 bytes stay free for ,"level":..,"ts":..} */
  if (rec->len + n + 96 > sizeof(rec->buf)) {
    rec->truncated = 1;
    return 0;
  }
  memcpy(rec->buf + rec->len, s, n);
  rec->len += n;
  return 1;
}

/* Writes |s| as a JSON string body into |out| (capacity |cap|); returns the length or
 * -1 if it does not fit. Control bytes and non-UTF-8 bytes are escaped as \u00XX so that
 * a hostile identity cannot break the line. */
static long escape_json(char *out, size_t cap, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char tmp[6];
    size_t k = 0;
    if (c == '"' || c == '\\') {
      tmp[k++] = '\\';
      tmp[k++] = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      tmp[k++] = '\\';
      tmp[k++] = 'u';
      tmp[k++] = '0';
      tmp[k++] = '0';
      tmp[k++] = hex[c >> 4];
      tmp[k++] = hex[c & 15];
    } else {
      tmp[k++] = (char)c;
    }
    if (o + k > cap)
      return -1;
    memcpy(out + o, tmp, k);
    o += k;
  }
  return (long)o;
}

static void append_key(struct egw_log_record *rec, const char *key, char *scratch, size_t cap,
                       size_t *out_len) {
  size_t n = 0;
  scratch[n++] = ',';
  scratch[n++] = '"';
  long k = escape_json(scratch + n, cap - n - 3, key, strlen(key));
  if (k < 0) {
    *out_len = 0;
    return;
  }
  n += (size_t)k;
  scratch[n++] = '"';
  scratch[n++] = ':';
  *out_len = n;
}

void egw_log_begin(struct egw_log_record *rec, enum egw_log_level level, const char *event) {
  rec->len = 0;
  rec->level = level;
  rec->truncated = 0;
  append(rec, "{\"event\":", 9);
  char esc[256];
  long n = escape_json(esc + 1, sizeof(esc) - 2, event, strlen(event));
  if (n < 0)
    n = 0;
  esc[0] = '"';
  esc[n + 1] = '"';
  append(rec, esc, (size_t)n + 2);
}

void egw_log_strn(struct egw_log_record *rec, const char *key, const char *value, size_t len) {
  char field[1536];
  size_t n;
  append_key(rec, key, field, sizeof(field), &n);
  if (n == 0) {
    rec->truncated = 1;
    return;
  }
  if (value == NULL) {
    memcpy(field + n, "null", 4);
    append(rec, field, n + 4);
    return;
  }
  field[n++] = '"';
  long k = escape_json(field + n, sizeof(field) - n - 1, value, len);
  if (k < 0) {
    rec->truncated = 1;
    return;
  }
  n += (size_t)k;
  field[n++] = '"';
  append(rec, field, n);
}

void egw_log_str(struct egw_log_record *rec, const char *key, const char *value) {
  egw_log_strn(rec, key, value, value ? strlen(value) : 0);
}

void egw_log_int(struct egw_log_record *rec, const char *key, int64_t value) {
  char field[160];
  size_t n;
  append_key(rec, key, field, sizeof(field) - 24, &n);
  if (n == 0) {
    rec->truncated = 1;
    return;
  }
  n += egw_format_int(field + n, value);
  append(rec, field, n);
}

void egw_log_bool(struct egw_log_record *rec, const char *key, int value) {
  char field[160];
  size_t n;
  append_key(rec, key, field, sizeof(field) - 8, &n);
  if (n == 0) {
    rec->truncated = 1;
    return;
  }
  const char *v = value ? "true" : "false";
  memcpy(field + n, v, strlen(v));
  append(rec, field, n + strlen(v));
}

void egw_log_time(char out[EGW_LOG_TIME_LEN]) {
  static _Thread_local time_t cached_sec = -1;
  static _Thread_local char cached[20]; /* "YYYY-MM-DDTHH:MM:SS" and its NUL */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != cached_sec) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
    cached_sec = ts.tv_sec;
  }
  long ms = ts.tv_nsec / 1000000;
  memcpy(out, cached, 19);
  out[19] = '.';
  out[20] = (char)('0' + ms / 100);
  out[21] = (char)('0' + ms / 10 % 10);
  out[22] = (char)('0' + ms % 10);
  out[23] = 'Z';
}

static char *put(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

void egw_log_end(struct egw_log_record *rec) {
  if (rec->level < min_level)
    return;
  char *p = rec->buf + rec->len;
  p = put(p, rec->truncated ? ",\"truncated\":true" : "");
  p = put(p, ",\"level\":\"");
  p = put(p, level_names[rec->level]);
  p = put(p, "\",\"ts\":\"");
  egw_log_time(p);
  p = put(p + EGW_LOG_TIME_LEN, "\"}\n");
  FILE *out = log_stream ? log_stream : stdout;
  fwrite(rec->buf, 1, (size_t)(p - rec->buf), out);
  if (!held)
    fflush(out);
}

void egw_log_msg(enum egw_log_level level, const char *event, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  struct egw_log_record rec;
  egw_log_begin(&rec, level, event);
  egw_log_str(&rec, "msg", msg);
  egw_log_end(&rec);
}
