/* token_load: a load client for edgegw's ECS token endpoint (POST /oauth2/token).
 *
 * Opens N kept-alive mutual-TLS 1.3 connections (one thread each, blocking sockets),
 * and on each keeps `depth` requests outstanding: it sends `depth` requests, then one
 * more for every response read. Responses are parsed by Content-Length; a 200 whose body
 * holds "access_token" counts as a token, anything else as an error (first few printed).
 * After a warm-up it counts tokens for a fixed duration and prints tokens/s.
 *
 * Not edgegw code: a plain BoringSSL client. Build (run.sh does this):
 *   cc -std=c17 -O2 -D_GNU_SOURCE -I /usr/include/android bench/token_issue/token_load.c \
 *     /usr/lib/x86_64-linux-gnu/android/libssl.so /usr/lib/x86_64-linux-gnu/android/libcrypto.so \
 *     -Wl,-rpath,/usr/lib/x86_64-linux-gnu/android -lpthread -o token_load
 *
 * Usage: token_load -p PORT [-H 127.0.0.1] [-c 4] [-d 10] [-w 1] [-q 1] [-C certs/out]
 *                   [-s spiffe://site1/ees/ees1] [-a ees9.site1.example] [-S eees-whoami] [-P]
 *
 * -P polls: the sockets are non-blocking after the handshake and a thread waiting for a
 * response retries (yielding the CPU) instead of sleeping in the kernel. On loopback the
 * server's write runs the client's TCP receive path and wakes the sleeping reader on its
 * own core (an inter-processor interrupt; costly in a VM); with a NIC that cost falls on
 * the client host. Polling keeps the client awake so that the server's figure leaves it
 * out. It needs a core of its own for the client (run.sh pins server and client).
 * The last line of output is machine-readable: "RESULT tokens_per_s=... errors=... ...".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct opts {
  const char *host;
  int port;
  int conns;
  double duration_s;
  double warmup_s;
  int depth;
  const char *certs;
  const char *sub;
  const char *aud;
  const char *scope;
  int poll; /* -P: never sleep in the kernel waiting for a response (see the header) */
};

struct worker {
  pthread_t thread;
  int id;
  SSL_CTX *ctx;
  const struct opts *o;
  const char *req;
  size_t req_len;
  _Atomic uint64_t ok;       /* 200 with an access_token */
  _Atomic uint64_t errors;   /* any other status or a malformed response */
  _Atomic uint64_t reconnects;
  _Atomic uint64_t lat_ns;   /* sum of request->response latencies of the ok ones */
  int failed;                /* gave up: could not (re)connect */
};

static atomic_int g_stop;
static atomic_int g_err_printed;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void report_error(int id, const char *what, const char *detail, size_t n) {
  if (atomic_fetch_add(&g_err_printed, 1) >= 5)
    return;
  if (n > 300)
    n = 300;
  fprintf(stderr, "token_load: conn %d: %s%s%.*s\n", id, what, detail ? ": " : "",
          detail ? (int)n : 0, detail ? detail : "");
}

static void ssl_fail(int id, const char *what) {
  if (atomic_fetch_add(&g_err_printed, 1) >= 5)
    return;
  char buf[256];
  unsigned long e = ERR_get_error();
  ERR_error_string_n(e, buf, sizeof buf);
  fprintf(stderr, "token_load: conn %d: %s: %s (errno %d)\n", id, what, e ? buf : "-", errno);
}

