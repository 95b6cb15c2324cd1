/* The EEC's steps, run one after the other on the loop.
 *
 * A command is a plan: a short list of steps (provision, register, discover, eas-call,
 * wait, deregister), each with the status it expects. Every step is one HTTPS exchange
 * (or, for wait, a timer); its completion prints the step, takes what the answer hands
 * on (the EES and its token, the registration, the EAS and its token) and starts the
 * next one.
 *
 * Token refresh: a step marked |refresh| that is answered 401 is followed by a step that
 * gets a fresh token (re-provision for an EDGE-1 token, "refresh" = re-discover for an
 * EAS token) and by the same request again, once ("<kind>-retry"). The demo marks only
 * its deliberate call with an expired EAS token; the single-step commands mark every
 * EES and EAS request.
 *
 * After an unexpected answer the remaining steps are skipped, except a deregistration
 * of a registration this run made: the EEC cleans up behind itself. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/eec_internal.h"
#include "util/format.h"

#define MAX_STEPS 16

enum kind { K_PROVISION, K_REGISTER, K_DISCOVER, K_EAS_CALL, K_WAIT, K_DEREGISTER };

/* What each kind sends and expects when it succeeds. */
static const struct {
  const char *name;
  const char *retry; /* the step's name when it is repeated with a fresh token */
  const char *method;
  int success;
} kinds[] = {
    [K_PROVISION] = {.name = "provision",
                     .retry = "provision-retry",
                     .method = "POST",
                     .success = 200},
    [K_REGISTER] = {.name = "register",
                    .retry = "register-retry",
                    .method = "POST",
                    .success = 201},
    [K_DISCOVER] = {.name = "discover",
                    .retry = "discover-retry",
                    .method = "POST",
                    .success = 200},
    [K_EAS_CALL] = {.name = "eas-call", .retry = "eas-call-retry", .method = "GET", .success = 200},
    [K_WAIT] = {.name = "wait", .retry = "wait", .method = "-", .success = 0},
    [K_DEREGISTER] = {.name = "deregister",
                      .retry = "deregister-retry",
                      .method = "DELETE",
                      .success = 204},
};

struct step {
  enum kind kind;
  const char *name;
  int expect;
  int refresh; /* a 401 gets a fresh token and one retry */
};

struct flow {
  const struct egw__eec_options *o;
  struct egw_http_client *http;
  uv_timer_t timer;
  struct step plan[MAX_STEPS];
  size_t n, next;
  struct egw__eec_grant ees, eas;
  char *registration; /* URL of the registration this run made (or was given) */
  int made_registration;
  int failed;
  /* The step in flight. */
  const struct step *cur;
  char *url;
  char *body;
};

static void advance(struct flow *f);

static void add(struct flow *f, enum kind kind, const char *name, int expect, int refresh) {
  if (f->n < MAX_STEPS)
    f->plan[f->n++] = (struct step){
        .kind = kind, .name = name ? name : kinds[kind].name, .expect = expect, .refresh = refresh};
}

/* insert puts a step right after the current one (f->next is the one after it). */
static void insert(struct flow *f, size_t at, struct step s) {
  if (f->n == MAX_STEPS)
    return;
  memmove(&f->plan[at + 1], &f->plan[at], (f->n - at) * sizeof(f->plan[0]));
  f->plan[at] = s;
  f->n++;
}

static void plan(struct flow *f) {
  const struct egw__eec_options *o = f->o;
  int single = o->command != EGW__EEC_DEMO;
  add(f, K_PROVISION, NULL, 200, 0);
  switch (o->command) {
  case EGW__EEC_PROVISION:
    break;
  case EGW__EEC_REGISTER:
    add(f, K_REGISTER, NULL, 201, single);
    break;
  case EGW__EEC_DISCOVER:
    add(f, K_DISCOVER, NULL, 200, single);
    break;
  case EGW__EEC_CALL:
    add(f, K_DISCOVER, NULL, 200, single);
    add(f, K_EAS_CALL, NULL, 200, single);
    break;
  case EGW__EEC_DEREGISTER:
    add(f, K_DEREGISTER, NULL, 204, single);
    break;
  case EGW__EEC_DEMO:
    add(f, K_REGISTER, NULL, 201, 0);
    add(f, K_DISCOVER, NULL, 200, 0);
    add(f, K_EAS_CALL, NULL, 200, 0);
    add(f, K_WAIT, NULL, 0, 0);
    /* The EAS token has expired: 401, then the refresh path (re-discover, retry). */
    add(f, K_EAS_CALL, "eas-call-expired", 401, 1);
    add(f, K_DEREGISTER, NULL, 204, 0);
    break;
  }
}

/* ---- completion ------------------------------------------------------------------- */

