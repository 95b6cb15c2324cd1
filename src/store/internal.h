/* Private to the store: the connection and its statements, and the write queue that
 * store.c (open, close, revocations) and records.c (registration records) share. */
#ifndef EGW_STORE_INTERNAL_H
#define EGW_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "store/store.h"
#include "util/log.h"

struct egw__store_write;

struct egw_store {
  sqlite3 *db;
  sqlite3_stmt *begin;
  sqlite3_stmt *commit;
  sqlite3_stmt *rollback;
  /* revocations (store.c) */
  sqlite3_stmt *insert_revocation;
  sqlite3_stmt *delete_expired;
  sqlite3_stmt *select_revocations;
  /* records (records.c) */
  sqlite3_stmt *put_record;
  sqlite3_stmt *delete_record;
  sqlite3_stmt *delete_expired_records;
  sqlite3_stmt *select_records;
  /* The write queue, loop thread only. |head| is the one write on a worker (the only
   * one: that is what applies writes in call order); the others wait behind it. */
  struct egw__store_write *head;
  struct egw__store_write *tail;
  unsigned pending; /* queued or running, callback not yet run */
};

/* One write waiting in, or running from, the store's queue. It is the first member of a
 * malloc'd block that also holds the write's arguments; the store frees the block with
 * free() just before |done| runs. */
struct egw__store_write {
  uv_work_t work;
  uv_loop_t *loop;
  struct egw_store *st;
  struct egw__store_write *next;
  /* Worker thread, inside BEGIN IMMEDIATE with the connection mutex held: runs the
   * write's statements. Returns SQLITE_DONE, or the error with SQLite's message in
   * |errmsg|; the transaction is then rolled back. */
  int (*apply)(struct egw__store_write *w);
  /* Loop thread, when the write failed: adds the fields that name the write ("op" and
   * its keys) to the "store_write_failed" record. Never a document, token or key. */
  void (*describe)(const struct egw__store_write *w, struct egw_log_record *rec);
  void (*done)(void *arg, int status);
  void *arg;
  int status; /* set by the worker */
  char errmsg[256];
};

/* egw__store_submit queues |w| (apply, describe, done and arg set by the caller) behind
 * the store's other writes, to run on a worker of |loop|. On success the store owns |w|
 * and |done| runs exactly once; on failure (uv_queue_work's error) the caller still owns
 * |w| and |done| never runs. Loop thread only. */
int egw__store_submit(struct egw_store *st, uv_loop_t *loop, struct egw__store_write *w);

/* egw__store_run steps |s| (a statement returning no rows, or whose rows are ignored),
 * then resets it and clears its bindings. Returns SQLITE_DONE or the error, with
 * SQLite's message in |errbuf|. The caller holds the connection mutex. */
int egw__store_run(sqlite3 *db, sqlite3_stmt *s, char *errbuf, size_t cap);

/* egw__store_prepare prepares a persistent statement; on error -1 with the message in
 * |errbuf|. */
int egw__store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, char *errbuf, size_t cap);

/* egw__store_rollback_if_open rolls back the open transaction, if any. */
void egw__store_rollback_if_open(struct egw_store *st);

/* egw__store_log_load_failed logs "store_load_failed" with |what| (the table read) and
 * SQLite's message. */
void egw__store_log_load_failed(const char *what, const char *errmsg);

/* egw__store_records_prepare prepares the statements of records.c (at open, after the
 * migration); egw__store_records_finalize releases them (NULL statements accepted). */
int egw__store_records_prepare(struct egw_store *st, char *errbuf, size_t cap);
void egw__store_records_finalize(struct egw_store *st);

#endif
