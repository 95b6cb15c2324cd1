/* EasDiscoveryFilter against EASProfiles (roles/ees/filter.c): what an EEC discovering
 * EASes gets back depends on exactly these rules. */
#include <criterion/criterion.h>

#include <jansson.h>

#include "json_fixture.h"
#include "roles/ees/internal.h"

static int match(const char *filter, const char *profile) {
  json_t *f = filter ? j(filter) : NULL;
  json_t *p = j(profile);
  struct egw__ees_invalid inv;
  cr_assert_eq(egw__ees_filter_check(f, &inv), 0, "%s: %s", inv.param, inv.reason);
  int m = egw__ees_filter_match(f, p);
  json_decref(f);
  json_decref(p);
  return m;
}

static const char *demo = "{\"easId\":\"eas1.site1.example\",\"endPt\":{\"uri\":\"https://e\"},"
                          "\"acIds\":[\"ac-video\"],\"provId\":\"demo-provider\","
                          "\"flexEasType\":\"demo\",\"permLvl\":[\"GOLD\"],"
                          "\"easFeats\":[\"f1\",\"f2\"],\"svcContSupp\":[\"EEC_INITIATED\"]}";

Test(ees_filter, no_filter_matches_everything) {
  cr_assert(match(NULL, demo));
  cr_assert(match("{}", demo));
}

Test(ees_filter, ac_chars_by_ac_id_or_listed_eass) {
  cr_assert(match("{\"acChars\":[{\"acProf\":{\"acId\":\"ac-video\"}}]}", demo));
  cr_assert_not(match("{\"acChars\":[{\"acProf\":{\"acId\":\"ac-game\"}}]}", demo));
  /* One of several ACs is enough. */
  cr_assert(match("{\"acChars\":[{\"acProf\":{\"acId\":\"ac-game\"}},"
                  "{\"acProf\":{\"acId\":\"ac-video\"}}]}",
                  demo));
  /* An AC profile listing EASes wants those, whatever acIds say. */
  cr_assert(match("{\"acChars\":[{\"acProf\":{\"acId\":\"ac-game\",\"eass\":"
                  "[{\"easId\":\"eas1.site1.example\"}]}}]}",
                  demo));
  cr_assert_not(match("{\"acChars\":[{\"acProf\":{\"acId\":\"ac-video\",\"eass\":"
                      "[{\"easId\":\"eas2.site1.example\"}]}}]}",
                      demo));
  /* An EAS that names no AC serves no AC asked for by id. */
  cr_assert_not(match("{\"acChars\":[{\"acProf\":{\"acId\":\"ac-video\"}}]}",
                      "{\"easId\":\"x\",\"endPt\":{\"uri\":\"https://x\"}}"));
}

Test(ees_filter, eas_chars_every_given_member_must_hold) {
  cr_assert(match("{\"easChars\":[{\"easId\":\"eas1.site1.example\"}]}", demo));
  cr_assert_not(match("{\"easChars\":[{\"easId\":\"eas9\"}]}", demo));
  cr_assert(match("{\"easChars\":[{\"easProvId\":\"demo-provider\",\"easType\":\"demo\"}]}", demo));
  cr_assert_not(
      match("{\"easChars\":[{\"easProvId\":\"demo-provider\",\"easType\":\"v2x\"}]}", demo));
  cr_assert_not(match("{\"easChars\":[{\"stdEasType\":\"V2X\"}]}", demo));
  cr_assert(match("{\"easChars\":[{\"stdEasType\":\"V2X\"}]}",
                  "{\"easId\":\"v\",\"endPt\":{\"uri\":\"https://v\"},\"type\":\"V2X\"}"));
  cr_assert(match("{\"easChars\":[{\"svcPermLevel\":\"GOLD\",\"svcFeats\":[\"f2\"]}]}", demo));
  cr_assert_not(match("{\"easChars\":[{\"svcPermLevel\":\"TRIAL\"}]}", demo));
  cr_assert_not(match("{\"easChars\":[{\"svcFeats\":[\"f1\",\"f3\"]}]}", demo));
  cr_assert(match("{\"easChars\":[{\"easSvcContinuity\":[\"EEC_INITIATED\"]}]}", demo));
  cr_assert_not(match("{\"easChars\":[{\"easSvcContinuity\":[\"SOURCE_EAS_DECIDED\"]}]}", demo));
  cr_assert_not(match("{\"easChars\":[{\"easSyncInd\":true}]}", demo));
  cr_assert(match("{\"easChars\":[{\"easSyncInd\":false}]}", demo));
  /* Members the EES does not apply are accepted and ignored. */
  cr_assert(match("{\"easChars\":[{\"appGrpId\":\"g\",\"svcArea\":{}}]}", demo));
}

Test(ees_filter, ac_and_eas_chars_both_apply) {
  cr_assert(match("{\"acChars\":[{\"acProf\":{\"acId\":\"ac-video\"}}],"
                  "\"easChars\":[{\"easType\":\"demo\"}]}",
                  demo));
  cr_assert_not(match("{\"acChars\":[{\"acProf\":{\"acId\":\"ac-video\"}}],"
                      "\"easChars\":[{\"easType\":\"other\"}]}",
                      demo));
}

static void refused(const char *filter, const char *param, const char *reason) {
  json_t *f = j(filter);
  struct egw__ees_invalid inv;
  cr_assert_eq(egw__ees_filter_check(f, &inv), -1, "%s accepted", filter);
  cr_assert_str_eq(inv.param, param);
  cr_assert_str_eq(inv.reason, reason);
  json_decref(f);
}

Test(ees_filter, malformed_filters_name_the_member) {
  refused("[]", "/easDiscoveryFilter", "must be an EasDiscoveryFilter object");
  refused("{\"acChars\":[]}", "/easDiscoveryFilter/acChars", "must be a non-empty array");
  refused("{\"acChars\":[{}]}", "/easDiscoveryFilter/acChars/0/acProf", "is required");
  refused("{\"acChars\":[{\"acProf\":{}}]}", "/easDiscoveryFilter/acChars/0/acProf/acId",
          "is required");
  refused("{\"easChars\":[{\"easId\":1}]}", "/easDiscoveryFilter/easChars/0/easId",
          "must be a string");
  refused("{\"easChars\":[{\"svcFeats\":[]}]}", "/easDiscoveryFilter/easChars/0/svcFeats",
          "must be a non-empty array of strings");
  refused("{\"easChars\":[{\"stdEasType\":\"V2X\",\"easType\":\"x\"}]}",
          "/easDiscoveryFilter/easChars/0", "stdEasType and easType must not be sent together");
}
