/* Token minting, shared by the token endpoint, EDGE-4 provisioning (EDGE-1 tokens for
 * EECs) and multi-ECS forwarding (the holding ECS signs). The claims are written straight
 * into a stack buffer: this is the hot path of token issuance, where a jansson tree
 * built only to be serialized cost about as much as the rest of the request's JSON. */
#include <string.h>

#include <openssl/rand.h>

#include "auth/issuers.h"
#include "auth/token_verify.h"
#include "roles/ecs/internal.h"
#include "util/encoding.h"
#include "util/json_write.h"

/* Room for the claims of any token the ECS signs: identities and scopes are bounded by
 * the request limits well below this; a longer set fails the mint (500), never truncates. */
#define CLAIMS_MAX 4096

/* Writes the NUL-terminated base64url of |n| bytes into |out|. */
static void base64url(const uint8_t *in, size_t n, char *out) {
  out[egw_b64url_encode(out, in, n)] = '\0';
}

char *egw__ecs_mint(const struct egw_site *site, const struct egw_ecs_mint *m) {
  uint8_t raw[16];
  char jti[32];
  if (!RAND_bytes(raw, sizeof(raw)))
    return NULL;
  base64url(raw, sizeof(raw), jti);
  int64_t now = egw_token_now_s();
  char claims[CLAIMS_MAX];
  struct egw_json_writer w;
  egw_jw_begin(&w, claims, sizeof(claims));
  egw_jw_str(&w, "iss", site->policy->ecs->id);
  egw_jw_str(&w, "sub", m->sub);
  egw_jw_str(&w, "aud", m->aud);
  egw_jw_str(&w, "scope", m->scope);
  egw_jw_int(&w, "iat", now);
  egw_jw_int(&w, "exp", now + m->ttl_s);
  egw_jw_str(&w, "jti", jti);
  if (m->eec_id)
    egw_jw_str(&w, "eecId", m->eec_id);
  if (m->cnf_sha256) {
    char thumb[48], cnf[64];
    base64url(m->cnf_sha256, 32, thumb);
    struct egw_json_writer inner;
    egw_jw_begin(&inner, cnf, sizeof(cnf));
    egw_jw_str(&inner, "x5t#S256", thumb);
    if (egw_jw_end(&inner) < 0)
      return NULL;
    egw_jw_raw(&w, "cnf", cnf);
  }
  long len = egw_jw_end(&w);
  char *token = len < 0 ? NULL
                        : egw_jws_sign_payload(egw_issuers_signing_key(site->tokens.issuers),
                                               claims, (size_t)len);
  return token;
}
