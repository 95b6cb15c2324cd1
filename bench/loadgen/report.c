/* The report: a readable table, or one JSON object (--json) for bench/compare. */
#include <stdio.h>

#include "loadgen.h"

void lg_report(const char *scenario, const struct lg_run_cfg *cfg, const struct lg_result *r,
               int json) {
  double rate = r->seconds > 0 ? (double)r->ok / r->seconds : 0;
  double p50 = (double)lg_hist_quantile(&r->hist, 0.50) / 1e6;
  double p99 = (double)lg_hist_quantile(&r->hist, 0.99) / 1e6;
  double p999 = (double)lg_hist_quantile(&r->hist, 0.999) / 1e6;
  double mean = r->hist.n ? r->hist.sum_ns / (double)r->hist.n / 1e6 : 0;
  double max = (double)r->hist.max_ns / 1e6;
  uint64_t errors = 0;
  for (int i = 0; i < LG_E_COUNT; i++)
    errors += r->errors[i];
  long delta = r->rss_before_kb >= 0 && r->rss_after_kb >= 0 ? r->rss_after_kb - r->rss_before_kb
                                                             : 0;
  double per_conn = cfg->scenario == LG_IDLE && r->established
                        ? (double)delta * 1024.0 / (double)r->established
                        : 0;
  const char *mode = cfg->rate > 0 ? "open" : "closed";
  if (json) {
    printf("{\"scenario\":\"%s\",\"mode\":\"%s\",\"conns\":%u,\"rate\":%.1f,\"count\":%u,"
           "\"seconds\":%.3f,\"completed\":%llu,\"throughput_rps\":%.1f,"
           "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"mean\":%.3f,\"max\":%.3f},"
           "\"errors\":{",
           scenario, mode, cfg->conns, cfg->rate, cfg->count, r->seconds,
           (unsigned long long)r->ok, rate, p50, p99, p999, mean, max);
    for (int i = 0; i < LG_E_COUNT; i++)
      printf("\"%s\":%llu,", lg_err_names[i], (unsigned long long)r->errors[i]);
    printf("\"total\":%llu},\"server_rss_kb\":{\"before\":%ld,\"after\":%ld,\"delta\":%ld}",
           (unsigned long long)errors, r->rss_before_kb, r->rss_after_kb, delta);
    if (cfg->scenario == LG_IDLE)
      printf(",\"established\":%u,\"bytes_per_conn\":%.0f", r->established, per_conn);
    printf("}\n");
    return;
  }
  printf("scenario          %s (%s loop", scenario, mode);
  if (cfg->rate > 0)
    printf(", %.0f req/s offered", cfg->rate);
  printf(", %u connections)\n", cfg->conns);
  printf("measured          %.3f s\n", r->seconds);
  printf("completed         %llu\n", (unsigned long long)r->ok);
  printf("throughput        %.1f /s\n", rate);
  printf("latency ms        p50 %.3f  p99 %.3f  p99.9 %.3f  mean %.3f  max %.3f\n", p50, p99,
         p999, mean, max);
  printf("errors            %llu", (unsigned long long)errors);
  for (int i = 0; i < LG_E_COUNT; i++)
    if (r->errors[i])
      printf("  %s %llu", lg_err_names[i], (unsigned long long)r->errors[i]);
  printf("\n");
  if (errors)
    printf("first error       %s\n", r->first_error);
  if (r->rss_before_kb >= 0)
    printf("server RSS kB     before %ld  after %ld  delta %ld\n", r->rss_before_kb,
           r->rss_after_kb, delta);
  if (cfg->scenario == LG_IDLE)
    printf("idle connections  %u established, %.0f bytes of server RSS each\n", r->established,
           per_conn);
}
