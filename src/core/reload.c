/* Reload on SIGHUP: build a new site snapshot beside the running one, bind the listeners
 * it adds, then swap in one step of the loop. What survives and what is rebuilt:
 *
 * - Rebuilt from the files: the policies of every listener (TLS, limits, authorization,
 *   mounts), the server certificates and keys, the site's CAs and CRLs, the token issuers
 *   and their keys (ecs.signing_keys included: the first key signs new tokens, every
 *   listed key verifies, JWKS shows them all), the static PSK files (the file realms of
 *   the key store are replaced wholesale: an identity removed from a file stops working).
 * - Carried over, never reset: the role modules and their state (ECS tables, EES
 *   registrations, the EAS's registration, subscriptions, timers, outbound HTTP clients,
 *   the PSK resolver and its providers), the objects they share, the SQLite store, the
 *   token cache's revocation deny-list (its verified tokens are forgotten: each is
 *   checked once more, against the new keys), the keys fetched by providers (site-wide
 *   realm), the introspection cache and the CAs learned at run time. The modules were
 *   initialised once, from the first snapshot (the "base"); every later snapshot borrows
 *   them and holds a reference on the base, so the policy they point into lives as long
 *   as they do. Nothing is started twice, so no timer runs twice, and a registration made
 *   on any connection, old or new, is in the one table every snapshot routes to.
 * - Refused (result "failed", the old snapshot stays): a change of the role sections of
 *   site.yaml (ecs except signing_keys, ees, eas, sim), of site.state_dir, a module
 *   with start/stop hooks mounted that is not running, introspection added; these need
 *   a restart. (A module without such hooks, like health or whoami, is initialised for
 *   the new snapshot and disposed with it.) A role's
 *   outbound clients keep the CAs they started with.
 *
 * Connections keep the snapshot (and listener configuration) they were accepted with. A
 * listener whose address is unchanged keeps its socket, so no connect is refused. */
#include "core/reload.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "auth/issuers.h"
#include "auth/tokcache.h"
#include "auth/token_verify.h"
#include "core/internal.h"
#include "keys/keystore.h"
#include "util/format.h"
#include "util/log.h"

/* A listener a reload added (the initial ones live in egw_server.listeners). */
struct extra_listener {
  struct egw_listener l;
  struct extra_listener *next;
};

struct egw_reload {
  uv_signal_t sighup;
  struct egw_role_digests roles; /* of the base's site.yaml, read at start */
  struct egw_listener **open;    /* the listeners accepting now */
  size_t n_open;
  struct extra_listener *extra;
  /* Snapshots with remote issuers stay until the server ends: a JWKS fetch in flight
   * reports to their issuer set, and the outbound client may use their trust store. */
  struct egw_site **retired;
  size_t n_retired;
};

static int needs_outbound(const struct egw_site_policy *p) {
  for (size_t i = 0; i < p->n_issuers; i++) {
    if (egw_issuer_policy_is_remote(&p->issuers[i]))
      return 1;
  }
  return 0;
}

static void log_failed(const char *err, uint64_t t0) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_ERROR, "reload");
  egw_log_str(&rec, "result", "failed");
  egw_log_str(&rec, "error", err ? err : "out of memory");
  egw_log_int(&rec, "duration_ms", (int64_t)(egw_token_now_ms() - t0));
  egw_log_end(&rec);
}

static void on_extra_closed(uv_handle_t *h) {
  free((struct extra_listener *)h->data); /* data is &x->l, the first member */
}

/* Binds the listeners of |next| that no open listener matches. On failure closes what it
 * bound and returns -1 (bind failures are logged as "listen_failed"). */
