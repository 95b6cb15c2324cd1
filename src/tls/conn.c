/* egw_tls_conn: one server-side TLS session over two memory BIOs. The loop writes the
 * socket's ciphertext into the read BIO; whatever BoringSSL writes (handshake, alerts,
 * records) is drained from the write BIO into the caller's output buffer after every
 * call, so a fatal alert always reaches the peer. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "keys/keystore.h"
#include "tls/internal.h"
#include "util/errors.h"

#define READ_CHUNK 16384

struct egw_tls_conn *egw_tls_conn_new(struct egw_tls_ctx *ctx) {
  struct egw_tls_conn *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->sent_alert = -1;
  c->verify_error = X509_V_OK;
  c->ssl = SSL_new(ctx->ssl_ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL || !SSL_set_app_data(c->ssl, c)) {
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    SSL_free(c->ssl);
    free(c);
    ERR_clear_error();
    return NULL;
  }
  SSL_set_bio(c->ssl, c->rbio, c->wbio); /* |ssl| owns both now */
  SSL_set_accept_state(c->ssl);
  c->ctx = ctx;
  ctx->refs++;
  /* A key may have to be fetched only where a provider could serve it. */
  c->peeking = ctx->mode == EGW_TLS_PSK && egw_psk_resolver_has_providers(ctx->psk);
  return c;
}

void egw_tls_conn_free(struct egw_tls_conn *c) {
  if (c == NULL)
    return;
  SSL_free(c->ssl);
  free(c->peer.id);
  free(c->psk_identity);
  egw_buf_free(&c->peek);
  egw_tls_ctx_free(c->ctx);
  free(c);
}

/* ---- callbacks ------------------------------------------------------------------- */

void egw__tls_info_cb(const SSL *ssl, int type, int value) {
  if (type != SSL_CB_WRITE_ALERT || (value >> 8) != SSL3_AL_FATAL)
    return;
  struct egw_tls_conn *c = SSL_get_app_data(ssl);
  if (c && c->sent_alert < 0)
    c->sent_alert = value & 0xff;
}

int egw__tls_verify_cb(int preverify_ok, X509_STORE_CTX *store_ctx) {
  SSL *ssl = X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
  struct egw_tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
  if (c == NULL)
    return preverify_ok;
  if (!preverify_ok) {
    if (c->verify_error == X509_V_OK)
      c->verify_error = X509_STORE_CTX_get_error(store_ctx);
    return 0;
  }
  /* The leaf comes last. A certificate that verifies but names nobody is refused here,
   * during the handshake, so that the client gets an alert rather than a closed socket. */
  if (X509_STORE_CTX_get_error_depth(store_ctx) == 0 && !c->peer.has_cert_sha256) {
    X509 *leaf = X509_STORE_CTX_get_current_cert(store_ctx);
    if (leaf == NULL || egw__tls_peer_from_cert(leaf, &c->peer) != 0) {
      free(c->peer.id);
      c->peer.id = NULL;
      c->peer.kind = EGW_PEER_NONE;
      snprintf(c->reason, sizeof(c->reason),
               "certificate verify failed: the client certificate names no identity");
      X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
      return 0;
    }
  }
  return 1;
}

unsigned egw__tls_psk_server_cb(SSL *ssl, const char *identity, uint8_t *psk,
                                unsigned max_psk_len) {
  struct egw_tls_conn *c = SSL_get_app_data(ssl);
  if (c == NULL || identity == NULL)
    return 0;
  /* Kept for the failure log line: the identity is not secret, the key is. */
  free(c->psk_identity);
  c->psk_identity = strndup(identity, PSK_MAX_IDENTITY_LEN);
  if (c->ctx->keys == NULL)
    return 0;
  /* Keys are stored under the resolver's name for the identity (per cipher suite for
   * AKMA: K_AF depends on it). */
  const SSL_CIPHER *cipher = SSL_get_pending_cipher(ssl);
  struct egw_psk_query q = {.identity = identity,
                            .cipher_suite = cipher ? SSL_CIPHER_get_protocol_id(cipher) : 0};
  char name[EGW_PSK_IDENTITY_MAX_LEN + 16];
  if (egw_psk_store_name(&q, name, sizeof(name)) != 0)
    return 0;
  size_t n =
      egw_keystore_get(c->ctx->keys, c->ctx->realm, name, psk, max_psk_len, egw__tls_now_ms());
  return (unsigned)n;
}

