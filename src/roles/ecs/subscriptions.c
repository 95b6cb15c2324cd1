/* EDGE-4 service provisioning subscriptions (TS 24.558 Eecs_ServiceProvisioning
 * /subscriptions): create, read, replace, merge-patch, delete, persisted as records of
 * kind "ecs.sub" (owner: eecId). When the table of registered EESes changes, every live
 * subscription whose acProfs the changed EES served (before or after the change) is sent
 * a ServProvNotification {subId, ednCnfgInfo} by POST to its notificationDestination
 * over HTTPS (verified against the site's trust store, with ecs.client when set).
 * Failures are logged and never block anything.
 *
 * Project choices: notificationDestination is required and must be https:// (the ECS
 * has no other way to notify; websockNotifConfig is not supported). Notifications carry
 * no access tokens: they go to a URL the subscriber named, and the EEC gets tokens from
 * POST /request. A change that leaves nothing to announce sends no notification
 * (ednCnfgInfo must have at least one entry). expTime is capped like EES registrations
 * (ecs.registration.max_s) and set to the cap when absent. Who may touch a subscription:
 * an EEC that authenticated (certificate, or token) must be its eecId; on an anonymous
 * listener the unguessable subscription id is the only credential. */
#include <stdlib.h>
#include <string.h>

#include "auth/token_verify.h"
#include "http/client.h"
#include "keys/truststore.h"
#include "roles/ecs/edge.h"
#include "util/arena.h"
#include "util/errors.h"
#include "util/format.h"
#include "util/log.h"

#define SUBS_BASE "/eecs-serviceprovisioning/v1/subscriptions"

struct egw_ecs_subs {
  struct egw_site *site;
  const struct egw_ecs_policy *policy;
  struct egw_records *ees; /* the EES table, observed */
  struct egw_records subs;
  struct egw_http_client *http; /* NULL before start, after stop, or without a trust store */
};

static const char *sub_owner(const json_t *doc) {
  const char *id = json_string_value(json_object_get(doc, "eecId"));
  return id && id[0] ? id : NULL;
}

/* ---- notifications ------------------------------------------------------------------- */

struct notification {
  char *sub_id;
};

static void on_notified(void *arg, const struct egw_http_client_response *resp) {
  struct notification *n = arg;
  int ok = resp->status >= 200 && resp->status < 300;
  struct egw_log_record rec;
  egw_log_begin(&rec, ok ? EGW_LOG_INFO : EGW_LOG_WARN, "ecs_notification");
  egw_log_str(&rec, "subscription", n->sub_id);
  egw_log_int(&rec, "status", resp->status);
  if (resp->error)
    egw_log_str(&rec, "error", resp->error);
  egw_log_end(&rec);
  free(n->sub_id);
  free(n);
}

static void log_not_sent(const char *sub_id, const char *why) {
  struct egw_log_record rec;
  egw_log_begin(&rec, EGW_LOG_WARN, "ecs_notification_not_sent");
  egw_log_str(&rec, "subscription", sub_id);
  egw_log_str(&rec, "reason", why);
  egw_log_end(&rec);
}

/* Sends |sub| the EDN configuration it would be provisioned with now. */
static void notify_sub(struct egw_ecs_subs *s, const struct egw_record *sub) {
  if (s->http == NULL) {
    log_not_sent(sub->id, "no HTTPS client (not running, or no site trust store)");
    return;
  }
  struct egw_ecs_edn_filter f = {.ac_profs = json_object_get(sub->doc, "acProfs")};
  json_t *edn = egw__ecs_edn_config(s->ees, s->policy, &f, egw_token_now_s(), NULL, NULL);
  if (edn && json_array_size(edn) == 0) {
    json_decref(edn);
    log_not_sent(sub->id, "no registered EES serves the subscription");
    return;
  }
  json_t *body = edn ? json_pack("{s:s, s:o}", "subId", sub->id, "ednCnfgInfo", edn) : NULL;
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  struct notification *n = text ? calloc(1, sizeof(*n)) : NULL;
  if (n)
    n->sub_id = strdup(sub->id);
  static const struct egw_header accept = {.name = "Accept", .value = "application/json"};
  struct egw_http_client_request req = {
      .method = "POST",
      .url = json_string_value(json_object_get(sub->doc, "notificationDestination")),
      .headers = &accept,
      .n_headers = 1,
      .body = text,
      .body_len = text ? strlen(text) : 0,
      .content_type = "application/json",
  };
  if (n == NULL || n->sub_id == NULL) {
    log_not_sent(sub->id, "out of memory");
  } else {
    int rc = egw_http_client_request(s->http, &req, on_notified, n, NULL);
    if (rc == 0)
      n = NULL; /* on_notified frees it */
    else
      log_not_sent(sub->id, egw_strerror(rc));
  }
  if (n)
    free(n->sub_id);
  free(n);
  free(text);
}

