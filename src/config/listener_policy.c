/* One interface file: the "listener:" mapping with its TLS, authz and limits sections.
 * Keys that depend on each other (the TLS mode and its files, the authz mode and its
 * rules) are collected first and checked once the whole section is read, so the order
 * of keys in the file does not matter. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/allowlist.h"
#include "auth/jwt.h"
#include "config/internal.h"
#include "edgegw/http.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* PSK_MAX_IDENTITY_LEN in TLS stacks: the hint travels in the same field. */
#define PSK_HINT_MAX 128

/* Lines of a rule's keys that the authz mode decides about (0 when absent). */
struct rule_place {
  struct egw_allow_rule *r;
  int allow_line;
  int scope_line;
};

struct lparse {
  struct egw_listener_policy *lp;
  const struct egw_site_policy *site;
  struct egw__listener_places *places;
  /* tls: line of each key seen (0 when absent), read by check_tls */
  int mode_set;
  int cert_line, key_line, hint_line, psk_file_line, psk_source_line, crl_check_line;
  /* authz */
  int authz_mode_set;
  int rules_line;
  struct rule_place *rule_places; /* one per rule, freed by egw__listener_parse */
  int audience_line, algs_line, leeway_line, sub_is_peer_line, issuers_line;
  int remote_line, remote_cache_line, opaque_issuer_line;
};

static int name_ok(const char *s) {
  return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
         strlen(s);
}

static int set_interface(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  if (egw__cfg_string(f, at->path, at->value, &lx->lp->interface_name) != 0)
    return -1;
  lx->places->interface_line = egw__cfg_line(at->value);
  if (strlen(lx->lp->interface_name) > 64 || !name_ok(lx->lp->interface_name))
    return egw__cfg_error(f, lx->places->interface_line, at->path,
                          "'%s' must be at most 64 letters, digits, '.', '_' or '-'",
                          lx->lp->interface_name);
  return 0;
}

static int set_role(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  static const char *const roles[] = {"ecs", "ees", "eas", "admin", "sim"};
  struct lparse *lx = obj;
  const char *v = egw__cfg_scalar(f, at->path, at->value);
  if (v == NULL)
    return -1;
  for (size_t i = 0; i < ARRAY_LEN(roles); i++) {
    if (strcmp(v, roles[i]) == 0) {
      lx->lp->role = strdup(v);
      return lx->lp->role ? 0 : egw__cfg_nomem(f);
    }
  }
  return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                        "unknown role '%s' (expected ecs, ees, eas, admin, sim)", v);
}

/* "IPv4:port" or "[IPv6]:port", literals only: a policy never waits on DNS. */
static int set_listen(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->places->listen_line = egw__cfg_line(at->value);
  return egw__cfg_host_port(f, at->path, at->value, 0, &lx->lp->listen_host, &lx->lp->listen_port);
}

static int set_mount(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_listener_policy *lp = ((struct lparse *)obj)->lp;
  yaml_node_item_t *items;
  size_t n;
  lp->mount_line = at->line;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  egw__cfg_free_strings(lp->mount, lp->n_mount); /* the default */
  lp->mount = calloc(n, sizeof(char *));
  lp->n_mount = lp->mount ? n : 0;
  if (lp->mount == NULL)
    return egw__cfg_nomem(f);
  for (size_t i = 0; i < n; i++) {
    if (egw__cfg_string(f, at->path, egw__cfg_node(f, items[i]), &lp->mount[i]) != 0)
      return -1;
  }
  return 0;
}

/* ---- tls ------------------------------------------------------------------------------ */

static int set_tls_mode(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  const char *v = egw__cfg_scalar(f, at->path, at->value);
  if (v == NULL)
    return -1;
  if (strcmp(v, "server-cert") == 0)
    lx->lp->tls.mode = EGW_TLS_SERVER_CERT;
  else if (strcmp(v, "mtls") == 0)
    lx->lp->tls.mode = EGW_TLS_MTLS;
  else if (strcmp(v, "psk") == 0)
    lx->lp->tls.mode = EGW_TLS_PSK;
  else
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "unknown mode '%s' (expected server-cert, mtls, psk)", v);
  lx->mode_set = 1;
  return 0;
}

