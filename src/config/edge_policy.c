/* site.yaml "ees" (the site's EES: its EDGE-1 endpoint, its ECS, EDGE-9 peers) and
 * "eas" (the sidecar EAS: its endpoint, the upstream application, its EES), and the
 * checks made once the whole file is read: outbound mutual TLS needs the site's CA
 * certificates, and ecs.registration.eec_ca defaults to them. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* What the ees and eas handlers get: the section (|target|, for the generic setters
 * whose offsets point into it) and where its keys are. */
struct xparse {
  struct egw__site_parse *sx;
  void *target;
  int id_line;
  int *peer_id_lines; /* ees.peers[].id lines; freed by egw__ees_set */
};

static int set_num(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_set_u32(f, at, ((struct xparse *)obj)->target);
}

static int set_string(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  char **out = (char **)((char *)((struct xparse *)obj)->target + at->key->offset);
  return egw__cfg_string(f, at->path, at->value, out);
}

static int set_base_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  char **out = (char **)((char *)((struct xparse *)obj)->target + at->key->offset);
  return egw__cfg_url(f, at->path, at->value, EGW__URL_BASE, out);
}

static int set_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  ((struct xparse *)obj)->id_line = egw__cfg_line(at->value);
  return set_string(f, at, obj);
}

/* ---- ees ------------------------------------------------------------------------------- */

static int set_ees_ecs_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct xparse *xx = obj;
  xx->sx->places.ees_ecs_url_line = at->line;
  return set_base_url(f, at, obj);
}

static int set_ees_client(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ees_policy *s = ((struct xparse *)obj)->target;
  return egw__cfg_client_pair(f, at, &s->client_cert, &s->client_key);
}

static int set_ees_scopes(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_ees_policy *s = ((struct xparse *)obj)->target;
  return egw__cfg_scopes(f, at->path, at->value, &s->eas_token_scopes, &s->n_eas_token_scopes);
}

struct eeparse {
  struct egw_ees_peer_policy *peer;
  int id_line;
};

static int set_ees_peer_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct eeparse *px = obj;
  px->id_line = egw__cfg_line(at->value);
  return egw__cfg_string(f, at->path, at->value, &px->peer->id);
}

static int set_ees_peer_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct eeparse *px = obj;
  return egw__cfg_url(f, at->path, at->value, EGW__URL_BASE, &px->peer->url);
}

static const struct egw__cfg_key ees_peer_keys[] = {
    {.name = "id", .set = set_ees_peer_id, .required = 1},
    {.name = "url", .set = set_ees_peer_url, .required = 1},
};

static int set_ees_peers(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct xparse *xx = obj;
  struct egw_ees_policy *s = xx->target;
  yaml_node_item_t *items;
  size_t n;
  xx->sx->places.ees_peers_line = at->line;
  if (egw__cfg_seq(f, at->path, at->value, &items, &n) != 0)
    return -1;
  s->peers = calloc(n, sizeof(*s->peers));
  xx->peer_id_lines = calloc(n, sizeof(int));
  if (s->peers == NULL || xx->peer_id_lines == NULL)
    return egw__cfg_nomem(f);
  s->n_peers = n;
  for (size_t i = 0; i < n; i++) {
    char path[224], key[240];
    yaml_node_t *item = egw__cfg_node(f, items[i]);
    struct eeparse px = {.peer = &s->peers[i]};
    snprintf(path, sizeof(path), "%s[%zu]", at->path, i);
    px.peer->line = egw__cfg_line(item);
    if (egw__cfg_walk(f, path, item, ees_peer_keys, ARRAY_LEN(ees_peer_keys), &px) != 0)
      return -1;
    xx->peer_id_lines[i] = px.id_line;
    for (size_t k = 0; k < i; k++) {
      if (strcmp(s->peers[k].id, px.peer->id) == 0) {
        snprintf(key, sizeof(key), "%s.id", path);
        return egw__cfg_error(f, px.id_line, key, "'%s' is already used by %s[%zu] (line %d)",
                              px.peer->id, at->path, k, s->peers[k].line);
      }
    }
  }
  return 0;
}

static const struct egw__cfg_key ees_keys[] = {
    {.name = "id", .set = set_id, .required = 1, .offset = offsetof(struct egw_ees_policy, id)},
    {.name = "endpoint",
     .set = set_base_url,
     .required = 1,
     .offset = offsetof(struct egw_ees_policy, endpoint_uri)},
    {.name = "ecs_url", .set = set_ees_ecs_url, .offset = offsetof(struct egw_ees_policy, ecs_url)},
    {.name = "client", .set = set_ees_client},
    {.name = "registration_ttl_s",
     .set = set_num,
     .offset = offsetof(struct egw_ees_policy, registration_ttl_s),
     .min = 60,
     .max = 86400},
    {.name = "eec_registration_max_s",
     .set = set_num,
     .offset = offsetof(struct egw_ees_policy, eec_registration_max_s),
     .min = 60,
     .max = 31536000},
    {.name = "eas_token_scopes", .set = set_ees_scopes},
    {.name = "peers", .set = set_ees_peers},
};

