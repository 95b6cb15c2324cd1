/* Private to the ECS role: its state and the handlers of its OAuth 2.0 endpoints. */
#ifndef EGW_ROLES_ECS_INTERNAL_H
#define EGW_ROLES_ECS_INTERNAL_H

#include <jansson.h>

#include "core/site.h"
#include "edgegw/role.h"
#include "http/form.h"
#include "util/arena.h"

struct egw_http_client;

struct ecs {
  struct egw_site *site;
  const struct egw_ecs_policy *policy;
  /* forward.c: the mTLS client to peer ECSes (ecs.client), from start to stop; NULL
   * without peers, before start and after stop. */
  struct egw_http_client *peers_http;
};

/* RFC 6749 5.2 error response: {"error","error_description"}, no-store. */
enum egw_handler_result egw__ecs_oauth_error(struct egw_exchange *x, int status, const char *error,
                                             const char *description);
/* Parses the form body; on failure answers invalid_request and returns -1. */
int egw__ecs_read_form(struct egw_exchange *x, struct egw_form *form);
/* Sets the headers every token-bearing response carries (RFC 6749 5.1). */
int egw__ecs_no_store(struct egw_response *resp);

/* What one access token says; see egw__ecs_mint. */
struct egw_ecs_mint {
  const char *sub;
  const char *aud;
  const char *scope;  /* space-separated */
  const char *eec_id; /* optional "eecId" claim; NULL for none */
  uint32_t ttl_s;     /* exp = iat + ttl_s */
  /* RFC 8705 cnf.x5t#S256: the SHA-256 of the client certificate the token is bound to;
   * NULL for an unbound token (one handed to a third party, such as an EEC). */
  const uint8_t *cnf_sha256;
};

/* egw__ecs_mint signs a JWT with the site ECS's current signing key: iss = ecs.id, sub,
 * aud, scope, iat, exp, a random jti, and eecId and cnf when given. Returns the token
 * (malloc'd; the caller wipes and frees it) or NULL when out of memory. */
char *egw__ecs_mint(const struct egw_site *site, const struct egw_ecs_mint *m);

/* egw__ecs_ees_profile returns the EESProfile of the newest live registration of
 * |ees_id| (borrowed: valid until the loop runs again), or NULL. */
const json_t *egw__ecs_ees_profile(struct egw_site *site, const char *ees_id);

enum egw_handler_result egw__ecs_token(struct ecs *ecs, struct egw_exchange *x);

/* egw__ecs_ees_is_registered says whether EES |ees_id| holds a current (unexpired)
 * EDGE-6 registration at this ECS; 0 when neither ecs-registration nor ecs-provisioning
 * runs on the site (ees_table.c; forward.c's weak stand-in is no longer needed). Loop
 * thread only. */
int egw__ecs_ees_is_registered(struct egw_site *site, const char *ees_id);

/* ---- multi-ECS forwarding (forward.c) ------------------------------------------------
 * Form parameters a forwarding ECS adds (project choice; TS 29.510 names only
 * sourceNfInstanceId): the original requester, the ids of the ECSes that forwarded so
 * far (space-separated, oldest first) and the requester's certificate thumbprint
 * (RFC 8705 x5t#S256, base64url), so the holding ECS can bind the token. */
#define EGW_ECS_FORM_SOURCE "sourceNfInstanceId"
#define EGW_ECS_FORM_HOPS "forwardedBy"
#define EGW_ECS_FORM_CNF "cnfX5tS256"

/* What the token endpoint hands to egw__ecs_forward. Everything is borrowed for the call
 * only (forward copies what it sends). */
struct egw_ecs_forward {
  const struct egw_form *form;          /* the client's form, passed on as it is ... */
  const char *source;                   /* ... with sourceNfInstanceId = this */
  const char *hops;                     /* the incoming hop list, NULL at the first ECS */
  const char *cnf_x5t;                  /* base64url thumbprint, NULL for none */
  const struct egw_ecs_peer_policy *to; /* the peer that holds the target */
  const char *target;                   /* targetNfInstanceId, for logs */
};

/* egw__ecs_start and egw__ecs_stop are the module's start and stop hooks: the peer
 * client is made when ecs.peers is not empty and freed (calls in flight cancelled) at
 * stop. */
int egw__ecs_start(void *state, struct uv_loop_s *loop);
void egw__ecs_stop(void *state);
/* egw__ecs_peer_holding returns the first peer whose ees list names |ees_id|, or NULL. */
const struct egw_ecs_peer_policy *egw__ecs_peer_holding(const struct egw_ecs_policy *p,
                                                        const char *ees_id);
/* egw__ecs_calling_peer returns the peer that the TLS client |peer| is (its identity
 * pattern matches) and whose id is |last_hop|, or NULL when the caller is no peer ECS
 * (or forwards under another peer's name). */
const struct egw_ecs_peer_policy *egw__ecs_calling_peer(const struct egw_ecs_policy *p,
                                                        const struct egw_peer *peer,
                                                        const char *last_hop);
/* egw__ecs_hops_check validates a received hop list: well formed, without this ECS's
 * id, at most max_hops long. Returns NULL when acceptable, else the error_description
 * ("forwarding loop", "too many hops", ...), and sets *out_last to the last id (arena). */
const char *egw__ecs_hops_check(const struct ecs *ecs, struct egw_arena *arena, const char *hops,
                                const char **out_last);
/* egw__ecs_forward sends the request to f->to and answers |x| when the peer does:
 * EGW_AGAIN, or EGW_DONE with an error already in the response (loop, too many hops,
 * peer client not running). */
enum egw_handler_result egw__ecs_forward(struct ecs *ecs, struct egw_exchange *x,
                                         const struct egw_ecs_forward *f);
enum egw_handler_result egw__ecs_introspect(struct ecs *ecs, struct egw_exchange *x);
enum egw_handler_result egw__ecs_revoke(struct ecs *ecs, struct egw_exchange *x);

#endif
