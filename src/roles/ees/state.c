/* The EES's shared state: its registrations (EECs, EASes) and relocated EEC contexts,
 * kept in memory and written through to the site's store (kinds "ees.eec", "ees.eas",
 * "ees.ctx"). Loaded at init, expired records dropped there and by a periodic purge. A
 * change is answered only once its write is durable. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/client.h"
#include "keys/truststore.h"
#include "roles/ees/internal.h"
#include "store/store.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

/* How often expired registrations, contexts and tokens are dropped. */
#define PURGE_INTERVAL_MS 10000

static const char *const store_kinds[EGW__EES_N_KINDS] = {"ees.eec", "ees.eas", "ees.ctx"};

const char *egw__ees_store_kind(enum egw__ees_kind kind) { return store_kinds[kind]; }

int64_t egw__ees_now_s(void) { return (int64_t)time(NULL); }

static void rec_free(struct egw__ees_rec *r) {
  if (r == NULL)
    return;
  free(r->id);
  json_decref(r->doc);
  free(r);
}

static int expired(const struct egw__ees_rec *r, int64_t now_s) {
  return r->exp_s != 0 && r->exp_s <= now_s;
}

struct egw__ees_rec *egw__ees_find(struct egw__ees *e, enum egw__ees_kind kind, const char *id) {
  struct egw__ees_rec *r = egw__ees_map_get(&e->tables[kind], id);
  if (r == NULL || !r->committed || expired(r, egw__ees_now_s()))
    return NULL;
  return r;
}

const struct egw_ees_peer_policy *egw__ees_peer(const struct egw__ees *e, const char *id) {
  for (size_t i = 0; i < e->policy->n_peers; i++) {
    if (strcmp(e->policy->peers[i].id, id) == 0)
      return &e->policy->peers[i];
  }
  return NULL;
}

/* ---- loading ---------------------------------------------------------------------------- */

struct load {
  struct egw__ees *e;
  enum egw__ees_kind kind;
  int nomem;
};

static void on_record(void *arg, const char *id, const char *text, int64_t exp_s) {
  struct load *l = arg;
  json_error_t jerr;
  json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(doc)) {
    json_decref(doc);
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_WARN, "ees_record_unreadable");
    egw_log_str(&rec, "kind", store_kinds[l->kind]);
    egw_log_str(&rec, "id", id);
    egw_log_end(&rec);
    return;
  }
  struct egw__ees_rec *r = calloc(1, sizeof(*r));
  if (r == NULL || (r->id = strdup(id)) == NULL) {
    free(r);
    json_decref(doc);
    l->nomem = 1;
    return;
  }
  r->doc = doc;
  r->exp_s = exp_s;
  r->committed = 1;
  if (egw__ees_map_put(&l->e->tables[l->kind], id, r) != 0) {
    rec_free(r);
    l->nomem = 1;
  }
}

static void destroy(void *obj) {
  struct egw__ees *e = obj;
  if (e == NULL)
    return;
  for (int k = 0; k < EGW__EES_N_KINDS; k++) {
    struct egw__ees_map_iter it;
    egw__ees_map_iter_init(&e->tables[k], &it);
    struct egw__ees_rec *r;
    while ((r = egw__ees_map_next(&e->tables[k], &it, NULL)) != NULL)
      rec_free(r);
    egw__ees_map_clear(&e->tables[k]);
  }
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
  int64_t now = egw__ees_now_s();
  for (int k = 0; k < EGW__EES_N_KINDS; k++) {
    struct load l = {.e = e, .kind = (enum egw__ees_kind)k};
    if (egw_store_load_records(site->store, store_kinds[k], now, on_record, &l) != 0 || l.nomem) {
      *out_err = egw_format("%s: cannot load the %s records", p->state_dir, store_kinds[k]);
      destroy(e);
      return NULL;
    }
  }
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "ees_loaded");
  egw_log_str(&rec, "ees", e->policy->id);
  egw_log_int(&rec, "eecs", (int64_t)e->tables[EGW__EES_EEC].n);
  egw_log_int(&rec, "eases", (int64_t)e->tables[EGW__EES_EAS].n);
  egw_log_int(&rec, "contexts", (int64_t)e->tables[EGW__EES_CTX].n);
  egw_log_end(&rec);
  return e;
}

struct egw__ees *egw__ees_get(struct egw_site *site, char **out_err) {
  return egw_site_shared(site, "ees", create, destroy, out_err);
}

