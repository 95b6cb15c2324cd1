#include "auth/authz.h"

#include <string.h>

#include "util/path.h"

extern const struct egw_authz_provider egw__authz_none;
extern const struct egw_authz_provider egw__authz_static;
extern const struct egw_authz_provider egw__authz_token;

const struct egw_authz_provider *egw_authz_provider_for(enum egw_authz_mode mode) {
  switch (mode) {
  case EGW_AUTHZ_STATIC:
    return &egw__authz_static;
  case EGW_AUTHZ_TOKEN:
    return &egw__authz_token;
  case EGW_AUTHZ_NONE:
    break;
  }
  return &egw__authz_none;
}

const struct egw_allow_rule *egw__authz_find_rule(const struct egw_authz_policy *policy,
                                                  const struct egw_request *req) {
  size_t path_len = strlen(req->path);
  for (size_t i = 0; i < policy->n_rules; i++) {
    const struct egw_allow_rule *rule = &policy->rules[i];
    if (!egw_path_has_prefix(rule->path_prefix, strlen(rule->path_prefix), req->path, path_len))
      continue;
    if (rule->methods != 0 && (rule->methods & (unsigned)req->method) == 0)
      continue;
    return rule;
  }
  return NULL;
}

void egw_authz_waitlist_add(struct egw_authz_waitlist *l, struct egw_authz_wait *w) {
  w->next = l->head;
  if (l->head)
    l->head->pprev = &w->next;
  l->head = w;
  w->pprev = &l->head;
}

void egw_authz_wait_cancel(struct egw_authz_wait *w) {
  if (w->pprev == NULL)
    return;
  *w->pprev = w->next;
  if (w->next)
    w->next->pprev = w->pprev;
  w->next = NULL;
  w->pprev = NULL;
}

void egw_authz_waitlist_wake(struct egw_authz_waitlist *l) {
  /* This round's waits move to a local list first: resuming one may cancel another of
   * them, or put itself back on |l| for a later round. */
  struct egw_authz_waitlist round = {.head = l->head};
  l->head = NULL;
  if (round.head)
    round.head->pprev = &round.head;
  while (round.head) {
    struct egw_authz_wait *w = round.head;
    egw_authz_wait_cancel(w);
    w->resume(w);
  }
}
