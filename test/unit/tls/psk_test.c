#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "keys/keystore.h"
#include "tls/tls.h"
#include "tls_support.h"

#define REALM "policies/test.psk"

static const uint8_t key_a[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                  0xcc, 0xdd, 0xee, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                  0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};

static struct egw_tls_ctx *psk_ctx(struct egw_keystore *ks, const char *realm) {
  struct egw_listener_policy lp = listener(EGW_TLS_PSK, NULL, NULL);
  lp.tls.psk_file = (char *)realm;
  lp.tls.psk_identity_hint = "3GPP-EDGE";
  char *err = NULL;
  struct egw_tls_ctx *ctx = egw_tls_ctx_new(&lp, NULL, ks, &err);
  cr_assert_not_null(ctx, "%s", err ? err : "");
  return ctx;
}

/* run connects a PSK client and returns the server connection (caller frees). */
static struct egw_tls_conn *run(struct egw_tls_ctx *ctx, const struct client_opts *opts,
                                enum egw_tls_status *out_st, struct client **out_client) {
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  cr_assert_not_null(s);
  struct client *cl = client_new(opts);
  struct egw_buf plain = {0};
  *out_st = handshake(cl, s, &plain);
  egw_buf_free(&plain);
  if (out_client)
    *out_client = cl;
  else
    client_free(cl);
  return s;
}

static void expect_ok(struct egw_tls_ctx *ctx, const char *identity, const uint8_t *key,
                      size_t key_len) {
  enum egw_tls_status st;
  struct client *cl;
  struct egw_tls_conn *s =
      run(ctx, &(struct client_opts){.psk_identity = identity, .psk = key, .psk_len = key_len}, &st,
          &cl);
  cr_assert_eq(st, EGW_TLS_OK, "%s refused", identity);
  cr_assert(egw_tls_conn_handshake_done(s));
  cr_assert_str_eq(egw_tls_conn_version(s), "TLSv1.2");
  cr_assert_str_eq(egw_tls_conn_cipher(s), "ECDHE-PSK-CHACHA20-POLY1305");
  cr_assert_str_eq(cl->hint, "3GPP-EDGE");
  const struct egw_peer *peer = egw_tls_conn_peer(s);
  cr_assert_eq(peer->kind, EGW_PEER_PSK);
  cr_assert_str_eq(peer->id, identity);
  cr_assert_not(peer->has_cert_sha256);
  /* Data flows. */
  struct egw_buf plain = {0}, out = {0};
  cr_assert_eq(client_send(cl, s, "ping", &plain), EGW_TLS_OK);
  cr_assert_eq(plain.len, 4);
  cr_assert_eq(egw_tls_conn_write(s, (const uint8_t *)"pong", 4, &out), 0);
  client_receive(cl, &out);
  cr_assert_eq(cl->plain.len, 4);
  cr_assert(memcmp(cl->plain.data, "pong", 4) == 0);
  egw_buf_free(&plain);
  egw_buf_free(&out);
  client_free(cl);
  egw_tls_conn_free(s);
}

static void expect_unknown(struct egw_tls_ctx *ctx, const char *identity) {
  enum egw_tls_status st;
  struct egw_tls_conn *s = run(
      ctx, &(struct client_opts){.psk_identity = identity, .psk = key_a, .psk_len = 32}, &st, NULL);
  cr_assert_eq(st, EGW_TLS_FAILED, "%s accepted", identity);
  const char *r, *a, *id;
  egw_tls_conn_failure(s, &r, &a, &id);
  cr_assert_str_eq(r, "unknown PSK identity");
  cr_assert_str_eq(a, "unknown_psk_identity");
  cr_assert_str_eq(id, identity);
  cr_assert_eq(egw_tls_conn_peer(s)->kind, EGW_PEER_NONE);
  egw_tls_conn_free(s);
}

Test(psk, known_identity_from_put, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, REALM, "eec-a", key_a, sizeof(key_a), 0), 0);
  struct egw_tls_ctx *ctx = psk_ctx(ks, REALM);
  expect_ok(ctx, "eec-a", key_a, sizeof(key_a));
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}

Test(psk, known_identity_from_demo_psk_file, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  char *err = NULL;
  cr_assert_eq(egw_keystore_load_file(ks, "certs/out/demo.psk", &err), 0, "%s", err);
  struct egw_tls_ctx *ctx = psk_ctx(ks, "certs/out/demo.psk");
  uint8_t key[64];
  size_t n = psk_from_file("certs/out/demo.psk", "demo-eec1", key, sizeof(key));
  expect_ok(ctx, "demo-eec1", key, n);
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}

