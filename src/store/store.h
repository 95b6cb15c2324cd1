/* Durable state of the site in SQLite (state_dir/edgegw.db): token revocations and
 * registration records. The loop never waits on the disk: reads happen once at start-up,
 * before the loop runs; writes go to a libuv worker (uv_queue_work) and their callback
 * runs on the loop thread once the write is durable (committed, synchronous=FULL), so a
 * request is answered only after what it changed survives a crash.
 *
 * Writes (revoke, put, delete) issued on one store are applied in the order of the
 * calls, one at a time, and their callbacks run in that order; a failed write does not
 * stop those behind it. Issue the writes of one store from one thread (its loop's). */
#ifndef EGW_STORE_STORE_H
#define EGW_STORE_STORE_H

#include <stdint.h>
#include <uv.h>

struct egw_store;

/* egw_store_open opens (creating if needed, mode 0600) |state_dir|/edgegw.db and
 * migrates its schema. |state_dir| must exist; an existing file is set to mode 0600. On
 * error returns NULL with *out_err (malloc'd, "path: message" where path is the database
 * file; NULL when out of memory). Blocking: call at start-up only. */
struct egw_store *egw_store_open(const char *state_dir, char **out_err);

/* egw_store_close closes the database. Every write must have completed (their callbacks
 * ran); NULL is accepted. */
void egw_store_close(struct egw_store *st);

/* egw_store_load_revocations calls |cb| for every revoked jti whose exp is at or after
 * |now_s| and deletes older ones. |cb| must not call into the store; |jti| is borrowed for
 * the call. Blocking: start-up only, with no write pending. Returns 0 or a negative code
 * (EGW_ERR_IO, logged as "store_load_failed"). */
int egw_store_load_revocations(struct egw_store *st, int64_t now_s,
                               void (*cb)(void *arg, const char *jti, int64_t exp_s), void *arg);

/* egw_store_revoke records that |jti| (expiring at |exp_s|) is revoked, on a worker of
 * |loop|; |jti| is copied. |done| runs exactly once on the loop thread with 0 once the row
 * is durable, or a negative code (EGW_ERR_IO, logged as "store_write_failed"); if this
 * call returns non-zero (UV_EINVAL for a NULL or empty jti, EGW_ERR_NOMEM, or
 * uv_queue_work's error), |done| is never called. Revoking the same jti twice is not an
 * error (the first exp is kept). */
int egw_store_revoke(struct egw_store *st, uv_loop_t *loop, const char *jti, int64_t exp_s,
                     void (*done)(void *arg, int status), void *arg);

/* ---- registrations ------------------------------------------------------------------
 * One table for every kind of registration a role keeps (the ECS's EESes, the EES's EECs
 * and EASes, EDGE-4 subscriptions): rows (kind, id) -> a JSON document and its expiry.
 * The role keeps its own table in memory and writes through: the write's callback tells
 * it the change is durable, and only then does it answer the client. */

/* egw_store_put writes (inserts or replaces) the record |kind|/|id| with the JSON text
 * |doc| expiring at |exp_s| (0: never), on a worker of |loop|; the strings are copied. A
 * replaced record keeps its place in the load order; a deleted one written again goes
 * last. The document is never logged.
 * |done| runs exactly once on the loop thread with 0 once the row is durable or a
 * negative code (EGW_ERR_IO, logged as "store_write_failed"; nothing was changed: the
 * write is one transaction). Returns non-zero (UV_EINVAL for an empty kind or id or a
 * NULL doc, EGW_ERR_NOMEM, or uv_queue_work's error) when |done| will never run. Writes
 * issued on one store are applied in the order of the calls. */
int egw_store_put(struct egw_store *st, uv_loop_t *loop, const char *kind, const char *id,
                  const char *doc, int64_t exp_s, void (*done)(void *arg, int status), void *arg);

/* egw_store_delete removes the record |kind|/|id| (absent is not an error), like
 * egw_store_put (UV_EINVAL for an empty kind or id). */
int egw_store_delete(struct egw_store *st, uv_loop_t *loop, const char *kind, const char *id,
                     void (*done)(void *arg, int status), void *arg);

/* egw_store_load_records calls |cb| for every record of |kind| whose exp_s is 0 or at or
 * after |now_s|, in the order they were first written, and deletes the expired ones of
 * that kind. |cb| must not call into the store; its strings are borrowed for the call.
 * Blocking: start-up only (role init), with no write pending. Returns 0 or a negative
 * code (UV_EINVAL for a NULL store or cb or an empty kind; EGW_ERR_IO, logged as
 * "store_load_failed", and then |cb| may have run for some rows). */
int egw_store_load_records(struct egw_store *st, const char *kind, int64_t now_s,
                           void (*cb)(void *arg, const char *id, const char *doc, int64_t exp_s),
                           void *arg);

/* egw_store_pending counts writes whose callback has not run yet (for drain). */
unsigned egw_store_pending(const struct egw_store *st);

#endif