/* ---- purge, start, stop ----------------------------------------------------------------- */

static void on_purge_deleted(void *arg, int status) {}

static void on_purge(uv_timer_t *t) {
  struct egw__ees *e = t->data;
  int64_t now = egw__ees_now_s();
  int64_t dropped[EGW__EES_N_KINDS] = {0};
  for (int k = 0; k < EGW__EES_N_KINDS; k++) {
    struct egw__ees_map_iter it;
    egw__ees_map_iter_init(&e->tables[k], &it);
    struct egw__ees_rec *r;
    while ((r = egw__ees_map_next(&e->tables[k], &it, NULL)) != NULL) {
      if (!r->committed || !expired(r, now))
        continue;
      egw__ees_map_remove(&e->tables[k], r->id);
      /* The next start drops it from the store anyway; this keeps the file small. */
      egw_store_delete(e->site->store, e->site->loop, store_kinds[k], r->id, on_purge_deleted,
                       NULL);
      rec_free(r);
      dropped[k]++;
    }
  }
  egw__ees_tokens_purge(e);
  if (dropped[0] + dropped[1] + dropped[2] == 0)
    return;
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "ees_expired");
  egw_log_int(&rec, "eecs", dropped[EGW__EES_EEC]);
  egw_log_int(&rec, "eases", dropped[EGW__EES_EAS]);
  egw_log_int(&rec, "contexts", dropped[EGW__EES_CTX]);
  egw_log_end(&rec);
  if (dropped[EGW__EES_EAS])
    egw__ees_eas_set_changed(e);
}

