#include <criterion/criterion.h>

#include <string.h>

#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "keys/truststore.h"
#include "tls/tls.h"
#include "tls_support.h"

static struct egw_truststore *trust;

static void setup(void) {
  need_certs();
  const char *cas[] = {"certs/out/ca.pem"};
  const char *crls[] = {"certs/out/crl.pem"};
  char *err = NULL;
  trust = egw_truststore_new(cas, 1, crls, 1, &err);
  cr_assert_not_null(trust, "%s", err ? err : "");
}

static void teardown(void) { egw_truststore_free(trust); }

/* connect_with runs one handshake of a client with |cert| against an mtls listener and
 * hands back the server connection (caller frees) for inspection. */
static struct egw_tls_conn *connect_with(const char *cert, const char *key, int crl_check,
                                         uint16_t max_version, enum egw_tls_status *out_st) {
  struct egw_listener_policy lp = listener(EGW_TLS_MTLS, "certs/out/ecs.pem", "certs/out/ecs.key");
  lp.tls.crl_check = crl_check;
  char *err = NULL;
  struct egw_tls_ctx *ctx = egw_tls_ctx_new(&lp, trust, NULL, &err);
  cr_assert_not_null(ctx, "%s", err ? err : "");
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  egw_tls_ctx_free(ctx);
  struct client *cl =
      client_new(&(struct client_opts){.cert = cert, .key = key, .max_version = max_version});
  struct egw_buf plain = {0};
  *out_st = handshake(cl, s, &plain);
  if (*out_st == EGW_TLS_FAILED)
    cr_assert(cl->failed, "the client saw the refusal");
  egw_buf_free(&plain);
  client_free(cl);
  return s;
}

static void expect_refused(const char *name, int crl_check, uint16_t max_version,
                           const char *reason, const char *alert) {
  char cert[128] = "", key[128] = "";
  if (name) {
    snprintf(cert, sizeof(cert), "certs/out/%s.pem", name);
    snprintf(key, sizeof(key), "certs/out/%s.key", name);
  }
  enum egw_tls_status st;
  struct egw_tls_conn *s =
      connect_with(name ? cert : NULL, name ? key : NULL, crl_check, max_version, &st);
  cr_assert_eq(st, EGW_TLS_FAILED, "%s accepted", name ? name : "no certificate");
  cr_assert_not(egw_tls_conn_handshake_done(s));
  cr_assert_eq(egw_tls_conn_peer(s)->kind, EGW_PEER_NONE);
  const char *r, *a, *id;
  egw_tls_conn_failure(s, &r, &a, &id);
  cr_assert_str_eq(r, reason);
  cr_assert_str_eq(a ? a : "(null)", alert);
  cr_assert_null(id);
  egw_tls_conn_free(s);
}

static void expect_peer(const char *name, int crl_check, enum egw_peer_kind kind, const char *id) {
  char cert[128], key[128];
  snprintf(cert, sizeof(cert), "certs/out/%s.pem", name);
  snprintf(key, sizeof(key), "certs/out/%s.key", name);
  enum egw_tls_status st;
  struct egw_tls_conn *s = connect_with(cert, key, crl_check, 0, &st);
  cr_assert_eq(st, EGW_TLS_OK, "%s refused", name);
  cr_assert(egw_tls_conn_handshake_done(s));
  cr_assert_str_eq(egw_tls_conn_version(s), "TLSv1.3");
  const struct egw_peer *peer = egw_tls_conn_peer(s);
  cr_assert_eq(peer->kind, kind, "%s: kind %s", name, egw_peer_kind_name(peer->kind));
  cr_assert_str_eq(peer->id, id);
  cr_assert(peer->has_cert_sha256);
  size_t der_len;
  uint8_t *der = cert_der(cert, &der_len);
  uint8_t want[SHA256_DIGEST_LENGTH];
  SHA256(der, der_len, want);
  OPENSSL_free(der);
  cr_assert_arr_eq(peer->cert_sha256, want, sizeof(want));
  egw_tls_conn_free(s);
}

TestSuite(mtls, .init = setup, .fini = teardown);

Test(mtls, no_client_certificate_tls13) {
  expect_refused(NULL, 0, 0, "no client certificate", "certificate_required");
}

Test(mtls, no_client_certificate_tls12) {
  expect_refused(NULL, 0, TLS1_2_VERSION, "no client certificate", "handshake_failure");
}

Test(mtls, certificate_of_another_ca) {
  expect_refused("rogue-eec", 0, 0,
                 "certificate verify failed: unable to get local issuer certificate", "unknown_ca");
}

Test(mtls, expired_certificate) {
  expect_refused("eec-expired", 0, 0, "certificate verify failed: certificate has expired",
                 "certificate_expired");
}

Test(mtls, revoked_certificate_with_crl_check) {
  expect_refused("eec-revoked", 1, 0, "certificate verify failed: certificate revoked",
                 "certificate_revoked");
  expect_refused("eec-revoked", 1, TLS1_2_VERSION, "certificate verify failed: certificate revoked",
                 "certificate_revoked");
}

Test(mtls, revoked_certificate_without_crl_check) {
  expect_peer("eec-revoked", 0, EGW_PEER_URI, "spiffe://site1/eec/revoked");
}

Test(mtls, crl_check_accepts_valid_certificates) {
  expect_peer("eec1", 1, EGW_PEER_URI, "spiffe://site1/eec/eec1");
}

Test(mtls, uri_san_identity_and_certificate_hash) {
  expect_peer("eec1", 0, EGW_PEER_URI, "spiffe://site1/eec/eec1");
}

Test(mtls, uri_san_wins_over_dns_san) {
  expect_peer("ees1-client", 0, EGW_PEER_URI, "spiffe://site1/ees/ees1");
  expect_peer("ees2-client", 0, EGW_PEER_URI, "spiffe://site1/ees/ees2");
}

Test(mtls, subject_cn_when_no_san) { expect_peer("cn-only", 0, EGW_PEER_CN, "cn-only-client"); }

Test(mtls, tls12_client_certificate) {
  char cert[] = "certs/out/eec1.pem", key[] = "certs/out/eec1.key";
  enum egw_tls_status st;
  struct egw_tls_conn *s = connect_with(cert, key, 1, TLS1_2_VERSION, &st);
  cr_assert_eq(st, EGW_TLS_OK);
  cr_assert_str_eq(egw_tls_conn_version(s), "TLSv1.2");
  cr_assert_str_eq(egw_tls_conn_peer(s)->id, "spiffe://site1/eec/eec1");
  egw_tls_conn_free(s);
}
