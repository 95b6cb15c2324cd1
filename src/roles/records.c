#include "roles/records.h"

#include <stdlib.h>
#include <string.h>

#include "auth/token_verify.h"
#include "core/site.h"
#include "roles/api.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"
#include "util/metrics.h"

static void record_free(struct egw_record *rec) {
  if (rec == NULL)
    return;
  free(rec->id);
  free(rec->owner);
  json_decref(rec->doc);
  free(rec);
}

static void notify(struct egw_records *r, enum egw_record_change change,
                   const struct egw_record *rec, const json_t *before) {
  for (size_t i = 0; i < r->n_observers; i++)
    r->observers[i].cb(r->observers[i].arg, change, rec, before);
}

static void unlink_record(struct egw_records *r, struct egw_record *rec) {
  for (struct egw_record **p = &r->head; *p; p = &(*p)->next) {
    if (*p == rec) {
      *p = rec->next;
      egw_metrics_registrations(r->kind, -1);
      return;
    }
  }
}

struct egw_record *egw__records_insert(struct egw_records *r, const char *id, json_t *doc,
                                       int64_t exp_s) {
  const char *owner = r->owner_of(doc);
  struct egw_record *rec = owner ? calloc(1, sizeof(*rec)) : NULL;
  if (rec == NULL) {
    json_decref(doc);
    return NULL;
  }
  rec->id = strdup(id);
  rec->owner = strdup(owner);
  rec->doc = doc;
  rec->exp_s = exp_s;
  if (rec->id == NULL || rec->owner == NULL) {
    record_free(rec);
    return NULL;
  }
  struct egw_record **tail = &r->head;
  while (*tail)
    tail = &(*tail)->next;
  *tail = rec;
  egw_metrics_registrations(r->kind, 1);
  return rec;
}

/* Loading at start-up: the store already left out what expired. */
struct load_ctx {
  struct egw_records *r;
  int64_t now;
  int64_t loaded;
};

static void on_stored(void *arg, const char *id, const char *doc, int64_t exp_s) {
  struct load_ctx *l = arg;
  if (exp_s != 0 && exp_s <= l->now) /* live means exp_s > now */
    return;
  json_t *d = json_loads(doc, 0, NULL);
  if (d == NULL || egw__records_insert(l->r, id, d, exp_s) == NULL) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_WARN, "record_unreadable");
    egw_log_str(&rec, "kind", l->r->kind);
    egw_log_str(&rec, "id", id);
    egw_log_end(&rec);
    return;
  }
  l->loaded++;
}

int egw__records_init(struct egw_records *r, struct egw_site *site, const char *kind,
                      egw_records_owner_fn owner_of, char **out_err) {
  *r = (struct egw_records){.site = site, .kind = kind, .owner_of = owner_of};
  if (site == NULL || site->store == NULL)
    return 0;
  struct load_ctx l = {.r = r, .now = egw_token_now_s()};
  if (egw_store_load_records(site->store, kind, l.now, on_stored, &l) != 0) {
    *out_err = egw_format("%s: cannot read the %s records", site->policy->state_dir, kind);
    egw__records_cleanup(r);
    return -1;
  }
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "records_loaded");
  egw_log_str(&rec, "kind", kind);
  egw_log_int(&rec, "count", l.loaded);
  egw_log_end(&rec);
  return 0;
}

void egw__records_cleanup(struct egw_records *r) {
  while (r->head) {
    struct egw_record *rec = r->head;
    r->head = rec->next;
    egw_metrics_registrations(r->kind, -1);
    record_free(rec);
  }
}

int egw__records_observe(struct egw_records *r, egw_records_change_fn cb, void *arg) {
  if (r->n_observers == EGW_RECORDS_MAX_OBSERVERS)
    return -1;
  r->observers[r->n_observers].cb = cb;
  r->observers[r->n_observers].arg = arg;
  r->n_observers++;
  return 0;
}

/* ---- lookups ------------------------------------------------------------------------- */

int egw__record_live(const struct egw_record *rec, int64_t now) {
  return !rec->deleting && (rec->exp_s == 0 || rec->exp_s > now);
}

struct egw_record *egw__records_find(struct egw_records *r, const char *id, int64_t now) {
  for (struct egw_record *rec = r->head; rec; rec = rec->next) {
    if (strcmp(rec->id, id) == 0)
      return egw__record_live(rec, now) ? rec : NULL;
  }
  return NULL;
}

int egw__record_shadowed(const struct egw_record *rec, int64_t now) {
  for (const struct egw_record *n = rec->next; n; n = n->next) {
    if (egw__record_live(n, now) && strcmp(n->owner, rec->owner) == 0)
      return 1;
  }
  return 0;
}

const struct egw_record *egw__records_newest(const struct egw_records *r, const char *owner,
                                             int64_t now) {
  const struct egw_record *found = NULL;
  for (const struct egw_record *rec = r->head; rec; rec = rec->next) {
    if (egw__record_live(rec, now) && strcmp(rec->owner, owner) == 0)
      found = rec;
  }
  return found;
}