static int set_tls_cert(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->cert_line = at->line;
  return egw__cfg_path(f, at->path, at->value, &lx->lp->tls.cert_file);
}

static int set_tls_key(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->key_line = at->line;
  return egw__cfg_path(f, at->path, at->value, &lx->lp->tls.key_file);
}

static int set_tls_crl_check(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->crl_check_line = at->line;
  return egw__cfg_bool(f, at->path, at->value, &lx->lp->tls.crl_check);
}

static int set_tls_hint(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->hint_line = at->line;
  if (egw__cfg_string(f, at->path, at->value, &lx->lp->tls.psk_identity_hint) != 0)
    return -1;
  if (strlen(lx->lp->tls.psk_identity_hint) > PSK_HINT_MAX)
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path, "must be at most %d bytes",
                          PSK_HINT_MAX);
  return 0;
}

static int set_tls_psk_file(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->psk_file_line = at->line;
  return egw__cfg_path(f, at->path, at->value, &lx->lp->tls.psk_file);
}

/* psk_source: "file" (the default: psk_file's keys, plus the site-wide keys that key
 * providers put in the key store) or "keystore" (those site-wide keys only: Kedge fetched
 * from the AUSF by the ECS, with no static file). */
static int set_tls_psk_source(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  const char *v = egw__cfg_scalar(f, at->path, at->value);
  if (v == NULL)
    return -1;
  lx->psk_source_line = at->line;
  if (strcmp(v, "file") == 0)
    lx->lp->tls.psk_keystore_only = 0;
  else if (strcmp(v, "keystore") == 0)
    lx->lp->tls.psk_keystore_only = 1;
  else
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "unknown psk_source '%s' (expected file, keystore)", v);
  return 0;
}

static int set_tls_ciphers(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_string(f, at->path, at->value, &((struct lparse *)obj)->lp->tls.ciphers);
}

static const struct egw__cfg_key tls_keys[] = {
    {.name = "mode", .set = set_tls_mode, .required = 1},
    {.name = "cert", .set = set_tls_cert},
    {.name = "key", .set = set_tls_key},
    {.name = "crl_check", .set = set_tls_crl_check},
    {.name = "psk_identity_hint", .set = set_tls_hint},
    {.name = "psk_file", .set = set_tls_psk_file},
    {.name = "psk_source", .set = set_tls_psk_source},
    {.name = "ciphers", .set = set_tls_ciphers},
};

/* Keys that do not apply to the mode are refused rather than ignored: an operator who
 * writes crl_check on a server-cert listener believes something that is not true. */
static int check_tls(struct egw__cfg_file *f, const char *path, int map_line, struct lparse *lx) {
  struct egw_tls_policy *t = &lx->lp->tls;
  const char *mode = egw_tls_mode_name(t->mode);
  char key[224];
  if (t->mode != EGW_TLS_PSK && lx->psk_file_line) {
    snprintf(key, sizeof(key), "%s.psk_file", path);
    return egw__cfg_error(f, lx->psk_file_line, key, "not allowed with mode %s", mode);
  }
  if (t->mode != EGW_TLS_PSK && lx->psk_source_line) {
    snprintf(key, sizeof(key), "%s.psk_source", path);
    return egw__cfg_error(f, lx->psk_source_line, key, "not allowed with mode %s", mode);
  }
  if (t->psk_keystore_only && lx->psk_file_line) {
    snprintf(key, sizeof(key), "%s.psk_file", path);
    return egw__cfg_error(f, lx->psk_file_line, key, "not allowed with psk_source keystore");
  }
  if (t->mode != EGW_TLS_PSK && lx->hint_line) {
    snprintf(key, sizeof(key), "%s.psk_identity_hint", path);
    return egw__cfg_error(f, lx->hint_line, key, "not allowed with mode %s", mode);
  }
  if (t->mode != EGW_TLS_MTLS && lx->crl_check_line) {
    snprintf(key, sizeof(key), "%s.crl_check", path);
    return egw__cfg_error(f, lx->crl_check_line, key, "not allowed with mode %s", mode);
  }
  if (t->crl_check && lx->site->n_crl_files == 0) {
    snprintf(key, sizeof(key), "%s.crl_check", path);
    return egw__cfg_error(f, lx->crl_check_line, key, "needs CRLs in site.trust.crl (%s)",
                          lx->site->site_file);
  }
  if (t->mode != EGW_TLS_PSK && !lx->cert_line) {
    snprintf(key, sizeof(key), "%s.cert", path);
    return egw__cfg_error(f, map_line, key, "required key 'cert' missing (mode %s)", mode);
  }
  if (lx->cert_line && !lx->key_line) {
    snprintf(key, sizeof(key), "%s.key", path);
    return egw__cfg_error(f, map_line, key, "required key 'key' missing (cert is set)");
  }
  if (lx->key_line && !lx->cert_line) {
    snprintf(key, sizeof(key), "%s.key", path);
    return egw__cfg_error(f, lx->key_line, key, "not allowed without 'cert'");
  }
  if (t->mode == EGW_TLS_PSK && !t->psk_keystore_only && !lx->psk_file_line) {
    snprintf(key, sizeof(key), "%s.psk_file", path);
    return egw__cfg_error(f, map_line, key, "required key 'psk_file' missing (mode psk)");
  }
  return 0;
}

