/* Private to the EES role (TS 23.558 / TS 24.558 / TS 29.558 Edge Enabler Server): the
 * state its modules share on a site (registrations, contexts, the ECS token cache, the
 * EDGE-6 registration) and the helpers of its handlers.
 *
 * Modules: ees-eec (EDGE-1: EEC registration, EAS discovery), ees-eas (EDGE-3: EAS
 * registration), ees-reloc (EDGE-9: EEC context push and pull). Each module's state is
 * the one struct egw__ees of the site (egw_site_shared "ees"); whichever module starts
 * first starts it, the first stop stops it. The tables are roles/records.h's and the
 * JSON API helpers roles/api.h's, shared with the ECS. */
#ifndef EGW_ROLES_EES_INTERNAL_H
#define EGW_ROLES_EES_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/site.h"
#include "edgegw/role.h"
#include "roles/api.h"
#include "roles/records.h"

struct egw_http_client;
struct egw_http_call;
struct egw_truststore;

/* ---- map.c: string keys to pointers ---------------------------------------------- */

struct egw__ees_map_entry {
  char *key;
  void *value;
  struct egw__ees_map_entry *next;
};

struct egw__ees_map {
  struct egw__ees_map_entry **buckets;
  size_t n_buckets;
  size_t n;
};

/* egw__ees_map_iter walks a map; the current entry may be removed while walking. */
struct egw__ees_map_iter {
  size_t bucket;
  struct egw__ees_map_entry *next;
};

void *egw__ees_map_get(const struct egw__ees_map *m, const char *key);
/* egw__ees_map_put sets |key| (copied) to |value|; returns 0, or -1 when out of memory.
 * An existing value is replaced (the caller owned it and still does). */
int egw__ees_map_put(struct egw__ees_map *m, const char *key, void *value);
/* egw__ees_map_remove takes |key| out and returns its value (NULL when absent). */
void *egw__ees_map_remove(struct egw__ees_map *m, const char *key);
void egw__ees_map_iter_init(const struct egw__ees_map *m, struct egw__ees_map_iter *it);
/* egw__ees_map_next returns the next value (and its key in *out_key), or NULL at the end. */
void *egw__ees_map_next(const struct egw__ees_map *m, struct egw__ees_map_iter *it,
                        const char **out_key);
/* egw__ees_map_clear frees the map's own memory; the values are the caller's. */
void egw__ees_map_clear(struct egw__ees_map *m);

/* ---- state.c: the shared state and its durable tables ----------------------------- */

/* The EES's tables (roles/records.h, written through to the store): EEC registrations
 * (owner: eecId), EAS registrations (owner: easProf.easId) and EEC contexts pushed here
 * (id "<source eesId>|<cntxId>", owner: eecCntx.eecId). */
enum egw__ees_kind { EGW__EES_EEC, EGW__EES_EAS, EGW__EES_CTX, EGW__EES_N_KINDS };

/* The EDGE-6 registration of this EES at its ECS (ecs_reg.c). */
struct egw__ees_ecs_reg {
  char *id;      /* the ECS's registrationId, NULL before the first 201 */
  char *url;     /* the registration resource (its Location) */
  char *eas_set; /* the easIds last sent (sorted, joined by '\n') */
  uv_timer_t timer;
  struct egw_http_call *call; /* in flight, or NULL */
  int dirty;                  /* the EAS set changed while a call was in flight */
  uint32_t backoff_ms;
};

struct egw__ees {
  struct egw_site *site;
  const struct egw_ees_policy *policy;
  struct egw_records tables[EGW__EES_N_KINDS];
  struct egw_http_client *http; /* between start and stop */
  /* The CAs the HTTP client verifies servers with: site.trust.ca loaded afresh, so that
   * EEC CAs learned from the ECS (added to the site's store) never vouch for servers. */
  struct egw_truststore *outbound_trust;
  uv_timer_t token_timer; /* drops expired tokens */
  int started, stopped;
  struct egw__ees_map tokens; /* token cache key -> struct egw__ees_token_entry */
  struct egw__ees_ecs_reg reg;
};

/* egw__ees_get returns the shared state of |site| (creating it and loading the stored
 * records on first use), or NULL with *out_err. For module init. */
struct egw__ees *egw__ees_get(struct egw_site *site, char **out_err);
/* egw__ees_start arms the purge timers, creates the HTTP client and registers at the
 * ECS; egw__ees_stop undoes it. Both run once whatever module calls them. */
int egw__ees_start(struct egw__ees *e, uv_loop_t *loop);
void egw__ees_stop(struct egw__ees *e);

/* egw__ees_find returns the live record |id| of |kind|, or NULL. */
struct egw_record *egw__ees_find(struct egw__ees *e, enum egw__ees_kind kind, const char *id);
int64_t egw__ees_now_s(void);

