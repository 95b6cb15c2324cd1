/* The shared token cache (tokcache.h).
 *
 * Verified tokens live in two structures:
 *   - an open-addressing table (linear probing, backward-shift deletion, load <= 3/4)
 *     keyed by the SHA-256 of the token, whose slots are the entries themselves, one
 *     cache line each: a hit costs one miss for the entry and one for its claims (the
 *     reference count), which is what keeps a hit well under a microsecond. The digest
 *     is uniform, so its first bytes are the hash;
 *   - a binary min-heap of slot numbers on exp, which finds both the entries to expire
 *     and, when the cache is full, the one to evict, in O(log n). Each entry knows its
 *     heap position and the heap is told when the table moves an entry.
 * Both grow by doubling up to what max_entries needs, so that a large bound costs memory
 * only when it is used.
 *
 * Revocation marks cached entries with the jti as revoked (their claims are released at
 * once) instead of forgetting them: a later lookup of the same token then answers
 * REVOKED rather than MISS, which would send the caller back to verification. The
 * deny-list (jti -> exp) is still consulted on every hit.
 *
 * Failed tokens sit in a ring buffer (oldest overwritten first) indexed by a second
 * table; they leave it when their TTL has passed, lazily. */
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>
#include <openssl/sha.h>

#include "auth/tokcache.h"
#include "util/errors.h"
#include "util/metrics.h"

#define NIL UINT32_MAX
#define INITIAL_CAP 1024
/* Slot numbers are 32-bit: far beyond any useful cache. */
#define MAX_ENTRIES_LIMIT ((size_t)1 << 30)
/* Expired entries dropped per put, so that one put never pays for a mass expiry. */
#define EXPIRE_PER_PUT 16

enum entry_state { ENTRY_EMPTY, ENTRY_LIVE, ENTRY_REVOKED };

/* One table slot, one cache line. */
struct entry {
  uint8_t key[32];
  struct egw_token_claims *claims; /* NULL unless live */
  int64_t exp;
  uint64_t jti_hash; /* 0 when the token has no jti */
  uint32_t heap_pos;
  uint32_t state; /* enum entry_state; a revoked entry answers REVOKED until exp */
};
_Static_assert(sizeof(struct entry) == 64, "an entry is one cache line");

struct negative {
  uint8_t key[32];
  uint64_t at_ms;
  int live;
};

struct deny {
  char *jti; /* NULL: empty slot */
  uint64_t hash;
  int64_t exp;
};

struct egw_tokcache {
  size_t max_entries;
  /* positive entries */
  struct entry *table;
  size_t table_mask;
  uint32_t *heap; /* slot numbers; its length is the number of entries in use */
  uint32_t heap_len, heap_cap;
  size_t n_revoked_entries; /* entries in use whose claims were released */
  /* negative entries: ring[(head - len) .. head) in age order, with dead ones left */
  uint32_t negative_ttl_ms;
  struct negative *ring;
  uint32_t ring_cap, ring_head, ring_len, neg_live;
  uint32_t *neg_table; /* ring indices */
  size_t neg_mask;
  /* deny-list */
  struct deny *deny;
  size_t deny_mask, deny_count;
  /* the latest time a caller told us, for sweeps that have no time of their own */
  int64_t last_now_s;
  uint64_t hits, misses, evictions, expirations;
};

static uint64_t key_hash(const uint8_t key[32]) {
  uint64_t h;
  memcpy(&h, key, sizeof h);
  return h;
}

/* FNV-1a: jti values come from trusted issuers and revocations from the operator. */
static uint64_t jti_hash(const char *jti) {
  uint64_t h = 0xcbf29ce484222325u;
  for (const unsigned char *p = (const unsigned char *)jti; *p != '\0'; p++)
    h = (h ^ *p) * 0x100000001b3u;
  return h == 0 ? 1 : h;
}

static size_t pow2_at_least(size_t n) {
  size_t p = 1;
  while (p < n)
    p <<= 1;
  return p;
}

/* ---- the heap of entries by exp ---- */

