/* The PSK resolver: one per site, shared by every PSK listener and by the ECS's
 * authentication request of the TLS-PSK proposal. It answers "is the key of this PSK
 * identity in the key store?" without ever blocking the loop:
 *   - a key already in the key store: at once;
 *   - an identity a provider recently said it does not know: at once (negative cache);
 *   - otherwise one fetch per identity from the first provider that claims the identity
 *     (by its format: a Kedge-ID for the AUSF or NEF provider, "3GPP-AKMA" + A-KID for
 *     the AAnF provider, "kecs:<eecId>:<counter>" for the KECS-PSK provider); every
 *     later query for the same identity waits on that fetch.
 * A fetched key goes into the site's key store (site-wide realm) until its expiry and is
 * wiped from every intermediate buffer. Every fetch ends within its provider's timeout.
 * Loop thread only. */
#ifndef EGW_KEYS_PSK_RESOLVER_H
#define EGW_KEYS_PSK_RESOLVER_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct egw_keystore;
struct egw_psk_resolver;
struct egw_psk_fetch; /* one fetch in flight; owned by the resolver */
struct egw_psk_wait;  /* one waiter on a fetch; owned by the resolver */

enum egw_psk_result {
  EGW_PSK_READY,       /* the key is in the key store now */
  EGW_PSK_UNKNOWN,     /* the provider does not know the identity (also from the negative cache) */
  EGW_PSK_UNAVAILABLE, /* no provider claims it, the provider failed or timed out, or the
                        * resolver is stopping: fail closed */
};

/* What is being resolved. |cipher_suite| is the TLS 1.2 suite the handshake negotiated
 * (IANA number, e.g. 0xCCAC for ECDHE-PSK-CHACHA20-POLY1305), 0 outside a handshake: the
 * AKMA key K_AF depends on it (TS 33.220 Annex H: AF_ID = FQDN || Ua* protocol id). */
struct egw_psk_query {
  const char *identity;
  uint16_t cipher_suite;
};

/* A key provider. Providers are registered by the factories of roles/key_providers.c
 * (after the modules' init, when their policy section is present), in the table's order;
 * the first whose claims() says yes serves the identity. */
struct egw_psk_provider_ops {
  const char *name; /* "ausf", "nef", "aanf", "kecs": logs and metrics */
  /* claims returns nonzero when this provider serves |q| (judged by the identity's
   * format alone: no I/O). */
  int (*claims)(void *state, const struct egw_psk_query *q);
  /* start begins fetching the key of |q|. Returns 0 and later calls egw_psk_fetch_done
   * exactly once (never from inside start), or returns a negative code (the fetch
   * fails as EGW_PSK_UNAVAILABLE and egw_psk_fetch_done is not called). |q| and its
   * identity stay valid until the fetch ends or is cancelled. */
  int (*start)(void *state, struct egw_psk_fetch *f, const struct egw_psk_query *q);
  /* cancel abandons |f| (timeout, resolver stopping); after it returns the provider
   * never calls egw_psk_fetch_done for |f|. */
  void (*cancel)(void *state, struct egw_psk_fetch *f);
  /* Optional life-cycle hooks (NULL when not needed). attach runs at
   * egw_psk_resolver_start with the loop (a provider makes its HTTP client there; a
   * non-zero return fails the start); detach runs at egw_psk_resolver_stop, after every
   * fetch was cancelled (it frees what attach made); dispose runs at
   * egw_psk_resolver_free and frees |state|. Without dispose the provider frees |state|
   * itself, after the resolver. */
  int (*attach)(void *state, struct uv_loop_s *loop);
  void (*detach)(void *state);
  void (*dispose)(void *state);
};

/* Why a query ended EGW_PSK_UNAVAILABLE (egw_psk_resolver_failure). */
enum egw_psk_failure {
  EGW_PSK_FAIL_NONE,
  EGW_PSK_FAIL_NO_PROVIDER, /* no provider claims the identity */
  EGW_PSK_FAIL_FULL,        /* the resolver holds its maximum of entries (a flood) */
  EGW_PSK_FAIL_STOPPED,     /* not started, or stopping */
  EGW_PSK_FAIL_TIMEOUT,     /* the provider did not answer within its timeout_ms */
  EGW_PSK_FAIL_UNREACHABLE, /* the provider's peer cannot be reached (refused, TLS) */
  EGW_PSK_FAIL_ERROR,       /* the provider's peer answered with an error, or nonsense */
};

/* Per-provider bounds. */
struct egw_psk_provider_limits {
  uint64_t timeout_ms;      /* a fetch not done by then ends as EGW_PSK_UNAVAILABLE */
  uint64_t negative_ttl_ms; /* how long an EGW_PSK_UNKNOWN answer is remembered */
};

/* egw_psk_fetch_done ends fetch |f|: with EGW_PSK_READY, |key| (|key_len| bytes, at most
 * EGW_PSK_MAX_LEN) is put in the key store under the store name of the query (see
 * egw_psk_store_name) until |expires_at_ms| (uv_now() time, 0 = never); the resolver
 * copies it, the provider wipes its own copy. Every waiter is then called. */
