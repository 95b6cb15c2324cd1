/* The one HTTPS key request shared by the ECS's key providers (ausf, nef, aanf): POST a
 * small JSON body to {url}{path} over mutual TLS with ecs.client (the peer verified
 * against site.trust.ca), then read the answer the same way for all of them:
 *   200 {"<key field>": 64 hex digits, "expiry": date-time} -> EGW_PSK_READY, the key
 *       stored until the expiry; 404 (and 204 for the AAnF: "no such material") ->
 *       EGW_PSK_UNKNOWN; anything else, a refused connection or a timeout ->
 *       EGW_PSK_UNAVAILABLE with the matching failure reason (fail closed).
 * The key text in the answer document is wiped before the document is freed. Every call
 * logs one line (<event>_fetched / <event>_failed) naming the identity, never a key. */
#ifndef EGW_ROLES_ECS_KEY_CALL_H
#define EGW_ROLES_ECS_KEY_CALL_H

#include <jansson.h>
#include <stdint.h>

struct uv_loop_s;
struct egw_site;
struct egw_psk_fetch;
struct egw_http_client;
struct egw__key_client;

/* What differs between providers. */
struct egw__key_call_spec {
  const char *path;      /* appended to the base URL, e.g. "/nausf-auth/v1/kedge-requests" */
  const char *key_field; /* "kedge", "kaf" */
  const char *id_field;  /* the log field naming the identity: "kedgeId", "aKId" */
  const char *ok_event;  /* "ecs_kedge_fetched" */
  const char *bad_event; /* "ecs_kedge_failed" */
  const char *provider;  /* "ausf", "nef", "aanf", "kecs": logged as "provider" */
  /* derive (optional) turns the answer's key material (|raw|, 32 to 64 bytes) into the
   * PSK for identity |id| (the log_id given to egw__key_call_start); returns 0, or -1
   * when the material is unusable. Without it the answer's key must be 32 bytes and is
   * the PSK itself. */
  int (*derive)(const struct egw__key_client *c, const char *id, const uint8_t *raw,
                size_t raw_len, uint8_t out[32]);
};

/* One provider's client. |site|, |spec|, |url| and |timeout_ms| are set by the provider;
 * |http| lives from egw__key_client_attach to egw__key_client_detach. */
struct egw__key_client {
  struct egw_site *site;
  const struct egw__key_call_spec *spec;
  const char *url;
  uint32_t timeout_ms;
  struct egw_http_client *http;
};

/* egw__key_client_attach makes the HTTP client on |loop| (the resolver's attach hook);
 * its own deadline is a second longer than |timeout_ms| so that a slow peer always ends
 * as the resolver's timeout. Returns 0 or -1 after logging why. */
int egw__key_client_attach(struct egw__key_client *c, struct uv_loop_s *loop);
void egw__key_client_detach(struct egw__key_client *c);

/* egw__key_call_start posts |body| (taken: freed here, whatever happens) for fetch |f|;
 * |log_id| names the identity in the log lines. Returns 0 (egw_psk_fetch_done follows,
 * unless egw__key_call_cancel comes first) or a negative code. */
int egw__key_call_start(struct egw__key_client *c, struct egw_psk_fetch *f, const char *log_id,
                        json_t *body);

/* egw__key_call_cancel is the provider's cancel op for a fetch started above. */
void egw__key_call_cancel(struct egw_psk_fetch *f);

/* egw__key_client_check says why an ECS key provider cannot be served (NULL when it can):
 * it needs site.trust.ca and ecs.client. */
const char *egw__key_client_check(const struct egw_site *site);

#endif
