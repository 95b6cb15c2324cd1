/* The members of the EES's request bodies that the schemas require or type
 * (TS24558_Eees_EECRegistration.yaml, TS29558_Eees_EASRegistration.yaml,
 * TS24558_Eees_EASDiscovery.yaml, TS29558_Eees_EECContextRelocation.yaml). What the
 * EES reads is checked strictly; members it only stores are checked for their type.
 * Unknown members are kept: the schemas allow them. Errors name the member as a JSON
 * pointer (TS 29.122 InvalidParam) with the cause of TS 29.500: MANDATORY_IE_MISSING,
 * MANDATORY_IE_INCORRECT or OPTIONAL_IE_INCORRECT. */
#include <stdio.h>
#include <string.h>

#include "roles/ees/internal.h"

#define MISSING "MANDATORY_IE_MISSING"
#define MANDATORY "MANDATORY_IE_INCORRECT"
#define OPTIONAL "OPTIONAL_IE_INCORRECT"

/* at writes |prefix| "/" |name| into |buf|: the pointer of a member. */
static const char *at(char *buf, size_t cap, const char *prefix, const char *name) {
  snprintf(buf, cap, "%s/%s", prefix, name);
  return buf;
}

static int opt_string(const json_t *o, const char *prefix, const char *key,
                      struct egw__ees_invalid *inv) {
  char p[96];
  const json_t *v = json_object_get(o, key);
  if (v && !json_is_string(v))
    return egw__ees_invalid_set(inv, OPTIONAL, at(p, sizeof(p), prefix, key), "must be a string");
  return 0;
}

static int req_string(const json_t *o, const char *prefix, const char *key,
                      struct egw__ees_invalid *inv) {
  char p[96];
  const json_t *v = json_object_get(o, key);
  if (v == NULL)
    return egw__ees_invalid_set(inv, MISSING, at(p, sizeof(p), prefix, key), "is required");
  if (!json_is_string(v) || json_string_length(v) == 0)
    return egw__ees_invalid_set(inv, MANDATORY, at(p, sizeof(p), prefix, key),
                                "must be a non-empty string");
  return 0;
}

static int opt_bool(const json_t *o, const char *prefix, const char *key,
                    struct egw__ees_invalid *inv) {
  char p[96];
  const json_t *v = json_object_get(o, key);
  if (v && !json_is_boolean(v))
    return egw__ees_invalid_set(inv, OPTIONAL, at(p, sizeof(p), prefix, key),
                                "must be true or false");
  return 0;
}

/* An array (of at least |min| items) of strings. */
static int opt_strings(const json_t *o, const char *prefix, const char *key, size_t min,
                       struct egw__ees_invalid *inv) {
  char p[96];
  const json_t *v = json_object_get(o, key);
  if (v == NULL)
    return 0;
  at(p, sizeof(p), prefix, key);
  if (!json_is_array(v) || json_array_size(v) < min)
    return egw__ees_invalid_set(inv, OPTIONAL, p,
                                min ? "must be a non-empty array of strings"
                                    : "must be an array of strings");
  size_t i;
  const json_t *item;
  json_array_foreach(v, i, item) {
    if (!json_is_string(item))
      return egw__ees_invalid_set(inv, OPTIONAL, p, "item %zu is not a string", i);
  }
  return 0;
}

static int opt_object(const json_t *o, const char *prefix, const char *key,
                      struct egw__ees_invalid *inv) {
  char p[96];
  const json_t *v = json_object_get(o, key);
  if (v && !json_is_object(v))
    return egw__ees_invalid_set(inv, OPTIONAL, at(p, sizeof(p), prefix, key), "must be an object");
  return 0;
}

