#include "fixture.h"

#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "util/log.h"

static char dir[64];
static char dbpath[128];
static int turns;
static FILE *log_stream;
static char *log_buf;
static size_t log_len;

void fx_init(void) {
  snprintf(dir, sizeof(dir), "/tmp/egw-store-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(dbpath, sizeof(dbpath), "%s/edgegw.db", dir);
  turns = 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

void fx_fini(void) { nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS); }

const char *fx_dir(void) { return dir; }
const char *fx_db(void) { return dbpath; }

struct egw_store *fx_open(void) {
  char *err = NULL;
  struct egw_store *st = egw_store_open(dir, &err);
  cr_assert_not_null(st, "open: %s", err ? err : "(null)");
  cr_assert_null(err);
  return st;
}

void fx_finish(uv_loop_t *loop) {
  cr_assert_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
  cr_assert_eq(uv_loop_close(loop), 0);
}

void fx_exec(const char *sql) {
  sqlite3 *db = NULL;
  cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
  sqlite3_close(db);
}

int fx_user_version(void) {
  sqlite3 *db = NULL;
  cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *s = NULL;
  cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
  int v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

void fx_on_done(void *arg, int status) {
  struct fx_done *d = arg;
  d->calls++;
  d->status = status;
  d->turn = ++turns;
}

void fx_log_capture(void) {
  log_stream = open_memstream(&log_buf, &log_len);
  cr_assert_not_null(log_stream);
  egw_log_set_stream(log_stream);
}

char *fx_log_release(void) {
  egw_log_set_stream(stdout);
  fclose(log_stream);
  log_stream = NULL;
  char *out = log_buf;
  log_buf = NULL;
  return out;
}
