/* The EEC flow of one simulated UE, as `edgegw eec` runs it (src/cli/eec_flow.c; request
 * bodies from TS 24.558 as in src/cli/eec_msgs.c, written again here):
 *
 *   provision   POST /eecs-serviceprovisioning/v1/request at the ECS (mTLS)      200
 *   register    POST /eees-eecregistration/v1/registrations at the EES (mTLS)   201
 *   discover    POST /eees-easdiscovery/v1/eas-profiles/request-discovery       200
 *   eas-call    GET <path> at the EAS (server-cert, EAS token)                  200
 *   deregister  DELETE <Location of register> at the EES                        204
 *
 * The ECS's answer names the EES (endPt.uri) and hands the EDGE-1 token; the discovery
 * names the EAS and hands its token. One connection at a time, kept while consecutive
 * steps go to the same server (register and discover share one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "loadgen.h"

enum step { S_PROVISION, S_REGISTER, S_DISCOVER, S_EAS_CALL, S_DEREGISTER, S_DONE };
static const int expect[] = {200, 201, 200, 200, 204};
static const char *const step_names[] = {"provision", "register", "discover", "eas-call",
                                         "deregister"};

struct lg_eec {
  uv_loop_t *loop;
  const struct lg_eec_cfg *cfg;
  unsigned ue;
  enum step step;
  struct lg_conn conn;
  int conn_open, conn_ready;
  struct sockaddr_in conn_addr;
  SSL_CTX *conn_ctx;
  struct sockaddr_in ees, eas;
  char eec_id[256];
  char *ees_token, *eas_token, *reg_path;
  char *pending; /* the request to send once connected */
  int ok;
  enum lg_err kind;
  char detail[200];
  void (*done)(void *arg, int ok, enum lg_err kind, const char *detail);
  void *arg;
};

static void go(struct lg_eec *u);

static void end(struct lg_eec *u, int ok, enum lg_err kind, const char *detail) {
  if (u->step == S_DONE)
    return;
  u->step = S_DONE;
  u->ok = ok;
  u->kind = kind;
  snprintf(u->detail, sizeof(u->detail), "%s", detail ? detail : "");
  if (u->conn_open)
    lg_conn_close(&u->conn); /* on_closed reports */
  else
    go(u);
}

static void report(struct lg_eec *u) {
  u->done(u->arg, u->ok, u->kind, u->detail);
  free(u->ees_token);
  free(u->eas_token);
  free(u->reg_path);
  free(u->pending);
  free(u);
}

static char *dup_json_str(const json_t *v) {
  const char *s = json_string_value(v);
  return s ? strdup(s) : NULL;
}

/* take: what the answer to the current step hands on. 0, or -1 with *why. */
static int take(struct lg_eec *u, const char *head, size_t head_len, const char *body,
                size_t body_len, const char **why) {
  if (u->step == S_EAS_CALL || u->step == S_DEREGISTER)
    return 0;
  if (u->step == S_REGISTER) {
    size_t n = 0;
    const char *loc = lg_header(head, head_len, "Location", &n);
    if (loc == NULL) {
      *why = "register: no Location";
      return -1;
    }
    const char *p = loc;
    if (n > 8 && strncmp(loc, "https://", 8) == 0) /* the path of an absolute URL */
      p = memchr(loc + 8, '/', n - 8);
    if (p == NULL) {
      *why = "register: Location without a path";
      return -1;
    }
    u->reg_path = strndup(p, n - (size_t)(p - loc));
    return 0;
  }
  json_t *root = json_loadb(body, body_len, 0, NULL);
  const json_t *ep, *tok;
  if (u->step == S_PROVISION) {
    const json_t *info = json_array_get(
        json_object_get(json_array_get(json_object_get(root, "ednCnfgInfo"), 0), "eess"), 0);
    ep = json_object_get(json_object_get(info, "endPt"), "uri");
    tok = json_object_get(json_object_get(info, "eesAccessToken"), "access_token");
    u->ees_token = dup_json_str(tok);
    if (ep == NULL || lg_parse_url(json_string_value(ep), &u->ees) != 0 || !u->ees_token)
      *why = "provision: no EES endPt.uri and eesAccessToken";
  } else {
    const json_t *d = json_array_get(json_object_get(root, "discoveredEas"), 0);
    ep = json_object_get(json_object_get(json_object_get(d, "eas"), "endPt"), "uri");
    tok = json_object_get(json_object_get(d, "easAccessToken"), "access_token");
    u->eas_token = dup_json_str(tok);
    if (ep == NULL || lg_parse_url(json_string_value(ep), &u->eas) != 0 || !u->eas_token)
      *why = "discover: no EAS endPt.uri and easAccessToken";
  }
  json_decref(root);
  return *why ? -1 : 0;
}

