/* site.yaml "sim.ausf", "sim.nef", "sim.aanf", "ecs.ausf", "ecs.nef", "ecs.aanf", and listener
 * tls.psk_source. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

TestSuite(config_sim, .init = fx_init, .fini = fx_fini);

#define PSK_HEAD "listener:\n  interface: E\n  role: ecs\n  listen: 127.0.0.1:8442\n"
#define NONE "  authz:\n    mode: none\n"

Test(config_sim, sim_ausf_defaults_and_values) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", FX_SITE "sim:\n  ausf:\n    subscribers: certs/demo.psk\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_not_null(p->sim_ausf);
  fx_assert_path(p->sim_ausf->subscribers_file, "certs/demo.psk");
  cr_expect_eq(p->sim_ausf->kedge_ttl_s, 3600);
  egw_site_policy_free(p);
  fx_write("site.yaml",
           FX_SITE "sim:\n  ausf:\n    subscribers: certs/demo.psk\n    kedge_ttl_s: 120\n");
  p = fx_load();
  cr_expect_eq(p->sim_ausf->kedge_ttl_s, 120);
  cr_expect_null(p->ecs);
  egw_site_policy_free(p);
}

Test(config_sim, sim_ausf_errors) {
  fx_site_error(FX_SITE "sim:\n  ausf:\n    kedge_ttl_s: 120\n",
                "D/site.yaml:8: sim.ausf.subscribers: required key 'subscribers' missing");
  fx_site_error(FX_SITE "sim:\n  ausf:\n    subscribers: nope\n",
                "D/site.yaml:8: sim.ausf.subscribers: cannot read 'D/nope': No such file or "
                "directory");
  fx_site_error(FX_SITE "sim:\n  smf: {}\n", "D/site.yaml:7: sim.smf: unknown key");
}

Test(config_sim, psk_source_keystore) {
  fx_write("p.yaml", PSK_HEAD "  tls:\n    mode: psk\n    psk_source: keystore\n"
                              "    psk_identity_hint: 3GPP-EDGE\n" NONE);
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->n_listeners, 1);
  cr_expect(p->listeners[0].tls.psk_keystore_only);
  cr_expect_null(p->listeners[0].tls.psk_file);
  egw_site_policy_free(p);
}

Test(config_sim, psk_source_errors) {
  fx_listener_error(PSK_HEAD "  tls:\n    mode: psk\n    psk_source: cloud\n" NONE,
                    "D/l.yaml:7: listener.tls.psk_source: unknown psk_source 'cloud' (expected "
                    "file, keystore)");
  fx_listener_error(
      PSK_HEAD
      "  tls:\n    mode: psk\n    psk_source: keystore\n    psk_file: certs/demo.psk\n" NONE,
      "D/l.yaml:8: listener.tls.psk_file: not allowed with psk_source keystore");
  fx_listener_error(
      PSK_HEAD "  tls:\n    mode: psk\n    psk_source: file\n" NONE,
      "D/l.yaml:6: listener.tls.psk_file: required key 'psk_file' missing (mode psk)");
  fx_listener_error(PSK_HEAD "  tls:\n    mode: server-cert\n    cert: certs/srv.pem\n"
                             "    key: certs/srv.key\n    psk_source: keystore\n" NONE,
                    "D/l.yaml:9: listener.tls.psk_source: not allowed with mode server-cert");
}

#define ECS_SITE                                                                                   \
  FX_SITE "tokens:\n  issuers:\n    - id: ecs1\n      local: true\n"                               \
          "ecs:\n  id: ecs1\n  signing_keys: [{kid: k, key: certs/srv.key}]\n"                     \
          "  clients: [{id: 'DNS:x', scopes: [a], audiences: any}]\n"

Test(config_sim, ecs_ausf_defaults_and_values) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", ECS_SITE "  ausf: {url: 'https://127.0.0.1:9447/'}\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_not_null(p->ecs->ausf);
  cr_expect_str_eq(p->ecs->ausf->url, "https://127.0.0.1:9447");
  cr_expect_eq(p->ecs->ausf->timeout_ms, 2000);
  cr_expect_eq(p->ecs->ausf->negative_ttl_ms, 5000);
  egw_site_policy_free(p);
  fx_write("site.yaml", ECS_SITE "  ausf: {url: 'https://a.example', timeout_ms: 300, "
                                 "negative_ttl_ms: 0}\n");
  p = fx_load();
  cr_expect_eq(p->ecs->ausf->timeout_ms, 300);
  cr_expect_eq(p->ecs->ausf->negative_ttl_ms, 0);
  egw_site_policy_free(p);
}

Test(config_sim, ecs_ausf_errors) {
  fx_site_error(ECS_SITE "  ausf: {timeout_ms: 300}\n",
                "D/site.yaml:14: ecs.ausf.url: required key 'url' missing");
  fx_site_error(ECS_SITE "  ausf: {url: 'http://a.example'}\n",
                "D/site.yaml:14: ecs.ausf.url: 'http://a.example' must be an https:// URL");
  fx_site_error(ECS_SITE "  ausf: {url: 'https://a.example', timeout_ms: 5}\n",
                "D/site.yaml:14: ecs.ausf.timeout_ms: must be between 100 and 60000");
}

Test(config_sim, sim_nef_and_aanf) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", FX_SITE "sim:\n  nef:\n    ausf_url: 'https://127.0.0.1:8447/'\n"
                                "    client: {cert: certs/srv.pem, key: certs/srv.key}\n"
                                "    allowed_af_ids: [af1, af2]\n"
                                "  aanf:\n    subscribers: certs/demo.psk\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_not_null(p->sim_nef);
  cr_expect_str_eq(p->sim_nef->ausf_url, "https://127.0.0.1:8447");
  fx_assert_path(p->sim_nef->client_cert, "certs/srv.pem");
  cr_assert_eq(p->sim_nef->n_allowed_af_ids, 2);
  cr_expect_str_eq(p->sim_nef->allowed_af_ids[1], "af2");
  cr_expect_eq(p->sim_nef->timeout_ms, 2000);
  cr_assert_not_null(p->sim_aanf);
  fx_assert_path(p->sim_aanf->subscribers_file, "certs/demo.psk");
  cr_expect_eq(p->sim_aanf->kaf_ttl_s, 3600);
  egw_site_policy_free(p);
  fx_site_error(FX_SITE "sim:\n  nef:\n    ausf_url: 'https://a.example'\n"
                        "    client: {cert: certs/srv.pem, key: certs/srv.key}\n",
                "D/site.yaml:8: sim.nef.allowed_af_ids: required key 'allowed_af_ids' missing");
  fx_site_error(FX_SITE "sim:\n  aanf:\n    subscribers: certs/demo.psk\n    kaf_ttl_s: 1\n",
                "D/site.yaml:9: sim.aanf.kaf_ttl_s: must be between 60 and 86400");
}

Test(config_sim, ecs_nef_and_aanf) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", ECS_SITE "  nef: {url: 'https://127.0.0.1:9451', af_id: ecs1}\n"
                                 "  aanf: {url: 'https://127.0.0.1:9452', af_fqdn: af.example, "
                                 "timeout_ms: 500}\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_not_null(p->ecs->nef);
  cr_expect_str_eq(p->ecs->nef->af_id, "ecs1");
  cr_expect_eq(p->ecs->nef->timeout_ms, 2000);
  cr_expect_eq(p->ecs->nef->negative_ttl_ms, 5000);
  cr_assert_not_null(p->ecs->aanf);
  cr_expect_str_eq(p->ecs->aanf->af_fqdn, "af.example");
  cr_expect_eq(p->ecs->aanf->timeout_ms, 500);
  egw_site_policy_free(p);
  fx_site_error(ECS_SITE "  nef: {url: 'https://a.example'}\n",
                "D/site.yaml:14: ecs.nef.af_id: required key 'af_id' missing");
  fx_site_error(ECS_SITE "  aanf: {url: 'https://a.example', af_fqdn: 'a:b'}\n",
                "D/site.yaml:14: ecs.aanf.af_fqdn: must be an FQDN of 1 to 255 characters");
}

Test(config_sim, kecs_dnaaa_entitlement) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", ECS_SITE "  kecs: {dnaaa_url: 'https://127.0.0.1:9453/'}\n"
                                 "sim:\n  dnaaa: {msk_file: certs/demo.psk}\n"
                                 "  entitlement: {issuer: 'https://e.example', key: certs/srv.key, "
                                 "kid: e1, audience: ees1}\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_not_null(p->ecs->kecs);
  cr_expect_str_eq(p->ecs->kecs->dnaaa_url, "https://127.0.0.1:9453");
  cr_expect_eq(p->ecs->kecs->timeout_ms, 2000);
  cr_assert_not_null(p->sim_dnaaa);
  cr_expect_eq(p->sim_dnaaa->msk_ttl_s, 3600);
  cr_assert_not_null(p->sim_entitlement);
  cr_expect_str_eq(p->sim_entitlement->kid, "e1");
  cr_expect_eq(p->sim_entitlement->token_ttl_s, 300);
  egw_site_policy_free(p);
  fx_site_error(ECS_SITE "  kecs: {timeout_ms: 300}\n",
                "D/site.yaml:14: ecs.kecs.dnaaa_url: required key 'dnaaa_url' missing");
  fx_site_error(FX_SITE "sim:\n  entitlement: {issuer: x, key: certs/srv.key, kid: k}\n",
                "D/site.yaml:7: sim.entitlement.audience: required key 'audience' missing");
}
