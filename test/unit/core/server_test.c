/* The server loop end to end in one process: a site from a policy directory, a real
 * socket, a BoringSSL client, SIGTERM; the run must end with every handle closed
 * (egw_server_run returns 1 when uv_loop_close does not return 0). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/policy.h"
#include "core/server.h"
#include "core/site.h"
#include "util/log.h"

static char dir[64];
static int port;
static char *log_text;
static size_t log_len;
static FILE *log_mem;

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

static void write_file(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

static void write_site(int max_connections) {
  if (access("certs/out/ca.pem", R_OK) != 0)
    cr_assert_eq(system("certs/gen.sh"), 0);
  char cwd[200];
  cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
  strcpy(dir, "/tmp/egw-core-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  char text[2048];
  snprintf(text, sizeof(text),
           "site:\n  id: t1\n  state_dir: %s/state\n  drain_timeout_ms: 2000\n"
           "  trust:\n    ca: [%s/certs/out/ca.pem]\n",
           dir, cwd);
  write_file("site.yaml", text);
  port = free_port();
  snprintf(text, sizeof(text),
           "listener:\n  interface: EDGE-4\n  role: ecs\n  listen: 127.0.0.1:%d\n"
           "  mount: [health, whoami]\n"
           "  tls:\n    mode: server-cert\n    cert: %s/certs/out/ecs.pem\n"
           "    key: %s/certs/out/ecs.key\n"
           "  authz:\n    mode: none\n"
           "  limits:\n    max_connections: %d\n",
           port, cwd, cwd, max_connections);
  write_file("edge4.yaml", text);
}

static void *run_server(void *arg) {
  char *err = NULL;
  struct egw_site_policy *p = egw_policy_load_dir(dir, &err);
  cr_assert_not_null(p, "%s", err);
  struct egw_site *site = egw_site_new(p, &err);
  cr_assert_not_null(site, "%s", err);
  intptr_t rc = egw_server_run(site);
  egw_site_unref(site);
  return (void *)rc;
}

static pthread_t start(int max_connections) {
  write_site(max_connections);
  log_mem = open_memstream(&log_text, &log_len);
  egw_log_set_stream(log_mem);
  /* SIGTERM must reach libuv's handler, whichever thread the kernel picks. */
  pthread_t t;
  pthread_create(&t, NULL, run_server, NULL);
  for (int i = 0; i < 200; i++) {
    fflush(log_mem);
    if (log_text && strstr(log_text, "\"event\":\"ready\""))
      return t;
    usleep(10000);
  }
  cr_assert_fail("server not ready: %s", log_text ? log_text : "");
  return t;
}

static int stop(pthread_t t) {
  kill(getpid(), SIGTERM);
  void *rc;
  pthread_join(t, &rc);
  fflush(log_mem);
  return (int)(intptr_t)rc;
}

static int tcp_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  return fd;
}

static SSL *tls_connect(SSL_CTX **out_ctx, int *out_fd) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_load_verify_locations(ctx, "certs/out/ca.pem", NULL);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  int fd = tcp_connect();
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  cr_assert_eq(SSL_connect(ssl), 1);
  *out_ctx = ctx;
  *out_fd = fd;
  return ssl;
}

static void tls_close(SSL *ssl, SSL_CTX *ctx, int fd) {
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
}

static void get(SSL *ssl, const char *path, char *out, size_t cap) {
  char req[256];
  int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
  cr_assert_eq(SSL_write(ssl, req, n), n);
  size_t used = 0;
  while (used + 1 < cap) {
    int r = SSL_read(ssl, out + used, (int)(cap - 1 - used));
    if (r <= 0)
      break;
    used += (size_t)r;
    out[used] = '\0';
    char *body = strstr(out, "\r\n\r\n");
    const char *cl = strstr(out, "Content-Length: ");
    if (body && cl && (size_t)(out + used - (body + 4)) >= (size_t)atoi(cl + 16))
      break;
  }
  out[used] = '\0';
}

Test(server, serves_and_stops_clean_on_sigterm) {
  pthread_t t = start(100);
  SSL_CTX *ctx;
  int fd;
  SSL *ssl = tls_connect(&ctx, &fd);
  char resp[2048];
  get(ssl, "/healthz", resp, sizeof(resp));
  cr_assert(strncmp(resp, "HTTP/1.1 200 ", 13) == 0, "%s", resp);
  cr_assert(strstr(resp, "{\"status\":\"ok\"}") != NULL, "%s", resp);
  get(ssl, "/whoami", resp, sizeof(resp));
  cr_assert(strstr(resp, "\"tls\":\"server-cert\"") != NULL, "%s", resp);
  cr_assert(strstr(resp, "\"kind\":\"none\"") != NULL, "%s", resp);
  /* An idle keep-alive connection must not hold the drain up. */
  cr_assert_eq(stop(t), 0, "%s", log_text);
  cr_assert(strstr(log_text, "\"event\":\"listening\",\"interface\":\"EDGE-4\",\"role\":\"ecs\"") !=
                NULL,
            "%s", log_text);
  cr_assert(strstr(log_text, "\"event\":\"stopped\"") != NULL, "%s", log_text);
  tls_close(ssl, ctx, fd);
}

Test(server, refuses_connections_over_the_limit_and_keeps_serving) {
  pthread_t t = start(1);
  SSL_CTX *ctx;
  int fd;
  SSL *ssl = tls_connect(&ctx, &fd);
  int extra = tcp_connect();
  char byte;
  cr_assert_eq(read(extra, &byte, 1), 0, "the server closes the extra connection");
  close(extra);
  char resp[2048];
  get(ssl, "/healthz", resp, sizeof(resp));
  cr_assert(strncmp(resp, "HTTP/1.1 200 ", 13) == 0, "%s", resp);
  cr_assert_eq(stop(t), 0);
  cr_assert(strstr(log_text, "\"event\":\"connection_refused\"") != NULL, "%s", log_text);
  tls_close(ssl, ctx, fd);
}

Test(server, unknown_path_is_a_problem_404) {
  pthread_t t = start(10);
  SSL_CTX *ctx;
  int fd;
  SSL *ssl = tls_connect(&ctx, &fd);
  char resp[2048];
  get(ssl, "/nothing-here", resp, sizeof(resp));
  cr_assert(strncmp(resp, "HTTP/1.1 404 ", 13) == 0, "%s", resp);
  cr_assert(strstr(resp, "application/problem+json") != NULL, "%s", resp);
  cr_assert_eq(stop(t), 0);
  tls_close(ssl, ctx, fd);
}
