/* HTTP/1.1 server framing driven by llhttp in its strict default mode.
 *
 * One exchange at a time: llhttp is paused at the end of every request
 * (on_message_complete returns HPE_PAUSED), the bytes after it stay in |in|, and parsing
 * resumes once the response is handed to send. process() is the only place that runs
 * the parser; it is guarded against re-entry so that egw_exchange_finish may be called
 * from inside on_request (during feed) or later (from the loop) alike. */
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/h1_internal.h"
#include "util/buf.h"
#include "util/errors.h"

static void process(struct egw_h1 *h);

/* ---- sending ---------------------------------------------------------------------- */

/* Serializes |resp| and sends it; returns 1 when the connection must close after it. */
static int send_response(struct egw_h1 *h, const struct egw_response *resp, int close) {
  int fallback;
  int rc = egw__h1_send_head(h, resp, close, 0, 0, &fallback);
  return close || fallback || rc != 0;
}

/* Moves to CLOSING: nothing more is parsed or sent. */
static void enter_closing(struct egw_h1 *h) {
  h->phase = PHASE_CLOSING;
  egw_buf_free(&h->in);
  egw_buf_free(&h->tok);
  egw_buf_free(&h->body);
}

/* Answers |status| with a ProblemDetails body outside any exchange (malformed input,
 * timeouts) and closes. */
static void fail_now(struct egw_h1 *h, int status, const char *title, const char *detail) {
  struct egw_exchange *x = &h->x;
  egw_arena_reset(&x->arena);
  x->resp = (struct egw_response){.arena = &x->arena};
  if (egw_response_problem(&x->resp, status, title, detail, NULL) != 0)
    x->resp = (struct egw_response){.status = status, .arena = &x->arena};
  h->keep_alive_10 = 0;
  h->is_head = 0;
  send_response(h, &x->resp, 1);
  egw_arena_reset(&x->arena);
  x->req = (struct egw_request){0};
  x->resp = (struct egw_response){0};
  enter_closing(h);
}

/* ---- llhttp callbacks ------------------------------------------------------------- */

static struct egw_h1 *of(llhttp_t *p) { return p->data; }

/* Records why the request is refused; the first reason wins. */
static int reject(struct egw_h1 *h, int status, const char *detail) {
  if (h->err_status == 0) {
    h->err_status = status;
    h->err_detail = detail;
  }
  return HPE_USER;
}

/* Counts the head up to the end of the span [at, at+len) of the running execute. */
static int head_too_big(const struct egw_h1 *h, const char *at, size_t len) {
  return h->head_bytes + (size_t)(at + len - h->exec_base) > h->limits.header_bytes;
}

/* Header callbacks after the head are trailer fields (also while a streamed body is with
 * its role). */
static int in_body(const struct egw_h1 *h) { return h->phase == PHASE_BODY || h->rb_active; }

static int collect(struct egw_h1 *h, const char *at, size_t len) {
  if (in_body(h)) {
    /* Trailer fields of a chunked body: bounded like a head, then ignored. */
    h->trailer_bytes += len;
    if (h->trailer_bytes > h->limits.header_bytes)
      return reject(h, 431, "the trailer fields are too large");
    return 0;
  }
  if (head_too_big(h, at, len))
    return reject(h, 431, "the request line and header fields are too large");
  if (egw_buf_append(&h->tok, at, len) != 0)
    return reject(h, 500, "out of memory");
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) { return collect(of(p), at, len); }

