/* The trust store: the site's CA certificates and CRLs, shared by every listener that
 * verifies client certificates. Built once; a reload builds a new one. The only change
 * made to a live store is egw_truststore_add_pem (CA certificates learned at run time). */
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
/* egw_truststore_add_pem adds every PEM certificate in |pem| (|len| bytes) to the live
 * store, so that handshakes starting afterwards on every SSL_CTX (and HTTP client) that
 * shares it trust them: an EES learns from its ECS the CAs that EEC client certificates
 * chain to. Each certificate must be a CA certificate; one already in the store is not an
 * error. Call it on the loop thread. Returns the number of certificates newly added
 * (0 when all were there), or -1 with *out_err (malloc'd, "certificate #N: reason") when
 * the text holds no certificate, an invalid one or one that is not a CA; on error the
 * certificates before the bad one stay added. */
int egw_truststore_add_pem(struct egw_truststore *ts, const char *pem, size_t len, char **out_err);
/* egw_truststore_has_crls says whether any CRL was loaded. */
int egw_truststore_has_crls(const struct egw_truststore *ts);

#endif
