/* The AUSF key provider (site.yaml ecs.ausf): fetches Kedge for a Kedge-ID with the key
 * request of the TLS-PSK proposal, POST {url}/nausf-auth/v1/kedge-requests {"kedgeId"}
 * -> 200 {"kedge": hex, "expiry": date-time} or 404 (SPEC-NOTES "Keys for TLS-PSK"),
 * over mutual TLS with ecs.client, the AUSF verified against site.trust.ca. The
 * resolver bounds each fetch with ecs.ausf.timeout_ms; the HTTP call's own deadline is a
 * little longer, a backstop only, so that a slow AUSF always ends as the resolver's
 * timeout (504 at the authentication request). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/mem.h>

#include "auth/token_verify.h"
#include "core/site.h"
#include "http/client.h"
#include "keys/kdf.h"
#include "keys/keystore.h"
#include "keys/psk_resolver.h"
#include "keys/truststore.h"
#include "roles/api.h"
#include "roles/key_providers.h"
#include "util/encoding.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define AUSF_PATH "/nausf-auth/v1/kedge-requests"
#define BACKSTOP_MS 1000

struct ausf {
  struct egw_site *site;
  const struct egw_ecs_ausf_policy *policy;
  struct egw_http_client *http; /* from attach to detach */
};

/* One key request in flight. */
struct ausf_fetch {
  struct ausf *a;
  struct egw_psk_fetch *f;
  struct egw_http_call *call;
  int cancelled;
  uint64_t started_ms;
  char kedge_id[EGW_PSK_IDENTITY_MAX_LEN + 1];
};

static int ausf_claims(void *state, const struct egw_psk_query *q) {
  return egw_key_provider_is_kedge_id(q->identity);
}

static int ausf_attach(void *state, struct uv_loop_s *loop) {
  struct ausf *a = state;
  const struct egw_ecs_policy *ecs = a->site->policy->ecs;
  struct egw_http_client_config cfg = {
      .trust = egw_truststore_get0_store(a->site->trust),
      .client_cert_file = ecs->client_cert,
      .client_key_file = ecs->client_key,
      .timeout_ms = a->policy->timeout_ms + BACKSTOP_MS,
      .max_body_bytes = 16 * 1024,
  };
  char *err = NULL;
  a->http = egw_http_client_new(loop, &cfg, &err);
  if (a->http == NULL) {
    egw_log_msg(EGW_LOG_ERROR, "ecs_ausf_failed", "%s", err ? err : "out of memory");
    free(err);
    return -1;
  }
  return 0;
}

static void ausf_detach(void *state) {
  struct ausf *a = state;
  struct egw_http_client *c = a->http;
  a->http = NULL;
  egw_http_client_free(c);
}

static void ausf_dispose(void *state) { free(state); }

