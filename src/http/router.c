/* Routing by method and longest path prefix. A listener mounts few routes (tens at most),
 * so a flat array scanned in full is simpler than a trie and fast enough. */
#include "http/router.h"

#include <stdlib.h>
#include <string.h>

#include "util/errors.h"
#include "util/path.h"

struct route_entry {
  const char *prefix;
  size_t prefix_len;
  unsigned methods;
  struct egw_route_target target;
};

struct egw_router {
  struct route_entry *entries;
  size_t n, cap;
};

struct egw_router *egw_router_new(void) {
  return calloc(1, sizeof(struct egw_router));
}

void egw_router_free(struct egw_router *r) {
  if (r == NULL)
    return;
  free(r->entries);
  free(r);
}

int egw_router_add(struct egw_router *r, const struct egw_role_ops *ops, void *state,
                   const char **out_conflict) {
  size_t n_new = 0;
  while (ops->routes && ops->routes[n_new].prefix)
    n_new++;
  /* Check everything first so that a conflict adds nothing. */
  for (size_t i = 0; i < n_new; i++) {
    const struct egw_route *rt = &ops->routes[i];
    for (size_t j = 0; j < r->n; j++) {
      if (strcmp(r->entries[j].prefix, rt->prefix) == 0 && (r->entries[j].methods & rt->methods)) {
        if (out_conflict)
          *out_conflict = r->entries[j].target.ops->name;
        return EGW_ERR_POLICY;
      }
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(ops->routes[j].prefix, rt->prefix) == 0 &&
          (ops->routes[j].methods & rt->methods)) {
        if (out_conflict)
          *out_conflict = ops->name;
        return EGW_ERR_POLICY;
      }
    }
  }
  if (r->cap - r->n < n_new) {
    size_t cap = r->n + n_new + 8;
    struct route_entry *e = realloc(r->entries, cap * sizeof(*e));
    if (e == NULL)
      return EGW_ERR_NOMEM;
    r->entries = e;
    r->cap = cap;
  }
  for (size_t i = 0; i < n_new; i++) {
    r->entries[r->n++] = (struct route_entry){
        .prefix = ops->routes[i].prefix,
        .prefix_len = strlen(ops->routes[i].prefix),
        .methods = ops->routes[i].methods,
        .target = {.ops = ops, .state = state, .prefix = ops->routes[i].prefix},
    };
  }
  return 0;
}

enum egw_route_result egw_router_match(const struct egw_router *r, enum egw_method method,
                                       const char *path, struct egw_route_target *out_target,
                                       unsigned *out_allowed) {
  size_t path_len = strlen(path);
  const struct route_entry *found = NULL;
  size_t longest = 0;
  int any = 0;
  unsigned allowed = 0;
  for (size_t i = 0; i < r->n; i++) {
    const struct route_entry *e = &r->entries[i];
    if (!egw_path_has_prefix(e->prefix, e->prefix_len, path, path_len))
      continue;
    if ((e->methods & (unsigned)method) && (found == NULL || e->prefix_len > found->prefix_len))
      found = e;
    /* The allowed set is that of the longest matching prefix, over every role that
     * mounts it with some methods. */
    if (!any || e->prefix_len > longest) {
      longest = e->prefix_len;
      allowed = e->methods;
      any = 1;
    } else if (e->prefix_len == longest) {
      allowed |= e->methods;
    }
  }
  if (found) {
    if (out_target)
      *out_target = found->target;
    return EGW_ROUTE_FOUND;
  }
  if (!any)
    return EGW_ROUTE_NOT_FOUND;
  if (out_allowed)
    *out_allowed = allowed;
  return EGW_ROUTE_METHOD_NOT_ALLOWED;
}
