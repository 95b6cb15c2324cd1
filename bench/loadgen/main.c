/* edgegw-bench: command line, TLS set-up, report. See usage() and bench/README.md. */
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/mem.h>

#include "loadgen.h"

const char *const lg_err_names[LG_E_COUNT] = {"connect", "tls", "closed", "status", "parse",
                                              "timeout"};

uint64_t lg_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void lg_note_error(struct lg_result *res, enum lg_err kind, const char *detail) {
  if (res->errors[0] + res->errors[1] + res->errors[2] + res->errors[3] + res->errors[4] +
          res->errors[5] ==
      0)
    snprintf(res->first_error, sizeof(res->first_error), "%s: %s", lg_err_names[kind],
             detail ? detail : "");
  res->errors[kind]++;
}

long lg_rss_kb(int pid) {
  if (pid <= 0)
    return -1;
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  long kb = -1;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

int lg_parse_hostport(const char *s, struct sockaddr_in *out) {
  char host[256];
  const char *colon = strrchr(s, ':');
  if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
    return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  if (strcmp(host, "localhost") == 0)
    strcpy(host, "127.0.0.1");
  long port = strtol(colon + 1, NULL, 10);
  *out = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  return port > 0 && port < 65536 && inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

int lg_parse_url(const char *url, struct sockaddr_in *out) {
  if (url == NULL || strncmp(url, "https://", 8) != 0)
    return -1;
  char hp[300];
  size_t n = strcspn(url + 8, "/");
  if (n >= sizeof(hp))
    return -1;
  memcpy(hp, url + 8, n);
  hp[n] = '\0';
  if (strchr(hp, ':') == NULL)
    strcat(hp, ":443");
  return lg_parse_hostport(hp, out);
}

/* ---- TLS ---------------------------------------------------------------------------- */

static const struct lg_tls_opts *g_psk; /* the one PSK of this run */

static unsigned psk_client_cb(SSL *ssl, const char *hint, char *identity,
                              unsigned max_identity_len, uint8_t *psk, unsigned max_psk_len) {
  (void)ssl;
  (void)hint;
  size_t il = strlen(g_psk->psk_identity);
  if (il + 1 > max_identity_len || g_psk->psk_key_len > max_psk_len)
    return 0;
  memcpy(identity, g_psk->psk_identity, il + 1);
  memcpy(psk, g_psk->psk_key, g_psk->psk_key_len);
  return (unsigned)g_psk->psk_key_len;
}

SSL_CTX *lg_tls_ctx(const struct lg_tls_opts *o) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL)
    return NULL;
  int psk = strcmp(o->mode, "psk") == 0;
  /* The servers' groups (edgegw: X25519 then P-256); no resumption: every handshake is
   * a full one. */
  SSL_CTX_set1_curves_list(ctx, "X25519:P-256");
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, psk || o->tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  if (psk) {
    /* edgegw's and stunnel's shared AEAD PSK suite (forward secret, X25519). */
    SSL_CTX_set_strict_cipher_list(ctx, "ECDHE-PSK-CHACHA20-POLY1305");
    g_psk = o;
    SSL_CTX_set_psk_client_callback(ctx, psk_client_cb);
    return ctx;
  }
  if (o->ca && SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1)
    goto fail;
  SSL_CTX_set_verify(ctx, o->ca ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  if (strcmp(o->mode, "mtls") == 0) {
    if (o->cert == NULL || o->key == NULL ||
        SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)
      goto fail;
  }
  return ctx;
fail:
  fprintf(stderr, "edgegw-bench: cannot load the CA, certificate or key (%s)\n",
          ERR_reason_error_string(ERR_peek_error()));
  SSL_CTX_free(ctx);
  return NULL;
}

/* ---- options ------------------------------------------------------------------------ */

static void usage(FILE *out) {
  fputs(
      "usage: edgegw-bench SCENARIO [options]\n"
      "  handshake --tls cert|mtls|psk   a new TLS connection per request (GET --path)\n"
      "  keepalive-token                 GET --path with a Bearer token on kept-alive conns\n"
      "  token-issue                     POST /oauth2/token (client credentials, mTLS)\n"
      "  eec-flow N                      N UEs: provision, register, discover, EAS call,\n"
      "                                  deregister (--ecs URL of EDGE-4)\n"
      "  idle N                          N idle TLS connections; server RSS per connection\n"
      "  responder --port P              a plain-HTTP 200 responder (a backend)\n"
      "options: --target HOST:PORT  --conns N (16)  --duration S (5)  --warmup S (1)\n"
      "  --rate R (open loop, requests/s; default closed loop)  --timeout MS (5000)\n"
      "  --tls cert|mtls|psk  --ca F  --cert F  --key F  --sni NAME (localhost)\n"
      "  --psk-identity ID --psk-key HEX | --psk-file F (lines '<identity> <hex>')\n"
      "  --token T | --token-file F  --path P (/healthz)  --expect STATUS (200)\n"
      "  --client-id ID (token-issue nfInstanceId)  --scope S  --audience A\n"
      "  --eec-id ID ('{ue}' is replaced by the UE number)  --eas-id ID  --ecs URL\n"
      "  --src-addrs K (idle: spread over 127.0.0.1..K)  --server-pid PID  --json\n"
      "  --busy-poll (never sleep waiting for the server: its writes then wake no thread)\n",
      out);
}

static int hex_key(const char *hex, uint8_t *out, size_t cap, size_t *len) {
  size_t n = strlen(hex);
  if (n == 0 || n % 2 || n / 2 > cap)
    return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
        sscanf(hex + 2 * i, "%2x", &v) != 1)
      return -1;
    out[i] = (uint8_t)v;
  }
  *len = n / 2;
  return 0;
}

