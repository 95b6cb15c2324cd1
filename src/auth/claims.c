/* The claims of an access token (jwt.h): copied out of a verified payload into one
 * immutable, reference-counted allocation, and checked against what a resource server
 * expects in the order of TS 33.501 13.4.1. */
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

#include "auth/jwt.h"
#include "util/encoding.h"

/* Bounds on what one token may make us copy: a claim string, and the entries of "aud". */
#define CLAIM_STR_MAX 1024
#define AUD_MAX 16

/* A string claim as jansson holds it; embedded NULs are refused so that the C string we
 * keep is the whole value (a sub of "a\0b" must never compare equal to "a"). */
enum str_result { STR_ABSENT, STR_OK, STR_BAD };

static enum str_result get_str(const json_t *obj, const char *key, const char **out,
                               size_t *out_len) {
  const json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return STR_ABSENT;
  if (!json_is_string(v))
    return STR_BAD;
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (n > CLAIM_STR_MAX || strlen(s) != n)
    return STR_BAD;
  *out = s;
  *out_len = n;
  return STR_OK;
}

enum int_result { INT_ABSENT, INT_OK, INT_BAD };

static enum int_result get_int(const json_t *obj, const char *key, int64_t *out) {
  const json_t *v = json_object_get(obj, key);
  if (v == NULL)
    return INT_ABSENT;
  if (!json_is_integer(v))
    return INT_BAD;
  *out = (int64_t)json_integer_value(v);
  return INT_OK;
}

/* Copies |n| bytes and a NUL to *cursor, advancing it. */
static char *pack(char **cursor, const char *s, size_t n) {
  char *dst = *cursor;
  memcpy(dst, s, n);
  dst[n] = '\0';
  *cursor += n + 1;
  return dst;
}

struct egw_token_claims *egw_token_claims_from_json(const json_t *payload,
                                                    const char **out_reason) {
  const char *reason = NULL;
  const char *iss, *sub, *scope, *jti = NULL, *eec_id = NULL;
  size_t iss_len, sub_len, scope_len, jti_len = 0, eec_len = 0;
  const char *aud[AUD_MAX];
  size_t aud_len[AUD_MAX];
  size_t n_aud = 0;
  int64_t exp, nbf = 0, iat = 0;
  int has_cnf = 0;
  uint8_t x5t[32];

  if (!json_is_object(payload)) {
    reason = "claims are not a JSON object";
    goto fail;
  }

  switch (get_str(payload, "iss", &iss, &iss_len)) {
  case STR_ABSENT:
    reason = "claim 'iss' is missing";
    goto fail;
  case STR_BAD:
    reason = "claim 'iss' must be a string of at most 1024 bytes";
    goto fail;
  case STR_OK:
    break;
  }
  switch (get_str(payload, "sub", &sub, &sub_len)) {
  case STR_ABSENT:
    reason = "claim 'sub' is missing";
    goto fail;
  case STR_BAD:
    reason = "claim 'sub' must be a string of at most 1024 bytes";
    goto fail;
  case STR_OK:
    break;
  }

  const json_t *jaud = json_object_get(payload, "aud");
  if (jaud == NULL) {
    reason = "claim 'aud' is missing";
    goto fail;
  }
  if (json_is_string(jaud)) {
    if (get_str(payload, "aud", &aud[0], &aud_len[0]) != STR_OK) {
      reason = "claim 'aud' must be a string of at most 1024 bytes";
      goto fail;
    }
    n_aud = 1;
  } else if (json_is_array(jaud)) {
    size_t n = json_array_size(jaud);
    if (n == 0 || n > AUD_MAX) {
      reason = "claim 'aud' must be a non-empty array of at most 16 strings";
      goto fail;
    }
    for (size_t i = 0; i < n; i++) {
      const json_t *v = json_array_get(jaud, i);
      if (!json_is_string(v) || json_string_length(v) > CLAIM_STR_MAX ||
          strlen(json_string_value(v)) != json_string_length(v)) {
        reason = "claim 'aud' must hold strings of at most 1024 bytes";
        goto fail;
      }
      aud[i] = json_string_value(v);
      aud_len[i] = json_string_length(v);
    }
    n_aud = n;
  } else {
    reason = "claim 'aud' must be a string or an array of strings";
    goto fail;
  }

  switch (get_int(payload, "exp", &exp)) {
  case INT_ABSENT:
    reason = "claim 'exp' is missing";
    goto fail;
  case INT_BAD:
    reason = "claim 'exp' must be an integer";
    goto fail;
  case INT_OK:
    break;
  }
  switch (get_str(payload, "scope", &scope, &scope_len)) {
  case STR_ABSENT:
    reason = "claim 'scope' is missing";
    goto fail;
  case STR_BAD:
    reason = "claim 'scope' must be a string of at most 1024 bytes";
    goto fail;
  case STR_OK:
    break;
  }
  if (get_int(payload, "nbf", &nbf) == INT_BAD) {
    reason = "claim 'nbf' must be an integer";
    goto fail;
  }
  if (get_int(payload, "iat", &iat) == INT_BAD) {
    reason = "claim 'iat' must be an integer";
    goto fail;
  }
  if (get_str(payload, "jti", &jti, &jti_len) == STR_BAD) {
    reason = "claim 'jti' must be a string of at most 1024 bytes";
    goto fail;
  }
  if (get_str(payload, "eecId", &eec_id, &eec_len) == STR_BAD) {
    reason = "claim 'eecId' must be a string of at most 1024 bytes";
    goto fail;
  }

  const json_t *cnf = json_object_get(payload, "cnf");
  if (cnf != NULL) {
    /* x5t#S256 is the only confirmation method we can enforce: a token bound some
     * other way is refused rather than accepted unbound. */
    const json_t *t = json_is_object(cnf) ? json_object_get(cnf, "x5t#S256") : NULL;
    /* SHA-256 is 43 base64url characters; checking the length first bounds the decode. */
    size_t x5t_len = 0;
    if (!json_is_string(t) || json_string_length(t) != 43 ||
        !egw_b64url_decode(x5t, &x5t_len, json_string_value(t), 43) || x5t_len != 32) {
      reason = "claim 'cnf' must hold 'x5t#S256', a base64url SHA-256";
      goto fail;
    }
    has_cnf = 1;
  }

  size_t size = sizeof(struct egw_token_claims) + n_aud * sizeof(char *) + iss_len + 1 + sub_len +
                1 + scope_len + 1 + (jti ? jti_len + 1 : 0) + (eec_id ? eec_len + 1 : 0);
  for (size_t i = 0; i < n_aud; i++)
    size += aud_len[i] + 1;
  struct egw_token_claims *c = malloc(size);
  if (c == NULL) {
    reason = "out of memory";
    goto fail;
  }
  memset(c, 0, sizeof *c);
  c->refs = 1;
  c->aud = (char **)(c + 1);
  char *cursor = (char *)(c->aud + n_aud);
  c->iss = pack(&cursor, iss, iss_len);
  c->sub = pack(&cursor, sub, sub_len);
  for (size_t i = 0; i < n_aud; i++)
    c->aud[i] = pack(&cursor, aud[i], aud_len[i]);
  c->n_aud = n_aud;
  c->scope = pack(&cursor, scope, scope_len);
  c->jti = jti ? pack(&cursor, jti, jti_len) : NULL;
  c->eec_id = eec_id ? pack(&cursor, eec_id, eec_len) : NULL;
  c->exp = exp;
  c->nbf = nbf;
  c->iat = iat;
  c->has_cnf = has_cnf;
  if (has_cnf)
    memcpy(c->x5t_s256, x5t, sizeof x5t);
  return c;

fail:
  if (out_reason != NULL)
    *out_reason = reason;
  return NULL;
}

