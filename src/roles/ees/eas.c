/* Module ees-eas, EDGE-3 (TS29558_Eees_EASRegistration.yaml): EAS registration create,
 * read, replace, merge-patch and delete over mutual TLS. The EAS's certificate identity
 * must be the easProf.easId it registers (403 otherwise), and only that EAS may read or
 * change the registration afterwards. A new registration of an easId replaces the older
 * one of the same EAS (an EAS that restarted does not know its old registration id).
 * Answers are sent once the change is durable; the set of registered EASes is what this
 * EES announces to its ECS (ecs_reg.c). */
#include <stdlib.h>
#include <string.h>

#include "roles/ees/internal.h"

static const struct egw_route eas_routes[] = {
    {.methods =
         EGW_METHOD_POST | EGW_METHOD_GET | EGW_METHOD_PUT | EGW_METHOD_PATCH | EGW_METHOD_DELETE,
     .prefix = EGW__EES_EAS_BASE},
    {.prefix = NULL},
};

static const char *eas_id_of(const json_t *doc) {
  return json_string_value(json_object_get(json_object_get(doc, "easProf"), "easId"));
}

/* peer_is: the TLS peer is EAS |eas_id|. */
static int peer_is(const struct egw_request *req, const char *eas_id) {
  return req->peer->id != NULL && eas_id != NULL && strcmp(req->peer->id, eas_id) == 0;
}

/* store writes |doc| (taken) with expTime as granted, over |rec| (NULL: a new record,
 * answered 201 with its Location), and answers once durable. */
static enum egw_handler_result store(struct egw__ees *e, struct egw_exchange *x,
                                     struct egw_record *rec, json_t *doc, int64_t exp_s) {
  if (json_object_set_new(doc, "expTime", egw__ees_time(exp_s)) != 0) {
    json_decref(doc);
    return EGW_FAILED;
  }
  struct egw_records_commit c = {
      .rec = rec, .doc = doc, .exp_s = exp_s, .location_base = EGW__EES_EAS_BASE};
  return egw__ees_commit(e, EGW__EES_EAS, x, &c);
}

static void on_superseded(void *arg, int status, const struct egw_record *rec) {}

/* supersede deletes the older registrations of |eas_id| (nobody waits for it). */
static void supersede(struct egw__ees *e, const char *eas_id) {
  int64_t now = egw__ees_now_s();
  for (struct egw_record *r = e->tables[EGW__EES_EAS].head; r; r = r->next) {
    if (egw__record_live(r, now) && strcmp(r->owner, eas_id) == 0)
      egw__records_delete(&e->tables[EGW__EES_EAS], r, on_superseded, NULL);
  }
}

static enum egw_handler_result create(struct egw__ees *e, struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  enum egw_handler_result r;
  int64_t exp_s;
  json_t *body = egw__ees_read_registration(e, x, egw__ees_check_eas_registration, &exp_s, &r);
  if (body == NULL)
    return r;
  if (!peer_is(req, eas_id_of(body))) {
    json_decref(body);
    return egw__roles_identity_mismatch(
        x, "easProf.easId is not the identity of the client certificate");
  }
  /* An EAS that restarted does not know its old registration: the new one replaces it
   * (the deletes are queued before the new write, so they are durable first). */
  supersede(e, eas_id_of(body));
  return store(e, x, NULL, body, exp_s);
}

/* owned finds registration |id| and checks that the TLS peer is its EAS. */
static struct egw_record *owned(struct egw__ees *e, struct egw_exchange *x, const char *id,
                                enum egw_handler_result *out) {
  struct egw_record *rec = egw__ees_find(e, EGW__EES_EAS, id);
  if (rec == NULL) {
    *out = egw__ees_problem(x, 404, "no EAS registration with this id", "RESOURCE_NOT_FOUND");
    return NULL;
  }
  if (!peer_is(egw_exchange_request(x), rec->owner)) {
    *out = egw__roles_identity_mismatch(x, "the registration belongs to another EAS");
    return NULL;
  }
  return rec;
}

static enum egw_handler_result replace(struct egw__ees *e, struct egw_exchange *x, const char *id,
                                       int is_patch) {
  enum egw_handler_result r;
  json_t *body =
      egw__roles_read_json(x, is_patch ? "application/merge-patch+json" : "application/json", &r);
  if (body == NULL)
    return r;
  json_t *doc = NULL;
  struct egw__ees_invalid inv;
  struct egw_record *rec = owned(e, x, id, &r);
  if (rec == NULL)
    goto end;
  int64_t exp_s = rec->exp_s;
  json_t *exp_time = json_object_get(body, "expTime");
  if (is_patch && egw__ees_check_eas_registration_patch(body, &inv) != 0)
    goto bad;
  /* PUT: expTime absent asks for the longest; PATCH: absent keeps it, null resets it. */
  if ((!is_patch || exp_time) &&
      egw__ees_grant_exp(exp_time, egw__ees_now_s(), e->policy->eec_registration_max_s, &exp_s,
                         &inv) != 0)
    goto bad;
  doc = is_patch ? egw__roles_merge_patch(rec->doc, body) : json_incref(body);
  if (doc == NULL) {
    r = EGW_FAILED;
    goto end;
  }
  if (egw__ees_check_eas_registration(doc, &inv) != 0)
    goto bad;
  if (strcmp(eas_id_of(doc), rec->owner) != 0) {
    r = egw__roles_identity_mismatch(x, "easProf.easId cannot change");
    goto end;
  }
  r = store(e, x, rec, doc, exp_s);
  doc = NULL;
  goto end;
bad:
  r = egw__ees_bad_request(x, &inv);
end:
  json_decref(doc);
  json_decref(body);
  return r;
}

static enum egw_handler_result eas_on_request(void *state, struct egw_exchange *x) {
  struct egw__ees *e = state;
  const struct egw_request *req = egw_exchange_request(x);
  const char *id = egw__roles_path_id(req->path, EGW__EES_EAS_BASE);
  if (id == NULL)
    return egw__ees_problem(x, 404, "no resource at this path", NULL);
  if (id[0] == '\0')
    return req->method == EGW_METHOD_POST ? create(e, x) : egw__roles_not_allowed(x, "POST");
  enum egw_handler_result r;
  switch (req->method) {
  case EGW_METHOD_GET: {
    struct egw_record *rec = owned(e, x, id, &r);
    return rec ? egw__roles_answer_json(x, 200, rec->doc) : r;
  }
  case EGW_METHOD_PUT:
    return replace(e, x, id, 0);
  case EGW_METHOD_PATCH:
    return replace(e, x, id, 1);
  case EGW_METHOD_DELETE: {
    struct egw_record *rec = owned(e, x, id, &r);
    if (rec == NULL)
      return r;
    struct egw_records_commit c = {.rec = rec};
    return egw__ees_commit(e, EGW__EES_EAS, x, &c);
  }
  default:
    return egw__roles_not_allowed(x, "GET, PUT, PATCH, DELETE");
  }
}

const struct egw_role_ops egw_role_ees_eas = {
    .name = "ees-eas",
    .routes = eas_routes,
    .init = egw__ees_module_init,
    .start = egw__ees_module_start,
    .on_request = eas_on_request,
    .stop = egw__ees_module_stop,
};
