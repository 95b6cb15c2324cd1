/* edgegw eec --auth psk|kecs: the EEC side of the TLS-PSK proposal (SPEC-NOTES "Keys for
 * TLS-PSK"), and of KECS-PSK (--auth kecs: kecs-counter POST {ecs}/edgegw-psk/v1/
 * kecs-counters {eecId} over mutual TLS, then KECS-PSK = KDF(--msk, 0xE2, ecsId, counter)
 * and psk-call as "kecs:<eecId>:<counter>"; the MSK is never printed and wiped). From the SUPI and KAUSF the EEC derives Kedge and the Kedge-ID (keys/kdf.h),
 * then:
 *   psk-auth  POST {ecs}/edgegw-psk/v1/authentications {eecId, kedgeId} over
 *             server-certificate TLS (the loop's HTTPS client, no client certificate):
 *             the ECS fetches Kedge from the AUSF or NEF and answers 200;
 *   psk-call  (command call) TLS 1.2 PSK to {psk-url} with identity Kedge-ID and key
 *             Kedge, GET --path (default /whoami), status and body printed.
 * The loop's HTTPS client has no PSK mode (src/http is certificate-only), so psk-call
 * runs after the loop has ended, on a plain socket with BoringSSL, bounded by
 * --timeout-ms on every connect, read and write: a one-shot command, not a server, so
 * nothing else waits on it. Kedge and KAUSF are never printed and are wiped at the end. */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/mem.h>
#include <openssl/ssl.h>

#include "cli/eec_internal.h"
#include "keys/kdf.h"
#include "util/encoding.h"
#include "util/format.h"

#define AUTH_PATH "/edgegw-psk/v1/authentications"
#define KECS_PATH "/edgegw-psk/v1/kecs-counters"
#define MSK_MAX 64
#define MAX_ANSWER (256 * 1024)
#define PSK_CIPHERS "ECDHE-PSK-CHACHA20-POLY1305:ECDHE-PSK-AES128-CBC-SHA:PSK-AES128-CBC-SHA"

/* The PSK and its identity: Kedge and the Kedge-ID (--auth psk), or KECS-PSK and
 * "kecs:<eecId>:<counter>" (--auth kecs). */
struct psk_flow {
  const struct egw__eec_options *o;
  struct egw_http_client *http;
  uint8_t kedge[EGW_KDF_LEN];
  char kedge_id[EGW_KDF_ID_MAX];
  uint8_t msk[MSK_MAX]; /* --auth kecs */
  size_t msk_len;
  char *url;
  int auth_ok;
};

static json_t *parse_body(const uint8_t *b, size_t n) {
  if (b == NULL || n == 0)
    return NULL;
  json_t *v = json_loadb((const char *)b, n, JSON_DECODE_ANY, NULL);
  if (v == NULL)
    v = json_stringn((const char *)b, n);
  if (v == NULL)
    v = json_sprintf("<%zu bytes, not UTF-8>", n);
  return v;
}

/* derive fills Kedge and the Kedge-ID from --supi, --kausf, --rid; -1 after a message. */
static int derive(struct psk_flow *f) {
  const struct egw__eec_options *o = f->o;
  uint8_t kausf[EGW_KDF_LEN];
  size_t n = strlen(o->kausf_hex);
  int rc = -1;
  if (n != 2 * EGW_KDF_LEN) {
    fprintf(stderr, "edgegw eec: --kausf must be 64 hex digits\n");
    return -1;
  }
  for (size_t i = 0; i < EGW_KDF_LEN; i++) {
    int hi = egw_hex_digit(o->kausf_hex[2 * i]), lo = egw_hex_digit(o->kausf_hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      fprintf(stderr, "edgegw eec: --kausf must be 64 hex digits\n");
      goto end;
    }
    kausf[i] = (uint8_t)(hi << 4 | lo);
  }
  if (!egw_kdf_supi_valid(o->supi)) {
    fprintf(stderr, "edgegw eec: --supi must be 5 to 15 digits\n");
    goto end;
  }
  char mcc[4] = {o->supi[0], o->supi[1], o->supi[2], 0}, mnc[3] = {o->supi[3], o->supi[4], 0};
  if (!egw_kdf_kedge(f->kedge, kausf, sizeof(kausf), o->supi) ||
      !egw_kdf_kedge_id(f->kedge_id, sizeof(f->kedge_id), kausf, sizeof(kausf), o->supi, o->rid,
                        mcc, mnc)) {
    fprintf(stderr, "edgegw eec: cannot derive Kedge (--rid must be 1 to 4 digits)\n");
    goto end;
  }
  rc = 0;
end:
  OPENSSL_cleanse(kausf, sizeof(kausf));
  return rc;
}

