/* Registration records: egw_store_put / egw_store_delete / egw_store_load_records. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include "fixture.h"
#include "store/store.h"
#include "util/errors.h"

TestSuite(records, .init = fx_init, .fini = fx_fini);

#define MAX_ROWS 64

/* What load_records reported, in order. */
struct rows {
  int n;
  char id[MAX_ROWS][32];
  char *doc[MAX_ROWS];
  int64_t exp[MAX_ROWS];
};

static void on_record(void *arg, const char *id, const char *doc, int64_t exp_s) {
  struct rows *r = arg;
  cr_assert_lt(r->n, MAX_ROWS);
  snprintf(r->id[r->n], sizeof(r->id[0]), "%s", id);
  r->doc[r->n] = strdup(doc);
  cr_assert_not_null(r->doc[r->n]);
  r->exp[r->n] = exp_s;
  r->n++;
}

static void rows_free(struct rows *r) {
  for (int i = 0; i < r->n; i++)
    free(r->doc[i]);
  r->n = 0;
}

/* Loads |kind| at |now_s| and asserts success; the caller frees with rows_free. */
static struct rows load(struct egw_store *st, const char *kind, int64_t now_s) {
  struct rows r = {0};
  cr_assert_eq(egw_store_load_records(st, kind, now_s, on_record, &r), 0);
  return r;
}

/* Asserts the ids of |r| are exactly |want| ("a,b,c"; "" for none), in order. */
static void assert_ids(const struct rows *r, const char *want) {
  char got[1024] = "";
  for (int i = 0; i < r->n; i++) {
    strcat(got, i ? "," : "");
    strcat(got, r->id[i]);
  }
  cr_assert_str_eq(got, want);
}

/* Puts on a fresh loop and runs it until the row is durable. */
static void put_sync(struct egw_store *st, const char *kind, const char *id, const char *doc,
                     int64_t exp_s) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d = {0};
  cr_assert_eq(egw_store_put(st, &loop, kind, id, doc, exp_s, fx_on_done, &d), 0);
  fx_finish(&loop);
  cr_assert_eq(d.calls, 1);
  cr_assert_eq(d.status, 0, "put %s/%s: %s", kind, id, egw_strerror(d.status));
}

static void delete_sync(struct egw_store *st, const char *kind, const char *id) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d = {0};
  cr_assert_eq(egw_store_delete(st, &loop, kind, id, fx_on_done, &d), 0);
  fx_finish(&loop);
  cr_assert_eq(d.calls, 1);
  cr_assert_eq(d.status, 0, "delete %s/%s: %s", kind, id, egw_strerror(d.status));
}

Test(records, put_is_durable_across_reopen) {
  struct egw_store *st = fx_open();
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d1 = {0}, d2 = {0};
  cr_assert_eq(egw_store_put(st, &loop, "ees.eec", "reg-1", "{\"eecId\":\"eec1\"}", 2000000000,
                             fx_on_done, &d1),
               0);
  cr_assert_eq(egw_store_put(st, &loop, "ees.eec", "reg-2", "{}", 0, fx_on_done, &d2), 0);
  cr_assert_eq(egw_store_pending(st), 2);
  cr_assert_eq(d1.calls, 0, "done must not run before the loop does");
  fx_finish(&loop);
  cr_assert_eq(d1.calls, 1);
  cr_assert_eq(d1.status, 0);
  cr_assert_eq(d2.calls, 1);
  cr_assert_eq(d2.status, 0);
  cr_assert_eq(egw_store_pending(st), 0);
  egw_store_close(st);

  st = fx_open();
  struct rows r = load(st, "ees.eec", 1000);
  assert_ids(&r, "reg-1,reg-2");
  cr_assert_str_eq(r.doc[0], "{\"eecId\":\"eec1\"}");
  cr_assert_eq(r.exp[0], 2000000000);
  cr_assert_str_eq(r.doc[1], "{}");
  cr_assert_eq(r.exp[1], 0, "0 means the record never expires");
  rows_free(&r);
  egw_store_close(st);
}

