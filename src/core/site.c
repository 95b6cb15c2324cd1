#include "core/audit.h"
#include "core/site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/introspection.h"
#include "auth/issuers.h"
#include "auth/tokcache.h"
#include "http/router.h"
#include "keys/keystore.h"
#include "keys/psk_resolver.h"
#include "keys/truststore.h"
#include "roles/key_providers.h"
#include "roles/registry.h"
#include "store/store.h"
#include "tls/tls.h"
#include "util/errors.h"
#include "util/format.h"

int egw_site_ready(const struct egw_site *site) { return site->ready; }

struct egw_truststore *egw_site_learned_trust(struct egw_site *site) {
  return site->learned_trust;
}

/* The trust store a listener verifies clients with: its own when a module on it learns
 * client CAs at run time, so that what it learns widens no other listener's trust. */
static struct egw_truststore *listener_trust(struct egw_site *site,
                                             const struct egw_listener_policy *lp, char **out_err) {
  int learns = 0;
  for (size_t m = 0; m < lp->n_mount; m++) {
    const struct egw_role_ops *ops = egw_role_find(lp->mount[m]);
    learns |= ops != NULL && ops->learns_client_cas;
  }
  if (!learns || site->trust == NULL)
    return site->trust;
  if (site->learned_trust == NULL && site->base && site->base->learned_trust)
    site->learned_trust = site->base->learned_trust;
  if (site->learned_trust == NULL) {
    const struct egw_site_policy *p = site->policy;
    site->learned_trust =
        egw_truststore_new((const char *const *)p->ca_files, p->n_ca_files,
                           (const char *const *)p->crl_files, p->n_crl_files, out_err);
  }
  return site->learned_trust;
}

void *egw_site_shared(struct egw_site *site, const char *name,
                      void *(*create)(struct egw_site *site, char **out_err),
                      void (*destroy)(void *obj), char **out_err) {
  for (struct egw_site_shared *s = site->shared; s; s = s->next) {
    if (strcmp(s->name, name) == 0)
      return s->obj;
  }
  struct egw_site_shared *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    *out_err = egw_format("out of memory");
    return NULL;
  }
  s->obj = create(site, out_err);
  if (s->obj == NULL) {
    free(s);
    return NULL;
  }
  s->name = name;
  s->destroy = destroy;
  s->next = site->shared;
  site->shared = s;
  return s->obj;
}

