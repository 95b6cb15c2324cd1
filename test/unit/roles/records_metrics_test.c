/* The edgegw_registrations gauge follows a table's records: inserted, expired, freed. */
#include <criterion/criterion.h>
#include <jansson.h>

#include "roles/records.h"
#include "util/metrics.h"

static const char *owner_of(const json_t *doc) {
  return json_string_value(json_object_get(doc, "owner"));
}

static double gauge(const char *kind) {
  return egw_metrics_value("edgegw_registrations", (const char *const[]){kind}, 1);
}

Test(records_metrics, gauge_follows_the_table) {
  egw_metrics_reset();
  struct egw_records r;
  char *err = NULL;
  cr_assert_eq(egw__records_init(&r, NULL, "test.kind", owner_of, &err), 0);
  cr_assert_not_null(egw__records_insert(&r, "a", json_pack("{s:s}", "owner", "o1"), 100));
  cr_assert_not_null(egw__records_insert(&r, "b", json_pack("{s:s}", "owner", "o2"), 0));
  cr_assert_null(egw__records_insert(&r, "c", json_pack("{s:i}", "no_owner", 1), 0));
  cr_assert_eq(gauge("test.kind"), 2);
  cr_assert_eq(egw__records_purge(&r, 200), 1); /* "a" expired */
  cr_assert_eq(gauge("test.kind"), 1);
  egw__records_cleanup(&r);
  cr_assert_eq(gauge("test.kind"), 0);
  egw_metrics_reset();
}
