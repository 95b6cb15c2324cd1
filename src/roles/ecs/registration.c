/* Module "ecs-registration": EDGE-6 at the ECS (TS 29.558 Eecs_EESRegistration) and
 * target EES discovery (Eecs_TargetEESDiscovery). An EES registers its profile; the
 * registration belongs to the EES that made it: the TLS identity of the requester (else
 * the accepted token's sub) must be eesProf.eesId, on creation and on every later call.
 * Every answer that changes a registration waits for the store (EGW_AGAIN).
 *
 * The registration answers also carry "eecCaCerts" (project choice, an extension member:
 * EESRegistration allows others): the PEM CA certificates that EEC client certificates
 * chain to (ecs.registration.eec_ca, default the site's trust CAs), so that an EES on
 * another host can verify EECs over EDGE-1 mTLS. It is not stored with the registration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token_verify.h"
#include "roles/ecs/edge.h"
#include "util/arena.h"
#include "util/format.h"
#include "util/log.h"

#define REG_BASE "/eecs-eesregistration/v1/registrations"
#define DISCOVERY_PATH "/eecs-targeteesdiscovery/v1/ees-profiles"

static const struct egw_route registration_routes[] = {
    {.methods =
         EGW_METHOD_POST | EGW_METHOD_GET | EGW_METHOD_PUT | EGW_METHOD_PATCH | EGW_METHOD_DELETE,
     .prefix = REG_BASE},
    {.methods = EGW_METHOD_GET, .prefix = DISCOVERY_PATH},
    {.prefix = NULL},
};

struct ecs_registration {
  struct egw_site *site;
  const struct egw_ecs_policy *policy;
  struct egw_records *table;
  json_t *eec_ca_certs; /* array of PEM certificates */
};

/* ---- EEC CA certificates ------------------------------------------------------------- */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 4096 + 1 > cap) {
      char *bigger = realloc(text, cap = len + 4096 + 1 + cap);
      if (bigger == NULL)
        break;
      text = bigger;
    }
    size_t n = fread(text + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0) {
      text[len] = '\0';
      fclose(f);
      return text;
    }
  }
  free(text);
  fclose(f);
  return NULL;
}

/* Appends every PEM certificate of |path| to |out|; returns how many, or -1. */
static int load_pems(json_t *out, const char *path) {
  static const char begin[] = "-----BEGIN CERTIFICATE-----";
  static const char end[] = "-----END CERTIFICATE-----";
  char *text = read_file(path);
  if (text == NULL)
    return -1;
  int n = 0;
  for (char *p = strstr(text, begin); p; p = strstr(p, begin)) {
    char *e = strstr(p, end);
    if (e == NULL)
      break;
    e += sizeof(end) - 1;
    json_t *pem = json_sprintf("%.*s\n", (int)(e - p), p);
    if (json_array_append_new(out, pem) != 0) {
      n = -1;
      break;
    }
    n++;
    p = e;
  }
  free(text);
  return n;
}

static json_t *load_eec_cas(const struct egw_site_policy *sp, char **out_err) {
  const struct egw_ecs_policy *p = sp->ecs;
  char *const *files = p->n_eec_ca_files ? p->eec_ca_files : sp->ca_files;
  size_t n = p->n_eec_ca_files ? p->n_eec_ca_files : sp->n_ca_files;
  json_t *out = json_array();
  for (size_t i = 0; out && i < n; i++) {
    if (load_pems(out, files[i]) <= 0) {
      *out_err = egw_format("%s: ecs.registration.eec_ca: %s: no readable PEM certificate",
                            sp->site_file, files[i]);
      json_decref(out);
      return NULL;
    }
  }
  if (out == NULL)
    *out_err = egw_format("out of memory");
  return out;
}

/* ---- module -------------------------------------------------------------------------- */

