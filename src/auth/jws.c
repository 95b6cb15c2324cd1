/* JWS compact serialization (RFC 7515 section 7.1) for JWTs: strict decoding, and
 * signing and verification with keys parsed once (jwk.c). The algorithm is decided by
 * the caller's set and the key, never by the token alone (RFC 8725 section 3.1). */
#include "auth/jwt.h"
#include "auth/jwt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

/* The longest token we decode or produce (jwt.h). */
#define JWS_MAX_LEN (16 * 1024)
/* The longest signature: RSA 16384 bits. */
#define SIG_MAX_LEN 2048

static const struct {
  enum egw_jws_alg alg;
  const char *name;
} alg_names[] = {
    {.alg = EGW_JWS_ES256, .name = "ES256"},
    {.alg = EGW_JWS_ES384, .name = "ES384"},
    {.alg = EGW_JWS_RS256, .name = "RS256"},
    {.alg = EGW_JWS_PS256, .name = "PS256"},
};

enum egw_jws_alg egw_jws_alg_from_name(const char *name) {
  for (size_t i = 0; name != NULL && i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
    if (strcmp(name, alg_names[i].name) == 0)
      return alg_names[i].alg;
  }
  return 0;
}

const char *egw_jws_alg_name(enum egw_jws_alg alg) {
  for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
    if (alg == alg_names[i].alg)
      return alg_names[i].name;
  }
  return "?";
}

const char *egw_jws_result_name(enum egw_jws_result r) {
  switch (r) {
  case EGW_JWS_OK:
    return "ok";
  case EGW_JWS_MALFORMED:
    return "malformed token";
  case EGW_JWS_ALG_REFUSED:
    return "algorithm refused";
  case EGW_JWS_KEY_MISMATCH:
    return "key does not match the algorithm";
  case EGW_JWS_BAD_SIGNATURE:
    return "bad signature";
  }
  return "?";
}

/* digest hashes the signing input with the hash of |alg|; returns the digest length. */
static size_t digest(enum egw_jws_alg alg, const char *in, size_t len, uint8_t *out) {
  if (alg == EGW_JWS_ES384) {
    SHA384((const uint8_t *)in, len, out);
    return SHA384_DIGEST_LENGTH;
  }
  SHA256((const uint8_t *)in, len, out);
  return SHA256_DIGEST_LENGTH;
}

/* sign_digest writes the JWS signature of |dgst| to |out| (key->sig_len bytes): R||S
 * for ECDSA (RFC 7518 section 3.4), the RSA signature otherwise. */
static int sign_digest(const struct egw_jwk *key, const uint8_t *dgst, size_t dlen, uint8_t *out) {
  if (key->ec != NULL) {
    ECDSA_SIG *sig = ECDSA_do_sign(dgst, dlen, key->ec);
    size_t half = key->sig_len / 2;
    int ok = sig != NULL && BN_bn2bin_padded(out, half, ECDSA_SIG_get0_r(sig)) &&
             BN_bn2bin_padded(out + half, half, ECDSA_SIG_get0_s(sig));
    ECDSA_SIG_free(sig);
    return ok;
  }
  if (key->alg == EGW_JWS_PS256) {
    size_t len = 0;
    return RSA_sign_pss_mgf1(key->rsa, &len, out, key->sig_len, dgst, dlen, EVP_sha256(), NULL,
                             -1) &&
           len == key->sig_len;
  }
  unsigned len = 0;
  return RSA_sign(NID_sha256, dgst, (unsigned)dlen, out, &len, key->rsa) && len == key->sig_len;
}

char *egw_jws_sign(const struct egw_jwk *key, const json_t *claims) {
  if (!json_is_object(claims))
    return NULL;
  char *payload = json_dumps(claims, JSON_COMPACT);
  if (payload == NULL)
    return NULL;
  char *token = egw_jws_sign_payload(key, payload, strlen(payload));
  free(payload);
  return token;
}

char *egw_jws_sign_payload(const struct egw_jwk *key, const char *payload, size_t plen) {
  if (key == NULL || !key->is_private || payload == NULL)
    return NULL;
  size_t input_len = key->header_b64_len + 1 + egw_b64url_encoded_len(plen);
  size_t total = input_len + 1 + egw_b64url_encoded_len(key->sig_len);
  char *token = total <= JWS_MAX_LEN ? malloc(total + 1) : NULL;
  if (token == NULL)
    return NULL;
  char *p = token;
  memcpy(p, key->header_b64, key->header_b64_len);
  p += key->header_b64_len;
  *p++ = '.';
  p += egw_b64url_encode(p, (const uint8_t *)payload, plen);
  uint8_t dgst[SHA384_DIGEST_LENGTH];
  uint8_t sig[SIG_MAX_LEN];
  size_t dlen = digest(key->alg, token, input_len, dgst);
  if (!sign_digest(key, dgst, dlen, sig)) {
    ERR_clear_error();
    free(token);
    return NULL;
  }
  *p++ = '.';
  p += egw_b64url_encode(p, sig, key->sig_len);
  *p = '\0';
  return token;
}

