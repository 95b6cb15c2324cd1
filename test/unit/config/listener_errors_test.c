/* Errors inside one interface file, each with its exact "file:line: key: message". The
 * files are built from lines so that the expected line numbers can be read off. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth/allowlist.h"
#include "fixture.h"

TestSuite(config_listener, .init = fx_init, .fini = fx_fini);

#define HEAD "listener:\n  interface: EDGE-4\n  role: ecs\n  listen: 127.0.0.1:8443\n" /* 1-4 */
#define TLS_CERT "  tls:\n    mode: server-cert\n    cert: certs/srv.pem\n    key: certs/srv.key\n"
#define AUTHZ_NONE "  authz:\n    mode: none\n"

/* HEAD + TLS_CERT take lines 1-8; the authz section starts at line 9. */

Test(config_listener, empty_file) {
  fx_listener_error("", "D/l.yaml:1: listener: required key 'listener' missing");
}

Test(config_listener, yaml_syntax_error) {
  fx_listener_error(HEAD TLS_CERT "  authz:\n    mode: none\n  mount: [health\n",
                    "D/l.yaml:12: yaml: did not find expected ',' or ']'");
  fx_listener_error("listener:\n  interface: \"EDGE-4\n",
                    "D/l.yaml:3: yaml: found unexpected end of stream");
}

Test(config_listener, root_must_be_a_mapping) {
  fx_listener_error("[listener]\n", "D/l.yaml:1: must be a mapping");
  fx_listener_error("listener: EDGE-4\n", "D/l.yaml:1: listener: must be a mapping");
}

Test(config_listener, unknown_key) {
  fx_listener_error("listener:\n  interface: EDGE-4\n  bogus: 1\n",
                    "D/l.yaml:3: listener.bogus: unknown key");
  fx_listener_error(HEAD TLS_CERT "    colour: red\n" AUTHZ_NONE,
                    "D/l.yaml:9: listener.tls.colour: unknown key");
  fx_listener_error(HEAD TLS_CERT AUTHZ_NONE "  limits:\n    max_conns: 5\n",
                    "D/l.yaml:12: listener.limits.max_conns: unknown key");
  fx_listener_error(HEAD TLS_CERT AUTHZ_NONE "listeners: {}\n",
                    "D/l.yaml:11: listeners: unknown key");
}

Test(config_listener, keys_must_be_strings) {
  fx_listener_error("listener:\n  [a]: 1\n", "D/l.yaml:2: listener: keys must be strings");
}

Test(config_listener, duplicate_key) {
  fx_listener_error(HEAD "  listen: 127.0.0.1:1\n" TLS_CERT AUTHZ_NONE,
                    "D/l.yaml:5: listener.listen: duplicate key");
  fx_listener_error(HEAD TLS_CERT "    mode: mtls\n" AUTHZ_NONE,
                    "D/l.yaml:9: listener.tls.mode: duplicate key");
  fx_listener_error(HEAD TLS_CERT AUTHZ_NONE "listener: {}\n",
                    "D/l.yaml:11: listener: duplicate key");
}

Test(config_listener, required_keys) {
  fx_listener_error("listener:\n  role: ecs\n  listen: 127.0.0.1:8443\n" TLS_CERT AUTHZ_NONE,
                    "D/l.yaml:2: listener.interface: required key 'interface' missing");
  fx_listener_error(HEAD AUTHZ_NONE, "D/l.yaml:2: listener.tls: required key 'tls' missing");
  fx_listener_error(HEAD TLS_CERT, "D/l.yaml:2: listener.authz: required key 'authz' missing");
  fx_listener_error(HEAD "  tls:\n    cert: certs/srv.pem\n    key: certs/srv.key\n" AUTHZ_NONE,
                    "D/l.yaml:6: listener.tls.mode: required key 'mode' missing");
  fx_listener_error(HEAD TLS_CERT "  authz:\n    rules: []\n",
                    "D/l.yaml:10: listener.authz.rules: must not be empty");
  fx_listener_error(HEAD TLS_CERT "  authz: {}\n",
                    "D/l.yaml:9: listener.authz.mode: required key 'mode' missing");
}

Test(config_listener, unknown_modes_and_role) {
  fx_listener_error(HEAD "  tls:\n    mode: x\n" AUTHZ_NONE,
                    "D/l.yaml:6: listener.tls.mode: unknown mode 'x' (expected server-cert, mtls, "
                    "psk)");
  fx_listener_error(HEAD TLS_CERT "  authz:\n    mode: allow-all\n",
                    "D/l.yaml:10: listener.authz.mode: unknown mode 'allow-all' (expected none, "
                    "static, token)");
  fx_listener_error("listener:\n  interface: EDGE-4\n  role: nef\n",
                    "D/l.yaml:3: listener.role: unknown role 'nef' (expected ecs, ees, eas, admin, "
                    "sim)");
}

