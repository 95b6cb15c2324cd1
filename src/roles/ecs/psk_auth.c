/* ecs-psk-auth: the authentication request of the TLS-PSK proposal (SPEC-NOTES "Keys for
 * TLS-PSK"). The EEC posts {eecId, kedgeId} over server-certificate TLS to
 * POST /edgegw-psk/v1/authentications (a project route); the ECS fetches Kedge from the
 * AUSF (ecs.ausf, POST {url}/nausf-auth/v1/kedge-requests over mutual TLS with
 * ecs.client), puts it in the site's key store under the Kedge-ID until its expiry, and
 * answers 200 {eecId, kedgeId, expiry}. The EEC then opens TLS 1.2 PSK (identity =
 * Kedge-ID) to any PSK listener of the site, which finds the key there.
 *
 * One fetch is in flight per Kedge-ID, later requests for it wait on it; unknown ids
 * are remembered for ecs.ausf.negative_ttl_ms; each fetch ends within ecs.ausf.timeout_ms
 * (504). The table is a list: fine for a lab's numbers of identities in flight. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/mem.h>

#include "auth/token_verify.h"
#include "core/site.h"
#include "http/client.h"
#include "keys/kdf.h"
#include "keys/keystore.h"
#include "keys/truststore.h"
#include "roles/api.h"
#include "util/encoding.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define ROUTE "/edgegw-psk/v1/authentications"
#define AUSF_PATH "/nausf-auth/v1/kedge-requests"

static const struct egw_route psk_auth_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = ROUTE},
    {.prefix = NULL},
};

enum entry_state { FETCHING, KNOWN, UNKNOWN };

struct waiter {
  struct entry *e;
  struct egw_exchange *x;
  char *eec_id;
  struct waiter *next;
};

/* What the ECS knows about one Kedge-ID: a fetch in flight (with its waiters), a key in
 * the key store until |until_ms|, or an id the AUSF does not know until |until_ms|. */
struct entry {
  struct psk_auth *pa;
  char *kedge_id;
  enum entry_state state;
  uint64_t until_ms;                 /* KNOWN, UNKNOWN: monotonic ms */
  char expiry[EGW_DATETIME_LEN + 1]; /* KNOWN */
  struct egw_http_call *call;        /* FETCHING */
  struct waiter *waiters;            /* FETCHING */
  uint64_t started_ms;
  struct entry *next;
};

struct psk_auth {
  struct egw_site *site;
  const struct egw_ecs_ausf_policy *ausf;
  struct egw_http_client *http; /* from start to stop */
  struct entry *entries;
};

/* ---- init, start, stop, dispose -------------------------------------------------------- */