static json_t *parse_body(const struct egw_http_client_response *resp) {
  if (resp->body == NULL || resp->body_len == 0)
    return NULL;
  json_t *v = json_loadb((const char *)resp->body, resp->body_len, JSON_DECODE_ANY, NULL);
  if (v == NULL)
    v = json_stringn((const char *)resp->body, resp->body_len);
  if (v == NULL)
    v = json_sprintf("<%zu bytes, not UTF-8>", resp->body_len);
  return v;
}

static char *grant_note(const char *what, const struct egw__eec_grant *g, const char *token_kind) {
  char hint[48];
  egw__eec_token_hint(g->token, hint, sizeof(hint));
  char expires[48] = "";
  if (g->token && g->expires_in >= 0)
    snprintf(expires, sizeof(expires), ", expires in %ld s", g->expires_in);
  return egw_format("%s %s at %s; %s token %s%s", what, g->id ? g->id : "(no id)", g->url,
                    token_kind, hint, expires);
}

/* take: what a step's expected answer hands on. Returns 0, or -1 with *out_why set
 * when the answer lacks what the next steps need. *out_note (malloc'd) says what was
 * learned. */
static int take(struct flow *f, const struct egw_http_client_response *resp, const json_t *body,
                char **out_note, const char **out_why) {
  switch (f->cur->kind) {
  case K_PROVISION:
    if (egw__eec_pick_ees(body, f->o->ees_id, &f->ees, out_why) != 0)
      return -1;
    *out_note = grant_note("EES", &f->ees, "EDGE-1");
    return 0;
  case K_DISCOVER:
    if (egw__eec_pick_eas(body, f->o->eas_id, &f->eas, out_why) != 0)
      return -1;
    *out_note = grant_note("EAS", &f->eas, "EAS");
    return 0;
  case K_REGISTER: {
    size_t location_len = 0;
    const char *location = egw_http_client_response_header(resp, "location", &location_len);
    if (location == NULL) {
      *out_why = "the registration answer has no Location header";
      return -1;
    }
    free(f->registration);
    f->registration = egw__eec_resolve(f->url, location);
    f->made_registration = f->registration != NULL;
    *out_note = egw_format("registration %s", f->registration ? f->registration : "?");
    return 0;
  }
  case K_DEREGISTER:
    f->made_registration = 0;
    return 0;
  case K_EAS_CALL:
  case K_WAIT:
    break;
  }
  return 0;
}

/* refresh_after_401 plans a fresh token and one retry of the current step. */
static void refresh_after_401(struct flow *f, char **out_note) {
  const struct step *s = f->cur;
  int eas = s->kind == K_EAS_CALL;
  struct step renew = {.kind = eas ? K_DISCOVER : K_PROVISION,
                       .name = eas ? "refresh" : "reprovision",
                       .expect = 200};
  struct step retry = {
      .kind = s->kind, .name = kinds[s->kind].retry, .expect = kinds[s->kind].success};
  insert(f, f->next, retry);
  insert(f, f->next, renew);
  *out_note = egw_format("the %s token was refused: getting a fresh one (%s) and retrying once",
                         eas ? "EAS" : "EDGE-1", eas ? "re-discovery" : "re-provisioning");
}

static void on_done(void *arg, const struct egw_http_client_response *resp) {
  struct flow *f = arg;
  const struct step *s = f->cur;
  json_t *body = resp->error ? NULL : parse_body(resp);
  char *note = NULL;
  const char *why = NULL;
  int ok = resp->error == NULL && resp->status == s->expect;
  if (ok && resp->status == kinds[s->kind].success && take(f, resp, body, &note, &why) != 0)
    ok = 0;
  if (resp->error == NULL && resp->status == 401 && s->refresh) {
    free(note);
    refresh_after_401(f, &note);
    ok = 1;
  } else if (!ok && why == NULL && s->kind == K_EAS_CALL && s->expect == 401) {
    why = "the EAS token was still accepted: the demo needs a short EAS token lifetime "
          "(ecs.clients[].token_ttl_s of the EES) and no leeway on the EAS listener";
  }
  struct egw__eec_step_report r = {
      .step = s->name,
      .method = kinds[s->kind].method,
      .url = f->url,
      .status = resp->status,
      .error = resp->error ? resp->error : why,
      .body = body,
      .expected = s->expect,
      .ok = ok,
      .note = note,
      .location = s->kind == K_REGISTER && ok ? f->registration : NULL,
  };
  egw__eec_print_step(stdout, f->o->json, &r);
  free(note);
  json_decref(body);
  if (!ok)
    f->failed = 1;
  advance(f);
}

/* ---- starting steps --------------------------------------------------------------- */

static void report_unstarted(struct flow *f, const char *why) {
  struct egw__eec_step_report r = {.step = f->cur->name,
                                   .method = kinds[f->cur->kind].method,
                                   .url = f->url ? f->url : "-",
                                   .error = why,
                                   .expected = f->cur->expect};
  egw__eec_print_step(stdout, f->o->json, &r);
  f->failed = 1;
}

