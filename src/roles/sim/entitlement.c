/* sim-entitlement: a simulated entitlement server (TR 33.739 solution 25) issuing access
 * tokens to EECs after a simple authentication. Project wire shape (policies/README.md):
 *   POST /entitlement/v1/tokens {"eecId", "secret"?, "scope"?}
 *   -> 200 {"access_token": JWT, "token_type": "Bearer", "expires_in": s}
 *   -> 401 ProblemDetails cause UNAUTHENTICATED: a secret was sent and the eecId is
 *      unknown or the secret wrong (alike);
 *   -> 403 REQUEST_NOT_AUTHORIZED: no secret and the client certificate does not prove
 *      the eecId; 403 INVALID_SCOPE: a scope beyond sim.entitlement.scope.
 * The token: iss/aud from site.yaml "sim.entitlement", sub = eecId, scope (the one asked
 * for, else the policy's), iat, exp, jti. Secrets come from a file "<eecId> <secret>"
 * per line and are kept only as SHA-256 digests, compared in constant time. For labs and
 * tests. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "auth/jwt.h"
#include "core/site.h"
#include "roles/api.h"
#include "roles/sim/internal.h"
#include "util/format.h"

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_ID 255
#define MIN_SECRET 8
#define MAX_SECRET 256

static const struct egw_route ent_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = "/entitlement/v1/tokens"},
    {.prefix = NULL},
};

struct ent_client {
  char *eec_id;
  uint8_t digest[SHA256_DIGEST_LENGTH];
};

struct ent {
  const struct egw_sim_entitlement_policy *policy;
  struct egw_jwk *key;
  struct ent_client *clients;
  size_t n;
};

static void ent_dispose(void *state) {
  struct ent *e = state;
  if (e == NULL)
    return;
  for (size_t i = 0; i < e->n; i++) {
    free(e->clients[i].eec_id);
    OPENSSL_cleanse(e->clients[i].digest, sizeof(e->clients[i].digest));
  }
  free(e->clients);
  egw_jwk_free(e->key);
  free(e);
}

static int printable_token(const char *s, size_t min, size_t max) {
  size_t n = strlen(s);
  if (n < min || n > max)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  }
  return 1;
}

/* Parses the NUL-terminated |text| of the secrets file into |e|. */
static int parse_secrets(struct ent *e, char *text, const char *path, char **out_err) {
  int line = 0;
  char *save_line = NULL;
  for (char *l = text; l != NULL; l = save_line) {
    line++;
    save_line = strchr(l, '\n');
    if (save_line != NULL)
      *save_line++ = '\0';
    char *f[3] = {NULL, NULL, NULL};
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(l, " \t\r", &save); t != NULL && n < 3;
         t = strtok_r(NULL, " \t\r", &save))
      f[n++] = t;
    if (n == 0 || f[0][0] == '#')
      continue;
    if (n != 2) {
      *out_err = egw_format("%s:%d: expected \"<eecId> <secret>\"", path, line);
      return -1;
    }
    if (!printable_token(f[0], 1, MAX_ID)) {
      *out_err =
          egw_format("%s:%d: eecId must be 1 to %d printable characters", path, line, MAX_ID);
      return -1;
    }
    if (!printable_token(f[1], MIN_SECRET, MAX_SECRET)) {
      *out_err = egw_format("%s:%d: secret must be %d to %d printable characters", path, line,
                            MIN_SECRET, MAX_SECRET);
      return -1;
    }
    for (size_t i = 0; i < e->n; i++) {
      if (strcmp(e->clients[i].eec_id, f[0]) == 0) {
        *out_err = egw_format("%s:%d: eecId '%s' listed twice", path, line, f[0]);
        return -1;
      }
    }
    struct ent_client *grown = realloc(e->clients, (e->n + 1) * sizeof(*grown));
    if (grown == NULL)
      goto nomem;
    e->clients = grown;
    struct ent_client *c = &e->clients[e->n];
    c->eec_id = strdup(f[0]);
    if (c->eec_id == NULL)
      goto nomem;
    SHA256((const uint8_t *)f[1], strlen(f[1]), c->digest);
    e->n++;
  }
  if (e->n == 0) {
    *out_err = egw_format("%s: no EEC listed", path);
    return -1;
  }
  return 0;
nomem:
  *out_err = egw_format("out of memory");
  return -1;
}

