/* site.yaml "tokens" (the shared token cache and the issuers whose tokens listeners may
 * accept) and "ecs" (the site's ECS as OAuth 2.0 authorization server). The checks that
 * need more than one section (a local issuer against ecs.id, the issuers a listener
 * names) are made in egw_policy_load_dir once every file is read. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/allowlist.h"
#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- key files (issuer keys, ECS signing keys) ---------------------------------------- */

struct kparse {
  struct egw_key_file_policy *k;
  int kid_line;
};

static int set_key_kid(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct kparse *kx = obj;
  kx->kid_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &kx->k->kid);
}

static int set_key_file(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_path(f, at->path, at->value, &((struct kparse *)obj)->k->file);
}

/* tokens.issuers[].keys[]: a PEM file, kid optional (the RFC 7638 thumbprint). */
static const struct egw__cfg_key issuer_key_keys[] = {
    {.name = "file", .set = set_key_file, .required = 1},
    {.name = "kid", .set = set_key_kid},
};

/* ecs.signing_keys[]: the kid is required, tokens name it and rollover depends on it. */
static const struct egw__cfg_key signing_key_keys[] = {
    {.name = "kid", .set = set_key_kid, .required = 1},
    {.name = "key", .set = set_key_file, .required = 1},
};

/* Reads a non-empty list of key files into *out (counted before it is filled, so the
 * caller's free handles a failure part way); kids that are given must be unique. */
static int key_list(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                    const struct egw__cfg_key *keys, size_t n_keys,
                    struct egw_key_file_policy **out, size_t *out_n) {
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  *out = calloc(n, sizeof(**out));
  if (*out == NULL)
    return egw__cfg_nomem(f);
  *out_n = n;
  for (size_t i = 0; i < n; i++) {
    char path[224];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    struct kparse kx = {.k = &(*out)[i]};
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    kx.k->line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, keys, n_keys, &kx) != 0)
      return -1;
    for (size_t k = 0; kx.k->kid != NULL && k < i; k++) {
      if ((*out)[k].kid != NULL && strcmp((*out)[k].kid, kx.k->kid) == 0) {
        snprintf(path, sizeof(path), "%s[%zu].kid", at->path, i);
        return egw__cfg_error(f, kx.kid_line, path, "'%s' is already used by %s[%zu] (line %d)",
                              kx.k->kid, at->path, k, (*out)[k].line);
      }
    }
  }
  return 0;
}

/* ---- tokens --------------------------------------------------------------------------- */

struct iparse {
  struct egw_issuer_policy *ip;
  int id_line;
  int local_line, keys_line, jwks_line, jwks_uri_line, refresh_line;
};

static int set_issuer_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->id_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &ix->ip->id);
}

static int set_issuer_local(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->local_line = at->line;
  return egw__cfg_bool(f, at->path, at->value, &ix->ip->local);
}

static int set_issuer_keys(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->keys_line = at->line;
  return key_list(f, at, issuer_key_keys, ARRAY_LEN(issuer_key_keys), &ix->ip->keys,
                  &ix->ip->n_keys);
}

static int set_issuer_jwks(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->jwks_line = at->line;
  return egw__cfg_path(f, at->path, at->value, &ix->ip->jwks_file);
}

/* ---- https URLs (jwks_uri, introspection_uri) ----------------------------------------- */

#define URL_MAX 2048

static int is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 1123 host name: dot-separated labels of 1..63 letters, digits and '-', not
 * starting or ending with '-'; 253 characters at most. */
static int dns_name_ok(const char *s, size_t len) {
  size_t label = 0;
  if (len == 0 || len > 253)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-')
        return 0;
      label = 0;
    } else if (is_alnum(c) || c == '-') {
      if (c == '-' && label == 0)
        return 0;
      if (++label > 63)
        return 0;
    } else {
      return 0;
    }
  }
  return label > 0 && s[len - 1] != '-';
}