/* read_psk_file takes the first "<identity> <hex key>" line (or the one for |want|). */
static int read_psk_file(const char *path, struct lg_tls_opts *t, char *id, size_t id_cap) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  char line[1024], hex[300];
  int rc = -1;
  while (rc != 0 && fgets(line, sizeof(line), f)) {
    char name[256];
    if (line[0] == '#' || sscanf(line, "%255s %299s", name, hex) != 2)
      continue;
    if (t->psk_identity && strcmp(t->psk_identity, name) != 0)
      continue;
    snprintf(id, id_cap, "%s", name);
    rc = hex_key(hex, t->psk_key, sizeof(t->psk_key), &t->psk_key_len);
  }
  OPENSSL_cleanse(hex, sizeof(hex));
  OPENSSL_cleanse(line, sizeof(line));
  fclose(f);
  return rc;
}

static char *read_token_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return NULL;
  char *buf = calloc(1, 8192);
  if (buf && fgets(buf, 8192, f) == NULL)
    buf[0] = '\0';
  fclose(f);
  if (buf)
    buf[strcspn(buf, "\r\n \t")] = '\0';
  return buf;
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *scenario = argv[1];
  if (strcmp(scenario, "responder") == 0)
    return lg_responder_main(argc - 1, argv + 1);

  struct lg_run_cfg cfg = {.conns = 16, .duration_s = 5, .warmup_s = 1,
                           .timeout_ns = 5000000000ull, .expect_status = 200, .sni = "localhost"};
  struct lg_tls_opts tls = {.mode = "cert"};
  struct lg_tls_opts mtls_eec = {.mode = "mtls"};
  const char *target = NULL, *token = NULL, *token_file = NULL, *psk_file = NULL, *psk_hex = NULL;
  const char *path = "/healthz", *client_id = "spiffe://site1/ees/ees1", *scope = "eees-whoami";
  const char *aud = "ees9.site1.example", *ecs_url = NULL;
  int json = 0;
  cfg.eec.eec_id = "spiffe://site1/eec/eec1";
  cfg.eec.eas_id = "eas1.site1.example";
  int optind_start = 2;
  if (strcmp(scenario, "eec-flow") == 0 || strcmp(scenario, "idle") == 0) {
    if (argc < 3 || atol(argv[2]) <= 0) {
      fprintf(stderr, "edgegw-bench: %s needs a positive count\n", scenario);
      return 2;
    }
    cfg.count = (unsigned)atol(argv[2]);
    optind_start = 3;
  }
  enum { OPT_TARGET = 256, OPT_CONNS, OPT_DURATION, OPT_WARMUP, OPT_RATE, OPT_TIMEOUT, OPT_TLS, OPT_CA,
         OPT_CERT, OPT_KEY, OPT_SNI, OPT_PSK_ID, OPT_PSK_KEY, OPT_PSK_FILE, OPT_TOKEN, OPT_TOKEN_FILE,
         OPT_PATH, OPT_EXPECT, OPT_CLIENT_ID, OPT_SCOPE, OPT_AUD, OPT_EEC_ID, OPT_EAS_ID, OPT_ECS,
         OPT_SRC, OPT_PID, OPT_JSON, OPT_BUSY_POLL };
  static const struct option longopts[] = {
      {"target", 1, 0, OPT_TARGET}, {"conns", 1, 0, OPT_CONNS}, {"duration", 1, 0, OPT_DURATION},
      {"warmup", 1, 0, OPT_WARMUP}, {"rate", 1, 0, OPT_RATE}, {"timeout", 1, 0, OPT_TIMEOUT},
      {"tls", 1, 0, OPT_TLS}, {"ca", 1, 0, OPT_CA}, {"cert", 1, 0, OPT_CERT}, {"key", 1, 0, OPT_KEY},
      {"sni", 1, 0, OPT_SNI}, {"psk-identity", 1, 0, OPT_PSK_ID}, {"psk-key", 1, 0, OPT_PSK_KEY},
      {"psk-file", 1, 0, OPT_PSK_FILE}, {"token", 1, 0, OPT_TOKEN},
      {"token-file", 1, 0, OPT_TOKEN_FILE}, {"path", 1, 0, OPT_PATH}, {"expect", 1, 0, OPT_EXPECT},
      {"client-id", 1, 0, OPT_CLIENT_ID}, {"scope", 1, 0, OPT_SCOPE}, {"audience", 1, 0, OPT_AUD},
      {"eec-id", 1, 0, OPT_EEC_ID}, {"eas-id", 1, 0, OPT_EAS_ID}, {"ecs", 1, 0, OPT_ECS},
      {"src-addrs", 1, 0, OPT_SRC}, {"server-pid", 1, 0, OPT_PID}, {"json", 0, 0, OPT_JSON},
      {"busy-poll", 0, 0, OPT_BUSY_POLL},
      {0, 0, 0, 0}};
  optind = optind_start;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_TARGET: target = optarg; break;
    case OPT_CONNS: cfg.conns = (unsigned)atol(optarg); break;
    case OPT_DURATION: cfg.duration_s = atof(optarg); break;
    case OPT_WARMUP: cfg.warmup_s = atof(optarg); break;
    case OPT_RATE: cfg.rate = atof(optarg); break;
    case OPT_TIMEOUT: cfg.timeout_ns = (uint64_t)atol(optarg) * 1000000ull; break;
    case OPT_TLS: tls.mode = optarg; break;
    case OPT_CA: tls.ca = mtls_eec.ca = optarg; break;
    case OPT_CERT: tls.cert = mtls_eec.cert = optarg; break;
    case OPT_KEY: tls.key = mtls_eec.key = optarg; break;
    case OPT_SNI: cfg.sni = optarg; break;
    case OPT_PSK_ID: tls.psk_identity = optarg; break;
    case OPT_PSK_KEY: psk_hex = optarg; break;
    case OPT_PSK_FILE: psk_file = optarg; break;
    case OPT_TOKEN: token = optarg; break;
    case OPT_TOKEN_FILE: token_file = optarg; break;
    case OPT_PATH: path = optarg; break;
    case OPT_EXPECT: cfg.expect_status = atoi(optarg); break;
    case OPT_CLIENT_ID: client_id = optarg; break;
    case OPT_SCOPE: scope = optarg; break;
    case OPT_AUD: aud = optarg; break;
    case OPT_EEC_ID: cfg.eec.eec_id = optarg; break;
    case OPT_EAS_ID: cfg.eec.eas_id = optarg; break;
    case OPT_ECS: ecs_url = optarg; break;
    case OPT_SRC: cfg.src_addrs = (unsigned)atol(optarg); break;
    case OPT_PID: cfg.server_pid = atoi(optarg); break;
    case OPT_JSON: json = 1; break;
    case OPT_BUSY_POLL: cfg.busy_poll = 1; break;
    default: usage(stderr); return 2;
    }
  }
  if (strcmp(scenario, "handshake") == 0)
    cfg.scenario = LG_HANDSHAKE;
  else if (strcmp(scenario, "keepalive-token") == 0)
    cfg.scenario = LG_KEEPALIVE_TOKEN;
  else if (strcmp(scenario, "token-issue") == 0)
    cfg.scenario = LG_TOKEN_ISSUE;
  else if (strcmp(scenario, "eec-flow") == 0)
    cfg.scenario = LG_EEC_FLOW;
  else if (strcmp(scenario, "idle") == 0)
    cfg.scenario = LG_IDLE;
  else {
    fprintf(stderr, "edgegw-bench: unknown scenario '%s'\n", scenario);
    usage(stderr);
    return 2;
  }
  if (cfg.conns == 0 || cfg.duration_s <= 0 || cfg.warmup_s < 0 || cfg.rate < 0) {
    fprintf(stderr, "edgegw-bench: --conns, --duration must be positive\n");
    return 2;
  }
  if (cfg.scenario == LG_EEC_FLOW) {
    if (ecs_url == NULL && target) {
      static char buf[300];
      snprintf(buf, sizeof(buf), "https://%s", target);
      ecs_url = buf;
    }
    if (lg_parse_url(ecs_url, &cfg.eec.ecs) != 0) {
      fprintf(stderr, "edgegw-bench: eec-flow needs --ecs https://HOST:PORT (EDGE-4)\n");
      return 2;
    }
  } else if (target == NULL || lg_parse_hostport(target, &cfg.target) != 0) {
    fprintf(stderr, "edgegw-bench: --target HOST:PORT (IPv4 or localhost) is required\n");
    return 2;
  }
  raise_nofile();

  char psk_id[256];
  if (strcmp(tls.mode, "psk") == 0) {
    if (psk_file) {
      if (read_psk_file(psk_file, &tls, psk_id, sizeof(psk_id)) != 0) {
        fprintf(stderr, "edgegw-bench: no usable key in --psk-file %s\n", psk_file);
        return 2;
      }
      tls.psk_identity = psk_id;
    } else if (tls.psk_identity == NULL || psk_hex == NULL ||
               hex_key(psk_hex, tls.psk_key, sizeof(tls.psk_key), &tls.psk_key_len) != 0) {
      fprintf(stderr, "edgegw-bench: psk needs --psk-identity and --psk-key HEX, or --psk-file\n");
      return 2;
    }
  } else if (strcmp(tls.mode, "cert") != 0 && strcmp(tls.mode, "mtls") != 0) {
    fprintf(stderr, "edgegw-bench: --tls is cert, mtls or psk\n");
    return 2;
  }
  if (cfg.scenario == LG_TOKEN_ISSUE || cfg.scenario == LG_EEC_FLOW)
    tls.mode = "mtls";
  char *token_buf = NULL;
  if (token_file) {
    token = token_buf = read_token_file(token_file);
    if (token == NULL || token[0] == '\0') {
      fprintf(stderr, "edgegw-bench: no token in %s\n", token_file);
      return 2;
    }
  }
  if (cfg.scenario == LG_KEEPALIVE_TOKEN && token == NULL) {
    fprintf(stderr, "edgegw-bench: keepalive-token needs --token or --token-file\n");
    return 2;
  }

  cfg.ctx = lg_tls_ctx(&tls);
  if (cfg.ctx == NULL)
    return 2;
  if (cfg.scenario == LG_EEC_FLOW) {
    struct lg_tls_opts plain = {.mode = "cert", .ca = tls.ca};
    cfg.eec.mtls_ctx = cfg.ctx;
    cfg.eec.cert_ctx = lg_tls_ctx(&plain);
    cfg.eec.path = path;
    if (cfg.eec.cert_ctx == NULL)
      return 2;
  }

  static char req[16384];
  int n = 0;
  if (cfg.scenario == LG_KEEPALIVE_TOKEN) {
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n", path,
                 token);
  } else if (cfg.scenario == LG_TOKEN_ISSUE) {
    char body[2048];
    /* Form values: the ids used here hold only unreserved bytes, ':' and '/', which
     * application/x-www-form-urlencoded lets through as %3A and %2F. */
    char esc[3][512];
    const char *src[3] = {client_id, scope, aud};
    for (int i = 0; i < 3; i++) {
      size_t o = 0;
      for (const char *p = src[i]; *p && o + 4 < sizeof(esc[i]); p++) {
        if (isalnum((unsigned char)*p) || strchr("-._~", *p))
          esc[i][o++] = *p;
        else if (*p == ' ')
          esc[i][o++] = '+';
        else
          o += (size_t)snprintf(esc[i] + o, 4, "%%%02X", (unsigned char)*p);
      }
      esc[i][o] = '\0';
    }
    int bl = snprintf(body, sizeof(body),
                      "grant_type=client_credentials&nfInstanceId=%s&scope=%s"
                      "&targetNfInstanceId=%s",
                      esc[0], esc[1], esc[2]);
    n = snprintf(req, sizeof(req),
                 "POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
                 bl, body);
    cfg.expect_body = "\"access_token\"";
  } else {
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
  }
  if (n <= 0 || (size_t)n >= sizeof(req)) {
    fprintf(stderr, "edgegw-bench: the request is too long\n");
    return 2;
  }
  cfg.request = req;
  cfg.request_len = (size_t)n;

  struct lg_result *res = calloc(1, sizeof(*res));
  if (res == NULL)
    return 1;
  res->rss_before_kb = res->rss_after_kb = -1;
  int rc = cfg.scenario == LG_IDLE       ? lg_run_idle(&cfg, res)
           : cfg.scenario == LG_EEC_FLOW ? lg_run_eec(&cfg, res)
                                         : lg_run(&cfg, res);
  if (rc == 0)
    lg_report(scenario, &cfg, res, json);
  uint64_t errors = 0;
  for (int i = 0; i < LG_E_COUNT; i++)
    errors += res->errors[i];
  int ok = rc == 0 && res->ok > 0 && errors == 0;
  if (token_buf) {
    OPENSSL_cleanse(token_buf, strlen(token_buf));
    free(token_buf);
  }
  OPENSSL_cleanse(tls.psk_key, sizeof(tls.psk_key));
  OPENSSL_cleanse(req, sizeof(req)); /* it held the Bearer token */
  SSL_CTX_free(cfg.ctx);
  SSL_CTX_free(cfg.eec.cert_ctx);
  free(res);
  return ok ? 0 : 1;
}