static int load_secrets(struct ent *e, const char *path, char **out_err) {
  int rc = -1;
  size_t len = 0;
  char *text = malloc(MAX_FILE_BYTES + 1);
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    *out_err = egw_format("%s: %s", path, strerror(errno));
    goto end;
  }
  if (text == NULL) {
    *out_err = egw_format("out of memory");
    goto end;
  }
  len = fread(text, 1, MAX_FILE_BYTES + 1, fp);
  if (ferror(fp) || len > MAX_FILE_BYTES) {
    *out_err = egw_format("%s: %s", path, ferror(fp) ? "read error" : "file too large");
    goto end;
  }
  text[len] = '\0';
  rc = parse_secrets(e, text, path, out_err);
end:
  if (text != NULL) {
    OPENSSL_cleanse(text, len);
    free(text);
  }
  if (fp != NULL)
    fclose(fp);
  return rc;
}

static int ent_init(struct egw_site *site, void **out_state, char **out_err) {
  const struct egw_sim_entitlement_policy *p = site->policy->sim_entitlement;
  if (p == NULL) {
    *out_err = egw_format("the sim-entitlement module needs \"sim.entitlement\" in %s",
                          site->policy->site_file);
    return -1;
  }
  struct ent *e = calloc(1, sizeof(*e));
  if (e == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  e->policy = p;
  e->key = egw_jwk_from_pem_file(p->key_file, p->kid, out_err);
  if (e->key == NULL)
    goto fail;
  if (!egw_jwk_is_private(e->key)) {
    *out_err = egw_format("%s:%d: sim.entitlement.key: %s is not a private key",
                          site->policy->site_file, p->line, p->key_file);
    goto fail;
  }
  if (p->secrets_file != NULL && load_secrets(e, p->secrets_file, out_err) != 0)
    goto fail;
  *out_state = e;
  return 0;
fail:
  ent_dispose(e);
  return -1;
}

/* Checks |eec_id| and |secret| in time independent of which one is wrong: an unknown
 * eecId is compared against a digest that matches nothing. */
static int authenticate(const struct ent *e, const char *eec_id, const char *secret,
                        size_t secret_len) {
  static const uint8_t none[SHA256_DIGEST_LENGTH];
  const uint8_t *want = none;
  int known = 0;
  for (size_t i = 0; i < e->n; i++) {
    if (strcmp(e->clients[i].eec_id, eec_id) == 0) {
      want = e->clients[i].digest;
      known = 1;
    }
  }
  uint8_t got[SHA256_DIGEST_LENGTH];
  SHA256((const uint8_t *)secret, secret_len, got);
  int same = CRYPTO_memcmp(got, want, sizeof(got)) == 0;
  OPENSSL_cleanse(got, sizeof(got));
  return known & same;
}

/* Whether every scope of |asked| (space-separated) is one of |allowed|. */
static int scope_allowed(const char *allowed, const char *asked) {
  size_t al = strlen(allowed);
  for (const char *t = asked; *t;) {
    size_t n = strcspn(t, " ");
    int found = 0;
    for (const char *a = allowed; a < allowed + al && !found;) {
      size_t m = strcspn(a, " ");
      found = m == n && memcmp(a, t, n) == 0;
      a += m + (a[m] == ' ');
    }
    if (!found || n == 0)
      return 0;
    t += n + (t[n] == ' ');
  }
  return 1;
}

/* The certificate of the connection proves |eec_id| (not a PSK name, not a token). */
static int cert_proves(const struct egw_request *req, const char *eec_id) {
  const struct egw_peer *peer = req->peer;
  return peer != NULL && peer->id != NULL && peer->kind != EGW_PEER_PSK && peer->has_cert_sha256 &&
         strcmp(peer->id, eec_id) == 0;
}

static char *issue(const struct ent *e, const char *eec_id, const char *scope, int64_t now) {
  uint8_t rnd[16];
  char jti[2 * sizeof(rnd) + 1];
  RAND_bytes(rnd, sizeof(rnd));
  for (size_t i = 0; i < sizeof(rnd); i++)
    snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
  const struct egw_sim_entitlement_policy *p = e->policy;
  json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", p->issuer, "sub", eec_id,
                             "aud", p->audience, "iat", (json_int_t)now, "exp",
                             (json_int_t)(now + p->token_ttl_s), "jti", jti);
  if (claims == NULL)
    return NULL;
  if (scope != NULL && json_object_set_new(claims, "scope", json_string(scope)) != 0) {
    json_decref(claims);
    return NULL;
  }
  char *tok = egw_jws_sign(e->key, claims);
  json_decref(claims);
  return tok;
}

