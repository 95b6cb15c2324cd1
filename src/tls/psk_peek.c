/* Reading the PSK identity of a TLS 1.2 ClientKeyExchange before BoringSSL consumes it
 * (ARCHITECTURE.md "Rules that keep the loop fast and safe"): a pure function over the
 * bytes the client sent since the connection opened, so that it can be fuzzed and unit
 * tested without a socket.
 *
 * The client's stream before its ChangeCipherSpec is plaintext records (RFC 5246 6.2.1:
 * type, version, 2-byte length, at most 2^14 + 2048 bytes of payload). Handshake
 * messages (type, 3-byte length, body) may be split across records, and a record may
 * carry several. The ClientKeyExchange (type 16) of every PSK key exchange starts with
 * opaque psk_identity<0..2^16-1> (RFC 4279 2, RFC 5489 2), the same for PSK and
 * ECDHE_PSK. Anything unexpected ends the peek (EGW__TLS_PEEK_NONE): BoringSSL then sees
 * the bytes as they are and judges them itself. */
#include <string.h>

#include "tls/internal.h"

#define RECORD_HEADER 5
#define MAX_RECORD_PAYLOAD (16384 + 2048)
#define HS_HEADER 4
#define HS_CLIENT_KEY_EXCHANGE 16
#define CT_HANDSHAKE 22

/* The handshake bytes of the peeked prefix are gathered here; a ClientHello with its
 * key shares fits many times over, and a longer prefix ends the peek. */
#define MAX_HANDSHAKE_BYTES 16384
/* Record boundaries of the prefix: a ClientHello arrives in one or a few records. */
#define MAX_RECORDS 64

struct record {
  size_t start;    /* offset of its header in the input */
  size_t hs_start; /* offset of its payload in the handshake stream */
  size_t hs_end;
};

/* record_of returns the index of the record holding handshake byte |hs_off|. */
static size_t record_of(const struct record *recs, size_t n, size_t hs_off) {
  for (size_t i = 0; i < n; i++) {
    if (hs_off < recs[i].hs_end)
      return i;
  }
  return n;
}

enum egw__tls_peek egw__tls_peek_psk_identity(const uint8_t *in, size_t len, size_t *out_safe,
                                              char *out_identity, size_t identity_max) {
  uint8_t hs[MAX_HANDSHAKE_BYTES];
  size_t hs_len = 0, off = 0, n_recs = 0;
  struct record recs[MAX_RECORDS];
  *out_safe = 0;
  if (identity_max > 0)
    out_identity[0] = '\0';

  /* Complete handshake records only; a partial one at the end waits for more bytes. The
   * first record of another type (the ChangeCipherSpec that follows the key exchange in
   * the same flight, or one before it) ends the plaintext handshake. */
  int other = 0;
  while (len - off >= RECORD_HEADER) {
    uint8_t type = in[off];
    size_t rlen = (size_t)in[off + 3] << 8 | in[off + 4];
    if (type != CT_HANDSHAKE) {
      other = 1;
      break;
    }
    if (in[off + 1] != 3 || rlen == 0 || rlen > MAX_RECORD_PAYLOAD)
      return EGW__TLS_PEEK_NONE; /* SSLv2, garbage */
    if (len - off - RECORD_HEADER < rlen)
      break;
    if (n_recs == MAX_RECORDS || hs_len + rlen > sizeof(hs))
      return EGW__TLS_PEEK_NONE;
    recs[n_recs] = (struct record){.start = off, .hs_start = hs_len, .hs_end = hs_len + rlen};
    n_recs++;
    memcpy(hs + hs_len, in + off + RECORD_HEADER, rlen);
    hs_len += rlen;
    off += RECORD_HEADER + rlen;
  }

  /* Walk the handshake messages. */
  size_t pos = 0;
  while (hs_len - pos >= HS_HEADER) {
    uint8_t type = hs[pos];
    size_t mlen = (size_t)hs[pos + 1] << 16 | (size_t)hs[pos + 2] << 8 | hs[pos + 3];
    if (type == HS_CLIENT_KEY_EXCHANGE) {
      /* Hold from the record where the message starts, whatever else that record holds
       * before it (BoringSSL has nothing to do with those bytes without the rest). */
      *out_safe = recs[record_of(recs, n_recs, pos)].start;
      const uint8_t *body = hs + pos + HS_HEADER;
      size_t avail = hs_len - pos - HS_HEADER;
      if (mlen < 2)
        return EGW__TLS_PEEK_NONE;
      if (avail < 2)
        return EGW__TLS_PEEK_MORE;
      size_t id_len = (size_t)body[0] << 8 | body[1];
      if (id_len == 0 || id_len > mlen - 2 || id_len > PSK_MAX_IDENTITY_LEN ||
          id_len + 1 > identity_max)
        return EGW__TLS_PEEK_NONE;
      if (avail < 2 + id_len)
        return EGW__TLS_PEEK_MORE;
      if (memchr(body + 2, 0, id_len) != NULL)
        return EGW__TLS_PEEK_NONE; /* BoringSSL refuses those itself */
      memcpy(out_identity, body + 2, id_len);
      out_identity[id_len] = '\0';
      return EGW__TLS_PEEK_FOUND;
    }
    if (hs_len - pos - HS_HEADER < mlen)
      break; /* an incomplete message (a ClientHello in several records) */
    pos += HS_HEADER + mlen;
  }
  if (other)
    return EGW__TLS_PEEK_NONE; /* no key exchange before the ChangeCipherSpec, an alert */
  /* Every record before the one where the next, incomplete message starts can go on. */
  size_t first_held = pos < hs_len ? record_of(recs, n_recs, pos) : n_recs;
  *out_safe = first_held < n_recs ? recs[first_held].start : off;
  return EGW__TLS_PEEK_MORE;
}
