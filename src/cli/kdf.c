/* edgegw kdf kedge|akma|kecs: the TLS-PSK key derivations of keys/kdf.h from the command
 * line, for labs and interop checks. The keys are the output: they go to stdout, and the
 * copies in this process are wiped before it returns. */
#include <openssl/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "keys/kdf.h"
#include "util/encoding.h"

static void usage(FILE *out) {
  fputs("usage: edgegw kdf kedge --kausf HEX --supi DIGITS [--rid R] [--mcc MCC] [--mnc MNC]\n"
        "       edgegw kdf akma --kausf HEX --supi DIGITS --af-fqdn FQDN\n"
        "                       (--tls13 | --cipher 0xC0A7) [--rid R] [--mcc MCC] [--mnc MNC]\n"
        "       edgegw kdf kecs --msk HEX --ecs-id ID --counter N\n"
        "  kedge prints Kedge and Kedge-ID; akma prints K_AKMA, A-TID, A-KID and K_AF;\n"
        "  kecs prints KECS-PSK. --kausf is 32 bytes, --msk 32 to 64 bytes, in hex; the SUPI\n"
        "  is the IMSI digits (5 to 15). MCC and MNC default to the first 3 and next 2 SUPI\n"
        "  digits; the routing indicator R defaults to 0.\n",
        out);
}

struct options {
  const char *kausf, *supi, *rid, *mcc, *mnc, *af_fqdn, *cipher, *msk, *ecs_id, *counter;
  int tls13;
};

static int parse(int argc, char **argv, struct options *o) {
  *o = (struct options){0};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = strcmp(a, "--kausf") == 0     ? &o->kausf
                        : strcmp(a, "--supi") == 0    ? &o->supi
                        : strcmp(a, "--rid") == 0     ? &o->rid
                        : strcmp(a, "--mcc") == 0     ? &o->mcc
                        : strcmp(a, "--mnc") == 0     ? &o->mnc
                        : strcmp(a, "--af-fqdn") == 0 ? &o->af_fqdn
                        : strcmp(a, "--cipher") == 0  ? &o->cipher
                        : strcmp(a, "--msk") == 0     ? &o->msk
                        : strcmp(a, "--ecs-id") == 0  ? &o->ecs_id
                        : strcmp(a, "--counter") == 0 ? &o->counter
                                                      : NULL;
    if (slot && i + 1 < argc) {
      *slot = argv[++i];
    } else if (strcmp(a, "--tls13") == 0) {
      o->tls13 = 1;
    } else {
      fprintf(stderr, "edgegw kdf: %s '%s'\n", slot ? "missing value for" : "unexpected argument",
              a);
      return 0;
    }
  }
  return 1;
}

/* Decodes |hex| into |out| (capacity |max|); 1 when it is an even number of hex digits
 * giving |min|..|max| bytes. */
static int unhex(uint8_t *out, size_t *out_len, size_t min, size_t max, const char *hex) {
  size_t n = strlen(hex);
  if (n % 2 != 0 || n / 2 < min || n / 2 > max)
    return 0;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = egw_hex_digit(hex[2 * i]), lo = egw_hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return 0;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  *out_len = n / 2;
  return 1;
}

static void print_hex(const char *label, const uint8_t *b, size_t n) {
  printf("%s: ", label);
  for (size_t i = 0; i < n; i++)
    printf("%02x", b[i]);
  putchar('\n');
}

