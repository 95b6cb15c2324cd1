/* Direct PSK handshakes whose key is not in the key store yet (issue 5, ARCHITECTURE.md):
 * BoringSSL's PSK callback must answer at once, so the connection reads the client's
 * PSK identity from the ClientKeyExchange (psk_peek.c) before BoringSSL sees that
 * record, and when the key is missing and a provider claims the identity, holds the
 * record and everything after it and returns EGW_TLS_NEED_KEY. The caller (core) asks
 * the resolver and calls egw_tls_conn_resume, which hands the held bytes over.
 *
 * Peeking costs one copy of the client's first flight per handshake, and only on psk
 * listeners of a site with key providers; it ends at the ClientKeyExchange. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/ssl.h>

#include "keys/keystore.h"
#include "tls/internal.h"

/* More than this before the ClientKeyExchange is no handshake we wait for. */
#define PEEK_MAX (2 * 16384)

/* stop_peeking gives BoringSSL every byte not given yet and forgets the copy. */
static int stop_peeking(struct egw_tls_conn *c) {
  c->peeking = 0;
  c->waiting_key = 0;
  int rc = egw__tls_bio_put(c, c->peek.data + c->peek_fed, c->peek.len - c->peek_fed);
  egw_buf_free(&c->peek);
  c->peek_fed = 0;
  return rc;
}

/* needs_fetch says whether the handshake must wait for the key of |identity|: BoringSSL
 * chose a suite (it processed the ClientHello), the key store has no key under the
 * identity's name for this listener, and a provider claims the identity. */
static int needs_fetch(struct egw_tls_conn *c, const char *identity) {
  const SSL_CIPHER *cipher = SSL_get_pending_cipher(c->ssl);
  if (cipher == NULL)
    return 0;
  struct egw_psk_query q = {.identity = identity,
                            .cipher_suite = SSL_CIPHER_get_protocol_id(cipher)};
  char name[EGW_PSK_IDENTITY_MAX_LEN + 16];
  if (egw_psk_store_name(&q, name, sizeof(name)) != 0)
    return 0;
  uint8_t key[EGW_PSK_MAX_LEN];
  size_t n =
      egw_keystore_get(c->ctx->keys, c->ctx->realm, name, key, sizeof(key), egw__tls_now_ms());
  OPENSSL_cleanse(key, sizeof(key));
  if (n > 0 || !egw_psk_resolver_claims(c->ctx->psk, &q))
    return 0;
  c->pending_suite = q.cipher_suite;
  return 1;
}

enum egw_tls_status egw__tls_peek_feed(struct egw_tls_conn *c, const uint8_t *in, size_t n,
                                       struct egw_buf *plain, struct egw_buf *out) {
  if (egw_buf_append(&c->peek, in, n) != 0) {
    snprintf(c->reason, sizeof(c->reason), "out of memory");
    return egw__tls_fail(c, out);
  }
  if (c->waiting_key) {
    /* Held with the rest until egw_tls_conn_resume. The caller stops reading while it
     * waits, so this is at most what one read brought; bounded all the same. */
    if (c->peek.len > 2 * PEEK_MAX) {
      snprintf(c->reason, sizeof(c->reason), "too much input while waiting for a PSK key");
      return egw__tls_fail(c, out);
    }
    return EGW_TLS_NEED_KEY;
  }
  char identity[PSK_MAX_IDENTITY_LEN + 1];
  size_t safe = 0;
  enum egw__tls_peek found = c->peek.len > PEEK_MAX
                                 ? EGW__TLS_PEEK_NONE
                                 : egw__tls_peek_psk_identity(c->peek.data, c->peek.len, &safe,
                                                              identity, sizeof(identity));
  if (found == EGW__TLS_PEEK_NONE) {
    if (stop_peeking(c) != 0)
      return egw__tls_fail(c, out);
    return egw__tls_advance(c, plain, out);
  }
  /* What went to BoringSSL stays given (a client sending its ClientKeyExchange with its
   * ClientHello gets no wait: needs_fetch finds no suite chosen yet). */
  if (safe < c->peek_fed)
    safe = c->peek_fed;
  if (egw__tls_bio_put(c, c->peek.data + c->peek_fed, safe - c->peek_fed) != 0)
    return egw__tls_fail(c, out);
  c->peek_fed = safe;
  /* BoringSSL answers the ClientHello here (its flight goes to |out|). */
  enum egw_tls_status st = egw__tls_advance(c, plain, out);
  if (found == EGW__TLS_PEEK_MORE || st != EGW_TLS_OK)
    return st;
  /* Kept for egw_tls_conn_psk_query and the failure log line (not secret). */
  free(c->psk_identity);
  c->psk_identity = strdup(identity);
  if (c->psk_identity != NULL && needs_fetch(c, identity)) {
    c->waiting_key = 1;
    return EGW_TLS_NEED_KEY;
  }
  if (stop_peeking(c) != 0)
    return egw__tls_fail(c, out);
  return egw__tls_advance(c, plain, out);
}

void egw_tls_conn_psk_query(const struct egw_tls_conn *c, struct egw_psk_query *out) {
  out->identity = c->psk_identity;
  out->cipher_suite = c->pending_suite;
}

enum egw_tls_status egw_tls_conn_resume(struct egw_tls_conn *c, enum egw_psk_result r,
                                        struct egw_buf *plain, struct egw_buf *out) {
  if (c->failed)
    return EGW_TLS_FAILED;
  ERR_clear_error();
  if (!c->waiting_key)
    return EGW_TLS_OK;
  if (r == EGW_PSK_UNAVAILABLE) {
    /* Fail closed. internal_error, not unknown_psk_identity: the identity may be valid
     * and the client should try again later rather than give up its key. */
    c->peeking = 0;
    c->waiting_key = 0;
    egw_buf_free(&c->peek);
    snprintf(c->reason, sizeof(c->reason), "PSK key provider unavailable");
    SSL_send_fatal_alert(c->ssl, SSL_AD_INTERNAL_ERROR);
    return egw__tls_fail(c, out);
  }
  /* READY: the PSK callback finds the key now; UNKNOWN: it finds none and BoringSSL
   * sends unknown_psk_identity. */
  if (stop_peeking(c) != 0)
    return egw__tls_fail(c, out);
  return egw__tls_advance(c, plain, out);
}
