/* Private to src/tls/: the context and connection structs and the per-mode table. */
#ifndef EGW_TLS_INTERNAL_H
#define EGW_TLS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "tls/tls.h"

/* egw__tls_mode is one TLS mode's transport entry: how its SSL_CTX differs from the
 * common base (ctx.c sets what every mode shares). configure returns 0, or -1 with a
 * description of what is wrong written to |msg| (ctx.c prefixes "file:line: tls: "). */
struct egw__tls_mode {
  const char *name;
  int (*configure)(struct egw_tls_ctx *ctx, const struct egw_listener_policy *lp,
                   struct egw_truststore *trust, char *msg, size_t msg_len);
};

/* egw__tls_mode_for returns the table entry of |mode|, or NULL for an unknown mode. */
const struct egw__tls_mode *egw__tls_mode_for(enum egw_tls_mode mode);

/* egw_tls_ctx is reference-counted: the owner (listener) holds one reference and every
 * connection one more, because the PSK callback needs |keys| and |realm| for as long as a
 * handshake can run. Loop thread only, so a plain counter. */
struct egw_tls_ctx {
  SSL_CTX *ssl_ctx;
  int refs;
  enum egw_tls_mode mode;
  struct egw_keystore *keys;    /* psk: borrowed, outlives the context */
  char *realm;                  /* psk: lp->tls.psk_file */
  struct egw_psk_resolver *psk; /* psk: borrowed; NULL: never wait for a key */
};

#define EGW__TLS_REASON_MAX 160

struct egw_tls_conn {
  struct egw_tls_ctx *ctx; /* a reference */
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by |ssl| */
  int handshake_done;
  int failed;
  struct egw_peer peer;
  /* First fatal alert we sent (its description code), -1 for none. */
  int sent_alert;
  /* First certificate verification error seen by the verify callback, X509_V_OK if none. */
  long verify_error;
  char *psk_identity; /* the identity the client offered, if any */
  /* Direct PSK handshakes (psk_wait.c): while |peeking|, every byte the client sent is
   * kept in |peek| and only the first |peek_fed| went to BoringSSL; |waiting_key| once
   * EGW_TLS_NEED_KEY was returned. */
  int peeking;
  int waiting_key;
  struct egw_buf peek;
  size_t peek_fed;
  uint16_t pending_suite;
  char reason[EGW__TLS_REASON_MAX];
};

/* egw__tls_load_cert_key loads lp->tls.cert_file (chain) and key_file into |ctx| and
 * checks that they match. Returns 0 or -1 with |msg| set. */
int egw__tls_load_cert_key(struct egw_tls_ctx *ctx, const struct egw_listener_policy *lp, char *msg,
                           size_t msg_len);

/* egw__tls_set_ciphers sets the TLS 1.2 cipher list: lp->tls.ciphers when given, else
 * |dflt|. Returns 0 or -1 with |msg| set. */
int egw__tls_set_ciphers(struct egw_tls_ctx *ctx, const struct egw_listener_policy *lp,
                         const char *dflt, char *msg, size_t msg_len);

/* egw__tls_verify_cb is the certificate verify callback of mtls: it records the first
 * verification error in the connection, then lets BoringSSL decide as usual. */
int egw__tls_verify_cb(int preverify_ok, X509_STORE_CTX *store_ctx);

/* egw__tls_info_cb records the first fatal alert we send (every mode installs it). */
void egw__tls_info_cb(const SSL *ssl, int type, int value);

/* egw__tls_alert_name returns the snake-case name of TLS alert |desc|
 * ("unknown_ca"), or "unknown" (never NULL). */
const char *egw__tls_alert_name(int desc);

/* egw__tls_peer_from_cert fills |peer| from |leaf|: URI SAN, else DNS SAN, else subject CN,
 * and the SHA-256 of its DER. Returns 0, or -1 when out of memory or the certificate has no
 * usable name (peer->kind stays EGW_PEER_NONE; the hash is still set). */
int egw__tls_peer_from_cert(X509 *leaf, struct egw_peer *peer);

/* egw__tls_now_ms is the monotonic millisecond clock (same base as uv_now()). */
uint64_t egw__tls_now_ms(void);

/* egw__tls_psk_server_cb is the PSK server callback (modes.c installs it, conn.c
 * provides it because it records the offered identity in the connection). */
unsigned egw__tls_psk_server_cb(SSL *ssl, const char *identity, uint8_t *psk, unsigned max_psk_len);

/* egw__tls_peek is what egw__tls_peek_psk_identity found. */
enum egw__tls_peek {
  EGW__TLS_PEEK_MORE,  /* no ClientKeyExchange identity yet: the first *out_safe bytes may
                        * go to BoringSSL, the rest waits for more input */
  EGW__TLS_PEEK_FOUND, /* the identity is in |out_identity|; the record where the message
                        * starts begins at *out_safe: bytes before it may go on */
  EGW__TLS_PEEK_NONE,  /* nothing to wait for (a record other than handshake before it, a
                        * malformed or oversized prefix): give BoringSSL everything */
};

/* egw__tls_peek_psk_identity looks for the psk_identity of the ClientKeyExchange in
 * |in|, the |len| bytes a TLS 1.2 client sent since the connection opened (psk_peek.c).
 * |out_identity| (capacity |identity_max|) receives it NUL-terminated on
 * EGW__TLS_PEEK_FOUND. A pure function: every bound is checked, any input is safe. */
enum egw__tls_peek egw__tls_peek_psk_identity(const uint8_t *in, size_t len, size_t *out_safe,
                                              char *out_identity, size_t identity_max);

/* egw__tls_peek_feed is egw_tls_conn_feed for a connection that is |peeking|
 * (psk_wait.c); egw__tls_advance runs the handshake and reads application data from
 * what BoringSSL was given (conn.c); egw__tls_bio_put gives it |n| bytes (0 or -1). */
enum egw_tls_status egw__tls_peek_feed(struct egw_tls_conn *c, const uint8_t *in, size_t n,
                                       struct egw_buf *plain, struct egw_buf *out);
enum egw_tls_status egw__tls_advance(struct egw_tls_conn *c, struct egw_buf *plain,
                                     struct egw_buf *out);
int egw__tls_bio_put(struct egw_tls_conn *c, const uint8_t *in, size_t n);
/* egw__tls_fail records the failure (set_failure) and drains a pending alert to |out|. */
enum egw_tls_status egw__tls_fail(struct egw_tls_conn *c, struct egw_buf *out);

#endif
