/* KECS-PSK (TR 33.839 solution 4; SPEC-NOTES "Keys for TLS-PSK"), site.yaml ecs.kecs:
 *
 *   ecs-kecs (module)  POST /edgegw-psk/v1/kecs-counters {"eecId"} over mutual TLS: an EEC
 *                      whose certificate identity is that eecId (it proved it, as at
 *                      provisioning) gets 201 {"eecId", "ecsId", "kecsCounter",
 *                      "pskIdentity"}; any other caller 403. The counter is the keying
 *                      material: the EEC derives KECS-PSK = KDF(MSK, 0xE2, ecsId, counter)
 *                      from the MSK of its secondary authentication.
 *   kecs (provider)    claims identities "kecs:<eecId>:<counter>" whose counter this ECS
 *                      issued to that eecId (others are unknown at once, no fetch), fetches
 *                      the MSK from the DN-AAA, POST {dnaaa_url}/dnaaa/v1/msk-requests
 *                      {"eecId"} -> {"msk": hex, "expiry"} over mutual TLS with ecs.client,
 *                      and stores KECS-PSK under the identity.
 *
 * The counter rides on a project route rather than in the ECSServProvResp: that answer
 * belongs to ecs-provisioning. Issued counters live in memory (a site-wide ring of the
 * last EGW_KECS_ISSUED_MAX, shared by the module and the provider); they start at a random
 * value so that a restart does not hand out the same counters (and keys) again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "auth/token_verify.h"
#include "core/site.h"
#include "keys/kdf.h"
#include "keys/psk_resolver.h"
#include "roles/api.h"
#include "roles/ecs/edge.h"
#include "roles/ecs/key_call.h"
#include "roles/key_providers.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define ROUTE "/edgegw-psk/v1/kecs-counters"
#define PREFIX "kecs:"
#define SHARED_NAME "ecs.kecs_counters"
#define EGW_KECS_ISSUED_MAX 8192
#define EEC_ID_MAX 96 /* "kecs:" + eecId + ":" + 10 digits fits a PSK identity (128) */

struct issued {
  char eec_id[EEC_ID_MAX + 1];
  uint32_t counter;
  int64_t expires_s; /* the counter is valid as long as the provisioning it came with */
};

/* The counters issued so far (a ring: the oldest are forgotten first). */
struct egw__kecs_counters {
  struct issued items[EGW_KECS_ISSUED_MAX];
  size_t n, next;
  uint32_t last;
};

static void *counters_new(struct egw_site *site, char **out_err) {
  (void)site;
  struct egw__kecs_counters *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    *out_err = egw_format("out of memory");
    return NULL;
  }
  if (!RAND_bytes((uint8_t *)&c->last, sizeof(c->last))) {
    free(c);
    *out_err = egw_format("no randomness for the KECS counters");
    return NULL;
  }
  c->last &= 0x3fffffff; /* room to count up */
  return c;
}

static struct egw__kecs_counters *counters_get(struct egw_site *site, char **out_err) {
  return egw_site_shared(site, SHARED_NAME, counters_new, free, out_err);
}

static uint32_t counters_issue(struct egw__kecs_counters *c, const char *eec_id, int64_t expires_s) {
  struct issued *it = &c->items[c->next];
  c->next = (c->next + 1) % EGW_KECS_ISSUED_MAX;
  if (c->n < EGW_KECS_ISSUED_MAX)
    c->n++;
  if (++c->last == 0)
    c->last = 1;
  snprintf(it->eec_id, sizeof(it->eec_id), "%s", eec_id);
  it->counter = c->last;
  it->expires_s = expires_s;
  return c->last;
}

static int counters_has(const struct egw__kecs_counters *c, const char *eec_id, size_t eec_len,
                        uint32_t counter, int64_t now_s) {
  for (size_t i = 0; i < c->n; i++) {
    const struct issued *it = &c->items[i];
    if (it->counter == counter && it->expires_s > now_s && strlen(it->eec_id) == eec_len &&
        memcmp(it->eec_id, eec_id, eec_len) == 0)
      return 1;
  }
  return 0;
}

/* parse_identity splits "kecs:<eecId>:<counter>" (the eecId may hold ':'; the counter is
 * after the last one). Returns 0 or -1. */
