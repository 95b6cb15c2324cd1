/* egw__tls_peek_psk_identity: the ClientKeyExchange's psk_identity from raw client
 * bytes, with records split, messages fragmented, several messages per record, and
 * garbage. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "tls/internal.h"

struct stream {
  uint8_t b[70000];
  size_t len;
};

static void put(struct stream *s, const void *p, size_t n) {
  cr_assert_leq(s->len + n, sizeof(s->b));
  memcpy(s->b + s->len, p, n);
  s->len += n;
}

/* record appends a record of |type| carrying |n| bytes of |payload|. */
static void record(struct stream *s, uint8_t type, const uint8_t *payload, size_t n) {
  uint8_t h[5] = {type, 3, 3, (uint8_t)(n >> 8), (uint8_t)n};
  put(s, h, 5);
  put(s, payload, n);
}

/* hs_msg writes a handshake message (type, 3-byte length, body) into |out|. */
static size_t hs_msg(uint8_t *out, uint8_t type, const uint8_t *body, size_t n) {
  out[0] = type;
  out[1] = (uint8_t)(n >> 16);
  out[2] = (uint8_t)(n >> 8);
  out[3] = (uint8_t)n;
  memcpy(out + 4, body, n);
  return 4 + n;
}

static size_t client_hello(uint8_t *out) {
  uint8_t body[200];
  memset(body, 0x42, sizeof(body));
  return hs_msg(out, 1, body, sizeof(body));
}

/* A ClientKeyExchange of ECDHE_PSK: identity, then the ECDH point. */
static size_t cke(uint8_t *out, const char *identity) {
  uint8_t body[300];
  size_t id = strlen(identity), n = 0;
  body[n++] = (uint8_t)(id >> 8);
  body[n++] = (uint8_t)id;
  memcpy(body + n, identity, id);
  n += id;
  body[n++] = 32;
  memset(body + n, 0x07, 32);
  n += 32;
  return hs_msg(out, 16, body, n);
}

static const char kid[] = "0.0123456789abcdef0123456789abcdef@5gc.mnc001.mcc262.3gppnetwork.org";

static enum egw__tls_peek peek(const struct stream *s, size_t len, size_t *safe, char *id) {
  return egw__tls_peek_psk_identity(s->b, len, safe, id, 129);
}

Test(psk_peek, one_message_per_record) {
  struct stream s = {0};
  uint8_t m[512];
  size_t n = client_hello(m);
  record(&s, 22, m, n);
  size_t ch_end = s.len;
  char id[129];
  size_t safe = 99;
  /* Every prefix of the ClientHello record: more needed, nothing safe before it is whole. */
  for (size_t len = 0; len < ch_end; len++) {
    cr_assert_eq(peek(&s, len, &safe, id), EGW__TLS_PEEK_MORE, "len %zu", len);
    cr_assert_eq(safe, 0, "len %zu", len);
  }
  cr_assert_eq(peek(&s, ch_end, &safe, id), EGW__TLS_PEEK_MORE);
  cr_assert_eq(safe, ch_end, "a whole ClientHello goes on");
  n = cke(m, kid);
  record(&s, 22, m, n);
  /* Every prefix of the ClientKeyExchange: held from its record. */
  for (size_t len = ch_end + 1; len < ch_end + 5 + 2 + strlen(kid); len++) {
    cr_assert_eq(peek(&s, len, &safe, id), EGW__TLS_PEEK_MORE, "len %zu", len);
    cr_assert_eq(safe, ch_end, "len %zu", len);
  }
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_FOUND);
  cr_assert_eq(safe, ch_end);
  cr_assert_str_eq(id, kid);
  /* The ChangeCipherSpec and the encrypted Finished after it change nothing. */
  uint8_t ccs = 1;
  record(&s, 20, &ccs, 1);
  static const char finished[] = "encrypted-finished-xxxxxxxxxxxxxxxxxxxxx";
  record(&s, 22, (const uint8_t *)finished, sizeof(finished) - 1);
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_FOUND);
  cr_assert_str_eq(id, kid);
}

Test(psk_peek, messages_fragmented_across_records) {
  struct stream s = {0};
  uint8_t m[1024];
  size_t n = client_hello(m);
  n += cke(m + n, kid);
  /* The ClientHello and the ClientKeyExchange in records of 7 bytes each. */
  size_t ch_len = 4 + 200;
  for (size_t off = 0; off < n; off += 7)
    record(&s, 22, m + off, n - off < 7 ? n - off : 7);
  char id[129];
  size_t safe = 0;
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_FOUND);
  cr_assert_str_eq(id, kid);
  /* Held from the record where the ClientKeyExchange starts (it shares it with the
   * ClientHello's tail): 204 / 7 = record 29. */
  cr_assert_eq(safe, (ch_len / 7) * 12);
}

Test(psk_peek, several_messages_in_one_record) {
  struct stream s = {0};
  uint8_t m[1024];
  size_t n = client_hello(m);
  n += cke(m + n, "eec-a");
  record(&s, 22, m, n);
  char id[129];
  size_t safe = 7;
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_FOUND);
  cr_assert_str_eq(id, "eec-a");
  cr_assert_eq(safe, 0);
}

Test(psk_peek, other_handshake_messages_are_skipped) {
  struct stream s = {0};
  uint8_t m[1024];
  size_t n = client_hello(m);
  uint8_t cert_body[3] = {0, 0, 0};
  n += hs_msg(m + n, 11, cert_body, 3); /* an empty Certificate */
  n += cke(m + n, "x");
  record(&s, 22, m, n);
  char id[129];
  size_t safe;
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_FOUND);
  cr_assert_str_eq(id, "x");
}

