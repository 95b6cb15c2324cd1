/* The PSK resolver (psk_resolver.h). One table of entries keyed by the key-store name of
 * the query: an entry is either a fetch in flight (with its waiters and its timeout
 * timer) or a remembered unknown identity (until its negative TTL). Keys themselves live
 * in the key store only, so the resolver holds no key beyond one stack buffer that is
 * wiped at once.
 *
 * An entry's memory is released in the close callback of its timer (libuv's rule), so a
 * waiter callback that runs while its entry is being dropped never sees freed memory. */
#include "keys/psk_resolver.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>
#include <uv.h>

#include "keys/keystore.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/metrics.h"

#define N_BUCKETS 1024u
/* An AKMA store name is the identity plus "#" and 4 hex digits of the suite. */
#define NAME_MAX_LEN (EGW_PSK_IDENTITY_MAX_LEN + 8)

struct provider {
  const struct egw_psk_provider_ops *ops;
  void *state;
  struct egw_psk_provider_limits limits;
  struct provider *next;
};

enum entry_state { FETCHING, NEGATIVE, DONE };

struct egw_psk_wait {
  struct egw_psk_fetch *f;
  egw_psk_wait_cb cb;
  void *arg;
  struct egw_psk_wait *prev, *next;
};

/* One entry; named after the API's fetch because the provider sees it as one. */
struct egw_psk_fetch {
  struct egw_psk_resolver *r;
  struct provider *p;
  enum entry_state state;
  enum egw_psk_failure failure;
  uint64_t until_ms;   /* NEGATIVE: forgotten then */
  uint64_t started_ms; /* FETCHING: for the fetch duration metric */
  uv_timer_t timer;  /* FETCHING: the timeout; closed when the entry goes */
  int timer_live;    /* uv_timer_init ran (the entry is freed in its close callback) */
  struct egw_psk_query q;
  void *provider_data; /* egw_psk_fetch_set0_data */
  struct egw_psk_wait *waiters;
  struct egw_psk_fetch *next; /* bucket chain */
  char name[NAME_MAX_LEN + 1];
  char identity[EGW_PSK_IDENTITY_MAX_LEN + 1];
};

struct egw_psk_resolver {
  struct egw_keystore *keys;
  uv_loop_t *loop;
  int started, stopping;
  struct provider *providers, **providers_tail;
  size_t n_entries, max_entries;
  uint64_t full_logged_at_ms; /* last psk_resolver_full line */
  uint64_t full_unlogged;
  enum egw_psk_failure last_failure;
  const char *last_provider;
  struct egw_psk_fetch *buckets[N_BUCKETS];
};

/* ---- names ------------------------------------------------------------------------- */

int egw_psk_store_name(const struct egw_psk_query *q, char *out, size_t max) {
  static const char akma[] = "3GPP-AKMA";
  static const char hex[] = "0123456789abcdef";
  size_t len = q->identity ? strlen(q->identity) : 0;
  int per_suite = strncmp(q->identity ? q->identity : "", akma, sizeof(akma) - 1) == 0;
  size_t need = len + (per_suite ? 5 : 0) + 1;
  if (len == 0 || need > max)
    return -1;
  memcpy(out, q->identity, len);
  if (per_suite) {
    /* '#' cannot occur in an A-KID (an NAI): the name cannot collide with an identity. */
    out[len++] = '#';
    for (int shift = 12; shift >= 0; shift -= 4)
      out[len++] = hex[(q->cipher_suite >> shift) & 0xf];
  }
  out[len] = '\0';
  return 0;
}

static unsigned bucket_of(const char *name) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 16777619u;
  return h % N_BUCKETS;
}

/* ---- life cycle -------------------------------------------------------------------- */

struct egw_psk_resolver *egw_psk_resolver_new(struct egw_keystore *keys) {
  struct egw_psk_resolver *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->keys = keys;
  r->providers_tail = &r->providers;
  r->max_entries = EGW_PSK_RESOLVER_DEFAULT_MAX_ENTRIES;
  return r;
}

int egw_psk_resolver_add_provider(struct egw_psk_resolver *r,
                                  const struct egw_psk_provider_ops *ops, void *state,
                                  const struct egw_psk_provider_limits *limits) {
  struct provider *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return EGW_ERR_NOMEM;
  p->ops = ops;
  p->state = state;
  p->limits = *limits;
  *r->providers_tail = p;
  r->providers_tail = &p->next;
  return 0;
}