static int psk_auth_init(struct egw_site *site, void **out_state, char **out_err) {
  const struct egw_ecs_policy *ecs = site->policy->ecs;
  if (ecs == NULL || ecs->ausf == NULL) {
    *out_err = egw_format("the ecs-psk-auth module needs \"ecs.ausf\" (url) in %s",
                          site->policy->site_file);
    return -1;
  }
  if (site->trust == NULL || ecs->client_cert == NULL) {
    *out_err = egw_format("ecs.ausf needs the site's CA certificates (site.trust.ca) and "
                          "ecs.client (cert, key): the AUSF is called over mutual TLS");
    return -1;
  }
  struct psk_auth *pa = calloc(1, sizeof(*pa));
  if (pa == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  pa->site = site;
  pa->ausf = ecs->ausf;
  *out_state = pa;
  return 0;
}

static int psk_auth_start(void *state, struct uv_loop_s *loop) {
  struct psk_auth *pa = state;
  const struct egw_ecs_policy *ecs = pa->site->policy->ecs;
  struct egw_http_client_config cfg = {
      .trust = egw_truststore_get0_store(pa->site->trust),
      .client_cert_file = ecs->client_cert,
      .client_key_file = ecs->client_key,
      .timeout_ms = pa->ausf->timeout_ms,
      .max_body_bytes = 16 * 1024,
  };
  char *err = NULL;
  pa->http = egw_http_client_new(loop, &cfg, &err);
  if (pa->http == NULL) {
    egw_log_msg(EGW_LOG_ERROR, "ecs_ausf_failed", "%s", err ? err : "out of memory");
    free(err);
    return -1;
  }
  return 0;
}

static void psk_auth_stop(void *state) {
  struct psk_auth *pa = state;
  struct egw_http_client *c = pa->http;
  /* Cleared first: the cancelled fetches answer their waiters from inside the free. */
  pa->http = NULL;
  egw_http_client_free(c);
}

static void entry_free(struct entry *e) {
  free(e->kedge_id);
  free(e);
}

static void psk_auth_dispose(void *state) {
  struct psk_auth *pa = state;
  if (pa == NULL)
    return;
  for (struct entry *e = pa->entries, *next; e != NULL; e = next) {
    next = e->next;
    entry_free(e);
  }
  free(pa);
}

/* ---- the table ------------------------------------------------------------------------- */

static void unlink_entry(struct psk_auth *pa, struct entry *e) {
  for (struct entry **p = &pa->entries; *p != NULL; p = &(*p)->next) {
    if (*p == e) {
      *p = e->next;
      return;
    }
  }
}

/* Drops what has expired; returns the entry for |id|, or NULL. */
static struct entry *lookup(struct psk_auth *pa, const char *id, uint64_t now_ms) {
  struct entry *found = NULL;
  for (struct entry **p = &pa->entries; *p != NULL;) {
    struct entry *e = *p;
    if (e->state != FETCHING && e->until_ms <= now_ms) {
      *p = e->next;
      entry_free(e);
      continue;
    }
    if (strcmp(e->kedge_id, id) == 0)
      found = e;
    p = &e->next;
  }
  return found;
}

/* ---- answers --------------------------------------------------------------------------- */

static enum egw_handler_result answer_ok(struct egw_exchange *x, const char *eec_id,
                                         const struct entry *e) {
  json_t *body =
      json_pack("{s:s, s:s, s:s}", "eecId", eec_id, "kedgeId", e->kedge_id, "expiry", e->expiry);
  if (body == NULL)
    return EGW_FAILED;
  enum egw_handler_result r = egw__roles_answer_json(x, 200, body);
  json_decref(body);
  if (r == EGW_DONE &&
      egw_response_add_header(egw_exchange_response(x), "Cache-Control", "no-store") != 0)
    r = EGW_FAILED;
  return r;
}

static enum egw_handler_result answer_unknown(struct egw_exchange *x) {
  return egw__roles_problem(x, 404, "the AUSF has no key for this Kedge-ID", "KEDGE_ID_NOT_FOUND",
                            NULL, 0);
}

/* How a fetch ended, for the waiters. */
struct outcome {
  int status; /* 200, 404, 502, 503, 504 */
  const char *detail;
  const char *cause;
};

static void answer_waiter(struct waiter *w, const struct outcome *o) {
  struct egw_exchange *x = w->x;
  egw_exchange_set_abort(x, NULL, NULL);
  enum egw_handler_result r;
  if (o->status == 200)
    r = answer_ok(x, w->eec_id, w->e);
  else if (o->status == 404)
    r = answer_unknown(x);
  else
    r = egw__roles_problem(x, o->status, o->detail, o->cause, NULL, 0);
  if (r != EGW_DONE)
    egw_exchange_response(x)->status = 0; /* finish answers 500 */
  egw_exchange_finish(x);
}

/* ---- the AUSF's answer ----------------------------------------------------------------- */

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

/* Stores the key of a 200 answer; returns NULL or why the answer is not usable. */
static const char *take_key(struct entry *e, const struct egw_http_client_response *r,
                            uint64_t now_ms) {
  json_error_t jerr;
  json_t *doc = r->body ? json_loadb((const char *)r->body, r->body_len, 0, &jerr) : NULL;
  const char *why = NULL;
  uint8_t key[EGW_KDF_LEN];
  const json_t *kedge = json_object_get(doc, "kedge");
  const char *expiry = json_string_value(json_object_get(doc, "expiry"));
  int64_t exp_s = 0, now_s = (int64_t)time(NULL);
  if (!json_is_string(kedge) || hex32(json_string_value(kedge), json_string_length(kedge), key))
    why = "kedge is not 32 bytes in hex";
  else if (expiry == NULL || egw__roles_datetime_parse(expiry, &exp_s) != 0)
    why = "expiry is not a date-time";
  else if (exp_s <= now_s)
    why = "the key has expired";
  if (why == NULL) {
    uint64_t until = now_ms + (uint64_t)(exp_s - now_s) * 1000u;
    if (egw_keystore_put(e->pa->site->keys, NULL, e->kedge_id, key, sizeof(key), until) != 0)
      why = "cannot store the key";
    e->until_ms = until;
    egw__roles_datetime_format(exp_s, e->expiry);
  }
  OPENSSL_cleanse(key, sizeof(key));
  /* The document held the key as text: wiped before it goes. */
  if (json_is_string(kedge))
    OPENSSL_cleanse((char *)json_string_value(kedge), json_string_length(kedge));
  json_decref(doc);
  return why;
}

static void log_fetch(const struct entry *e, const char *event, int status, const char *error) {
  struct egw_log_record rec;
  egw_log_begin(&rec, error ? EGW_LOG_WARN : EGW_LOG_INFO, event);
  egw_log_str(&rec, "kedgeId", e->kedge_id);
  if (status)
    egw_log_int(&rec, "status", status);
  if (error)
    egw_log_str(&rec, "error", error);
  egw_log_int(&rec, "ms", (int64_t)(egw_token_now_ms() - e->started_ms));
  egw_log_end(&rec);
}

static void on_ausf_answer(void *arg, const struct egw_http_client_response *r) {
  struct entry *e = arg;
  struct psk_auth *pa = e->pa;
  uint64_t now_ms = egw_token_now_ms();
  struct outcome o = {.status = 502, .detail = "the AUSF answered with an error"};
  const char *why = r->error;
  e->call = NULL;
  if (r->error && strcmp(r->error, "timeout") == 0) {
    o = (struct outcome){.status = 504, .detail = "the AUSF did not answer in time"};
  } else if (r->error && strcmp(r->error, "cancelled") == 0) {
    o = (struct outcome){.status = 503, .detail = "the server is shutting down"};
  } else if (r->error) {
    o.detail = "the AUSF cannot be reached";
  } else if (r->status == 404) {
    o = (struct outcome){.status = 404};
    why = NULL;
  } else if (r->status == 200) {
    why = take_key(e, r, now_ms);
    if (why == NULL)
      o = (struct outcome){.status = 200};
  } else {
    why = "unexpected status";
  }
  log_fetch(e, o.status == 200 || o.status == 404 ? "ecs_kedge_fetched" : "ecs_kedge_failed",
            r->status, why);
  struct waiter *w = e->waiters;
  e->waiters = NULL;
  if (o.status == 200) {
    e->state = KNOWN;
  } else if (o.status == 404 && pa->ausf->negative_ttl_ms > 0) {
    e->state = UNKNOWN;
    e->until_ms = now_ms + pa->ausf->negative_ttl_ms;
  } else {
    unlink_entry(pa, e); /* nothing to remember: freed once the waiters are answered */
    e->state = UNKNOWN;
    e->until_ms = 0;
  }
  while (w != NULL) {
    struct waiter *next = w->next;
    answer_waiter(w, &o);
    free(w->eec_id);
    free(w);
    w = next;
  }
  if (e->until_ms == 0 && e->state == UNKNOWN)
    entry_free(e);
}

static void on_client_gone(void *arg) {
  struct waiter *w = arg;
  for (struct waiter **p = &w->e->waiters; *p != NULL; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      break;
    }
  }
  /* The fetch goes on: its key serves the EEC's next try. */
  free(w->eec_id);
  free(w);
}

