/* The simulated AUSF's subscribers file: "<SUPI> <KAUSF hex>" per line. Kedge and
 * Kedge-ID are derived at load (SPEC-NOTES "Keys for TLS-PSK") and KAUSF is wiped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

#include "roles/sim/internal.h"
#include "util/encoding.h"
#include "util/format.h"

#define KAUSF_LEN 32
/* A subscribers file for a lab, not a subscriber database. */
#define MAX_FILE_BYTES (4 * 1024 * 1024)

void egw__sim_subscribers_free(struct egw__sim_subscribers *s) {
  if (s == NULL)
    return;
  if (s->items)
    OPENSSL_cleanse(s->items, s->n * sizeof(*s->items));
  free(s->items);
  free(s);
}

const struct egw__sim_subscriber *egw__sim_subscriber_find_akid(
    const struct egw__sim_subscribers *s, const char *a_kid) {
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->items[i].a_kid, a_kid) == 0)
      return &s->items[i];
  }
  return NULL;
}

const struct egw__sim_subscriber *egw__sim_subscriber_find(const struct egw__sim_subscribers *s,
                                                           const char *kedge_id) {
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->items[i].kedge_id, kedge_id) == 0)
      return &s->items[i];
  }
  return NULL;
}

/* Splits a line into at most 3 fields separated by spaces or tabs; returns the count. */
static size_t fields(char *line, char *out[3]) {
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(line, " \t\r", &save); t != NULL; t = strtok_r(NULL, " \t\r", &save)) {
    if (n == 3)
      return 4;
    out[n++] = t;
  }
  return n;
}

static int hex_key(const char *hex, uint8_t out[KAUSF_LEN]) {
  if (strlen(hex) != 2 * KAUSF_LEN)
    return -1;
  for (size_t i = 0; i < KAUSF_LEN; i++) {
    int hi = egw_hex_digit(hex[2 * i]), lo = egw_hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* Derives one subscriber; returns NULL or the reason it failed. */
static const char *add(struct egw__sim_subscribers *s, const char *supi, const char *hex) {
  if (!egw_kdf_supi_valid(supi))
    return "the SUPI must be 5 to 15 digits";
  uint8_t kausf[KAUSF_LEN];
  if (hex_key(hex, kausf) != 0)
    return "KAUSF must be 64 hex digits";
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->items[i].supi, supi) == 0) {
      OPENSSL_cleanse(kausf, sizeof(kausf));
      return "this SUPI is listed twice";
    }
  }
  struct egw__sim_subscriber *sub = &s->items[s->n];
  memset(sub, 0, sizeof(*sub));
  memcpy(sub->supi, supi, strlen(supi) + 1);
  char mcc[4] = {supi[0], supi[1], supi[2], 0}, mnc[3] = {supi[3], supi[4], 0};
  int ok = egw_kdf_kedge(sub->kedge, kausf, sizeof(kausf), supi) &&
           egw_kdf_kedge_id(sub->kedge_id, sizeof(sub->kedge_id), kausf, sizeof(kausf), supi, NULL,
                            mcc, mnc) &&
           /* The AKMA keys too (sim-aanf): the AAnF keeps K_AKMA per A-KID. */
           egw_kdf_k_akma(sub->k_akma, kausf, sizeof(kausf), supi) &&
           egw_kdf_a_kid(sub->a_kid, sizeof(sub->a_kid), kausf, sizeof(kausf), supi, NULL, mcc,
                         mnc);
  OPENSSL_cleanse(kausf, sizeof(kausf));
  if (!ok) {
    OPENSSL_cleanse(sub, sizeof(*sub));
    return "cannot derive Kedge";
  }
  s->n++;
  return NULL;
}

struct egw__sim_subscribers *egw__sim_subscribers_parse(const char *text, size_t len,
                                                        const char *name, char **out_err) {
  struct egw__sim_subscribers *s = calloc(1, sizeof(*s));
  /* A copy to cut into lines (it holds KAUSF values: wiped before it is freed). */
  char *copy = malloc(len + 1);
  struct egw__sim_subscribers *ret = NULL;
  size_t max_lines = 1;
  if (s == NULL || copy == NULL) {
    *out_err = egw_format("out of memory");
    goto end;
  }
  memcpy(copy, text, len);
  copy[len] = '\0';
  for (size_t i = 0; i < len; i++)
    max_lines += text[i] == '\n';
  s->items = calloc(max_lines, sizeof(*s->items));
  if (s->items == NULL) {
    *out_err = egw_format("out of memory");
    goto end;
  }
  int lineno = 0;
  for (char *line = copy, *next; line != NULL; line = next) {
    lineno++;
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    char *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    char *f[3];
    size_t n = fields(line, f);
    if (n == 0)
      continue;
    if (n != 2) {
      *out_err = egw_format("%s:%d: expected \"<SUPI> <KAUSF hex>\"", name, lineno);
      goto end;
    }
    const char *why = add(s, f[0], f[1]);
    if (why) {
      *out_err = egw_format("%s:%d: %s", name, lineno, why);
      goto end;
    }
  }
  if (s->n == 0) {
    *out_err = egw_format("%s: no subscribers", name);
    goto end;
  }
  ret = s;
  s = NULL;
end:
  if (copy) {
    OPENSSL_cleanse(copy, len + 1);
    free(copy);
  }
  egw__sim_subscribers_free(s);
  return ret;
}

struct egw__sim_subscribers *egw__sim_subscribers_load(const char *path, char **out_err) {
  struct egw__sim_subscribers *ret = NULL;
  char *text = NULL;
  size_t len = 0;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    *out_err = egw_format("%s: %s", path, strerror(errno));
    goto end;
  }
  text = malloc(MAX_FILE_BYTES);
  if (text == NULL) {
    *out_err = egw_format("out of memory");
    goto end;
  }
  len = fread(text, 1, MAX_FILE_BYTES, fp);
  if (ferror(fp) || len == MAX_FILE_BYTES) {
    *out_err = egw_format("%s: %s", path, ferror(fp) ? "read error" : "file too large");
    goto end;
  }
  ret = egw__sim_subscribers_parse(text, len, path, out_err);
end:
  if (text) {
    OPENSSL_cleanse(text, len);
    free(text);
  }
  if (fp)
    fclose(fp);
  return ret;
}

int egw__sim_subscribers_role_init(const char *module, const char *section,
                                   const char *site_file, const void *policy,
                                   const char *subscribers_file, void **out_state,
                                   char **out_err) {
  if (policy == NULL) {
    *out_err = egw_format("the %s module needs \"%s\" (subscribers) in %s", module, section,
                          site_file);
    return -1;
  }
  struct egw__sim_subscribers_role *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    *out_err = egw_format("out of memory");
    return -1;
  }
  r->policy = policy;
  r->subs = egw__sim_subscribers_load(subscribers_file, out_err);
  if (r->subs == NULL) {
    free(r);
    return -1;
  }
  *out_state = r;
  return 0;
}

void egw__sim_subscribers_role_dispose(void *state) {
  struct egw__sim_subscribers_role *r = state;
  if (r == NULL)
    return;
  egw__sim_subscribers_free(r->subs);
  free(r);
}