static int heap_less(const struct egw_tokcache *tc, uint32_t a, uint32_t b) {
  return tc->table[tc->heap[a]].exp < tc->table[tc->heap[b]].exp;
}

static void heap_swap(struct egw_tokcache *tc, uint32_t a, uint32_t b) {
  uint32_t t = tc->heap[a];
  tc->heap[a] = tc->heap[b];
  tc->heap[b] = t;
  tc->table[tc->heap[a]].heap_pos = a;
  tc->table[tc->heap[b]].heap_pos = b;
}

static void heap_up(struct egw_tokcache *tc, uint32_t i) {
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!heap_less(tc, i, parent))
      break;
    heap_swap(tc, i, parent);
    i = parent;
  }
}

static void heap_down(struct egw_tokcache *tc, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < tc->heap_len && heap_less(tc, l, m))
      m = l;
    if (r < tc->heap_len && heap_less(tc, r, m))
      m = r;
    if (m == i)
      return;
    heap_swap(tc, i, m);
    i = m;
  }
}

static void heap_remove(struct egw_tokcache *tc, uint32_t pos) {
  uint32_t last = --tc->heap_len;
  if (pos == last)
    return;
  tc->heap[pos] = tc->heap[last];
  tc->table[tc->heap[pos]].heap_pos = pos;
  heap_up(tc, pos);
  heap_down(tc, tc->table[tc->heap[pos]].heap_pos);
}

/* ---- the table of positive entries ---- */

/* Slots for up to |n| entries at a load of at most 3/4. */
static size_t table_size_for(size_t n) {
  size_t size = pow2_at_least(n + n / 3 + 1);
  return size < 2 ? 2 : size;
}

static struct entry *table_alloc(size_t size) {
  struct entry *t = aligned_alloc(64, size * sizeof *t);
  if (t != NULL)
    memset(t, 0, size * sizeof *t); /* ENTRY_EMPTY */
  return t;
}

/* Returns the slot holding |key|, or the empty slot where it would go. */
static size_t table_find(const struct egw_tokcache *tc, const uint8_t key[32]) {
  size_t i = key_hash(key) & tc->table_mask;
  for (;; i = (i + 1) & tc->table_mask) {
    const struct entry *e = &tc->table[i];
    if (e->state == ENTRY_EMPTY)
      return i;
    if (CRYPTO_memcmp(e->key, key, 32) == 0)
      return i;
  }
}

/* Backward-shift deletion: later members of the probe run move up so that no lookup
 * ever stops at the hole; the heap follows the entries that move. */
static void table_delete(struct egw_tokcache *tc, size_t hole) {
  size_t mask = tc->table_mask;
  for (size_t j = (hole + 1) & mask;; j = (j + 1) & mask) {
    if (tc->table[j].state == ENTRY_EMPTY)
      break;
    size_t home = key_hash(tc->table[j].key) & mask;
    /* Move j into the hole unless its home lies cyclically in (hole, j]. */
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      tc->table[hole] = tc->table[j];
      tc->heap[tc->table[hole].heap_pos] = (uint32_t)hole;
      hole = j;
    }
  }
  memset(&tc->table[hole], 0, sizeof tc->table[hole]);
}

/* Makes room for one more entry: grows the heap and, past 3/4 load, doubles the table. */
static int table_reserve(struct egw_tokcache *tc) {
  if (tc->heap_len == tc->heap_cap) {
    size_t cap = (size_t)tc->heap_cap * 2;
    if (cap > tc->max_entries)
      cap = tc->max_entries;
    uint32_t *heap = realloc(tc->heap, cap * sizeof *heap);
    if (heap == NULL)
      return EGW_ERR_NOMEM;
    tc->heap = heap;
    tc->heap_cap = (uint32_t)cap;
  }
  size_t size = tc->table_mask + 1;
  if (((size_t)tc->heap_len + 1) * 4 <= size * 3)
    return 0;
  size_t new_size = size * 2;
  struct entry *table = table_alloc(new_size);
  if (table == NULL)
    return EGW_ERR_NOMEM;
  for (uint32_t h = 0; h < tc->heap_len; h++) {
    const struct entry *e = &tc->table[tc->heap[h]];
    size_t i = key_hash(e->key) & (new_size - 1);
    while (table[i].state != ENTRY_EMPTY)
      i = (i + 1) & (new_size - 1);
    table[i] = *e;
    tc->heap[h] = (uint32_t)i;
  }
  free(tc->table);
  tc->table = table;
  tc->table_mask = new_size - 1;
  return 0;
}

