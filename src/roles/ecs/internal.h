/* Private to the ECS role: its state and the handlers of its OAuth 2.0 endpoints. */
#ifndef EGW_ROLES_ECS_INTERNAL_H
#define EGW_ROLES_ECS_INTERNAL_H

#include "core/site.h"
#include "edgegw/role.h"
#include "http/form.h"

struct ecs {
  struct egw_site *site;
  const struct egw_ecs_policy *policy;
};

/* RFC 6749 5.2 error response: {"error","error_description"}, no-store. */
enum egw_handler_result egw__ecs_oauth_error(struct egw_exchange *x, int status, const char *error,
                                             const char *description);
/* Parses the form body; on failure answers invalid_request and returns -1. */
int egw__ecs_read_form(struct egw_exchange *x, struct egw_form *form);
/* Sets the headers every token-bearing response carries (RFC 6749 5.1). */
int egw__ecs_no_store(struct egw_response *resp);

enum egw_handler_result egw__ecs_token(struct ecs *ecs, struct egw_exchange *x);
enum egw_handler_result egw__ecs_introspect(struct ecs *ecs, struct egw_exchange *x);
enum egw_handler_result egw__ecs_revoke(struct ecs *ecs, struct egw_exchange *x);

#endif
