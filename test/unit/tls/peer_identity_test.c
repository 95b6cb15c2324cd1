/* Client certificates beyond the dev PKI, issued here by the site CA with the openssl
 * CLI: a DNS-only SAN, and a certificate that names nobody. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys/truststore.h"
#include "tls/tls.h"
#include "tls_support.h"

static char dir[] = "/tmp/egw-peer-XXXXXX";

/* issue writes dir/name.pem and dir/name.key signed by the site CA. */
static void issue(const char *name, const char *subj, const char *san) {
  char cwd[512], cmd[2048];
  cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
  snprintf(
      cmd, sizeof(cmd),
      "cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
      "-out %s.key 2>/dev/null && "
      "openssl req -new -key %s.key -subj '%s' -out %s.csr 2>/dev/null && "
      "printf 'extendedKeyUsage=clientAuth\\n%s%s\\n' > %s.ext && "
      "openssl x509 -req -in %s.csr -CA %s/certs/out/ca.pem "
      "-CAkey %s/certs/out/ca.key -set_serial 0x$(openssl rand -hex 8) -days 30 -extfile %s.ext "
      "-out %s.pem 2>/dev/null",
      dir, name, name, subj, name, san ? "subjectAltName=" : "", san ? san : "", name, name, cwd,
      cwd, name, name);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static struct egw_tls_conn *connect_as(const char *name, enum egw_tls_status *out_st) {
  const char *cas[] = {"certs/out/ca.pem"};
  char *err = NULL;
  struct egw_truststore *trust = egw_truststore_new(cas, 1, NULL, 0, &err);
  cr_assert_not_null(trust, "%s", err ? err : "");
  struct egw_listener_policy lp = listener(EGW_TLS_MTLS, "certs/out/ecs.pem", "certs/out/ecs.key");
  struct egw_tls_ctx *ctx = egw_tls_ctx_new(&lp, trust, NULL, &err);
  cr_assert_not_null(ctx, "%s", err ? err : "");
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  egw_tls_ctx_free(ctx);
  egw_truststore_free(trust);
  char cert[256], key[256];
  snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
  snprintf(key, sizeof(key), "%s/%s.key", dir, name);
  struct client *cl = client_new(&(struct client_opts){.cert = cert, .key = key});
  struct egw_buf plain = {0};
  *out_st = handshake(cl, s, &plain);
  egw_buf_free(&plain);
  client_free(cl);
  return s;
}

static void setup(void) {
  need_certs();
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  (void)!system(cmd);
}

TestSuite(peer_identity, .init = setup, .fini = teardown);

Test(peer_identity, dns_san_when_no_uri) {
  issue("dns-only", "/O=edgegw dev/CN=ignored-cn", "DNS:ees9.ees.site1.example");
  enum egw_tls_status st;
  struct egw_tls_conn *s = connect_as("dns-only", &st);
  cr_assert_eq(st, EGW_TLS_OK);
  cr_assert_eq(egw_tls_conn_peer(s)->kind, EGW_PEER_DNS);
  cr_assert_str_eq(egw_tls_conn_peer(s)->id, "ees9.ees.site1.example");
  egw_tls_conn_free(s);
}

Test(peer_identity, first_uri_san_wins) {
  issue("two-uris", "/O=edgegw dev/CN=x",
        "DNS:a.example,URI:spiffe://site1/eec/first,URI:spiffe://site1/eec/second");
  enum egw_tls_status st;
  struct egw_tls_conn *s = connect_as("two-uris", &st);
  cr_assert_eq(st, EGW_TLS_OK);
  cr_assert_eq(egw_tls_conn_peer(s)->kind, EGW_PEER_URI);
  cr_assert_str_eq(egw_tls_conn_peer(s)->id, "spiffe://site1/eec/first");
  egw_tls_conn_free(s);
}

Test(peer_identity, certificate_without_identity_is_refused) {
  issue("nobody", "/O=edgegw dev", NULL);
  enum egw_tls_status st;
  struct egw_tls_conn *s = connect_as("nobody", &st);
  cr_assert_eq(st, EGW_TLS_FAILED);
  const char *r, *a, *id;
  egw_tls_conn_failure(s, &r, &a, &id);
  cr_assert_str_eq(r, "certificate verify failed: the client certificate names no identity");
  cr_assert_not_null(a);
  cr_assert_eq(egw_tls_conn_peer(s)->kind, EGW_PEER_NONE);
  egw_tls_conn_free(s);
}
