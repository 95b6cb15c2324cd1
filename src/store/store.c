/* The store: one SQLite connection shared by the start-up reads (main thread) and the
 * writes (libuv workers). The connection is opened in serialized mode, and every sequence
 * of calls that must not interleave (a transaction, bind/step/reset of one prepared
 * statement) runs under the connection's own recursive mutex (sqlite3_db_mutex), so two
 * workers never mix their transactions on the one connection. */
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

#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define STORE_FILE "edgegw.db"
/* A writer that finds the file locked (another process, a checkpoint) waits this long. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* Schema migrations: migrations[i] takes user_version i to i + 1, in one transaction. */
static const char *const migrations[] = {
    "CREATE TABLE revocations(jti TEXT PRIMARY KEY, exp INTEGER NOT NULL,"
    " revoked_at INTEGER NOT NULL)",
};
#define STORE_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct egw_store {
  sqlite3 *db;
  sqlite3_stmt *begin;
  sqlite3_stmt *commit;
  sqlite3_stmt *rollback;
  sqlite3_stmt *insert_revocation;
  sqlite3_stmt *delete_expired;
  sqlite3_stmt *select_revocations;
  unsigned pending; /* loop thread only */
};

/* One egw_store_revoke in flight. */
struct revoke_req {
  uv_work_t work;
  struct egw_store *st;
  void (*done)(void *arg, int status);
  void *arg;
  int64_t exp_s;
  int status;       /* set by the worker */
  char errmsg[256]; /* SQLite's message when status != 0 */
  char jti[];
};

static void copy_errmsg(sqlite3 *db, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", sqlite3_errmsg(db));
}

/* Steps a statement that returns no rows and resets it. Returns SQLITE_DONE or the
 * error, with SQLite's message in |errbuf|. The caller holds the connection mutex. */
static int run(sqlite3 *db, sqlite3_stmt *s, char *errbuf, size_t cap) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    rc = SQLITE_DONE;
  if (rc != SQLITE_DONE)
    copy_errmsg(db, errbuf, cap);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return rc;
}

static void rollback_if_open(struct egw_store *st) {
  char ignored[8];
  if (!sqlite3_get_autocommit(st->db))
    run(st->db, st->rollback, ignored, sizeof(ignored));
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

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *errbuf, size_t cap) {
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
   * for a revoke callback. */
  if (exec_sql(st->db, "PRAGMA synchronous = FULL", errbuf, sizeof(errbuf)) != SQLITE_OK)
    goto fail;
  if (migrate(st->db, errbuf, sizeof(errbuf)) != 0)
    goto fail;

  if (prepare(st->db, "BEGIN IMMEDIATE", &st->begin, errbuf, sizeof(errbuf)) != 0 ||
      prepare(st->db, "COMMIT", &st->commit, errbuf, sizeof(errbuf)) != 0 ||
      prepare(st->db, "ROLLBACK", &st->rollback, errbuf, sizeof(errbuf)) != 0 ||
      prepare(st->db,
              "INSERT OR IGNORE INTO revocations(jti, exp, revoked_at)"
              " VALUES (?1, ?2, CAST(strftime('%s', 'now') AS INTEGER))",
              &st->insert_revocation, errbuf, sizeof(errbuf)) != 0 ||
      prepare(st->db, "DELETE FROM revocations WHERE exp < ?1", &st->delete_expired, errbuf,
              sizeof(errbuf)) != 0 ||
      prepare(st->db, "SELECT jti, exp FROM revocations", &st->select_revocations, errbuf,
              sizeof(errbuf)) != 0)
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
  assert(st->pending == 0);
  sqlite3_finalize(st->begin);
  sqlite3_finalize(st->commit);
  sqlite3_finalize(st->rollback);
  sqlite3_finalize(st->insert_revocation);
  sqlite3_finalize(st->delete_expired);
  sqlite3_finalize(st->select_revocations);
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
  if (run(st->db, st->begin, errbuf, sizeof(errbuf)) != SQLITE_DONE)
    goto end;
  sqlite3_bind_int64(st->delete_expired, 1, now_s);
  if (run(st->db, st->delete_expired, errbuf, sizeof(errbuf)) != SQLITE_DONE)
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
  if (run(st->db, st->commit, errbuf, sizeof(errbuf)) != SQLITE_DONE)
    goto end;
  ret = 0;

end:
  if (ret != 0) {
    rollback_if_open(st);
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_ERROR, "store_load_failed");
    egw_log_str(&rec, "error", errbuf);
    egw_log_end(&rec);
  }
  sqlite3_mutex_leave(m);
  return ret;
}

/* Worker thread: one transaction per revocation, committed with synchronous=FULL. */
static void revoke_work(uv_work_t *w) {
  struct revoke_req *req = (struct revoke_req *)((char *)w - offsetof(struct revoke_req, work));
  struct egw_store *st = req->st;
  sqlite3_mutex *m = sqlite3_db_mutex(st->db);
  sqlite3_mutex_enter(m);
  int rc = run(st->db, st->begin, req->errmsg, sizeof(req->errmsg));
  if (rc == SQLITE_DONE) {
    sqlite3_bind_text(st->insert_revocation, 1, req->jti, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->insert_revocation, 2, req->exp_s);
    rc = run(st->db, st->insert_revocation, req->errmsg, sizeof(req->errmsg));
  }
  if (rc == SQLITE_DONE)
    rc = run(st->db, st->commit, req->errmsg, sizeof(req->errmsg));
  if (rc != SQLITE_DONE)
    rollback_if_open(st);
  sqlite3_mutex_leave(m);
  req->status = rc == SQLITE_DONE ? 0 : EGW_ERR_IO;
}

/* Loop thread: logs a failure (the log stream is not for workers) and reports. */
static void revoke_after(uv_work_t *w, int status) {
  struct revoke_req *req = (struct revoke_req *)((char *)w - offsetof(struct revoke_req, work));
  if (status == 0)
    status = req->status;
  if (status == EGW_ERR_IO) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_ERROR, "store_write_failed");
    egw_log_str(&rec, "op", "revoke");
    egw_log_str(&rec, "jti", req->jti);
    egw_log_str(&rec, "error", req->errmsg);
    egw_log_end(&rec);
  }
  req->st->pending--;
  void (*done)(void *, int) = req->done;
  void *arg = req->arg;
  free(req);
  done(arg, status);
}

int egw_store_revoke(struct egw_store *st, uv_loop_t *loop, const char *jti, int64_t exp_s,
                     void (*done)(void *arg, int status), void *arg) {
  if (!st || !loop || !jti || !*jti || !done)
    return UV_EINVAL;
  size_t n = strlen(jti);
  struct revoke_req *req = calloc(1, sizeof(*req) + n + 1);
  if (!req)
    return EGW_ERR_NOMEM;
  memcpy(req->jti, jti, n + 1);
  req->st = st;
  req->done = done;
  req->arg = arg;
  req->exp_s = exp_s;
  int rc = uv_queue_work(loop, &req->work, revoke_work, revoke_after);
  if (rc != 0) {
    free(req);
    return rc;
  }
  st->pending++;
  return 0;
}

unsigned egw_store_pending(const struct egw_store *st) { return st ? st->pending : 0; }
