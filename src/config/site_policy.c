/* A policy directory: site.yaml, then every other *.yaml / *.yml file (one listener
 * each) in name order, then the checks that span files (unique interface names and
 * listen addresses as each listener is read; local issuers and the issuers listeners
 * name once every file is read). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- site.yaml ------------------------------------------------------------------------ */

static int set_site_id(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_site_policy *p = obj;
  if (egw__cfg_string(f, at->path, at->value, &p->site_id) != 0)
    return -1;
  if (strlen(p->site_id) > 64 ||
      strspn(p->site_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
          strlen(p->site_id))
    return egw__cfg_error(f, egw__cfg_line(at->value), at->path,
                          "'%s' must be at most 64 letters, digits, '.', '_' or '-'", p->site_id);
  return 0;
}

/* The state directory is created at start when missing, so only its name is read. */
static int set_state_dir(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_site_policy *p = obj;
  const char *v = egw__cfg_scalar(f, at->path, at->value);
  if (v == NULL)
    return -1;
  free(p->state_dir);
  p->state_dir = egw__cfg_join(f->dir, v);
  return p->state_dir ? 0 : egw__cfg_nomem(f);
}

static int set_trust_ca(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_site_policy *p = obj;
  return egw__cfg_paths(f, at->path, at->value, &p->ca_files, &p->n_ca_files);
}

static int set_trust_crl(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_site_policy *p = obj;
  return egw__cfg_paths(f, at->path, at->value, &p->crl_files, &p->n_crl_files);
}

static const struct egw__cfg_key trust_keys[] = {
    {.name = "ca", .set = set_trust_ca},
    {.name = "crl", .set = set_trust_crl},
};

static int set_trust(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw_site_policy *p = obj;
  if (egw__cfg_walk(f, at->path, at->value, trust_keys, ARRAY_LEN(trust_keys), p) != 0)
    return -1;
  /* CRLs are checked against the CAs that issued them; alone they check nothing. */
  if (p->n_crl_files > 0 && p->n_ca_files == 0)
    return egw__cfg_error(f, egw__cfg_line(at->value), "site.trust.ca",
                          "required key 'ca' missing (crl is set)");
  return 0;
}

static int set_audit(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  return egw__cfg_audit(f, at, &((struct egw_site_policy *)obj)->audit);
}

static const struct egw__cfg_key site_keys[] = {
    {.name = "id", .set = set_site_id, .required = 1},
    {.name = "state_dir", .set = set_state_dir},
    {.name = "drain_timeout_ms",
     .set = egw__cfg_set_u32,
     .offset = offsetof(struct egw_site_policy, drain_timeout_ms),
     .min = 100,
     .max = 600000},
    {.name = "trust", .set = set_trust},
    {.name = "audit", .set = set_audit},
};

static int set_site(struct egw__cfg_file *f, const struct egw__cfg_at *at, void *obj) {
  struct egw__site_parse *sx = obj;
  return egw__cfg_walk(f, at->path, at->value, site_keys, ARRAY_LEN(site_keys), sx->p);
}

static const struct egw__cfg_key site_file_keys[] = {
    {.name = "site", .set = set_site, .required = 1},
    {.name = "tokens", .set = egw__tokens_set},
    {.name = "ecs", .set = egw__ecs_set},
    {.name = "ees", .set = egw__ees_set},
    {.name = "eas", .set = egw__eas_set},
    {.name = "sim", .set = egw__sim_set},
};

static int load_site(struct egw__site_parse *sx, char **out_err) {
  struct egw_site_policy *p = sx->p;
  struct egw__cfg_file f;
  yaml_node_t *root;
  int ret = -1;
  if (egw__cfg_open(&f, p->site_file, p->dir, out_err, &root) != 0)
    goto end;
  if (root == NULL) {
    egw__cfg_error(&f, 1, "site", "required key 'site' missing");
    goto end;
  }
  if (egw__cfg_walk(&f, "", root, site_file_keys, ARRAY_LEN(site_file_keys), sx) != 0)
    goto end;
  if (egw__edge_site_finish(&f, sx) != 0)
    goto end;
  if (p->state_dir == NULL) {
    p->state_dir = egw__cfg_join(p->dir, "state");
    if (p->state_dir == NULL) {
      egw__cfg_nomem(&f);
      goto end;
    }
  }
  ret = 0;
end:
  egw__cfg_close(&f);
  return ret;
}

/* ---- the directory -------------------------------------------------------------------- */

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n > k && strcmp(s + n - k, suffix) == 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the interface files of |dir|, sorted. Hidden files are skipped (editor swap
 * files and the like). */
static int list_files(const char *dir, char ***out, size_t *out_n, char **out_err) {
  int ret = -1;
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t cap = 0;
  *out = NULL;
  *out_n = 0;
  if (d == NULL) {
    if (asprintf(out_err, "%s: cannot open directory: %s", dir, strerror(errno)) < 0)
      *out_err = NULL;
    goto end;
  }
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "site.yaml") == 0 ||
        !(has_suffix(e->d_name, ".yaml") || has_suffix(e->d_name, ".yml")))
      continue;
    if (strcmp(e->d_name, "site.yml") == 0) {
      if (asprintf(out_err, "%s/site.yml: the site file must be named site.yaml", dir) < 0)
        *out_err = NULL;
      goto end;
    }
    if (*out_n == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      char **grown = realloc(*out, ncap * sizeof(char *));
      if (grown == NULL) {
        *out_err = strdup("out of memory");
        goto end;
      }
      *out = grown;
      cap = ncap;
    }
    (*out)[*out_n] = strdup(e->d_name);
    if ((*out)[*out_n] == NULL) {
      *out_err = strdup("out of memory");
      goto end;
    }
    (*out_n)++;
  }
  if (*out_n > 0)
    qsort(*out, *out_n, sizeof(char *), cmp_names);
  ret = 0;