int egw_site_roles_start(struct egw_site *site, uv_loop_t *loop) {
  /* The PSK resolver first: a module's start may already ask it for keys. */
  if (site->psk && egw_psk_resolver_start(site->psk, loop) != 0)
    return -1;
  for (size_t i = 0; i < site->n_roles; i++) {
    const struct egw_role_ops *ops = site->roles[i].ops;
    if (ops->start) {
      int rc = ops->start(site->roles[i].state, loop);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

void egw_site_roles_stop(struct egw_site *site) {
  /* Fetches in flight end first (their waiters are answered while the modules live). */
  egw_psk_resolver_stop(site->psk);
  for (size_t i = 0; i < site->n_roles; i++) {
    if (site->roles[i].ops->stop)
      site->roles[i].ops->stop(site->roles[i].state);
  }
}

/* Returns the site's instance of module |ops|, initializing it on first use. */
static struct egw_role_instance *role_instance(struct egw_site *site,
                                               const struct egw_role_ops *ops, char **out_err) {
  for (size_t i = 0; i < site->n_roles; i++) {
    if (site->roles[i].ops == ops)
      return &site->roles[i];
  }
  if (site->base && (ops->start || ops->stop)) {
    /* A reload carries the running modules over; it does not start one (a module with
     * start/stop holds timers, calls or registrations). A module without is made here. */
    *out_err =
        egw_format("module '%s' is not running; mounting a new module needs a restart", ops->name);
    return NULL;
  }
  struct egw_role_instance *inst = &site->roles[site->n_roles];
  inst->ops = ops;
  inst->state = NULL;
  if (ops->init && ops->init(site, &inst->state, out_err) != 0)
    return NULL;
  site->n_roles++;
  return inst;
}

static int build_listener(struct egw_site *site, const struct egw_listener_policy *lp,
                          struct egw_listener_cfg *cfg, char **out_err) {
  cfg->policy = lp;
  cfg->router = egw_router_new();
  if (cfg->router == NULL)
    goto nomem;
  for (size_t m = 0; m < lp->n_mount; m++) {
    const struct egw_role_ops *ops = egw_role_find(lp->mount[m]);
    if (ops == NULL) {
      char names[256];
      egw_role_names(names, sizeof(names));
      *out_err = egw_format("%s:%d: listener.mount: unknown module '%s' (known: %s)", lp->file,
                            lp->mount_line, lp->mount[m], names);
      return EGW_ERR_POLICY;
    }
    char *role_err = NULL;
    struct egw_role_instance *inst = role_instance(site, ops, &role_err);
    if (inst == NULL) {
      *out_err = egw_format("%s:%d: listener.mount: %s: %s", lp->file, lp->mount_line, ops->name,
                            role_err ? role_err : "initialization failed");
      free(role_err);
      return EGW_ERR_POLICY;
    }
    const char *conflict = NULL;
    int rc = egw_router_add(cfg->router, ops, inst->state, &conflict);
    if (rc == EGW_ERR_POLICY) {
      *out_err = egw_format("%s:%d: listener.mount: %s: a route is already served by %s", lp->file,
                            lp->mount_line, ops->name, conflict ? conflict : "?");
      return rc;
    }
    if (rc != 0)
      goto nomem;
  }
  cfg->authz = egw_authz_provider_for(lp->authz.mode);
  if (cfg->authz->init && cfg->authz->init(lp, &site->tokens, &cfg->authz_state, out_err) != 0)
    return EGW_ERR_POLICY;
  if (egw_audit_sink_get(lp->audit.line ? &lp->audit : &site->policy->audit,
                         lp->audit.line ? lp->file : site->policy->site_file, &cfg->audit,
                         &cfg->audit_off, out_err) != 0)
    return EGW_ERR_POLICY;
  if (lp->tls.mode == EGW_TLS_MTLS && site->trust == NULL) {
    *out_err = egw_format("%s:%d: listener.tls.mode: mtls needs CA certificates in %s "
                          "(site.trust.ca)",
                          lp->file, lp->tls.line, site->policy->site_file);
    return EGW_ERR_POLICY;
  }
  struct egw_truststore *trust = listener_trust(site, lp, out_err);
  if (site->trust != NULL && trust == NULL)
    return EGW_ERR_POLICY;
  cfg->tls = egw_tls_ctx_new(lp, trust, site->keys, out_err);
  if (cfg->tls == NULL)
    return EGW_ERR_POLICY;
  egw_tls_ctx_set0_psk_resolver(cfg->tls, site->psk); /* direct PSK handshakes may wait */
  return 0;
nomem:
  *out_err = egw_format("%s:%d: listener: out of memory", lp->file, lp->line);
  return EGW_ERR_NOMEM;
}

/* Static PSK files are loaded once each, into the realm named by their path. */
static int load_psk_files(struct egw_site *site, char **out_err) {
  const struct egw_site_policy *p = site->policy;
  for (size_t i = 0; i < p->n_listeners; i++) {
    const char *file = p->listeners[i].tls.psk_file;
    if (file == NULL)
      continue;
    int seen = 0;
    for (size_t k = 0; k < i && !seen; k++)
      seen = p->listeners[k].tls.psk_file && strcmp(p->listeners[k].tls.psk_file, file) == 0;
    if (seen)
      continue;
    int rc = egw_keystore_load_file(site->psk_files ? site->psk_files : site->keys, file, out_err);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static void on_stored_revocation(void *arg, const char *jti, int64_t exp_s) {
  egw_tokcache_revoke(arg, jti, exp_s);
}

/* The token cache, the trusted issuers' keys and, for an ECS, the durable revocations
 * (loaded into the cache before the first request). */
static int build_token_services(struct egw_site *site, char **out_err) {
  const struct egw_site_policy *p = site->policy;
  site->tokens.cache = site->base
                           ? site->base->tokens.cache
                           : egw_tokcache_new(p->token_cache_entries, p->token_negative_ttl_ms);
  if (site->tokens.cache == NULL) {
    *out_err = egw_format("%s: out of memory for the token cache", p->site_file);
    return EGW_ERR_NOMEM;
  }
  int introspected = 0;
  for (size_t i = 0; i < p->n_issuers; i++) {
    const struct egw_issuer_policy *ip = &p->issuers[i];
    if (egw_issuer_policy_is_remote(ip) && site->trust == NULL) {
      *out_err = egw_format("%s:%d: tokens.issuers[%zu]: calling an issuer over HTTPS needs the "
                            "site's CA certificates (site.trust.ca) to verify it",
                            p->site_file, ip->line, i);
      return EGW_ERR_POLICY;
    }
    introspected |= ip->introspection_uri != NULL;
  }
  if (introspected && site->base) {
    site->tokens.introspection = site->base->tokens.introspection;
    if (site->tokens.introspection == NULL) {
      *out_err = egw_format("%s: tokens.issuers: introspection_uri was not configured at start; "
                            "adding it needs a restart",
                            p->site_file);
      return EGW_ERR_POLICY;
    }
  } else if (introspected) {
    site->tokens.introspection =
        egw_introspection_new(p->token_cache_entries, p->token_negative_ttl_ms);
    if (site->tokens.introspection == NULL) {
      *out_err = egw_format("%s: out of memory", p->site_file);
      return EGW_ERR_NOMEM;
    }
  }
  if (p->n_issuers > 0 || p->ecs != NULL) {
    site->tokens.issuers = egw_issuers_new(p, out_err);
    if (site->tokens.issuers == NULL)
      return EGW_ERR_POLICY;
    site->issuers_owned = site->tokens.issuers;
  }
  if (p->ecs == NULL && p->ees == NULL)
    return 0;
  if (site->base) {
    /* Same state_dir (checked by the reload): the durable state and the revocations
     * already in the shared cache carry over. */
    site->store = site->base->store;
    return 0;
  }
  site->store = egw_store_open(p->state_dir, out_err);
  if (site->store == NULL)
    return EGW_ERR_IO;
  if (egw_store_load_revocations(site->store, egw_token_now_s(), on_stored_revocation,
                                 site->tokens.cache) != 0) {
    *out_err = egw_format("%s: cannot read the revocations", p->state_dir);
    return EGW_ERR_IO;
  }
  return 0;
}

static struct egw_site *site_build(struct egw_site_policy *policy, struct egw_site *base,
                                   char **out_err) {
  struct egw_site *site = calloc(1, sizeof(*site));
  if (site == NULL) {
    egw_site_policy_free(policy);
    *out_err = strdup("out of memory");
    return NULL;
  }
  site->refs = 1;
  site->policy = policy;
  if (base) {
    egw_site_up_ref(base);
    site->base = base;
    site->n_roles = site->n_base_roles = base->n_roles;
    site->shared = base->shared;
    site->keys = base->keys;
    site->psk = base->psk;
    site->psk_files = egw_keystore_new();
  }
  size_t n = policy->n_listeners;
  size_t max_roles = 0;
  for (size_t i = 0; i < n; i++)
    max_roles += policy->listeners[i].n_mount;
  site->listeners = calloc(n ? n : 1, sizeof(*site->listeners));
  size_t n_base_roles = base ? base->n_roles : 0;
  site->roles =
      calloc(max_roles + n_base_roles ? max_roles + n_base_roles : 1, sizeof(*site->roles));
  if (base && site->roles)
    memcpy(site->roles, base->roles, n_base_roles * sizeof(*site->roles));
  if (base == NULL) {
    site->keys = egw_keystore_new();
    site->psk = site->keys ? egw_psk_resolver_new(site->keys) : NULL;
  }
  if (site->listeners == NULL || site->roles == NULL || site->keys == NULL || site->psk == NULL ||
      (base && site->psk_files == NULL)) {
    *out_err = strdup("out of memory");
    goto fail;
  }
  if (policy->n_ca_files > 0) {
    site->trust =
        egw_truststore_new((const char *const *)policy->ca_files, policy->n_ca_files,
                           (const char *const *)policy->crl_files, policy->n_crl_files, out_err);
    if (site->trust == NULL)
      goto fail;
  }
  if (load_psk_files(site, out_err) != 0)
    goto fail;
  if (build_token_services(site, out_err) != 0)
    goto fail;
  for (size_t i = 0; i < n; i++) {
    if (build_listener(site, &policy->listeners[i], &site->listeners[i], out_err) != 0)
      goto fail;
  }
  /* The providers of a reload's base keep running (the role sections are unchanged). */
  if (base == NULL && egw_key_providers_add(site, out_err) != 0)
    goto fail;
  return site;
fail:
  egw_site_unref(site);
  return NULL;
}

struct egw_site *egw_site_new(struct egw_site_policy *policy, char **out_err) {
  return site_build(policy, NULL, out_err);
}

struct egw_site *egw__site_new_reload(struct egw_site_policy *policy, struct egw_site *base,
                                      char **out_err) {
  return site_build(policy, base, out_err);
}

void egw_site_up_ref(struct egw_site *site) { site->refs++; }

void egw_site_unref(struct egw_site *site) {
  if (site == NULL || --site->refs > 0)
    return;
  if (site->listeners) {
    for (size_t i = 0; i < site->policy->n_listeners; i++) {
      struct egw_listener_cfg *cfg = &site->listeners[i];
      egw_tls_ctx_free(cfg->tls);
      egw_router_free(cfg->router);
      if (cfg->authz && cfg->authz->dispose)
        cfg->authz->dispose(cfg->authz_state);
    }
  }
  if (site->base) {
    /* Borrowed from the base (see site.h); the base frees them after its own roles. */
    struct egw_site *base = site->base;
    if (base->tokens.issuers == site->issuers_owned)
      base->tokens.issuers = base->issuers_owned;
    egw_issuers_free(site->issuers_owned);
    egw_keystore_free(site->psk_files);
    egw_truststore_free(site->trust);
    if (site->learned_trust != base->learned_trust)
      egw_truststore_free(site->learned_trust);
    for (size_t i = site->n_base_roles; i < site->n_roles; i++) {
      if (site->roles[i].ops->dispose)
        site->roles[i].ops->dispose(site->roles[i].state);
    }
    free(site->roles);
    while (site->shared != base->shared) { /* made by modules this reload initialised */
      struct egw_site_shared *sh = site->shared;
      site->shared = sh->next;
      if (sh->destroy)
        sh->destroy(sh->obj);
      free(sh);
    }
    egw_site_policy_free(site->policy);
    free(site->listeners);
    free(site);
    egw_site_unref(base);
    return;
  }
  for (size_t i = 0; i < site->n_roles; i++) {
    if (site->roles[i].ops->dispose)
      site->roles[i].ops->dispose(site->roles[i].state);
  }
  while (site->shared) {
    struct egw_site_shared *s = site->shared;
    site->shared = s->next;
    if (s->destroy)
      s->destroy(s->obj);
    free(s);
  }
  free(site->roles);
  free(site->listeners);
  egw_psk_resolver_free(site->psk);
  egw_keystore_free(site->keys);
  egw_store_close(site->store);
  egw_issuers_free(site->issuers_owned);
  egw_tokcache_free(site->tokens.cache);
  egw_introspection_free(site->tokens.introspection);
  egw_truststore_free(site->trust);
  egw_truststore_free(site->learned_trust);
  egw_site_policy_free(site->policy);
  free(site);
}
