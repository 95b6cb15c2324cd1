#include <criterion/criterion.h>

#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/tls.h"
#include "tls_support.h"
#include "util/errors.h"

static struct egw_tls_ctx *server_ctx(void) {
  struct egw_listener_policy lp =
      listener(EGW_TLS_SERVER_CERT, "certs/out/ees.pem", "certs/out/ees.key");
  char *err = NULL;
  struct egw_tls_ctx *ctx = egw_tls_ctx_new(&lp, NULL, NULL, &err);
  cr_assert_not_null(ctx, "%s", err ? err : "");
  return ctx;
}

static void assert_failure(struct egw_tls_conn *s, const char *reason, const char *alert) {
  const char *r = NULL, *a = NULL, *id = NULL;
  egw_tls_conn_failure(s, &r, &a, &id);
  cr_assert_str_eq(r ? r : "(null)", reason);
  cr_assert_str_eq(a ? a : "(null)", alert);
  cr_assert_null(id);
}

Test(server_cert, tls13_handshake_and_data_both_ways, .init = need_certs) {
  struct egw_tls_ctx *ctx = server_ctx();
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  egw_tls_ctx_free(ctx); /* the connection keeps the context alive */
  struct client *cl = client_new(&(struct client_opts){0});
  struct egw_buf plain = {0}, out = {0};

  cr_assert_null(egw_tls_conn_cipher(s));
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_OK);
  cr_assert(egw_tls_conn_handshake_done(s));
  cr_assert(SSL_is_init_finished(cl->ssl));
  cr_assert_not(cl->failed);
  cr_assert_eq(SSL_get_verify_result(cl->ssl), X509_V_OK, "client verifies the server");
  cr_assert_str_eq(egw_tls_conn_version(s), "TLSv1.3");
  cr_assert_str_eq(egw_tls_conn_cipher(s), SSL_CIPHER_get_name(SSL_get_current_cipher(cl->ssl)));
  cr_assert(strncmp(egw_tls_conn_cipher(s), "TLS_", 4) == 0, "%s", egw_tls_conn_cipher(s));
  cr_assert_eq(SSL_get_curve_id(cl->ssl), SSL_CURVE_X25519);
  cr_assert_eq(egw_tls_conn_peer(s)->kind, EGW_PEER_NONE);
  cr_assert_null(egw_tls_conn_peer(s)->id);

  cr_assert_eq(client_send(cl, s, "GET / HTTP/1.1\r\n\r\n", &plain), EGW_TLS_OK);
  cr_assert_eq(plain.len, 18);
  cr_assert(memcmp(plain.data, "GET / HTTP/1.1\r\n\r\n", 18) == 0);

  cr_assert_eq(egw_tls_conn_write(s, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17, &out), 0);
  cr_assert(out.len > 17, "records are encrypted and framed");
  cr_assert_null(memmem(out.data, out.len, "200 OK", 6));
  client_receive(cl, &out);
  cr_assert_eq(cl->plain.len, 17);
  cr_assert(memcmp(cl->plain.data, "HTTP/1.1 200 OK\r\n", 17) == 0);

  /* A large response crosses several records. */
  static uint8_t big[100000];
  memset(big, 'x', sizeof(big));
  cl->plain.len = 0;
  cr_assert_eq(egw_tls_conn_write(s, big, sizeof(big), &out), 0);
  client_receive(cl, &out);
  cr_assert_eq(cl->plain.len, sizeof(big));

  /* close_notify from the client: CLOSED; ours reaches the client. */
  SSL_shutdown(cl->ssl);
  const uint8_t *data;
  size_t len;
  BIO_mem_contents(cl->wbio, &data, &len);
  cr_assert_eq(egw_tls_conn_feed(s, data, len, &plain, &out), EGW_TLS_CLOSED);
  egw_tls_conn_shutdown(s, &out);
  cr_assert(out.len > 0);

  egw_buf_free(&plain);
  egw_buf_free(&out);
  client_free(cl);
  egw_tls_conn_free(s);
}

