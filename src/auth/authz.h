/* Authorization providers: the access phase that runs between routing and the role.
 * A listener's policy picks one (none, static, token); each is a table. */
#ifndef EGW_AUTH_AUTHZ_H
#define EGW_AUTH_AUTHZ_H

#include "config/policy.h"
#include "edgegw/http.h"

struct egw_token_env; /* auth/token_verify.h: the site's token cache and issuers */

enum egw_authz_decision {
  EGW_AUTHZ_ALLOW,
  EGW_AUTHZ_DENY,
  /* EGW_AUTHZ_RETRY: the provider needs asynchronous work first (an issuer's keys); it
   * put the request's wait on a wait list and will wake it, and the dispatcher then
   * asks again. */
  EGW_AUTHZ_RETRY,
};

/* A request waiting for a provider's asynchronous work. The dispatcher owns it (one per
 * connection) and sets |resume|. A provider that answers EGW_AUTHZ_RETRY has added it
 * to one of its wait lists and wakes the list when the work is done (successful or
 * not): |resume| then runs exactly once, on the loop thread, unless the dispatcher
 * cancelled the wait first (the connection went away). */
struct egw_authz_wait {
  void (*resume)(struct egw_authz_wait *w);
  struct egw_authz_wait *next;
  struct egw_authz_wait **pprev; /* NULL when on no list */
};

struct egw_authz_waitlist {
  struct egw_authz_wait *head;
};

/* egw_authz_waitlist_add puts |w| (on no list) on |l|. */
void egw_authz_waitlist_add(struct egw_authz_waitlist *l, struct egw_authz_wait *w);
/* egw_authz_waitlist_wake takes every wait off |l| and resumes each; a resumed request
 * that waits again goes on the list afresh, not into this round. */
void egw_authz_waitlist_wake(struct egw_authz_waitlist *l);
/* egw_authz_wait_cancel takes |w| off its list, if any; it will not be resumed. */
void egw_authz_wait_cancel(struct egw_authz_wait *w);

/* egw_authz_verdict explains a decision, for the response and the audit line. All
 * strings are static or live in the request's arena. */
struct egw_authz_verdict {
  int status;                   /* on DENY: 401 or 403 */
  const char *cause;            /* ProblemDetails cause: "PEER_NOT_ALLOWED", ... */
  const char *reason;           /* for the audit line and the problem detail */
  const char *www_authenticate; /* on 401: the challenge, else NULL */
  /* On ALLOW by a token: what the token says, for the role (copied into the request by
   * the dispatcher): its sub, its eecId claim (NULL when absent) and its scope. */
  const char *token_sub;
  const char *token_eec_id;
  const char *token_scope;
};

/* egw_authz_provider is one provider's table. Return contract: init returns 0 or a
 * negative code with *out_err (malloc'd, "file:line: authz: message"); check fills
 * *out on every call and never blocks: when it must wait, it answers EGW_AUTHZ_RETRY with
 * |wait| on one of its wait lists (see struct egw_authz_wait); dispose accepts NULL. */
struct egw_authz_provider {
  const char *name;
  int (*init)(const struct egw_listener_policy *lp, const struct egw_token_env *tokens,
              void **out_state, char **out_err);
  enum egw_authz_decision (*check)(void *state, const struct egw_request *req,
                                   struct egw_authz_wait *wait, struct egw_authz_verdict *out);
  void (*dispose)(void *state);
};

/* egw_authz_provider_for returns the provider of |mode|; never NULL. */
const struct egw_authz_provider *egw_authz_provider_for(enum egw_authz_mode mode);

/* egw__authz_find_rule returns the first rule of |policy| whose path prefix (whole path,
 * or continued at a '/') and methods match |req|, or NULL. Shared by static and token. */
const struct egw_allow_rule *egw__authz_find_rule(const struct egw_authz_policy *policy,
                                                  const struct egw_request *req);

#endif
