/* sim-nef: a simulated NEF relaying the ECS's key request to the AUSF (SPEC-NOTES "Keys
 * for TLS-PSK": an ECS outside the MNO domain asks the NEF):
 *   POST /3gpp-edge-key/v1/retrieve {"kedgeId", "afId"}
 *     -> afId not in sim.nef.allowed_af_ids: 403 ProblemDetails (REQUEST_NOT_AUTHORIZED);
 *     -> POST {sim.nef.ausf_url}/nausf-auth/v1/kedge-requests {"kedgeId"} over mutual TLS
 *        with sim.nef.client: 200 -> 200 {"kedge", "expiry"}; 404 -> 404 with the AUSF's
 *        cause; AUSF unreachable or answering nonsense -> 502; no answer within
 *        sim.nef.timeout_ms -> 504.
 * Enabled by site.yaml "sim.nef"; mount it on an mTLS listener whose authorization
 * admits the ECS. For labs and tests. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

#include "core/site.h"
#include "http/client.h"
#include "keys/truststore.h"
#include "roles/api.h"
#include "roles/sim/internal.h"
#include "util/format.h"
#include "util/log.h"

#define ROUTE "/3gpp-edge-key/v1/retrieve"
#define AUSF_PATH "/nausf-auth/v1/kedge-requests"

static const struct egw_route nef_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = ROUTE},
    {.prefix = NULL},
};

struct nef {
  struct egw_site *site;
  const struct egw_sim_nef_policy *policy;
  struct egw_http_client *http; /* from start to stop */
};

/* One relayed request. */
struct relay {
  struct nef *n;
  struct egw_exchange *x; /* NULL once the client left */
  struct egw_http_call *call;
  char *af_id;
};

