/* The NEF key provider (site.yaml ecs.nef): an ECS outside the MNO domain asks the NEF
 * for Kedge, POST {url}/3gpp-edge-key/v1/retrieve {"kedgeId", "afId": ecs.nef.af_id}
 * -> 200 {"kedge", "expiry"} or 404 (SPEC-NOTES "Keys for TLS-PSK"); the NEF relays to
 * the AUSF. Over mutual TLS with ecs.client (roles/ecs/key_call.h). A NEF refusing the
 * afId (403) or failing to reach the AUSF (502/504) fails the fetch closed.
 * ecs.nef and ecs.ausf both serve Kedge-IDs: a site sets one of them, not both (policy
 * error), so that which peer is asked never depends on an order. */
#include <stdlib.h>

#include "core/site.h"
#include "keys/psk_resolver.h"
#include "roles/ecs/key_call.h"
#include "roles/key_providers.h"
#include "util/errors.h"
#include "util/format.h"

static const struct egw__key_call_spec nef_spec = {
    .path = "/3gpp-edge-key/v1/retrieve",
    .key_field = "kedge",
    .id_field = "kedgeId",
    .ok_event = "ecs_kedge_fetched",
    .bad_event = "ecs_kedge_failed",
    .provider = "nef",
};

struct nef {
  struct egw__key_client c; /* first: the key_call helpers take it */
  const char *af_id;
};

static int nef_claims(void *state, const struct egw_psk_query *q) {
  (void)state;
  return egw_key_provider_is_kedge_id(q->identity);
}

static int nef_start(void *state, struct egw_psk_fetch *f, const struct egw_psk_query *q) {
  struct nef *n = state;
  return egw__key_call_start(&n->c, f, q->identity,
                             json_pack("{s:s, s:s}", "kedgeId", q->identity, "afId", n->af_id));
}

static void nef_cancel(void *state, struct egw_psk_fetch *f) {
  (void)state;
  egw__key_call_cancel(f);
}

static int nef_attach(void *state, struct uv_loop_s *loop) {
  struct nef *n = state;
  return egw__key_client_attach(&n->c, loop);
}

static void nef_detach(void *state) {
  struct nef *n = state;
  egw__key_client_detach(&n->c);
}

static void nef_dispose(void *state) { free(state); }

static const struct egw_psk_provider_ops nef_ops = {
    .name = "nef",
    .claims = nef_claims,
    .start = nef_start,
    .cancel = nef_cancel,
    .attach = nef_attach,
    .detach = nef_detach,
    .dispose = nef_dispose,
};

int egw__key_provider_nef_add(struct egw_site *site, char **out_err) {
  const struct egw_ecs_policy *ecs = site->policy->ecs;
  if (ecs == NULL || ecs->nef == NULL)
    return 0;
  if (ecs->ausf != NULL) {
    *out_err = egw_format("%s:%d: ecs.nef: ecs.ausf (line %d) is set too; both serve Kedge-IDs: "
                          "keep the AUSF inside the MNO domain, the NEF outside, not both",
                          site->policy->site_file, ecs->nef->line, ecs->ausf->line);
    return EGW_ERR_POLICY;
  }
  const char *why = egw__key_client_check(site);
  if (why != NULL) {
    *out_err = egw_format("%s:%d: ecs.nef %s", site->policy->site_file, ecs->nef->line, why);
    return EGW_ERR_POLICY;
  }
  struct nef *n = calloc(1, sizeof(*n));
  if (n == NULL) {
    *out_err = egw_format("out of memory");
    return EGW_ERR_NOMEM;
  }
  n->c.site = site;
  n->c.spec = &nef_spec;
  n->c.url = ecs->nef->url;
  n->c.timeout_ms = ecs->nef->timeout_ms;
  n->af_id = ecs->nef->af_id;
  struct egw_psk_provider_limits limits = {
      .timeout_ms = ecs->nef->timeout_ms,
      .negative_ttl_ms = ecs->nef->negative_ttl_ms,
  };
  int rc = egw_psk_resolver_add_provider(site->psk, &nef_ops, n, &limits);
  if (rc != 0) {
    free(n);
    *out_err = egw_format("out of memory");
  }
  return rc;
}
