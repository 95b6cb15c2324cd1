/* Request paths. */
#ifndef EGW_UTIL_PATH_H
#define EGW_UTIL_PATH_H

#include <stddef.h>

/* egw_path_has_prefix says whether |path| equals |prefix| or continues it at a segment
 * boundary: "/healthz" covers "/healthz" and "/healthz/x", not "/healthzz"; "/a/" covers
 * "/a/b". The one rule shared by routes and authorization rules, so that a route and the
 * rule that guards it always agree on which paths they cover. */
int egw_path_has_prefix(const char *prefix, size_t prefix_len, const char *path, size_t path_len);

#endif