/* https://host[:port]/path[?query]: host an IPv4 literal, [IPv6] or a DNS name; no
 * userinfo, no fragment, printable ASCII without spaces. The URL is stored as given. */
static int check_https_url(struct egw__cfg_file *f, const char *key, int line, const char *url) {
  static const char scheme[] = "https://";
  size_t len = strlen(url);
  if (len > URL_MAX)
    return egw__cfg_error(f, line, key, "must be at most %d characters", URL_MAX);
  for (const char *c = url; *c; c++) {
    if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
      return egw__cfg_error(f, line, key,
                            "must be printable ASCII without spaces (percent-encode the rest)");
  }
  if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
    return egw__cfg_error(f, line, key, "'%s' must be an https:// URL", url);
  if (strchr(url, '#') != NULL)
    return egw__cfg_error(f, line, key, "'%s': a fragment ('#') is not allowed", url);
  const char *auth = url + sizeof(scheme) - 1;
  size_t auth_len = strcspn(auth, "/?");
  const char *path = auth + auth_len;
  if (memchr(auth, '@', auth_len) != NULL)
    return egw__cfg_error(f, line, key, "'%s': user information (user@host) is not allowed", url);
  const char *host = auth, *port = NULL;
  size_t host_len;
  if (auth[0] == '[') {
    const char *end = memchr(auth, ']', auth_len);
    char buf[64];
    unsigned char addr[16];
    if (end == NULL)
      return egw__cfg_error(f, line, key, "'%s': missing ']' after the IPv6 address", url);
    host_len = (size_t)(end - auth) + 1;
    if (host_len - 2 >= sizeof(buf))
      return egw__cfg_error(f, line, key, "'%s': '%.*s' is not an IPv6 address", url, (int)host_len,
                            host);
    memcpy(buf, auth + 1, host_len - 2);
    buf[host_len - 2] = '\0';
    if (inet_pton(AF_INET6, buf, addr) != 1)
      return egw__cfg_error(f, line, key, "'%s': '%.*s' is not an IPv6 address", url, (int)host_len,
                            host);
    if (host_len < auth_len && auth[host_len] != ':')
      return egw__cfg_error(f, line, key, "'%s': expected ':port' or a path after '%.*s'", url,
                            (int)host_len, host);
  } else {
    const char *colon = memchr(auth, ':', auth_len);
    host_len = colon ? (size_t)(colon - auth) : auth_len;
    if (host_len == 0)
      return egw__cfg_error(f, line, key, "'%s': the host is missing", url);
    if (strspn(host, "0123456789.") >= host_len) {
      char buf[16];
      unsigned char addr[4];
      if (host_len >= sizeof(buf))
        return egw__cfg_error(f, line, key, "'%s': '%.*s' is not an IPv4 address", url,
                              (int)host_len, host);
      memcpy(buf, host, host_len);
      buf[host_len] = '\0';
      if (inet_pton(AF_INET, buf, addr) != 1)
        return egw__cfg_error(f, line, key, "'%s': '%.*s' is not an IPv4 address", url,
                              (int)host_len, host);
    } else if (!dns_name_ok(host, host_len)) {
      return egw__cfg_error(f, line, key,
                            "'%s': invalid host '%.*s' (expected an IPv4 address, [IPv6] or a "
                            "DNS name)",
                            url, (int)host_len, host);
    }
  }
  if (host_len < auth_len) {
    port = auth + host_len + 1;
    size_t port_len = auth_len - host_len - 1;
    unsigned long n = 0;
    int ok = port_len > 0 && port_len <= 5 && strspn(port, "0123456789") >= port_len;
    for (size_t i = 0; ok && i < port_len; i++)
      n = n * 10 + (unsigned long)(port[i] - '0');
    if (!ok || n < 1 || n > 65535)
      return egw__cfg_error(f, line, key, "'%s': invalid port '%.*s' (expected 1..65535)", url,
                            (int)port_len, port);
  }
  if (path[0] != '/')
    return egw__cfg_error(f, line, key, "'%s': needs a path starting with '/'", url);
  return 0;
}

