/* Valid policy directories: every TLS mode, defaults, resolved paths, parsed rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgegw/http.h"
#include "fixture.h"

TestSuite(config_load, .init = fx_init, .fini = fx_fini);

static char *in_dir(const char *rel) {
  char *out = NULL;
  cr_assert_geq(asprintf(&out, "%s/%s", fx_dir(), rel), 0);
  return out;
}

static void assert_path(const char *got, const char *rel) {
  char *want = in_dir(rel);
  cr_assert_str_eq(got, want);
  free(want);
}

static const char edge6[] = "# mTLS for EESes\n"
                            "listener:\n"
                            "  interface: EDGE-6\n"
                            "  role: ecs\n"
                            "  listen: \"[::1]:8446\"\n"
                            "  mount: [health, whoami]\n"
                            "  tls:\n"
                            "    mode: mtls\n"
                            "    cert: certs/srv.pem\n"
                            "    key: certs/srv.key\n"
                            "    crl_check: true\n"
                            "    ciphers: ECDHE-ECDSA-AES128-GCM-SHA256\n"
                            "  authz:\n"
                            "    mode: static\n"
                            "    rules:\n"
                            "      - path: /healthz\n"
                            "        methods: [GET, HEAD]\n"
                            "        allow: any\n"
                            "      - path: /whoami\n"
                            "        methods: [GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS]\n"
                            "        allow:\n"
                            "          - spiffe://site1/ees/*\n"
                            "          - DNS:*.ees.site1.example\n"
                            "      - path: /\n"
                            "        allow: [PSK:demo-eec1]\n"
                            "  limits:\n"
                            "    max_connections: 1\n"
                            "    header_bytes: 1048576\n"
                            "    body_bytes: 0\n"
                            "    header_timeout_ms: 100\n"
                            "    idle_timeout_ms: 3600000\n"
                            "    requests_per_connection: 1000000\n";

static const char edge1[] = "listener:\n"
                            "  interface: EDGE-1\n"
                            "  role: ees\n"
                            "  listen: 127.0.0.1:8441\n"
                            "  tls:\n"
                            "    mode: psk\n"
                            "    psk_identity_hint: site1-ees\n"
                            "    psk_file: certs/demo.psk\n"
                            "  authz:\n"
                            "    mode: none\n";

Test(config_load, full_site_with_every_mode) {
  fx_write("site.yaml", "# the site\n"
                        "site:\n"
                        "  id: site1\n"
                        "  state_dir: ../state\n"
                        "  drain_timeout_ms: 5000\n"
                        "  trust:\n"
                        "    ca: [certs/ca.pem, certs/srv.pem]\n"
                        "    crl: certs/crl.pem\n");
  fx_write("edge4.yaml", FX_EDGE4);
  fx_write("edge6.yml", edge6);
  fx_write("edge1.yaml", edge1);
  fx_write("notes.txt", "not a policy\n");
  struct egw_site_policy *p = fx_load();

  cr_assert_str_eq(p->dir, fx_dir());
  assert_path(p->site_file, "site.yaml");
  cr_assert_str_eq(p->site_id, "site1");
  assert_path(p->state_dir, "../state");
  cr_assert_eq(p->drain_timeout_ms, 5000);
  cr_assert_eq(p->n_ca_files, 2);
  assert_path(p->ca_files[0], "certs/ca.pem");
  assert_path(p->ca_files[1], "certs/srv.pem");
  cr_assert_eq(p->n_crl_files, 1);
  assert_path(p->crl_files[0], "certs/crl.pem");

  /* Sorted by file name: edge1.yaml, edge4.yaml, edge6.yml. */
  cr_assert_eq(p->n_listeners, 3);
  const struct egw_listener_policy *l1 = &p->listeners[0];
  const struct egw_listener_policy *l4 = &p->listeners[1];
  const struct egw_listener_policy *l6 = &p->listeners[2];

  assert_path(l1->file, "edge1.yaml");
  cr_assert_str_eq(l1->interface_name, "EDGE-1");
  cr_assert_str_eq(l1->role, "ees");
  cr_assert_str_eq(l1->listen_host, "127.0.0.1");
  cr_assert_eq(l1->listen_port, 8441);
  cr_assert_eq(l1->line, 2);
  cr_assert_eq(l1->tls.mode, EGW_TLS_PSK);
  cr_assert_eq(l1->tls.line, 5);
  cr_assert_str_eq(l1->tls.psk_identity_hint, "site1-ees");
  assert_path(l1->tls.psk_file, "certs/demo.psk");
  cr_assert_null(l1->tls.cert_file);
  cr_assert_null(l1->tls.key_file);
  cr_assert_null(l1->tls.ciphers);
  cr_assert_eq(l1->authz.mode, EGW_AUTHZ_NONE);
  cr_assert_eq(l1->authz.line, 9);
  cr_assert_eq(l1->authz.n_rules, 0);
  /* Defaults: mount [health] (its line is the listener's), limits from policy.h. */
  cr_assert_eq(l1->n_mount, 1);
  cr_assert_str_eq(l1->mount[0], "health");
  cr_assert_eq(l1->mount_line, 2);
  cr_assert_eq(l1->limits.max_connections, 10000);
  cr_assert_eq(l1->limits.header_bytes, 16384);
  cr_assert_eq(l1->limits.body_bytes, 1048576);
  cr_assert_eq(l1->limits.header_timeout_ms, 10000);
  cr_assert_eq(l1->limits.idle_timeout_ms, 60000);
  cr_assert_eq(l1->limits.requests_per_connection, 1000);

  cr_assert_eq(l4->tls.mode, EGW_TLS_SERVER_CERT);
  assert_path(l4->tls.cert_file, "certs/srv.pem");
  assert_path(l4->tls.key_file, "certs/srv.key");
  cr_assert_eq(l4->tls.crl_check, 0);
  cr_assert_eq(l4->authz.mode, EGW_AUTHZ_NONE);

  assert_path(l6->file, "edge6.yml");
  cr_assert_eq(l6->line, 3);
  cr_assert_str_eq(l6->listen_host, "::1");
  cr_assert_eq(l6->listen_port, 8446);
  cr_assert_eq(l6->n_mount, 2);
  cr_assert_str_eq(l6->mount[0], "health");
  cr_assert_str_eq(l6->mount[1], "whoami");
  cr_assert_eq(l6->mount_line, 6);
  cr_assert_eq(l6->tls.mode, EGW_TLS_MTLS);
  cr_assert_eq(l6->tls.line, 7);
  cr_assert_eq(l6->tls.crl_check, 1);
  cr_assert_str_eq(l6->tls.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
  cr_assert_eq(l6->authz.mode, EGW_AUTHZ_STATIC);
  cr_assert_eq(l6->authz.line, 13);
  cr_assert_eq(l6->authz.n_rules, 3);
  const struct egw_allow_rule *r = l6->authz.rules;
  cr_assert_str_eq(r[0].path_prefix, "/healthz");
  cr_assert_eq(r[0].methods, EGW_METHOD_GET | EGW_METHOD_HEAD);
  cr_assert_eq(r[0].allow_any, 1);
  cr_assert_eq(r[0].n_patterns, 0);
  cr_assert_eq(r[0].line, 16);
  cr_assert_str_eq(r[1].path_prefix, "/whoami");
  cr_assert_eq(r[1].methods, EGW_METHOD_GET | EGW_METHOD_HEAD | EGW_METHOD_POST | EGW_METHOD_PUT |
                                 EGW_METHOD_PATCH | EGW_METHOD_DELETE | EGW_METHOD_OPTIONS);
  cr_assert_eq(r[1].allow_any, 0);
  cr_assert_eq(r[1].n_patterns, 2);
  cr_assert_str_eq(r[1].patterns[0], "spiffe://site1/ees/*");
  cr_assert_str_eq(r[1].patterns[1], "DNS:*.ees.site1.example");
  cr_assert_eq(r[1].line, 19);
  cr_assert_str_eq(r[2].path_prefix, "/");
  cr_assert_eq(r[2].methods, 0, "no methods means any");
  cr_assert_eq(r[2].n_patterns, 1);
  cr_assert_str_eq(r[2].patterns[0], "PSK:demo-eec1");
  cr_assert_eq(l6->limits.max_connections, 1);
  cr_assert_eq(l6->limits.header_bytes, 1048576);
  cr_assert_eq(l6->limits.body_bytes, 0);
  cr_assert_eq(l6->limits.header_timeout_ms, 100);
  cr_assert_eq(l6->limits.idle_timeout_ms, 3600000);
  cr_assert_eq(l6->limits.requests_per_connection, 1000000);
  egw_site_policy_free(p);
}

