#include <criterion/criterion.h>

#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "keys/kdf.h"

/* Each expected key is HMAC-SHA-256 over an S written out here byte by byte, so a
 * parameter-order or length-encoding mistake in kdf.c cannot cancel out. */
static void hmac(uint8_t out[32], const uint8_t *key, size_t key_len, const uint8_t *s,
                 size_t s_len) {
  unsigned n = 0;
  cr_assert_not_null(HMAC(EVP_sha256(), key, key_len, s, s_len, out, &n));
  cr_assert_eq(n, 32);
}

static void unhex(uint8_t *out, const char *hex) {
  for (size_t i = 0; hex[2 * i]; i++) {
    unsigned v;
    cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

static void tohex(char *out, const uint8_t *in, size_t n) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", in[i]);
}

/* KAUSF = 00 01 .. 1f, SUPI 001010123456789. */
static const char supi[] = "001010123456789";
static uint8_t kausf[32];

static void setup(void) {
  for (int i = 0; i < 32; i++)
    kausf[i] = (uint8_t)i;
}

#define SUPI_BYTES '0', '0', '1', '0', '1', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'

Test(kdf, rfc5448_test_vector) {
  uint8_t key[32], expect[32], out[32];
  unhex(key, "5349fbe098649f948f5d2e973a81c00f9744871ad32bf9bbd1dd5ce54e3e2e5a");
  unhex(expect, "0093962d0dd84aa5684b045c9edffa04ccfc230ca74fcc96c0a5d61164f5a76c");
  static const uint8_t p1[] = {0xbb, 0x52, 0xe9, 0x1c, 0x74, 0x7a};
  const struct egw_kdf_param p[2] = {{.data = (const uint8_t *)"WLAN", .len = 4},
                                     {.data = p1, .len = sizeof(p1)}};
  cr_assert_eq(egw_kdf(out, key, sizeof(key), 0x20, p, 2), 1);
  cr_assert_arr_eq(out, expect, 32);
}

Test(kdf, generic_any_number_of_params_and_limits) {
  uint8_t out[32], expect[32];
  /* No parameter: S = FC only. */
  static const uint8_t s0[] = {0x42};
  setup();
  hmac(expect, kausf, 32, s0, sizeof(s0));
  cr_assert_eq(egw_kdf(out, kausf, 32, 0x42, NULL, 0), 1);
  cr_assert_arr_eq(out, expect, 32);
  /* Three parameters, one empty: its length 00 00 still appears. */
  static const uint8_t s3[] = {0x42, 'a', 0x00, 0x01, 0x00, 0x00, 'b', 'c', 0x00, 0x02};
  hmac(expect, kausf, 32, s3, sizeof(s3));
  const struct egw_kdf_param p[3] = {{.data = (const uint8_t *)"a", .len = 1},
                                     {.data = NULL, .len = 0},
                                     {.data = (const uint8_t *)"bc", .len = 2}};
  cr_assert_eq(egw_kdf(out, kausf, 32, 0x42, p, 3), 1);
  cr_assert_arr_eq(out, expect, 32);
  /* A parameter that does not fit a 2-byte length, or no key: refused, output zeroed. */
  static uint8_t big[0x10000];
  const struct egw_kdf_param bp = {.data = big, .len = sizeof(big)};
  static const uint8_t zero[32];
  cr_assert_eq(egw_kdf(out, kausf, 32, 0x42, &bp, 1), 0);
  cr_assert_arr_eq(out, zero, 32);
  cr_assert_eq(egw_kdf(out, kausf, 0, 0x42, p, 3), 0);
}

Test(kdf, kedge_and_kedge_tid) {
  setup();
  static const uint8_t s_kedge[] = {0xE0, 'E', 'D', 'G', 'E', 0x00, 0x04, SUPI_BYTES, 0x00, 0x0f};
  static const uint8_t s_tid[] = {0xE1, 'E',  '-',        'T',  'I', 'D',
                                  0x00, 0x05, SUPI_BYTES, 0x00, 0x0f};
  uint8_t out[32], expect[32];
  hmac(expect, kausf, 32, s_kedge, sizeof(s_kedge));
  cr_assert_eq(egw_kdf_kedge(out, kausf, 32, supi), 1);
  cr_assert_arr_eq(out, expect, 32);
  hmac(expect, kausf, 32, s_tid, sizeof(s_tid));
  cr_assert_eq(egw_kdf_kedge_tid(out, kausf, 32, supi), 1);
  cr_assert_arr_eq(out, expect, 32);
}

Test(kdf, kedge_id_format) {
  setup();
  static const uint8_t s_tid[] = {0xE1, 'E',  '-',        'T',  'I', 'D',
                                  0x00, 0x05, SUPI_BYTES, 0x00, 0x0f};
  uint8_t tid[32];
  char hex[33], expect[EGW_KDF_ID_MAX], id[EGW_KDF_ID_MAX];
  hmac(tid, kausf, 32, s_tid, sizeof(s_tid));
  tohex(hex, tid, 16);

  /* Default rid "0"; a 2-digit MNC is padded to 3. */
  snprintf(expect, sizeof(expect), "0.%s@5gc.mnc001.mcc001.3gppnetwork.org", hex);
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, NULL, "001", "01"), 1);
  cr_assert_str_eq(id, expect);
  /* A routing indicator and a 3-digit MNC are used as given. */
  snprintf(expect, sizeof(expect), "1234.%s@5gc.mnc456.mcc310.3gppnetwork.org", hex);
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, "1234", "310", "456"), 1);
  cr_assert_str_eq(id, expect);
  /* Exactly enough room, then one byte short. */
  size_t need = strlen(expect) + 1;
  cr_assert_eq(egw_kdf_kedge_id(id, need, kausf, 32, supi, "1234", "310", "456"), 1);
  cr_assert_eq(egw_kdf_kedge_id(id, need - 1, kausf, 32, supi, "1234", "310", "456"), 0);
  cr_assert_str_eq(id, "");
  /* Malformed rid, MCC, MNC. */
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, "12345", "001", "01"), 0);
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, "a", "001", "01"), 0);
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, "", "001", "01"), 0);
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, NULL, "01", "01"), 0);
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, NULL, "001", "1"), 0);
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, NULL, "001", "0123"), 0);
  cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, supi, NULL, "00x", "01"), 0);
}

