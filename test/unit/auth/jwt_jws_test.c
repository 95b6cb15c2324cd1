/* JWS compact tokens: round trips, strict decoding, and the attacks RFC 8725 lists. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "auth/jwt.h"
#include "auth/jwt_internal.h"

#define ALL_ALGS (EGW_JWS_ES256 | EGW_JWS_ES384 | EGW_JWS_RS256 | EGW_JWS_PS256)

static struct egw_jwk *load(const char *name) {
  char path[256];
  snprintf(path, sizeof(path), "certs/out/%s", name);
  if (access(path, R_OK) != 0)
    cr_assert_eq(system("bash certs/gen.sh"), 0);
  char *err = NULL;
  struct egw_jwk *key = egw_jwk_from_pem_file(path, "k", &err);
  cr_assert_not_null(key, "%s: %s", path, err ? err : "");
  return key;
}

static json_t *claims(void) {
  return json_pack("{s:s,s:s,s:s,s:s,s:I}", "iss", "ecs1", "sub", "eec1", "aud", "ees1", "scope",
                   "eees-eecregistration", "exp", (json_int_t)4000000000);
}

static char *b64(const void *p, size_t n) { return egw_b64url_encode_str(p, n); }

/* sign_raw signs |header|.|payload| (JSON text) with |key| as the test's own ES256/ES384
 * or PS256 implementation: for tokens egw_jws_sign would never write. */
static char *sign_raw(const struct egw_jwk *key, const char *header, const char *payload) {
  char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
  size_t input_len = strlen(h) + 1 + strlen(p);
  char *input = malloc(input_len + 1);
  snprintf(input, input_len + 1, "%s.%s", h, p);
  uint8_t dgst[48], sig[512];
  size_t dlen = 32, slen = 0;
  if (key->alg == EGW_JWS_ES384) {
    SHA384((const uint8_t *)input, input_len, dgst);
    dlen = 48;
  } else {
    SHA256((const uint8_t *)input, input_len, dgst);
  }
  if (key->ec != NULL) {
    ECDSA_SIG *s = ECDSA_do_sign(dgst, dlen, key->ec);
    cr_assert_not_null(s);
    slen = key->sig_len;
    cr_assert(BN_bn2bin_padded(sig, slen / 2, ECDSA_SIG_get0_r(s)));
    cr_assert(BN_bn2bin_padded(sig + slen / 2, slen / 2, ECDSA_SIG_get0_s(s)));
    ECDSA_SIG_free(s);
  } else {
    cr_assert(
        RSA_sign_pss_mgf1(key->rsa, &slen, sig, sizeof(sig), dgst, dlen, EVP_sha256(), NULL, -1));
  }
  char *s64 = b64(sig, slen);
  char *token = malloc(input_len + strlen(s64) + 2);
  sprintf(token, "%s.%s", input, s64);
  free(h);
  free(p);
  free(input);
  free(s64);
  return token;
}

static enum egw_jws_result check(const char *token, const struct egw_jwk *key, unsigned algs) {
  struct egw_jws jws;
  enum egw_jws_result r = egw_jws_decode(token, strlen(token), &jws);
  if (r == EGW_JWS_OK)
    r = egw_jws_verify(&jws, key, algs);
  egw_jws_cleanup(&jws);
  return r;
}

/* replace_sig returns |token| with its signature replaced by the base64url of |sig|. */
static char *replace_sig(const char *token, const uint8_t *sig, size_t n) {
  const char *dot = strrchr(token, '.');
  char *s = b64(sig, n);
  char *out = malloc((size_t)(dot - token) + strlen(s) + 2);
  sprintf(out, "%.*s.%s", (int)(dot - token), token, s);
  free(s);
  return out;
}

