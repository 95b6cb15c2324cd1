/* Token cache hit rate: 100k cached ES256-shaped tokens (~600 bytes each), looked up in
 * a shuffled order for 2 s on one core. Each hit pays the SHA-256 of the token, the table
 * lookup, the deny-list check (non-empty, so the check is a real probe) and a reference
 * taken and dropped. See README.md for the build command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/tokcache.h"

#define N_TOKENS 100000
#define N_REVOKED 1000
#define SECONDS 2.0

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static size_t b64url_encode(const unsigned char *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64url[v >> 18];
    out[o++] = b64url[(v >> 12) & 63];
    out[o++] = b64url[(v >> 6) & 63];
    out[o++] = b64url[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = b64url[v >> 18];
    out[o++] = b64url[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = b64url[v >> 18];
    out[o++] = b64url[(v >> 12) & 63];
    out[o++] = b64url[(v >> 6) & 63];
  }
  out[o] = '\0';
  return o;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
  const int64_t t0 = 1750000000;
  struct egw_tokcache *tc = egw_tokcache_new(N_TOKENS, 5000);
  char **tokens = malloc(N_TOKENS * sizeof *tokens);
  size_t *lens = malloc(N_TOKENS * sizeof *lens);
  if (tc == NULL || tokens == NULL || lens == NULL)
    return 1;

  /* A deny-list with entries, none of them ours: every hit probes it. */
  for (int i = 0; i < N_REVOKED; i++) {
    char jti[32];
    snprintf(jti, sizeof jti, "revoked-%d", i);
    egw_tokcache_revoke(tc, jti, t0 + 7200);
  }

  const char *header = "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ecs1-2025-06\"}";
  char hdr64[128];
  b64url_encode((const unsigned char *)header, strlen(header), hdr64);
  size_t total = 0;
  for (int i = 0; i < N_TOKENS; i++) {
    char jti[40], payload[600], pay64[820], sig[64], sig64[100];
    snprintf(jti, sizeof jti, "%016llx%08x", (unsigned long long)next_rand(), (unsigned)i);
    int64_t exp = t0 + 3600 + (int64_t)(next_rand() % 3600);
    unsigned char thumb[32];
    char thumb64[48];
    for (size_t k = 0; k < sizeof thumb; k++)
      thumb[k] = (unsigned char)next_rand();
    b64url_encode(thumb, sizeof thumb, thumb64);
    int plen = snprintf(payload, sizeof payload,
                        "{\"iss\":\"ecs.site1.example\",\"sub\":\"urn:uuid:eec-%08d-4c1b-9a7e\","
                        "\"aud\":\"ees1.ees.site1.example\",\"scope\":\"eees-eecregistration "
                        "eees-easdiscovery eees-eecsessioncontinuity\",\"iat\":%lld,"
                        "\"nbf\":%lld,\"exp\":%lld,\"jti\":\"%s\",\"cnf\":{\"x5t#S256\":\"%s\"}}",
                        i, (long long)t0, (long long)t0, (long long)exp, jti, thumb64);
    b64url_encode((const unsigned char *)payload, (size_t)plen, pay64);
    for (size_t k = 0; k < sizeof sig; k++)
      sig[k] = (char)next_rand();
    b64url_encode((const unsigned char *)sig, sizeof sig, sig64);
    size_t n = strlen(hdr64) + strlen(pay64) + strlen(sig64) + 2;
    tokens[i] = malloc(n + 1);
    snprintf(tokens[i], n + 1, "%s.%s.%s", hdr64, pay64, sig64);
    lens[i] = n;
    total += n;

    json_t *j = json_loads(payload, 0, NULL);
    const char *reason = NULL;
    struct egw_token_claims *c = egw_token_claims_from_json(j, &reason);
    json_decref(j);
    if (c == NULL) {
      fprintf(stderr, "claims: %s\n", reason);
      return 1;
    }
    if (egw_tokcache_put(tc, tokens[i], n, c, t0) != 0)
      return 1;
    egw_token_claims_free(c);
  }
  /* Shuffled lookup order, so that the table and claims are not walked in insertion
   * order. */
  uint32_t *order = malloc(N_TOKENS * sizeof *order);
  for (uint32_t i = 0; i < N_TOKENS; i++)
    order[i] = i;
  for (uint32_t i = N_TOKENS - 1; i > 0; i--) {
    uint32_t k = (uint32_t)(next_rand() % (i + 1));
    uint32_t t = order[i];
    order[i] = order[k];
    order[k] = t;
  }

  /* 1. The token in a request buffer, as when the request has just been read and parsed:
   * each batch is copied into the buffer first, untimed. The cache (table, claims,
   * deny-list) is as cold as random lookups over 100k entries make it. */
  enum { BATCH = 32, SLOT = 1024 };
  static char request[BATCH][SLOT];
  size_t req_len[BATCH];
  uint64_t hits = 0, other = 0;
  size_t pos = 0;
  double timed = 0, wall_start = now_s();
  while (timed < SECONDS) {
    for (int b = 0; b < BATCH; b++) {
      uint32_t i = order[pos];
      pos = pos + 1 == N_TOKENS ? 0 : pos + 1;
      memcpy(request[b], tokens[i], lens[i]);
      req_len[b] = lens[i];
    }
    double start = now_s();
    for (int b = 0; b < BATCH; b++) {
      struct egw_token_claims *c;
      if (egw_tokcache_get(tc, request[b], req_len[b], t0 + 10, 0, &c) == EGW_TOKCACHE_HIT) {
        hits++;
        egw_token_claims_free(c);
      } else {
        other++;
      }
    }
    timed += now_s() - start;
  }
  double wall = now_s() - wall_start;

  /* 2. The token text read cold from the 100k stored tokens (~60 MB): the worst case,
   * where the SHA-256 waits on memory for every line of the token. */
  uint64_t cold_hits = 0;
  double cold_start = now_s(), cold;
  do {
    for (int b = 0; b < 4096; b++) {
      uint32_t i = order[pos];
      pos = pos + 1 == N_TOKENS ? 0 : pos + 1;
      struct egw_token_claims *c;
      if (egw_tokcache_get(tc, tokens[i], lens[i], t0 + 10, 0, &c) == EGW_TOKCACHE_HIT) {
        cold_hits++;
        egw_token_claims_free(c);
      } else {
        other++;
      }
    }
    cold = now_s() - cold_start;
  } while (cold < SECONDS);

  struct egw_tokcache_stats s;
  egw_tokcache_stats(tc, &s);
  printf("tokens: %d cached, mean length %zu bytes, deny-list %zu\n", N_TOKENS, total / N_TOKENS,
         s.revoked);
  printf("token in request buffer: %llu hits in %.2f s timed (%.2f s wall)\n",
         (unsigned long long)hits, timed, wall);
  printf("token text cold:         %llu hits in %.2f s\n", (unsigned long long)cold_hits, cold);
  printf("non-hits: %llu\n", (unsigned long long)other);
  printf("hits/s (token in request buffer): %.0f\n", (double)hits / timed);
  printf("hits/s (token text cold):         %.0f\n", (double)cold_hits / cold);

  egw_tokcache_free(tc);
  for (int i = 0; i < N_TOKENS; i++)
    free(tokens[i]);
  free(tokens);
  free(lens);
  free(order);
  return other == 0 ? 0 : 1;
}
