/* edgegw-bench: a load generator for edgegw and its peers (HAProxy, NGINX, stunnel).
 *
 *   main.c       options, scenarios, the run (closed or open loop), the report
 *   conn.c       one TLS client connection on libuv with BoringSSL memory BIOs, and a
 *                minimal HTTP/1.1 response reader (Content-Length bodies)
 *   hist.c       latency histogram: log-linear buckets (HdrHistogram-like, 1 % precision)
 *   eec.c        the EEC flow of one simulated UE (provision, register, discover, EAS call)
 *   responder.c  a plain-HTTP 200 responder (stunnel's backend, the EAS's upstream)
 *
 * A client: it shares no code with src/ (nothing here runs inside edgegw). */
#ifndef EGW_BENCH_LOADGEN_H
#define EGW_BENCH_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

/* ---- histogram ---------------------------------------------------------------------- */

#define LG_HIST_BUCKETS (64 * 128)

struct lg_hist {
  uint64_t counts[LG_HIST_BUCKETS];
  uint64_t n, max_ns;
  double sum_ns;
};

void lg_hist_add(struct lg_hist *h, uint64_t ns);
/* lg_hist_quantile: the value (ns) at quantile q in [0, 1]; 0 when empty. */
uint64_t lg_hist_quantile(const struct lg_hist *h, double q);

/* ---- errors ------------------------------------------------------------------------- */

enum lg_err {
  LG_E_CONNECT, /* TCP connect failed or refused */
  LG_E_TLS,     /* handshake failed (alert, verification) */
  LG_E_CLOSED,  /* the peer closed with a request outstanding */
  LG_E_STATUS,  /* an answer other than the expected status */
  LG_E_PARSE,   /* an answer we cannot read (no Content-Length, garbage, missing JSON) */
  LG_E_TIMEOUT, /* no answer within --timeout */
  LG_E_COUNT
};
extern const char *const lg_err_names[LG_E_COUNT];

/* ---- connection --------------------------------------------------------------------- */

struct lg_conn;

/* What a connection tells its owner. on_ready: the handshake finished. on_response: one
 * complete HTTP response (body borrowed until the callback returns). on_error: the
 * connection failed (kind); it is closing and must not be used again. on_closed: the
 * handles are gone and the conn may be freed (after lg_conn_close or an error). */
struct lg_conn_cbs {
  void (*on_ready)(struct lg_conn *c);
  void (*on_response)(struct lg_conn *c, int status, const char *head, size_t head_len,
                      const char *body, size_t body_len);
  void (*on_error)(struct lg_conn *c, enum lg_err kind, const char *detail);
  void (*on_closed)(struct lg_conn *c);
};

struct lg_conn {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  SSL *ssl;
  BIO *rbio, *wbio; /* network -> TLS, TLS -> network (memory BIOs) */
  const struct lg_conn_cbs *cbs;
  void *owner;
  int ready, closing, failed;
  int server_closes; /* the last response said Connection: close */
  char *in;          /* decrypted bytes not yet parsed */
  size_t in_len, in_cap;
};

/* lg_conn_start: connects to |dst| (from |src| when not NULL, port 0) and starts the
 * handshake. Returns 0, or a libuv error (nothing to close then). */
int lg_conn_start(struct lg_conn *c, uv_loop_t *loop, SSL_CTX *ctx, const char *sni,
                  const struct sockaddr_in *dst, const struct sockaddr_in *src,
                  const struct lg_conn_cbs *cbs, void *owner);
/* lg_conn_send: encrypts and sends |len| bytes. Returns 0 or -1 (the conn then failed). */
int lg_conn_send(struct lg_conn *c, const char *data, size_t len);
/* lg_conn_close: sends close_notify and closes; on_closed follows. Idempotent. */
void lg_conn_close(struct lg_conn *c);

/* Header value of |name| in a response head, or NULL; *len set to its length. */
const char *lg_header(const char *head, size_t head_len, const char *name, size_t *len);

/* ---- TLS contexts and PSK ----------------------------------------------------------- */

struct lg_tls_opts {
  const char *mode; /* cert, mtls, psk */
  const char *ca, *cert, *key;
  const char *psk_identity;
  uint8_t psk_key[64];
  size_t psk_key_len;
  int tls12; /* cap at TLS 1.2 (PSK is TLS 1.2 in edgegw and stunnel) */
};
SSL_CTX *lg_tls_ctx(const struct lg_tls_opts *o);

/* ---- EEC flow ----------------------------------------------------------------------- */

struct lg_eec_cfg {
  struct sockaddr_in ecs;
  SSL_CTX *mtls_ctx, *cert_ctx;
  const char *eec_id, *eas_id, *path;
};
struct lg_eec;
/* Starts one UE's flow; done(arg, ok, kind, detail) is called once at the end. */
struct lg_eec *lg_eec_start(uv_loop_t *loop, const struct lg_eec_cfg *cfg, unsigned ue,
                            void (*done)(void *arg, int ok, enum lg_err kind, const char *detail),
                            void *arg);

/* ---- a run ------------------------------------------------------------------------- */

enum lg_scenario { LG_HANDSHAKE, LG_KEEPALIVE_TOKEN, LG_TOKEN_ISSUE, LG_EEC_FLOW, LG_IDLE };

struct lg_run_cfg {
  enum lg_scenario scenario;
  struct sockaddr_in target;
  const char *sni;
  SSL_CTX *ctx;
  const char *request; /* the bytes of one request */
  size_t request_len;
  int expect_status;
  const char *expect_body; /* a substring every good answer holds, or NULL */
  unsigned conns;          /* closed loop: connections; open loop: most in flight */
  double rate;             /* > 0: open loop at this many requests/s */
  double duration_s, warmup_s;
  uint64_t timeout_ns;
  unsigned count;          /* eec-flow: UEs; idle: connections */
  unsigned src_addrs;      /* idle: source addresses 127.0.0.1.. to spread over */
  int server_pid;
  /* busy_poll: the loop never sleeps in epoll_wait (closed- and open-loop scenarios), so
   * that on loopback the server's writes find the client awake and wake no thread; with
   * a NIC that wake-up is the client host's cost, not the server's. */
  int busy_poll;
  struct lg_eec_cfg eec;
  int verbose;
};

struct lg_result {
  uint64_t ok, errors[LG_E_COUNT];
  double seconds;
  struct lg_hist hist;
  long rss_before_kb, rss_after_kb; /* -1 when unknown */
  unsigned established;             /* idle: connections that got their answer */
  char first_error[200];
};

int lg_run(const struct lg_run_cfg *cfg, struct lg_result *res);
int lg_run_idle(const struct lg_run_cfg *cfg, struct lg_result *res);
int lg_run_eec(const struct lg_run_cfg *cfg, struct lg_result *res);
long lg_rss_kb(int pid);
/* lg_report prints the result: a readable table, or one JSON line with |json|. */
void lg_report(const char *scenario, const struct lg_run_cfg *cfg, const struct lg_result *r,
               int json);
/* lg_note_error: counts an error (and keeps the first one's text). */
void lg_note_error(struct lg_result *res, enum lg_err kind, const char *detail);

/* ---- responder ---------------------------------------------------------------------- */

int lg_responder_main(int argc, char **argv);

/* ---- helpers ------------------------------------------------------------------------ */

uint64_t lg_now_ns(void);
int lg_parse_hostport(const char *s, struct sockaddr_in *out);
/* lg_parse_url: https://host:port[/...] -> address (IPv4 literal or localhost). */
int lg_parse_url(const char *url, struct sockaddr_in *out);

#endif