static void log_answer(const struct egw_request *req, const char *eec_id, int status) {
  egw__sim_log_request(status == 200 ? "entitlement_token_issued" : "entitlement_auth_failed",
                       req->peer_addr, "eec_id", eec_id, status);
}

static enum egw_handler_result ent_on_request(void *state, struct egw_exchange *x) {
  struct ent *e = state;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, "/entitlement/v1/tokens") != 0)
    return EGW_DECLINED;
  enum egw_handler_result res;
  json_t *body = egw__roles_read_json(x, "application/json", &res);
  if (body == NULL)
    return res;
  const json_t *id = json_object_get(body, "eecId");
  const json_t *secret = json_object_get(body, "secret");
  const json_t *scope_v = json_object_get(body, "scope");
  int id_ok = json_is_string(id) && json_string_length(id) > 0 && json_string_length(id) <= MAX_ID;
  int secret_ok =
      secret == NULL || (json_is_string(secret) && json_string_length(secret) <= MAX_SECRET);
  int scope_ok = scope_v == NULL || (json_is_string(scope_v) && json_string_length(scope_v) > 0 &&
                                     json_string_length(scope_v) <= 1024);
  if (!id_ok || !secret_ok || !scope_ok) {
    json_decref(body);
    log_answer(req, NULL, 400);
    struct egw_invalid_param bad[] = {{.param = !id_ok       ? "eecId"
                                                : !secret_ok ? "secret"
                                                             : "scope",
                                       .reason = !id_ok ? "must be a string of 1 to 255 characters"
                                                 : !secret_ok
                                                     ? "must be a string of at most 256 characters"
                                                     : "must be a string of 1 to 1024 characters"}};
    return egw__roles_problem(x, 400, "eecId is a required string; secret and scope strings",
                              "MANDATORY_IE_INCORRECT", bad, 1);
  }
  const char *eec_id = json_string_value(id);
  if (secret != NULL
          ? !authenticate(e, eec_id, json_string_value(secret), json_string_length(secret))
          : !cert_proves(req, eec_id)) {
    int status = secret != NULL ? 401 : 403;
    log_answer(req, eec_id, status);
    json_decref(body);
    return status == 401 ? egw__roles_problem(x, 401, "unknown eecId or wrong secret",
                                              "UNAUTHENTICATED", NULL, 0)
                         : egw__roles_problem(x, 403,
                                              "send the secret, or a client certificate that "
                                              "proves this eecId",
                                              "REQUEST_NOT_AUTHORIZED", NULL, 0);
  }
  const char *scope = scope_v != NULL ? json_string_value(scope_v) : e->policy->scope;
  if (scope_v != NULL && e->policy->scope != NULL && !scope_allowed(e->policy->scope, scope)) {
    log_answer(req, eec_id, 403);
    json_decref(body);
    return egw__roles_problem(x, 403, "a scope this entitlement server does not grant",
                              "INVALID_SCOPE", NULL, 0);
  }
  char *tok = issue(e, eec_id, scope, (int64_t)time(NULL));
  log_answer(req, eec_id, tok != NULL ? 200 : 500);
  json_decref(body);
  if (tok == NULL)
    return EGW_FAILED;
  json_t *answer = json_pack("{s:s, s:s, s:I}", "access_token", tok, "token_type", "Bearer",
                             "expires_in", (json_int_t)e->policy->token_ttl_s);
  OPENSSL_cleanse(tok, strlen(tok));
  free(tok);
  char *text = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
  json_decref(answer);
  if (text == NULL)
    return EGW_FAILED;
  struct egw_response *resp = egw_exchange_response(x);
  int rc = egw_response_json(resp, 200, text);
  OPENSSL_cleanse(text, strlen(text));
  free(text);
  if (rc == 0)
    rc = egw_response_add_header(resp, "Cache-Control", "no-store");
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

const struct egw_role_ops egw_role_sim_entitlement = {
    .name = "sim-entitlement",
    .routes = ent_routes,
    .init = ent_init,
    .on_request = ent_on_request,
    .dispose = ent_dispose,
};
