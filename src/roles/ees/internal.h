/* Private to the EES role (TS 23.558 / TS 24.558 / TS 29.558 Edge Enabler Server): the
 * state its modules share on a site (registrations, contexts, the ECS token cache, the
 * EDGE-6 registration) and the helpers of its handlers.
 *
 * Modules: ees-eec (EDGE-1: EEC registration, EAS discovery), ees-eas (EDGE-3: EAS
 * registration), ees-reloc (EDGE-9: EEC context push and pull). Each module's state is
 * the one struct egw__ees of the site (egw_site_shared "ees"); whichever module starts
 * first starts it, the first stop stops it. */
#ifndef EGW_ROLES_EES_INTERNAL_H
#define EGW_ROLES_EES_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/site.h"
#include "edgegw/role.h"

struct egw_http_client;
struct egw_http_call;

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

enum egw__ees_kind { EGW__EES_EEC, EGW__EES_EAS, EGW__EES_CTX, EGW__EES_N_KINDS };

/* One registration (EEC, EAS) or relocated EEC context, as stored. Its doc is never
 * changed in place: an update swaps in a new one, so holders of a reference keep a
 * consistent document. */
struct egw__ees_rec {
  char *id;
  json_t *doc;
  int64_t exp_s;    /* wall-clock seconds; 0: never */
  uint64_t version; /* bumped by every change: a failed write undoes only its own */
  int committed;    /* a new record is invisible until its write is durable */
};

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
  uv_loop_t *loop;                              /* set by start */
  struct egw__ees_map tables[EGW__EES_N_KINDS]; /* id -> struct egw__ees_rec */
  struct egw_http_client *http;                 /* between start and stop */
  /* The CAs the HTTP client verifies servers with: site.trust.ca loaded afresh, so that
   * EEC CAs learned from the ECS (added to the site's store) never vouch for servers. */
  struct egw_truststore *outbound_trust;
  uv_timer_t purge_timer;
  int started, stopped;
  struct egw__ees_map tokens; /* token cache key -> struct egw__ees_token_entry */
  struct egw__ees_ecs_reg reg;
};

/* egw__ees_get returns the shared state of |site| (creating it and loading the stored
 * registrations on first use), or NULL with *out_err. For module init. */
struct egw__ees *egw__ees_get(struct egw_site *site, char **out_err);
/* egw__ees_start arms the purge timer, creates the HTTP client and registers at the
 * ECS; egw__ees_stop undoes it. Both run once whatever module calls them. */
int egw__ees_start(struct egw__ees *e, uv_loop_t *loop);
void egw__ees_stop(struct egw__ees *e);

/* egw__ees_store_kind: "ees.eec", "ees.eas", "ees.ctx". */
const char *egw__ees_store_kind(enum egw__ees_kind kind);
/* egw__ees_find returns the committed, unexpired record |id| of |kind|, or NULL. */
struct egw__ees_rec *egw__ees_find(struct egw__ees *e, enum egw__ees_kind kind, const char *id);
int64_t egw__ees_now_s(void);

/* A change written through to the store. */
enum egw__ees_write { EGW__EES_PUT, EGW__EES_DELETE };

struct egw__ees_change {
  enum egw__ees_kind kind;
  enum egw__ees_write what;
  const char *id;
  json_t *doc; /* PUT: taken (a reference is stolen) */
  int64_t exp_s;
  /* The answer once durable: |status| with the document as body (none for 204), and a
   * Location header when |location| is set; 503 ProblemDetails when the write failed. */
  int status;
  const char *location;
};

/* egw__ees_commit applies |c| in memory (a new record stays invisible until durable, an
 * updated one shows its new document at once, a deleted one disappears), writes it
 * through, and answers |x| when the write is durable (or undoes the change and answers
 * 503 when it failed). |x| may be NULL for a change nobody waits for. Returns
 * EGW_AGAIN, or EGW_FAILED when the write could not start (nothing changed; |doc| was
 * released). */
enum egw_handler_result egw__ees_commit(struct egw__ees *e, struct egw_exchange *x,
                                        const struct egw__ees_change *c);

/* egw__ees_peer returns the configured EDGE-9 peer |id|, or NULL. */
const struct egw_ees_peer_policy *egw__ees_peer(const struct egw__ees *e, const char *id);

/* ---- json.c: bodies, answers, times, ids ------------------------------------------- */

/* A member of a request that is not as the schema says: for ProblemDetails
 * invalidParams ({param, reason}) and the detail. */
struct egw__ees_invalid {
  char param[96];
  char reason[160];
};