static void entry_remove(struct egw_tokcache *tc, size_t slot) {
  struct entry *e = &tc->table[slot];
  heap_remove(tc, e->heap_pos);
  if (e->state == ENTRY_LIVE)
    egw_token_claims_free(e->claims);
  else
    tc->n_revoked_entries--;
  table_delete(tc, slot);
}

/* Drops the entry that expires first, counting it as expired or evicted. */
static void drop_soonest(struct egw_tokcache *tc, int64_t now_s) {
  uint32_t slot = tc->heap[0];
  if (tc->table[slot].exp < now_s)
    tc->expirations++;
  else {
    tc->evictions++;
    egw_metrics_token_cache_eviction();
  }
  entry_remove(tc, slot);
}

/* ---- negative entries ---- */

static uint32_t *neg_find(const struct egw_tokcache *tc, const uint8_t key[32]) {
  size_t i = key_hash(key) & tc->neg_mask;
  for (;; i = (i + 1) & tc->neg_mask) {
    uint32_t *s = &tc->neg_table[i];
    if (*s == NIL || CRYPTO_memcmp(tc->ring[*s].key, key, 32) == 0)
      return s;
  }
}

static void neg_delete(struct egw_tokcache *tc, uint32_t ring_idx) {
  struct negative *n = &tc->ring[ring_idx];
  size_t mask = tc->neg_mask;
  size_t hole = (size_t)(neg_find(tc, n->key) - tc->neg_table);
  for (size_t j = (hole + 1) & mask;; j = (j + 1) & mask) {
    if (tc->neg_table[j] == NIL)
      break;
    size_t home = key_hash(tc->ring[tc->neg_table[j]].key) & mask;
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      tc->neg_table[hole] = tc->neg_table[j];
      hole = j;
    }
  }
  tc->neg_table[hole] = NIL;
  n->live = 0;
  tc->neg_live--;
}

static int neg_expired(const struct egw_tokcache *tc, const struct negative *n, uint64_t now_ms) {
  return now_ms - n->at_ms >= tc->negative_ttl_ms && now_ms >= n->at_ms;
}

/* Drops the oldest slots of the ring while they are dead or past their TTL. */
static void neg_trim(struct egw_tokcache *tc, uint64_t now_ms) {
  while (tc->ring_len > 0) {
    uint32_t tail = (tc->ring_head + tc->ring_cap - tc->ring_len) % tc->ring_cap;
    struct negative *n = &tc->ring[tail];
    if (n->live && !neg_expired(tc, n, now_ms))
      return;
    if (n->live)
      neg_delete(tc, tail);
    tc->ring_len--;
  }
}

static int neg_alloc(struct egw_tokcache *tc) {
  size_t cap = tc->max_entries / 4 > 0 ? tc->max_entries / 4 : 1;
  size_t tsize = pow2_at_least(cap * 2);
  tc->ring = calloc(cap, sizeof *tc->ring);
  tc->neg_table = malloc(tsize * sizeof *tc->neg_table);
  if (tc->ring == NULL || tc->neg_table == NULL) {
    free(tc->ring);
    free(tc->neg_table);
    tc->ring = NULL;
    tc->neg_table = NULL;
    return EGW_ERR_NOMEM;
  }
  for (size_t i = 0; i < tsize; i++)
    tc->neg_table[i] = NIL;
  tc->ring_cap = (uint32_t)cap;
  tc->neg_mask = tsize - 1;
  return 0;
}

/* ---- the deny-list ---- */

