/* Shared between jwk.c (keys) and jws.c (tokens): the key object and base64url. */
#ifndef EGW_AUTH_JWT_INTERNAL_H
#define EGW_AUTH_JWT_INTERNAL_H

#include "auth/jwt.h"
#include "util/encoding.h"

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

#endif