static int set_tls(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->lp->tls.line = at->line;
  if (egw__cfg_walk(f, at->path, at->value, tls_keys, ARRAY_LEN(tls_keys), lx) != 0)
    return -1;
  return check_tls(f, at->path, egw__cfg_line(at->value), lx);
}

/* ---- authz ---------------------------------------------------------------------------- */

static int set_rule_path(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_allow_rule *r = ((struct rule_place *)obj)->r;
  if (egw__cfg_string(f, at->path, at->value, &r->path_prefix) != 0)
    return -1;
  if (r->path_prefix[0] != '/')
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path, "'%s' must start with '/'",
                          r->path_prefix);
  return 0;
}

/* Same bits as enum egw_method; the names are mapped here because the config suite is
 * built without the HTTP code. */
static int set_rule_methods(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  static const struct {
    const char *name;
    unsigned bit;
  } methods[] = {
      {.name = "GET", .bit = EGW_METHOD_GET},         {.name = "HEAD", .bit = EGW_METHOD_HEAD},
      {.name = "POST", .bit = EGW_METHOD_POST},       {.name = "PUT", .bit = EGW_METHOD_PUT},
      {.name = "PATCH", .bit = EGW_METHOD_PATCH},     {.name = "DELETE", .bit = EGW_METHOD_DELETE},
      {.name = "OPTIONS", .bit = EGW_METHOD_OPTIONS},
  };
  struct egw_allow_rule *r = ((struct rule_place *)obj)->r;
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    const char *v = egw__cfg_scalar(f, at->path, item);
    if (v == NULL)
      return -1;
    size_t m = 0;
    while (m < ARRAY_LEN(methods) && strcmp(methods[m].name, v) != 0)
      m++;
    if (m == ARRAY_LEN(methods))
      return egw__cfg_error(f, egw__cfg_line(item), at->path,
                            "unknown method '%s' (expected GET, HEAD, POST, PUT, PATCH, DELETE, "
                            "OPTIONS)",
                            v);
    r->methods |= methods[m].bit;
  }
  return 0;
}

static int set_rule_allow(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_allow_rule *r = ((struct rule_place *)obj)->r;
  ((struct rule_place *)obj)->allow_line = at->line;
  yaml_node_item_t *items;
  size_t n;
  if (at->value->type == YAML_SCALAR_NODE) {
    if (strcmp((const char *)at->value->data.scalar.value, "any") == 0) {
      r->allow_any = 1;
      return 0;
    }
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "must be a list of patterns or the word any");
  }
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  r->patterns = calloc(n, sizeof(char *));
  r->n_patterns = r->patterns ? n : 0;
  if (r->patterns == NULL)
    return egw__cfg_nomem(f);
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    const char *reason = NULL;
    if (egw__cfg_string(f, at->path, item, &r->patterns[i]) != 0)
      return -1;
    if (strcmp(r->patterns[i], "any") == 0)
      return egw__cfg_error(f, egw__cfg_line(item), at->path,
                            "'any' stands alone (allow: any), not in a list");
    if (!egw_allowlist_pattern_valid(r->patterns[i], &reason))
      return egw__cfg_error(f, egw__cfg_line(item), at->path, "invalid pattern '%s': %s",
                            r->patterns[i], reason ? reason : "invalid");
  }
  return 0;
}

