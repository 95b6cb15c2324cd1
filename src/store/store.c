/* The store: one SQLite connection shared by the start-up reads (main thread) and the
 * writes (libuv workers). The connection is opened in serialized mode, and every sequence
 * of calls that must not interleave (a transaction, bind/step/reset of one prepared
 * statement) runs under the connection's own recursive mutex (sqlite3_db_mutex).
 *
 * Writes go through one queue per store, and only its head is on a worker: a write is
 * applied after every write issued before it, which a role relies on when it puts then
 * deletes the same record. Running them one at a time costs nothing, since they would
 * serialize on the connection mutex and the commit's fsync anyway. This file holds the
 * queue, open/close and revocations; records.c holds the registration records. */
#include "store/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/internal.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define STORE_FILE "edgegw.db"
/* A writer that finds the file locked (another process, a checkpoint) waits this long. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* Schema migrations: migrations[i] takes user_version i to i + 1, in one transaction.
 * Append only: a released step never changes. */
static const char *const migrations[] = {
    "CREATE TABLE revocations(jti TEXT PRIMARY KEY, exp INTEGER NOT NULL,"
    " revoked_at INTEGER NOT NULL)",
    /* Registration records (records.c). |seq| is the record's position in its kind,
     * given at its first write and kept when it is replaced; exp_s 0 never expires. */
    "CREATE TABLE records(kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " doc TEXT NOT NULL, exp_s INTEGER NOT NULL, PRIMARY KEY (kind, id));"
    "CREATE UNIQUE INDEX records_by_seq ON records(kind, seq)",
};
#define STORE_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* One egw_store_revoke in flight. */
struct revoke_write {
  struct egw__store_write w; /* first: the queue frees the block through it */
  int64_t exp_s;
  char jti[];
};

static void copy_errmsg(sqlite3 *db, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", sqlite3_errmsg(db));
}

int egw__store_run(sqlite3 *db, sqlite3_stmt *s, char *errbuf, size_t cap) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    rc = SQLITE_DONE;
  if (rc != SQLITE_DONE)
    copy_errmsg(db, errbuf, cap);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc;
}

void egw__store_rollback_if_open(struct egw_store *st) {
  char ignored[8];
  if (!sqlite3_get_autocommit(st->db))
    egw__store_run(st->db, st->rollback, ignored, sizeof(ignored));
}

void egw__store_log_load_failed(const char *what, const char *errmsg) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_ERROR, "store_load_failed");
  egw_log_str(&rec, "table", what);
  egw_log_str(&rec, "error", errmsg);
  egw_log_end(&rec);
}

/* Runs |sql| (no rows) at open time. */
static int exec_sql(sqlite3 *db, const char *sql, char *errbuf, size_t cap) {
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK)
    snprintf(errbuf, cap, "%s", msg ? msg : sqlite3_errstr(rc));
  sqlite3_free(msg);
  return rc;
}

/* Reads an integer or text PRAGMA into |out_int| / |out_text|. */
static int pragma_query(sqlite3 *db, const char *sql, int *out_int, char *out_text, size_t text_cap,
                        char *errbuf, size_t cap) {
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      if (out_int)
        *out_int = sqlite3_column_int(s, 0);
      if (out_text) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(out_text, text_cap, "%s", t ? (const char *)t : "");
      }
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
  }
  if (rc != SQLITE_OK)
    copy_errmsg(db, errbuf, cap);
  sqlite3_finalize(s);
  return rc;
}

/* Brings the schema to STORE_SCHEMA_VERSION; each step commits with its version, so an
 * interrupted migration resumes where it stopped. */
