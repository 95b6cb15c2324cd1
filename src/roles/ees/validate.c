/* The members of the EES's request bodies that the schemas require or type
 * (TS24558_Eees_EECRegistration.yaml, TS29558_Eees_EASRegistration.yaml,
 * TS24558_Eees_EASDiscovery.yaml, TS29558_Eees_EECContextRelocation.yaml). What the
 * EES reads is checked strictly; members it only stores are checked for their type.
 * Unknown members are kept: the schemas allow them. */
#include <stdio.h>
#include <string.h>

#include "roles/ees/internal.h"

/* The checks below take the member's dotted path for the error ("acProfs[1].acId"). */

static int opt_string(const json_t *o, const char *key, const char *path,
                      struct egw__ees_invalid *inv) {
  const json_t *v = json_object_get(o, key);
  if (v && !json_is_string(v))
    return egw__ees_invalid_set(inv, path, "must be a string");
  return 0;
}

static int req_string(const json_t *o, const char *key, const char *path,
                      struct egw__ees_invalid *inv) {
  const json_t *v = json_object_get(o, key);
  if (v == NULL)
    return egw__ees_invalid_set(inv, path, "is required");
  if (!json_is_string(v) || json_string_length(v) == 0)
    return egw__ees_invalid_set(inv, path, "must be a non-empty string");
  return 0;
}

static int opt_bool(const json_t *o, const char *key, const char *path,
                    struct egw__ees_invalid *inv) {
  const json_t *v = json_object_get(o, key);
  if (v && !json_is_boolean(v))
    return egw__ees_invalid_set(inv, path, "must be true or false");
  return 0;
}

/* An array (of at least |min| items) of strings. */
static int opt_strings(const json_t *o, const char *key, const char *path, size_t min,
                       struct egw__ees_invalid *inv) {
  const json_t *v = json_object_get(o, key);
  if (v == NULL)
    return 0;
  if (!json_is_array(v) || json_array_size(v) < min)
    return egw__ees_invalid_set(
        inv, path, min ? "must be a non-empty array of strings" : "must be an array of strings");
  size_t i;
  const json_t *item;
  json_array_foreach(v, i, item) {
    if (!json_is_string(item))
      return egw__ees_invalid_set(inv, path, "item %zu is not a string", i);
  }
  return 0;
}

static int opt_object(const json_t *o, const char *key, const char *path,
                      struct egw__ees_invalid *inv) {
  const json_t *v = json_object_get(o, key);
  if (v && !json_is_object(v))
    return egw__ees_invalid_set(inv, path, "must be an object");
  return 0;
}

/* EndPoint: exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs (oneOf). */
static int check_endpoint(const json_t *ep, const char *path, struct egw__ees_invalid *inv) {
  if (!json_is_object(ep))
    return egw__ees_invalid_set(inv, path, "must be an EndPoint object");
  char p[96];
  int n = 0;
  static const char *const strs[] = {"uri", "fqdn"};
  for (size_t i = 0; i < 2; i++) {
    snprintf(p, sizeof(p), "%s.%s", path, strs[i]);
    if (json_object_get(ep, strs[i])) {
      n++;
      if (req_string(ep, strs[i], p, inv))
        return -1;
    }
  }
  static const char *const lists[] = {"ipv4Addrs", "ipv6Addrs"};
  for (size_t i = 0; i < 2; i++) {
    snprintf(p, sizeof(p), "%s.%s", path, lists[i]);
    if (json_object_get(ep, lists[i])) {
      n++;
      if (opt_strings(ep, lists[i], p, 1, inv))
        return -1;
    }
  }
  if (n != 1)
    return egw__ees_invalid_set(inv, path,
                                "must have exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs");
  return 0;
}

static int check_ac_profile(const json_t *ap, const char *path, struct egw__ees_invalid *inv) {
  char p[96];
  if (!json_is_object(ap))
    return egw__ees_invalid_set(inv, path, "must be an ACProfile object");
  snprintf(p, sizeof(p), "%s.acId", path);
  if (req_string(ap, "acId", p, inv))
    return -1;
  snprintf(p, sizeof(p), "%s.acType", path);
  if (opt_string(ap, "acType", p, inv))
    return -1;
  const json_t *eass = json_object_get(ap, "eass");
  if (eass == NULL)
    return 0;
  snprintf(p, sizeof(p), "%s.eass", path);
  if (!json_is_array(eass) || json_array_size(eass) == 0)
    return egw__ees_invalid_set(inv, p, "must be a non-empty array of EasDetail");
  size_t i;
  const json_t *d;
  json_array_foreach(eass, i, d) {
    snprintf(p, sizeof(p), "%s.eass[%zu].easId", path, i);
    if (!json_is_object(d) || req_string(d, "easId", p, inv))
      return json_is_object(d) ? -1 : egw__ees_invalid_set(inv, p, "must be an EasDetail object");
  }
  return 0;
}