/* token: the scopes a token must carry on the route. */
static int set_rule_scope(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct rule_place *rp = obj;
  rp->scope_line = at->line;
  return egw__cfg_scopes(f, at->path, at->value, &rp->r->scopes, &rp->r->n_scopes);
}

/* allow is required in mode static and scope refused there; check_rules decides once the
 * mode is known. */
static const struct egw__cfg_key rule_keys[] = {
    {.name = "path", .set = set_rule_path, .required = 1},
    {.name = "methods", .set = set_rule_methods},
    {.name = "allow", .set = set_rule_allow},
    {.name = "scope", .set = set_rule_scope},
};

static int set_authz_mode(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  const char *v = egw__cfg_scalar(f, at->path, at->value);
  if (v == NULL)
    return -1;
  if (strcmp(v, "none") == 0)
    lx->lp->authz.mode = EGW_AUTHZ_NONE;
  else if (strcmp(v, "static") == 0)
    lx->lp->authz.mode = EGW_AUTHZ_STATIC;
  else if (strcmp(v, "token") == 0)
    lx->lp->authz.mode = EGW_AUTHZ_TOKEN;
  else
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "unknown mode '%s' (expected none, static, token)", v);
  lx->authz_mode_set = 1;
  return 0;
}

static int set_authz_rules(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  struct egw_authz_policy *a = &lx->lp->authz;
  yaml_node_item_t *items;
  size_t n;
  lx->rules_line = at->line;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  a->rules = calloc(n, sizeof(*a->rules));
  a->n_rules = a->rules ? n : 0;
  lx->rule_places = calloc(n, sizeof(*lx->rule_places));
  if (a->rules == NULL || lx->rule_places == NULL)
    return egw__cfg_nomem(f);
  for (size_t i = 0; i < n; i++) {
    char path[224];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    a->rules[i].line = egw__cfg_line(item);
    lx->rule_places[i].r = &a->rules[i];
    if (egw__cfg_walk(f, path, item, rule_keys, ARRAY_LEN(rule_keys), &lx->rule_places[i]) != 0)
      return -1;
  }
  return 0;
}

/* ---- authz: token --------------------------------------------------------------------- */

static int set_token_audience(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->audience_line = at->line;
  return egw__cfg_string(f, at->path, at->value, &lx->lp->authz.token.audience);
}

/* Same bits as enum egw_jws_alg; the names are mapped here because the config suite is
 * built without the JWS code. Only asymmetric algorithms: a verifier that holds an HMAC
 * secret can also mint tokens, and "none" is no signature at all. */
static int set_token_algs(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  static const struct {
    const char *name;
    unsigned bit;
  } algs[] = {
      {.name = "ES256", .bit = EGW_JWS_ES256},
      {.name = "ES384", .bit = EGW_JWS_ES384},
      {.name = "RS256", .bit = EGW_JWS_RS256},
      {.name = "PS256", .bit = EGW_JWS_PS256},
  };
  struct lparse *lx = obj;
  yaml_node_item_t *items;
  size_t n;
  lx->algs_line = at->line;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    int line = egw__cfg_line(item);
    const char *v = egw__cfg_scalar(f, at->path, item);
    if (v == NULL)
      return -1;
    size_t m = 0;
    while (m < ARRAY_LEN(algs) && strcmp(algs[m].name, v) != 0)
      m++;
    if (m < ARRAY_LEN(algs)) {
      lx->lp->authz.token.algs |= algs[m].bit;
      continue;
    }
    if (strcasecmp(v, "none") == 0)
      return egw__cfg_error(f, line, at->path,
                            "'%s' is refused: unsigned tokens are never accepted", v);
    if (strncasecmp(v, "HS", 2) == 0)
      return egw__cfg_error(f, line, at->path,
                            "'%s' is refused: HMAC keys are shared secrets, anyone who can "
                            "verify can sign (expected ES256, ES384, RS256, PS256)",
                            v);
    return egw__cfg_error(f, line, at->path,
                          "unknown algorithm '%s' (expected ES256, ES384, RS256, PS256)", v);
  }
  return 0;
}