static struct deny *deny_find(const struct egw_tokcache *tc, const char *jti, uint64_t h) {
  for (size_t i = h & tc->deny_mask;; i = (i + 1) & tc->deny_mask) {
    struct deny *d = &tc->deny[i];
    if (d->jti == NULL || (d->hash == h && strcmp(d->jti, jti) == 0))
      return d;
  }
}

static void deny_delete(struct egw_tokcache *tc, struct deny *d) {
  size_t mask = tc->deny_mask;
  size_t hole = (size_t)(d - tc->deny);
  free(d->jti);
  for (size_t j = (hole + 1) & mask;; j = (j + 1) & mask) {
    if (tc->deny[j].jti == NULL)
      break;
    size_t home = tc->deny[j].hash & mask;
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      tc->deny[hole] = tc->deny[j];
      hole = j;
    }
  }
  tc->deny[hole].jti = NULL;
  tc->deny_count--;
}

/* Whether |jti| (hash |h|) is denied at |now_s|; an entry past its exp is purged. */
static int deny_check(struct egw_tokcache *tc, const char *jti, uint64_t h, int64_t now_s) {
  if (tc->deny_count == 0)
    return 0;
  struct deny *d = deny_find(tc, jti, h);
  if (d->jti == NULL)
    return 0;
  if (d->exp < now_s) {
    deny_delete(tc, d);
    return 0;
  }
  return 1;
}

/* Grows the deny-list table, first purging what has expired by the latest known time. */
static int deny_make_room(struct egw_tokcache *tc) {
  if (tc->deny != NULL && (tc->deny_count + 1) * 2 <= tc->deny_mask + 1)
    return 0;
  for (size_t i = 0; tc->deny != NULL && i <= tc->deny_mask;) {
    struct deny *d = &tc->deny[i];
    if (d->jti != NULL && d->exp < tc->last_now_s)
      deny_delete(tc, d); /* something may have shifted into slot i: look again */
    else
      i++;
  }
  if (tc->deny != NULL && (tc->deny_count + 1) * 2 <= tc->deny_mask + 1)
    return 0;
  size_t size = tc->deny == NULL ? 16 : (tc->deny_mask + 1) * 2;
  struct deny *table = calloc(size, sizeof *table);
  if (table == NULL)
    return EGW_ERR_NOMEM;
  for (size_t i = 0; tc->deny != NULL && i <= tc->deny_mask; i++) {
    if (tc->deny[i].jti == NULL)
      continue;
    size_t j = tc->deny[i].hash & (size - 1);
    while (table[j].jti != NULL)
      j = (j + 1) & (size - 1);
    table[j] = tc->deny[i];
  }
  free(tc->deny);
  tc->deny = table;
  tc->deny_mask = size - 1;
  return 0;
}

/* ---- the API ---- */

struct egw_tokcache *egw_tokcache_new(size_t max_entries, uint32_t negative_ttl_ms) {
  struct egw_tokcache *tc = calloc(1, sizeof *tc);
  if (tc == NULL)
    return NULL;
  if (max_entries == 0)
    max_entries = 1;
  if (max_entries > MAX_ENTRIES_LIMIT)
    max_entries = MAX_ENTRIES_LIMIT;
  tc->max_entries = max_entries;
  tc->negative_ttl_ms = negative_ttl_ms;
  tc->last_now_s = INT64_MIN;
  size_t cap = max_entries < INITIAL_CAP ? max_entries : INITIAL_CAP;
  size_t tsize = table_size_for(cap);
  tc->heap = malloc(cap * sizeof *tc->heap);
  tc->table = table_alloc(tsize);
  if (tc->heap == NULL || tc->table == NULL) {
    egw_tokcache_free(tc);
    return NULL;
  }
  tc->table_mask = tsize - 1;
  tc->heap_cap = (uint32_t)cap;
  return tc;
}

void egw_tokcache_free(struct egw_tokcache *tc) {
  if (tc == NULL)
    return;
  for (uint32_t h = 0; tc->heap != NULL && h < tc->heap_len; h++)
    egw_token_claims_free(tc->table[tc->heap[h]].claims);
  for (size_t i = 0; tc->deny != NULL && i <= tc->deny_mask; i++)
    free(tc->deny[i].jti);
  free(tc->deny);
  free(tc->ring);
  free(tc->neg_table);
  free(tc->table);
  free(tc->heap);
  free(tc);
}

