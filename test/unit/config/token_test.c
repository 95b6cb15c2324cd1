/* OAuth 2.0 in the policy: site.yaml "tokens" (cache, issuers) and "ecs", listener
 * authz mode token, and the checks between them. Valid files are parsed field by field;
 * every error is checked exactly. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "edgegw/http.h"
#include "fixture.h"

static void tok_init(void) {
  fx_init();
  fx_write("certs/ent.pem", "public key\n");
  fx_write("certs/ent2.pem", "certificate\n");
  fx_write("certs/peer.jwks.json", "{\"keys\": []}\n");
  fx_write("certs/k1.key", "key 1\n");
  fx_write("certs/k2.key", "key 2\n");
}

TestSuite(config_tokens, .init = tok_init, .fini = fx_fini);

#define SITE FX_TOK_SITE

/* ---- a full valid site ---------------------------------------------------------------- */

static const char full_site[] = "site:\n"                                 /* 1 */
                                "  id: site1\n"                           /* 2 */
                                "tokens:\n"                               /* 3 */
                                "  cache:\n"                              /* 4 */
                                "    max_entries: 10000000\n"             /* 5 */
                                "    negative_ttl_ms: 0\n"                /* 6 */
                                "  issuers:\n"                            /* 7 */
                                "    - id: ecs.site1.example\n"           /* 8 */
                                "      local: true\n"                     /* 9 */
                                "    - id: https://entitlement.example\n" /* 10 */
                                "      keys:\n"                           /* 11 */
                                "        - file: certs/ent.pem\n"         /* 12 */
                                "          kid: ent-1\n"                  /* 13 */
                                "        - file: certs/ent2.pem\n"        /* 14 */
                                "    - id: peer-ecs.site2.example\n"      /* 15 */
                                "      jwks_file: certs/peer.jwks.json\n" /* 16 */
                                "    - {id: old, local: false, keys: [{file: certs/ent.pem}]}\n"
                                "ecs:\n"                           /* 18 */
                                "  id: ecs.site1.example\n"        /* 19 */
                                "  token_ttl_s: 86400\n"           /* 20 */
                                "  signing_keys:\n"                /* 21 */
                                "    - kid: ecs-k2\n"              /* 22 */
                                "      key: certs/k2.key\n"        /* 23 */
                                "    - key: certs/k1.key\n"        /* 24 */
                                "      kid: ecs-k1\n"              /* 25 */
                                "  clients:\n"                     /* 26 */
                                "    - id: spiffe://site1/ees/*\n" /* 27 */
                                "      scopes: [eees-eecregistration, eees-easdiscovery]\n"
                                "      audiences: any\n"    /* 29 */
                                "    - id: PSK:demo-eec1\n" /* 30 */
                                "      scopes: '  eees-eecregistration  eees-easdiscovery '\n"
                                "      audiences: [ees1.site1.example, ees2.site1.example]\n";

/* psk, every token key given, authz before tls. */
static const char edge1[] = "listener:\n"                                     /* 1 */
                            "  interface: EDGE-1\n"                           /* 2 */
                            "  role: ees\n"                                   /* 3 */
                            "  listen: 127.0.0.1:8441\n"                      /* 4 */
                            "  authz:\n"                                      /* 5 */
                            "    mode: token\n"                               /* 6 */
                            "    audience: ees1.site1.example\n"              /* 7 */
                            "    algs: [PS256, ES384, ES256, RS256, ES256]\n" /* 8 */
                            "    leeway_s: 300\n"                             /* 9 */
                            "    sub_is_peer: false\n"                        /* 10 */
                            "    issuers: [ecs.site1.example, https://entitlement.example]\n"
                            "    rules:\n"                              /* 12 */
                            "      - path: /eees-eecregistration/v1/\n" /* 13 */
                            "        methods: [POST]\n"                 /* 14 */
                            "        scope: [eees-eecregistration]\n"   /* 15 */
                            "      - path: /eees-easdiscovery/v1/\n"    /* 16 */
                            "        scope: eees-easdiscovery x:y/z!\n" /* 17 */
                            "      - path: /healthz\n"                  /* 18 */
                            "        methods: [GET]\n"                  /* 19 */
                            "        allow: any\n"                      /* 20 */
                            "      - path: /\n"                         /* 21 */
                            "  tls:\n"                                  /* 22 */
                            "    mode: psk\n"                           /* 23 */
                            "    psk_file: certs/demo.psk\n";           /* 24 */

/* Defaults on each TLS mode; authz before tls on the psk one. */
static const char edge2_psk[] = "listener:\n  interface: EDGE-2\n  role: ees\n"
                                "  listen: 127.0.0.1:8442\n"
                                "  authz: {mode: token, audience: a2, rules: [{path: /}]}\n"
                                "  tls: {mode: psk, psk_file: certs/demo.psk}\n";
static const char edge3_cert[] =
    "listener:\n  interface: EDGE-3\n  role: eas\n"
    "  listen: 127.0.0.1:8443\n"
    "  tls: {mode: server-cert, cert: certs/srv.pem, key: certs/srv.key}\n"
    "  authz: {mode: token, audience: a3, rules: [{path: /}],\n"
    "          sub_is_peer: false}\n";
static const char edge4_cert[] =
    "listener:\n  interface: EDGE-4\n  role: ecs\n"
    "  listen: 127.0.0.1:8444\n"
    "  tls: {mode: server-cert, cert: certs/srv.pem, key: certs/srv.key}\n"
    "  authz: {mode: token, audience: a4, rules: [{path: /}]}\n";
