/* EDGE-6 client: this EES registers at its ECS (TS29558_Eecs_EESRegistration.yaml) when
 * ees.ecs_url is set: POST {ecs_url}/eecs-eesregistration/v1/registrations with
 * EESRegistration {eesProf {eesId, endPt {uri}, easIds, eecRegConf}, expTime}, then PUT
 * of the same resource at half of registration_ttl_s and whenever the set of registered
 * EASes changes. While the ECS cannot be reached it retries with a doubling backoff.
 *
 * The ECS's answer may carry "eecCaCerts" (an extension member: PEM CA certificates
 * that EEC client certificates chain to); they are added to the trust store of the
 * listeners that mount ees-eec (EDGE-1) only, so that EECs of those CAs are accepted
 * there and nowhere else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"
#include "keys/truststore.h"
#include "roles/ees/internal.h"
#include "util/log.h"

#define REG_PATH "/eecs-eesregistration/v1/registrations"
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

static void send_registration(struct egw__ees *e);

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* eas_ids returns the sorted, distinct easIds of the registered EASes, joined by '\n'
 * (malloc'd, "" when none). */
static char *eas_ids(struct egw__ees *e) {
  int64_t now = egw__ees_now_s();
  size_t n = 0, total = 1;
  for (const struct egw_record *r = e->tables[EGW__EES_EAS].head; r; r = r->next)
    n++;
  const char **ids = calloc(n ? n : 1, sizeof(*ids));
  if (ids == NULL)
    return NULL;
  n = 0;
  for (const struct egw_record *r = e->tables[EGW__EES_EAS].head; r; r = r->next) {
    if (egw__record_live(r, now)) {
      ids[n++] = r->owner;
      total += strlen(r->owner) + 1;
    }
  }
  qsort(ids, n, sizeof(*ids), cmp_str);
  char *out = malloc(total);
  if (out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0)
        continue;
      if (k)
        out[k++] = '\n';
      size_t len = strlen(ids[i]);
      memcpy(out + k, ids[i], len);
      k += len;
    }
    out[k] = '\0';
  }
  free(ids);
  return out;
}

static json_t *registration_body(struct egw__ees *e, const char *set) {
  json_t *prof = json_pack("{s:s, s:b}", "eesId", e->policy->id, "eecRegConf", 0);
  if (prof && e->policy->endpoint_uri)
    json_object_set_new(prof, "endPt", json_pack("{s:s}", "uri", e->policy->endpoint_uri));
  if (prof && set[0]) { /* easIds has minItems 1 */
    json_t *ids = json_array();
    for (const char *p = set; ids && *p;) {
      size_t len = strcspn(p, "\n");
      json_array_append_new(ids, json_stringn(p, len));
      p += len;
      if (*p)
        p++;
    }
    json_object_set_new(prof, "easIds", ids);
  }
  int64_t exp_s = egw__ees_now_s() + (int64_t)e->policy->registration_ttl_s;
  return prof ? json_pack("{s:o, s:o}", "eesProf", prof, "expTime", egw__ees_time(exp_s)) : NULL;
}

static void on_timer(uv_timer_t *t) { send_registration(t->data); }

static void arm(struct egw__ees *e, uint64_t ms) {
  if (!e->stopped)
    uv_timer_start(&e->reg.timer, on_timer, ms, 0);
}

static void retry_later(struct egw__ees *e) {
  uint32_t b = e->reg.backoff_ms ? e->reg.backoff_ms * 2 : BACKOFF_MIN_MS;
  e->reg.backoff_ms = b > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b;
  arm(e, e->reg.backoff_ms);
}

/* add_eec_cas takes the PEM certificates of "eecCaCerts" into the trust store of the
 * EDGE-1 listeners only (ees-eec learns_client_cas): an EEC CA must not let its
 * certificates pass on EDGE-3, EDGE-6 or EDGE-9. */
