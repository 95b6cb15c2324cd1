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
const char *egw__ecs_ees_identity(const struct egw_request *req) {
  return req->peer->id ? req->peer->id : req->token_sub;
}

/* Answers |reg| with the EEC CA certificates beside it (an egw_records_answer_fn). */
static enum egw_handler_result answer_registration(void *arg, struct egw_exchange *x, int status,
                                                   const struct egw_record *reg) {
  struct ecs_registration *m = arg;
  json_t *body = json_copy(reg->doc);
  if (body == NULL || json_object_set(body, "eecCaCerts", m->eec_ca_certs) != 0) {
    json_decref(body);
    return EGW_FAILED;
  }
  enum egw_handler_result r = egw__roles_answer_json(x, status, body);
  json_decref(body);
  return r;
}

static enum egw_handler_result not_owner(struct egw_exchange *x) {
  return egw__roles_problem(x, 403, "the registration belongs to another EES",
                            "REQUESTOR_NOT_OWNER", NULL, 0);
}

/* ---- writes -------------------------------------------------------------------------- */

static void log_write(void *arg, enum egw_record_change change, int status,
                      const struct egw_record *reg) {
  struct egw_log_record rec;
  egw_log_begin(&rec, status == 0 ? EGW_LOG_INFO : EGW_LOG_ERROR,
                status != 0                    ? "ees_registration_write_failed"
                : change == EGW_RECORD_CREATED ? "ees_registered"
                : change == EGW_RECORD_UPDATED ? "ees_registration_updated"
                                               : "ees_deregistered");
  if (reg) {
    egw_log_str(&rec, "registration", reg->id);
    egw_log_str(&rec, "ees", reg->owner);
  }
  if (reg && status == 0 && change != EGW_RECORD_DELETED)
    egw_log_int(&rec, "exp", reg->exp_s);
  egw_log_end(&rec);
}

/* Starts the write (doc taken; reg NULL for a create, doc NULL for a delete) and parks
 * the exchange until it is durable. */
static enum egw_handler_result start_write(struct ecs_registration *m, struct egw_exchange *x,
                                           struct egw_record *reg, json_t *doc, int64_t exp_s) {
  struct egw_records_commit c = {
      .rec = reg,
      .doc = doc,
      .exp_s = exp_s,
      .location_base = REG_BASE,
      .failed = "the registration could not be stored",
      .answer = answer_registration,
      .written = log_write,
      .arg = m,
  };
  return egw__records_commit(m->table, x, &c) == 0 ? EGW_AGAIN : EGW_FAILED;
}

/* Reads and checks an EESRegistration body (PUT and POST) or merges a patch into
 * |current| (PATCH). NULL after answering, with *out_result set. */
static json_t *read_registration(struct ecs_registration *m, struct egw_exchange *x,
                                 const json_t *current, const char *who, int64_t *out_exp_s,
                                 enum egw_handler_result *out_result) {
  json_t *doc = egw__roles_read_doc(x, current, NULL, out_result);
  if (doc == NULL)
    return NULL;
  struct egw_param_errors errs = {0};
  if (egw__ecs_check_registration(doc, egw_token_now_s(), egw__ecs_registration_max_s(m->policy),
                                  &errs, out_exp_s) != 0) {
    *out_result = egw__roles_problem_params(x, "the EESRegistration is invalid", &errs);
    json_decref(doc);
    return NULL;
  }
  const char *ees_id = json_string_value(json_object_get(json_object_get(doc, "eesProf"), "eesId"));
  if (strcmp(ees_id, who) != 0) {
    *out_result = egw__roles_identity_mismatch(
        x, "eesProf.eesId is not the identity the EES authenticated with");
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
  return start_write(m, x, NULL, doc, exp_s);
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
    return answer_registration(m, x, 200, reg);
  case EGW_METHOD_DELETE:
    return start_write(m, x, reg, NULL, 0);
  case EGW_METHOD_PUT:
  case EGW_METHOD_PATCH: {
    enum egw_handler_result result;
    int64_t exp_s = 0;
    json_t *doc = read_registration(m, x, req->method == EGW_METHOD_PATCH ? reg->doc : NULL, who,
                                    &exp_s, &result);
    if (doc == NULL)
      return result;
    return start_write(m, x, reg, doc, exp_s);
  }
  default:
    return egw__roles_not_allowed(x, "GET, PUT, PATCH, DELETE");
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
  const char *who = egw__ecs_ees_identity(req);
  if (who == NULL)
    return egw__roles_problem(x, 403, "the EES must authenticate (mutual TLS)", NULL, NULL, 0);
  if (id[0] == '\0')
    return req->method == EGW_METHOD_POST ? create(m, x, who) : egw__roles_not_allowed(x, "POST");
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
