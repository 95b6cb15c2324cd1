/* JWKs: PEM loading, RFC 7638 thumbprints, JWKS entries and their refusals. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth/jwt.h"
#include "auth/jwt_internal.h"

static const char *path_of(const char *name) {
  static char path[256];
  snprintf(path, sizeof(path), "certs/out/%s", name);
  if (access(path, R_OK) != 0)
    cr_assert_eq(system("bash certs/gen.sh"), 0);
  return path;
}

static struct egw_jwk *load(const char *name, const char *kid) {
  char *err = NULL;
  struct egw_jwk *key = egw_jwk_from_pem_file(path_of(name), kid, &err);
  cr_assert_not_null(key, "%s: %s", name, err ? err : "");
  return key;
}

static int verifies(const struct egw_jwk *signer, const struct egw_jwk *verifier) {
  json_t *c = json_pack("{s:s}", "sub", "eec1");
  char *token = egw_jws_sign(signer, c);
  struct egw_jws jws;
  enum egw_jws_result r = egw_jws_decode(token, strlen(token), &jws);
  if (r == EGW_JWS_OK)
    r = egw_jws_verify(&jws, verifier, ~0u);
  egw_jws_cleanup(&jws);
  free(token);
  json_decref(c);
  return r == EGW_JWS_OK;
}

/* write_pubkey writes |key|'s public key as a PEM file in a temporary directory. */
static char *write_pubkey(const struct egw_jwk *key) {
  char *path = strdup("/tmp/egw-jwk-XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  BIO *bio = BIO_new_file(path, "w");
  cr_assert(PEM_write_bio_PUBKEY(bio, key->pkey));
  BIO_free(bio);
  return path;
}

Test(jwt_jwk, pem_kinds) {
  struct {
    const char *file;
    enum egw_jws_alg alg;
    int priv;
  } cases[] = {
      {"jwt-es256-k1.key", EGW_JWS_ES256, 1}, {"jwt-es256-k1.pub.pem", EGW_JWS_ES256, 0},
      {"jwt-es384.key", EGW_JWS_ES384, 1},    {"jwt-es384.pub.pem", EGW_JWS_ES384, 0},
      {"jwt-rs256.key", EGW_JWS_RS256, 1},    {"jwt-rs256.pub.pem", EGW_JWS_RS256, 0},
      {"jwt-issuer.pem", EGW_JWS_ES256, 0},   {"jwt-issuer.key", EGW_JWS_ES256, 1},
      {"ca.pem", EGW_JWS_ES256, 0}, /* a certificate, even a CA's */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct egw_jwk *k = load(cases[i].file, "kid-1");
    cr_assert_eq(egw_jwk_alg(k), cases[i].alg, "%s", cases[i].file);
    cr_assert_eq(egw_jwk_is_private(k), cases[i].priv, "%s", cases[i].file);
    cr_assert_str_eq(egw_jwk_kid(k), "kid-1");
    egw_jwk_free(k);
  }
}

Test(jwt_jwk, certificate_key_verifies_issuer_tokens) {
  struct egw_jwk *signer = load("jwt-issuer.key", NULL), *cert = load("jwt-issuer.pem", NULL);
  cr_assert_str_eq(egw_jwk_kid(signer), egw_jwk_kid(cert), "same key, same thumbprint");
  cr_assert(verifies(signer, cert));
  egw_jwk_free(signer);
  egw_jwk_free(cert);
}

Test(jwt_jwk, thumbprint_kid_is_the_same_for_private_and_public) {
  struct egw_jwk *a = load("jwt-es256-k1.key", NULL), *b = load("jwt-es256-k1.pub.pem", NULL);
  struct egw_jwk *c = load("jwt-es256-k2.pub.pem", NULL);
  cr_assert_str_eq(egw_jwk_kid(a), egw_jwk_kid(b));
  cr_assert_str_neq(egw_jwk_kid(a), egw_jwk_kid(c));
  cr_assert_eq(strlen(egw_jwk_kid(a)), 43, "SHA-256 in unpadded base64url");
  egw_jwk_free(a);
  egw_jwk_free(b);
  egw_jwk_free(c);
}

Test(jwt_jwk, rfc7638_thumbprint_example) {
  /* RFC 7638 section 3.1. */
  json_t *j = json_pack(
      "{s:s,s:s,s:s,s:s,s:s}", "kty", "RSA", "n",
      "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
      "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
      "65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
      "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
      "kEgU8awapJzKnqDKgw",
      "e", "AQAB", "alg", "RS256", "kid", "2011-04-29");
  char *err = NULL;
  struct egw_jwk *k = egw_jwk_from_json(j, &err);
  cr_assert_not_null(k, "%s", err);
  cr_assert_str_eq(egw_jwk_kid(k), "2011-04-29");
  char *path = write_pubkey(k);
  struct egw_jwk *t = egw_jwk_from_pem_file(path, NULL, &err);
  cr_assert_not_null(t, "%s", err);
  cr_assert_str_eq(egw_jwk_kid(t), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  /* And the public JSON gives back the RFC's members. */
  json_t *pub = egw_jwk_public_json(k);
  cr_assert_str_eq(json_string_value(json_object_get(pub, "n")),
                   json_string_value(json_object_get(j, "n")));
  cr_assert_str_eq(json_string_value(json_object_get(pub, "e")), "AQAB");
  json_decref(pub);
  unlink(path);
  free(path);
  egw_jwk_free(t);
  egw_jwk_free(k);
  json_decref(j);
}

Test(jwt_jwk, public_json_round_trip_ec_and_rsa) {
  const char *files[] = {"jwt-es256-k1.key", "jwt-es384.key", "jwt-rs256.key"};
  const char *kty[] = {"EC", "EC", "RSA"};
  for (size_t i = 0; i < 3; i++) {
    struct egw_jwk *priv = load(files[i], NULL);
    json_t *j = egw_jwk_public_json(priv);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "kty")), kty[i]);
    cr_assert_str_eq(json_string_value(json_object_get(j, "use")), "sig");
    cr_assert_str_eq(json_string_value(json_object_get(j, "alg")),
                     egw_jws_alg_name(egw_jwk_alg(priv)));
    cr_assert_str_eq(json_string_value(json_object_get(j, "kid")), egw_jwk_kid(priv));
    cr_assert_null(json_object_get(j, "d"), "no private member");
    cr_assert_null(json_object_get(j, "p"));
    cr_assert_eq(json_object_size(j), i < 2 ? 7 : 6);
    if (i == 0) {
      cr_assert_str_eq(json_string_value(json_object_get(j, "crv")), "P-256");
      cr_assert_eq(json_string_length(json_object_get(j, "x")), 43);
      cr_assert_eq(json_string_length(json_object_get(j, "y")), 43);
    }
    /* Through text, as a JWKS would travel. */
    char *text = json_dumps(j, JSON_COMPACT);
    json_t *back = json_loads(text, 0, NULL);
    char *err = NULL;
    struct egw_jwk *pub = egw_jwk_from_json(back, &err);
    cr_assert_not_null(pub, "%s: %s", files[i], err);
    cr_assert_not(egw_jwk_is_private(pub));
    cr_assert_eq(egw_jwk_alg(pub), egw_jwk_alg(priv));
    cr_assert_str_eq(egw_jwk_kid(pub), egw_jwk_kid(priv));
    cr_assert(verifies(priv, pub), "%s", files[i]);
    json_t *again = egw_jwk_public_json(pub);
    cr_assert(json_equal(again, j));
    json_decref(again);
    egw_jwk_free(pub);
    free(text);
    json_decref(back);
    json_decref(j);
    egw_jwk_free(priv);
  }
}

