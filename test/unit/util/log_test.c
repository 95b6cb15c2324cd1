#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