static void add_eec_cas(struct egw__ees *e, const json_t *doc) {
  const json_t *cas = json_object_get(doc, "eecCaCerts");
  struct egw_truststore *trust = egw_site_learned_trust(e->site);
  if (!json_is_array(cas) || trust == NULL)
    return;
  size_t i, added = 0;
  const json_t *pem;
  json_array_foreach(cas, i, pem) {
    char *err = NULL;
    int n = json_is_string(pem) ? egw_truststore_add_pem(trust, json_string_value(pem),
                                                         json_string_length(pem), &err)
                                : -1;
    if (n < 0) {
      struct egw_log_record rec;
      egw_log_begin(&rec, EGW_LOG_WARN, "ees_eec_ca_refused");
      egw_log_int(&rec, "index", (int64_t)i);
      egw_log_str(&rec, "error", err ? err : "not a PEM string");
      egw_log_end(&rec);
      free(err);
      continue;
    }
    added += (size_t)n;
  }
  if (added) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_INFO, "ees_eec_ca_added");
    egw_log_int(&rec, "certificates", (int64_t)added);
    egw_log_end(&rec);
  }
}

/* location reads the Location of a 201: the resource's URL (kept as given when it is
 * absolute https, else under ecs_url) and its last path segment, the registration id.
 * Returns 0, or -1 when there is none. */
static int location(struct egw__ees *e, const struct egw_http_client_response *resp, char **out_url,
                    char **out_id) {
  for (size_t i = 0; i < resp->n_headers; i++) {
    const struct egw_header *h = &resp->headers[i];
    if (h->name_len != 8 || strncmp(h->name, "location", 8) != 0)
      continue;
    size_t end = h->value_len;
    while (end > 0 && h->value[end - 1] == '/')
      end--;
    size_t start = end;
    while (start > 0 && h->value[start - 1] != '/')
      start--;
    if (end == start)
      return -1;
    *out_id = strndup(h->value + start, end - start);
    if (end > 8 && strncmp(h->value, "https://", 8) == 0) {
      *out_url = strndup(h->value, end);
    } else {
      size_t cap = strlen(REG_PATH) + (end - start) + 2;
      char *path = malloc(cap);
      if (path)
        snprintf(path, cap, "%s/%.*s", REG_PATH, (int)(end - start), h->value + start);
      *out_url = path ? egw__ees_url(e->policy->ecs_url, path) : NULL;
      free(path);
    }
    if (*out_id && *out_url)
      return 0;
    free(*out_id);
    free(*out_url);
    return -1;
  }
  return -1;
}

/* renew_in_ms: half of the lifetime the ECS granted (its expTime), else of the TTL asked. */
static uint64_t renew_in_ms(const struct egw__ees *e, const json_t *answer) {
  int64_t exp_s;
  const char *granted = json_string_value(json_object_get(answer, "expTime"));
  int64_t left = (int64_t)e->policy->registration_ttl_s;
  if (granted && egw__roles_datetime_parse(granted, &exp_s) == 0)
    left = exp_s - egw__ees_now_s();
  return left > 2 ? (uint64_t)left * 500 : 1000;
}

static void log_failed(struct egw__ees *e, const struct egw_http_client_response *resp,
                       const char *why) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "ees_registration_failed");
  egw_log_str(&rec, "ecs", e->policy->ecs_url);
  if (resp && resp->status)
    egw_log_int(&rec, "status", resp->status);
  egw_log_str(&rec, "error", why);
  egw_log_int(&rec, "retry_ms", e->reg.backoff_ms);
  egw_log_end(&rec);
}

struct reg_call {
  struct egw__ees *e;
  char *set; /* the EAS set this call sends */
  int create;
};