static int check_ac_profiles(const json_t *o, const char *key, const char *path, size_t min,
                             struct egw__ees_invalid *inv) {
  const json_t *v = json_object_get(o, key);
  if (v == NULL)
    return 0;
  if (!json_is_array(v) || json_array_size(v) < min)
    return egw__ees_invalid_set(inv, path, "must be an array of ACProfile");
  size_t i;
  const json_t *ap;
  json_array_foreach(v, i, ap) {
    char p[96];
    snprintf(p, sizeof(p), "%s[%zu]", path, i);
    if (check_ac_profile(ap, p, inv))
      return -1;
  }
  return 0;
}

int egw__ees_check_eec_registration(const json_t *doc, struct egw__ees_invalid *inv) {
  if (req_string(doc, "eecId", "eecId", inv) || opt_string(doc, "ueId", "ueId", inv) ||
      check_ac_profiles(doc, "acProfs", "acProfs", 0, inv) ||
      opt_string(doc, "expTime", "expTime", inv) ||
      opt_strings(doc, "eecSvcContSupp", "eecSvcContSupp", 0, inv) ||
      opt_string(doc, "eecCntxId", "eecCntxId", inv) ||
      opt_string(doc, "srcEesId", "srcEesId", inv) ||
      opt_bool(doc, "ueMobilityReq", "ueMobilityReq", inv) ||
      opt_bool(doc, "easSelReqInd", "easSelReqInd", inv) ||
      opt_string(doc, "ueType", "ueType", inv))
    return -1;
  const json_t *ep = json_object_get(doc, "endPt");
  if (ep && check_endpoint(ep, "endPt", inv))
    return -1;
  if (json_object_get(doc, "unfulfillAcProfs") && json_object_get(doc, "unfulfilledAcProfs"))
    return egw__ees_invalid_set(inv, "unfulfilledAcProfs",
                                "must not be sent together with unfulfillAcProfs");
  return 0;
}

/* Members of a merge patch may be null (remove) or what the full schema says. */
static int patch_members_known(const json_t *doc, const char *const *known, size_t n,
                               struct egw__ees_invalid *inv) {
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)doc, key, v) {
    size_t i = 0;
    while (i < n && strcmp(key, known[i]) != 0)
      i++;
    if (i == n)
      return egw__ees_invalid_set(inv, key, "cannot be changed with PATCH");
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
    if (json_is_null(v))
      return egw__ees_invalid_set(inv, key, "cannot be null (it is not removable)");
  }
  return check_ac_profiles(doc, "acProfs", "acProfs", 0, inv) ||
                 opt_string(doc, "expTime", "expTime", inv) ||
                 opt_bool(doc, "ueMobilityReq", "ueMobilityReq", inv) ||
                 opt_bool(doc, "easSelReqInd", "easSelReqInd", inv) ||
                 opt_string(doc, "ueType", "ueType", inv)
             ? -1
             : 0;
}

static int check_eas_profile(const json_t *prof, struct egw__ees_invalid *inv) {
  if (!json_is_object(prof))
    return egw__ees_invalid_set(inv, "easProf", "must be an EASProfile object");
  if (req_string(prof, "easId", "easProf.easId", inv))
    return -1;
  const json_t *ep = json_object_get(prof, "endPt");
  if (ep == NULL)
    return egw__ees_invalid_set(inv, "easProf.endPt", "is required");
  if (check_endpoint(ep, "easProf.endPt", inv) ||
      opt_strings(prof, "acIds", "easProf.acIds", 1, inv) ||
      opt_string(prof, "provId", "easProf.provId", inv) ||
      opt_string(prof, "type", "easProf.type", inv) ||
      opt_string(prof, "flexEasType", "easProf.flexEasType", inv) ||
      opt_strings(prof, "permLvl", "easProf.permLvl", 1, inv) ||
      opt_strings(prof, "easFeats", "easProf.easFeats", 1, inv) ||
      opt_strings(prof, "svcContSupp", "easProf.svcContSupp", 1, inv) ||
      opt_string(prof, "status", "easProf.status", inv) ||
      opt_bool(prof, "easSyncSupp", "easProf.easSyncSupp", inv) ||
      opt_object(prof, "svcArea", "easProf.svcArea", inv) ||
      opt_object(prof, "svcKpi", "easProf.svcKpi", inv))
    return -1;
  if (json_object_get(prof, "type") && json_object_get(prof, "flexEasType"))
    return egw__ees_invalid_set(inv, "easProf.flexEasType", "must not be sent together with type");
  return 0;
}

int egw__ees_check_eas_registration(const json_t *doc, struct egw__ees_invalid *inv) {
  const json_t *prof = json_object_get(doc, "easProf");
  if (prof == NULL)
    return egw__ees_invalid_set(inv, "easProf", "is required");
  if (check_eas_profile(prof, inv) || opt_string(doc, "expTime", "expTime", inv) ||
      opt_string(doc, "suppFeat", "suppFeat", inv))
    return -1;
  return 0;
}