static void on_ready(struct lg_conn *c) {
  struct lg_eec *u = c->owner;
  u->conn_ready = 1;
  char *req = u->pending;
  u->pending = NULL;
  if (req) {
    lg_conn_send(c, req, strlen(req));
    free(req);
  }
}

static void on_response(struct lg_conn *c, int status, const char *head, size_t head_len,
                        const char *body, size_t body_len) {
  struct lg_eec *u = c->owner;
  if (u->step == S_DONE)
    return;
  if (status != expect[u->step]) {
    char d[200];
    snprintf(d, sizeof(d), "%s: status %d: %.*s", step_names[u->step], status,
             (int)(body_len > 100 ? 100 : body_len), body);
    end(u, 0, LG_E_STATUS, d);
    return;
  }
  const char *why = NULL;
  if (take(u, head, head_len, body, body_len, &why) != 0) {
    end(u, 0, LG_E_PARSE, why);
    return;
  }
  if (++u->step == S_DONE)
    u->ok = 1;
  if (c->server_closes) {
    lg_conn_close(c); /* on_closed goes on */
    return;
  }
  go(u);
}

static void on_error(struct lg_conn *c, enum lg_err kind, const char *detail) {
  struct lg_eec *u = c->owner;
  char d[200];
  snprintf(d, sizeof(d), "%s: %s", u->step < S_DONE ? step_names[u->step] : "end", detail);
  end(u, 0, kind, d);
}

static void on_closed(struct lg_conn *c) {
  struct lg_eec *u = c->owner;
  u->conn_open = u->conn_ready = 0;
  go(u);
}

static const struct lg_conn_cbs cbs = {on_ready, on_response, on_error, on_closed};

static char *build(struct lg_eec *u) {
  const struct lg_eec_cfg *cfg = u->cfg;
  char *out = NULL, *body = NULL;
  const char *method = "POST", *path = NULL, *token = u->ees_token;
  char exp[32];
  time_t t = time(NULL) + 3600;
  struct tm tm;
  switch (u->step) {
  case S_PROVISION:
    path = "/eecs-serviceprovisioning/v1/request";
    token = NULL;
    body = json_dumps(json_pack("{s:s, s:[{s:s, s:[{s:s}]}]}", "eecId", u->eec_id, "acProfs",
                                "acId", "edgegw-eec", "eass", "easId", cfg->eas_id),
                      JSON_COMPACT | JSON_PRESERVE_ORDER);
    break;
  case S_REGISTER:
    path = "/eees-eecregistration/v1/registrations";
    gmtime_r(&t, &tm);
    strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    body = json_dumps(json_pack("{s:s, s:s, s:[{s:s, s:[{s:s}]}]}", "eecId", u->eec_id,
                                "expTime", exp, "acProfs", "acId", "edgegw-eec", "eass",
                                "easId", cfg->eas_id),
                      JSON_COMPACT | JSON_PRESERVE_ORDER);
    break;
  case S_DISCOVER:
    path = "/eees-easdiscovery/v1/eas-profiles/request-discovery";
    body = json_dumps(json_pack("{s:{s:s}, s:{s:[{s:s}]}}", "requestorId", "eecId", u->eec_id,
                                "easDiscoveryFilter", "easChars", "easId", cfg->eas_id),
                      JSON_COMPACT | JSON_PRESERVE_ORDER);
    break;
  case S_EAS_CALL:
    method = "GET";
    path = cfg->path;
    token = u->eas_token;
    break;
  case S_DEREGISTER:
    method = "DELETE";
    path = u->reg_path;
    break;
  case S_DONE:
    return NULL;
  }
  char auth[4200] = "";
  if (token)
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
  size_t blen = body ? strlen(body) : 0;
  size_t cap = strlen(path) + strlen(auth) + blen + 256;
  out = malloc(cap);
  if (out)
    snprintf(out, cap,
             "%s %s HTTP/1.1\r\nHost: localhost\r\n%s%sContent-Length: %zu\r\n\r\n%s", method,
             path, auth, body ? "Content-Type: application/json\r\n" : "", blen,
             body ? body : "");
  free(body);
  return out;
}

