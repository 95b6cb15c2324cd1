/* In-process TLS test peer: a BoringSSL client over memory BIOs, pumped against an
 * egw_tls_conn with no socket in between. */
#ifndef EGW_TEST_TLS_SUPPORT_H
#define EGW_TEST_TLS_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config/policy.h"
#include "tls/tls.h"
#include "util/buf.h"

struct client_opts {
  uint16_t min_version, max_version; /* 0: library default */
  const char *ciphers;               /* TLS 1.2 cipher list, NULL: default */
  const char *cert, *key;            /* client certificate */
  const char *psk_identity;          /* enables the PSK client callback */
  const uint8_t *psk;
  size_t psk_len;
};

struct client {
  SSL_CTX *ctx;
  SSL *ssl;
  BIO *rbio, *wbio;
  struct client_opts opts;
  int failed;           /* the client saw a fatal error */
  char hint[160];       /* the PSK identity hint the server sent */
  int received_alert;   /* last alert the client received, -1 for none */
  struct egw_buf plain; /* application data the client read */
};

/* need_certs runs certs/gen.sh when the dev PKI is missing. */
void need_certs(void);

/* listener builds a policy for tests; strings are borrowed. */
struct egw_listener_policy listener(enum egw_tls_mode mode, const char *cert, const char *key);

struct client *client_new(const struct client_opts *opts);
void client_free(struct client *cl);

/* handshake pumps bytes both ways until neither side makes progress. Returns the last
 * status egw_tls_conn_feed returned (EGW_TLS_OK when the handshake completed). */
enum egw_tls_status handshake(struct client *cl, struct egw_tls_conn *s, struct egw_buf *plain);

/* client_send writes application data from the client and feeds it to the server. */
enum egw_tls_status client_send(struct client *cl, struct egw_tls_conn *s, const char *text,
                                struct egw_buf *plain);
/* client_receive hands |server_out| to the client and reads what it decrypts into
 * cl->plain. */
void client_receive(struct client *cl, struct egw_buf *server_out);

/* read_file_der returns the DER of the first certificate in a PEM file. */
uint8_t *cert_der(const char *pem_path, size_t *out_len);

/* psk_from_file reads the hex key of |identity| in a static PSK file. */
size_t psk_from_file(const char *path, const char *identity, uint8_t *out, size_t max);

#endif