static int migrate(sqlite3 *db, char *errbuf, size_t cap) {
  int version = 0;
  if (pragma_query(db, "PRAGMA user_version", &version, NULL, 0, errbuf, cap) != SQLITE_OK)
    return -1;
  if (version > STORE_SCHEMA_VERSION || version < 0) {
    snprintf(errbuf, cap, "schema version %d is not supported (this edgegw knows up to %d)",
             version, STORE_SCHEMA_VERSION);
    return -1;
  }
  for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
    char set_version[64];
    snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", v + 1);
    if (exec_sql(db, "BEGIN IMMEDIATE", errbuf, cap) != SQLITE_OK)
      return -1;
    if (exec_sql(db, migrations[v], errbuf, cap) != SQLITE_OK ||
        exec_sql(db, set_version, errbuf, cap) != SQLITE_OK ||
        exec_sql(db, "COMMIT", errbuf, cap) != SQLITE_OK) {
      char ignored[8];
      if (!sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK", ignored, sizeof(ignored));
      return -1;
    }
  }
  return 0;
}

/* Creates the file (or tightens an existing one) to 0600 before SQLite opens it: SQLite
 * would create it 0644 & ~umask, and it gives the -wal and -shm files the mode of the
 * database file. */
static int create_private_file(const char *path, char *errbuf, size_t cap) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(errbuf, cap, "%s", strerror(errno));
    return -1;
  }
  int rc = 0;
  if (fchmod(fd, 0600) != 0) {
    snprintf(errbuf, cap, "%s", strerror(errno));
    rc = -1;
  }
  close(fd);
  return rc;
}

int egw__store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *errbuf, size_t cap) {
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
    copy_errmsg(db, errbuf, cap);
    return -1;
  }
  return 0;
}

struct egw_store *egw_store_open(const char *state_dir, char **out_err) {
  char errbuf[512] = "";
  struct egw_store *st = NULL;
  char *path = egw_format("%s/%s", state_dir, STORE_FILE);
  if (out_err)
    *out_err = NULL;
  if (!path)
    goto end; /* *out_err stays NULL: out of memory */

  if (!sqlite3_threadsafe()) {
    snprintf(errbuf, sizeof(errbuf), "SQLite is built without thread support");
    goto fail;
  }
  st = calloc(1, sizeof(*st));
  if (!st) {
    snprintf(errbuf, sizeof(errbuf), "%s", egw_strerror(EGW_ERR_NOMEM));
    goto fail;
  }
  if (create_private_file(path, errbuf, sizeof(errbuf)) != 0)
    goto fail;
  int rc = sqlite3_open_v2(
      path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
  if (rc != SQLITE_OK) {
    snprintf(errbuf, sizeof(errbuf), "%s", st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
    goto fail;
  }
  sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);

  /* The first statement reads the header: a file that is not a database fails here. */
  char mode[16] = "";
  if (pragma_query(st->db, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode), errbuf,
                   sizeof(errbuf)) != SQLITE_OK)
    goto fail;
  if (strcmp(mode, "wal") != 0) {
    snprintf(errbuf, sizeof(errbuf), "cannot enable WAL journal (journal_mode is %s)", mode);
    goto fail;
  }
  /* FULL: a commit returns only once the WAL is on disk, which is what "durable" means
   * for a write's callback. */
  if (exec_sql(st->db, "PRAGMA synchronous = FULL", errbuf, sizeof(errbuf)) != SQLITE_OK)
    goto fail;
  if (migrate(st->db, errbuf, sizeof(errbuf)) != 0)
    goto fail;

  if (egw__store_prepare(st->db, "BEGIN IMMEDIATE", &st->begin, errbuf, sizeof(errbuf)) != 0 ||
      egw__store_prepare(st->db, "COMMIT", &st->commit, errbuf, sizeof(errbuf)) != 0 ||
      egw__store_prepare(st->db, "ROLLBACK", &st->rollback, errbuf, sizeof(errbuf)) != 0 ||
      egw__store_prepare(st->db,
                         "INSERT OR IGNORE INTO revocations(jti, exp, revoked_at)"
                         " VALUES (?1, ?2, CAST(strftime('%s', 'now') AS INTEGER))",
                         &st->insert_revocation, errbuf, sizeof(errbuf)) != 0 ||
      egw__store_prepare(st->db, "DELETE FROM revocations WHERE exp < ?1", &st->delete_expired,
                         errbuf, sizeof(errbuf)) != 0 ||
      egw__store_prepare(st->db, "SELECT jti, exp FROM revocations", &st->select_revocations,
                         errbuf, sizeof(errbuf)) != 0 ||
      egw__store_records_prepare(st, errbuf, sizeof(errbuf)) != 0)
    goto fail;
  goto end;

fail:
  egw_store_close(st);
  st = NULL;
  if (out_err)
    *out_err = egw_format("%s: %s", path, errbuf);
end:
  free(path);
  return st;
}

