/* site.yaml "ecs" keys of the EDGE flows: provisioning, ees_auth, registration, client,
 * peers, max_hops, and the per-client token_ttl_s and may_name_eec. A full valid file
 * is read field by field, the defaults are checked, and every error exactly. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static void ecs_init(void) {
  fx_init();
  fx_write("certs/k1.key", "key 1\n");
  fx_write("certs/client.pem", "client cert\n");
  fx_write("certs/client.key", "client key\n");
  fx_write("certs/eec-ca.pem", "eec ca\n");
  fx_write("a.yaml", FX_EDGE4);
}

TestSuite(config_ecs_edge, .init = ecs_init, .fini = fx_fini);

/* ---- a full valid ecs ----------------------------------------------------------------- */

static const char full_site[] = FX_SITE /* 1-5 */
    "ecs:\n"                            /* 6 */
    "  id: ecs1.site1.example\n"        /* 7 */
    "  signing_keys: [{kid: k1, key: certs/k1.key}]\n"
    "  clients:\n"                       /* 9 */
    "    - id: DNS:ees1.site1.example\n" /* 10 */
    "      scopes: [eas-app, eees-eeccontextreloc]\n"
    "      audiences: any\n"                  /* 12 */
    "      may_name_eec: true\n"              /* 13 */
    "      token_ttl_s: 1\n"                  /* 14 */
    "    - id: DNS:eas1.site1.example\n"      /* 15 */
    "      scopes: eas-app\n"                 /* 16 */
    "      audiences: [eas1.site1.example]\n" /* 17 */
    "      may_name_eec: false\n"             /* 18 */
    "      token_ttl_s: 86400\n"              /* 19 */
    "  provisioning: {lifetime_s: 86400, eec_scopes: [eees-eecregistration, x:y]}\n"
    "  ees_auth:\n"                   /* 21 */
    "    - ees: ees2.site2.example\n" /* 22 */
    "      methods: [TLS_WITH_AKMA, TLS_WITH_GBA]\n"
    "    - {ees: '*', methods: [TLS_CLIENT_SERVER_CERTIFICATE, SERVER_SIDE_CERTIFICATE_BASED]}\n"
    "  registration: {max_s: 31536000, eec_ca: [certs/eec-ca.pem, certs/ca.pem]}\n"
    "  client: {cert: certs/client.pem, key: certs/client.key}\n"
    "  peers:\n"                     /* 27 */
    "    - id: ecs2.site2.example\n" /* 28 */
    "      token_url: https://127.0.0.1:9446/oauth2/token\n"
    "      identity: DNS:ecs2.site2.example\n" /* 30 */
    "      ees: [ees2.site2.example, ees3.site2.example]\n"
    "    - {id: ecs3, token_url: 'https://[::1]:9447/t', identity: 'spiffe://site3/ecs/*'}\n"
    "  max_hops: 8\n"; /* 33 */