static int on_url_complete(llhttp_t *p) {
  struct egw_h1 *h = of(p);
  struct egw_request *req = &h->x.req;
  char *u = egw_arena_strndup(&h->x.arena, (const char *)h->tok.data, h->tok.len);
  h->tok.len = 0;
  if (u == NULL)
    return reject(h, 500, "out of memory");
  req->method_name = llhttp_method_name((llhttp_method_t)p->method);
  req->method = egw_method_from_name(req->method_name, strlen(req->method_name));
  if (p->method == HTTP_PRI)
    return reject(h, 505, "only HTTP/1.0 and HTTP/1.1 are served here");
  if (u[0] == '/') {
    if (strchr(u, '#') != NULL)
      return reject(h, 400, "the request target must not carry a fragment");
    char *q = strchr(u, '?');
    if (q) {
      *q = '\0';
      req->query = q + 1;
    }
    req->path = u;
  } else if (strcmp(u, "*") == 0 && p->method == HTTP_OPTIONS) {
    req->path = u;
  } else {
    return reject(h, 400, "the request target must be an absolute path (origin-form)");
  }
  req->path_len = strlen(req->path);
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  return collect(of(p), at, len);
}

/* is_tchar: a byte of a token (RFC 9110 5.6.2), what a field name is made of. */
static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int on_header_field_complete(llhttp_t *p) {
  struct egw_h1 *h = of(p);
  if (in_body(h))
    return 0;
  if (h->n_hdrs >= MAX_HEADERS)
    return reject(h, 431, "too many header fields");
  /* llhttp lets "name : value" through with the blank in the name; RFC 9112 5.1 says 400,
   * and a name that is not a token could pass as another field (x-eec-id) further on. */
  if (h->tok.len == 0)
    return reject(h, 400, "a header field name is empty");
  for (size_t i = 0; i < h->tok.len; i++) {
    if (!is_tchar(h->tok.data[i]))
      return reject(h, 400, "a header field name is not a token (whitespace before the colon?)");
  }
  char *name = egw_arena_strndup(&h->x.arena, (const char *)h->tok.data, h->tok.len);
  if (name == NULL)
    return reject(h, 500, "out of memory");
  for (size_t i = 0; i < h->tok.len; i++) {
    if (name[i] >= 'A' && name[i] <= 'Z')
      name[i] = (char)(name[i] - 'A' + 'a');
  }
  h->name = name;
  h->name_len = h->tok.len;
  h->tok.len = 0;
  return 0;
}

/* llhttp accepts obsolete line folding (a value continued on a line that starts with
 * blanks) and hands the continuation over as more of the value, starting with the
 * blanks, right after the line break. RFC 9112 5.2 lets a server refuse it, and refusing
 * removes one way to make two parsers disagree. (llhttp also reports an empty value as
 * an empty span after the line break: that one is not a fold.) */
static int continues_folded_line(const struct egw_h1 *h, const char *at, size_t len) {
  if (len == 0)
    return 0;
  return at > h->exec_base ? at[-1] == '\n' : h->fold_carry;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  struct egw_h1 *h = of(p);
  if (!in_body(h) && continues_folded_line(h, at, len))
    return reject(h, 400, "obsolete line folding is not accepted");
  return collect(h, at, len);
}

static int on_header_value_complete(llhttp_t *p) {
  struct egw_h1 *h = of(p);
  if (in_body(h))
    return 0;
  const char *v = (const char *)h->tok.data;
  size_t n = h->tok.len;
  while (n > 0 && (v[0] == ' ' || v[0] == '\t')) {
    v++;
    n--;
  }
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  if (h->n_hdrs == h->cap_hdrs) {
    size_t cap = h->cap_hdrs ? h->cap_hdrs * 2 : 16;
    struct egw_header *a = egw_arena_alloc(&h->x.arena, cap * sizeof(*a));
    if (a == NULL)
      return reject(h, 500, "out of memory");
    if (h->n_hdrs)
      memcpy(a, h->hdrs, h->n_hdrs * sizeof(*a));
    h->hdrs = a;
    h->cap_hdrs = cap;
  }
  char *value = egw_arena_strndup(&h->x.arena, n ? v : "", n);
  h->tok.len = 0;
  if (value == NULL)
    return reject(h, 500, "out of memory");
  h->hdrs[h->n_hdrs++] =
      (struct egw_header){.name = h->name, .name_len = h->name_len, .value = value, .value_len = n};
  return 0;
}