void egw_store_close(struct egw_store *st) {
  if (!st)
    return;
  /* A write still queued would use the connection after it is gone. */
  assert(st->pending == 0 && st->head == NULL);
  sqlite3_finalize(st->begin);
  sqlite3_finalize(st->commit);
  sqlite3_finalize(st->rollback);
  sqlite3_finalize(st->insert_revocation);
  sqlite3_finalize(st->delete_expired);
  sqlite3_finalize(st->select_revocations);
  egw__store_records_finalize(st);
  sqlite3_close_v2(st->db);
  free(st);
}

int egw_store_load_revocations(struct egw_store *st, int64_t now_s,
                               void (*cb)(void *arg, const char *jti, int64_t exp_s), void *arg) {
  char errbuf[256] = "";
  int ret = EGW_ERR_IO;
  sqlite3_mutex *m = sqlite3_db_mutex(st->db);
  sqlite3_mutex_enter(m);

  /* Delete and read in one transaction: the caller sees exactly what stays. */
  if (egw__store_run(st->db, st->begin, errbuf, sizeof(errbuf)) != SQLITE_DONE)
    goto end;
  sqlite3_bind_int64(st->delete_expired, 1, now_s);
  if (egw__store_run(st->db, st->delete_expired, errbuf, sizeof(errbuf)) != SQLITE_DONE)
    goto end;
  int rc;
  while ((rc = sqlite3_step(st->select_revocations)) == SQLITE_ROW) {
    const unsigned char *jti = sqlite3_column_text(st->select_revocations, 0);
    int64_t exp_s = sqlite3_column_int64(st->select_revocations, 1);
    if (jti)
      cb(arg, (const char *)jti, exp_s);
  }
  if (rc != SQLITE_DONE)
    copy_errmsg(st->db, errbuf, sizeof(errbuf));
  sqlite3_reset(st->select_revocations);
  if (rc != SQLITE_DONE)
    goto end;
  if (egw__store_run(st->db, st->commit, errbuf, sizeof(errbuf)) != SQLITE_DONE)
    goto end;
  ret = 0;

end:
  if (ret != 0) {
    egw__store_rollback_if_open(st);
    egw__store_log_load_failed("revocations", errbuf);
  }
  sqlite3_mutex_leave(m);
  return ret;
}

/* ---- the write queue ---------------------------------------------------------------- */

static void write_after(uv_work_t *work, int status);

static struct egw__store_write *write_of(uv_work_t *work) {
  return (struct egw__store_write *)((char *)work - offsetof(struct egw__store_write, work));
}

/* Worker thread: the write in one transaction, committed with synchronous=FULL. */
static void write_work(uv_work_t *work) {
  struct egw__store_write *w = write_of(work);
  struct egw_store *st = w->st;
  sqlite3_mutex *m = sqlite3_db_mutex(st->db);
  sqlite3_mutex_enter(m);
  int rc = egw__store_run(st->db, st->begin, w->errmsg, sizeof(w->errmsg));
  if (rc == SQLITE_DONE)
    rc = w->apply(w);
  if (rc == SQLITE_DONE)
    rc = egw__store_run(st->db, st->commit, w->errmsg, sizeof(w->errmsg));
  if (rc != SQLITE_DONE)
    egw__store_rollback_if_open(st);
  sqlite3_mutex_leave(m);
  w->status = rc == SQLITE_DONE ? 0 : EGW_ERR_IO;
}