static const char edge6_mtls[] = "listener:\n  interface: EDGE-6\n  role: ecs\n"
                                 "  listen: 127.0.0.1:8446\n"
                                 "  tls: {mode: mtls, cert: certs/srv.pem, key: certs/srv.key}\n"
                                 "  authz: {mode: token, audience: a6, rules: [{path: /}]}\n";

Test(config_tokens, full_site) {
  fx_write("site.yaml", full_site);
  fx_write("edge1.yaml", edge1);
  fx_write("edge2.yaml", edge2_psk);
  fx_write("edge3.yaml", edge3_cert);
  fx_write("edge4.yaml", edge4_cert);
  fx_write("edge6.yaml", edge6_mtls);
  struct egw_site_policy *p = fx_load();

  cr_assert_eq(p->token_cache_entries, 10000000);
  cr_assert_eq(p->token_negative_ttl_ms, 0);

  cr_assert_eq(p->n_issuers, 4);
  const struct egw_issuer_policy *is = p->issuers;
  cr_assert_str_eq(is[0].id, "ecs.site1.example");
  cr_assert_eq(is[0].local, 1);
  cr_assert_eq(is[0].n_keys, 0);
  cr_assert_null(is[0].keys);
  cr_assert_null(is[0].jwks_file);
  cr_assert_eq(is[0].line, 8);
  cr_assert_str_eq(is[1].id, "https://entitlement.example");
  cr_assert_eq(is[1].local, 0);
  cr_assert_eq(is[1].n_keys, 2);
  cr_assert_str_eq(is[1].keys[0].kid, "ent-1");
  fx_assert_path(is[1].keys[0].file, "certs/ent.pem");
  cr_assert_eq(is[1].keys[0].line, 12);
  cr_assert_null(is[1].keys[1].kid, "no kid: the thumbprint");
  fx_assert_path(is[1].keys[1].file, "certs/ent2.pem");
  cr_assert_eq(is[1].keys[1].line, 14);
  cr_assert_null(is[1].jwks_file);
  cr_assert_eq(is[1].line, 10);
  cr_assert_str_eq(is[2].id, "peer-ecs.site2.example");
  cr_assert_eq(is[2].local, 0);
  cr_assert_eq(is[2].n_keys, 0);
  fx_assert_path(is[2].jwks_file, "certs/peer.jwks.json");
  cr_assert_eq(is[2].line, 15);
  cr_assert_str_eq(is[3].id, "old");
  cr_assert_eq(is[3].local, 0, "local: false is no key source");
  cr_assert_eq(is[3].n_keys, 1);

  const struct egw_ecs_policy *e = p->ecs;
  cr_assert_not_null(e);
  cr_assert_str_eq(e->id, "ecs.site1.example");
  cr_assert_eq(e->token_ttl_s, 86400);
  cr_assert_eq(e->line, 18);
  cr_assert_eq(e->n_signing_keys, 2);
  cr_assert_str_eq(e->signing_keys[0].kid, "ecs-k2");
  fx_assert_path(e->signing_keys[0].file, "certs/k2.key");
  cr_assert_eq(e->signing_keys[0].line, 22);
  cr_assert_str_eq(e->signing_keys[1].kid, "ecs-k1");
  fx_assert_path(e->signing_keys[1].file, "certs/k1.key");
  cr_assert_eq(e->signing_keys[1].line, 24);
  cr_assert_eq(e->n_clients, 2);
  const struct egw_token_client_policy *c = e->clients;
  cr_assert_str_eq(c[0].pattern, "spiffe://site1/ees/*");
  cr_assert_eq(c[0].n_scopes, 2);
  cr_assert_str_eq(c[0].scopes[0], "eees-eecregistration");
  cr_assert_str_eq(c[0].scopes[1], "eees-easdiscovery");
  cr_assert_eq(c[0].allow_any_audience, 1);
  cr_assert_eq(c[0].n_audiences, 0);
  cr_assert_null(c[0].audiences);
  cr_assert_eq(c[0].line, 27);
  cr_assert_str_eq(c[1].pattern, "PSK:demo-eec1");
  cr_assert_eq(c[1].n_scopes, 2);
  cr_assert_str_eq(c[1].scopes[0], "eees-eecregistration");
  cr_assert_str_eq(c[1].scopes[1], "eees-easdiscovery");
  cr_assert_eq(c[1].allow_any_audience, 0);
  cr_assert_eq(c[1].n_audiences, 2);
  cr_assert_str_eq(c[1].audiences[0], "ees1.site1.example");
  cr_assert_str_eq(c[1].audiences[1], "ees2.site1.example");
  cr_assert_eq(c[1].line, 30);

  cr_assert_eq(p->n_listeners, 5);
  const struct egw_listener_policy *l1 = &p->listeners[0];
  const struct egw_authz_policy *a = &l1->authz;
  cr_assert_eq(a->mode, EGW_AUTHZ_TOKEN);
  cr_assert_eq(a->line, 5);
  cr_assert_str_eq(a->token.audience, "ees1.site1.example");
  cr_assert_eq(a->token.algs, EGW_JWS_ES256 | EGW_JWS_ES384 | EGW_JWS_RS256 | EGW_JWS_PS256);
  cr_assert_eq(a->token.leeway_s, 300);
  cr_assert_eq(a->token.sub_is_peer, 0);
  cr_assert_eq(a->token.n_issuers, 2);
  cr_assert_str_eq(a->token.issuers[0], "ecs.site1.example");
  cr_assert_str_eq(a->token.issuers[1], "https://entitlement.example");
  cr_assert_eq(a->n_rules, 4);
  const struct egw_allow_rule *r = a->rules;
  cr_assert_str_eq(r[0].path_prefix, "/eees-eecregistration/v1/");
  cr_assert_eq(r[0].methods, EGW_METHOD_POST);
  cr_assert_eq(r[0].allow_any, 0);
  cr_assert_eq(r[0].n_patterns, 0);
  cr_assert_eq(r[0].n_scopes, 1);
  cr_assert_str_eq(r[0].scopes[0], "eees-eecregistration");
  cr_assert_eq(r[0].line, 13);
  cr_assert_str_eq(r[1].path_prefix, "/eees-easdiscovery/v1/");
  cr_assert_eq(r[1].methods, 0);
  cr_assert_eq(r[1].n_scopes, 2);
  cr_assert_str_eq(r[1].scopes[0], "eees-easdiscovery");
  cr_assert_str_eq(r[1].scopes[1], "x:y/z!");
  cr_assert_str_eq(r[2].path_prefix, "/healthz");
  cr_assert_eq(r[2].methods, EGW_METHOD_GET);
  cr_assert_eq(r[2].allow_any, 1);
  cr_assert_eq(r[2].n_scopes, 0);
  cr_assert_null(r[2].scopes);
  cr_assert_str_eq(r[3].path_prefix, "/");
  cr_assert_eq(r[3].allow_any, 0, "no allow and no scope: any valid token");
  cr_assert_eq(r[3].n_scopes, 0);
  cr_assert_eq(r[3].line, 21);

  /* Defaults: ES256, 30 s, no issuers (all of the site's), sub_is_peer by TLS mode. */
  for (size_t i = 1; i < 5; i++) {
    const struct egw_token_authz_policy *t = &p->listeners[i].authz.token;
    cr_assert_eq(t->algs, EGW_JWS_ES256);
    cr_assert_eq(t->leeway_s, 30);
    cr_assert_eq(t->n_issuers, 0);
    cr_assert_null(t->issuers);
  }
  cr_assert_str_eq(p->listeners[1].authz.token.audience, "a2");
  cr_assert_eq(p->listeners[1].authz.token.sub_is_peer, 1, "psk");
  cr_assert_eq(p->listeners[2].authz.token.sub_is_peer, 0, "server-cert, explicit false");
  cr_assert_eq(p->listeners[3].authz.token.sub_is_peer, 0, "server-cert");
  cr_assert_eq(p->listeners[4].authz.token.sub_is_peer, 1, "mtls");
  egw_site_policy_free(p);
}