Test(records, replace_keeps_position_with_new_doc_and_expiry) {
  struct egw_store *st = fx_open();
  put_sync(st, "ecs.ees", "a", "{\"v\":1}", 0);
  put_sync(st, "ecs.ees", "b", "{\"v\":1}", 500);
  put_sync(st, "ecs.ees", "c", "{\"v\":1}", 0);
  put_sync(st, "ecs.ees", "b", "{\"v\":2}", 900);
  egw_store_close(st);

  st = fx_open();
  struct rows r = load(st, "ecs.ees", 0);
  assert_ids(&r, "a,b,c");
  cr_assert_str_eq(r.doc[1], "{\"v\":2}");
  cr_assert_eq(r.exp[1], 900);
  cr_assert_str_eq(r.doc[0], "{\"v\":1}");
  rows_free(&r);
  egw_store_close(st);
}

Test(records, delete_removes_and_a_rewrite_goes_last) {
  struct egw_store *st = fx_open();
  put_sync(st, "ees.eas", "a", "{}", 0);
  put_sync(st, "ees.eas", "b", "{}", 0);
  put_sync(st, "ees.eas", "c", "{}", 0);
  delete_sync(st, "ees.eas", "a");
  delete_sync(st, "ees.eas", "never-written"); /* absent is not an error */
  egw_store_close(st);

  st = fx_open();
  struct rows r = load(st, "ees.eas", 0);
  assert_ids(&r, "b,c");
  rows_free(&r);
  /* A record written again after its delete is a new record: it comes last. */
  put_sync(st, "ees.eas", "a", "{\"again\":true}", 0);
  r = load(st, "ees.eas", 0);
  assert_ids(&r, "b,c,a");
  cr_assert_str_eq(r.doc[2], "{\"again\":true}");
  rows_free(&r);
  egw_store_close(st);
}

Test(records, load_drops_expired_rows_of_its_kind_only) {
  struct egw_store *st = fx_open();
  put_sync(st, "ees.eec", "old", "{}", 100);
  put_sync(st, "ees.eec", "edge", "{}", 150);
  put_sync(st, "ees.eec", "forever", "{}", 0);
  put_sync(st, "ees.eec", "new", "{}", 200);
  put_sync(st, "ees.ctx", "other-old", "{}", 100);

  struct rows r = load(st, "ees.eec", 150);
  assert_ids(&r, "edge,forever,new"); /* exp == now is still valid */
  rows_free(&r);
  egw_store_close(st);

  /* The expired row is gone from the file, not just skipped; the other kind's expired
   * row waits for its own load. */
  st = fx_open();
  r = load(st, "ees.eec", 0);
  assert_ids(&r, "edge,forever,new");
  rows_free(&r);
  r = load(st, "ees.ctx", 0);
  assert_ids(&r, "other-old");
  rows_free(&r);
  r = load(st, "ees.ctx", 101);
  assert_ids(&r, "");
  rows_free(&r);
  egw_store_close(st);
}

Test(records, kinds_are_separate) {
  struct egw_store *st = fx_open();
  put_sync(st, "ecs.ees", "same-id", "{\"kind\":\"ees\"}", 0);
  put_sync(st, "ecs.sub", "same-id", "{\"kind\":\"sub\"}", 0);
  put_sync(st, "ecs.sub", "only-sub", "{}", 0);

  struct rows r = load(st, "ecs.ees", 0);
  assert_ids(&r, "same-id");
  cr_assert_str_eq(r.doc[0], "{\"kind\":\"ees\"}");
  rows_free(&r);

  delete_sync(st, "ecs.ees", "same-id");
  r = load(st, "ecs.ees", 0);
  assert_ids(&r, "");
  rows_free(&r);
  r = load(st, "ecs.sub", 0);
  assert_ids(&r, "same-id,only-sub");
  cr_assert_str_eq(r.doc[0], "{\"kind\":\"sub\"}");
  rows_free(&r);
  r = load(st, "no.such.kind", 0);
  assert_ids(&r, "");
  rows_free(&r);
  egw_store_close(st);
}

/* Many writes queued at once on the same few ids, puts and deletes mixed with
 * revocations: the file ends as if they ran one by one in call order, and their
 * callbacks run in that order. */
#define OPS 600
#define IDS 12