Test(jwt_jws, es256_round_trip) {
  struct egw_jwk *priv = load("jwt-es256-k1.key"), *pub = load("jwt-es256-k1.pub.pem");
  json_t *c = claims();
  char *token = egw_jws_sign(priv, c);
  cr_assert_not_null(token);
  struct egw_jws jws;
  cr_assert_eq(egw_jws_decode(token, strlen(token), &jws), EGW_JWS_OK);
  cr_assert_str_eq(jws.alg, "ES256");
  cr_assert_str_eq(jws.kid, "k");
  cr_assert_str_eq(json_string_value(json_object_get(jws.header, "typ")), "JWT");
  cr_assert_eq(json_object_size(jws.header), 3);
  cr_assert(json_equal(jws.payload, c));
  cr_assert_eq(jws.sig_len, 64);
  cr_assert_eq(jws.signing_input_len, (size_t)(strrchr(token, '.') - token));
  cr_assert_eq(egw_jws_verify(&jws, pub, EGW_JWS_ES256), EGW_JWS_OK);
  cr_assert_eq(egw_jws_verify(&jws, priv, EGW_JWS_ES256), EGW_JWS_OK);
  egw_jws_cleanup(&jws);
  cr_assert_null(strchr(token, '='));
  json_decref(c);
  free(token);
  egw_jwk_free(priv);
  egw_jwk_free(pub);
}

Test(jwt_jws, es384_and_rs256_round_trip) {
  const char *names[][2] = {{"jwt-es384.key", "jwt-es384.pub.pem"},
                            {"jwt-rs256.key", "jwt-rs256.pub.pem"}};
  for (size_t i = 0; i < 2; i++) {
    struct egw_jwk *priv = load(names[i][0]), *pub = load(names[i][1]);
    json_t *c = claims();
    char *token = egw_jws_sign(priv, c);
    cr_assert_not_null(token);
    cr_assert_eq(check(token, pub, ALL_ALGS), EGW_JWS_OK, "%s", names[i][0]);
    free(token);
    json_decref(c);
    egw_jwk_free(priv);
    egw_jwk_free(pub);
  }
}

Test(jwt_jws, ps256_from_jwk_verifies_pss_signature) {
  struct egw_jwk *priv = load("jwt-rs256.key");
  json_t *j = egw_jwk_public_json(priv);
  json_object_set_new(j, "alg", json_string("PS256"));
  char *err = NULL;
  struct egw_jwk *pub = egw_jwk_from_json(j, &err);
  cr_assert_not_null(pub, "%s", err);
  cr_assert_eq(egw_jwk_alg(pub), EGW_JWS_PS256);
  char *token = sign_raw(priv, "{\"alg\":\"PS256\"}", "{\"sub\":\"x\"}");
  cr_assert_eq(check(token, pub, EGW_JWS_PS256), EGW_JWS_OK);
  /* The same key as RS256 must not accept a PSS token, nor PS256 a PKCS#1 one. */
  cr_assert_eq(check(token, priv, ALL_ALGS), EGW_JWS_KEY_MISMATCH);
  json_t *c = claims();
  char *rs = egw_jws_sign(priv, c);
  cr_assert_eq(check(rs, pub, ALL_ALGS), EGW_JWS_KEY_MISMATCH);
  free(rs);
  json_decref(c);
  free(token);
  json_decref(j);
  egw_jwk_free(pub);
  egw_jwk_free(priv);
}

Test(jwt_jws, another_key_is_a_bad_signature) {
  struct egw_jwk *k1 = load("jwt-es256-k1.key"), *k2 = load("jwt-es256-k2.pub.pem");
  json_t *c = claims();
  char *token = egw_jws_sign(k1, c);
  cr_assert_eq(check(token, k2, EGW_JWS_ES256), EGW_JWS_BAD_SIGNATURE);
  free(token);
  json_decref(c);
  egw_jwk_free(k1);
  egw_jwk_free(k2);
}

Test(jwt_jws, public_key_cannot_sign) {
  struct egw_jwk *pub = load("jwt-es256-k1.pub.pem");
  json_t *c = claims();
  cr_assert_null(egw_jws_sign(pub, c));
  json_t *arr = json_array();
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  cr_assert_null(egw_jws_sign(priv, arr), "claims must be an object");
  json_decref(arr);
  json_decref(c);
  egw_jwk_free(pub);
  egw_jwk_free(priv);
}

