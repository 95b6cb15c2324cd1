/* ecs-psk-auth: the authentication request of the TLS-PSK proposal (SPEC-NOTES "Keys for
 * TLS-PSK"). The EEC posts {eecId, kedgeId} over server-certificate TLS to
 * POST /edgegw-psk/v1/authentications (a project route); the ECS asks the site's PSK
 * resolver (keys/psk_resolver.h) for the key of that Kedge-ID, which fetches it from the
 * provider that serves Kedge-IDs (the AUSF of ecs.ausf, or the NEF) into the key store,
 * and answers 200 {eecId, kedgeId, expiry}. The EEC then opens TLS 1.2 PSK (identity =
 * Kedge-ID) to any PSK listener of the site, which finds the key there.
 *
 * The resolver does the rest: one fetch per Kedge-ID (later requests wait on it), unknown
 * ids remembered for the provider's negative TTL (404), each fetch bounded by the
 * provider's timeout (504); a provider that cannot be reached or answers nonsense is 502. */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/token_verify.h"
#include "core/site.h"
#include "keys/keystore.h"
#include "keys/psk_resolver.h"
#include "roles/api.h"
#include "util/format.h"

#define ROUTE "/edgegw-psk/v1/authentications"

static const struct egw_route psk_auth_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = ROUTE},
    {.prefix = NULL},
};

struct psk_auth {
  struct egw_site *site;
};

/* One request waiting on the resolver. */
struct waiter {
  struct psk_auth *pa;
  struct egw_exchange *x;
  struct egw_psk_wait *wait;
  char *eec_id;
  char *kedge_id;
};

/* The site refuses a listener mounting this module without a provider for Kedge-IDs
 * (roles/key_providers.c). */
static int psk_auth_init(struct egw_site *site, void **out_state, char **out_err) {
  struct psk_auth *pa = calloc(1, sizeof(*pa));
  if (pa == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  pa->site = site;
  *out_state = pa;
  return 0;
}

static void psk_auth_dispose(void *state) { free(state); }

/* ---- answers --------------------------------------------------------------------------- */

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static enum egw_handler_result answer_ok(struct psk_auth *pa, struct egw_exchange *x,
                                         const char *eec_id, const char *kedge_id) {
  uint64_t now = egw_token_now_ms(), exp_ms = 0;
  if (!egw_keystore_get_expiry(pa->site->keys, NULL, kedge_id, now, &exp_ms))
    return egw__roles_problem(x, 502, "the key expired as it arrived", NULL, NULL, 0);
  json_t *body = json_pack("{s:s, s:s}", "eecId", eec_id, "kedgeId", kedge_id);
  if (body && exp_ms != 0) {
    /* The provider placed the expiry on a whole second of wall time: rounded, the same
     * second comes back on every answer. */
    int64_t exp_s = (int64_t)((wall_ms() + (exp_ms - now) + 500) / 1000);
    char expiry[EGW_DATETIME_LEN + 1];
    egw__roles_datetime_format(exp_s, expiry);
    json_object_set_new(body, "expiry", json_string(expiry));
  }
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

/* answer_unavailable maps why the resolver failed to a status: 504 timeout, 503 stopping
 * or full, 502 for a provider that cannot be reached or answered badly. */
static enum egw_handler_result answer_unavailable(struct psk_auth *pa, struct egw_exchange *x) {
  const char *provider = NULL;
  enum egw_psk_failure why = egw_psk_resolver_failure(pa->site->psk, &provider);
  char peer[16] = "key provider";
  if (provider) {
    size_t i = 0;
    for (; provider[i] && i + 1 < sizeof(peer); i++)
      peer[i] = (char)toupper((unsigned char)provider[i]);
    peer[i] = '\0';
  }
  char detail[64];
  switch (why) {
  case EGW_PSK_FAIL_NO_PROVIDER:
    return answer_unknown(x);
  case EGW_PSK_FAIL_TIMEOUT:
    snprintf(detail, sizeof(detail), "the %s did not answer in time", peer);
    return egw__roles_problem(x, 504, detail, NULL, NULL, 0);
  case EGW_PSK_FAIL_STOPPED:
    return egw__roles_problem(x, 503, "the server is shutting down", NULL, NULL, 0);
  case EGW_PSK_FAIL_FULL:
    return egw__roles_problem(x, 503, "too many key requests in flight", NULL, NULL, 0);
  case EGW_PSK_FAIL_UNREACHABLE:
    snprintf(detail, sizeof(detail), "the %s cannot be reached", peer);
    return egw__roles_problem(x, 502, detail, NULL, NULL, 0);
  case EGW_PSK_FAIL_NONE:
  case EGW_PSK_FAIL_ERROR:
    break;
  }
  snprintf(detail, sizeof(detail), "the %s answered with an error", peer);
  return egw__roles_problem(x, 502, detail, NULL, NULL, 0);
}

static enum egw_handler_result answer(struct psk_auth *pa, struct egw_exchange *x,
                                      enum egw_psk_result r, const char *eec_id,
                                      const char *kedge_id) {
  switch (r) {
  case EGW_PSK_READY:
    return answer_ok(pa, x, eec_id, kedge_id);
  case EGW_PSK_UNKNOWN:
    return answer_unknown(x);
  case EGW_PSK_UNAVAILABLE:
    break;
  }
  return answer_unavailable(pa, x);
}

static void waiter_free(struct waiter *w) {
  free(w->eec_id);
  free(w->kedge_id);
  free(w);
}

static void on_resolved(void *arg, enum egw_psk_result r) {
  struct waiter *w = arg;
  struct egw_exchange *x = w->x;
  egw_exchange_set_abort(x, NULL, NULL);
  if (answer(w->pa, x, r, w->eec_id, w->kedge_id) != EGW_DONE)
    egw_exchange_response(x)->status = 0; /* finish answers 500 */
  waiter_free(w);
  egw_exchange_finish(x);
}

static void on_client_gone(void *arg) {
  struct waiter *w = arg;
  /* The fetch goes on: its key serves the EEC's next try. */
  egw_psk_wait_cancel(w->wait);
  waiter_free(w);
}

/* ---- the request ----------------------------------------------------------------------- */

static const char *member(const json_t *body, const char *name, struct egw_param_errors *errs,
                          const char *pointer) {
  return egw__roles_string_member(body, name, pointer, EGW_PSK_IDENTITY_MAX_LEN,
                                  "must be a non-empty string (at most 128 bytes)", errs);
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
  struct waiter *w = calloc(1, sizeof(*w));
  if (w == NULL || (w->eec_id = strdup(eec_id)) == NULL ||
      (w->kedge_id = strdup(kedge_id)) == NULL) {
    if (w)
      waiter_free(w);
    res = EGW_FAILED;
    goto end;
  }
  w->pa = pa;
  w->x = x;
  struct egw_psk_query q = {.identity = kedge_id};
  int r = egw_psk_resolve(pa->site->psk, &q, on_resolved, w, &w->wait);
  if (r >= 0) {
    res = answer(pa, x, (enum egw_psk_result)r, eec_id, kedge_id);
    waiter_free(w);
    goto end;
  }
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
    .on_request = psk_auth_on_request,
    .dispose = psk_auth_dispose,
};
