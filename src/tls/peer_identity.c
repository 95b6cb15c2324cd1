/* The peer identity of a client certificate: URI SAN, else DNS SAN, else subject CN (the
 * order of TS 33.501 static authorization), plus the SHA-256 of the certificate DER for
 * certificate-bound tokens (RFC 8705). */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/internal.h"

/* dup_asn1 copies an IA5/UTF-8 string; names with NUL bytes or empty are refused, as a
 * NUL would let "a\0b" pass for "a" in later string comparisons. */
static char *dup_asn1(const ASN1_STRING *s) {
  const unsigned char *data = ASN1_STRING_get0_data(s);
  int len = ASN1_STRING_length(s);
  if (data == NULL || len <= 0 || memchr(data, '\0', (size_t)len) != NULL)
    return NULL;
  char *out = malloc((size_t)len + 1);
  if (out == NULL)
    return NULL;
  memcpy(out, data, (size_t)len);
  out[len] = '\0';
  return out;
}

/* first_san returns a copy of the first SAN of |type| (GEN_URI, GEN_DNS), or NULL. */
static char *first_san(GENERAL_NAMES *names, int type) {
  for (size_t i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != type)
      continue;
    const ASN1_IA5STRING *s = type == GEN_URI ? gn->d.uniformResourceIdentifier : gn->d.dNSName;
    char *id = dup_asn1(s);
    if (id)
      return id;
  }
  return NULL;
}

static char *subject_cn(X509 *leaf) {
  X509_NAME *subject = X509_get_subject_name(leaf);
  int idx = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (idx < 0)
    return NULL;
  ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
  unsigned char *utf8 = NULL;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len <= 0) {
    OPENSSL_free(utf8);
    return NULL;
  }
  char *out = NULL;
  if (memchr(utf8, '\0', (size_t)len) == NULL && (out = malloc((size_t)len + 1)) != NULL) {
    memcpy(out, utf8, (size_t)len);
    out[len] = '\0';
  }
  OPENSSL_free(utf8);
  return out;
}

int egw__tls_peer_from_cert(X509 *leaf, struct egw_peer *peer) {
  unsigned char *der = NULL;
  int der_len = i2d_X509(leaf, &der);
  if (der_len <= 0)
    return -1;
  SHA256(der, (size_t)der_len, peer->cert_sha256);
  OPENSSL_free(der);
  peer->has_cert_sha256 = 1;

  GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
  char *id = NULL;
  enum egw_peer_kind kind = EGW_PEER_NONE;
  if ((id = first_san(names, GEN_URI)) != NULL)
    kind = EGW_PEER_URI;
  else if ((id = first_san(names, GEN_DNS)) != NULL)
    kind = EGW_PEER_DNS;
  else if ((id = subject_cn(leaf)) != NULL)
    kind = EGW_PEER_CN;
  GENERAL_NAMES_free(names);
  if (id == NULL)
    return -1;
  peer->kind = kind;
  peer->id = id;
  return 0;
}