static void on_answer(void *arg, const struct egw_http_client_response *resp) {
  struct reg_call *rc = arg;
  struct egw__ees *e = rc->e;
  e->reg.call = NULL;
  const char *why = NULL;
  int ok = rc->create ? resp->status == 201 : resp->status == 200 || resp->status == 204;
  if (e->stopped) {
    why = "stopped";
  } else if (!rc->create && resp->status == 404) {
    /* The ECS forgot us (expired, restarted without state): register afresh. */
    free(e->reg.id);
    free(e->reg.url);
    e->reg.id = e->reg.url = NULL;
    arm(e, 0);
    why = "";
  } else if (!ok) {
    why = resp->error ? resp->error : "unexpected status";
  } else if (rc->create) {
    char *url = NULL, *id = NULL;
    if (location(e, resp, &url, &id) != 0) {
      ok = 0;
      why = "the 201 answer has no usable Location";
    } else {
      free(e->reg.id);
      free(e->reg.url);
      e->reg.id = id;
      e->reg.url = url;
    }
  }
  if (ok && why == NULL) {
    json_t *doc =
        resp->body_len ? json_loadb((const char *)resp->body, resp->body_len, 0, NULL) : NULL;
    add_eec_cas(e, doc);
    uint64_t renew_ms = renew_in_ms(e, doc);
    json_decref(doc);
    free(e->reg.eas_set);
    e->reg.eas_set = rc->set;
    rc->set = NULL;
    e->reg.backoff_ms = 0;
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_INFO, "ees_registered");
    egw_log_str(&rec, "ecs", e->policy->ecs_url);
    egw_log_str(&rec, "registration_id", e->reg.id);
    egw_log_bool(&rec, "renewal", !rc->create);
    egw_log_end(&rec);
    arm(e, e->reg.dirty ? 0 : renew_ms);
  } else if (why && why[0] && !e->stopped) {
    retry_later(e);
    log_failed(e, resp, why);
  }
  free(rc->set);
  free(rc);
}

static void send_registration(struct egw__ees *e) {
  if (e->stopped || e->http == NULL || e->policy->ecs_url == NULL)
    return;
  if (e->reg.call) {
    e->reg.dirty = 1;
    return;
  }
  e->reg.dirty = 0;
  uv_timer_stop(&e->reg.timer);
  struct reg_call *rc = calloc(1, sizeof(*rc));
  char *set = eas_ids(e);
  json_t *body = set ? registration_body(e, set) : NULL;
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  char *url = NULL;
  if (rc && text) {
    rc->e = e;
    rc->set = set;
    set = NULL;
    rc->create = e->reg.url == NULL;
    url = rc->create ? egw__ees_url(e->policy->ecs_url, REG_PATH) : strdup(e->reg.url);
  }
  static const struct egw_header accept = {.name = "Accept", .value = "application/json"};
  struct egw_http_client_request req = {
      .method = rc && rc->create ? "POST" : "PUT",
      .url = url,
      .headers = &accept,
      .n_headers = 1,
      .body = text,
      .body_len = text ? strlen(text) : 0,
      .content_type = "application/json",
  };
  if (url == NULL || egw_http_client_request(e->http, &req, on_answer, rc, &e->reg.call) != 0) {
    e->reg.call = NULL;
    if (rc)
      free(rc->set);
    free(rc);
    retry_later(e);
    log_failed(e, NULL, url ? "the request could not be started" : "out of memory");
  }
  free(url);
  free(text);
  free(set);
}

void egw__ees_ecs_reg_start(struct egw__ees *e) { send_registration(e); }

void egw__ees_ecs_reg_stop(struct egw__ees *e) {
  uv_timer_stop(&e->reg.timer);
  uv_close((uv_handle_t *)&e->reg.timer, NULL);
}

void egw__ees_eas_set_changed(struct egw__ees *e) {
  if (!e->started || e->stopped || e->policy->ecs_url == NULL)
    return;
  char *set = eas_ids(e);
  int same = set && e->reg.eas_set && strcmp(set, e->reg.eas_set) == 0;
  free(set);
  if (!same)
    send_registration(e);
}

void egw__ees_ecs_reg_free(struct egw__ees *e) {
  free(e->reg.id);
  free(e->reg.url);
  free(e->reg.eas_set);
}