Test(config_listener, bad_types) {
  fx_listener_error("listener:\n  interface: [EDGE-4]\n",
                    "D/l.yaml:2: listener.interface: must be a string");
  fx_listener_error("listener:\n  interface: EDGE-4\n  mount: health\n",
                    "D/l.yaml:3: listener.mount: must be a list");
  fx_listener_error("listener:\n  interface: EDGE-4\n  mount: [health, {a: b}]\n",
                    "D/l.yaml:3: listener.mount: must be a string");
  fx_listener_error("listener:\n  interface: EDGE-4\n  mount: []\n",
                    "D/l.yaml:3: listener.mount: must not be empty");
  fx_listener_error(HEAD "  tls:\n    mode: mtls\n    crl_check: yes\n",
                    "D/l.yaml:7: listener.tls.crl_check: must be true or false");
  fx_listener_error(HEAD TLS_CERT AUTHZ_NONE "  limits:\n    body_bytes: 1M\n",
                    "D/l.yaml:12: listener.limits.body_bytes: must be an integer");
  fx_listener_error(HEAD TLS_CERT AUTHZ_NONE "  limits: 5\n",
                    "D/l.yaml:11: listener.limits: must be a mapping");
  fx_listener_error(HEAD TLS_CERT "  authz:\n    mode: static\n    rules: {path: /}\n",
                    "D/l.yaml:11: listener.authz.rules: must be a list");
}

Test(config_listener, interface_name_charset) {
  fx_listener_error("listener:\n  interface: EDGE 4\n",
                    "D/l.yaml:2: listener.interface: 'EDGE 4' must be at most 64 letters, digits, "
                    "'.', '_' or '-'");
}

