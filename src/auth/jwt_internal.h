/* Shared between jwk.c (keys) and jws.c (tokens): the key object and base64url. */
#ifndef EGW_AUTH_JWT_INTERNAL_H
#define EGW_AUTH_JWT_INTERNAL_H

#include "auth/jwt.h"

#include <stdatomic.h>

#include <openssl/base.h>

/* The longest kid we keep: struct egw_jws holds a kid in 128 bytes with its NUL. */
#define EGW__JWK_KID_MAX 127

struct egw_jwk {
  atomic_int refs;
  enum egw_jws_alg alg;
  int is_private;
  char *kid;
  EVP_PKEY *pkey; /* owns the key; ec or rsa below borrow from it */
  EC_KEY *ec;
  RSA *rsa;
  size_t sig_len; /* 64/96 for ES256/ES384, RSA_size for RSA */
  /* The base64url of the header egw_jws_sign writes, built once per key. */
  char *header_b64;
  size_t header_b64_len;
};

/* egw__b64url_encoded_len is the length of the unpadded base64url of |len| bytes. */
size_t egw__b64url_encoded_len(size_t len);
/* egw__b64url_encode writes the unpadded base64url of |in| to |out| (which has room for
 * egw__b64url_encoded_len(in_len) bytes; no NUL written) and returns its length. */
size_t egw__b64url_encode(char *out, const uint8_t *in, size_t in_len);
/* egw__b64url_encode_str returns the malloc'd, NUL-terminated base64url of |in|. */
char *egw__b64url_encode_str(const uint8_t *in, size_t in_len);
/* egw__b64url_decode decodes unpadded base64url |in| into |out| (room for in_len*3/4
 * bytes) and sets *out_len. Returns 0 on any non-alphabet byte (including '=' padding),
 * an impossible length, or non-zero trailing bits (a non-canonical encoding). */
int egw__b64url_decode(uint8_t *out, size_t *out_len, const char *in, size_t in_len);

#endif