Test(config_tokens, defaults) {
  fx_write("a.yaml", FX_EDGE4);
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->token_cache_entries, 100000);
  cr_assert_eq(p->token_negative_ttl_ms, 5000);
  cr_assert_eq(p->n_issuers, 0);
  cr_assert_null(p->issuers);
  cr_assert_null(p->ecs);
  /* Other modes leave the token part empty. */
  cr_assert_eq(p->listeners[0].authz.token.algs, 0);
  cr_assert_null(p->listeners[0].authz.token.audience);
  egw_site_policy_free(p);

  fx_write("site.yaml", SITE "tokens:\n  cache: {max_entries: 1}\n"
                             "ecs:\n  id: e\n  signing_keys: [{kid: k, key: certs/k1.key}]\n"
                             "  clients: [{id: 'CN:x', scopes: s, audiences: any}]\n");
  p = fx_load();
  cr_assert_eq(p->token_cache_entries, 1);
  cr_assert_eq(p->token_negative_ttl_ms, 5000);
  cr_assert_eq(p->n_issuers, 0);
  cr_assert_eq(p->ecs->token_ttl_s, 3600);
  cr_assert_eq(p->ecs->n_clients, 1);
  cr_assert_eq(p->ecs->clients[0].n_scopes, 1);
  cr_assert_str_eq(p->ecs->clients[0].scopes[0], "s");
  egw_site_policy_free(p);

  fx_write("site.yaml", SITE "tokens: {cache: {negative_ttl_ms: 60000}}\n");
  p = fx_load();
  cr_assert_eq(p->token_cache_entries, 100000);
  cr_assert_eq(p->token_negative_ttl_ms, 60000);
  egw_site_policy_free(p);
}

/* ---- site.yaml: tokens ---------------------------------------------------------------- */

Test(config_tokens, tokens_shape) {
  fx_site_error(SITE "tokens: 5\n", "D/site.yaml:3: tokens: must be a mapping");
  fx_site_error(SITE "tokens:\n  issuer: []\n", "D/site.yaml:4: tokens.issuer: unknown key");
  fx_site_error(SITE "tokens:\n  cache: []\n", "D/site.yaml:4: tokens.cache: must be a mapping");
  fx_site_error(SITE "tokens:\n  cache:\n    size: 1\n",
                "D/site.yaml:5: tokens.cache.size: unknown key");
  fx_site_error(SITE "tokens: {}\ntokens: {}\n", "D/site.yaml:4: tokens: duplicate key");
  fx_site_error("tokens: {}\n", "D/site.yaml:1: site: required key 'site' missing");
}

Test(config_tokens, cache_ranges) {
  fx_site_error(SITE "tokens:\n  cache:\n    max_entries: 0\n",
                "D/site.yaml:5: tokens.cache.max_entries: must be between 1 and 10000000");
  fx_site_error(SITE "tokens:\n  cache:\n    max_entries: 10000001\n",
                "D/site.yaml:5: tokens.cache.max_entries: must be between 1 and 10000000");
  fx_site_error(SITE "tokens:\n  cache:\n    max_entries: 1e5\n",
                "D/site.yaml:5: tokens.cache.max_entries: must be an integer");
  fx_site_error(SITE "tokens:\n  cache:\n    negative_ttl_ms: 60001\n",
                "D/site.yaml:5: tokens.cache.negative_ttl_ms: must be between 0 and 60000");
  fx_site_error(SITE "tokens:\n  cache:\n    negative_ttl_ms: -1\n",
                "D/site.yaml:5: tokens.cache.negative_ttl_ms: must be between 0 and 60000");
  fx_site_error(SITE "tokens:\n  cache:\n    negative_ttl_ms: 5s\n",
                "D/site.yaml:5: tokens.cache.negative_ttl_ms: must be an integer");
}