static int bind_added(struct egw_server *s, struct egw_site *next, const long *old_index,
                      struct egw_listener **out_l, char **out_err) {
  struct egw_reload *r = s->reload;
  size_t n = next->policy->n_listeners;
  for (size_t j = 0; j < n; j++) {
    out_l[j] = NULL;
    if (old_index[j] >= 0) {
      out_l[j] = r->open[old_index[j]];
      continue;
    }
    struct extra_listener *x = calloc(1, sizeof(*x));
    if (x == NULL)
      goto fail;
    x->l.server = s;
    x->l.cfg = &next->listeners[j];
    x->l.tcp.data = &x->l; /* == x: the listener is the first member */
    uv_tcp_init(&s->loop, &x->l.tcp);
    if (egw__server_bind_listener(s, &x->l) != 0) {
      const struct egw_listener_policy *lp = &next->policy->listeners[j];
      *out_err =
          egw_format("%s:%d: listener.listen: cannot listen on %s", lp->file, lp->line, x->l.addr);
      uv_close((uv_handle_t *)&x->l.tcp, on_extra_closed);
      goto fail;
    }
    out_l[j] = &x->l;
  }
  return 0;
fail:
  for (size_t j = 0; j < n; j++) {
    if (out_l[j] != NULL && old_index[j] < 0) {
      struct extra_listener *x = (struct extra_listener *)out_l[j];
      uv_close((uv_handle_t *)&x->l.tcp, on_extra_closed);
    }
  }
  if (*out_err == NULL)
    *out_err = egw_format("out of memory");
  return -1;
}

/* Builds and checks the next snapshot; NULL with *out_err when it cannot be used. */
static struct egw_site *build_next(struct egw_server *s, char **out_err) {
  struct egw_site *cur = s->site;
  struct egw_site *base = cur->base ? cur->base : cur;
  struct egw_site_policy *policy = egw_policy_load_dir(cur->policy->dir, out_err);
  if (policy == NULL)
    return NULL;
  if (strcmp(policy->state_dir, base->policy->state_dir) != 0) {
    *out_err = egw_format("%s: site.state_dir: changed from '%s' to '%s'; the store stays open "
                          "across a reload, so moving it needs a restart",
                          policy->site_file, base->policy->state_dir, policy->state_dir);
    egw_site_policy_free(policy);
    return NULL;
  }
  struct egw_role_digests now;
  if (egw__reload_digest_roles(policy->site_file, &now, out_err) != 0) {
    egw_site_policy_free(policy);
    return NULL;
  }
  *out_err = egw__reload_compare_roles(&s->reload->roles, &now, policy->site_file);
  if (*out_err != NULL) {
    egw_site_policy_free(policy);
    return NULL;
  }
  return egw__site_new_reload(policy, base, out_err);
}

static void retire_or_unref(struct egw_reload *r, struct egw_site *old) {
  if (needs_outbound(old->policy)) {
    struct egw_site **grown = realloc(r->retired, (r->n_retired + 1) * sizeof(*grown));
    if (grown != NULL) {
      grown[r->n_retired++] = old;
      r->retired = grown;
      return;
    }
    /* Out of memory: leak the snapshot rather than risk a fetch reporting to freed keys. */
    return;
  }
  egw_site_unref(old);
}

