/* Latency histogram with log-linear buckets, like HdrHistogram with ~2 significant
 * digits: values are grouped by their highest set bit (64 groups), and each group is
 * keyed by its top 7 bits (64 linear sub-buckets per power of two), so a bucket is
 * at most 1/64 (~1.6 %) wide. Fixed size, no
 * allocation, adding is a few instructions. */
#include "loadgen.h"

#define SUB_BITS 7
#define SUB (1u << SUB_BITS)

static unsigned bucket_of(uint64_t v) {
  if (v < SUB)
    return (unsigned)v; /* group 0 is exact */
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned group = msb - SUB_BITS + 1;
  unsigned sub = (unsigned)(v >> (msb - SUB_BITS + 1)) & (SUB - 1);
  return group * SUB + sub;
}

/* The highest value that falls into bucket b (quantiles report the upper edge). */
static uint64_t upper_of(unsigned b) {
  unsigned group = b / SUB, sub = b % SUB;
  if (group == 0)
    return sub;
  /* sub holds the value's top 7 bits (64..127): the bucket is [sub, sub + 1) << group. */
  return (((uint64_t)sub + 1) << group) - 1;
}

void lg_hist_add(struct lg_hist *h, uint64_t ns) {
  unsigned b = bucket_of(ns);
  if (b >= LG_HIST_BUCKETS)
    b = LG_HIST_BUCKETS - 1;
  h->counts[b]++;
  h->n++;
  h->sum_ns += (double)ns;
  if (ns > h->max_ns)
    h->max_ns = ns;
}

uint64_t lg_hist_quantile(const struct lg_hist *h, double q) {
  if (h->n == 0)
    return 0;
  uint64_t rank = (uint64_t)(q * (double)h->n + 0.5);
  if (rank < 1)
    rank = 1;
  if (rank > h->n)
    rank = h->n;
  uint64_t seen = 0;
  for (unsigned b = 0; b < LG_HIST_BUCKETS; b++) {
    seen += h->counts[b];
    if (seen >= rank) {
      uint64_t v = upper_of(b);
      return v < h->max_ns ? v : h->max_ns;
    }
  }
  return h->max_ns;
}