int egw_psk_resolver_has_providers(const struct egw_psk_resolver *r) {
  return r != NULL && r->providers != NULL;
}

void egw_psk_resolver_set_max_entries(struct egw_psk_resolver *r, size_t max_entries) {
  r->max_entries = max_entries ? max_entries : 1;
}

enum egw_psk_failure egw_psk_resolver_failure(const struct egw_psk_resolver *r,
                                              const char **out_provider) {
  if (out_provider)
    *out_provider = r->last_provider;
  return r->last_failure;
}

static struct provider *claiming(const struct egw_psk_resolver *r, const struct egw_psk_query *q) {
  for (struct provider *p = r ? r->providers : NULL; p; p = p->next) {
    if (p->ops->claims(p->state, q))
      return p;
  }
  return NULL;
}

int egw_psk_resolver_claims(const struct egw_psk_resolver *r, const struct egw_psk_query *q) {
  return claiming(r, q) != NULL;
}

int egw_psk_resolver_start(struct egw_psk_resolver *r, struct uv_loop_s *loop) {
  r->loop = loop;
  r->started = 1;
  r->stopping = 0;
  for (struct provider *p = r->providers; p; p = p->next) {
    if (p->ops->attach && p->ops->attach(p->state, loop) != 0) {
      egw_log_msg(EGW_LOG_ERROR, "psk_provider_failed", "%s: cannot start", p->ops->name);
      return -1;
    }
  }
  return 0;
}

/* ---- the table ----------------------------------------------------------------------- */

static void on_entry_closed(uv_handle_t *h) { free(h->data); }

/* unlink_entry takes |f| out of the table; its memory goes once its timer is closed. */
static void unlink_entry(struct egw_psk_fetch *f) {
  struct egw_psk_resolver *r = f->r;
  for (struct egw_psk_fetch **pp = &r->buckets[bucket_of(f->name)]; *pp; pp = &(*pp)->next) {
    if (*pp == f) {
      *pp = f->next;
      break;
    }
  }
  r->n_entries--;
  f->state = DONE;
  if (f->timer_live)
    uv_close((uv_handle_t *)&f->timer, on_entry_closed);
  else
    free(f);
}

/* find returns the live entry named |name|, dropping expired negative entries met. */
static struct egw_psk_fetch *find(struct egw_psk_resolver *r, const char *name, uint64_t now) {
  for (struct egw_psk_fetch *f = r->buckets[bucket_of(name)], *next; f; f = next) {
    next = f->next;
    if (f->state == NEGATIVE && f->until_ms <= now) {
      unlink_entry(f);
      continue;
    }
    if (strcmp(f->name, name) == 0)
      return f;
  }
  return NULL;
}

/* sweep drops every expired negative entry (only when the table is full: O(entries)). */
static void sweep(struct egw_psk_resolver *r, uint64_t now) {
  for (unsigned b = 0; b < N_BUCKETS; b++) {
    for (struct egw_psk_fetch *f = r->buckets[b], *next; f; f = next) {
      next = f->next;
      if (f->state == NEGATIVE && f->until_ms <= now)
        unlink_entry(f);
    }
  }
}

static void log_full(struct egw_psk_resolver *r, uint64_t now) {
  r->full_unlogged++;
  if (r->full_logged_at_ms != 0 && now - r->full_logged_at_ms < 1000)
    return;
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "psk_resolver_full");
  egw_log_int(&rec, "limit", (int64_t)r->max_entries);
  egw_log_int(&rec, "refused", (int64_t)r->full_unlogged);
  egw_log_end(&rec);
  r->full_unlogged = 0;
  r->full_logged_at_ms = now ? now : 1;
}

/* ---- ending a fetch ---------------------------------------------------------------- */

static void fail_now(struct egw_psk_resolver *r, enum egw_psk_failure why,
                     const struct provider *p) {
  r->last_failure = why;
  r->last_provider = p ? p->ops->name : NULL;
}

static const char *metric_result(enum egw_psk_result res, enum egw_psk_failure why) {
  if (res == EGW_PSK_READY)
    return "ok";
  if (res == EGW_PSK_UNKNOWN)
    return "unknown";
  return why == EGW_PSK_FAIL_TIMEOUT ? "timeout" : "error";
}

/* finish ends fetch |f| with |res|, turns it into a negative entry or drops it, and calls
 * every waiter. A waiter's callback may resolve again or cancel other waiters. */