/* go: runs the current step (or reports the end once no connection is left). */
static void go(struct lg_eec *u) {
  if (u->step == S_DONE) {
    if (u->conn_open)
      lg_conn_close(&u->conn); /* on_closed comes back here */
    else
      report(u);
    return;
  }
  const struct sockaddr_in *addr = u->step == S_PROVISION ? &u->cfg->ecs
                                   : u->step == S_EAS_CALL ? &u->eas
                                                           : &u->ees;
  SSL_CTX *ctx = u->step == S_EAS_CALL ? u->cfg->cert_ctx : u->cfg->mtls_ctx;
  if (u->conn_open && (memcmp(addr, &u->conn_addr, sizeof(*addr)) != 0 || ctx != u->conn_ctx)) {
    lg_conn_close(&u->conn); /* on_closed calls go again */
    return;
  }
  char *req = build(u);
  if (req == NULL) {
    end(u, 0, LG_E_PARSE, "cannot build the request");
    return;
  }
  if (u->conn_open && u->conn_ready) {
    lg_conn_send(&u->conn, req, strlen(req));
    free(req);
    return;
  }
  free(u->pending);
  u->pending = req;
  if (u->conn_open)
    return; /* connecting: on_ready sends it */
  u->conn_addr = *addr;
  u->conn_ctx = ctx;
  u->conn_open = 1;
  if (lg_conn_start(&u->conn, u->loop, ctx, "localhost", addr, NULL, &cbs, u) != 0) {
    u->conn_open = 0;
    end(u, 0, LG_E_CONNECT, "cannot start a connection");
  }
}

struct lg_eec *lg_eec_start(uv_loop_t *loop, const struct lg_eec_cfg *cfg, unsigned ue,
                            void (*done)(void *arg, int ok, enum lg_err kind, const char *detail),
                            void *arg) {
  struct lg_eec *u = calloc(1, sizeof(*u));
  if (u == NULL)
    return NULL;
  *u = (struct lg_eec){.loop = loop, .cfg = cfg, .ue = ue, .done = done, .arg = arg};
  /* "{ue}" in the EEC id numbers the UEs (when the server accepts any id for the cert). */
  const char *mark = strstr(cfg->eec_id, "{ue}");
  if (mark)
    snprintf(u->eec_id, sizeof(u->eec_id), "%.*s%u%s", (int)(mark - cfg->eec_id), cfg->eec_id,
             ue, mark + 4);
  else
    snprintf(u->eec_id, sizeof(u->eec_id), "%s", cfg->eec_id);
  go(u);
  return u;
}

/* ---- the run: |count| UEs, at most |conns| flows at once -------------------------- */

struct eec_run {
  const struct lg_run_cfg *cfg;
  struct lg_result *res;
  unsigned started, done;
  uint64_t t0, last_done;
  uv_timer_t watchdog;
};

struct ue_slot {
  struct eec_run *run;
  uint64_t t0;
};

static void start_ue(struct eec_run *r);

static void ue_done(void *arg, int ok, enum lg_err kind, const char *detail) {
  struct ue_slot *s = arg;
  struct eec_run *r = s->run;
  if (ok) {
    r->res->ok++;
    lg_hist_add(&r->res->hist, lg_now_ns() - s->t0);
  } else {
    lg_note_error(r->res, kind, detail);
  }
  free(s);
  r->done++;
  r->last_done = lg_now_ns();
  start_ue(r);
  if (r->done == r->cfg->count)
    uv_close((uv_handle_t *)&r->watchdog, NULL);
}

/* A flow that never ends (a server that stops answering) must not hang the run: after
 * --timeout without any flow finishing, the flows still running count as timed out. */
static void on_watchdog(uv_timer_t *t) {
  struct eec_run *r = t->data;
  if (lg_now_ns() - r->last_done < r->cfg->timeout_ns)
    return;
  for (unsigned i = r->done; i < r->started; i++)
    lg_note_error(r->res, LG_E_TIMEOUT, "an EEC flow did not finish within the time-out");
  uv_stop(t->loop);
}

static void start_ue(struct eec_run *r) {
  if (r->started >= r->cfg->count)
    return;
  struct ue_slot *s = malloc(sizeof(*s));
  if (s == NULL)
    return;
  *s = (struct ue_slot){.run = r, .t0 = lg_now_ns()};
  unsigned ue = ++r->started;
  if (lg_eec_start(uv_default_loop(), &r->cfg->eec, ue, ue_done, s) == NULL) {
    free(s);
    lg_note_error(r->res, LG_E_CONNECT, "out of memory");
    r->done++;
  }
}

int lg_run_eec(const struct lg_run_cfg *cfg, struct lg_result *res) {
  struct eec_run r = {.cfg = cfg, .res = res, .t0 = lg_now_ns()};
  r.last_done = r.t0;
  res->rss_before_kb = lg_rss_kb(cfg->server_pid);
  uv_timer_init(uv_default_loop(), &r.watchdog);
  r.watchdog.data = &r;
  uv_timer_start(&r.watchdog, on_watchdog, 100, 100);
  for (unsigned i = 0; i < cfg->conns && i < cfg->count; i++)
    start_ue(&r);
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  res->seconds = (double)(lg_now_ns() - r.t0) / 1e9;
  res->rss_after_kb = lg_rss_kb(cfg->server_pid);
  return 0;
}
