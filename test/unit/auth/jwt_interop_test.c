/* Interoperability with an independent implementation: libjwt (GnuTLS flavour) signs
 * tokens we verify, and verifies tokens we sign, for ES256 and RS256. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jwt.h> /* libjwt */

#include "auth/jwt.h"
#include "auth/jwt_internal.h"

/* libjwt-gnutls 1.10 writes every ES256/ES384 signature as R||S padded to 66 bytes
 * each (the P-521 size), not the 64/96 bytes RFC 7518 section 3.4 requires. Later libjwt
 * releases size R and S by the algorithm. We refuse the padded form (wrong length), so
 * the interop tests check that, then unpad and check the signature itself. */
static char *unpad_libjwt_ec_sig(const char *token, size_t half) {
  const char *dot = strrchr(token, '.');
  size_t slen = strlen(dot + 1), n = 0;
  uint8_t *sig = malloc(slen), fixed[96];
  cr_assert(egw_b64url_decode(sig, &n, dot + 1, slen));
  if (n == 2 * half) {
    free(sig);
    return strdup(token); /* a fixed libjwt */
  }
  cr_assert_eq(n, 132, "libjwt signature of %zu bytes", n);
  for (size_t i = 0; i < 66 - half; i++)
    cr_assert(sig[i] == 0 && sig[66 + i] == 0, "padding must be zeros");
  memcpy(fixed, sig + 66 - half, half);
  memcpy(fixed + half, sig + 132 - half, half);
  char *s64 = egw_b64url_encode_str(fixed, 2 * half);
  char *out = malloc((size_t)(dot - token) + strlen(s64) + 2);
  sprintf(out, "%.*s.%s", (int)(dot - token), token, s64);
  free(s64);
  free(sig);
  return out;
}

static char *slurp(const char *name, int *out_len) {
  char path[256];
  snprintf(path, sizeof(path), "certs/out/%s", name);
  if (access(path, R_OK) != 0)
    cr_assert_eq(system("bash certs/gen.sh"), 0);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  char *buf = calloc(1, 8192);
  *out_len = (int)fread(buf, 1, 8191, f);
  fclose(f);
  return buf;
}

static struct egw_jwk *load(const char *name) {
  char path[256], *err = NULL;
  snprintf(path, sizeof(path), "certs/out/%s", name);
  struct egw_jwk *key = egw_jwk_from_pem_file(path, NULL, &err);
  cr_assert_not_null(key, "%s", err);
  return key;
}

static void libjwt_signs_we_verify(jwt_alg_t alg, const char *priv_file, const char *pub_file,
                                   const char *other_pub_file) {
  int len;
  char *pem = slurp(priv_file, &len);
  jwt_t *jwt = NULL;
  cr_assert_eq(jwt_new(&jwt), 0);
  cr_assert_eq(jwt_set_alg(jwt, alg, (const unsigned char *)pem, len), 0);
  cr_assert_eq(jwt_add_grant(jwt, "iss", "issuer.entitlement.example"), 0);
  cr_assert_eq(jwt_add_grant(jwt, "sub", "eec1"), 0);
  cr_assert_eq(jwt_add_grant_int(jwt, "exp", 4000000000L), 0);
  char *raw = jwt_encode_str(jwt);
  cr_assert_not_null(raw);
  struct egw_jwk *pub = load(pub_file), *other = load(other_pub_file);
  struct egw_jws jws;
  char *token = raw;
  if (alg == JWT_ALG_ES256) {
    token = unpad_libjwt_ec_sig(raw, 32);
    if (strcmp(token, raw) != 0) {
      cr_assert_eq(egw_jws_decode(raw, strlen(raw), &jws), EGW_JWS_OK);
      cr_assert_eq(egw_jws_verify(&jws, pub, EGW_JWS_ES256), EGW_JWS_BAD_SIGNATURE,
                   "the 132-byte form is refused");
      egw_jws_cleanup(&jws);
    }
  }
  cr_assert_eq(egw_jws_decode(token, strlen(token), &jws), EGW_JWS_OK, "%s", token);
  cr_assert_str_eq(jws.alg, jwt_alg_str(alg));
  cr_assert_eq(egw_jws_verify(&jws, pub, egw_jwk_alg(pub)), EGW_JWS_OK);
  cr_assert_eq(egw_jws_verify(&jws, other, egw_jwk_alg(pub) | egw_jwk_alg(other)),
               egw_jwk_alg(pub) == egw_jwk_alg(other) ? EGW_JWS_BAD_SIGNATURE
                                                      : EGW_JWS_KEY_MISMATCH);
  cr_assert_str_eq(json_string_value(json_object_get(jws.payload, "sub")), "eec1");
  cr_assert_eq(json_integer_value(json_object_get(jws.payload, "exp")), 4000000000LL);
  egw_jws_cleanup(&jws);
  egw_jwk_free(pub);
  egw_jwk_free(other);
  if (token != raw)
    free(token);
  free(raw);
  jwt_free(jwt);
  free(pem);
}

