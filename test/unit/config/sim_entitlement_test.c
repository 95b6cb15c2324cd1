/* site.yaml "sim.entitlement" (module sim-entitlement). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

TestSuite(config_sim_entitlement, .init = fx_init, .fini = fx_fini);

#define ENT_HEAD                                                                                   \
  FX_SITE "sim:\n  entitlement:\n    issuer: https://ent.example\n    key: certs/srv.key\n"        \
          "    secrets: certs/demo.psk\n    audience: ees1\n"

Test(config_sim_entitlement, defaults_and_values) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", ENT_HEAD);
  struct egw_site_policy *p = fx_load();
  cr_assert_not_null(p->sim_entitlement);
  cr_expect_str_eq(p->sim_entitlement->issuer, "https://ent.example");
  fx_assert_path(p->sim_entitlement->key_file, "certs/srv.key");
  fx_assert_path(p->sim_entitlement->secrets_file, "certs/demo.psk");
  cr_expect_str_eq(p->sim_entitlement->audience, "ees1");
  cr_expect_null(p->sim_entitlement->kid);
  cr_expect_null(p->sim_entitlement->scope);
  cr_expect_eq(p->sim_entitlement->token_ttl_s, 300);
  cr_expect_eq(p->sim_entitlement->line, 7);
  egw_site_policy_free(p);
  fx_write("site.yaml", ENT_HEAD "    kid: ent-1\n    scope: [a-b, c]\n    token_ttl_s: 60\n");
  p = fx_load();
  cr_expect_str_eq(p->sim_entitlement->kid, "ent-1");
  cr_expect_str_eq(p->sim_entitlement->scope, "a-b c");
  cr_expect_eq(p->sim_entitlement->token_ttl_s, 60);
  egw_site_policy_free(p);
  fx_write("site.yaml", ENT_HEAD "    scope: \"x y\"\n");
  p = fx_load();
  cr_expect_str_eq(p->sim_entitlement->scope, "x y");
  egw_site_policy_free(p);
}

Test(config_sim_entitlement, errors) {
  fx_site_error(FX_SITE "sim:\n  entitlement:\n    issuer: https://ent.example\n",
                "D/site.yaml:8: sim.entitlement.key: required key 'key' missing");
  fx_site_error(ENT_HEAD "    token_ttl_s: 5\n",
                "D/site.yaml:12: sim.entitlement.token_ttl_s: must be between 30 and 86400");
  fx_site_error(FX_SITE "sim:\n  entitlement:\n    issuer: https://ent.example\n"
                        "    key: nope.key\n",
                "D/site.yaml:9: sim.entitlement.key: cannot read 'D/nope.key': No such file or "
                "directory");
  fx_site_error(ENT_HEAD "    colour: red\n",
                "D/site.yaml:12: sim.entitlement.colour: unknown key");
}
