/* The ECS's EDGE logic without sockets: EESRegistration checks, which registered EES
 * serves a request (acProfs, location), the EDN configuration built from the table, and
 * the table's expiry (a memory-only records table: no store). */
#include <criterion/criterion.h>

#include <jansson.h>
#include <string.h>

#include "json_fixture.h"
#include "roles/ecs/edge.h"

static int has_param(const struct egw_param_errors *errs, const char *param) {
  for (size_t i = 0; i < errs->n; i++) {
    if (strcmp(errs->items[i].param, param) == 0)
      return 1;
  }
  return 0;
}

#define NOW 1738326896 /* 2025-01-31T12:34:56Z */

/* ---- EESRegistration ----------------------------------------------------------------- */

Test(ecs_edge, registration_defaults_and_cap) {
  json_t *doc = j("{\"eesProf\":{\"eesId\":\"ees1\",\"endPt\":{\"uri\":\"https://e:1\"}}}");
  struct egw_param_errors errs = {0};
  int64_t exp = 0;
  cr_assert_eq(egw__ecs_check_registration(doc, NOW, 600, &errs, &exp), 0);
  cr_expect_eq(exp, NOW + 600);
  cr_expect_str_eq(json_string_value(json_object_get(doc, "expTime")), "2025-01-31T12:44:56Z");
  cr_expect(json_is_false(json_object_get(json_object_get(doc, "eesProf"), "eecRegConf")));
  /* An expTime within the cap is kept; one beyond it is cut to the cap. */
  json_object_set_new(doc, "expTime", json_string("2025-01-31T12:35:56Z"));
  cr_assert_eq(egw__ecs_check_registration(doc, NOW, 600, &errs, &exp), 0);
  cr_expect_eq(exp, NOW + 60);
  json_object_set_new(doc, "expTime", json_string("2030-01-01T00:00:00Z"));
  cr_assert_eq(egw__ecs_check_registration(doc, NOW, 600, &errs, &exp), 0);
  cr_expect_eq(exp, NOW + 600);
  json_decref(doc);
}