static void reload(struct egw_server *s) {
  struct egw_reload *r = s->reload;
  uint64_t t0 = egw_token_now_ms();
  char *err = NULL;
  struct egw_site *next = build_next(s, &err);
  if (next == NULL) {
    log_failed(err, t0);
    free(err);
    return;
  }
  size_t n = next->policy->n_listeners, removed = 0;
  long *old_index = calloc(n ? n : 1, sizeof(*old_index));
  struct egw_listener **open = calloc(n ? n : 1, sizeof(*open));
  const struct egw_listener_policy **cur = calloc(r->n_open ? r->n_open : 1, sizeof(*cur));
  if (old_index == NULL || open == NULL || cur == NULL)
    goto fail;
  for (size_t i = 0; i < r->n_open; i++)
    cur[i] = r->open[i]->cfg->policy;
  egw__reload_match(cur, r->n_open, next->policy->listeners, n, old_index, &removed);
  if (bind_added(s, next, old_index, open, &err) != 0)
    goto fail;
  /* Nothing can fail from here on: commit. The file realms of the key store first, so
   * that the new listeners see the new files' keys from their first handshake. */
  if (egw_keystore_replace_scoped(next->keys, next->psk_files) != 0) {
    err = egw_format("out of memory replacing the PSK files' keys");
    for (size_t j = 0; j < n; j++) {
      if (old_index[j] < 0) {
        struct extra_listener *x = (struct extra_listener *)open[j];
        uv_close((uv_handle_t *)&x->l.tcp, on_extra_closed);
      }
    }
    goto fail;
  }
  next->base->tokens.issuers = next->issuers_owned; /* the modules sign with the new keys */
  /* Verified tokens are checked again against the new keys (a removed key stops working
   * at once); the revocation deny-list stays. */
  egw_tokcache_forget_verified(next->tokens.cache);
  /* Listeners no longer in the policies stop accepting; their connections go on. */
  for (size_t i = 0; i < r->n_open; i++) {
    int kept = 0;
    for (size_t j = 0; j < n && !kept; j++)
      kept = old_index[j] == (long)i;
    if (!kept)
      uv_close((uv_handle_t *)&r->open[i]->tcp, NULL);
  }
  size_t added = 0;
  for (size_t j = 0; j < n; j++) {
    open[j]->cfg = &next->listeners[j];
    if (old_index[j] < 0) {
      struct extra_listener *x = (struct extra_listener *)open[j];
      x->next = r->extra;
      r->extra = x;
      added++;
    }
  }
  struct egw_site *old = s->site;
  next->loop = &s->loop;
  next->ready = 1;
  s->site = next; /* the server's reference moves to the new snapshot */
  free(r->open);
  r->open = open;
  r->n_open = n;
  open = NULL;
  if (egw__outbound_adopt(s) != 0)
    egw_log_msg(EGW_LOG_WARN, "reload_outbound_failed", "remote issuer keys will not be fetched");
  retire_or_unref(r, old);

  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "reload");
  egw_log_str(&rec, "result", "ok");
  egw_log_str(&rec, "site", next->policy->site_id);
  egw_log_int(&rec, "listeners_added", (int64_t)added);
  egw_log_int(&rec, "listeners_removed", (int64_t)removed);
  egw_log_int(&rec, "listeners_kept", (int64_t)(n - added));
  egw_log_int(&rec, "duration_ms", (int64_t)(egw_token_now_ms() - t0));
  egw_log_end(&rec);
  free(old_index);
  free(cur);
  return;
fail:
  log_failed(err, t0);
  free(err);
  free(old_index);
  free(open);
  free(cur);
  egw_site_unref(next);
}

static void on_sighup(uv_signal_t *h, int signum) {
  (void)signum;
  struct egw_server *s = h->data;
  if (!s->draining)
    reload(s);
}

int egw__reload_init(struct egw_server *s) {
  struct egw_reload *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return -1;
  char *err = NULL;
  if (egw__reload_digest_roles(s->site->policy->site_file, &r->roles, &err) != 0) {
    /* The loader just parsed this file: only a file changed under us gets here. */
    egw_log_msg(EGW_LOG_ERROR, "reload_unavailable", "%s", err ? err : "?");
    free(err);
    free(r);
    return -1;
  }
  r->open = calloc(s->n_listeners ? s->n_listeners : 1, sizeof(*r->open));
  if (r->open == NULL) {
    free(r);
    return -1;
  }
  for (size_t i = 0; i < s->n_listeners; i++)
    r->open[i] = &s->listeners[i];
  r->n_open = s->n_listeners;
  s->reload = r;
  uv_signal_init(&s->loop, &r->sighup);
  r->sighup.data = s;
  uv_signal_start(&r->sighup, on_sighup, SIGHUP);
  return 0;
}

void egw__reload_stop(struct egw_server *s) {
  struct egw_reload *r = s->reload;
  if (r == NULL || uv_is_closing((uv_handle_t *)&r->sighup))
    return;
  uv_close((uv_handle_t *)&r->sighup, NULL);
  signal(SIGHUP, SIG_IGN); /* the default action would kill a draining server */
  for (struct extra_listener *x = r->extra; x; x = x->next) {
    if (!uv_is_closing((uv_handle_t *)&x->l.tcp))
      uv_close((uv_handle_t *)&x->l.tcp, NULL);
  }
}

void egw__reload_free(struct egw_server *s) {
  struct egw_reload *r = s->reload;
  if (r == NULL)
    return;
  while (r->extra) {
    struct extra_listener *x = r->extra;
    r->extra = x->next;
    free(x);
  }
  for (size_t i = 0; i < r->n_retired; i++)
    egw_site_unref(r->retired[i]);
  free(r->retired);
  free(r->open);
  free(r);
  s->reload = NULL;
}
