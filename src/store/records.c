/* Registration records: rows (kind, id) -> JSON document and expiry, in the one table
 * "records" (schema in store.c's migrations). Writes go through the store's queue, so
 * they are applied in call order; the start-up load reads a kind in first-written order,
 * which each row keeps in its |seq| column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/internal.h"
#include "store/store.h"
#include "util/errors.h"
#include "util/log.h"

/* One egw_store_put or egw_store_delete in flight; the strings live in |data|. */
struct record_write {
  struct egw__store_write w; /* first: the queue frees the block through it */
  const char *op;            /* "put" or "delete", for the log */
  const char *kind;
  const char *id;
  const char *doc; /* NULL for a delete */
  int64_t exp_s;
  char data[];
};

int egw__store_records_prepare(struct egw_store *st, char *errbuf, size_t cap) {
  /* A new row goes after the last of its kind; a replaced row keeps its seq (the
   * DO UPDATE leaves it alone). MAX(seq) is one step down the (kind, seq) index. */
  if (egw__store_prepare(st->db,
                         "INSERT INTO records(kind, id, seq, doc, exp_s) VALUES (?1, ?2,"
                         " (SELECT IFNULL(MAX(seq), 0) + 1 FROM records WHERE kind = ?1), ?3, ?4)"
                         " ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc,"
                         " exp_s = excluded.exp_s",
                         &st->put_record, errbuf, cap) != 0 ||
      egw__store_prepare(st->db, "DELETE FROM records WHERE kind = ?1 AND id = ?2",
                         &st->delete_record, errbuf, cap) != 0 ||
      egw__store_prepare(st->db,
                         "DELETE FROM records WHERE kind = ?1 AND exp_s != 0 AND exp_s < ?2",
                         &st->delete_expired_records, errbuf, cap) != 0 ||
      egw__store_prepare(st->db, "SELECT id, doc, exp_s FROM records WHERE kind = ?1 ORDER BY seq",
                         &st->select_records, errbuf, cap) != 0)
    return -1;
  return 0;
}

void egw__store_records_finalize(struct egw_store *st) {
  sqlite3_finalize(st->put_record);
  sqlite3_finalize(st->delete_record);
  sqlite3_finalize(st->delete_expired_records);
  sqlite3_finalize(st->select_records);
}

static int put_apply(struct egw__store_write *w) {
  struct record_write *r = (struct record_write *)w;
  sqlite3_stmt *s = w->st->put_record;
  sqlite3_bind_text(s, 1, r->kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, r->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, r->doc, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 4, r->exp_s);
  return egw__store_run(w->st->db, s, w->errmsg, sizeof(w->errmsg));
}

static int delete_apply(struct egw__store_write *w) {
  struct record_write *r = (struct record_write *)w;
  sqlite3_stmt *s = w->st->delete_record;
  sqlite3_bind_text(s, 1, r->kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, r->id, -1, SQLITE_STATIC);
  return egw__store_run(w->st->db, s, w->errmsg, sizeof(w->errmsg));
}

/* The document is not logged: it may hold an EEC's details or tokens. */
static void record_describe(const struct egw__store_write *w, struct egw_log_record *rec) {
  const struct record_write *r = (const struct record_write *)w;
  egw_log_str(rec, "op", r->op);
  egw_log_str(rec, "kind", r->kind);
  egw_log_str(rec, "id", r->id);
}

/* Copies the arguments into one block and queues it. */
static int submit_record(struct egw_store *st, uv_loop_t *loop, const char *kind, const char *id,
                         const char *doc, int64_t exp_s, void (*done)(void *arg, int status),
                         void *arg) {
  if (!st || !loop || !kind || !*kind || !id || !*id || !done)
    return UV_EINVAL;
  size_t nk = strlen(kind) + 1, ni = strlen(id) + 1, nd = doc ? strlen(doc) + 1 : 0;
  struct record_write *r = calloc(1, sizeof(*r) + nk + ni + nd);
  if (!r)
    return EGW_ERR_NOMEM;
  char *p = r->data;
  r->kind = memcpy(p, kind, nk);
  r->id = memcpy(p + nk, id, ni);
  r->doc = doc ? memcpy(p + nk + ni, doc, nd) : NULL;
  r->exp_s = exp_s;
  r->op = doc ? "put" : "delete";
  r->w.apply = doc ? put_apply : delete_apply;
  r->w.describe = record_describe;
  r->w.done = done;
  r->w.arg = arg;
  int rc = egw__store_submit(st, loop, &r->w);
  if (rc != 0)
    free(r);
  return rc;
}

int egw_store_put(struct egw_store *st, uv_loop_t *loop, const char *kind, const char *id,
                  const char *doc, int64_t exp_s, void (*done)(void *arg, int status), void *arg) {
  if (!doc)
    return UV_EINVAL;
  return submit_record(st, loop, kind, id, doc, exp_s, done, arg);
}

int egw_store_delete(struct egw_store *st, uv_loop_t *loop, const char *kind, const char *id,
                     void (*done)(void *arg, int status), void *arg) {
  return submit_record(st, loop, kind, id, NULL, 0, done, arg);
}

int egw_store_load_records(struct egw_store *st, const char *kind, int64_t now_s,
                           void (*cb)(void *arg, const char *id, const char *doc, int64_t exp_s),
                           void *arg) {
  if (!st || !kind || !*kind || !cb)
    return UV_EINVAL;
  char errbuf[256] = "";
  int ret = EGW_ERR_IO;
  sqlite3_mutex *m = sqlite3_db_mutex(st->db);
  sqlite3_mutex_enter(m);

  /* Delete and read in one transaction: the caller sees exactly what stays. */
  if (egw__store_run(st->db, st->begin, errbuf, sizeof(errbuf)) != SQLITE_DONE)
    goto end;
  sqlite3_bind_text(st->delete_expired_records, 1, kind, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st->delete_expired_records, 2, now_s);
  if (egw__store_run(st->db, st->delete_expired_records, errbuf, sizeof(errbuf)) != SQLITE_DONE)
    goto end;
  sqlite3_stmt *s = st->select_records;
  sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const unsigned char *id = sqlite3_column_text(s, 0);
    const unsigned char *doc = sqlite3_column_text(s, 1);
    int64_t exp_s = sqlite3_column_int64(s, 2);
    if (id && doc)
      cb(arg, (const char *)id, (const char *)doc, exp_s);
  }
  if (rc != SQLITE_DONE)
    snprintf(errbuf, sizeof(errbuf), "%s", sqlite3_errmsg(st->db));
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (rc != SQLITE_DONE)
    goto end;
  if (egw__store_run(st->db, st->commit, errbuf, sizeof(errbuf)) != SQLITE_DONE)
    goto end;
  ret = 0;

end:
  if (ret != 0) {
    egw__store_rollback_if_open(st);
    egw__store_log_load_failed("records", errbuf);
  }
  sqlite3_mutex_leave(m);
  return ret;
}