static int ees_finish(struct egw__cfg_file *f, struct xparse *xx) {
  static const char *const default_scopes[] = {"eas-app"};
  struct egw_ees_policy *s = xx->target;
  const struct egw__site_places *pl = &xx->sx->places;
  if (s->n_eas_token_scopes == 0 &&
      egw__cfg_copy_strings(f, default_scopes, ARRAY_LEN(default_scopes), &s->eas_token_scopes,
                            &s->n_eas_token_scopes) != 0)
    return -1;
  for (size_t i = 0; i < s->n_peers; i++) {
    char key[64];
    if (strcmp(s->peers[i].id, s->id) != 0)
      continue;
    snprintf(key, sizeof(key), "ees.peers[%zu].id", i);
    return egw__cfg_error(f, xx->peer_id_lines[i], key, "'%s' is this EES (ees.id, line %d)", s->id,
                          xx->id_line);
  }
  if (s->ecs_url != NULL && s->client_cert == NULL)
    return egw__cfg_error(f, pl->ees_ecs_url_line, "ees.ecs_url",
                          "needs ees.client (the ECS is called over mutual TLS)");
  if (s->n_peers > 0 && s->client_cert == NULL)
    return egw__cfg_error(f, pl->ees_peers_line, "ees.peers",
                          "needs ees.client (peer EESes are called over mutual TLS)");
  return 0;
}

int egw__ees_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_ees_policy *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return egw__cfg_nomem(f);
  sx->p->ees = s;
  s->line = at->line;
  s->registration_ttl_s = 3600;
  s->eec_registration_max_s = 86400;
  struct xparse xx = {.sx = sx, .target = s};
  int ret = egw__cfg_walk(f, at->path, at->value, ees_keys, ARRAY_LEN(ees_keys), &xx);
  if (ret == 0)
    ret = ees_finish(f, &xx);
  free(xx.peer_id_lines);
  return ret;
}

/* ---- eas ------------------------------------------------------------------------------- */

/* "IPv4:port", "[IPv6]:port" or "localhost:port": the application beside the proxy,
 * spoken to in plain HTTP. Literals only, so that no request waits on a resolver;
 * localhost is stored as 127.0.0.1. */
static int set_eas_upstream(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_eas_policy *s = ((struct xparse *)obj)->target;
  const char *v = egw__cfg_scalar(f, at->path, at->value);
  if (v == NULL)
    return -1;
  if (strstr(v, "://") != NULL)
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "'%s' must be host:port without a scheme (the upstream is plain HTTP)",
                          v);
  free(s->upstream_host);
  s->upstream_host = NULL;
  return egw__cfg_host_port(f, at->path, at->value, 1, &s->upstream_host, &s->upstream_port);
}