void egw_psk_fetch_done(struct egw_psk_fetch *f, enum egw_psk_result r, const uint8_t *key,
                        size_t key_len, uint64_t expires_at_ms);

/* egw_psk_fetch_set0_data attaches the provider's own record of fetch |f| (from start
 * on); egw_psk_fetch_get0_data returns it (NULL when none), e.g. in cancel. */
void egw_psk_fetch_set0_data(struct egw_psk_fetch *f, void *data);
void *egw_psk_fetch_get0_data(const struct egw_psk_fetch *f);

/* egw_psk_fetch_set_failure says, before egw_psk_fetch_done(EGW_PSK_UNAVAILABLE), why the
 * fetch failed (default EGW_PSK_FAIL_ERROR); the ECS's authentication request answers
 * 502 or 504 from it. */
void egw_psk_fetch_set_failure(struct egw_psk_fetch *f, enum egw_psk_failure why);

/* egw_psk_resolver_new makes a resolver filling |keys| (borrowed; outlives it). The loop
 * is given at egw_psk_resolver_start. NULL when out of memory. */
struct egw_psk_resolver *egw_psk_resolver_new(struct egw_keystore *keys);

/* egw_psk_resolver_add_provider appends a provider; |state| is the provider's, passed back
 * to its ops (the provider frees it). Returns 0 or EGW_ERR_NOMEM. Before start only. */
int egw_psk_resolver_add_provider(struct egw_psk_resolver *r,
                                  const struct egw_psk_provider_ops *ops, void *state,
                                  const struct egw_psk_provider_limits *limits);

/* egw_psk_resolver_has_providers says whether any provider was added (a PSK listener of
 * a site without providers never waits: an unknown identity is refused at once). */
int egw_psk_resolver_has_providers(const struct egw_psk_resolver *r);

/* egw_psk_resolver_claims says whether a provider claims |q| (no I/O): a PSK listener
 * holds a handshake for a fetch only then. */
int egw_psk_resolver_claims(const struct egw_psk_resolver *r, const struct egw_psk_query *q);

/* Default bound on the entries the resolver holds (fetches in flight plus remembered
 * unknown identities). Beyond it new identities are refused as EGW_PSK_UNAVAILABLE
 * (EGW_PSK_FAIL_FULL, logged at most once a second), so that a flood of random
 * identities cannot grow memory without bound. */
#define EGW_PSK_RESOLVER_DEFAULT_MAX_ENTRIES 16384

/* egw_psk_resolver_set_max_entries changes that bound (at least 1). */
void egw_psk_resolver_set_max_entries(struct egw_psk_resolver *r, size_t max_entries);

/* egw_psk_resolver_failure says why the last EGW_PSK_UNAVAILABLE happened: read it right
 * after egw_psk_resolve returned it, or inside the egw_psk_wait_cb that got it. When
 * |out_provider| is not NULL it receives the name of the provider concerned (static),
 * or NULL. */
enum egw_psk_failure egw_psk_resolver_failure(const struct egw_psk_resolver *r,
                                              const char **out_provider);

/* egw_psk_resolver_start arms the resolver on |loop|; egw_psk_resolver_stop cancels every
 * fetch (waiters get EGW_PSK_UNAVAILABLE) and closes its handles; egw_psk_resolver_free
 * runs after the loop ended (NULL accepted). */
int egw_psk_resolver_start(struct egw_psk_resolver *r, struct uv_loop_s *loop);
void egw_psk_resolver_stop(struct egw_psk_resolver *r);
void egw_psk_resolver_free(struct egw_psk_resolver *r);

typedef void (*egw_psk_wait_cb)(void *arg, enum egw_psk_result r);

/* egw_psk_resolve asks for the key of |q|. Returns EGW_PSK_READY or EGW_PSK_UNKNOWN at
 * once when the key store or the negative cache answers (|cb| is not called, *out_wait
 * is NULL), EGW_PSK_UNAVAILABLE at once when no provider claims the identity; otherwise
 * it starts or joins the fetch, sets *out_wait, returns -1, and calls |cb| exactly once
 * later, unless the caller cancels first. */
int egw_psk_resolve(struct egw_psk_resolver *r, const struct egw_psk_query *q, egw_psk_wait_cb cb,
                    void *arg, struct egw_psk_wait **out_wait);

/* egw_psk_wait_cancel drops a waiter (its connection closed); |cb| will not be called. The
 * fetch goes on for the other waiters and the cache. */
void egw_psk_wait_cancel(struct egw_psk_wait *w);

/* egw_psk_store_name writes the key-store identity under which the key of |q| lives into
 * |out| (capacity |max|): the identity itself, except that AKMA keys (identity starting
 * "3GPP-AKMA") are stored per cipher suite (K_AF differs per suite). Returns 0, or -1 when
 * it does not fit. The TLS PSK callback looks keys up by the same name. */
int egw_psk_store_name(const struct egw_psk_query *q, char *out, size_t max);

#endif
