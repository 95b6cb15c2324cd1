/* Errors of the directory, of site.yaml and those that span files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"

TestSuite(config_site, .init = fx_init, .fini = fx_fini);

Test(config_site, missing_directory) {
  char *err = NULL;
  cr_assert_null(egw_policy_load_dir("/nonexistent/egw-policies", &err));
  cr_assert_str_eq(err, "/nonexistent/egw-policies: cannot open directory: No such file or "
                        "directory");
  free(err);
}

Test(config_site, missing_site_yaml) {
  fx_write("a.yaml", FX_EDGE4);
  fx_remove("site.yaml");
  fx_expect_error("D/site.yaml: cannot read: No such file or directory");
}

Test(config_site, empty_directory) {
  fx_remove("site.yaml");
  fx_expect_error("D/site.yaml: cannot read: No such file or directory");
}

Test(config_site, no_listener_files) {
  fx_write("readme.txt", "x\n");
  fx_expect_error("D: no listener policy files");
}

Test(config_site, site_yml_is_refused) {
  fx_write("site.yml", FX_SITE);
  fx_expect_error("D/site.yml: the site file must be named site.yaml");
}

Test(config_site, empty_site_file) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "# nothing\n");
  fx_expect_error("D/site.yaml:1: site: required key 'site' missing");
}

Test(config_site, site_must_be_a_mapping) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "- site\n");
  fx_expect_error("D/site.yaml:1: must be a mapping");
  fx_write("site.yaml", "site: [1]\n");
  fx_expect_error("D/site.yaml:1: site: must be a mapping");
}

Test(config_site, site_id_required) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  state_dir: x\n");
  fx_expect_error("D/site.yaml:2: site.id: required key 'id' missing");
}

Test(config_site, site_id_charset) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: 'a b'\n");
  fx_expect_error("D/site.yaml:2: site.id: 'a b' must be at most 64 letters, digits, '.', '_' "
                  "or '-'");
}

Test(config_site, unknown_and_duplicate_keys) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: s\n  colour: red\n");
  fx_expect_error("D/site.yaml:3: site.colour: unknown key");
  fx_write("site.yaml", "site:\n  id: s\n  id: t\n");
  fx_expect_error("D/site.yaml:3: site.id: duplicate key");
  fx_write("site.yaml", "site:\n  id: s\nextra: 1\n");
  fx_expect_error("D/site.yaml:3: extra: unknown key");
}

Test(config_site, drain_timeout_range_and_type) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms: 99\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be between 100 and 600000");
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms: 600001\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be between 100 and 600000");
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms: -5\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be between 100 and 600000");
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms: 99999999999999999999999\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be between 100 and 600000");
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms: 5s\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be an integer");
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms: 0x100\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be an integer");
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms: 01000\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be an integer");
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms: [1]\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be an integer");
  fx_write("site.yaml", "site:\n  id: s\n  drain_timeout_ms:\n");
  fx_expect_error("D/site.yaml:3: site.drain_timeout_ms: must be an integer");
}

Test(config_site, string_types) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: [s]\n");
  fx_expect_error("D/site.yaml:2: site.id: must be a string");
  fx_write("site.yaml", "site:\n  id: ~\n");
  fx_expect_error("D/site.yaml:2: site.id: must be a string");
  fx_write("site.yaml", "site:\n  id: \"\"\n");
  fx_expect_error("D/site.yaml:2: site.id: must not be empty");
  fx_write("site.yaml", "site:\n  id: \"a\\0b\"\n");
  fx_expect_error("D/site.yaml:2: site.id: must not contain NUL bytes");
}

Test(config_site, trust_files_must_be_readable) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca: certs/nope.pem\n");
  fx_expect_error("D/site.yaml:4: site.trust.ca: cannot read 'D/certs/nope.pem': No such file "
                  "or directory");
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca:\n      - certs/ca.pem\n"
                        "      - certs\n");
  fx_expect_error("D/site.yaml:6: site.trust.ca: cannot read 'D/certs': Is a directory");
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca: certs/ca.pem\n    crl: [x.pem]\n");
  fx_expect_error("D/site.yaml:5: site.trust.crl: cannot read 'D/x.pem': No such file or "
                  "directory");
}

/* The readability check, in a way that holds for root too (root reads any file whatever
 * its mode): a path through a regular file cannot be read by anyone. */