static int parse_identity(const char *id, const char **eec, size_t *eec_len, uint32_t *counter) {
  if (strncmp(id, PREFIX, sizeof(PREFIX) - 1) != 0)
    return -1;
  const char *e = id + sizeof(PREFIX) - 1, *colon = strrchr(e, ':');
  if (colon == NULL || colon == e || colon[1] == '\0' || strlen(colon + 1) > 10)
    return -1;
  uint64_t v = 0;
  for (const char *p = colon + 1; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v == 0 || v > UINT32_MAX)
    return -1;
  *eec = e;
  *eec_len = (size_t)(colon - e);
  *counter = (uint32_t)v;
  return 0;
}

/* ---- the provider ---------------------------------------------------------------------- */

struct kecs {
  struct egw__key_client c; /* first: the key_call helpers take it */
  struct egw__kecs_counters *counters;
};

static int kecs_derive(const struct egw__key_client *c, const char *id, const uint8_t *raw,
                       size_t raw_len, uint8_t out[32]) {
  const char *eec;
  size_t eec_len;
  uint32_t counter;
  if (parse_identity(id, &eec, &eec_len, &counter) != 0)
    return -1;
  return egw_kdf_kecs_psk(out, raw, raw_len, c->site->policy->ecs->id, counter) ? 0 : -1;
}

static const struct egw__key_call_spec kecs_spec = {
    .path = "/dnaaa/v1/msk-requests",
    .key_field = "msk",
    .id_field = "pskIdentity",
    .ok_event = "ecs_msk_fetched",
    .bad_event = "ecs_msk_failed",
    .provider = "kecs",
    .derive = kecs_derive,
};

static int kecs_claims(void *state, const struct egw_psk_query *q) {
  struct kecs *k = state;
  const char *eec;
  size_t eec_len;
  uint32_t counter;
  return parse_identity(q->identity, &eec, &eec_len, &counter) == 0 &&
         counters_has(k->counters, eec, eec_len, counter, egw_token_now_s());
}

static int kecs_start(void *state, struct egw_psk_fetch *f, const struct egw_psk_query *q) {
  struct kecs *k = state;
  const char *eec;
  size_t eec_len;
  uint32_t counter;
  if (parse_identity(q->identity, &eec, &eec_len, &counter) != 0)
    return EGW_ERR_CLOSED;
  return egw__key_call_start(&k->c, f, q->identity,
                             json_pack("{s:s#}", "eecId", eec, (int)eec_len));
}

static void kecs_cancel(void *state, struct egw_psk_fetch *f) {
  (void)state;
  egw__key_call_cancel(f);
}

static int kecs_attach(void *state, struct uv_loop_s *loop) {
  struct kecs *k = state;
  return egw__key_client_attach(&k->c, loop);
}

static void kecs_detach(void *state) {
  struct kecs *k = state;
  egw__key_client_detach(&k->c);
}

static void kecs_dispose(void *state) { free(state); }

static const struct egw_psk_provider_ops kecs_ops = {
    .name = "kecs",
    .claims = kecs_claims,
    .start = kecs_start,
    .cancel = kecs_cancel,
    .attach = kecs_attach,
    .detach = kecs_detach,
    .dispose = kecs_dispose,
};

int egw__key_provider_kecs_add(struct egw_site *site, char **out_err) {
  const struct egw_ecs_policy *ecs = site->policy->ecs;
  if (ecs == NULL || ecs->kecs == NULL)
    return 0;
  const char *why = egw__key_client_check(site);
  if (why != NULL) {
    *out_err = egw_format("%s:%d: ecs.kecs %s", site->policy->site_file, ecs->kecs->line, why);
    return EGW_ERR_POLICY;
  }
  struct egw__kecs_counters *counters = counters_get(site, out_err);
  if (counters == NULL)
    return EGW_ERR_NOMEM;
  struct kecs *k = calloc(1, sizeof(*k));
  if (k == NULL) {
    *out_err = egw_format("out of memory");
    return EGW_ERR_NOMEM;
  }
  k->c.site = site;
  k->c.spec = &kecs_spec;
  k->c.url = ecs->kecs->dnaaa_url;
  k->c.timeout_ms = ecs->kecs->timeout_ms;
  k->counters = counters;
  struct egw_psk_provider_limits limits = {
      .timeout_ms = ecs->kecs->timeout_ms,
      .negative_ttl_ms = ecs->kecs->negative_ttl_ms,
  };
  int rc = egw_psk_resolver_add_provider(site->psk, &kecs_ops, k, &limits);
  if (rc != 0) {
    free(k);
    *out_err = egw_format("out of memory");
  }
  return rc;
}

