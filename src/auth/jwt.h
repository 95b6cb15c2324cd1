/* JSON Web Tokens in JWS compact form (RFC 7515, 7519): keys (RFC 7517), signing and
 * verification on BoringSSL with keys parsed once, and the claims an access token
 * carries (TS 33.501 13.4.1, SPEC-NOTES "OAuth 2.0").
 *
 * Verification never trusts the token's header to choose the algorithm: the caller
 * passes the algorithms it accepts, the key decides the only algorithm it can verify,
 * and both must agree with the header ("none" and HMAC are never accepted). */
#ifndef EGW_AUTH_JWT_H
#define EGW_AUTH_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Algorithms as bits, so that a listener's policy can hold a set of them. */
enum egw_jws_alg {
  EGW_JWS_ES256 = 1 << 0, /* ECDSA P-256 SHA-256: what edgegw signs with */
  EGW_JWS_ES384 = 1 << 1, /* ECDSA P-384 SHA-384 */
  EGW_JWS_RS256 = 1 << 2, /* RSASSA-PKCS1-v1_5 SHA-256, RSA >= 2048 bits */
  EGW_JWS_PS256 = 1 << 3, /* RSASSA-PSS SHA-256 */
};

/* egw_jws_alg_from_name maps "ES256".. to the enum; 0 for anything else ("none",
 * "HS256", ...). egw_jws_alg_name is the inverse. */
enum egw_jws_alg egw_jws_alg_from_name(const char *name);
const char *egw_jws_alg_name(enum egw_jws_alg alg);

/* egw_jwk is one key: public (verify) or private (sign and verify), with its kid.
 * Immutable and reference-counted: a key set (JWKS) can be swapped while tokens signed
 * by a key still in use are being checked. */
struct egw_jwk;

/* egw_jwk_from_pem_file reads a PEM private key (EC P-256/P-384 or RSA), public key, or
 * certificate (its public key) from |path|; |kid| may be NULL for "the SHA-256
 * thumbprint (RFC 7638) in base64url". On error returns NULL with *out_err (malloc'd,
 * "path: message"). */
struct egw_jwk *egw_jwk_from_pem_file(const char *path, const char *kid, char **out_err);
/* egw_jwk_from_json parses one JWKS entry (kty EC with crv/x/y, or RSA with n/e; "use"
 * must be absent or "sig"; private members are refused). NULL with *out_err on error. */
struct egw_jwk *egw_jwk_from_json(const json_t *jwk, char **out_err);
void egw_jwk_up_ref(struct egw_jwk *key);
/* egw_jwk_free drops a reference; the last one wipes private material. NULL accepted. */
void egw_jwk_free(struct egw_jwk *key);

const char *egw_jwk_kid(const struct egw_jwk *key);
/* egw_jwk_alg returns the one algorithm this key serves (ES256 for P-256, ES384 for
 * P-384, RS256 for RSA unless the JWK says PS256). */
enum egw_jws_alg egw_jwk_alg(const struct egw_jwk *key);
int egw_jwk_is_private(const struct egw_jwk *key);
/* egw_jwk_public_json returns a new JWKS entry with kid, kty, alg, use "sig" and the
 * public members only. NULL when out of memory. */
json_t *egw_jwk_public_json(const struct egw_jwk *key);

/* egw_jws_sign returns a malloc'd compact JWS of |claims| (serialized compactly) with
 * header {"alg","typ":"JWT","kid"}, signed by the private |key|; NULL on failure. */
char *egw_jws_sign(const struct egw_jwk *key, const json_t *claims);
/* egw_jws_sign_payload is egw_jws_sign for claims already serialized: |payload| is the
 * JSON object text (|plen| bytes), which the caller vouches for. */
char *egw_jws_sign_payload(const struct egw_jwk *key, const char *payload, size_t plen);

/* A token split and decoded but not verified. */
struct egw_jws {
  char alg[16];              /* from the header, as sent (truncated if longer) */
  char kid[128];             /* "" when absent */
  json_t *header;            /* owned */
  json_t *payload;           /* owned: the claims */
  const char *signing_input; /* header.payload, borrowed from the token text */
  size_t signing_input_len;
  uint8_t *sig; /* decoded signature, owned */
  size_t sig_len;
};