/* EndPoint at |path|: exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs (oneOf). */
static int check_endpoint(const json_t *ep, const char *path, const char *cause,
                          struct egw__ees_invalid *inv) {
  if (!json_is_object(ep))
    return egw__ees_invalid_set(inv, cause, path, "must be an EndPoint object");
  static const char *const members[] = {"uri", "fqdn", "ipv4Addrs", "ipv6Addrs"};
  int n = 0;
  for (size_t i = 0; i < 4; i++) {
    if (json_object_get(ep, members[i]) == NULL)
      continue;
    n++;
    if ((i < 2 ? req_string(ep, path, members[i], inv)
               : opt_strings(ep, path, members[i], 1, inv)) != 0) {
      inv->cause = cause;
      return -1;
    }
  }
  if (n != 1)
    return egw__ees_invalid_set(inv, cause, path,
                                "must have exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs");
  return 0;
}

static int check_ac_profile(const json_t *ap, const char *path, struct egw__ees_invalid *inv) {
  if (!json_is_object(ap))
    return egw__ees_invalid_set(inv, OPTIONAL, path, "must be an ACProfile object");
  if (req_string(ap, path, "acId", inv) || opt_string(ap, path, "acType", inv))
    return -1;
  const json_t *eass = json_object_get(ap, "eass");
  if (eass == NULL)
    return 0;
  char p[96];
  at(p, sizeof(p), path, "eass");
  if (!json_is_array(eass) || json_array_size(eass) == 0)
    return egw__ees_invalid_set(inv, OPTIONAL, p, "must be a non-empty array of EasDetail");
  size_t i;
  const json_t *d;
  json_array_foreach(eass, i, d) {
    char item[96];
    snprintf(item, sizeof(item), "%s/%zu", p, i);
    if (!json_is_object(d))
      return egw__ees_invalid_set(inv, OPTIONAL, item, "must be an EasDetail object");
    if (req_string(d, item, "easId", inv))
      return -1;
  }
  return 0;
}

static int check_ac_profiles(const json_t *o, const char *prefix, const char *key, size_t min,
                             struct egw__ees_invalid *inv) {
  const json_t *v = json_object_get(o, key);
  if (v == NULL)
    return 0;
  char p[96];
  at(p, sizeof(p), prefix, key);
  if (!json_is_array(v) || json_array_size(v) < min)
    return egw__ees_invalid_set(inv, OPTIONAL, p,
                                min ? "must be a non-empty array of ACProfile"
                                    : "must be an array of ACProfile");
  size_t i;
  const json_t *ap;
  json_array_foreach(v, i, ap) {
    char item[96];
    snprintf(item, sizeof(item), "%s/%zu", p, i);
    if (check_ac_profile(ap, item, inv))
      return -1;
  }
  return 0;
}

int egw__ees_check_eec_registration(const json_t *doc, struct egw__ees_invalid *inv) {
  if (req_string(doc, "", "eecId", inv) || opt_string(doc, "", "ueId", inv) ||
      check_ac_profiles(doc, "", "acProfs", 0, inv) || opt_string(doc, "", "expTime", inv) ||
      opt_strings(doc, "", "eecSvcContSupp", 0, inv) || opt_string(doc, "", "eecCntxId", inv) ||
      opt_string(doc, "", "srcEesId", inv) || opt_bool(doc, "", "ueMobilityReq", inv) ||
      opt_bool(doc, "", "easSelReqInd", inv) || opt_string(doc, "", "ueType", inv))
    return -1;
  const json_t *ep = json_object_get(doc, "endPt");
  if (ep && check_endpoint(ep, "/endPt", OPTIONAL, inv))
    return -1;
  if (json_object_get(doc, "unfulfillAcProfs") && json_object_get(doc, "unfulfilledAcProfs"))
    return egw__ees_invalid_set(inv, OPTIONAL, "/unfulfilledAcProfs",
                                "must not be sent together with unfulfillAcProfs");
  return 0;
}