static int registration_init(struct egw_site *site, void **out_state, char **out_err) {
  if (site->policy->ecs == NULL) {
    *out_err = egw_format("the ecs-registration module needs the \"ecs\" section of %s",
                          site->policy->site_file);
    return -1;
  }
  struct ecs_registration *m = calloc(1, sizeof(*m));
  if (m == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  m->site = site;
  m->policy = site->policy->ecs;
  m->table = egw__ecs_ees_table(site, out_err);
  m->eec_ca_certs = m->table ? load_eec_cas(site->policy, out_err) : NULL;
  if (m->eec_ca_certs == NULL) {
    free(m);
    return -1;
  }
  *out_state = m;
  return 0;
}

static int registration_start(void *state, uv_loop_t *loop) {
  struct ecs_registration *m = state;
  int rc = egw__records_start(m->table, loop);
  if (rc != 0)
    egw_log_msg(EGW_LOG_ERROR, "ecs_registration_start_failed", "%s", uv_strerror(rc));
  return rc;
}

static void registration_stop(void *state) {
  struct ecs_registration *m = state;
  egw__records_stop(m->table);
}

static void registration_dispose(void *state) {
  struct ecs_registration *m = state;
  if (m == NULL)
    return;
  json_decref(m->eec_ca_certs);
  free(m);
}

/* ---- answers ------------------------------------------------------------------------- */

/* The EES asking: its certificate (or PSK) identity, else its token's sub. */
static const char *requester(const struct egw_request *req) {
  return req->peer->id ? req->peer->id : req->token_sub;
}

static enum egw_handler_result answer_registration(struct ecs_registration *m,
                                                   struct egw_exchange *x, int status,
                                                   const json_t *doc) {
  json_t *body = json_copy((json_t *)doc);
  if (body == NULL || json_object_set(body, "eecCaCerts", m->eec_ca_certs) != 0) {
    json_decref(body);
    return EGW_FAILED;
  }
  enum egw_handler_result r = egw__roles_answer_json(x, status, body);
  json_decref(body);
  return r;
}

static enum egw_handler_result not_allowed(struct egw_exchange *x, const char *allow) {
  enum egw_handler_result r =
      egw__roles_problem(x, 405, "method not allowed on this resource", NULL, NULL, 0);
  if (r == EGW_DONE && egw_response_add_header(egw_exchange_response(x), "Allow", allow) != 0)
    r = EGW_FAILED;
  return r;
}

static enum egw_handler_result not_owner(struct egw_exchange *x) {
  return egw__roles_problem(x, 403, "the registration belongs to another EES",
                            "REQUESTOR_NOT_OWNER", NULL, 0);
}

static enum egw_handler_result identity_mismatch(struct egw_exchange *x) {
  return egw__roles_problem(x, 403, "eesProf.eesId is not the identity the EES authenticated with",
                            "IDENTITY_MISMATCH", NULL, 0);
}

/* ---- writes -------------------------------------------------------------------------- */

enum reg_op { OP_CREATE, OP_UPDATE, OP_DELETE };

/* A request waiting for its store write. */
struct pending_write {
  struct ecs_registration *m;
  struct egw_exchange *x; /* NULL once the client went away */
  enum reg_op op;
};

static void on_write_abort(void *arg) {
  struct pending_write *w = arg;
  w->x = NULL;
}

static void log_write(enum reg_op op, int status, const struct egw_record *reg) {
  static const char *const events[] = {"ees_registered", "ees_registration_updated",
                                       "ees_deregistered"};
  struct egw_log_record rec;
  egw_log_begin(&rec, status == 0 ? EGW_LOG_INFO : EGW_LOG_ERROR,
                status == 0 ? events[op] : "ees_registration_write_failed");
  if (reg) {
    egw_log_str(&rec, "registration", reg->id);
    egw_log_str(&rec, "ees", reg->owner);
  }
  if (reg && status == 0 && op != OP_DELETE)
    egw_log_int(&rec, "exp", reg->exp_s);
  egw_log_end(&rec);
}

static void on_written(void *arg, int status, const struct egw_record *reg) {
  struct pending_write *w = arg;
  log_write(w->op, status, reg);
  if (w->x) {
    struct egw_exchange *x = w->x;
    enum egw_handler_result r = EGW_DONE;
    if (status != 0) {
      r = egw__roles_problem(x, 503, "the registration could not be stored", "SYSTEM_FAILURE", NULL,
                             0);
    } else if (w->op == OP_DELETE) {
      egw_exchange_response(x)->status = 204;
    } else if (w->op == OP_UPDATE) {
      r = answer_registration(w->m, x, 200, reg->doc);
    } else {
      const struct egw_request *req = egw_exchange_request(x);
      const char *path = egw_arena_sprintf(req->arena, "%s/%s", REG_BASE, reg->id);
      const char *loc = path ? egw__roles_location(req, path) : NULL;
      r = answer_registration(w->m, x, 201, reg->doc);
      if (r == EGW_DONE &&
          (loc == NULL || egw_response_add_header(egw_exchange_response(x), "Location", loc)))
        r = EGW_FAILED;
    }
    if (r != EGW_DONE) /* out of memory: nothing better to say */
      egw__roles_problem(x, 500, "the response could not be built", "SYSTEM_FAILURE", NULL, 0);
    egw_exchange_finish(x);
  }
  free(w);
}

static struct pending_write *pending_new(struct ecs_registration *m, struct egw_exchange *x,
                                         enum reg_op op) {
  struct pending_write *w = calloc(1, sizeof(*w));
  if (w)
    *w = (struct pending_write){.m = m, .x = x, .op = op};
  return w;
}

/* Starts the write (doc taken; reg NULL for a create) and parks the exchange. */
static enum egw_handler_result start_write(struct ecs_registration *m, struct egw_exchange *x,
                                           enum reg_op op, struct egw_record *reg, json_t *doc,
                                           int64_t exp_s) {
  struct pending_write *w = pending_new(m, x, op);
  char id[EGW_RESOURCE_ID_LEN + 1];
  egw__roles_new_id(id);
  int rc = w == NULL         ? -1
           : op == OP_DELETE ? egw__records_delete(m->table, reg, on_written, w)
                             : egw__records_put(m->table, reg, id, doc, exp_s, on_written, w);
  if (w == NULL)
    json_decref(doc);
  if (rc != 0) {
    free(w);
    return EGW_FAILED;
  }
  egw_exchange_set_abort(x, on_write_abort, w);
  return EGW_AGAIN;
}

/* Reads and checks an EESRegistration body (PUT and POST) or merges a patch into
 * |current| (PATCH). NULL after answering, with *out_result set. */
static json_t *read_registration(struct ecs_registration *m, struct egw_exchange *x,
                                 const json_t *current, const char *who, int64_t *out_exp_s,
                                 enum egw_handler_result *out_result) {
  json_t *body = egw__roles_read_json(
      x, current ? "application/merge-patch+json" : "application/json", out_result);
  if (body == NULL)
    return NULL;
  json_t *doc = body;
  if (current) {
    doc = egw__roles_merge_patch(current, body);
    json_decref(body);
    if (doc == NULL) {
      *out_result = EGW_FAILED;
      return NULL;
    }
  }
  struct egw_param_errors errs = {0};
  if (egw__ecs_check_registration(doc, egw_token_now_s(), egw__ecs_registration_max_s(m->policy),
                                  &errs, out_exp_s) != 0) {
    *out_result = egw__roles_problem_params(x, "the EESRegistration is invalid", &errs);
    json_decref(doc);
    return NULL;
  }
  const char *ees_id = json_string_value(json_object_get(json_object_get(doc, "eesProf"), "eesId"));
  if (strcmp(ees_id, who) != 0) {
    *out_result = identity_mismatch(x);
    json_decref(doc);
    return NULL;
  }
  return doc;
}

static enum egw_handler_result create(struct ecs_registration *m, struct egw_exchange *x,
                                      const char *who) {
  enum egw_handler_result result;
  int64_t exp_s = 0;
  json_t *doc = read_registration(m, x, NULL, who, &exp_s, &result);
  if (doc == NULL)
    return result;
  return start_write(m, x, OP_CREATE, NULL, doc, exp_s);
}

static enum egw_handler_result individual(struct ecs_registration *m, struct egw_exchange *x,
                                          const char *id, const char *who) {
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_record *reg = egw__records_find(m->table, id, egw_token_now_s());
  if (reg == NULL)
    return egw__roles_problem(x, 404, "no such registration", "RESOURCE_NOT_FOUND", NULL, 0);
  if (strcmp(reg->owner, who) != 0)
    return not_owner(x);
  switch (req->method) {
  case EGW_METHOD_GET:
    return answer_registration(m, x, 200, reg->doc);
  case EGW_METHOD_DELETE:
    return start_write(m, x, OP_DELETE, reg, NULL, 0);
  case EGW_METHOD_PUT:
  case EGW_METHOD_PATCH: {
    enum egw_handler_result result;
    int64_t exp_s = 0;
    json_t *doc = read_registration(m, x, req->method == EGW_METHOD_PATCH ? reg->doc : NULL, who,
                                    &exp_s, &result);
    if (doc == NULL)
      return result;
    return start_write(m, x, OP_UPDATE, reg, doc, exp_s);
  }
  default:
    return not_allowed(x, "GET, PUT, PATCH, DELETE");
  }
}

static enum egw_handler_result registration_on_request(void *state, struct egw_exchange *x) {
  struct ecs_registration *m = state;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, DISCOVERY_PATH) == 0)
    return egw__ecs_target_discovery(m->table, m->policy, x);
  const char *id = egw__roles_path_id(req->path, REG_BASE);
  if (id == NULL)
    return EGW_DECLINED;
  const char *who = requester(req);
  if (who == NULL)
    return egw__roles_problem(x, 403, "the EES must authenticate (mutual TLS)", NULL, NULL, 0);
  if (id[0] == '\0')
    return req->method == EGW_METHOD_POST ? create(m, x, who) : not_allowed(x, "POST");
  return individual(m, x, id, who);
}

const struct egw_role_ops egw_role_ecs_registration = {
    .name = "ecs-registration",
    .routes = registration_routes,
    .init = registration_init,
    .start = registration_start,
    .on_request = registration_on_request,
    .stop = registration_stop,
    .dispose = registration_dispose,
};