Test(config_site, unreadable_file) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca: certs/ca.pem/x\n");
  fx_expect_error("D/site.yaml:4: site.trust.ca: cannot read 'D/certs/ca.pem/x': Not a "
                  "directory");
}

Test(config_site, trust_types) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca: {a: b}\n");
  fx_expect_error("D/site.yaml:4: site.trust.ca: must be a string or a list of strings");
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca: []\n");
  fx_expect_error("D/site.yaml:4: site.trust.ca: must not be empty");
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca: [[certs/ca.pem]]\n");
  fx_expect_error("D/site.yaml:4: site.trust.ca: must be a string");
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    crl: certs/crl.pem\n");
  fx_expect_error("D/site.yaml:4: site.trust.ca: required key 'ca' missing (crl is set)");
  fx_write("site.yaml", "site:\n  id: s\n  trust: certs/ca.pem\n");
  fx_expect_error("D/site.yaml:3: site.trust: must be a mapping");
}

Test(config_site, yaml_syntax_error_line) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: s\n  trust:\n    ca: [a, b\n  state_dir: x\n");
  fx_expect_error("D/site.yaml:5: yaml: did not find expected ',' or ']'");
  fx_write("site.yaml", "site:\n  id: s\n   bad: indent\n");
  fx_expect_error("D/site.yaml:3: yaml: mapping values are not allowed in this context");
}

Test(config_site, tabs_are_a_syntax_error) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n\tid: s\n");
  char *err = fx_error();
  cr_assert(strncmp(err, "D/site.yaml:2: yaml: ", 21) == 0, "%s", err);
  free(err);
}

Test(config_site, one_document_per_file) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("site.yaml", "site:\n  id: s\n---\nsite:\n  id: t\n");
  fx_expect_error("D/site.yaml:4: yaml: only one document per file is allowed");
}

Test(config_site, duplicate_interface_across_files) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("b.yaml", "listener:\n  role: ecs\n  listen: 127.0.0.1:9000\n  interface: EDGE-4\n"
                     "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
                     "  authz:\n    mode: none\n");
  fx_expect_error("D/b.yaml:4: listener.interface: EDGE-4 is already defined in D/a.yaml:2");
}

Test(config_site, duplicate_listen_across_files) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("b.yaml", "listener:\n  interface: EDGE-1\n  role: ees\n  listen: 127.0.0.1:8443\n"
                     "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
                     "  authz:\n    mode: none\n");
  fx_expect_error("D/b.yaml:4: listener.listen: 127.0.0.1:8443 is already used by EDGE-4 "
                  "(D/a.yaml:4)");
}

Test(config_site, wildcard_listen_overlaps) {
  fx_write("a.yaml", FX_EDGE4);
  fx_write("b.yaml", "listener:\n  interface: EDGE-1\n  role: ees\n  listen: 0.0.0.0:8443\n"
                     "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
                     "  authz:\n    mode: none\n");
  fx_expect_error("D/b.yaml:4: listener.listen: 0.0.0.0:8443 overlaps 127.0.0.1:8443 of EDGE-4 "
                  "(D/a.yaml:4)");
}

Test(config_site, duplicate_ipv6_listen_in_another_spelling) {
  fx_write("a.yaml", "listener:\n  interface: A\n  role: ees\n  listen: '[::1]:9'\n"
                     "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
                     "  authz:\n    mode: none\n");
  fx_write("b.yaml", "listener:\n  interface: B\n  role: ees\n  listen: '[0:0::1]:9'\n"
                     "  tls:\n    mode: psk\n    psk_file: certs/demo.psk\n"
                     "  authz:\n    mode: none\n");
  fx_expect_error("D/b.yaml:4: listener.listen: [0:0::1]:9 is already used by A (D/a.yaml:4)");
}

Test(config_site, first_bad_file_in_name_order_is_reported) {
  fx_write("b.yaml", "listener:\n  bogus: 1\n");
  fx_write("a.yml", "listener:\n  colour: red\n");
  fx_expect_error("D/a.yml:2: listener.colour: unknown key");
}
