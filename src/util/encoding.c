#include "util/encoding.h"

#include <stdlib.h>
#include <string.h>

/* base64url (RFC 4648 section 5) without padding, as JWS requires (RFC 7515 section 2). */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t egw_b64url_encoded_len(size_t len) { return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0); }

size_t egw_b64url_encode(char *out, const uint8_t *in, size_t in_len) {
  char *p = out;
  size_t i = 0;
  for (; i + 3 <= in_len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *p++ = b64url_alphabet[v >> 18];
    *p++ = b64url_alphabet[(v >> 12) & 63];
    *p++ = b64url_alphabet[(v >> 6) & 63];
    *p++ = b64url_alphabet[v & 63];
  }
  if (in_len - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *p++ = b64url_alphabet[v >> 18];
    *p++ = b64url_alphabet[(v >> 12) & 63];
  } else if (in_len - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *p++ = b64url_alphabet[v >> 18];
    *p++ = b64url_alphabet[(v >> 12) & 63];
    *p++ = b64url_alphabet[(v >> 6) & 63];
  }
  return (size_t)(p - out);
}

char *egw_b64url_encode_str(const uint8_t *in, size_t in_len) {
  char *s = malloc(egw_b64url_encoded_len(in_len) + 1);
  if (s != NULL)
    s[egw_b64url_encode(s, in, in_len)] = '\0';
  return s;
}

static int b64url_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

int egw_b64url_decode(uint8_t *out, size_t *out_len, const char *in, size_t in_len) {
  if (in_len % 4 == 1)
    return 0;
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < in_len; i++) {
    int v = b64url_value((unsigned char)in[i]);
    if (v < 0)
      return 0;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* The leftover bits of the last character must be zero: one encoding per value. */
  if (acc != 0)
    return 0;
  *out_len = n;
  return 1;
}

int egw_hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

size_t egw_pct_encode(char *out, const char *in, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t k = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)in[i];
    int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '.' || ch == '_' || ch == '~';
    if (plain) {
      out[k++] = (char)ch;
    } else {
      out[k++] = '%';
      out[k++] = hex[ch >> 4];
      out[k++] = hex[ch & 15];
    }
  }
  return k;
}

char *egw_pct_encode_str(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(n * 3 + 1);
  if (out != NULL)
    out[egw_pct_encode(out, s, n)] = '\0';
  return out;
}