Test(config_load, site_defaults) {
  fx_write("site.yaml", "site:\n  id: s\n");
  fx_write("edge1.yaml", edge1);
  struct egw_site_policy *p = fx_load();
  assert_path(p->state_dir, "state");
  cr_assert_eq(p->drain_timeout_ms, 10000);
  cr_assert_eq(p->n_ca_files, 0);
  cr_assert_null(p->ca_files);
  cr_assert_eq(p->n_crl_files, 0);
  egw_site_policy_free(p);
}

/* The files written by test/unit/core/server_test.c: absolute paths, flow lists, a
 * limits section. */
Test(config_load, absolute_paths_stay_as_they_are) {
  char text[1024];
  char *ca = in_dir("certs/ca.pem");
  char *cert = in_dir("certs/srv.pem");
  char *key = in_dir("certs/srv.key");
  snprintf(text, sizeof(text),
           "site:\n  id: t1\n  state_dir: %s/state\n  drain_timeout_ms: 2000\n"
           "  trust:\n    ca: [%s]\n",
           fx_dir(), ca);
  fx_write("site.yaml", text);
  snprintf(text, sizeof(text),
           "listener:\n  interface: EDGE-4\n  role: ecs\n  listen: 127.0.0.1:%d\n"
           "  mount: [health, whoami]\n"
           "  tls:\n    mode: server-cert\n    cert: %s\n"
           "    key: %s\n"
           "  authz:\n    mode: none\n"
           "  limits:\n    max_connections: %d\n",
           40000, cert, key, 2);
  fx_write("edge4.yaml", text);
  struct egw_site_policy *p = fx_load();
  cr_assert_str_eq(p->ca_files[0], ca);
  cr_assert_str_eq(p->listeners[0].tls.cert_file, cert);
  cr_assert_str_eq(p->listeners[0].tls.key_file, key);
  assert_path(p->state_dir, "state");
  cr_assert_eq(p->listeners[0].limits.max_connections, 2);
  egw_site_policy_free(p);
  free(ca);
  free(cert);
  free(key);
}

