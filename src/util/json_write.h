/* A compact JSON object writer into a caller's fixed buffer, for the few hot paths where
 * building a jansson tree only to serialize it costs more than the work itself (claims
 * of every issued token). Strings must be valid UTF-8: they are written exactly, with
 * '"', '\\' and control characters escaped, so that a claim round-trips byte for byte.
 * Any failure (no room, invalid UTF-8) is sticky and reported by egw_jw_end. */
#ifndef EGW_UTIL_JSON_WRITE_H
#define EGW_UTIL_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

struct egw_json_writer {
  char *out;
  size_t cap, len;
  int members; /* written so far, for the commas */
  int failed;
};

/* egw_jw_begin starts an object "{" in |out| (capacity |cap|). */
void egw_jw_begin(struct egw_json_writer *w, char *out, size_t cap);
/* egw_jw_str adds "key":"value"; egw_jw_int adds "key":value; egw_jw_raw adds "key":
 * followed by |json|, which the caller vouches is one valid JSON value. Keys are written
 * escaped like values. */
void egw_jw_str(struct egw_json_writer *w, const char *key, const char *value);
void egw_jw_int(struct egw_json_writer *w, const char *key, int64_t value);
void egw_jw_raw(struct egw_json_writer *w, const char *key, const char *json);
/* egw_jw_end closes the object, NUL-terminates it and returns its length, or -1 when
 * anything failed (the buffer content is then unspecified). */
long egw_jw_end(struct egw_json_writer *w);

/* egw_json_escape writes |s| (|n| bytes) as the body of a JSON string into |out|
 * (capacity |cap|), returning the length written, or -1 when it does not fit or |s| is
 * not valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF included). */
long egw_json_escape(char *out, size_t cap, const char *s, size_t n);

#endif