static int set_token_leeway(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  uint64_t v = 0;
  lx->leeway_line = at->line;
  if (egw__cfg_uint(f, at->path, at->value, 0, 300, &v) != 0)
    return -1;
  lx->lp->authz.token.leeway_s = (uint32_t)v;
  return 0;
}

static int set_token_sub_is_peer(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->sub_is_peer_line = at->line;
  return egw__cfg_bool(f, at->path, at->value, &lx->lp->authz.token.sub_is_peer);
}

/* The ids are checked against the site's issuers once every file is read. */
static int set_token_issuers(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  struct egw_token_authz_policy *t = &lx->lp->authz.token;
  yaml_node_item_t *items;
  size_t n;
  lx->issuers_line = at->line;
  lx->places->issuers_line = at->line;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  t->issuers = calloc(n, sizeof(char *));
  lx->places->issuer_lines = calloc(n, sizeof(int));
  if (t->issuers == NULL || lx->places->issuer_lines == NULL)
    return egw__cfg_nomem(f);
  t->n_issuers = n;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    int line = egw__cfg_line(item);
    lx->places->issuer_lines[i] = line;
    if (egw__cfg_string(f, at->path, item, &t->issuers[i]) != 0)
      return -1;
    for (size_t k = 0; k < i; k++) {
      if (strcmp(t->issuers[k], t->issuers[i]) == 0)
        return egw__cfg_error(f, line, at->path, "'%s' is listed twice", t->issuers[i]);
    }
  }
  return 0;
}

/* remote: introspection instead of local verification; whether every accepted issuer
 * has an introspection_uri is checked once every file is read. */
static int set_token_remote(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  lx->remote_line = at->line;
  lx->places->remote_line = at->line;
  return egw__cfg_bool(f, at->path, at->value, &lx->lp->authz.token.remote);
}

static int set_token_remote_cache(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                                  void *obj) {
  struct lparse *lx = obj;
  uint64_t v = 0;
  lx->remote_cache_line = at->line;
  if (egw__cfg_uint(f, at->path, at->value, 1, 3600, &v) != 0)
    return -1;
  lx->lp->authz.token.remote_cache_s = (uint32_t)v;
  return 0;
}

/* Checked against the site's issuers once every file is read. */
static int set_token_opaque_issuer(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                                   void *obj) {
  struct lparse *lx = obj;
  lx->opaque_issuer_line = at->line;
  lx->places->opaque_issuer_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &lx->lp->authz.token.opaque_issuer);
}

static const struct egw__cfg_key authz_keys[] = {
    {.name = "mode", .set = set_authz_mode, .required = 1},
    {.name = "rules", .set = set_authz_rules},
    {.name = "audience", .set = set_token_audience},
    {.name = "algs", .set = set_token_algs},
    {.name = "leeway_s", .set = set_token_leeway},
    {.name = "sub_is_peer", .set = set_token_sub_is_peer},
    {.name = "issuers", .set = set_token_issuers},
    {.name = "remote", .set = set_token_remote},
    {.name = "remote_cache_s", .set = set_token_remote_cache},
    {.name = "opaque_issuer", .set = set_token_opaque_issuer},
};

/* Per rule, what the mode allows: static needs allow and knows no scope; token takes
 * allow only as "any" (a route that needs no token), and then no scope. */
