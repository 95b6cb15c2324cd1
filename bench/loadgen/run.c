/* The request engine: N slots, each one connection (kept alive, or new per request for
 * the handshake scenario).
 *
 * Closed loop: a slot sends its next request as soon as the answer arrives.
 * Open loop: requests are due at fixed times (start + i / rate); a free slot takes the
 * oldest due request, and its latency counts from when it was due, not from when it
 * was sent, so a stalled server shows up in the percentiles (no coordinated omission).
 * Due requests wait in a backlog that is only a counter: request i's due time is
 * computed from i. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

struct slot {
  struct lg_conn conn;
  struct engine *e;
  int has_conn, busy;
  uint64_t due_ns; /* when the request in flight was due (latency origin) */
};

struct engine {
  const struct lg_run_cfg *cfg;
  struct lg_result *res;
  uv_loop_t *loop;
  struct slot *slots;
  unsigned *free_slots, n_free; /* open loop: slots waiting for a due request */
  uv_timer_t tick, phase;
  uint64_t t0, issued, dispatched; /* open loop: requests due so far, and started */
  int measuring, stopping, closed;
  uint64_t measure_t0;
  unsigned connect_fail_streak;
};

static int per_request_conn(const struct engine *e) {
  return e->cfg->scenario == LG_HANDSHAKE;
}

static void available(struct slot *s);

static void send_request(struct slot *s) {
  s->busy = 1;
  lg_conn_send(&s->conn, s->e->cfg->request, s->e->cfg->request_len);
}

static void start_conn(struct slot *s);

/* begin starts one request on |s| that was due at |due|. */
static void begin(struct slot *s, uint64_t due) {
  s->due_ns = due;
  if (per_request_conn(s->e)) {
    s->busy = 1;
    start_conn(s);
  } else {
    send_request(s);
  }
}

static void dispatch(struct engine *e) {
  while (!e->stopping && e->dispatched < e->issued && e->n_free > 0) {
    struct slot *s = &e->slots[e->free_slots[--e->n_free]];
    uint64_t due = e->t0 + (uint64_t)((double)e->dispatched * 1e9 / e->cfg->rate);
    e->dispatched++;
    begin(s, due);
  }
}

/* available: |s| can take a request now (connected and idle, or connection-less). */
static void available(struct slot *s) {
  struct engine *e = s->e;
  if (e->stopping)
    return;
  if (e->cfg->rate <= 0) {
    begin(s, lg_now_ns());
    return;
  }
  e->free_slots[e->n_free++] = (unsigned)(s - e->slots);
  dispatch(e);
}

static void on_ready(struct lg_conn *c) {
  struct slot *s = c->owner;
  s->e->connect_fail_streak = 0;
  if (per_request_conn(s->e))
    send_request(s);
  else
    available(s);
}

static void on_response(struct lg_conn *c, int status, const char *head, size_t head_len,
                        const char *body, size_t body_len) {
  struct slot *s = c->owner;
  struct engine *e = s->e;
  const struct lg_run_cfg *cfg = e->cfg;
  if (!s->busy) {
    lg_note_error(e->res, LG_E_PARSE, "an answer nobody asked for");
    lg_conn_close(c);
    return;
  }
  s->busy = 0;
  int good = status == cfg->expect_status &&
             (cfg->expect_body == NULL ||
              memmem(body, body_len, cfg->expect_body, strlen(cfg->expect_body)) != NULL);
  if (e->measuring) {
    if (good) {
      e->res->ok++;
      lg_hist_add(&e->res->hist, lg_now_ns() - s->due_ns);
    } else {
      char detail[200];
      snprintf(detail, sizeof(detail), "status %d: %.*s", status,
               (int)(body_len > 120 ? 120 : body_len), body);
      lg_note_error(e->res, LG_E_STATUS, detail);
    }
  }
  if (per_request_conn(e) || c->server_closes)
    lg_conn_close(c); /* on_closed makes the slot available again */
  else
    available(s);
}

static void on_error(struct lg_conn *c, enum lg_err kind, const char *detail) {
  struct slot *s = c->owner;
  struct engine *e = s->e;
  if (kind == LG_E_CONNECT)
    e->connect_fail_streak++;
  if (e->stopping)
    return;
  /* Every error counts once the run measures; a kept-alive connection that the server
   * closes between requests is an error too (it should stay open). */
  if (e->measuring)
    lg_note_error(e->res, kind, detail);
  s->busy = 0;
}

