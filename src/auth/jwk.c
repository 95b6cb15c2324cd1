/* JSON Web Keys (RFC 7517, 7518 section 6): parsed once into an EVP_PKEY that signing
 * and verification use directly, from PEM files or JWKS entries, with the RFC 7638
 * thumbprint as the default kid. Errors name the file or kid, never key material. */
#include "auth/jwt.h"
#include "auth/jwt_internal.h"
#include "util/format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define PEM_MAX_BYTES (1 << 20)
/* Longest base64url member we decode: a 16384-bit modulus is 2731 characters. */
#define JWK_MEMBER_MAX 4096

/* Keys. */

static int no_password(char *buf, int size, int rwflag, void *u) { return 0; }

static const char *curve_name(const struct egw_jwk *key) {
  return key->alg == EGW_JWS_ES384 ? "P-384" : "P-256";
}

/* public_members returns the base64url public members: x and y for EC, n and e for
 * RSA (both malloc'd). Returns 0 when out of memory. */
static int public_members(const struct egw_jwk *key, char **out_a, char **out_b) {
  *out_a = *out_b = NULL;
  if (key->ec != NULL) {
    uint8_t buf[1 + 2 * 66];
    size_t len = EC_POINT_point2oct(EC_KEY_get0_group(key->ec), EC_KEY_get0_public_key(key->ec),
                                    POINT_CONVERSION_UNCOMPRESSED, buf, sizeof(buf), NULL);
    if (len < 3)
      return 0;
    size_t flen = (len - 1) / 2;
    *out_a = egw_b64url_encode_str(buf + 1, flen);
    *out_b = egw_b64url_encode_str(buf + 1 + flen, flen);
  } else {
    const BIGNUM *n, *e;
    RSA_get0_key(key->rsa, &n, &e, NULL);
    size_t nlen = BN_num_bytes(n), elen = BN_num_bytes(e);
    uint8_t *buf = malloc(nlen + elen);
    if (buf == NULL)
      return 0;
    BN_bn2bin(n, buf);
    BN_bn2bin(e, buf + nlen);
    *out_a = egw_b64url_encode_str(buf, nlen);
    *out_b = egw_b64url_encode_str(buf + nlen, elen);
    free(buf);
  }
  if (*out_a == NULL || *out_b == NULL) {
    free(*out_a);
    free(*out_b);
    *out_a = *out_b = NULL;
    return 0;
  }
  return 1;
}

/* thumbprint returns the RFC 7638 SHA-256 thumbprint in base64url: the hash of the
 * required members in lexicographic order, without whitespace. */