#define ISSUERS FX_TOK_ISSUERS

Test(config_tokens, issuer_shape) {
  fx_site_error(SITE "tokens:\n  issuers: {id: x}\n",
                "D/site.yaml:4: tokens.issuers: must be a list");
  fx_site_error(SITE "tokens:\n  issuers: []\n",
                "D/site.yaml:4: tokens.issuers: must not be empty");
  fx_site_error(ISSUERS "    - x\n", "D/site.yaml:5: tokens.issuers[0]: must be a mapping");
  fx_site_error(ISSUERS "    - jwks_file: certs/peer.jwks.json\n",
                "D/site.yaml:5: tokens.issuers[0].id: required key 'id' missing");
  fx_site_error(ISSUERS "    - id: [x]\n", "D/site.yaml:5: tokens.issuers[0].id: must be a string");
  fx_site_error(ISSUERS "    - id: ''\n", "D/site.yaml:5: tokens.issuers[0].id: must not be empty");
  fx_site_error(ISSUERS
                "    - id: x\n      jwks_file: certs/peer.jwks.json\n      url: https://x\n",
                "D/site.yaml:7: tokens.issuers[0].url: unknown key");
  fx_site_error(ISSUERS "    - id: x\n      local: yes\n",
                "D/site.yaml:6: tokens.issuers[0].local: must be true or false");
  fx_site_error(ISSUERS "    - id: x\n      jwks_file: [certs/peer.jwks.json]\n",
                "D/site.yaml:6: tokens.issuers[0].jwks_file: must be a string");
}

Test(config_tokens, issuer_duplicate_ids) {
  fx_site_error(ISSUERS "    - id: x\n      jwks_file: certs/peer.jwks.json\n"
                        "    - id: y\n      jwks_file: certs/peer.jwks.json\n"
                        "    - jwks_file: certs/peer.jwks.json\n      id: x\n",
                "D/site.yaml:10: tokens.issuers[2].id: 'x' is already used by tokens.issuers[0] "
                "(line 5)");
}

Test(config_tokens, issuer_key_source_exactly_one) {
  fx_site_error(ISSUERS "    - id: x\n",
                "D/site.yaml:5: tokens.issuers[0]: needs one of local: true, keys, jwks_file, "
                "jwks_uri, or an introspection_uri");
  fx_site_error(ISSUERS "    - id: x\n      local: false\n",
                "D/site.yaml:5: tokens.issuers[0]: needs one of local: true, keys, jwks_file, "
                "jwks_uri, or an introspection_uri");
  fx_site_error(ISSUERS "    - id: x\n      local: true\n      keys: [{file: certs/ent.pem}]\n",
                "D/site.yaml:7: tokens.issuers[0].keys: not allowed with 'local' (one of local, "
                "keys, jwks_file, jwks_uri per issuer)");
  fx_site_error(ISSUERS "    - id: x\n      jwks_file: certs/peer.jwks.json\n      local: true\n",
                "D/site.yaml:7: tokens.issuers[0].local: not allowed with 'jwks_file' (one of "
                "local, keys, jwks_file, jwks_uri per issuer)");
  fx_site_error(ISSUERS "    - id: x\n      keys: [{file: certs/ent.pem}]\n"
                        "      jwks_file: certs/peer.jwks.json\n",
                "D/site.yaml:7: tokens.issuers[0].jwks_file: not allowed with 'keys' (one of "
                "local, keys, jwks_file, jwks_uri per issuer)");
  fx_site_error(ISSUERS "    - id: x\n      jwks_file: certs/peer.jwks.json\n"
                        "      keys: [{file: certs/ent.pem}]\n      local: true\n",
                "D/site.yaml:7: tokens.issuers[0].keys: not allowed with 'jwks_file' (one of "
                "local, keys, jwks_file, jwks_uri per issuer)");
}

Test(config_tokens, issuer_keys) {
  fx_site_error(ISSUERS "    - id: x\n      keys: []\n",
                "D/site.yaml:6: tokens.issuers[0].keys: must not be empty");
  fx_site_error(ISSUERS "    - id: x\n      keys: certs/ent.pem\n",
                "D/site.yaml:6: tokens.issuers[0].keys: must be a list");
  fx_site_error(ISSUERS "    - id: x\n      keys: [certs/ent.pem]\n",
                "D/site.yaml:6: tokens.issuers[0].keys[0]: must be a mapping");
  fx_site_error(ISSUERS "    - id: x\n      keys:\n        - kid: a\n",
                "D/site.yaml:7: tokens.issuers[0].keys[0].file: required key 'file' missing");
  fx_site_error(ISSUERS "    - id: x\n      keys:\n        - file: certs/ent.pem\n"
                        "          key: certs/k1.key\n",
                "D/site.yaml:8: tokens.issuers[0].keys[0].key: unknown key");
  fx_site_error(ISSUERS "    - id: x\n      keys:\n        - file: certs/ent.pem\n"
                        "          kid: ''\n",
                "D/site.yaml:8: tokens.issuers[0].keys[0].kid: must not be empty");
  fx_site_error(ISSUERS "    - id: ecs.site1.example\n      local: true\n"
                        "    - id: https://entitlement.example\n      keys:\n"
                        "        - file: ../certs/out/jwt-issuer.pem\n",
                "D/site.yaml:9: tokens.issuers[1].keys[0].file: cannot read "
                "'D/../certs/out/jwt-issuer.pem': No such file or directory");
  fx_site_error(ISSUERS "    - id: x\n      keys:\n        - {file: certs/ent.pem, kid: a}\n"
                        "        - {file: certs/ent2.pem}\n"
                        "        - file: certs/ent2.pem\n          kid: a\n",
                "D/site.yaml:10: tokens.issuers[0].keys[2].kid: 'a' is already used by "
                "tokens.issuers[0].keys[0] (line 7)");
  fx_site_error(ISSUERS "    - id: x\n      jwks_file: certs/nope.json\n",
                "D/site.yaml:6: tokens.issuers[0].jwks_file: cannot read 'D/certs/nope.json': No "
                "such file or directory");
}