int egw__ees_start(struct egw__ees *e, uv_loop_t *loop) {
  if (e->started)
    return 0;
  e->started = 1;
  e->loop = loop;
  uv_timer_init(loop, &e->purge_timer);
  e->purge_timer.data = e;
  uv_timer_start(&e->purge_timer, on_purge, PURGE_INTERVAL_MS, PURGE_INTERVAL_MS);
  uv_timer_init(loop, &e->reg.timer); /* ecs_reg.c's; closed by egw__ees_ecs_reg_stop */
  e->reg.timer.data = e;
  if (e->policy->ecs_url || e->policy->n_peers) {
    const struct egw_site_policy *p = e->site->policy;
    char *err = NULL;
    e->outbound_trust =
        egw_truststore_new((const char *const *)p->ca_files, p->n_ca_files, NULL, 0, &err);
    if (e->outbound_trust == NULL) {
      egw_log_msg(EGW_LOG_ERROR, "ees_start_failed", "%s", err ? err : "out of memory");
      free(err);
      return -1;
    }
    struct egw_http_client_config cfg = {
        .trust = egw_truststore_get0_store(e->outbound_trust),
        .client_cert_file = e->policy->client_cert,
        .client_key_file = e->policy->client_key,
    };
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
  uv_timer_stop(&e->purge_timer);
  uv_close((uv_handle_t *)&e->purge_timer, NULL);
}

/* ---- write-through ---------------------------------------------------------------------- */

struct write_op {
  struct egw__ees *e;
  struct egw_exchange *x; /* NULL once the client went away, or for nobody */
  enum egw__ees_kind kind;
  enum egw__ees_write what;
  char *id;
  json_t *doc; /* PUT: what was written (the answer's body) */
  int created;
  json_t *prev_doc; /* PUT over an existing record: what to restore */
  int64_t prev_exp;
  uint64_t version;
  struct egw__ees_rec *removed; /* DELETE: what to restore */
  int status;
  char *location;
};

static void op_free(struct write_op *op) {
  free(op->id);
  json_decref(op->doc);
  json_decref(op->prev_doc);
  rec_free(op->removed);
  free(op->location);
  free(op);
}

static void on_abort(void *arg) {
  struct write_op *op = arg;
  op->x = NULL;
}

static void undo(struct write_op *op) {
  struct egw__ees_map *m = &op->e->tables[op->kind];
  struct egw__ees_rec *r = egw__ees_map_get(m, op->id);
  if (op->what == EGW__EES_DELETE) {
    if (op->removed && r == NULL && egw__ees_map_put(m, op->id, op->removed) == 0)
      op->removed = NULL;
    return;
  }
  if (r == NULL || r->version != op->version)
    return; /* changed again since: the later write holds the whole document */
  if (op->created) {
    egw__ees_map_remove(m, op->id);
    rec_free(r);
    return;
  }
  json_decref(r->doc);
  r->doc = op->prev_doc;
  r->exp_s = op->prev_exp;
  r->version++;
  op->prev_doc = NULL;
}

static void answer(struct write_op *op, int ok) {
  struct egw_response *resp = egw_exchange_response(op->x);
  int rc;
  if (!ok) {
    rc = egw__ees_set_problem(resp, 503, "the change could not be stored", "SYSTEM_FAILURE", NULL);
  } else {
    rc = egw__ees_set_json(resp, op->status, op->status == 204 ? NULL : op->doc);
    if (rc == 0 && op->location)
      rc = egw_response_add_header(resp, "Location", op->location);
  }
  if (rc != 0)
    resp->status = 500;
  egw_exchange_finish(op->x);
}

static void on_written(void *arg, int status) {
  struct write_op *op = arg;
  struct egw__ees *e = op->e;
  if (status == 0 && op->created) {
    struct egw__ees_rec *r = egw__ees_map_get(&e->tables[op->kind], op->id);
    if (r && r->version == op->version)
      r->committed = 1;
  }
  if (status != 0)
    undo(op);
  struct egw_log_record rec;
  egw_log_begin(&rec, status == 0 ? EGW_LOG_INFO : EGW_LOG_ERROR,
                op->what == EGW__EES_PUT ? "ees_stored" : "ees_deleted");
  egw_log_str(&rec, "kind", store_kinds[op->kind]);
  egw_log_str(&rec, "id", op->id);
  egw_log_bool(&rec, "durable", status == 0);
  egw_log_end(&rec);
  if (op->x)
    answer(op, status == 0);
  if (status == 0 && op->kind == EGW__EES_EAS)
    egw__ees_eas_set_changed(e);
  op_free(op);
}

enum egw_handler_result egw__ees_commit(struct egw__ees *e, struct egw_exchange *x,
                                        const struct egw__ees_change *c) {
  struct egw__ees_map *m = &e->tables[c->kind];
  struct write_op *op = calloc(1, sizeof(*op));
  if (op == NULL) {
    json_decref(c->doc);
    return EGW_FAILED;
  }
  op->e = e;
  op->kind = c->kind;
  op->what = c->what;
  op->status = c->status;
  op->doc = c->doc; /* taken */
  char *text = NULL;
  if ((op->id = strdup(c->id)) == NULL ||
      (c->location && (op->location = strdup(c->location)) == NULL))
    goto fail;
  int rc;
  if (c->what == EGW__EES_DELETE) {
    op->removed = egw__ees_map_remove(m, c->id);
    rc = egw_store_delete(e->site->store, e->site->loop, store_kinds[c->kind], c->id, on_written,
                          op);
  } else {
    if ((text = json_dumps(op->doc, JSON_COMPACT)) == NULL)
      goto fail;
    struct egw__ees_rec *r = egw__ees_map_get(m, c->id);
    if (r == NULL) {
      if ((r = calloc(1, sizeof(*r))) == NULL || (r->id = strdup(c->id)) == NULL ||
          egw__ees_map_put(m, c->id, r) != 0) {
        if (r)
          free(r->id);
        free(r);
        goto fail;
      }
      op->created = 1;
    } else {
      op->prev_doc = r->doc;
      op->prev_exp = r->exp_s;
    }
    r->doc = json_incref(op->doc);
    r->exp_s = c->exp_s;
    op->version = ++r->version;
    rc = egw_store_put(e->site->store, e->site->loop, store_kinds[c->kind], c->id, text, c->exp_s,
                       on_written, op);
    free(text);
    text = NULL;
  }
  if (rc != 0) {
    egw_log_msg(EGW_LOG_ERROR, "ees_store_failed", "cannot start writing %s %s: %s",
                store_kinds[c->kind], c->id, egw_strerror(rc));
    undo(op);
    goto fail;
  }
  if (x) {
    op->x = x;
    egw_exchange_set_abort(x, on_abort, op);
  }
  return EGW_AGAIN;
fail:
  free(text);
  op_free(op);
  return EGW_FAILED;
}

/* ---- module plumbing -------------------------------------------------------------------- */

int egw__ees_module_init(struct egw_site *site, void **out_state, char **out_err) {
  struct egw__ees *e = egw__ees_get(site, out_err);
  if (e == NULL)
    return -1;
  *out_state = e;
  return 0;
}

int egw__ees_module_start(void *state, uv_loop_t *loop) { return egw__ees_start(state, loop); }

void egw__ees_module_stop(void *state) { egw__ees_stop(state); }
