/* The TS 33.220 generic KDF and the TLS-PSK keys built on it (see kdf.h). S is fed to
 * HMAC piece by piece, so no copy of the input string (which holds the SUPI) is made. */
#include "keys/kdf.h"

#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <stdio.h>
#include <string.h>

int egw_kdf(uint8_t out_key[EGW_KDF_LEN], const uint8_t *key, size_t key_len, uint8_t fc,
            const struct egw_kdf_param *params, size_t num_params) {
  int ok = 0;
  unsigned out_len = 0;
  HMAC_CTX ctx;
  HMAC_CTX_init(&ctx);
  memset(out_key, 0, EGW_KDF_LEN);
  if (key == NULL || key_len == 0)
    goto end;
  for (size_t i = 0; i < num_params; i++) {
    if (params[i].len > 0xFFFF || (params[i].len > 0 && params[i].data == NULL))
      goto end;
  }
  if (!HMAC_Init_ex(&ctx, key, key_len, EVP_sha256(), NULL) || !HMAC_Update(&ctx, &fc, 1))
    goto end;
  for (size_t i = 0; i < num_params; i++) {
    const uint8_t l[2] = {(uint8_t)(params[i].len >> 8), (uint8_t)params[i].len};
    if ((params[i].len > 0 && !HMAC_Update(&ctx, params[i].data, params[i].len)) ||
        !HMAC_Update(&ctx, l, sizeof(l)))
      goto end;
  }
  if (!HMAC_Final(&ctx, out_key, &out_len) || out_len != EGW_KDF_LEN)
    goto end;
  ok = 1;
end:
  if (!ok)
    OPENSSL_cleanse(out_key, EGW_KDF_LEN);
  HMAC_CTX_cleanup(&ctx);
  return ok;
}

static int all_digits(const char *s, size_t min, size_t max) {
  if (s == NULL)
    return 0;
  size_t n = strlen(s);
  if (n < min || n > max)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
  }
  return 1;
}

int egw_kdf_supi_valid(const char *supi) { return all_digits(supi, 5, 15); }

/* KDF(key, fc, label, SUPI): the shape shared by Kedge, Kedge-TID, K_AKMA and A-TID. */
static int derive_label_supi(uint8_t out[EGW_KDF_LEN], const uint8_t *key, size_t key_len,
                             uint8_t fc, const char *label, const char *supi) {
  if (!egw_kdf_supi_valid(supi)) {
    memset(out, 0, EGW_KDF_LEN);
    return 0;
  }
  const struct egw_kdf_param p[2] = {
      {.data = (const uint8_t *)label, .len = strlen(label)},
      {.data = (const uint8_t *)supi, .len = strlen(supi)},
  };
  return egw_kdf(out, key, key_len, fc, p, 2);
}

int egw_kdf_kedge(uint8_t out_kedge[EGW_KDF_LEN], const uint8_t *kausf, size_t kausf_len,
                  const char *supi) {
  return derive_label_supi(out_kedge, kausf, kausf_len, EGW_KDF_FC_KEDGE, "EDGE", supi);
}

int egw_kdf_kedge_tid(uint8_t out_tid[EGW_KDF_LEN], const uint8_t *kausf, size_t kausf_len,
                      const char *supi) {
  return derive_label_supi(out_tid, kausf, kausf_len, EGW_KDF_FC_KEDGE_TID, "E-TID", supi);
}

int egw_kdf_k_akma(uint8_t out_k_akma[EGW_KDF_LEN], const uint8_t *kausf, size_t kausf_len,
                   const char *supi) {
  return derive_label_supi(out_k_akma, kausf, kausf_len, EGW_KDF_FC_K_AKMA, "AKMA", supi);
}

int egw_kdf_a_tid(uint8_t out_a_tid[EGW_KDF_LEN], const uint8_t *kausf, size_t kausf_len,
                  const char *supi) {
  return derive_label_supi(out_a_tid, kausf, kausf_len, EGW_KDF_FC_A_TID, "A-TID", supi);
}

int egw_kdf_realm(char *out, size_t out_len, const char *mcc, const char *mnc) {
  if (!all_digits(mcc, 3, 3) || !all_digits(mnc, 2, 3))
    return 0;
  int n = snprintf(out, out_len, "5gc.mnc%s%s.mcc%s.3gppnetwork.org", strlen(mnc) == 2 ? "0" : "",
                   mnc, mcc);
  return n > 0 && (size_t)n < out_len;
}