/* refused builds k1's public JWK, applies |edit|, and expects egw_jwk_from_json to fail
 * with an error containing |want|. */
static void refused(void (*edit)(json_t *), const char *want) {
  struct egw_jwk *k = load("jwt-es256-k1.key", "k1");
  json_t *j = egw_jwk_public_json(k);
  edit(j);
  char *err = NULL;
  struct egw_jwk *bad = egw_jwk_from_json(j, &err);
  cr_assert_null(bad, "accepted: %s", want);
  cr_assert_not_null(err);
  cr_assert_not_null(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
  /* Never key material: neither coordinate appears in the error. */
  const char *x = json_string_value(json_object_get(j, "x"));
  if (x != NULL && strlen(x) > 8)
    cr_assert_null(strstr(err, x));
  free(err);
  json_decref(j);
  egw_jwk_free(k);
}

static void add_d(json_t *j) { json_object_set(j, "d", json_object_get(j, "x")); }
static void add_p(json_t *j) { json_object_set_new(j, "p", json_string("AQAB")); }
static void short_x(json_t *j) {
  uint8_t x[31] = {1};
  char *s = egw_b64url_encode_str(x, 31);
  json_object_set_new(j, "x", json_string(s));
  free(s);
}
static void long_x(json_t *j) {
  uint8_t x[33] = {0};
  char *s = egw_b64url_encode_str(x, 33);
  json_object_set_new(j, "x", json_string(s));
  free(s);
}
static void off_curve(json_t *j) {
  char *y = strdup(json_string_value(json_object_get(j, "y")));
  y[20] = y[20] == 'A' ? 'B' : 'A';
  json_object_set_new(j, "y", json_string(y));
  free(y);
}
static void padded_x(json_t *j) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%s=", json_string_value(json_object_get(j, "x")));
  json_object_set_new(j, "x", json_string(buf));
}
static void use_enc(json_t *j) { json_object_set_new(j, "use", json_string("enc")); }
static void no_kid(json_t *j) { json_object_del(j, "kid"); }
static void kid_number(json_t *j) { json_object_set_new(j, "kid", json_integer(1)); }
static void crv_p521(json_t *j) { json_object_set_new(j, "crv", json_string("P-521")); }
static void crv_p384(json_t *j) { json_object_set_new(j, "crv", json_string("P-384")); }
static void kty_oct(json_t *j) { json_object_set_new(j, "kty", json_string("oct")); }
static void alg_rs256(json_t *j) { json_object_set_new(j, "alg", json_string("RS256")); }
static void alg_es384(json_t *j) { json_object_set_new(j, "alg", json_string("ES384")); }
static void alg_none(json_t *j) { json_object_set_new(j, "alg", json_string("none")); }
static void alg_hs256(json_t *j) { json_object_set_new(j, "alg", json_string("HS256")); }
static void ops_sign(json_t *j) { json_object_set_new(j, "key_ops", json_pack("[s]", "sign")); }
static void no_y(json_t *j) { json_object_del(j, "y"); }