/* Only the members of the Patch schema may be sent. */
static int patch_members_known(const json_t *doc, const char *const *known, size_t n,
                               struct egw__ees_invalid *inv) {
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)doc, key, v) {
    size_t i = 0;
    while (i < n && strcmp(key, known[i]) != 0)
      i++;
    char p[96];
    if (i == n)
      return egw__ees_invalid_set(inv, OPTIONAL, at(p, sizeof(p), "", key),
                                  "cannot be changed with PATCH");
  }
  return 0;
}

int egw__ees_check_eec_registration_patch(const json_t *doc, struct egw__ees_invalid *inv) {
  static const char *const known[] = {"acProfs", "expTime", "ueMobilityReq", "easSelReqInd",
                                      "ueType"};
  if (patch_members_known(doc, known, sizeof(known) / sizeof(known[0]), inv))
    return -1;
  /* None of EECRegistrationPatch's members is nullable: a patch sets them, never removes. */
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)doc, key, v) {
    char p[96];
    if (json_is_null(v))
      return egw__ees_invalid_set(inv, OPTIONAL, at(p, sizeof(p), "", key),
                                  "cannot be null (it is not removable)");
  }
  return check_ac_profiles(doc, "", "acProfs", 0, inv) || opt_string(doc, "", "expTime", inv) ||
                 opt_bool(doc, "", "ueMobilityReq", inv) ||
                 opt_bool(doc, "", "easSelReqInd", inv) || opt_string(doc, "", "ueType", inv)
             ? -1
             : 0;
}

static int check_eas_profile(const json_t *prof, struct egw__ees_invalid *inv) {
  static const char *const P = "/easProf";
  if (!json_is_object(prof))
    return egw__ees_invalid_set(inv, MANDATORY, P, "must be an EASProfile object");
  if (req_string(prof, P, "easId", inv))
    return -1;
  const json_t *ep = json_object_get(prof, "endPt");
  if (ep == NULL)
    return egw__ees_invalid_set(inv, MISSING, "/easProf/endPt", "is required");
  if (check_endpoint(ep, "/easProf/endPt", MANDATORY, inv) ||
      opt_strings(prof, P, "acIds", 1, inv) || opt_string(prof, P, "provId", inv) ||
      opt_string(prof, P, "type", inv) || opt_string(prof, P, "flexEasType", inv) ||
      opt_strings(prof, P, "permLvl", 1, inv) || opt_strings(prof, P, "easFeats", 1, inv) ||
      opt_strings(prof, P, "svcContSupp", 1, inv) || opt_string(prof, P, "status", inv) ||
      opt_bool(prof, P, "easSyncSupp", inv) || opt_object(prof, P, "svcArea", inv) ||
      opt_object(prof, P, "svcKpi", inv))
    return -1;
  if (json_object_get(prof, "type") && json_object_get(prof, "flexEasType"))
    return egw__ees_invalid_set(inv, OPTIONAL, "/easProf/flexEasType",
                                "must not be sent together with type");
  return 0;
}

int egw__ees_check_eas_registration(const json_t *doc, struct egw__ees_invalid *inv) {
  const json_t *prof = json_object_get(doc, "easProf");
  if (prof == NULL)
    return egw__ees_invalid_set(inv, MISSING, "/easProf", "is required");
  if (check_eas_profile(prof, inv) || opt_string(doc, "", "expTime", inv) ||
      opt_string(doc, "", "suppFeat", inv))
    return -1;
  return 0;
}

int egw__ees_check_eas_registration_patch(const json_t *doc, struct egw__ees_invalid *inv) {
  static const char *const known[] = {"easProf", "expTime"};
  if (patch_members_known(doc, known, 2, inv))
    return -1;
  const json_t *v = json_object_get(doc, "easProf");
  if (v && !json_is_object(v))
    return egw__ees_invalid_set(inv, OPTIONAL, "/easProf", "must be an object");
  v = json_object_get(doc, "expTime");
  if (v && !json_is_null(v) && !json_is_string(v)) /* DateTimeRm: null removes */
    return egw__ees_invalid_set(inv, OPTIONAL, "/expTime", "must be a date-time string or null");
  return 0;
}

