/* The trust store: the site's CA certificates and CRLs, shared by every listener that
 * verifies client certificates. Immutable once built; a reload builds a new one. */
#ifndef EGW_KEYS_TRUSTSTORE_H
#define EGW_KEYS_TRUSTSTORE_H

#include <stddef.h>

#include <openssl/x509.h>

struct egw_truststore;

/* egw_truststore_new loads every PEM certificate of |ca_files| and every PEM CRL of
 * |crl_files|. A file without any certificate (or CRL) is an error. On error returns
 * NULL and sets *out_err (malloc'd) to "path: message". */
struct egw_truststore *egw_truststore_new(const char *const *ca_files, size_t n_ca_files,
                                          const char *const *crl_files, size_t n_crl_files,
                                          char **out_err);
/* egw_truststore_free releases |ts|; NULL is accepted. */
void egw_truststore_free(struct egw_truststore *ts);
/* egw_truststore_get0_store borrows the X509_STORE (CAs and CRLs). An SSL_CTX that
 * keeps it must take its own reference (X509_STORE_up_ref). */
X509_STORE *egw_truststore_get0_store(const struct egw_truststore *ts);
/* egw_truststore_has_crls says whether any CRL was loaded. */
int egw_truststore_has_crls(const struct egw_truststore *ts);

#endif