Test(config_ecs_edge, full_ecs) {
  fx_write("site.yaml", full_site);
  struct egw_site_policy *p = fx_load();
  const struct egw_ecs_policy *e = p->ecs;
  cr_assert_not_null(e);
  cr_assert_eq(e->n_clients, 2);
  cr_assert_eq(e->clients[0].may_name_eec, 1);
  cr_assert_eq(e->clients[0].token_ttl_s, 1);
  cr_assert_eq(e->clients[1].may_name_eec, 0);
  cr_assert_eq(e->clients[1].token_ttl_s, 86400);

  cr_assert_eq(e->provisioning_lifetime_s, 86400);
  cr_assert_eq(e->n_eec_scopes, 2);
  cr_assert_str_eq(e->eec_scopes[0], "eees-eecregistration");
  cr_assert_str_eq(e->eec_scopes[1], "x:y");

  cr_assert_eq(e->n_ees_auth, 2);
  cr_assert_str_eq(e->ees_auth[0].ees, "ees2.site2.example");
  cr_assert_eq(e->ees_auth[0].n_methods, 2);
  cr_assert_str_eq(e->ees_auth[0].methods[0], "TLS_WITH_AKMA");
  cr_assert_str_eq(e->ees_auth[0].methods[1], "TLS_WITH_GBA");
  cr_assert_eq(e->ees_auth[0].line, 22);
  cr_assert_str_eq(e->ees_auth[1].ees, "*");
  cr_assert_eq(e->ees_auth[1].n_methods, 2);
  cr_assert_str_eq(e->ees_auth[1].methods[0], "TLS_CLIENT_SERVER_CERTIFICATE");
  cr_assert_str_eq(e->ees_auth[1].methods[1], "SERVER_SIDE_CERTIFICATE_BASED");
  cr_assert_eq(e->ees_auth[1].line, 24);

  cr_assert_eq(e->registration_max_s, 31536000);
  cr_assert_eq(e->n_eec_ca_files, 2);
  fx_assert_path(e->eec_ca_files[0], "certs/eec-ca.pem");
  fx_assert_path(e->eec_ca_files[1], "certs/ca.pem");

  fx_assert_path(e->client_cert, "certs/client.pem");
  fx_assert_path(e->client_key, "certs/client.key");

  cr_assert_eq(e->n_peers, 2);
  cr_assert_str_eq(e->peers[0].id, "ecs2.site2.example");
  cr_assert_str_eq(e->peers[0].token_url, "https://127.0.0.1:9446/oauth2/token");
  cr_assert_str_eq(e->peers[0].identity, "DNS:ecs2.site2.example");
  cr_assert_eq(e->peers[0].n_ees_ids, 2);
  cr_assert_str_eq(e->peers[0].ees_ids[0], "ees2.site2.example");
  cr_assert_str_eq(e->peers[0].ees_ids[1], "ees3.site2.example");
  cr_assert_eq(e->peers[0].line, 28);
  cr_assert_str_eq(e->peers[1].id, "ecs3");
  cr_assert_str_eq(e->peers[1].token_url, "https://[::1]:9447/t");
  cr_assert_str_eq(e->peers[1].identity, "spiffe://site3/ecs/*");
  cr_assert_eq(e->peers[1].n_ees_ids, 0);
  cr_assert_null(e->peers[1].ees_ids);
  cr_assert_eq(e->peers[1].line, 32);
  cr_assert_eq(e->max_hops, 8);
  cr_assert_null(p->ees);
  cr_assert_null(p->eas);
  egw_site_policy_free(p);
}

/* ---- defaults ------------------------------------------------------------------------- */

#define ECS_MIN                                                                                    \
  "ecs:\n"                                                             /* 6 */                     \
  "  id: ecs1\n"                                                       /* 7 */                     \
  "  signing_keys: [{kid: k1, key: certs/k1.key}]\n"                   /* 8 */                     \
  "  clients: [{id: 'DNS:ees1', scopes: [eas-app], audiences: any}]\n" /* 9 */

Test(config_ecs_edge, defaults) {
  fx_write("site.yaml", FX_SITE ECS_MIN);
  struct egw_site_policy *p = fx_load();
  const struct egw_ecs_policy *e = p->ecs;
  cr_assert_eq(e->clients[0].token_ttl_s, 0, "not set: ecs.token_ttl_s applies");
  cr_assert_eq(e->clients[0].may_name_eec, 0);
  cr_assert_eq(e->provisioning_lifetime_s, 3600);
  cr_assert_eq(e->n_eec_scopes, 2);
  cr_assert_str_eq(e->eec_scopes[0], "eees-eecregistration");
  cr_assert_str_eq(e->eec_scopes[1], "eees-easdiscovery");
  cr_assert_eq(e->n_ees_auth, 0);
  cr_assert_null(e->ees_auth);
  cr_assert_eq(e->registration_max_s, 86400);
  cr_assert_eq(e->n_eec_ca_files, 1, "site.trust.ca");
  fx_assert_path(e->eec_ca_files[0], "certs/ca.pem");
  cr_assert_neq(e->eec_ca_files[0], p->ca_files[0], "a copy, not the same string");
  cr_assert_eq(e->n_peers, 0);
  cr_assert_null(e->peers);
  cr_assert_null(e->client_cert);
  cr_assert_null(e->client_key);
  cr_assert_eq(e->max_hops, 3);
  egw_site_policy_free(p);
}