/* Kids are per issuer: two issuers may both say "k1". */
Test(config_tokens, same_kid_in_two_issuers) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", ISSUERS "    - {id: x, keys: [{file: certs/ent.pem, kid: k1}]}\n"
                                "    - {id: y, keys: [{file: certs/ent2.pem, kid: k1}]}\n");
  egw_site_policy_free(fx_load());
}

#define ECS_OK                                                                                     \
  "ecs:\n  id: ecs.site1.example\n  signing_keys: [{kid: k1, key: certs/k1.key}]\n"                \
  "  clients: [{id: 'CN:x', scopes: [a], audiences: any}]\n"

Test(config_tokens, local_issuer_needs_the_ecs) {
  fx_site_error(ISSUERS "    - id: ecs.site1.example\n      local: true\n",
                "D/site.yaml:6: tokens.issuers[0].local: needs the 'ecs' section (the local ECS "
                "and its keys)");
  fx_site_error(ISSUERS "    - id: peer\n      jwks_file: certs/peer.jwks.json\n"
                        "    - id: ecs.site2.example\n      local: true\n" ECS_OK,
                "D/site.yaml:8: tokens.issuers[1].local: issuer 'ecs.site2.example' is not the "
                "local ECS (ecs.id is 'ecs.site1.example', line 10)");
  /* The ecs section may come first. */
  fx_write("site.yaml", SITE ECS_OK "tokens:\n  issuers: [{id: ecs.site1.example, local: true}]\n");
  egw_site_policy_free(fx_load());
}

/* Checked once every file is read: a bad listener file is reported first. */
Test(config_tokens, local_issuer_checked_after_the_listeners) {
  fx_write("b.yaml", "listener:\n  bogus: 1\n");
  fx_site_error(ISSUERS "    - id: ecs.site1.example\n      local: true\n",
                "D/b.yaml:2: listener.bogus: unknown key");
}

/* ---- site.yaml: ecs ------------------------------------------------------------------- */

#define ECS "ecs:\n  id: e\n" /* lines 3-4 */
#define ECS_KEYS "  signing_keys:\n    - kid: k1\n      key: certs/k1.key\n"
#define ECS_CLIENTS "  clients:\n    - id: 'CN:x'\n      scopes: [a]\n      audiences: any\n"

Test(config_tokens, ecs_required_keys) {
  fx_site_error(SITE "ecs: []\n", "D/site.yaml:3: ecs: must be a mapping");
  fx_site_error(SITE "ecs:\n" ECS_KEYS ECS_CLIENTS,
                "D/site.yaml:4: ecs.id: required key 'id' missing");
  fx_site_error(SITE ECS ECS_CLIENTS,
                "D/site.yaml:4: ecs.signing_keys: required key 'signing_keys' missing");
  fx_site_error(SITE ECS ECS_KEYS, "D/site.yaml:4: ecs.clients: required key 'clients' missing");
  fx_site_error(SITE ECS ECS_KEYS ECS_CLIENTS "  issuer: x\n",
                "D/site.yaml:12: ecs.issuer: unknown key");
  fx_site_error(SITE ECS "  id: f\n", "D/site.yaml:5: ecs.id: duplicate key");
  fx_site_error(SITE "ecs:\n  id: {a: b}\n", "D/site.yaml:4: ecs.id: must be a string");
}

Test(config_tokens, ecs_ttl_range) {
  fx_site_error(SITE ECS "  token_ttl_s: 59\n",
                "D/site.yaml:5: ecs.token_ttl_s: must be between 60 and 86400");
  fx_site_error(SITE ECS "  token_ttl_s: 86401\n",
                "D/site.yaml:5: ecs.token_ttl_s: must be between 60 and 86400");
  fx_site_error(SITE ECS "  token_ttl_s: 1h\n",
                "D/site.yaml:5: ecs.token_ttl_s: must be an integer");
}

Test(config_tokens, ecs_signing_keys) {
  fx_site_error(SITE ECS "  signing_keys: []\n",
                "D/site.yaml:5: ecs.signing_keys: must not be empty");
  fx_site_error(SITE ECS "  signing_keys: certs/k1.key\n",
                "D/site.yaml:5: ecs.signing_keys: must be a list");
  fx_site_error(SITE ECS "  signing_keys:\n    - key: certs/k1.key\n",
                "D/site.yaml:6: ecs.signing_keys[0].kid: required key 'kid' missing");
  fx_site_error(SITE ECS "  signing_keys:\n    - kid: k1\n",
                "D/site.yaml:6: ecs.signing_keys[0].key: required key 'key' missing");
  fx_site_error(SITE ECS "  signing_keys:\n    - kid: k1\n      file: certs/k1.key\n",
                "D/site.yaml:7: ecs.signing_keys[0].file: unknown key");
  fx_site_error(SITE ECS "  signing_keys:\n    - kid: k1\n      key: certs/k9.key\n",
                "D/site.yaml:7: ecs.signing_keys[0].key: cannot read 'D/certs/k9.key': No such "
                "file or directory");
  fx_site_error(SITE ECS "  signing_keys:\n    - kid: k1\n      key: certs/k1.key\n"
                         "    - kid: k2\n      key: certs/k2.key\n"
                         "    - key: certs/k2.key\n      kid: k1\n",
                "D/site.yaml:11: ecs.signing_keys[2].kid: 'k1' is already used by "
                "ecs.signing_keys[0] (line 6)");
}