Test(jwt_jwk, from_json_refusals) {
  refused(add_d, "private member \"d\"");
  refused(add_p, "private member \"p\"");
  refused(short_x, "wrong length");
  refused(long_x, "wrong length");
  refused(off_curve, "not on the curve");
  refused(padded_x, "base64url");
  refused(use_enc, "\"use\"");
  refused(no_kid, "\"kid\" is required");
  refused(kid_number, "\"kid\" is required");
  refused(crv_p521, "\"crv\"");
  refused(crv_p384, "wrong length");
  refused(kty_oct, "\"kty\"");
  refused(alg_rs256, "\"alg\"");
  refused(alg_es384, "\"alg\"");
  refused(alg_none, "\"alg\"");
  refused(alg_hs256, "\"alg\"");
  refused(ops_sign, "key_ops");
  refused(no_y, "missing");
}

Test(jwt_jwk, from_json_accepts_optional_members) {
  struct egw_jwk *k = load("jwt-es256-k1.key", "k1");
  json_t *j = egw_jwk_public_json(k);
  json_object_del(j, "use");
  json_object_del(j, "alg");
  json_object_set_new(j, "key_ops", json_pack("[s]", "verify"));
  json_object_set_new(j, "x5t#S256", json_string("ignored"));
  char *err = NULL;
  struct egw_jwk *pub = egw_jwk_from_json(j, &err);
  cr_assert_not_null(pub, "%s", err);
  cr_assert_eq(egw_jwk_alg(pub), EGW_JWS_ES256);
  cr_assert(verifies(k, pub));
  egw_jwk_free(pub);
  json_decref(j);
  egw_jwk_free(k);
}