Test(config_listener, limits_out_of_range) {
  static const struct {
    const char *line;
    const char *error;
  } cases[] = {
      {.line = "max_connections: 0",
       .error = "listener.limits.max_connections: must be between 1 and 1000000"},
      {.line = "max_connections: 1000001",
       .error = "listener.limits.max_connections: must be between 1 and 1000000"},
      {.line = "header_bytes: 1023",
       .error = "listener.limits.header_bytes: must be between 1024 and 1048576"},
      {.line = "header_bytes: 1048577",
       .error = "listener.limits.header_bytes: must be between 1024 and 1048576"},
      {.line = "body_bytes: 1073741825",
       .error = "listener.limits.body_bytes: must be between 0 and 1073741824"},
      {.line = "body_bytes: -1",
       .error = "listener.limits.body_bytes: must be between 0 and 1073741824"},
      {.line = "body_bytes: 18446744073709551616",
       .error = "listener.limits.body_bytes: must be between 0 and 1073741824"},
      {.line = "header_timeout_ms: 99",
       .error = "listener.limits.header_timeout_ms: must be between 100 and 3600000"},
      {.line = "idle_timeout_ms: 3600001",
       .error = "listener.limits.idle_timeout_ms: must be between 100 and 3600000"},
      {.line = "requests_per_connection: 0",
       .error = "listener.limits.requests_per_connection: must be between 1 and 1000000"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char text[512], expected[256];
    snprintf(text, sizeof(text), HEAD TLS_CERT AUTHZ_NONE "  limits:\n    %s\n", cases[i].line);
    snprintf(expected, sizeof(expected), "D/l.yaml:12: %s", cases[i].error);
    fx_listener_error(text, expected);
  }
}

static void listen_error(const char *listen, const char *message) {
  char text[512], expected[256];
  snprintf(text, sizeof(text),
           "listener:\n  interface: EDGE-4\n  role: ecs\n  listen: %s\n" TLS_CERT AUTHZ_NONE,
           listen);
  snprintf(expected, sizeof(expected), "D/l.yaml:4: listener.listen: %s", message);
  fx_listener_error(text, expected);
}

Test(config_listener, bad_listen_addresses) {
  listen_error("localhost:8443", "'localhost:8443': 'localhost' is not an IPv4 address literal");
  listen_error("edge.example:8443",
               "'edge.example:8443': 'edge.example' is not an IPv4 address literal");
  listen_error("127.0.0.1", "'127.0.0.1' must be IPv4:port or [IPv6]:port");
  listen_error("8443", "'8443' must be IPv4:port or [IPv6]:port");
  listen_error(":8443", "':8443': host must be an IP address literal");
  listen_error("127.0.0.1:0", "'127.0.0.1:0': port must be between 1 and 65535");
  listen_error("127.0.0.1:70000", "'127.0.0.1:70000': port must be between 1 and 65535");
  listen_error("127.0.0.1:99999999999999999999",
               "'127.0.0.1:99999999999999999999': port must be between 1 and 65535");
  listen_error("'127.0.0.1:'", "'127.0.0.1:': port must be a number");
  listen_error("127.0.0.1:84x", "'127.0.0.1:84x': port must be a number");
  listen_error("127.0.0.1:-1", "'127.0.0.1:-1': port must be a number");
  listen_error("256.0.0.1:80", "'256.0.0.1:80': '256.0.0.1' is not an IPv4 address literal");
}

Test(config_listener, bad_ipv6_forms) {
  listen_error("::1:8443", "'::1:8443': an IPv6 address goes in brackets, as [::1]:port");
  listen_error("'[::1]'", "'[::1]' must be [IPv6]:port");
  listen_error("'[::1]8443'", "'[::1]8443' must be [IPv6]:port");
  listen_error("'[::1:8443'", "'[::1:8443' must be [IPv6]:port");
  listen_error("'[127.0.0.1]:80'", "'[127.0.0.1]:80': '127.0.0.1' is not an IPv6 address literal");
  listen_error("'[]:80'", "'[]:80': host must be an IP address literal");
  listen_error("'[fe80::1%eth0]:80'",
               "'[fe80::1%eth0]:80': 'fe80::1%eth0' is not an IPv6 address literal");
  listen_error("'[::1]:0'", "'[::1]:0': port must be between 1 and 65535");
}

Test(config_listener, files_must_be_readable) {
  fx_listener_error(HEAD "  tls:\n    mode: server-cert\n    cert: certs/missing.pem\n"
                         "    key: certs/srv.key\n" AUTHZ_NONE,
                    "D/l.yaml:7: listener.tls.cert: cannot read 'D/certs/missing.pem': No such "
                    "file or directory");
  fx_listener_error(HEAD "  tls:\n    mode: server-cert\n    cert: certs/srv.pem\n"
                         "    key: ../nope.key\n" AUTHZ_NONE,
                    "D/l.yaml:8: listener.tls.key: cannot read 'D/../nope.key': No such file or "
                    "directory");
  fx_listener_error(HEAD "  tls:\n    mode: psk\n    psk_file: /nonexistent/demo.psk\n" AUTHZ_NONE,
                    "D/l.yaml:7: listener.tls.psk_file: cannot read '/nonexistent/demo.psk': No "
                    "such file or directory");
}

Test(config_listener, tls_keys_per_mode) {
  fx_listener_error(
      HEAD "  tls:\n    mode: psk\n" AUTHZ_NONE,
      "D/l.yaml:6: listener.tls.psk_file: required key 'psk_file' missing (mode psk)");
  fx_listener_error(
      HEAD "  tls:\n    mode: server-cert\n" AUTHZ_NONE,
      "D/l.yaml:6: listener.tls.cert: required key 'cert' missing (mode server-cert)");
  fx_listener_error(HEAD "  tls:\n    mode: mtls\n    key: certs/srv.key\n" AUTHZ_NONE,
                    "D/l.yaml:6: listener.tls.cert: required key 'cert' missing (mode mtls)");
  fx_listener_error(HEAD "  tls:\n    mode: mtls\n    cert: certs/srv.pem\n" AUTHZ_NONE,
                    "D/l.yaml:6: listener.tls.key: required key 'key' missing (cert is set)");
  fx_listener_error(HEAD "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
                         "    key: certs/srv.key\n" AUTHZ_NONE,
                    "D/l.yaml:8: listener.tls.key: not allowed without 'cert'");
  fx_listener_error(HEAD TLS_CERT "    psk_file: certs/demo.psk\n" AUTHZ_NONE,
                    "D/l.yaml:9: listener.tls.psk_file: not allowed with mode server-cert");
  fx_listener_error(HEAD "  tls:\n    psk_file: certs/demo.psk\n    mode: mtls\n"
                         "    cert: certs/srv.pem\n    key: certs/srv.key\n" AUTHZ_NONE,
                    "D/l.yaml:6: listener.tls.psk_file: not allowed with mode mtls");
  fx_listener_error(HEAD TLS_CERT "    psk_identity_hint: h\n" AUTHZ_NONE,
                    "D/l.yaml:9: listener.tls.psk_identity_hint: not allowed with mode "
                    "server-cert");
  fx_listener_error(HEAD TLS_CERT "    crl_check: false\n" AUTHZ_NONE,
                    "D/l.yaml:9: listener.tls.crl_check: not allowed with mode server-cert");
  fx_listener_error(
      HEAD "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
           "    psk_identity_hint: "
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" AUTHZ_NONE,
      "D/l.yaml:8: listener.tls.psk_identity_hint: must be at most 128 bytes");
}

Test(config_listener, crl_check_needs_site_crls) {
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca: certs/ca.pem\n");
  fx_listener_error(HEAD "  tls:\n    mode: mtls\n    cert: certs/srv.pem\n    key: certs/srv.key\n"
                         "    crl_check: true\n" AUTHZ_NONE,
                    "D/l.yaml:9: listener.tls.crl_check: needs CRLs in site.trust.crl "
                    "(D/site.yaml)");
  /* Turning it off explicitly is fine. */
  fx_write("l.yaml",
           HEAD "  tls:\n    mode: mtls\n    cert: certs/srv.pem\n    key: certs/srv.key\n"
                "    crl_check: false\n" AUTHZ_NONE);
  egw_site_policy_free(fx_load());
}

#define TLS_MTLS "  tls:\n    mode: mtls\n    cert: certs/srv.pem\n    key: certs/srv.key\n"
#define STATIC "  authz:\n    mode: static\n    rules:\n" /* lines 9-11 */

Test(config_listener, rules_per_authz_mode) {
  fx_listener_error(HEAD TLS_MTLS STATIC "      - {path: /, allow: any}\n"
                                         "  authz: {}\n",
                    "D/l.yaml:13: listener.authz: duplicate key");
  fx_listener_error(HEAD TLS_MTLS "  authz:\n    mode: static\n",
                    "D/l.yaml:10: listener.authz.rules: required key 'rules' missing (mode "
                    "static)");
  fx_listener_error(HEAD TLS_MTLS "  authz:\n    rules: [{path: /, allow: any}]\n    mode: none\n",
                    "D/l.yaml:10: listener.authz.rules: not allowed with mode none");
  fx_listener_error(HEAD TLS_MTLS "  authz:\n    mode: token\n    audience: ees1\n",
                    "D/l.yaml:10: listener.authz.rules: required key 'rules' missing (mode "
                    "token)");
}

Test(config_listener, rule_errors) {
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: whoami\n        allow: any\n",
                    "D/l.yaml:12: listener.authz.rules[0].path: 'whoami' must start with '/'");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        allow: any\n"
                                         "      - allow: any\n",
                    "D/l.yaml:14: listener.authz.rules[1].path: required key 'path' missing");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n",
                    "D/l.yaml:12: listener.authz.rules[0].allow: required key 'allow' missing");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        allow: any\n        deny: x\n",
                    "D/l.yaml:14: listener.authz.rules[0].deny: unknown key");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - /a\n",
                    "D/l.yaml:12: listener.authz.rules[0]: must be a mapping");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        methods: [GET, get]\n"
                                         "        allow: any\n",
                    "D/l.yaml:13: listener.authz.rules[0].methods: unknown method 'get' (expected "
                    "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        methods: GET\n"
                                         "        allow: any\n",
                    "D/l.yaml:13: listener.authz.rules[0].methods: must be a list");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        methods: []\n"
                                         "        allow: any\n",
                    "D/l.yaml:13: listener.authz.rules[0].methods: must not be empty");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        allow: everyone\n",
                    "D/l.yaml:13: listener.authz.rules[0].allow: must be a list of patterns or "
                    "the word any");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        allow: []\n",
                    "D/l.yaml:13: listener.authz.rules[0].allow: must not be empty");
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        allow: [CN:x, any]\n",
                    "D/l.yaml:13: listener.authz.rules[0].allow: 'any' stands alone (allow: any), "
                    "not in a list");
}