end:
  if (d != NULL)
    closedir(d);
  return ret;
}

static void format_addr(const struct egw_listener_policy *lp, char *out, size_t cap) {
  if (strchr(lp->listen_host, ':'))
    snprintf(out, cap, "[%s]:%u", lp->listen_host, (unsigned)lp->listen_port);
  else
    snprintf(out, cap, "%s:%u", lp->listen_host, (unsigned)lp->listen_port);
}

/* Two listen addresses collide when they have the same port and family and either the
 * same address or one of them is the wildcard (bind would fail on the second). */
static int addr_collides(const struct egw_listener_policy *a, const struct egw_listener_policy *b,
                         int *out_same) {
  unsigned char x[16] = {0}, y[16] = {0}, any[16] = {0};
  int fa = strchr(a->listen_host, ':') ? AF_INET6 : AF_INET;
  int fb = strchr(b->listen_host, ':') ? AF_INET6 : AF_INET;
  size_t len = fa == AF_INET6 ? 16 : 4;
  if (a->listen_port != b->listen_port || fa != fb)
    return 0;
  inet_pton(fa, a->listen_host, x);
  inet_pton(fb, b->listen_host, y);
  *out_same = memcmp(x, y, len) == 0;
  return *out_same || memcmp(x, any, len) == 0 || memcmp(y, any, len) == 0;
}

static int check_unique(struct egw__cfg_file *f, const struct egw_site_policy *p, size_t i,
                        const struct egw__listener_places *places) {
  const struct egw_listener_policy *lp = &p->listeners[i];
  for (size_t k = 0; k < i; k++) {
    const struct egw_listener_policy *other = &p->listeners[k];
    int same = 0;
    char mine[64], theirs[64];
    if (strcmp(other->interface_name, lp->interface_name) == 0)
      return egw__cfg_error(f, places[i].interface_line, "listener.interface",
                            "%s is already defined in %s:%d", lp->interface_name, other->file,
                            places[k].interface_line);
    if (!addr_collides(lp, other, &same))
      continue;
    format_addr(lp, mine, sizeof(mine));
    format_addr(other, theirs, sizeof(theirs));
    if (same)
      return egw__cfg_error(f, places[i].listen_line, "listener.listen",
                            "%s is already used by %s (%s:%d)", mine, other->interface_name,
                            other->file, places[k].listen_line);
    return egw__cfg_error(f, places[i].listen_line, "listener.listen",
                          "%s overlaps %s of %s (%s:%d)", mine, theirs, other->interface_name,
                          other->file, places[k].listen_line);
  }
  return 0;
}

static int load_listener(struct egw_site_policy *p, const char *name,
                         struct egw__listener_places *places, char **out_err) {
  struct egw__cfg_file f;
  yaml_node_t *root;
  int ret = -1;
  char *path = egw__cfg_join(p->dir, name);
  f.loaded = 0;
  if (path == NULL) {
    *out_err = strdup("out of memory");
    goto end;
  }
  if (egw__cfg_open(&f, path, p->dir, out_err, &root) != 0)
    goto end;
  /* Counted before it is filled so that a failure frees what was built. */
  struct egw_listener_policy *lp = &p->listeners[p->n_listeners++];
  *lp = (struct egw_listener_policy){0};
  size_t i = p->n_listeners - 1;
  if (egw__listener_parse(&f, root, p, lp, &places[i]) != 0)
    goto end;
  if (check_unique(&f, p, i, places) != 0)
    goto end;
  ret = 0;
end:
  egw__cfg_close(&f);
  free(path);
  return ret;
}

