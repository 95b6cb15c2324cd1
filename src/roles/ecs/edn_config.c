/* EES profiles as the ECS sees them: the checks of an EESRegistration (EDGE-6), which
 * registered EESes serve a request (EDGE-4 provisioning, target EES discovery), and the
 * EDN configuration (TS 24.558 EDNConfigInfo / EESInfo) built from them. Pure functions
 * of the table and the policy. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "roles/ecs/edge.h"

/* ---- policy values ------------------------------------------------------------------- */

uint32_t egw__ecs_lifetime_s(const struct egw_ecs_policy *p) {
  return p->provisioning_lifetime_s ? p->provisioning_lifetime_s : EGW_ECS_DEFAULT_LIFETIME_S;
}

uint32_t egw__ecs_registration_max_s(const struct egw_ecs_policy *p) {
  return p->registration_max_s ? p->registration_max_s : EGW_ECS_DEFAULT_REGISTRATION_MAX_S;
}

char *egw__ecs_eec_scope(const struct egw_ecs_policy *p) {
  return egw__roles_scope_join(p->eec_scopes, p->n_eec_scopes, EGW_ECS_DEFAULT_EEC_SCOPE);
}

json_t *egw__ecs_auth_methods(const struct egw_ecs_policy *p, const char *ees_id) {
  json_t *out = json_array();
  for (size_t i = 0; out && i < p->n_ees_auth; i++) {
    const struct egw_ees_auth_policy *a = &p->ees_auth[i];
    if (strcmp(a->ees, "*") != 0 && strcmp(a->ees, ees_id) != 0)
      continue;
    for (size_t j = 0; j < a->n_methods; j++)
      json_array_append_new(out, json_string(a->methods[j]));
    break;
  }
  if (out && json_array_size(out) == 0)
    json_array_append_new(out, json_string("TLS_CLIENT_SERVER_CERTIFICATE"));
  return out;
}

/* ---- EESRegistration checks ---------------------------------------------------------- */

static int nonempty_string(const json_t *v) {
  return json_is_string(v) && json_string_length(v) > 0;
}

/* An optional array of at least one non-empty string. */
static void check_strings(const json_t *obj, const char *key, const char *param,
                          struct egw_param_errors *errs) {
  const json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return;
  int ok = json_is_array(v) && json_array_size(v) > 0;
  size_t i;
  const json_t *item;
  json_array_foreach(v, i, item) ok &= nonempty_string(item);
  if (!ok)
    egw__roles_param_error(errs, param, "must be an array of at least one string",
                           "OPTIONAL_IE_INCORRECT");
}

/* An optional member of JSON type |type| (JSON_TRUE standing for either boolean). */
static void check_type(const json_t *obj, const char *key, json_type type, const char *param,
                       const char *reason, struct egw_param_errors *errs) {
  const json_t *v = json_object_get(obj, key);
  if (v && !(type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == type))
    egw__roles_param_error(errs, param, reason, "OPTIONAL_IE_INCORRECT");
}

/* EndPoint (TS 29.558): exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs. */
static void check_end_point(const json_t *ep, struct egw_param_errors *errs) {
  if (ep == NULL) {
    egw__roles_param_error(errs, "/eesProf/endPt", "is required", "MANDATORY_IE_MISSING");
    return;
  }
  if (!json_is_object(ep)) {
    egw__roles_param_error(errs, "/eesProf/endPt", "must be an EndPoint object",
                           "MANDATORY_IE_INCORRECT");
    return;
  }
  int present = 0;
  static const char *const strings[][2] = {{"uri", "/eesProf/endPt/uri"},
                                           {"fqdn", "/eesProf/endPt/fqdn"}};
  for (size_t i = 0; i < 2; i++) {
    const json_t *v = json_object_get(ep, strings[i][0]);
    if (v == NULL)
      continue;
    present++;
    if (!nonempty_string(v))
      egw__roles_param_error(errs, strings[i][1], "must be a non-empty string",
                             "MANDATORY_IE_INCORRECT");
  }
  present += json_object_get(ep, "ipv4Addrs") != NULL;
  present += json_object_get(ep, "ipv6Addrs") != NULL;
  check_strings(ep, "ipv4Addrs", "/eesProf/endPt/ipv4Addrs", errs);
  check_strings(ep, "ipv6Addrs", "/eesProf/endPt/ipv6Addrs", errs);
  if (present != 1)
    egw__roles_param_error(errs, "/eesProf/endPt",
                           "must have exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs",
                           "MANDATORY_IE_INCORRECT");
}