static int url_value(struct egw__cfg_file *f, const struct egw__cfg_at *at, char **out) {
  if (egw__cfg_string(f, at->path, at->value, out) != 0)
    return -1;
  return check_https_url(f, at->path, egw__cfg_line(at->value), *out);
}

static int set_issuer_jwks_uri(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  ix->jwks_uri_line = at->line;
  return url_value(f, at, &ix->ip->jwks_uri);
}

static int set_issuer_refresh(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct iparse *ix = obj;
  uint64_t v = 0;
  ix->refresh_line = at->line;
  if (egw__cfg_uint(f, at->path, at->value, 1, 3600, &v) != 0)
    return -1;
  ix->ip->jwks_refresh_min_s = (uint32_t)v;
  return 0;
}

static int set_issuer_introspection(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                                    void *obj) {
  struct iparse *ix = obj;
  return url_value(f, at, &ix->ip->introspection_uri);
}

static const struct egw__cfg_key issuer_keys[] = {
    {.name = "id", .set = set_issuer_id, .required = 1},
    {.name = "local", .set = set_issuer_local},
    {.name = "keys", .set = set_issuer_keys},
    {.name = "jwks_file", .set = set_issuer_jwks},
    {.name = "jwks_uri", .set = set_issuer_jwks_uri},
    {.name = "jwks_refresh_min_s", .set = set_issuer_refresh},
    {.name = "introspection_uri", .set = set_issuer_introspection},
};

/* At most one source of keys; "local: false" is the same as no local key. None is
 * allowed only with an introspection_uri (an issuer of opaque tokens, asked about every
 * token). When two are given, the second in the file is the one reported. */
static int check_issuer_source(struct egw__cfg_file *f, const char *path, struct iparse *ix) {
  struct {
    const char *name;
    int line;
  } src[4], set[4];
  size_t n = 0;
  char key[224];
  src[0].name = "local";
  src[0].line = ix->ip->local ? ix->local_line : 0;
  src[1].name = "keys";
  src[1].line = ix->keys_line;
  src[2].name = "jwks_file";
  src[2].line = ix->jwks_line;
  src[3].name = "jwks_uri";
  src[3].line = ix->jwks_uri_line;
  for (size_t i = 0; i < ARRAY_LEN(src); i++) {
    if (src[i].line == 0)
      continue;
    size_t k = n++;
    while (k > 0 && set[k - 1].line > src[i].line) {
      set[k] = set[k - 1];
      k--;
    }
    set[k] = src[i];
  }
  if (n == 0 && ix->ip->introspection_uri == NULL)
    return egw__cfg_error(f, ix->ip->line, path,
                          "needs one of local: true, keys, jwks_file, jwks_uri, or an "
                          "introspection_uri");
  if (n > 1) {
    snprintf(key, sizeof(key), "%s.%s", path, set[1].name);
    return egw__cfg_error(f, set[1].line, key,
                          "not allowed with '%s' (one of local, keys, jwks_file, jwks_uri per "
                          "issuer)",
                          set[0].name);
  }
  if (ix->refresh_line && !ix->jwks_uri_line) {
    snprintf(key, sizeof(key), "%s.jwks_refresh_min_s", path);
    return egw__cfg_error(f, ix->refresh_line, key, "only allowed with jwks_uri");
  }
  if (ix->jwks_uri_line && !ix->refresh_line)
    ix->ip->jwks_refresh_min_s = 30;
  return 0;
}

