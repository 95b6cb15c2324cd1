/* Key derivations for TLS-PSK (SPEC-NOTES "Keys for TLS-PSK"): the TS 33.220 Annex B.2
 * generic KDF and the keys built on it: Kedge and Kedge-ID (project FCs 0xE0/0xE1), the
 * AKMA keys of TS 33.535 (K_AKMA, A-TID, A-KID, K_AF) and KECS-PSK (TR 33.839 sol. 4,
 * project FC 0xE2). Every key is written to a caller buffer; intermediates are wiped.
 * Pure functions: no allocation, no globals, usable from any thread. */
#ifndef EGW_KEYS_KDF_H
#define EGW_KEYS_KDF_H

#include <stddef.h>
#include <stdint.h>

/* EGW_KDF_LEN is the length of every KDF output (HMAC-SHA-256). */
#define EGW_KDF_LEN 32
/* EGW_KDF_UA_ID_LEN is the length of a Ua* protocol identifier (TS 33.220 Annex H). */
#define EGW_KDF_UA_ID_LEN 5
/* EGW_KDF_ID_MAX is room for any Kedge-ID or A-KID this file writes, NUL included. */
#define EGW_KDF_ID_MAX 128

/* The FC values (TS 33.220 Annex A numbering; 0xE0..0xE2 are project choices). */
#define EGW_KDF_FC_KEDGE 0xE0
#define EGW_KDF_FC_KEDGE_TID 0xE1
#define EGW_KDF_FC_KECS_PSK 0xE2
#define EGW_KDF_FC_K_AKMA 0x80
#define EGW_KDF_FC_A_TID 0x81
#define EGW_KDF_FC_K_AF 0x82

/* egw_kdf_param is one input parameter Pi of the generic KDF; its length Li (at most
 * 0xFFFF) is encoded by the KDF. */
struct egw_kdf_param {
  const uint8_t *data;
  size_t len;
};

/* egw_kdf computes HMAC-SHA-256(|key|, S) with S = FC || P0 || L0 || P1 || L1 ... over
 * |num_params| parameters, each Li the length of Pi as 2 bytes big-endian (TS 33.220
 * Annex B.2), and writes the 32 bytes to |out_key|. Returns 1, or 0 when |key_len| is 0
 * or a parameter is longer than 0xFFFF bytes (|out_key| is then zeroed). */
int egw_kdf(uint8_t out_key[EGW_KDF_LEN], const uint8_t *key, size_t key_len, uint8_t fc,
            const struct egw_kdf_param *params, size_t num_params);

/* egw_kdf_supi_valid returns 1 when |supi| is an IMSI as this file takes it: 5 to 15
 * decimal digits and nothing else (no "imsi-" prefix), else 0. */
int egw_kdf_supi_valid(const char *supi);

/* egw_kdf_kedge writes Kedge = KDF(|kausf|, 0xE0, "EDGE", SUPI) to |out_kedge|. Returns
 * 1, or 0 for an invalid SUPI or an empty key. */
int egw_kdf_kedge(uint8_t out_kedge[EGW_KDF_LEN], const uint8_t *kausf, size_t kausf_len,
                  const char *supi);

/* egw_kdf_kedge_tid writes Kedge-TID = KDF(|kausf|, 0xE1, "E-TID", SUPI). Returns 1 or 0
 * as egw_kdf_kedge. */
int egw_kdf_kedge_tid(uint8_t out_tid[EGW_KDF_LEN], const uint8_t *kausf, size_t kausf_len,
                      const char *supi);

/* egw_kdf_realm writes "5gc.mnc<MNC>.mcc<MCC>.3gppnetwork.org" to |out| (capacity
 * |out_len|), the MNC zero-padded to 3 digits. |mcc| must be 3 digits and |mnc| 2 or 3.
 * Returns 1, or 0 for a malformed MCC/MNC or too small a buffer. */
