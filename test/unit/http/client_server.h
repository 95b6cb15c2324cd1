/* A tiny HTTPS (or plain HTTP) server for the HTTP client's tests: one thread, blocking
 * BoringSSL sockets (or plain ones) on 127.0.0.1, one connection at a time, answering every request
 * with the response its mode scripts. What it saw is read after client_srv_stop (the thread is
 * joined). */
#ifndef EGW_TEST_HTTP_CLIENT_SERVER_H
#define EGW_TEST_HTTP_CLIENT_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

enum client_srv_mode {
  SRV_FIXED,       /* 200, Content-Length, body "hello <target>", X-Test: yes */
  SRV_ECHO,        /* 200 with the request body as the body */
  SRV_CHUNKED,     /* 200, chunked "hello world", with a trailer field */
  SRV_HUGE_CL,     /* 200 announcing 2 MiB with Content-Length, then sending it */
  SRV_HUGE_CHUNK,  /* 200 sending 2 MiB in chunks */
  SRV_SILENT,      /* reads the request, never answers, waits for the client to go */
  SRV_CLOSE_AFTER, /* like FIXED (keep-alive), then closes the connection at once */
  SRV_GARBAGE,     /* a line that is not HTTP, then closes */
  SRV_CONTINUE,    /* 100 Continue, 103 Early Hints, then like FIXED */
  SRV_EOF_BODY,    /* 200 without length, body until the close */
  SRV_REPEATED,    /* 200 with Set-Cookie twice (a=1, b=2) around X-Test, body "ok" */
  SRV_HUGE_HEAD,   /* 200 whose head holds a 70,000-byte field */
  SRV_RESET,       /* reads the request, then resets the connection */
  SRV_TRUNCATED,   /* Content-Length: 100, 10 bytes, close */
  SRV_EARLY,       /* reads the head only, answers 413 at once, reads nothing for 200 ms
                    * (the client is still writing when the answer arrives), then reads
                    * until the close */
};

struct client_srv {
  int listen_fd;
  uint16_t port;
  pthread_t thread;
  _Atomic int stop;
  SSL_CTX *ctx;
  enum client_srv_mode mode;
  /* Seen, read after client_srv_stop. */
  int n_conns;
  int n_requests;
  int handshakes_failed;
  char method[16];
  char target[256];
  char host[128];
  char content_type[128];
  char x_req[128];
  char body[4096];
  size_t body_len;
  char peer_cn[128];
  char peer_uri[256];
};

/* client_srv_start listens on 127.0.0.1 (an ephemeral port) with |cert|/|key|; with
 * |client_ca|, requires a client certificate from that CA. With |cert| NULL it speaks
 * plain HTTP. */
void client_srv_start(struct client_srv *s, enum client_srv_mode mode, const char *cert,
                      const char *key, const char *client_ca);
void client_srv_stop(struct client_srv *s);

#endif
