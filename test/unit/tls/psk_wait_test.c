/* Direct PSK handshakes that wait for their key (psk_wait.c), in memory: a BoringSSL
 * client against an egw_tls_conn whose context has a resolver with a fake provider. The
 * resolver is never started here: the TLS layer only asks it whether a provider claims
 * an identity; the test plays the connection's part (resolve, then resume). */
#include <criterion/criterion.h>

#include <string.h>

#include <openssl/ssl.h>

#include "keys/keystore.h"
#include "keys/psk_resolver.h"
#include "tls/tls.h"
#include "tls_support.h"

static const uint8_t key_a[32] = {0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9};

static int claims_fetch(void *state, const struct egw_psk_query *q) {
  return strncmp(q->identity, "fetch:", 6) == 0 || strncmp(q->identity, "3GPP-AKMA", 9) == 0;
}
static int start_never(void *state, struct egw_psk_fetch *f, const struct egw_psk_query *q) {
  return -1;
}
static void cancel_never(void *state, struct egw_psk_fetch *f) {}

static const struct egw_psk_provider_ops fake_ops = {
    .name = "fake", .claims = claims_fetch, .start = start_never, .cancel = cancel_never};

struct env {
  struct egw_keystore *ks;
  struct egw_psk_resolver *res;
  struct egw_tls_ctx *ctx;
};

static struct env env_new(const char *realm, int with_provider) {
  struct env e = {.ks = egw_keystore_new()};
  e.res = egw_psk_resolver_new(e.ks);
  struct egw_psk_provider_limits lim = {.timeout_ms = 1000};
  if (with_provider)
    cr_assert_eq(egw_psk_resolver_add_provider(e.res, &fake_ops, NULL, &lim), 0);
  struct egw_listener_policy lp = listener(EGW_TLS_PSK, NULL, NULL);
  lp.tls.psk_file = (char *)realm;
  lp.tls.psk_keystore_only = realm == NULL;
  lp.tls.psk_identity_hint = "3GPP-EDGE";
  char *err = NULL;
  e.ctx = egw_tls_ctx_new(&lp, NULL, e.ks, &err);
  cr_assert_not_null(e.ctx, "%s", err ? err : "");
  egw_tls_ctx_set0_psk_resolver(e.ctx, e.res);
  return e;
}

static void env_free(struct env *e) {
  egw_tls_ctx_free(e->ctx);
  egw_psk_resolver_free(e->res);
  egw_keystore_free(e->ks);
}

/* pump continues a handshake after a resume: the client reads what the server wrote. */
static enum egw_tls_status resume_and_pump(struct client *cl, struct egw_tls_conn *s,
                                           enum egw_psk_result r, struct egw_buf *plain) {
  struct egw_buf out = {0};
  enum egw_tls_status st = egw_tls_conn_resume(s, r, plain, &out);
  client_receive(cl, &out);
  egw_buf_free(&out);
  if (st == EGW_TLS_OK)
    st = handshake(cl, s, plain);
  return st;
}

Test(psk_wait, a_missing_key_holds_the_handshake_until_it_arrives, .init = need_certs) {
  struct env e = env_new(NULL, 1);
  const char *id = "fetch:eec1";
  struct client *cl =
      client_new(&(struct client_opts){.psk_identity = id, .psk = key_a, .psk_len = sizeof(key_a)});
  struct egw_tls_conn *s = egw_tls_conn_new(e.ctx);
  struct egw_buf plain = {0};
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_NEED_KEY);
  cr_assert_not(egw_tls_conn_handshake_done(s));
  struct egw_psk_query q;
  egw_tls_conn_psk_query(s, &q);
  cr_assert_str_eq(q.identity, id);
  cr_assert_eq(q.cipher_suite, 0xCCAC, "ECDHE-PSK-CHACHA20-POLY1305 pending");
  /* More bytes while waiting are held too. */
  struct egw_buf out = {0};
  cr_assert_eq(egw_tls_conn_feed(s, (const uint8_t *)"", 0, &plain, &out), EGW_TLS_NEED_KEY);
  /* The key arrives (a provider put it in the store): the handshake completes. */
  cr_assert_eq(egw_keystore_put(e.ks, NULL, id, key_a, sizeof(key_a), 0), 0);
  cr_assert_eq(resume_and_pump(cl, s, EGW_PSK_READY, &plain), EGW_TLS_OK);
  cr_assert(egw_tls_conn_handshake_done(s));
  cr_assert_str_eq(egw_tls_conn_peer(s)->id, id);
  cr_assert_eq(client_send(cl, s, "ping", &plain), EGW_TLS_OK);
  cr_assert_eq(plain.len, 4);
  egw_buf_free(&plain);
  egw_buf_free(&out);
  client_free(cl);
  egw_tls_conn_free(s);
  env_free(&e);
}

