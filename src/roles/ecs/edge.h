/* The ECS's EDGE modules, private to src/roles/ecs: ecs-registration (EDGE-6 EES
 * registration and target EES discovery), ecs-provisioning (EDGE-4 service provisioning
 * and its subscriptions), and the table of registered EESes they share on a site. */
#ifndef EGW_ROLES_ECS_EDGE_H
#define EGW_ROLES_ECS_EDGE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "core/site.h"
#include "roles/api.h"
#include "roles/records.h"

/* Store kinds (src/store/store.h records). */
#define EGW_ECS_EES_KIND "ecs.ees"
#define EGW_ECS_SUB_KIND "ecs.sub"
/* The name of the shared table (egw_site_shared). */
#define EGW_ECS_EES_TABLE "ecs.ees"
/* Defaults for policy values a site may leave unset (0 / empty). */
#define EGW_ECS_DEFAULT_LIFETIME_S 3600
#define EGW_ECS_DEFAULT_REGISTRATION_MAX_S 86400
#define EGW_ECS_DEFAULT_EEC_SCOPE "eees-eecregistration eees-easdiscovery"
/* EDNConInfo.dnn for EESes whose profile names no ednInfoSets.dnn (project choice). */
#define EGW_ECS_DEFAULT_DNN "edge"

/* ---- the shared EES table (ees_table.c) ---------------------------------------------- */

/* egw__ecs_ees_table returns the site's table of EES registrations (records of kind
 * "ecs.ees": EESRegistration documents owned by eesProf.eesId), creating it and loading
 * the live registrations of the store on first use. Call it from a module's init only.
 * NULL with *out_err (malloc'd) on failure. */
struct egw_records *egw__ecs_ees_table(struct egw_site *site, char **out_err);

/* egw__ecs_reg_owner returns eesProf.eesId of an EESRegistration, or NULL. */
const char *egw__ecs_reg_owner(const json_t *doc);

/* ---- EES profiles, filters, EDN configuration (edn_config.c) ------------------------- */

/* egw__ecs_check_registration validates |doc| as an EESRegistration (TS 29.558) and
 * normalizes it: eesProf.eecRegConf defaults to false, and expTime becomes the expiry
 * granted (the asked expTime capped at |now| + |max_s|, or that cap when absent), also
 * returned in *out_exp_s. Returns 0, or -1 with |errs| filled. */
int egw__ecs_check_registration(json_t *doc, int64_t now, uint32_t max_s,
                                struct egw_param_errors *errs, int64_t *out_exp_s);

/* egw__ecs_check_exp_time checks the optional expTime of |doc| (a date-time after
 * |now|) and sets it to the expiry granted: the asked time capped at |now| + |max_s|, or
 * that cap when absent (also in *out_exp_s). Returns 0, or -1 with |errs| filled. */
int egw__ecs_check_exp_time(json_t *doc, int64_t now, uint32_t max_s, struct egw_param_errors *errs,
                            int64_t *out_exp_s);

/* egw__ecs_check_eec_request checks the members that ECSServProvReq and
 * ECSServProvSubscription share (eecId required; ueId, acProfs, locInf, connInfo,
 * eecSvcContSupp, ecspIds, suppFeat), adding to |errs|. */
void egw__ecs_check_eec_request(const json_t *doc, struct egw_param_errors *errs);

/* egw__ecs_profile_serves_acs: whether EESProfile |prof| serves one of |ac_profs| (an
 * array of ACProfile; NULL or empty: every EES). */
int egw__ecs_profile_serves_acs(const json_t *prof, const json_t *ac_profs);
/* egw__ecs_profile_serves_location: whether |prof| serves a UE at |loc_inf| (a
 * LocationInfo; NULL: anywhere). */
int egw__ecs_profile_serves_location(const json_t *prof, const json_t *loc_inf);
/* egw__ecs_profile_has_eas: whether |prof| lists EAS |eas_id|. */
int egw__ecs_profile_has_eas(const json_t *prof, const char *eas_id);
/* egw__ecs_profile_has_dnai: whether |prof| lists DNAI |dnai| (appLocs, ednInfoSets). */
int egw__ecs_profile_has_dnai(const json_t *prof, const char *dnai);

/* Which registered EESes an EDN configuration lists. Every member may be NULL. */
struct egw_ecs_edn_filter {
  const json_t *ac_profs;  /* ECSServProvReq.acProfs */
  const json_t *loc_inf;   /* ECSServProvReq.locInf */
  const char *eas_id;      /* target EES discovery: eas-id */
  const char *exclude_ees; /* target EES discovery: the S-EES */
  const char *dnai;        /* target EES discovery: target-dnai */
};