static void check_profile(json_t *prof, struct egw_param_errors *errs) {
  if (prof == NULL) {
    egw__roles_param_error(errs, "/eesProf", "is required", "MANDATORY_IE_MISSING");
    return;
  }
  if (!json_is_object(prof)) {
    egw__roles_param_error(errs, "/eesProf", "must be an EESProfile object",
                           "MANDATORY_IE_INCORRECT");
    return;
  }
  const json_t *id = json_object_get(prof, "eesId");
  if (id == NULL)
    egw__roles_param_error(errs, "/eesProf/eesId", "is required", "MANDATORY_IE_MISSING");
  else if (!nonempty_string(id))
    egw__roles_param_error(errs, "/eesProf/eesId", "must be a non-empty string",
                           "MANDATORY_IE_INCORRECT");
  check_end_point(json_object_get(prof, "endPt"), errs);
  check_type(prof, "eecRegConf", JSON_TRUE, "/eesProf/eecRegConf", "must be a boolean", errs);
  check_strings(prof, "easIds", "/eesProf/easIds", errs);
  check_strings(prof, "appLocs", "/eesProf/appLocs", errs);
  check_strings(prof, "svcContSupp", "/eesProf/svcContSupp", errs);
  check_type(prof, "provId", JSON_STRING, "/eesProf/provId", "must be a string", errs);
  check_type(prof, "svcArea", JSON_OBJECT, "/eesProf/svcArea", "must be a ServiceArea", errs);
  check_type(prof, "easBdlInfos", JSON_OBJECT, "/eesProf/easBdlInfos", "must be a map", errs);
  check_type(prof, "easInstInfo", JSON_OBJECT, "/eesProf/easInstInfo", "must be a map", errs);
  check_type(prof, "svcContSuppExt1", JSON_ARRAY, "/eesProf/svcContSuppExt1", "must be an array",
             errs);
  const json_t *edn = json_object_get(prof, "ednInfoSets");
  if (edn && (!json_is_object(edn) || !nonempty_string(json_object_get(edn, "dnn"))))
    egw__roles_param_error(errs, "/eesProf/ednInfoSets", "must be an EDNInfo with a dnn",
                           "OPTIONAL_IE_INCORRECT");
  else if (edn)
    check_strings(edn, "dnais", "/eesProf/ednInfoSets/dnais", errs);
  /* TS 29.558 makes eecRegConf required and also says "false if omitted": stored and
   * answered with the default, so that every body we send is valid. */
  if (json_object_get(prof, "eecRegConf") == NULL)
    json_object_set_new(prof, "eecRegConf", json_false());
}

int egw__ecs_check_exp_time(json_t *doc, int64_t now, uint32_t max_s, struct egw_param_errors *errs,
                            int64_t *out_exp_s) {
  int64_t cap = now + (int64_t)max_s, exp = cap;
  const json_t *v = json_object_get(doc, "expTime");
  if (v && (!json_is_string(v) || egw__roles_datetime_parse(json_string_value(v), &exp) != 0)) {
    egw__roles_param_error(errs, "/expTime", "must be a date-time (RFC 3339)",
                           "OPTIONAL_IE_INCORRECT");
    return -1;
  }
  if (v && exp <= now) {
    egw__roles_param_error(errs, "/expTime", "is in the past", "OPTIONAL_IE_INCORRECT");
    return -1;
  }
  if (exp > cap)
    exp = cap;
  char text[EGW_DATETIME_LEN + 1];
  egw__roles_datetime_format(exp, text);
  if (json_object_set_new(doc, "expTime", json_string(text)) != 0)
    return -1;
  *out_exp_s = exp;
  return 0;
}

