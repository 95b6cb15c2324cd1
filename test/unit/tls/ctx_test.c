#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "keys/keystore.h"
#include "keys/truststore.h"
#include "tls/tls.h"
#include "tls_support.h"

static void expect_error(const struct egw_listener_policy *lp, struct egw_truststore *trust,
                         struct egw_keystore *keys, const char *want) {
  char *err = NULL;
  struct egw_tls_ctx *ctx = egw_tls_ctx_new(lp, trust, keys, &err);
  cr_assert_null(ctx, "accepted, expected: %s", want);
  cr_assert_not_null(err);
  cr_assert_str_eq(err, want);
  free(err);
}

static struct egw_truststore *load_trust(int with_crl) {
  const char *cas[] = {"certs/out/ca.pem"};
  const char *crls[] = {"certs/out/crl.pem"};
  char *err = NULL;
  struct egw_truststore *ts = egw_truststore_new(cas, 1, crls, with_crl ? 1 : 0, &err);
  cr_assert_not_null(ts, "%s", err ? err : "");
  return ts;
}

Test(tls_ctx, certificate_problems, .init = need_certs) {
  struct egw_listener_policy lp =
      listener(EGW_TLS_SERVER_CERT, "certs/out/missing.pem", "certs/out/ees.key");
  expect_error(&lp, NULL, NULL,
               "policies/test.yaml:7: tls: cert certs/out/missing.pem: No such file or "
               "directory");
  lp.tls.cert_file = "certs/out/ees.pem";
  lp.tls.key_file = "certs/out/nokey.key";
  expect_error(&lp, NULL, NULL,
               "policies/test.yaml:7: tls: key certs/out/nokey.key: No such file or directory");
  lp.tls.key_file = "certs/out/ecs.key";
  expect_error(&lp, NULL, NULL,
               "policies/test.yaml:7: tls: key certs/out/ecs.key does not match the "
               "certificate in certs/out/ees.pem");
  lp.tls.cert_file = "certs/out/demo.psk";
  expect_error(&lp, NULL, NULL,
               "policies/test.yaml:7: tls: cert certs/out/demo.psk: cannot load the "
               "certificate chain: no start line");
  lp.tls.cert_file = NULL;
  expect_error(&lp, NULL, NULL, "policies/test.yaml:7: tls: mode server-cert needs cert and key");
  lp.tls.mode = EGW_TLS_MTLS;
  lp.tls.cert_file = "certs/out/ees.pem";
  lp.tls.key_file = NULL;
  struct egw_truststore *trust = load_trust(1);
  expect_error(&lp, trust, NULL, "policies/test.yaml:7: tls: mode mtls needs cert and key");
  egw_truststore_free(trust);
}

Test(tls_ctx, key_file_does_not_leak_into_errors, .init = need_certs) {
  /* A key given as the certificate: the error names the file, not its content. */
  struct egw_listener_policy lp =
      listener(EGW_TLS_SERVER_CERT, "certs/out/ees.key", "certs/out/ees.key");
  char *err = NULL;
  cr_assert_null(egw_tls_ctx_new(&lp, NULL, NULL, &err));
  cr_assert_null(strstr(err, "PRIVATE"), "%s", err);
  cr_assert(strncmp(err, "policies/test.yaml:7: tls: cert certs/out/ees.key: ", 51) == 0, "%s",
            err);
  free(err);
}

Test(tls_ctx, mtls_needs_trust_and_crls, .init = need_certs) {
  struct egw_listener_policy lp = listener(EGW_TLS_MTLS, "certs/out/ecs.pem", "certs/out/ecs.key");
  expect_error(&lp, NULL, NULL,
               "policies/test.yaml:7: tls: mode mtls needs the site's CA certificates");
  lp.tls.crl_check = 1;
  struct egw_truststore *no_crl = load_trust(0);
  expect_error(&lp, no_crl, NULL,
               "policies/test.yaml:7: tls: crl_check is set but the site has no CRL");
  egw_truststore_free(no_crl);
  struct egw_truststore *with_crl = load_trust(1);
  char *err = NULL;
  struct egw_tls_ctx *ctx = egw_tls_ctx_new(&lp, with_crl, NULL, &err);
  cr_assert_not_null(ctx, "%s", err ? err : "");
  /* The context keeps its own reference on the store. */
  egw_truststore_free(with_crl);
  egw_tls_ctx_free(ctx);
}

Test(tls_ctx, psk_needs_a_realm_and_a_key_store, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  struct egw_listener_policy lp = listener(EGW_TLS_PSK, NULL, NULL);
  expect_error(&lp, NULL, ks,
               "policies/test.yaml:7: tls: mode psk needs psk_file (the listener's key realm)");
  lp.tls.psk_file = "certs/out/demo.psk";
  expect_error(&lp, NULL, NULL, "policies/test.yaml:7: tls: mode psk needs the site's key store");
  char hint[200];
  memset(hint, 'h', sizeof(hint) - 1);
  hint[sizeof(hint) - 1] = '\0';
  lp.tls.psk_identity_hint = hint;
  expect_error(&lp, NULL, ks,
               "policies/test.yaml:7: tls: psk_identity_hint is too long (at most 128 bytes)");
  lp.tls.psk_identity_hint = "3GPP-EDGE";
  lp.tls.cert_file = "certs/out/ees.pem";
  expect_error(&lp, NULL, ks, "policies/test.yaml:7: tls: cert and key go together");
  lp.tls.key_file = "certs/out/ees.key";
  char *err = NULL;
  struct egw_tls_ctx *ctx = egw_tls_ctx_new(&lp, NULL, ks, &err);
  cr_assert_not_null(ctx, "psk with a certificate: %s", err ? err : "");
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}

Test(tls_ctx, cipher_override, .init = need_certs) {
  struct egw_listener_policy lp =
      listener(EGW_TLS_SERVER_CERT, "certs/out/ees.pem", "certs/out/ees.key");
  lp.tls.ciphers = "NOT-A-CIPHER";
  expect_error(&lp, NULL, NULL,
               "policies/test.yaml:7: tls: ciphers: invalid cipher list 'NOT-A-CIPHER'");
  lp.tls.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
  char *err = NULL;
  struct egw_tls_ctx *ctx = egw_tls_ctx_new(&lp, NULL, NULL, &err);
  cr_assert_not_null(ctx, "%s", err ? err : "");
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  struct client *cl = client_new(&(struct client_opts){.max_version = TLS1_2_VERSION});
  struct egw_buf plain = {0};
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_OK);
  cr_assert_str_eq(egw_tls_conn_cipher(s), "ECDHE-ECDSA-CHACHA20-POLY1305");
  egw_buf_free(&plain);
  client_free(cl);
  egw_tls_conn_free(s);
  egw_tls_ctx_free(ctx);
}

Test(tls_ctx, unknown_mode) {
  struct egw_listener_policy lp = listener((enum egw_tls_mode)42, NULL, NULL);
  expect_error(&lp, NULL, NULL, "policies/test.yaml:7: tls: unknown mode 42");
}
