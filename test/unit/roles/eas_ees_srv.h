/* A scripted EES for the EAS registration tests: EDGE-3 over mutual TLS (the ees1
 * certificate, client certificates from the site CA), one thread, blocking BoringSSL
 * sockets on 127.0.0.1, one connection at a time. */
#ifndef EGW_TEST_ROLES_EAS_EES_SRV_H
#define EGW_TEST_ROLES_EAS_EES_SRV_H

#include <pthread.h>
#include <stdint.h>

#include <openssl/ssl.h>

enum ees_mode {
  EES_OK,        /* POST: 201 + Location .../r<n>; PUT: 200; both grant 2 s */
  EES_RENEW_404, /* like OK, but the first PUT gets 404 */
  EES_SILENT,    /* reads a request, never answers */
};

#define EES_MAX_SEEN 8

struct ees_srv {
  int listen_fd;
  uint16_t port;
  pthread_t thread;
  _Atomic int stop;
  SSL_CTX *ctx;
  enum ees_mode mode;
  _Atomic int n_requests;
  int n_puts;
  /* Seen, read after ees_srv_stop (or once n_requests says they are there). */
  char methods[EES_MAX_SEEN][8];
  char targets[EES_MAX_SEEN][256];
  char bodies[EES_MAX_SEEN][2048];
  char peer_dns[128]; /* the client certificate's first DNS SAN */
};

/* ees_srv_start listens on 127.0.0.1:|port| (0: an ephemeral port). */
void ees_srv_start(struct ees_srv *s, enum ees_mode mode, uint16_t port);
void ees_srv_stop(struct ees_srv *s);

#endif
