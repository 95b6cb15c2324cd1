/* The EEC's request bodies and what it takes from the answers. Field names are those of
 * TS24558_Eecs_ServiceProvisioning.yaml, TS24558_Eees_EECRegistration.yaml and
 * TS24558_Eees_EASDiscovery.yaml. The access tokens ride beside the schema's members
 * (project choice, README "Edge flow"): EESInfo.eesAccessToken and
 * DiscoveredEas.easAccessToken, each {access_token, token_type, expires_in, scope}. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/eec_internal.h"
#include "util/format.h"

void egw__eec_grant_cleanup(struct egw__eec_grant *g) {
  free(g->id);
  free(g->url);
  free(g->token);
  *g = (struct egw__eec_grant){.expires_in = -1};
}

/* One AC profile naming the wanted EAS (ACProfile.acId is required). */
static json_t *ac_profiles(const struct egw__eec_options *o) {
  return json_pack("[{s:s, s:[{s:s}]}]", "acId", "edgegw-eec", "eass", "easId", o->eas_id);
}

json_t *egw__eec_provision_req(const struct egw__eec_options *o) {
  json_t *req = json_pack("{s:s}", "eecId", o->eec_id);
  if (req && o->eas_id && json_object_set_new(req, "acProfs", ac_profiles(o)) != 0) {
    json_decref(req);
    return NULL;
  }
  return req;
}

json_t *egw__eec_registration_req(const struct egw__eec_options *o, int64_t now_s) {
  char exp[32];
  time_t t = (time_t)(now_s + 3600);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
  json_t *req = json_pack("{s:s, s:s}", "eecId", o->eec_id, "expTime", exp);
  if (req && o->eas_id && json_object_set_new(req, "acProfs", ac_profiles(o)) != 0) {
    json_decref(req);
    return NULL;
  }
  return req;
}

json_t *egw__eec_discovery_req(const struct egw__eec_options *o) {
  json_t *req = json_pack("{s:{s:s}}", "requestorId", "eecId", o->eec_id);
  if (req && o->eas_id &&
      json_object_set_new(req, "easDiscoveryFilter",
                          json_pack("{s:[{s:s}]}", "easChars", "easId", o->eas_id)) != 0) {
    json_decref(req);
    return NULL;
  }
  return req;
}

/* endpoint_url: EndPoint is one of uri, fqdn, ipv4Addrs, ipv6Addrs; only uri says the
 * port, the others mean https on 443. */
static char *endpoint_url(const json_t *endpt) {
  const char *uri = json_string_value(json_object_get(endpt, "uri"));
  if (uri)
    return strdup(uri);
  const char *fqdn = json_string_value(json_object_get(endpt, "fqdn"));
  if (fqdn)
    return egw_format("https://%s", fqdn);
  const char *v4 = json_string_value(json_array_get(json_object_get(endpt, "ipv4Addrs"), 0));
  if (v4)
    return egw_format("https://%s", v4);
  const char *v6 = json_string_value(json_array_get(json_object_get(endpt, "ipv6Addrs"), 0));
  if (v6)
    return egw_format("https://[%s]", v6);
  return NULL;
}

/* fill takes id, endpoint and token of one EESInfo or DiscoveredEas. */
static int fill(const char *id, const json_t *endpt, const json_t *token_obj,
                struct egw__eec_grant *out, const char **out_why) {
  egw__eec_grant_cleanup(out);
  out->url = endpoint_url(endpt);
  if (out->url == NULL) {
    *out_why = "the server has no endPt (uri, fqdn, ipv4Addrs or ipv6Addrs)";
    return -1;
  }
  out->id = id ? strdup(id) : NULL;
  const char *token = json_string_value(json_object_get(token_obj, "access_token"));
  out->token = token ? strdup(token) : NULL;
  const json_t *expires = json_object_get(token_obj, "expires_in");
  out->expires_in = json_is_integer(expires) ? (long)json_integer_value(expires) : -1;
  if ((id && out->id == NULL) || (token && out->token == NULL)) {
    egw__eec_grant_cleanup(out);
    *out_why = "out of memory";
    return -1;
  }
  return 0;
}

int egw__eec_pick_ees(const json_t *resp, const char *want_id, struct egw__eec_grant *out,
                      const char **out_why) {
  size_t i, j;
  json_t *edn, *info;
  json_array_foreach(json_object_get(resp, "ednCnfgInfo"), i,
                     edn){json_array_foreach(json_object_get(edn, "eess"), j, info){
      const char *id = json_string_value(json_object_get(info, "eesId"));
  if (want_id && (id == NULL || strcmp(id, want_id) != 0))
    continue;
  return fill(id, json_object_get(info, "endPt"), json_object_get(info, "eesAccessToken"), out,
              out_why);
}
}
*out_why = want_id ? "no EESInfo with the wanted eesId" : "no EESInfo in ednCnfgInfo[].eess";
return -1;
}

int egw__eec_pick_eas(const json_t *resp, const char *want_id, struct egw__eec_grant *out,
                      const char **out_why) {
  size_t i;
  json_t *disc;
  json_array_foreach(json_object_get(resp, "discoveredEas"), i, disc) {
    const json_t *eas = json_object_get(disc, "eas");
    const char *id = json_string_value(json_object_get(eas, "easId"));
    if (want_id && (id == NULL || strcmp(id, want_id) != 0))
      continue;
    return fill(id, json_object_get(eas, "endPt"), json_object_get(disc, "easAccessToken"), out,
                out_why);
  }
  *out_why = want_id ? "no discoveredEas with the wanted easId" : "discoveredEas is empty";
  return -1;
}

char *egw__eec_join(const char *base, const char *path) {
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    n--;
  while (*path == '/')
    path++;
  return egw_format("%.*s/%s", (int)n, base, path);
}

/* origin_len: the length of "https://host:port" in |url|. */
static size_t origin_len(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  return (size_t)(p - url) + strcspn(p, "/?#");
}

char *egw__eec_resolve(const char *request_url, const char *location) {
  if (strncmp(location, "https://", 8) == 0 || strncmp(location, "http://", 7) == 0)
    return strdup(location);
  size_t origin = origin_len(request_url);
  if (location[0] == '/')
    return egw_format("%.*s%s", (int)origin, request_url, location);
  /* A relative path replaces the last segment of the request's path. */
  size_t path_end = origin + strcspn(request_url + origin, "?#");
  size_t dir = path_end;
  while (dir > origin && request_url[dir - 1] != '/')
    dir--;
  if (dir == origin)
    return egw_format("%.*s/%s", (int)origin, request_url, location);
  return egw_format("%.*s%s", (int)dir, request_url, location);
}