/* Checks the options kedge and akma share; fills the PLMN defaults from the SUPI. */
static int check_ue(const struct options *o, uint8_t kausf[EGW_KDF_LEN], char mcc[4], char mnc[4]) {
  size_t len;
  if (o->kausf == NULL || o->supi == NULL) {
    usage(stderr);
    return 0;
  }
  if (!unhex(kausf, &len, EGW_KDF_LEN, EGW_KDF_LEN, o->kausf)) {
    fputs("edgegw kdf: --kausf: expected 64 hex digits (a 32-byte KAUSF)\n", stderr);
    return 0;
  }
  if (!egw_kdf_supi_valid(o->supi)) {
    fputs("edgegw kdf: --supi: expected the IMSI as 5 to 15 digits, no prefix\n", stderr);
    return 0;
  }
  /* Defaults: the SUPI has at least 5 digits, so both prefixes exist. */
  snprintf(mcc, 4, "%.3s", o->mcc ? o->mcc : o->supi);
  snprintf(mnc, 4, "%.*s", o->mnc ? 3 : 2, o->mnc ? o->mnc : o->supi + 3);
  char realm[64];
  if (o->mcc && (strlen(o->mcc) != 3 || !egw_kdf_realm(realm, sizeof(realm), o->mcc, "00"))) {
    fputs("edgegw kdf: --mcc: expected 3 digits\n", stderr);
    return 0;
  }
  if (o->mnc && (strlen(o->mnc) > 3 || !egw_kdf_realm(realm, sizeof(realm), "001", o->mnc))) {
    fputs("edgegw kdf: --mnc: expected 2 or 3 digits\n", stderr);
    return 0;
  }
  if (o->rid) {
    size_t n = strlen(o->rid);
    int ok = n >= 1 && n <= 4 && strspn(o->rid, "0123456789") == n;
    if (!ok) {
      fputs("edgegw kdf: --rid: expected a routing indicator of 1 to 4 digits\n", stderr);
      return 0;
    }
  }
  return 1;
}

static int run_kedge(const struct options *o) {
  int rc = 2;
  uint8_t kausf[EGW_KDF_LEN], kedge[EGW_KDF_LEN];
  char mcc[4], mnc[4], id[EGW_KDF_ID_MAX];
  if (o->af_fqdn || o->cipher || o->tls13 || o->msk || o->ecs_id || o->counter) {
    fputs("edgegw kdf kedge: takes only --kausf, --supi, --rid, --mcc, --mnc\n", stderr);
    goto end;
  }
  if (!check_ue(o, kausf, mcc, mnc))
    goto end;
  rc = 1;
  if (!egw_kdf_kedge(kedge, kausf, sizeof(kausf), o->supi) ||
      !egw_kdf_kedge_id(id, sizeof(id), kausf, sizeof(kausf), o->supi, o->rid, mcc, mnc)) {
    fputs("edgegw kdf: derivation failed\n", stderr);
    goto end;
  }
  print_hex("kedge", kedge, sizeof(kedge));
  printf("kedge-id: %s\n", id);
  rc = 0;
end:
  OPENSSL_cleanse(kausf, sizeof(kausf));
  OPENSSL_cleanse(kedge, sizeof(kedge));
  return rc;
}

/* Parses "0xC0A7" or "C0A7" (1 to 4 hex digits). */
static int parse_cipher(const char *s, uint16_t *out_suite) {
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s += 2;
  size_t n = strlen(s);
  if (n == 0 || n > 4)
    return 0;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    int d = egw_hex_digit(s[i]);
    if (d < 0)
      return 0;
    v = v << 4 | (unsigned)d;
  }
  *out_suite = (uint16_t)v;
  return 1;
}

