/* Private to the simulated 5GC peers (roles enabled only by policy; labs and tests). */
#ifndef EGW_ROLES_SIM_INTERNAL_H
#define EGW_ROLES_SIM_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "keys/kdf.h"

/* One subscriber of the simulated AUSF: its SUPI and what the AUSF derived from KAUSF
 * at load (KAUSF itself is wiped at once, as the AUSF drops it after deriving Kedge). */
struct egw__sim_subscriber {
  char supi[16];
  char kedge_id[EGW_KDF_ID_MAX];
  uint8_t kedge[EGW_KDF_LEN];
  char a_kid[EGW_KDF_ID_MAX]; /* AKMA (sim-aanf): A-KID and K_AKMA */
  uint8_t k_akma[EGW_KDF_LEN];
};

struct egw__sim_subscribers {
  struct egw__sim_subscriber *items;
  size_t n;
};

/* egw__sim_subscribers_parse reads |len| bytes of a subscribers file: one
 * "<SUPI> <KAUSF hex>" per line (SUPI: 5 to 15 digits; KAUSF: 64 hex digits), blank
 * lines and '#' comments ignored, each SUPI at most once. MCC is the first 3 digits of
 * the SUPI, MNC the next 2, the routing indicator "0". |name| names the file in errors.
 * Returns a new set (free with egw__sim_subscribers_free), or NULL with *out_err
 * (malloc'd, "name:line: message", never with key material). */
struct egw__sim_subscribers *egw__sim_subscribers_parse(const char *text, size_t len,
                                                        const char *name, char **out_err);

/* egw__sim_subscribers_load reads the file at |path| and parses it as above. */
struct egw__sim_subscribers *egw__sim_subscribers_load(const char *path, char **out_err);

/* egw__sim_subscribers_free wipes every key and frees |s|; NULL is accepted. */
void egw__sim_subscribers_free(struct egw__sim_subscribers *s);

/* The state of a simulated peer that answers from a subscribers file (sim-ausf,
 * sim-aanf): its section of site.yaml and the subscribers loaded from its file. */
struct egw__sim_subscribers_role {
  const void *policy; /* the module's struct egw_sim_<name>_policy */
  struct egw__sim_subscribers *subs;
};

/* egw__sim_subscribers_role_init is the init of such a module: |policy| is its section
 * (NULL when site.yaml has none: an error naming |module|, |section| and |site_file|),
 * |subscribers_file| the file to load. Returns 0 with *out_state, or -1 with *out_err. */
int egw__sim_subscribers_role_init(const char *module, const char *section,
                                   const char *site_file, const void *policy,
                                   const char *subscribers_file, void **out_state,
                                   char **out_err);

/* egw__sim_subscribers_role_dispose wipes the keys and frees a state of the init above. */
void egw__sim_subscribers_role_dispose(void *state);

/* egw__sim_subscriber_find returns the subscriber whose Kedge-ID is |kedge_id|, or NULL. */
const struct egw__sim_subscriber *egw__sim_subscriber_find(const struct egw__sim_subscribers *s,
                                                           const char *kedge_id);

/* egw__sim_subscriber_find_akid returns the subscriber whose A-KID is |a_kid|, or NULL. */
const struct egw__sim_subscriber *egw__sim_subscriber_find_akid(
    const struct egw__sim_subscribers *s, const char *a_kid);

/* egw__sim_ausf_answer is the AUSF's key request (SPEC-NOTES "Keys for TLS-PSK") without
 * HTTP: |body| is the parsed request body (NULL when it was not a JSON object). It
 * returns the status (200, 400, 404) and sets *out_body to a new reference: on 200
 * {"kedge": hex, "expiry": now_s + ttl_s as RFC 3339}; otherwise NULL, with *out_cause
 * ("KEDGE_ID_NOT_FOUND", "MANDATORY_IE_MISSING", "MANDATORY_IE_INCORRECT") and
 * *out_detail. A 200 with *out_body NULL means out of memory. */
int egw__sim_ausf_answer(const struct egw__sim_subscribers *s, const json_t *body, int64_t now_s,
                         uint32_t ttl_s, json_t **out_body, const char **out_cause,
                         const char **out_detail);

struct egw_exchange;

/* egw__sim_answer_key answers |x| 200 with |answer| (a document carrying a key, taken:
 * released here), Cache-Control: no-store, and wipes the serialized copy. Returns
 * EGW_DONE or EGW_FAILED (as an int: enum egw_handler_result). */
int egw__sim_answer_key(struct egw_exchange *x, json_t *answer);

/* egw__sim_log_request logs one answered request of a simulated peer: |event| at info
 * for a 200, at warn otherwise, with the peer's address, the subscriber or client id
 * as |id_name| when |id| is not NULL, and the status. Never a key. */
void egw__sim_log_request(const char *event, const char *peer, const char *id_name,
                          const char *id, int status);

/* egw__sim_hex writes |len| bytes as lowercase hex and a NUL to |out| (2 * len + 1). */
void egw__sim_hex(char *out, const uint8_t *in, size_t len);

#endif
