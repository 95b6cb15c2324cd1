/* The EES's pure helpers (roles/ees/validate.c, map.c, reloc_client.c, json.c): expiry
 * grants, body checks with the member each error names (a JSON pointer) and its cause,
 * the token cache's map, EEC contexts, outbound URLs. Merge patch and DateTime are
 * roles/api.c's (ecs_api_test.c). */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_fixture.h"
#include "roles/ees/internal.h"
#include "util/encoding.h"

Test(ees_json, expiry_is_capped_and_must_be_in_the_future) {
  int64_t now = 1740832205, exp;
  struct egw__ees_invalid inv;
  cr_assert_eq(egw__ees_grant_exp(NULL, now, 3600, &exp, &inv), 0);
  cr_assert_eq(exp, now + 3600);
  json_t *soon = json_string("2025-03-01T12:40:05Z");
  cr_assert_eq(egw__ees_grant_exp(soon, now, 3600, &exp, &inv), 0);
  cr_assert_eq(exp, now + 600);
  json_t *late = json_string("2026-03-01T12:40:05Z");
  cr_assert_eq(egw__ees_grant_exp(late, now, 3600, &exp, &inv), 0);
  cr_assert_eq(exp, now + 3600);
  json_t *past = json_string("2025-03-01T12:30:05Z");
  cr_assert_eq(egw__ees_grant_exp(past, now, 3600, &exp, &inv), -1);
  cr_assert_str_eq(inv.param, "/expTime");
  cr_assert_str_eq(inv.reason, "is not in the future");
  json_t *junk = json_string("tomorrow");
  cr_assert_eq(egw__ees_grant_exp(junk, now, 3600, &exp, &inv), -1);
  cr_assert_str_eq(inv.reason, "must be an RFC 3339 date-time");
  json_t *null = json_null();
  cr_assert_eq(egw__ees_grant_exp(null, now, 60, &exp, &inv), 0);
  cr_assert_eq(exp, now + 60);
  json_decref(soon);
  json_decref(late);
  json_decref(past);
  json_decref(junk);
  json_decref(null);
}

static const char *last_cause;

static void check(int (*fn)(const json_t *, struct egw__ees_invalid *), const char *doc,
                  const char *param, const char *reason) {
  json_t *d = j(doc);
  struct egw__ees_invalid inv;
  int rc = fn(d, &inv);
  json_decref(d);
  if (param == NULL) {
    cr_assert_eq(rc, 0, "%s refused: %s %s", doc, inv.param, inv.reason);
    return;
  }
  cr_assert_eq(rc, -1, "%s accepted", doc);
  cr_assert_str_eq(inv.param, param);
  cr_assert_str_eq(inv.reason, reason);
  last_cause = inv.cause;
}

Test(ees_json, eec_registration_checks) {
  int (*f)(const json_t *, struct egw__ees_invalid *) = egw__ees_check_eec_registration;
  check(f, "{\"eecId\":\"spiffe://site1/eec/eec1\"}", NULL, NULL);
  check(f,
        "{\"eecId\":\"e\",\"ueId\":\"msisdn-1\",\"acProfs\":[{\"acId\":\"a\",\"eass\":"
        "[{\"easId\":\"x\"}]}],\"expTime\":\"2030-01-01T00:00:00Z\",\"ueMobilityReq\":true,"
        "\"endPt\":{\"fqdn\":\"ue.example\"},\"somethingNew\":1}",
        NULL, NULL);
  check(f, "{}", "/eecId", "is required");
  cr_assert_str_eq(last_cause, "MANDATORY_IE_MISSING");
  check(f, "{\"eecId\":\"\"}", "/eecId", "must be a non-empty string");
  cr_assert_str_eq(last_cause, "MANDATORY_IE_INCORRECT");
  check(f, "{\"eecId\":\"e\",\"acProfs\":{}}", "/acProfs", "must be an array of ACProfile");
  cr_assert_str_eq(last_cause, "OPTIONAL_IE_INCORRECT");
  check(f, "{\"eecId\":\"e\",\"acProfs\":[{\"acType\":\"t\"}]}", "/acProfs/0/acId", "is required");
  check(f, "{\"eecId\":\"e\",\"acProfs\":[{\"acId\":\"a\",\"eass\":[{}]}]}",
        "/acProfs/0/eass/0/easId", "is required");
  check(f, "{\"eecId\":\"e\",\"ueMobilityReq\":\"yes\"}", "/ueMobilityReq",
        "must be true or false");
  check(f, "{\"eecId\":\"e\",\"endPt\":{\"uri\":\"u\",\"fqdn\":\"f\"}}", "/endPt",
        "must have exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs");
}

