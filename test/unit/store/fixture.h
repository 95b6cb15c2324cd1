/* Shared by the store unit tests: a fresh state directory per test, a store opened in it,
 * a loop run to completion, callback bookkeeping and a captured log. */
#ifndef EGW_TEST_STORE_FIXTURE_H
#define EGW_TEST_STORE_FIXTURE_H

#include <stddef.h>

#include <uv.h>

#include "store/store.h"

/* fx_init creates the state directory (fx_dir, database at fx_db); fx_fini removes it. */
void fx_init(void);
void fx_fini(void);
const char *fx_dir(void);
const char *fx_db(void);

/* fx_open opens the store in fx_dir and asserts success. */
struct egw_store *fx_open(void);

/* fx_finish runs |loop| until nothing is left, then asserts it closes cleanly. */
void fx_finish(uv_loop_t *loop);

/* fx_exec runs |sql| on a second connection to the database. */
void fx_exec(const char *sql);

/* fx_user_version reads PRAGMA user_version of the database. */
int fx_user_version(void);

/* What a write callback saw: how often it ran, with which status, and its turn among
 * all callbacks of the test (1 for the first callback to run). */
struct fx_done {
  int calls;
  int status;
  int turn;
};
void fx_on_done(void *arg, int status);

/* fx_log_capture sends the log to memory until fx_log_release, which returns what was
 * logged (caller frees). */
void fx_log_capture(void);
char *fx_log_release(void);

#endif