Test(kdf, bad_supi_refused) {
  setup();
  uint8_t out[32];
  static const uint8_t zero[32];
  char id[EGW_KDF_ID_MAX];
  const char *bad[] = {"",
                       "1234",
                       "1234567890123456",
                       "imsi-001010123456789",
                       "00101012345678a",
                       "001 010123456789",
                       NULL};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cr_assert_eq(egw_kdf_supi_valid(bad[i]), 0, "%s", bad[i] ? bad[i] : "(null)");
    cr_assert_eq(egw_kdf_kedge(out, kausf, 32, bad[i]), 0);
    cr_assert_arr_eq(out, zero, 32);
    cr_assert_eq(egw_kdf_k_akma(out, kausf, 32, bad[i]), 0);
    cr_assert_eq(egw_kdf_a_tid(out, kausf, 32, bad[i]), 0);
    cr_assert_eq(egw_kdf_kedge_id(id, sizeof(id), kausf, 32, bad[i], NULL, "001", "01"), 0);
    cr_assert_eq(egw_kdf_a_kid(id, sizeof(id), kausf, 32, bad[i], NULL, "001", "01"), 0);
  }
  cr_assert_eq(egw_kdf_supi_valid("12345"), 1);
  cr_assert_eq(egw_kdf_supi_valid("123456789012345"), 1);
}

