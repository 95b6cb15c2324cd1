/* The HTTPS key request shared by the ECS's key providers; see key_call.h. */
#include "roles/ecs/key_call.h"

#include <stdlib.h>
#include <string.h>
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
#include "util/encoding.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define BACKSTOP_MS 1000

/* One key request in flight. */
struct key_fetch {
  struct egw__key_client *c;
  struct egw_psk_fetch *f;
  struct egw_http_call *call;
  int cancelled;
  uint64_t started_ms;
  char id[EGW_PSK_IDENTITY_MAX_LEN + 1];
};

const char *egw__key_client_check(const struct egw_site *site) {
  const struct egw_ecs_policy *ecs = site->policy->ecs;
  if (site->trust == NULL || ecs == NULL || ecs->client_cert == NULL)
    return "needs the site's CA certificates (site.trust.ca) and ecs.client (cert, key): the "
           "key provider is called over mutual TLS";
  return NULL;
}

int egw__key_client_attach(struct egw__key_client *c, struct uv_loop_s *loop) {
  const struct egw_ecs_policy *ecs = c->site->policy->ecs;
  struct egw_http_client_config cfg = {
      .trust = egw_truststore_get0_store(c->site->trust),
      .client_cert_file = ecs->client_cert,
      .client_key_file = ecs->client_key,
      .timeout_ms = c->timeout_ms + BACKSTOP_MS,
      .max_body_bytes = 16 * 1024,
  };
  char *err = NULL;
  c->http = egw_http_client_new(loop, &cfg, &err);
  if (c->http == NULL) {
    egw_log_msg(EGW_LOG_ERROR, "ecs_key_provider_failed", "%s: %s", c->spec->provider,
                err ? err : "out of memory");
    free(err);
    return -1;
  }
  return 0;
}

void egw__key_client_detach(struct egw__key_client *c) {
  struct egw_http_client *h = c->http;
  c->http = NULL;
  egw_http_client_free(h);
}

#define RAW_MAX 64

/* hexkey reads |len| hex digits (2 * |min|..2 * |max| of them) into |out|; returns the
 * byte count or -1. */