Test(records, many_queued_writes_apply_in_call_order) {
  struct egw_store *st = fx_open();
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  static struct fx_done d[OPS];
  /* The model: which ids exist, their docs, and their order of first write. */
  int present[IDS] = {0}, last_doc[IDS] = {0}, order[IDS], n_order = 0;
  unsigned seed = 12345;
  for (int i = 0; i < OPS; i++) {
    seed = seed * 1103515245u + 12345u;
    int k = (int)((seed >> 16) % IDS);
    int what = (int)((seed >> 8) % 8); /* 0: delete, 1: revoke, else put */
    char id[16], doc[32];
    snprintf(id, sizeof(id), "id%02d", k);
    if (what == 0) {
      cr_assert_eq(egw_store_delete(st, &loop, "ees.eec", id, fx_on_done, &d[i]), 0);
      if (present[k]) {
        present[k] = 0;
        int j = 0;
        while (order[j] != k)
          j++;
        memmove(&order[j], &order[j + 1], (size_t)(n_order - j - 1) * sizeof(order[0]));
        n_order--;
      }
    } else if (what == 1) {
      snprintf(id, sizeof(id), "jti-%d", i);
      cr_assert_eq(egw_store_revoke(st, &loop, id, 4000000000, fx_on_done, &d[i]), 0);
    } else {
      snprintf(doc, sizeof(doc), "{\"op\":%d}", i);
      cr_assert_eq(egw_store_put(st, &loop, "ees.eec", id, doc, 0, fx_on_done, &d[i]), 0);
      if (!present[k])
        order[n_order++] = k;
      present[k] = 1;
      last_doc[k] = i;
    }
  }
  cr_assert_eq(egw_store_pending(st), OPS);
  fx_finish(&loop);
  cr_assert_eq(egw_store_pending(st), 0);
  for (int i = 0; i < OPS; i++) {
    cr_assert_eq(d[i].calls, 1, "write %d called %d times", i, d[i].calls);
    cr_assert_eq(d[i].status, 0, "write %d: %s", i, egw_strerror(d[i].status));
    cr_assert_eq(d[i].turn, i + 1, "write %d completed %dth", i, d[i].turn);
  }
  egw_store_close(st);

  st = fx_open();
  struct rows r = load(st, "ees.eec", 0);
  cr_assert_eq(r.n, n_order);
  for (int j = 0; j < n_order; j++) {
    char id[16], doc[32];
    snprintf(id, sizeof(id), "id%02d", order[j]);
    snprintf(doc, sizeof(doc), "{\"op\":%d}", last_doc[order[j]]);
    cr_assert_str_eq(r.id[j], id, "row %d", j);
    cr_assert_str_eq(r.doc[j], doc, "row %d (%s): the last put wins", j, id);
  }
  rows_free(&r);
  egw_store_close(st);
}

/* A callback may queue the next write, and the last callback may close the store. */
struct chain {
  struct egw_store *st;
  uv_loop_t *loop;
  int step;
  int statuses[3];
};

static void chain_done(void *arg, int status) {
  struct chain *c = arg;
  c->statuses[c->step++] = status;
  if (c->step == 1) {
    cr_assert_eq(egw_store_put(c->st, c->loop, "ecs.sub", "second", "{}", 0, chain_done, c), 0);
  } else if (c->step == 2) {
    cr_assert_eq(egw_store_pending(c->st), 0);
    egw_store_close(c->st);
    c->st = NULL;
  }
}

Test(records, callback_may_queue_a_write_or_close_the_store) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct chain c = {.st = fx_open(), .loop = &loop};
  cr_assert_eq(egw_store_put(c.st, &loop, "ecs.sub", "first", "{}", 0, chain_done, &c), 0);
  fx_finish(&loop);
  cr_assert_eq(c.step, 2);
  cr_assert_null(c.st);
  cr_assert_eq(c.statuses[0], 0);
  cr_assert_eq(c.statuses[1], 0);

  struct egw_store *st = fx_open();
  struct rows r = load(st, "ecs.sub", 0);
  assert_ids(&r, "first,second");
  rows_free(&r);
  egw_store_close(st);
}

