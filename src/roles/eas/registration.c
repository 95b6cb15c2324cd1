/* The EAS's registration at its EES over EDGE-3 (TS 29.558 Eees_EASRegistration): POST
 * {ees_url}/eees-easregistration/v1/registrations with an EASRegistration over mutual TLS,
 * then PUT to the returned Location at half of the granted lifetime; a failed attempt is
 * retried with a doubling back-off. The EES may be down when the gateway starts: the
 * proxy serves regardless, and the registration follows once the EES answers. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/site.h"
#include "http/client.h"
#include "keys/truststore.h"
#include "roles/eas/internal.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define COLLECTION "/eees-easregistration/v1/registrations"
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000

struct egw__eas_registration {
  uv_timer_t timer; /* the next attempt: renewal or retry */
  const struct egw_eas_policy *policy;
  struct egw_http_client *http;
  char *collection_url;
  char *location; /* our registration's absolute URL; NULL until the EES created it */
  uint32_t backoff_ms;
  int stopping;
};

static uint32_t ttl_s(const struct egw_eas_policy *p) {
  return p->registration_ttl_s ? p->registration_ttl_s : EGW_EAS_DEFAULT_REGISTRATION_TTL_S;
}

/* ---- RFC 3339 date-times (TS 29.122 DateTime) ---------------------------------------- */

static void format_datetime(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (gmtime_r(&tt, &tm) == NULL)
    memset(&tm, 0, sizeof(tm));
  snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* parse_datetime reads "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)"; -1 when it is not. */
static int64_t parse_datetime(const char *s) {
  struct tm tm = {0};
  int n = 0;
  if (sscanf(s, "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
      n == 0)
    return -1;
  const char *rest = s + n;
  if (*rest == '.') {
    rest++;
    while (*rest >= '0' && *rest <= '9')
      rest++;
  }
  int64_t offset = 0;
  if (*rest == 'Z' || *rest == 'z') {
    rest++;
  } else if (*rest == '+' || *rest == '-') {
    int hh, mm, m = 0;
    if (sscanf(rest + 1, "%2d:%2d%n", &hh, &mm, &m) != 2 || m != 5)
      return -1;
    offset = (int64_t)(hh * 3600 + mm * 60) * (*rest == '-' ? -1 : 1);
    rest += 6;
  } else {
    return -1;
  }
  if (*rest != '\0')
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  return t == (time_t)-1 ? -1 : (int64_t)t - offset;
}

/* ---- the EASRegistration body -------------------------------------------------------- */

char *egw__eas_registration_body(const struct egw_eas_policy *p, int64_t now_s) {
  char exp[32];
  format_datetime(now_s + ttl_s(p), exp);
  json_t *prof = json_pack("{s:s, s:{s:s}}", "easId", p->id, "endPt", "uri", p->endpoint_uri);
  if (prof && p->provider && json_object_set_new(prof, "provId", json_string(p->provider)) != 0)
    goto fail;
  if (prof && p->type && json_object_set_new(prof, "type", json_string(p->type)) != 0)
    goto fail;
  json_t *reg = prof ? json_pack("{s:O, s:s}", "easProf", prof, "expTime", exp) : NULL;
  json_decref(prof);
  char *text = reg ? json_dumps(reg, JSON_COMPACT) : NULL;
  json_decref(reg);
  return text;
fail:
  json_decref(prof);
  return NULL;
}

/* ---- attempts ------------------------------------------------------------------------ */

static void attempt(struct egw__eas_registration *r);

static void on_timer(uv_timer_t *t) { attempt(t->data); }

static void failed(struct egw__eas_registration *r, const char *error, int status) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "eas_registration_failed");
  egw_log_str(&rec, "eas_id", r->policy->id);
  egw_log_str(&rec, "ees", r->policy->ees_url);
  egw_log_str(&rec, "error", error);
  if (status)
    egw_log_int(&rec, "status", status);
  egw_log_int(&rec, "retry_in_ms", r->backoff_ms);
  egw_log_end(&rec);
  uv_timer_start(&r->timer, on_timer, r->backoff_ms, 0);
  r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* The lifetime the EES granted: its expTime when it sent one, else the one we asked. */
static int64_t granted_s(const struct egw__eas_registration *r,
                         const struct egw_http_client_response *resp, int64_t now) {
  int64_t lifetime = ttl_s(r->policy);
  json_t *doc = resp->body ? json_loadb((const char *)resp->body, resp->body_len, 0, NULL) : NULL;
  const char *exp = json_string_value(json_object_get(doc, "expTime"));
  int64_t t = exp ? parse_datetime(exp) : -1;
  if (t > now && t - now < lifetime)
    lifetime = t - now;
  json_decref(doc);
  return lifetime;
}

static void registered(struct egw__eas_registration *r, const struct egw_http_client_response *resp,
                       int renewed) {
  int64_t now = (int64_t)time(NULL);
  int64_t lifetime = granted_s(r, resp, now);
  uint64_t renew_ms = (uint64_t)lifetime * 500; /* half of it */
  if (renew_ms < 1000)
    renew_ms = 1000;
  r->backoff_ms = BACKOFF_FIRST_MS;
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "eas_registered");
  egw_log_str(&rec, "eas_id", r->policy->id);
  egw_log_str(&rec, "ees", r->policy->ees_url);
  egw_log_str(&rec, "location", r->location);
  egw_log_bool(&rec, "renewed", renewed);
  egw_log_int(&rec, "lifetime_s", lifetime);
  egw_log_int(&rec, "renew_in_ms", (int64_t)renew_ms);
  egw_log_end(&rec);
  uv_timer_start(&r->timer, on_timer, renew_ms, 0);
}

