#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keys/truststore.h"

static void need_certs(void) {
  if (access("certs/out/ca.pem", R_OK) != 0 || access("certs/out/demo.psk", R_OK) != 0)
    cr_assert_eq(system("certs/gen.sh"), 0);
}

static X509 *read_cert(const char *path) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  cr_assert_not_null(x);
  return x;
}

/* verify checks |leaf| against the store the way a TLS server would. */
static int verify(X509_STORE *store, const char *leaf_path, unsigned long flags) {
  X509 *leaf = read_cert(leaf_path);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  cr_assert(X509_STORE_CTX_init(ctx, store, leaf, NULL));
  if (flags)
    X509_STORE_CTX_set_flags(ctx, flags);
  int err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_free(leaf);
  return err;
}

Test(truststore, loads_cas_and_crls, .init = need_certs) {
  const char *cas[] = {"certs/out/ca.pem"};
  const char *crls[] = {"certs/out/crl.pem"};
  char *err = NULL;
  struct egw_truststore *ts = egw_truststore_new(cas, 1, crls, 1, &err);
  cr_assert_not_null(ts, "%s", err ? err : "");
  cr_assert(egw_truststore_has_crls(ts));
  X509_STORE *store = egw_truststore_get0_store(ts);
  cr_assert_eq(verify(store, "certs/out/eec1.pem", 0), X509_V_OK);
  cr_assert_eq(verify(store, "certs/out/rogue-eec.pem", 0),
               X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  cr_assert_eq(verify(store, "certs/out/eec-revoked.pem", 0), X509_V_OK);
  cr_assert_eq(
      verify(store, "certs/out/eec-revoked.pem", X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL),
      X509_V_ERR_CERT_REVOKED);
  cr_assert_eq(
      verify(store, "certs/out/eec1.pem", X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL),
      X509_V_OK);
  egw_truststore_free(ts);
}

Test(truststore, several_files_and_several_certs_per_file, .init = need_certs) {
  char path[] = "/tmp/egw-ca-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "cat certs/out/rogue-ca.pem certs/out/ca.pem > %s", path);
  cr_assert_eq(system(cmd), 0);
  const char *cas[] = {path};
  char *err = NULL;
  struct egw_truststore *ts = egw_truststore_new(cas, 1, NULL, 0, &err);
  cr_assert_not_null(ts, "%s", err ? err : "");
  cr_assert_not(egw_truststore_has_crls(ts));
  cr_assert_eq(verify(egw_truststore_get0_store(ts), "certs/out/rogue-eec.pem", 0), X509_V_OK);
  cr_assert_eq(verify(egw_truststore_get0_store(ts), "certs/out/eec1.pem", 0), X509_V_OK);
  egw_truststore_free(ts);
  unlink(path);
}

Test(truststore, errors, .init = need_certs) {
  char *err = NULL;
  const char *missing[] = {"certs/out/ca.pem", "certs/out/nope.pem"};
  cr_assert_null(egw_truststore_new(missing, 2, NULL, 0, &err));
  cr_assert_str_eq(err, "certs/out/nope.pem: cannot open: No such file or directory");
  free(err);

  const char *no_cert[] = {"certs/out/demo.psk"};
  err = NULL;
  cr_assert_null(egw_truststore_new(no_cert, 1, NULL, 0, &err));
  cr_assert_str_eq(err, "certs/out/demo.psk: no certificate found");
  free(err);

  const char *cas[] = {"certs/out/ca.pem"};
  const char *not_crl[] = {"certs/out/ca.pem"};
  err = NULL;
  cr_assert_null(egw_truststore_new(cas, 1, not_crl, 1, &err));
  cr_assert_str_eq(err, "certs/out/ca.pem: no CRL found");
  free(err);

  char path[] = "/tmp/egw-bad-XXXXXX";
  int fd = mkstemp(path);
  const char *bad = "-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n";
  cr_assert_eq(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
  close(fd);
  const char *bad_files[] = {path};
  err = NULL;
  cr_assert_null(egw_truststore_new(bad_files, 1, NULL, 0, &err));
  char want[128];
  snprintf(want, sizeof(want), "%s: invalid PEM certificate #1:", path);
  cr_assert(strncmp(err, want, strlen(want)) == 0, "%s", err);
  free(err);
  unlink(path);
}

static char *read_text(const char *path, size_t *out_len) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  char *buf = malloc(65536);
  size_t n = fread(buf, 1, 65535, f);
  fclose(f);
  buf[n] = '\0';
  *out_len = n;
  return buf;
}

/* The EES adds the CAs its ECS names for EEC client certificates to the live store: a
 * client of that CA verifies afterwards, through the same X509_STORE an SSL_CTX holds. */
Test(truststore, add_pem_to_the_live_store, .init = need_certs) {
  const char *cas[] = {"certs/out/ca.pem"};
  char *err = NULL;
  struct egw_truststore *ts = egw_truststore_new(cas, 1, NULL, 0, &err);
  cr_assert_not_null(ts);
  X509_STORE *store = egw_truststore_get0_store(ts);
  cr_assert_eq(verify(store, "certs/out/rogue-eec.pem", 0),
               X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

  size_t len;
  char *rogue_ca = read_text("certs/out/rogue-ca.pem", &len);
  cr_assert_eq(egw_truststore_add_pem(ts, rogue_ca, len, &err), 1, "%s", err ? err : "");
  cr_assert_eq(verify(store, "certs/out/rogue-eec.pem", 0), X509_V_OK);
  cr_assert_eq(verify(store, "certs/out/eec1.pem", 0), X509_V_OK);
  /* Added again, or together with a CA the store has: nothing new, no error. */
  cr_assert_eq(egw_truststore_add_pem(ts, rogue_ca, len, &err), 0);
  size_t len2;
  char *site_ca = read_text("certs/out/ca.pem", &len2);
  char *both = malloc(len + len2 + 1);
  memcpy(both, site_ca, len2);
  memcpy(both + len2, rogue_ca, len + 1);
  cr_assert_eq(egw_truststore_add_pem(ts, both, len + len2, &err), 0);
  free(both);
  free(site_ca);
  free(rogue_ca);
  egw_truststore_free(ts);
}

Test(truststore, add_pem_refuses_what_is_not_a_ca, .init = need_certs) {
  const char *cas[] = {"certs/out/ca.pem"};
  char *err = NULL;
  struct egw_truststore *ts = egw_truststore_new(cas, 1, NULL, 0, &err);
  cr_assert_not_null(ts);
  size_t len;
  char *leaf = read_text("certs/out/rogue-eec.pem", &len);
  cr_assert_eq(egw_truststore_add_pem(ts, leaf, len, &err), -1);
  cr_assert_str_eq(err, "certificate #1: not a CA certificate");
  free(err);
  free(leaf);
  /* The leaf did not become a trust anchor. */
  cr_assert_neq(verify(egw_truststore_get0_store(ts), "certs/out/rogue-eec.pem", 0), X509_V_OK);

  err = NULL;
  const char *junk = "not a certificate\n";
  cr_assert_eq(egw_truststore_add_pem(ts, junk, strlen(junk), &err), -1);
  cr_assert_str_eq(err, "no certificate found");
  free(err);

  err = NULL;
  const char *bad = "-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n";
  cr_assert_eq(egw_truststore_add_pem(ts, bad, strlen(bad), &err), -1);
  cr_assert(strncmp(err, "certificate #1: invalid PEM:", 28) == 0, "%s", err);
  free(err);
  egw_truststore_free(ts);
}
