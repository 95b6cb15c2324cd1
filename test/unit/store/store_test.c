#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "fixture.h"
#include "store/store.h"
#include "util/errors.h"
#include "util/log.h"

TestSuite(store, .init = fx_init, .fini = fx_fini);

/* Collects what load_revocations reports. */
struct seen {
  int n;
  char jti[16][64];
  int64_t exp[16];
};

static void on_row(void *arg, const char *jti, int64_t exp_s) {
  struct seen *s = arg;
  cr_assert_lt(s->n, 16);
  snprintf(s->jti[s->n], sizeof(s->jti[0]), "%s", jti);
  s->exp[s->n] = exp_s;
  s->n++;
}

static int64_t seen_exp(const struct seen *s, const char *jti) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->jti[i], jti) == 0)
      return s->exp[i];
  return -1;
}

/* Revokes on |loop| and runs it until the write is durable. */
static void revoke_sync(struct egw_store *st, const char *jti, int64_t exp_s) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d = {0};
  cr_assert_eq(egw_store_revoke(st, &loop, jti, exp_s, fx_on_done, &d), 0);
  fx_finish(&loop);
  cr_assert_eq(d.calls, 1);
  cr_assert_eq(d.status, 0);
}

Test(store, open_creates_private_file_at_current_schema) {
  struct egw_store *st = fx_open();
  struct stat sb;
  cr_assert_eq(stat(fx_db(), &sb), 0);
  cr_assert(S_ISREG(sb.st_mode));
  cr_assert_eq(sb.st_mode & 0777, 0600, "mode %o", sb.st_mode & 0777);
  cr_assert_eq(fx_user_version(), 2);
  /* WAL side files inherit the database's mode. */
  char side[160];
  snprintf(side, sizeof(side), "%s-wal", fx_db());
  cr_assert_eq(stat(side, &sb), 0);
  cr_assert_eq(sb.st_mode & 0777, 0600, "wal mode %o", sb.st_mode & 0777);
  egw_store_close(st);

  /* Reopening an existing database keeps it (no second migration, no error). */
  st = fx_open();
  cr_assert_eq(fx_user_version(), 2);
  egw_store_close(st);
  egw_store_close(NULL);
}

Test(store, open_tightens_existing_file_mode) {
  int fd = open(fx_db(), O_CREAT | O_WRONLY, 0644);
  cr_assert_geq(fd, 0);
  cr_assert_eq(fchmod(fd, 0644), 0);
  close(fd);
  struct egw_store *st = fx_open();
  struct stat sb;
  cr_assert_eq(stat(fx_db(), &sb), 0);
  cr_assert_eq(sb.st_mode & 0777, 0600);
  egw_store_close(st);
}

Test(store, revoke_is_durable_across_reopen) {
  struct egw_store *st = fx_open();
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d = {0};
  cr_assert_eq(egw_store_revoke(st, &loop, "jti-1", 2000000000, fx_on_done, &d), 0);
  cr_assert_eq(egw_store_pending(st), 1);
  cr_assert_eq(d.calls, 0, "done must not run before the loop does");
  fx_finish(&loop);
  cr_assert_eq(d.calls, 1);
  cr_assert_eq(d.status, 0);
  cr_assert_eq(egw_store_pending(st), 0);
  egw_store_close(st);

  st = fx_open();
  struct seen s = {0};
  cr_assert_eq(egw_store_load_revocations(st, 1000, on_row, &s), 0);
  cr_assert_eq(s.n, 1);
  cr_assert_str_eq(s.jti[0], "jti-1");
  cr_assert_eq(s.exp[0], 2000000000);
  egw_store_close(st);
}

Test(store, duplicate_revoke_is_ok) {
  struct egw_store *st = fx_open();
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d1 = {0}, d2 = {0};
  cr_assert_eq(egw_store_revoke(st, &loop, "dup", 5000, fx_on_done, &d1), 0);
  cr_assert_eq(egw_store_revoke(st, &loop, "dup", 5000, fx_on_done, &d2), 0);
  fx_finish(&loop);
  cr_assert_eq(d1.calls, 1);
  cr_assert_eq(d1.status, 0);
  cr_assert_eq(d2.calls, 1);
  cr_assert_eq(d2.status, 0);
  revoke_sync(st, "dup", 5000); /* and again later, on its own */

  struct seen s = {0};
  cr_assert_eq(egw_store_load_revocations(st, 0, on_row, &s), 0);
  cr_assert_eq(s.n, 1);
  cr_assert_str_eq(s.jti[0], "dup");
  egw_store_close(st);
}

Test(store, load_drops_expired_rows) {
  struct egw_store *st = fx_open();
  revoke_sync(st, "old", 100);
  revoke_sync(st, "edge", 150);
  revoke_sync(st, "new", 200);

  struct seen s = {0};
  cr_assert_eq(egw_store_load_revocations(st, 150, on_row, &s), 0);
  cr_assert_eq(s.n, 2);
  cr_assert_eq(seen_exp(&s, "edge"), 150, "exp == now is still revoked");
  cr_assert_eq(seen_exp(&s, "new"), 200);
  cr_assert_eq(seen_exp(&s, "old"), -1);
  egw_store_close(st);

  /* The expired row is gone from the file, not just skipped. */
  st = fx_open();
  struct seen again = {0};
  cr_assert_eq(egw_store_load_revocations(st, 0, on_row, &again), 0);
  cr_assert_eq(again.n, 2);
  cr_assert_eq(seen_exp(&again, "old"), -1);
  egw_store_close(st);
}

