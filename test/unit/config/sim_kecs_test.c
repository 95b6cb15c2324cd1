/* site.yaml "ecs.kecs" (KECS-PSK provider, ecs-kecs) and "sim.dnaaa" (sim-dnaaa). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

TestSuite(config_kecs, .init = fx_init, .fini = fx_fini);

/* ecs: on line 10, its keys from line 11; "kecs" is the 14th line. */
#define KECS_SITE                                                                                  \
  FX_SITE "tokens:\n  issuers:\n    - id: ecs1\n      local: true\n"                               \
          "ecs:\n  id: ecs1\n  signing_keys: [{kid: k, key: certs/srv.key}]\n"                     \
          "  clients: [{id: 'DNS:x', scopes: [a], audiences: any}]\n"

Test(config_kecs, ecs_kecs_defaults_and_values) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", KECS_SITE "  kecs: {dnaaa_url: 'https://127.0.0.1:8453/'}\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_not_null(p->ecs->kecs);
  cr_expect_str_eq(p->ecs->kecs->dnaaa_url, "https://127.0.0.1:8453");
  cr_expect_eq(p->ecs->kecs->timeout_ms, 2000);
  cr_expect_eq(p->ecs->kecs->negative_ttl_ms, 5000);
  cr_expect_eq(p->ecs->kecs->line, 14);
  egw_site_policy_free(p);
  fx_write("site.yaml", KECS_SITE "  kecs: {dnaaa_url: 'https://[::1]:9', timeout_ms: 150, "
                                  "negative_ttl_ms: 0}\n");
  p = fx_load();
  cr_expect_str_eq(p->ecs->kecs->dnaaa_url, "https://[::1]:9");
  cr_expect_eq(p->ecs->kecs->timeout_ms, 150);
  cr_expect_eq(p->ecs->kecs->negative_ttl_ms, 0);
  egw_site_policy_free(p);
}

Test(config_kecs, ecs_kecs_errors) {
  fx_site_error(KECS_SITE "  kecs: {timeout_ms: 500}\n",
                "D/site.yaml:14: ecs.kecs.dnaaa_url: required key 'dnaaa_url' missing");
  fx_site_error(KECS_SITE "  kecs: {dnaaa_url: 'https://a.example', timeout_ms: 50}\n",
                "D/site.yaml:14: ecs.kecs.timeout_ms: must be between 100 and 60000");
  char *err;
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", KECS_SITE "  kecs: {dnaaa_url: 'http://a.example'}\n");
  err = fx_error();
  cr_expect(strncmp(err, "D/site.yaml:14: ecs.kecs.dnaaa_url: ", 36) == 0, "%s", err);
  free(err);
}

Test(config_kecs, sim_dnaaa) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", FX_SITE "sim:\n  dnaaa:\n    msk_file: certs/demo.psk\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_not_null(p->sim_dnaaa);
  fx_assert_path(p->sim_dnaaa->msk_file, "certs/demo.psk");
  cr_expect_eq(p->sim_dnaaa->msk_ttl_s, 3600);
  egw_site_policy_free(p);
  fx_site_error(FX_SITE "sim:\n  dnaaa:\n    msk_ttl_s: 120\n",
                "D/site.yaml:8: sim.dnaaa.msk_file: required key 'msk_file' missing");
  fx_site_error(FX_SITE "sim:\n  dnaaa:\n    msk_file: certs/demo.psk\n    msk_ttl_s: 59\n",
                "D/site.yaml:9: sim.dnaaa.msk_ttl_s: must be between 60 and 86400");
  fx_site_error(FX_SITE "sim:\n  dnaaa:\n    msk_file: nope\n",
                "D/site.yaml:8: sim.dnaaa.msk_file: cannot read 'D/nope': No such file or "
                "directory");
}