static char *thumbprint(const struct egw_jwk *key) {
  char *a, *b;
  if (!public_members(key, &a, &b))
    return NULL;
  char *canon = key->ec != NULL
                    ? egw_format("{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                                 curve_name(key), a, b)
                    : egw_format("{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b, a);
  free(a);
  free(b);
  if (canon == NULL)
    return NULL;
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256((const uint8_t *)canon, strlen(canon), digest);
  free(canon);
  return egw_b64url_encode_str(digest, sizeof(digest));
}

/* build_header encodes the header egw_jws_sign writes, once per key. */
static int build_header(struct egw_jwk *key) {
  json_t *h =
      json_pack("{s:s,s:s,s:s}", "alg", egw_jws_alg_name(key->alg), "typ", "JWT", "kid", key->kid);
  char *text = h != NULL ? json_dumps(h, JSON_COMPACT) : NULL;
  json_decref(h);
  if (text == NULL)
    return 0;
  key->header_b64 = egw_b64url_encode_str((const uint8_t *)text, strlen(text));
  free(text);
  if (key->header_b64 == NULL)
    return 0;
  key->header_b64_len = strlen(key->header_b64);
  return 1;
}

/* jwk_new takes |pkey| (freed on failure too), checks that it is a key we serve, and
 * completes the key: algorithm (|alg|, or the key type's default when 0), kid (the
 * thumbprint when NULL), signing header. On error returns NULL with *out_msg. */
static struct egw_jwk *jwk_new(EVP_PKEY *pkey, const char *kid, enum egw_jws_alg alg,
                               const char **out_msg) {
  struct egw_jwk *key = calloc(1, sizeof(*key));
  if (key == NULL) {
    EVP_PKEY_free(pkey);
    *out_msg = "out of memory";
    return NULL;
  }
  atomic_init(&key->refs, 1);
  key->pkey = pkey;
  switch (EVP_PKEY_id(pkey)) {
  case EVP_PKEY_EC: {
    key->ec = EVP_PKEY_get0_EC_KEY(pkey);
    int nid = EC_GROUP_get_curve_name(EC_KEY_get0_group(key->ec));
    if (nid == NID_X9_62_prime256v1) {
      key->alg = EGW_JWS_ES256;
      key->sig_len = 64;
    } else if (nid == NID_secp384r1) {
      key->alg = EGW_JWS_ES384;
      key->sig_len = 96;
    } else {
      *out_msg = "EC key on an unsupported curve (P-256 or P-384 only)";
      goto fail;
    }
    key->is_private = EC_KEY_get0_private_key(key->ec) != NULL;
    if (alg != 0 && alg != key->alg) {
      *out_msg = "\"alg\" does not match the key type";
      goto fail;
    }
    break;
  }
  case EVP_PKEY_RSA: {
    key->rsa = EVP_PKEY_get0_RSA(pkey);
    unsigned bits = RSA_bits(key->rsa);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
      *out_msg = "RSA key size out of range (2048 to 16384 bits)";
      goto fail;
    }
    const BIGNUM *d;
    RSA_get0_key(key->rsa, NULL, NULL, &d);
    key->is_private = d != NULL;
    key->sig_len = RSA_size(key->rsa);
    if (alg != 0 && alg != EGW_JWS_RS256 && alg != EGW_JWS_PS256) {
      *out_msg = "\"alg\" does not match the key type";
      goto fail;
    }
    key->alg = alg != 0 ? alg : EGW_JWS_RS256;
    break;
  }
  default:
    *out_msg = "unsupported key type (EC P-256/P-384 or RSA only)";
    goto fail;
  }
  key->kid = kid != NULL ? strdup(kid) : thumbprint(key);
  if (key->kid == NULL || !build_header(key)) {
    *out_msg = "out of memory";
    goto fail;
  }
  return key;
fail:
  egw_jwk_free(key);
  return NULL;
}

/* read_file returns the malloc'd contents of |path| (NUL-terminated) or NULL. */
static char *read_file(const char *path, size_t *out_len, char **out_err) {
  errno = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    *out_err = egw_format("%s: cannot open: %s", path, errno ? strerror(errno) : "error");
    return NULL;
  }
  char *buf = malloc(PEM_MAX_BYTES + 1);
  size_t len = buf != NULL ? fread(buf, 1, PEM_MAX_BYTES + 1, f) : 0;
  int bad = buf == NULL || ferror(f) || len > PEM_MAX_BYTES;
  fclose(f);
  if (bad) {
    *out_err = egw_format("%s: %s", path,
                          buf == NULL           ? "out of memory"
                          : len > PEM_MAX_BYTES ? "larger than 1 MiB"
                                                : "read error");
    if (buf != NULL)
      OPENSSL_cleanse(buf, len);
    free(buf);
    return NULL;
  }
  buf[len] = '\0';
  *out_len = len;
  return buf;
}

