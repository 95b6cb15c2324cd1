/* The AUSF key provider (site.yaml ecs.ausf): fetches Kedge for a Kedge-ID with the key
 * request of the TLS-PSK proposal, POST {url}/nausf-auth/v1/kedge-requests {"kedgeId"}
 * -> 200 {"kedge": hex, "expiry": date-time} or 404 (SPEC-NOTES "Keys for TLS-PSK"),
 * over mutual TLS with ecs.client (roles/ecs/key_call.h does the call). The resolver
 * bounds each fetch with ecs.ausf.timeout_ms. */
#include <stdlib.h>

#include "core/site.h"
#include "keys/psk_resolver.h"
#include "roles/ecs/key_call.h"
#include "roles/key_providers.h"
#include "util/errors.h"
#include "util/format.h"

static const struct egw__key_call_spec ausf_spec = {
    .path = "/nausf-auth/v1/kedge-requests",
    .key_field = "kedge",
    .id_field = "kedgeId",
    .ok_event = "ecs_kedge_fetched",
    .bad_event = "ecs_kedge_failed",
    .provider = "ausf",
};

static int ausf_claims(void *state, const struct egw_psk_query *q) {
  (void)state;
  return egw_key_provider_is_kedge_id(q->identity);
}

static int ausf_start(void *state, struct egw_psk_fetch *f, const struct egw_psk_query *q) {
  return egw__key_call_start(state, f, q->identity, json_pack("{s:s}", "kedgeId", q->identity));
}

static void ausf_cancel(void *state, struct egw_psk_fetch *f) {
  (void)state;
  egw__key_call_cancel(f);
}

static int ausf_attach(void *state, struct uv_loop_s *loop) {
  return egw__key_client_attach(state, loop);
}

static void ausf_detach(void *state) { egw__key_client_detach(state); }

static void ausf_dispose(void *state) { free(state); }

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
  const char *why = egw__key_client_check(site);
  if (why != NULL) {
    *out_err = egw_format("%s:%d: ecs.ausf %s", site->policy->site_file, ecs->ausf->line, why);
    return EGW_ERR_POLICY;
  }
  struct egw__key_client *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    *out_err = egw_format("out of memory");
    return EGW_ERR_NOMEM;
  }
  c->site = site;
  c->spec = &ausf_spec;
  c->url = ecs->ausf->url;
  c->timeout_ms = ecs->ausf->timeout_ms;
  struct egw_psk_provider_limits limits = {
      .timeout_ms = ecs->ausf->timeout_ms,
      .negative_ttl_ms = ecs->ausf->negative_ttl_ms,
  };
  int rc = egw_psk_resolver_add_provider(site->psk, &ausf_ops, c, &limits);
  if (rc != 0) {
    free(c);
    *out_err = egw_format("out of memory");
  }
  return rc;
}