/* ---- failures -------------------------------------------------------------------- */

/* set_failure fills c->reason from what is known about the failure, first match wins:
 * a reason set by a callback, the verify error, well-known BoringSSL errors, the first
 * error of the queue. The queue is cleared: it is per thread, and the next connection
 * must not inherit it. Nothing here can contain key material. */
static void set_failure(struct egw_tls_conn *c) {
  c->failed = 1;
  /* The first error of the SSL library says what went wrong in the protocol (a crypto
   * error before it, such as BAD_DECRYPT, is only the detail). */
  unsigned long err = 0, first = 0, e;
  while ((e = ERR_get_error()) != 0) {
    if (first == 0)
      first = e;
    if (err == 0 && ERR_GET_LIB(e) == ERR_LIB_SSL)
      err = e;
  }
  if (err == 0)
    err = first;
  int reason = ERR_GET_LIB(err) == ERR_LIB_SSL ? ERR_GET_REASON(err) : 0;
  if (c->reason[0] != '\0') {
    /* set by a callback */
  } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    snprintf(c->reason, sizeof(c->reason), "no client certificate");
  } else if (c->verify_error != X509_V_OK) {
    snprintf(c->reason, sizeof(c->reason), "certificate verify failed: %s",
             X509_verify_cert_error_string(c->verify_error));
  } else if (reason == SSL_R_PSK_IDENTITY_NOT_FOUND) {
    snprintf(c->reason, sizeof(c->reason), "unknown PSK identity");
  } else if (reason == SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC) {
    snprintf(c->reason, sizeof(c->reason), "bad record MAC");
  } else if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
    snprintf(c->reason, sizeof(c->reason), "the client sent alert %s",
             egw__tls_alert_name(reason - SSL_AD_REASON_OFFSET));
  } else if (err != 0) {
    const char *s = ERR_reason_error_string(err);
    snprintf(c->reason, sizeof(c->reason), "%s", s ? s : "handshake failed");
    /* "NO_SHARED_CIPHER" -> "no shared cipher" */
    for (char *p = c->reason; *p; p++) {
      if (*p == '_')
        *p = ' ';
      else if (*p >= 'A' && *p <= 'Z')
        *p = (char)(*p - 'A' + 'a');
    }
  } else {
    snprintf(c->reason, sizeof(c->reason), "handshake failed");
  }
  ERR_clear_error();
}

void egw_tls_conn_failure(const struct egw_tls_conn *c, const char **out_reason,
                          const char **out_alert, const char **out_psk_identity) {
  *out_reason = c->reason[0] ? c->reason : NULL;
  *out_alert = c->sent_alert >= 0 ? egw__tls_alert_name(c->sent_alert) : NULL;
  *out_psk_identity = c->psk_identity;
}

/* ---- data path ------------------------------------------------------------------- */

/* drain moves everything BoringSSL wrote into |out|. */
static int drain(struct egw_tls_conn *c, struct egw_buf *out) {
  const uint8_t *data = NULL;
  size_t len = 0;
  if (!BIO_mem_contents(c->wbio, &data, &len) || len == 0)
    return 0;
  int rc = egw_buf_append(out, data, len);
  BIO_reset(c->wbio);
  return rc;
}

static enum egw_tls_status fail(struct egw_tls_conn *c, struct egw_buf *out) {
  set_failure(c);
  drain(c, out);
  return EGW_TLS_FAILED;
}

enum egw_tls_status egw__tls_fail(struct egw_tls_conn *c, struct egw_buf *out) {
  return fail(c, out);
}