Test(psk, unknown_identity, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, REALM, "eec-a", key_a, sizeof(key_a), 0), 0);
  struct egw_tls_ctx *ctx = psk_ctx(ks, REALM);
  expect_unknown(ctx, "eec-b");
  expect_unknown(ctx, "eec-");
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}

Test(psk, wrong_key, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, REALM, "eec-a", key_a, sizeof(key_a), 0), 0);
  struct egw_tls_ctx *ctx = psk_ctx(ks, REALM);
  uint8_t wrong[32];
  memcpy(wrong, key_a, sizeof(wrong));
  wrong[31] ^= 1;
  enum egw_tls_status st;
  struct egw_tls_conn *s = run(
      ctx, &(struct client_opts){.psk_identity = "eec-a", .psk = wrong, .psk_len = 32}, &st, NULL);
  cr_assert_eq(st, EGW_TLS_FAILED);
  const char *r, *a, *id;
  egw_tls_conn_failure(s, &r, &a, &id);
  cr_assert(strcmp(a, "bad_record_mac") == 0 || strcmp(a, "decrypt_error") == 0, "%s", a);
  cr_assert_str_eq(r, "bad record MAC");
  cr_assert_str_eq(id, "eec-a");
  cr_assert_null(strstr(r, "1122"), "no key material");
  egw_tls_conn_free(s);
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}

Test(psk, realm_isolation, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, "policies/other.psk", "other-eec", key_a, 32, 0), 0);
  cr_assert_eq(egw_keystore_put(ks, NULL, "kedge-1", key_a, 16, 0), 0);
  struct egw_tls_ctx *ctx = psk_ctx(ks, REALM);
  expect_unknown(ctx, "other-eec");
  expect_ok(ctx, "kedge-1", key_a, 16); /* site-wide keys are visible everywhere */
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}

Test(psk, expired_key, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  /* 1 ms after the monotonic clock's origin: long gone. */
  cr_assert_eq(egw_keystore_put(ks, REALM, "old", key_a, 32, 1), 0);
  struct egw_tls_ctx *ctx = psk_ctx(ks, REALM);
  expect_unknown(ctx, "old");
  cr_assert_eq(egw_keystore_size(ks), 0);
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}

Test(psk, cbc_suite_only_as_fallback, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  cr_assert_eq(egw_keystore_put(ks, REALM, "eec-a", key_a, 32, 0), 0);
  struct egw_tls_ctx *ctx = psk_ctx(ks, REALM);
  enum egw_tls_status st;
  /* Client preference does not matter: the server's order puts CHACHA20 first. */
  struct egw_tls_conn *s =
      run(ctx,
          &(struct client_opts){.psk_identity = "eec-a",
                                .psk = key_a,
                                .psk_len = 32,
                                .ciphers = "PSK-AES128-CBC-SHA:ECDHE-PSK-CHACHA20-POLY1305"},
          &st, NULL);
  cr_assert_eq(st, EGW_TLS_OK);
  cr_assert_str_eq(egw_tls_conn_cipher(s), "ECDHE-PSK-CHACHA20-POLY1305");
  egw_tls_conn_free(s);
  s = run(ctx,
          &(struct client_opts){.psk_identity = "eec-a",
                                .psk = key_a,
                                .psk_len = 32,
                                .ciphers = "ECDHE-PSK-AES128-CBC-SHA"},
          &st, NULL);
  cr_assert_eq(st, EGW_TLS_OK);
  cr_assert_str_eq(egw_tls_conn_cipher(s), "ECDHE-PSK-AES128-CBC-SHA");
  egw_tls_conn_free(s);
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}

Test(psk, tls13_only_client_is_refused, .init = need_certs) {
  struct egw_keystore *ks = egw_keystore_new();
  struct egw_tls_ctx *ctx = psk_ctx(ks, REALM);
  enum egw_tls_status st;
  struct egw_tls_conn *s =
      run(ctx,
          &(struct client_opts){
              .psk_identity = "eec-a", .psk = key_a, .psk_len = 32, .min_version = TLS1_3_VERSION},
          &st, NULL);
  cr_assert_eq(st, EGW_TLS_FAILED);
  const char *r, *a, *id;
  egw_tls_conn_failure(s, &r, &a, &id);
  cr_assert_str_eq(a, "protocol_version");
  cr_assert_null(id);
  egw_tls_conn_free(s);
  egw_tls_ctx_free(ctx);
  egw_keystore_free(ks);
}