static void note_time(struct egw_tokcache *tc, int64_t now_s) {
  if (now_s > tc->last_now_s)
    tc->last_now_s = now_s;
}

enum egw_tokcache_result egw_tokcache_get(struct egw_tokcache *tc, const char *token, size_t len,
                                          int64_t now_s, uint64_t now_ms,
                                          struct egw_token_claims **out_claims) {
  /* Ask for every line of the token at once: SHA-256 reads it one block after the other,
   * and a token not in cache would otherwise cost one memory wait per block. */
  for (size_t off = 0; off < len && off < 4096; off += 64)
    __builtin_prefetch(token + off);
  uint8_t key[32];
  SHA256((const uint8_t *)token, len, key);
  *out_claims = NULL;
  note_time(tc, now_s);

  size_t slot = table_find(tc, key);
  struct entry *e = &tc->table[slot];
  if (e->state != ENTRY_EMPTY) {
    __builtin_prefetch(e->claims, 1); /* a hit writes its reference count */
    if (e->exp < now_s) {
      entry_remove(tc, slot);
      tc->expirations++;
      tc->misses++;
      egw_metrics_token_cache_miss();
      return EGW_TOKCACHE_MISS;
    }
    if (e->state == ENTRY_REVOKED)
      return EGW_TOKCACHE_REVOKED;
    if (e->jti_hash != 0 && deny_check(tc, e->claims->jti, e->jti_hash, now_s))
      return EGW_TOKCACHE_REVOKED;
    tc->hits++;
    egw_metrics_token_cache_hit();
    egw_token_claims_up_ref(e->claims);
    *out_claims = e->claims;
    return EGW_TOKCACHE_HIT;
  }

  if (tc->neg_live > 0) {
    uint32_t *s = neg_find(tc, key);
    if (*s != NIL) {
      if (!neg_expired(tc, &tc->ring[*s], now_ms))
        return EGW_TOKCACHE_NEGATIVE;
      neg_delete(tc, *s);
    }
  }
  tc->misses++;
  egw_metrics_token_cache_miss();
  return EGW_TOKCACHE_MISS;
}

int egw_tokcache_put(struct egw_tokcache *tc, const char *token, size_t len,
                     struct egw_token_claims *claims, int64_t now_s) {
  note_time(tc, now_s);
  /* Already expired: it would be dropped by the next lookup anyway. */
  if (claims->exp < now_s)
    return 0;
  uint64_t jh = claims->jti != NULL ? jti_hash(claims->jti) : 0;
  if (jh != 0 && deny_check(tc, claims->jti, jh, now_s))
    return 0;

  uint8_t key[32];
  SHA256((const uint8_t *)token, len, key);

  if (tc->neg_live > 0) {
    uint32_t *s = neg_find(tc, key);
    if (*s != NIL)
      neg_delete(tc, *s);
  }

  size_t slot = table_find(tc, key);
  if (tc->table[slot].state != ENTRY_EMPTY) { /* verified again: new claims replace old */
    struct entry *e = &tc->table[slot];
    egw_token_claims_up_ref(claims);
    if (e->state == ENTRY_LIVE)
      egw_token_claims_free(e->claims);
    else
      tc->n_revoked_entries--;
    e->state = ENTRY_LIVE;
    e->claims = claims;
    e->exp = claims->exp;
    e->jti_hash = jh;
    heap_up(tc, e->heap_pos);
    heap_down(tc, e->heap_pos);
    return 0;
  }

  for (int i = 0; i < EXPIRE_PER_PUT && tc->heap_len > 0 && tc->table[tc->heap[0]].exp < now_s; i++)
    drop_soonest(tc, now_s);
  if (tc->heap_len == tc->max_entries)
    drop_soonest(tc, now_s);

  int rc = table_reserve(tc);
  if (rc != 0)
    return rc;
  /* Removals and growth move entries: look the free slot up again. */
  slot = table_find(tc, key);
  struct entry *e = &tc->table[slot];
  memcpy(e->key, key, sizeof key);
  egw_token_claims_up_ref(claims);
  e->claims = claims;
  e->state = ENTRY_LIVE;
  e->exp = claims->exp;
  e->jti_hash = jh;
  e->heap_pos = tc->heap_len;
  tc->heap[tc->heap_len++] = (uint32_t)slot;
  heap_up(tc, e->heap_pos);
  return 0;
}

