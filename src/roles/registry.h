/* The built-in role modules, by name. One explicit list, no linker tricks. */
#ifndef EGW_ROLES_REGISTRY_H
#define EGW_ROLES_REGISTRY_H

#include "edgegw/role.h"

/* egw_role_find returns the module called |name|, or NULL. */
const struct egw_role_ops *egw_role_find(const char *name);

/* egw_role_names writes the known names, comma separated, into |out| (for errors). */
void egw_role_names(char *out, size_t cap);

#endif