/* egw__ees_commit writes |c| (egw__records_commit; |failed|, |written| and |arg| are
 * the EES's: it logs "ees_stored" or "ees_deleted") to the table of |kind| and answers
 * |x| (NULL: nobody waits) once durable. Returns EGW_AGAIN, or EGW_FAILED when the write
 * could not start (nothing changed; c->doc was released). */
enum egw_handler_result egw__ees_commit(struct egw__ees *e, enum egw__ees_kind kind,
                                        struct egw_exchange *x, const struct egw_records_commit *c);

/* egw__ees_peer returns the configured EDGE-9 peer |id|, or NULL. */
const struct egw_ees_peer_policy *egw__ees_peer(const struct egw__ees *e, const char *id);

/* ---- json.c: EES specifics of answers and URLs (roles/api.h has the rest) ---------- */

/* A member of a request that is not as the schema says: ProblemDetails invalidParams
 * ({param: a JSON pointer or a query parameter, reason}) and cause. */
struct egw__ees_invalid {
  char param[96];
  char reason[160];
  const char *cause; /* MANDATORY_IE_MISSING, MANDATORY_IE_INCORRECT, ... */
};

/* egw__ees_invalid_set fills |inv| and returns -1 (for "return egw__ees_invalid_set(..)"). */
int egw__ees_invalid_set(struct egw__ees_invalid *inv, const char *cause, const char *param,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* egw__ees_bad_request answers 400 with |inv|. */
enum egw_handler_result egw__ees_bad_request(struct egw_exchange *x,
                                             const struct egw__ees_invalid *inv);
/* egw__ees_problem answers |status| with a ProblemDetails without invalidParams. */
enum egw_handler_result egw__ees_problem(struct egw_exchange *x, int status, const char *detail,
                                         const char *cause);

/* egw__ees_time returns |s| as a DateTime JSON string (a new reference). */
json_t *egw__ees_time(int64_t s);

/* egw__ees_url returns |base| (no trailing '/') followed by |path| (malloc'd). */
char *egw__ees_url(const char *base, const char *path);

/* A body check of validate.c. */
typedef int (*egw__ees_check_fn)(const json_t *doc, struct egw__ees_invalid *inv);

/* egw__ees_check_registration checks registration |doc| with |check| and grants its
 * expTime (egw__ees_grant_exp, at most ees.eec_registration_max_s ahead) into
 * *out_exp_s. Returns 0, or -1 with *inv. */
int egw__ees_check_registration(const struct egw__ees *e, const json_t *doc,
                                egw__ees_check_fn check, int64_t *out_exp_s,
                                struct egw__ees_invalid *inv);
/* egw__ees_read_registration reads the application/json body of |x| and checks it with
 * egw__ees_check_registration. Returns it (a new reference), or NULL after answering
 * (415, 400) with *out_result. */
json_t *egw__ees_read_registration(const struct egw__ees *e, struct egw_exchange *x,
                                   egw__ees_check_fn check, int64_t *out_exp_s,
                                   enum egw_handler_result *out_result);

/* egw__ees_token_sub_mismatch says whether a token was used whose sub is not |id|. */
int egw__ees_token_sub_mismatch(const struct egw_request *req, const char *id);

/* ---- validate.c: the schemas' required members and types --------------------------- */

/* Each returns 0 when |doc| is acceptable, else -1 with *inv naming the member (a JSON
 * pointer below |prefix| for egw__ees_check_context). */
int egw__ees_check_eec_registration(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_eec_registration_patch(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_eas_registration(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_eas_registration_patch(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_discovery_req(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_context_push(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_context(const json_t *ctx, const char *prefix, struct egw__ees_invalid *inv);
/* egw__ees_filter_check validates an EasDiscoveryFilter (NULL: no filter). */
int egw__ees_filter_check(const json_t *filter, struct egw__ees_invalid *inv);

/* egw__ees_grant_exp computes the expiry granted for a requested expTime (|exp_time|,
 * may be NULL or null: the longest): min(requested, now + max_s). Returns -1 with *inv
 * when |exp_time| is not a date-time or not in the future. */
int egw__ees_grant_exp(const json_t *exp_time, int64_t now_s, uint32_t max_s, int64_t *out_exp,
                       struct egw__ees_invalid *inv);

/* ---- filter.c: EasDiscoveryFilter -------------------------------------------------- */

/* egw__ees_filter_match says whether EASProfile |eas| satisfies |filter| (NULL: any). */
int egw__ees_filter_match(const json_t *filter, const json_t *eas);

/* ---- tokens.c: access tokens from the ECS ------------------------------------------ */

struct egw__ees_token {
  const char *access_token;
  const char *scope;
  int64_t exp_ms; /* on the monotonic clock of egw_token_now_ms */
};

enum egw__ees_fetch {
  EGW__EES_FETCH_OK,
  EGW__EES_FETCH_UNREACHABLE, /* no answer, or 5xx: the ECS is down */
  EGW__EES_FETCH_REFUSED,     /* the ECS answered 4xx, or nonsense */
};

/* egw__ees_token_cb receives the token (valid during the call only) or a failure. */
typedef void (*egw__ees_token_cb)(void *arg, enum egw__ees_fetch result,
                                  const struct egw__ees_token *tok);

/* egw__ees_token_cached returns a token for (target, eecId, scope) that stays valid for a
 * while yet (valid until the caller returns to the loop), or NULL. |eec_id| may be NULL. */
const struct egw__ees_token *egw__ees_token_cached(struct egw__ees *e, const char *target,
                                                   const char *eec_id, const char *scope);
/* egw__ees_token_fetch asks the ECS (POST {ecs_url}/oauth2/token over mTLS), joining a
 * request already in flight for the same key. |cb| fires exactly once, later, unless
 * this returns -1 (no ECS, stopped, out of memory). */
int egw__ees_token_fetch(struct egw__ees *e, const char *target, const char *eec_id,
                         const char *scope, egw__ees_token_cb cb, void *arg);
/* egw__ees_tokens_purge drops expired tokens; egw__ees_tokens_free drops everything. */
void egw__ees_tokens_purge(struct egw__ees *e);
void egw__ees_tokens_free(struct egw__ees *e);

/* ---- ecs_reg.c: EDGE-6 registration of this EES ------------------------------------ */

/* egw__ees_ecs_reg_start sends the first registration (reg.timer is initialized by
 * egw__ees_start); egw__ees_ecs_reg_stop stops and closes the timer. */
void egw__ees_ecs_reg_start(struct egw__ees *e);
void egw__ees_ecs_reg_stop(struct egw__ees *e);
/* egw__ees_eas_set_changed re-registers when the set of registered EAS ids changed. */
void egw__ees_eas_set_changed(struct egw__ees *e);
void egw__ees_ecs_reg_free(struct egw__ees *e);

/* ---- reloc_client.c: EDGE-9 calls to a peer EES ------------------------------------ */

/* egw__ees_context_of builds the EECContext (TS 29.558) of an EEC registration. */
json_t *egw__ees_context_of(const struct egw_record *eec);

/* egw__ees_pull_cb: |ctx| is the peer's EECContext (borrowed for the call) or NULL,
 * with |why| saying what failed. */
typedef void (*egw__ees_pull_cb)(void *arg, const json_t *ctx, const char *why);
/* egw__ees_ctx_pull GETs context |cntx_id| of EEC |eec_id| from peer |src_ees_id| with an
 * EDGE-9 token from the ECS. |cb| fires once, later, unless this returns -1 with *why. */
int egw__ees_ctx_pull(struct egw__ees *e, const char *src_ees_id, const char *cntx_id,
                      const char *eec_id, egw__ees_pull_cb cb, void *arg, const char **why);

/* egw__ees_push_cb: |ok| when the peer took the context; else |why|. */
typedef void (*egw__ees_push_cb)(void *arg, int ok, const char *why);
/* egw__ees_ctx_push POSTs EECContextPush |body| (borrowed) to peer |tgt_ees_id|. */
int egw__ees_ctx_push(struct egw__ees *e, const char *tgt_ees_id, const json_t *body,
                      const char *eec_id, egw__ees_push_cb cb, void *arg, const char **why);

/* ---- handlers ---------------------------------------------------------------------- */

#define EGW__EES_EEC_BASE "/eees-eecregistration/v1/registrations"
#define EGW__EES_DISCOVERY_PATH "/eees-easdiscovery/v1/eas-profiles/request-discovery"
#define EGW__EES_EAS_BASE "/eees-easregistration/v1/registrations"
#define EGW__EES_CTX_PATH "/eees-eeccontextreloc/v1/eec-contexts"
#define EGW__EES_RELOC_SCOPE "eees-eeccontextreloc"

enum egw_handler_result egw__ees_eec_registration(struct egw__ees *e, struct egw_exchange *x);
enum egw_handler_result egw__ees_discovery(struct egw__ees *e, struct egw_exchange *x);

/* egw__ees_module_init is the init of every EES module: its state is the shared one. */
int egw__ees_module_init(struct egw_site *site, void **out_state, char **out_err);
int egw__ees_module_start(void *state, uv_loop_t *loop);
void egw__ees_module_stop(void *state);

#endif