static size_t count_headers(const struct egw_h1 *h, const char *name,
                            const struct egw_header **first) {
  size_t n = 0, len = strlen(name);
  *first = NULL;
  for (size_t i = 0; i < h->n_hdrs; i++) {
    if (h->hdrs[i].name_len == len && memcmp(h->hdrs[i].name, name, len) == 0) {
      if (n++ == 0)
        *first = &h->hdrs[i];
    }
  }
  return n;
}

static int value_is(const struct egw_header *hd, const char *s) {
  return hd->value_len == strlen(s) && strncasecmp(hd->value, s, hd->value_len) == 0;
}

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* The head is complete: checks that llhttp leaves to us, decides keep-alive, answers
 * Expect. Non-zero refuses the request (the reason is in err_status). */
static int on_headers_complete(llhttp_t *p) {
  struct egw_h1 *h = of(p);
  h->phase = PHASE_BODY; /* header callbacks from now on are trailers */
  const struct egw_header *hd;
  if (p->http_major != 1) {
    reject(h, 505, "only HTTP/1.0 and HTTP/1.1 are served here");
    return -1;
  }
  size_t hosts = count_headers(h, "host", &hd);
  if (hosts > 1 || (hosts == 0 && p->http_minor == 1)) {
    reject(h, 400, hosts ? "more than one Host header" : "HTTP/1.1 requires a Host header");
    return -1;
  }
  size_t te = count_headers(h, "transfer-encoding", &hd);
  if (te > 0 || (p->flags & F_TRANSFER_ENCODING)) {
    if (p->flags & F_CONTENT_LENGTH) {
      reject(h, 400, "Content-Length and Transfer-Encoding together");
      return -1;
    }
    if (te != 1 || !value_is(hd, "chunked")) {
      reject(h, 501, "only the chunked transfer coding is supported");
      return -1;
    }
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->limits.body_bytes) {
    reject(h, 413, "the request body is too large");
    return -1;
  }
  int has_body = (p->flags & F_CHUNKED) || p->content_length > 0;
  int send_continue = 0;
  if (count_headers(h, "expect", &hd) > 0) {
    if (!value_is(hd, "100-continue")) {
      reject(h, 417, "only Expect: 100-continue is supported");
      return -1;
    }
    /* HTTP/1.0 clients do not know 100 (RFC 9110 10.1.1); with no body there is
     * nothing to wait for. */
    send_continue = p->http_minor == 1 && has_body;
  }
  if (p->http_minor == 1) {
    h->keep_alive = !(p->flags & F_CONNECTION_CLOSE);
  } else {
    h->keep_alive = (p->flags & F_CONNECTION_KEEP_ALIVE) != 0;
    h->keep_alive_10 = h->keep_alive;
  }
  if (p->upgrade)
    h->keep_alive = 0; /* what follows would not be HTTP/1.1: answer, then close */
  h->is_head = p->method == HTTP_HEAD;
  h->http11 = p->http_minor == 1;
  if (has_body && h->cb.streams_body) {
    h->x.req.headers = h->hdrs;
    h->x.req.n_headers = h->n_hdrs;
    if (h->cb.streams_body(h->owner, &h->x)) {
      /* Dispatched now (process() sees the pause); 100 waits for the role to read. */
      h->rb_active = 1;
      h->rb_continue = send_continue;
      return HPE_PAUSED;
    }
  }
  if (send_continue)
    h->cb.send(h->owner, (const uint8_t *)continue_100, sizeof(continue_100) - 1);
  return 0;
}

void egw__h1_send_continue(struct egw_h1 *h) {
  h->cb.send(h->owner, (const uint8_t *)continue_100, sizeof(continue_100) - 1);
}