Test(server_cert, tls12_client_gets_an_aead_suite, .init = need_certs) {
  struct egw_tls_ctx *ctx = server_ctx();
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  struct client *cl = client_new(&(struct client_opts){.max_version = TLS1_2_VERSION});
  struct egw_buf plain = {0};
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_OK);
  cr_assert_str_eq(egw_tls_conn_version(s), "TLSv1.2");
  cr_assert_str_eq(egw_tls_conn_cipher(s), "ECDHE-ECDSA-AES128-GCM-SHA256");

  /* A client that prefers CHACHA20 still gets an AEAD suite. */
  struct egw_tls_conn *s2 = egw_tls_conn_new(ctx);
  struct client *cl2 = client_new(
      &(struct client_opts){.max_version = TLS1_2_VERSION,
                            .ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA"});
  cr_assert_eq(handshake(cl2, s2, &plain), EGW_TLS_OK);
  cr_assert_str_eq(egw_tls_conn_cipher(s2), "ECDHE-ECDSA-CHACHA20-POLY1305");

  egw_buf_free(&plain);
  client_free(cl);
  client_free(cl2);
  egw_tls_conn_free(s);
  egw_tls_conn_free(s2);
  egw_tls_ctx_free(ctx);
}

Test(server_cert, cbc_only_client_is_refused, .init = need_certs) {
  struct egw_tls_ctx *ctx = server_ctx();
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  struct client *cl = client_new(
      &(struct client_opts){.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES128-SHA"});
  struct egw_buf plain = {0};
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_FAILED);
  cr_assert_not(egw_tls_conn_handshake_done(s));
  assert_failure(s, "no shared cipher", "handshake_failure");
  cr_assert(cl->failed);
  cr_assert_eq(cl->received_alert, SSL_AD_HANDSHAKE_FAILURE, "the alert reached the client");
  /* Further input is refused without effort. */
  struct egw_buf out = {0};
  cr_assert_eq(egw_tls_conn_feed(s, (const uint8_t *)"x", 1, &plain, &out), EGW_TLS_FAILED);
  cr_assert_eq(egw_tls_conn_write(s, (const uint8_t *)"x", 1, &out), EGW_ERR_TLS);
  cr_assert_eq(out.len, 0);
  egw_buf_free(&plain);
  client_free(cl);
  egw_tls_conn_free(s);
  egw_tls_ctx_free(ctx);
}

Test(server_cert, tls11_client_is_refused, .init = need_certs) {
  struct egw_tls_ctx *ctx = server_ctx();
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  struct client *cl =
      client_new(&(struct client_opts){.min_version = TLS1_VERSION, .max_version = TLS1_1_VERSION});
  struct egw_buf plain = {0};
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_FAILED);
  assert_failure(s, "unsupported protocol", "protocol_version");
  cr_assert_eq(cl->received_alert, SSL_AD_PROTOCOL_VERSION);
  egw_buf_free(&plain);
  client_free(cl);
  egw_tls_conn_free(s);
  egw_tls_ctx_free(ctx);
}

Test(server_cert, byte_at_a_time, .init = need_certs) {
  struct egw_tls_ctx *ctx = server_ctx();
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  struct client *cl = client_new(&(struct client_opts){0});
  struct egw_buf plain = {0}, out = {0};
  SSL_do_handshake(cl->ssl);
  const uint8_t *data;
  size_t len;
  cr_assert(BIO_mem_contents(cl->wbio, &data, &len));
  for (size_t i = 0; i < len; i++)
    cr_assert_eq(egw_tls_conn_feed(s, data + i, 1, &plain, &out), EGW_TLS_OK);
  BIO_reset(cl->wbio);
  cr_assert(out.len > 0, "the server flight is out after the last byte");
  client_receive(cl, &out);
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_OK);
  cr_assert(egw_tls_conn_handshake_done(s));
  egw_buf_free(&plain);
  egw_buf_free(&out);
  client_free(cl);
  egw_tls_conn_free(s);
  egw_tls_ctx_free(ctx);
}

Test(server_cert, plaintext_http_is_refused, .init = need_certs) {
  struct egw_tls_ctx *ctx = server_ctx();
  struct egw_tls_conn *s = egw_tls_conn_new(ctx);
  struct egw_buf plain = {0}, out = {0};
  const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  cr_assert_eq(egw_tls_conn_feed(s, (const uint8_t *)req, strlen(req), &plain, &out),
               EGW_TLS_FAILED);
  const char *r, *a, *id;
  egw_tls_conn_failure(s, &r, &a, &id);
  cr_assert_str_eq(r, "http request");
  cr_assert_eq(plain.len, 0);
  egw_buf_free(&plain);
  egw_buf_free(&out);
  egw_tls_conn_free(s);
  egw_tls_ctx_free(ctx);
}