int egw_kdf_realm(char *out, size_t out_len, const char *mcc, const char *mnc);

/* egw_kdf_kedge_id writes the Kedge-ID "<rid>.<hex of the first 16 bytes of
 * Kedge-TID>@<realm>" for |supi| to |out| (capacity |out_len|, EGW_KDF_ID_MAX is enough).
 * |rid| is the routing indicator (1 to 4 digits; NULL means "0"); |mcc| and |mnc| as for
 * egw_kdf_realm. Returns 1, or 0 for any invalid input or too small a buffer. */
int egw_kdf_kedge_id(char *out, size_t out_len, const uint8_t *kausf, size_t kausf_len,
                     const char *supi, const char *rid, const char *mcc, const char *mnc);

/* egw_kdf_k_akma writes K_AKMA = KDF(|kausf|, 0x80, "AKMA", SUPI) (TS 33.535 Annex A.2).
 * Returns 1 or 0 as egw_kdf_kedge. */
int egw_kdf_k_akma(uint8_t out_k_akma[EGW_KDF_LEN], const uint8_t *kausf, size_t kausf_len,
                   const char *supi);

/* egw_kdf_a_tid writes A-TID = KDF(|kausf|, 0x81, "A-TID", SUPI) (TS 33.535 Annex A.3).
 * Returns 1 or 0 as egw_kdf_kedge. */
int egw_kdf_a_tid(uint8_t out_a_tid[EGW_KDF_LEN], const uint8_t *kausf, size_t kausf_len,
                  const char *supi);

/* egw_kdf_a_kid writes the A-KID, an NAI username@realm (TS 33.535 clause 6.1: the
 * username holds the routing indicator and the A-TID, the realm the home network id):
 * "<rid>.<hex of the 32-byte A-TID>@<realm>" with the realm of egw_kdf_realm. The text
 * form of the A-TID (lowercase hex, whole) is a project choice, the same as Kedge-ID's.
 * Returns 1, or 0 for any invalid input or too small a buffer. */
int egw_kdf_a_kid(char *out, size_t out_len, const uint8_t *kausf, size_t kausf_len,
                  const char *supi, const char *rid, const char *mcc, const char *mnc);

/* egw_kdf_ua_id_tls12 writes the Ua* protocol id of TLS 1.2 shared-key mode with
 * |cipher_suite| (0x01 0x00 0x01, then the suite big-endian) to |out_id|. */
void egw_kdf_ua_id_tls12(uint8_t out_id[EGW_KDF_UA_ID_LEN], uint16_t cipher_suite);

/* egw_kdf_ua_id_tls13 writes the Ua* protocol id of TLS 1.3 (0x01 0x00 0x00 0x00 0x07). */
void egw_kdf_ua_id_tls13(uint8_t out_id[EGW_KDF_UA_ID_LEN]);

/* egw_kdf_k_af writes K_AF = KDF(|k_akma|, 0x82, AF_ID) with AF_ID = |af_fqdn| || |ua_id|
 * (TS 33.535 Annex A.4). |af_fqdn| must be 1 to 255 characters. Returns 1, or 0 for an
 * empty key or a bad FQDN. */
int egw_kdf_k_af(uint8_t out_k_af[EGW_KDF_LEN], const uint8_t *k_akma, size_t k_akma_len,
                 const char *af_fqdn, const uint8_t ua_id[EGW_KDF_UA_ID_LEN]);

/* egw_kdf_kecs_psk writes KECS-PSK = KDF(first 32 bytes of |msk|, 0xE2, |ecs_id|,
 * |counter| as 4 bytes big-endian). |msk_len| must be at least 32 and |ecs_id| non-empty.
 * Returns 1, or 0 for bad input. */
int egw_kdf_kecs_psk(uint8_t out_psk[EGW_KDF_LEN], const uint8_t *msk, size_t msk_len,
                     const char *ecs_id, uint32_t counter);

#endif