Test(psk_peek, anything_else_ends_the_peek) {
  char id[129];
  size_t safe;
  uint8_t m[1024];
  /* A ChangeCipherSpec or an alert before any ClientKeyExchange. */
  struct stream s = {0};
  size_t n = client_hello(m);
  record(&s, 22, m, n);
  uint8_t ccs = 1;
  record(&s, 20, &ccs, 1);
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_NONE);
  s.len = 0;
  uint8_t alert[2] = {2, 40};
  record(&s, 21, alert, 2);
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_NONE);
  /* SSLv2-style or plain garbage. */
  static const uint8_t v2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};
  cr_assert_eq(egw__tls_peek_psk_identity(v2, sizeof(v2), &safe, id, 129), EGW__TLS_PEEK_NONE);
  static const uint8_t http[] = "GET / HTTP/1.1\r\n";
  cr_assert_eq(egw__tls_peek_psk_identity(http, sizeof(http) - 1, &safe, id, 129),
               EGW__TLS_PEEK_NONE);
  /* An empty record, an oversized one. */
  static const uint8_t empty[] = {22, 3, 3, 0, 0};
  cr_assert_eq(egw__tls_peek_psk_identity(empty, 5, &safe, id, 129), EGW__TLS_PEEK_NONE);
  static const uint8_t huge[] = {22, 3, 3, 0x48, 0x01};
  cr_assert_eq(egw__tls_peek_psk_identity(huge, 5, &safe, id, 129), EGW__TLS_PEEK_NONE);
}

Test(psk_peek, malformed_client_key_exchanges) {
  char id[200];
  size_t safe;
  uint8_t body[400];
  struct stream s = {0};
  uint8_t m[512];
  /* identity length 0 */
  memset(body, 0, sizeof(body));
  record(&s, 22, m, hs_msg(m, 16, body, 40));
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_NONE);
  /* identity longer than the message */
  s.len = 0;
  body[0] = 0;
  body[1] = 50;
  record(&s, 22, m, hs_msg(m, 16, body, 40));
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_NONE);
  /* identity over 128 bytes */
  s.len = 0;
  body[0] = 0;
  body[1] = 129;
  memset(body + 2, 'a', 129);
  record(&s, 22, m, hs_msg(m, 16, body, 200));
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_NONE);
  /* a NUL inside the identity */
  s.len = 0;
  body[1] = 3;
  memcpy(body + 2, "a\0b", 3);
  record(&s, 22, m, hs_msg(m, 16, body, 10));
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_NONE);
  /* a message too short for the length field */
  s.len = 0;
  record(&s, 22, m, hs_msg(m, 16, body, 1));
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_NONE);
  /* an identity that does not fit the caller's buffer */
  s.len = 0;
  body[1] = 20;
  memset(body + 2, 'b', 20);
  record(&s, 22, m, hs_msg(m, 16, body, 30));
  cr_assert_eq(egw__tls_peek_psk_identity(s.b, s.len, &safe, id, 20), EGW__TLS_PEEK_NONE);
  cr_assert_eq(egw__tls_peek_psk_identity(s.b, s.len, &safe, id, 21), EGW__TLS_PEEK_FOUND);
}

Test(psk_peek, too_much_before_the_key_exchange) {
  /* 64 records of handshake data and more: not a handshake we wait for. */
  struct stream s = {0};
  uint8_t chunk[300];
  memset(chunk, 0, sizeof(chunk));
  chunk[0] = 1; /* a ClientHello announced at 16 MiB */
  chunk[1] = 0xff;
  for (int i = 0; i < 65; i++)
    record(&s, 22, chunk, 200);
  char id[129];
  size_t safe;
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_NONE);
  s.len = 0;
  for (int i = 0; i < 2; i++)
    record(&s, 22, chunk, 16384 > sizeof(chunk) ? sizeof(chunk) : 16384);
  cr_assert_eq(peek(&s, s.len, &safe, id), EGW__TLS_PEEK_MORE);
}

Test(psk_peek, pseudo_random_input_is_safe) {
  /* A cheap fuzz: random bytes, and random mutations of a valid stream. */
  uint8_t buf[2048];
  char id[129];
  size_t safe;
  unsigned seed = 12345;
  for (int round = 0; round < 20000; round++) {
    size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
    for (size_t i = 0; i < len; i++)
      buf[i] = (uint8_t)rand_r(&seed);
    if (round % 2) { /* plausible record headers */
      buf[0] = 22;
      if (len > 2)
        buf[1] = 3;
    }
    enum egw__tls_peek r = egw__tls_peek_psk_identity(buf, len, &safe, id, sizeof(id));
    cr_assert_leq(safe, len);
    if (r == EGW__TLS_PEEK_FOUND)
      cr_assert_leq(strlen(id), 128);
  }
  struct stream s = {0};
  uint8_t m[1024];
  size_t n = client_hello(m);
  n += cke(m + n, kid);
  for (size_t off = 0; off < n; off += 50)
    record(&s, 22, m + off, n - off < 50 ? n - off : 50);
  for (int round = 0; round < 20000; round++) {
    struct stream t = s;
    for (int k = 0; k < 3; k++)
      t.b[rand_r(&seed) % t.len] = (uint8_t)rand_r(&seed);
    size_t len = (size_t)rand_r(&seed) % (t.len + 1);
    enum egw__tls_peek r = egw__tls_peek_psk_identity(t.b, len, &safe, id, sizeof(id));
    cr_assert_leq(safe, len);
    if (r == EGW__TLS_PEEK_FOUND)
      cr_assert_leq(strlen(id), 128);
  }
}
