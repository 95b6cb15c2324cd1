/* Routing by method and path prefix to the roles mounted on a listener. Built once per
 * listener when the site is loaded; read-only afterwards. */
#ifndef EGW_HTTP_ROUTER_H
#define EGW_HTTP_ROUTER_H

#include <stddef.h>

#include "edgegw/role.h"

struct egw_router;

/* egw_route_target is what a route leads to. */
struct egw_route_target {
  const struct egw_role_ops *ops;
  void *state;        /* the role's state from init */
  const char *prefix; /* the matched route prefix (static, from the role's table) */
};

struct egw_router *egw_router_new(void);
void egw_router_free(struct egw_router *r);

/* egw_router_add adds every route of |ops|. A prefix matches a path when the path equals
 * it, or continues it at a segment boundary ("/healthz" matches "/healthz" and
 * "/healthz/x", not "/healthzz"; "/a/" matches "/a/b"). Returns 0, EGW_ERR_NOMEM, or
 * EGW_ERR_POLICY when a route with the same prefix and an overlapping method set is
 * already there (*out_conflict then names the role that holds it). */
int egw_router_add(struct egw_router *r, const struct egw_role_ops *ops, void *state,
                   const char **out_conflict);

enum egw_route_result {
  EGW_ROUTE_FOUND,
  EGW_ROUTE_NOT_FOUND,          /* 404 */
  EGW_ROUTE_METHOD_NOT_ALLOWED, /* 405: the longest prefix matched, not the method */
};

/* egw_router_match finds the longest prefix matching |path| whose methods include
 * |method|. On EGW_ROUTE_METHOD_NOT_ALLOWED, *out_allowed holds the method bits of the
 * prefix that matched (for the Allow header). */
enum egw_route_result egw_router_match(const struct egw_router *r, enum egw_method method,
                                       const char *path, struct egw_route_target *out_target,
                                       unsigned *out_allowed);

#endif
