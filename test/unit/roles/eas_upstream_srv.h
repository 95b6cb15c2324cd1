/* A scripted plain-HTTP application for the EAS tests: one thread, blocking sockets on
 * 127.0.0.1, one connection at a time, answering every request as its mode says. What
 * it saw is read after up_srv_stop (the thread is joined). */
#ifndef EGW_TEST_ROLES_EAS_UPSTREAM_SRV_H
#define EGW_TEST_ROLES_EAS_UPSTREAM_SRV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum up_mode {
  UP_ECHO,        /* 200 keep-alive, body = the request head and body as received; with
                     hop-by-hop response fields the proxy must not pass on */
  UP_CHUNKED,     /* 200, chunked "hello world", a trailer field */
  UP_EOF_BODY,    /* 200 without a length, the body ends with the close */
  UP_SILENT,      /* reads the request, never answers, waits for the client to go */
  UP_GARBAGE,     /* a line that is not HTTP, then closes */
  UP_BAD_CHUNK,   /* chunked with a chunk size that is not hex */
  UP_HUGE,        /* 200 announcing 10 MiB with Content-Length */
  UP_CONTINUE,    /* 100 Continue, then like ECHO */
  UP_CLOSE_AFTER, /* like ECHO, then closes the connection at once */
  UP_TRUNCATED,   /* Content-Length: 100, 10 bytes, close */
  UP_HEAD_LENGTH, /* 200 with Content-Length: 42 and no body (an answer to HEAD) */
  UP_DRIP,        /* 200 chunked: "first" at once, then after 1 s " and the rest" */
  UP_BIG,         /* 200 chunked, UP_BIG_BYTES of 'a'..'z' in 16 KiB chunks */
};

#define UP_BIG_BYTES (4u * 1024 * 1024)

struct up_srv {
  int listen_fd;
  uint16_t port;
  pthread_t thread;
  _Atomic int stop;
  enum up_mode mode;
  /* Seen, read after up_srv_stop. */
  int n_conns;
  int n_requests;
  char last_head[8192]; /* request line and fields of the last request */
  size_t last_body_len;
  /* Body bytes of the request being read so far (read while the server runs). */
  _Atomic size_t body_seen;
};

/* up_srv_start listens on 127.0.0.1, an ephemeral port. */
void up_srv_start(struct up_srv *s, enum up_mode mode);
void up_srv_stop(struct up_srv *s);

/* up_free_port returns a port on 127.0.0.1 that nothing listens on (bound, then closed). */
uint16_t up_free_port(void);

#endif