/* egw__ees_invalid_set fills |inv| and returns -1 (for "return egw__ees_invalid_set(..)"). */
int egw__ees_invalid_set(struct egw__ees_invalid *inv, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* egw__ees_read_json parses the request body as a JSON object sent as |media_type|. On
 * failure it fills the response (415, or 400 naming what is wrong) and returns NULL. */
json_t *egw__ees_read_json(struct egw_exchange *x, const char *media_type);

/* egw__ees_set_problem fills |resp| with ProblemDetails; |inv| (may be NULL) adds
 * invalidParams. egw__ees_set_json fills |resp| with |doc| (NULL: no body). Both return
 * 0 or -1 (out of memory). */
int egw__ees_set_problem(struct egw_response *resp, int status, const char *detail,
                         const char *cause, const struct egw__ees_invalid *inv);
int egw__ees_set_json(struct egw_response *resp, int status, const json_t *doc);

/* The same, for a handler answering at once: EGW_DONE or EGW_FAILED. */
enum egw_handler_result egw__ees_problem(struct egw_exchange *x, int status, const char *detail,
                                         const char *cause);
enum egw_handler_result egw__ees_bad_request(struct egw_exchange *x,
                                             const struct egw__ees_invalid *inv);
enum egw_handler_result egw__ees_json(struct egw_exchange *x, int status, const json_t *doc);
/* egw__ees_method_not_allowed answers 405 with Allow: |allow|. */
enum egw_handler_result egw__ees_method_not_allowed(struct egw_exchange *x, const char *allow);

/* egw__ees_parse_time reads an RFC 3339 date-time ("2025-01-02T03:04:05Z", fractions
 * and offsets allowed) into Unix seconds; returns 0 or -1. */
int egw__ees_parse_time(const char *s, int64_t *out_s);
/* egw__ees_format_time writes |s| as "YYYY-MM-DDTHH:MM:SSZ" into |out| (>= 32 bytes). */
char *egw__ees_format_time(int64_t s, char *out, size_t cap);

/* egw__ees_new_id writes 32 random hex digits and a NUL to |out| (>= 33 bytes). */
int egw__ees_new_id(char *out);

/* egw__ees_merge_patch returns |target| with the RFC 7396 JSON merge patch |patch|
 * applied, as a new value (|target| is not changed); NULL when out of memory. */
json_t *egw__ees_merge_patch(const json_t *target, const json_t *patch);

/* egw__ees_location returns "https://<Host><base>/<id>" (arena memory; "<base>/<id>"
 * without a Host header), or NULL when out of memory. */
char *egw__ees_location(const struct egw_request *req, const char *base, const char *id);

/* egw__ees_path_id: when |path| is |base| + "/" + one segment, returns that segment
 * (arena copy); NULL otherwise. */
char *egw__ees_path_id(const struct egw_request *req, const char *base);

/* egw__ees_query_get returns the percent-decoded value of query parameter |name| (arena
 * memory), NULL when absent; *out_bad is set when the query is malformed. */
char *egw__ees_query_get(const struct egw_request *req, const char *name, int *out_bad);

/* egw__ees_urlencode returns |s| percent-encoded for a form or a query (malloc'd). */
char *egw__ees_urlencode(const char *s);
/* egw__ees_url returns |base| (no trailing '/') followed by |path| (malloc'd). */
char *egw__ees_url(const char *base, const char *path);

/* egw__ees_token_sub_mismatch says whether a token was used whose sub is not |id|. */
int egw__ees_token_sub_mismatch(const struct egw_request *req, const char *id);

/* ---- validate.c: the schemas' required members and types --------------------------- */

/* Each returns 0 when |doc| is acceptable, else -1 with *inv naming the member. */
int egw__ees_check_eec_registration(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_eec_registration_patch(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_eas_registration(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_eas_registration_patch(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_discovery_req(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_context_push(const json_t *doc, struct egw__ees_invalid *inv);
int egw__ees_check_context(const json_t *ctx, const char *prefix, struct egw__ees_invalid *inv);

/* egw__ees_grant_exp computes the expiry granted for a requested expTime (|exp_time|,
 * may be NULL: the longest): min(requested, now + max_s). Returns -1 with *inv when
 * |exp_time| is not a date-time or not in the future. */
int egw__ees_grant_exp(const json_t *exp_time, int64_t now_s, uint32_t max_s, int64_t *out_exp,
                       struct egw__ees_invalid *inv);

/* ---- filter.c: EasDiscoveryFilter -------------------------------------------------- */

/* egw__ees_filter_check validates an EasDiscoveryFilter (NULL: no filter). */
int egw__ees_filter_check(const json_t *filter, struct egw__ees_invalid *inv);
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
json_t *egw__ees_context_of(const struct egw__ees_rec *eec);

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