Test(config_ecs_edge, provisioning_defaults_one_key_at_a_time) {
  fx_write("site.yaml", FX_SITE ECS_MIN "  provisioning: {lifetime_s: 60}\n"
                                        "  registration:\n    max_s: 60\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->ecs->provisioning_lifetime_s, 60);
  cr_assert_eq(p->ecs->n_eec_scopes, 2, "default scopes");
  cr_assert_eq(p->ecs->registration_max_s, 60);
  cr_assert_eq(p->ecs->n_eec_ca_files, 1, "default CA");
  egw_site_policy_free(p);
  fx_write("site.yaml", FX_SITE ECS_MIN "  provisioning:\n    eec_scopes: 'a  b'\n"
                                        "  max_hops: 1\n");
  p = fx_load();
  cr_assert_eq(p->ecs->provisioning_lifetime_s, 3600);
  cr_assert_eq(p->ecs->n_eec_scopes, 2);
  cr_assert_str_eq(p->ecs->eec_scopes[0], "a");
  cr_assert_str_eq(p->ecs->eec_scopes[1], "b");
  cr_assert_eq(p->ecs->max_hops, 1);
  egw_site_policy_free(p);
}

Test(config_ecs_edge, eec_ca_default_without_trust) {
  fx_write("site.yaml", "site:\n  id: site1\n" ECS_MIN);
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->ecs->n_eec_ca_files, 0);
  cr_assert_null(p->ecs->eec_ca_files);
  egw_site_policy_free(p);
}