static int set_tokens_issuers(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_site_policy *p = sx->p;
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  p->issuers = calloc(n, sizeof(*p->issuers));
  sx->places.issuer_local_lines = calloc(n, sizeof(int));
  if (p->issuers == NULL || sx->places.issuer_local_lines == NULL)
    return egw__cfg_nomem(f);
  p->n_issuers = n;
  for (size_t i = 0; i < n; i++) {
    char path[224], key[240];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    struct iparse ix = {.ip = &p->issuers[i]};
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    ix.ip->line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, issuer_keys, ARRAY_LEN(issuer_keys), &ix) != 0)
      return -1;
    for (size_t k = 0; k < i; k++) {
      if (strcmp(p->issuers[k].id, ix.ip->id) == 0) {
        snprintf(key, sizeof(key), "%s.id", path);
        return egw__cfg_error(f, ix.id_line, key, "'%s' is already used by %s[%zu] (line %d)",
                              ix.ip->id, at->path, k, p->issuers[k].line);
      }
    }
    if (check_issuer_source(f, path, &ix) != 0)
      return -1;
    sx->places.issuer_local_lines[i] = ix.ip->local ? ix.local_line : 0;
  }
  return 0;
}

static const struct egw__cfg_key cache_keys[] = {
    {.name = "max_entries",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_site_policy, token_cache_entries),
     .min = 1,
     .max = 10000000},
    {.name = "negative_ttl_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_site_policy, token_negative_ttl_ms),
     .min = 0,
     .max = 60000},
};

static int set_tokens_cache(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  return egw__cfg_walk(f, at->path, at->value, cache_keys, ARRAY_LEN(cache_keys), sx->p);
}

static int set_client_cert(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_path(f, at->path, at->value, &((struct egw_site_policy *)obj)->token_client_cert);
}

static int set_client_key(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_path(f, at->path, at->value, &((struct egw_site_policy *)obj)->token_client_key);
}

/* tokens.client: both files or no section at all. */
static const struct egw__cfg_key token_client_keys[] = {
    {.name = "cert", .set = set_client_cert, .required = 1},
    {.name = "key", .set = set_client_key, .required = 1},
};

static int set_tokens_client(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  return egw__cfg_walk(f, at->path, at->value, token_client_keys, ARRAY_LEN(token_client_keys),
                       sx->p);
}

static const struct egw__cfg_key tokens_keys[] = {
    {.name = "cache", .set = set_tokens_cache},
    {.name = "client", .set = set_tokens_client},
    {.name = "issuers", .set = set_tokens_issuers},
};

int egw__tokens_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_walk(f, at->path, at->value, tokens_keys, ARRAY_LEN(tokens_keys), obj);
}

/* ---- ecs ------------------------------------------------------------------------------ */

static int set_client_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_token_client_policy *c = obj;
  const char *reason = NULL;
  int line = egw__cfg_line(at->value);
  if (egw__cfg_string(f, at->path, at->value, &c->pattern) != 0)
    return -1;
  if (strcmp(c->pattern, "any") == 0)
    return egw__cfg_error(f, line, at->path,
                          "must be a pattern of client identities ('any' is not one)");
  if (!egw_allowlist_pattern_valid(c->pattern, &reason))
    return egw__cfg_error(f, line, at->path, "invalid pattern '%s': %s", c->pattern,
                          reason ? reason : "invalid");
  return 0;
}

static int set_client_scopes(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_token_client_policy *c = obj;
  return egw__cfg_scopes(f, at->path, at->value, &c->scopes, &c->n_scopes);
}

static int set_client_audiences(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_token_client_policy *c = obj;
  yaml_node_item_t *items;
  size_t n;
  if (at->value->type == YAML_SCALAR_NODE) {
    if (strcmp((const char *)at->value->data.scalar.value, "any") == 0) {
      c->allow_any_audience = 1;
      return 0;
    }
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "must be a list of target ids or the word any");
  }
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  c->audiences = calloc(n, sizeof(char *));
  if (c->audiences == NULL)
    return egw__cfg_nomem(f);
  c->n_audiences = n;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    if (egw__cfg_string(f, at->path, item, &c->audiences[i]) != 0)
      return -1;
    if (strcmp(c->audiences[i], "any") == 0)
      return egw__cfg_error(f, egw__cfg_line(item), at->path,
                            "'any' stands alone (audiences: any), not in a list");
  }
  return 0;
}