/* ---- EasDiscoveryFilter (of EasDiscoveryReq) ------------------------------------------ */

#define FILTER "/easDiscoveryFilter"

static int check_ac_char(const json_t *ac, size_t i, struct egw__ees_invalid *inv) {
  char p[128];
  const json_t *prof = json_object_get(ac, "acProf");
  snprintf(p, sizeof(p), FILTER "/acChars/%zu/acProf", i);
  if (prof == NULL)
    return egw__ees_invalid_set(inv, MISSING, p, "is required");
  if (!json_is_object(prof))
    return egw__ees_invalid_set(inv, OPTIONAL, p, "must be an ACProfile object");
  const json_t *ac_id = json_object_get(prof, "acId");
  if (!json_is_string(ac_id) || json_string_length(ac_id) == 0) {
    snprintf(p, sizeof(p), FILTER "/acChars/%zu/acProf/acId", i);
    return egw__ees_invalid_set(inv, ac_id ? OPTIONAL : MISSING, p,
                                ac_id ? "must be a non-empty string" : "is required");
  }
  const json_t *eass = json_object_get(prof, "eass");
  if (eass == NULL)
    return 0;
  snprintf(p, sizeof(p), FILTER "/acChars/%zu/acProf/eass", i);
  if (!json_is_array(eass) || json_array_size(eass) == 0)
    return egw__ees_invalid_set(inv, OPTIONAL, p, "must be a non-empty array of EasDetail");
  size_t k;
  const json_t *d;
  json_array_foreach(eass, k, d) {
    if (!json_is_string(json_object_get(d, "easId"))) {
      snprintf(p, sizeof(p), FILTER "/acChars/%zu/acProf/eass/%zu/easId", i, k);
      return egw__ees_invalid_set(inv, OPTIONAL, p, "is required (a string)");
    }
  }
  return 0;
}

static int check_eas_char(const json_t *ec, size_t i, struct egw__ees_invalid *inv) {
  static const char *const strs[] = {"easId",      "appGrpId", "easProvId",
                                     "stdEasType", "easType",  "svcPermLevel"};
  char p[128];
  snprintf(p, sizeof(p), FILTER "/easChars/%zu", i);
  for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
    if (opt_string(ec, p, strs[k], inv))
      return -1;
  }
  if (opt_strings(ec, p, "svcFeats", 1, inv) || opt_strings(ec, p, "easSvcContinuity", 1, inv) ||
      opt_bool(ec, p, "easSyncInd", inv))
    return -1;
  if (json_object_get(ec, "stdEasType") && json_object_get(ec, "easType"))
    return egw__ees_invalid_set(inv, OPTIONAL, p,
                                "stdEasType and easType must not be sent together");
  return 0;
}

int egw__ees_filter_check(const json_t *filter, struct egw__ees_invalid *inv) {
  if (filter == NULL)
    return 0;
  if (!json_is_object(filter))
    return egw__ees_invalid_set(inv, OPTIONAL, FILTER, "must be an EasDiscoveryFilter object");
  static const char *const lists[] = {"acChars", "easChars"};
  for (size_t k = 0; k < 2; k++) {
    const json_t *list = json_object_get(filter, lists[k]);
    if (list == NULL)
      continue;
    char p[64];
    snprintf(p, sizeof(p), FILTER "/%s", lists[k]);
    if (!json_is_array(list) || json_array_size(list) == 0)
      return egw__ees_invalid_set(inv, OPTIONAL, p, "must be a non-empty array");
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) {
      if (!json_is_object(item)) {
        char q[80];
        snprintf(q, sizeof(q), "%s/%zu", p, i);
        return egw__ees_invalid_set(inv, OPTIONAL, q, "must be an object");
      }
      if ((k == 0 ? check_ac_char(item, i, inv) : check_eas_char(item, i, inv)) != 0)
        return -1;
    }
  }
  return 0;
}

/* ---- EasDiscoveryReq, EECContext, expiry ---------------------------------------------- */

