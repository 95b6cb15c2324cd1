/* The key store: a flat array of PSK entries. Sites hold a handful to a few thousand
 * keys and every lookup visits all entries of the realm anyway (so that timing does not
 * tell which identity, or how much of one, matched), so a hash table would buy nothing. */
#include "keys/keystore.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/mem.h>
#include <openssl/sha.h>

#include "util/errors.h"

struct entry {
  char *realm; /* NULL: site-wide */
  char *identity;
  uint8_t id_digest[SHA256_DIGEST_LENGTH];
  uint8_t key[EGW_PSK_MAX_LEN];
  size_t key_len;
  uint64_t expires_at_ms; /* 0: never */
};

struct egw_keystore {
  struct entry *entries;
  size_t n, cap;
};

struct egw_keystore *egw_keystore_new(void) {
  return calloc(1, sizeof(struct egw_keystore));
}

static void entry_wipe(struct entry *e) {
  OPENSSL_cleanse(e->key, sizeof(e->key));
  free(e->realm);
  free(e->identity);
  memset(e, 0, sizeof(*e));
}

void egw_keystore_free(struct egw_keystore *ks) {
  if (ks == NULL)
    return;
  for (size_t i = 0; i < ks->n; i++)
    entry_wipe(&ks->entries[i]);
  /* Slots beyond n were wiped when their entries were removed. */
  free(ks->entries);
  free(ks);
}

size_t egw_keystore_size(const struct egw_keystore *ks) { return ks->n; }