#define CLIENTS "  clients:\n" /* line 8 after SITE ECS ECS_KEYS */

Test(config_tokens, ecs_clients) {
  fx_site_error(SITE ECS ECS_KEYS "  clients: []\n",
                "D/site.yaml:8: ecs.clients: must not be empty");
  fx_site_error(SITE ECS ECS_KEYS CLIENTS "    - 'CN:x'\n",
                "D/site.yaml:9: ecs.clients[0]: must be a mapping");
  fx_site_error(SITE ECS ECS_KEYS CLIENTS "    - scopes: [a]\n      audiences: any\n",
                "D/site.yaml:9: ecs.clients[0].id: required key 'id' missing");
  fx_site_error(SITE ECS ECS_KEYS CLIENTS "    - id: 'CN:x'\n      audiences: any\n",
                "D/site.yaml:9: ecs.clients[0].scopes: required key 'scopes' missing");
  fx_site_error(SITE ECS ECS_KEYS CLIENTS "    - id: 'CN:x'\n      scopes: [a]\n",
                "D/site.yaml:9: ecs.clients[0].audiences: required key 'audiences' missing");
  fx_site_error(SITE ECS ECS_KEYS CLIENTS "    - id: 'CN:x'\n      scopes: [a]\n"
                                          "      audiences: any\n      grant: x\n",
                "D/site.yaml:12: ecs.clients[0].grant: unknown key");
  fx_site_error(SITE ECS ECS_KEYS CLIENTS "    - id: spiffe://site1/ees*\n",
                "D/site.yaml:9: ecs.clients[0].id: invalid pattern 'spiffe://site1/ees*': '*' must "
                "stand for a whole segment");
  fx_site_error(SITE ECS ECS_KEYS CLIENTS "    - id: any\n",
                "D/site.yaml:9: ecs.clients[0].id: must be a pattern of client identities ('any' "
                "is not one)");
}

static void client_error(const char *lines, const char *expected) {
  char text[1024];
  snprintf(text, sizeof(text), SITE ECS ECS_KEYS CLIENTS "    - id: 'CN:x'\n%s", lines);
  fx_site_error(text, expected);
}

Test(config_tokens, ecs_client_scopes) {
  client_error("      scopes: []\n      audiences: any\n",
               "D/site.yaml:10: ecs.clients[0].scopes: must not be empty");
  client_error("      scopes: '   '\n      audiences: any\n",
               "D/site.yaml:10: ecs.clients[0].scopes: must not be empty");
  client_error("      scopes: ''\n      audiences: any\n",
               "D/site.yaml:10: ecs.clients[0].scopes: must not be empty");
  client_error("      scopes: {a: b}\n      audiences: any\n",
               "D/site.yaml:10: ecs.clients[0].scopes: must be a list of scopes or one string of "
               "scopes");
  client_error("      scopes:\n        - a\n        - b c\n      audiences: any\n",
               "D/site.yaml:12: ecs.clients[0].scopes: invalid scope 'b c': printable ASCII "
               "only, without spaces, '\"' or '\\'");
  client_error("      scopes: 'a \"b\"'\n      audiences: any\n",
               "D/site.yaml:10: ecs.clients[0].scopes: invalid scope '\"b\"': printable ASCII "
               "only, without spaces, '\"' or '\\'");
  client_error("      scopes: [a, [b]]\n      audiences: any\n",
               "D/site.yaml:10: ecs.clients[0].scopes: must be a string");
}

Test(config_tokens, ecs_client_audiences) {
  client_error("      scopes: [a]\n      audiences: everyone\n",
               "D/site.yaml:11: ecs.clients[0].audiences: must be a list of target ids or the "
               "word any");
  client_error("      scopes: [a]\n      audiences: []\n",
               "D/site.yaml:11: ecs.clients[0].audiences: must not be empty");
  client_error("      scopes: [a]\n      audiences: [ees1, any]\n",
               "D/site.yaml:11: ecs.clients[0].audiences: 'any' stands alone (audiences: any), "
               "not in a list");
  client_error("      scopes: [a]\n      audiences:\n        - ees1\n        - ''\n",
               "D/site.yaml:13: ecs.clients[0].audiences: must not be empty");
}

/* ---- listener authz: token ------------------------------------------------------------ */

#define TOK_SITE                                                                                   \
  "site:\n  id: site1\n  trust:\n    ca: certs/ca.pem\n    crl: [certs/crl.pem]\n"                 \
  "tokens:\n  issuers:\n    - {id: iss1, jwks_file: certs/peer.jwks.json}\n"                       \
  "    - {id: iss2, keys: [{file: certs/ent.pem}]}\n"
#define HEAD FX_TOK_HEAD
#define TLS_MTLS FX_TOK_TLS_MTLS
#define TLS_CERT "  tls:\n    mode: server-cert\n    cert: certs/srv.pem\n    key: certs/srv.key\n"
#define TOKEN FX_TOK_AUTHZ
#define RULES FX_TOK_RULES
#define STATIC FX_TOK_STATIC

