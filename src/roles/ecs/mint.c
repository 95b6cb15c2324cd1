/* Token minting, shared by the token endpoint, EDGE-4 provisioning (EDGE-1 tokens for
 * EECs) and multi-ECS forwarding (the holding ECS signs). */
#include <jansson.h>
#include <openssl/rand.h>

#include "auth/issuers.h"
#include "auth/token_verify.h"
#include "roles/ecs/internal.h"
#include "util/encoding.h"

/* Writes the NUL-terminated base64url of |n| bytes into |out|. */
static void base64url(const uint8_t *in, size_t n, char *out) {
  out[egw_b64url_encode(out, in, n)] = '\0';
}

char *egw__ecs_mint(const struct egw_site *site, const struct egw_ecs_mint *m) {
  uint8_t raw[16];
  char jti[32];
  RAND_bytes(raw, sizeof(raw));
  base64url(raw, sizeof(raw), jti);
  int64_t now = egw_token_now_s();
  json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "iss", site->policy->ecs->id,
                             "sub", m->sub, "aud", m->aud, "scope", m->scope, "iat",
                             (json_int_t)now, "exp", (json_int_t)(now + m->ttl_s), "jti", jti);
  if (claims && m->eec_id && json_object_set_new(claims, "eecId", json_string(m->eec_id)) != 0)
    goto fail;
  if (claims && m->cnf_sha256) {
    char thumb[48];
    base64url(m->cnf_sha256, 32, thumb);
    if (json_object_set_new(claims, "cnf", json_pack("{s:s}", "x5t#S256", thumb)) != 0)
      goto fail;
  }
  char *token = claims ? egw_jws_sign(egw_issuers_signing_key(site->tokens.issuers), claims) : NULL;
  json_decref(claims);
  return token;
fail:
  json_decref(claims);
  return NULL;
}
