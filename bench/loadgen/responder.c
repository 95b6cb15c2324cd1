/* responder: a plain-HTTP/1.1 server that answers every request 200 with a small JSON
 * body, kept alive. It is the backend stunnel needs (and the EAS's upstream in the EEC
 * flow): written on libuv so that it costs little next to the TLS work measured. Requests
 * are cut at the blank line; a Content-Length body is skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loadgen.h"

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}";

struct rconn {
  uv_tcp_t tcp;
  char buf[16384];
  size_t len, skip; /* skip: body bytes still to drop */
};

static void on_close(uv_handle_t *h) { free(h->data); }

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  struct rconn *c = h->data;
  (void)suggested;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct rconn *c = s->data;
  (void)b;
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_close);
    return;
  }
  c->len += (size_t)n;
  unsigned answers = 0;
  for (;;) {
    if (c->skip) {
      size_t k = c->skip < c->len ? c->skip : c->len;
      memmove(c->buf, c->buf + k, c->len - k);
      c->len -= k;
      c->skip -= k;
      if (c->skip)
        break;
    }
    char *end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
    if (end == NULL)
      break;
    size_t head = (size_t)(end - c->buf) + 4;
    size_t vlen;
    const char *cl = lg_header(c->buf, head, "Content-Length", &vlen);
    c->skip = cl ? strtoul(cl, NULL, 10) : 0;
    memmove(c->buf, c->buf + head, c->len - head);
    c->len -= head;
    answers++;
  }
  if (c->len == sizeof(c->buf)) { /* a head larger than the buffer */
    uv_close((uv_handle_t *)s, on_close);
    return;
  }
  for (unsigned i = 0; i < answers; i++) {
    uv_buf_t out = uv_buf_init((char *)answer, sizeof(answer) - 1);
    if (uv_try_write(s, &out, 1) != (int)out.len) { /* small answers: never partial here */
      uv_close((uv_handle_t *)s, on_close);
      return;
    }
  }
}

static void on_conn(uv_stream_t *server, int status) {
  if (status < 0)
    return;
  struct rconn *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return;
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_close);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int lg_responder_main(int argc, char **argv) {
  const char *listen = NULL;
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "--listen") == 0 || strcmp(argv[i], "--port") == 0)
      listen = argv[++i];
  char hp[64];
  if (listen && strchr(listen, ':') == NULL) {
    snprintf(hp, sizeof(hp), "127.0.0.1:%s", listen);
    listen = hp;
  }
  struct sockaddr_in addr;
  if (listen == NULL || lg_parse_hostport(listen, &addr) != 0) {
    fprintf(stderr, "usage: edgegw-bench responder --port P | --listen HOST:PORT\n");
    return 2;
  }
  uv_tcp_t server;
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_init(loop, &server);
  int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&server, 4096, on_conn);
  if (rc != 0) {
    fprintf(stderr, "edgegw-bench responder: %s: %s\n", listen, uv_strerror(rc));
    return 1;
  }
  printf("responder listening on %s\n", listen);
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
