/* The scripted HTTPS (or plain HTTP) server of the HTTP client's tests (blocking I/O is
 * fine here: it runs on its own thread, never on the loop under test). */
#include "client_server.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#define HUGE_BYTES (2 * 1024 * 1024)

/* One accepted connection: TLS when |ssl| is not NULL, else plain bytes on |fd|. */
struct io {
  SSL *ssl;
  int fd;
};

/* Waits until the connection is readable or the test stops; 1 when readable. */
static int wait_readable(struct client_srv *s, struct io *io) {
  while (!s->stop) {
    if (io->ssl && SSL_pending(io->ssl) > 0)
      return 1;
    struct pollfd p = {.fd = io->fd, .events = POLLIN};
    if (poll(&p, 1, 50) > 0)
      return 1;
  }
  return 0;
}

static int io_read(struct io *io, void *buf, size_t n) {
  return io->ssl ? SSL_read(io->ssl, buf, (int)n) : (int)recv(io->fd, buf, n, 0);
}

static int write_all(struct io *io, const char *data, size_t len) {
  while (len > 0) {
    int r =
        io->ssl ? SSL_write(io->ssl, data, (int)len) : (int)send(io->fd, data, len, MSG_NOSIGNAL);
    if (r <= 0)
      return -1;
    data += r;
    len -= (size_t)r;
  }
  return 0;
}

static void copy_header(const char *head, const char *name, char *out, size_t cap) {
  const char *p = head;
  size_t n = strlen(name);
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
      const char *v = p + n + 1;
      while (*v == ' ')
        v++;
      size_t len = strcspn(v, "\r");
      snprintf(out, cap, "%.*s", (int)len, v);
      return;
    }
  }
}

/* Reads one request (SRV_EARLY: its head only); 0 when one was read, -1 at the end of
 * the connection. */
