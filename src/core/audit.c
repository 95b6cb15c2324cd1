/* The audit sinks (core/audit.h): memory buffers drained by batched asynchronous writes. */
#include "core/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/metrics.h"

struct egw_audit_sink {
  enum egw_audit_stream stream;
  char *path; /* EGW_AUDIT_FILE */
  int fd;
  struct egw_buf pending; /* lines not yet handed to a write */
  struct egw_buf writing; /* the bytes of the write in flight */
  size_t written;         /* of |writing|, already written (short writes) */
  uv_fs_t req;
  int in_flight;
  uv_loop_t *loop;
  uv_prepare_t prepare;
  int prepare_open;
  uv_loop_t *stopped; /* egw_audit_stop ran for this loop: write at once from now on */
  struct egw_audit_sink *next;
};

/* Process-wide, like the metrics: a reload keeps the files open (see the header). */
static struct egw_audit_sink *sinks;

static size_t count_lines(const uint8_t *p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    k += p[i] == '\n';
  return k;
}

static void start_write(struct egw_audit_sink *s);

static void on_written(uv_fs_t *req) {
  struct egw_audit_sink *s = req->data;
  ssize_t r = req->result;
  uv_fs_req_cleanup(req);
  s->in_flight = 0;
  if (r <= 0) { /* nothing written is a failure too: retrying would spin */
    /* The batch is lost; say how many lines, once per batch, without the content. */
    size_t lost = count_lines(s->writing.data + s->written, s->writing.len - s->written);
    for (size_t i = 0; i < lost; i++)
      egw_metrics_audit_dropped();
    egw_log_msg(EGW_LOG_ERROR, "audit_write_failed", "%s: %zu line(s) lost: %s",
                s->path ? s->path : "stderr", lost, r < 0 ? uv_strerror((int)r) : "no progress");
    s->written = s->writing.len;
  } else {
    s->written += (size_t)r;
  }
  if (s->written < s->writing.len) { /* a short write: the rest first */
    start_write(s);
    return;
  }
  s->writing.len = 0;
  s->written = 0;
  if (s->pending.len > 0)
    start_write(s);
}

static void start_write(struct egw_audit_sink *s) {
  if (s->in_flight)
    return;
  if (s->writing.len == 0) { /* nothing half-written: take what accumulated */
    if (s->pending.len == 0)
      return;
    /* Swap the buffers: both keep their capacity, nothing is copied. */
    struct egw_buf t = s->writing;
    s->writing = s->pending;
    s->pending = t;
    s->pending.len = 0;
    s->written = 0;
  }
  uv_buf_t b =
      uv_buf_init((char *)s->writing.data + s->written, (unsigned)(s->writing.len - s->written));
  s->req.data = s;
  int rc = uv_fs_write(s->loop, &s->req, s->fd, &b, 1, -1, on_written);
  if (rc != 0) {
    size_t lost = count_lines(b.base ? (const uint8_t *)b.base : NULL, b.len);
    for (size_t i = 0; i < lost; i++)
      egw_metrics_audit_dropped();
    s->writing.len = s->written = 0;
    return;
  }
  s->in_flight = 1;
}

static void on_prepare(uv_prepare_t *h) {
  struct egw_audit_sink *s = h->data;
  uv_prepare_stop(h);
  start_write(s);
}

int egw_audit_sink_get(const struct egw_audit_policy *ap, const char *policy_file,
                       struct egw_audit_sink **out_sink, int *out_off, char **out_err) {
  *out_sink = NULL;
  *out_off = ap->stream == EGW_AUDIT_OFF;
  if (ap->stream == EGW_AUDIT_LOG || ap->stream == EGW_AUDIT_OFF)
    return 0;
  for (struct egw_audit_sink *s = sinks; s; s = s->next) {
    if (s->stream == ap->stream &&
        (ap->stream != EGW_AUDIT_FILE || strcmp(s->path, ap->file) == 0)) {
      *out_sink = s;
      return 0;
    }
  }
  struct egw_audit_sink *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  s->stream = ap->stream;
  s->fd = STDERR_FILENO;
  if (ap->stream == EGW_AUDIT_FILE) {
    s->path = strdup(ap->file);
    s->fd = s->path ? open(ap->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640) : -1;
    if (s->fd < 0) {
      *out_err = egw_format("%s:%d: audit.file: cannot open '%s': %s", policy_file, ap->line,
                            ap->file, strerror(errno));
      free(s->path);
      free(s);
      return -1;
    }
  }
  s->next = sinks;
  sinks = s;
  *out_sink = s;
  return 0;
}

/* The time field and the end of the line. */
static size_t format_time(char out[EGW_LOG_TIME_LEN + 16]) {
  static const char head[] = ",\"time\":\"";
  memcpy(out, head, sizeof(head) - 1);
  egw_log_time(out + sizeof(head) - 1);
  memcpy(out + sizeof(head) - 1 + EGW_LOG_TIME_LEN, "\"}\n", 3);
  return sizeof(head) - 1 + EGW_LOG_TIME_LEN + 3;
}

void egw_audit_append(struct egw_audit_sink *s, uv_loop_t *loop, struct egw_log_record *rec) {
  char tail[EGW_LOG_TIME_LEN + 16];
  size_t n = format_time(tail);
  if (rec->truncated)
    egw_log_bool(rec, "truncated", 1);
  if (s->pending.len + rec->len + n > EGW_AUDIT_MAX_PENDING ||
      egw_buf_append(&s->pending, rec->buf, rec->len) != 0) {
    egw_metrics_audit_dropped();
    return;
  }
  if (egw_buf_append(&s->pending, tail, n) != 0) {
    s->pending.len -= rec->len;
    egw_metrics_audit_dropped();
    return;
  }
  if (s->in_flight)
    return; /* on_written takes what accumulated */
  if (s->stopped == loop) {
    start_write(s);
    return;
  }
  if (!s->prepare_open) {
    s->loop = loop;
    s->stopped = NULL;
    uv_prepare_init(loop, &s->prepare);
    s->prepare.data = s;
    s->prepare_open = 1;
  }
  uv_prepare_start(&s->prepare, on_prepare);
}

void egw_audit_stop(uv_loop_t *loop) {
  for (struct egw_audit_sink *s = sinks; s; s = s->next) {
    if (s->loop != loop)
      continue;
    start_write(s);
    s->stopped = loop;
    if (s->prepare_open) {
      uv_close((uv_handle_t *)&s->prepare, NULL);
      s->prepare_open = 0;
    }
  }
}
