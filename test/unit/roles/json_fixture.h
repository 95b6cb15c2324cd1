/* JSON helpers shared by the roles unit tests (ECS and EES). */
#ifndef EGW_TEST_ROLES_JSON_FIXTURE_H
#define EGW_TEST_ROLES_JSON_FIXTURE_H

#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>

/* j parses |text| (any JSON value) and fails the test when it is not JSON. */
static inline json_t *j(const char *text) {
  json_error_t err;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
  cr_assert_not_null(v, "%s: %s", text, err.text);
  return v;
}

/* assert_json fails the test unless |got| equals the JSON text |want|. */
static inline void assert_json(const json_t *got, const char *want) {
  json_t *w = j(want);
  char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  cr_assert(json_equal(got, w), "got %s, want %s", g, want);
  free(g);
  json_decref(w);
}

#endif
