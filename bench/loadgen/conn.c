/* One TLS client connection on libuv: the socket carries ciphertext, BoringSSL works on
 * two memory BIOs (so the loop never blocks in SSL_*), and decrypted bytes are cut into
 * HTTP/1.1 responses by Content-Length. Every failure goes through fail() once, then the
 * handle closes and on_closed tells the owner it may reuse the struct. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "loadgen.h"

struct wreq {
  uv_write_t req;
  uv_buf_t buf;
};

static void on_closed(uv_handle_t *h) {
  struct lg_conn *c = h->data;
  SSL_free(c->ssl); /* frees both BIOs */
  c->ssl = NULL;
  free(c->in);
  c->in = NULL;
  c->in_len = c->in_cap = 0;
  if (c->cbs->on_closed)
    c->cbs->on_closed(c);
}

static void close_handle(struct lg_conn *c) {
  if (c->closing)
    return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void fail(struct lg_conn *c, enum lg_err kind, const char *detail) {
  if (c->failed || c->closing)
    return;
  c->failed = 1;
  ERR_clear_error();
  c->cbs->on_error(c, kind, detail);
  close_handle(c);
}

static void on_written(uv_write_t *req, int status) {
  struct wreq *w = (struct wreq *)req;
  struct lg_conn *c = req->data;
  free(w->buf.base);
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    fail(c, LG_E_CLOSED, uv_strerror(status));
}

/* flush sends what TLS wrote into the memory BIO. */
static int flush(struct lg_conn *c) {
  size_t pending = BIO_ctrl_pending(c->wbio);
  if (pending == 0 || c->closing)
    return 0;
  struct wreq *w = malloc(sizeof(*w));
  char *data = malloc(pending);
  if (w == NULL || data == NULL) {
    free(w);
    free(data);
    fail(c, LG_E_CLOSED, "out of memory");
    return -1;
  }
  int n = BIO_read(c->wbio, data, (int)pending);
  w->buf = uv_buf_init(data, (unsigned)(n > 0 ? n : 0));
  w->req.data = c;
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_written);
  if (rc != 0) {
    free(data);
    free(w);
    fail(c, LG_E_CLOSED, uv_strerror(rc));
    return -1;
  }
  return 0;
}

const char *lg_header(const char *head, size_t head_len, const char *name, size_t *len) {
  size_t nl = strlen(name);
  const char *p = memchr(head, '\n', head_len); /* skip the status line */
  const char *end = head + head_len;
  while (p != NULL && ++p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL)
      eol = end;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      const char *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
        ve--;
      *len = (size_t)(ve - v);
      return v;
    }
    p = eol;
  }
  return NULL;
}

/* parse hands every complete response in c->in to the owner. */
static void parse(struct lg_conn *c) {
  size_t off = 0;
  while (!c->closing && !c->failed) {
    const char *buf = c->in + off;
    size_t len = c->in_len - off;
    const char *end = len >= 4 ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
    if (end == NULL) {
      if (len > 65536)
        fail(c, LG_E_PARSE, "response head over 64 KiB");
      break;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    int status = 0;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || (status = atoi(buf + 9)) < 100) {
      fail(c, LG_E_PARSE, "bad status line");
      break;
    }
    size_t vlen = 0;
    const char *cl = lg_header(buf, head_len, "Content-Length", &vlen);
    size_t body_len = 0;
    if (cl != NULL) {
      body_len = strtoul(cl, NULL, 10);
    } else if (status != 204 && status != 304 && !(status >= 100 && status < 200)) {
      fail(c, LG_E_PARSE, "response without Content-Length");
      break;
    }
    if (len < head_len + body_len)
      break;
    const char *conn_hdr = lg_header(buf, head_len, "Connection", &vlen);
    c->server_closes = conn_hdr != NULL && vlen >= 5 && strncasecmp(conn_hdr, "close", 5) == 0;
    off += head_len + body_len;
    c->cbs->on_response(c, status, buf, head_len, buf + head_len, body_len);
  }
  if (c->in != NULL && off > 0) {
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
  }
}