int egw__ecs_check_registration(json_t *doc, int64_t now, uint32_t max_s,
                                struct egw_param_errors *errs, int64_t *out_exp_s) {
  check_profile(json_object_get(doc, "eesProf"), errs);
  check_type(doc, "suppFeat", JSON_STRING, "/suppFeat", "must be a string", errs);
  if (egw__ecs_check_exp_time(doc, now, max_s, errs, out_exp_s) != 0 && errs->n == 0)
    egw__roles_param_error(errs, "/expTime", "could not be set", "SYSTEM_FAILURE");
  return errs->n > 0 ? -1 : 0;
}

/* ---- EEC requests ---------------------------------------------------------------------- */

void egw__ecs_check_eec_request(const json_t *doc, struct egw_param_errors *errs) {
  const json_t *id = json_object_get(doc, "eecId");
  if (id == NULL)
    egw__roles_param_error(errs, "/eecId", "is required", "MANDATORY_IE_MISSING");
  else if (!nonempty_string(id))
    egw__roles_param_error(errs, "/eecId", "must be a non-empty string", "MANDATORY_IE_INCORRECT");
  check_type(doc, "ueId", JSON_STRING, "/ueId", "must be a GPSI string", errs);
  const json_t *acs = json_object_get(doc, "acProfs");
  int ok = acs == NULL || json_is_array(acs);
  size_t i;
  const json_t *ac;
  json_array_foreach(acs, i, ac) ok &= nonempty_string(json_object_get(ac, "acId"));
  if (!ok)
    egw__roles_param_error(errs, "/acProfs", "must be an array of ACProfile, each with an acId",
                           "OPTIONAL_IE_INCORRECT");
  check_type(doc, "locInf", JSON_OBJECT, "/locInf", "must be a LocationInfo", errs);
  check_type(doc, "connInfo", JSON_ARRAY, "/connInfo", "must be an array", errs);
  check_type(doc, "eecSvcContSupp", JSON_ARRAY, "/eecSvcContSupp", "must be an array", errs);
  check_strings(doc, "ecspIds", "/ecspIds", errs);
  check_type(doc, "suppFeat", JSON_STRING, "/suppFeat", "must be a string", errs);
}

/* ---- which EESes serve a request ----------------------------------------------------- */

static int string_in(const json_t *list, const char *s) {
  size_t i;
  const json_t *item;
  json_array_foreach(list, i, item) {
    if (json_is_string(item) && strcmp(json_string_value(item), s) == 0)
      return 1;
  }
  return 0;
}

int egw__ecs_profile_has_eas(const json_t *prof, const char *eas_id) {
  return eas_id != NULL && (string_in(json_object_get(prof, "easIds"), eas_id) ||
                            json_object_get(json_object_get(prof, "easInstInfo"), eas_id) ||
                            json_object_get(json_object_get(prof, "easBdlInfos"), eas_id));
}

int egw__ecs_profile_has_dnai(const json_t *prof, const char *dnai) {
  const json_t *edn = json_object_get(prof, "ednInfoSets");
  return string_in(json_object_get(prof, "appLocs"), dnai) ||
         string_in(json_object_get(edn, "dnais"), dnai);
}

/* Rule (project choice; TS 23.558 leaves the matching to the ECS): an EES serves an AC
 * when the ACProfile's acId, or the easId of one of its eass, is an EAS registered at the
 * EES (eesProf.easIds, or a key of easInstInfo or easBdlInfos). Application identifiers
 * name both the AC and its server side in practice, hence acId against easIds. A
 * request without acProfs is served by every EES. */
