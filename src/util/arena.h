/* A bump allocator for one request: many small allocations, one free at the end. */
#ifndef EGW_UTIL_ARENA_H
#define EGW_UTIL_ARENA_H

#include <stddef.h>

struct egw_arena_chunk;

struct egw_arena {
  struct egw_arena_chunk *head;
  size_t chunk_size;
};

/* egw_arena_init prepares |a|; nothing is allocated until the first egw_arena_alloc. */
void egw_arena_init(struct egw_arena *a, size_t chunk_size);
/* egw_arena_alloc returns |n| bytes aligned for any type, or NULL when out of memory.
 * The memory lives until egw_arena_reset or egw_arena_cleanup. */
void *egw_arena_alloc(struct egw_arena *a, size_t n);
/* egw_arena_strndup copies |n| bytes of |s| and a NUL. */
char *egw_arena_strndup(struct egw_arena *a, const char *s, size_t n);
char *egw_arena_strdup(struct egw_arena *a, const char *s);
/* egw_arena_sprintf formats into arena memory; NULL when out of memory. */
char *egw_arena_sprintf(struct egw_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* egw_arena_reset frees everything but the first chunk, for reuse by the next request. */
void egw_arena_reset(struct egw_arena *a);
/* egw_arena_cleanup frees everything. */
void egw_arena_cleanup(struct egw_arena *a);

#endif
