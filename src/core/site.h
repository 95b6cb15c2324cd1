/* The site: one immutable snapshot of everything the policies say, with the services
 * built from them (trust store, key store, TLS contexts, routers, authorization, role
 * states). Reference-counted: connections hold the snapshot they started with, so a
 * reload can swap in a new one without touching them. */
#ifndef EGW_CORE_SITE_H
#define EGW_CORE_SITE_H

#include <stddef.h>
#include <uv.h>

#include "auth/authz.h"
#include "auth/token_verify.h"
#include "config/policy.h"
#include "edgegw/role.h"

struct egw_router;
struct egw_tls_ctx;
struct egw_truststore;
struct egw_keystore;
struct egw_psk_resolver;
struct egw_issuer_set;
struct egw_tokcache;
struct egw_store;
struct egw_audit_sink;

/* One object shared by the modules of a role (include/edgegw/role.h). */
struct egw_site_shared {
  const char *name;
  void *obj;
  void (*destroy)(void *obj);
  struct egw_site_shared *next;
};

/* One listener's runtime configuration, built from its policy. */
struct egw_listener_cfg {
  const struct egw_listener_policy *policy;
  struct egw_tls_ctx *tls;
  struct egw_router *router;
  const struct egw_authz_provider *authz;
  void *authz_state;
  struct egw_audit_sink *audit; /* core/audit.h; NULL: the log (or nothing: audit_off) */
  int audit_off;
};

/* A mounted role module and its state; one per module name per site. */
struct egw_role_instance {
  const struct egw_role_ops *ops;
  void *state;
};

struct egw_site {
  int refs;
  struct egw_site_policy *policy; /* owned */
  struct egw_truststore *trust;   /* NULL when the site names no CA */
  /* The trust store of listeners mounting a module that learns client CAs at run time
   * (role.h learns_client_cas): the same files, a separate store. NULL when none. */
  struct egw_truststore *learned_trust;
  struct egw_keystore *keys;
  /* Fills |keys| asynchronously (keys/psk_resolver.h); modules that configure a key
   * provider (AUSF, NEF, AAnF, KECS) add it in their init hook. */
  struct egw_psk_resolver *psk;
  /* The token cache, the trusted issuers (NULL when none) and the introspection calls
   * (NULL when no issuer has an introspection_uri), owned by the site; authz providers
   * and roles see them through this. */
  struct egw_token_env tokens;
  struct egw_store *store;            /* durable state; NULL without an ECS or an EES */
  struct egw_listener_cfg *listeners; /* policy->n_listeners entries */
  struct egw_role_instance *roles;
  size_t n_roles;
  struct egw_site_shared *shared; /* egw_site_shared objects, newest first */
  /* Reload (core/reload.c): a snapshot built by a reload borrows the long-lived services
   * of |base|, the snapshot the server started with (roles, shared objects, store, token
   * cache, key store, PSK resolver, introspection cache, learned trust): a field equal to
   * the base's is borrowed, not owned. NULL for the first snapshot. */
  struct egw_site *base;
  /* roles[0 .. n_base_roles) are the base's instances (borrowed); the others are modules
   * without start or stop hooks (health, whoami) first mounted by this reload. */
  size_t n_base_roles;
  /* The issuer set this snapshot built and frees. tokens.issuers is the same pointer,
   * except on a base whose roles must sign with the newest keys: a reload points the
   * base's tokens.issuers at the new snapshot's set. */
  struct egw_issuer_set *issuers_owned;
  /* The keys of the static PSK files, read by a reload and moved into |keys| when the
   * new snapshot is committed (egw_keystore_replace_scoped); NULL otherwise. */
  struct egw_keystore *psk_files;
  int ready;       /* set by the server once every listener is bound */
  uv_loop_t *loop; /* set by the server before the first request; for asynchronous work */
};

/* egw_site_new builds a site from |policy| and takes ownership of it (freed on failure
 * too). On failure returns NULL with *out_err (malloc'd, "file:line: key: message"). */
struct egw_site *egw_site_new(struct egw_site_policy *policy, char **out_err);

/* egw__site_new_reload builds a snapshot from |policy| (taken, freed on failure) that
 * carries over the long-lived services of |base| (see egw_site.base); core/reload.c
 * checks first that the role sections did not change. NULL with *out_err on failure. */
struct egw_site *egw__site_new_reload(struct egw_site_policy *policy, struct egw_site *base,
                                      char **out_err);

/* egw_site_roles_start runs every module's start hook (role.h); returns 0 or the first
 * failure. egw_site_roles_stop runs every stop hook. */
int egw_site_roles_start(struct egw_site *site, uv_loop_t *loop);
void egw_site_roles_stop(struct egw_site *site);

/* egw_site_up_ref takes a reference; egw_site_unref drops one and frees at zero. */
void egw_site_up_ref(struct egw_site *site);
void egw_site_unref(struct egw_site *site);

#endif
