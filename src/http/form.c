#include "http/form.h"

#include <string.h>
#include <strings.h>

#include "util/arena.h"
#include "util/encoding.h"

#define MAX_FIELDS 64

/* Decodes |len| bytes of |s| ('+' is a space, %XX a byte) into arena memory; NULL with
 * *out_bad set on bad input (truncated escape, NUL). */
static char *decode(struct egw_arena *arena, const char *s, size_t len, int *out_bad) {
  char *out = egw_arena_alloc(arena, len + 1);
  if (out == NULL)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      if (i + 2 >= len) {
        *out_bad = 1;
        return NULL;
      }
      int h = egw_hex_digit(s[i + 1]), l = egw_hex_digit(s[i + 2]);
      if (h < 0 || l < 0) {
        *out_bad = 1;
        return NULL;
      }
      c = (char)(h << 4 | l);
      i += 2;
    }
    if (c == '\0') {
      *out_bad = 1;
      return NULL;
    }
    out[n++] = c;
  }
  out[n] = '\0';
  return out;
}

enum egw_form_result egw_form_parse(const struct egw_request *req, struct egw_form *out) {
  static const char type[] = "application/x-www-form-urlencoded";
  size_t ct_len = 0;
  const char *ct = egw_request_header(req, "content-type", &ct_len);
  size_t tl = sizeof(type) - 1;
  if (ct == NULL || ct_len < tl || strncasecmp(ct, type, tl) != 0 ||
      (ct_len > tl && ct[tl] != ';' && ct[tl] != ' '))
    return EGW_FORM_NOT_FORM;
  out->fields = egw_arena_alloc(req->arena, MAX_FIELDS * sizeof(*out->fields));
  out->n_fields = 0;
  if (out->fields == NULL)
    return EGW_FORM_NOMEM;
  /* An empty body is NULL: NULL + 0 is undefined behaviour, so no end is computed. */
  const char *p = (const char *)req->body, *end = p ? p + req->body_len : NULL;
  while (p && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    if (stop > p) {
      const char *eq = memchr(p, '=', (size_t)(stop - p));
      if (eq == NULL || out->n_fields == MAX_FIELDS)
        return EGW_FORM_MALFORMED;
      int bad = 0;
      char *name = decode(req->arena, p, (size_t)(eq - p), &bad);
      char *value = name ? decode(req->arena, eq + 1, (size_t)(stop - eq - 1), &bad) : NULL;
      if (value == NULL)
        return bad ? EGW_FORM_MALFORMED : EGW_FORM_NOMEM;
      if (egw_form_get(out, name) != NULL)
        return EGW_FORM_DUPLICATE;
      out->fields[out->n_fields++] = (struct egw_form_field){.name = name, .value = value};
    }
    p = amp ? amp + 1 : end;
  }
  return EGW_FORM_OK;
}

const char *egw_form_get(const struct egw_form *form, const char *name) {
  for (size_t i = 0; i < form->n_fields; i++) {
    if (strcmp(form->fields[i].name, name) == 0)
      return form->fields[i].value;
  }
  return NULL;
}