/* Atomic although the cache is loop-thread only: a role may hand claims to a worker. */
void egw_token_claims_up_ref(struct egw_token_claims *c) {
  __atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
}

void egw_token_claims_free(struct egw_token_claims *c) {
  if (c == NULL)
    return;
  if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
    free(c);
}

/* Whether |word| is one whole space-separated word of |list|. */
static int has_word(const char *list, const char *word) {
  size_t n = strlen(word);
  if (n == 0)
    return 0;
  for (const char *p = list; *p != '\0';) {
    while (*p == ' ')
      p++;
    const char *end = p;
    while (*end != '\0' && *end != ' ')
      end++;
    if ((size_t)(end - p) == n && memcmp(p, word, n) == 0)
      return 1;
    p = end;
  }
  return 0;
}

/* a + b without wrapping around. */
static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

enum egw_token_check egw_token_check_claims(const struct egw_token_claims *c,
                                            const struct egw_token_expect *e) {
  if (e->peer_id != NULL && strcmp(c->sub, e->peer_id) != 0)
    return EGW_TOKEN_SUB_MISMATCH;

  int aud_ok = 0;
  for (size_t i = 0; e->audience != NULL && i < c->n_aud && !aud_ok; i++)
    aud_ok = strcmp(c->aud[i], e->audience) == 0;
  if (!aud_ok)
    return EGW_TOKEN_AUD_MISMATCH;

  for (size_t i = 0; i < e->n_scopes; i++) {
    if (!has_word(c->scope, e->scopes[i]))
      return EGW_TOKEN_INSUFFICIENT_SCOPE;
  }

  if (e->now_s > sat_add(c->exp, e->leeway_s))
    return EGW_TOKEN_EXPIRED;
  if (sat_add(e->now_s, e->leeway_s) < c->nbf)
    return EGW_TOKEN_NOT_YET_VALID;

  if (c->has_cnf &&
      (e->peer_cert_sha256 == NULL || CRYPTO_memcmp(c->x5t_s256, e->peer_cert_sha256, 32) != 0))
    return EGW_TOKEN_CNF_MISMATCH;
  return EGW_TOKEN_VALID;
}

const char *egw_token_check_reason(enum egw_token_check r) {
  switch (r) {
  case EGW_TOKEN_VALID:
    return "valid";
  case EGW_TOKEN_SUB_MISMATCH:
    return "token subject is not the peer";
  case EGW_TOKEN_AUD_MISMATCH:
    return "token audience is not this server";
  case EGW_TOKEN_INSUFFICIENT_SCOPE:
    return "token scope does not cover this API";
  case EGW_TOKEN_EXPIRED:
    return "token expired";
  case EGW_TOKEN_NOT_YET_VALID:
    return "token not yet valid";
  case EGW_TOKEN_CNF_MISMATCH:
    return "token bound to another certificate";
  }
  return "unknown token check result";
}
