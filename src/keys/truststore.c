/* The trust store: one X509_STORE with every CA certificate and CRL of the site, built
 * once and shared (by reference) with every SSL_CTX that verifies clients; CA
 * certificates learned at run time are added to the same store. */
#include "keys/truststore.h"
#include "util/format.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct egw_truststore {
  X509_STORE *store;
  size_t n_certs;
  size_t n_crls;
};

/* pem_ended_cleanly says whether the error queue only holds the "no more PEM blocks"
 * error that ends every successful read loop. */
static int pem_ended_cleanly(void) {
  unsigned long err = ERR_peek_last_error();
  return err == 0 ||
         (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
}

/* load_file adds every PEM object of one kind in |path| to |store|. */
static int load_file(X509_STORE *store, const char *path, int crls, size_t *out_count,
                     char **out_err) {
  const char *what = crls ? "CRL" : "certificate";
  ERR_clear_error();
  errno = 0;
  BIO *bio = BIO_new_file(path, "r");
  if (bio == NULL) {
    *out_err = egw_format("%s: cannot open: %s", path, errno ? strerror(errno) : "error");
    ERR_clear_error();
    return -1;
  }
  int ret = -1;
  size_t count = 0;
  for (;;) {
    int ok;
    if (crls) {
      X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
      if (crl == NULL)
        break;
      ok = X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
    } else {
      X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
      if (cert == NULL)
        break;
      ok = X509_STORE_add_cert(store, cert);
      X509_free(cert);
    }
    if (!ok) {
      *out_err = egw_format("%s: cannot add %s #%zu to the trust store", path, what, count + 1);
      goto end;
    }
    count++;
  }
  if (!pem_ended_cleanly()) {
    *out_err = egw_format("%s: invalid PEM %s #%zu: %s", path, what, count + 1,
                          ERR_reason_error_string(ERR_peek_last_error()));
    goto end;
  }
  if (count == 0) {
    *out_err = egw_format("%s: no %s found", path, what);
    goto end;
  }
  *out_count += count;
  ret = 0;
end:
  ERR_clear_error();
  BIO_free(bio);
  return ret;
}

struct egw_truststore *egw_truststore_new(const char *const *ca_files, size_t n_ca_files,
                                          const char *const *crl_files, size_t n_crl_files,
                                          char **out_err) {
  struct egw_truststore *ts = calloc(1, sizeof(*ts));
  if (ts == NULL || (ts->store = X509_STORE_new()) == NULL) {
    *out_err = strdup("trust store: out of memory");
    free(ts);
    return NULL;
  }
  for (size_t i = 0; i < n_ca_files; i++) {
    if (load_file(ts->store, ca_files[i], 0, &ts->n_certs, out_err) != 0)
      goto fail;
  }
  for (size_t i = 0; i < n_crl_files; i++) {
    if (load_file(ts->store, crl_files[i], 1, &ts->n_crls, out_err) != 0)
      goto fail;
  }
  return ts;
fail:
  egw_truststore_free(ts);
  return NULL;
}

void egw_truststore_free(struct egw_truststore *ts) {
  if (ts == NULL)
    return;
  X509_STORE_free(ts->store);
  free(ts);
}

/* in_store says whether |cert| is already one of the store's certificates. */
static int in_store(X509_STORE *store, X509 *cert) {
  int found = 0;
  STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
  for (size_t i = 0; !found && i < sk_X509_OBJECT_num(objs); i++) {
    X509 *have = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
    found = have != NULL && X509_cmp(have, cert) == 0;
  }
  return found;
}

int egw_truststore_add_pem(struct egw_truststore *ts, const char *pem, size_t len, char **out_err) {
  ERR_clear_error();
  if (len == 0 || len > INT_MAX) {
    *out_err = strdup(len ? "the PEM text is too large" : "no certificate found");
    return -1;
  }
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  if (bio == NULL) {
    *out_err = strdup("out of memory");
    return -1;
  }
  int ret = -1, added = 0;
  size_t count = 0;
  X509 *cert = NULL;
  while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    count++;
    /* A trust anchor that is not a CA would only ever vouch for itself. */
    if (X509_check_ca(cert) < 1) {
      *out_err = egw_format("certificate #%zu: not a CA certificate", count);
      goto end;
    }
    if (!in_store(ts->store, cert)) {
      if (!X509_STORE_add_cert(ts->store, cert)) {
        *out_err = egw_format("certificate #%zu: cannot add it to the trust store", count);
        goto end;
      }
      added++;
      ts->n_certs++;
    }
    X509_free(cert);
    cert = NULL;
  }
  if (!pem_ended_cleanly()) {
    *out_err = egw_format("certificate #%zu: invalid PEM: %s", count + 1,
                          ERR_reason_error_string(ERR_peek_last_error()));
    goto end;
  }
  if (count == 0) {
    *out_err = strdup("no certificate found");
    goto end;
  }
  ret = added;
end:
  X509_free(cert);
  ERR_clear_error();
  BIO_free(bio);
  return ret;
}

X509_STORE *egw_truststore_get0_store(const struct egw_truststore *ts) { return ts->store; }

int egw_truststore_has_crls(const struct egw_truststore *ts) { return ts->n_crls > 0; }
