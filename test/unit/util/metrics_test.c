#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/metrics.h"

static char *render(void) {
  struct egw_buf b = {0};
  cr_assert_eq(egw_metrics_render(&b), 0);
  cr_assert_eq(egw_buf_append(&b, "", 1), 0);
  char *s = strdup((const char *)b.data);
  egw_buf_free(&b);
  return s;
}

Test(metrics, counters_count_per_label_set) {
  egw_metrics_reset();
  egw_metrics_http_request("app", "/x", 200);
  egw_metrics_http_request("app", "/x", 200);
  egw_metrics_http_request("app", NULL, 404);
  cr_assert_eq(
      egw_metrics_value("edgegw_http_requests_total", (const char *const[]){"app", "/x", "200"}, 3),
      2);
  cr_assert_eq(egw_metrics_value("edgegw_http_requests_total",
                                 (const char *const[]){"app", "none", "404"}, 3),
               1);
  cr_assert_eq(
      egw_metrics_value("edgegw_http_requests_total", (const char *const[]){"app", "/y", "200"}, 3),
      -1);
  egw_metrics_connections("app", 1);
  egw_metrics_connections("app", 1);
  egw_metrics_connections("app", -1);
  cr_assert_eq(egw_metrics_value("edgegw_open_connections", (const char *const[]){"app"}, 1), 1);
  egw_metrics_reset();
}

Test(metrics, render_is_sorted_typed_and_escaped) {
  egw_metrics_reset();
  egw_metrics_authz("b", "token", "deny", "INVALID_TOKEN");
  egw_metrics_authz("a\"q\\\n", "static", "allow", "ok");
  egw_metrics_token_cache_hit();
  char *s = render();
  cr_assert(strstr(s, "# HELP edgegw_authz_decisions_total ") != NULL);
  cr_assert(strstr(s, "# TYPE edgegw_authz_decisions_total counter\n") != NULL);
  cr_assert(strstr(s, "# TYPE edgegw_open_connections gauge\n") != NULL);
  const char *a = strstr(s, "edgegw_authz_decisions_total{interface=\"a\\\"q\\\\\\n\",provider="
                            "\"static\",decision=\"allow\",reason=\"ok\"} 1\n");
  const char *b = strstr(s, "edgegw_authz_decisions_total{interface=\"b\",provider=\"token\","
                            "decision=\"deny\",reason=\"INVALID_TOKEN\"} 1\n");
  cr_assert(a != NULL, "%s", s);
  cr_assert(b != NULL);
  cr_assert(a < b, "series sorted by label values");
  cr_assert(strstr(s, "edgegw_token_cache_hits_total 1\n") != NULL);
  cr_assert(strstr(s, "edgegw_token_cache_misses_total 0\n") != NULL);
  /* families in name order */
  cr_assert(strstr(s, "# TYPE edgegw_audit_dropped_total") < strstr(s, "# TYPE edgegw_authz"));
  cr_assert(strstr(s, "# TYPE edgegw_token_cache_entries") <
            strstr(s, "# TYPE edgegw_token_cache_evictions_total"));
  /* deterministic: the same registry renders the same text */
  char *again = render();
  cr_assert_str_eq(s, again);
  free(again);
  free(s);
  egw_metrics_reset();
}

Test(metrics, key_fetch_histogram) {
  egw_metrics_reset();
  egw_metrics_key_fetch("ausf", "ok", 3);
  egw_metrics_key_fetch("ausf", "ok", 300);
  egw_metrics_key_fetch("ausf", "timeout", 9000);
  char *s = render();
  cr_assert(strstr(s, "# TYPE edgegw_key_fetch_duration_seconds histogram\n") != NULL);
  cr_assert(strstr(s, "edgegw_key_fetches_total{provider=\"ausf\",result=\"ok\"} 2\n") != NULL);
  cr_assert(strstr(s, "edgegw_key_fetches_total{provider=\"ausf\",result=\"timeout\"} 1\n"));
  cr_assert(
      strstr(s, "edgegw_key_fetch_duration_seconds_bucket{provider=\"ausf\",le=\"0.001\"} 0\n"));
  cr_assert(
      strstr(s, "edgegw_key_fetch_duration_seconds_bucket{provider=\"ausf\",le=\"0.005\"} 1\n"));
  cr_assert(
      strstr(s, "edgegw_key_fetch_duration_seconds_bucket{provider=\"ausf\",le=\"0.5\"} 2\n"));
  cr_assert(strstr(s, "edgegw_key_fetch_duration_seconds_bucket{provider=\"ausf\",le=\"5\"} 2\n"));
  cr_assert(
      strstr(s, "edgegw_key_fetch_duration_seconds_bucket{provider=\"ausf\",le=\"+Inf\"} 3\n"));
  cr_assert(
      strstr(s, "edgegw_key_fetch_duration_seconds_sum{provider=\"ausf\"} 9.3030000000000008\n") ||
          strstr(s, "edgegw_key_fetch_duration_seconds_sum{provider=\"ausf\"} 9.303"),
      "%s", s);
  cr_assert(strstr(s, "edgegw_key_fetch_duration_seconds_count{provider=\"ausf\"} 3\n"));
  free(s);
  egw_metrics_reset();
}

Test(metrics, series_are_bounded) {
  egw_metrics_reset();
  char name[32];
  for (int i = 0; i < EGW_METRICS_MAX_SERIES + 10; i++) {
    snprintf(name, sizeof(name), "if%d", i);
    egw_metrics_upstream_error(name, "timeout");
  }
  cr_assert_eq(egw_metrics_value("edgegw_metrics_series_dropped_total", NULL, 0), 10);
  cr_assert_eq(
      egw_metrics_value("edgegw_upstream_errors_total", (const char *const[]){"if0", "timeout"}, 2),
      1);
  egw_metrics_reset();
}