/* RFC 9110 5.6.2: token = 1*tchar. */
static int is_tchar(unsigned char c) {
  return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The proxy sets this header after removing the client's copy; it must not be one the
 * proxy itself handles: hop-by-hop headers (RFC 9110 7.6.1), message framing and
 * representation (Host, Content-*, Transfer-Encoding) and credentials. */
static const char *const reserved_headers[] = {
    "authorization",
    "connection",
    "expect",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    /* the proxy sets these itself: a second field of the same name would be ambiguous */
    "x-forwarded-for",
    "x-forwarded-proto",
};

static int set_eas_identity_header(struct egw__cfg_file *f, const struct egw__cfg_at *at,
                                   void *obj) {
  struct egw_eas_policy *s = ((struct xparse *)obj)->target;
  int line = egw__cfg_line(at->value);
  if (egw__cfg_string(f, at->path, at->value, &s->identity_header) != 0)
    return -1;
  for (char *c = s->identity_header; *c; c++) {
    if (!is_tchar((unsigned char)*c))
      return egw__cfg_error(f, line, at->path,
                            "'%s' is not an HTTP header name (letters, digits and "
                            "!#$%%&'*+-.^_`|~)",
                            s->identity_header);
    *c = (char)tolower((unsigned char)*c);
  }
  int reserved = strncmp(s->identity_header, "content-", 8) == 0;
  for (size_t i = 0; !reserved && i < ARRAY_LEN(reserved_headers); i++)
    reserved = strcmp(s->identity_header, reserved_headers[i]) == 0;
  if (reserved)
    return egw__cfg_error(f, line, at->path,
                          "'%s' is handled by the proxy itself (hop-by-hop, framing or "
                          "credentials); use a header of your own such as x-eec-id",
                          s->identity_header);
  return 0;
}

static int set_eas_ees_url(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct xparse *xx = obj;
  xx->sx->places.eas_ees_url_line = at->line;
  return set_base_url(f, at, obj);
}

static int set_eas_client(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_eas_policy *s = ((struct xparse *)obj)->target;
  return egw__cfg_client_pair(f, at, &s->client_cert, &s->client_key);
}

static const struct egw__cfg_key eas_keys[] = {
    {.name = "id", .set = set_id, .required = 1, .offset = offsetof(struct egw_eas_policy, id)},
    {.name = "endpoint",
     .set = set_base_url,
     .required = 1,
     .offset = offsetof(struct egw_eas_policy, endpoint_uri)},
    {.name = "upstream", .set = set_eas_upstream, .required = 1},
    {.name = "upstream_timeout_ms",
     .set = set_num,
     .offset = offsetof(struct egw_eas_policy, upstream_timeout_ms),
     .min = 100,
     .max = 600000},
    {.name = "identity_header", .set = set_eas_identity_header},
    {.name = "ees_url", .set = set_eas_ees_url, .offset = offsetof(struct egw_eas_policy, ees_url)},
    {.name = "client", .set = set_eas_client},
    {.name = "registration_ttl_s",
     .set = set_num,
     .offset = offsetof(struct egw_eas_policy, registration_ttl_s),
     .min = 60,
     .max = 86400},
    {.name = "provider", .set = set_string, .offset = offsetof(struct egw_eas_policy, provider)},
    {.name = "type", .set = set_string, .offset = offsetof(struct egw_eas_policy, type)},
};

int egw__eas_set(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  struct egw_eas_policy *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return egw__cfg_nomem(f);
  sx->p->eas = s;
  s->line = at->line;
  s->upstream_timeout_ms = 30000;
  s->registration_ttl_s = 3600;
  struct xparse xx = {.sx = sx, .target = s};
  if (egw__cfg_walk(f, at->path, at->value, eas_keys, ARRAY_LEN(eas_keys), &xx) != 0)
    return -1;
  if (s->identity_header == NULL && (s->identity_header = strdup("x-eec-id")) == NULL)
    return egw__cfg_nomem(f);
  if (s->ees_url != NULL && s->client_cert == NULL)
    return egw__cfg_error(f, sx->places.eas_ees_url_line, "eas.ees_url",
                          "needs eas.client (the EES is called over mutual TLS)");
  return 0;
}

/* ---- the whole file -------------------------------------------------------------------- */

int egw__edge_site_finish(struct egw__cfg_file *f, struct egw__site_parse *sx) {
  struct egw_site_policy *p = sx->p;
  const struct egw__site_places *pl = &sx->places;
  struct {
    int line;
    const char *key, *what;
  } calls[] = {
      {p->ecs && p->ecs->n_peers ? pl->ecs_peers_line : 0, "ecs.peers", "the peer ECSes"},
      {p->ees && p->ees->ecs_url ? pl->ees_ecs_url_line : 0, "ees.ecs_url", "the ECS"},
      {p->ees && p->ees->n_peers ? pl->ees_peers_line : 0, "ees.peers", "the peer EESes"},
      {p->eas && p->eas->ees_url ? pl->eas_ees_url_line : 0, "eas.ees_url", "the EES"},
  };
  if (p->ecs != NULL && p->ecs->n_eec_ca_files == 0 &&
      egw__cfg_copy_strings(f, (const char *const *)p->ca_files, p->n_ca_files,
                            &p->ecs->eec_ca_files, &p->ecs->n_eec_ca_files) != 0)
    return -1;
  if (p->n_ca_files > 0)
    return 0;
  for (size_t i = 0; i < ARRAY_LEN(calls); i++) {
    if (calls[i].line != 0)
      return egw__cfg_error(f, calls[i].line, calls[i].key,
                            "needs site.trust.ca (the CA certificates that verify %s)",
                            calls[i].what);
  }
  return 0;
}

void egw__edge_cleanup(struct egw_site_policy *p) {
  struct egw_ees_policy *s = p->ees;
  struct egw_eas_policy *a = p->eas;
  if (s != NULL) {
    free(s->id);
    free(s->endpoint_uri);
    free(s->ecs_url);
    free(s->client_cert);
    free(s->client_key);
    egw__cfg_free_strings(s->eas_token_scopes, s->n_eas_token_scopes);
    for (size_t i = 0; s->peers != NULL && i < s->n_peers; i++) {
      free(s->peers[i].id);
      free(s->peers[i].url);
    }
    free(s->peers);
    free(s);
    p->ees = NULL;
  }
  if (a != NULL) {
    free(a->id);
    free(a->endpoint_uri);
    free(a->upstream_host);
    free(a->identity_header);
    free(a->ees_url);
    free(a->client_cert);
    free(a->client_key);
    free(a->provider);
    free(a->type);
    free(a);
    p->eas = NULL;
  }
}
