/* What the EEC prints for each step. A token never appears in full: JSON output replaces
 * every access_token value with "<redacted>", readable output shows its first characters
 * and its length. */
#include <stdlib.h>
#include <string.h>

#include "cli/eec_internal.h"

/* How much of a body readable mode shows. */
#define READABLE_BODY_CHARS 400

/* redact_in_place: jansson's parser bounds the nesting (2048 levels), so does this. */
static void redact_in_place(json_t *v) {
  const char *key;
  json_t *child;
  size_t i;
  if (json_is_object(v)) {
    json_object_foreach(v, key, child) {
      if (strcmp(key, "access_token") == 0)
        json_object_set_new(v, key, json_string("<redacted>"));
      else
        redact_in_place(child);
    }
  } else if (json_is_array(v)) {
    json_array_foreach(v, i, child) redact_in_place(child);
  }
}

json_t *egw__eec_redact(const json_t *body) {
  json_t *copy = body ? json_deep_copy(body) : NULL;
  if (copy)
    redact_in_place(copy);
  return copy;
}

void egw__eec_token_hint(const char *token, char *buf, size_t size) {
  if (token == NULL) {
    snprintf(buf, size, "(none)");
    return;
  }
  size_t n = strlen(token);
  /* The first characters of a JWT are its header ({"alg":...), nothing secret; a short
   * (opaque) token shows none. */
  snprintf(buf, size, "%.*s...(%zu chars)", n >= 40 ? 10 : 0, token, n);
}

static void print_json(FILE *out, const struct egw__eec_step_report *r) {
  json_t *body = egw__eec_redact(r->body);
  json_t *line = json_pack("{s:s, s:i, s:o}", "step", r->step, "status", r->status, "body",
                           body ? body : json_null());
  if (line && r->error)
    json_object_set_new(line, "error", json_string(r->error));
  if (line && r->location)
    json_object_set_new(line, "location", json_string(r->location));
  char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  if (text)
    fprintf(out, "%s\n", text);
  else
    fprintf(out, "{\"step\":\"%s\",\"status\":%d,\"body\":null,\"error\":\"out of memory\"}\n",
            r->step, r->status);
  free(text);
  json_decref(line);
}

static void print_readable(FILE *out, const struct egw__eec_step_report *r) {
  char status[16];
  snprintf(status, sizeof(status), "%d", r->status);
  fprintf(out, "%-17s %-4s %s %s", r->step, r->status ? status : "-", r->method, r->url);
  if (!r->ok)
    fprintf(out, "   FAILED (expected %d)", r->expected);
  fputc('\n', out);
  if (r->error)
    fprintf(out, "%23s%s\n", "", r->error);
  if (r->note)
    fprintf(out, "%23s%s\n", "", r->note);
  if (r->body == NULL)
    return;
  json_t *body = egw__eec_redact(r->body);
  char *text = json_is_string(body) ? strdup(json_string_value(body))
                                    : json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (text) {
    size_t n = strcspn(text, "\r\n");
    fprintf(out, "%23s%.*s%s\n", "", (int)(n < READABLE_BODY_CHARS ? n : READABLE_BODY_CHARS), text,
            strlen(text) > READABLE_BODY_CHARS || text[n] ? " ..." : "");
  }
  free(text);
  json_decref(body);
}

void egw__eec_print_step(FILE *out, int json, const struct egw__eec_step_report *r) {
  if (json)
    print_json(out, r);
  else
    print_readable(out, r);
  fflush(out);
}
