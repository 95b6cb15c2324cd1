/* The scripted application of the EAS tests (blocking I/O is fine here: it runs on its
 * own thread, never on the loop under test). */
#include "eas_upstream_srv.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST (4 * 1024 * 1024)

static int wait_readable(struct up_srv *s, int fd) {
  while (!s->stop) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 50) > 0)
      return 1;
  }
  return 0;
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t r = send(fd, p, len, MSG_NOSIGNAL);
    if (r <= 0)
      return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

static int write_str(int fd, const char *s) { return write_all(fd, s, strlen(s)); }

/* Reads one request (head and Content-Length body) into |buf|; returns its total length,
 * with *head_len the length of the head including the blank line, or -1 at the end. */
static ssize_t read_request(struct up_srv *s, int fd, char *buf, size_t *head_len) {
  size_t len = 0;
  char *end = NULL;
  while (end == NULL) {
    if (len >= 65536 || !wait_readable(s, fd))
      return -1;
    ssize_t r = recv(fd, buf + len, 65536 - len, 0);
    if (r <= 0)
      return -1;
    len += (size_t)r;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  *head_len = (size_t)(end + 4 - buf);
  s->body_seen = len - *head_len;
  size_t body = 0;
  for (const char *p = buf; (p = strstr(p, "\r\n")) != NULL && p < end;) {
    p += 2;
    if (strncasecmp(p, "content-length:", 15) == 0)
      body = strtoul(p + 15, NULL, 10);
  }
  if (body > MAX_REQUEST - *head_len)
    return -1;
  while (len < *head_len + body) {
    if (!wait_readable(s, fd))
      return -1;
    ssize_t r = recv(fd, buf + len, *head_len + body - len, 0);
    if (r <= 0)
      return -1;
    len += (size_t)r;
    s->body_seen = len - *head_len;
  }
  snprintf(s->last_head, sizeof(s->last_head), "%.*s", (int)*head_len, buf);
  s->last_body_len = body;
  s->n_requests++;
  return (ssize_t)len;
}

/* The answer to one request; returns 0 to keep the connection, -1 to close it. */
static int answer(struct up_srv *s, int fd, const char *req, size_t len) {
  char head[512];
  if (s->mode == UP_CONTINUE && write_str(fd, "HTTP/1.1 100 Continue\r\n\r\n") != 0)
    return -1;
  switch (s->mode) {
  case UP_CONTINUE:
  case UP_ECHO:
  case UP_CLOSE_AFTER:
    snprintf(head, sizeof(head),
             "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-App: yes\r\n"
             "Keep-Alive: timeout=5\r\nConnection: keep-alive, x-hop\r\nX-Hop: secret\r\n"
             "Proxy-Authenticate: Basic\r\nDate: yesterday\r\nContent-Length: %zu\r\n\r\n",
             len);
    if (write_str(fd, head) != 0 || write_all(fd, req, len) != 0)
      return -1;
    return s->mode == UP_CLOSE_AFTER ? -1 : 0;
  case UP_CHUNKED:
    write_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
                  "5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n");
    return 0;
  case UP_EOF_BODY:
    write_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    return -1;
  case UP_SILENT:
    while (wait_readable(s, fd)) {
      char b[256];
      if (recv(fd, b, sizeof(b), 0) <= 0)
        break;
    }
    return -1;
  case UP_GARBAGE:
    write_str(fd, "this is not HTTP\r\n\r\n");
    return -1;
  case UP_BAD_CHUNK:
    write_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    return -1;
  case UP_HUGE:
    write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\nxxxx");
    return -1;
  case UP_TRUNCATED:
    write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    return -1;
  case UP_DRIP:
    if (write_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"))
      return -1;
    usleep(1000 * 1000);
    write_str(fd, "d\r\n and the rest\r\n0\r\n\r\n");
    return 0;
  case UP_BIG: {
    if (write_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
      return -1;
    static char chunk[16384 + 16];
    int n = snprintf(chunk, sizeof(chunk), "4000\r\n");
    for (size_t sent = 0; sent < UP_BIG_BYTES; sent += 16384) {
      for (size_t i = 0; i < 16384; i++)
        chunk[n + i] = (char)('a' + (sent + i) % 26);
      memcpy(chunk + n + 16384, "\r\n", 2);
      if (write_all(fd, chunk, (size_t)n + 16384 + 2) != 0)
        return -1;
    }
    write_str(fd, "0\r\n\r\n");
    return 0;
  }
  case UP_HEAD_LENGTH:
    write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");
    return 0;
  }
  return -1;
}

static void *serve(void *arg) {
  struct up_srv *s = arg;
  char *buf = malloc(MAX_REQUEST + 1);
  while (!s->stop) {
    if (!wait_readable(s, s->listen_fd))
      break;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    s->n_conns++;
    size_t head_len;
    ssize_t len;
    while ((len = read_request(s, fd, buf, &head_len)) >= 0) {
      if (answer(s, fd, buf, (size_t)len) != 0)
        break;
    }
    close(fd);
  }
  free(buf);
  return NULL;
}

void up_srv_start(struct up_srv *s, enum up_mode mode) {
  memset(s, 0, sizeof(*s));
  s->mode = mode;
  s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert_geq(s->listen_fd, 0);
  int one = 1;
  setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
  cr_assert_eq(listen(s->listen_fd, 16), 0);
  socklen_t alen = sizeof(a);
  getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
  s->port = ntohs(a.sin_port);
  cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

void up_srv_stop(struct up_srv *s) {
  s->stop = 1;
  pthread_join(s->thread, NULL);
  close(s->listen_fd);
}

uint16_t up_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}