/* A local issuer verifies with the keys of the ECS in the same file, so its id must be
 * the ECS's: tokens carry iss = ecs.id. */
static int check_local_issuers(const struct egw_site_policy *p, const struct egw__site_places *sp,
                               char **out_err) {
  struct egw__cfg_file f = {.path = p->site_file, .dir = p->dir, .out_err = out_err};
  for (size_t i = 0; i < p->n_issuers; i++) {
    char key[64];
    int line = sp->issuer_local_lines[i];
    if (line == 0)
      continue;
    snprintf(key, sizeof(key), "tokens.issuers[%zu].local", i);
    if (p->ecs == NULL)
      return egw__cfg_error(&f, line, key, "needs the 'ecs' section (the local ECS and its keys)");
    if (strcmp(p->ecs->id, p->issuers[i].id) != 0)
      return egw__cfg_error(&f, line, key,
                            "issuer '%s' is not the local ECS (ecs.id is '%s', line %d)",
                            p->issuers[i].id, p->ecs->id, sp->ecs_id_line);
  }
  return 0;
}

static const struct egw_issuer_policy *find_issuer(const struct egw_site_policy *p,
                                                   const char *id) {
  for (size_t j = 0; j < p->n_issuers; j++) {
    if (strcmp(p->issuers[j].id, id) == 0)
      return &p->issuers[j];
  }
  return NULL;
}

/* An issuer with only an introspection_uri has no keys to verify its tokens with. */
static int issuer_has_keys(const struct egw_issuer_policy *is) {
  return is->local || is->n_keys > 0 || is->jwks_file != NULL || is->jwks_uri != NULL;
}

/* The k-th issuer a token listener accepts: those it lists, or every site issuer. */
static size_t n_accepted(const struct egw_site_policy *p, const struct egw_token_authz_policy *t) {
  return t->n_issuers > 0 ? t->n_issuers : p->n_issuers;
}

static const struct egw_issuer_policy *accepted(const struct egw_site_policy *p,
                                                const struct egw_token_authz_policy *t, size_t k) {
  return t->n_issuers > 0 ? find_issuer(p, t->issuers[k]) : &p->issuers[k];
}

/* A token listener needs issuers to trust, and those it names must be the site's. In
 * remote mode each of them needs an introspection endpoint; otherwise at least one must
 * have keys. The opaque-token issuer must be one it accepts, with an introspection_uri. */
