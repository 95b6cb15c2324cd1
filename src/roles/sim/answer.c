/* Helpers shared by the simulated 5GC peers; see internal.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

#include "roles/api.h"
#include "roles/sim/internal.h"
#include "util/log.h"

void egw__sim_hex(char *out, const uint8_t *in, size_t len) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}

/* The body carries a key: serialized, sent, and its copies wiped. */
int egw__sim_answer_key(struct egw_exchange *x, json_t *answer) {
  if (answer == NULL)
    return EGW_FAILED;
  char *text = json_dumps(answer, JSON_COMPACT);
  /* The document's own copy of the key is wiped too before it goes. */
  const char *name;
  json_t *v;
  json_object_foreach(answer, name, v) {
    if (json_is_string(v))
      OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
  }
  json_decref(answer);
  if (text == NULL)
    return EGW_FAILED;
  struct egw_response *resp = egw_exchange_response(x);
  int rc = egw_response_json(resp, 200, text);
  OPENSSL_cleanse(text, strlen(text));
  free(text);
  if (rc == 0)
    rc = egw_response_add_header(resp, "Cache-Control", "no-store");
  return rc == 0 ? EGW_DONE : EGW_FAILED;
}

void egw__sim_log_request(const char *event, const char *peer, const char *id_name,
                          const char *id, int status) {
  struct egw_log_record rec;
  egw_log_begin(&rec, status == 200 ? EGW_LOG_INFO : EGW_LOG_WARN, event);
  egw_log_str(&rec, "peer", peer);
  if (id != NULL)
    egw_log_str(&rec, id_name, id);
  egw_log_int(&rec, "status", status);
  egw_log_end(&rec);
}