/* ---- writes -------------------------------------------------------------------------- */

struct write {
  struct egw_records *r;
  struct egw_record *rec; /* NULL: a create */
  char *new_id;
  json_t *doc;
  int64_t exp_s;
  egw_records_done_fn done;
  void *arg;
};

static void write_free(struct write *w) {
  free(w->new_id);
  json_decref(w->doc);
  free(w);
}

/* Replaces the document of |rec| with the written one. */
static void apply_update(struct write *w, struct egw_record *rec) {
  const char *owner = w->r->owner_of(w->doc);
  char *copy = owner ? strdup(owner) : NULL;
  if (copy) {
    free(rec->owner);
    rec->owner = copy;
  }
  json_t *before = rec->doc;
  rec->doc = w->doc;
  rec->exp_s = w->exp_s;
  w->doc = NULL;
  notify(w->r, EGW_RECORD_UPDATED, rec, before);
  json_decref(before);
}

static void on_put(void *arg, int status) {
  struct write *w = arg;
  struct egw_record *rec = w->rec;
  if (rec)
    rec->pending--;
  if (status == 0 && rec == NULL) {
    rec = egw__records_insert(w->r, w->new_id, w->doc, w->exp_s);
    w->doc = NULL;
    if (rec == NULL) /* durable, but out of memory now: the next start loads it */
      status = EGW_ERR_NOMEM;
    else
      notify(w->r, EGW_RECORD_CREATED, rec, NULL);
  } else if (status == 0) {
    apply_update(w, rec);
  }
  w->done(w->arg, status, rec);
  write_free(w);
}

int egw__records_put(struct egw_records *r, struct egw_record *rec, const char *new_id, json_t *doc,
                     int64_t exp_s, egw_records_done_fn done, void *arg) {
  struct write *w = calloc(1, sizeof(*w));
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  char *id = rec ? NULL : strdup(new_id);
  if (w == NULL || text == NULL || (rec == NULL && id == NULL)) {
    free(w);
    free(text);
    free(id);
    json_decref(doc);
    return EGW_ERR_NOMEM;
  }
  *w = (struct write){
      .r = r, .rec = rec, .new_id = id, .doc = doc, .exp_s = exp_s, .done = done, .arg = arg};
  int rc = egw_store_put(r->site->store, r->site->loop, r->kind, rec ? rec->id : new_id, text,
                         exp_s, on_put, w);
  free(text);
  if (rc != 0) {
    write_free(w);
    return rc;
  }
  if (rec)
    rec->pending++;
  return 0;
}

static void on_deleted(void *arg, int status) {
  struct write *w = arg;
  struct egw_record *rec = w->rec;
  rec->pending--;
  if (status != 0) {
    rec->deleting = 0;
    w->done(w->arg, status, rec);
    write_free(w);
    return;
  }
  unlink_record(w->r, rec);
  notify(w->r, EGW_RECORD_DELETED, rec, NULL);
  w->done(w->arg, 0, rec);
  record_free(rec);
  write_free(w);
}

int egw__records_delete(struct egw_records *r, struct egw_record *rec, egw_records_done_fn done,
                        void *arg) {
  struct write *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return EGW_ERR_NOMEM;
  *w = (struct write){.r = r, .rec = rec, .done = done, .arg = arg};
  int rc = egw_store_delete(r->site->store, r->site->loop, r->kind, rec->id, on_deleted, w);
  if (rc != 0) {
    free(w);
    return rc;
  }
  rec->pending++;
  rec->deleting = 1;
  return 0;
}

/* ---- writes a request waits for ------------------------------------------------------ */

struct commit {
  struct egw_exchange *x; /* NULL once the client went away, or for nobody */
  enum egw_record_change change;
  struct egw_records_commit c; /* without rec, new_id and doc: the caller's */
};

static void on_commit_abort(void *arg) { ((struct commit *)arg)->x = NULL; }

/* Fills the response of |x| once the write of |k| ended. */
static enum egw_handler_result answer_commit(const struct commit *k, struct egw_exchange *x,
                                             int status, const struct egw_record *rec) {
  const struct egw_records_commit *c = &k->c;
  if (status != 0 || rec == NULL)
    return egw__roles_problem(x, 503, c->failed, "SYSTEM_FAILURE", NULL, 0);
  static const int statuses[] = {
      [EGW_RECORD_CREATED] = 201, [EGW_RECORD_UPDATED] = 200, [EGW_RECORD_DELETED] = 204};
  int answer_status = c->status ? c->status : statuses[k->change];
  if (answer_status == 204) {
    egw_exchange_response(x)->status = 204;
    return EGW_DONE;
  }
  enum egw_handler_result r = c->answer ? c->answer(c->arg, x, answer_status, rec)
                                        : egw__roles_answer_json(x, answer_status, rec->doc);
  if (r != EGW_DONE || k->change != EGW_RECORD_CREATED || c->location_base == NULL)
    return r;
  const struct egw_request *req = egw_exchange_request(x);
  const char *path = egw_arena_sprintf(req->arena, "%s/%s", c->location_base, rec->id);
  const char *loc = path ? egw__roles_location(req, path) : NULL;
  if (loc == NULL || egw_response_add_header(egw_exchange_response(x), "Location", loc) != 0)
    return EGW_FAILED;
  return EGW_DONE;
}

