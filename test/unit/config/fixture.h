/* Shared by the config unit tests: a temporary policy directory per test with the files
 * a policy may name (their content is not read by the parser), and loading helpers. */
#ifndef EGW_TEST_CONFIG_FIXTURE_H
#define EGW_TEST_CONFIG_FIXTURE_H

#include "config/policy.h"

/* A site.yaml with trust.ca and trust.crl; written by fx_init. */
#define FX_SITE "site:\n  id: site1\n  trust:\n    ca: certs/ca.pem\n    crl: [certs/crl.pem]\n"

/* A valid server-cert listener; line numbers are used by the tests. */
#define FX_EDGE4                                                                                   \
  "listener:\n"                                                                                    \
  "  interface: EDGE-4\n"                                                                          \
  "  role: ecs\n"                                                                                  \
  "  listen: 127.0.0.1:8443\n"                                                                     \
  "  tls:\n"                                                                                       \
  "    mode: server-cert\n"                                                                        \
  "    cert: certs/srv.pem\n"                                                                      \
  "    key: certs/srv.key\n"                                                                       \
  "  authz:\n"                                                                                     \
  "    mode: none\n"

/* fx_init creates the directory (fx_dir) with certs/{ca,crl,srv}.pem, certs/srv.key,
 * certs/demo.psk and site.yaml = FX_SITE; fx_fini removes it. */
void fx_init(void);
void fx_fini(void);
const char *fx_dir(void);
void fx_write(const char *name, const char *text);
void fx_remove(const char *name);
/* fx_load loads the directory and asserts success. */
struct egw_site_policy *fx_load(void);
/* fx_error loads the directory, asserts failure and returns the error with the
 * directory replaced by "D" (caller frees). */
char *fx_error(void);
/* fx_expect_error asserts that loading fails with exactly |expected| ("D/..."). */
void fx_expect_error(const char *expected);
/* fx_listener_error writes |text| as D/l.yaml (beside FX_SITE) and asserts the error. */
void fx_listener_error(const char *text, const char *expected);
/* fx_site_error writes |site| as D/site.yaml beside a valid listener and asserts the
 * error. */
void fx_site_error(const char *site, const char *expected);
/* fx_assert_path asserts that |got| is |rel| resolved in the policy directory. */
void fx_assert_path(const char *got, const char *rel);

/* Pieces of token policies shared by the token and remote suites; the comments give the
 * lines they take, for the expected errors. */
#define FX_TOK_SITE "site:\n  id: site1\n"                 /* lines 1-2 */
#define FX_TOK_ISSUERS FX_TOK_SITE "tokens:\n  issuers:\n" /* lines 1-4 */
#define FX_TOK_HEAD                                                                                \
  "listener:\n  interface: EDGE-4\n  role: ecs\n  listen: 127.0.0.1:8443\n" /* lines 1-4 */
#define FX_TOK_TLS_MTLS                                                                            \
  "  tls:\n    mode: mtls\n    cert: certs/srv.pem\n    key: certs/srv.key\n" /* lines 5-8 */
#define FX_TOK_AUTHZ "  authz:\n    mode: token\n    audience: ees1\n"        /* lines 9-11 */
#define FX_TOK_RULES "    rules:\n      - path: /\n"
#define FX_TOK_STATIC                                                                              \
  "  authz:\n    mode: static\n    rules:\n      - path: /\n        allow: any\n"

#endif
