#include "util/path.h"

#include <string.h>

int egw_path_has_prefix(const char *prefix, size_t prefix_len, const char *path, size_t path_len) {
  if (path_len < prefix_len || memcmp(path, prefix, prefix_len) != 0)
    return 0;
  if (path_len == prefix_len || prefix_len == 0)
    return 1;
  return prefix[prefix_len - 1] == '/' || path[prefix_len] == '/';
}
