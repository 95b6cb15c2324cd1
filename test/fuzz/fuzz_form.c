/* libFuzzer: application/x-www-form-urlencoded bodies (src/http/form.c), what the
 * OAuth token, introspection and revocation endpoints read. Every decoded field must be
 * a NUL-terminated string without an embedded NUL (the parser refuses %00). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/form.h"
#include "util/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct egw_arena arena;
  egw_arena_init(&arena, 4096);
  static const struct egw_header ct = {"content-type", 12, "application/x-www-form-urlencoded", 33};
  struct egw_request req = {.method = EGW_METHOD_POST, .path = "/oauth2/token", .query = "",
                            .headers = &ct, .n_headers = 1, .body = size ? data : NULL,
                            .body_len = size, .arena = &arena};
  struct egw_form form = {0};
  if (egw_form_parse(&req, &form) == EGW_FORM_OK) {
    for (size_t i = 0; i < form.n_fields; i++) {
      if (!form.fields[i].name || !form.fields[i].value)
        abort();
      (void)strlen(form.fields[i].name);
      (void)strlen(form.fields[i].value);
    }
    (void)egw_form_get(&form, "grant_type");
    (void)egw_form_get(&form, "scope");
  }
  egw_arena_cleanup(&arena);
  return 0;
}