static SSL *connect_tls(struct worker *w, int *fd_out) {
  const struct opts *o = w->o;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return NULL;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
  if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1 ||
      connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    ssl_fail(w->id, "connect");
    close(fd);
    return NULL;
  }
  SSL *ssl = SSL_new(w->ctx);
  if (ssl == NULL) {
    close(fd);
    return NULL;
  }
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (SSL_connect(ssl) != 1) {
    ssl_fail(w->id, "TLS handshake");
    SSL_free(ssl);
    close(fd);
    return NULL;
  }
  if (o->poll) {
    struct timeval none = {0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  *fd_out = fd;
  return ssl;
}

/* want_retry says whether a failed SSL_read/SSL_write on a non-blocking socket (-P) only
 * has to be tried again; it yields the CPU to the other client threads first. */
static int want_retry(SSL *ssl, int n) {
  int e = SSL_get_error(ssl, n);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
    return 0;
  sched_yield();
  return 1;
}

/* Writes all of buf; 0 on success. */
static int write_all(SSL *ssl, const char *buf, size_t len) {
  while (len > 0) {
    int n = SSL_write(ssl, buf, (int)len);
    if (n <= 0 && want_retry(ssl, n))
      continue;
    if (n <= 0)
      return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Case-insensitive search of a header's value in [head, head_end). */
static const char *find_header(const char *head, const char *head_end, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = head; p < head_end;) {
    const char *eol = memmem(p, (size_t)(head_end - p), "\r\n", 2);
    if (eol == NULL)
      eol = head_end;
    if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      return v;
    }
    p = eol + 2;
  }
  return NULL;
}

static void *run_worker(void *arg) {
  struct worker *w = arg;
  const struct opts *o = w->o;
  size_t cap = 1 << 16;
  char *buf = malloc(cap + 1);
  uint64_t *sent_at = calloc((size_t)o->depth, sizeof *sent_at);
  if (buf == NULL || sent_at == NULL) {
    w->failed = 1;
    return NULL;
  }
  int fd = -1;
  SSL *ssl = NULL;
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    if (ssl == NULL) {
      ssl = connect_tls(w, &fd);
      if (ssl == NULL) {
        w->failed = 1;
        break;
      }
    }
    /* Fill the pipeline, then read responses one by one, sending one per response. */
    size_t head = 0, tail = 0; /* ring indices into sent_at (mod depth) */
    int broken = 0;
    for (int i = 0; i < o->depth; i++) {
      sent_at[tail++ % (size_t)o->depth] = now_ns();
      if (write_all(ssl, w->req, w->req_len) != 0) {
        ssl_fail(w->id, "write");
        broken = 1;
        break;
      }
    }
    size_t len = 0;
    while (!broken && head < tail) {
      /* Parse as many complete responses as the buffer holds. */
      for (;;) {
        buf[len] = '\0';
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end == NULL)
          break;
        size_t hlen = (size_t)(end - buf) + 4;
        int status = 0;
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
          report_error(w->id, "bad status line", buf, hlen);
          broken = 1;
          break;
        }
        const char *cl = find_header(buf, end + 2, "Content-Length");
        if (cl == NULL) {
          report_error(w->id, "response without Content-Length", buf, hlen);
          broken = 1;
          break;
        }
        size_t blen = strtoul(cl, NULL, 10);
        if (hlen + blen > cap) {
          report_error(w->id, "response too large", buf, hlen);
          broken = 1;
          break;
        }
        if (len < hlen + blen)
          break; /* body not complete yet */
        uint64_t t0 = sent_at[head++ % (size_t)o->depth];
        const char *body = buf + hlen;
        if (status == 200 && memmem(body, blen, "\"access_token\"", 14) != NULL) {
          atomic_fetch_add_explicit(&w->ok, 1, memory_order_relaxed);
          atomic_fetch_add_explicit(&w->lat_ns, now_ns() - t0, memory_order_relaxed);
        } else {
          atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed);
          char what[32];
          snprintf(what, sizeof what, "status %d", status);
          report_error(w->id, what, body, blen);
        }
        const char *conn_hdr = find_header(buf, end + 2, "Connection");
        int server_closes = conn_hdr != NULL && strncasecmp(conn_hdr, "close", 5) == 0;
        memmove(buf, buf + hlen + blen, len - hlen - blen);
        len -= hlen + blen;
        if (server_closes) {
          broken = 2; /* reconnect without counting an error */
          break;
        }
        if (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
          sent_at[tail++ % (size_t)o->depth] = now_ns();
          if (write_all(ssl, w->req, w->req_len) != 0) {
            ssl_fail(w->id, "write");
            broken = 1;
            break;
          }
        }
      }
      if (broken || head >= tail)
        break;
      int n = SSL_read(ssl, buf + len, (int)(cap - len));
      /* Outstanding requests are answered even after the stop: waiting for them is what
       * the blocking mode does too. */
      while (n <= 0 && o->poll && want_retry(ssl, n))
        n = SSL_read(ssl, buf + len, (int)(cap - len));
      if (n <= 0) {
        ssl_fail(w->id, "read (connection closed)");
        broken = 1;
        break;
      }
      len += (size_t)n;
    }
    if (broken) {
      /* Requests lost with the connection count as errors (a failed read or write is
       * one at least, even with nothing outstanding). */
      uint64_t lost = tail - head;
      if (broken == 1 && lost == 0)
        lost = 1;
      atomic_fetch_add_explicit(&w->errors, lost, memory_order_relaxed);
    }
    if (broken) {
      atomic_fetch_add_explicit(&w->reconnects, 1, memory_order_relaxed);
    }
    if (broken || atomic_load_explicit(&g_stop, memory_order_relaxed)) {
      if (broken != 1)
        SSL_shutdown(ssl);
      SSL_free(ssl);
      close(fd);
      ssl = NULL;
      fd = -1;
    }
  }
  if (ssl != NULL) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
  }
  free(buf);
  free(sent_at);
  return NULL;
}