static void finish(struct egw_psk_fetch *f, enum egw_psk_result res) {
  struct egw_psk_resolver *r = f->r;
  uint64_t now = uv_now(r->loop);
  uv_timer_stop(&f->timer);
  if (!r->stopping)
    egw_metrics_key_fetch(f->p->ops->name, metric_result(res, f->failure),
                          (double)(now - f->started_ms));
  uint64_t ttl = f->p->limits.negative_ttl_ms;
  if (res == EGW_PSK_UNKNOWN && ttl > 0 && !r->stopping) {
    f->state = NEGATIVE;
    f->until_ms = now + ttl;
  } else {
    unlink_entry(f); /* memory stays until the timer's close callback */
  }
  struct egw_psk_wait *w;
  while ((w = f->waiters) != NULL) {
    f->waiters = w->next;
    if (f->waiters)
      f->waiters->prev = NULL;
    egw_psk_wait_cb cb = w->cb;
    void *arg = w->arg;
    free(w);
    if (res == EGW_PSK_UNAVAILABLE)
      fail_now(r, f->failure, f->p);
    cb(arg, res);
  }
}

void egw_psk_fetch_set0_data(struct egw_psk_fetch *f, void *data) { f->provider_data = data; }

void *egw_psk_fetch_get0_data(const struct egw_psk_fetch *f) { return f->provider_data; }

void egw_psk_fetch_set_failure(struct egw_psk_fetch *f, enum egw_psk_failure why) {
  f->failure = why;
}

void egw_psk_fetch_done(struct egw_psk_fetch *f, enum egw_psk_result res, const uint8_t *key,
                        size_t key_len, uint64_t expires_at_ms) {
  if (f->state != FETCHING)
    return; /* a provider breaking its contract: nothing to do */
  if (res == EGW_PSK_READY) {
    int rc = key_len == 0 || key_len > EGW_PSK_MAX_LEN
                 ? EGW_ERR_LIMIT
                 : egw_keystore_put(f->r->keys, NULL, f->name, key, key_len, expires_at_ms);
    if (rc != 0) {
      egw_log_msg(EGW_LOG_WARN, "psk_fetch_failed", "%s: cannot store the key: %s", f->p->ops->name,
                  egw_strerror(rc));
      f->failure = EGW_PSK_FAIL_ERROR;
      res = EGW_PSK_UNAVAILABLE;
    }
  }
  finish(f, res);
}

static void on_fetch_timeout(uv_timer_t *t) {
  struct egw_psk_fetch *f = t->data;
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "psk_fetch_timeout");
  egw_log_str(&rec, "provider", f->p->ops->name);
  egw_log_str(&rec, "psk_identity", f->identity);
  egw_log_int(&rec, "timeout_ms", (int64_t)f->p->limits.timeout_ms);
  egw_log_end(&rec);
  f->p->ops->cancel(f->p->state, f);
  f->failure = EGW_PSK_FAIL_TIMEOUT;
  finish(f, EGW_PSK_UNAVAILABLE);
}

void egw_psk_resolver_stop(struct egw_psk_resolver *r) {
  if (r == NULL || !r->started || r->stopping)
    return;
  r->stopping = 1;
  for (unsigned b = 0; b < N_BUCKETS; b++) {
    while (r->buckets[b] != NULL) {
      struct egw_psk_fetch *f = r->buckets[b];
      if (f->state == FETCHING) {
        f->p->ops->cancel(f->p->state, f);
        f->failure = EGW_PSK_FAIL_STOPPED;
        finish(f, EGW_PSK_UNAVAILABLE); /* unlinks it: stopping keeps no negative entry */
      } else {
        unlink_entry(f);
      }
    }
  }
  for (struct provider *p = r->providers; p; p = p->next) {
    if (p->ops->detach)
      p->ops->detach(p->state);
  }
}

void egw_psk_resolver_free(struct egw_psk_resolver *r) {
  if (r == NULL)
    return;
  /* Entries without a live timer can only remain when the resolver never started. */
  for (unsigned b = 0; b < N_BUCKETS; b++) {
    for (struct egw_psk_fetch *f = r->buckets[b], *next; f; f = next) {
      next = f->next;
      free(f);
    }
  }
  for (struct provider *p = r->providers, *next; p; p = next) {
    next = p->next;
    if (p->ops->dispose)
      p->ops->dispose(p->state);
    free(p);
  }
  free(r);
}

/* ---- queries ----------------------------------------------------------------------- */

