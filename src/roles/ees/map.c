/* A small string-keyed hash map (chained, FNV-1a, doubling at load 1) for the EES's token
 * cache: one entry per (EAS, EEC) pair handed a token, so lookups must stay O(1). */
#include <stdlib.h>
#include <string.h>

#include "roles/ees/internal.h"

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

static struct egw__ees_map_entry **slot(const struct egw__ees_map *m, const char *key) {
  struct egw__ees_map_entry **p = &m->buckets[hash(key) & (m->n_buckets - 1)];
  while (*p && strcmp((*p)->key, key) != 0)
    p = &(*p)->next;
  return p;
}

void *egw__ees_map_get(const struct egw__ees_map *m, const char *key) {
  if (m->n_buckets == 0)
    return NULL;
  struct egw__ees_map_entry *e = *slot(m, key);
  return e ? e->value : NULL;
}

static int grow(struct egw__ees_map *m) {
  size_t n = m->n_buckets ? m->n_buckets * 2 : 16;
  struct egw__ees_map_entry **b = calloc(n, sizeof(*b));
  if (b == NULL)
    return -1;
  for (size_t i = 0; i < m->n_buckets; i++) {
    struct egw__ees_map_entry *e = m->buckets[i];
    while (e) {
      struct egw__ees_map_entry *next = e->next;
      size_t k = hash(e->key) & (n - 1);
      e->next = b[k];
      b[k] = e;
      e = next;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->n_buckets = n;
  return 0;
}

int egw__ees_map_put(struct egw__ees_map *m, const char *key, void *value) {
  if (m->n_buckets == 0 && grow(m) != 0)
    return -1;
  struct egw__ees_map_entry **p = slot(m, key);
  if (*p) {
    (*p)->value = value;
    return 0;
  }
  if (m->n >= m->n_buckets && grow(m) == 0)
    p = slot(m, key);
  struct egw__ees_map_entry *e = malloc(sizeof(*e));
  if (e == NULL || (e->key = strdup(key)) == NULL) {
    free(e);
    return -1;
  }
  e->value = value;
  e->next = NULL;
  *p = e;
  m->n++;
  return 0;
}

void *egw__ees_map_remove(struct egw__ees_map *m, const char *key) {
  if (m->n_buckets == 0)
    return NULL;
  struct egw__ees_map_entry **p = slot(m, key);
  struct egw__ees_map_entry *e = *p;
  if (e == NULL)
    return NULL;
  *p = e->next;
  void *value = e->value;
  free(e->key);
  free(e);
  m->n--;
  return value;
}

void egw__ees_map_iter_init(const struct egw__ees_map *m, struct egw__ees_map_iter *it) {
  it->bucket = 0;
  it->next = m->n_buckets ? m->buckets[0] : NULL;
}

void *egw__ees_map_next(const struct egw__ees_map *m, struct egw__ees_map_iter *it,
                        const char **out_key) {
  while (it->next == NULL) {
    if (++it->bucket >= m->n_buckets)
      return NULL;
    it->next = m->buckets[it->bucket];
  }
  struct egw__ees_map_entry *e = it->next;
  it->next = e->next; /* taken now: the caller may remove |e| */
  if (out_key)
    *out_key = e->key;
  return e->value;
}

void egw__ees_map_clear(struct egw__ees_map *m) {
  for (size_t i = 0; i < m->n_buckets; i++) {
    struct egw__ees_map_entry *e = m->buckets[i];
    while (e) {
      struct egw__ees_map_entry *next = e->next;
      free(e->key);
      free(e);
      e = next;
    }
  }
  free(m->buckets);
  m->buckets = NULL;
  m->n_buckets = 0;
  m->n = 0;
}