/* Loop thread: logs a failure (the log stream is not for workers), frees |w| and runs its
 * callback. Touches nothing of the store: the callback may close it. */
static void write_finish(struct egw__store_write *w, int status) {
  if (status != 0) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_ERROR, "store_write_failed");
    w->describe(w, &rec);
    egw_log_str(&rec, "error", w->errmsg[0] ? w->errmsg : egw_strerror(status));
    egw_log_end(&rec);
  }
  void (*done)(void *, int) = w->done;
  void *arg = w->arg;
  free(w);
  done(arg, status);
}

/* Puts the head of the queue on a worker. uv_queue_work fails only for a NULL work
 * callback, so this cannot fail today; if it ever does, the writes it could not start
 * leave the queue and come back as a list to fail, so that their callbacks still run. */
static struct egw__store_write *start_head(struct egw_store *st) {
  struct egw__store_write *failed = NULL, **failed_tail = &failed;
  while (st->head) {
    struct egw__store_write *w = st->head;
    int rc = uv_queue_work(w->loop, &w->work, write_work, write_after);
    if (rc == 0)
      break;
    st->head = w->next;
    st->pending--;
    w->status = rc;
    w->next = NULL;
    *failed_tail = w;
    failed_tail = &w->next;
  }
  if (!st->head)
    st->tail = NULL;
  return failed;
}

static void write_after(uv_work_t *work, int status) {
  struct egw__store_write *w = write_of(work);
  struct egw_store *st = w->st;
  if (status == 0)
    status = w->status;
  /* Start the next write before the callback runs: the callback may queue more writes
   * (they go behind the others) or, once nothing is pending, close the store. */
  st->head = w->next;
  st->pending--;
  struct egw__store_write *failed = start_head(st);
  write_finish(w, status);
  while (failed) {
    struct egw__store_write *next = failed->next;
    write_finish(failed, failed->status);
    failed = next;
  }
}

int egw__store_submit(struct egw_store *st, uv_loop_t *loop, struct egw__store_write *w) {
  w->st = st;
  w->loop = loop;
  w->next = NULL;
  w->status = 0;
  w->errmsg[0] = '\0';
  if (!st->head) {
    int rc = uv_queue_work(loop, &w->work, write_work, write_after);
    if (rc != 0)
      return rc;
    st->head = w;
  } else {
    st->tail->next = w;
  }
  st->tail = w;
  st->pending++;
  return 0;
}

/* ---- revocations ---------------------------------------------------------------------- */

static int revoke_apply(struct egw__store_write *w) {
  struct revoke_write *r = (struct revoke_write *)w;
  struct egw_store *st = w->st;
  sqlite3_bind_text(st->insert_revocation, 1, r->jti, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st->insert_revocation, 2, r->exp_s);
  return egw__store_run(st->db, st->insert_revocation, w->errmsg, sizeof(w->errmsg));
}

static void revoke_describe(const struct egw__store_write *w, struct egw_log_record *rec) {
  const struct revoke_write *r = (const struct revoke_write *)w;
  egw_log_str(rec, "op", "revoke");
  /* A jti names a token; it is not the token. */
  egw_log_str(rec, "jti", r->jti);
}

int egw_store_revoke(struct egw_store *st, uv_loop_t *loop, const char *jti, int64_t exp_s,
                     void (*done)(void *arg, int status), void *arg) {
  if (!st || !loop || !jti || !*jti || !done)
    return UV_EINVAL;
  size_t n = strlen(jti);
  struct revoke_write *r = calloc(1, sizeof(*r) + n + 1);
  if (!r)
    return EGW_ERR_NOMEM;
  memcpy(r->jti, jti, n + 1);
  r->exp_s = exp_s;
  r->w.apply = revoke_apply;
  r->w.describe = revoke_describe;
  r->w.done = done;
  r->w.arg = arg;
  int rc = egw__store_submit(st, loop, &r->w);
  if (rc != 0)
    free(r);
  return rc;
}

unsigned egw_store_pending(const struct egw_store *st) { return st ? st->pending : 0; }