int egw__ees_check_discovery_req(const json_t *doc, struct egw__ees_invalid *inv) {
  const json_t *rid = json_object_get(doc, "requestorId");
  if (rid == NULL)
    return egw__ees_invalid_set(inv, MISSING, "/requestorId", "is required");
  if (!json_is_object(rid))
    return egw__ees_invalid_set(inv, MANDATORY, "/requestorId", "must be a RequestorId object");
  static const char *const ids[] = {"eecId", "easId", "eesId"};
  int n = 0;
  for (size_t i = 0; i < 3; i++) {
    if (json_object_get(rid, ids[i]) == NULL)
      continue;
    n++;
    if (req_string(rid, "/requestorId", ids[i], inv))
      return -1;
  }
  if (n != 1)
    return egw__ees_invalid_set(inv, MANDATORY, "/requestorId",
                                "must have exactly one of eecId, easId, eesId");
  if (opt_string(doc, "", "ueId", inv))
    return -1;
  return egw__ees_filter_check(json_object_get(doc, "easDiscoveryFilter"), inv);
}

int egw__ees_check_context(const json_t *ctx, const char *prefix, struct egw__ees_invalid *inv) {
  if (!json_is_object(ctx))
    return egw__ees_invalid_set(inv, MANDATORY, prefix[0] ? prefix : "/",
                                "must be an EECContext object");
  if (req_string(ctx, prefix, "eecId", inv) || req_string(ctx, prefix, "cntxId", inv) ||
      opt_string(ctx, prefix, "ueId", inv) || check_ac_profiles(ctx, prefix, "acProfs", 1, inv) ||
      opt_strings(ctx, prefix, "e1Subs", 1, inv) || opt_bool(ctx, prefix, "ueMobSuppInd", inv) ||
      opt_object(ctx, prefix, "eecSrvContSupp", inv))
    return -1;
  const json_t *sc = json_object_get(ctx, "eecSrvContSupp");
  if (sc == NULL)
    return 0;
  char p[96];
  at(p, sizeof(p), prefix, "eecSrvContSupp");
  if (!json_is_boolean(json_object_get(sc, "srvContSupp"))) {
    char q[112];
    return egw__ees_invalid_set(inv, OPTIONAL, at(q, sizeof(q), p, "srvContSupp"),
                                "is required (true or false)");
  }
  return opt_strings(sc, p, "acrScenarios", 1, inv);
}

int egw__ees_check_context_push(const json_t *doc, struct egw__ees_invalid *inv) {
  if (req_string(doc, "", "eesId", inv))
    return -1;
  const json_t *ctx = json_object_get(doc, "eecCntx");
  if (ctx == NULL)
    return egw__ees_invalid_set(inv, MISSING, "/eecCntx", "is required");
  if (egw__ees_check_context(ctx, "/eecCntx", inv) || opt_bool(doc, "", "acrScenariosSelReq", inv))
    return -1;
  const json_t *tgt = json_object_get(doc, "tgtEas");
  return tgt ? check_endpoint(tgt, "/tgtEas", OPTIONAL, inv) : 0;
}

int egw__ees_grant_exp(const json_t *exp_time, int64_t now_s, uint32_t max_s, int64_t *out_exp,
                       struct egw__ees_invalid *inv) {
  int64_t longest = now_s + (int64_t)max_s;
  if (exp_time == NULL || json_is_null(exp_time)) {
    *out_exp = longest;
    return 0;
  }
  int64_t asked;
  if (!json_is_string(exp_time) ||
      egw__roles_datetime_parse(json_string_value(exp_time), &asked) != 0)
    return egw__ees_invalid_set(inv, OPTIONAL, "/expTime", "must be an RFC 3339 date-time");
  if (asked <= now_s)
    return egw__ees_invalid_set(inv, OPTIONAL, "/expTime", "is not in the future");
  *out_exp = asked < longest ? asked : longest;
  return 0;
}