static void on_closed(struct lg_conn *c) {
  struct slot *s = c->owner;
  struct engine *e = s->e;
  s->has_conn = 0;
  if (e->stopping)
    return;
  if (e->connect_fail_streak > 1000) {
    fprintf(stderr, "edgegw-bench: %u connects in a row failed: giving up\n",
            e->connect_fail_streak);
    e->stopping = 1;
    uv_stop(e->loop);
    return;
  }
  if (per_request_conn(e)) {
    s->busy = 0;
    available(s);
  } else {
    start_conn(s); /* reconnect; the slot becomes available when ready */
  }
}

static const struct lg_conn_cbs cbs = {on_ready, on_response, on_error, on_closed};

static void start_conn(struct slot *s) {
  struct engine *e = s->e;
  s->has_conn = 1;
  int rc = lg_conn_start(&s->conn, e->loop, e->cfg->ctx, e->cfg->sni, &e->cfg->target, NULL,
                         &cbs, s);
  if (rc != 0) {
    s->has_conn = 0;
    lg_note_error(e->res, LG_E_CONNECT, uv_strerror(rc));
  }
}

static void on_tick(uv_timer_t *t) {
  struct engine *e = t->data;
  uint64_t now = lg_now_ns();
  if (e->cfg->rate > 0) {
    e->issued = (uint64_t)((double)(now - e->t0) * e->cfg->rate / 1e9) + 1;
    dispatch(e);
  }
  /* Time-outs: checked here, at most one tick late. */
  for (unsigned i = 0; i < e->cfg->conns; i++) {
    struct slot *s = &e->slots[i];
    if (s->busy && s->has_conn && now - s->due_ns > e->cfg->timeout_ns &&
        !s->conn.closing) {
      if (e->measuring)
        lg_note_error(e->res, LG_E_TIMEOUT, "no answer within the time-out");
      s->busy = 0;
      s->conn.failed = 1;
      lg_conn_close(&s->conn);
    }
  }
}

static void close_all(struct engine *e) {
  e->stopping = 1;
  e->closed = 1;
  uv_timer_stop(&e->tick);
  uv_close((uv_handle_t *)&e->tick, NULL);
  uv_close((uv_handle_t *)&e->phase, NULL);
  for (unsigned i = 0; i < e->cfg->conns; i++)
    if (e->slots[i].has_conn)
      lg_conn_close(&e->slots[i].conn);
}

static void on_phase(uv_timer_t *t) {
  struct engine *e = t->data;
  if (!e->measuring) {
    e->measuring = 1;
    e->measure_t0 = lg_now_ns();
    uv_timer_start(&e->phase, on_phase, (uint64_t)(e->cfg->duration_s * 1000), 0);
    return;
  }
  e->measuring = 0;
  e->res->seconds = (double)(lg_now_ns() - e->measure_t0) / 1e9;
  close_all(e);
}

int lg_run(const struct lg_run_cfg *cfg, struct lg_result *res) {
  struct engine e = {.cfg = cfg, .res = res, .loop = uv_default_loop()};
  e.slots = calloc(cfg->conns, sizeof(*e.slots));
  e.free_slots = calloc(cfg->conns, sizeof(*e.free_slots));
  if (e.slots == NULL || e.free_slots == NULL) {
    free(e.slots);
    free(e.free_slots);
    return -1;
  }
  res->rss_before_kb = lg_rss_kb(cfg->server_pid);
  uv_timer_init(e.loop, &e.tick);
  uv_timer_init(e.loop, &e.phase);
  e.tick.data = e.phase.data = &e;
  e.t0 = lg_now_ns();
  uv_timer_start(&e.tick, on_tick, 1, 1);
  if (cfg->warmup_s > 0) {
    uv_timer_start(&e.phase, on_phase, (uint64_t)(cfg->warmup_s * 1000), 0);
  } else {
    e.measuring = 1;
    e.measure_t0 = e.t0;
    uv_timer_start(&e.phase, on_phase, (uint64_t)(cfg->duration_s * 1000), 0);
  }
  for (unsigned i = 0; i < cfg->conns; i++) {
    struct slot *s = &e.slots[i];
    s->e = &e;
    if (per_request_conn(&e))
      available(s);
    else
      start_conn(s);
  }
  if (cfg->busy_poll) {
    while (uv_run(e.loop, UV_RUN_NOWAIT) != 0 && !e.closed && !e.stopping) {
    }
  } else {
    uv_run(e.loop, UV_RUN_DEFAULT);
  }
  if (!e.closed) { /* gave up early (uv_stop) */
    if (e.measuring)
      e.res->seconds = (double)(lg_now_ns() - e.measure_t0) / 1e9;
    close_all(&e);
  }
  uv_run(e.loop, UV_RUN_DEFAULT); /* let every handle close */
  res->rss_after_kb = lg_rss_kb(cfg->server_pid);
  free(e.slots);
  free(e.free_slots);
  return 0;
}