static int read_request(struct client_srv *s, struct io *io) {
  char buf[16384];
  size_t len = 0;
  char *end = NULL;
  while (end == NULL) {
    if (len == sizeof(buf) - 1 || !wait_readable(s, io))
      return -1;
    int r = io_read(io, buf + len, sizeof(buf) - 1 - len);
    if (r <= 0)
      return -1;
    len += (size_t)r;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  *end = '\0';
  sscanf(buf, "%15s %255s", s->method, s->target);
  s->content_type[0] = s->x_req[0] = s->host[0] = '\0';
  copy_header(buf, "Host", s->host, sizeof(s->host));
  copy_header(buf, "Content-Type", s->content_type, sizeof(s->content_type));
  copy_header(buf, "X-Req", s->x_req, sizeof(s->x_req));
  if (s->mode == SRV_EARLY) {
    s->n_requests++;
    return 0;
  }
  char cl[32] = "0";
  copy_header(buf, "Content-Length", cl, sizeof(cl));
  size_t want = (size_t)strtoul(cl, NULL, 10);
  size_t have = len - (size_t)(end + 4 - buf);
  cr_assert_leq(want, sizeof(s->body));
  if (have > want)
    have = want; /* more than the body (a streamed body after a zero length): dropped */
  memcpy(s->body, end + 4, have);
  while (have < want) {
    if (!wait_readable(s, io))
      return -1;
    int r = io_read(io, s->body + have, want - have);
    if (r <= 0)
      return -1;
    have += (size_t)r;
  }
  s->body_len = want;
  s->n_requests++;
  return 0;
}

static int send_fixed(struct client_srv *s, struct io *io) {
  char resp[1024];
  int n = snprintf(resp, sizeof(resp),
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Test:  yes \r\n"
                   "Content-Length: %zu\r\n\r\nhello %s",
                   strlen("hello ") + strlen(s->target), s->target);
  return write_all(io, resp, (size_t)n);
}

static int send_huge(struct io *io, int chunked) {
  char head[256];
  int n = chunked ? snprintf(head, sizeof(head),
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                  : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
                             HUGE_BYTES);
  if (write_all(io, head, (size_t)n) != 0)
    return -1;
  static char block[16384];
  memset(block, 'x', sizeof(block));
  for (size_t sent = 0; sent < HUGE_BYTES; sent += sizeof(block)) {
    if (chunked && write_all(io, "4000\r\n", 6) != 0)
      return -1;
    if (write_all(io, block, sizeof(block)) != 0)
      return -1;
    if (chunked && write_all(io, "\r\n", 2) != 0)
      return -1;
  }
  return chunked ? write_all(io, "0\r\n\r\n", 5) : 0;
}

/* A head with one field larger than the client takes. */
static void send_huge_head(struct io *io) {
  static const char start[] = "HTTP/1.1 200 OK\r\nX-Big: ", end[] = "\r\nContent-Length: 0\r\n\r\n";
  static char field[70000];
  memset(field, 'h', sizeof(field));
  write_all(io, start, sizeof(start) - 1);
  write_all(io, field, sizeof(field));
  write_all(io, end, sizeof(end) - 1);
}

/* Reads until the client closes (or the test stops). */
static void drain(struct client_srv *s, struct io *io) {
  char sink[16384];
  while (wait_readable(s, io) && io_read(io, sink, sizeof(sink)) > 0) {
  }
}

/* Closes with a reset: no FIN, an RST. */
static void reset(struct io *io) {
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  setsockopt(io->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* Answers one request; 1 to keep the connection, 0 to close it. */
static int answer(struct client_srv *s, struct io *io) {
  static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  static const char garbage[] = "this is not HTTP at all\r\n\r\n";
  static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
  static const char eof_body[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end";
  static const char repeated[] = "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Test: yes\r\n"
                                 "Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok";
  static const char truncated[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
  static const char early[] = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n";
  char resp[8192];
  int n;
  switch (s->mode) {
  case SRV_FIXED:
    return send_fixed(s, io) == 0;
  case SRV_ECHO:
    n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%.*s",
                 s->body_len, (int)s->body_len, s->body);
    return write_all(io, resp, (size_t)n) == 0;
  case SRV_CHUNKED:
    return write_all(io, chunked, sizeof(chunked) - 1) == 0;
  case SRV_HUGE_CL:
  case SRV_HUGE_CHUNK:
    send_huge(io, s->mode == SRV_HUGE_CHUNK);
    return 0;
  case SRV_SILENT:
    drain(s, io);
    return 0;
  case SRV_CLOSE_AFTER:
    send_fixed(s, io);
    return 0;
  case SRV_GARBAGE:
    write_all(io, garbage, sizeof(garbage) - 1);
    return 0;
  case SRV_CONTINUE:
    if (write_all(io, interim, sizeof(interim) - 1) != 0)
      return 0;
    return send_fixed(s, io) == 0;
  case SRV_EOF_BODY:
    write_all(io, eof_body, sizeof(eof_body) - 1);
    if (io->ssl)
      SSL_shutdown(io->ssl);
    return 0;
  case SRV_REPEATED:
    return write_all(io, repeated, sizeof(repeated) - 1) == 0;
  case SRV_HUGE_HEAD:
    send_huge_head(io);
    return 0;
  case SRV_RESET:
    reset(io);
    return 0;
  case SRV_TRUNCATED:
    write_all(io, truncated, sizeof(truncated) - 1);
    return 0;
  case SRV_EARLY:
    write_all(io, early, sizeof(early) - 1);
    /* Not reading yet keeps the client's body in flight, so the answer really overtakes
     * the request on the client's side too. Draining at once let a fast client hand its
     * whole body to the kernel before its loop read the answer: indistinguishable, for
     * the client, from an answer after the request (the test then failed half the time). */
    usleep(200 * 1000);
    drain(s, io);
    return 0;
  }
  return 0;
}

static void record_peer(struct client_srv *s, SSL *ssl) {
  X509 *cert = SSL_get_peer_certificate(ssl);
  if (cert == NULL)
    return;
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, s->peer_cn,
                            sizeof(s->peer_cn));
  GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  for (size_t i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_URI) {
      snprintf(s->peer_uri, sizeof(s->peer_uri), "%.*s",
               (int)ASN1_STRING_length(g->d.uniformResourceIdentifier),
               (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
    }
  }
  GENERAL_NAMES_free(names);
  X509_free(cert);
}

static void serve(struct client_srv *s, int fd) {
  struct io io = {.fd = fd};
  if (s->ctx) {
    io.ssl = SSL_new(s->ctx);
    SSL_set_fd(io.ssl, fd);
    if (SSL_accept(io.ssl) != 1) {
      s->handshakes_failed++;
      goto done;
    }
    record_peer(s, io.ssl);
  }
  while (!s->stop && read_request(s, &io) == 0 && answer(s, &io)) {
  }
done:
  ERR_clear_error();
  SSL_free(io.ssl);
  close(fd);
}

static void *run(void *arg) {
  struct client_srv *s = arg;
  while (!s->stop) {
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0)
      continue;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    s->n_conns++;
    serve(s, fd);
  }
  return NULL;
}

void client_srv_start(struct client_srv *s, enum client_srv_mode mode, const char *cert,
                      const char *key, const char *client_ca) {
  signal(SIGPIPE, SIG_IGN);
  memset(s, 0, sizeof(*s));
  s->mode = mode;
  if (cert) {
    s->ctx = SSL_CTX_new(TLS_server_method());
    cr_assert_not_null(s->ctx);
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(s->ctx, cert), 1, "%s", cert);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM), 1, "%s", key);
  }
  if (client_ca) {
    cr_assert_eq(SSL_CTX_load_verify_locations(s->ctx, client_ca, NULL), 1);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert_geq(s->listen_fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
  cr_assert_eq(listen(s->listen_fd, 16), 0);
  socklen_t alen = sizeof(a);
  getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
  s->port = ntohs(a.sin_port);
  cr_assert_eq(pthread_create(&s->thread, NULL, run, s), 0);
}

void client_srv_stop(struct client_srv *s) {
  s->stop = 1;
  pthread_join(s->thread, NULL);
  close(s->listen_fd);
  SSL_CTX_free(s->ctx);
}