/* ---- psk-auth, on the loop ------------------------------------------------------------ */

/* end_auth_step prints the step that gets the key (psk-auth or kecs-counter), takes
 * |body| and |note|, and ends the loop's part of the flow. */
static void end_auth_step(struct psk_flow *f, const char *step, int expected,
                          const struct egw_http_client_response *resp, json_t *body, int ok,
                          const char *why, char *note) {
  struct egw__eec_step_report r = {
      .step = step,
      .method = "POST",
      .url = f->url,
      .status = resp->status,
      .error = resp->error ? resp->error : why,
      .body = body,
      .expected = expected,
      .ok = ok,
      .note = note,
  };
  egw__eec_print_step(stdout, f->o->json, &r);
  free(note);
  json_decref(body);
  f->auth_ok = ok;
  egw_http_client_free(f->http);
  f->http = NULL;
}

static void on_auth(void *arg, const struct egw_http_client_response *resp) {
  struct psk_flow *f = arg;
  json_t *body = resp->error ? NULL : parse_body(resp->body, resp->body_len);
  const char *why = NULL;
  int ok = resp->error == NULL && resp->status == 200;
  const char *named = json_string_value(json_object_get(body, "kedgeId"));
  if (ok && (named == NULL || strcmp(named, f->kedge_id) != 0)) {
    ok = 0;
    why = "the answer does not name our Kedge-ID";
  }
  char *note = ok ? egw_format("the ECS holds Kedge for %s", f->kedge_id) : NULL;
  end_auth_step(f, "psk-auth", 200, resp, body, ok, why, note);
}

/* ---- --auth kecs: kecs-counter, on the loop --------------------------------------------- */

/* parse_msk reads --msk (32 to 64 bytes in hex); -1 after a message. */
static int parse_msk(struct psk_flow *f) {
  const char *hex = f->o->msk_hex;
  size_t n = strlen(hex);
  if (n % 2 != 0 || n < 2 * EGW_KDF_LEN || n > 2 * MSK_MAX) {
    fprintf(stderr, "edgegw eec: --msk must be 64 to 128 hex digits\n");
    return -1;
  }
  for (size_t i = 0; i < n / 2; i++) {
    int hi = egw_hex_digit(hex[2 * i]), lo = egw_hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      fprintf(stderr, "edgegw eec: --msk must be 64 to 128 hex digits\n");
      return -1;
    }
    f->msk[i] = (uint8_t)(hi << 4 | lo);
  }
  f->msk_len = n / 2;
  return 0;
}

/* kecs_key derives KECS-PSK and the identity from the ECS's answer; NULL or why not. */
static const char *kecs_key(struct psk_flow *f, const json_t *body) {
  const char *eec = json_string_value(json_object_get(body, "eecId"));
  const char *ecs_id = json_string_value(json_object_get(body, "ecsId"));
  const json_t *c = json_object_get(body, "kecsCounter");
  if (eec == NULL || strcmp(eec, f->o->eec_id) != 0)
    return "the answer does not name our eecId";
  if (ecs_id == NULL || ecs_id[0] == '\0' || !json_is_integer(c) || json_integer_value(c) < 0 ||
      json_integer_value(c) > 0xffffffffLL)
    return "the answer has no ecsId or kecsCounter (0 to 2^32-1)";
  uint32_t counter = (uint32_t)json_integer_value(c);
  int n = snprintf(f->kedge_id, sizeof(f->kedge_id), "kecs:%s:%u", eec, counter);
  if (n < 0 || (size_t)n >= sizeof(f->kedge_id))
    return "the PSK identity would be too long";
  if (!egw_kdf_kecs_psk(f->kedge, f->msk, f->msk_len, ecs_id, counter))
    return "cannot derive KECS-PSK";
  return NULL;
}