static void expect_refused(enum egw_psk_result r, const char *reason, const char *alert) {
  struct env e = env_new(NULL, 1);
  const char *id = "fetch:eec2";
  struct client *cl =
      client_new(&(struct client_opts){.psk_identity = id, .psk = key_a, .psk_len = sizeof(key_a)});
  struct egw_tls_conn *s = egw_tls_conn_new(e.ctx);
  struct egw_buf plain = {0};
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_NEED_KEY);
  cr_assert_eq(resume_and_pump(cl, s, r, &plain), EGW_TLS_FAILED);
  const char *got_reason, *got_alert, *got_id;
  egw_tls_conn_failure(s, &got_reason, &got_alert, &got_id);
  cr_assert_str_eq(got_reason, reason);
  cr_assert_str_eq(got_alert, alert);
  cr_assert_str_eq(got_id, id);
  cr_assert(cl->failed);
  cr_assert_eq(cl->received_alert, strcmp(alert, "internal_error") == 0
                                       ? SSL_AD_INTERNAL_ERROR
                                       : SSL_AD_UNKNOWN_PSK_IDENTITY);
  egw_buf_free(&plain);
  client_free(cl);
  egw_tls_conn_free(s);
  env_free(&e);
}

Test(psk_wait, an_unknown_identity_ends_with_unknown_psk_identity, .init = need_certs) {
  expect_refused(EGW_PSK_UNKNOWN, "unknown PSK identity", "unknown_psk_identity");
}

Test(psk_wait, an_unavailable_provider_fails_closed_with_internal_error, .init = need_certs) {
  expect_refused(EGW_PSK_UNAVAILABLE, "PSK key provider unavailable", "internal_error");
}

static enum egw_tls_status plain_handshake(struct env *e, const char *id) {
  struct client *cl =
      client_new(&(struct client_opts){.psk_identity = id, .psk = key_a, .psk_len = sizeof(key_a)});
  struct egw_tls_conn *s = egw_tls_conn_new(e->ctx);
  struct egw_buf plain = {0};
  enum egw_tls_status st = handshake(cl, s, &plain);
  egw_buf_free(&plain);
  client_free(cl);
  egw_tls_conn_free(s);
  return st;
}

Test(psk_wait, no_wait_when_the_key_is_there_or_nobody_claims_it, .init = need_certs) {
  struct env e = env_new(NULL, 1);
  cr_assert_eq(egw_keystore_put(e.ks, NULL, "fetch:cached", key_a, sizeof(key_a), 0), 0);
  cr_assert_eq(plain_handshake(&e, "fetch:cached"), EGW_TLS_OK);
  cr_assert_eq(plain_handshake(&e, "static:nobody"), EGW_TLS_FAILED, "refused at once");
  env_free(&e);
  /* A site without providers never peeks. */
  e = env_new(NULL, 0);
  cr_assert_eq(plain_handshake(&e, "fetch:eec"), EGW_TLS_FAILED);
  env_free(&e);
  /* A realm listener's own static key needs no fetch, even for a claimed identity. */
  e = env_new("policies/x.psk", 1);
  cr_assert_eq(egw_keystore_put(e.ks, "policies/x.psk", "fetch:static", key_a, sizeof(key_a), 0),
               0);
  cr_assert_eq(plain_handshake(&e, "fetch:static"), EGW_TLS_OK);
  env_free(&e);
}

Test(psk_wait, akma_keys_are_looked_up_per_suite, .init = need_certs) {
  struct env e = env_new(NULL, 1);
  const char *id = "3GPP-AKMAabc@example.org";
  struct client *cl = client_new(&(struct client_opts){
      .psk_identity = id, .psk = key_a, .psk_len = sizeof(key_a), .ciphers = "PSK-AES128-CBC-SHA"});
  struct egw_tls_conn *s = egw_tls_conn_new(e.ctx);
  struct egw_buf plain = {0};
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_NEED_KEY);
  struct egw_psk_query q;
  egw_tls_conn_psk_query(s, &q);
  cr_assert_eq(q.cipher_suite, 0x008C, "PSK-AES128-CBC-SHA");
  char name[160];
  cr_assert_eq(egw_psk_store_name(&q, name, sizeof(name)), 0);
  cr_assert_str_eq(name, "3GPP-AKMAabc@example.org#008c");
  cr_assert_eq(egw_keystore_put(e.ks, NULL, name, key_a, sizeof(key_a), 0), 0);
  cr_assert_eq(resume_and_pump(cl, s, EGW_PSK_READY, &plain), EGW_TLS_OK);
  cr_assert_str_eq(egw_tls_conn_peer(s)->id, id);
  egw_buf_free(&plain);
  client_free(cl);
  egw_tls_conn_free(s);
  env_free(&e);
}

Test(psk_wait, input_held_while_waiting_is_bounded, .init = need_certs) {
  struct env e = env_new(NULL, 1);
  struct client *cl = client_new(
      &(struct client_opts){.psk_identity = "fetch:x", .psk = key_a, .psk_len = sizeof(key_a)});
  struct egw_tls_conn *s = egw_tls_conn_new(e.ctx);
  struct egw_buf plain = {0}, out = {0};
  cr_assert_eq(handshake(cl, s, &plain), EGW_TLS_NEED_KEY);
  static uint8_t junk[70000];
  cr_assert_eq(egw_tls_conn_feed(s, junk, sizeof(junk), &plain, &out), EGW_TLS_FAILED);
  const char *r, *a, *id;
  egw_tls_conn_failure(s, &r, &a, &id);
  cr_assert_str_eq(r, "too much input while waiting for a PSK key");
  egw_buf_free(&plain);
  egw_buf_free(&out);
  client_free(cl);
  egw_tls_conn_free(s);
  env_free(&e);
}
