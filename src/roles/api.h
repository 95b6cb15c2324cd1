/* Helpers for the 3GPP JSON APIs that role modules serve (TS 29.558, TS 24.558), shared by
 * the ECS, EES and EAS modules: ProblemDetails with invalidParams, reading a JSON body,
 * JSON responses, RFC 7396 merge patch, DateTime, resource ids, query parameters and the
 * Location of a created resource. */
#ifndef EGW_ROLES_API_H
#define EGW_ROLES_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "edgegw/role.h"

/* ---- ProblemDetails ------------------------------------------------------------------ */

/* One member of ProblemDetails.invalidParams (TS 29.122 InvalidParam): |param| is the
 * attribute as a JSON pointer ("/eesProf/eesId") or a query parameter's name. Both
 * strings are borrowed (static strings in practice). */
struct egw_invalid_param {
  const char *param;
  const char *reason;
};

/* egw_param_errors collects what is wrong with a request body; the first |cause|
 * ("MANDATORY_IE_MISSING", ...) becomes ProblemDetails.cause. Further errors past
 * EGW_PARAM_ERRORS_MAX are dropped. */
#define EGW_PARAM_ERRORS_MAX 8
struct egw_param_errors {
  struct egw_invalid_param items[EGW_PARAM_ERRORS_MAX];
  size_t n;
  const char *cause;
};

/* egw__roles_param_error records one invalid parameter in |errs|. */
void egw__roles_param_error(struct egw_param_errors *errs, const char *param, const char *reason,
                            const char *cause);

/* egw__roles_string_member returns |obj|'s member |name| when it is a string of 1 to
 * |max_len| bytes without a NUL; otherwise NULL, with the error recorded in |errs| at
 * JSON pointer |pointer|: MANDATORY_IE_MISSING when it is absent, else
 * MANDATORY_IE_INCORRECT with |reason|. */
const char *egw__roles_string_member(const json_t *obj, const char *name, const char *pointer,
                                     size_t max_len, const char *reason,
                                     struct egw_param_errors *errs);

/* egw__roles_problem answers |x| with an RFC 7807 ProblemDetails body
 * (application/problem+json: title, status, detail, cause, invalidParams); |detail| and
 * |cause| may be NULL, |params| may be empty. Returns EGW_DONE, or EGW_FAILED when out of
 * memory. */
enum egw_handler_result egw__roles_problem(struct egw_exchange *x, int status, const char *detail,
                                           const char *cause,
                                           const struct egw_invalid_param *params, size_t n_params);

/* egw__roles_problem_params answers 400 with the errors of |errs| (at least one). */
enum egw_handler_result egw__roles_problem_params(struct egw_exchange *x, const char *detail,
                                                  const struct egw_param_errors *errs);

/* egw__roles_not_allowed answers 405 ProblemDetails with "Allow: |allow|". */
enum egw_handler_result egw__roles_not_allowed(struct egw_exchange *x, const char *allow);

/* egw__roles_identity_mismatch answers 403 ProblemDetails with cause IDENTITY_MISMATCH:
 * the requester is not the identity the request names. */
enum egw_handler_result egw__roles_identity_mismatch(struct egw_exchange *x, const char *detail);

/* ---- bodies -------------------------------------------------------------------------- */

/* egw__roles_read_json parses the body of |x| as a JSON object. The request's
 * Content-Type must be |media_type| ("application/json", "application/merge-patch+json";
 * parameters such as charset are ignored), else it answers 415; an empty body, broken
 * JSON or a value that is not an object is answered 400 with invalidParams. Returns the
 * object (a new reference), or NULL after answering, with *out_result what on_request
 * should return. */
json_t *egw__roles_read_json(struct egw_exchange *x, const char *media_type,
                             enum egw_handler_result *out_result);

/* egw__roles_read_doc reads the document a request makes of a resource: for a POST or
 * PUT (|current| NULL) its application/json body; for a PATCH its
 * application/merge-patch+json body applied to |current| (RFC 7396). Returns it (a new
 * reference), or NULL with *out_result what on_request should return (415 or 400
 * answered, or EGW_FAILED). |out_patch|, when not NULL, receives the patch itself (a new
 * reference; NULL for POST and PUT). */
json_t *egw__roles_read_doc(struct egw_exchange *x, const json_t *current, json_t **out_patch,
                            enum egw_handler_result *out_result);

/* egw__roles_answer_json answers |x| with |body| serialized (application/json) and
 * status |status|; |body| is borrowed. Returns EGW_DONE or EGW_FAILED. */
enum egw_handler_result egw__roles_answer_json(struct egw_exchange *x, int status,
                                               const json_t *body);

/* egw__roles_merge_patch returns the result of applying the JSON merge patch |patch| to
 * |target| (RFC 7396 section 2), as a new value; neither input is changed. A patch that
 * is not an object replaces the target. NULL when out of memory. */
json_t *egw__roles_merge_patch(const json_t *target, const json_t *patch);

/* ---- DateTime, ids, URLs ------------------------------------------------------------- */

/* egw__roles_datetime_parse reads an RFC 3339 date-time ("2025-01-31T12:00:00Z",
 * fractions and "+01:00" offsets allowed) into seconds since the epoch (fractions
 * dropped). Returns 0, or -1 when |s| is not one. */
int egw__roles_datetime_parse(const char *s, int64_t *out_s);

#define EGW_DATETIME_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */
/* egw__roles_datetime_format writes |t| as "YYYY-MM-DDTHH:MM:SSZ" and a NUL into |out|. */
void egw__roles_datetime_format(int64_t t, char out[EGW_DATETIME_LEN + 1]);

#define EGW_RESOURCE_ID_LEN 22 /* base64url of 16 random bytes */
/* egw__roles_new_id writes a fresh, unguessable resource id (16 random bytes, base64url)
 * and a NUL into |out|. */
void egw__roles_new_id(char out[EGW_RESOURCE_ID_LEN + 1]);

/* egw__roles_path_id matches the request path |path| against the collection |base|
 * ("/eecs-eesregistration/v1/registrations"): returns "" for the collection itself, the
 * id for "|base|/<id>" (one non-empty segment), or NULL for anything else. The id points
 * into |path|. */
const char *egw__roles_path_id(const char *path, const char *base);

/* egw__roles_query_get returns the decoded value of query parameter |name| of |req|
 * (arena memory; the first occurrence), or NULL when absent. *out_bad is set when the
 * query string is malformed (bad percent-encoding, NUL). */
const char *egw__roles_query_get(const struct egw_request *req, const char *name, int *out_bad);

/* egw__roles_scope_join returns the |n| scopes of |scopes| joined by spaces (an OAuth
 * 2.0 scope string), or a copy of |dflt| when |n| is 0; malloc'd, NULL when out of
 * memory. */
char *egw__roles_scope_join(char *const *scopes, size_t n, const char *dflt);

/* egw__roles_location returns the absolute URI of the resource at |path| on this server
 * ("https://<Host>/<path>"), or |path| itself when the request had no Host; arena memory
 * of |req|, NULL when out of memory. */
const char *egw__roles_location(const struct egw_request *req, const char *path);

#endif
