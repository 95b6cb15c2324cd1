/* egw_tls_ctx: one SSL_CTX per listener. This file builds what every mode shares and
 * hands over to the mode's entry in the transport table (modes.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "keys/keystore.h"
#include "tls/internal.h"
#include "util/format.h"

uint64_t egw__tls_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* first_error describes the first error in BoringSSL's queue, in lower case. */
static const char *first_error(char *buf, size_t len) {
  unsigned long err = ERR_peek_error();
  const char *s = err ? ERR_reason_error_string(err) : NULL;
  snprintf(buf, len, "%s", s ? s : "unknown error");
  for (char *p = buf; *p; p++) {
    if (*p == '_')
      *p = ' ';
    else if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  }
  return buf;
}

int egw__tls_load_cert_key(struct egw_tls_ctx *ctx, const struct egw_listener_policy *lp, char *msg,
                           size_t msg_len) {
  char why[128];
  const char *cert = lp->tls.cert_file, *key = lp->tls.key_file;
  /* A clearer message than BoringSSL's for the common case of a wrong path. */
  if (access(cert, R_OK) != 0) {
    snprintf(msg, msg_len, "cert %s: %s", cert, strerror(errno));
    return -1;
  }
  if (access(key, R_OK) != 0) {
    snprintf(msg, msg_len, "key %s: %s", key, strerror(errno));
    return -1;
  }
  if (!SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, cert)) {
    snprintf(msg, msg_len, "cert %s: cannot load the certificate chain: %s", cert,
             first_error(why, sizeof(why)));
    return -1;
  }
  if (!SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, key, SSL_FILETYPE_PEM)) {
    /* Loading the key already compares it with the certificate's public key. */
    unsigned long err = ERR_peek_last_error();
    if (ERR_GET_LIB(err) == ERR_LIB_X509 && ERR_GET_REASON(err) == X509_R_KEY_VALUES_MISMATCH) {
      snprintf(msg, msg_len, "key %s does not match the certificate in %s", key, cert);
      return -1;
    }
    snprintf(msg, msg_len, "key %s: cannot load the private key: %s", key,
             first_error(why, sizeof(why)));
    return -1;
  }
  if (!SSL_CTX_check_private_key(ctx->ssl_ctx)) {
    snprintf(msg, msg_len, "key %s does not match the certificate in %s", key, cert);
    return -1;
  }
  return 0;
}

int egw__tls_set_ciphers(struct egw_tls_ctx *ctx, const struct egw_listener_policy *lp,
                         const char *dflt, char *msg, size_t msg_len) {
  const char *list = lp->tls.ciphers ? lp->tls.ciphers : dflt;
  if (!SSL_CTX_set_strict_cipher_list(ctx->ssl_ctx, list)) {
    snprintf(msg, msg_len, "ciphers: invalid cipher list '%s'", list);
    return -1;
  }
  return 0;
}

/* configure_common sets what every mode shares; the mode may narrow it further. */
static int configure_common(SSL_CTX *ssl_ctx) {
  if (!SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ssl_ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set1_curves_list(ssl_ctx, "X25519:P-256"))
    return -1;
  /* No resumption: every connection authenticates in full and no ticket key or session
   * cache holds secrets between connections. */
  SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ssl_ctx, 0);
  SSL_CTX_set_info_callback(ssl_ctx, egw__tls_info_cb);
  return 0;
}

struct egw_tls_ctx *egw_tls_ctx_new(const struct egw_listener_policy *lp,
                                    struct egw_truststore *trust, struct egw_keystore *keys,
                                    char **out_err) {
  const char *file = lp->file ? lp->file : "(policy)";
  int line = lp->tls.line;
  const struct egw__tls_mode *mode = egw__tls_mode_for(lp->tls.mode);
  if (mode == NULL) {
    *out_err = egw_format("%s:%d: tls: unknown mode %d", file, line, (int)lp->tls.mode);
    return NULL;
  }
  struct egw_tls_ctx *ctx = calloc(1, sizeof(*ctx));
  if (ctx == NULL)
    goto nomem;
  ctx->refs = 1;
  ctx->mode = lp->tls.mode;
  ctx->keys = keys;
  if (lp->tls.psk_file && (ctx->realm = strdup(lp->tls.psk_file)) == NULL)
    goto nomem;
  ctx->ssl_ctx = SSL_CTX_new(TLS_method());
  if (ctx->ssl_ctx == NULL || !SSL_CTX_set_app_data(ctx->ssl_ctx, ctx))
    goto nomem;
  if (configure_common(ctx->ssl_ctx) != 0) {
    *out_err = egw_format("%s:%d: tls: cannot set the protocol versions or groups", file, line);
    goto fail;
  }
  char msg[512];
  ERR_clear_error();
  if (mode->configure(ctx, lp, trust, msg, sizeof(msg)) != 0) {
    *out_err = egw_format("%s:%d: tls: %s", file, line, msg);
    goto fail;
  }
  ERR_clear_error();
  return ctx;
nomem:
  *out_err = egw_format("%s:%d: tls: out of memory", file, line);
fail:
  ERR_clear_error();
  egw_tls_ctx_free(ctx);
  return NULL;
}

void egw_tls_ctx_free(struct egw_tls_ctx *ctx) {
  if (ctx == NULL || --ctx->refs > 0)
    return;
  SSL_CTX_free(ctx->ssl_ctx);
  free(ctx->realm);
  free(ctx);
}

void egw_tls_ctx_set0_psk_resolver(struct egw_tls_ctx *ctx, struct egw_psk_resolver *psk) {
  ctx->psk = psk;
}