Test(ees_json, patch_and_eas_registration_checks) {
  int (*p)(const json_t *, struct egw__ees_invalid *) = egw__ees_check_eec_registration_patch;
  check(p, "{\"acProfs\":[],\"expTime\":\"2030-01-01T00:00:00Z\",\"ueType\":\"NORMAL_UE\"}", NULL,
        NULL);
  check(p, "{\"eecId\":\"other\"}", "/eecId", "cannot be changed with PATCH");
  check(p, "{\"easSelReqInd\":1}", "/easSelReqInd", "must be true or false");
  check(p, "{\"acProfs\":null}", "/acProfs", "cannot be null (it is not removable)");

  int (*f)(const json_t *, struct egw__ees_invalid *) = egw__ees_check_eas_registration;
  check(f, "{\"easProf\":{\"easId\":\"eas1\",\"endPt\":{\"uri\":\"https://x\"}}}", NULL, NULL);
  check(f, "{}", "/easProf", "is required");
  check(f, "{\"easProf\":{\"endPt\":{\"uri\":\"https://x\"}}}", "/easProf/easId", "is required");
  check(f, "{\"easProf\":{\"easId\":\"e\"}}", "/easProf/endPt", "is required");
  check(f, "{\"easProf\":{\"easId\":\"e\",\"endPt\":{\"ipv4Addrs\":[]}}}",
        "/easProf/endPt/ipv4Addrs", "must be a non-empty array of strings");
  check(f,
        "{\"easProf\":{\"easId\":\"e\",\"endPt\":{\"uri\":\"u\"},\"type\":\"V2X\","
        "\"flexEasType\":\"x\"}}",
        "/easProf/flexEasType", "must not be sent together with type");

  int (*ep)(const json_t *, struct egw__ees_invalid *) = egw__ees_check_eas_registration_patch;
  check(ep, "{\"expTime\":null,\"easProf\":{\"acIds\":[\"a\"]}}", NULL, NULL);
  check(ep, "{\"suppFeat\":\"0\"}", "/suppFeat", "cannot be changed with PATCH");
}

Test(ees_json, discovery_and_context_checks) {
  int (*d)(const json_t *, struct egw__ees_invalid *) = egw__ees_check_discovery_req;
  check(d, "{\"requestorId\":{\"eecId\":\"e\"}}", NULL, NULL);
  check(d, "{}", "/requestorId", "is required");
  check(d, "{\"requestorId\":{}}", "/requestorId", "must have exactly one of eecId, easId, eesId");
  check(d, "{\"requestorId\":{\"eecId\":\"e\",\"eesId\":\"s\"}}", "/requestorId",
        "must have exactly one of eecId, easId, eesId");
  check(d, "{\"requestorId\":{\"eecId\":\"e\"},\"easDiscoveryFilter\":{\"easChars\":{}}}",
        "/easDiscoveryFilter/easChars", "must be a non-empty array");

  int (*p)(const json_t *, struct egw__ees_invalid *) = egw__ees_check_context_push;
  check(p, "{\"eesId\":\"s\",\"eecCntx\":{\"eecId\":\"e\",\"cntxId\":\"c\"}}", NULL, NULL);
  check(p, "{\"eecCntx\":{\"eecId\":\"e\",\"cntxId\":\"c\"}}", "/eesId", "is required");
  check(p, "{\"eesId\":\"s\",\"eecCntx\":{\"eecId\":\"e\"}}", "/eecCntx/cntxId", "is required");
  check(p, "{\"eesId\":\"s\",\"eecCntx\":{\"eecId\":\"e\",\"cntxId\":\"c\",\"acProfs\":[]}}",
        "/eecCntx/acProfs", "must be a non-empty array of ACProfile");
  check(p,
        "{\"eesId\":\"s\",\"eecCntx\":{\"eecId\":\"e\",\"cntxId\":\"c\","
        "\"eecSrvContSupp\":{}}}",
        "/eecCntx/eecSrvContSupp/srvContSupp", "is required (true or false)");
}

