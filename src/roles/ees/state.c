/* The EES's shared state: its tables (EEC registrations, EAS registrations, EEC contexts
 * pushed here; roles/records.h, loaded at init, expired records dropped by their purge
 * timers), the HTTP client for the ECS and peer EESes, the token cache and the EDGE-6
 * registration. A change is answered only once its write is durable. */
#include <stdlib.h>
#include <string.h>

#include "auth/token_verify.h"
#include "http/client.h"
#include "keys/truststore.h"
#include "roles/ees/internal.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

/* How often expired tokens are dropped from the cache. */
#define TOKEN_PURGE_MS 10000

static const char *const store_kinds[EGW__EES_N_KINDS] = {"ees.eec", "ees.eas", "ees.ctx"};

int64_t egw__ees_now_s(void) { return egw_token_now_s(); }

struct egw_record *egw__ees_find(struct egw__ees *e, enum egw__ees_kind kind, const char *id) {
  return egw__records_find(&e->tables[kind], id, egw__ees_now_s());
}

const struct egw_ees_peer_policy *egw__ees_peer(const struct egw__ees *e, const char *id) {
  for (size_t i = 0; i < e->policy->n_peers; i++) {
    if (strcmp(e->policy->peers[i].id, id) == 0)
      return &e->policy->peers[i];
  }
  return NULL;
}

/* ---- tables ----------------------------------------------------------------------------- */

static const char *eec_owner(const json_t *doc) {
  return json_string_value(json_object_get(doc, "eecId"));
}

static const char *eas_owner(const json_t *doc) {
  return json_string_value(json_object_get(json_object_get(doc, "easProf"), "easId"));
}

static const char *ctx_owner(const json_t *doc) {
  return json_string_value(json_object_get(json_object_get(doc, "eecCntx"), "eecId"));
}

/* The EAS set is this EES's profile at its ECS: any change re-registers (ecs_reg.c). */
static void on_eas_change(void *arg, enum egw_record_change change, const struct egw_record *rec,
                          const json_t *before) {
  egw__ees_eas_set_changed(arg);
}

static void destroy(void *obj) {
  struct egw__ees *e = obj;
  if (e == NULL)
    return;
  for (int k = 0; k < EGW__EES_N_KINDS; k++)
    egw__records_cleanup(&e->tables[k]);
  egw__ees_tokens_free(e);
  egw__ees_ecs_reg_free(e);
  egw_truststore_free(e->outbound_trust);
  free(e);
}

static void *create(struct egw_site *site, char **out_err) {
  const struct egw_site_policy *p = site->policy;
  if (p->ees == NULL) {
    *out_err = egw_format("the EES modules need the \"ees\" section of %s", p->site_file);
    return NULL;
  }
  if (site->store == NULL) {
    *out_err = egw_format("the EES modules need the site's store (state_dir)");
    return NULL;
  }
  if ((p->ees->ecs_url || p->ees->n_peers) && site->trust == NULL) {
    *out_err = egw_format("%s:%d: ees: calling the ECS or peer EESes over HTTPS needs the site's "
                          "CA certificates (site.trust.ca)",
                          p->site_file, p->ees->line);
    return NULL;
  }
  struct egw__ees *e = calloc(1, sizeof(*e));
  if (e == NULL) {
    *out_err = egw_format("out of memory");
    return NULL;
  }
  e->site = site;
  e->policy = p->ees;
  static const egw_records_owner_fn owners[EGW__EES_N_KINDS] = {eec_owner, eas_owner, ctx_owner};
  for (int k = 0; k < EGW__EES_N_KINDS; k++) {
    if (egw__records_init(&e->tables[k], site, store_kinds[k], owners[k], out_err) != 0) {
      destroy(e);
      return NULL;
    }
  }
  egw__records_observe(&e->tables[EGW__EES_EAS], on_eas_change, e);
  return e;
}

struct egw__ees *egw__ees_get(struct egw_site *site, char **out_err) {
  return egw_site_shared(site, "ees", create, destroy, out_err);
}

/* ---- start, stop ------------------------------------------------------------------------- */

static void on_token_timer(uv_timer_t *t) { egw__ees_tokens_purge(t->data); }