static void pattern_error(const char *pattern, const char *reason) {
  char text[1024], expected[512];
  snprintf(text, sizeof(text),
           HEAD TLS_MTLS STATIC "      - path: /a\n        allow:\n          - CN:ok\n"
                                "          - \"%s\"\n",
           pattern);
  snprintf(expected, sizeof(expected),
           "D/l.yaml:15: listener.authz.rules[0].allow: invalid pattern '%s': %s", pattern, reason);
  fx_listener_error(text, expected);
}

Test(config_listener, invalid_allow_patterns) {
  static const char *const bad[] = {
      "*", "spiffe://site1/ees*", "DNS:ees*.site1.example", "DNS:", "PSK:*", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const char *reason = NULL;
    cr_assert_not(egw_allowlist_pattern_valid(bad[i], &reason), "%s", bad[i]);
    if (bad[i][0] == '\0')
      continue; /* the parser refuses an empty string before asking */
    pattern_error(bad[i], reason);
  }
}

Test(config_listener, empty_pattern_is_refused) {
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        allow: ['']\n",
                    "D/l.yaml:13: listener.authz.rules[0].allow: must not be empty");
}

Test(config_listener, errors_leave_nothing_behind) {
  /* Failures deep in the last file, after other listeners were built: run under
   * valgrind to see that everything built so far is freed. */
  fx_write("a.yaml", FX_EDGE4);
  fx_listener_error(HEAD TLS_MTLS STATIC "      - path: /a\n        methods: [GET]\n"
                                         "        allow: [CN:a, CN:b, 'CN:c*']\n",
                    "D/l.yaml:14: listener.authz.rules[0].allow: invalid pattern 'CN:c*': "
                    "'*' must stand for a whole segment");
}