#define MANY 1000

static void count_row(void *arg, const char *jti, int64_t exp_s) {
  (void)jti;
  int *n = arg;
  cr_assert_geq(exp_s, 10000 + MANY / 2);
  (*n)++;
}

Test(store, many_queued_writes_complete_in_call_order) {
  struct egw_store *st = fx_open();
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  static struct fx_done d[MANY];
  for (int i = 0; i < MANY; i++) {
    char jti[32];
    snprintf(jti, sizeof(jti), "j%04d", i);
    cr_assert_eq(egw_store_revoke(st, &loop, jti, 10000 + i, fx_on_done, &d[i]), 0);
  }
  cr_assert_eq(egw_store_pending(st), MANY);
  fx_finish(&loop);
  cr_assert_eq(egw_store_pending(st), 0);
  for (int i = 0; i < MANY; i++) {
    cr_assert_eq(d[i].calls, 1, "request %d called %d times", i, d[i].calls);
    cr_assert_eq(d[i].status, 0, "request %d: %s", i, egw_strerror(d[i].status));
    cr_assert_eq(d[i].turn, i + 1, "request %d completed %dth", i, d[i].turn);
  }
  egw_store_close(st);

  /* Every row is in the file after a reopen; expiry is by row. */
  st = fx_open();
  int n = 0;
  cr_assert_eq(egw_store_load_revocations(st, 10000 + MANY / 2, count_row, &n), 0);
  cr_assert_eq(n, MANY / 2);
  egw_store_close(st);
}

Test(store, revoke_rejects_bad_arguments_without_callback) {
  struct egw_store *st = fx_open();
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d = {0};
  cr_assert_eq(egw_store_revoke(st, &loop, NULL, 1, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_revoke(st, &loop, "", 1, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_revoke(st, NULL, "x", 1, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_revoke(st, &loop, "x", 1, NULL, &d), UV_EINVAL);
  cr_assert_eq(egw_store_pending(st), 0);
  fx_finish(&loop);
  cr_assert_eq(d.calls, 0);
  egw_store_close(st);
}

Test(store, write_failure_reports_io_and_logs) {
  struct egw_store *st = fx_open();
  /* Another connection drops the table under us: the insert cannot succeed. */
  fx_exec("DROP TABLE revocations");
  fx_log_capture();

  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d = {0};
  cr_assert_eq(egw_store_revoke(st, &loop, "lost-jti", 1, fx_on_done, &d), 0);
  fx_finish(&loop);
  cr_assert_eq(d.calls, 1);
  cr_assert_eq(d.status, EGW_ERR_IO);
  cr_assert_eq(egw_store_pending(st), 0);

  char *logbuf = fx_log_release();
  cr_assert_not_null(strstr(logbuf, "\"event\":\"store_write_failed\""), "%s", logbuf);
  cr_assert_not_null(strstr(logbuf, "\"jti\":\"lost-jti\""), "%s", logbuf);
  cr_assert_not_null(strstr(logbuf, "no such table"), "%s", logbuf);
  free(logbuf);
  egw_store_close(st);
}

static void assert_open_fails(const char *state_dir, const char *want_path, const char *want) {
  char *err = NULL;
  struct egw_store *st = egw_store_open(state_dir, &err);
  cr_assert_null(st);
  cr_assert_not_null(err);
  char prefix[256];
  snprintf(prefix, sizeof(prefix), "%s: ", want_path);
  cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "error \"%s\" lacks prefix \"%s\"", err,
               prefix);
  cr_assert_not_null(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
  free(err);
}

Test(store, open_unwritable_path_fails_clearly) {
  /* Tests run as root, so permissions cannot stop us: go through a regular file. */
  char file[128], bad[160];
  snprintf(file, sizeof(file), "%s/plain", fx_dir());
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  fclose(f);
  snprintf(bad, sizeof(bad), "%s/edgegw.db", file);
  assert_open_fails(file, bad, "Not a directory");

  char missing[160], missing_db[192];
  snprintf(missing, sizeof(missing), "%s/no/such/dir", fx_dir());
  snprintf(missing_db, sizeof(missing_db), "%s/edgegw.db", missing);
  assert_open_fails(missing, missing_db, "No such file or directory");
}

Test(store, open_corrupt_file_fails_clearly) {
  FILE *f = fopen(fx_db(), "w");
  cr_assert_not_null(f);
  for (int i = 0; i < 4096; i++)
    fputc("garbage!"[i % 8], f);
  fclose(f);
  assert_open_fails(fx_dir(), fx_db(), "file is not a database");
}

Test(store, open_newer_schema_fails_clearly) {
  egw_store_close(fx_open());
  fx_exec("PRAGMA user_version = 99");
  assert_open_fails(fx_dir(), fx_db(), "schema version 99");
}
