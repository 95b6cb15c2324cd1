/* egw-psk-load: many concurrent TLS 1.2 PSK clients for the e2e tests (Python's ssl
 * module has no PSK). Each connection takes its identity and key from one line of a
 * file ("<identity> <hex key>"), handshakes, sends GET <path> with Connection: close and
 * counts a success when the answer is 200 and its body names the identity (the whoami
 * role shows the PSK identity). With --ca and no --keys it makes certificate handshakes
 * instead (TLS 1.3), for a rough comparison of handshake rates.
 *
 *   egw-psk-load --port P (--keys FILE | --ca FILE) [--conns N] [--rounds R]
 *                [--path /whoami] [--timeout-ms T]
 *
 * N connections run at once (default: one per key line); each slot connects R times in
 * a row (default 1). Prints "ok=<n> failed=<n> ms=<elapsed> per_s=<handshakes/s>" and
 * exits 0 when every connection succeeded. Plain non-blocking sockets and poll(): a test
 * tool, not the server. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct key {
  char identity[129];
  uint8_t psk[64];
  unsigned psk_len;
};

enum state { IDLE, CONNECTING, HANDSHAKE, WRITING, READING, DONE };

struct slot {
  int fd;
  SSL *ssl;
  enum state st;
  const struct key *key;
  int rounds_left;
  size_t written;
  char req[256];
  size_t req_len;
  char resp[4096];
  size_t resp_len;
  long long started_ms;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static struct key *load_keys(const char *path, size_t *out_n) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    perror(path);
    return NULL;
  }
  size_t cap = 64, n = 0;
  struct key *keys = calloc(cap, sizeof(*keys));
  char id[256], hex[256];
  while (keys && fscanf(f, "%255s %255s", id, hex) == 2) {
    size_t hl = strlen(hex);
    if (strlen(id) > 128 || hl % 2 || hl / 2 > sizeof(keys->psk)) {
      fprintf(stderr, "%s: bad line for %s\n", path, id);
      free(keys);
      keys = NULL;
      break;
    }
    if (n == cap) {
      cap *= 2;
      struct key *k = realloc(keys, cap * sizeof(*keys));
      if (k == NULL) {
        free(keys);
        keys = NULL;
        break;
      }
      keys = k;
    }
    struct key *k = &keys[n++];
    memset(k, 0, sizeof(*k));
    strcpy(k->identity, id);
    for (size_t i = 0; i < hl / 2; i++)
      k->psk[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
    k->psk_len = (unsigned)(hl / 2);
  }
  fclose(f);
  *out_n = n;
  return keys;
}

static int key_index = -1;

static unsigned psk_cb(SSL *ssl, const char *hint, char *identity, unsigned max_identity,
                       uint8_t *psk, unsigned max_psk) {
  const struct key *k = SSL_get_ex_data(ssl, key_index);
  if (k == NULL || strlen(k->identity) + 1 > max_identity || k->psk_len > max_psk)
    return 0;
  strcpy(identity, k->identity);
  memcpy(psk, k->psk, k->psk_len);
  return k->psk_len;
}

static struct sockaddr_in server;
static SSL_CTX *ctx;
static const char *path = "/whoami";
static int ok, failed, verbose_failures = 5;

static void slot_close(struct slot *s) {
  if (s->ssl)
    SSL_free(s->ssl);
  if (s->fd >= 0)
    close(s->fd);
  s->ssl = NULL;
  s->fd = -1;
}

static void slot_fail(struct slot *s, const char *why) {
  if (verbose_failures-- > 0) {
    unsigned long e = ERR_peek_error();
    fprintf(stderr, "failed %s: %s %s\n", s->key ? s->key->identity : "(cert)", why,
            e ? ERR_reason_error_string(e) : "");
  }
  ERR_clear_error();
  failed++;
  slot_close(s);
  s->st = DONE;
}

static int slot_start(struct slot *s) {
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (s->fd < 0)
    return -1;
  int one = 1;
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  s->ssl = SSL_new(ctx);
  if (s->ssl == NULL || !SSL_set_fd(s->ssl, s->fd))
    return -1;
  if (s->key)
    SSL_set_ex_data(s->ssl, key_index, (void *)s->key);
  else
    SSL_set_tlsext_host_name(s->ssl, "localhost");
  SSL_set_connect_state(s->ssl);
  s->written = s->resp_len = 0;
  s->req_len =
      (size_t)snprintf(s->req, sizeof(s->req),
                       "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
  s->started_ms = now_ms();
  if (connect(s->fd, (struct sockaddr *)&server, sizeof(server)) != 0 && errno != EINPROGRESS)
    return -1;
  s->st = CONNECTING;
  return 0;
}

static void slot_finished(struct slot *s) {
  s->resp[s->resp_len < sizeof(s->resp) ? s->resp_len : sizeof(s->resp) - 1] = '\0';
  int good = strncmp(s->resp, "HTTP/1.1 200", 12) == 0 &&
             (s->key == NULL || strstr(s->resp, s->key->identity) != NULL);
  if (!good) {
    slot_fail(s, "bad answer");
    return;
  }
  ok++;
  slot_close(s);
  if (--s->rounds_left > 0) {
    if (slot_start(s) != 0)
      slot_fail(s, "cannot connect");
    return;
  }
  s->st = DONE;
}

/* step advances |s| as far as it can; returns the poll events it waits for. */
static short step(struct slot *s) {
  for (;;) {
    switch (s->st) {
    case IDLE:
    case DONE:
      return 0;
    case CONNECTING: {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == EINPROGRESS || err == EALREADY)
        return POLLOUT;
      if (err != 0) {
        slot_fail(s, strerror(err));
        return 0;
      }
      s->st = HANDSHAKE;
      continue;
    }
    case HANDSHAKE: {
      int r = SSL_do_handshake(s->ssl);
      if (r == 1) {
        s->st = WRITING;
        continue;
      }
      int e = SSL_get_error(s->ssl, r);
      if (e == SSL_ERROR_WANT_READ)
        return POLLIN;
      if (e == SSL_ERROR_WANT_WRITE)
        return POLLOUT;
      slot_fail(s, "handshake");
      return 0;
    }
    case WRITING: {
      int r = SSL_write(s->ssl, s->req + s->written, (int)(s->req_len - s->written));
      if (r > 0) {
        s->written += (size_t)r;
        if (s->written == s->req_len)
          s->st = READING;
        continue;
      }
      int e = SSL_get_error(s->ssl, r);
      if (e == SSL_ERROR_WANT_READ)
        return POLLIN;
      if (e == SSL_ERROR_WANT_WRITE)
        return POLLOUT;
      slot_fail(s, "write");
      return 0;
    }
    case READING: {
      char buf[4096];
      int r = SSL_read(s->ssl, buf, sizeof(buf));
      if (r > 0) {
        size_t room = sizeof(s->resp) - 1 - s->resp_len;
        size_t n = (size_t)r < room ? (size_t)r : room;
        memcpy(s->resp + s->resp_len, buf, n);
        s->resp_len += n;
        continue;
      }
      int e = SSL_get_error(s->ssl, r);
      if (e == SSL_ERROR_WANT_READ)
        return POLLIN;
      if (e == SSL_ERROR_WANT_WRITE)
        return POLLOUT;
      /* close_notify or EOF: the answer is complete (Connection: close). */
      slot_finished(s);
      if (s->st == CONNECTING)
        continue;
      return 0;
    }
    }
  }
}