struct egw__kecs_counters *egw__ecs_kecs_counters(struct egw_site *site, char **out_err) {
  return counters_get(site, out_err);
}

int egw__ecs_kecs_issue(struct egw__kecs_counters *c, const struct egw_ecs_policy *ecs,
                        const char *eec_id, uint32_t *out_counter) {
  if (strlen(eec_id) > EEC_ID_MAX)
    return -1;
  *out_counter = counters_issue(c, eec_id, egw_token_now_s() + egw__ecs_lifetime_s(ecs));
  return 0;
}

/* ---- the module: counters for EECs that proved their eecId ---------------------------- */

static const struct egw_route kecs_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = ROUTE},
    {.prefix = NULL},
};

struct kecs_module {
  struct egw_site *site;
  struct egw__kecs_counters *counters;
};

static int kecs_init(struct egw_site *site, void **out_state, char **out_err) {
  if (site->policy->ecs == NULL || site->policy->ecs->kecs == NULL) {
    *out_err = egw_format("the ecs-kecs module needs \"ecs.kecs\" (dnaaa_url) in %s",
                          site->policy->site_file);
    return -1;
  }
  struct kecs_module *m = calloc(1, sizeof(*m));
  if (m == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  m->site = site;
  m->counters = counters_get(site, out_err);
  if (m->counters == NULL) {
    free(m);
    return -1;
  }
  *out_state = m;
  return 0;
}

static void kecs_module_dispose(void *state) { free(state); }

static enum egw_handler_result kecs_on_request(void *state, struct egw_exchange *x) {
  struct kecs_module *m = state;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, ROUTE) != 0)
    return EGW_DECLINED;
  enum egw_handler_result res;
  json_t *body = egw__roles_read_json(x, "application/json", &res);
  if (body == NULL)
    return res;
  const json_t *v = json_object_get(body, "eecId");
  const char *eec_id = json_string_value(v);
  const struct egw_peer *peer = req->peer;
  json_t *answer = NULL;
  int status = 201;
  if (eec_id == NULL || json_string_length(v) == 0 || json_string_length(v) > EEC_ID_MAX ||
      strlen(eec_id) != json_string_length(v)) {
    status = 400;
    res = egw__roles_problem(x, 400, "eecId must be a string of 1 to 96 bytes",
                             eec_id ? "MANDATORY_IE_INCORRECT" : "MANDATORY_IE_MISSING", NULL, 0);
  } else if (peer == NULL || peer->id == NULL || peer->kind == EGW_PEER_PSK ||
             !peer->has_cert_sha256 || strcmp(peer->id, eec_id) != 0) {
    /* Only an EEC that proved this eecId with its certificate gets keying material. */
    status = 403;
    res = egw__roles_problem(x, 403, "the client certificate does not prove this eecId",
                             "REQUEST_NOT_AUTHORIZED", NULL, 0);
  } else {
    uint32_t counter = counters_issue(m->counters, eec_id,
                                      egw_token_now_s() +
                                          egw__ecs_lifetime_s(m->site->policy->ecs));
    char *identity = egw_format(PREFIX "%s:%u", eec_id, counter);
    answer = identity ? json_pack("{s:s, s:s, s:I, s:s}", "eecId", eec_id, "ecsId",
                                  m->site->policy->ecs->id, "kecsCounter", (json_int_t)counter,
                                  "pskIdentity", identity)
                      : NULL;
    free(identity);
    res = answer ? egw__roles_answer_json(x, 201, answer) : EGW_FAILED;
  }
  struct egw_log_record rec;
  egw_log_begin(&rec, status == 201 ? EGW_LOG_INFO : EGW_LOG_WARN, "ecs_kecs_counter");
  if (eec_id)
    egw_log_str(&rec, "eecId", eec_id);
  egw_log_int(&rec, "status", status);
  egw_log_end(&rec);
  json_decref(answer);
  json_decref(body);
  return res;
}

const struct egw_role_ops egw_role_ecs_kecs = {
    .name = "ecs-kecs",
    .routes = kecs_routes,
    .init = kecs_init,
    .on_request = kecs_on_request,
    .dispose = kecs_module_dispose,
};
