#include "util/json_write.h"

#include <string.h>

#include "util/format.h"

/* utf8_seq_len returns the length of the valid UTF-8 sequence at |s| (at most |n| bytes
 * available), or 0 when it is not one (RFC 3629 section 4). */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t min, cp;
  if (c < 0x80)
    return 1;
  if ((c & 0xe0) == 0xc0) {
    len = 2, min = 0x80, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, min = 0x800, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

long egw_json_escape(char *out, size_t cap, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    /* A run of printable ASCII that needs no escape goes in one copy: tokens, ids and
     * URLs are nearly all such bytes, and this writes every issued token twice. */
    size_t run = 0;
    while (i + run < n && u[i + run] >= 0x20 && u[i + run] < 0x80 && u[i + run] != '"' &&
           u[i + run] != '\\')
      run++;
    if (run > 0) {
      if (o + run > cap)
        return -1;
      memcpy(out + o, s + i, run);
      o += run;
      i += run;
      continue;
    }
    char tmp[6];
    const char *src = tmp;
    size_t k = 0;
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      tmp[k++] = '\\';
      tmp[k++] = (char)c;
      i++;
    } else if (c < 0x20) {
      memcpy(tmp, "\\u00", 4);
      tmp[4] = hex[c >> 4];
      tmp[5] = hex[c & 15];
      k = 6;
      i++;
    } else {
      k = utf8_seq_len(u + i, n - i);
      if (k == 0)
        return -1;
      src = s + i;
      i += k;
    }
    if (o + k > cap)
      return -1;
    memcpy(out + o, src, k);
    o += k;
  }
  return (long)o;
}

static void put(struct egw_json_writer *w, const char *s, size_t n) {
  if (w->failed || w->len + n > w->cap) {
    w->failed = 1;
    return;
  }
  memcpy(w->out + w->len, s, n);
  w->len += n;
}

static void put_string(struct egw_json_writer *w, const char *s) {
  put(w, "\"", 1);
  if (w->failed)
    return;
  long n = egw_json_escape(w->out + w->len, w->cap - w->len, s, strlen(s));
  if (n < 0) {
    w->failed = 1;
    return;
  }
  w->len += (size_t)n;
  put(w, "\"", 1);
}

static void put_key(struct egw_json_writer *w, const char *key) {
  if (w->members++ > 0)
    put(w, ",", 1);
  put_string(w, key);
  put(w, ":", 1);
}

void egw_jw_begin(struct egw_json_writer *w, char *out, size_t cap) {
  *w = (struct egw_json_writer){.out = out, .cap = cap};
  put(w, "{", 1);
}

void egw_jw_str(struct egw_json_writer *w, const char *key, const char *value) {
  put_key(w, key);
  put_string(w, value);
}

void egw_jw_int(struct egw_json_writer *w, const char *key, int64_t value) {
  char num[EGW_INT_TEXT_MAX];
  size_t n = egw_format_int(num, value);
  put_key(w, key);
  put(w, num, n);
}

void egw_jw_raw(struct egw_json_writer *w, const char *key, const char *json) {
  put_key(w, key);
  put(w, json, strlen(json));
}

long egw_jw_end(struct egw_json_writer *w) {
  put(w, "}", 1);
  put(w, "", 1); /* room for the NUL */
  if (w->failed)
    return -1;
  w->len--;
  w->out[w->len] = '\0';
  return (long)w->len;
}
