#include "core/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/internal.h"
#include "core/notify.h"
#include "core/reload.h"
#include "util/log.h"

static void on_connection(uv_stream_t *stream, int status) {
  struct egw_listener *l = stream->data;
  if (status < 0) {
    egw_log_msg(EGW_LOG_WARN, "accept_failed", "%s: %s", l->addr, uv_strerror(status));
    return;
  }
  if (l->server->draining)
    return;
  egw__conn_accept(l);
}

static void log_listening(const struct egw_listener *l) {
  const struct egw_listener_policy *lp = l->cfg->policy;
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "listening");
  egw_log_str(&rec, "interface", lp->interface_name);
  egw_log_str(&rec, "role", lp->role);
  egw_log_str(&rec, "addr", l->addr);
  egw_log_str(&rec, "tls", egw_tls_mode_name(lp->tls.mode));
  egw_log_str(&rec, "authz", egw_authz_mode_name(lp->authz.mode));
  egw_log_end(&rec);
}

int egw__server_bind_listener(struct egw_server *s, struct egw_listener *l) {
  const struct egw_listener_policy *lp = l->cfg->policy;
  struct sockaddr_storage ss;
  int v6 = strchr(lp->listen_host, ':') != NULL;
  int rc = v6 ? uv_ip6_addr(lp->listen_host, lp->listen_port, (struct sockaddr_in6 *)&ss)
              : uv_ip4_addr(lp->listen_host, lp->listen_port, (struct sockaddr_in *)&ss);
  snprintf(l->addr, sizeof(l->addr), v6 ? "[%s]:%u" : "%s:%u", lp->listen_host, lp->listen_port);
  if (rc == 0)
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, v6 ? UV_TCP_IPV6ONLY : 0);
  /* Linux copies TCP_NODELAY to every socket accepted from this one: one setsockopt
   * per listener instead of one per connection. */
  if (rc == 0)
    rc = uv_tcp_nodelay(&l->tcp, 1);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
  if (rc != 0) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_ERROR, "listen_failed");
    egw_log_str(&rec, "interface", lp->interface_name);
    egw_log_str(&rec, "addr", l->addr);
    egw_log_str(&rec, "error", uv_strerror(rc));
    egw_log_str(&rec, "policy", lp->file);
    egw_log_end(&rec);
    return rc;
  }
  log_listening(l);
  return 0;
}

/* Closes what keeps the loop alive once no connection is left. */
static void stop_when_empty(struct egw_server *s) {
  if (!s->draining || s->n_conns > 0)
    return;
  if (!uv_is_closing((uv_handle_t *)&s->sigterm)) {
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    /* Closing the handles restores the default action, which would turn a second
     * SIGTERM during the last cleanup into death by signal instead of exit 0. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    uv_close((uv_handle_t *)&s->drain_timer, NULL);
    uv_close((uv_handle_t *)&s->deferred, NULL);
    uv_close((uv_handle_t *)&s->before_wait, NULL);
    egw_audit_stop(&s->loop); /* the last audit lines are written before the loop ends */
  }
}

void egw__server_conn_closed(struct egw_server *s) { stop_when_empty(s); }

static void on_drain_timeout(uv_timer_t *t) {
  struct egw_server *s = t->data;
  egw_log_msg(EGW_LOG_WARN, "drain_timeout", "closing %zu connection(s) still busy", s->n_conns);
  egw__conns_abort_all(s);
}

static void start_drain(struct egw_server *s, const char *why) {
  if (s->draining)
    return;
  s->draining = 1;
  egw_notify("STOPPING=1");
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_INFO, "draining");
  egw_log_str(&rec, "signal", why);
  egw_log_int(&rec, "connections", (int64_t)s->n_conns);
  egw_log_end(&rec);
  for (size_t i = 0; i < s->n_listeners; i++) {
    if (!uv_is_closing((uv_handle_t *)&s->listeners[i].tcp))
      uv_close((uv_handle_t *)&s->listeners[i].tcp, NULL);
  }
  egw__reload_stop(s);
  egw__outbound_stop(s);
  egw_site_roles_stop(s->site);
  egw__conns_drain_all(s);
  uv_timer_start(&s->drain_timer, on_drain_timeout, s->site->policy->drain_timeout_ms, 0);
  stop_when_empty(s);
}