static int hex32(const char *hex, size_t len, uint8_t out[EGW_KDF_LEN]) {
  if (len != 2 * EGW_KDF_LEN)
    return -1;
  for (size_t i = 0; i < EGW_KDF_LEN; i++) {
    int hi = egw_hex_digit(hex[2 * i]), lo = egw_hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Hands the key of a 200 answer to the resolver; returns NULL or why the answer is not
 * usable. The expiry is placed on the monotonic clock so that it maps back to the same
 * whole second of wall time (the authentication request's answer shows it). */
/* is_json says whether the answer's Content-Type is application/json (parameters
 * allowed): a key is only taken from what the AUSF says is its JSON answer. */
static int is_json(const struct egw_http_client_response *r) {
  static const char type[] = "application/json";
  const size_t tl = sizeof(type) - 1;
  for (size_t i = 0; i < r->n_headers; i++) {
    const struct egw_header *h = &r->headers[i];
    if (h->name_len == 12 && memcmp(h->name, "content-type", 12) == 0)
      return h->value_len >= tl && strncasecmp(h->value, type, tl) == 0 &&
             (h->value_len == tl || h->value[tl] == ';' || h->value[tl] == ' ');
  }
  return 0;
}

static const char *take_key(struct ausf_fetch *af, const struct egw_http_client_response *r) {
  if (!is_json(r))
    return "the answer is not application/json";
  json_error_t jerr;
  json_t *doc = r->body ? json_loadb((const char *)r->body, r->body_len, 0, &jerr) : NULL;
  const char *why = NULL;
  uint8_t key[EGW_KDF_LEN];
  const json_t *kedge = json_object_get(doc, "kedge");
  const char *expiry = json_string_value(json_object_get(doc, "expiry"));
  int64_t exp_s = 0;
  uint64_t now_wall = wall_ms();
  if (!json_is_string(kedge) || hex32(json_string_value(kedge), json_string_length(kedge), key))
    why = "kedge is not 32 bytes in hex";
  else if (expiry == NULL || egw__roles_datetime_parse(expiry, &exp_s) != 0)
    why = "expiry is not a date-time";
  else if (exp_s <= 0 || (uint64_t)exp_s * 1000 <= now_wall)
    why = "the key has expired";
  if (why == NULL) {
    uint64_t until = egw_token_now_ms() + ((uint64_t)exp_s * 1000 - now_wall);
    egw_psk_fetch_done(af->f, EGW_PSK_READY, key, sizeof(key), until);
  }
  OPENSSL_cleanse(key, sizeof(key));
  /* The document held the key as text: wiped before it goes. */
  if (json_is_string(kedge))
    OPENSSL_cleanse((char *)json_string_value(kedge), json_string_length(kedge));
  json_decref(doc);
  return why;
}

static void log_fetch(const struct ausf_fetch *af, const char *event, int status,
                      const char *error) {
  struct egw_log_record rec;
  egw_log_begin(&rec, error ? EGW_LOG_WARN : EGW_LOG_INFO, event);
  egw_log_str(&rec, "kedgeId", af->kedge_id);
  if (status)
    egw_log_int(&rec, "status", status);
  if (error)
    egw_log_str(&rec, "error", error);
  egw_log_int(&rec, "ms", (int64_t)(egw_token_now_ms() - af->started_ms));
  egw_log_end(&rec);
}

static void on_ausf_answer(void *arg, const struct egw_http_client_response *r) {
  struct ausf_fetch *af = arg;
  af->call = NULL;
  if (af->cancelled) { /* the resolver gave up on it (timeout, stop) */
    free(af);
    return;
  }
  const char *why = r->error;
  enum egw_psk_failure failure = EGW_PSK_FAIL_UNREACHABLE;
  if (r->error && strcmp(r->error, "timeout") == 0) {
    failure = EGW_PSK_FAIL_TIMEOUT;
  } else if (r->error && strcmp(r->error, "cancelled") == 0) {
    failure = EGW_PSK_FAIL_STOPPED;
  } else if (r->error) {
    /* unreachable */
  } else if (r->status == 404) {
    log_fetch(af, "ecs_kedge_fetched", r->status, NULL);
    egw_psk_fetch_done(af->f, EGW_PSK_UNKNOWN, NULL, 0, 0);
    free(af);
    return;
  } else if (r->status == 200) {
    why = take_key(af, r); /* done already when usable */
    if (why == NULL) {
      log_fetch(af, "ecs_kedge_fetched", r->status, NULL);
      free(af);
      return;
    }
    failure = EGW_PSK_FAIL_ERROR;
  } else {
    why = "unexpected status";
    failure = EGW_PSK_FAIL_ERROR;
  }
  log_fetch(af, "ecs_kedge_failed", r->status, why);
  egw_psk_fetch_set_failure(af->f, failure);
  egw_psk_fetch_done(af->f, EGW_PSK_UNAVAILABLE, NULL, 0, 0);
  free(af);
}

static int ausf_start(void *state, struct egw_psk_fetch *f, const struct egw_psk_query *q) {
  struct ausf *a = state;
  if (a->http == NULL || strlen(q->identity) > EGW_PSK_IDENTITY_MAX_LEN)
    return EGW_ERR_CLOSED;
  struct ausf_fetch *af = calloc(1, sizeof(*af));
  if (af == NULL)
    return EGW_ERR_NOMEM;
  af->a = a;
  af->f = f;
  strcpy(af->kedge_id, q->identity);
  json_t *doc = json_pack("{s:s}", "kedgeId", q->identity);
  char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  char *url = egw_format("%s%s", a->policy->url, AUSF_PATH);
  int rc = EGW_ERR_NOMEM;
  if (body && url) {
    static const struct egw_header accept = {.name = "Accept", .value = "application/json"};
    struct egw_http_client_request req = {
        .method = "POST",
        .url = url,
        .headers = &accept,
        .n_headers = 1,
        .body = body,
        .body_len = strlen(body),
        .content_type = "application/json",
    };
    af->started_ms = egw_token_now_ms();
    rc = egw_http_client_request(a->http, &req, on_ausf_answer, af, &af->call);
  }
  if (rc == 0)
    egw_psk_fetch_set0_data(f, af);
  free(body);
  free(url);
  if (rc != 0) {
    log_fetch(af, "ecs_kedge_failed", 0, egw_strerror(rc));
    free(af);
  }
  return rc;
}

/* The resolver gave up (timeout, stop): the call's completion fires inside the cancel
 * and only frees the record. */
static void ausf_cancel(void *state, struct egw_psk_fetch *f) {
  struct ausf_fetch *af = egw_psk_fetch_get0_data(f);
  if (af == NULL)
    return;
  af->cancelled = 1;
  egw_psk_fetch_set0_data(f, NULL);
  if (af->call)
    egw_http_call_cancel(af->call);
  else
    free(af);
}

static const struct egw_psk_provider_ops ausf_ops = {
    .name = "ausf",
    .claims = ausf_claims,
    .start = ausf_start,
    .cancel = ausf_cancel,
    .attach = ausf_attach,
    .detach = ausf_detach,
    .dispose = ausf_dispose,
};

int egw__key_provider_ausf_add(struct egw_site *site, char **out_err) {
  const struct egw_ecs_policy *ecs = site->policy->ecs;
  if (ecs == NULL || ecs->ausf == NULL)
    return 0;
  if (site->trust == NULL || ecs->client_cert == NULL) {
    *out_err = egw_format("%s:%d: ecs.ausf needs the site's CA certificates (site.trust.ca) and "
                          "ecs.client (cert, key): the AUSF is called over mutual TLS",
                          site->policy->site_file, ecs->ausf->line);
    return EGW_ERR_POLICY;
  }
  struct ausf *a = calloc(1, sizeof(*a));
  if (a == NULL) {
    *out_err = egw_format("out of memory");
    return EGW_ERR_NOMEM;
  }
  a->site = site;
  a->policy = ecs->ausf;
  struct egw_psk_provider_limits limits = {
      .timeout_ms = ecs->ausf->timeout_ms,
      .negative_ttl_ms = ecs->ausf->negative_ttl_ms,
  };
  int rc = egw_psk_resolver_add_provider(site->psk, &ausf_ops, a, &limits);
  if (rc != 0) {
    free(a);
    *out_err = egw_format("out of memory");
  }
  return rc;
}
