/* The TLS transport table: one entry per listener TLS mode, saying how its SSL_CTX
 * differs from the common base that ctx.c builds (versions 1.2..1.3, X25519/P-256, no
 * session resumption, alert capture). */
#include <stdio.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "keys/truststore.h"
#include "tls/internal.h"

/* AEAD suites only for TLS 1.2; TLS 1.3 suites are BoringSSL's fixed AEAD set. */
static const char cert_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                   "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                   "ECDHE-ECDSA-AES256-GCM-SHA384:"
                                   "ECDHE-RSA-AES128-GCM-SHA256:"
                                   "ECDHE-RSA-CHACHA20-POLY1305:"
                                   "ECDHE-RSA-AES256-GCM-SHA384";

/* BoringSSL has no AES-GCM PSK suites: CHACHA20 (AEAD, forward secret) first, the CBC
 * ones only for clients that offer nothing better. */
static const char psk_ciphers[] = "ECDHE-PSK-CHACHA20-POLY1305:"
                                  "ECDHE-PSK-AES128-CBC-SHA:"
                                  "ECDHE-PSK-AES256-CBC-SHA:"
                                  "PSK-AES128-CBC-SHA:"
                                  "PSK-AES256-CBC-SHA";

static int configure_server_cert(struct egw_tls_ctx *ctx, const struct egw_listener_policy *lp,
                                 struct egw_truststore *trust, char *msg, size_t msg_len) {
  if (lp->tls.cert_file == NULL || lp->tls.key_file == NULL) {
    snprintf(msg, msg_len, "mode %s needs cert and key", egw__tls_mode_for(lp->tls.mode)->name);
    return -1;
  }
  if (egw__tls_load_cert_key(ctx, lp, msg, msg_len) != 0)
    return -1;
  return egw__tls_set_ciphers(ctx, lp, cert_ciphers, msg, msg_len);
}

static int configure_mtls(struct egw_tls_ctx *ctx, const struct egw_listener_policy *lp,
                          struct egw_truststore *trust, char *msg, size_t msg_len) {
  if (trust == NULL) {
    snprintf(msg, msg_len, "mode mtls needs the site's CA certificates");
    return -1;
  }
  if (lp->tls.crl_check && !egw_truststore_has_crls(trust)) {
    snprintf(msg, msg_len, "crl_check is set but the site has no CRL");
    return -1;
  }
  if (configure_server_cert(ctx, lp, trust, msg, msg_len) != 0)
    return -1;
  /* A verify-only store: the server's own chain is built from its cert file, and the
   * trust store stays shared (SSL_CTX_set1_* takes its own reference). */
  X509_STORE *store = egw_truststore_get0_store(trust);
  if (!SSL_CTX_set1_verify_cert_store(ctx->ssl_ctx, store)) {
    snprintf(msg, msg_len, "cannot use the trust store");
    return -1;
  }
  if (lp->tls.crl_check) {
    /* The flags live in the SSL_CTX's verify parameters, which are applied to the
     * verification context of every handshake (not in the shared store). */
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx->ssl_ctx);
    if (!X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL)) {
      snprintf(msg, msg_len, "cannot enable CRL checking");
      return -1;
    }
  }
  SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     egw__tls_verify_cb);
  return 0;
}

static int configure_psk(struct egw_tls_ctx *ctx, const struct egw_listener_policy *lp,
                         struct egw_truststore *trust, char *msg, size_t msg_len) {
  if (ctx->keys == NULL) {
    snprintf(msg, msg_len, "mode psk needs the site's key store");
    return -1;
  }
  /* Without psk_file (psk_source: keystore) the realm stays NULL and the listener sees
   * only the site-wide keys that providers put in the key store. */
  if (lp->tls.psk_file == NULL && !lp->tls.psk_keystore_only) {
    snprintf(msg, msg_len, "mode psk needs psk_file (the listener's key realm)");
    return -1;
  }
  /* No TLS 1.3 external PSK in BoringSSL. */
  if (!SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx->ssl_ctx, TLS1_2_VERSION)) {
    snprintf(msg, msg_len, "cannot restrict the protocol to TLS 1.2");
    return -1;
  }
  /* A certificate is optional: no PSK suite uses it, but loading it validates it. */
  if ((lp->tls.cert_file != NULL) != (lp->tls.key_file != NULL)) {
    snprintf(msg, msg_len, "cert and key go together");
    return -1;
  }
  if (lp->tls.cert_file && egw__tls_load_cert_key(ctx, lp, msg, msg_len) != 0)
    return -1;
  if (lp->tls.psk_identity_hint &&
      !SSL_CTX_use_psk_identity_hint(ctx->ssl_ctx, lp->tls.psk_identity_hint)) {
    snprintf(msg, msg_len, "psk_identity_hint is too long (at most %d bytes)",
             PSK_MAX_IDENTITY_LEN);
    return -1;
  }
  SSL_CTX_set_psk_server_callback(ctx->ssl_ctx, egw__tls_psk_server_cb);
  return egw__tls_set_ciphers(ctx, lp, psk_ciphers, msg, msg_len);
}

static const struct egw__tls_mode modes[] = {
    [EGW_TLS_SERVER_CERT] = {.name = "server-cert", .configure = configure_server_cert},
    [EGW_TLS_MTLS] = {.name = "mtls", .configure = configure_mtls},
    [EGW_TLS_PSK] = {.name = "psk", .configure = configure_psk},
};

const struct egw__tls_mode *egw__tls_mode_for(enum egw_tls_mode mode) {
  if ((unsigned)mode >= sizeof(modes) / sizeof(modes[0]) || modes[mode].configure == NULL)
    return NULL;
  return &modes[mode];
}
