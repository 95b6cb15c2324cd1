#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

static char *capture(void (*emit)(void)) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  egw_log_set_stream(mem);
  emit();
  egw_log_set_stream(NULL);
  fclose(mem);
  return text;
}

static void emit_listening(void) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "listening");
  egw_log_str(&rec, "interface", "EDGE-1");
  egw_log_int(&rec, "port", 9443);
  egw_log_bool(&rec, "ok", 1);
  egw_log_str(&rec, "none", NULL);
  egw_log_end(&rec);
}

Test(log, one_json_line_event_first) {
  char *line = capture(emit_listening);
  const char *want = "{\"event\":\"listening\",\"interface\":\"EDGE-1\",\"port\":9443,"
                     "\"ok\":true,\"none\":null,\"level\":\"info\",\"ts\":\"";
  cr_assert(strncmp(line, want, strlen(want)) == 0, "%s", line);
  cr_assert_eq(strchr(line, '\n'), line + strlen(line) - 1, "exactly one line");
  free(line);
}

static void emit_hostile(void) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "tls_handshake_failed");
  egw_log_str(&rec, "psk_identity", "a\"b\\c\n{\"event\":\"forged\"}\x01\xff");
  egw_log_end(&rec);
}

Test(log, hostile_values_cannot_break_the_line) {
  char *line = capture(emit_hostile);
  cr_assert(strstr(line, "\"psk_identity\":\"a\\\"b\\\\c\\u000a{\\\"event\\\":\\\"forged\\\"}"
                         "\\u0001\\u00ff\"") != NULL,
            "%s", line);
  cr_assert_eq(strchr(line, '\n'), line + strlen(line) - 1);
  free(line);
}

static void emit_huge(void) {
  char big[4000];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "big");
  egw_log_str(&rec, "first", "kept");
  egw_log_str(&rec, "huge", big);
  egw_log_end(&rec);
}

Test(log, oversized_fields_are_dropped_and_marked) {
  char *line = capture(emit_huge);
  cr_assert(strstr(line, "\"first\":\"kept\"") != NULL);
  cr_assert(strstr(line, "\"huge\"") == NULL);
  cr_assert(strstr(line, "\"truncated\":true") != NULL);
  cr_assert(line[strlen(line) - 2] == '}');
  free(line);
}

static void emit_debug(void) { egw_log_msg(EGW_LOG_DEBUG, "noise", "x"); }

Test(log, records_below_the_level_are_dropped) {
  char *line = capture(emit_debug);
  cr_assert_str_eq(line, "");
  free(line);
}

static void emit_plain(void) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "plain");
  egw_log_int(&rec, "n", -42);
  egw_log_end(&rec);
}

/* The time is "ts":"YYYY-MM-DDTHH:MM:SS.mmmZ" in UTC, the second of now. */
Test(log, ts_is_utc_with_milliseconds) {
  time_t before = time(NULL);
  char *line = capture(emit_plain);
  time_t after = time(NULL);
  const char *ts = strstr(line, "\"n\":-42,\"level\":\"warn\",\"ts\":\"");
  cr_assert_not_null(ts, "%s", line);
  ts += strlen("\"n\":-42,\"level\":\"warn\",\"ts\":\"");
  struct tm tm = {0};
  char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
  cr_assert_not_null(rest, "%s", line);
  cr_assert(rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9' && rest[2] >= '0' &&
                rest[2] <= '9' && rest[3] >= '0' && rest[3] <= '9' && strcmp(rest + 4, "Z\"}\n") == 0,
            "%s", line);
  time_t at = timegm(&tm);
  cr_assert(at >= before && at <= after, "%s", line);
  free(line);
}