/* start_request sends the current step. Returns 0 when its completion will follow. */
static int start_request(struct flow *f, const char *token) {
  char auth[8192];
  struct egw_header h = {.name = "Authorization", .value = auth};
  if (token && snprintf(auth, sizeof(auth), "Bearer %s", token) >= (int)sizeof(auth)) {
    report_unstarted(f, "the access token is too long");
    return -1;
  }
  struct egw_http_client_request req = {
      .method = kinds[f->cur->kind].method,
      .url = f->url,
      .headers = token ? &h : NULL,
      .n_headers = token ? 1 : 0,
      .body = f->body,
      .body_len = f->body ? strlen(f->body) : 0,
      .content_type = f->body ? "application/json" : NULL,
  };
  int rc = egw_http_client_request(f->http, &req, on_done, f, NULL);
  if (rc != 0) {
    report_unstarted(f, rc == UV_EINVAL ? "not an https:// URL, or a header that cannot be sent"
                                        : uv_strerror(rc));
    return -1;
  }
  return 0;
}

static void on_waited(uv_timer_t *t) { advance(t->data); }

/* start: the current step. Returns 0 when a completion will follow. */
static int start(struct flow *f) {
  const struct egw__eec_options *o = f->o;
  const struct step *s = f->cur;
  json_t *body = NULL;
  const char *token = NULL;
  free(f->url);
  free(f->body);
  f->url = f->body = NULL;
  switch (s->kind) {
  case K_PROVISION:
    f->url = egw__eec_join(o->ecs_url, "/eecs-serviceprovisioning/v1/request");
    body = egw__eec_provision_req(o);
    break;
  case K_REGISTER:
    f->url = egw__eec_join(f->ees.url, "/eees-eecregistration/v1/registrations");
    body = egw__eec_registration_req(o, (int64_t)time(NULL));
    token = f->ees.token;
    break;
  case K_DISCOVER:
    f->url = egw__eec_join(f->ees.url, "/eees-easdiscovery/v1/eas-profiles/request-discovery");
    body = egw__eec_discovery_req(o);
    token = f->ees.token;
    break;
  case K_EAS_CALL:
    f->url = egw__eec_join(f->eas.url, o->path);
    token = f->eas.token;
    break;
  case K_DEREGISTER:
    if (f->registration == NULL) {
      report_unstarted(f, "no registration to delete");
      return -1;
    }
    f->url = strdup(f->registration);
    token = f->ees.token;
    break;
  case K_WAIT: {
    /* Past the EAS token's expiry: expires_in counts from its issue, a second more covers
     * the rounding of exp to whole seconds. */
    long wait_s = f->eas.expires_in >= 0 ? f->eas.expires_in + 1 : (long)o->max_wait_s;
    if (wait_s > (long)o->max_wait_s)
      wait_s = (long)o->max_wait_s;
    if (!o->json)
      printf("%-17s      waiting %ld s for the EAS token to expire\n", "wait", wait_s);
    fflush(stdout);
    uv_timer_start(&f->timer, on_waited, (uint64_t)wait_s * 1000, 0);
    return 0;
  }
  }
  if (body)
    f->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(body);
  if (f->url == NULL || (s->kind != K_EAS_CALL && s->kind != K_DEREGISTER && f->body == NULL)) {
    report_unstarted(f, "out of memory");
    return -1;
  }
  return start_request(f, token);
}

static void finish(struct flow *f) {
  egw_http_client_free(f->http);
  f->http = NULL;
  uv_close((uv_handle_t *)&f->timer, NULL);
}

static void advance(struct flow *f) {
  while (f->next < f->n) {
    f->cur = &f->plan[f->next++];
    /* After a failure only the clean-up of our own registration still runs. */
    if (f->failed && !(f->cur->kind == K_DEREGISTER && f->made_registration))
      continue;
    if (start(f) == 0)
      return;
  }
  finish(f);
}

int egw__eec_run(uv_loop_t *loop, struct egw_http_client *http, const struct egw__eec_options *o) {
  struct flow f = {.o = o, .http = http};
  f.ees.expires_in = f.eas.expires_in = -1;
  if (o->registration) {
    f.registration = strdup(o->registration);
    if (f.registration == NULL) {
      egw_http_client_free(http);
      return 1;
    }
  }
  if (uv_timer_init(loop, &f.timer) != 0) {
    free(f.registration);
    egw_http_client_free(http);
    return 1;
  }
  f.timer.data = &f;
  plan(&f);
  advance(&f);
  uv_run(loop, UV_RUN_DEFAULT);
  int rc = f.failed ? 1 : 0;
  if (!o->json && o->command == EGW__EEC_DEMO)
    printf(rc == 0 ? "demo: every step answered as expected\n" : "demo: a step failed\n");
  egw__eec_grant_cleanup(&f.ees);
  egw__eec_grant_cleanup(&f.eas);
  free(f.registration);
  free(f.url);
  free(f.body);
  return rc;
}
