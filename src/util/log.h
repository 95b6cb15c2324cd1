/* JSON-lines logging. Every log record is one line of JSON on the log stream (stdout by
 * default): {"event":"...", fields..., "level":"...", "ts":"..."}.
 *
 * Secrets never go through here: there is deliberately no "log this buffer as hex"
 * helper, and callers pass identities and reasons, never tokens, keys or PSKs. */
#ifndef EGW_UTIL_LOG_H
#define EGW_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum egw_log_level { EGW_LOG_DEBUG, EGW_LOG_INFO, EGW_LOG_WARN, EGW_LOG_ERROR };

/* A record under construction. Build it on the stack with egw_log_begin, add fields,
 * emit it with egw_log_end. Fields that do not fit are dropped and the record is marked
 * "truncated":true; a record is never split. */
struct egw_log_record {
  char buf[2048];
  size_t len;
  enum egw_log_level level;
  int truncated;
};

/* egw_log_set_stream directs records to |stream| (stdout when never called). Not
 * thread-safe: call it before the loop starts. */
void egw_log_set_stream(FILE *stream);

/* EGW_LOG_TIME_LEN is the length of egw_log_time's text, "2026-11-23T17:09:28.789Z". */
#define EGW_LOG_TIME_LEN 24

/* egw_log_time writes the current UTC time to the millisecond, without a NUL: the "ts"
 * of log records and the "time" of audit lines. The date and time of day are formatted
 * once per second (per thread): a record is written for every authorization decision. */
void egw_log_time(char out[EGW_LOG_TIME_LEN]);

/* egw_log_hold, while on, leaves records in the stream's buffer until egw_log_flush
 * (the server flushes once per loop iteration, before the loop waits for I/O): a busy
 * loop then writes its records with one write(2) rather than one per record. Turning
 * it off flushes. */
void egw_log_hold(int on);

/* egw_log_flush writes out the records held so far. */
void egw_log_flush(void);

/* egw_log_set_min_level drops records below |level|. */
void egw_log_set_min_level(enum egw_log_level level);

void egw_log_begin(struct egw_log_record *rec, enum egw_log_level level, const char *event);
/* egw_log_str adds "key":"value" with JSON escaping; a NULL |value| adds null. */
void egw_log_str(struct egw_log_record *rec, const char *key, const char *value);
/* egw_log_strn is egw_log_str for a value that is not NUL-terminated. */
void egw_log_strn(struct egw_log_record *rec, const char *key, const char *value, size_t len);
void egw_log_int(struct egw_log_record *rec, const char *key, int64_t value);
void egw_log_bool(struct egw_log_record *rec, const char *key, int value);
/* egw_log_end writes the record as one line and flushes the stream. */
void egw_log_end(struct egw_log_record *rec);

/* egw_log_msg is the shorthand for an event with a free-text "msg" field. */
void egw_log_msg(enum egw_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