int egw__ecs_profile_serves_acs(const json_t *prof, const json_t *ac_profs) {
  if (!json_is_array(ac_profs) || json_array_size(ac_profs) == 0)
    return 1;
  size_t i, j;
  const json_t *ac, *eas;
  json_array_foreach(ac_profs, i, ac) {
    if (egw__ecs_profile_has_eas(prof, json_string_value(json_object_get(ac, "acId"))))
      return 1;
    json_array_foreach(json_object_get(ac, "eass"), j, eas) {
      if (egw__ecs_profile_has_eas(prof, json_string_value(json_object_get(eas, "easId"))))
        return 1;
    }
  }
  return 0;
}

static int same_string(const json_t *a, const json_t *b, const char *key) {
  const char *x = json_string_value(json_object_get(a, key));
  const char *y = json_string_value(json_object_get(b, key));
  return x && y && strcasecmp(x, y) == 0;
}

static int plmn_eq(const json_t *a, const json_t *b) {
  return same_string(a, b, "mcc") && same_string(a, b, "mnc");
}

/* A TAI, NCGI or ECGI: the PLMN and the member |cell| ("tac", "nrCellId", ...). */
static int area_in(const json_t *list, const json_t *area, const char *cell) {
  size_t i;
  const json_t *item;
  json_array_foreach(list, i, item) {
    if (plmn_eq(json_object_get(item, "plmnId"), json_object_get(area, "plmnId")) &&
        same_string(item, area, cell))
      return 1;
  }
  return 0;
}

/* Rule (project choice): only the topological service area is compared. An EES whose
 * profile has no svcArea.topServAr serves everywhere, and so does every EES for a request
 * without a location. Otherwise the UE's TAI, NR cell, E-UTRA cell or PLMN (from
 * locInf.userLocation) must be among those the EES lists; when the EES lists none of the
 * kinds the request carries, the location cannot exclude it. */
int egw__ecs_profile_serves_location(const json_t *prof, const json_t *loc_inf) {
  const json_t *top = json_object_get(json_object_get(prof, "svcArea"), "topServAr");
  const json_t *ul = json_object_get(loc_inf, "userLocation");
  if (!json_is_object(top) || !json_is_object(ul))
    return 1;
  const json_t *nr = json_object_get(ul, "nrLocation");
  const json_t *eu = json_object_get(ul, "eutraLocation");
  const struct {
    const json_t *ees_list; /* what the EES lists */
    const json_t *ue_area;  /* where the UE is */
    const char *cell;       /* the member naming the area besides the PLMN */
  } areas[] = {
      {json_object_get(top, "tais"), json_object_get(nr, "tai"), "tac"},
      {json_object_get(top, "tais"), json_object_get(eu, "tai"), "tac"},
      {json_object_get(top, "ncgis"), json_object_get(nr, "ncgi"), "nrCellId"},
      {json_object_get(top, "ecgis"), json_object_get(eu, "ecgi"), "eutraCellId"},
  };
  int comparable = 0;
  const json_t *plmns = json_object_get(top, "plmnIds");
  for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
    if (!json_is_object(areas[i].ue_area))
      continue;
    if (json_is_array(areas[i].ees_list)) {
      comparable = 1;
      if (area_in(areas[i].ees_list, areas[i].ue_area, areas[i].cell))
        return 1;
    }
    if (json_is_array(plmns)) {
      comparable = 1;
      size_t j;
      const json_t *plmn;
      json_array_foreach(plmns, j, plmn) {
        if (plmn_eq(plmn, json_object_get(areas[i].ue_area, "plmnId")))
          return 1;
      }
    }
  }
  return !comparable;
}

static int passes(const json_t *prof, const char *ees_id, const struct egw_ecs_edn_filter *f) {
  if (f->exclude_ees && strcmp(f->exclude_ees, ees_id) == 0)
    return 0;
  if (f->eas_id && !egw__ecs_profile_has_eas(prof, f->eas_id))
    return 0;
  if (f->dnai && !egw__ecs_profile_has_dnai(prof, f->dnai))
    return 0;
  return egw__ecs_profile_serves_acs(prof, f->ac_profs) &&
         egw__ecs_profile_serves_location(prof, f->loc_inf);
}