static void drive(struct lg_conn *c) {
  if (!c->ready) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ) {
        flush(c);
        return;
      }
      flush(c); /* the alert, if any */
      char detail[160];
      ERR_error_string_n(ERR_peek_error(), detail, sizeof(detail));
      fail(c, LG_E_TLS, detail);
      return;
    }
    c->ready = 1;
    if (flush(c) != 0)
      return;
    c->cbs->on_ready(c);
    if (c->closing || c->failed)
      return;
  }
  for (;;) {
    if (c->in_cap - c->in_len < 16384) {
      size_t cap = c->in_cap ? c->in_cap * 2 : 32768;
      char *n = realloc(c->in, cap);
      if (n == NULL) {
        fail(c, LG_E_CLOSED, "out of memory");
        return;
      }
      c->in = n;
      c->in_cap = cap;
    }
    int n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
    if (n > 0) {
      c->in_len += (size_t)n;
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ)
      break;
    parse(c);
    fail(c, e == SSL_ERROR_ZERO_RETURN ? LG_E_CLOSED : LG_E_TLS,
         e == SSL_ERROR_ZERO_RETURN ? "close_notify" : "TLS error while reading");
    return;
  }
  flush(c); /* e.g. a key update answer */
  parse(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char slab[65536]; /* one loop, one thread: read callbacks never nest */
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct lg_conn *c = s->data;
  if (nread < 0) {
    fail(c, c->ready ? LG_E_CLOSED : LG_E_TLS,
         nread == UV_EOF ? "connection closed by the server" : uv_strerror((int)nread));
    return;
  }
  if (nread == 0 || c->closing)
    return;
  BIO_write(c->rbio, buf->base, (int)nread);
  drive(c);
}

static void on_connect(uv_connect_t *req, int status) {
  struct lg_conn *c = req->data;
  if (c->closing)
    return;
  if (status < 0) {
    fail(c, LG_E_CONNECT, uv_strerror(status));
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc != 0) {
    fail(c, LG_E_CONNECT, uv_strerror(rc));
    return;
  }
  drive(c);
}

int lg_conn_start(struct lg_conn *c, uv_loop_t *loop, SSL_CTX *ctx, const char *sni,
                  const struct sockaddr_in *dst, const struct sockaddr_in *src,
                  const struct lg_conn_cbs *cbs, void *owner) {
  *c = (struct lg_conn){.cbs = cbs, .owner = owner};
  c->ssl = SSL_new(ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
    SSL_free(c->ssl);
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    c->ssl = NULL;
    return UV_ENOMEM;
  }
  BIO_set_mem_eof_return(c->rbio, -1); /* empty means "wait", not EOF */
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  SSL_set_connect_state(c->ssl);
  if (sni)
    SSL_set_tlsext_host_name(c->ssl, sni);
  int rc = uv_tcp_init_ex(loop, &c->tcp, AF_INET);
  if (rc != 0) {
    SSL_free(c->ssl);
    c->ssl = NULL;
    return rc;
  }
  c->tcp.data = c;
  c->connect_req.data = c;
  if (src != NULL) {
    /* Many source addresses: pick the port at connect time (per destination), not at
     * bind time, or 127.0.0.x:port pairs run out at ~28k per address. */
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)src, 0);
  }
  if (rc == 0)
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)dst, on_connect);
  if (rc != 0) {
    fail(c, LG_E_CONNECT, uv_strerror(rc));
    return 0; /* on_error and on_closed follow */
  }
  return 0;
}

int lg_conn_send(struct lg_conn *c, const char *data, size_t len) {
  if (c->closing || c->failed || !c->ready)
    return -1;
  int n = SSL_write(c->ssl, data, (int)len);
  if (n != (int)len) {
    fail(c, LG_E_TLS, "SSL_write failed");
    return -1;
  }
  return flush(c);
}

void lg_conn_close(struct lg_conn *c) {
  if (c->closing)
    return;
  if (c->ready && !c->failed) {
    SSL_shutdown(c->ssl);
    flush(c);
  }
  close_handle(c);
}