void egw_tokcache_put_negative(struct egw_tokcache *tc, const char *token, size_t len,
                               uint64_t now_ms) {
  if (tc->negative_ttl_ms == 0)
    return;
  if (tc->ring == NULL && neg_alloc(tc) != 0)
    return; /* remembering failures is an optimisation: without memory, verify again */
  uint8_t key[32];
  SHA256((const uint8_t *)token, len, key);
  neg_trim(tc, now_ms);
  uint32_t *s = neg_find(tc, key);
  if (*s != NIL) /* seen again: it moves to the young end of the ring */
    neg_delete(tc, *s);
  if (tc->ring_len == tc->ring_cap) {
    uint32_t tail = tc->ring_head; /* the full ring's oldest slot is the next to write */
    if (tc->ring[tail].live)
      neg_delete(tc, tail);
    tc->ring_len--;
  }
  uint32_t at = tc->ring_head;
  struct negative *n = &tc->ring[at];
  memcpy(n->key, key, sizeof key);
  n->at_ms = now_ms;
  n->live = 1;
  *neg_find(tc, key) = at;
  tc->ring_head = (at + 1) % tc->ring_cap;
  tc->ring_len++;
  tc->neg_live++;
}

int egw_tokcache_revoke(struct egw_tokcache *tc, const char *jti, int64_t exp_s) {
  uint64_t h = jti_hash(jti);
  struct deny *d = tc->deny != NULL ? deny_find(tc, jti, h) : NULL;
  if (d != NULL && d->jti != NULL) {
    if (exp_s > d->exp)
      d->exp = exp_s;
  } else {
    char *copy = strdup(jti);
    if (copy == NULL || deny_make_room(tc) != 0) {
      free(copy);
      return EGW_ERR_NOMEM;
    }
    d = deny_find(tc, jti, h);
    *d = (struct deny){.jti = copy, .hash = h, .exp = exp_s};
    tc->deny_count++;
  }
  /* Revocation is rare: a scan of the entries in use beats keeping a jti index. */
  for (uint32_t i = 0; i < tc->heap_len; i++) {
    struct entry *e = &tc->table[tc->heap[i]];
    if (e->jti_hash == h && e->state == ENTRY_LIVE && strcmp(e->claims->jti, jti) == 0) {
      egw_token_claims_free(e->claims);
      e->claims = NULL;
      e->state = ENTRY_REVOKED;
      tc->n_revoked_entries++;
    }
  }
  return 0;
}

int egw_tokcache_is_revoked(struct egw_tokcache *tc, const char *jti, int64_t now_s) {
  note_time(tc, now_s);
  return deny_check(tc, jti, jti_hash(jti), now_s);
}

void egw_tokcache_stats(const struct egw_tokcache *tc, struct egw_tokcache_stats *out) {
  *out = (struct egw_tokcache_stats){
      .entries = tc->heap_len - tc->n_revoked_entries,
      .negative_entries = tc->neg_live,
      .revoked = tc->deny_count,
      .hits = tc->hits,
      .misses = tc->misses,
      .evictions = tc->evictions,
      .expirations = tc->expirations,
  };
}

void egw_tokcache_forget_verified(struct egw_tokcache *tc) {
  while (tc->heap != NULL && tc->heap_len > 0)
    entry_remove(tc, tc->heap[0]);
  for (uint32_t i = 0; tc->ring != NULL && i < tc->ring_len; i++) {
    uint32_t idx = (tc->ring_head + tc->ring_cap - tc->ring_len + i) % tc->ring_cap;
    if (tc->ring[idx].live)
      neg_delete(tc, idx);
  }
  tc->ring_len = 0;
}