Test(kdf, akma_keys_and_a_kid) {
  setup();
  static const uint8_t s_akma[] = {0x80, 'A', 'K', 'M', 'A', 0x00, 0x04, SUPI_BYTES, 0x00, 0x0f};
  static const uint8_t s_atid[] = {0x81, 'A',  '-',        'T',  'I', 'D',
                                   0x00, 0x05, SUPI_BYTES, 0x00, 0x0f};
  uint8_t out[32], expect[32];
  hmac(expect, kausf, 32, s_akma, sizeof(s_akma));
  cr_assert_eq(egw_kdf_k_akma(out, kausf, 32, supi), 1);
  cr_assert_arr_eq(out, expect, 32);
  hmac(expect, kausf, 32, s_atid, sizeof(s_atid));
  cr_assert_eq(egw_kdf_a_tid(out, kausf, 32, supi), 1);
  cr_assert_arr_eq(out, expect, 32);

  char hex[65], want[EGW_KDF_ID_MAX], akid[EGW_KDF_ID_MAX];
  tohex(hex, expect, 32);
  snprintf(want, sizeof(want), "7.%s@5gc.mnc099.mcc262.3gppnetwork.org", hex);
  cr_assert_eq(egw_kdf_a_kid(akid, sizeof(akid), kausf, 32, supi, "7", "262", "99"), 1);
  cr_assert_str_eq(akid, want);
}

Test(kdf, k_af_tls12_and_tls13) {
  uint8_t k_akma[32], out[32], expect[32], ua[EGW_KDF_UA_ID_LEN];
  for (int i = 0; i < 32; i++)
    k_akma[i] = (uint8_t)(0xA0 + i);
  /* AF_ID = "af.example" || 01 00 01 C0 A7, one parameter of length 15. */
  static const uint8_t s12[] = {0x82, 'a', 'f',  '.',  'e',  'x',  'a',  'm',  'p',
                                'l',  'e', 0x01, 0x00, 0x01, 0xC0, 0xA7, 0x00, 0x0f};
  egw_kdf_ua_id_tls12(ua, 0xC0A7);
  hmac(expect, k_akma, 32, s12, sizeof(s12));
  cr_assert_eq(egw_kdf_k_af(out, k_akma, 32, "af.example", ua), 1);
  cr_assert_arr_eq(out, expect, 32);

  static const uint8_t s13[] = {0x82, 'a', 'f',  '.',  'e',  'x',  'a',  'm',  'p',
                                'l',  'e', 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x0f};
  egw_kdf_ua_id_tls13(ua);
  hmac(expect, k_akma, 32, s13, sizeof(s13));
  cr_assert_eq(egw_kdf_k_af(out, k_akma, 32, "af.example", ua), 1);
  cr_assert_arr_eq(out, expect, 32);

  cr_assert_eq(egw_kdf_k_af(out, k_akma, 32, "", ua), 0);
  cr_assert_eq(egw_kdf_k_af(out, k_akma, 32, NULL, ua), 0);
}

Test(kdf, kecs_psk) {
  uint8_t msk[64], out[32], expect[32];
  for (int i = 0; i < 64; i++)
    msk[i] = (uint8_t)(0xFF - i);
  /* Key = MSK[0..32); P0 = "ecs1", P1 = 00 01 02 03. */
  static const uint8_t s[] = {0xE2, 'e',  'c',  's',  '1',  0x00, 0x04,
                              0x00, 0x01, 0x02, 0x03, 0x00, 0x04};
  hmac(expect, msk, 32, s, sizeof(s));
  cr_assert_eq(egw_kdf_kecs_psk(out, msk, 64, "ecs1", 0x00010203u), 1);
  cr_assert_arr_eq(out, expect, 32);
  /* Only the first 32 bytes count. */
  msk[40] ^= 1;
  cr_assert_eq(egw_kdf_kecs_psk(out, msk, 64, "ecs1", 0x00010203u), 1);
  cr_assert_arr_eq(out, expect, 32);
  cr_assert_eq(egw_kdf_kecs_psk(out, msk, 31, "ecs1", 1), 0);
  cr_assert_eq(egw_kdf_kecs_psk(out, msk, 64, "", 1), 0);
}