Test(jwt_jws, alg_none_is_refused) {
  struct egw_jwk *pub = load("jwt-es256-k1.pub.pem");
  char *h = b64("{\"alg\":\"none\",\"typ\":\"JWT\"}", 26);
  char *p = b64("{\"sub\":\"eec1\"}", 14);
  char token[256];
  /* With a signature part the header is judged, and refused. */
  snprintf(token, sizeof(token), "%s.%s.AAAA", h, p);
  cr_assert_eq(check(token, pub, ALL_ALGS), EGW_JWS_ALG_REFUSED);
  cr_assert_eq(check(token, pub, ~0u), EGW_JWS_ALG_REFUSED);
  /* Without one (the RFC 7519 unsecured form) the token does not even decode. */
  snprintf(token, sizeof(token), "%s.%s.", h, p);
  cr_assert_eq(check(token, pub, ALL_ALGS), EGW_JWS_MALFORMED);
  snprintf(token, sizeof(token), "%s.%s", h, p);
  cr_assert_eq(check(token, pub, ALL_ALGS), EGW_JWS_MALFORMED);
  free(h);
  const char *variants[] = {"{\"alg\":\"None\"}",  "{\"alg\":\"NONE\"}",   "{\"alg\":\"\"}",
                            "{\"alg\":\"es256\"}", "{\"alg\":\"ES256 \"}", "{\"alg\":\"EdDSA\"}"};
  for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
    h = b64(variants[i], strlen(variants[i]));
    snprintf(token, sizeof(token), "%s.%s.AAAA", h, p);
    cr_assert_eq(check(token, pub, ALL_ALGS), EGW_JWS_ALG_REFUSED, "%s", variants[i]);
    free(h);
  }
  free(p);
  egw_jwk_free(pub);
}

Test(jwt_jws, hs256_with_public_key_as_secret_is_refused) {
  /* The classic key confusion: HMAC keyed with the PEM text everyone can fetch. */
  FILE *f = fopen("certs/out/jwt-es256-k1.pub.pem", "rb");
  cr_assert_not_null(f);
  char pem[1024];
  size_t pem_len = fread(pem, 1, sizeof(pem), f);
  fclose(f);
  struct egw_jwk *pub = load("jwt-es256-k1.pub.pem");
  const char *hs[] = {"HS256", "HS384", "HS512"};
  for (size_t i = 0; i < 3; i++) {
    char header[64];
    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", hs[i]);
    char *h = b64(header, strlen(header)), *p = b64("{\"sub\":\"eec1\"}", 14);
    char input[256];
    snprintf(input, sizeof(input), "%s.%s", h, p);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    const EVP_MD *md = i == 0 ? EVP_sha256() : i == 1 ? EVP_sha384() : EVP_sha512();
    cr_assert_not_null(
        HMAC(md, pem, pem_len, (const uint8_t *)input, strlen(input), mac, &mac_len));
    char *m = b64(mac, mac_len);
    char token[512];
    snprintf(token, sizeof(token), "%s.%s", input, m);
    cr_assert_eq(check(token, pub, ALL_ALGS), EGW_JWS_ALG_REFUSED, "%s", hs[i]);
    cr_assert_eq(check(token, pub, ~0u), EGW_JWS_ALG_REFUSED, "%s", hs[i]);
    free(h);
    free(p);
    free(m);
  }
  egw_jwk_free(pub);
}

Test(jwt_jws, es256_header_on_rsa_key_is_a_key_mismatch) {
  struct egw_jwk *ec = load("jwt-es256-k1.key"), *rsa = load("jwt-rs256.pub.pem");
  json_t *c = claims();
  char *token = egw_jws_sign(ec, c);
  cr_assert_eq(check(token, rsa, ALL_ALGS), EGW_JWS_KEY_MISMATCH);
  /* The caller's set is judged first. */
  cr_assert_eq(check(token, rsa, EGW_JWS_RS256), EGW_JWS_ALG_REFUSED);
  /* A NULL key (none found for the kid) is a mismatch, not a crash. */
  cr_assert_eq(check(token, NULL, EGW_JWS_ES256), EGW_JWS_KEY_MISMATCH);
  free(token);
  json_decref(c);
  egw_jwk_free(ec);
  egw_jwk_free(rsa);
}

Test(jwt_jws, es384_header_with_p256_key_is_a_key_mismatch) {
  struct egw_jwk *p384 = load("jwt-es384.key"), *p256 = load("jwt-es256-k1.pub.pem");
  json_t *c = claims();
  char *token = egw_jws_sign(p384, c);
  cr_assert_eq(check(token, p256, EGW_JWS_ES256 | EGW_JWS_ES384), EGW_JWS_KEY_MISMATCH);
  cr_assert_eq(check(token, p256, EGW_JWS_ES256), EGW_JWS_ALG_REFUSED);
  free(token);
  json_decref(c);
  egw_jwk_free(p384);
  egw_jwk_free(p256);
}