static void we_sign_libjwt_verifies(const char *priv_file, const char *pub_file,
                                    const char *other_pub_file) {
  struct egw_jwk *priv = load(priv_file);
  json_t *c = json_pack("{s:s,s:s,s:s,s:I}", "iss", "ecs1", "sub", "eec1", "aud", "ees1", "exp",
                        (json_int_t)4000000000);
  char *token = egw_jws_sign(priv, c);
  cr_assert_not_null(token);
  int len;
  char *pem = slurp(pub_file, &len);
  jwt_t *jwt = NULL;
  cr_assert_eq(jwt_decode(&jwt, token, (const unsigned char *)pem, len), 0, "%s", token);
  cr_assert_str_eq(jwt_get_grant(jwt, "sub"), "eec1");
  cr_assert_str_eq(jwt_get_grant(jwt, "aud"), "ees1");
  cr_assert_str_eq(jwt_get_header(jwt, "kid"), egw_jwk_kid(priv));
  cr_assert_str_eq(jwt_get_header(jwt, "typ"), "JWT");
  cr_assert_eq(jwt_get_alg(jwt), jwt_str_alg(egw_jws_alg_name(egw_jwk_alg(priv))));
  jwt_free(jwt);
  /* Control: libjwt does verify, it refuses our token under another key. */
  free(pem);
  pem = slurp(other_pub_file, &len);
  jwt = NULL;
  cr_assert_neq(jwt_decode(&jwt, token, (const unsigned char *)pem, len), 0);
  jwt_free(jwt);
  free(pem);
  free(token);
  json_decref(c);
  egw_jwk_free(priv);
}

Test(jwt_interop, libjwt_es256_token_verifies) {
  libjwt_signs_we_verify(JWT_ALG_ES256, "jwt-es256-k1.key", "jwt-es256-k1.pub.pem",
                         "jwt-es256-k2.pub.pem");
}

Test(jwt_interop, libjwt_rs256_token_verifies) {
  libjwt_signs_we_verify(JWT_ALG_RS256, "jwt-rs256.key", "jwt-rs256.pub.pem",
                         "jwt-es256-k1.pub.pem");
}

Test(jwt_interop, libjwt_es256_token_from_certificate_key) {
  libjwt_signs_we_verify(JWT_ALG_ES256, "jwt-issuer.key", "jwt-issuer.pem", "jwt-es256-k2.pub.pem");
}

Test(jwt_interop, our_es256_token_verifies_in_libjwt) {
  we_sign_libjwt_verifies("jwt-es256-k1.key", "jwt-es256-k1.pub.pem", "jwt-es256-k2.pub.pem");
}

Test(jwt_interop, our_rs256_token_verifies_in_libjwt) {
  we_sign_libjwt_verifies("jwt-rs256.key", "jwt-rs256.pub.pem", "jwt-es256-k1.pub.pem");
}

Test(jwt_interop, our_es384_token_verifies_in_libjwt) {
  we_sign_libjwt_verifies("jwt-es384.key", "jwt-es384.pub.pem", "jwt-es256-k1.pub.pem");
}

Test(jwt_interop, libjwt_hs256_with_public_pem_is_refused) {
  /* libjwt will happily MAC with the public key text: the token must still fail here. */
  int len;
  char *pem = slurp("jwt-es256-k1.pub.pem", &len);
  jwt_t *jwt = NULL;
  cr_assert_eq(jwt_new(&jwt), 0);
  cr_assert_eq(jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)pem, len), 0);
  cr_assert_eq(jwt_add_grant(jwt, "sub", "eec1"), 0);
  char *token = jwt_encode_str(jwt);
  struct egw_jwk *pub = load("jwt-es256-k1.pub.pem");
  struct egw_jws jws;
  cr_assert_eq(egw_jws_decode(token, strlen(token), &jws), EGW_JWS_OK);
  cr_assert_eq(egw_jws_verify(&jws, pub, ~0u), EGW_JWS_ALG_REFUSED);
  egw_jws_cleanup(&jws);
  egw_jwk_free(pub);
  free(token);
  jwt_free(jwt);
  free(pem);
}