/* Body bytes so far: kept in |body|, or handed to the role of a streamed body. */
static uint64_t body_seen(const struct egw_h1 *h) {
  return h->rb_active ? h->rb_total + h->body.len : h->body.len;
}

static int on_chunk_header(llhttp_t *p) {
  struct egw_h1 *h = of(p);
  if (p->content_length > h->limits.body_bytes - body_seen(h)) {
    reject(h, 413, "the request body is too large");
    return -1;
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  struct egw_h1 *h = of(p);
  if (len > h->limits.body_bytes - body_seen(h))
    return reject(h, 413, "the request body is too large");
  if (egw_buf_append(&h->body, at, len) != 0)
    return reject(h, 500, "out of memory");
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  struct egw_h1 *h = of(p);
  if (h->rb_active)
    h->rb_complete = 1; /* the exchange is with its role already */
  h->phase = PHASE_BUSY;
  return HPE_PAUSED; /* one exchange at a time: the rest waits in |in| */
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_chunk_header = on_chunk_header,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- exchanges -------------------------------------------------------------------- */

static void start_request(struct egw_h1 *h) {
  struct egw_exchange *x = &h->x;
  h->phase = PHASE_HEAD;
  h->head_bytes = h->trailer_bytes = 0;
  h->fold_carry = 0;
  h->hdrs = NULL;
  h->n_hdrs = h->cap_hdrs = 0;
  h->name = NULL;
  h->name_len = 0;
  h->err_status = 0;
  h->err_detail = NULL;
  h->keep_alive = h->keep_alive_10 = h->is_head = h->finished = h->http11 = 0;
  h->rb_active = h->rb_started = h->rb_paused = h->rb_complete = h->rb_ended = 0;
  h->rb_continue = 0;
  h->rb_total = 0;
  h->tok.len = h->body.len = 0;
  x->req = (struct egw_request){
      .method_name = "",
      .path = "",
      .query = "",
      .peer = h->peer,
      .interface_name = h->interface_name,
      .arena = &x->arena,
  };
  x->resp = (struct egw_response){.arena = &x->arena};
  x->on_abort = NULL;
  x->abort_arg = NULL;
  x->on_drain = NULL;
  x->drain_arg = NULL;
  x->on_body_data = NULL;
  x->on_body_end = NULL;
  x->body_arg = NULL;
  x->in_role = 0;
  x->owner_data = NULL;
}

static void dispatch(struct egw_h1 *h) {
  struct egw_exchange *x = &h->x;
  x->req.headers = h->hdrs;
  x->req.n_headers = h->n_hdrs;
  x->req.body = h->body.len && !h->rb_active ? h->body.data : NULL;
  x->req.body_len = h->rb_active ? 0 : h->body.len;
  h->phase = PHASE_BUSY;
  h->finished = 0;
  h->cb.on_request(h->owner, x);
  if (!h->finished && h->phase == PHASE_BUSY)
    x->in_role = 1;
}

int egw__h1_wants_close(const struct egw_h1 *h) {
  uint32_t limit = h->limits.requests_per_connection;
  /* A streamed request body not read whole: the rest is never read (see end_exchange). */
  int body_left = h->rb_active && !h->rb_complete;
  return !h->keep_alive || h->close_after || body_left || (limit && h->served + 1 >= limit);
}

void egw__h1_end_exchange(struct egw_h1 *h, int close) {
  struct egw_exchange *x = &h->x;
  egw_arena_reset(&x->arena);
  x->req = (struct egw_request){0};
  x->resp = (struct egw_response){0};
  x->on_abort = NULL;
  x->on_drain = NULL;
  x->on_body_data = NULL;
  x->on_body_end = NULL;
  h->streaming = 0;
  h->drain_wanted = 0;
  if (h->rb_active && !h->rb_complete)
    close = 1; /* the rest of the body is never read: the connection cannot go on */
  h->rb_active = 0;
  egw__h1_release_big(&h->body);
  egw__h1_release_big(&h->tok);
  if (close) {
    enter_closing(h);
    return;
  }
  h->phase = PHASE_IDLE;
  llhttp_resume(&h->parser);
  process(h); /* pipelined requests; a no-op when called from inside process */
}

void egw_exchange_finish(struct egw_exchange *x) {
  struct egw_h1 *h = x->h1;
  if (h->streaming) {
    egw_exchange_stream_end(x);
    return;
  }
  if (h->phase != PHASE_BUSY || h->finished)
    return; /* not ours to send: a second call, or the connection already failed */
  h->finished = 1;
  x->in_role = 0;
  struct egw_response *resp = &x->resp;
  if (resp->status < 200 || resp->status > 999) {
    /* No status, or an informational one that would leave the request unanswered. */
    resp->n_headers = 0;
    resp->body = NULL;
    resp->body_len = 0;
    resp->length = EGW_RESPONSE_LENGTH_BODY;
    if (egw_response_problem(resp, 500, NULL, "the request could not be processed",
                             "SYSTEM_FAILURE") != 0)
      resp->status = 500;
  }
  int close = send_response(h, resp, egw__h1_wants_close(h));
  egw__h1_end_exchange(h, close);
}

/* ---- parsing ---------------------------------------------------------------------- */

int egw__h1_fail_status(struct egw_h1 *h, llhttp_errno_t err, const char **out_detail) {
  int status = h->err_status;
  const char *detail = h->err_detail;
  if (status == 0) {
    detail = llhttp_get_error_reason(&h->parser);
    switch (err) {
    case HPE_INVALID_TRANSFER_ENCODING:
      status = 501;
      break;
    case HPE_INVALID_VERSION:
    case HPE_PAUSED_H2_UPGRADE:
      status = 505;
      detail = "only HTTP/1.0 and HTTP/1.1 are served here";
      break;
    default:
      status = 400;
      break;
    }
  }
  *out_detail = detail ? detail : "malformed request";
  return status;
}

static void fail_parse(struct egw_h1 *h, llhttp_errno_t err) {
  const char *detail;
  int status = egw__h1_fail_status(h, err, &detail);
  fail_now(h, status, egw_status_reason(status), detail);
}

static void process(struct egw_h1 *h) {
  if (h->processing)
    return;
  h->processing = 1;
  for (;;) {
    if (h->rb_active) {
      if (!egw__h1_body_step(h))
        break;
      continue;
    }
    if (!(h->in.len > 0 &&
          (h->phase == PHASE_IDLE || h->phase == PHASE_HEAD || h->phase == PHASE_BODY)))
      break;
    if (h->phase == PHASE_IDLE)
      start_request(h);
    h->exec_base = (const char *)h->in.data;
    llhttp_errno_t err = llhttp_execute(&h->parser, h->exec_base, h->in.len);
    if (err == HPE_OK) {
      if (h->phase == PHASE_HEAD) {
        h->fold_carry = h->in.data[h->in.len - 1] == '\n';
        h->head_bytes += h->in.len;
        if (h->head_bytes > h->limits.header_bytes) {
          fail_now(h, 431, egw_status_reason(431),
                   "the request line and header fields are too large");
          break;
        }
      }
      h->in.len = 0;
      break;
    }
    if (err == HPE_PAUSED && h->phase == PHASE_BODY && h->rb_active) {
      /* A head whose body streams: the role gets the exchange now. */
      egw_buf_consume(&h->in, (size_t)(llhttp_get_error_pos(&h->parser) - h->exec_base));
      llhttp_resume(&h->parser);
      dispatch(h);
      continue;
    }
    if (err != HPE_PAUSED || h->phase != PHASE_BUSY) {
      fail_parse(h, err);
      break;
    }
    egw_buf_consume(&h->in, (size_t)(llhttp_get_error_pos(&h->parser) - h->exec_base));
    dispatch(h);
  }
  h->processing = 0;
}

/* ---- the public face -------------------------------------------------------------- */

struct egw_h1 *egw_h1_new(const struct egw_h1_limits *limits, const struct egw_h1_callbacks *cb,
                          void *owner, const struct egw_peer *peer, const char *interface_name) {
  struct egw_h1 *h = calloc(1, sizeof(*h));
  if (h == NULL)
    return NULL;
  h->limits = *limits;
  h->cb = *cb;
  h->owner = owner;
  h->peer = peer;
  h->interface_name = interface_name;
  llhttp_init(&h->parser, HTTP_REQUEST, &settings);
  h->parser.data = h;
  egw_arena_init(&h->x.arena, 4096);
  h->x.h1 = h;
  h->phase = PHASE_IDLE;
  return h;
}

void egw_h1_free(struct egw_h1 *h) {
  if (h == NULL)
    return;
  struct egw_exchange *x = &h->x;
  if (h->phase == PHASE_BUSY && !h->finished && x->on_abort) {
    void (*cb)(void *) = x->on_abort;
    x->on_abort = NULL;
    h->finished = 1; /* a late egw_exchange_finish from the callback is ignored */
    cb(x->abort_arg);
  }
  egw_arena_cleanup(&x->arena);
  egw_buf_free(&h->in);
  egw_buf_free(&h->tok);
  egw_buf_free(&h->body);
  egw_buf_free(&h->out);
  free(h);
}

enum egw_h1_state egw_h1_feed(struct egw_h1 *h, const uint8_t *data, size_t len) {
  if (h->phase == PHASE_CLOSING || h->input_dropped || len == 0)
    return egw_h1_state(h);
  if (h->phase == PHASE_BUSY && !(h->rb_active && !h->rb_complete)) {
    /* (A streamed body's input is bounded by the owner, see egw_h1_input_full.) */
    uint64_t cap = (uint64_t)h->limits.header_bytes + h->limits.body_bytes + INPUT_SLACK;
    if ((uint64_t)h->in.len + len > cap) {
      /* The client pipelines more than we keep: answer the current request, close. */
      h->close_after = 1;
      h->input_dropped = 1;
      return egw_h1_state(h);
    }
  }
  if (egw_buf_append(&h->in, data, len) != 0) {
    if (h->phase == PHASE_BUSY) {
      h->close_after = 1;
      h->input_dropped = 1;
    } else {
      fail_now(h, 500, egw_status_reason(500), "out of memory");
    }
    return egw_h1_state(h);
  }
  process(h);
  return egw_h1_state(h);
}

enum egw_h1_state egw_h1_state(const struct egw_h1 *h) {
  switch (h->phase) {
  case PHASE_IDLE:
    return h->in.len > 0 ? EGW_H1_READING_HEADERS : EGW_H1_IDLE;
  case PHASE_HEAD:
    return EGW_H1_READING_HEADERS;
  case PHASE_BODY:
    return EGW_H1_READING_BODY;
  case PHASE_BUSY:
    return EGW_H1_BUSY;
  case PHASE_CLOSING:
    break;
  }
  return EGW_H1_CLOSING;
}

void egw_h1_fail(struct egw_h1 *h, int status, const char *title, const char *detail) {
  if (h->phase == PHASE_CLOSING)
    return;
  if (h->phase == PHASE_BUSY) {
    h->close_after = 1; /* the role's response will be the last */
    return;
  }
  fail_now(h, status, title ? title : egw_status_reason(status), detail);
}

void egw_h1_close_after_current(struct egw_h1 *h) { h->close_after = 1; }

enum egw_h1_state egw_h1_pump(struct egw_h1 *h) {
  if (h->phase != PHASE_CLOSING)
    process(h);
  return egw_h1_state(h);
}

uint32_t egw_h1_requests_served(const struct egw_h1 *h) { return h->served; }
