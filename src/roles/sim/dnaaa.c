/* sim-dnaaa: a simulated DN-AAA for KECS-PSK (TR 33.839 solution 4): it holds the MSK of
 * each EEC's secondary authentication and hands it to the ECS,
 *   POST /dnaaa/v1/msk-requests {"eecId"} -> 200 {"msk": hex, "expiry"}, or 404
 *   ProblemDetails (cause "EEC_NOT_FOUND").
 * The wire shape is the project's (no 3GPP API exists for it). Enabled by site.yaml
 * "sim.dnaaa" (msk_file: lines "<eecId> <MSK hex, 32 to 64 bytes>", '#' comments); mount
 * it on an mTLS listener whose authorization admits the ECS. For labs and tests. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/mem.h>

#include "core/site.h"
#include "roles/api.h"
#include "roles/sim/internal.h"
#include "util/encoding.h"
#include "util/format.h"

#define ROUTE "/dnaaa/v1/msk-requests"
#define MAX_ENTRIES 10000
#define MSK_MAX 64

static const struct egw_route dnaaa_routes[] = {
    {.methods = EGW_METHOD_POST, .prefix = ROUTE},
    {.prefix = NULL},
};

struct msk_entry {
  char eec_id[129];
  uint8_t msk[MSK_MAX];
  size_t msk_len;
};

struct dnaaa {
  const struct egw_sim_dnaaa_policy *policy;
  struct msk_entry *items;
  size_t n;
};

static void dnaaa_dispose(void *state) {
  struct dnaaa *d = state;
  if (d == NULL)
    return;
  if (d->items)
    OPENSSL_cleanse(d->items, d->n * sizeof(*d->items));
  free(d->items);
  free(d);
}

/* parse_line reads "<eecId> <hex>" into |e|; returns NULL or what is wrong. */
static const char *parse_line(char *line, struct msk_entry *e) {
  char *save = NULL;
  char *id = strtok_r(line, " \t\r\n", &save);
  char *hex = strtok_r(NULL, " \t\r\n", &save);
  if (id == NULL || hex == NULL || strtok_r(NULL, " \t\r\n", &save) != NULL)
    return "expected \"<eecId> <MSK hex>\"";
  size_t hl = strlen(hex);
  if (strlen(id) >= sizeof(e->eec_id))
    return "the eecId is longer than 128 bytes";
  if (hl % 2 != 0 || hl < 64 || hl > 2 * MSK_MAX)
    return "the MSK must be 32 to 64 bytes in hex";
  for (size_t i = 0; i < hl / 2; i++) {
    int hi = egw_hex_digit(hex[2 * i]), lo = egw_hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return "the MSK must be 32 to 64 bytes in hex";
    e->msk[i] = (uint8_t)(hi << 4 | lo);
  }
  e->msk_len = hl / 2;
  strcpy(e->eec_id, id);
  return NULL;
}

static int load(struct dnaaa *d, const char *path, char **out_err) {
  FILE *fp = fopen(path, "r");
  if (fp == NULL) {
    *out_err = egw_format("%s: %s", path, strerror(errno));
    return -1;
  }
  d->items = calloc(MAX_ENTRIES, sizeof(*d->items));
  char line[512];
  int lineno = 0, rc = d->items ? 0 : -1;
  if (rc != 0)
    *out_err = egw_format("out of memory");
  while (rc == 0 && fgets(line, sizeof(line), fp) != NULL) {
    lineno++;
    char *p = line + strspn(line, " \t");
    if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
      continue;
    const char *why = d->n == MAX_ENTRIES ? "too many entries" : parse_line(p, &d->items[d->n]);
    for (size_t i = 0; why == NULL && i < d->n; i++) {
      if (strcmp(d->items[i].eec_id, d->items[d->n].eec_id) == 0)
        why = "this eecId is listed twice";
    }
    if (why != NULL) {
      *out_err = egw_format("%s:%d: %s", path, lineno, why);
      rc = -1;
    } else {
      d->n++;
    }
  }
  OPENSSL_cleanse(line, sizeof(line));
  fclose(fp);
  return rc;
}

static int dnaaa_init(struct egw_site *site, void **out_state, char **out_err) {
  const struct egw_sim_dnaaa_policy *p = site->policy->sim_dnaaa;
  if (p == NULL) {
    *out_err = egw_format("the sim-dnaaa module needs \"sim.dnaaa\" (msk_file) in %s",
                          site->policy->site_file);
    return -1;
  }
  struct dnaaa *d = calloc(1, sizeof(*d));
  if (d == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  d->policy = p;
  if (load(d, p->msk_file, out_err) != 0) {
    dnaaa_dispose(d);
    return -1;
  }
  *out_state = d;
  return 0;
}

static enum egw_handler_result dnaaa_on_request(void *state, struct egw_exchange *x) {
  struct dnaaa *d = state;
  const struct egw_request *req = egw_exchange_request(x);
  if (strcmp(req->path, ROUTE) != 0)
    return EGW_DECLINED;
  enum egw_handler_result res;
  json_t *body = egw__roles_read_json(x, "application/json", &res);
  if (body == NULL)
    return res;
  const char *eec_id = json_string_value(json_object_get(body, "eecId"));
  const struct msk_entry *e = NULL;
  for (size_t i = 0; eec_id && i < d->n && e == NULL; i++) {
    if (strcmp(d->items[i].eec_id, eec_id) == 0)
      e = &d->items[i];
  }
  int status = eec_id == NULL ? 400 : e == NULL ? 404 : 200;
  if (status == 400) {
    res = egw__roles_problem(x, 400, "eecId is a required string", "MANDATORY_IE_MISSING", NULL,
                             0);
  } else if (status == 404) {
    res = egw__roles_problem(x, 404, "no MSK for this EEC", "EEC_NOT_FOUND", NULL, 0);
  } else {
    char hex[2 * MSK_MAX + 1];
    char expiry[EGW_DATETIME_LEN + 1];
    egw__sim_hex(hex, e->msk, e->msk_len);
    egw__roles_datetime_format((int64_t)time(NULL) + d->policy->msk_ttl_s, expiry);
    res = (enum egw_handler_result)egw__sim_answer_key(
        x, json_pack("{s:s, s:s}", "msk", hex, "expiry", expiry));
    OPENSSL_cleanse(hex, sizeof(hex));
  }
  egw__sim_log_request("dnaaa_msk_request", req->peer_addr, "eecId", eec_id, status);
  json_decref(body);
  return res;
}

const struct egw_role_ops egw_role_sim_dnaaa = {
    .name = "sim-dnaaa",
    .routes = dnaaa_routes,
    .init = dnaaa_init,
    .on_request = dnaaa_on_request,
    .dispose = dnaaa_dispose,
};