static void token_error(const char *listener, const char *expected) {
  fx_write("site.yaml", TOK_SITE);
  fx_listener_error(listener, expected);
}

Test(config_tokens, token_keys_need_mode_token) {
  static const char *const lines[] = {"audience: x", "algs: [ES256]", "leeway_s: 1",
                                      "sub_is_peer: true", "issuers: [iss1]"};
  for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
    char text[512], expected[256];
    char name[32];
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(lines[i], ":"), lines[i]);
    snprintf(text, sizeof(text), HEAD TLS_MTLS STATIC "    %s\n", lines[i]);
    snprintf(expected, sizeof(expected),
             "D/l.yaml:14: listener.authz.%s: not allowed with mode "
             "static",
             name);
    token_error(text, expected);
    snprintf(text, sizeof(text), HEAD TLS_MTLS "  authz:\n    %s\n    mode: none\n", lines[i]);
    snprintf(expected, sizeof(expected),
             "D/l.yaml:10: listener.authz.%s: not allowed with mode "
             "none",
             name);
    token_error(text, expected);
  }
}

Test(config_tokens, token_required_keys) {
  token_error(HEAD TLS_MTLS "  authz:\n    mode: token\n" RULES,
              "D/l.yaml:10: listener.authz.audience: required key 'audience' missing (mode "
              "token)");
  token_error(HEAD TLS_MTLS TOKEN,
              "D/l.yaml:10: listener.authz.rules: required key 'rules' missing (mode token)");
  token_error(HEAD TLS_MTLS TOKEN "    rules: []\n",
              "D/l.yaml:12: listener.authz.rules: must not be empty");
  token_error(HEAD TLS_MTLS TOKEN "    audience: x\n" RULES,
              "D/l.yaml:12: listener.authz.audience: duplicate key");
  token_error(HEAD TLS_MTLS TOKEN "    scopes: [a]\n" RULES,
              "D/l.yaml:12: listener.authz.scopes: unknown key");
  token_error(HEAD TLS_MTLS "  authz:\n    mode: token\n    audience: [a]\n" RULES,
              "D/l.yaml:11: listener.authz.audience: must be a string");
}

Test(config_tokens, token_algs) {
  token_error(HEAD TLS_MTLS TOKEN "    algs: [ES256, none]\n" RULES,
              "D/l.yaml:12: listener.authz.algs: 'none' is refused: unsigned tokens are never "
              "accepted");
  token_error(HEAD TLS_MTLS TOKEN "    algs:\n      - ES256\n      - HS256\n" RULES,
              "D/l.yaml:14: listener.authz.algs: 'HS256' is refused: HMAC keys are shared "
              "secrets, anyone who can verify can sign (expected ES256, ES384, RS256, PS256)");
  token_error(HEAD TLS_MTLS TOKEN "    algs: [hs512]\n" RULES,
              "D/l.yaml:12: listener.authz.algs: 'hs512' is refused: HMAC keys are shared "
              "secrets, anyone who can verify can sign (expected ES256, ES384, RS256, PS256)");
  token_error(HEAD TLS_MTLS TOKEN "    algs: [EdDSA]\n" RULES,
              "D/l.yaml:12: listener.authz.algs: unknown algorithm 'EdDSA' (expected ES256, "
              "ES384, RS256, PS256)");
  token_error(HEAD TLS_MTLS TOKEN "    algs: [es256]\n" RULES,
              "D/l.yaml:12: listener.authz.algs: unknown algorithm 'es256' (expected ES256, "
              "ES384, RS256, PS256)");
  token_error(HEAD TLS_MTLS TOKEN "    algs: ES256\n" RULES,
              "D/l.yaml:12: listener.authz.algs: must be a list");
  token_error(HEAD TLS_MTLS TOKEN "    algs: []\n" RULES,
              "D/l.yaml:12: listener.authz.algs: must not be empty");
}

Test(config_tokens, token_leeway_and_sub_is_peer) {
  token_error(HEAD TLS_MTLS TOKEN "    leeway_s: 301\n" RULES,
              "D/l.yaml:12: listener.authz.leeway_s: must be between 0 and 300");
  token_error(HEAD TLS_MTLS TOKEN "    leeway_s: 30s\n" RULES,
              "D/l.yaml:12: listener.authz.leeway_s: must be an integer");
  token_error(HEAD TLS_MTLS TOKEN "    sub_is_peer: 1\n" RULES,
              "D/l.yaml:12: listener.authz.sub_is_peer: must be true or false");
  token_error(HEAD TLS_CERT TOKEN "    sub_is_peer: true\n" RULES,
              "D/l.yaml:12: listener.authz.sub_is_peer: cannot be true with tls mode "
              "server-cert (no peer identity)");
  /* The TLS mode may come after authz. */
  token_error(HEAD TOKEN "    sub_is_peer: true\n" RULES TLS_CERT,
              "D/l.yaml:8: listener.authz.sub_is_peer: cannot be true with tls mode server-cert "
              "(no peer identity)");
}

Test(config_tokens, token_issuers) {
  token_error(HEAD TLS_MTLS TOKEN "    issuers: iss1\n" RULES,
              "D/l.yaml:12: listener.authz.issuers: must be a list");
  token_error(HEAD TLS_MTLS TOKEN "    issuers: []\n" RULES,
              "D/l.yaml:12: listener.authz.issuers: must not be empty");
  token_error(HEAD TLS_MTLS TOKEN "    issuers: [iss1, [iss2]]\n" RULES,
              "D/l.yaml:12: listener.authz.issuers: must be a string");
  token_error(HEAD TLS_MTLS TOKEN "    issuers:\n      - iss1\n      - iss2\n      - iss1\n" RULES,
              "D/l.yaml:15: listener.authz.issuers: 'iss1' is listed twice");
  token_error(HEAD TLS_MTLS TOKEN "    issuers:\n      - iss2\n      - https://other\n" RULES,
              "D/l.yaml:14: listener.authz.issuers: unknown issuer 'https://other' (not in "
              "tokens.issuers of D/site.yaml)");
}