static int start_fetch(struct psk_auth *pa, struct entry *e) {
  json_t *doc = json_pack("{s:s}", "kedgeId", e->kedge_id);
  char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  char *url = egw_format("%s%s", pa->ausf->url, AUSF_PATH);
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
    e->started_ms = egw_token_now_ms();
    rc = egw_http_client_request(pa->http, &req, on_ausf_answer, e, &e->call);
  }
  free(body);
  free(url);
  return rc;
}

/* ---- the request ----------------------------------------------------------------------- */

static const char *member(const json_t *body, const char *name, struct egw_param_errors *errs,
                          const char *pointer) {
  const json_t *v = json_object_get(body, name);
  if (v == NULL) {
    egw__roles_param_error(errs, pointer, "missing", "MANDATORY_IE_MISSING");
    return NULL;
  }
  if (!json_is_string(v) || json_string_length(v) == 0 ||
      json_string_length(v) > EGW_PSK_IDENTITY_MAX_LEN ||
      strlen(json_string_value(v)) != json_string_length(v)) {
    egw__roles_param_error(errs, pointer, "must be a non-empty string (at most 128 bytes)",
                           "MANDATORY_IE_INCORRECT");
    return NULL;
  }
  return json_string_value(v);
}

static enum egw_handler_result psk_auth_on_request(void *state, struct egw_exchange *x) {
  struct psk_auth *pa = state;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, ROUTE) != 0)
    return EGW_DECLINED;
  enum egw_handler_result res;
  json_t *body = egw__roles_read_json(x, "application/json", &res);
  if (body == NULL)
    return res;
  struct egw_param_errors errs = {0};
  const char *eec_id = member(body, "eecId", &errs, "/eecId");
  const char *kedge_id = member(body, "kedgeId", &errs, "/kedgeId");
  if (errs.n > 0) {
    res = egw__roles_problem_params(x, "the authentication request is malformed", &errs);
    goto end;
  }
  uint64_t now_ms = egw_token_now_ms();
  struct entry *e = lookup(pa, kedge_id, now_ms);
  if (e && e->state == KNOWN) {
    res = answer_ok(x, eec_id, e);
    goto end;
  }
  if (e && e->state == UNKNOWN) {
    res = answer_unknown(x);
    goto end;
  }
  if (pa->http == NULL) {
    res = egw__roles_problem(x, 503, "the server is shutting down", NULL, NULL, 0);
    goto end;
  }
  struct waiter *w = calloc(1, sizeof(*w));
  if (w == NULL || (w->eec_id = strdup(eec_id)) == NULL) {
    free(w);
    res = EGW_FAILED;
    goto end;
  }
  if (e == NULL) {
    e = calloc(1, sizeof(*e));
    if (e == NULL || (e->kedge_id = strdup(kedge_id)) == NULL) {
      free(e);
      free(w->eec_id);
      free(w);
      res = EGW_FAILED;
      goto end;
    }
    e->pa = pa;
    e->state = FETCHING;
    int rc = start_fetch(pa, e);
    if (rc != 0) {
      egw_log_msg(EGW_LOG_WARN, "ecs_kedge_failed", "%s", egw_strerror(rc));
      entry_free(e);
      free(w->eec_id);
      free(w);
      res = egw__roles_problem(x, 502, "the AUSF cannot be reached", NULL, NULL, 0);
      goto end;
    }
    e->next = pa->entries;
    pa->entries = e;
  }
  w->e = e;
  w->x = x;
  w->next = e->waiters;
  e->waiters = w;
  egw_exchange_set_abort(x, on_client_gone, w);
  res = EGW_AGAIN;
end:
  json_decref(body);
  return res;
}

const struct egw_role_ops egw_role_ecs_psk_auth = {
    .name = "ecs-psk-auth",
    .routes = psk_auth_routes,
    .init = psk_auth_init,
    .start = psk_auth_start,
    .on_request = psk_auth_on_request,
    .stop = psk_auth_stop,
    .dispose = psk_auth_dispose,
};
