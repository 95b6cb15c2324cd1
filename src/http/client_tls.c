/* The HTTP client's TLS transport: BoringSSL over two memory BIOs fed by the loop (the
 * same shape as core/conn.c, client side), the server verified against the client's
 * trust store and the URL's host, and the client's SSL_CTX. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "http/client_internal.h"
#include "util/errors.h"
#include "util/format.h"

/* flush hands whatever BoringSSL wrote to the socket. Returns 0 or a negative code. */
static int flush(struct egw__client_conn *conn) {
  const uint8_t *data = NULL;
  size_t len = 0;
  if (!BIO_mem_contents(conn->wbio, &data, &len) || len == 0)
    return 0;
  uint8_t *copy = malloc(len);
  if (copy == NULL)
    return EGW_ERR_NOMEM;
  memcpy(copy, data, len);
  BIO_reset(conn->wbio);
  uv_buf_t b = uv_buf_init((char *)copy, (unsigned)len);
  return egw__client_conn_write(conn, &b, 1, copy);
}

/* tls_send encrypts the current call's request and writes it. */
static int tls_send(struct egw__client_conn *conn) {
  struct egw_http_call *call = conn->call;
  call->sent = 1;
  ERR_clear_error();
  if (SSL_write(conn->ssl, call->req.data, (int)call->req.len) != (int)call->req.len ||
      (call->body &&
       SSL_write(conn->ssl, call->body, (int)call->body_len) != (int)call->body_len)) {
    ERR_clear_error();
    return EGW_ERR_TLS;
  }
  return flush(conn);
}

static int tls_write_more(struct egw__client_conn *conn, const uint8_t *data, size_t len) {
  ERR_clear_error();
  if (SSL_write(conn->ssl, data, (int)len) != (int)len) {
    ERR_clear_error();
    return EGW_ERR_TLS;
  }
  return flush(conn);
}

static void handshake_failed(struct egw__client_conn *conn) {
  struct egw_http_call *call = conn->call;
  long vr = SSL_get_verify_result(conn->ssl);
  ERR_clear_error();
  const char *error = "TLS handshake failed";
  if (vr != X509_V_OK) {
    snprintf(call->error_buf, sizeof(call->error_buf), "certificate verify failed: %s",
             X509_verify_cert_error_string(vr));
    error = call->error_buf;
  }
  egw__client_conn_release(conn, 0);
  egw__client_call_finish(call, EGW_HTTP_CLIENT_TLS, error);
}

static void tls_connected(struct egw__client_conn *conn) {
  conn->state = EGW__CLIENT_HANDSHAKE;
  ERR_clear_error();
  int r = SSL_do_handshake(conn->ssl); /* writes the ClientHello */
  if (r != 1 && SSL_get_error(conn->ssl, r) != SSL_ERROR_WANT_READ) {
    handshake_failed(conn);
    return;
  }
  ERR_clear_error();
  int rc = flush(conn);
  if (rc != 0)
    egw__client_conn_failed(conn, rc);
}

static void tls_received(struct egw__client_conn *conn, const uint8_t *data, size_t len) {
  if (BIO_write(conn->rbio, data, (int)len) != (int)len) {
    egw__client_conn_lost(conn, EGW_HTTP_CLIENT_NOMEM, "out of memory");
    return;
  }
  ERR_clear_error();
  if (conn->state == EGW__CLIENT_HANDSHAKE) {
    int r = SSL_do_handshake(conn->ssl);
    if (r != 1) {
      if (SSL_get_error(conn->ssl, r) != SSL_ERROR_WANT_READ) {
        handshake_failed(conn);
        return;
      }
      int rc = flush(conn);
      if (rc != 0)
        egw__client_conn_failed(conn, rc);
      return;
    }
    conn->state = EGW__CLIENT_ACTIVE;
    int rc = tls_send(conn);
    if (rc != 0) {
      egw__client_conn_failed(conn, rc);
      return;
    }
  }
  /* All the plaintext there is, then the parser: what follows a response decides
   * whether the connection can be reused. */
  struct egw_buf *plain = &conn->client->plain;
  plain->len = 0;
  int eof = 0, failed = 0;
  for (;;) {
    uint8_t chunk[16384];
    int r = SSL_read(conn->ssl, chunk, sizeof(chunk));
    if (r > 0) {
      if (egw_buf_append(plain, chunk, (size_t)r) != 0) {
        failed = 1;
        break;
      }
      continue;
    }
    int e = SSL_get_error(conn->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
      eof = 1;
    else if (e != SSL_ERROR_WANT_READ)
      failed = 1;
    break;
  }
  ERR_clear_error();
  if (flush(conn) != 0)
    failed = 1;
  egw__client_deliver(conn, plain->data, plain->len, eof, failed);
}

static int tls_setup(struct egw__client_conn *conn, const struct egw__client_target *t) {
  conn->ssl = SSL_new(conn->client->ssl_ctx);
  conn->rbio = BIO_new(BIO_s_mem());
  conn->wbio = BIO_new(BIO_s_mem());
  if (conn->ssl == NULL || conn->rbio == NULL || conn->wbio == NULL) {
    BIO_free(conn->rbio);
    BIO_free(conn->wbio);
    goto err;
  }
  SSL_set_bio(conn->ssl, conn->rbio, conn->wbio); /* |ssl| owns both now */
  SSL_set_connect_state(conn->ssl);
  /* The server's name: the URL host, checked against the certificate by the verifier. */
  X509_VERIFY_PARAM *param = SSL_get0_param(conn->ssl);
  if (t->host_is_ip) {
    if (!X509_VERIFY_PARAM_set1_ip_asc(param, t->host))
      goto err;
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!X509_VERIFY_PARAM_set1_host(param, t->host, strlen(t->host)) ||
        !SSL_set_tlsext_host_name(conn->ssl, t->host))
      goto err;
  }
  return 0;
err:
  SSL_free(conn->ssl);
  conn->ssl = NULL;
  ERR_clear_error();
  return -1;
}

static void tls_teardown(struct egw__client_conn *conn) {
  SSL_free(conn->ssl);
  conn->ssl = NULL;
}

const struct egw__client_transport egw__client_tls_transport = {
    .setup = tls_setup,
    .connected = tls_connected,
    .send = tls_send,
    .write_more = tls_write_more,
    .received = tls_received,
    .teardown = tls_teardown,
};

/* ---- the client's TLS context ----------------------------------------------------- */

static char *tls_error(const char *what, const char *path) {
  unsigned long e = ERR_peek_last_error();
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  ERR_clear_error();
  return egw_format("%s: %s: %s", what, path, reason ? reason : "cannot load");
}

/* egw__client_ssl_ctx_new builds the TLS side of a client; NULL and *out_err on failure. */
SSL_CTX *egw__client_ssl_ctx_new(const struct egw_http_client_config *cfg, char **out_err) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set1_verify_cert_store(ctx, cfg->trust)) {
    *out_err = egw_format("cannot set up TLS");
    goto fail;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (cfg->client_cert_file) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->client_cert_file) != 1) {
      *out_err = tls_error("client_cert_file", cfg->client_cert_file);
      goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->client_key_file, SSL_FILETYPE_PEM) != 1 ||
        !SSL_CTX_check_private_key(ctx)) {
      *out_err = tls_error("client_key_file", cfg->client_key_file);
      goto fail;
    }
  }
  return ctx;
fail:
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return NULL;
}