static int on_handshake_done(struct egw_tls_conn *c) {
  if (c->ctx->mode == EGW_TLS_PSK) {
    const char *identity = SSL_get_psk_identity(c->ssl);
    if (identity == NULL || (c->peer.id = strdup(identity)) == NULL)
      return -1;
    c->peer.kind = EGW_PEER_PSK;
  } else if (c->ctx->mode == EGW_TLS_MTLS && c->peer.kind == EGW_PEER_NONE) {
    /* The verify callback sets the peer; without it there is no authenticated client. */
    snprintf(c->reason, sizeof(c->reason), "no client identity after the handshake");
    return -1;
  }
  c->handshake_done = 1;
  return 0;
}

int egw__tls_bio_put(struct egw_tls_conn *c, const uint8_t *in, size_t n) {
  while (n > 0) {
    int chunk = n > INT_MAX ? INT_MAX : (int)n;
    if (BIO_write(c->rbio, in, chunk) != chunk) {
      snprintf(c->reason, sizeof(c->reason), "out of memory");
      return -1;
    }
    in += chunk;
    n -= (size_t)chunk;
  }
  return 0;
}

enum egw_tls_status egw_tls_conn_feed(struct egw_tls_conn *c, const uint8_t *in, size_t n,
                                      struct egw_buf *plain, struct egw_buf *out) {
  if (c->failed)
    return EGW_TLS_FAILED;
  ERR_clear_error();
  if (c->peeking)
    return egw__tls_peek_feed(c, in, n, plain, out);
  if (egw__tls_bio_put(c, in, n) != 0)
    return fail(c, out);
  return egw__tls_advance(c, plain, out);
}

enum egw_tls_status egw__tls_advance(struct egw_tls_conn *c, struct egw_buf *plain,
                                     struct egw_buf *out) {
  if (!c->handshake_done) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)
        return drain(c, out) == 0 ? EGW_TLS_OK : fail(c, out);
      return fail(c, out);
    }
    if (on_handshake_done(c) != 0) {
      SSL_send_fatal_alert(c->ssl, SSL_AD_INTERNAL_ERROR);
      return fail(c, out);
    }
  }
  uint8_t buf[READ_CHUNK];
  enum egw_tls_status st = EGW_TLS_OK;
  for (;;) {
    int r = SSL_read(c->ssl, buf, sizeof(buf));
    if (r > 0) {
      if (egw_buf_append(plain, buf, (size_t)r) != 0) {
        snprintf(c->reason, sizeof(c->reason), "out of memory");
        return fail(c, out);
      }
      continue;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
      break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      st = EGW_TLS_CLOSED;
      break;
    }
    return fail(c, out);
  }
  if (drain(c, out) != 0) {
    snprintf(c->reason, sizeof(c->reason), "out of memory");
    c->failed = 1;
    return EGW_TLS_FAILED;
  }
  return st;
}

int egw_tls_conn_handshake_done(const struct egw_tls_conn *c) { return c->handshake_done; }

int egw_tls_conn_write(struct egw_tls_conn *c, const uint8_t *data, size_t n, struct egw_buf *out) {
  if (!c->handshake_done || c->failed)
    return EGW_ERR_TLS;
  ERR_clear_error();
  while (n > 0) {
    int chunk = n > INT_MAX ? INT_MAX : (int)n;
    /* A memory BIO never pushes back, so a write either takes everything or failed. */
    int r = SSL_write(c->ssl, data, chunk);
    if (r <= 0) {
      set_failure(c);
      drain(c, out);
      return EGW_ERR_TLS;
    }
    data += r;
    n -= (size_t)r;
  }
  return drain(c, out) == 0 ? 0 : EGW_ERR_TLS;
}

void egw_tls_conn_shutdown(struct egw_tls_conn *c, struct egw_buf *out) {
  if (!c->handshake_done || c->failed)
    return;
  SSL_shutdown(c->ssl);
  ERR_clear_error();
  drain(c, out);
}

const struct egw_peer *egw_tls_conn_peer(const struct egw_tls_conn *c) {
  static const struct egw_peer anonymous = {.kind = EGW_PEER_NONE};
  return c->handshake_done ? &c->peer : &anonymous;
}

const char *egw_tls_conn_version(const struct egw_tls_conn *c) { return SSL_get_version(c->ssl); }

const char *egw_tls_conn_cipher(const struct egw_tls_conn *c) {
  const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
  return cipher ? SSL_CIPHER_get_name(cipher) : NULL;
}