static int run_akma(const struct options *o) {
  int rc = 2;
  uint8_t kausf[EGW_KDF_LEN], k_akma[EGW_KDF_LEN], a_tid[EGW_KDF_LEN], k_af[EGW_KDF_LEN];
  uint8_t ua[EGW_KDF_UA_ID_LEN];
  uint16_t suite = 0;
  char mcc[4], mnc[4], akid[EGW_KDF_ID_MAX];
  if (o->msk || o->ecs_id || o->counter) {
    fputs("edgegw kdf akma: --msk, --ecs-id and --counter belong to 'kdf kecs'\n", stderr);
    goto end;
  }
  if (!check_ue(o, kausf, mcc, mnc))
    goto end;
  if (o->af_fqdn == NULL || (o->tls13 == 0) == (o->cipher == NULL)) {
    fputs("edgegw kdf akma: needs --af-fqdn and exactly one of --tls13, --cipher\n", stderr);
    goto end;
  }
  size_t fqdn_len = strlen(o->af_fqdn);
  if (fqdn_len == 0 || fqdn_len > 255) {
    fputs("edgegw kdf: --af-fqdn: expected 1 to 255 characters\n", stderr);
    goto end;
  }
  if (o->cipher && !parse_cipher(o->cipher, &suite)) {
    fputs("edgegw kdf: --cipher: expected a 2-byte TLS cipher suite in hex, e.g. 0xC0A7\n", stderr);
    goto end;
  }
  if (o->tls13)
    egw_kdf_ua_id_tls13(ua);
  else
    egw_kdf_ua_id_tls12(ua, suite);
  rc = 1;
  if (!egw_kdf_k_akma(k_akma, kausf, sizeof(kausf), o->supi) ||
      !egw_kdf_a_tid(a_tid, kausf, sizeof(kausf), o->supi) ||
      !egw_kdf_a_kid(akid, sizeof(akid), kausf, sizeof(kausf), o->supi, o->rid, mcc, mnc) ||
      !egw_kdf_k_af(k_af, k_akma, sizeof(k_akma), o->af_fqdn, ua)) {
    fputs("edgegw kdf: derivation failed\n", stderr);
    goto end;
  }
  print_hex("k-akma", k_akma, sizeof(k_akma));
  print_hex("a-tid", a_tid, sizeof(a_tid));
  printf("a-kid: %s\n", akid);
  print_hex("k-af", k_af, sizeof(k_af));
  rc = 0;
end:
  OPENSSL_cleanse(kausf, sizeof(kausf));
  OPENSSL_cleanse(k_akma, sizeof(k_akma));
  OPENSSL_cleanse(a_tid, sizeof(a_tid));
  OPENSSL_cleanse(k_af, sizeof(k_af));
  return rc;
}

static int run_kecs(const struct options *o) {
  int rc = 2;
  uint8_t msk[64], psk[EGW_KDF_LEN];
  size_t msk_len = 0;
  if (o->kausf || o->supi || o->rid || o->mcc || o->mnc || o->af_fqdn || o->cipher || o->tls13) {
    fputs("edgegw kdf kecs: takes only --msk, --ecs-id, --counter\n", stderr);
    goto end;
  }
  if (o->msk == NULL || o->ecs_id == NULL || o->counter == NULL) {
    usage(stderr);
    goto end;
  }
  if (!unhex(msk, &msk_len, 32, sizeof(msk), o->msk)) {
    fputs("edgegw kdf: --msk: expected 64 to 128 hex digits (an MSK of 32 to 64 bytes)\n", stderr);
    goto end;
  }
  if (o->ecs_id[0] == '\0') {
    fputs("edgegw kdf: --ecs-id: must not be empty\n", stderr);
    goto end;
  }
  char *e;
  unsigned long long c = strtoull(o->counter, &e, 10);
  if (o->counter[0] < '0' || o->counter[0] > '9' || *e || c > 0xFFFFFFFFull) {
    fputs("edgegw kdf: --counter: expected a decimal number 0..4294967295\n", stderr);
    goto end;
  }
  rc = 1;
  if (!egw_kdf_kecs_psk(psk, msk, msk_len, o->ecs_id, (uint32_t)c)) {
    fputs("edgegw kdf: derivation failed\n", stderr);
    goto end;
  }
  print_hex("kecs-psk", psk, sizeof(psk));
  rc = 0;
end:
  OPENSSL_cleanse(msk, sizeof(msk));
  OPENSSL_cleanse(psk, sizeof(psk));
  return rc;
}

int egw_cli_kdf(int argc, char **argv) {
  struct options o;
  if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0)) {
    usage(stdout);
    return 0;
  }
  if (argc < 1 || !parse(argc - 1, argv + 1, &o)) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[0], "kedge") == 0)
    return run_kedge(&o);
  if (strcmp(argv[0], "akma") == 0)
    return run_akma(&o);
  if (strcmp(argv[0], "kecs") == 0)
    return run_kecs(&o);
  fprintf(stderr, "edgegw kdf: unknown derivation '%s'\n", argv[0]);
  usage(stderr);
  return 2;
}
