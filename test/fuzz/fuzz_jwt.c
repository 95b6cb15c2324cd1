/* libFuzzer: access tokens as a resource server reads them (src/auth/jws.c, claims.c,
 * jwk.c): split and decode, verify against a fixed P-256 key for every algorithm set,
 * then (whatever the signature said, so that mutated payloads reach it) copy the claims
 * and check them against an expectation. A "jwk" member of the header goes through the
 * JWK parser, as a JWKS document's keys do. Seeds are real tokens signed by this key. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"

static const char key_json[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fuzz-1\","
    "\"x\":\"jq12q-IPEcY2GP6fQ088AgdRdW7G05zlbJ0ftGDkZVM\","
    "\"y\":\"sSaZQ-ehaf_ORfuDamGv1MlCYekS-gjj23_jbv_CZJU\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct egw_jwk *key;
  if (!key) {
    json_t *j = json_loads(key_json, 0, NULL);
    char *err = NULL;
    key = egw_jwk_from_json(j, &err);
    json_decref(j);
    if (!key)
      abort();
  }
  struct egw_jws jws;
  memset(&jws, 0, sizeof(jws));
  if (egw_jws_decode((const char *)data, size, &jws) == EGW_JWS_OK) {
    (void)egw_jws_verify(&jws, key, EGW_JWS_ES256);
    (void)egw_jws_verify(&jws, key, EGW_JWS_ES256 | EGW_JWS_ES384 | EGW_JWS_RS256 | EGW_JWS_PS256);
    (void)egw_jws_alg_from_name(jws.alg);
    json_t *jwk = json_object_get(jws.header, "jwk");
    if (jwk) {
      char *err = NULL;
      struct egw_jwk *k = egw_jwk_from_json(jwk, &err);
      if (k) {
        json_t *pub = egw_jwk_public_json(k);
        json_decref(pub);
        (void)egw_jws_verify(&jws, k, EGW_JWS_ES256 | EGW_JWS_ES384 | EGW_JWS_RS256 | EGW_JWS_PS256);
        egw_jwk_free(k);
      }
      free(err);
    }
    const char *reason = NULL;
    struct egw_token_claims *c = egw_token_claims_from_json(jws.payload, &reason);
    if (c) {
      static const char *const scopes[] = {"eees-eecregistration", "ecs-edge"};
      static const uint8_t cert[32] = {1, 2, 3};
      struct egw_token_expect e = {.peer_id = "spiffe://site1/ees/1", .audience = "ees1",
                                   .scopes = scopes, .n_scopes = 2, .peer_cert_sha256 = cert,
                                   .now_s = 1764000000, .leeway_s = 30};
      (void)egw_token_check_reason(egw_token_check_claims(c, &e));
      e.peer_id = NULL, e.peer_cert_sha256 = NULL, e.n_scopes = 0;
      (void)egw_token_check_claims(c, &e);
      egw_token_claims_free(c);
    } else if (!reason) {
      abort(); /* a refusal always says why */
    }
  }
  egw_jws_cleanup(&jws);
  return 0;
}