static int check_listener_issuers(const struct egw_site_policy *p, size_t i,
                                  const struct egw__listener_places *places, char **out_err) {
  const struct egw_listener_policy *lp = &p->listeners[i];
  const struct egw_token_authz_policy *t = &lp->authz.token;
  const struct egw__listener_places *pl = &places[i];
  struct egw__cfg_file f = {.path = lp->file, .dir = p->dir, .out_err = out_err};
  if (lp->authz.mode != EGW_AUTHZ_TOKEN)
    return 0;
  if (p->n_issuers == 0)
    return egw__cfg_error(&f, lp->authz.line, "listener.authz",
                          "mode token needs issuers in tokens.issuers (%s)", p->site_file);
  for (size_t k = 0; k < t->n_issuers; k++) {
    if (find_issuer(p, t->issuers[k]) == NULL) {
      return egw__cfg_error(&f, pl->issuer_lines[k], "listener.authz.issuers",
                            "unknown issuer '%s' (not in tokens.issuers of %s)", t->issuers[k],
                            p->site_file);
    }
  }
  if (t->opaque_issuer != NULL) {
    const struct egw_issuer_policy *is = find_issuer(p, t->opaque_issuer);
    size_t k = 0;
    while (t->n_issuers > 0 && k < t->n_issuers && strcmp(t->issuers[k], t->opaque_issuer) != 0)
      k++;
    if (is == NULL)
      return egw__cfg_error(&f, pl->opaque_issuer_line, "listener.authz.opaque_issuer",
                            "unknown issuer '%s' (not in tokens.issuers of %s)", t->opaque_issuer,
                            p->site_file);
    if (t->n_issuers > 0 && k == t->n_issuers)
      return egw__cfg_error(&f, pl->opaque_issuer_line, "listener.authz.opaque_issuer",
                            "issuer '%s' is not in listener.authz.issuers (line %d)",
                            t->opaque_issuer, pl->issuers_line);
    if (is->introspection_uri == NULL)
      return egw__cfg_error(&f, pl->opaque_issuer_line, "listener.authz.opaque_issuer",
                            "issuer '%s' has no introspection_uri (%s:%d): opaque tokens can "
                            "only be introspected",
                            is->id, p->site_file, is->line);
  }
  if (t->remote) {
    for (size_t k = 0; k < n_accepted(p, t); k++) {
      const struct egw_issuer_policy *is = accepted(p, t, k);
      if (is->introspection_uri == NULL)
        return egw__cfg_error(&f, pl->remote_line, "listener.authz.remote",
                              "issuer '%s' has no introspection_uri (%s:%d); with remote: true "
                              "every issuer accepted here needs one",
                              is->id, p->site_file, is->line);
    }
    return 0;
  }
  const struct egw_issuer_policy *first = NULL;
  for (size_t k = 0; k < n_accepted(p, t); k++) {
    const struct egw_issuer_policy *is = accepted(p, t, k);
    if (issuer_has_keys(is))
      return 0;
    if (first == NULL)
      first = is;
  }
  if (t->n_issuers > 0)
    return egw__cfg_error(&f, pl->issuers_line, "listener.authz.issuers",
                          "cannot verify tokens of '%s' locally: it has no keys; use remote: "
                          "true",
                          first->id);
  return egw__cfg_error(&f, lp->authz.line, "listener.authz",
                        "cannot verify tokens of '%s' locally: it has no keys; use remote: true",
                        first->id);
}

struct egw_site_policy *egw_policy_load_dir(const char *dir, char **out_err) {
  struct egw_site_policy *p = NULL;
  char **names = NULL;
  size_t n_names = 0;
  struct egw__listener_places *places = NULL;
  struct egw__site_parse sx = {0};
  int ok = 0;
  *out_err = NULL;
  /* On failure *out_err is set, except after an allocation failure: see the end. */
  if (list_files(dir, &names, &n_names, out_err) != 0)
    goto end;
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    goto end;
  p->drain_timeout_ms = 10000;
  p->token_cache_entries = 100000;
  p->token_negative_ttl_ms = 5000;
  sx.p = p;
  p->dir = strdup(dir);
  p->site_file = egw__cfg_join(dir, "site.yaml");
  if (p->dir == NULL || p->site_file == NULL)
    goto end;
  if (load_site(&sx, out_err) != 0)
    goto end;
  if (n_names == 0) {
    if (asprintf(out_err, "%s: no listener policy files", dir) < 0)
      *out_err = NULL;
    goto end;
  }
  p->listeners = calloc(n_names, sizeof(*p->listeners));
  places = calloc(n_names, sizeof(*places));
  if (p->listeners == NULL || places == NULL)
    goto end;
  for (size_t i = 0; i < n_names; i++) {
    if (load_listener(p, names[i], places, out_err) != 0)
      goto end;
  }
  if (check_local_issuers(p, &sx.places, out_err) != 0)
    goto end;
  for (size_t i = 0; i < p->n_listeners; i++) {
    if (check_listener_issuers(p, i, places, out_err) != 0)
      goto end;
  }
  ok = 1;
end:
  if (!ok) {
    if (*out_err == NULL)
      *out_err = strdup("out of memory");
    egw_site_policy_free(p);
    p = NULL;
  }
  egw__cfg_free_strings(names, n_names);
  for (size_t i = 0; places != NULL && i < n_names; i++)
    free(places[i].issuer_lines);
  free(places);
  free(sx.places.issuer_local_lines);
  return p;
}

void egw_site_policy_free(struct egw_site_policy *p) {
  if (p == NULL)
    return;
  free(p->dir);
  free(p->site_file);
  free(p->site_id);
  egw__cfg_free_strings(p->ca_files, p->n_ca_files);
  egw__cfg_free_strings(p->crl_files, p->n_crl_files);
  free(p->state_dir);
  free(p->audit.file);
  egw__sim_cleanup(p);
  egw__tokens_cleanup(p);
  egw__edge_cleanup(p);
  for (size_t i = 0; i < p->n_listeners; i++)
    egw__listener_cleanup(&p->listeners[i]);
  free(p->listeners);
  free(p);
}