/* The site section may come after ecs: its CAs are the default all the same. */
Test(config_ecs_edge, eec_ca_default_from_a_later_site_section) {
  fx_write("site.yaml", ECS_MIN "site:\n  id: site1\n  trust:\n"
                                "    ca: [certs/eec-ca.pem, certs/ca.pem]\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->ecs->n_eec_ca_files, 2);
  fx_assert_path(p->ecs->eec_ca_files[0], "certs/eec-ca.pem");
  fx_assert_path(p->ecs->eec_ca_files[1], "certs/ca.pem");
  egw_site_policy_free(p);
}

/* ---- errors --------------------------------------------------------------------------- */

/* |lines| start at line 10, after FX_SITE and ECS_MIN. */
static void ecs_error(const char *lines, const char *expected) {
  char site[4096];
  snprintf(site, sizeof(site), FX_SITE ECS_MIN "%s", lines);
  fx_site_error(site, expected);
}

#define CLIENT "  client: {cert: certs/client.pem, key: certs/client.key}\n" /* 10 */
#define PEER_AT_12 "  peers:\n    - "                                        /* 11-12 */

Test(config_ecs_edge, client_token_ttl) {
  static const char clients[] = "site:\n  id: site1\n"
                                "ecs:\n  id: e\n  signing_keys: [{kid: k1, key: certs/k1.key}]\n"
                                "  clients:\n    - id: 'CN:x'\n      scopes: [a]\n"
                                "      audiences: any\n"; /* 1-9 */
  char site[1024];
  snprintf(site, sizeof(site), "%s      token_ttl_s: 0\n", clients);
  fx_site_error(site, "D/site.yaml:10: ecs.clients[0].token_ttl_s: must be between 1 and 86400");
  snprintf(site, sizeof(site), "%s      token_ttl_s: 86401\n", clients);
  fx_site_error(site, "D/site.yaml:10: ecs.clients[0].token_ttl_s: must be between 1 and 86400");
  snprintf(site, sizeof(site), "%s      token_ttl_s: 60s\n", clients);
  fx_site_error(site, "D/site.yaml:10: ecs.clients[0].token_ttl_s: must be an integer");
  snprintf(site, sizeof(site), "%s      may_name_eec: yes\n", clients);
  fx_site_error(site, "D/site.yaml:10: ecs.clients[0].may_name_eec: must be true or false");
  snprintf(site, sizeof(site), "%s      may_name_eec: true\n      may_name_eec: true\n", clients);
  fx_site_error(site, "D/site.yaml:11: ecs.clients[0].may_name_eec: duplicate key");
}

Test(config_ecs_edge, provisioning) {
  ecs_error("  provisioning: 5\n", "D/site.yaml:10: ecs.provisioning: must be a mapping");
  ecs_error("  provisioning: {lifetime: 60}\n",
            "D/site.yaml:10: ecs.provisioning.lifetime: unknown key");
  ecs_error("  provisioning: {lifetime_s: 59}\n",
            "D/site.yaml:10: ecs.provisioning.lifetime_s: must be between 60 and 86400");
  ecs_error("  provisioning:\n    lifetime_s: 86401\n",
            "D/site.yaml:11: ecs.provisioning.lifetime_s: must be between 60 and 86400");
  ecs_error("  provisioning:\n    eec_scopes: []\n",
            "D/site.yaml:11: ecs.provisioning.eec_scopes: must not be empty");
  ecs_error("  provisioning:\n    eec_scopes:\n      - a\n      - 'b\\c'\n",
            "D/site.yaml:13: ecs.provisioning.eec_scopes: invalid scope 'b\\c': printable ASCII "
            "only, without spaces, '\"' or '\\'");
}

Test(config_ecs_edge, ees_auth_shape) {
  ecs_error("  ees_auth: {ees: x}\n", "D/site.yaml:10: ecs.ees_auth: must be a list");
  ecs_error("  ees_auth: []\n", "D/site.yaml:10: ecs.ees_auth: must not be empty");
  ecs_error("  ees_auth:\n    - TLS_WITH_AKMA\n",
            "D/site.yaml:11: ecs.ees_auth[0]: must be a mapping");
  ecs_error("  ees_auth:\n    - methods: [TLS_WITH_AKMA]\n",
            "D/site.yaml:11: ecs.ees_auth[0].ees: required key 'ees' missing");
  ecs_error("  ees_auth:\n    - ees: x\n",
            "D/site.yaml:11: ecs.ees_auth[0].methods: required key 'methods' missing");
  ecs_error("  ees_auth:\n    - {ees: x, methods: [TLS_WITH_AKMA], method: TLS_WITH_GBA}\n",
            "D/site.yaml:11: ecs.ees_auth[0].method: unknown key");
}

Test(config_ecs_edge, ees_auth_ees) {
  ecs_error("  ees_auth:\n    - ees: 'ees*.site1.example'\n      methods: [TLS_WITH_AKMA]\n",
            "D/site.yaml:11: ecs.ees_auth[0].ees: 'ees*.site1.example': an exact EES id or \"*\" "
            "for every EES (no other patterns)");
  ecs_error("  ees_auth:\n    - ees: ''\n      methods: [TLS_WITH_AKMA]\n",
            "D/site.yaml:11: ecs.ees_auth[0].ees: must not be empty");
  ecs_error("  ees_auth:\n"
            "    - {ees: '*', methods: [TLS_WITH_AKMA]}\n"
            "    - {ees: x, methods: [TLS_WITH_AKMA]}\n"
            "    - {ees: '*', methods: [TLS_WITH_GBA]}\n",
            "D/site.yaml:13: ecs.ees_auth[2].ees: '*' is already used by ecs.ees_auth[0] (line "
            "11), which always wins");
}

Test(config_ecs_edge, ees_auth_methods) {
  ecs_error("  ees_auth:\n    - ees: x\n      methods:\n        - TLS_WITH_AKMA\n"
            "        - tls_with_gba\n",
            "D/site.yaml:14: ecs.ees_auth[0].methods: unknown method 'tls_with_gba' (expected "
            "TLS_CLIENT_SERVER_CERTIFICATE, TLS_WITH_AKMA, TLS_WITH_GBA, "
            "SERVER_SIDE_CERTIFICATE_BASED)");
  ecs_error("  ees_auth:\n    - ees: x\n      methods: [TLS_WITH_AKMA, TLS_WITH_AKMA]\n",
            "D/site.yaml:12: ecs.ees_auth[0].methods: 'TLS_WITH_AKMA' is listed twice");
  ecs_error("  ees_auth:\n    - ees: x\n      methods: TLS_WITH_AKMA\n",
            "D/site.yaml:12: ecs.ees_auth[0].methods: must be a list");
  ecs_error("  ees_auth:\n    - ees: x\n      methods: []\n",
            "D/site.yaml:12: ecs.ees_auth[0].methods: must not be empty");
  ecs_error("  ees_auth:\n    - ees: x\n      methods: [[TLS_WITH_AKMA]]\n",
            "D/site.yaml:12: ecs.ees_auth[0].methods: must be a string");
}

Test(config_ecs_edge, registration) {
  ecs_error("  registration: [max_s]\n", "D/site.yaml:10: ecs.registration: must be a mapping");
  ecs_error("  registration: {max_s: 59}\n",
            "D/site.yaml:10: ecs.registration.max_s: must be between 60 and 31536000");
  ecs_error("  registration:\n    max_s: 31536001\n",
            "D/site.yaml:11: ecs.registration.max_s: must be between 60 and 31536000");
  ecs_error("  registration:\n    eec_ca: certs/none.pem\n",
            "D/site.yaml:11: ecs.registration.eec_ca: cannot read 'D/certs/none.pem': No such "
            "file or directory");
  ecs_error("  registration:\n    eec_ca: [certs/ca.pem, certs]\n",
            "D/site.yaml:11: ecs.registration.eec_ca: cannot read 'D/certs': Is a directory");
  ecs_error("  registration: {eec_ca: []}\n",
            "D/site.yaml:10: ecs.registration.eec_ca: must not be empty");
  ecs_error("  registration: {max: 60}\n", "D/site.yaml:10: ecs.registration.max: unknown key");
}

Test(config_ecs_edge, client) {
  ecs_error("  client: certs/client.pem\n", "D/site.yaml:10: ecs.client: must be a mapping");
  ecs_error("  client: {cert: certs/client.pem}\n",
            "D/site.yaml:10: ecs.client.key: required key 'key' missing");
  ecs_error("  client:\n    key: certs/client.key\n",
            "D/site.yaml:11: ecs.client.cert: required key 'cert' missing");
  ecs_error("  client:\n    cert: certs/client.pem\n    key: certs/none.key\n",
            "D/site.yaml:12: ecs.client.key: cannot read 'D/certs/none.key': No such file or "
            "directory");
}

Test(config_ecs_edge, peers_shape) {
  ecs_error(CLIENT "  peers: []\n", "D/site.yaml:11: ecs.peers: must not be empty");
  ecs_error(CLIENT "  peers: {id: a}\n", "D/site.yaml:11: ecs.peers: must be a list");
  ecs_error(CLIENT PEER_AT_12 "token_url: https://a/t\n      identity: DNS:a\n",
            "D/site.yaml:12: ecs.peers[0].id: required key 'id' missing");
  ecs_error(CLIENT PEER_AT_12 "id: a\n      identity: DNS:a\n",
            "D/site.yaml:12: ecs.peers[0].token_url: required key 'token_url' missing");
  ecs_error(CLIENT PEER_AT_12 "id: a\n      token_url: https://a/t\n",
            "D/site.yaml:12: ecs.peers[0].identity: required key 'identity' missing");
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a/t', identity: 'DNS:a', url: x}\n",
            "D/site.yaml:12: ecs.peers[0].url: unknown key");
}