Test(jwt_jws, flipped_bits_are_bad_signatures) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  json_t *c = claims();
  char *token = egw_jws_sign(priv, c);
  struct egw_jws jws;
  cr_assert_eq(egw_jws_decode(token, strlen(token), &jws), EGW_JWS_OK);
  for (size_t bit = 0; bit < 64 * 8; bit += 37) {
    jws.sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    cr_assert_eq(egw_jws_verify(&jws, priv, EGW_JWS_ES256), EGW_JWS_BAD_SIGNATURE, "bit %zu", bit);
    jws.sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  cr_assert_eq(egw_jws_verify(&jws, priv, EGW_JWS_ES256), EGW_JWS_OK);
  egw_jws_cleanup(&jws);
  /* A payload changed under the same signature. */
  json_object_set_new(c, "sub", json_string("eec2"));
  char *other = egw_jws_sign(priv, c);
  const char *sig = strrchr(token, '.');
  char *spliced = malloc(strlen(other) + strlen(sig) + 1);
  sprintf(spliced, "%.*s%s", (int)(strrchr(other, '.') - other), other, sig);
  cr_assert_eq(check(spliced, priv, EGW_JWS_ES256), EGW_JWS_BAD_SIGNATURE);
  free(spliced);
  free(other);
  free(token);
  json_decref(c);
  egw_jwk_free(priv);
}

Test(jwt_jws, wrong_signature_lengths_are_bad_signatures) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  json_t *c = claims();
  char *token = egw_jws_sign(priv, c);
  struct egw_jws jws;
  cr_assert_eq(egw_jws_decode(token, strlen(token), &jws), EGW_JWS_OK);
  uint8_t sig[80] = {0};
  memcpy(sig, jws.sig, 64);
  size_t lens[] = {1, 32, 63, 65, 72, 80};
  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    char *t = replace_sig(token, sig, lens[i]);
    cr_assert_eq(check(t, priv, EGW_JWS_ES256), EGW_JWS_BAD_SIGNATURE, "%zu bytes", lens[i]);
    free(t);
  }
  /* The same R and S in DER (what ECDSA_sign writes) are not a JWS signature. */
  ECDSA_SIG *es = ECDSA_SIG_new();
  ECDSA_SIG_set0(es, BN_bin2bn(jws.sig, 32, NULL), BN_bin2bn(jws.sig + 32, 32, NULL));
  uint8_t *der = NULL;
  size_t der_len = 0;
  cr_assert(ECDSA_SIG_to_bytes(&der, &der_len, es));
  char *t = replace_sig(token, der, der_len);
  cr_assert_eq(check(t, priv, EGW_JWS_ES256), EGW_JWS_BAD_SIGNATURE);
  free(t);
  OPENSSL_free(der);
  ECDSA_SIG_free(es);
  /* R or S zero. */
  memset(sig, 0, 32);
  t = replace_sig(token, sig, 64);
  cr_assert_eq(check(t, priv, EGW_JWS_ES256), EGW_JWS_BAD_SIGNATURE);
  free(t);
  egw_jws_cleanup(&jws);
  free(token);
  json_decref(c);
  egw_jwk_free(priv);
}

Test(jwt_jws, truncated_tokens) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  json_t *c = claims();
  char *token = egw_jws_sign(priv, c);
  size_t len = strlen(token);
  struct egw_jws jws;
  /* 86 characters carry 64 bytes: 85 is an impossible length, 84 is 63 bytes. */
  cr_assert_eq(egw_jws_decode(token, len - 1, &jws), EGW_JWS_MALFORMED);
  cr_assert_eq(egw_jws_decode(token, len - 2, &jws), EGW_JWS_OK);
  cr_assert_eq(egw_jws_verify(&jws, priv, EGW_JWS_ES256), EGW_JWS_BAD_SIGNATURE);
  egw_jws_cleanup(&jws);
  size_t input = (size_t)(strrchr(token, '.') - token);
  cr_assert_eq(egw_jws_decode(token, input + 1, &jws), EGW_JWS_MALFORMED);
  cr_assert_eq(egw_jws_decode(token, input, &jws), EGW_JWS_MALFORMED);
  cr_assert_eq(egw_jws_decode(token, input - 3, &jws), EGW_JWS_MALFORMED);
  cr_assert_eq(egw_jws_decode(token, 10, &jws), EGW_JWS_MALFORMED);
  cr_assert_eq(egw_jws_decode(token, 0, &jws), EGW_JWS_MALFORMED);
  cr_assert_eq(egw_jws_decode("", 0, &jws), EGW_JWS_MALFORMED);
  free(token);
  json_decref(c);
  egw_jwk_free(priv);
}