static struct egw_psk_wait *add_waiter(struct egw_psk_fetch *f, egw_psk_wait_cb cb, void *arg) {
  struct egw_psk_wait *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return NULL;
  w->f = f;
  w->cb = cb;
  w->arg = arg;
  w->next = f->waiters;
  if (f->waiters)
    f->waiters->prev = w;
  f->waiters = w;
  return w;
}

void egw_psk_wait_cancel(struct egw_psk_wait *w) {
  if (w == NULL)
    return;
  struct egw_psk_fetch *f = w->f;
  if (w->prev)
    w->prev->next = w->next;
  else
    f->waiters = w->next;
  if (w->next)
    w->next->prev = w->prev;
  free(w);
}

/* start_fetch makes the entry for |q| and asks provider |p|. Returns the entry, or NULL
 * with r->last_failure set. */
static struct egw_psk_fetch *start_fetch(struct egw_psk_resolver *r, struct provider *p,
                                         const struct egw_psk_query *q, const char *name) {
  struct egw_psk_fetch *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    fail_now(r, EGW_PSK_FAIL_ERROR, p);
    return NULL;
  }
  f->r = r;
  f->p = p;
  f->state = FETCHING;
  f->failure = EGW_PSK_FAIL_ERROR;
  strcpy(f->name, name);
  strcpy(f->identity, q->identity);
  f->q.identity = f->identity;
  f->q.cipher_suite = q->cipher_suite;
  unsigned b = bucket_of(name);
  f->next = r->buckets[b];
  r->buckets[b] = f;
  r->n_entries++;
  uv_timer_init(r->loop, &f->timer);
  f->timer.data = f;
  f->timer_live = 1;
  f->started_ms = uv_now(r->loop);
  uv_timer_start(&f->timer, on_fetch_timeout, p->limits.timeout_ms ? p->limits.timeout_ms : 1, 0);
  int rc = p->ops->start(p->state, f, &f->q);
  if (rc != 0) {
    egw_log_msg(EGW_LOG_WARN, "psk_fetch_failed", "%s: %s", p->ops->name, egw_strerror(rc));
    unlink_entry(f);
    fail_now(r, EGW_PSK_FAIL_UNREACHABLE, p);
    return NULL;
  }
  return f;
}

int egw_psk_resolve(struct egw_psk_resolver *r, const struct egw_psk_query *q, egw_psk_wait_cb cb,
                    void *arg, struct egw_psk_wait **out_wait) {
  *out_wait = NULL;
  fail_now(r, EGW_PSK_FAIL_NONE, NULL);
  char name[NAME_MAX_LEN + 1];
  size_t id_len = q->identity ? strlen(q->identity) : 0;
  if (id_len == 0 || id_len > EGW_PSK_IDENTITY_MAX_LEN ||
      egw_psk_store_name(q, name, sizeof(name)) != 0) {
    fail_now(r, EGW_PSK_FAIL_NO_PROVIDER, NULL);
    return EGW_PSK_UNAVAILABLE;
  }
  uint64_t now = r->loop ? uv_now(r->loop) : 0;
  uint8_t key[EGW_PSK_MAX_LEN];
  size_t n = egw_keystore_get(r->keys, NULL, name, key, sizeof(key), now);
  OPENSSL_cleanse(key, sizeof(key));
  if (n > 0)
    return EGW_PSK_READY;
  struct provider *p = claiming(r, q);
  if (p == NULL) {
    fail_now(r, EGW_PSK_FAIL_NO_PROVIDER, NULL);
    return EGW_PSK_UNAVAILABLE;
  }
  if (!r->started || r->stopping) {
    fail_now(r, EGW_PSK_FAIL_STOPPED, p);
    return EGW_PSK_UNAVAILABLE;
  }
  struct egw_psk_fetch *f = find(r, name, now);
  if (f != NULL && f->state == NEGATIVE)
    return EGW_PSK_UNKNOWN;
  if (f == NULL) {
    if (r->n_entries >= r->max_entries)
      sweep(r, now);
    if (r->n_entries >= r->max_entries) {
      log_full(r, now);
      fail_now(r, EGW_PSK_FAIL_FULL, p);
      return EGW_PSK_UNAVAILABLE;
    }
    f = start_fetch(r, p, q, name);
    if (f == NULL)
      return EGW_PSK_UNAVAILABLE;
  }
  struct egw_psk_wait *w = add_waiter(f, cb, arg);
  if (w == NULL) {
    /* The fetch goes on for the cache; this caller fails closed. */
    fail_now(r, EGW_PSK_FAIL_ERROR, p);
    return EGW_PSK_UNAVAILABLE;
  }
  *out_wait = w;
  return -1;
}
