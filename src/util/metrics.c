/* The process-wide metrics registry (util/metrics.h). A fixed table of families, each a
 * small array of series found by a hash of its label values and then compared; the
 * families are few and their series bounded, so a linear scan over 64-bit hashes costs
 * less than the request's own parsing. Everything here runs on the loop thread. */
#include "util/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errors.h"

#define MAX_LABELS 4
#define N_BUCKETS 11

enum family_type { COUNTER, GAUGE, HISTOGRAM };

/* Upper bounds of the histogram buckets, in seconds (key fetches: milliseconds to
 * seconds). */
static const double bucket_bounds[N_BUCKETS] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                0.25,  0.5,   1,    2.5,   5};

struct series {
  uint64_t hash;
  char *labels[MAX_LABELS];
  double value; /* counter, gauge; histogram: the sum */
  uint64_t count;
  uint64_t buckets[N_BUCKETS];
};

struct family {
  const char *name;
  const char *help;
  enum family_type type;
  int n_labels;
  const char *label_names[MAX_LABELS];
  struct series *series;
  size_t n_series, cap;
};

enum {
  F_TLS_HANDSHAKES,
  F_HTTP_REQUESTS,
  F_AUTHZ,
  F_TOKCACHE_HITS,
  F_TOKCACHE_MISSES,
  F_TOKCACHE_EVICTIONS,
  F_TOKCACHE_ENTRIES,
  F_KEY_FETCHES,
  F_KEY_FETCH_DURATION,
  F_UPSTREAM_ERRORS,
  F_OPEN_CONNECTIONS,
  F_REGISTRATIONS,
  F_AUDIT_DROPPED,
  F_SERIES_DROPPED,
  N_FAMILIES,
};

/* The one registry of the process (see the header for why it is not per site). */
static struct family families[N_FAMILIES] = {
    [F_TLS_HANDSHAKES] = {.name = "edgegw_tls_handshakes_total",
                          .help = "TLS handshakes by listener, TLS mode and result.",
                          .type = COUNTER,
                          .n_labels = 3,
                          .label_names = {"interface", "mode", "result"}},
    [F_HTTP_REQUESTS] = {.name = "edgegw_http_requests_total",
                         .help = "HTTP responses by listener, matched route prefix and status.",
                         .type = COUNTER,
                         .n_labels = 3,
                         .label_names = {"interface", "route", "status"}},
    [F_AUTHZ] = {.name = "edgegw_authz_decisions_total",
                 .help = "Authorization decisions by listener, provider, decision and reason.",
                 .type = COUNTER,
                 .n_labels = 4,
                 .label_names = {"interface", "provider", "decision", "reason"}},
    [F_TOKCACHE_HITS] = {.name = "edgegw_token_cache_hits_total",
                         .help = "Token cache lookups answered from the cache.",
                         .type = COUNTER},
    [F_TOKCACHE_MISSES] = {.name = "edgegw_token_cache_misses_total",
                           .help = "Token cache lookups that needed a verification.",
                           .type = COUNTER},
    [F_TOKCACHE_EVICTIONS] = {.name = "edgegw_token_cache_evictions_total",
                              .help = "Token cache entries dropped to make room.",
                              .type = COUNTER},
    [F_TOKCACHE_ENTRIES] = {.name = "edgegw_token_cache_entries",
                            .help = "Entries in the token cache.",
                            .type = GAUGE},
    [F_KEY_FETCHES] = {.name = "edgegw_key_fetches_total",
                       .help = "Key fetches from key providers by provider and result.",
                       .type = COUNTER,
                       .n_labels = 2,
                       .label_names = {"provider", "result"}},
    [F_KEY_FETCH_DURATION] = {.name = "edgegw_key_fetch_duration_seconds",
                              .help = "Duration of key fetches by provider.",
                              .type = HISTOGRAM,
                              .n_labels = 1,
                              .label_names = {"provider"}},
    [F_UPSTREAM_ERRORS] = {.name = "edgegw_upstream_errors_total",
                           .help = "EAS proxy failures towards the application by kind.",
                           .type = COUNTER,
                           .n_labels = 2,
                           .label_names = {"interface", "kind"}},
    [F_OPEN_CONNECTIONS] = {.name = "edgegw_open_connections",
                            .help = "Open client connections by listener.",
                            .type = GAUGE,
                            .n_labels = 1,
                            .label_names = {"interface"}},
    [F_REGISTRATIONS] = {.name = "edgegw_registrations",
                         .help = "Live registrations by kind.",
                         .type = GAUGE,
                         .n_labels = 1,
                         .label_names = {"kind"}},
    [F_AUDIT_DROPPED] = {.name = "edgegw_audit_dropped_total",
                         .help = "Audit lines lost (buffer full or write failed).",
                         .type = COUNTER},
    [F_SERIES_DROPPED] = {.name = "edgegw_metrics_series_dropped_total",
                          .help = "Metric updates dropped because a family had too many series.",
                          .type = COUNTER},
};