static void on_counter(void *arg, const struct egw_http_client_response *resp) {
  struct psk_flow *f = arg;
  json_t *body = resp->error ? NULL : parse_body(resp->body, resp->body_len);
  int ok = resp->error == NULL && resp->status == 201;
  const char *why = ok ? kecs_key(f, body) : NULL;
  ok = ok && why == NULL;
  char *note = ok ? egw_format("KECS-PSK derived for %s", f->kedge_id) : NULL;
  end_auth_step(f, "kecs-counter", 201, resp, body, ok, why, note);
}

/* ---- psk-call, after the loop ---------------------------------------------------------- */

static unsigned psk_cb(SSL *ssl, const char *hint, char *identity, unsigned max_identity,
                       uint8_t *psk, unsigned max_psk) {
  (void)hint;
  const struct psk_flow *f = SSL_get_app_data(ssl);
  size_t n = strlen(f->kedge_id);
  if (n + 1 > max_identity || max_psk < EGW_KDF_LEN)
    return 0;
  memcpy(identity, f->kedge_id, n + 1);
  memcpy(psk, f->kedge, EGW_KDF_LEN);
  return EGW_KDF_LEN;
}

/* split_url takes "https://host[:port][/...]" apart; host without brackets. */
static int split_url(const char *url, char *host, size_t host_max, char *port, size_t port_max) {
  if (strncmp(url, "https://", 8) != 0)
    return -1;
  const char *h = url + 8, *end;
  if (*h == '[') {
    end = strchr(h, ']');
    if (end == NULL)
      return -1;
    h++;
  } else {
    end = h + strcspn(h, ":/");
  }
  size_t hl = (size_t)(end - h);
  if (hl == 0 || hl >= host_max)
    return -1;
  memcpy(host, h, hl);
  host[hl] = '\0';
  if (*end == ']')
    end++;
  const char *p = "443";
  size_t pl = 3;
  if (*end == ':') {
    p = end + 1;
    pl = strcspn(p, "/");
  }
  if (pl == 0 || pl >= port_max)
    return -1;
  memcpy(port, p, pl);
  port[pl] = '\0';
  return 0;
}

static int connect_to(const char *host, const char *port, uint32_t timeout_ms) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  if (getaddrinfo(host, port, &hints, &ai) != 0)
    return -1;
  int fd = -1;
  struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
  for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0)
      continue;
    /* On Linux SO_SNDTIMEO bounds connect() too. */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(ai);
  return fd;
}

/* psk_get does the GET over TLS-PSK; fills *status and the answer's body. Returns NULL
 * or why no answer came. */
