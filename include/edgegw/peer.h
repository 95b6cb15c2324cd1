/* The authenticated identity of the peer on a connection, set once after the TLS
 * handshake and read by authorization and roles. */
#ifndef EDGEGW_PEER_H
#define EDGEGW_PEER_H

#include <stdint.h>

/* egw_peer_kind says where the identity came from. For certificates the order of
 * preference is URI SAN, then DNS SAN, then subject CN. */
enum egw_peer_kind {
  EGW_PEER_NONE = 0, /* server-cert TLS: the client is anonymous */
  EGW_PEER_URI,
  EGW_PEER_DNS,
  EGW_PEER_CN,
  EGW_PEER_PSK, /* the PSK identity the client used */
};

/* egw_peer is owned by the connection and valid for the connection's lifetime. */
struct egw_peer {
  enum egw_peer_kind kind;
  /* id is the identity value without any prefix ("spiffe://site1/ees/1",
   * "ees1.site1.example", a Kedge-ID); NULL when kind is EGW_PEER_NONE. */
  char *id;
  /* has_cert_sha256 is set when the client presented a certificate; cert_sha256 is the
   * SHA-256 of its DER (RFC 8705 x5t#S256 binding). */
  int has_cert_sha256;
  uint8_t cert_sha256[32];
};

/* egw_peer_kind_name returns "none", "uri", "dns", "cn" or "psk". */
const char *egw_peer_kind_name(enum egw_peer_kind kind);

#endif
