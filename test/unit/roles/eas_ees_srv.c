/* The scripted EES of the registration tests (blocking I/O on its own thread). */
#include "eas_ees_srv.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#define CERTS "certs/out/"

static int wait_readable(struct ees_srv *s, SSL *ssl, int fd) {
  while (!s->stop) {
    if (SSL_pending(ssl) > 0)
      return 1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 50) > 0)
      return 1;
  }
  return 0;
}

/* Reads one request into the next seen[] slot; its index, or -1 at the end. */
static int read_request(struct ees_srv *s, SSL *ssl, int fd) {
  char buf[8192];
  size_t len = 0;
  char *end = NULL;
  while (end == NULL) {
    if (len == sizeof(buf) - 1 || !wait_readable(s, ssl, fd))
      return -1;
    int r = SSL_read(ssl, buf + len, (int)(sizeof(buf) - 1 - len));
    if (r <= 0)
      return -1;
    len += (size_t)r;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  int i = s->n_requests < EES_MAX_SEEN ? s->n_requests : EES_MAX_SEEN - 1;
  sscanf(buf, "%7s %255s", s->methods[i], s->targets[i]);
  const char *cl = strcasestr(buf, "\r\ncontent-length:");
  size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
  size_t have = len - (size_t)(end + 4 - buf);
  cr_assert_lt(want, sizeof(s->bodies[i]));
  memcpy(s->bodies[i], end + 4, have);
  while (have < want) {
    if (!wait_readable(s, ssl, fd))
      return -1;
    int r = SSL_read(ssl, s->bodies[i] + have, (int)(want - have));
    if (r <= 0)
      return -1;
    have += (size_t)r;
  }
  s->bodies[i][want] = '\0';
  return i;
}

static void exp_in(int seconds, char out[32]) {
  time_t t = time(NULL) + seconds;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Answers request |i|; 1 to keep the connection. */
static int answer(struct ees_srv *s, SSL *ssl, int fd, int i) {
  char resp[1024], exp[32], body[128];
  exp_in(3, exp);
  snprintf(body, sizeof(body),
           "{\"easProf\":{\"easId\":\"x\",\"endPt\":{\"uri\":\"u\"}},"
           "\"expTime\":\"%s\"}",
           exp);
  int n;
  if (s->mode == EES_SILENT) {
    char sink[256];
    while (wait_readable(s, ssl, fd) && SSL_read(ssl, sink, sizeof(sink)) > 0) {
    }
    return 0;
  }
  if (strcmp(s->methods[i], "POST") == 0) {
    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 201 Created\r\nLocation: /eees-easregistration/v1/registrations/r%d\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 i + 1, strlen(body), body);
  } else if (s->mode == EES_RENEW_404 && s->n_puts++ == 0) {
    n = snprintf(resp, sizeof(resp), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  } else {
    n = snprintf(
        resp, sizeof(resp),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
        strlen(body), body);
  }
  return SSL_write(ssl, resp, n) == n;
}

static void record_peer(struct ees_srv *s, SSL *ssl) {
  X509 *cert = SSL_get_peer_certificate(ssl);
  GENERAL_NAMES *names = cert ? X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL) : NULL;
  for (size_t i = 0; names && i < sk_GENERAL_NAME_num(names) && !s->peer_dns[0]; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS)
      snprintf(s->peer_dns, sizeof(s->peer_dns), "%.*s", (int)ASN1_STRING_length(g->d.dNSName),
               (const char *)ASN1_STRING_get0_data(g->d.dNSName));
  }
  GENERAL_NAMES_free(names);
  X509_free(cert);
}

static void *run(void *arg) {
  struct ees_srv *s = arg;
  while (!s->stop) {
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0)
      continue;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    SSL *ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      record_peer(s, ssl);
      int i;
      while (!s->stop && (i = read_request(s, ssl, fd)) >= 0) {
        int keep = answer(s, ssl, fd, i);
        s->n_requests++;
        if (!keep)
          break;
      }
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
  }
  return NULL;
}

void ees_srv_start(struct ees_srv *s, enum ees_mode mode, uint16_t port) {
  signal(SIGPIPE, SIG_IGN);
  memset(s, 0, sizeof(*s));
  s->mode = mode;
  s->ctx = SSL_CTX_new(TLS_server_method());
  cr_assert_not_null(s->ctx);
  cr_assert_eq(SSL_CTX_use_certificate_chain_file(s->ctx, CERTS "ees1.pem"), 1);
  cr_assert_eq(SSL_CTX_use_PrivateKey_file(s->ctx, CERTS "ees1.key", SSL_FILETYPE_PEM), 1);
  cr_assert_eq(SSL_CTX_load_verify_locations(s->ctx, CERTS "ca.pem", NULL), 1);
  SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert_geq(s->listen_fd, 0);
  int one = 1;
  setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {
      .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
  cr_assert_eq(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
  cr_assert_eq(listen(s->listen_fd, 16), 0);
  socklen_t alen = sizeof(a);
  getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
  s->port = ntohs(a.sin_port);
  cr_assert_eq(pthread_create(&s->thread, NULL, run, s), 0);
}

void ees_srv_stop(struct ees_srv *s) {
  s->stop = 1;
  pthread_join(s->thread, NULL);
  close(s->listen_fd);
  SSL_CTX_free(s->ctx);
}
