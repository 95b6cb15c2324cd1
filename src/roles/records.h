/* A role's table of registrations (or subscriptions): JSON documents by id, each with an
 * owner (the identity that may read and change it) and an expiry, kept in memory and
 * written through to the site's store (src/store/store.h records of one kind).
 *
 * Memory changes only once the store says the change is durable, so what a client was
 * told survives kill -9, and a failed write changes nothing. Expired records are never
 * served (egw__record_live); a periodic timer drops them from memory and the store.
 * egw__records_commit is the write a request waits for: it answers once durable.
 * Loop thread only. */
#ifndef EGW_ROLES_RECORDS_H
#define EGW_ROLES_RECORDS_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "edgegw/role.h"

struct egw_site;

/* One record, owned by its table. */
struct egw_record {
  char *id;
  char *owner;      /* from the table's owner_of(doc) */
  json_t *doc;      /* the document as stored */
  int64_t exp_s;    /* expiry in seconds since the epoch; 0: never */
  unsigned pending; /* store writes in flight: the purge leaves it alone meanwhile */
  int deleting;     /* a delete is in flight: it is gone for every new request */
  struct egw_record *next;
};

enum egw_record_change {
  EGW_RECORD_CREATED,
  EGW_RECORD_UPDATED,
  EGW_RECORD_DELETED,
  EGW_RECORD_EXPIRED,
};

/* An observer: |rec| is the record after the change (for a delete or an expiry, the
 * record that left, freed after the call); |before| the document it replaced (updates
 * only, else NULL). Both borrowed for the call. Runs once the change is durable (an
 * expiry: once it left memory). */
typedef void (*egw_records_change_fn)(void *arg, enum egw_record_change change,
                                      const struct egw_record *rec, const json_t *before);

/* Returns the owner named by a document (a borrowed string), or NULL when the document
 * names none (it is then refused). */
typedef const char *(*egw_records_owner_fn)(const json_t *doc);

#define EGW_RECORDS_MAX_OBSERVERS 4
#define EGW_RECORDS_PURGE_MS 1000

struct egw_records {
  struct egw_site *site; /* its store and loop; NULL: memory only (unit tests) */
  const char *kind;      /* store kind, static */
  egw_records_owner_fn owner_of;
  struct egw_record *head; /* in order of creation */
  struct {
    egw_records_change_fn cb;
    void *arg;
  } observers[EGW_RECORDS_MAX_OBSERVERS];
  size_t n_observers;
  uv_timer_t purge;
  unsigned starts; /* start calls not yet matched by stop */
  int timer_open;
};

/* egw__records_init prepares |r| and, when |site| has a store, loads the live records of
 * |kind| from it (start-up only: blocking). Returns 0, or -1 with *out_err (malloc'd). */
int egw__records_init(struct egw_records *r, struct egw_site *site, const char *kind,
                      egw_records_owner_fn owner_of, char **out_err);
/* egw__records_cleanup frees every record (after the loop ended). */
void egw__records_cleanup(struct egw_records *r);

/* egw__records_insert adds a record to memory only (loading, tests); |doc| is taken.
 * Returns it, or NULL when out of memory or the document names no owner. */
struct egw_record *egw__records_insert(struct egw_records *r, const char *id, json_t *doc,
                                       int64_t exp_s);

/* egw__records_observe adds an observer (from init). Returns 0, or -1 when full. */
int egw__records_observe(struct egw_records *r, egw_records_change_fn cb, void *arg);

/* egw__records_start arms the purge timer on the first call; egw__records_stop closes
 * it on the call that matches the last start (several modules may share a table). The
 * table must outlive the loop's run (the timer has no close callback). */
int egw__records_start(struct egw_records *r, uv_loop_t *loop);
void egw__records_stop(struct egw_records *r);

/* egw__records_purge drops the records expired at |now| that have no write in flight,
 * from memory and the store, telling the observers. Returns how many. */
size_t egw__records_purge(struct egw_records *r, int64_t now);

/* egw__record_live says whether |rec| is served at |now|: not expired, not being
 * deleted. */
int egw__record_live(const struct egw_record *rec, int64_t now);
/* egw__records_find returns the live record |id|, or NULL. */
struct egw_record *egw__records_find(struct egw_records *r, const char *id, int64_t now);
/* egw__record_shadowed says whether a newer live record has the same owner. */
int egw__record_shadowed(const struct egw_record *rec, int64_t now);
/* egw__records_newest returns the newest live record of |owner|, or NULL. */
const struct egw_record *egw__records_newest(const struct egw_records *r, const char *owner,
                                             int64_t now);

/* A write's outcome: |status| 0 once durable (memory changed, observers told), else
 * negative (nothing changed); |rec| the record (NULL for a failed create). */
typedef void (*egw_records_done_fn)(void *arg, int status, const struct egw_record *rec);

/* egw__records_put writes |doc| (taken, also on failure) expiring at |exp_s|: a new
 * record |new_id| when |rec| is NULL, else a replacement of |rec|. Returns 0 and |done|
 * runs once later on the loop thread, or a negative code and |done| never runs. */
int egw__records_put(struct egw_records *r, struct egw_record *rec, const char *new_id, json_t *doc,
                     int64_t exp_s, egw_records_done_fn done, void *arg);

/* egw__records_delete deletes |rec|; once durable it leaves memory and is freed after
 * |done| returns. Same contract as egw__records_put. */
int egw__records_delete(struct egw_records *r, struct egw_record *rec, egw_records_done_fn done,
                        void *arg);

/* ---- writes a request waits for ------------------------------------------------------ */

/* Runs when a committed write ended, before the answer, whether or not a client still
 * waits: |change| is what was asked (CREATED, UPDATED or DELETED), |status| and |rec| as
 * for egw_records_done_fn. */
typedef void (*egw_records_written_fn)(void *arg, enum egw_record_change change, int status,
                                       const struct egw_record *rec);

/* Fills the response of |x| with |rec| and |status| (200, 201). Returns EGW_DONE or
 * EGW_FAILED. */
typedef enum egw_handler_result (*egw_records_answer_fn)(void *arg, struct egw_exchange *x,
                                                         int status, const struct egw_record *rec);

/* A change to a table and how the request that asked for it is answered once durable. */
struct egw_records_commit {
  struct egw_record *rec; /* the record replaced or deleted; NULL: a new one, |new_id| */
  const char *new_id;     /* NULL: a fresh id (egw__roles_new_id) */
  json_t *doc;            /* taken (also on failure): the document; NULL: delete |rec| */
  int64_t exp_s;
  /* Once durable: |status| (0: 201 for a create, 200 for an update, 204 for a delete)
   * with the record by |answer| (NULL: its document as application/json), or for 204
   * without a body; a create with |location_base| has Location: the absolute URI of
   * "<location_base>/<id>" on this server. A failed write answers 503 ProblemDetails
   * (cause SYSTEM_FAILURE) with |failed| as detail; an answer that cannot be built, 500.
   * Both strings static. */
  int status;
  const char *location_base;
  const char *failed;
  egw_records_answer_fn answer;
  egw_records_written_fn written; /* NULL: nothing; logging, follow-up work */
  void *arg;                      /* of |answer| and |written| */
};

/* egw__records_commit starts the write |c| on |r| and parks |x| (NULL: nobody waits; a
 * client that goes away is not answered, the write completes all the same). Returns 0,
 * after which the caller returns EGW_AGAIN, or a negative code when the write could not
 * start: nothing changed, c->doc was released, |written| never runs. */
int egw__records_commit(struct egw_records *r, struct egw_exchange *x,
                        const struct egw_records_commit *c);

#endif