/* Unknown issuers are found once every file is read, after errors inside later files. */
Test(config_tokens, unknown_issuer_is_a_cross_file_check) {
  fx_write("z.yaml", "listener:\n  colour: red\n");
  token_error(HEAD TLS_MTLS TOKEN "    issuers: [nope]\n" RULES,
              "D/z.yaml:2: listener.colour: unknown key");
}

Test(config_tokens, token_needs_site_issuers) {
  fx_listener_error(HEAD TLS_MTLS TOKEN RULES,
                    "D/l.yaml:9: listener.authz: mode token needs issuers in tokens.issuers "
                    "(D/site.yaml)");
  fx_write("site.yaml", FX_SITE "tokens:\n  cache: {max_entries: 5}\n");
  fx_listener_error(HEAD TLS_MTLS TOKEN "    issuers: [iss1]\n" RULES,
                    "D/l.yaml:9: listener.authz: mode token needs issuers in tokens.issuers "
                    "(D/site.yaml)");
}

Test(config_tokens, token_rules) {
  token_error(HEAD TLS_MTLS TOKEN "    rules:\n      - path: /a\n        allow: [CN:x]\n",
              "D/l.yaml:14: listener.authz.rules[0].allow: only 'any' is allowed with mode token "
              "(peer patterns are for mode static)");
  token_error(HEAD TLS_MTLS TOKEN "    rules:\n      - path: /a\n        allow:\n"
                                  "          - spiffe://site1/ees/*\n",
              "D/l.yaml:14: listener.authz.rules[0].allow: only 'any' is allowed with mode token "
              "(peer patterns are for mode static)");
  token_error(HEAD TLS_MTLS TOKEN "    rules:\n      - path: /a\n        allow: any\n"
                                  "        scope: [a]\n",
              "D/l.yaml:15: listener.authz.rules[0].scope: not allowed with 'allow: any' (the "
              "route needs no token)");
  token_error(HEAD TLS_MTLS TOKEN "    rules:\n      - path: /a\n        scope: []\n",
              "D/l.yaml:14: listener.authz.rules[0].scope: must not be empty");
  token_error(HEAD TLS_MTLS TOKEN "    rules:\n      - path: /a\n        scope: 'a\\b'\n",
              "D/l.yaml:14: listener.authz.rules[0].scope: invalid scope 'a\\b': printable ASCII "
              "only, without spaces, '\"' or '\\'");
  token_error(HEAD TLS_MTLS TOKEN "    rules:\n      - path: /a\n        scope: [\"\\u00e9\"]\n",
              "D/l.yaml:14: listener.authz.rules[0].scope: invalid scope '\xc3\xa9': printable "
              "ASCII only, without spaces, '\"' or '\\'");
  token_error(HEAD TLS_MTLS TOKEN "    rules:\n      - path: a\n",
              "D/l.yaml:13: listener.authz.rules[0].path: 'a' must start with '/'");
  token_error(HEAD TLS_MTLS TOKEN "    rules:\n      - scope: a\n",
              "D/l.yaml:13: listener.authz.rules[0].path: required key 'path' missing");
}

Test(config_tokens, scope_is_refused_in_static_mode) {
  token_error(HEAD TLS_MTLS STATIC "        scope: [a]\n",
              "D/l.yaml:14: listener.authz.rules[0].scope: not allowed with mode static");
  token_error(HEAD TLS_MTLS "  authz:\n    mode: static\n    rules:\n      - path: /\n"
                            "        scope: a\n",
              "D/l.yaml:12: listener.authz.rules[0].allow: required key 'allow' missing");
  token_error(HEAD TLS_MTLS "  authz:\n    rules:\n      - path: /\n        scope: a\n"
                            "    mode: none\n",
              "D/l.yaml:10: listener.authz.rules: not allowed with mode none");
}

Test(config_tokens, errors_leave_nothing_behind) {
  /* Deep failures after much was built: run under valgrind to see it all freed. */
  fx_write("a.yaml", edge1);
  fx_write("site.yaml", full_site);
  fx_listener_error(HEAD TLS_MTLS TOKEN "    algs: [ES256, ES384]\n    issuers: [old]\n"
                                        "    rules:\n      - path: /a\n        scope: [a, b]\n"
                                        "      - path: /b\n        scope: 'c d'\n"
                                        "        allow: [CN:x]\n",
                    "D/l.yaml:19: listener.authz.rules[1].allow: only 'any' is allowed with mode "
                    "token (peer patterns are for mode static)");
  fx_remove("l.yaml");
  fx_site_error(
      "site:\n  id: s\ntokens:\n  issuers:\n    - {id: a, keys: [{file: certs/ent.pem}]}\n"
      "    - {id: b, jwks_file: certs/peer.jwks.json}\n"
      "ecs:\n  id: e\n"
      "  signing_keys: [{kid: k1, key: certs/k1.key}, {kid: k2, key: certs/k2.key}]\n"
      "  clients:\n    - {id: 'CN:x', scopes: [a], audiences: any}\n"
      "    - {id: 'CN:y', scopes: 'a b', audiences: [x, y, any]}\n",
      "D/site.yaml:12: ecs.clients[1].audiences: 'any' stands alone (audiences: any), not "
      "in a list");
}
