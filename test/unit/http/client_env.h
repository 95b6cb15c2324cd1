/* The HTTP client tests' plumbing: a loop, a client, a scripted server (client_server.h)
 * and what a completion saw, shared by the HTTPS and the plain-HTTP tests. */
#ifndef EGW_TEST_HTTP_CLIENT_ENV_H
#define EGW_TEST_HTTP_CLIENT_ENV_H

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "client_server.h"
#include "http/client.h"

#define CERTS "certs/out/"

struct result {
  int fired;
  enum egw_http_client_result result;
  int status;
  char error[200];
  int has_error;
  char body[256];
  size_t body_len;
  char x_test[64];
  char content_type[64];
  size_t n_headers;
  char fields[512]; /* every field, "name=value;" in order */
  uint64_t at;
  uv_loop_t *loop;
  /* Chained: the completion starts this request next. */
  struct env *env;
  const char *next_method;
  struct result *next;
};

struct env {
  uv_loop_t loop;
  X509_STORE *store;
  struct egw_http_client *client;
  struct client_srv srv;
  int srv_running;
  char url[128];
};

static inline void ensure_certs(void) {
  if (access(CERTS "ca.pem", R_OK) != 0)
    cr_assert_eq(system("certs/gen.sh"), 0);
}

static inline X509_STORE *load_store(const char *file) {
  X509_STORE *st = X509_STORE_new();
  cr_assert_not_null(st);
  cr_assert_eq(X509_STORE_load_locations(st, file, NULL), 1, "%s", file);
  return st;
}

static inline void env_client(struct env *e, const char *ca, struct egw_http_client_config cfg) {
  e->store = load_store(ca);
  cfg.trust = e->store;
  char *err = NULL;
  e->client = egw_http_client_new(&e->loop, &cfg, &err);
  cr_assert_not_null(e->client, "%s", err ? err : "");
}

/* env_init starts a server in |mode| with the ECS certificate and a client trusting the
 * site CA. */
static inline void env_init(struct env *e, enum client_srv_mode mode,
                            struct egw_http_client_config cfg) {
  ensure_certs();
  memset(e, 0, sizeof(*e));
  cr_assert_eq(uv_loop_init(&e->loop), 0);
  client_srv_start(&e->srv, mode, CERTS "ecs.pem", CERTS "ecs.key", NULL);
  e->srv_running = 1;
  snprintf(e->url, sizeof(e->url), "https://127.0.0.1:%u", e->srv.port);
  env_client(e, CERTS "ca.pem", cfg);
}

/* env_init_plain starts a plain-HTTP server in |mode| and a client that allows plain
 * HTTP (with no trust store unless |cfg| has one); e->url is http://127.0.0.1:port. */
static inline void env_init_plain(struct env *e, enum client_srv_mode mode,
                                  struct egw_http_client_config cfg) {
  memset(e, 0, sizeof(*e));
  cr_assert_eq(uv_loop_init(&e->loop), 0);
  client_srv_start(&e->srv, mode, NULL, NULL, NULL);
  e->srv_running = 1;
  snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%u", e->srv.port);
  cfg.allow_plain_http = 1;
  char *err = NULL;
  e->client = egw_http_client_new(&e->loop, &cfg, &err);
  cr_assert_not_null(e->client, "%s", err ? err : "");
}

/* env_finish frees the client, runs the loop to its end and checks it closes. */
static inline void env_finish(struct env *e) {
  egw_http_client_free(e->client);
  cr_assert_eq(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
  cr_assert_eq(uv_loop_close(&e->loop), 0, "a handle was left open");
  X509_STORE_free(e->store);
  if (e->srv_running)
    client_srv_stop(&e->srv);
}

static inline void copy_header(const struct egw_http_client_response *resp, const char *name,
                               char *out, size_t cap) {
  for (size_t i = 0; i < resp->n_headers; i++) {
    const struct egw_header *h = &resp->headers[i];
    if (strlen(name) == h->name_len && memcmp(h->name, name, h->name_len) == 0) {
      snprintf(out, cap, "%.*s", (int)h->value_len, h->value);
      return;
    }
  }
}

static inline int start(struct env *e, const char *method, const char *url, struct result *r,
                        struct egw_http_call **out_call);

static inline void on_done(void *arg, const struct egw_http_client_response *resp) {
  struct result *r = arg;
  r->fired++;
  r->result = resp->result;
  r->status = resp->status;
  r->has_error = resp->error != NULL;
  snprintf(r->error, sizeof(r->error), "%s", resp->error ? resp->error : "");
  r->body_len = resp->body_len;
  if (resp->body)
    snprintf(r->body, sizeof(r->body), "%.*s", (int)resp->body_len, (const char *)resp->body);
  copy_header(resp, "x-test", r->x_test, sizeof(r->x_test));
  copy_header(resp, "content-type", r->content_type, sizeof(r->content_type));
  r->n_headers = resp->n_headers;
  r->fields[0] = '\0';
  for (size_t i = 0; i < resp->n_headers; i++) {
    size_t used = strlen(r->fields);
    snprintf(r->fields + used, sizeof(r->fields) - used, "%s=%s;", resp->headers[i].name,
             resp->headers[i].value);
  }
  if (r->loop)
    r->at = uv_now(r->loop);
  if (r->next)
    cr_assert_eq(start(r->env, r->next_method, r->env->url, r->next, NULL), 0);
}

static inline int start(struct env *e, const char *method, const char *url, struct result *r,
                        struct egw_http_call **out_call) {
  r->loop = &e->loop;
  struct egw_http_client_request req = {.method = method, .url = url};
  return egw_http_client_request(e->client, &req, on_done, r, out_call);
}

static inline void run_until(struct env *e, const int *flag) {
  while (!*flag) {
    int alive = uv_run(&e->loop, UV_RUN_ONCE);
    cr_assert(alive || *flag, "the loop ran dry before completion");
  }
}

static const struct egw_http_client_config defaults = {0};

static inline uint16_t unused_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

#endif
