#include "util/arena.h"

#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct egw_arena_chunk {
  struct egw_arena_chunk *next;
  size_t size;
  size_t used;
  alignas(max_align_t) unsigned char data[];
};

void egw_arena_init(struct egw_arena *a, size_t chunk_size) {
  a->head = NULL;
  a->chunk_size = chunk_size ? chunk_size : 4096;
}

void *egw_arena_alloc(struct egw_arena *a, size_t n) {
  const size_t align = alignof(max_align_t);
  size_t need = (n + align - 1) & ~(align - 1);
  if (need < n)
    return NULL;
  struct egw_arena_chunk *c = a->head;
  if (c == NULL || c->size - c->used < need) {
    size_t size = need > a->chunk_size ? need : a->chunk_size;
    c = malloc(sizeof(*c) + size);
    if (c == NULL)
      return NULL;
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
  }
  void *p = c->data + c->used;
  c->used += need;
  return p;
}

char *egw_arena_strndup(struct egw_arena *a, const char *s, size_t n) {
  char *p = egw_arena_alloc(a, n + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *egw_arena_strdup(struct egw_arena *a, const char *s) {
  return egw_arena_strndup(a, s, strlen(s));
}

char *egw_arena_sprintf(struct egw_arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  char *p = egw_arena_alloc(a, (size_t)n + 1);
  if (p == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void egw_arena_reset(struct egw_arena *a) {
  struct egw_arena_chunk *c = a->head;
  if (c == NULL)
    return;
  /* The oldest chunk is kept; it sits at the end of the list. */
  struct egw_arena_chunk *keep = c;
  while (keep->next)
    keep = keep->next;
  while (c != keep) {
    struct egw_arena_chunk *next = c->next;
    free(c);
    c = next;
  }
  keep->used = 0;
  a->head = keep;
}

void egw_arena_cleanup(struct egw_arena *a) {
  struct egw_arena_chunk *c = a->head;
  while (c) {
    struct egw_arena_chunk *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
}