static uint64_t hash_labels(const char *const *v, int n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (int i = 0; i < n; i++) {
    for (const char *p = v[i]; *p; p++)
      h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull; /* separator: ("ab","c") != ("a","bc") */
  }
  return h;
}

static int same_labels(const struct series *s, const char *const *v, int n) {
  for (int i = 0; i < n; i++) {
    if (strcmp(s->labels[i], v[i]) != 0)
      return 0;
  }
  return 1;
}

static void add(int fam, const char *const *v, double delta);

static struct series *find(struct family *f, const char *const *v, int create) {
  const char *fixed[MAX_LABELS];
  for (int i = 0; i < f->n_labels; i++)
    fixed[i] = v[i] ? v[i] : "";
  uint64_t h = hash_labels(fixed, f->n_labels);
  for (size_t i = 0; i < f->n_series; i++) {
    if (f->series[i].hash == h && same_labels(&f->series[i], fixed, f->n_labels))
      return &f->series[i];
  }
  if (!create)
    return NULL;
  if (f->n_series >= EGW_METRICS_MAX_SERIES)
    goto dropped;
  if (f->n_series == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 8;
    struct series *ns = realloc(f->series, cap * sizeof(*ns));
    if (ns == NULL)
      goto dropped;
    f->series = ns;
    f->cap = cap;
  }
  struct series *s = &f->series[f->n_series];
  memset(s, 0, sizeof(*s));
  s->hash = h;
  for (int i = 0; i < f->n_labels; i++) {
    s->labels[i] = strdup(fixed[i]);
    if (s->labels[i] == NULL) {
      for (int j = 0; j < i; j++)
        free(s->labels[j]);
      goto dropped;
    }
  }
  f->n_series++;
  return s;
dropped:
  if (f != &families[F_SERIES_DROPPED]) /* label-less: never over the cap */
    add(F_SERIES_DROPPED, NULL, 1);
  return NULL;
}

static void add(int fam, const char *const *v, double delta) {
  struct series *s = find(&families[fam], v, 1);
  if (s)
    s->value += delta;
}

static void set(int fam, const char *const *v, double value) {
  struct series *s = find(&families[fam], v, 1);
  if (s)
    s->value = value;
}

void egw_metrics_tls_handshake(const char *iface, const char *mode, const char *result) {
  add(F_TLS_HANDSHAKES, (const char *const[]){iface, mode, result}, 1);
}

void egw_metrics_http_request(const char *iface, const char *route, int status) {
  /* Three digits, written by hand: this runs once per response. */
  int st = status > 0 && status < 1000 ? status : 0;
  char code[4] = {(char)('0' + st / 100), (char)('0' + st / 10 % 10), (char)('0' + st % 10), 0};
  add(F_HTTP_REQUESTS, (const char *const[]){iface, route ? route : "none", code}, 1);
}

void egw_metrics_authz(const char *iface, const char *provider, const char *decision,
                       const char *reason) {
  add(F_AUTHZ, (const char *const[]){iface, provider, decision, reason ? reason : "none"}, 1);
}

void egw_metrics_token_cache_hit(void) { add(F_TOKCACHE_HITS, NULL, 1); }
void egw_metrics_token_cache_miss(void) { add(F_TOKCACHE_MISSES, NULL, 1); }
void egw_metrics_token_cache_eviction(void) { add(F_TOKCACHE_EVICTIONS, NULL, 1); }
void egw_metrics_token_cache_entries(int64_t n) { set(F_TOKCACHE_ENTRIES, NULL, (double)n); }
void egw_metrics_audit_dropped(void) { add(F_AUDIT_DROPPED, NULL, 1); }

void egw_metrics_key_fetch(const char *provider, const char *result, double ms) {
  add(F_KEY_FETCHES, (const char *const[]){provider, result}, 1);
  struct series *s = find(&families[F_KEY_FETCH_DURATION], (const char *const[]){provider}, 1);
  if (s == NULL)
    return;
  double sec = ms > 0 ? ms / 1000.0 : 0;
  s->value += sec;
  s->count++;
  for (int i = 0; i < N_BUCKETS; i++) {
    if (sec <= bucket_bounds[i])
      s->buckets[i]++; /* cumulative at render time */
  }
}

void egw_metrics_upstream_error(const char *iface, const char *kind) {
  add(F_UPSTREAM_ERRORS, (const char *const[]){iface, kind}, 1);
}

void egw_metrics_connections(const char *iface, int delta) {
  add(F_OPEN_CONNECTIONS, (const char *const[]){iface}, delta);
}

void egw_metrics_registrations(const char *kind, int delta) {
  add(F_REGISTRATIONS, (const char *const[]){kind}, delta);
}