static void no_record(void *arg, const char *id, const char *doc, int64_t exp_s) {
  (void)arg, (void)id, (void)doc, (void)exp_s;
  cr_assert_fail("no record expected");
}

Test(records, bad_arguments_return_einval_without_callback) {
  struct egw_store *st = fx_open();
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d = {0};
  cr_assert_eq(egw_store_put(NULL, &loop, "k", "i", "{}", 0, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_put(st, NULL, "k", "i", "{}", 0, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_put(st, &loop, NULL, "i", "{}", 0, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_put(st, &loop, "", "i", "{}", 0, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_put(st, &loop, "k", NULL, "{}", 0, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_put(st, &loop, "k", "", "{}", 0, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_put(st, &loop, "k", "i", NULL, 0, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_put(st, &loop, "k", "i", "{}", 0, NULL, &d), UV_EINVAL);
  cr_assert_eq(egw_store_delete(NULL, &loop, "k", "i", fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_delete(st, NULL, "k", "i", fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_delete(st, &loop, "", "i", fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_delete(st, &loop, NULL, "i", fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_delete(st, &loop, "k", "", fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_delete(st, &loop, "k", NULL, fx_on_done, &d), UV_EINVAL);
  cr_assert_eq(egw_store_delete(st, &loop, "k", "i", NULL, &d), UV_EINVAL);
  cr_assert_eq(egw_store_load_records(NULL, "k", 0, no_record, NULL), UV_EINVAL);
  cr_assert_eq(egw_store_load_records(st, NULL, 0, no_record, NULL), UV_EINVAL);
  cr_assert_eq(egw_store_load_records(st, "", 0, no_record, NULL), UV_EINVAL);
  cr_assert_eq(egw_store_load_records(st, "k", 0, NULL, NULL), UV_EINVAL);
  cr_assert_eq(egw_store_pending(st), 0);
  fx_finish(&loop);
  cr_assert_eq(d.calls, 0);

  /* An empty document is a document. */
  put_sync(st, "k", "i", "", 0);
  struct rows r = load(st, "k", 0);
  assert_ids(&r, "i");
  cr_assert_str_eq(r.doc[0], "");
  rows_free(&r);
  egw_store_close(st);
}

/* The disk fills up under a put (RLIMIT_FSIZE: the WAL cannot grow past it; Criterion
 * runs each test in its own process): the put reports EGW_ERR_IO and changes nothing,
 * the log names the record but not its document, and the write queued behind it still
 * succeeds once it fits. */
#define BIG_DOC (1024 * 1024)

Test(records, disk_full_put_fails_through_done_and_changes_nothing) {
  struct egw_store *st = fx_open();
  put_sync(st, "ees.eec", "kept", "{\"v\":1}", 0);

  char *big = malloc(BIG_DOC + 1);
  cr_assert_not_null(big);
  memset(big, 'x', BIG_DOC);
  memcpy(big, "{\"secret\":\"DOC-CONTENT\",\"pad\":\"", 31);
  strcpy(big + BIG_DOC - 2, "\"}");

  struct sigaction ign = {.sa_handler = SIG_IGN}, old_sa;
  cr_assert_eq(sigaction(SIGXFSZ, &ign, &old_sa), 0);
  struct rlimit old_lim, lim;
  cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
  lim = old_lim;
  lim.rlim_cur = 256 * 1024;
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  fx_log_capture();

  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d_big = {0}, d_kept = {0}, d_after = {0};
  cr_assert_eq(egw_store_put(st, &loop, "ees.eec", "big", big, 0, fx_on_done, &d_big), 0);
  cr_assert_eq(egw_store_put(st, &loop, "ees.eec", "kept", "{\"v\":2}", 0, fx_on_done, &d_kept), 0);
  cr_assert_eq(egw_store_put(st, &loop, "ees.eec", "after", "{}", 0, fx_on_done, &d_after), 0);
  fx_finish(&loop);

  char *logbuf = fx_log_release();
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
  cr_assert_eq(sigaction(SIGXFSZ, &old_sa, NULL), 0);
  free(big);

  cr_assert_eq(d_big.calls, 1);
  cr_assert_eq(d_big.status, EGW_ERR_IO, "%s", egw_strerror(d_big.status));
  cr_assert_eq(d_kept.calls, 1);
  cr_assert_eq(d_kept.status, 0, "%s", egw_strerror(d_kept.status));
  cr_assert_eq(d_after.calls, 1);
  cr_assert_eq(d_after.status, 0, "%s", egw_strerror(d_after.status));
  cr_assert_lt(d_big.turn, d_kept.turn);
  cr_assert_lt(d_kept.turn, d_after.turn);
  cr_assert_eq(egw_store_pending(st), 0);

  cr_assert_not_null(strstr(logbuf, "\"event\":\"store_write_failed\""), "%s", logbuf);
  cr_assert_not_null(strstr(logbuf, "\"op\":\"put\""), "%s", logbuf);
  cr_assert_not_null(strstr(logbuf, "\"kind\":\"ees.eec\""), "%s", logbuf);
  cr_assert_not_null(strstr(logbuf, "\"id\":\"big\""), "%s", logbuf);
  cr_assert_not_null(strstr(logbuf, "\"error\":\"disk I/O error\""), "%s", logbuf);
  cr_assert_null(strstr(logbuf, "DOC-CONTENT"), "the document was logged: %.300s", logbuf);
  cr_assert_null(strstr(logbuf, "\"id\":\"kept\""), "only the failed write is logged: %s", logbuf);
  free(logbuf);
  egw_store_close(st);

  st = fx_open();
  struct rows r = load(st, "ees.eec", 0);
  assert_ids(&r, "kept,after");
  cr_assert_str_eq(r.doc[0], "{\"v\":2}");
  rows_free(&r);
  egw_store_close(st);
}

/* Another connection drops the table: delete and load fail, each with its own event. */
Test(records, missing_table_fails_delete_and_load) {
  struct egw_store *st = fx_open();
  put_sync(st, "ecs.ees", "a", "{}", 0);
  fx_exec("DROP TABLE records");
  fx_log_capture();

  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  struct fx_done d = {0};
  cr_assert_eq(egw_store_delete(st, &loop, "ecs.ees", "a", fx_on_done, &d), 0);
  fx_finish(&loop);
  cr_assert_eq(d.calls, 1);
  cr_assert_eq(d.status, EGW_ERR_IO);
  cr_assert_eq(egw_store_load_records(st, "ecs.ees", 0, no_record, NULL), EGW_ERR_IO);

  char *logbuf = fx_log_release();
  cr_assert_not_null(strstr(logbuf, "\"event\":\"store_write_failed\",\"op\":\"delete\","
                                    "\"kind\":\"ecs.ees\",\"id\":\"a\""),
                     "%s", logbuf);
  cr_assert_not_null(strstr(logbuf, "\"event\":\"store_load_failed\",\"table\":\"records\""), "%s",
                     logbuf);
  cr_assert_not_null(strstr(logbuf, "no such table"), "%s", logbuf);
  free(logbuf);
  egw_store_close(st);
}

/* A database written by the previous release (schema 1: revocations only) gains the
 * records table and keeps its revocations. */
static void count_revocation(void *arg, const char *jti, int64_t exp_s) {
  (void)exp_s;
  cr_assert_str_eq(jti, "old-jti");
  (*(int *)arg)++;
}

Test(records, schema_1_database_is_migrated) {
  fx_exec("PRAGMA journal_mode = WAL;"
          "CREATE TABLE revocations(jti TEXT PRIMARY KEY, exp INTEGER NOT NULL,"
          " revoked_at INTEGER NOT NULL);"
          "INSERT INTO revocations VALUES ('old-jti', 4000000000, 1);"
          "PRAGMA user_version = 1");
  struct egw_store *st = fx_open();
  cr_assert_eq(fx_user_version(), 2);
  int n = 0;
  cr_assert_eq(egw_store_load_revocations(st, 0, count_revocation, &n), 0);
  cr_assert_eq(n, 1);
  put_sync(st, "ees.eec", "new", "{}", 0);
  struct rows r = load(st, "ees.eec", 0);
  assert_ids(&r, "new");
  rows_free(&r);
  egw_store_close(st);
}