/* Adds members to an EESInfo being built (EDGE-4: the eesAccessToken). Returns 0 or -1
 * (the whole build fails). */
typedef int (*egw_ecs_decorate_fn)(void *arg, json_t *ees_info, const char *ees_id);

/* egw__ecs_edn_config builds ednCnfgInfo (an array of EDNConfigInfo, one per DNN, empty
 * when nothing matched) from the live registrations of |t| that pass |f|. EESInfo
 * members: eesId, endPt, easIds, ecspInfo (provId), dnais, eesSvcContSupp, eecRegConf,
 * easInstInfos, eesAuthMethods (ecs.ees_auth), and what |decorate| adds. lifeTime is
 * |now| + ecs.provisioning.lifetime_s. NULL when out of memory or |decorate| failed. */
json_t *egw__ecs_edn_config(const struct egw_records *t, const struct egw_ecs_policy *p,
                            const struct egw_ecs_edn_filter *f, int64_t now,
                            egw_ecs_decorate_fn decorate, void *arg);

/* egw__ecs_auth_methods returns eesAuthMethods for |ees_id| (the first ecs.ees_auth entry
 * naming it or "*"; else [TLS_CLIENT_SERVER_CERTIFICATE]), a new array. */
json_t *egw__ecs_auth_methods(const struct egw_ecs_policy *p, const char *ees_id);

/* egw__ecs_lifetime_s and egw__ecs_registration_max_s: the policy value or its default.
 * egw__ecs_eec_scope: ecs.provisioning.eec_scopes joined by spaces (malloc'd) or the
 * default; NULL when out of memory. */
uint32_t egw__ecs_lifetime_s(const struct egw_ecs_policy *p);
uint32_t egw__ecs_registration_max_s(const struct egw_ecs_policy *p);
char *egw__ecs_eec_scope(const struct egw_ecs_policy *p);

/* ---- subscriptions (subscriptions.c) ------------------------------------------------- */

struct egw_ecs_subs;

/* egw__ecs_subs_new loads the live subscriptions (kind "ecs.sub") of the site's store;
 * NULL with *out_err on failure. egw__ecs_subs_free accepts NULL. */
struct egw_ecs_subs *egw__ecs_subs_new(struct egw_site *site, struct egw_records *table,
                                       char **out_err);
void egw__ecs_subs_free(struct egw_ecs_subs *s);
/* egw__ecs_subs_start creates the HTTPS client for notifications and the purge timer;
 * egw__ecs_subs_stop cancels notifications in flight and closes both. */
int egw__ecs_subs_start(struct egw_ecs_subs *s, uv_loop_t *loop);
void egw__ecs_subs_stop(struct egw_ecs_subs *s);
/* egw__ecs_subs_request serves /eecs-serviceprovisioning/v1/subscriptions[/{id}]. */
enum egw_handler_result egw__ecs_subs_request(struct egw_ecs_subs *s, struct egw_exchange *x);

/* ---- who is asking (registration.c, provisioning.c) ---------------------------------- */

/* egw__ecs_ees_identity returns the identity an EES authenticated with (certificate or
 * PSK identity, else the accepted token's sub), or NULL when anonymous. */
const char *egw__ecs_ees_identity(const struct egw_request *req);

/* egw__ecs_eec_identity returns the identity the EEC authenticated with (certificate or
 * PSK identity, else the accepted token's eecId claim or sub), or NULL when anonymous. */
const char *egw__ecs_eec_identity(const struct egw_request *req);

/* ---- target EES discovery (target_discovery.c) --------------------------------------- */

/* egw__ecs_target_discovery serves GET /eecs-targeteesdiscovery/v1/ees-profiles. */
enum egw_handler_result egw__ecs_target_discovery(struct egw_records *t,
                                                  const struct egw_ecs_policy *p,
                                                  struct egw_exchange *x);

/* KECS-PSK counters (kecs_provider.c), shared by ecs-kecs, the kecs provider and
 * ecs-provisioning. egw__ecs_kecs_counters returns the site's table (call it from init
 * only; NULL with *out_err when out of memory). egw__ecs_kecs_issue issues a counter to
 * |eec_id| (which the caller has seen proven by a certificate), valid for
 * ecs.provisioning.lifetime_s; -1 when the eecId is too long (> 96 bytes). */
struct egw__kecs_counters;
struct egw__kecs_counters *egw__ecs_kecs_counters(struct egw_site *site, char **out_err);
int egw__ecs_kecs_issue(struct egw__kecs_counters *c, const struct egw_ecs_policy *ecs,
                        const char *eec_id, uint32_t *out_counter);

#endif