static const char *psk_get(struct psk_flow *f, const char *url, const char *path, int *status,
                           uint8_t **out_body, size_t *out_len) {
  char host[256], port[8];
  if (split_url(url, host, sizeof(host), port, sizeof(port)) != 0)
    return "--psk-url must be https://host:port";
  const char *why = NULL;
  char *buf = NULL, *reqline = NULL;
  SSL *ssl = NULL;
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  int fd = connect_to(host, port, f->o->timeout_ms);
  if (fd < 0) {
    why = "cannot connect";
    goto end;
  }
  if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_strict_cipher_list(ctx, PSK_CIPHERS) || (ssl = SSL_new(ctx)) == NULL) {
    why = "cannot set up TLS";
    goto end;
  }
  SSL_set_psk_client_callback(ssl, psk_cb);
  SSL_set_app_data(ssl, f);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) {
    why = "the TLS-PSK handshake failed";
    goto end;
  }
  reqline = egw_format("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
  if (reqline == NULL || SSL_write(ssl, reqline, (int)strlen(reqline)) <= 0) {
    why = "cannot send the request";
    goto end;
  }
  buf = malloc(MAX_ANSWER + 1);
  size_t n = 0;
  int r;
  while (buf && n < MAX_ANSWER && (r = SSL_read(ssl, buf + n, (int)(MAX_ANSWER - n))) > 0)
    n += (size_t)r;
  if (buf == NULL || n == 0) {
    why = "no answer";
    goto end;
  }
  buf[n] = '\0';
  const char *head_end = strstr(buf, "\r\n\r\n");
  if (strncmp(buf, "HTTP/1.1 ", 9) != 0 || head_end == NULL) {
    why = "not an HTTP/1.1 answer";
    goto end;
  }
  *status = atoi(buf + 9);
  size_t body_at = (size_t)(head_end + 4 - buf);
  *out_len = n - body_at;
  *out_body = malloc(*out_len + 1);
  if (*out_body)
    memcpy(*out_body, buf + body_at, *out_len);
end:
  free(buf);
  free(reqline);
  if (ssl)
    SSL_shutdown(ssl);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  if (fd >= 0)
    close(fd);
  return why;
}

static int psk_call(struct psk_flow *f) {
  const char *path = f->o->path ? f->o->path : "/whoami";
  char *url = egw__eec_join(f->o->psk_url, path);
  int status = 0;
  uint8_t *raw = NULL;
  size_t raw_len = 0;
  const char *why = url ? psk_get(f, f->o->psk_url, path, &status, &raw, &raw_len)
                        : "out of memory";
  json_t *body = parse_body(raw, raw_len);
  int ok = why == NULL && status == 200;
  char *note = ok ? egw_format("TLS-PSK as %s", f->kedge_id) : NULL;
  struct egw__eec_step_report r = {
      .step = "psk-call",
      .method = "GET",
      .url = url ? url : f->o->psk_url,
      .status = status,
      .error = why,
      .body = body,
      .expected = 200,
      .ok = ok,
      .note = note,
  };
  egw__eec_print_step(stdout, f->o->json, &r);
  free(note);
  json_decref(body);
  free(raw);
  free(url);
  return ok ? 0 : 1;
}

int egw__eec_psk_run(uv_loop_t *loop, struct egw_http_client *http,
                     const struct egw__eec_options *o) {
  struct psk_flow f = {.o = o, .http = http};
  int rc = 1;
  json_t *doc = NULL;
  char *text = NULL;
  if (o->auth_kecs ? parse_msk(&f) != 0 : derive(&f) != 0) {
    egw_http_client_free(http);
    rc = 2;
    goto end;
  }
  const char *step = o->auth_kecs ? "kecs-counter" : "psk-auth";
  f.url = egw__eec_join(o->ecs_url, o->auth_kecs ? KECS_PATH : AUTH_PATH);
  doc = o->auth_kecs ? json_pack("{s:s}", "eecId", o->eec_id)
                     : json_pack("{s:s, s:s}", "eecId", o->eec_id, "kedgeId", f.kedge_id);
  text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  if (f.url == NULL || text == NULL) {
    egw_http_client_free(http);
    goto end;
  }
  struct egw_http_client_request req = {
      .method = "POST",
      .url = f.url,
      .body = text,
      .body_len = strlen(text),
      .content_type = "application/json",
  };
  if (egw_http_client_request(http, &req, o->auth_kecs ? on_counter : on_auth, &f, NULL) != 0) {
    struct egw__eec_step_report r = {.step = step, .method = "POST", .url = f.url,
                                     .error = "not an https:// URL",
                                     .expected = o->auth_kecs ? 201 : 200};
    egw__eec_print_step(stdout, o->json, &r);
    egw_http_client_free(http);
    goto end;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (!f.auth_ok)
    goto end;
  rc = o->command == EGW__EEC_CALL ? psk_call(&f) : 0;
end:
  OPENSSL_cleanse(f.kedge, sizeof(f.kedge));
  OPENSSL_cleanse(f.msk, sizeof(f.msk));
  json_decref(doc);
  free(text);
  free(f.url);
  return rc;
}