static int same_realm(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

static void remove_at(struct egw_keystore *ks, size_t i) {
  entry_wipe(&ks->entries[i]);
  ks->n--;
  if (i != ks->n) {
    ks->entries[i] = ks->entries[ks->n];
    memset(&ks->entries[ks->n], 0, sizeof(ks->entries[ks->n]));
  }
}

int egw_keystore_put(struct egw_keystore *ks, const char *realm, const char *identity,
                     const uint8_t *key, size_t key_len, uint64_t expires_at_ms) {
  size_t id_len = identity ? strlen(identity) : 0;
  if (id_len == 0 || id_len > EGW_PSK_IDENTITY_MAX_LEN || key_len == 0 || key_len > EGW_PSK_MAX_LEN)
    return EGW_ERR_LIMIT;
  struct entry e = {.key_len = key_len, .expires_at_ms = expires_at_ms};
  e.identity = strdup(identity);
  e.realm = realm ? strdup(realm) : NULL;
  if (e.identity == NULL || (realm && e.realm == NULL)) {
    free(e.identity);
    free(e.realm);
    return EGW_ERR_NOMEM;
  }
  SHA256((const uint8_t *)identity, id_len, e.id_digest);
  memcpy(e.key, key, key_len);

  for (size_t i = 0; i < ks->n; i++) {
    struct entry *old = &ks->entries[i];
    if (same_realm(old->realm, realm) && strcmp(old->identity, identity) == 0) {
      entry_wipe(old);
      *old = e;
      return 0;
    }
  }
  if (ks->n == ks->cap) {
    size_t cap = ks->cap ? ks->cap * 2 : 16;
    /* Not realloc: the old array holds keys and must be wiped, not just released. */
    struct entry *grown = calloc(cap, sizeof(*grown));
    if (grown == NULL) {
      entry_wipe(&e);
      return EGW_ERR_NOMEM;
    }
    if (ks->n)
      memcpy(grown, ks->entries, ks->n * sizeof(*grown));
    if (ks->entries) {
      OPENSSL_cleanse(ks->entries, ks->n * sizeof(*ks->entries));
      free(ks->entries);
    }
    ks->entries = grown;
    ks->cap = cap;
  }
  ks->entries[ks->n++] = e;
  return 0;
}

size_t egw_keystore_get(struct egw_keystore *ks, const char *realm, const char *identity,
                        uint8_t *out, size_t max, uint64_t now_ms) {
  if (identity == NULL)
    return 0;
  /* Expired keys go first, so they can never be returned. */
  for (size_t i = 0; i < ks->n;) {
    uint64_t exp = ks->entries[i].expires_at_ms;
    if (exp != 0 && exp <= now_ms)
      remove_at(ks, i);
    else
      i++;
  }
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256((const uint8_t *)identity, strlen(identity), digest);
  /* Compare digests with CRYPTO_memcmp over every visible entry, without stopping at a
   * match. A key of the listener's own realm wins over a site-wide one. */
  const struct entry *site_wide = NULL, *scoped = NULL;
  for (size_t i = 0; i < ks->n; i++) {
    const struct entry *e = &ks->entries[i];
    int visible_scoped = e->realm != NULL && realm != NULL && strcmp(e->realm, realm) == 0;
    if (e->realm != NULL && !visible_scoped)
      continue;
    int match = CRYPTO_memcmp(e->id_digest, digest, sizeof(digest)) == 0;
    if (match && visible_scoped)
      scoped = e;
    else if (match)
      site_wide = e;
  }
  OPENSSL_cleanse(digest, sizeof(digest));
  const struct entry *hit = scoped ? scoped : site_wide;
  /* A digest collision is not a realistic concern; the full identity check is cheap. */
  if (hit == NULL || strcmp(hit->identity, identity) != 0 || hit->key_len > max)
    return 0;
  memcpy(out, hit->key, hit->key_len);
  return hit->key_len;
}

int egw_keystore_get_expiry(struct egw_keystore *ks, const char *realm, const char *identity,
                            uint64_t now_ms, uint64_t *out_expires_at_ms) {
  /* Not a secret lookup (the identity is public): the plain comparison is fine. A key of
   * the realm wins over a site-wide one, as in egw_keystore_get. */
  const struct entry *hit = NULL;
  for (size_t i = 0; identity && i < ks->n; i++) {
    const struct entry *e = &ks->entries[i];
    if ((e->expires_at_ms != 0 && e->expires_at_ms <= now_ms) || strcmp(e->identity, identity))
      continue;
    if (e->realm == NULL && hit == NULL)
      hit = e;
    else if (e->realm != NULL && realm != NULL && strcmp(e->realm, realm) == 0)
      hit = e;
  }
  if (hit == NULL)
    return 0;
  *out_expires_at_ms = hit->expires_at_ms;
  return 1;
}

int egw_keystore_replace_scoped(struct egw_keystore *ks, struct egw_keystore *from) {
  size_t kept = 0, moved = 0;
  for (size_t i = 0; i < ks->n; i++)
    kept += ks->entries[i].realm == NULL;
  for (size_t i = 0; i < from->n; i++)
    moved += from->entries[i].realm != NULL;
  /* A new array first, so that running out of memory leaves |ks| as it was. */
  size_t cap = kept + moved > 16 ? kept + moved : 16;
  struct entry *next = calloc(cap, sizeof(*next));
  if (next == NULL)
    return EGW_ERR_NOMEM;
  size_t n = 0;
  for (size_t i = 0; i < ks->n; i++) {
    if (ks->entries[i].realm == NULL)
      next[n++] = ks->entries[i]; /* moved: the old slot is cleansed below, not wiped */
    else
      entry_wipe(&ks->entries[i]);
  }
  for (size_t i = 0; i < from->n;) {
    if (from->entries[i].realm != NULL) {
      next[n++] = from->entries[i];
      from->n--;
      from->entries[i] = from->entries[from->n];
      memset(&from->entries[from->n], 0, sizeof(from->entries[from->n]));
    } else {
      i++;
    }
  }
  if (ks->entries) {
    OPENSSL_cleanse(ks->entries, ks->cap * sizeof(*ks->entries));
    free(ks->entries);
  }
  ks->entries = next;
  ks->n = n;
  ks->cap = cap;
  return 0;
}