static int check_rules(struct egw__cfg_file *f, const char *path, struct lparse *lx) {
  const struct egw_authz_policy *a = &lx->lp->authz;
  char key[240];
  for (size_t i = 0; i < a->n_rules; i++) {
    const struct rule_place *rp = &lx->rule_places[i];
    if (a->mode == EGW_AUTHZ_STATIC) {
      snprintf(key, sizeof(key), "%s.rules[%zu].allow", path, i);
      if (!rp->allow_line)
        return egw__cfg_error(f, rp->r->line, key, "required key 'allow' missing");
      snprintf(key, sizeof(key), "%s.rules[%zu].scope", path, i);
      if (rp->scope_line)
        return egw__cfg_error(f, rp->scope_line, key, "not allowed with mode static");
    } else if (a->mode == EGW_AUTHZ_TOKEN) {
      snprintf(key, sizeof(key), "%s.rules[%zu].allow", path, i);
      if (rp->r->n_patterns > 0)
        return egw__cfg_error(f, rp->allow_line, key,
                              "only 'any' is allowed with mode token (peer patterns are for "
                              "mode static)");
      snprintf(key, sizeof(key), "%s.rules[%zu].scope", path, i);
      if (rp->r->allow_any && rp->scope_line)
        return egw__cfg_error(f, rp->scope_line, key,
                              "not allowed with 'allow: any' (the route needs no token)");
    }
  }
  return 0;
}

static int set_authz(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  struct egw_authz_policy *a = &lx->lp->authz;
  static const char *const token_only[] = {"audience", "algs",   "leeway_s",       "sub_is_peer",
                                           "issuers",  "remote", "remote_cache_s", "opaque_issuer"};
  char key[224];
  int map_line = egw__cfg_line(at->value);
  a->line = at->line;
  if (egw__cfg_walk(f, at->path, at->value, authz_keys, ARRAY_LEN(authz_keys), lx) != 0)
    return -1;
  const char *mode = egw_authz_mode_name(a->mode);
  const int lines[] = {lx->audience_line,     lx->algs_line,         lx->leeway_line,
                       lx->sub_is_peer_line,  lx->issuers_line,      lx->remote_line,
                       lx->remote_cache_line, lx->opaque_issuer_line};
  for (size_t i = 0; a->mode != EGW_AUTHZ_TOKEN && i < ARRAY_LEN(token_only); i++) {
    if (lines[i]) {
      snprintf(key, sizeof(key), "%s.%s", at->path, token_only[i]);
      return egw__cfg_error(f, lines[i], key, "not allowed with mode %s", mode);
    }
  }
  snprintf(key, sizeof(key), "%s.rules", at->path);
  if (a->mode == EGW_AUTHZ_NONE && lx->rules_line)
    return egw__cfg_error(f, lx->rules_line, key, "not allowed with mode %s", mode);
  if (a->mode != EGW_AUTHZ_NONE && !lx->rules_line)
    return egw__cfg_error(f, map_line, key, "required key 'rules' missing (mode %s)", mode);
  if (a->mode == EGW_AUTHZ_TOKEN && !lx->audience_line) {
    snprintf(key, sizeof(key), "%s.audience", at->path);
    return egw__cfg_error(f, map_line, key, "required key 'audience' missing (mode token)");
  }
  if (a->mode == EGW_AUTHZ_TOKEN && !lx->algs_line)
    a->token.algs = EGW_JWS_ES256;
  if (a->mode == EGW_AUTHZ_TOKEN && !lx->leeway_line)
    a->token.leeway_s = 30;
  if (lx->remote_cache_line && !a->token.remote) {
    snprintf(key, sizeof(key), "%s.remote_cache_s", at->path);
    return egw__cfg_error(f, lx->remote_cache_line, key, "only allowed with remote: true");
  }
  if (a->token.remote && !lx->remote_cache_line)
    a->token.remote_cache_s = 60;
  return check_rules(f, at->path, lx);
}

/* ---- limits and the listener ---------------------------------------------------------- */

static const struct egw__cfg_key limit_keys[] = {
    {.name = "max_connections",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_limits, max_connections),
     .min = 1,
     .max = 1000000},
    {.name = "header_bytes",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_limits, header_bytes),
     .min = 1024,
     .max = 1048576},
    {.name = "body_bytes",
     .set = egw__cfg_set_u64,
     .offset = offsetof(struct egw_limits, body_bytes),
     .min = 0,
     .max = 1073741824},
    {.name = "header_timeout_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_limits, header_timeout_ms),
     .min = 100,
     .max = 3600000},
    {.name = "idle_timeout_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_limits, idle_timeout_ms),
     .min = 100,
     .max = 3600000},
    {.name = "requests_per_connection",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_limits, requests_per_connection),
     .min = 1,
     .max = 1000000},
};