static void on_ees_change(void *arg, enum egw_record_change change, const struct egw_record *rec,
                          const json_t *before) {
  struct egw_ecs_subs *s = arg;
  int gone = change == EGW_RECORD_DELETED || change == EGW_RECORD_EXPIRED;
  const json_t *prof_after = gone ? NULL : json_object_get(rec->doc, "eesProf");
  const json_t *prof_before =
      gone ? json_object_get(rec->doc, "eesProf") : json_object_get(before, "eesProf");
  int64_t now = egw_token_now_s();
  for (const struct egw_record *sub = s->subs.head; sub; sub = sub->next) {
    if (!egw__record_live(sub, now))
      continue;
    const json_t *acs = json_object_get(sub->doc, "acProfs");
    if ((prof_before && egw__ecs_profile_serves_acs(prof_before, acs)) ||
        (prof_after && egw__ecs_profile_serves_acs(prof_after, acs)))
      notify_sub(s, sub);
  }
}

/* ---- lifetime ------------------------------------------------------------------------ */

struct egw_ecs_subs *egw__ecs_subs_new(struct egw_site *site, struct egw_records *ees,
                                       char **out_err) {
  struct egw_ecs_subs *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    *out_err = egw_format("out of memory");
    return NULL;
  }
  s->site = site;
  s->policy = site->policy->ecs;
  s->ees = ees;
  if (egw__records_init(&s->subs, site, EGW_ECS_SUB_KIND, sub_owner, out_err) != 0 ||
      egw__records_observe(ees, on_ees_change, s) != 0) {
    if (*out_err == NULL)
      *out_err = egw_format("too many observers of the EES table");
    egw__records_cleanup(&s->subs);
    free(s);
    return NULL;
  }
  return s;
}

void egw__ecs_subs_free(struct egw_ecs_subs *s) {
  if (s == NULL)
    return;
  egw__records_cleanup(&s->subs);
  free(s);
}

int egw__ecs_subs_start(struct egw_ecs_subs *s, uv_loop_t *loop) {
  if (s->site->trust == NULL) {
    egw_log_msg(EGW_LOG_WARN, "ecs_notifications_disabled",
                "the site has no trust store (site.trust.ca) to verify notification targets");
  } else {
    struct egw_http_client_config cfg = {
        .trust = egw_truststore_get0_store(s->site->trust),
        .client_cert_file = s->policy->client_cert,
        .client_key_file = s->policy->client_key,
    };
    char *err = NULL;
    s->http = egw_http_client_new(loop, &cfg, &err);
    if (s->http == NULL) {
      egw_log_msg(EGW_LOG_ERROR, "ecs_provisioning_start_failed", "%s",
                  err ? err : "out of memory");
      free(err);
      return -1;
    }
  }
  return egw__records_start(&s->subs, loop);
}

void egw__ecs_subs_stop(struct egw_ecs_subs *s) {
  struct egw_http_client *http = s->http;
  s->http = NULL; /* the observer sends nothing more */
  egw_http_client_free(http);
  egw__records_stop(&s->subs);
}

/* ---- requests ------------------------------------------------------------------------ */

static void on_sub_written(void *arg, enum egw_record_change change, int status,
                           const struct egw_record *rec) {
  struct egw_log_record lr;
  egw_log_begin(&lr, status == 0 ? EGW_LOG_INFO : EGW_LOG_ERROR,
                status != 0                    ? "ecs_subscription_write_failed"
                : change == EGW_RECORD_CREATED ? "ecs_subscribed"
                : change == EGW_RECORD_UPDATED ? "ecs_subscription_updated"
                                               : "ecs_unsubscribed");
  if (rec) {
    egw_log_str(&lr, "subscription", rec->id);
    egw_log_str(&lr, "eec", rec->owner);
  }
  egw_log_end(&lr);
  /* TS 24.558: requestTestNotification asks for a notification right away. */
  if (status == 0 && rec && change == EGW_RECORD_CREATED &&
      json_is_true(json_object_get(rec->doc, "requestTestNotification")))
    notify_sub(arg, rec);
}

/* Starts the write (doc taken; rec NULL for a create, doc NULL for a delete) and parks
 * the exchange until it is durable. */
static enum egw_handler_result start_sub_write(struct egw_ecs_subs *s, struct egw_exchange *x,
                                               struct egw_record *rec, json_t *doc, int64_t exp_s) {
  struct egw_records_commit c = {
      .rec = rec,
      .doc = doc,
      .exp_s = exp_s,
      .location_base = SUBS_BASE,
      .failed = "the subscription could not be stored",
      .written = on_sub_written,
      .arg = s,
  };
  return egw__records_commit(&s->subs, x, &c) == 0 ? EGW_AGAIN : EGW_FAILED;
}