static const struct egw__cfg_key client_keys[] = {
    {.name = "id", .set = set_client_id, .required = 1},
    {.name = "scopes", .set = set_client_scopes, .required = 1},
    {.name = "audiences", .set = set_client_audiences, .required = 1},
};

struct eparse {
  struct egw__site_parse *sx;
  struct egw_ecs_policy *e;
};

static int set_ecs_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct eparse *ex = obj;
  ex->sx->places.ecs_id_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &ex->e->id);
}

static int set_ecs_ttl(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct eparse *ex = obj;
  uint64_t v = 0;
  if (egw__cfg_uint(f, at->path, at->value, 60, 86400, &v) != 0)
    return -1;
  ex->e->token_ttl_s = (uint32_t)v;
  return 0;
}

static int set_ecs_signing_keys(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct eparse *ex = obj;
  return key_list(f, at, signing_key_keys, ARRAY_LEN(signing_key_keys), &ex->e->signing_keys,
                  &ex->e->n_signing_keys);
}

static int set_ecs_clients(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ecs_policy *e = ((struct eparse *)obj)->e;
  yaml_node_item_t *items;
  size_t n;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  e->clients = calloc(n, sizeof(*e->clients));
  if (e->clients == NULL)
    return egw__cfg_nomem(f);
  e->n_clients = n;
  for (size_t i = 0; i < n; i++) {
    char path[224];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    e->clients[i].line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, client_keys, ARRAY_LEN(client_keys), &e->clients[i]) != 0)
      return -1;
  }
  return 0;
}

static const struct egw__cfg_key ecs_keys[] = {
    {.name = "id", .set = set_ecs_id, .required = 1},
    {.name = "token_ttl_s", .set = set_ecs_ttl},
    {.name = "signing_keys", .set = set_ecs_signing_keys, .required = 1},
    {.name = "clients", .set = set_ecs_clients, .required = 1},
};

int egw__ecs_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct eparse ex = {.sx = sx};
  sx->p->ecs = calloc(1, sizeof(*sx->p->ecs));
  if (sx->p->ecs == NULL)
    return egw__cfg_nomem(f);
  ex.e = sx->p->ecs;
  ex.e->token_ttl_s = 3600;
  ex.e->line = at->line;
  return egw__cfg_walk(f, at->path, at->value, ecs_keys, ARRAY_LEN(ecs_keys), &ex);
}

/* ---- free ----------------------------------------------------------------------------- */

static void free_key_files(struct egw_key_file_policy *k, size_t n) {
  for (size_t i = 0; k != NULL && i < n; i++) {
    free(k[i].kid);
    free(k[i].file);
  }
  free(k);
}

void egw__tokens_cleanup(struct egw_site_policy *p) {
  for (size_t i = 0; i < p->n_issuers; i++) {
    free(p->issuers[i].id);
    free_key_files(p->issuers[i].keys, p->issuers[i].n_keys);
    free(p->issuers[i].jwks_file);
    free(p->issuers[i].jwks_uri);
    free(p->issuers[i].introspection_uri);
  }
  free(p->issuers);
  p->issuers = NULL;
  p->n_issuers = 0;
  free(p->token_client_cert);
  free(p->token_client_key);
  p->token_client_cert = NULL;
  p->token_client_key = NULL;
  struct egw_ecs_policy *e = p->ecs;
  if (e == NULL)
    return;
  free(e->id);
  free_key_files(e->signing_keys, e->n_signing_keys);
  for (size_t i = 0; i < e->n_clients; i++) {
    free(e->clients[i].pattern);
    egw__cfg_free_strings(e->clients[i].scopes, e->clients[i].n_scopes);
    egw__cfg_free_strings(e->clients[i].audiences, e->clients[i].n_audiences);
  }
  free(e->clients);
  free(e);
  p->ecs = NULL;
}
