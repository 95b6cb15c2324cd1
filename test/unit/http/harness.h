/* A loopback for the HTTP/1.1 framing: no sockets, a send callback that captures what a
 * client would read, and a role that answers at once or keeps the exchange to finish
 * later. */
#ifndef EGW_TEST_HTTP_HARNESS_H
#define EGW_TEST_HTTP_HARNESS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/exchange.h"
#include "http/h1.h"
#include "util/buf.h"

#define MAX_PENDING 8

struct cap {
  struct egw_h1 *h;
  struct egw_buf out; /* every byte sent, in order */
  int sends;
  int async; /* keep exchanges in pending[] instead of finishing them */
  struct egw_exchange *pending[MAX_PENDING];
  int n_pending;
  int requests;
  char last[4096]; /* "METHOD path?query body" of the last request */
  int aborted;
  int fail_send; /* send returns an error */
  struct egw_peer peer;
};

static inline int cap_send(void *owner, const uint8_t *data, size_t len) {
  struct cap *c = owner;
  c->sends++;
  if (c->fail_send)
    return -32; /* like UV_EPIPE */
  return egw_buf_append(&c->out, data, len);
}

/* The role: GET /x answers "hello /x" (text/plain); /204 answers 204; POST echoes the
 * body; the request is summarized in last[]. */
static inline void cap_answer(struct egw_exchange *x) {
  const struct egw_request *req = egw_exchange_request(x);
  struct egw_response *resp = egw_exchange_response(x);
  if (strcmp(req->path, "/204") == 0) {
    resp->status = 204;
    return;
  }
  char body[4096];
  int n;
  if (req->body_len)
    n = snprintf(body, sizeof(body), "echo %.*s", (int)req->body_len, (const char *)req->body);
  else
    n = snprintf(body, sizeof(body), "hello %s", req->path);
  cr_assert_eq(egw_response_set_body(resp, 200, "text/plain", body, (size_t)n), 0);
}

static inline void cap_on_request(void *owner, struct egw_exchange *x) {
  struct cap *c = owner;
  const struct egw_request *req = egw_exchange_request(x);
  c->requests++;
  snprintf(c->last, sizeof(c->last), "%s %s%s%s %.*s", req->method_name, req->path,
           req->query[0] ? "?" : "", req->query, (int)req->body_len,
           req->body ? (const char *)req->body : "");
  if (c->async) {
    cr_assert_lt(c->n_pending, MAX_PENDING);
    c->pending[c->n_pending++] = x;
    return;
  }
  cap_answer(x);
  egw_exchange_finish(x);
}

static const struct egw_h1_callbacks cap_callbacks = {
    .on_request = cap_on_request,
    .send = cap_send,
};

static inline void cap_init_limits(struct cap *c, uint32_t header_bytes, uint64_t body_bytes,
                                   uint32_t requests) {
  memset(c, 0, sizeof(*c));
  struct egw_h1_limits lim = {
      .header_bytes = header_bytes,
      .body_bytes = body_bytes,
      .requests_per_connection = requests,
  };
  c->h = egw_h1_new(&lim, &cap_callbacks, c, &c->peer, "EDGE-1");
  cr_assert_not_null(c->h);
}

static inline void cap_init(struct cap *c) { cap_init_limits(c, 8192, 1 << 20, 0); }

static inline void cap_free(struct cap *c) {
  egw_h1_free(c->h);
  egw_buf_free(&c->out);
}

static inline enum egw_h1_state cap_feed(struct cap *c, const char *s) {
  return egw_h1_feed(c->h, (const uint8_t *)s, strlen(s));
}

/* Finishes the oldest pending exchange with the standard answer. */
static inline void cap_finish_one(struct cap *c) {
  cr_assert_gt(c->n_pending, 0);
  struct egw_exchange *x = c->pending[0];
  memmove(c->pending, c->pending + 1, (size_t)(c->n_pending - 1) * sizeof(c->pending[0]));
  c->n_pending--;
  cap_answer(x);
  egw_exchange_finish(x);
}

/* What the client read so far, with every Date value replaced by "D"; the capture is
 * emptied. The caller frees the result. */
static inline char *cap_take(struct cap *c) {
  char *s = malloc(c->out.len + 1);
  cr_assert_not_null(s);
  size_t o = 0;
  for (size_t i = 0; i < c->out.len;) {
    if (c->out.len - i >= 6 && memcmp(c->out.data + i, "Date: ", 6) == 0 &&
        (i == 0 || c->out.data[i - 1] == '\n')) {
      memcpy(s + o, "Date: D", 7);
      o += 7;
      i += 6;
      while (i < c->out.len && c->out.data[i] != '\r')
        i++;
      continue;
    }
    s[o++] = (char)c->out.data[i++];
  }
  s[o] = '\0';
  c->out.len = 0;
  return s;
}

/* Asserts that the client read exactly |want| (Date values as "D"). */
#define expect_out(c, want)                                                                        \
  do {                                                                                             \
    char *got_ = cap_take(c);                                                                      \
    cr_expect_str_eq(got_, want);                                                                  \
    free(got_);                                                                                    \
  } while (0)

#define OK_HEAD "HTTP/1.1 200 OK\r\nDate: D\r\nServer: edgegw\r\nContent-Type: text/plain\r\n"

#endif