/* "<rid>.<hex of tid[0..tid_len)>@<realm>", the NAI shape of Kedge-ID and A-KID. */
static int write_nai(char *out, size_t out_len, const uint8_t *tid, size_t tid_len, const char *rid,
                     const char *mcc, const char *mnc) {
  static const char digits[] = "0123456789abcdef";
  char realm[64], hex[2 * EGW_KDF_LEN + 1];
  if (rid == NULL)
    rid = "0";
  if (out_len > 0)
    out[0] = '\0';
  if (!all_digits(rid, 1, 4) || !egw_kdf_realm(realm, sizeof(realm), mcc, mnc))
    return 0;
  for (size_t i = 0; i < tid_len; i++) {
    hex[2 * i] = digits[tid[i] >> 4];
    hex[2 * i + 1] = digits[tid[i] & 15];
  }
  hex[2 * tid_len] = '\0';
  int n = snprintf(out, out_len, "%s.%s@%s", rid, hex, realm);
  int ok = n > 0 && (size_t)n < out_len;
  if (!ok && out_len > 0)
    out[0] = '\0';
  OPENSSL_cleanse(hex, sizeof(hex));
  return ok;
}

int egw_kdf_kedge_id(char *out, size_t out_len, const uint8_t *kausf, size_t kausf_len,
                     const char *supi, const char *rid, const char *mcc, const char *mnc) {
  uint8_t tid[EGW_KDF_LEN];
  int ok = egw_kdf_kedge_tid(tid, kausf, kausf_len, supi) &&
           write_nai(out, out_len, tid, 16, rid, mcc, mnc);
  if (!ok && out_len > 0)
    out[0] = '\0';
  OPENSSL_cleanse(tid, sizeof(tid));
  return ok;
}

int egw_kdf_a_kid(char *out, size_t out_len, const uint8_t *kausf, size_t kausf_len,
                  const char *supi, const char *rid, const char *mcc, const char *mnc) {
  uint8_t tid[EGW_KDF_LEN];
  int ok = egw_kdf_a_tid(tid, kausf, kausf_len, supi) &&
           write_nai(out, out_len, tid, EGW_KDF_LEN, rid, mcc, mnc);
  if (!ok && out_len > 0)
    out[0] = '\0';
  OPENSSL_cleanse(tid, sizeof(tid));
  return ok;
}

void egw_kdf_ua_id_tls12(uint8_t out_id[EGW_KDF_UA_ID_LEN], uint16_t cipher_suite) {
  out_id[0] = 0x01;
  out_id[1] = 0x00;
  out_id[2] = 0x01;
  out_id[3] = (uint8_t)(cipher_suite >> 8);
  out_id[4] = (uint8_t)cipher_suite;
}

void egw_kdf_ua_id_tls13(uint8_t out_id[EGW_KDF_UA_ID_LEN]) {
  static const uint8_t id[EGW_KDF_UA_ID_LEN] = {0x01, 0x00, 0x00, 0x00, 0x07};
  memcpy(out_id, id, sizeof(id));
}

int egw_kdf_k_af(uint8_t out_k_af[EGW_KDF_LEN], const uint8_t *k_akma, size_t k_akma_len,
                 const char *af_fqdn, const uint8_t ua_id[EGW_KDF_UA_ID_LEN]) {
  uint8_t af_id[255 + EGW_KDF_UA_ID_LEN];
  size_t n = af_fqdn ? strlen(af_fqdn) : 0;
  if (n == 0 || n > 255) {
    memset(out_k_af, 0, EGW_KDF_LEN);
    return 0;
  }
  memcpy(af_id, af_fqdn, n);
  memcpy(af_id + n, ua_id, EGW_KDF_UA_ID_LEN);
  const struct egw_kdf_param p = {.data = af_id, .len = n + EGW_KDF_UA_ID_LEN};
  return egw_kdf(out_k_af, k_akma, k_akma_len, EGW_KDF_FC_K_AF, &p, 1);
}

int egw_kdf_kecs_psk(uint8_t out_psk[EGW_KDF_LEN], const uint8_t *msk, size_t msk_len,
                     const char *ecs_id, uint32_t counter) {
  if (msk == NULL || msk_len < 32 || ecs_id == NULL || ecs_id[0] == '\0') {
    memset(out_psk, 0, EGW_KDF_LEN);
    return 0;
  }
  const uint8_t c[4] = {(uint8_t)(counter >> 24), (uint8_t)(counter >> 16), (uint8_t)(counter >> 8),
                        (uint8_t)counter};
  const struct egw_kdf_param p[2] = {
      {.data = (const uint8_t *)ecs_id, .len = strlen(ecs_id)},
      {.data = c, .len = sizeof(c)},
  };
  return egw_kdf(out_psk, msk, 32, EGW_KDF_FC_KECS_PSK, p, 2);
}