static int set_limits(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  return egw__cfg_walk(f, at->path, at->value, limit_keys, ARRAY_LEN(limit_keys), &lx->lp->limits);
}

static int set_audit(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_audit(f, at, &((struct lparse *)obj)->lp->audit);
}

static const struct egw__cfg_key listener_keys[] = {
    {.name = "interface", .set = set_interface, .required = 1},
    {.name = "role", .set = set_role, .required = 1},
    {.name = "listen", .set = set_listen, .required = 1},
    {.name = "mount", .set = set_mount},
    {.name = "tls", .set = set_tls, .required = 1},
    {.name = "authz", .set = set_authz, .required = 1},
    {.name = "limits", .set = set_limits},
    {.name = "audit", .set = set_audit},
};

static int set_listener(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct lparse *lx = obj;
  struct egw_listener_policy *lp = lx->lp;
  lp->line = egw__cfg_line(at->value);
  lp->mount_line = lp->line;
  if (egw__cfg_walk(f, at->path, at->value, listener_keys, ARRAY_LEN(listener_keys), lx) != 0)
    return -1;
  /* sub_is_peer depends on the TLS mode, which may come after authz in the file. */
  if (lp->authz.mode == EGW_AUTHZ_TOKEN) {
    int peer = lp->tls.mode != EGW_TLS_SERVER_CERT;
    if (!lx->sub_is_peer_line)
      lp->authz.token.sub_is_peer = peer;
    else if (lp->authz.token.sub_is_peer && !peer)
      return egw__cfg_error(f, lx->sub_is_peer_line, "listener.authz.sub_is_peer",
                            "cannot be true with tls mode server-cert (no peer identity)");
  }
  return 0;
}

static const struct egw__cfg_key file_keys[] = {
    {.name = "listener", .set = set_listener, .required = 1},
};

int egw__listener_parse(struct egw__cfg_file *f, yaml_node_t *root,
                        const struct egw_site_policy *site, struct egw_listener_policy *lp,
                        struct egw__listener_places *places) {
  struct lparse lx = {.lp = lp, .site = site, .places = places};
  lp->file = strdup(f->path);
  lp->mount = calloc(1, sizeof(char *));
  if (lp->file == NULL || lp->mount == NULL)
    return egw__cfg_nomem(f);
  lp->n_mount = 1;
  lp->mount[0] = strdup("health");
  if (lp->mount[0] == NULL)
    return egw__cfg_nomem(f);
  lp->limits = (struct egw_limits){
      .max_connections = 10000,
      .header_bytes = 16384,
      .body_bytes = 1048576,
      .header_timeout_ms = 10000,
      .idle_timeout_ms = 60000,
      .requests_per_connection = 1000,
  };
  if (root == NULL)
    return egw__cfg_error(f, 1, "listener", "required key 'listener' missing");
  int ret = egw__cfg_walk(f, "", root, file_keys, ARRAY_LEN(file_keys), &lx);
  free(lx.rule_places);
  return ret;
}

void egw__listener_cleanup(struct egw_listener_policy *lp) {
  free(lp->file);
  free(lp->interface_name);
  free(lp->role);
  free(lp->listen_host);
  egw__cfg_free_strings(lp->mount, lp->n_mount);
  free(lp->tls.cert_file);
  free(lp->tls.key_file);
  free(lp->tls.psk_identity_hint);
  free(lp->tls.psk_file);
  free(lp->tls.ciphers);
  free(lp->audit.file);
  for (size_t i = 0; i < lp->authz.n_rules; i++) {
    free(lp->authz.rules[i].path_prefix);
    egw__cfg_free_strings(lp->authz.rules[i].patterns, lp->authz.rules[i].n_patterns);
    egw__cfg_free_strings(lp->authz.rules[i].scopes, lp->authz.rules[i].n_scopes);
  }
  free(lp->authz.rules);
  free(lp->authz.token.audience);
  free(lp->authz.token.opaque_issuer);
  egw__cfg_free_strings(lp->authz.token.issuers, lp->authz.token.n_issuers);
}