static void on_committed(void *arg, int status, const struct egw_record *rec) {
  struct commit *k = arg;
  if (k->c.written)
    k->c.written(k->c.arg, k->change, status, rec);
  if (k->x) {
    if (answer_commit(k, k->x, status, rec) != EGW_DONE)
      egw_exchange_response(k->x)->status = 0; /* finish answers 500 ProblemDetails */
    egw_exchange_finish(k->x);
  }
  free(k);
}

int egw__records_commit(struct egw_records *r, struct egw_exchange *x,
                        const struct egw_records_commit *c) {
  if (c->doc == NULL && c->rec == NULL)
    return EGW_ERR_NOTFOUND; /* nothing to delete */
  struct commit *k = calloc(1, sizeof(*k));
  if (k == NULL) {
    json_decref(c->doc);
    return EGW_ERR_NOMEM;
  }
  k->c = *c;
  k->c.rec = NULL;
  k->c.new_id = NULL;
  k->c.doc = NULL;
  k->change = c->doc == NULL   ? EGW_RECORD_DELETED
              : c->rec == NULL ? EGW_RECORD_CREATED
                               : EGW_RECORD_UPDATED;
  char id[EGW_RESOURCE_ID_LEN + 1];
  const char *new_id = c->new_id;
  if (c->rec == NULL && new_id == NULL) {
    egw__roles_new_id(id);
    new_id = id;
  }
  int rc = c->doc ? egw__records_put(r, c->rec, new_id, c->doc, c->exp_s, on_committed, k)
                  : egw__records_delete(r, c->rec, on_committed, k);
  if (rc != 0) {
    free(k);
    return rc;
  }
  if (x) {
    k->x = x;
    egw_exchange_set_abort(x, on_commit_abort, k);
  }
  return 0;
}

/* ---- expiry -------------------------------------------------------------------------- */

struct purge {
  const char *kind;
  char id[];
};

static void on_purged(void *arg, int status) {
  struct purge *p = arg;
  if (status != 0) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_WARN, "record_purge_failed");
    egw_log_str(&rec, "kind", p->kind);
    egw_log_str(&rec, "id", p->id);
    egw_log_end(&rec);
  }
  free(p);
}

/* Deletes the store row of an expired record; failures are logged only (the row is
 * expired, the next start leaves it out and deletes it). */
static void purge_row(struct egw_records *r, const char *id) {
  if (r->site == NULL || r->site->store == NULL)
    return;
  size_t len = strlen(id) + 1;
  struct purge *p = malloc(sizeof(*p) + len);
  if (p == NULL)
    return;
  p->kind = r->kind;
  memcpy(p->id, id, len);
  if (egw_store_delete(r->site->store, r->site->loop, r->kind, id, on_purged, p) != 0)
    free(p);
}

size_t egw__records_purge(struct egw_records *r, int64_t now) {
  size_t n = 0;
  struct egw_record **p = &r->head;
  while (*p) {
    struct egw_record *rec = *p;
    if (rec->exp_s == 0 || rec->exp_s > now || rec->pending > 0) {
      p = &rec->next;
      continue;
    }
    *p = rec->next;
    n++;
    egw_metrics_registrations(r->kind, -1);
    struct egw_log_record lr;
    egw_log_begin(&lr, EGW_LOG_INFO, "record_expired");
    egw_log_str(&lr, "kind", r->kind);
    egw_log_str(&lr, "id", rec->id);
    egw_log_str(&lr, "owner", rec->owner);
    egw_log_end(&lr);
    notify(r, EGW_RECORD_EXPIRED, rec, NULL);
    purge_row(r, rec->id);
    record_free(rec);
  }
  return n;
}

static void on_purge_timer(uv_timer_t *timer) {
  struct egw_records *r = timer->data;
  egw__records_purge(r, egw_token_now_s());
}

int egw__records_start(struct egw_records *r, uv_loop_t *loop) {
  if (r->starts++ > 0)
    return 0;
  int rc = uv_timer_init(loop, &r->purge);
  if (rc != 0) {
    r->starts--;
    return rc;
  }
  r->timer_open = 1;
  r->purge.data = r;
  return uv_timer_start(&r->purge, on_purge_timer, EGW_RECORDS_PURGE_MS, EGW_RECORDS_PURGE_MS);
}

void egw__records_stop(struct egw_records *r) {
  if (r->starts == 0 || --r->starts > 0 || !r->timer_open)
    return;
  r->timer_open = 0;
  uv_close((uv_handle_t *)&r->purge, NULL);
}
