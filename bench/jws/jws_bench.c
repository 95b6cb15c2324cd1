/* jws_bench: ES256 egw_jws_sign and decode+verify rates against BoringSSL's own ECDSA
 * P-256 rates (`bssl-tool speed -filter ECDSA`), one thread. See README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jwt.h"

#define SECONDS 2.0

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* bssl_rate runs bssl-tool and returns the ops/s of the line naming |what| ("signing"
 * or "verify") for P-256, or 0 when the tool or the line is missing. */
static void bssl_rates(double *out_sign, double *out_verify) {
  *out_sign = *out_verify = 0;
  FILE *p = popen("bssl-tool speed -filter 'ECDSA P-256' -timeout 2 2>&1", "r");
  if (p == NULL)
    return;
  char line[512];
  while (fgets(line, sizeof(line), p) != NULL) {
    /* "Did 18000 ECDSA P-256 signing operations in 1051541us (17117.7 ops/sec)" */
    const char *paren = strrchr(line, '(');
    if (strstr(line, "ECDSA P-256") == NULL || paren == NULL)
      continue;
    double rate = strtod(paren + 1, NULL);
    if (strstr(line, " signing ") != NULL)
      *out_sign = rate;
    else if (strstr(line, " verify ") != NULL)
      *out_verify = rate;
  }
  pclose(p);
}

int main(int argc, char **argv) {
  const char *key_path = argc > 1 ? argv[1] : "certs/out/jwt-es256-k1.key";
  char *err = NULL;
  struct egw_jwk *key = egw_jwk_from_pem_file(key_path, NULL, &err);
  if (key == NULL) {
    fprintf(stderr, "jws_bench: %s (run certs/gen.sh)\n", err);
    return 1;
  }
  /* A typical EEC access token. */
  json_t *claims = json_pack(
      "{s:s,s:s,s:s,s:s,s:I,s:I,s:s}", "iss", "ecs.site1.example", "sub", "spiffe://site1/eec/eec1",
      "aud", "ees1.ees.site1.example", "scope", "eees-eecregistration eees-easdiscovery", "iat",
      (json_int_t)1700000000, "exp", (json_int_t)1700003600, "jti", "9f8e7d6c5b4a39281706f5e4d3c2b1a0");

  long n_sign = 0;
  char *token = NULL;
  double t0 = now_s(), t;
  do {
    for (int i = 0; i < 64; i++) {
      free(token);
      token = egw_jws_sign(key, claims);
      if (token == NULL) {
        fprintf(stderr, "jws_bench: sign failed\n");
        return 1;
      }
    }
    n_sign += 64;
  } while ((t = now_s() - t0) < SECONDS);
  double sign_rate = (double)n_sign / t;

  size_t len = strlen(token);
  long n_verify = 0;
  t0 = now_s();
  do {
    for (int i = 0; i < 64; i++) {
      struct egw_jws jws;
      if (egw_jws_decode(token, len, &jws) != EGW_JWS_OK ||
          egw_jws_verify(&jws, key, EGW_JWS_ES256) != EGW_JWS_OK) {
        fprintf(stderr, "jws_bench: verify failed\n");
        return 1;
      }
      egw_jws_cleanup(&jws);
    }
    n_verify += 64;
  } while ((t = now_s() - t0) < SECONDS);
  double verify_rate = (double)n_verify / t;

  double bssl_sign, bssl_verify;
  bssl_rates(&bssl_sign, &bssl_verify);
  printf("token: %zu bytes\n", len);
  printf("%-28s %12s %12s %8s\n", "ES256 (P-256, SHA-256)", "edgegw/s", "bssl-tool/s", "ratio");
  printf("%-28s %12.1f %12.1f %7.1f%%\n", "sign (egw_jws_sign)", sign_rate, bssl_sign,
         bssl_sign > 0 ? 100.0 * sign_rate / bssl_sign : 0.0);
  printf("%-28s %12.1f %12.1f %7.1f%%\n", "verify (decode + verify)", verify_rate, bssl_verify,
         bssl_verify > 0 ? 100.0 * verify_rate / bssl_verify : 0.0);
  free(token);
  json_decref(claims);
  egw_jwk_free(key);
  return 0;
}