Test(jwt_jwk, rsa_from_json_refusals) {
  struct egw_jwk *k = load("jwt-rs256.key", "r");
  json_t *j = egw_jwk_public_json(k);
  char *err = NULL;
  json_t *e = json_deep_copy(j);
  json_object_set_new(e, "e", json_string("Ag")); /* e = 2 */
  cr_assert_null(egw_jwk_from_json(e, &err));
  cr_assert_not_null(strstr(err, "exponent"), "%s", err);
  free(err);
  json_decref(e);
  e = json_deep_copy(j);
  json_object_set_new(e, "d", json_string("AQAB"));
  cr_assert_null(egw_jwk_from_json(e, &err));
  free(err);
  json_decref(e);
  /* A 1024-bit modulus. */
  RSA *small = RSA_new();
  BIGNUM *f4 = BN_new();
  BN_set_word(f4, RSA_F4);
  cr_assert(RSA_generate_key_ex(small, 1024, f4, NULL));
  const BIGNUM *n;
  RSA_get0_key(small, &n, NULL, NULL);
  uint8_t nb[128];
  BN_bn2bin_padded(nb, sizeof(nb), n);
  char *n64 = egw_b64url_encode_str(nb, sizeof(nb));
  e = json_deep_copy(j);
  json_object_set_new(e, "n", json_string(n64));
  cr_assert_null(egw_jwk_from_json(e, &err));
  cr_assert_not_null(strstr(err, "2048"), "%s", err);
  free(err);
  json_decref(e);
  /* The same small key as a PEM file. */
  char *path = strdup("/tmp/egw-jwk-XXXXXX");
  close(mkstemp(path));
  BIO *bio = BIO_new_file(path, "w");
  cr_assert(PEM_write_bio_RSAPrivateKey(bio, small, NULL, NULL, 0, NULL, NULL));
  BIO_free(bio);
  cr_assert_null(egw_jwk_from_pem_file(path, NULL, &err));
  cr_assert_not_null(strstr(err, path), "%s", err);
  cr_assert_not_null(strstr(err, "2048"), "%s", err);
  free(err);
  unlink(path);
  free(path);
  free(n64);
  BN_free(f4);
  RSA_free(small);
  json_decref(j);
  egw_jwk_free(k);
}

Test(jwt_jwk, pem_errors_name_the_file) {
  char *err = NULL;
  cr_assert_null(egw_jwk_from_pem_file("certs/out/no-such.pem", NULL, &err));
  cr_assert_not_null(strstr(err, "certs/out/no-such.pem: cannot open"), "%s", err);
  free(err);
  cr_assert_null(egw_jwk_from_pem_file("certs/gen.sh", NULL, &err));
  cr_assert_not_null(strstr(err, "certs/gen.sh: no private key"), "%s", err);
  free(err);
  cr_assert_null(egw_jwk_from_pem_file(path_of("crl.pem"), NULL, &err));
  free(err);
  cr_assert_null(egw_jwk_from_pem_file(path_of("jwt-es256-k1.key"), "", &err));
  free(err);
}

Test(jwt_jwk, refcount) {
  struct egw_jwk *k = load("jwt-es256-k1.key", "k");
  egw_jwk_up_ref(k);
  egw_jwk_free(k);
  cr_assert_str_eq(egw_jwk_kid(k), "k", "still alive after one of two frees");
  cr_assert(verifies(k, k));
  egw_jwk_free(k);
  egw_jwk_free(NULL);
}
