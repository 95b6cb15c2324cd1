/* TLS on BoringSSL over memory BIOs: the event loop moves ciphertext, this layer never
 * touches a socket. One egw_tls_ctx (one SSL_CTX) per listener, chosen by the listener's
 * TLS mode (a transport table in tls/modes.c); one egw_tls_conn per connection. */
#ifndef EGW_TLS_TLS_H
#define EGW_TLS_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "config/policy.h"
#include "edgegw/peer.h"
#include "keys/psk_resolver.h"
#include "util/buf.h"

struct egw_keystore;
struct egw_truststore;
struct egw_tls_ctx;
struct egw_tls_conn;

/* egw_tls_ctx_new builds the SSL_CTX for |lp| (its TLS mode and material):
 *   server-cert: TLS 1.3 preferred, 1.2 allowed, AEAD suites only, ECDHE (X25519,
 *                P-256), no client certificate;
 *   mtls:        as server-cert, plus a client certificate required and verified against
 *                |trust| (CRLs checked when lp->tls.crl_check);
 *   psk:         TLS 1.2 only, ECDHE-PSK-CHACHA20-POLY1305 first; identity hint from the
 *                policy; keys from |keys| in the realm of lp->tls.psk_file.
 * |trust| and |keys| must outlive the context. On error returns NULL and sets *out_err
 * (malloc'd) to "file:line: tls: message" using lp->file and lp->tls.line. psk mode needs
 * |keys| and lp->tls.psk_file; mtls needs |trust| (with CRLs when lp->tls.crl_check). */
struct egw_tls_ctx *egw_tls_ctx_new(const struct egw_listener_policy *lp,
                                    struct egw_truststore *trust, struct egw_keystore *keys,
                                    char **out_err);
/* egw_tls_ctx_set0_psk_resolver lets a psk listener wait for keys that are not in the
 * key store yet: when |psk| has providers, a connection reads the PSK identity from the
 * client's ClientKeyExchange before BoringSSL does and, if the key is missing and a
 * provider claims the identity, holds those bytes and returns EGW_TLS_NEED_KEY (see
 * egw_tls_conn_feed). |psk| is borrowed and must outlive the context. Other modes ignore
 * it. */
void egw_tls_ctx_set0_psk_resolver(struct egw_tls_ctx *ctx, struct egw_psk_resolver *psk);

/* egw_tls_ctx_free releases the caller's reference; connections hold their own. */
void egw_tls_ctx_free(struct egw_tls_ctx *ctx);

/* egw_tls_conn_new starts a server-side TLS session; NULL when out of memory. */
struct egw_tls_conn *egw_tls_conn_new(struct egw_tls_ctx *ctx);
/* egw_tls_conn_free releases |c|; NULL is accepted. */
void egw_tls_conn_free(struct egw_tls_conn *c);

enum egw_tls_status {
  EGW_TLS_OK,     /* progress made; more input welcome */
  EGW_TLS_CLOSED, /* the peer sent close_notify */
  EGW_TLS_FAILED, /* fatal: handshake or record failure; send *out, then close */
  /* The handshake waits for the key of the client's PSK identity (egw_tls_conn_psk_query):
   * send *out, stop reading, resolve it, then call egw_tls_conn_resume. Bytes fed
   * meanwhile are held too. */
  EGW_TLS_NEED_KEY,
};

/* egw_tls_conn_feed consumes |n| bytes of ciphertext from the socket. It drives the
 * handshake, appends decrypted application data to |plain| and any bytes that must go
 * to the peer (handshake records, alerts) to |out|. On EGW_TLS_FAILED, |out| may hold a
 * fatal alert that should still be sent before closing. */
enum egw_tls_status egw_tls_conn_feed(struct egw_tls_conn *c, const uint8_t *in, size_t n,
                                      struct egw_buf *plain, struct egw_buf *out);

/* egw_tls_conn_psk_query fills |out| with the identity (owned by |c|) and the pending
 * cipher suite of the key the handshake waits for; valid after EGW_TLS_NEED_KEY until
 * egw_tls_conn_resume. */
void egw_tls_conn_psk_query(const struct egw_tls_conn *c, struct egw_psk_query *out);

/* egw_tls_conn_resume goes on after EGW_TLS_NEED_KEY with what the resolver said, as
 * egw_tls_conn_feed does with the held bytes: EGW_PSK_READY and EGW_PSK_UNKNOWN let
 * BoringSSL judge the identity (an unknown one ends with the unknown_psk_identity alert);
 * EGW_PSK_UNAVAILABLE fails closed with the internal_error alert (the client's identity
 * may well be valid: it should try again later, not forget its key) and the reason "PSK
 * key provider unavailable". */
enum egw_tls_status egw_tls_conn_resume(struct egw_tls_conn *c, enum egw_psk_result r,
                                        struct egw_buf *plain, struct egw_buf *out);

/* egw_tls_conn_handshake_done says whether the handshake completed. */
int egw_tls_conn_handshake_done(const struct egw_tls_conn *c);

/* egw_tls_conn_write encrypts |n| bytes of application data into |out|. Only valid
 * after the handshake. Returns 0 or EGW_ERR_TLS. */
int egw_tls_conn_write(struct egw_tls_conn *c, const uint8_t *data, size_t n, struct egw_buf *out);

/* egw_tls_conn_shutdown appends a close_notify alert to |out|. */
void egw_tls_conn_shutdown(struct egw_tls_conn *c, struct egw_buf *out);

/* egw_tls_conn_peer returns the peer identity, set once when the handshake completed
 * (kind EGW_PEER_NONE before that and for anonymous clients). Owned by |c|. */
const struct egw_peer *egw_tls_conn_peer(const struct egw_tls_conn *c);

/* egw_tls_conn_failure describes why the last EGW_TLS_FAILED happened, for one log line:
 * reason ("no client certificate", "certificate verify failed: certificate has
 * expired", "unknown PSK identity", "bad record MAC", "wrong version", ...) and the alert
 * sent (e.g. "certificate_required", "unknown_ca", "unknown_psk_identity"; NULL if
 * none). Static or owned by |c|; never contains key material. The PSK identity the client
 * offered, if any, is in *out_psk_identity (owned by |c|, else NULL). */
void egw_tls_conn_failure(const struct egw_tls_conn *c, const char **out_reason,
                          const char **out_alert, const char **out_psk_identity);

/* egw_tls_conn_version and egw_tls_conn_cipher name what was negotiated ("TLSv1.3",
 * "TLS_AES_128_GCM_SHA256", "ECDHE-PSK-CHACHA20-POLY1305"), for logs. Static strings;
 * the cipher is NULL before the handshake completed. */
const char *egw_tls_conn_version(const struct egw_tls_conn *c);
const char *egw_tls_conn_cipher(const struct egw_tls_conn *c);

#endif