/* pem_pkey finds a private key, public key or certificate in |pem|, in that order. */
static EVP_PKEY *pem_pkey(const char *pem, size_t len) {
  EVP_PKEY *pkey = NULL;
  for (int kind = 0; kind < 4 && pkey == NULL; kind++) {
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
      return NULL;
    if (kind == 0) {
      pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    } else if (kind == 1) {
      pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    } else if (kind == 2) {
      X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
      if (cert != NULL)
        pkey = X509_get_pubkey(cert);
      X509_free(cert);
    } else {
      RSA *rsa = PEM_read_bio_RSAPublicKey(bio, NULL, NULL, NULL);
      if (rsa != NULL && ((pkey = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_RSA(pkey, rsa))) {
        EVP_PKEY_free(pkey);
        RSA_free(rsa);
        pkey = NULL;
      }
    }
    BIO_free(bio);
  }
  ERR_clear_error();
  return pkey;
}

struct egw_jwk *egw_jwk_from_pem_file(const char *path, const char *kid, char **out_err) {
  if (kid != NULL && (kid[0] == '\0' || strlen(kid) > EGW__JWK_KID_MAX)) {
    *out_err = egw_format("%s: kid must be 1 to %d characters", path, EGW__JWK_KID_MAX);
    return NULL;
  }
  size_t len = 0;
  char *pem = read_file(path, &len, out_err);
  if (pem == NULL)
    return NULL;
  EVP_PKEY *pkey = pem_pkey(pem, len);
  int encrypted = strstr(pem, "ENCRYPTED") != NULL;
  OPENSSL_cleanse(pem, len);
  free(pem);
  if (pkey == NULL) {
    *out_err = egw_format("%s: %s", path,
                          encrypted ? "encrypted private keys are not supported"
                                    : "no private key, public key or certificate found");
    return NULL;
  }
  const char *msg;
  struct egw_jwk *key = jwk_new(pkey, kid, 0, &msg);
  if (key == NULL)
    *out_err = egw_format("%s: %s", path, msg);
  return key;
}

/* b64url_member decodes the base64url string member |name| of |jwk| into a BIGNUM.
 * With |want_len| non-zero the decoded length must be exactly that. */
static BIGNUM *b64url_member(const json_t *jwk, const char *name, size_t want_len,
                             const char **out_msg) {
  const json_t *m = json_object_get(jwk, name);
  if (!json_is_string(m)) {
    *out_msg = "a required member is missing or not a string";
    return NULL;
  }
  size_t len = json_string_length(m);
  if (len == 0 || len > JWK_MEMBER_MAX) {
    *out_msg = "a member has an invalid length";
    return NULL;
  }
  uint8_t buf[JWK_MEMBER_MAX];
  size_t n;
  if (!egw_b64url_decode(buf, &n, json_string_value(m), len)) {
    *out_msg = "a member is not unpadded base64url";
    return NULL;
  }
  if (want_len != 0 && n != want_len) {
    *out_msg = "a coordinate has the wrong length for the curve";
    return NULL;
  }
  BIGNUM *bn = BN_bin2bn(buf, n, NULL);
  if (bn == NULL)
    *out_msg = "out of memory";
  return bn;
}

static EVP_PKEY *ec_from_json(const json_t *jwk, const char **out_msg) {
  const char *crv = json_string_value(json_object_get(jwk, "crv"));
  int nid;
  size_t flen;
  if (crv != NULL && strcmp(crv, "P-256") == 0) {
    nid = NID_X9_62_prime256v1;
    flen = 32;
  } else if (crv != NULL && strcmp(crv, "P-384") == 0) {
    nid = NID_secp384r1;
    flen = 48;
  } else {
    *out_msg = "\"crv\" must be \"P-256\" or \"P-384\"";
    return NULL;
  }
  EVP_PKEY *pkey = NULL;
  EC_KEY *ec = NULL;
  BIGNUM *x = b64url_member(jwk, "x", flen, out_msg);
  BIGNUM *y = x != NULL ? b64url_member(jwk, "y", flen, out_msg) : NULL;
  if (y == NULL)
    goto end;
  if ((ec = EC_KEY_new_by_curve_name(nid)) == NULL) {
    *out_msg = "out of memory";
    goto end;
  }
  /* Checks that the coordinates are field elements and the point is on the curve. */
  if (!EC_KEY_set_public_key_affine_coordinates(ec, x, y)) {
    *out_msg = "the point is not on the curve";
    goto end;
  }
  if ((pkey = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_EC_KEY(pkey, ec)) {
    *out_msg = "out of memory";
    EVP_PKEY_free(pkey);
    pkey = NULL;
    goto end;
  }
  ec = NULL;
end:
  ERR_clear_error();
  EC_KEY_free(ec);
  BN_free(x);
  BN_free(y);
  return pkey;
}

static EVP_PKEY *rsa_from_json(const json_t *jwk, const char **out_msg) {
  EVP_PKEY *pkey = NULL;
  RSA *rsa = NULL;
  BIGNUM *n = b64url_member(jwk, "n", 0, out_msg);
  BIGNUM *e = n != NULL ? b64url_member(jwk, "e", 0, out_msg) : NULL;
  if (e == NULL)
    goto end;
  /* BoringSSL checks the rest when it verifies; refuse the absurd early. */
  if (!BN_is_odd(n) || !BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 33) {
    *out_msg = "invalid RSA modulus or exponent";
    goto end;
  }
  if ((rsa = RSA_new()) == NULL || !RSA_set0_key(rsa, n, e, NULL)) {
    *out_msg = "out of memory";
    goto end;
  }
  n = e = NULL;
  if ((pkey = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_RSA(pkey, rsa)) {
    *out_msg = "out of memory";
    EVP_PKEY_free(pkey);
    pkey = NULL;
    goto end;
  }
  rsa = NULL;
end:
  ERR_clear_error();
  RSA_free(rsa);
  BN_free(n);
  BN_free(e);
  return pkey;
}

struct egw_jwk *egw_jwk_from_json(const json_t *jwk, char **out_err) {
  static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
  if (!json_is_object(jwk)) {
    *out_err = egw_format("JWK: not a JSON object");
    return NULL;
  }
  const char *kid = json_string_value(json_object_get(jwk, "kid"));
  if (kid == NULL || kid[0] == '\0' || strlen(kid) > EGW__JWK_KID_MAX) {
    *out_err =
        egw_format("JWK: \"kid\" is required (a string of 1 to %d characters)", EGW__JWK_KID_MAX);
    return NULL;
  }
  const char *msg = NULL;
  const char *kty = json_string_value(json_object_get(jwk, "kty"));
  const json_t *use = json_object_get(jwk, "use");
  const json_t *ops = json_object_get(jwk, "key_ops");
  const json_t *alg_member = json_object_get(jwk, "alg");
  enum egw_jws_alg alg = 0;
  for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
    if (json_object_get(jwk, private_members[i]) != NULL) {
      *out_err = egw_format("JWK \"%s\": private member \"%s\" refused: publish public keys only",
                            kid, private_members[i]);
      return NULL;
    }
  }
  if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
    msg = "\"use\" must be \"sig\"";
  } else if (ops != NULL) {
    int verify = 0;
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op) {
      verify |= json_is_string(op) && strcmp(json_string_value(op), "verify") == 0;
    }
    if (!verify)
      msg = "\"key_ops\" does not include \"verify\"";
  }
  if (msg == NULL && alg_member != NULL) {
    alg = json_is_string(alg_member) ? egw_jws_alg_from_name(json_string_value(alg_member)) : 0;
    if (alg == 0)
      msg = "unsupported \"alg\"";
  }
  EVP_PKEY *pkey = NULL;
  if (msg == NULL) {
    if (kty != NULL && strcmp(kty, "EC") == 0)
      pkey = ec_from_json(jwk, &msg);
    else if (kty != NULL && strcmp(kty, "RSA") == 0)
      pkey = rsa_from_json(jwk, &msg);
    else
      msg = "\"kty\" must be \"EC\" or \"RSA\"";
  }
  struct egw_jwk *key = pkey != NULL ? jwk_new(pkey, kid, alg, &msg) : NULL;
  if (key == NULL)
    *out_err = egw_format("JWK \"%s\": %s", kid, msg);
  return key;
}

void egw_jwk_up_ref(struct egw_jwk *key) { atomic_fetch_add(&key->refs, 1); }

void egw_jwk_free(struct egw_jwk *key) {
  if (key == NULL || atomic_fetch_sub(&key->refs, 1) != 1)
    return;
  EVP_PKEY_free(key->pkey); /* clears the private scalar or exponents */
  free(key->kid);
  free(key->header_b64);
  free(key);
}

const char *egw_jwk_kid(const struct egw_jwk *key) { return key->kid; }

enum egw_jws_alg egw_jwk_alg(const struct egw_jwk *key) { return key->alg; }

int egw_jwk_is_private(const struct egw_jwk *key) { return key->is_private; }

json_t *egw_jwk_public_json(const struct egw_jwk *key) {
  char *a, *b;
  if (!public_members(key, &a, &b))
    return NULL;
  const char *alg = egw_jws_alg_name(key->alg);
  json_t *j = key->ec != NULL
                  ? json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "EC", "crv", curve_name(key),
                              "x", a, "y", b, "kid", key->kid, "alg", alg, "use", "sig")
                  : json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "n", a, "e", b, "kid",
                              key->kid, "alg", alg, "use", "sig");
  free(a);
  free(b);
  return j;
}
