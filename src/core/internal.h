/* Private to core: the server (loop, listeners, signals, drain) and its connections. */
#ifndef EGW_CORE_INTERNAL_H
#define EGW_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/site.h"

struct egw_conn;
struct egw_http_client;

struct egw_listener {
  uv_tcp_t tcp;
  struct egw_server *server;
  const struct egw_listener_cfg *cfg;
  uint32_t n_conns;
  char addr[64];             /* "127.0.0.1:9443", "[::1]:9443" */
  uint64_t refused_unlogged; /* refusals since the last connection_refused line */
  uint64_t refused_logged_at;
};

struct egw_server {
  uv_loop_t loop;
  struct egw_site *site;
  struct egw_listener *listeners;
  size_t n_listeners;
  size_t n_listening;
  uv_signal_t sigterm;
  uv_signal_t sigint;
  uv_timer_t drain_timer;
  /* Connections whose exchange finished outside a read callback get their state
   * re-evaluated from here, after the role's call stack has unwound. */
  uv_idle_t deferred;
  struct egw_conn *deferred_head;
  /* Connections with output to send before the loop waits (conn.c flush). */
  struct egw_conn *flush_head;
  /* Runs when the loop is about to wait for I/O: writes the iteration's log records
   * (egw_log_hold), then the connections' answers (egw__conns_flush_pending). */
  uv_prepare_t before_wait;
  struct egw_conn *conns; /* every open connection, for draining */
  size_t n_conns;
  int draining;
  /* Outbound calls of the site's services (an issuer's JWKS); NULL when none are
   * configured. Freed when the server drains, before the loop ends. */
  struct egw_http_client *http;
  /* Reload on SIGHUP (core/reload.c); NULL until the server is up. */
  struct egw_reload *reload;
  /* One read buffer for the whole loop: reads are processed synchronously, so no
   * connection needs its own (this keeps idle connections small). */
  char read_buf[64 * 1024];
};

/* egw__conn_accept accepts a pending connection on |l|; on failure the connection is
 * dropped and logged. */
void egw__conn_accept(struct egw_listener *l);
/* egw__conns_flush_pending sends the output that connections left for the end of the
 * loop iteration; the server calls it when the loop is about to wait, after the log. */
void egw__conns_flush_pending(struct egw_server *s);
/* egw__conns_drain_all asks every connection to finish what it is doing and close. */
void egw__conns_drain_all(struct egw_server *s);
/* egw__conns_abort_all closes every connection at once (drain timeout). */
void egw__conns_abort_all(struct egw_server *s);
/* egw__conn_run_deferred re-evaluates a connection on the deferred list. */
void egw__conn_run_deferred(struct egw_server *s);
/* egw__outbound_start creates the outbound HTTPS client when the site needs one and
 * starts the first fetch of every jwks_uri issuer's keys. Returns 0, or -1 after
 * logging why. egw__outbound_stop cancels what is in flight and frees the client. */
int egw__outbound_start(struct egw_server *s);
void egw__outbound_stop(struct egw_server *s);
/* egw__outbound_adopt does the same for a snapshot a reload swapped in: the running
 * client (or a new one when the site needs one now) fetches the new issuer set's keys. */
int egw__outbound_adopt(struct egw_server *s);
/* egw__server_bind_listener binds and listens on |l|'s address (l->cfg, l->tcp set up,
 * uv_tcp_init done) and logs "listening", or logs "listen_failed" and returns the error. */
int egw__server_bind_listener(struct egw_server *s, struct egw_listener *l);
/* egw__server_conn_closed is called by a connection when it is freed. */
void egw__server_conn_closed(struct egw_server *s);

#endif