static int nef_init(struct egw_site *site, void **out_state, char **out_err) {
  const struct egw_sim_nef_policy *p = site->policy->sim_nef;
  if (p == NULL) {
    *out_err = egw_format("the sim-nef module needs \"sim.nef\" (ausf_url, client, "
                          "allowed_af_ids) in %s",
                          site->policy->site_file);
    return -1;
  }
  if (site->trust == NULL) {
    *out_err = egw_format("%s:%d: sim.nef needs the site's CA certificates (site.trust.ca) to "
                          "verify the AUSF",
                          site->policy->site_file, p->line);
    return -1;
  }
  struct nef *n = calloc(1, sizeof(*n));
  if (n == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  n->site = site;
  n->policy = p;
  *out_state = n;
  return 0;
}

static int nef_start(void *state, struct uv_loop_s *loop) {
  struct nef *n = state;
  struct egw_http_client_config cfg = {
      .trust = egw_truststore_get0_store(n->site->trust),
      .client_cert_file = n->policy->client_cert,
      .client_key_file = n->policy->client_key,
      .timeout_ms = n->policy->timeout_ms,
      .max_body_bytes = 16 * 1024,
  };
  char *err = NULL;
  n->http = egw_http_client_new(loop, &cfg, &err);
  if (n->http == NULL) {
    egw_log_msg(EGW_LOG_ERROR, "nef_failed", "%s", err ? err : "out of memory");
    free(err);
    return -1;
  }
  return 0;
}

/* Calls in flight complete as "cancelled" inside the free and are answered 503. */
static void nef_stop(void *state) {
  struct nef *n = state;
  struct egw_http_client *c = n->http;
  n->http = NULL;
  egw_http_client_free(c);
}

static void nef_dispose(void *state) { free(state); }

static void log_relay(const struct relay *r, int status, int ausf_status) {
  struct egw_log_record rec;
  egw_log_begin(&rec, status == 200 ? EGW_LOG_INFO : EGW_LOG_WARN, "nef_key_request");
  egw_log_str(&rec, "afId", r->af_id);
  egw_log_int(&rec, "status", status);
  if (ausf_status)
    egw_log_int(&rec, "ausf_status", ausf_status);
  egw_log_end(&rec);
}

/* The AUSF's answer as the NEF's: the key document rebuilt (only kedge and expiry pass),
 * a 404's cause passed through, everything else 502 / 504. */
static enum egw_handler_result relay_answer(struct relay *r,
                                            const struct egw_http_client_response *resp,
                                            int *out_status) {
  struct egw_exchange *x = r->x;
  if (resp->error) {
    int timeout = strcmp(resp->error, "timeout") == 0;
    int stopping = strcmp(resp->error, "cancelled") == 0;
    *out_status = timeout ? 504 : stopping ? 503 : 502;
    return egw__roles_problem(x, *out_status,
                              timeout    ? "the AUSF did not answer in time"
                              : stopping ? "the server is shutting down"
                                         : "the AUSF cannot be reached",
                              NULL, NULL, 0);
  }
  json_error_t jerr;
  json_t *doc =
      resp->body ? json_loadb((const char *)resp->body, resp->body_len, 0, &jerr) : NULL;
  enum egw_handler_result res;
  const json_t *kedge = json_object_get(doc, "kedge");
  const json_t *expiry = json_object_get(doc, "expiry");
  if (resp->status == 404) {
    const char *cause = json_string_value(json_object_get(doc, "cause"));
    *out_status = 404;
    res = egw__roles_problem(x, 404, "the AUSF has no key for this Kedge-ID",
                             cause ? cause : "KEDGE_ID_NOT_FOUND", NULL, 0);
  } else if (resp->status == 200 && json_is_string(kedge) && json_is_string(expiry)) {
    *out_status = 200;
    res = (enum egw_handler_result)egw__sim_answer_key(
        x, json_pack("{s:O, s:O}", "kedge", kedge, "expiry", expiry));
  } else {
    *out_status = 502;
    res = egw__roles_problem(x, 502, "the AUSF answered with an error", NULL, NULL, 0);
  }
  if (json_is_string(kedge))
    OPENSSL_cleanse((char *)json_string_value(kedge), json_string_length(kedge));
  json_decref(doc);
  return res;
}

static void relay_free(struct relay *r) {
  free(r->af_id);
  free(r);
}

static void on_ausf_answer(void *arg, const struct egw_http_client_response *resp) {
  struct relay *r = arg;
  r->call = NULL;
  if (r->x == NULL) { /* the client left; the call was cancelled for it */
    relay_free(r);
    return;
  }
  struct egw_exchange *x = r->x;
  egw_exchange_set_abort(x, NULL, NULL);
  int status = 0;
  if (relay_answer(r, resp, &status) != EGW_DONE)
    egw_exchange_response(x)->status = 0; /* finish answers 500 */
  log_relay(r, status, resp->error ? 0 : resp->status);
  relay_free(r);
  egw_exchange_finish(x);
}

static void on_client_gone(void *arg) {
  struct relay *r = arg;
  r->x = NULL;
  if (r->call)
    egw_http_call_cancel(r->call); /* completes inside: frees |r| */
  else
    relay_free(r);
}

static const char *member(const json_t *body, const char *name, struct egw_param_errors *errs,
                          const char *pointer) {
  return egw__roles_string_member(body, name, pointer, 255,
                                  "must be a non-empty string (at most 255 bytes)", errs);
}

static int af_allowed(const struct egw_sim_nef_policy *p, const char *af_id) {
  for (size_t i = 0; i < p->n_allowed_af_ids; i++) {
    if (strcmp(p->allowed_af_ids[i], af_id) == 0)
      return 1;
  }
  return 0;
}

static enum egw_handler_result nef_on_request(void *state, struct egw_exchange *x) {
  struct nef *n = state;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, ROUTE) != 0)
    return EGW_DECLINED;
  enum egw_handler_result res;
  json_t *body = egw__roles_read_json(x, "application/json", &res);
  if (body == NULL)
    return res;
  struct egw_param_errors errs = {0};
  const char *kedge_id = member(body, "kedgeId", &errs, "/kedgeId");
  const char *af_id = member(body, "afId", &errs, "/afId");
  json_t *fwd = NULL;
  char *url = NULL, *text = NULL;
  struct relay *r = NULL;
  if (errs.n > 0) {
    res = egw__roles_problem_params(x, "the key request is malformed", &errs);
    goto end;
  }
  if (!af_allowed(n->policy, af_id)) {
    struct relay refused = {.af_id = (char *)af_id};
    log_relay(&refused, 403, 0);
    res = egw__roles_problem(x, 403, "this AF may not retrieve keys", "REQUEST_NOT_AUTHORIZED",
                             NULL, 0);
    goto end;
  }
  if (n->http == NULL) {
    res = egw__roles_problem(x, 503, "the server is shutting down", NULL, NULL, 0);
    goto end;
  }
  res = EGW_FAILED;
  fwd = json_pack("{s:s}", "kedgeId", kedge_id);
  text = fwd ? json_dumps(fwd, JSON_COMPACT) : NULL;
  url = egw_format("%s%s", n->policy->ausf_url, AUSF_PATH);
  r = calloc(1, sizeof(*r));
  if (text == NULL || url == NULL || r == NULL || (r->af_id = strdup(af_id)) == NULL)
    goto end;
  r->n = n;
  r->x = x;
  static const struct egw_header accept = {.name = "Accept", .value = "application/json"};
  struct egw_http_client_request hreq = {
      .method = "POST",
      .url = url,
      .headers = &accept,
      .n_headers = 1,
      .body = text,
      .body_len = strlen(text),
      .content_type = "application/json",
  };
  if (egw_http_client_request(n->http, &hreq, on_ausf_answer, r, &r->call) != 0)
    goto end;
  egw_exchange_set_abort(x, on_client_gone, r);
  r = NULL;
  res = EGW_AGAIN;
end:
  if (r)
    relay_free(r);
  free(url);
  free(text);
  json_decref(fwd);
  json_decref(body);
  return res;
}

const struct egw_role_ops egw_role_sim_nef = {
    .name = "sim-nef",
    .routes = nef_routes,
    .init = nef_init,
    .start = nef_start,
    .on_request = nef_on_request,
    .stop = nef_stop,
    .dispose = nef_dispose,
};