double egw_metrics_value(const char *family, const char *const *labels, int n) {
  for (int i = 0; i < N_FAMILIES; i++) {
    struct family *f = &families[i];
    if (strcmp(f->name, family) != 0 || f->n_labels != n)
      continue;
    struct series *s = find(f, labels, 0);
    return s ? s->value : -1;
  }
  return -1;
}

void egw_metrics_reset(void) {
  for (int i = 0; i < N_FAMILIES; i++) {
    struct family *f = &families[i];
    for (size_t j = 0; j < f->n_series; j++) {
      for (int k = 0; k < f->n_labels; k++)
        free(f->series[j].labels[k]);
    }
    free(f->series);
    f->series = NULL;
    f->n_series = f->cap = 0;
  }
}

/* ---- rendering -------------------------------------------------------------------- */

static int put(struct egw_buf *out, const char *s) { return egw_buf_append(out, s, strlen(s)); }

/* Label values escape backslash, double quote and line feed (exposition format). */
static int put_escaped(struct egw_buf *out, const char *s) {
  for (const char *p = s; *p; p++) {
    const char *rep = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
    if (rep ? put(out, rep) : egw_buf_append(out, p, 1))
      return -1;
  }
  return 0;
}

static int put_number(struct egw_buf *out, double v) {
  char num[40];
  if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v)
    snprintf(num, sizeof(num), "%.0f", v);
  else
    snprintf(num, sizeof(num), "%.17g", v);
  return put(out, num);
}

/* Writes name{labels[,le="bound"]} value. */
static int put_sample(struct egw_buf *out, const struct family *f, const char *suffix,
                      const struct series *s, const char *le, double v) {
  if (put(out, f->name) || put(out, suffix))
    return -1;
  if (f->n_labels > 0 || le) {
    if (put(out, "{"))
      return -1;
    for (int i = 0; i < f->n_labels; i++) {
      if ((i && put(out, ",")) || put(out, f->label_names[i]) || put(out, "=\"") ||
          put_escaped(out, s->labels[i]) || put(out, "\""))
        return -1;
    }
    if (le &&
        ((f->n_labels && put(out, ",")) || put(out, "le=\"") || put(out, le) || put(out, "\"")))
      return -1;
    if (put(out, "}"))
      return -1;
  }
  return put(out, " ") || put_number(out, v) || put(out, "\n") ? -1 : 0;
}

static int sort_labels;
static int cmp_series(const void *a, const void *b) {
  const struct series *x = *(const struct series *const *)a, *y = *(const struct series *const *)b;
  for (int i = 0; i < sort_labels; i++) {
    int c = strcmp(x->labels[i], y->labels[i]);
    if (c)
      return c;
  }
  return 0;
}

static int cmp_family(const void *a, const void *b) {
  return strcmp((*(const struct family *const *)a)->name, (*(const struct family *const *)b)->name);
}

static int render_family(struct egw_buf *out, struct family *f) {
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  if (put(out, "# HELP ") || put(out, f->name) || put(out, " ") || put(out, f->help) ||
      put(out, "\n# TYPE ") || put(out, f->name) || put(out, " ") ||
      put(out, type_names[f->type]) || put(out, "\n"))
    return -1;
  /* A family without labels shows 0 before its first update. */
  if (f->n_labels == 0 && f->n_series == 0)
    return put_sample(out, f, "", NULL, NULL, 0);
  struct series **order = malloc((f->n_series ? f->n_series : 1) * sizeof(*order));
  if (order == NULL)
    return -1;
  for (size_t i = 0; i < f->n_series; i++)
    order[i] = &f->series[i];
  sort_labels = f->n_labels;
  qsort(order, f->n_series, sizeof(*order), cmp_series);
  int rc = 0;
  for (size_t i = 0; i < f->n_series && rc == 0; i++) {
    const struct series *s = order[i];
    if (f->type != HISTOGRAM) {
      rc = put_sample(out, f, "", s, NULL, s->value);
      continue;
    }
    for (int b = 0; b < N_BUCKETS && rc == 0; b++) {
      char le[24];
      snprintf(le, sizeof(le), "%g", bucket_bounds[b]);
      rc = put_sample(out, f, "_bucket", s, le, (double)s->buckets[b]);
    }
    if (rc == 0)
      rc = put_sample(out, f, "_bucket", s, "+Inf", (double)s->count);
    if (rc == 0)
      rc = put_sample(out, f, "_sum", s, NULL, s->value);
    if (rc == 0)
      rc = put_sample(out, f, "_count", s, NULL, (double)s->count);
  }
  free(order);
  return rc;
}

int egw_metrics_render(struct egw_buf *out) {
  struct family *order[N_FAMILIES];
  for (int i = 0; i < N_FAMILIES; i++)
    order[i] = &families[i];
  qsort(order, N_FAMILIES, sizeof(order[0]), cmp_family);
  for (int i = 0; i < N_FAMILIES; i++) {
    if (render_family(out, order[i]) != 0)
      return EGW_ERR_NOMEM;
  }
  return 0;
}
