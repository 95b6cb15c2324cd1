/* EasDiscoveryFilter (TS24558_Eees_EASDiscovery.yaml) against an EASProfile
 * (TS29558_Eees_EASRegistration.yaml). An EAS matches a filter when it matches one of its
 * acChars (if any are given) and one of its easChars (if any are given).
 *
 * ACCharacteristics {acProf}: when acProf.eass lists EASes, the EAS must be one of them
 * (easId); otherwise the EAS's acIds must hold acProf.acId.
 * EasCharacteristics: every member given must hold: easId = easId, easProvId = provId,
 * stdEasType = type, easType = flexEasType, svcPermLevel in permLvl, every svcFeats in
 * easFeats, easSyncInd true needs easSyncSupp true, every easSvcContinuity scenario in
 * svcContSupp. Not applied (accepted, ignored): appGrpId, easSched, svcArea,
 * easBundleInfo, and the AC profile's acType, acSchedule, expAcGeoServArea, KPIs.
 * A filter is validated with the rest of the request body (validate.c). */
#include <string.h>

#include "roles/ees/internal.h"

static int str_eq(const json_t *a, const json_t *b) {
  return json_is_string(a) && json_is_string(b) &&
         strcmp(json_string_value(a), json_string_value(b)) == 0;
}

/* contains: array |list| holds the string |s|. */
static int contains(const json_t *list, const json_t *s) {
  size_t i;
  const json_t *item;
  json_array_foreach(list, i, item) {
    if (str_eq(item, s))
      return 1;
  }
  return 0;
}

/* subset: every string of |want| is in |have| (absent |want|: true). */
static int subset(const json_t *want, const json_t *have) {
  if (want == NULL)
    return 1;
  size_t i;
  const json_t *item;
  json_array_foreach(want, i, item) {
    if (!json_is_array(have) || !contains(have, item))
      return 0;
  }
  return 1;
}

static int match_ac(const json_t *ac_char, const json_t *eas) {
  const json_t *prof = json_object_get(ac_char, "acProf");
  const json_t *eass = json_object_get(prof, "eass");
  const json_t *eas_id = json_object_get(eas, "easId");
  if (eass) {
    size_t i;
    const json_t *d;
    json_array_foreach(eass, i, d) {
      if (str_eq(json_object_get(d, "easId"), eas_id))
        return 1;
    }
    return 0;
  }
  const json_t *ac_ids = json_object_get(eas, "acIds");
  return json_is_array(ac_ids) && contains(ac_ids, json_object_get(prof, "acId"));
}

/* Member of the EasCharacteristics and the EASProfile member it must equal. */
static const struct {
  const char *filter;
  const char *profile;
} equal_members[] = {
    {"easId", "easId"},
    {"easProvId", "provId"},
    {"stdEasType", "type"},
    {"easType", "flexEasType"},
};

static int match_eas_char(const json_t *ec, const json_t *eas) {
  for (size_t i = 0; i < sizeof(equal_members) / sizeof(equal_members[0]); i++) {
    const json_t *want = json_object_get(ec, equal_members[i].filter);
    if (want && !str_eq(want, json_object_get(eas, equal_members[i].profile)))
      return 0;
  }
  const json_t *perm = json_object_get(ec, "svcPermLevel");
  const json_t *levels = json_object_get(eas, "permLvl");
  if (perm && !(json_is_array(levels) && contains(levels, perm)))
    return 0;
  if (!subset(json_object_get(ec, "svcFeats"), json_object_get(eas, "easFeats")))
    return 0;
  if (!subset(json_object_get(ec, "easSvcContinuity"), json_object_get(eas, "svcContSupp")))
    return 0;
  if (json_is_true(json_object_get(ec, "easSyncInd")) &&
      !json_is_true(json_object_get(eas, "easSyncSupp")))
    return 0;
  return 1;
}

/* any_match: |list| is absent, or one of its items satisfies |fn|. */
static int any_match(const json_t *list, const json_t *eas,
                     int (*fn)(const json_t *item, const json_t *eas)) {
  if (list == NULL)
    return 1;
  size_t i;
  const json_t *item;
  json_array_foreach(list, i, item) {
    if (fn(item, eas))
      return 1;
  }
  return 0;
}

int egw__ees_filter_match(const json_t *filter, const json_t *eas) {
  if (filter == NULL)
    return 1;
  return any_match(json_object_get(filter, "acChars"), eas, match_ac) &&
         any_match(json_object_get(filter, "easChars"), eas, match_eas_char);
}