enum egw_jws_result {
  EGW_JWS_OK,
  EGW_JWS_MALFORMED,    /* not three base64url parts, bad JSON, not an object, crit */
  EGW_JWS_ALG_REFUSED,  /* header alg not in the caller's set (incl. none, HS*) */
  EGW_JWS_KEY_MISMATCH, /* the key cannot verify the header's alg (key confusion) */
  EGW_JWS_BAD_SIGNATURE,
};

/* egw_jws_decode splits and decodes |token| (|len| bytes, at most 16 KiB) into |out|.
 * Returns EGW_JWS_OK or EGW_JWS_MALFORMED. |out| borrows |token| for the signing
 * input: keep the token alive while |out| is used. */
enum egw_jws_result egw_jws_decode(const char *token, size_t len, struct egw_jws *out);
/* egw_jws_verify checks |jws| against |key| for the algorithms in |allowed_algs|. */
enum egw_jws_result egw_jws_verify(const struct egw_jws *jws, const struct egw_jwk *key,
                                   unsigned allowed_algs);
/* egw_jws_cleanup frees what decode allocated; |jws| may be zeroed or half-filled. */
void egw_jws_cleanup(struct egw_jws *jws);
const char *egw_jws_result_name(enum egw_jws_result r);

/* The checked claims of an access token: what the token cache keeps and what roles see.
 * One allocation, immutable, reference-counted. */
struct egw_token_claims {
  int refs;
  char *iss;
  char *sub;
  char **aud; /* "aud" as a string or an array */
  size_t n_aud;
  char *scope;           /* space-separated */
  char *jti;             /* may be NULL when the issuer sets none */
  char *eec_id;          /* optional "eecId" claim (EDGE-9 tokens) */
  int64_t exp, nbf, iat; /* nbf/iat 0 when absent */
  int has_cnf;           /* RFC 8705 cnf with x5t#S256 */
  uint8_t x5t_s256[32];
  /* Set by whoever verified the signature (not by egw_token_claims_from_json): the
   * algorithm it used, so that a listener that accepts fewer algorithms than the one
   * that cached the token still refuses it. */
  unsigned alg;
};

/* egw_token_claims_from_json copies the claims of a verified payload. iss, sub, aud, exp
 * and scope are required (SPEC-NOTES); a present claim of the wrong type is an error.
 * On error NULL with *out_reason (static text). */
struct egw_token_claims *egw_token_claims_from_json(const json_t *payload, const char **out_reason);
void egw_token_claims_up_ref(struct egw_token_claims *c);
void egw_token_claims_free(struct egw_token_claims *c);

/* What a resource server expects, in the order of TS 33.501 13.4.1 (issuer and
 * signature are checked before, by whoever verified the token). */
struct egw_token_expect {
  const char *peer_id;       /* NULL: no sub check; else sub must equal it */
  const char *audience;      /* this server's id; required */
  const char *const *scopes; /* each must be in the token's scope; may be empty */
  size_t n_scopes;
  const uint8_t *peer_cert_sha256; /* NULL when the connection has no client certificate */
  int64_t now_s;
  uint32_t leeway_s;
};

enum egw_token_check {
  EGW_TOKEN_VALID,
  EGW_TOKEN_SUB_MISMATCH,
  EGW_TOKEN_AUD_MISMATCH,
  EGW_TOKEN_INSUFFICIENT_SCOPE, /* the only result that maps to 403 */
  EGW_TOKEN_EXPIRED,
  EGW_TOKEN_NOT_YET_VALID,
  EGW_TOKEN_CNF_MISMATCH, /* bound to another certificate, or to one on a connection
                             without any */
};

/* egw_token_check_claims runs the checks in the order of TS 33.501 13.4.1 — sub, aud,
 * scope, exp, nbf — then the certificate binding, and returns the first failure. */
enum egw_token_check egw_token_check_claims(const struct egw_token_claims *c,
                                            const struct egw_token_expect *e);
const char *egw_token_check_reason(enum egw_token_check r);

#endif
