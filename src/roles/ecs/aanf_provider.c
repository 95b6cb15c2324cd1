/* The AAnF key provider (site.yaml ecs.aanf): K_AF for TLS 1.2 with AKMA (TS 24.109 K.3.2:
 * server hint "3GPP-AKMA", client identity "3GPP-AKMA" followed by the A-KID, PSK = K_AF)
 * from the AAnF, POST {url}/naanf-akma/v1/retrieve-applicationkey {"afId", "aKId"} ->
 * 200 {"kaf": hex, "expiry"} (TS 29.535 AkmaAfKeyRequest / AkmaAfKeyData), 404 or 204
 * for an unknown A-KID. Over mutual TLS with ecs.client (roles/ecs/key_call.h).
 *
 * K_AF depends on AF_ID = AF FQDN || Ua* protocol id (TS 33.535 A.4, TS 33.220 Annex H),
 * and for TLS 1.2 the Ua* id names the negotiated cipher suite: the same A-KID gives a
 * different key per suite, so the resolver stores AKMA keys per suite and this provider
 * only claims queries made inside a handshake (cipher_suite set). TS 29.535 types afId
 * as a plain string; the binary Ua* id travels as text, a project choice:
 *   afId = "<af_fqdn>:<10 lowercase hex digits of the Ua* id>"
 * e.g. "af.example.com:010001ccac" for ECDHE-PSK-CHACHA20-POLY1305 (0xCCAC). ':' never
 * occurs in an FQDN, so the AAnF splits it back unambiguously (sim-aanf does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/site.h"
#include "keys/kdf.h"
#include "keys/psk_resolver.h"
#include "roles/ecs/key_call.h"
#include "roles/key_providers.h"
#include "util/errors.h"
#include "util/format.h"

#define AKMA_PREFIX "3GPP-AKMA"

static const struct egw__key_call_spec aanf_spec = {
    .path = "/naanf-akma/v1/retrieve-applicationkey",
    .key_field = "kaf",
    .id_field = "aKId",
    .ok_event = "ecs_kaf_fetched",
    .bad_event = "ecs_kaf_failed",
    .provider = "aanf",
};

struct aanf {
  struct egw__key_client c; /* first: the key_call helpers take it */
  const char *af_fqdn;
};

static int aanf_claims(void *state, const struct egw_psk_query *q) {
  (void)state;
  size_t n = sizeof(AKMA_PREFIX) - 1;
  return q->cipher_suite != 0 && strncmp(q->identity, AKMA_PREFIX, n) == 0 &&
         q->identity[n] != '\0';
}

static int aanf_start(void *state, struct egw_psk_fetch *f, const struct egw_psk_query *q) {
  struct aanf *a = state;
  const char *akid = q->identity + sizeof(AKMA_PREFIX) - 1;
  uint8_t ua[EGW_KDF_UA_ID_LEN];
  egw_kdf_ua_id_tls12(ua, q->cipher_suite);
  char ua_hex[2 * EGW_KDF_UA_ID_LEN + 1];
  for (size_t i = 0; i < EGW_KDF_UA_ID_LEN; i++)
    snprintf(ua_hex + 2 * i, 3, "%02x", ua[i]);
  char *af_id = egw_format("%s:%s", a->af_fqdn, ua_hex);
  if (af_id == NULL)
    return EGW_ERR_NOMEM;
  json_t *body = json_pack("{s:s, s:s}", "afId", af_id, "aKId", akid);
  free(af_id);
  return egw__key_call_start(&a->c, f, akid, body);
}

static void aanf_cancel(void *state, struct egw_psk_fetch *f) {
  (void)state;
  egw__key_call_cancel(f);
}

static int aanf_attach(void *state, struct uv_loop_s *loop) {
  struct aanf *a = state;
  return egw__key_client_attach(&a->c, loop);
}

static void aanf_detach(void *state) {
  struct aanf *a = state;
  egw__key_client_detach(&a->c);
}

static void aanf_dispose(void *state) { free(state); }

static const struct egw_psk_provider_ops aanf_ops = {
    .name = "aanf",
    .claims = aanf_claims,
    .start = aanf_start,
    .cancel = aanf_cancel,
    .attach = aanf_attach,
    .detach = aanf_detach,
    .dispose = aanf_dispose,
};

int egw__key_provider_aanf_add(struct egw_site *site, char **out_err) {
  const struct egw_ecs_policy *ecs = site->policy->ecs;
  if (ecs == NULL || ecs->aanf == NULL)
    return 0;
  const char *why = egw__key_client_check(site);
  if (why != NULL) {
    *out_err = egw_format("%s:%d: ecs.aanf %s", site->policy->site_file, ecs->aanf->line, why);
    return EGW_ERR_POLICY;
  }
  struct aanf *a = calloc(1, sizeof(*a));
  if (a == NULL) {
    *out_err = egw_format("out of memory");
    return EGW_ERR_NOMEM;
  }
  a->c.site = site;
  a->c.spec = &aanf_spec;
  a->c.url = ecs->aanf->url;
  a->c.timeout_ms = ecs->aanf->timeout_ms;
  a->af_fqdn = ecs->aanf->af_fqdn;
  struct egw_psk_provider_limits limits = {
      .timeout_ms = ecs->aanf->timeout_ms,
      .negative_ttl_ms = ecs->aanf->negative_ttl_ms,
  };
  int rc = egw_psk_resolver_add_provider(site->psk, &aanf_ops, a, &limits);
  if (rc != 0) {
    free(a);
    *out_err = egw_format("out of memory");
  }
  return rc;
}