Test(config_ecs_edge, peer_token_url) {
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'http://a/t', identity: 'DNS:a'}\n",
            "D/site.yaml:12: ecs.peers[0].token_url: 'http://a/t' must be an https:// URL");
  ecs_error(CLIENT PEER_AT_12 "id: a\n      identity: DNS:a\n"
                              "      token_url: https://127.0.0.1:9446\n",
            "D/site.yaml:14: ecs.peers[0].token_url: 'https://127.0.0.1:9446': needs a path "
            "starting with '/'");
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a:0/t', identity: 'DNS:a'}\n",
            "D/site.yaml:12: ecs.peers[0].token_url: 'https://a:0/t': invalid port '0' (expected "
            "1..65535)");
}

Test(config_ecs_edge, peer_identity) {
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a/t', identity: 'spiffe://s2/ecs*'}\n",
            "D/site.yaml:12: ecs.peers[0].identity: invalid pattern 'spiffe://s2/ecs*': '*' must "
            "stand for a whole segment");
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a/t', identity: any}\n",
            "D/site.yaml:12: ecs.peers[0].identity: must be a pattern of the peer's identity "
            "('any' is not one)");
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a/t', identity: [DNS:a]}\n",
            "D/site.yaml:12: ecs.peers[0].identity: must be a string");
}

