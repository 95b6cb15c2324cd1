/* Private to the ECS role: its state and the handlers of its OAuth 2.0 endpoints. */
#ifndef EGW_ROLES_ECS_INTERNAL_H
#define EGW_ROLES_ECS_INTERNAL_H

#include <jansson.h>

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

/* egw__ecs_ees_is_registered says whether EES |ees_id| holds a live (unexpired) EDGE-6
 * registration at this site's ECS; 0 when no ecs-registration or ecs-provisioning module
 * runs on the site. Loop thread only. */
int egw__ecs_ees_is_registered(struct egw_site *site, const char *ees_id);
/* egw__ecs_ees_profile returns the EESProfile of the newest live registration of
 * |ees_id| (borrowed: valid until the loop runs again), or NULL. */
const json_t *egw__ecs_ees_profile(struct egw_site *site, const char *ees_id);

enum egw_handler_result egw__ecs_token(struct ecs *ecs, struct egw_exchange *x);
enum egw_handler_result egw__ecs_introspect(struct ecs *ecs, struct egw_exchange *x);
enum egw_handler_result egw__ecs_revoke(struct ecs *ecs, struct egw_exchange *x);

#endif