int egw__ees_start(struct egw__ees *e, uv_loop_t *loop) {
  if (e->started)
    return 0;
  e->started = 1;
  /* Handles first: egw__ees_stop closes them whatever failed below. */
  uv_timer_init(loop, &e->token_timer);
  e->token_timer.data = e;
  uv_timer_start(&e->token_timer, on_token_timer, TOKEN_PURGE_MS, TOKEN_PURGE_MS);
  uv_timer_init(loop, &e->reg.timer); /* ecs_reg.c's */
  e->reg.timer.data = e;
  for (int k = 0; k < EGW__EES_N_KINDS; k++) {
    int rc = egw__records_start(&e->tables[k], loop);
    if (rc != 0) {
      egw_log_msg(EGW_LOG_ERROR, "ees_start_failed", "purge timer: %s", egw_strerror(rc));
      return -1;
    }
  }
  if (e->policy->ecs_url || e->policy->n_peers) {
    const struct egw_site_policy *p = e->site->policy;
    char *err = NULL;
    e->outbound_trust =
        egw_truststore_new((const char *const *)p->ca_files, p->n_ca_files, NULL, 0, &err);
    struct egw_http_client_config cfg = {
        .trust = e->outbound_trust ? egw_truststore_get0_store(e->outbound_trust) : NULL,
        .client_cert_file = e->policy->client_cert,
        .client_key_file = e->policy->client_key,
    };
    if (e->outbound_trust)
      e->http = egw_http_client_new(loop, &cfg, &err);
    if (e->http == NULL) {
      egw_log_msg(EGW_LOG_ERROR, "ees_start_failed", "%s", err ? err : "out of memory");
      free(err);
      return -1;
    }
  }
  egw__ees_ecs_reg_start(e);
  return 0;
}

void egw__ees_stop(struct egw__ees *e) {
  if (!e->started || e->stopped)
    return;
  e->stopped = 1;
  egw__ees_ecs_reg_stop(e);
  /* Calls in flight complete now with "cancelled": requests waiting on them answer 503. */
  struct egw_http_client *http = e->http;
  e->http = NULL;
  egw_http_client_free(http);
  uv_close((uv_handle_t *)&e->token_timer, NULL);
  for (int k = 0; k < EGW__EES_N_KINDS; k++)
    egw__records_stop(&e->tables[k]);
}

/* ---- write-through ----------------------------------------------------------------------- */

static void log_written(void *arg, enum egw_record_change change, int status,
                        const struct egw_record *rec) {
  const struct egw_records *t = arg;
  struct egw_log_record lr;
  egw_log_begin(&lr, status == 0 ? EGW_LOG_INFO : EGW_LOG_ERROR,
                change == EGW_RECORD_DELETED ? "ees_deleted" : "ees_stored");
  egw_log_str(&lr, "kind", t->kind);
  egw_log_str(&lr, "id", rec ? rec->id : NULL);
  egw_log_bool(&lr, "durable", status == 0);
  egw_log_end(&lr);
}

enum egw_handler_result egw__ees_commit(struct egw__ees *e, enum egw__ees_kind kind,
                                        struct egw_exchange *x,
                                        const struct egw_records_commit *c) {
  struct egw_records *t = &e->tables[kind];
  struct egw_records_commit w = *c;
  w.failed = "the change could not be stored";
  w.written = log_written;
  w.arg = t;
  int rc = egw__records_commit(t, x, &w);
  if (rc == 0)
    return EGW_AGAIN;
  egw_log_msg(EGW_LOG_ERROR, "ees_store_failed", "cannot start writing %s: %s", t->kind,
              egw_strerror(rc));
  return EGW_FAILED;
}

/* ---- module plumbing --------------------------------------------------------------------- */

int egw__ees_module_init(struct egw_site *site, void **out_state, char **out_err) {
  struct egw__ees *e = egw__ees_get(site, out_err);
  if (e == NULL)
    return -1;
  *out_state = e;
  return 0;
}

int egw__ees_module_start(void *state, uv_loop_t *loop) { return egw__ees_start(state, loop); }

void egw__ees_module_stop(void *state) { egw__ees_stop(state); }