static void check_subscription(json_t *doc, struct egw_param_errors *errs) {
  egw__ecs_check_eec_request(doc, errs);
  const json_t *dest = json_object_get(doc, "notificationDestination");
  if (dest == NULL)
    egw__roles_param_error(errs, "/notificationDestination", "is required (https:// URI)",
                           "MANDATORY_IE_MISSING");
  else if (!json_is_string(dest) || strncmp(json_string_value(dest), "https://", 8) != 0)
    egw__roles_param_error(errs, "/notificationDestination", "must be an https:// URI",
                           "MANDATORY_IE_INCORRECT");
  static const char *const bools[][2] = {{"requestTestNotification", "/requestTestNotification"},
                                         {"eecTriggerRequest", "/eecTriggerRequest"}};
  for (size_t i = 0; i < 2; i++) {
    const json_t *v = json_object_get(doc, bools[i][0]);
    if (v && !json_is_boolean(v))
      egw__roles_param_error(errs, bools[i][1], "must be a boolean", "OPTIONAL_IE_INCORRECT");
  }
  if (json_object_get(doc, "websockNotifConfig"))
    egw__roles_param_error(errs, "/websockNotifConfig", "websocket notifications are not offered",
                           "OPTIONAL_IE_INCORRECT");
}

/* ECSServProvSubscriptionPatch names the members a PATCH may change. */
static void check_patch_members(const struct egw_request *req, const json_t *patch,
                                struct egw_param_errors *errs) {
  static const char *const allowed[] = {"acProfs", "expTime", "eecSvcContSupp", "connInfo"};
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)patch, key, v) {
    int ok = 0;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
      ok |= strcmp(key, allowed[i]) == 0;
    if (!ok)
      egw__roles_param_error(errs, egw_arena_sprintf(req->arena, "/%s", key),
                             "is not modifiable by PATCH", "OPTIONAL_IE_INCORRECT");
  }
}

/* Reads and checks a subscription (POST, PUT) or merges a patch into |cur| (PATCH). NULL
 * after answering, with *out_result set. */
static json_t *read_sub(struct egw_ecs_subs *s, struct egw_exchange *x,
                        const struct egw_record *cur, int patch, int64_t *out_exp_s,
                        enum egw_handler_result *out_result) {
  const struct egw_request *req = egw_exchange_request(x);
  json_t *patch_body = NULL;
  json_t *doc = egw__roles_read_doc(x, patch ? cur->doc : NULL, &patch_body, out_result);
  if (doc == NULL)
    return NULL;
  struct egw_param_errors errs = {0};
  if (patch_body)
    check_patch_members(req, patch_body, &errs);
  json_decref(patch_body);
  check_subscription(doc, &errs);
  if (errs.n == 0)
    egw__ecs_check_exp_time(doc, egw_token_now_s(), egw__ecs_registration_max_s(s->policy), &errs,
                            out_exp_s);
  const char *eec_id = sub_owner(doc);
  if (errs.n == 0 && cur && strcmp(eec_id, cur->owner) != 0)
    egw__roles_param_error(&errs, "/eecId", "cannot change", "MANDATORY_IE_INCORRECT");
  if (errs.n > 0) {
    *out_result = egw__roles_problem_params(x, "the ECSServProvSubscription is invalid", &errs);
    json_decref(doc);
    return NULL;
  }
  const char *who = egw__ecs_eec_identity(req);
  if (who && strcmp(who, eec_id) != 0) {
    *out_result =
        egw__roles_identity_mismatch(x, "eecId is not the identity the EEC authenticated with");
    json_decref(doc);
    return NULL;
  }
  return doc;
}

enum egw_handler_result egw__ecs_subs_request(struct egw_ecs_subs *s, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  const char *id = egw__roles_path_id(req->path, SUBS_BASE);
  if (id == NULL)
    return EGW_DECLINED;
  enum egw_handler_result result;
  int64_t exp_s = 0;
  if (id[0] == '\0') {
    if (req->method != EGW_METHOD_POST)
      return egw__roles_not_allowed(x, "POST");
    json_t *doc = read_sub(s, x, NULL, 0, &exp_s, &result);
    return doc ? start_sub_write(s, x, NULL, doc, exp_s) : result;
  }
  struct egw_record *rec = egw__records_find(&s->subs, id, egw_token_now_s());
  if (rec == NULL)
    return egw__roles_problem(x, 404, "no such subscription", "RESOURCE_NOT_FOUND", NULL, 0);
  const char *who = egw__ecs_eec_identity(req);
  if (who && strcmp(who, rec->owner) != 0)
    return egw__roles_problem(x, 403, "the subscription belongs to another EEC",
                              "REQUESTOR_NOT_OWNER", NULL, 0);
  switch (req->method) {
  case EGW_METHOD_GET:
    return egw__roles_answer_json(x, 200, rec->doc);
  case EGW_METHOD_DELETE:
    return start_sub_write(s, x, rec, NULL, 0);
  case EGW_METHOD_PUT:
  case EGW_METHOD_PATCH: {
    json_t *doc = read_sub(s, x, rec, req->method == EGW_METHOD_PATCH, &exp_s, &result);
    return doc ? start_sub_write(s, x, rec, doc, exp_s) : result;
  }
  default:
    return egw__roles_not_allowed(x, "GET, PUT, PATCH, DELETE");
  }
}