/* The shape the end-to-end suite writes: a quoted listen address, flow mappings. */
Test(config_load, quoted_and_flow_styles) {
  fx_write("a.yaml", "listener: {interface: EDGE-4, role: ecs, listen: \"127.0.0.1:1\",\n"
                     "  mount: [health],\n"
                     "  tls: {mode: server-cert, cert: certs/srv.pem, key: 'certs/srv.key'},\n"
                     "  authz: {mode: static, rules: [{path: /, allow: [\"CN:x\"]}]}}\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->listeners[0].listen_port, 1);
  cr_assert_str_eq(p->listeners[0].authz.rules[0].patterns[0], "CN:x");
  egw_site_policy_free(p);
}

Test(config_load, same_port_on_other_addresses_is_fine) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("b.yaml", "listener:\n  interface: EDGE-4b\n  role: ecs\n  listen: 127.0.0.2:8443\n"
                     "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
                     "  authz:\n    mode: none\n");
  fx_write("c.yaml", "listener:\n  interface: EDGE-4c\n  role: ecs\n  listen: '[::1]:8443'\n"
                     "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
                     "    cert: certs/srv.pem\n    key: certs/srv.key\n"
                     "  authz:\n    mode: none\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->n_listeners, 3);
  cr_assert_str_eq(p->listeners[2].listen_host, "::1");
  assert_path(p->listeners[2].tls.cert_file, "certs/srv.pem");
  egw_site_policy_free(p);
}

Test(config_load, hidden_files_are_skipped) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write(".a.yaml.swp", "garbage: [\n");
  fx_write(".hidden.yaml", "garbage: [\n");
  struct egw_site_policy *p = fx_load();
  cr_assert_eq(p->n_listeners, 1);
  egw_site_policy_free(p);
}

Test(config_load, free_accepts_null) { egw_site_policy_free(NULL); }
