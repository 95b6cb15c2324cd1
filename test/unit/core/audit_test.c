/* The audit writer: lines reach the file in order through the thread pool, a full buffer
 * drops and counts, and stopping leaves no handle open. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/audit.h"
#include "util/metrics.h"

static void record(struct egw_log_record *rec, const char *peer) {
  egw_log_begin(rec, EGW_LOG_INFO, "authz");
  egw_log_str(rec, "decision", "allow");
  egw_log_str(rec, "peer", peer);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

Test(audit, lines_are_written_in_order_and_stop_closes_everything) {
  char path[] = "/tmp/egw-audit-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  struct egw_audit_policy ap = {.stream = EGW_AUDIT_FILE, .file = path, .line = 3};
  struct egw_audit_sink *sink = NULL, *again = NULL;
  int off = 1;
  char *err = NULL;
  cr_assert_eq(egw_audit_sink_get(&ap, "site.yaml", &sink, &off, &err), 0);
  cr_assert_not_null(sink);
  cr_assert_eq(off, 0);
  cr_assert_eq(egw_audit_sink_get(&ap, "site.yaml", &again, &off, &err), 0);
  cr_assert_eq(again, sink, "one sink per file: opened once");

  uv_loop_t loop;
  uv_loop_init(&loop);
  struct egw_log_record rec;
  record(&rec, "a\"b");
  egw_audit_append(sink, &loop, &rec);
  record(&rec, "second");
  egw_audit_append(sink, &loop, &rec);
  uv_run(&loop, UV_RUN_NOWAIT);
  record(&rec, "third");
  egw_audit_append(sink, &loop, &rec);
  egw_audit_stop(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);

  char *text = slurp(path);
  char *first =
      strstr(text, "{\"event\":\"authz\",\"decision\":\"allow\",\"peer\":\"a\\\"b\",\"time\":\"");
  cr_assert_not_null(first, "%s", text);
  cr_assert(strstr(text, "\"peer\":\"second\"") > first);
  cr_assert(strstr(text, "\"peer\":\"third\"") > strstr(text, "\"peer\":\"second\""));
  int lines = 0;
  for (char *p = text; *p; p++)
    lines += *p == '\n';
  cr_assert_eq(lines, 3);
  unlink(path);
}

Test(audit, full_buffer_drops_and_counts) {
  struct egw_audit_policy ap = {.stream = EGW_AUDIT_FILE, .file = "/dev/null", .line = 1};
  struct egw_audit_sink *sink = NULL;
  int off;
  char *err = NULL;
  cr_assert_eq(egw_audit_sink_get(&ap, "site.yaml", &sink, &off, &err), 0);
  egw_metrics_reset();
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct egw_log_record rec;
  size_t n = 0;
  /* Without running the loop nothing is written: the buffer fills. */
  for (; n < EGW_AUDIT_MAX_PENDING / 40 + 1000; n++) {
    record(&rec, "peer");
    egw_audit_append(sink, &loop, &rec);
  }
  cr_assert_gt(egw_metrics_value("edgegw_audit_dropped_total", NULL, 0), 0);
  egw_audit_stop(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  egw_metrics_reset();
}

Test(audit, log_and_off_need_no_sink_and_bad_file_names_the_policy_line) {
  struct egw_audit_sink *sink = (void *)1;
  int off = 0;
  char *err = NULL;
  struct egw_audit_policy log = {.stream = EGW_AUDIT_LOG};
  cr_assert_eq(egw_audit_sink_get(&log, "s", &sink, &off, &err), 0);
  cr_assert(sink == NULL && off == 0);
  struct egw_audit_policy none = {.stream = EGW_AUDIT_OFF};
  cr_assert_eq(egw_audit_sink_get(&none, "s", &sink, &off, &err), 0);
  cr_assert(sink == NULL && off == 1);
  struct egw_audit_policy bad = {.stream = EGW_AUDIT_FILE, .file = "/proc/nope/x", .line = 9};
  cr_assert_eq(egw_audit_sink_get(&bad, "p/site.yaml", &sink, &off, &err), -1);
  cr_assert(strncmp(err, "p/site.yaml:9: audit.file: cannot open '/proc/nope/x'", 52) == 0, "%s",
            err);
  free(err);
}