Test(ecs_edge, registration_errors_name_the_member) {
  static const char *const cases[][2] = {
      {"{}", "/eesProf"},
      {"{\"eesProf\":[]}", "/eesProf"},
      {"{\"eesProf\":{\"endPt\":{\"uri\":\"u\"}}}", "/eesProf/eesId"},
      {"{\"eesProf\":{\"eesId\":\"\",\"endPt\":{\"uri\":\"u\"}}}", "/eesProf/eesId"},
      {"{\"eesProf\":{\"eesId\":\"e\"}}", "/eesProf/endPt"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{}}}", "/eesProf/endPt"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{\"uri\":\"u\",\"fqdn\":\"f\"}}}",
       "/eesProf/endPt"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{\"ipv4Addrs\":[]}}}", "/eesProf/endPt/ipv4Addrs"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{\"uri\":\"u\"},\"easIds\":[]}}",
       "/eesProf/easIds"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{\"uri\":\"u\"},\"easIds\":[1]}}",
       "/eesProf/easIds"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{\"uri\":\"u\"},\"eecRegConf\":1}}",
       "/eesProf/eecRegConf"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{\"uri\":\"u\"},\"ednInfoSets\":{}}}",
       "/eesProf/ednInfoSets"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{\"uri\":\"u\"}},\"expTime\":5}", "/expTime"},
      {"{\"eesProf\":{\"eesId\":\"e\",\"endPt\":{\"uri\":\"u\"}},"
       "\"expTime\":\"2025-01-31T12:34:56Z\"}",
       "/expTime"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *doc = j(cases[i][0]);
    struct egw_param_errors errs = {0};
    int64_t exp = 0;
    cr_expect_eq(egw__ecs_check_registration(doc, NOW, 600, &errs, &exp), -1, "%s", cases[i][0]);
    cr_expect(has_param(&errs, cases[i][1]), "%s: no error on %s", cases[i][0], cases[i][1]);
    cr_expect_not_null(errs.cause);
    json_decref(doc);
  }
}

/* ---- matching ------------------------------------------------------------------------ */

Test(ecs_edge, acprofs_rule) {
  json_t *prof = j("{\"eesId\":\"e\",\"easIds\":[\"app1\"],\"easInstInfo\":{\"app2\":{}},"
                   "\"easBdlInfos\":{\"app3\":[{}]}}");
  static const struct {
    const char *acs;
    int want;
  } cases[] = {
      {"[]", 1},
      {"[{\"acId\":\"app1\"}]", 1},
      {"[{\"acId\":\"app2\"}]", 1},
      {"[{\"acId\":\"app3\"}]", 1},
      {"[{\"acId\":\"other\"},{\"acId\":\"app1\"}]", 1},
      {"[{\"acId\":\"x\",\"eass\":[{\"easId\":\"app1\"}]}]", 1},
      {"[{\"acId\":\"x\"}]", 0},
      {"[{\"acId\":\"x\",\"eass\":[{\"easId\":\"y\"}]}]", 0},
  };
  cr_expect(egw__ecs_profile_serves_acs(prof, NULL));
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *acs = j(cases[i].acs);
    cr_expect_eq(egw__ecs_profile_serves_acs(prof, acs), cases[i].want, "%s", cases[i].acs);
    json_decref(acs);
  }
  json_decref(prof);
}

#define PLMN "{\"mcc\":\"001\",\"mnc\":\"01\"}"

Test(ecs_edge, location_rule) {
  json_t *anywhere = j("{\"eesId\":\"e\"}");
  json_t *by_tai = j("{\"eesId\":\"e\",\"svcArea\":{\"topServAr\":{\"tais\":[{\"plmnId\":" PLMN
                     ",\"tac\":\"00AB01\"}]}}}");
  json_t *by_plmn = j("{\"eesId\":\"e\",\"svcArea\":{\"topServAr\":{\"plmnIds\":[" PLMN "]}}}");
  json_t *in_tai =
      j("{\"userLocation\":{\"nrLocation\":{\"tai\":{\"plmnId\":" PLMN ",\"tac\":\"00ab01\"}}}}");
  json_t *other_tai =
      j("{\"userLocation\":{\"nrLocation\":{\"tai\":{\"plmnId\":" PLMN ",\"tac\":\"000002\"}}}}");
  json_t *other_plmn = j("{\"userLocation\":{\"eutraLocation\":{\"tai\":{\"plmnId\":"
                         "{\"mcc\":\"002\",\"mnc\":\"01\"},\"tac\":\"00AB01\"}}}}");
  json_t *cell_only = j("{\"userLocation\":{\"nrLocation\":{\"ncgi\":{\"plmnId\":" PLMN
                        ",\"nrCellId\":\"000000001\"}}}}");
  cr_expect(egw__ecs_profile_serves_location(anywhere, in_tai));
  cr_expect(egw__ecs_profile_serves_location(by_tai, NULL));
  cr_expect(egw__ecs_profile_serves_location(by_tai, in_tai));
  cr_expect_not(egw__ecs_profile_serves_location(by_tai, other_tai));
  cr_expect_not(egw__ecs_profile_serves_location(by_tai, other_plmn));
  /* The EES lists TAIs, the UE gave only its cell: the location cannot exclude it. */
  cr_expect(egw__ecs_profile_serves_location(by_tai, cell_only));
  cr_expect(egw__ecs_profile_serves_location(by_plmn, other_tai));
  cr_expect_not(egw__ecs_profile_serves_location(by_plmn, other_plmn));
  json_t *all[] = {anywhere, by_tai, by_plmn, in_tai, other_tai, other_plmn, cell_only};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    json_decref(all[i]);
}

/* ---- the table and the EDN configuration --------------------------------------------- */

static const char *owner(const json_t *doc) { return egw__ecs_reg_owner(doc); }

static struct egw_records table;

static void table_setup(void) {
  char *err = NULL;
  cr_assert_eq(egw__records_init(&table, NULL, EGW_ECS_EES_KIND, owner, &err), 0);
}

static void table_teardown(void) { egw__records_cleanup(&table); }

static void add(const char *id, const char *doc, int64_t exp_s) {
  cr_assert_not_null(egw__records_insert(&table, id, j(doc), exp_s));
}

static char *methods_ees1[] = {"TLS_WITH_AKMA", "TLS_CLIENT_SERVER_CERTIFICATE"};
static char *methods_any[] = {"SERVER_SIDE_CERTIFICATE_BASED"};
static struct egw_ees_auth_policy auth[] = {
    {.ees = "ees1", .methods = methods_ees1, .n_methods = 2},
    {.ees = "*", .methods = methods_any, .n_methods = 1},
};

Test(ecs_edge, edn_config_groups_by_dnn_and_skips_what_is_not_served, .init = table_setup,
     .fini = table_teardown) {
  add("r1",
      "{\"eesProf\":{\"eesId\":\"ees1\",\"endPt\":{\"uri\":\"https://ees1\"},\"easIds\":"
      "[\"app1\"],\"eecRegConf\":true,\"ednInfoSets\":{\"dnn\":\"dnn-a\",\"dnais\":[\"d1\"]},"
      "\"provId\":\"sp\",\"easInstInfo\":{\"app1\":{\"easId\":\"app1\",\"status\":"
      "\"INSTANTIATED\"}}}}",
      NOW + 60);
  add("r2",
      "{\"eesProf\":{\"eesId\":\"ees2\",\"endPt\":{\"fqdn\":\"ees2\"},\"easIds\":[\"app1\"]}}",
      NOW + 60);
  add("r3",
      "{\"eesProf\":{\"eesId\":\"ees3\",\"endPt\":{\"fqdn\":\"ees3\"},\"easIds\":[\"app9\"]}}",
      NOW + 60);
  add("r4", "{\"eesProf\":{\"eesId\":\"ees4\",\"endPt\":{\"fqdn\":\"ees4\"}}}", NOW); /* expired */
  struct egw_ecs_policy p = {.id = "ecs", .ees_auth = auth, .n_ees_auth = 2};
  json_t *acs = j("[{\"acId\":\"app1\"}]");
  struct egw_ecs_edn_filter f = {.ac_profs = acs};
  json_t *edn = egw__ecs_edn_config(&table, &p, &f, NOW, NULL, NULL);
  cr_assert_not_null(edn);
  assert_json(
      edn, "[{\"ednConInfo\":{\"dnn\":\"dnn-a\"},\"eess\":[{\"eesId\":\"ees1\",\"eecRegConf\":true,"
           "\"endPt\":{\"uri\":\"https://ees1\"},\"easIds\":[\"app1\"],\"ecspInfo\":\"sp\","
           "\"dnais\":[\"d1\"],\"easInstInfos\":[{\"easId\":\"app1\",\"status\":\"INSTANTIATED\"}],"
           "\"eesAuthMethods\":[\"TLS_WITH_AKMA\",\"TLS_CLIENT_SERVER_CERTIFICATE\"]}],"
           "\"lifeTime\":\"2025-01-31T13:34:56Z\"},"
           "{\"ednConInfo\":{\"dnn\":\"edge\"},\"eess\":[{\"eesId\":\"ees2\",\"eecRegConf\":false,"
           "\"endPt\":{\"fqdn\":\"ees2\"},\"easIds\":[\"app1\"],"
           "\"eesAuthMethods\":[\"SERVER_SIDE_CERTIFICATE_BASED\"]}],"
           "\"lifeTime\":\"2025-01-31T13:34:56Z\"}]");
  json_decref(edn);

  /* Target discovery: the S-EES is left out. */
  struct egw_ecs_edn_filter td = {.eas_id = "app1", .exclude_ees = "ees1"};
  edn = egw__ecs_edn_config(&table, &p, &td, NOW, NULL, NULL);
  cr_assert_eq(json_array_size(edn), 1);
  cr_expect_str_eq(
      json_string_value(json_object_get(
          json_array_get(json_object_get(json_array_get(edn, 0), "eess"), 0), "eesId")),
      "ees2");
  json_decref(edn);
  /* Nothing serves app7: an empty list (the handlers answer 204 / 404). */
  json_t *none = j("[{\"acId\":\"app7\"}]");
  struct egw_ecs_edn_filter nf = {.ac_profs = none};
  edn = egw__ecs_edn_config(&table, &p, &nf, NOW, NULL, NULL);
  cr_expect_eq(json_array_size(edn), 0);
  json_decref(edn);
  json_decref(none);
  json_decref(acs);
}

static int decorate(void *arg, json_t *info, const char *ees_id) {
  int *calls = arg;
  (*calls)++;
  return json_object_set_new(info, "eesAccessToken", json_string(ees_id));
}

static int refuse(void *arg, json_t *info, const char *ees_id) { return -1; }

Test(ecs_edge, newest_registration_of_an_ees_wins, .init = table_setup, .fini = table_teardown) {
  add("old", "{\"eesProf\":{\"eesId\":\"ees1\",\"endPt\":{\"fqdn\":\"old\"}}}", NOW + 60);
  add("new", "{\"eesProf\":{\"eesId\":\"ees1\",\"endPt\":{\"fqdn\":\"new\"}}}", NOW + 60);
  struct egw_ecs_policy p = {.id = "ecs"};
  struct egw_ecs_edn_filter f = {0};
  int calls = 0;
  json_t *edn = egw__ecs_edn_config(&table, &p, &f, NOW, decorate, &calls);
  cr_assert_eq(json_array_size(edn), 1);
  json_t *eess = json_object_get(json_array_get(edn, 0), "eess");
  cr_assert_eq(json_array_size(eess), 1);
  json_t *info = json_array_get(eess, 0);
  cr_expect_str_eq(json_string_value(json_object_get(json_object_get(info, "endPt"), "fqdn")),
                   "new");
  cr_expect_str_eq(json_string_value(json_object_get(info, "eesAccessToken")), "ees1");
  cr_expect_eq(calls, 1);
  cr_expect_str_eq(json_string_value(json_array_get(json_object_get(info, "eesAuthMethods"), 0)),
                   "TLS_CLIENT_SERVER_CERTIFICATE");
  json_decref(edn);
  cr_expect_null(egw__ecs_edn_config(&table, &p, &f, NOW, refuse, NULL));
}

static int changes[4];
static void count_change(void *arg, enum egw_record_change change, const struct egw_record *rec,
                         const json_t *before) {
  changes[change]++;
}

Test(ecs_edge, purge_drops_only_expired_records_without_writes, .init = table_setup,
     .fini = table_teardown) {
  add("a", "{\"eesProf\":{\"eesId\":\"ees1\"}}", NOW - 1);
  add("b", "{\"eesProf\":{\"eesId\":\"ees2\"}}", NOW + 10);
  add("c", "{\"eesProf\":{\"eesId\":\"ees3\"}}", 0);
  add("d", "{\"eesProf\":{\"eesId\":\"ees4\"}}", NOW);
  table.head->next->next->next->pending = 1; /* "d" has a write in flight */
  cr_assert_eq(egw__records_observe(&table, count_change, NULL), 0);
  cr_expect_null(egw__records_find(&table, "a", NOW));
  cr_expect_null(egw__records_find(&table, "d", NOW));
  cr_expect_not_null(egw__records_find(&table, "b", NOW));
  cr_expect_not_null(egw__records_find(&table, "c", NOW));
  memset(changes, 0, sizeof(changes));
  cr_expect_eq(egw__records_purge(&table, NOW), 1);
  cr_expect_eq(changes[EGW_RECORD_EXPIRED], 1);
  cr_expect_str_eq(table.head->id, "b");
  table.head->next->next->pending = 0;
  cr_expect_eq(egw__records_purge(&table, NOW + 10), 2);
  cr_expect_str_eq(table.head->id, "c");
  cr_expect_null(table.head->next);
  /* A document that names no owner is refused. */
  cr_expect_null(egw__records_insert(&table, "e", j("{\"eesProf\":{}}"), 0));
}

Test(ecs_edge, policy_defaults) {
  struct egw_ecs_policy p = {.id = "ecs"};
  cr_expect_eq(egw__ecs_lifetime_s(&p), 3600);
  cr_expect_eq(egw__ecs_registration_max_s(&p), 86400);
  char *scope = egw__ecs_eec_scope(&p);
  cr_expect_str_eq(scope, "eees-eecregistration eees-easdiscovery");
  free(scope);
  char *scopes[] = {"a", "b", "c"};
  p.eec_scopes = scopes;
  p.n_eec_scopes = 3;
  p.provisioning_lifetime_s = 60;
  scope = egw__ecs_eec_scope(&p);
  cr_expect_str_eq(scope, "a b c");
  free(scope);
  cr_expect_eq(egw__ecs_lifetime_s(&p), 60);
}