Test(config_ecs_edge, peer_ees) {
  ecs_error(CLIENT PEER_AT_12 "id: a\n      token_url: https://a/t\n      identity: DNS:a\n"
                              "      ees: [ees2, ees3, ees2]\n",
            "D/site.yaml:15: ecs.peers[0].ees: 'ees2' is listed twice");
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a/t', identity: 'DNS:a', ees: []}\n",
            "D/site.yaml:12: ecs.peers[0].ees: must not be empty");
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a/t', identity: 'DNS:a', ees: ees2}\n",
            "D/site.yaml:12: ecs.peers[0].ees: must be a list");
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a/t', identity: 'DNS:a', ees: ['']}\n",
            "D/site.yaml:12: ecs.peers[0].ees: must not be empty");
}

Test(config_ecs_edge, peer_ids) {
  ecs_error(CLIENT PEER_AT_12 "{id: a, token_url: 'https://a/t', identity: 'DNS:a'}\n"
                              "    - {id: b, token_url: 'https://b/t', identity: 'DNS:b'}\n"
                              "    - token_url: https://a/t\n      identity: DNS:a\n"
                              "      id: a\n",
            "D/site.yaml:16: ecs.peers[2].id: 'a' is already used by ecs.peers[0] (line 12)");
  ecs_error(CLIENT PEER_AT_12 "{id: ecs1, token_url: 'https://a/t', identity: 'DNS:a'}\n",
            "D/site.yaml:12: ecs.peers[0].id: 'ecs1' is this ECS (ecs.id, line 7)");
}

/* ecs.id after the peers: compared once the section is read. */
Test(config_ecs_edge, peer_id_is_the_ecs_id_given_later) {
  fx_site_error(FX_SITE "ecs:\n" CLIENT "  peers:\n"
                        "    - {id: b, token_url: 'https://b/t', identity: 'DNS:b'}\n"
                        "    - {id: ecs1, token_url: 'https://a/t', identity: 'DNS:a'}\n"
                        "  signing_keys: [{kid: k1, key: certs/k1.key}]\n"
                        "  clients: [{id: 'DNS:ees1', scopes: [eas-app], audiences: any}]\n"
                        "  id: ecs1\n",
                "D/site.yaml:10: ecs.peers[1].id: 'ecs1' is this ECS (ecs.id, line 13)");
}

Test(config_ecs_edge, peers_need_the_client) {
  ecs_error("  peers:\n    - {id: a, token_url: 'https://a/t', identity: 'DNS:a'}\n",
            "D/site.yaml:10: ecs.peers: needs ecs.client (the certificate this ECS presents to "
            "its peers)");
}

Test(config_ecs_edge, peers_need_the_site_ca) {
  fx_site_error("site:\n  id: site1\n" ECS_MIN CLIENT
                "  peers:\n    - {id: a, token_url: 'https://a/t', identity: 'DNS:a'}\n",
                "D/site.yaml:8: ecs.peers: needs site.trust.ca (the CA certificates that verify "
                "the peer ECSes)");
}

Test(config_ecs_edge, max_hops) {
  ecs_error("  max_hops: 0\n", "D/site.yaml:10: ecs.max_hops: must be between 1 and 8");
  ecs_error("  max_hops: 9\n", "D/site.yaml:10: ecs.max_hops: must be between 1 and 8");
  ecs_error("  max_hops: three\n", "D/site.yaml:10: ecs.max_hops: must be an integer");
  ecs_error("  max_hops: 3\n  max_hops: 3\n", "D/site.yaml:11: ecs.max_hops: duplicate key");
}
