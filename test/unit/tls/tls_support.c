#include "tls_support.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

void need_certs(void) {
  if (access("certs/out/ca.pem", R_OK) != 0 || access("certs/out/demo.psk", R_OK) != 0)
    cr_assert_eq(system("certs/gen.sh"), 0);
}

struct egw_listener_policy listener(enum egw_tls_mode mode, const char *cert, const char *key) {
  struct egw_listener_policy lp = {
      .file = "policies/test.yaml",
      .line = 3,
      .interface_name = "TEST",
      .role = "ees",
      .tls = {.mode = mode, .cert_file = (char *)cert, .key_file = (char *)key, .line = 7},
  };
  return lp;
}

static unsigned psk_client_cb(SSL *ssl, const char *hint, char *identity, unsigned max_identity_len,
                              uint8_t *psk, unsigned max_psk_len) {
  struct client *cl = SSL_get_app_data(ssl);
  snprintf(cl->hint, sizeof(cl->hint), "%s", hint ? hint : "");
  snprintf(identity, max_identity_len, "%s", cl->opts.psk_identity);
  if (cl->opts.psk_len > max_psk_len)
    return 0;
  memcpy(psk, cl->opts.psk, cl->opts.psk_len);
  return (unsigned)cl->opts.psk_len;
}

static void client_info_cb(const SSL *ssl, int type, int value) {
  if (type == SSL_CB_READ_ALERT) {
    struct client *cl = SSL_get_app_data(ssl);
    cl->received_alert = value & 0xff;
  }
}

struct client *client_new(const struct client_opts *opts) {
  struct client *cl = calloc(1, sizeof(*cl));
  cr_assert_not_null(cl);
  cl->opts = *opts;
  cl->received_alert = -1;
  cl->ctx = SSL_CTX_new(TLS_method());
  cr_assert_not_null(cl->ctx);
  if (opts->min_version)
    cr_assert(SSL_CTX_set_min_proto_version(cl->ctx, opts->min_version));
  if (opts->max_version)
    cr_assert(SSL_CTX_set_max_proto_version(cl->ctx, opts->max_version));
  if (opts->ciphers)
    cr_assert(SSL_CTX_set_strict_cipher_list(cl->ctx, opts->ciphers), "%s", opts->ciphers);
  if (opts->cert) {
    cr_assert(SSL_CTX_use_certificate_chain_file(cl->ctx, opts->cert), "%s", opts->cert);
    cr_assert(SSL_CTX_use_PrivateKey_file(cl->ctx, opts->key, SSL_FILETYPE_PEM));
  }
  SSL_CTX_set_info_callback(cl->ctx, client_info_cb);
  /* The client trusts the site CA for the server certificate. */
  cr_assert(SSL_CTX_load_verify_locations(cl->ctx, "certs/out/ca.pem", NULL));
  SSL_CTX_set_verify(cl->ctx, opts->psk_identity ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  if (opts->psk_identity)
    SSL_CTX_set_psk_client_callback(cl->ctx, psk_client_cb);
  cl->ssl = SSL_new(cl->ctx);
  cl->rbio = BIO_new(BIO_s_mem());
  cl->wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(cl->ssl, cl->rbio, cl->wbio);
  SSL_set_app_data(cl->ssl, cl);
  SSL_set_connect_state(cl->ssl);
  return cl;
}

void client_free(struct client *cl) {
  if (cl == NULL)
    return;
  SSL_free(cl->ssl);
  SSL_CTX_free(cl->ctx);
  egw_buf_free(&cl->plain);
  free(cl);
  ERR_clear_error();
}

/* client_step advances the client: the handshake, then reading application data. */
static void client_step(struct client *cl) {
  if (cl->failed)
    return;
  if (!SSL_is_init_finished(cl->ssl)) {
    int r = SSL_do_handshake(cl->ssl);
    if (r != 1 && SSL_get_error(cl->ssl, r) != SSL_ERROR_WANT_READ)
      cl->failed = 1;
    if (r != 1)
      return;
  }
  uint8_t buf[4096];
  for (;;) {
    int r = SSL_read(cl->ssl, buf, sizeof(buf));
    if (r > 0) {
      egw_buf_append(&cl->plain, buf, (size_t)r);
      continue;
    }
    int e = SSL_get_error(cl->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_ZERO_RETURN)
      cl->failed = 1;
    break;
  }
}

/* to_server moves the client's pending output into the server. */
static enum egw_tls_status to_server(struct client *cl, struct egw_tls_conn *s,
                                     struct egw_buf *plain, struct egw_buf *out, size_t *moved) {
  const uint8_t *data;
  size_t len;
  cr_assert(BIO_mem_contents(cl->wbio, &data, &len));
  *moved += len;
  enum egw_tls_status st = EGW_TLS_OK;
  if (len > 0) {
    st = egw_tls_conn_feed(s, data, len, plain, out);
    BIO_reset(cl->wbio);
  }
  return st;
}

static void to_client(struct client *cl, struct egw_buf *out, size_t *moved) {
  if (out->len > 0) {
    cr_assert_eq(BIO_write(cl->rbio, out->data, (int)out->len), (int)out->len);
    *moved += out->len;
    out->len = 0;
  }
}

enum egw_tls_status handshake(struct client *cl, struct egw_tls_conn *s, struct egw_buf *plain) {
  struct egw_buf out = {0};
  enum egw_tls_status st = EGW_TLS_OK;
  for (int round = 0; round < 50; round++) {
    client_step(cl);
    size_t moved = 0;
    st = to_server(cl, s, plain, &out, &moved);
    to_client(cl, &out, &moved);
    if (st != EGW_TLS_OK) {
      client_step(cl); /* let the client read the alert */
      break;
    }
    if (moved == 0 && round > 0)
      break;
  }
  egw_buf_free(&out);
  return st;
}

enum egw_tls_status client_send(struct client *cl, struct egw_tls_conn *s, const char *text,
                                struct egw_buf *plain) {
  size_t n = strlen(text);
  cr_assert_eq(SSL_write(cl->ssl, text, (int)n), (int)n);
  struct egw_buf out = {0};
  size_t moved = 0;
  enum egw_tls_status st = to_server(cl, s, plain, &out, &moved);
  to_client(cl, &out, &moved);
  client_step(cl);
  egw_buf_free(&out);
  return st;
}

void client_receive(struct client *cl, struct egw_buf *server_out) {
  size_t moved = 0;
  to_client(cl, server_out, &moved);
  client_step(cl);
}

uint8_t *cert_der(const char *pem_path, size_t *out_len) {
  FILE *f = fopen(pem_path, "r");
  cr_assert_not_null(f, "%s", pem_path);
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  cr_assert_not_null(x);
  uint8_t *der = NULL;
  int len = i2d_X509(x, &der);
  cr_assert(len > 0);
  X509_free(x);
  *out_len = (size_t)len;
  return der;
}

size_t psk_from_file(const char *path, const char *identity, uint8_t *out, size_t max) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  char line[512];
  size_t n = 0;
  while (fgets(line, sizeof(line), f)) {
    char id[200], hex[300];
    if (line[0] == '#' || sscanf(line, "%199s %299s", id, hex) != 2 || strcmp(id, identity))
      continue;
    for (n = 0; hex[2 * n] && n < max; n++) {
      unsigned v;
      sscanf(hex + 2 * n, "%2x", &v);
      out[n] = (uint8_t)v;
    }
    break;
  }
  fclose(f);
  cr_assert(n > 0, "no key for %s in %s", identity, path);
  return n;
}