static void snapshot(struct worker *ws, int n, uint64_t *ok, uint64_t *err, uint64_t *rc,
                     uint64_t *lat) {
  *ok = *err = *rc = *lat = 0;
  for (int i = 0; i < n; i++) {
    *ok += atomic_load(&ws[i].ok);
    *err += atomic_load(&ws[i].errors);
    *rc += atomic_load(&ws[i].reconnects);
    *lat += atomic_load(&ws[i].lat_ns);
  }
}

static void sleep_s(double s) {
  struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: token_load -p PORT [-H host] [-c conns=4] [-d duration_s=10] [-w warmup_s=1]\n"
          "                  [-q depth=1] [-C certs_dir=certs/out] [-s nfInstanceId]\n"
          "                  [-a targetNfInstanceId] [-S scope] [-P poll]\n");
  exit(2);
}

/* application/x-www-form-urlencoded value: unreserved bytes as is, the rest %XX. */
static void form_encode(char *out, size_t cap, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (; *s && o + 4 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      out[o++] = (char)c;
    } else if (c == ' ') {
      out[o++] = '+';
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = '\0';
}

int main(int argc, char **argv) {
  struct opts o = {.host = "127.0.0.1",
                   .conns = 4,
                   .duration_s = 10,
                   .warmup_s = 1,
                   .depth = 1,
                   .certs = "certs/out",
                   .sub = "spiffe://site1/ees/ees1",
                   .aud = "ees9.site1.example",
                   .scope = "eees-whoami"};
  int c;
  while ((c = getopt(argc, argv, "H:p:c:d:w:q:C:s:a:S:Ph")) != -1) {
    switch (c) {
    case 'H': o.host = optarg; break;
    case 'p': o.port = atoi(optarg); break;
    case 'c': o.conns = atoi(optarg); break;
    case 'd': o.duration_s = atof(optarg); break;
    case 'w': o.warmup_s = atof(optarg); break;
    case 'q': o.depth = atoi(optarg); break;
    case 'C': o.certs = optarg; break;
    case 's': o.sub = optarg; break;
    case 'a': o.aud = optarg; break;
    case 'S': o.scope = optarg; break;
    case 'P': o.poll = 1; break;
    default: usage();
    }
  }
  if (o.port <= 0 || o.conns <= 0 || o.depth <= 0 || o.duration_s <= 0 || o.warmup_s < 0)
    usage();

  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  char path[1024];
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  snprintf(path, sizeof path, "%s/ca.pem", o.certs);
  if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
    fprintf(stderr, "token_load: cannot load %s\n", path);
    return 1;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  snprintf(path, sizeof path, "%s/ees1-client.pem", o.certs);
  if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
    fprintf(stderr, "token_load: cannot load %s\n", path);
    return 1;
  }
  snprintf(path, sizeof path, "%s/ees1-client.key", o.certs);
  if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1) {
    fprintf(stderr, "token_load: cannot load %s\n", path);
    return 1;
  }

  char sub[512], aud[512], scope[512], body[2048], req[4096];
  form_encode(sub, sizeof sub, o.sub);
  form_encode(aud, sizeof aud, o.aud);
  form_encode(scope, sizeof scope, o.scope);
  int blen = snprintf(body, sizeof body,
                      "grant_type=client_credentials&nfInstanceId=%s&scope=%s"
                      "&targetNfInstanceId=%s",
                      sub, scope, aud);
  int rlen = snprintf(req, sizeof req,
                      "POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      blen, body);

  struct worker *ws = calloc((size_t)o.conns, sizeof *ws);
  for (int i = 0; i < o.conns; i++) {
    ws[i] = (struct worker){.id = i, .ctx = ctx, .o = &o, .req = req, .req_len = (size_t)rlen};
    if (pthread_create(&ws[i].thread, NULL, run_worker, &ws[i]) != 0) {
      fprintf(stderr, "token_load: pthread_create failed\n");
      return 1;
    }
  }

  uint64_t ok0, err0, rc0, lat0, ok1, err1, rc1, lat1;
  sleep_s(o.warmup_s);
  snapshot(ws, o.conns, &ok0, &err0, &rc0, &lat0);
  uint64_t t0 = now_ns();
  sleep_s(o.duration_s);
  snapshot(ws, o.conns, &ok1, &err1, &rc1, &lat1);
  uint64_t t1 = now_ns();
  atomic_store(&g_stop, 1);
  int failed = 0;
  for (int i = 0; i < o.conns; i++) {
    pthread_join(ws[i].thread, NULL);
    failed += ws[i].failed;
  }
  uint64_t okT, errT, rcT, latT;
  snapshot(ws, o.conns, &okT, &errT, &rcT, &latT);

  double secs = (double)(t1 - t0) / 1e9;
  uint64_t ok = ok1 - ok0, err = err1 - err0;
  double rate = (double)ok / secs;
  double mean_ms = ok ? (double)(lat1 - lat0) / (double)ok / 1e6 : 0;
  printf("connections %d, pipeline depth %d, warm-up %.1f s, measured %.3f s\n", o.conns,
         o.depth, o.warmup_s, secs);
  printf("tokens (200): %llu, errors: %llu, reconnects: %llu, mean latency %.3f ms\n",
         (unsigned long long)ok, (unsigned long long)err, (unsigned long long)(rc1 - rc0),
         mean_ms);
  printf("whole run incl. warm-up and drain: tokens %llu, errors %llu, failed connections %d\n",
         (unsigned long long)okT, (unsigned long long)errT, failed);
  printf("tokens/s: %.1f\n", rate);
  printf("RESULT tokens_per_s=%.1f tokens=%llu errors=%llu total_errors=%llu reconnects=%llu "
         "failed_conns=%d seconds=%.3f mean_latency_ms=%.3f\n",
         rate, (unsigned long long)ok, (unsigned long long)err, (unsigned long long)errT,
         (unsigned long long)(rcT), failed, secs, mean_ms);
  SSL_CTX_free(ctx);
  free(ws);
  return (errT == 0 && failed == 0 && ok > 0) ? 0 : 1;
}