/* resolve_location makes the Location of a new registration absolute: as sent when it
 * is an https URL, on the EES's origin when it is a path, else below the collection. */
static char *resolve_location(const struct egw__eas_registration *r, const char *loc) {
  if (strncasecmp(loc, "https://", 8) == 0)
    return strdup(loc);
  if (loc[0] == '/') {
    const char *base = r->policy->ees_url;
    size_t origin = 8 + strcspn(base + 8, "/?#");
    return egw_format("%.*s%s", (int)origin, base, loc);
  }
  return egw_format("%s/%s", r->collection_url, loc);
}

static void on_answer(void *arg, const struct egw_http_client_response *resp) {
  struct egw__eas_registration *r = arg;
  if (r->stopping)
    return;
  if (resp->error) {
    failed(r, resp->error, 0);
    return;
  }
  if (r->location) { /* a renewal */
    if (resp->status == 200 || resp->status == 204) {
      registered(r, resp, 1);
      return;
    }
    if (resp->status == 404) { /* the EES forgot us (expired, restarted): register anew */
      free(r->location);
      r->location = NULL;
      attempt(r);
      return;
    }
    failed(r, "unexpected status", resp->status);
    return;
  }
  if (resp->status != 201) {
    failed(r, "unexpected status", resp->status);
    return;
  }
  const char *loc = NULL;
  for (size_t i = 0; i < resp->n_headers && loc == NULL; i++) {
    if (strcmp(resp->headers[i].name, "location") == 0)
      loc = resp->headers[i].value;
  }
  if (loc == NULL || loc[0] == '\0') {
    failed(r, "201 without a Location", resp->status);
    return;
  }
  r->location = resolve_location(r, loc);
  if (r->location == NULL) {
    failed(r, "out of memory", 0);
    return;
  }
  registered(r, resp, 0);
}

static void attempt(struct egw__eas_registration *r) {
  char *body = egw__eas_registration_body(r->policy, (int64_t)time(NULL));
  if (body == NULL) {
    failed(r, "out of memory", 0);
    return;
  }
  static const struct egw_header accept = {.name = "Accept", .value = "application/json"};
  struct egw_http_client_request req = {
      .method = r->location ? "PUT" : "POST",
      .url = r->location ? r->location : r->collection_url,
      .headers = &accept,
      .n_headers = 1,
      .body = body,
      .body_len = strlen(body),
      .content_type = "application/json",
  };
  int rc = egw_http_client_request(r->http, &req, on_answer, r, NULL);
  free(body);
  if (rc != 0)
    failed(r, egw_strerror(rc), 0);
}

/* ---- start and stop ------------------------------------------------------------------ */

static void free_registration(struct egw__eas_registration *r) {
  free(r->collection_url);
  free(r->location);
  free(r);
}

static void on_timer_closed(uv_handle_t *h) { free_registration(h->data); }

struct egw__eas_registration *egw__eas_registration_start(struct eas *eas, uv_loop_t *loop,
                                                          char **out_err) {
  const struct egw_eas_policy *p = eas->policy;
  struct egw__eas_registration *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    *out_err = egw_format("out of memory");
    return NULL;
  }
  r->policy = p;
  r->backoff_ms = BACKOFF_FIRST_MS;
  size_t n = strlen(p->ees_url);
  while (n > 0 && p->ees_url[n - 1] == '/')
    n--;
  r->collection_url = egw_format("%.*s%s", (int)n, p->ees_url, COLLECTION);
  struct egw_http_client_config cfg = {
      .trust = eas->site->trust ? egw_truststore_get0_store(eas->site->trust) : NULL,
      .client_cert_file = p->client_cert,
      .client_key_file = p->client_key,
  };
  r->http = r->collection_url ? egw_http_client_new(loop, &cfg, out_err) : NULL;
  if (r->http == NULL || uv_timer_init(loop, &r->timer) != 0) {
    if (*out_err == NULL)
      *out_err = egw_format("out of memory");
    egw_http_client_free(r->http);
    free_registration(r);
    return NULL;
  }
  r->timer.data = r;
  attempt(r);
  return r;
}

void egw__eas_registration_stop(struct egw__eas_registration *r) {
  if (r == NULL || r->stopping)
    return;
  r->stopping = 1;
  egw_http_client_free(r->http); /* the call in flight completes, cancelled, and is ignored */
  r->http = NULL;
  uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}