Test(jwt_jws, part_counts_and_empty_parts) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  json_t *c = claims();
  char *token = egw_jws_sign(priv, c);
  const char *d1 = strchr(token, '.'), *d2 = strrchr(token, '.');
  char buf[2048];
  snprintf(buf, sizeof(buf), "%s.%s", token, d2 + 1); /* four parts */
  cr_assert_eq(check(buf, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  snprintf(buf, sizeof(buf), "%s.", token);
  cr_assert_eq(check(buf, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  snprintf(buf, sizeof(buf), ".%s", d1 + 1); /* empty header */
  cr_assert_eq(check(buf, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  snprintf(buf, sizeof(buf), "%.*s.%s", (int)(d1 - token), token, d2); /* empty payload */
  cr_assert_eq(check(buf, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  cr_assert_eq(check("..", priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  /* JWE compact (five parts) is not a JWS. */
  cr_assert_eq(check("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", priv, ALL_ALGS), EGW_JWS_MALFORMED);
  free(token);
  json_decref(c);
  egw_jwk_free(priv);
}

Test(jwt_jws, padding_and_non_url_characters) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  json_t *c = claims();
  char *token = egw_jws_sign(priv, c);
  char buf[2048];
  snprintf(buf, sizeof(buf), "%s=", token);
  cr_assert_eq(check(buf, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  snprintf(buf, sizeof(buf), "%s==", token);
  cr_assert_eq(check(buf, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  /* A padded header: {"alg":"ES256"} is 15 bytes, base64 "...fQ==" */
  char *h = b64("{\"alg\":\"ES256\"}", 15);
  snprintf(buf, sizeof(buf), "%s==%s", h, strchr(token, '.'));
  cr_assert_eq(check(buf, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  free(h);
  /* The same bytes in the standard alphabet, and stray whitespace. */
  const char *subst[][2] = {{"-", "+"}, {"_", "/"}};
  for (size_t i = 0; i < 2; i++) {
    char *t = strdup(token);
    char *at = strpbrk(t, subst[i][0]);
    if (at != NULL) {
      *at = subst[i][1][0];
      cr_assert_eq(check(t, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
    }
    free(t);
  }
  char *t = strdup(token);
  t[5] = ' ';
  cr_assert_eq(check(t, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  free(t);
  /* A NUL inside the given length. */
  t = strdup(token);
  t[7] = '\0';
  struct egw_jws jws;
  cr_assert_eq(egw_jws_decode(t, strlen(token), &jws), EGW_JWS_MALFORMED);
  free(t);
  /* Non-zero trailing bits: a second spelling of the same signature. */
  size_t len = strlen(token);
  t = strdup(token);
  t[len - 1] = t[len - 1] == 'A' ? 'B' : (char)(t[len - 1] ^ 1);
  cr_assert_eq(check(t, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  free(t);
  free(token);
  json_decref(c);
  egw_jwk_free(priv);
}

Test(jwt_jws, crit_header_is_refused_even_when_signed) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  char *token =
      sign_raw(priv, "{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}", "{\"sub\":\"eec1\"}");
  cr_assert_eq(check(token, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  free(token);
  token = sign_raw(priv, "{\"alg\":\"ES256\",\"b64\":false,\"crit\":[\"b64\"]}", "{}");
  cr_assert_eq(check(token, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  free(token);
  /* Control: the helper's tokens verify. */
  token = sign_raw(priv, "{\"alg\":\"ES256\"}", "{\"sub\":\"eec1\"}");
  cr_assert_eq(check(token, priv, EGW_JWS_ES256), EGW_JWS_OK);
  free(token);
  egw_jwk_free(priv);
}

Test(jwt_jws, size_limit_is_16_kib) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  char *big = malloc(17 * 1024);
  memset(big, 'a', 17 * 1024 - 1);
  big[17 * 1024 - 1] = '\0';
  json_t *c = claims();
  json_object_set_new(c, "pad", json_string(big));
  cr_assert_null(egw_jws_sign(priv, c), "never write a token we would refuse");
  char *payload = json_dumps(c, JSON_COMPACT);
  char *token = sign_raw(priv, "{\"alg\":\"ES256\"}", payload);
  cr_assert_gt(strlen(token), 17 * 1024);
  cr_assert_eq(check(token, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  free(token);
  free(payload);
  /* Just under the limit still works. */
  json_object_set_new(c, "pad", json_string_nocheck(big + 17 * 1024 - 1 - 11500));
  token = egw_jws_sign(priv, c);
  cr_assert_not_null(token);
  cr_assert_lt(strlen(token), 16 * 1024);
  cr_assert_eq(check(token, priv, EGW_JWS_ES256), EGW_JWS_OK);
  free(token);
  free(big);
  json_decref(c);
  egw_jwk_free(priv);
}

Test(jwt_jws, header_and_payload_must_be_objects) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  const char *bad[][2] = {
      {"[\"ES256\"]", "{}"},
      {"\"ES256\"", "{}"},
      {"{\"alg\":\"ES256\"", "{}"},                   /* not JSON */
      {"{\"alg\":\"ES256\"}", "[1]"},                 /* payload an array */
      {"{\"alg\":\"ES256\"}", "\"sub\""},             /* payload a string */
      {"{\"alg\":\"ES256\"}", "{} "},                 /* trailing space is fine: control below */
      {"{\"alg\":\"ES256\"}", "{}{}"},                /* trailing garbage */
      {"{\"alg\":1}", "{}"},                          /* alg not a string */
      {"{\"typ\":\"JWT\"}", "{}"},                    /* no alg */
      {"{\"alg\":\"ES256\",\"kid\":7}", "{}"},        /* kid not a string */
      {"{\"alg\":\"ES256\",\"alg\":\"none\"}", "{}"}, /* duplicate member */
      {"{\"alg\":\"ES256\"}", "{\"sub\":\"a\",\"sub\":\"b\"}"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *token = sign_raw(priv, bad[i][0], bad[i][1]);
    enum egw_jws_result want = i == 5 ? EGW_JWS_OK : EGW_JWS_MALFORMED;
    cr_assert_eq(check(token, priv, EGW_JWS_ES256), want, "%s . %s", bad[i][0], bad[i][1]);
    free(token);
  }
  egw_jwk_free(priv);
}

Test(jwt_jws, long_alg_is_truncated_and_refused_long_kid_malformed) {
  struct egw_jwk *priv = load("jwt-es256-k1.key");
  char *token = sign_raw(priv, "{\"alg\":\"ES256ES256ES256ES256\"}", "{}");
  struct egw_jws jws;
  cr_assert_eq(egw_jws_decode(token, strlen(token), &jws), EGW_JWS_OK);
  cr_assert_str_eq(jws.alg, "ES256ES256ES256");
  cr_assert_eq(egw_jws_verify(&jws, priv, ALL_ALGS), EGW_JWS_ALG_REFUSED);
  egw_jws_cleanup(&jws);
  free(token);
  char header[256];
  snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"kid\":\"%0128d\"}", 0);
  token = sign_raw(priv, header, "{}");
  cr_assert_eq(check(token, priv, EGW_JWS_ES256), EGW_JWS_MALFORMED);
  free(token);
  egw_jwk_free(priv);
}

Test(jwt_jws, names) {
  cr_assert_eq(egw_jws_alg_from_name("ES256"), EGW_JWS_ES256);
  cr_assert_eq(egw_jws_alg_from_name("ES384"), EGW_JWS_ES384);
  cr_assert_eq(egw_jws_alg_from_name("RS256"), EGW_JWS_RS256);
  cr_assert_eq(egw_jws_alg_from_name("PS256"), EGW_JWS_PS256);
  cr_assert_eq(egw_jws_alg_from_name("none"), 0);
  cr_assert_eq(egw_jws_alg_from_name("HS256"), 0);
  cr_assert_eq(egw_jws_alg_from_name(NULL), 0);
  cr_assert_str_eq(egw_jws_alg_name(EGW_JWS_PS256), "PS256");
  cr_assert_str_eq(egw_jws_result_name(EGW_JWS_BAD_SIGNATURE), "bad signature");
  struct egw_jws zero = {0};
  egw_jws_cleanup(&zero);
}