static int hexkey(const char *hex, size_t len, size_t min, size_t max, uint8_t *out) {
  if (len % 2 != 0 || len < 2 * min || len > 2 * max)
    return -1;
  for (size_t i = 0; i < len / 2; i++) {
    int hi = egw_hex_digit(hex[2 * i]), lo = egw_hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return (int)(len / 2);
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Hands the key of a 200 answer to the resolver; returns NULL or why the answer is not
 * usable. The expiry is placed on the monotonic clock so that it maps back to the same
 * whole second of wall time (the authentication request's answer shows it). */
static const char *take_key(struct key_fetch *kf, const struct egw_http_client_response *r) {
  if (!egw_http_client_response_is_json(r))
    return "the answer is not application/json";
  json_error_t jerr;
  json_t *doc = r->body ? json_loadb((const char *)r->body, r->body_len, 0, &jerr) : NULL;
  const char *why = NULL;
  uint8_t key[EGW_KDF_LEN], raw[RAW_MAX];
  const struct egw__key_call_spec *spec = kf->c->spec;
  const json_t *k = json_object_get(doc, spec->key_field);
  const char *expiry = json_string_value(json_object_get(doc, "expiry"));
  int64_t exp_s = 0;
  uint64_t now_wall = wall_ms();
  int raw_len = json_is_string(k) ? hexkey(json_string_value(k), json_string_length(k),
                                           EGW_KDF_LEN, spec->derive ? RAW_MAX : EGW_KDF_LEN, raw)
                                  : -1;
  if (raw_len < 0)
    why = spec->derive ? "the key material is not 32 to 64 bytes in hex"
                       : "the key is not 32 bytes in hex";
  else if (spec->derive && spec->derive(kf->c, kf->id, raw, (size_t)raw_len, key) != 0)
    why = "the key material is not usable";
  else if (expiry == NULL || egw__roles_datetime_parse(expiry, &exp_s) != 0)
    why = "expiry is not a date-time";
  else if (exp_s <= 0 || (uint64_t)exp_s * 1000 <= now_wall)
    why = "the key has expired";
  if (why == NULL) {
    if (!spec->derive)
      memcpy(key, raw, EGW_KDF_LEN);
    uint64_t until = egw_token_now_ms() + ((uint64_t)exp_s * 1000 - now_wall);
    egw_psk_fetch_done(kf->f, EGW_PSK_READY, key, sizeof(key), until);
  }
  OPENSSL_cleanse(key, sizeof(key));
  OPENSSL_cleanse(raw, sizeof(raw));
  /* The document held the key as text: wiped before it goes. */
  if (json_is_string(k))
    OPENSSL_cleanse((char *)json_string_value(k), json_string_length(k));
  json_decref(doc);
  return why;
}

static void log_fetch(const struct key_fetch *kf, const char *event, int status,
                      const char *error) {
  struct egw_log_record rec;
  egw_log_begin(&rec, error ? EGW_LOG_WARN : EGW_LOG_INFO, event);
  egw_log_str(&rec, kf->c->spec->id_field, kf->id);
  egw_log_str(&rec, "provider", kf->c->spec->provider);
  if (status)
    egw_log_int(&rec, "status", status);
  if (error)
    egw_log_str(&rec, "error", error);
  egw_log_int(&rec, "ms", (int64_t)(egw_token_now_ms() - kf->started_ms));
  egw_log_end(&rec);
}

static void on_answer(void *arg, const struct egw_http_client_response *r) {
  struct key_fetch *kf = arg;
  kf->call = NULL;
  if (kf->cancelled) { /* the resolver gave up on it (timeout, stop) */
    free(kf);
    return;
  }
  const struct egw__key_call_spec *spec = kf->c->spec;
  const char *why = r->error;
  enum egw_psk_failure failure = EGW_PSK_FAIL_UNREACHABLE;
  if (r->error && strcmp(r->error, "timeout") == 0) {
    failure = EGW_PSK_FAIL_TIMEOUT;
  } else if (r->error && strcmp(r->error, "cancelled") == 0) {
    failure = EGW_PSK_FAIL_STOPPED;
  } else if (r->error) {
    /* unreachable */
  } else if (r->status == 404 || r->status == 204) {
    log_fetch(kf, spec->ok_event, r->status, NULL);
    egw_psk_fetch_done(kf->f, EGW_PSK_UNKNOWN, NULL, 0, 0);
    free(kf);
    return;
  } else if (r->status == 200) {
    why = take_key(kf, r); /* done already when usable */
    if (why == NULL) {
      log_fetch(kf, spec->ok_event, r->status, NULL);
      free(kf);
      return;
    }
    failure = EGW_PSK_FAIL_ERROR;
  } else {
    why = "unexpected status";
    failure = r->status == 504 ? EGW_PSK_FAIL_TIMEOUT : EGW_PSK_FAIL_ERROR;
  }
  log_fetch(kf, spec->bad_event, r->status, why);
  egw_psk_fetch_set_failure(kf->f, failure);
  egw_psk_fetch_done(kf->f, EGW_PSK_UNAVAILABLE, NULL, 0, 0);
  free(kf);
}

int egw__key_call_start(struct egw__key_client *c, struct egw_psk_fetch *f, const char *log_id,
                        json_t *doc) {
  char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (c->http == NULL || strlen(log_id) > EGW_PSK_IDENTITY_MAX_LEN) {
    free(body);
    return EGW_ERR_CLOSED;
  }
  struct key_fetch *kf = calloc(1, sizeof(*kf));
  if (kf == NULL) {
    free(body);
    return EGW_ERR_NOMEM;
  }
  kf->c = c;
  kf->f = f;
  strcpy(kf->id, log_id);
  char *url = egw_format("%s%s", c->url, c->spec->path);
  int rc = EGW_ERR_NOMEM;
  kf->started_ms = egw_token_now_ms();
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
    rc = egw_http_client_request(c->http, &req, on_answer, kf, &kf->call);
  }
  if (rc == 0)
    egw_psk_fetch_set0_data(f, kf);
  free(body);
  free(url);
  if (rc != 0) {
    log_fetch(kf, c->spec->bad_event, 0, egw_strerror(rc));
    free(kf);
  }
  return rc;
}

/* The resolver gave up (timeout, stop): the call's completion fires inside the cancel
 * and only frees the record. */
void egw__key_call_cancel(struct egw_psk_fetch *f) {
  struct key_fetch *kf = egw_psk_fetch_get0_data(f);
  if (kf == NULL)
    return;
  kf->cancelled = 1;
  egw_psk_fetch_set0_data(f, NULL);
  if (kf->call)
    egw_http_call_cancel(kf->call);
  else
    free(kf);
}