/* ---- EDN configuration --------------------------------------------------------------- */

static int copy_member(json_t *to, const char *to_key, const json_t *from, const char *key) {
  json_t *v = json_object_get(from, key);
  return v == NULL || json_object_set_new(to, to_key, json_deep_copy(v)) == 0 ? 0 : -1;
}

/* EESInfo (TS 24.558) from an EESProfile (TS 29.558). */
static json_t *ees_info(const json_t *prof, const struct egw_ecs_policy *p) {
  const char *ees_id = json_string_value(json_object_get(prof, "eesId"));
  json_t *info = json_pack("{s:s, s:b}", "eesId", ees_id, "eecRegConf",
                           json_is_true(json_object_get(prof, "eecRegConf")));
  if (info == NULL)
    return NULL;
  const json_t *edn = json_object_get(prof, "ednInfoSets");
  json_t *insts = NULL;
  const json_t *inst_map = json_object_get(prof, "easInstInfo");
  if (json_object_size(inst_map) > 0) {
    insts = json_array();
    const char *key;
    json_t *inst;
    json_object_foreach((json_t *)inst_map, key, inst) json_array_append(insts, inst);
  }
  if (copy_member(info, "endPt", prof, "endPt") || copy_member(info, "easIds", prof, "easIds") ||
      copy_member(info, "ecspInfo", prof, "provId") || copy_member(info, "dnais", edn, "dnais") ||
      (json_object_get(info, "dnais") == NULL && copy_member(info, "dnais", prof, "appLocs")) ||
      copy_member(info, "eesSvcContSupp", prof, "svcContSupp") ||
      (insts && json_object_set_new(info, "easInstInfos", insts) != 0) ||
      json_object_set_new(info, "eesAuthMethods", egw__ecs_auth_methods(p, ees_id)) != 0) {
    json_decref(info);
    return NULL;
  }
  return info;
}

static const char *profile_dnn(const json_t *prof) {
  const char *dnn = json_string_value(json_object_get(json_object_get(prof, "ednInfoSets"), "dnn"));
  return dnn ? dnn : EGW_ECS_DEFAULT_DNN;
}

json_t *egw__ecs_edn_config(const struct egw_records *t, const struct egw_ecs_policy *p,
                            const struct egw_ecs_edn_filter *f, int64_t now,
                            egw_ecs_decorate_fn decorate, void *arg) {
  json_t *out = json_array();
  json_t *by_dnn = json_object(); /* dnn -> its EDNConfigInfo (also in |out|) */
  char life[EGW_DATETIME_LEN + 1];
  egw__roles_datetime_format(now + egw__ecs_lifetime_s(p), life);
  if (out == NULL || by_dnn == NULL)
    goto fail;
  for (const struct egw_record *r = t->head; r; r = r->next) {
    if (!egw__record_live(r, now) || egw__record_shadowed(r, now))
      continue;
    const json_t *prof = json_object_get(r->doc, "eesProf");
    if (!passes(prof, r->owner, f))
      continue;
    json_t *info = ees_info(prof, p);
    if (info == NULL || (decorate && decorate(arg, info, r->owner) != 0)) {
      json_decref(info);
      goto fail;
    }
    const char *dnn = profile_dnn(prof);
    json_t *group = json_object_get(by_dnn, dnn);
    if (group == NULL) {
      group = json_pack("{s:{s:s}, s:[], s:s}", "ednConInfo", "dnn", dnn, "eess", "lifeTime", life);
      if (group == NULL || json_array_append_new(out, group) != 0 ||
          json_object_set(by_dnn, dnn, group) != 0) {
        json_decref(info);
        goto fail;
      }
    }
    if (json_array_append_new(json_object_get(group, "eess"), info) != 0)
      goto fail;
  }
  json_decref(by_dnn);
  return out;
fail:
  json_decref(by_dnn);
  json_decref(out);
  return NULL;
}
