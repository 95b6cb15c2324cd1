/* The key store: pre-shared keys by PSK identity, shared by every listener and role of
 * the site. Keys are wiped (OPENSSL_cleanse) when replaced, expired or freed. Used on the
 * loop thread only. */
#ifndef EGW_KEYS_KEYSTORE_H
#define EGW_KEYS_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#define EGW_PSK_MAX_LEN 64
#define EGW_PSK_IDENTITY_MAX_LEN 128

struct egw_keystore;

/* egw_keystore_new returns an empty store, or NULL when out of memory. */
struct egw_keystore *egw_keystore_new(void);
/* egw_keystore_free wipes every key and frees |ks|; NULL is accepted. */
void egw_keystore_free(struct egw_keystore *ks);

/* egw_keystore_put stores a copy of |key| under |identity|, replacing (and wiping) any
 * previous key with the same realm and identity. |realm| scopes the key: NULL for a key
 * usable on every PSK listener of the site (Kedge, K_AF), or a name (the static PSK
 * file's path) that only listeners naming the same realm see. |expires_at_ms| is a
 * uv_now()-style millisecond time, 0 for never. Returns 0, EGW_ERR_LIMIT for an identity
 * or key that is too long or empty, or EGW_ERR_NOMEM. */
int egw_keystore_put(struct egw_keystore *ks, const char *realm, const char *identity,
                     const uint8_t *key, size_t key_len, uint64_t expires_at_ms);

/* egw_keystore_get copies the key for |identity| visible in |realm| (site-wide keys are
 * visible in every realm) into |out| (capacity |max|) and returns its length, or 0 when
 * there is none, it expired at |now_ms|, or it does not fit. The identity comparison
 * does not leak, through timing, how much of a stored identity matched. */
size_t egw_keystore_get(struct egw_keystore *ks, const char *realm, const char *identity,
                        uint8_t *out, size_t max, uint64_t now_ms);

/* egw_keystore_get_expiry sets *out_expires_at_ms to the expiry (0 = never) of the key
 * for |identity| visible in |realm| and returns 1, or returns 0 when there is none or it
 * expired at |now_ms|. (The ECS shows the expiry of a fetched key to the EEC.) */
int egw_keystore_get_expiry(struct egw_keystore *ks, const char *realm, const char *identity,
                            uint64_t now_ms, uint64_t *out_expires_at_ms);

/* egw_keystore_load_file reads a static PSK file into realm |path|: one
 * "<identity> <hex key>" per line, blank lines and '#' comments ignored. On error
 * returns a negative code and sets *out_err (malloc'd) to "file:line: message"; the
 * error never contains key material. */
int egw_keystore_load_file(struct egw_keystore *ks, const char *path, char **out_err);

/* egw_keystore_size returns the number of keys held (expired ones included until the
 * next lookup drops them). */
size_t egw_keystore_size(const struct egw_keystore *ks);

/* egw_keystore_replace_scoped makes the realm-scoped keys of |ks| (static PSK files) exactly
 * those of |from|: every scoped key of |ks| is wiped and removed, then every scoped key of
 * |from| is moved in (and removed from |from|). Site-wide keys (realm NULL: keys fetched by
 * providers) of |ks| are kept, those of |from| stay in |from|. A reload builds |from| from
 * the new files and calls this only once the whole new site is built, so an identity
 * removed from a file stops working and a failed reload changes nothing. Returns 0 or
 * EGW_ERR_NOMEM (then |ks| is unchanged). */
int egw_keystore_replace_scoped(struct egw_keystore *ks, struct egw_keystore *from);

#endif