Test(ees_json, context_of_a_registration) {
  struct egw_record rec = {
      .id = "c0ffee",
      .doc = j("{\"eecId\":\"e1\",\"ueId\":\"u\",\"acProfs\":[{\"acId\":\"a\"}],"
               "\"ueMobilityReq\":true,\"eecSvcContSupp\":[\"EEC_INITIATED\"],"
               "\"expTime\":\"2030-01-01T00:00:00Z\"}"),
  };
  json_t *ctx = egw__ees_context_of(&rec);
  assert_json(ctx, "{\"eecId\":\"e1\",\"cntxId\":\"c0ffee\",\"ueId\":\"u\","
                   "\"acProfs\":[{\"acId\":\"a\"}],\"ueMobSuppInd\":true,"
                   "\"eecSrvContSupp\":{\"srvContSupp\":true,\"acrScenarios\":"
                   "[\"EEC_INITIATED\"]}}");
  struct egw__ees_invalid inv;
  cr_assert_eq(egw__ees_check_context(ctx, "", &inv), 0);
  json_decref(ctx);
  json_decref(rec.doc);
  /* Empty acProfs are left out (minItems 1). */
  rec.doc = j("{\"eecId\":\"e1\",\"acProfs\":[]}");
  ctx = egw__ees_context_of(&rec);
  assert_json(ctx, "{\"eecId\":\"e1\",\"cntxId\":\"c0ffee\"}");
  json_decref(ctx);
  json_decref(rec.doc);
}

Test(ees_json, map_put_get_remove_and_walk) {
  struct egw__ees_map m = {0};
  cr_assert_null(egw__ees_map_get(&m, "x"));
  static int values[200];
  char key[16];
  for (int i = 0; i < 200; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    cr_assert_eq(egw__ees_map_put(&m, key, &values[i]), 0);
  }
  cr_assert_eq(m.n, 200);
  cr_assert_eq(egw__ees_map_get(&m, "k137"), &values[137]);
  cr_assert_eq(egw__ees_map_put(&m, "k137", &values[0]), 0);
  cr_assert_eq(m.n, 200);
  cr_assert_eq(egw__ees_map_get(&m, "k137"), &values[0]);
  /* Removing the current entry while walking is allowed. */
  struct egw__ees_map_iter it;
  egw__ees_map_iter_init(&m, &it);
  const char *k;
  int seen = 0;
  while (egw__ees_map_next(&m, &it, &k) != NULL) {
    seen++;
    if (atoi(k + 1) % 2 == 0)
      cr_assert_not_null(egw__ees_map_remove(&m, k));
  }
  cr_assert_eq(seen, 200);
  cr_assert_eq(m.n, 100);
  cr_assert_null(egw__ees_map_get(&m, "k2"));
  cr_assert_eq(egw__ees_map_get(&m, "k3"), &values[3]);
  cr_assert_null(egw__ees_map_remove(&m, "k2"));
  egw__ees_map_clear(&m);
  cr_assert_eq(m.n, 0);
}

Test(ees_json, urlencode_and_url) {
  char *s = egw_pct_encode_str("spiffe://site1/eec/eec1 a+b");
  cr_assert_str_eq(s, "spiffe%3A%2F%2Fsite1%2Feec%2Feec1%20a%2Bb");
  free(s);
  s = egw__ees_url("https://127.0.0.1:8446/", "/oauth2/token");
  cr_assert_str_eq(s, "https://127.0.0.1:8446/oauth2/token");
  free(s);
}