/* Before the loop waits for I/O: the iteration's log records, then the answers they
 * describe. */
static void on_loop_waits(uv_prepare_t *h) {
  struct egw_server *s = h->data;
  egw_log_flush();
  egw__conns_flush_pending(s);
}

static void on_signal(uv_signal_t *h, int signum) {
  start_drain(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

int egw_server_run(struct egw_site *site) {
  struct egw_server *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return 1;
  int exit_code = 0;
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&s->loop);
  s->site = site;
  site->loop = &s->loop;
  egw_site_up_ref(site);
  s->n_listeners = site->policy->n_listeners;
  s->listeners = calloc(s->n_listeners ? s->n_listeners : 1, sizeof(*s->listeners));
  uv_signal_init(&s->loop, &s->sigterm);
  uv_signal_init(&s->loop, &s->sigint);
  uv_timer_init(&s->loop, &s->drain_timer);
  uv_idle_init(&s->loop, &s->deferred);
  uv_prepare_init(&s->loop, &s->before_wait);
  uv_prepare_start(&s->before_wait, on_loop_waits);
  uv_unref((uv_handle_t *)&s->before_wait);
  s->before_wait.data = s;
  egw_log_hold(1);
  s->sigterm.data = s->sigint.data = s->drain_timer.data = s->deferred.data = s;
  uv_unref((uv_handle_t *)&s->drain_timer);

  for (size_t i = 0; s->listeners && i < s->n_listeners; i++) {
    struct egw_listener *l = &s->listeners[i];
    l->server = s;
    l->cfg = &site->listeners[i];
    l->tcp.data = l;
    uv_tcp_init(&s->loop, &l->tcp);
    if (egw__server_bind_listener(s, l) != 0) {
      exit_code = 1;
      break;
    }
    s->n_listening++;
  }
  if (s->listeners == NULL)
    exit_code = 1;
  if (exit_code == 0 && egw__outbound_start(s) != 0)
    exit_code = 1;
  int roles_started = 0;
  if (exit_code == 0) {
    roles_started = 1; /* a module that failed in start still gets its stop */
    if (egw_site_roles_start(site, &s->loop) != 0)
      exit_code = 1;
  }

  if (exit_code == 0) {
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    if (egw__reload_init(s) != 0)
      egw_log_msg(EGW_LOG_WARN, "reload_unavailable", "SIGHUP will not reload the policies");
    site->ready = 1;
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_INFO, "ready");
    egw_log_str(&rec, "site", site->policy->site_id);
    egw_log_int(&rec, "listeners", (int64_t)s->n_listening);
    egw_log_end(&rec);
    egw_notify("READY=1"); /* systemd Type=notify: every listener is up */
  } else {
    s->draining = 1; /* nothing was accepted; close everything below */
    egw__outbound_stop(s);
    if (roles_started)
      egw_site_roles_stop(site);
    for (size_t i = 0; s->listeners && i < s->n_listeners; i++) {
      if (s->listeners[i].server)
        uv_close((uv_handle_t *)&s->listeners[i].tcp, NULL);
    }
    stop_when_empty(s);
  }
  uv_run(&s->loop, UV_RUN_DEFAULT);
  egw_log_hold(0);
  site->ready = 0;
  site->loop = NULL;
  int rc = uv_loop_close(&s->loop);
  if (rc != 0) {
    /* A handle left open is a bug in a close path; say so rather than exit clean. */
    egw_log_msg(EGW_LOG_ERROR, "loop_close_failed", "%s", uv_strerror(rc));
    exit_code = 1;
  }
  if (exit_code == 0) {
    struct egw_log_record rec;
    egw_log_begin(&rec, EGW_LOG_INFO, "stopped");
    egw_log_str(&rec, "site", site->policy->site_id);
    egw_log_end(&rec);
  }
  egw__reload_free(s);
  egw_site_unref(s->site); /* the snapshot running last: the first one, or a reload's */
  free(s->listeners);
  free(s);
  return exit_code;
}
