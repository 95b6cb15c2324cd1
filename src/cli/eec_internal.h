/* The edge enabler client (edgegw eec): what its files share.
 *
 *   eec.c        the command line: options, usage, the loop and the HTTPS client
 *   eec_flow.c   the steps (provision, register, discover, eas-call, deregister) as a plan
 *                run on the loop, with token refresh on 401
 *   eec_msgs.c   request bodies (TS 24.558 shapes) and what is taken from the answers
 *   eec_print.c  one line per step, readable or JSON, tokens redacted */
#ifndef EGW_CLI_EEC_INTERNAL_H
#define EGW_CLI_EEC_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <uv.h>

#include "http/client.h"

/* What the user asked for. */
enum egw__eec_command {
  EGW__EEC_DEMO,
  EGW__EEC_PROVISION,
  EGW__EEC_REGISTER,
  EGW__EEC_DISCOVER,
  EGW__EEC_CALL,
  EGW__EEC_DEREGISTER,
};

/* egw__eec_options are the command-line options; every string is borrowed from argv or
 * static. */
struct egw__eec_options {
  enum egw__eec_command command;
  int json;
  const char *ecs_url; /* EDGE-4 base URL */
  const char *eec_id;
  const char *cert_file, *key_file, *ca_file;
  const char *ees_id;       /* pick this EESInfo rather than the first */
  const char *eas_id;       /* ask for (and pick) this EAS */
  const char *path;         /* the EAS request path */
  const char *registration; /* deregister: the registration's URL */
  uint32_t timeout_ms;
  uint32_t max_wait_s; /* demo: longest wait for the EAS token to expire */
  /* --auth psk (eec_psk.c): the TLS-PSK proposal instead of the EEC certificate. */
  int auth_psk;
  const char *supi, *kausf_hex, *rid;
  const char *psk_url; /* the PSK listener's base URL */
  /* --auth kecs (eec_psk.c): KECS-PSK; the counter is asked for over mutual TLS. */
  int auth_kecs;
  const char *msk_hex; /* the MSK of the secondary authentication, 32 to 64 bytes */
};

/* egw__eec_grant is what an answer hands the EEC for the next server: its id, its base
 * URL, and the access token for it (NULL when none was given). Owned strings. */
struct egw__eec_grant {
  char *id;
  char *url;
  char *token;
  long expires_in; /* seconds; -1 when not said */
};

/* egw__eec_grant_cleanup frees the strings of |g| and zeroes it. */
void egw__eec_grant_cleanup(struct egw__eec_grant *g);

/* Request bodies. Each returns a new JSON object, or NULL when out of memory.
 * egw__eec_provision_req: ECSServProvReq. egw__eec_registration_req: EECRegistration
 * with expTime |now_s| + 1 hour. egw__eec_discovery_req: EasDiscoveryReq. */
json_t *egw__eec_provision_req(const struct egw__eec_options *o);
json_t *egw__eec_registration_req(const struct egw__eec_options *o, int64_t now_s);
json_t *egw__eec_discovery_req(const struct egw__eec_options *o);

/* egw__eec_pick_ees fills |out| from the first EESInfo of an ECSServProvResp (the one
 * whose eesId is |want_id| when that is not NULL): eesId, endPt, eesAccessToken. On
 * failure returns -1 and sets *out_why (static text). egw__eec_pick_eas does the same
 * with the first DiscoveredEas of an EasDiscoveryResp: eas.easId, eas.endPt,
 * easAccessToken. */
int egw__eec_pick_ees(const json_t *resp, const char *want_id, struct egw__eec_grant *out,
                      const char **out_why);
int egw__eec_pick_eas(const json_t *resp, const char *want_id, struct egw__eec_grant *out,
                      const char **out_why);

/* egw__eec_join returns |base| (a URL) followed by |path| with exactly one '/' between
 * them; malloc'd, NULL when out of memory. */
char *egw__eec_join(const char *base, const char *path);
/* egw__eec_resolve returns |location| (a Location header) resolved against the URL of
 * the request that got it (RFC 3986 5.2, for absolute URLs, absolute paths and relative
 * paths); malloc'd. */
char *egw__eec_resolve(const char *request_url, const char *location);

/* egw__eec_step_report is one finished step, as printed. */
struct egw__eec_step_report {
  const char *step;
  const char *method;
  const char *url;
  int status;           /* 0 when no response arrived */
  const char *error;    /* why no response arrived, or NULL */
  const json_t *body;   /* borrowed: the answer's JSON, a string, or NULL */
  int expected;         /* the status this step expected */
  int ok;               /* the step went as expected */
  const char *note;     /* readable mode: what was learned (tokens redacted), or NULL */
  const char *location; /* the registration's URL (register), or NULL */
};

/* egw__eec_print_step prints |r| to |out|: one JSON line {"step","status","body"} (plus
 * "error", "location" when set) with every "access_token" value replaced by
 * "<redacted>", or readable lines. */
void egw__eec_print_step(FILE *out, int json, const struct egw__eec_step_report *r);

/* egw__eec_redact returns a deep copy of |body| in which every member named
 * "access_token" has the value "<redacted>"; NULL for NULL. */
json_t *egw__eec_redact(const json_t *body);

/* egw__eec_token_hint writes a redacted form of |token| ("eyJhbGciOi...(412 chars)")
 * into |buf|. */
void egw__eec_token_hint(const char *token, char *buf, size_t size);

/* egw__eec_run runs the plan of |o->command| on |loop| with |http| (which it frees at the
 * end) and returns the exit code: 0 when every step answered as expected, else 1. */
int egw__eec_run(uv_loop_t *loop, struct egw_http_client *http, const struct egw__eec_options *o);

/* egw__eec_psk_run runs the --auth psk plan (eec_psk.c): psk-auth at the ECS, then for
 * the call command psk-call over TLS-PSK. Frees |http|. Returns 0, 1 (a step failed) or
 * 2 (bad --supi / --kausf / --rid). */
int egw__eec_psk_run(uv_loop_t *loop, struct egw_http_client *http,
                     const struct egw__eec_options *o);

#endif