/* decode_json decodes one base64url part into a JSON object, or NULL. */
static json_t *decode_json(const char *part, size_t len, uint8_t *scratch) {
  size_t n;
  if (!egw_b64url_decode(scratch, &n, part, len))
    return NULL;
  /* Duplicate members are refused: two readers must never see two different tokens. */
  json_t *j = json_loadb((const char *)scratch, n, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

enum egw_jws_result egw_jws_decode(const char *token, size_t len, struct egw_jws *out) {
  memset(out, 0, sizeof(*out));
  if (token == NULL || len == 0 || len > JWS_MAX_LEN)
    return EGW_JWS_MALFORMED;
  const char *end = token + len;
  const char *dot1 = memchr(token, '.', len);
  const char *dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
  if (dot2 == NULL)
    return EGW_JWS_MALFORMED;
  const char *sig = dot2 + 1;
  size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
  size_t slen = (size_t)(end - sig);
  /* Empty parts, including an absent signature ("alg":"none" style), are malformed; a
   * fourth part fails as a '.' in the signature's base64url. */
  if (hlen == 0 || plen == 0 || slen == 0)
    return EGW_JWS_MALFORMED;
  uint8_t *scratch = malloc(len);
  if (scratch == NULL)
    return EGW_JWS_MALFORMED;
  enum egw_jws_result ret = EGW_JWS_MALFORMED;
  if ((out->header = decode_json(token, hlen, scratch)) == NULL ||
      (out->payload = decode_json(dot1 + 1, plen, scratch)) == NULL)
    goto end;
  const json_t *alg = json_object_get(out->header, "alg");
  const json_t *kid = json_object_get(out->header, "kid");
  /* No extension is understood, so any "crit" must be refused (RFC 7515 4.1.11). */
  if (!json_is_string(alg) || json_object_get(out->header, "crit") != NULL)
    goto end;
  if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) >= sizeof(out->kid)))
    goto end;
  snprintf(out->alg, sizeof(out->alg), "%s", json_string_value(alg));
  if (kid != NULL)
    memcpy(out->kid, json_string_value(kid), json_string_length(kid) + 1);
  if ((out->sig = malloc(slen)) == NULL || !egw_b64url_decode(out->sig, &out->sig_len, sig, slen))
    goto end;
  out->signing_input = token;
  out->signing_input_len = (size_t)(dot2 - token);
  ret = EGW_JWS_OK;
end:
  free(scratch);
  if (ret != EGW_JWS_OK)
    egw_jws_cleanup(out);
  return ret;
}

static int verify_ec(const struct egw_jws *jws, const struct egw_jwk *key, const uint8_t *dgst,
                     size_t dlen) {
  size_t half = key->sig_len / 2;
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(jws->sig, half, NULL);
  BIGNUM *s = BN_bin2bn(jws->sig + half, half, NULL);
  int ok = 0;
  if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
    BN_free(r);
    BN_free(s);
  } else {
    ok = ECDSA_do_verify(dgst, dlen, sig, key->ec);
  }
  ECDSA_SIG_free(sig);
  return ok;
}

enum egw_jws_result egw_jws_verify(const struct egw_jws *jws, const struct egw_jwk *key,
                                   unsigned allowed_algs) {
  /* The header's alg is judged first, before the key is looked at. */
  enum egw_jws_alg alg = egw_jws_alg_from_name(jws->alg);
  if (alg == 0 || (alg & allowed_algs) == 0)
    return EGW_JWS_ALG_REFUSED;
  if (key == NULL || key->alg != alg)
    return EGW_JWS_KEY_MISMATCH;
  if (jws->sig == NULL || jws->sig_len != key->sig_len || jws->signing_input == NULL)
    return EGW_JWS_BAD_SIGNATURE;
  uint8_t dgst[SHA384_DIGEST_LENGTH];
  size_t dlen = digest(alg, jws->signing_input, jws->signing_input_len, dgst);
  int ok;
  if (key->ec != NULL)
    ok = verify_ec(jws, key, dgst, dlen);
  else if (alg == EGW_JWS_PS256)
    ok = RSA_verify_pss_mgf1(key->rsa, dgst, dlen, EVP_sha256(), NULL, -1, jws->sig, jws->sig_len);
  else
    ok = RSA_verify(NID_sha256, dgst, dlen, jws->sig, jws->sig_len, key->rsa);
  ERR_clear_error();
  return ok == 1 ? EGW_JWS_OK : EGW_JWS_BAD_SIGNATURE;
}

void egw_jws_cleanup(struct egw_jws *jws) {
  json_decref(jws->header);
  json_decref(jws->payload);
  free(jws->sig);
  memset(jws, 0, sizeof(*jws));
}
