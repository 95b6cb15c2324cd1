/* idle N: opens N TLS connections, sends one request on each (so that the server has
 * finished the handshake and served once, as a real client would), keeps them open and
 * idle, and reads the server's RSS before and after: (after - before) / N is its memory
 * per idle connection. At most cfg->conns handshakes are in flight at once.
 *
 * Loopback with one source address gives one client ~28k ports per destination; the
 * connections are spread over cfg->src_addrs source addresses 127.0.0.1.. so that 20,000
 * and more fit beside the TIME_WAIT sockets of earlier runs. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

struct iconn {
  struct lg_conn conn;
  struct idle *idle;
  int open, answered;
};

struct idle {
  const struct lg_run_cfg *cfg;
  struct lg_result *res;
  uv_loop_t *loop;
  struct iconn *c;
  unsigned started, done, in_flight;
  uv_timer_t timer, watchdog;
  int phase; /* 0 connecting, 1 settling, 2 holding, 3 closing */
  uint64_t t0, last_progress;
};

static void start_more(struct idle *I);

static void finish_one(struct idle *I) {
  I->last_progress = lg_now_ns();
  I->done++;
  I->in_flight--;
  start_more(I);
}

static void on_ready(struct lg_conn *c) {
  struct iconn *ic = c->owner;
  lg_conn_send(c, ic->idle->cfg->request, ic->idle->cfg->request_len);
}

static void on_response(struct lg_conn *c, int status, const char *head, size_t head_len,
                        const char *body, size_t body_len) {
  struct iconn *ic = c->owner;
  struct idle *I = ic->idle;
  if (I->phase != 0 || ic->answered)
    return;
  ic->answered = 1;
  if (status == I->cfg->expect_status) {
    I->res->established++;
    I->res->ok++;
  } else {
    char d[64];
    snprintf(d, sizeof(d), "status %d", status);
    lg_note_error(I->res, LG_E_STATUS, d);
  }
  finish_one(I);
}

static void on_error(struct lg_conn *c, enum lg_err kind, const char *detail) {
  struct iconn *ic = c->owner;
  struct idle *I = ic->idle;
  if (I->phase == 3)
    return;
  lg_note_error(I->res, kind, detail);
  if (!ic->answered) {
    ic->answered = 1; /* failed before its answer */
    if (I->phase == 0)
      finish_one(I);
  } else if (I->res->established > 0) {
    I->res->established--; /* an idle connection the server dropped */
  }
}

static void on_closed(struct lg_conn *c) {
  struct iconn *ic = c->owner;
  ic->open = 0;
}

static const struct lg_conn_cbs cbs = {on_ready, on_response, on_error, on_closed};

static void on_timer(uv_timer_t *t);

static void start_more(struct idle *I) {
  const struct lg_run_cfg *cfg = I->cfg;
  while (I->phase == 0 && I->started < cfg->count && I->in_flight < cfg->conns) {
    unsigned i = I->started++;
    struct iconn *ic = &I->c[i];
    ic->idle = I;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + i % (cfg->src_addrs ? cfg->src_addrs : 1));
    I->in_flight++;
    ic->open = 1;
    int rc = lg_conn_start(&ic->conn, I->loop, cfg->ctx, cfg->sni, &cfg->target,
                           cfg->src_addrs > 1 ? &src : NULL, &cbs, ic);
    if (rc != 0) {
      ic->open = 0;
      lg_note_error(I->res, LG_E_CONNECT, uv_strerror(rc));
      I->done++;
      I->in_flight--;
    }
  }
  if (I->phase == 0 && I->done == cfg->count) {
    /* Every connection answered (or failed): let the server settle, then measure. */
    I->phase = 1;
    uv_close((uv_handle_t *)&I->watchdog, NULL);
    uv_timer_start(&I->timer, on_timer, 1000, 0);
  }
}

/* A connection that never answers must not hang the run: after --timeout without
 * progress, the ones in flight count as timed out and the measurement goes on. */
static void on_watchdog(uv_timer_t *t) {
  struct idle *I = t->data;
  if (I->phase != 0 || lg_now_ns() - I->last_progress < I->cfg->timeout_ns)
    return;
  for (unsigned i = 0; i < I->in_flight; i++)
    lg_note_error(I->res, LG_E_TIMEOUT, "no answer within the time-out");
  /* Stop here: the connections not started yet are simply not established. */
  I->in_flight = 0;
  I->done = I->cfg->count;
  unsigned opened = I->started;
  I->started = I->cfg->count;
  start_more(I); /* moves on to settling */
  I->started = opened; /* on_timer closes the ones that were opened */
}

static void on_timer(uv_timer_t *t) {
  struct idle *I = t->data;
  if (I->phase == 1) {
    I->res->rss_after_kb = lg_rss_kb(I->cfg->server_pid);
    I->res->seconds = (double)(lg_now_ns() - I->t0) / 1e9;
    I->phase = 2;
    uv_timer_start(&I->timer, on_timer, (uint64_t)(I->cfg->duration_s * 1000), 0);
    return;
  }
  I->phase = 3;
  uv_close((uv_handle_t *)&I->timer, NULL);
  for (unsigned i = 0; i < I->started; i++)
    if (I->c[i].open)
      lg_conn_close(&I->c[i].conn);
}

int lg_run_idle(const struct lg_run_cfg *cfg, struct lg_result *res) {
  struct idle I = {.cfg = cfg, .res = res, .loop = uv_default_loop()};
  I.c = calloc(cfg->count ? cfg->count : 1, sizeof(*I.c));
  if (I.c == NULL)
    return -1;
  res->rss_before_kb = lg_rss_kb(cfg->server_pid);
  uv_timer_init(I.loop, &I.timer);
  uv_timer_init(I.loop, &I.watchdog);
  I.timer.data = I.watchdog.data = &I;
  I.t0 = I.last_progress = lg_now_ns();
  uv_timer_start(&I.watchdog, on_watchdog, 100, 100);
  start_more(&I);
  uv_run(I.loop, UV_RUN_DEFAULT);
  free(I.c);
  return 0;
}