int main(int argc, char **argv) {
  int port = 0, conns = 0, rounds = 1, timeout_ms = 60000;
  const char *keys_file = NULL, *ca = NULL, *host = "127.0.0.1";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port") == 0)
      port = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--host") == 0)
      host = argv[i + 1];
    else if (strcmp(argv[i], "--keys") == 0)
      keys_file = argv[i + 1];
    else if (strcmp(argv[i], "--ca") == 0)
      ca = argv[i + 1];
    else if (strcmp(argv[i], "--conns") == 0)
      conns = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--rounds") == 0)
      rounds = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--path") == 0)
      path = argv[i + 1];
    else if (strcmp(argv[i], "--timeout-ms") == 0)
      timeout_ms = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (port <= 0 || (keys_file == NULL) == (ca == NULL) || rounds < 1) {
    fprintf(stderr, "usage: egw-psk-load --port P (--keys FILE | --ca FILE) [--conns N] "
                    "[--rounds R] [--path P] [--timeout-ms T]\n");
    return 2;
  }
  size_t n_keys = 0;
  struct key *keys = NULL;
  if (keys_file) {
    keys = load_keys(keys_file, &n_keys);
    if (keys == NULL || n_keys == 0)
      return 2;
  }
  if (conns <= 0)
    conns = keys ? (int)n_keys : 1;

  memset(&server, 0, sizeof(server));
  server.sin_family = AF_INET;
  server.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &server.sin_addr) != 1) {
    fprintf(stderr, "bad host %s\n", host);
    return 2;
  }
  ctx = SSL_CTX_new(TLS_method());
  key_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
  if (keys) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(ctx, "ECDHE-PSK-CHACHA20-POLY1305");
    SSL_CTX_set_psk_client_callback(ctx, psk_cb);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!SSL_CTX_load_verify_locations(ctx, ca, NULL)) {
      fprintf(stderr, "cannot load %s\n", ca);
      return 2;
    }
  }

  struct slot *slots = calloc((size_t)conns, sizeof(*slots));
  struct pollfd *pfds = calloc((size_t)conns, sizeof(*pfds));
  if (slots == NULL || pfds == NULL)
    return 2;
  long long t0 = now_ms();
  for (int i = 0; i < conns; i++) {
    slots[i].fd = -1;
    slots[i].key = keys ? &keys[(size_t)i % n_keys] : NULL;
    slots[i].rounds_left = rounds;
    if (slot_start(&slots[i]) != 0)
      slot_fail(&slots[i], "cannot connect");
  }
  for (;;) {
    int active = 0;
    for (int i = 0; i < conns; i++) {
      short ev = step(&slots[i]);
      pfds[i].fd = ev ? slots[i].fd : -1;
      pfds[i].events = ev;
      pfds[i].revents = 0;
      active += ev != 0;
    }
    if (active == 0)
      break;
    if (now_ms() - t0 > timeout_ms) {
      for (int i = 0; i < conns; i++) {
        if (slots[i].st != DONE && slots[i].st != IDLE)
          slot_fail(&slots[i], "timeout");
      }
      break;
    }
    if (poll(pfds, (nfds_t)conns, 200) < 0 && errno != EINTR)
      break;
  }
  long long ms = now_ms() - t0;
  printf("ok=%d failed=%d ms=%lld per_s=%.0f\n", ok, failed, ms,
         ms > 0 ? ok * 1000.0 / (double)ms : 0.0);
  free(slots);
  free(pfds);
  free(keys);
  SSL_CTX_free(ctx);
  return failed == 0 && ok == conns * rounds ? 0 : 1;
}