int egw__ees_check_eas_registration_patch(const json_t *doc, struct egw__ees_invalid *inv) {
  static const char *const known[] = {"easProf", "expTime"};
  if (patch_members_known(doc, known, 2, inv))
    return -1;
  const json_t *v = json_object_get(doc, "easProf");
  if (v && !json_is_object(v))
    return egw__ees_invalid_set(inv, "easProf", "must be an object");
  v = json_object_get(doc, "expTime");
  if (v && !json_is_null(v) && !json_is_string(v))
    return egw__ees_invalid_set(inv, "expTime", "must be a date-time string or null");
  return 0;
}

int egw__ees_check_discovery_req(const json_t *doc, struct egw__ees_invalid *inv) {
  const json_t *rid = json_object_get(doc, "requestorId");
  if (rid == NULL)
    return egw__ees_invalid_set(inv, "requestorId", "is required");
  if (!json_is_object(rid))
    return egw__ees_invalid_set(inv, "requestorId", "must be a RequestorId object");
  static const char *const ids[] = {"eecId", "easId", "eesId"};
  int n = 0;
  for (size_t i = 0; i < 3; i++) {
    if (json_object_get(rid, ids[i]) == NULL)
      continue;
    n++;
    char p[64];
    snprintf(p, sizeof(p), "requestorId.%s", ids[i]);
    if (req_string(rid, ids[i], p, inv))
      return -1;
  }
  if (n != 1)
    return egw__ees_invalid_set(inv, "requestorId", "must have exactly one of eecId, easId, eesId");
  if (opt_string(doc, "ueId", "ueId", inv))
    return -1;
  return egw__ees_filter_check(json_object_get(doc, "easDiscoveryFilter"), inv);
}

/* at writes |prefix| + |name| into |buf|: the path of a member of a nested object. */
static const char *at(char *buf, size_t cap, const char *prefix, const char *name) {
  snprintf(buf, cap, "%s%s", prefix, name);
  return buf;
}

int egw__ees_check_context(const json_t *ctx, const char *prefix, struct egw__ees_invalid *inv) {
  char p[96];
  if (!json_is_object(ctx))
    return egw__ees_invalid_set(inv, prefix[0] ? prefix : "EECContext",
                                "must be an EECContext object");
  if (req_string(ctx, "eecId", at(p, sizeof(p), prefix, "eecId"), inv) ||
      req_string(ctx, "cntxId", at(p, sizeof(p), prefix, "cntxId"), inv) ||
      opt_string(ctx, "ueId", at(p, sizeof(p), prefix, "ueId"), inv) ||
      check_ac_profiles(ctx, "acProfs", at(p, sizeof(p), prefix, "acProfs"), 1, inv) ||
      opt_strings(ctx, "e1Subs", at(p, sizeof(p), prefix, "e1Subs"), 1, inv) ||
      opt_bool(ctx, "ueMobSuppInd", at(p, sizeof(p), prefix, "ueMobSuppInd"), inv) ||
      opt_object(ctx, "eecSrvContSupp", at(p, sizeof(p), prefix, "eecSrvContSupp"), inv))
    return -1;
  const json_t *sc = json_object_get(ctx, "eecSrvContSupp");
  if (sc == NULL)
    return 0;
  if (!json_is_boolean(json_object_get(sc, "srvContSupp")))
    return egw__ees_invalid_set(inv, at(p, sizeof(p), prefix, "eecSrvContSupp.srvContSupp"),
                                "is required (true or false)");
  return opt_strings(sc, "acrScenarios", at(p, sizeof(p), prefix, "eecSrvContSupp.acrScenarios"), 1,
                     inv);
}

int egw__ees_check_context_push(const json_t *doc, struct egw__ees_invalid *inv) {
  if (req_string(doc, "eesId", "eesId", inv))
    return -1;
  const json_t *ctx = json_object_get(doc, "eecCntx");
  if (ctx == NULL)
    return egw__ees_invalid_set(inv, "eecCntx", "is required");
  if (egw__ees_check_context(ctx, "eecCntx.", inv) ||
      opt_bool(doc, "acrScenariosSelReq", "acrScenariosSelReq", inv))
    return -1;
  const json_t *tgt = json_object_get(doc, "tgtEas");
  return tgt ? check_endpoint(tgt, "tgtEas", inv) : 0;
}

int egw__ees_grant_exp(const json_t *exp_time, int64_t now_s, uint32_t max_s, int64_t *out_exp,
                       struct egw__ees_invalid *inv) {
  int64_t longest = now_s + (int64_t)max_s;
  if (exp_time == NULL || json_is_null(exp_time)) {
    *out_exp = longest;
    return 0;
  }
  int64_t asked;
  if (!json_is_string(exp_time) || egw__ees_parse_time(json_string_value(exp_time), &asked) != 0)
    return egw__ees_invalid_set(inv, "expTime", "must be an RFC 3339 date-time");
  if (asked <= now_s)
    return egw__ees_invalid_set(inv, "expTime", "is not in the future");
  *out_exp = asked < longest ? asked : longest;
  return 0;
}
